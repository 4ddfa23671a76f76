// npm start: an echo server built on TCPServerSocket, and our TCPSocket talking to it.
import { TCPServerSocket, TCPSocket } from '../index.js'

// The server: accept one connection, stop listening (the accepted socket stays open),
// and pipe the connection's readable into its own writable.
const server = new TCPServerSocket('127.0.0.1')
const { readable: connections, localAddress, localPort } = await server.opened
console.log(`echo server listening on ${localAddress}:${localPort}`)
const serving = (async () => {
  const acceptor = connections.getReader()
  const { value: connection } = await acceptor.read()
  acceptor.releaseLock()
  await server.close()
  const { readable, writable, remoteAddress, remotePort } = await connection.opened
  console.log(`server: accepted ${remoteAddress}:${remotePort}, listener closed`)
  await readable.pipeTo(writable) // echoes until the client half-closes, then ends its side
  await connection.closed
})()

// The client.
const socket = new TCPSocket(localAddress, localPort, { noDelay: true })
const { readable, writable } = await socket.opened
const writer = writable.getWriter()
const reader = readable.getReader()
for (const text of ['hello', 'direct sockets', 'goodbye']) {
  await writer.write(new TextEncoder().encode(text))
  let echoed = ''
  while (echoed.length < text.length) echoed += new TextDecoder().decode((await reader.read()).value)
  console.log(`client: sent ${JSON.stringify(text)}, got back ${JSON.stringify(echoed)}`)
}
await writer.close() // half-close: the server's pipe then closes its side too
console.log(`client: end of stream: ${(await reader.read()).done}`)
await socket.closed
await serving
console.log('both sides closed')
