// TCP client data path and connection setup: bulk send, bulk receive (default and BYOB
// readers), 64-byte round trips (client and peer on one CPU, and on two), round trips over
// many connections at once, and connections opened and closed per second; ours (TCPSocket)
// vs node:net, each against the same peer.
//
// A workload module exports
//   workloads: [{ id, name, metrics, params(quick), peer: { mode, first }, cpus, impl?, ceiling? }]
//     name: a string, or a function of the params (sizes follow --quick)
//     metrics: [{ key, unit, label?, higherIsBetter? }]: the figures of the result shown as rows
//     params(quick): key=value arguments for the side, its peer and the Rust ceiling
//     peer.first: the peer listens (started first); otherwise the side listens and the
//       peer connects to it
//     cpus: { side, peer } (see proc.mjs); impl: the implementation key (default id);
//     ceiling: the Rust ceiling's workload (default impl; false for none);
//     ceilingRatio: false to leave out ours/ceiling (where it means nothing)
//   impls: { [impl]: { ours(ctx), node(ctx) } }: one run each, in a fresh process;
//     ctx = { lib (direct-sockets, ours only), p (params), port, emit, nextLine, settle, sleep }
import net from 'node:net'
import { once } from 'node:events'
import { SPLIT, SHARED, inParallel, percentile, count, bytesText } from '../proc.mjs'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const HOST = '127.0.0.1'
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000)

function dialNode(port, options) {
  const socket = net.connect({ port, host: HOST, ...options })
  return once(socket, 'connect').then(() => socket)
}

// ---- bulk send: write `bytes` in `chunk` writes, end, wait for the sink's byte count.
async function sendOurs({ lib, p, port }) {
  const socket = new lib.TCPSocket(HOST, port)
  const { readable, writable } = await socket.opened
  const writer = writable.getWriter()
  const buf = new Uint8Array(p.chunk).fill(1)
  const t0 = performance.now()
  let sent = 0
  while (sent < p.bytes) {
    await writer.write(buf)
    sent += p.chunk
  }
  await writer.close()
  const reader = readable.getReader()
  let reply = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    reply += Buffer.from(value).toString()
  }
  const ms = performance.now() - t0
  if (Number(reply) !== sent) throw new Error(`sink got ${reply} of ${sent}`)
  return { rate: mbps(sent, ms) }
}

async function sendNode({ p, port }) {
  const socket = await dialNode(port)
  const buf = Buffer.alloc(p.chunk, 1)
  let reply = ''
  socket.on('data', (d) => (reply += d))
  const ended = once(socket, 'end')
  const t0 = performance.now()
  let sent = 0
  while (sent < p.bytes) {
    sent += p.chunk
    if (!socket.write(buf)) await once(socket, 'drain')
  }
  socket.end()
  await ended
  const ms = performance.now() - t0
  if (Number(reply) !== sent) throw new Error(`sink got ${reply} of ${sent}`)
  return { rate: mbps(sent, ms) }
}

// ---- bulk receive: the peer sends `bytes`; read to the end (p.byob: with a BYOB reader).
async function receiveOurs({ lib, p, port }) {
  const socket = new lib.TCPSocket(HOST, port)
  const { readable, writable } = await socket.opened
  const t0 = performance.now()
  let got = 0
  if (p.byob) {
    const reader = readable.getReader({ mode: 'byob' })
    let buf = new Uint8Array(p.chunk)
    for (;;) {
      const { value, done } = await reader.read(buf)
      if (done) break
      got += value.byteLength
      buf = new Uint8Array(value.buffer)
    }
  } else {
    const reader = readable.getReader()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      got += value.byteLength
    }
  }
  const ms = performance.now() - t0
  await writable.close()
  if (got !== p.bytes) throw new Error(`got ${got} of ${p.bytes}`)
  return { rate: mbps(got, ms) }
}

async function receiveNode({ p, port }) {
  const socket = await dialNode(port)
  const t0 = performance.now()
  let got = 0
  socket.on('data', (d) => (got += d.length))
  await once(socket, 'end')
  const ms = performance.now() - t0
  socket.end()
  if (got !== p.bytes) throw new Error(`got ${got} of ${p.bytes}`)
  return { rate: mbps(got, ms) }
}

