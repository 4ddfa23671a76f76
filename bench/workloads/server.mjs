// TCPServerSocket: connections accepted per second, against a node:net server doing the
// same work. A node:net client in its own process opens N connections, 50 at a time;
// each server accepts and immediately closes them.
import net from 'node:net'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { TCPServerSocket } from '../../index.js'

const CLIENT = `
const net = require('net')
const [port, total, parallel] = process.argv.slice(1).map(Number)
let started = 0, done = 0
const t0 = process.hrtime.bigint()
function one() {
  if (started >= total) return
  started++
  const s = net.connect(port, '127.0.0.1')
  s.on('error', () => {})
  s.on('close', () => {
    if (++done === total) console.log(Number(process.hrtime.bigint() - t0) / 1e6)
    else one()
  })
  s.resume()
}
for (let i = 0; i < parallel; i++) one()
`

async function runClient(port, total) {
  const child = spawn(process.execPath, ['-e', CLIENT, String(port), String(total), '50'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [out] = await once(child.stdout, 'data')
  await once(child, 'exit')
  return total / (Number(String(out)) / 1000)
}

async function ours({ quick }) {
  const total = quick ? 500 : 5000
  const server = new TCPServerSocket('127.0.0.1', { backlog: 1024 })
  const { readable, localPort } = await server.opened
  const reader = readable.getReader()
  const accepting = (async () => {
    for (let i = 0; i < total; i++) {
      const { value, done } = await reader.read()
      if (done) return
      const { writable } = await value.opened
      writable.close().catch(() => {}) // FIN; the client closes, then so do we
      value.closed.catch(() => {})
      ;(await value.opened).readable.cancel().catch(() => {})
    }
  })()
  const rate = await runClient(localPort, total)
  await accepting
  reader.releaseLock()
  await server.close()
  return rate
}

async function node({ quick }) {
  const total = quick ? 500 : 5000
  const server = net.createServer((s) => {
    s.on('error', () => {})
    s.end()
    s.resume()
  })
  server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 })
  await once(server, 'listening')
  const rate = await runClient(server.address().port, total)
  await new Promise((r) => server.close(r))
  return rate
}

export const workloads = [{ name: 'TCP accepted conns/s (5,000, 50 at a time)', unit: 'conn/s', ours, node }]
