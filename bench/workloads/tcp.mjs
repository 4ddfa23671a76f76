// TCP data path: bulk send, bulk receive, small-message round trips; ours vs node:net.
import net from 'node:net'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { TCPSocket } from '../../index.js'

const peerPath = fileURLToPath(new URL('../peer.mjs', import.meta.url))
const GiB = 1024 * 1024 * 1024
const CHUNK = 64 * 1024

async function withPeer(mode, bytes, fn) {
  const child = spawn(process.execPath, [peerPath, mode, String(bytes)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const [line] = await once(child.stdout, 'data')
  try {
    return await fn(Number(String(line).trim()))
  } finally {
    child.stdin.end()
    await once(child, 'exit')
  }
}

const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000)

// ---- bulk send: write `bytes` in 64 KiB chunks, wait for the sink's byte count.
async function sendOurs({ quick }) {
  const bytes = quick ? 64 * 1024 * 1024 : GiB
  return withPeer('sink', 0, async (port) => {
    const socket = new TCPSocket('127.0.0.1', port)
    const { readable, writable } = await socket.opened
    const writer = writable.getWriter()
    const buf = new Uint8Array(CHUNK).fill(1)
    const t0 = performance.now()
    for (let sent = 0; sent < bytes; sent += CHUNK) await writer.write(buf)
    await writer.close()
    const reader = readable.getReader()
    let reply = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      reply += Buffer.from(value).toString()
    }
    const ms = performance.now() - t0
    if (Number(reply) !== bytes) throw new Error(`sink got ${reply} of ${bytes}`)
    return mbps(bytes, ms)
  })
}

async function sendNode({ quick }) {
  const bytes = quick ? 64 * 1024 * 1024 : GiB
  return withPeer('sink', 0, async (port) => {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const buf = Buffer.alloc(CHUNK, 1)
    const t0 = performance.now()
    let reply = ''
    socket.on('data', (d) => (reply += d))
    const done = once(socket, 'end')
    for (let sent = 0; sent < bytes; sent += CHUNK) {
      if (!socket.write(buf)) await once(socket, 'drain')
    }
    socket.end()
    await done
    const ms = performance.now() - t0
    if (Number(reply) !== bytes) throw new Error(`sink got ${reply} of ${bytes}`)
    return mbps(bytes, ms)
  })
}

// ---- bulk receive: the peer sends `bytes`; read to the end.
async function receiveOurs({ quick }, byob = false) {
  const bytes = quick ? 64 * 1024 * 1024 : GiB
  return withPeer('source', bytes, async (port) => {
    const socket = new TCPSocket('127.0.0.1', port)
    const { readable, writable } = await socket.opened
    const t0 = performance.now()
    let got = 0
    if (byob) {
      const reader = readable.getReader({ mode: 'byob' })
      let buf = new Uint8Array(CHUNK)
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
    if (got !== bytes) throw new Error(`got ${got} of ${bytes}`)
    return mbps(bytes, ms)
  })
}

async function receiveNode({ quick }) {
  const bytes = quick ? 64 * 1024 * 1024 : GiB
  return withPeer('source', bytes, async (port) => {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const t0 = performance.now()
    let got = 0
    socket.on('data', (d) => (got += d.length))
    await once(socket, 'end')
    const ms = performance.now() - t0
    socket.end()
    if (got !== bytes) throw new Error(`got ${got} of ${bytes}`)
    return mbps(bytes, ms)
  })
}

// ---- round trips: 64-byte messages echoed one at a time.
async function pingOurs({ quick }) {
  const n = quick ? 2000 : 20000
  return withPeer('echo', 0, async (port) => {
    const socket = new TCPSocket('127.0.0.1', port, { noDelay: true })
    const { readable, writable } = await socket.opened
    const writer = writable.getWriter()
    const reader = readable.getReader({ mode: 'byob' })
    const msg = new Uint8Array(64).fill(2)
    let buf = new Uint8Array(64)
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      writer.write(msg)
      let got = 0
      while (got < 64) {
        const { value } = await reader.read(buf.subarray(got))
        got += value.byteLength
        buf = new Uint8Array(value.buffer)
      }
    }
    const ms = performance.now() - t0
    await writer.close()
    return n / (ms / 1000)
  })
}

async function pingNode({ quick }) {
  const n = quick ? 2000 : 20000
  return withPeer('echo', 0, async (port) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    await once(socket, 'connect')
    const msg = Buffer.alloc(64, 2)
    let pending = 0
    let wake = null
    socket.on('data', (d) => {
      pending -= d.length
      if (pending <= 0 && wake) wake()
    })
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      pending = 64
      const done = new Promise((r) => (wake = r))
      socket.write(msg)
      await done
    }
    const ms = performance.now() - t0
    socket.end()
    return n / (ms / 1000)
  })
}

export const workloads = [
  { name: 'TCP bulk send (64 KiB writes)', unit: 'MB/s', ours: sendOurs, node: sendNode },
  { name: 'TCP bulk receive (default reader)', unit: 'MB/s', ours: (o) => receiveOurs(o, false), node: receiveNode },
  { name: 'TCP bulk receive (BYOB reader)', unit: 'MB/s', ours: (o) => receiveOurs(o, true), node: receiveNode },
  { name: 'TCP 64 B round trips', unit: 'rt/s', ours: pingOurs, node: pingNode },
]
