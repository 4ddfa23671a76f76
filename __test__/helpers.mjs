// Shared test helpers: real peers over loopback, bounded waits.
import net from 'node:net'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'

/**
 * A node:dgram socket bound on `address` (127.0.0.1 by default) that keeps every datagram
 * it receives in `got`; `socket` for its options.
 */
export async function dgramSink(address = '127.0.0.1') {
  const socket = dgram.createSocket('udp4')
  const got = []
  socket.on('message', (msg) => got.push(msg))
  socket.bind(0, address)
  await once(socket, 'listening')
  return { socket, port: socket.address().port, got, close: () => socket.close() }
}

/**
 * A node:net server on 127.0.0.1 (or `host`); `onConnection(socket)` handles each client.
 * `close()` stops listening and destroys the connections still open.
 */
export async function netServer(onConnection, host = '127.0.0.1') {
  const sockets = new Set()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    onConnection(socket)
  })
  server.listen(0, host)
  await once(server, 'listening')
  const close = () =>
    new Promise((resolve) => {
      server.close(() => resolve())
      for (const socket of sockets) socket.destroy()
    })
  return { server, port: server.address().port, close }
}

// The real timers, kept at load: `within` stays bounded while a test fakes the globals.
const realSetTimeout = setTimeout
const realClearTimeout = clearTimeout

/** Rejects after `ms` unless `promise` settles first. */
export function within(promise, ms, what = 'operation') {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = realSetTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
    }),
  ]).finally(() => realClearTimeout(timer))
}

/** Reads a ReadableStream of bytes to its end (bounded in total bytes). */
export async function readAll(readable, limit = 64 * 1024 * 1024) {
  const reader = readable.getReader()
  const chunks = []
  let total = 0
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    chunks.push(value)
    total += value.byteLength
    if (total > limit) throw new Error('readAll: limit exceeded')
  }
  reader.releaseLock()
  return Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)))
}

/** Asserts (with t.throwsAsync) that `promise` rejects with a DOMException named `name`. */
export async function rejectsWith(t, promise, name, message) {
  const err = await t.throwsAsync(promise, message === undefined ? { any: true } : { any: true, message })
  t.true(err instanceof DOMException, `expected a DOMException, got ${err?.constructor?.name}`)
  t.is(err.name, name)
  return err
}

/**
 * How many listening TCP sockets of this process are on `port` (IPv4 and IPv6), found
 * through /proc: unlike a connect, this does not count another process that took the
 * port after ours let it go.
 */
export function ourListeners(port) {
  const listening = new Set()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length <= 9 || f[3] !== '0A') continue // LISTEN
      if (parseInt(f[1].split(':').pop(), 16) === port) listening.add(`socket:[${f[9]}]`)
    }
  }
  let count = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (listening.has(readlinkSync(`/proc/self/fd/${fd}`))) count++
    } catch {}
  }
  return count
}
