// Fuzz: seeded random values thrown at every constructor, option, UDPMessage field,
// written chunk, policy key and MulticastController call. Every call must either work or
// throw / reject with the spec's error kind (TypeError, or a DOMException named
// NotAllowedError, NetworkError or InvalidStateError; or the very error a hostile getter
// or conversion threw), settle within a bound, and never crash the process.
//
// It runs inside the private network namespace (npm run test:netns), so that random
// addresses and host names reach nothing: loopback answers at once, everything else has
// no route. Deterministic: FUZZ_SEED (default below) and FUZZ_SCALE (default 1) choose the
// cases; the counts run are logged and listed in docs/RELIABILITY.md.
import test from 'ava'
import { insidePrivateNamespace } from './namespace.mjs'
import net from 'node:net'
import dgram from 'node:dgram'
import { once } from 'node:events'
import * as ds from '../../index.js'
import { within } from '../helpers.mjs'
import { prng, makeValues, FuzzError } from '../fuzz-values.mjs'

const SEED = Number(process.env.FUZZ_SEED ?? 20260707)
const SCALE = Number(process.env.FUZZ_SCALE ?? 1)
const SETTLE_MS = 10_000

const inside = insidePrivateNamespace()
const fuzz = inside ? test.serial : test.skip
if (!inside) test('fuzz tests run only inside the private namespace (npm run test:netns)', (t) => t.pass())

/** The kind of an error: a spec name, 'hostile' for our own FuzzError, or 'UNEXPECTED ...'. */
function kind(err) {
  if (err instanceof FuzzError) return 'hostile'
  if (err instanceof DOMException) return err.name
  if (err instanceof TypeError) return 'TypeError'
  return `UNEXPECTED ${err?.constructor?.name}: ${err?.message ?? String(err)}`
}

/** Tallies outcomes and records every one that is not allowed. */
class Tally {
  counts = {}
  bad = []
  cases = 0
  add(stage, outcome, allowed, detail) {
    const key = `${stage}: ${outcome}`
    this.counts[key] = (this.counts[key] ?? 0) + 1
    if (outcome !== 'ok' && !allowed.includes(outcome) && this.bad.length < 20) this.bad.push(`${key} (${detail()})`)
  }
}

/** Settles `promise` within SETTLE_MS: 'ok', an error kind, or 'HANG'. */
async function outcome(promise) {
  try {
    await within(promise, SETTLE_MS, 'fuzz call')
    return 'ok'
  } catch (err) {
    if (err instanceof Error && /did not settle within/.test(err.message)) return 'HANG'
    return kind(err)
  }
}

const describe = (v) => {
  try {
    if (typeof v === 'symbol' || typeof v === 'bigint') return String(v)
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `${v.constructor.name}(${v.byteLength})`
    const s = JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))
    return s === undefined ? String(v) : s.length > 120 ? `${s.slice(0, 120)}...` : s
  } catch {
    return '(a value that throws when inspected)'
  }
}

/** Runs `count` cases, `parallel` at a time; each case is `run(i)`. */
async function runCases(count, parallel, run) {
  for (let i = 0; i < count; i += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, (_, k) => run(i + k)))
  }
}

const CONSTRUCT_ALLOWED = ['TypeError', 'NotAllowedError', 'hostile']
const OPEN_ALLOWED = ['NetworkError', 'NotAllowedError']

/** Constructs with `make()`; if that worked, checks opened, close() and closed. */
async function exercise(tally, stage, make, detail) {
  let socket
  try {
    socket = make()
  } catch (err) {
    tally.add(`${stage} constructor`, kind(err), CONSTRUCT_ALLOWED, detail)
    return
  }
  tally.add(`${stage} constructor`, 'ok', [], detail)
  // close() before opened settles: InvalidStateError (spec 1.6 / 2.6 / 4.5).
  tally.add(`${stage} early close()`, await outcome(socket.close()), ['InvalidStateError'], detail)
  const opened = await outcome(socket.opened)
  tally.add(`${stage} opened`, opened, OPEN_ALLOWED, detail)
  if (opened === 'ok') {
    tally.add(`${stage} close()`, await outcome(socket.close()), [], detail)
  } else {
    tally.add(`${stage} close() after failure`, await outcome(socket.close()), ['InvalidStateError'], detail)
  }
  tally.add(`${stage} closed`, await outcome(socket.closed), OPEN_ALLOWED, detail)
}

