// A node:dgram peer in its own process for the UDP benchmarks.
//   node bench/udp-peer.mjs sink              binds 127.0.0.1, prints its port, counts
//                                             datagrams until stdin ends, prints the count
//   node bench/udp-peer.mjs blast PORT SIZE N sends N datagrams of SIZE bytes to
//                                             127.0.0.1:PORT as fast as it can, prints N
import dgram from 'node:dgram'
import { once } from 'node:events'

const [mode, ...args] = process.argv.slice(2)

if (mode === 'sink') {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 })
  let count = 0
  socket.on('message', () => count++)
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  process.stdout.write(`${socket.address().port}\n`)
  process.stdin.resume()
  await once(process.stdin, 'end')
  process.stdout.write(`${count}\n`)
  socket.close()
} else if (mode === 'blast') {
  const [port, size, n] = args.map(Number)
  const socket = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 })
  socket.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  const buf = Buffer.alloc(size, 7)
  // Unpaced: batches of sends with only a turn of the event loop between them.
  const BATCH = 256
  for (let sent = 0; sent < n; ) {
    const last = Math.min(n, sent + BATCH)
    let done
    const flushed = new Promise((resolve) => (done = resolve))
    for (; sent < last; sent++) socket.send(buf, sent === last - 1 ? done : undefined)
    await flushed
  }
  process.stdout.write(`${n}\n`)
  socket.close()
} else {
  console.error('usage: udp-peer.mjs sink | blast PORT SIZE N')
  process.exit(2)
}
