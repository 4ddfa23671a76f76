// Loops of data-path operations that complete at once must still let the event loop
// turn: timers fire and other sockets of the process are served, as with node:dgram.
// (Without that, the loop below ran whole without a timer firing: a gap of 600+ ms. The
// bound leaves room for a busy CI machine.) Open/close loops are not covered yet
// (docs/RELIABILITY.md, finding 9).
import test from 'ava'
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

test('a TCP echo loop between two of our sockets lets timers run', async (t) => {
  const { TCPServerSocket } = await import('../index.js')
  const server = new TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const client = new TCPSocket('127.0.0.1', localPort)
  const clientInfo = await client.opened
  const acceptor = readable.getReader()
  const { value: peer } = await acceptor.read()
  acceptor.releaseLock()
  const peerInfo = await peer.opened
  const cw = clientInfo.writable.getWriter()
  const pr = peerInfo.readable.getReader()
  const data = new Uint8Array(64)
  let rounds = 0
  const gap = await longestTimerGap(async () => {
    const end = performance.now() + 1200
    for (; rounds < 200_000 && performance.now() < end; rounds++) {
      await cw.write(data)
      await pr.read()
    }
  })
  t.log(`${rounds} writes and reads; longest timer gap ${gap.toFixed(1)} ms`)
  t.true(rounds > 100)
  t.true(gap < 400, `timers waited ${gap.toFixed(1)} ms`)
  cw.releaseLock()
  pr.releaseLock()
  await Promise.all([client.close(), peer.close(), server.close()])
})