function report(t, tally, what) {
  t.log(`${what}: ${tally.cases} cases (seed ${SEED})`)
  t.log(tally.counts)
  t.deepEqual(tally.bad, [], `${what}: outcomes outside the spec's error kinds`)
  t.false(Object.keys(tally.counts).some((k) => k.endsWith('HANG')), 'a call never settled')
}

/** A random class set: the module's own, or one behind a (valid) restrictive policy. */
function classSet(r) {
  return r.pick([
    () => ds,
    () => ds.withPolicy({ directSockets: false }),
    () => ds.withPolicy({ multicast: false }),
    () => ds.withPolicy({ privateNetworkAccess: false }),
    () => ds.withPolicy({ allow: ['127.0.0.0/8'], deny: ['127.0.0.2'], minServerPort: 40000, minUdpBindPort: 1024 }),
  ])()
}

// ---------------------------------------------------------------- constructors

fuzz('TCPSocket: random arguments and options', async (t) => {
  const r = prng(SEED + 1)
  const v = makeValues(r, { tcp: true })
  const tally = new Tally()
  const sink = net.createServer((s) => s.on('error', () => {}).resume())
  sink.listen(0, '127.0.0.1')
  await once(sink, 'listening')
  t.teardown(() => sink.close())
  const sinkPort = sink.address().port
  const sensible = {
    noDelay: () => r.chance(0.5),
    keepAliveDelay: () => r.pick([1000, 999, 0, 5000, 2 ** 32 - 1]),
    sendBufferSize: () => r.pick([1, 1024, 2 ** 32 - 1, 0]),
    receiveBufferSize: () => r.pick([1, 65536, 0]),
    dnsQueryType: () => r.pick(['ipv4', 'ipv6', 'ipv5']),
  }
  await runCases(1500 * SCALE, 25, async () => {
    const set = classSet(r)
    const args = [
      r.chance(0.4) ? r.pick(['127.0.0.1', '::1', 'localhost']) : r.chance(0.8) ? v.address() : v.value(),
      r.chance(0.5) ? sinkPort : v.port(),
      r.chance(0.7) ? v.object(Object.keys(sensible), 0, sensible) : v.value(),
    ].slice(0, r.pick([0, 1, 2, 2, 3, 3, 3]))
    tally.cases++
    await exercise(tally, 'TCPSocket', () => new set.TCPSocket(...args), () => describe(args))
  })
  report(t, tally, 'TCPSocket')
})

fuzz('TCPServerSocket: random arguments and options', async (t) => {
  const r = prng(SEED + 2)
  const v = makeValues(r)
  const tally = new Tally()
  const sensible = {
    // Never 40000, which policy.spec.mjs listens on (both run in the one namespace).
    localPort: () => r.pick([0, 1, 80, 1023, 32768, 50000 + r.int(10000), 65535, 65536]),
    backlog: () => r.pick([0, 1, 128, 2 ** 32 - 1, 2 ** 32]),
    ipv6Only: () => r.chance(0.5),
  }
  await runCases(1000 * SCALE, 25, async () => {
    const set = classSet(r)
    const args = [
      r.chance(0.85) ? v.address() : v.value(),
      r.chance(0.7) ? v.object(Object.keys(sensible), 0, sensible) : v.value(),
    ].slice(0, r.pick([0, 1, 1, 2, 2, 2]))
    tally.cases++
    await exercise(tally, 'TCPServerSocket', () => new set.TCPServerSocket(...args), () => describe(args))
  })
  report(t, tally, 'TCPServerSocket')
})

