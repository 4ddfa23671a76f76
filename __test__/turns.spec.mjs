// Loops of operations that complete at once must still let the event loop turn: timers
// fire and other sockets of the process are served, as with node:net and node:dgram.
// (Without that, the loops below ran whole without a timer firing: gaps of 600+ ms and
// 1 s stalls on a full backlog. The bounds leave room for a busy CI machine.)
import test from 'ava'
import net from 'node:net'
import { once } from 'node:events'
import { TCPSocket, UDPSocket } from '../index.js'

/** Runs `body(deadline)` while a 5 ms interval ticks; resolves the longest gap between ticks. */
async function longestTimerGap(body) {
  let last = performance.now()
  let longest = 0
  const timer = setInterval(() => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
  }, 5)
  try {
    await body()
  } finally {
    clearInterval(timer)
  }
  return Math.max(longest, performance.now() - last)
}

test('a UDP ping-pong loop between two of our sockets lets timers run', async (t) => {
  const a = new UDPSocket({ localAddress: '127.0.0.1' })
  const b = new UDPSocket({ localAddress: '127.0.0.1' })
  const [ia, ib] = await Promise.all([a.opened, b.opened])
  const wa = ia.writable.getWriter()
  const rb = ib.readable.getReader()
  const data = new Uint8Array(32)
  let rounds = 0
  const gap = await longestTimerGap(async () => {
    const end = performance.now() + 1200
    for (; rounds < 200_000 && performance.now() < end; rounds++) {
      await wa.write({ data, remoteAddress: '127.0.0.1', remotePort: ib.localPort })
      await rb.read()
    }
  })
  t.log(`${rounds} round trips; longest timer gap ${gap.toFixed(1)} ms`)
  t.true(rounds > 100)
  t.true(gap < 400, `timers waited ${gap.toFixed(1)} ms`)
  wa.releaseLock()
  rb.releaseLock()
  await Promise.all([a.close(), b.close()])
})

test('an open/close loop to a node:net server in the same process never waits for that server', async (t) => {
  // The server accepts only when the event loop turns; a loop that never lets it would
  // fill its backlog, and the next connect would wait a second for a SYN retry.
  const server = net.createServer((s) => s.on('error', () => {}).resume())
  server.listen({ port: 0, host: '127.0.0.1', backlog: 16 })
  await once(server, 'listening')
  const { port } = server.address()
  let slowest = 0
  let cycles = 0
  try {
    const gap = await longestTimerGap(async () => {
      const end = performance.now() + 1500
      for (; cycles < 400 && performance.now() < end; cycles++) {
        const t0 = performance.now()
        const s = new TCPSocket('127.0.0.1', port)
        await s.opened
        await s.close()
        slowest = Math.max(slowest, performance.now() - t0)
      }
    })
    t.log(`${cycles} cycles; slowest ${slowest.toFixed(1)} ms; longest timer gap ${gap.toFixed(1)} ms`)
    t.true(cycles >= 100)
    t.true(slowest < 900, `a cycle took ${slowest.toFixed(1)} ms (a SYN retry is 1 s)`)
    t.true(gap < 400, `timers waited ${gap.toFixed(1)} ms`)
  } finally {
    server.close()
    server.unref()
  }
})
