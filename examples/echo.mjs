// npm start: a node:net echo peer and our TCPSocket talking to it over loopback.
import net from 'node:net'
import { once } from 'node:events'
import { TCPSocket } from '../index.js'

const peer = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1')
await once(peer, 'listening')

const socket = new TCPSocket('127.0.0.1', peer.address().port, { noDelay: true })
const { readable, writable, localAddress, localPort, remoteAddress, remotePort } = await socket.opened
console.log(`connected ${localAddress}:${localPort} -> ${remoteAddress}:${remotePort}`)

const writer = writable.getWriter()
const reader = readable.getReader()
for (const text of ['hello', 'direct sockets', 'goodbye']) {
  await writer.write(new TextEncoder().encode(text))
  let echoed = ''
  while (echoed.length < text.length) echoed += new TextDecoder().decode((await reader.read()).value)
  console.log(`sent ${JSON.stringify(text)}, got back ${JSON.stringify(echoed)}`)
}
writer.releaseLock()
reader.releaseLock()
await socket.close()
peer.close()
console.log('closed')
