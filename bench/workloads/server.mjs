// TCPServerSocket: connections accepted per second, against a node:net server doing the
// same work. The peer (a client process) opens `total` connections, `parallel` at a time,
// each read until the server closes it; each server accepts and at once closes. The clock
// runs from the first accepted connection to the last one closed by the server, so the
// peer's start-up is not in the figure. A second workload ends each connection with close()
// (node:net: destroy()) instead. A third serves round trips: the peer opens `conns`
// connections, then each sends `size` bytes and waits for the echo, `rounds` times, all at
// once; the server echoes what it reads (writes not awaited, as node:net's side does not
// wait for its write callbacks); the figure is round trips per second from the first
// bytes read to the last echoed. Module shape: see tcp.mjs.
import net from 'node:net'
import { once } from 'node:events'
import { SPLIT, count } from '../proc.mjs'

const noop = () => {}

/** Accepts `p.total` connections with our server, ending each with `end(socket)`. */
async function acceptWithOurs({ lib, p, emit }, end) {
  const server = new lib.TCPServerSocket('127.0.0.1', { backlog: 1024 })
  const { readable, localPort } = await server.opened
  const reader = readable.getReader()
  emit({ port: localPort })
  let t0 = 0
  for (let i = 0; i < p.total; i++) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`the server's readable ended after ${i} connections`)
    if (i === 0) t0 = performance.now()
    await end(value)
  }
  const ms = performance.now() - t0
  return { rate: (p.total - 1) / (ms / 1000) }
}

/** The same with a node:net server. */
async function acceptWithNode({ p, emit }, end) {
  let count = 0
  let t0 = 0
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  const server = net.createServer((socket) => {
    if (count++ === 0) t0 = performance.now()
    socket.on('error', noop)
    end(socket)
    if (count === p.total) finish(performance.now())
  })
  server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 })
  await once(server, 'listening')
  emit({ port: server.address().port })
  const t1 = await finished
  return { rate: (p.total - 1) / ((t1 - t0) / 1000) }
}

const acceptOurs = (ctx) =>
  acceptWithOurs(ctx, async (socket) => {
    const { readable, writable } = await socket.opened
    writable.close().catch(noop) // FIN; the client closes, then so do we
    readable.cancel().catch(noop)
    socket.closed.catch(noop)
  })

const acceptNode = (ctx) =>
  acceptWithNode(ctx, (socket) => {
    socket.end()
    socket.resume()
  })

// Ended by close() without asking for the streams (made on first use); node:net: destroy().
const acceptCloseOurs = (ctx) =>
  acceptWithOurs(ctx, async (socket) => {
    await socket.opened
    socket.close().catch(noop)
  })

const acceptCloseNode = (ctx) => acceptWithNode(ctx, (socket) => socket.destroy())

/** Round trips served: counts echoed bytes, timed from the first read to the last echo. */
function echoCounter(p) {
  const total = p.conns * p.rounds * p.size
  let echoed = 0
  let t0 = 0
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  return {
    finished,
    echoed(bytes) {
      if (t0 === 0) t0 = performance.now()
      echoed += bytes
      if (echoed === total) finish((p.conns * p.rounds) / ((performance.now() - t0) / 1000))
    },
  }
}

async function serveOurs({ lib, p, emit }) {
  const counter = echoCounter(p)
  const server = new lib.TCPServerSocket('127.0.0.1', { backlog: 1024 })
  const { readable, localPort } = await server.opened
  emit({ port: localPort })
  const serve = async (socket) => {
    const { readable, writable } = await socket.opened
    const reader = readable.getReader()
    const writer = writable.getWriter()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      writer.write(value)
      counter.echoed(value.byteLength)
    }
    await writer.close()
  }
  ;(async () => {
    for await (const socket of readable) serve(socket).catch(noop)
  })().catch(noop)
  return { rate: await counter.finished }
}

async function serveNode({ p, emit }) {
  const counter = echoCounter(p)
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    socket.on('error', noop)
    socket.on('data', (d) => {
      socket.write(d)
      counter.echoed(d.length)
    })
  })
  server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 })
  await once(server, 'listening')
  emit({ port: server.address().port })
  return { rate: await counter.finished }
}

export const impls = {
  'tcp-accept': { ours: acceptOurs, node: acceptNode },
  'tcp-accept-close': { ours: acceptCloseOurs, node: acceptCloseNode },
  'tcp-serve': { ours: serveOurs, node: serveNode },
}

export const workloads = [
  {
    id: 'tcp-accept',
    name: (p) => `TCP accepted conns/s (${count(p.total)}, ${p.parallel} at a time)`,
    metrics: [{ key: 'rate', unit: 'conn/s' }],
    params: (quick) => ({ total: quick ? 200 : 5000, parallel: 50 }),
    peer: { mode: 'connect', first: false },
    cpus: SPLIT,
  },
  {
    id: 'tcp-accept-close',
    ceiling: 'tcp-accept',
    name: (p) => `TCP accepted conns/s, ended by close() (${count(p.total)}, ${p.parallel} at a time)`,
    metrics: [{ key: 'rate', unit: 'conn/s' }],
    params: (quick) => ({ total: quick ? 200 : 5000, parallel: 50 }),
    peer: { mode: 'connect', first: false },
    cpus: SPLIT,
  },
  {
    id: 'tcp-serve',
    name: (p) => `TCP server: ${p.size} B round trips from ${p.conns} connections at once (${p.rounds} each)`,
    metrics: [{ key: 'rate', unit: 'rt/s' }],
    params: (quick) => ({ conns: quick ? 50 : 500, rounds: quick ? 20 : 100, size: 100 }),
    peer: { mode: 'rt-clients', first: false },
    cpus: SPLIT,
    ceiling: false,
  },
]