fuzz('UDPSocket: random options', async (t) => {
  const r = prng(SEED + 3)
  const v = makeValues(r)
  const tally = new Tally()
  const sensible = {
    remoteAddress: () => v.address(),
    remotePort: () => r.pick([0, 9, 53, 65535, 65536, -1]),
    localAddress: () => r.pick(['127.0.0.1', '0.0.0.0', '::', '::1', v.address()]),
    localPort: () => r.pick([0, 1, 1023, 1024, 50000 + r.int(10000), 65536]),
    dnsQueryType: () => r.pick(['ipv4', 'ipv6', 'x']),
    ipv6Only: () => r.chance(0.5),
    sendBufferSize: () => r.pick([0, 1, 65536, 2 ** 32 - 1]),
    receiveBufferSize: () => r.pick([0, 1, 65536, 2 ** 32 - 1]),
    multicastTimeToLive: () => r.pick([0, 1, 255, 256, -1]),
    multicastLoopback: () => r.chance(0.5),
    multicastAllowAddressSharing: () => r.chance(0.5),
  }
  await runCases(1500 * SCALE, 25, async () => {
    const set = classSet(r)
    const mode = r.pick(['connected', 'bound', 'any'])
    const keys =
      mode === 'connected'
        ? ['remoteAddress', 'remotePort', 'dnsQueryType', 'sendBufferSize', 'receiveBufferSize']
        : mode === 'bound'
          ? ['localAddress', 'localPort', 'ipv6Only', 'sendBufferSize', 'receiveBufferSize', 'multicastTimeToLive', 'multicastLoopback', 'multicastAllowAddressSharing']
          : Object.keys(sensible)
    const options = v.object(keys, 0, sensible, { present: mode === 'any' ? 0.4 : 0.7, wild: 0.1 })
    if (mode === 'connected' && r.chance(0.8)) Object.assign(options, { remoteAddress: '127.0.0.1', remotePort: r.pick([9, 53, 40000]) })
    if (mode === 'bound' && r.chance(0.8)) options.localAddress = r.pick(['127.0.0.1', '0.0.0.0', '::', '::1'])
    if (mode === 'bound' && options.ipv6Only !== undefined && r.chance(0.7)) options.localAddress = '::'
    const args = [r.chance(0.9) ? options : v.value()].slice(0, r.pick([0, 1, 1, 1, 1, 1]))
    tally.cases++
    await exercise(tally, 'UDPSocket', () => new set.UDPSocket(...args), () => describe(args))
  })
  report(t, tally, 'UDPSocket')
})

// ---------------------------------------------------------------- written chunks