// ---- round trips: `size`-byte messages echoed one at a time; `warmup` untimed first. Ours
// reads with a default reader, the usual way (a BYOB read costs Node's stream a transfer of
// the view's buffer each time: README, "Where we are behind").
function roundTrips(p, step) {
  return (async () => {
    for (let i = 0; i < p.warmup; i++) await step()
    const latencies = new Float64Array(p.n)
    const t0 = performance.now()
    for (let i = 0; i < p.n; i++) {
      const t = performance.now()
      await step()
      latencies[i] = performance.now() - t
    }
    const ms = performance.now() - t0
    latencies.sort()
    return { rate: p.n / (ms / 1000), p50: percentile(latencies, 0.5) * 1000, p99: percentile(latencies, 0.99) * 1000 }
  })()
}

async function pingOurs({ lib, p, port }) {
  const socket = new lib.TCPSocket(HOST, port, { noDelay: true })
  const { readable, writable } = await socket.opened
  const writer = writable.getWriter()
  const reader = readable.getReader()
  const msg = new Uint8Array(p.size).fill(2)
  const result = await roundTrips(p, async () => {
    writer.write(msg)
    for (let got = 0; got < p.size; ) {
      const { value, done } = await reader.read()
      if (done) throw new Error('echo peer closed')
      got += value.byteLength
    }
  })
  await writer.close()
  return result
}

async function pingNode({ p, port }) {
  const socket = await dialNode(port, { noDelay: true })
  const msg = Buffer.alloc(p.size, 2)
  let pending = 0
  let wake = null
  socket.on('data', (d) => {
    pending -= d.length
    if (pending <= 0) wake?.()
  })
  socket.on('end', () => wake?.(new Error('echo peer closed')))
  const result = await roundTrips(p, () => {
    pending = p.size
    const done = new Promise((resolve, reject) => (wake = (err) => (err ? reject(err) : resolve())))
    socket.write(msg)
    return done
  })
  socket.end()
  return result
}

// ---- connections opened and closed: open, wait until open, close; `parallel` at a time.
async function openClose(p, one) {
  await inParallel(p.warmup, p.parallel, one)
  const t0 = performance.now()
  await inParallel(p.total, p.parallel, one)
  return { rate: p.total / ((performance.now() - t0) / 1000) }
}

async function openCloseOurs({ lib, p, port }) {
  return openClose(p, async () => {
    const socket = new lib.TCPSocket(HOST, port)
    await socket.opened
    await socket.close()
  })
}

async function openCloseNode({ p, port }) {
  return openClose(p, async () => {
    const socket = await dialNode(port)
    socket.destroy()
    await once(socket, 'close')
  })
}

const manyParams = (quick) => ({ conns: quick ? 50 : 500, rounds: quick ? 20 : 100, size: 100 })

// ---- many connections at once: `conns` connections (opened first, untimed), each doing
// `rounds` round trips of `size` bytes, all at the same time; round trips per second.
async function manyConnections(p, open) {
  const clients = await Promise.all(Array.from({ length: p.conns }, open))
  const t0 = performance.now()
  await Promise.all(clients.map((c) => c.run()))
  const ms = performance.now() - t0
  await Promise.all(clients.map((c) => c.end()))
  return { rate: (p.conns * p.rounds) / (ms / 1000) }
}

async function manyOurs({ lib, p, port }) {
  const msg = new Uint8Array(p.size).fill(3)
  return manyConnections(p, async () => {
    const socket = new lib.TCPSocket(HOST, port, { noDelay: true })
    const { readable, writable } = await socket.opened
    const reader = readable.getReader()
    const writer = writable.getWriter()
    return {
      async run() {
        for (let i = 0; i < p.rounds; i++) {
          // Each write awaited, or (as node:net's side, which never waits for its write
          // callback) not: the reply's read waits either way.
          if (p.awaitWrites) await writer.write(msg)
          else writer.write(msg)
          for (let got = 0; got < p.size; ) {
            const { value, done } = await reader.read()
            if (done) throw new Error('echo peer closed')
            got += value.byteLength
          }
        }
      },
      async end() {
        reader.releaseLock()
        writer.releaseLock()
        await socket.close()
      },
    }
  })
}

