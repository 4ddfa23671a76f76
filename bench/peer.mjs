// The node:net / node:dgram peer of the benchmark, in its own process so the measured side
// has its CPU to itself (the runner pins both). The Rust ceiling binary has the same modes
// (`ceiling peer <mode>`); `--peer node|rust` picks which one the runner starts.
//
//   node bench/peer.mjs <mode> key=value...
//
// Servers (print {"port"} first, serve until stdin ends):
//   sink             per connection: count bytes to the end, answer the count, close
//   source bytes=N   per connection: send N bytes (64 KiB writes), end, read to the end
//   echo             per connection: echo every byte
//   drain            per connection: read to the end, close
//   udp-sink         count datagrams (4 MiB SO_RCVBUF); prints {"info":{"received"}} at the end
// Clients (given port=N by the runner; exit when done):
//   connect total=N parallel=P   N connections, P at a time, each read until the server closes
//   hold n=N warm=W              W connections; on a stdin line the rest up to N; hold until stdin ends
//   udp-blast size=S n=N         N datagrams of S bytes, unpaced, then relays "done"
// Only 127.0.0.1.
import net from 'node:net'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { parseParams, emit, nextLine, inParallel } from './proc.mjs'

const [mode, ...rest] = process.argv.slice(2)
const p = parseParams(rest)
const HOST = '127.0.0.1'
const noop = () => {}

async function serve(onConnection) {
  const server = net.createServer((socket) => {
    socket.on('error', noop)
    socket.setNoDelay(true)
    onConnection(socket)
  })
  // A deep accept queue (the kernel caps it at net.core.somaxconn): clients that connect and
  // close at once can outrun this process, and an overflow costs a 1 s SYN retransmit.
  server.listen({ port: 0, host: HOST, backlog: 65535 })
  await once(server, 'listening')
  emit({ port: server.address().port })
  while ((await nextLine()) !== null) {}
  process.exit(0)
}

function holdOne() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(p.port, HOST)
    socket.once('connect', () => {
      socket.off('error', reject)
      socket.on('error', noop)
      socket.on('data', noop)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

switch (mode) {
  case 'sink':
    await serve((socket) => {
      let got = 0
      socket.on('data', (d) => (got += d.length))
      socket.on('end', () => socket.end(String(got)))
    })
    break
  case 'source': {
    const chunk = Buffer.alloc(64 * 1024, 7)
    await serve((socket) => {
      let left = p.bytes
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length)
          left -= n
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return socket.once('drain', pump)
        }
        socket.end()
      }
      socket.resume()
      pump()
    })
    break
  }
  case 'echo':
    await serve((socket) => socket.on('data', (d) => socket.write(d)))
    break
  case 'drain':
    await serve((socket) => socket.resume())
    break
  case 'udp-sink': {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 })
    let received = 0
    socket.on('message', () => received++)
    socket.bind(0, HOST)
    await once(socket, 'listening')
    emit({ port: socket.address().port })
    while ((await nextLine()) !== null) {}
    emit({ info: { received } })
    process.exit(0)
    break
  }
  case 'connect':
    await inParallel(p.total, p.parallel, () => {
      return new Promise((resolve) => {
        const socket = net.connect(p.port, HOST)
        socket.on('error', noop)
        socket.on('close', resolve)
        socket.resume()
      })
    })
    process.exit(0)
    break
  case 'hold': {
    const held = []
    const open = (count) => inParallel(count, 50, async () => held.push(await holdOne()))
    await open(p.warm)
    if ((await nextLine()) !== null) {
      await open(p.n - p.warm)
      while ((await nextLine()) !== null) {}
    }
    process.exit(0)
    break
  }
  case 'rt-clients': {
    // `conns` connections, then each does `rounds` round trips of `size` bytes at once.
    const sockets = []
    await inParallel(p.conns, 50, async () => {
      const socket = net.connect(p.port, HOST)
      socket.setNoDelay(true)
      await once(socket, 'connect')
      sockets.push(socket)
    })
    const msg = Buffer.alloc(p.size, 5)
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise((resolve, reject) => {
            let got = 0
            let rounds = 0
            socket.on('error', reject)
            socket.on('data', (d) => {
              got += d.length
              while (got >= p.size) {
                got -= p.size
                if (++rounds === p.rounds) return resolve(socket.end())
                socket.write(msg)
              }
            })
            socket.write(msg)
          }),
      ),
    )
    process.exit(0)
    break
  }
  case 'udp-blast': {
    const socket = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 })
    socket.connect(p.port, HOST)
    await once(socket, 'connect')
    const buf = Buffer.alloc(p.size, 7)
    const t0 = performance.now()
    // Unpaced: batches of sends with only a turn of the event loop between them.
    const BATCH = 256
    for (let sent = 0; sent < p.n; ) {
      const last = Math.min(p.n, sent + BATCH)
      let done
      const flushed = new Promise((resolve) => (done = resolve))
      for (; sent < last; sent++) socket.send(buf, sent === last - 1 ? done : undefined)
      await flushed
    }
    emit({ info: { sent: p.n, rate: p.n / ((performance.now() - t0) / 1000) } })
    emit({ relay: 'done' })
    process.exit(0)
    break
  }
  default:
    console.error(`peer.mjs: unknown mode '${mode}'`)
    process.exit(2)
}