fuzz('UDPSocket writes: random UDPMessages on connected and bound sockets', async (t) => {
  const r = prng(SEED + 4)
  const v = makeValues(r)
  const tally = new Tally()
  const sink = dgram.createSocket('udp4')
  sink.on('message', () => {})
  sink.bind(0, '127.0.0.1')
  await once(sink, 'listening')
  t.teardown(() => sink.close())
  const sinkPort = sink.address().port
  const sensible = {
    data: () => v.buffer(),
    remoteAddress: () => r.pick(['127.0.0.1', '::1', '127.0.0.2', v.address()]),
    remotePort: () => r.pick([sinkPort, sinkPort, 0, 9, 65536]),
    dnsQueryType: () => r.pick(['ipv4', 'ipv6', 'x']),
  }
  const sets = [ds, ds.withPolicy({ deny: ['127.0.0.2', '::1'] })]
  let writer = null
  let socket = null
  let connected = false
  let last = ''
  const fresh = async () => {
    writer?.releaseLock()
    // close() returns closed, which rejects with the failed write's error (the first
    // stream error), or resolves after a write that worked.
    if (socket) {
      tally.add('close()', await outcome(socket.close()), ['TypeError', 'NetworkError', 'NotAllowedError', 'hostile'], () => last)
    }
    last = ''
    connected = r.chance(0.5)
    const set = r.pick(sets)
    socket = connected
      ? new set.UDPSocket({ remoteAddress: '127.0.0.1', remotePort: sinkPort })
      : new set.UDPSocket({ localAddress: r.pick(['127.0.0.1', '::']) })
    writer = (await socket.opened).writable.getWriter()
  }
  await fresh()
  for (let i = 0; i < 1500 * SCALE; i++) {
    const keys = connected ? ['data'] : ['data', 'remoteAddress', 'remotePort']
    const msg = r.chance(0.85)
      ? v.object(r.chance(0.8) ? keys : Object.keys(sensible), 0, sensible, { present: 0.85, wild: 0.15 })
      : v.value()
    tally.cases++
    const result = await outcome(writer.write(msg))
    last += ` | ${connected ? 'connected' : 'bound'} write of ${describe(msg)}: ${result}`
    tally.add(`${connected ? 'connected' : 'bound'} write`, result, ['TypeError', 'NetworkError', 'NotAllowedError', 'hostile'], () =>
      describe(msg),
    )
    // A failed write closes the writable (spec 2.3): go on with a new socket.
    if (result !== 'ok') await fresh()
  }
  writer.releaseLock()
  await socket.close()
  report(t, tally, 'UDPMessage')
})

fuzz('TCPSocket writes: random chunks', async (t) => {
  const r = prng(SEED + 5)
  const v = makeValues(r)
  const tally = new Tally()
  let received = 0
  const sink = net.createServer((s) => s.on('error', () => {}).on('data', (d) => (received += d.length)))
  sink.listen(0, '127.0.0.1')
  await once(sink, 'listening')
  t.teardown(() => sink.close())
  let socket = null
  let writer = null
  const fresh = async () => {
    writer?.releaseLock()
    if (socket) tally.add('close()', await outcome(socket.close()), ['TypeError', 'NetworkError', 'hostile'], () => '')
    socket = new ds.TCPSocket('127.0.0.1', sink.address().port)
    writer = (await socket.opened).writable.getWriter()
  }
  await fresh()
  let sent = 0
  for (let i = 0; i < 1000 * SCALE; i++) {
    const chunk = r.chance(0.6) ? v.buffer() : v.value()
    tally.cases++
    const size = ArrayBuffer.isView(chunk) || chunk instanceof ArrayBuffer ? chunk.byteLength : 0
    const result = await outcome(writer.write(chunk))
    tally.add('write', result, ['TypeError', 'hostile'], () => describe(chunk))
    if (result === 'ok') sent += size
    else await fresh()
  }
  writer.releaseLock()
  await socket.close()
  for (let i = 0; i < 100 && received < sent; i++) await new Promise((res) => setTimeout(res, 20))
  t.is(received, sent, 'every byte of every accepted write arrived')
  report(t, tally, 'TCP chunk')
})

// ---------------------------------------------------------------- policies

