// UDP data path: datagrams per second sent and received (64 B and 1,200 B), and loss at
// the receiver when a sender blasts; ours (UDPSocket) vs node:dgram. The peer is a
// node:dgram socket in another process (bench/udp-peer.mjs).
import dgram from 'node:dgram'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { UDPSocket } from '../../index.js'

const peerPath = fileURLToPath(new URL('../udp-peer.mjs', import.meta.url))

function startPeer(args) {
  const child = spawn(process.execPath, [peerPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = []
  let waiting = null
  let buffered = ''
  child.stdout.on('data', (d) => {
    buffered += d
    let i
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, i))
      buffered = buffered.slice(i + 1)
      if (waiting) waiting()
    }
  })
  const nextLine = async () => {
    while (lines.length === 0) await new Promise((r) => (waiting = r))
    return lines.shift()
  }
  return { child, nextLine }
}

// ---- send: N datagrams to a counting node:dgram sink; the figure is N / time to send.
const sendCount = (quick) => (quick ? 50_000 : 300_000)

async function withSink(fn) {
  const { child, nextLine } = startPeer(['sink'])
  const port = Number(await nextLine())
  try {
    return await fn(port)
  } finally {
    child.stdin.end()
    await nextLine()
    await once(child, 'exit')
  }
}

const sendOurs = (size) => async ({ quick }) =>
  withSink(async (port) => {
    const n = sendCount(quick)
    const socket = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: port })
    const { writable } = await socket.opened
    const writer = writable.getWriter()
    const message = { data: new Uint8Array(size).fill(7) }
    const t0 = performance.now()
    let last
    for (let i = 0; i < n; i++) {
      if (writer.desiredSize <= 0) await writer.ready
      last = writer.write(message)
    }
    await last
    const ms = performance.now() - t0
    writer.releaseLock()
    await socket.close()
    return n / (ms / 1000)
  })

const sendNode = (size) => async ({ quick }) =>
  withSink(async (port) => {
    const n = sendCount(quick)
    const socket = dgram.createSocket('udp4')
    socket.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const buf = Buffer.alloc(size, 7)
    const t0 = performance.now()
    // The same back-pressure as ours: wait for a batch's last send before going on.
    const BATCH = 256
    for (let sent = 0; sent < n; ) {
      const end = Math.min(n, sent + BATCH)
      let done
      const flushed = new Promise((resolve) => (done = resolve))
      for (; sent < end; sent++) socket.send(buf, sent === end - 1 ? done : undefined)
      await flushed
    }
    const ms = performance.now() - t0
    socket.close()
    return n / (ms / 1000)
  })

// ---- receive: a node:dgram process blasts N datagrams; we count what arrives.
const blastCount = (quick) => (quick ? 50_000 : 200_000)
const IDLE_MS = 200

/** Runs one blast at `port`; `received()` is the receiver's count so far. */
async function blast(port, size, n, received) {
  const { child, nextLine } = startPeer(['blast', String(port), String(size), String(n)])
  await nextLine()
  await once(child, 'exit')
  // Let the receiver drain what the kernel still holds.
  for (let before = -1, rounds = 0; received() !== before && rounds < 50; rounds++) {
    before = received()
    await new Promise((r) => setTimeout(r, IDLE_MS / 4))
  }
}

async function receiveOurs(size, n, receiveBufferSize) {
  const socket = new UDPSocket({ localAddress: '127.0.0.1', ...(receiveBufferSize && { receiveBufferSize }) })
  const { readable, localPort } = await socket.opened
  let count = 0
  let first = 0
  let last = 0
  const reader = readable.getReader()
  const reading = (async () => {
    for (;;) {
      const { done } = await reader.read()
      if (done) return
      last = performance.now()
      if (count++ === 0) first = last
    }
  })()
  await blast(localPort, size, n, () => count)
  await reader.cancel()
  await reading
  reader.releaseLock()
  await socket.close()
  return { count, ms: last - first }
}

async function receiveNode(size, n, recvBufferSize) {
  const socket = dgram.createSocket({ type: 'udp4', ...(recvBufferSize && { recvBufferSize }) })
  let count = 0
  let first = 0
  let last = 0
  socket.on('message', () => {
    last = performance.now()
    if (count++ === 0) first = last
  })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  await blast(socket.address().port, size, n, () => count)
  socket.close()
  return { count, ms: last - first }
}

const RCVBUF = 4 * 1024 * 1024
const rate = ({ count, ms }) => count / (ms / 1000)
const lossPercent = (n) => ({ count }) => 100 * (1 - count / n)

export const workloads = [
  { name: 'UDP send 64 B', unit: 'dgram/s', ours: sendOurs(64), node: sendNode(64) },
  { name: 'UDP send 1200 B', unit: 'dgram/s', ours: sendOurs(1200), node: sendNode(1200) },
  {
    name: 'UDP receive 64 B',
    unit: 'dgram/s',
    ours: async ({ quick }) => rate(await receiveOurs(64, blastCount(quick), RCVBUF)),
    node: async ({ quick }) => rate(await receiveNode(64, blastCount(quick), RCVBUF)),
  },
  {
    name: 'UDP receive 1200 B',
    unit: 'dgram/s',
    ours: async ({ quick }) => rate(await receiveOurs(1200, blastCount(quick), RCVBUF)),
    node: async ({ quick }) => rate(await receiveNode(1200, blastCount(quick), RCVBUF)),
  },
  {
    name: 'UDP loss, 1200 B blast, default rcvbuf',
    unit: '% lost',
    higherIsBetter: false,
    ours: async ({ quick }) => lossPercent(blastCount(quick))(await receiveOurs(1200, blastCount(quick))),
    node: async ({ quick }) => lossPercent(blastCount(quick))(await receiveNode(1200, blastCount(quick))),
  },
]
