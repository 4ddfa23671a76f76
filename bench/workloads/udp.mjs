// UDP data path: datagrams per second sent and received (64 B and 1,200 B), and loss at
// the receiver under an unpaced blast; ours (UDPSocket) vs node:dgram. Module shape: see
// tcp.mjs.
//   send: `n` datagrams to a counting sink peer; the figure is n / time to send them.
//   receive: the peer blasts `n` datagrams at us as fast as it can and relays "done"; we
//     drain what the kernel still holds; the figure is datagrams received per second from
//     the first to the last (loss: the share of the `n` that never arrived). On a VM a send
//     that wakes a sleeping receiver on the other CPU pays for the wake-up, so how fast the
//     blaster gets depends on the receiver too: its achieved rate is in each run's `info`.
import dgram from 'node:dgram'
import { once } from 'node:events'
import { SPLIT, sleep, count } from '../proc.mjs'

const HOST = '127.0.0.1'
const DRAIN_IDLE_MS = 50
const DRAIN_ROUNDS = 100

async function sendOurs({ lib, p, port }) {
  const socket = new lib.UDPSocket({ remoteAddress: HOST, remotePort: port })
  const { writable } = await socket.opened
  const writer = writable.getWriter()
  const message = { data: new Uint8Array(p.size).fill(7) }
  const t0 = performance.now()
  let last
  for (let i = 0; i < p.n; i++) {
    if (writer.desiredSize <= 0) await writer.ready
    last = writer.write(message)
  }
  await last
  const ms = performance.now() - t0
  return { rate: p.n / (ms / 1000) }
}

async function sendNode({ p, port }) {
  const socket = dgram.createSocket('udp4')
  socket.connect(port, HOST)
  await once(socket, 'connect')
  const buf = Buffer.alloc(p.size, 7)
  const t0 = performance.now()
  // Back-pressure like ours: wait for a batch's last send before going on.
  const BATCH = 256
  for (let sent = 0; sent < p.n; ) {
    const end = Math.min(p.n, sent + BATCH)
    let done
    const flushed = new Promise((resolve) => (done = resolve))
    for (; sent < end; sent++) socket.send(buf, sent === end - 1 ? done : undefined)
    await flushed
  }
  const ms = performance.now() - t0
  return { rate: p.n / (ms / 1000) }
}

/** Waits for the blaster's "done", then until nothing more arrives; returns the figures. */
async function receiveFigures({ p, nextLine }, counter) {
  await nextLine()
  for (let before = -1, i = 0; counter.count !== before && i < DRAIN_ROUNDS; i++) {
    before = counter.count
    await sleep(DRAIN_IDLE_MS)
  }
  const { count, first, last } = counter
  return {
    rate: count > 1 ? (count - 1) / ((last - first) / 1000) : 0,
    loss: 100 * (1 - count / p.n),
  }
}

async function receiveOurs(ctx) {
  const { lib, p, emit } = ctx
  const socket = new lib.UDPSocket({ localAddress: HOST, ...(p.rcvbuf && { receiveBufferSize: p.rcvbuf }) })
  const { readable, localPort } = await socket.opened
  const counter = { count: 0, first: 0, last: 0 }
  const reader = readable.getReader()
  ;(async () => {
    for (;;) {
      const { done } = await reader.read()
      if (done) return
      counter.last = performance.now()
      if (counter.count++ === 0) counter.first = counter.last
    }
  })()
  emit({ port: localPort })
  return receiveFigures(ctx, counter)
}

async function receiveNode(ctx) {
  const { p, emit } = ctx
  const socket = dgram.createSocket({ type: 'udp4', ...(p.rcvbuf && { recvBufferSize: p.rcvbuf }) })
  const counter = { count: 0, first: 0, last: 0 }
  socket.on('message', () => {
    counter.last = performance.now()
    if (counter.count++ === 0) counter.first = counter.last
  })
  socket.bind(0, HOST)
  await once(socket, 'listening')
  emit({ port: socket.address().port })
  return receiveFigures(ctx, counter)
}

export const impls = {
  'udp-send': { ours: sendOurs, node: sendNode },
  'udp-recv': { ours: receiveOurs, node: receiveNode },
}

const RCVBUF = 4 * 1024 * 1024
const sendCount = (quick) => (quick ? 10_000 : 300_000)
const blastCount = (quick) => (quick ? 20_000 : 300_000)

const send = (size) => ({
  id: `udp-send-${size}`,
  impl: 'udp-send',
  name: (p) => `UDP send ${size} B (${count(p.n)})`,
  metrics: [{ key: 'rate', unit: 'dgram/s' }],
  params: (quick) => ({ size, n: sendCount(quick) }),
  peer: { mode: 'udp-sink', first: true },
  cpus: SPLIT,
})

const receive = (size) => ({
  id: `udp-recv-${size}`,
  impl: 'udp-recv',
  name: (p) => `UDP receive ${size} B (${count(p.n)} blasted, 4 MiB rcvbuf)`,
  metrics: [{ key: 'rate', unit: 'dgram/s' }],
  params: (quick) => ({ size, n: blastCount(quick), rcvbuf: RCVBUF }),
  peer: { mode: 'udp-blast', first: false },
  cpus: SPLIT,
})

const loss = (id, what, rcvbuf) => ({
  id,
  impl: 'udp-recv',
  name: (p) => `UDP loss, 1200 B node:dgram blast (${count(p.n)}), ${what}`,
  metrics: [{ key: 'loss', unit: '% lost', higherIsBetter: false }],
  params: (quick) => ({ size: 1200, n: blastCount(quick), rcvbuf }),
  peer: { mode: 'udp-blast', first: false, kind: 'node' },
  cpus: SPLIT,
  ceilingRatio: false,
})

export const workloads = [
  send(64),
  send(1200),
  receive(64),
  receive(1200),
  // Loss: always the node:dgram blaster: it sends about as fast as a receiver drains, so
  // the loss shows how well bursts are absorbed (a faster blaster only measures its speed).
  // Without receiveBufferSize ours asks for 1 MiB (src/sockopt.rs) where node:dgram keeps
  // the system's default; the second row gives both the same buffer, so that it shows the
  // draining alone.
  loss('udp-loss', 'no buffer size given', 0),
  loss('udp-loss-same', 'both asking for 208 KiB', 212_992),
]