fuzz('withPolicy: random policy objects', async (t) => {
  const r = prng(SEED + 6)
  const v = makeValues(r)
  const tally = new Tally()
  const sink = net.createServer((s) => s.on('error', () => {}).resume())
  sink.listen(0, '127.0.0.1')
  await once(sink, 'listening')
  t.teardown(() => sink.close())
  const sensible = {
    directSockets: () => r.chance(0.8),
    privateNetworkAccess: () => r.chance(0.5),
    multicast: () => r.chance(0.5),
    allow: () => v.cidrList(),
    deny: () => v.cidrList(),
    minServerPort: () => r.pick([0, 1024, 65535, 65536, -1, 1.5]),
    minUdpBindPort: () => r.pick([0, 1024, 65535, 65536, -1, 1.5]),
    dns: () =>
      r.chance(0.8)
        ? {
            ...(r.chance(0.7) && {
              servers: r.chance(0.8) ? [r.pick(['127.0.0.1:53', '[::1]:53', '192.0.2.53:53', '127.0.0.1', 'x:1', '1.2.3.4:99999'])] : v.value(),
            }),
            ...(r.chance(0.5) && { timeout: r.pick([1, 500, 0, -1, 2 ** 32, 1.5]) }),
            ...(r.chance(0.1) && { other: 1 }),
          }
        : v.value(),
  }
  const keys = [...Object.keys(sensible), 'directSocket', 'allowList', '__proto__']
  await runCases(1500 * SCALE, 10, async () => {
    const policy = r.chance(0.9) ? v.object(r.chance(0.8) ? Object.keys(sensible) : keys, 0, sensible, { present: 0.3, wild: 0.1 }) : v.value()
    tally.cases++
    let set
    try {
      set = ds.withPolicy(policy)
    } catch (err) {
      tally.add('withPolicy', kind(err), ['TypeError', 'hostile'], () => describe(policy))
      return
    }
    tally.add('withPolicy', 'ok', [], () => describe(policy))
    if (!Object.isFrozen(set)) tally.add('withPolicy', 'NOT FROZEN', [], () => describe(policy))
    // A set that was made must behave: loopback connects and binds work or are refused.
    await exercise(tally, 'policy TCPSocket', () => new set.TCPSocket('127.0.0.1', sink.address().port), () => describe(policy))
    await exercise(tally, 'policy UDPSocket', () => new set.UDPSocket({ localAddress: '127.0.0.1' }), () => describe(policy))
    await exercise(tally, 'policy TCPServerSocket', () => new set.TCPServerSocket('127.0.0.1'), () => describe(policy))
  })
  report(t, tally, 'withPolicy')
})

// ---------------------------------------------------------------- multicast

fuzz('MulticastController: random joinGroup / leaveGroup calls', async (t) => {
  const r = prng(SEED + 7)
  const v = makeValues(r)
  const tally = new Tally()
  const groups = ['239.1.2.3', '224.0.0.251', 'ff02::fb', 'ff05::1:3', '232.1.1.1', '127.0.0.1', '::1', '']
  const sources = ['192.0.2.1', '2001:db8::1', '127.0.0.1', '0.0.0.0', '239.1.1.1']
  let socket = null
  let mc = null
  const fresh = async () => {
    if (socket) await socket.close().catch(() => {})
    socket = new ds.UDPSocket({ localAddress: r.pick(['0.0.0.0', '::']) })
    mc = (await socket.opened).multicastController
  }
  await fresh()
  for (let i = 0; i < 1000 * SCALE; i++) {
    if (r.chance(0.02)) await fresh()
    if (r.chance(0.01)) await socket.close().catch(() => {}) // calls on a closed socket
    const args = [
      r.chance(0.8) ? r.pick(groups) : v.value(),
      r.chance(0.5) ? undefined : r.chance(0.7) ? { sourceAddress: r.pick(sources) } : v.value(),
    ].slice(0, r.pick([0, 1, 2, 2]))
    const op = r.chance(0.6) ? 'joinGroup' : 'leaveGroup'
    tally.cases++
    let promise
    try {
      promise = mc[op](...args)
    } catch (err) {
      tally.add(op, `SYNC THROW ${kind(err)}`, [], () => describe(args))
      continue
    }
    tally.add(op, await outcome(promise), ['TypeError', 'InvalidStateError', 'NetworkError', 'hostile'], () => describe(args))
    const joined = mc.joinedGroups
    if (!Object.isFrozen(joined)) {
      tally.add('joinedGroups', 'NOT FROZEN', [], () => describe(joined))
    }
  }
  await socket.close().catch(() => {})
  report(t, tally, 'MulticastController')
})
