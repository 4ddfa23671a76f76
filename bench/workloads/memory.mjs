// Resident memory per idle open connection, each with a read pending: for ours a
// `reader.read()` outstanding, for node:net a socket with a 'data' listener. The figure is
// the growth of this process's RSS (after GC; the runner starts sides with --expose-gc)
// from `warm` open connections to `n`, divided by `n - warm`, in KiB. Measuring from a few
// open connections rather than from none leaves out one-time costs (the first socket
// starts runtimes, compiles code, allocates shared buffers). Module shape: see tcp.mjs.
import net from 'node:net'
import v8 from 'node:v8'
import { once } from 'node:events'
import { SPLIT, inParallel, count } from '../proc.mjs'

const HOST = '127.0.0.1'
const noop = () => {}
const KiB = 1024
// The peer opens connections without waiting for our accepts: a queue deep enough for all
// of them (the kernel caps it at net.core.somaxconn).
const DEEP_BACKLOG = 65535

/** process.memoryUsage() and the resident size of V8's young generation and other spaces. */
function snapshot() {
  const usage = process.memoryUsage()
  let young = 0
  let heap = 0
  for (const space of v8.getHeapSpaceStatistics()) {
    heap += space.physical_space_size
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space') {
      young += space.physical_space_size
    }
  }
  return { ...usage, young, heap }
}

/**
 * Figures from memory snapshots before and after `count` more connections. Besides the
 * RSS: the live JS heap, the resident heap apart from the young generation (whose size V8
 * changes with the allocation rate: a grown young generation shows up in the RSS of
 * whichever side it happened to), and the RSS outside V8's heap.
 */
function perConnection(before, after, count) {
  const per = (field) => (after[field] - before[field]) / count / KiB
  return {
    kib: per('rss'),
    heapKib: per('heapUsed'),
    // (`external` includes the ArrayBuffers' memory.)
    externalKib: per('external'),
    youngKib: per('young'),
    oldKib: per('heap') - per('young'),
    outsideKib: per('rss') - per('heap'),
  }
}

// ---- client side: this process opens the connections to a peer that accepts and drains.
async function clientSide({ p, settle }, openOne) {
  const held = []
  const open = (count) => inParallel(count, 50, async () => held.push(await openOne()))
  await open(p.warm)
  await settle()
  const before = snapshot()
  await open(p.n - p.warm)
  await settle()
  const after = snapshot()
  if (held.length !== p.n) throw new Error(`held ${held.length} of ${p.n}`)
  return perConnection(before, after, p.n - p.warm)
}

const idleClientOurs = (ctx) =>
  clientSide(ctx, async () => {
    const socket = new ctx.lib.TCPSocket(HOST, ctx.port)
    const { readable } = await socket.opened
    const reader = readable.getReader()
    reader.read().then(noop, noop)
    // Held as node:net's side holds its sockets: the socket alone (its reader is reached
    // through it).
    return socket
  })

// The same, with no stream asked for (streams are made on first use): ours only awaits
// `opened`; node:net's socket has no 'data' listener (it reads and buffers all the same).
const bareClientOurs = (ctx) =>
  clientSide(ctx, async () => {
    const socket = new ctx.lib.TCPSocket(HOST, ctx.port)
    await socket.opened
    return socket
  })

/** A node:net client side; `reading`: with a 'data' listener. */
const nodeClient = (reading) => (ctx) =>
  clientSide(ctx, async () => {
    const socket = net.connect(ctx.port, HOST)
    await once(socket, 'connect')
    socket.on('error', noop)
    if (reading) socket.on('data', noop)
    return socket
  })
const bareClientNode = nodeClient(false)
const idleClientNode = nodeClient(true)

// ---- server side: this process accepts the connections a peer opens (`warm` first, the
// rest once we relay "go").
async function serverSide({ p, emit, settle }, listen) {
  let count = 0
  let reached = null
  const held = []
  const accepted = (socket) => {
    held.push(socket)
    if (++count === reached?.count) reached.resolve()
  }
  const until = (target) =>
    count >= target ? Promise.resolve() : new Promise((resolve) => (reached = { count: target, resolve }))
  const port = await listen(accepted)
  emit({ port })
  await until(p.warm)
  await settle()
  const before = snapshot()
  emit({ relay: 'go' })
  await until(p.n)
  await settle()
  const after = snapshot()
  return perConnection(before, after, p.n - p.warm)
}

const idleServerOurs = (ctx) =>
  serverSide(ctx, async (accepted) => {
    const server = new ctx.lib.TCPServerSocket(HOST, { backlog: DEEP_BACKLOG })
    const { readable, localPort } = await server.opened
    const connections = readable.getReader()
    ;(async () => {
      for (let i = 0; i < ctx.p.n; i++) {
        const { value: socket, done } = await connections.read()
        if (done) return
        const reader = (await socket.opened).readable.getReader()
        reader.read().then(noop, noop)
        accepted(socket)
      }
    })().catch((err) => {
      console.error(err)
      process.exit(1)
    })
    return localPort
  })

const idleServerNode = (ctx) =>
  serverSide(ctx, async (accepted) => {
    const server = net.createServer((socket) => {
      socket.on('error', noop)
      socket.on('data', noop)
      accepted(socket)
    })
    server.listen({ port: 0, host: HOST, backlog: DEEP_BACKLOG })
    await once(server, 'listening')
    return server.address().port
  })

export const impls = {
  'idle-client': { ours: idleClientOurs, node: idleClientNode },
  'idle-server': { ours: idleServerOurs, node: idleServerNode },
  'idle-bare': { ours: bareClientOurs, node: bareClientNode },
}

const params = (quick) => ({ n: quick ? 200 : 2000, warm: 10 })
const metrics = [
  { key: 'kib', label: 'RSS', unit: 'KiB/conn', higherIsBetter: false },
  // Where the RSS goes (JS sides only): live JS heap after GC.
  { key: 'heapKib', label: 'JS heap used', unit: 'KiB/conn', higherIsBetter: false },
]

export const workloads = [
  {
    id: 'idle-client',
    name: (p) => `Idle client conn, read pending (${count(p.n)} conns)`,
    metrics,
    params,
    peer: { mode: 'drain', first: true },
    cpus: SPLIT,
  },
  {
    id: 'idle-bare',
    ceiling: 'idle-client',
    name: (p) => `Idle client conn, no stream asked for (${count(p.n)} conns)`,
    metrics,
    params,
    peer: { mode: 'drain', first: true },
    cpus: SPLIT,
  },
  {
    id: 'idle-server',
    name: (p) => `Idle accepted conn, read pending (${count(p.n)} conns)`,
    metrics,
    params,
    peer: { mode: 'hold', first: false },
    cpus: SPLIT,
  },
]
