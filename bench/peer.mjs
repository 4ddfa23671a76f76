// A node:net peer in its own process, so the side being measured has its thread to itself.
//   node bench/peer.mjs sink|source|echo [bytes]
// Prints its port on stdout, then serves connections until its stdin closes.
import net from 'node:net'

const [mode, bytesArg] = process.argv.slice(2)
const total = Number(bytesArg || 0)
const chunk = Buffer.alloc(64 * 1024, 7)

const server = net.createServer((socket) => {
  socket.setNoDelay(true)
  if (mode === 'sink') {
    let got = 0
    socket.on('data', (d) => {
      got += d.length
    })
    socket.on('end', () => socket.end(String(got)))
  } else if (mode === 'source') {
    let left = total
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length)
        left -= n
        if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return socket.once('drain', pump)
      }
      socket.end()
    }
    pump()
  } else if (mode === 'echo') {
    socket.on('data', (d) => socket.write(d))
    socket.on('end', () => socket.end())
  }
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
