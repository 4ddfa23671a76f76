// Unreachable and black-hole destinations, run by `npm run test:netns` inside a private
// network namespace (scripts/in-netns.sh: only lo). The routes below exist only in that
// namespace; every test is skipped anywhere else, so nothing can leave the host.
//   10.99.0.0/16  blackhole     (the kernel refuses: EINVAL)
//   10.98.0.0/16  unreachable   (EHOSTUNREACH)
//   10.97.0.0/16  prohibit      (EACCES)
//   10.96.0.0/16  via lo        (packets vanish: a silent black hole, no answer ever)
//   192.0.2.0/24  no route      (ENETUNREACH)
import test from 'ava'
import { insidePrivateNamespace } from './namespace.mjs'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { TCPSocket, UDPSocket } from '../../index.js'
import { within, rejectsWith } from '../helpers.mjs'


const inside = insidePrivateNamespace()
const netnsTest = inside ? test : test.skip
if (!inside) test('black-hole tests run only inside the private namespace (npm run test:netns)', (t) => t.pass())

const SYN_RETRIES = '/proc/sys/net/ipv4/tcp_syn_retries'
let savedSynRetries
if (inside) {
  test.before(() => {
    const ip = (...args) => execFileSync('ip', args)
    ip('route', 'replace', 'blackhole', '10.99.0.0/16')
    ip('route', 'replace', 'unreachable', '10.98.0.0/16')
    ip('route', 'replace', 'prohibit', '10.97.0.0/16')
    ip('route', 'replace', '10.96.0.0/16', 'dev', 'lo')
    // Per namespace: a connect nobody answers gives up after ~3 s (1 s + 2 s) here,
    // instead of the default ~2 minutes.
    savedSynRetries = readFileSync(SYN_RETRIES, 'utf8').trim()
    writeFileSync(SYN_RETRIES, '1')
  })
  test.after.always(() => {
    if (savedSynRetries !== undefined) writeFileSync(SYN_RETRIES, savedSynRetries)
  })
}

const refusedRoutes = [
  ['a blackhole route', '10.99.1.2', /EINVAL/],
  ['an unreachable route', '10.98.1.2', /EHOSTUNREACH/],
  ['a prohibit route', '10.97.1.2', /EACCES|EPERM/],
  ['no route at all', '192.0.2.1', /ENETUNREACH/],
]

for (const [what, address, code] of refusedRoutes) {
  netnsTest(`TCP connect to ${what} rejects opened and closed with NetworkError at once`, async (t) => {
    const started = Date.now()
    const s = new TCPSocket(address, 80)
    const err = await rejectsWith(t, within(s.opened, 2000, 'opened'), 'NetworkError')
    t.regex(err.cause.code, code)
    t.true(Date.now() - started < 1000, `took ${Date.now() - started} ms`)
    await rejectsWith(t, within(s.closed, 1000, 'closed'), 'NetworkError')
    await rejectsWith(t, s.close(), 'InvalidStateError')
  })

  netnsTest(`a connected UDPSocket to ${what} rejects with NetworkError at once`, async (t) => {
    const s = new UDPSocket({ remoteAddress: address, remotePort: 53 })
    const err = await rejectsWith(t, within(s.opened, 2000, 'opened'), 'NetworkError')
    t.regex(err.cause.code, code)
  })

  netnsTest(`a bound UDPSocket's send to ${what} rejects the write with NetworkError; the socket keeps working`, async (t) => {
    const s = new UDPSocket({ localAddress: '0.0.0.0' })
    const { writable, readable, localPort } = await within(s.opened, 2000, 'opened')
    const writer = writable.getWriter()
    const err = await rejectsWith(
      t,
      within(writer.write({ data: new Uint8Array(8), remoteAddress: address, remotePort: 53 }), 2000, 'write'),
      'NetworkError',
    )
    t.regex(err.cause.code, code)
    writer.releaseLock()
    // Spec 2.3: a failed send closes the writable; the readable goes on.
    const echo = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: localPort })
    const e = await echo.opened
    const ew = e.writable.getWriter()
    await ew.write({ data: new Uint8Array([42]) })
    const reader = readable.getReader()
    const { value } = await within(reader.read(), 2000, 'read after the failed send')
    t.is(value.data[0], 42)
    reader.releaseLock()
    ew.releaseLock()
    await echo.close()
    await s.close().catch(() => {})
  })
}

netnsTest('TCP connect to a silent black hole (no answer ever) fails with NetworkError (ETIMEDOUT) once SYNs run out, and never hangs', async (t) => {
  const started = Date.now()
  const sockets = Array.from({ length: 10 }, (_, i) => new TCPSocket(`10.96.0.${i + 1}`, 443))
  // Nothing answers: the connects are pending for a while...
  const early = await Promise.race([
    Promise.allSettled(sockets.map((s) => s.opened)).then(() => 'settled'),
    new Promise((r) => setTimeout(() => r('pending'), 500)),
  ])
  t.is(early, 'pending')
  // ...and close() before opened is the spec's InvalidStateError, not a hang.
  await rejectsWith(t, sockets[0].close(), 'InvalidStateError')
  // ...then every one of them gives up (tcp_syn_retries = 1: ~3 s).
  for (const s of sockets) {
    const err = await rejectsWith(t, within(s.opened, 15_000, 'opened'), 'NetworkError')
    t.is(err.cause.code, 'ETIMEDOUT')
    await rejectsWith(t, within(s.closed, 1000, 'closed'), 'NetworkError')
  }
  const ms = Date.now() - started
  t.true(ms >= 2000 && ms < 15_000, `gave up after ${ms} ms`)
})

netnsTest('a UDP datagram into a silent black hole is sent (UDP cannot know) and nothing hangs', async (t) => {
  const s = new UDPSocket({ remoteAddress: '10.96.0.1', remotePort: 9 })
  const { writable } = await within(s.opened, 2000, 'opened')
  const writer = writable.getWriter()
  for (let i = 0; i < 100; i++) await within(writer.write({ data: new Uint8Array(512) }), 1000, 'write')
  writer.releaseLock()
  await within(s.close(), 1000, 'close')
  t.pass()
})
