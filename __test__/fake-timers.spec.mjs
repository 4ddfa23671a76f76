// Fake timers installed after the module loaded (as sinon's or Jest's do in a test suite)
// must not hold back our sockets: `closed` after the streams end (TCP, server, UDP) and
// the data path's turn budget use the timers and clock captured when the module loaded
// (lib/primordials.js).
import test from 'ava'
import net from 'node:net'
import timers from 'node:timers'
import { once } from 'node:events'
import { TCPSocket, TCPServerSocket, UDPSocket } from '../index.js'
// `within` keeps the real timers it loaded with: it stays bounded under the fakes.
import { within } from './helpers.mjs'

/**
 * Replaces the timer globals, the `node:timers` module's functions and `performance.now`
 * with fakes whose callbacks never run and whose clock stands still, as a fake clock
 * nobody advances; returns the function that puts the real ones back.
 */
function installFakeTimers() {
  const handle = () => ({
    ref() {
      return this
    },
    unref() {
      return this
    },
    hasRef: () => false,
    refresh() {
      return this
    },
    [Symbol.toPrimitive]: () => 0,
  })
  const names = ['setTimeout', 'setInterval', 'setImmediate']
  const saved = names.map((name) => [name, globalThis[name], timers[name]])
  const savedNow = performance.now
  for (const name of names) {
    globalThis[name] = handle
    timers[name] = handle
  }
  performance.now = () => 0
  return () => {
    for (const [name, global, fromModule] of saved) {
      globalThis[name] = global
      timers[name] = fromModule
    }
    performance.now = savedNow
  }
}

test.serial('with fake timers installed, closed still settles (TCP, server, UDP) and data still flows', async (t) => {
  const server = net.createServer((s) => s.pipe(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  const restore = installFakeTimers()
  try {
    // TCP: data both ways, then writer.close() and readable.cancel(); closed settles in a
    // later task (lib/lifecycle.js StreamEnds), which must be a real one.
    const socket = new TCPSocket('127.0.0.1', port)
    const { readable, writable } = await within(socket.opened, 5000, 'TCP opened')
    const writer = writable.getWriter()
    const reader = readable.getReader()
    await writer.write(new Uint8Array([1, 2, 3]))
    const { value } = await within(reader.read(), 5000, 'echo')
    t.deepEqual([...value], [1, 2, 3])
    await writer.close()
    await reader.cancel()
    await within(socket.closed, 5000, 'TCP closed')

    // TCPServerSocket: cancelling its readable resolves closed in a later task.
    const listener = new TCPServerSocket('127.0.0.1')
    const opened = await within(listener.opened, 5000, 'server opened')
    await opened.readable.cancel()
    await within(listener.closed, 5000, 'server closed')

    // UDPSocket: a send, then both streams ended.
    const udp = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: port })
    const info = await within(udp.opened, 5000, 'UDP opened')
    const udpWriter = info.writable.getWriter()
    await udpWriter.write({ data: new Uint8Array([4]) })
    await udpWriter.close()
    await info.readable.cancel()
    await within(udp.closed, 5000, 'UDP closed')
  } finally {
    restore()
    await new Promise((resolve) => server.close(resolve))
  }
})