async function manyNode({ p, port }) {
  const msg = Buffer.alloc(p.size, 3)
  return manyConnections(p, async () => {
    const socket = await dialNode(port, { noDelay: true })
    return {
      run: () =>
        new Promise((resolve, reject) => {
          let got = 0
          let rounds = 0
          socket.on('data', (d) => {
            got += d.length
            while (got >= p.size) {
              got -= p.size
              if (++rounds === p.rounds) return resolve()
              socket.write(msg)
            }
          })
          socket.on('end', () => reject(new Error('echo peer closed')))
          socket.write(msg)
        }),
      end: () => {
        socket.destroy()
        return once(socket, 'close')
      },
    }
  })
}

export const impls = {
  'tcp-send': { ours: sendOurs, node: sendNode },
  'tcp-recv': { ours: receiveOurs, node: receiveNode },
  'tcp-rt': { ours: pingOurs, node: pingNode },
  'tcp-connect': { ours: openCloseOurs, node: openCloseNode },
  'tcp-many': { ours: manyOurs, node: manyNode },
}

const bulk = (quick) => ({ bytes: quick ? 32 * MiB : GiB, chunk: 64 * 1024 })
const rate = (unit) => [{ key: 'rate', unit }]
const rtMetrics = [
  { key: 'rate', unit: 'rt/s' },
  { key: 'p50', label: 'p50 latency', unit: 'µs', higherIsBetter: false },
  { key: 'p99', label: 'p99 latency', unit: 'µs', higherIsBetter: false },
]
const rtParams = (quick) => ({ n: quick ? 1000 : 20000, warmup: quick ? 100 : 1000, size: 64 })

export const workloads = [
  {
    id: 'tcp-send',
    name: (p) => `TCP bulk send (${bytesText(p.bytes)}, ${bytesText(p.chunk)} writes)`,
    metrics: rate('MB/s'),
    params: bulk,
    peer: { mode: 'sink', first: true },
    cpus: SPLIT,
  },
  {
    id: 'tcp-recv',
    name: (p) => `TCP bulk receive (${bytesText(p.bytes)}, default reader)`,
    metrics: rate('MB/s'),
    params: bulk,
    peer: { mode: 'source', first: true },
    cpus: SPLIT,
  },
  {
    id: 'tcp-recv-byob',
    impl: 'tcp-recv',
    name: (p) => `TCP bulk receive (${bytesText(p.bytes)}, BYOB reader)`,
    metrics: rate('MB/s'),
    params: (quick) => ({ ...bulk(quick), byob: 1 }),
    peer: { mode: 'source', first: true },
    cpus: SPLIT,
  },
  {
    id: 'tcp-rt-1cpu',
    impl: 'tcp-rt',
    name: (p) => `TCP ${p.size} B round trips (${count(p.n)}, default reader), client+peer on 1 CPU`,
    metrics: rtMetrics,
    params: rtParams,
    peer: { mode: 'echo', first: true },
    cpus: SHARED,
  },
  {
    id: 'tcp-rt-2cpu',
    impl: 'tcp-rt',
    name: (p) => `TCP ${p.size} B round trips (${count(p.n)}, default reader), client+peer on 2 CPUs`,
    metrics: rtMetrics,
    params: rtParams,
    peer: { mode: 'echo', first: true },
    cpus: SPLIT,
  },
  {
    id: 'tcp-many',
    name: (p) => `TCP ${p.size} B round trips over ${p.conns} connections at once (${p.rounds} each)`,
    metrics: rate('rt/s'),
    params: (quick) => ({ ...manyParams(quick), awaitWrites: 1 }),
    peer: { mode: 'echo', first: true },
    cpus: SPLIT,
    ceiling: false,
  },
  {
    id: 'tcp-many-nowait',
    impl: 'tcp-many',
    name: (p) => `TCP ${p.size} B round trips over ${p.conns} connections at once (${p.rounds} each), writes not awaited`,
    metrics: rate('rt/s'),
    params: (quick) => ({ ...manyParams(quick), awaitWrites: 0 }),
    peer: { mode: 'echo', first: true },
    cpus: SPLIT,
    ceiling: false,
  },
  {
    id: 'tcp-connect',
    name: (p) => `TCP connections opened+closed/s (${count(p.total)}, ${p.parallel} at a time)`,
    metrics: rate('conn/s'),
    params: (quick) => ({ total: quick ? 200 : 5000, parallel: 50, warmup: 50 }),
    peer: { mode: 'drain', first: true },
    cpus: SPLIT,
  },
]
