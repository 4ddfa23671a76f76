// Compiled (never run) by `npm run test:types`: the public types accept what the README
// shows and reject what the API rejects.
import {
  TCPSocket,
  TCPServerSocket,
  UDPSocket,
  MulticastController,
  withPolicy,
  type TCPSocketOpenInfo,
  type UDPMessage,
  type UDPSocketOptions,
  type UDPSocketOpenInfo,
  type SocketErrorCause,
} from '../../index.js'

async function tcp(): Promise<void> {
  const socket = new TCPSocket('127.0.0.1', 7, { noDelay: true, keepAliveDelay: 5000, dnsQueryType: 'ipv4' })
  const info: TCPSocketOpenInfo = await socket.opened
  const writer = info.writable.getWriter()
  await writer.write(new TextEncoder().encode('ping'))
  await writer.write(new Uint8Array(4).buffer)
  await writer.write(new DataView(new ArrayBuffer(2)))
  writer.releaseLock()
  const reader = info.readable.getReader({ mode: 'byob' })
  const { value } = await reader.read(new Uint8Array(1024))
  const n: number | undefined = value?.byteLength
  void n
  reader.releaseLock()
  const port: number = info.remotePort
  const address: string = info.localAddress
  void port
  void address
  await socket.close()
  await socket.closed
  // @ts-expect-error dnsQueryType is 'ipv4' | 'ipv6'
  new TCPSocket('127.0.0.1', 7, { dnsQueryType: 'ipv5' })
}

async function echo(): Promise<void> {
  // What a readable yields can be written back, whole or piped (TypeScript 5.7+ types
  // Uint8Array with an ArrayBufferLike buffer, which `BufferSource` no longer covers).
  const { readable, writable } = await new TCPSocket('127.0.0.1', 7).opened
  await readable.pipeTo(writable)
  const other = await new TCPSocket('127.0.0.1', 7).opened
  const writer = other.writable.getWriter()
  for await (const chunk of other.readable) await writer.write(chunk)
  const view: Uint8Array = Buffer.from('x')
  await writer.write(view)
}

async function errors(): Promise<void> {
  try {
    await new TCPSocket('127.0.0.1', 1).opened
  } catch (err) {
    if (err instanceof DOMException && err.name === 'NetworkError') {
      const code: string = (err.cause as SocketErrorCause).code
      void code
    }
  }
}

async function server(): Promise<void> {
  const server = new TCPServerSocket('::', { localPort: 40000, backlog: 16, ipv6Only: false })
  const { readable, localPort } = await server.opened
  const reader = readable.getReader()
  const { value: accepted } = await reader.read()
  if (accepted) {
    const { remoteAddress } = await accepted.opened
    const text: string = remoteAddress
    void text
  }
  void localPort
  await server.close()
}

async function udp(): Promise<void> {
  const bound = new UDPSocket({ localAddress: '0.0.0.0', localPort: 5353, multicastAllowAddressSharing: true })
  const { readable, writable, multicastController } = await bound.opened
  const writer = writable.getWriter()
  const message: UDPMessage = { data: new Uint8Array([1]), remoteAddress: '127.0.0.1', remotePort: 9 }
  await writer.write(message)
  const { value } = await readable.getReader().read()
  const from: string | undefined = value?.remoteAddress
  void from
  if (multicastController) {
    const mc: MulticastController = multicastController
    await mc.joinGroup('224.0.0.251')
    await mc.joinGroup('232.1.1.1', { sourceAddress: '10.0.0.1' })
    const groups = mc.joinedGroups
    void groups
  }
  const connected = new UDPSocket({ remoteAddress: 'example.com', remotePort: 53, dnsQueryType: 'ipv6' })
  // The mode's own open info: a connected socket's peer is always there, a bound
  // socket's received messages always name their sender.
  const peer: string = (await connected.opened).remoteAddress
  const boundInfo = await new UDPSocket({ localAddress: '::', ipv6Only: true }).opened
  for await (const { data, remoteAddress, remotePort } of boundInfo.readable) {
    const sender: string = `${remoteAddress}:${remotePort}`
    await boundInfo.writable.getWriter().write({ data, remoteAddress, remotePort })
    void sender
  }
  // @ts-expect-error a bound socket has no peer of its own
  const none: string = boundInfo.remoteAddress
  // Options of either mode (a variable of the union type) give either mode's info.
  const either: UDPSocketOptions = Math.random() < 0.5 ? { localAddress: '0.0.0.0' } : { remoteAddress: 'h', remotePort: 1 }
  const info: UDPSocketOpenInfo = await new UDPSocket(either).opened
  class Logged extends UDPSocket {}
  const logged: UDPSocket = new Logged({ localAddress: '127.0.0.1' })
  void peer, none, info, logged
  // @ts-expect-error the options are required (connected or bound mode)
  new UDPSocket()
  // @ts-expect-error neither mode
  new UDPSocket({})
  // @ts-expect-error remoteAddress and remotePort go together
  new UDPSocket({ remoteAddress: '127.0.0.1' })
  // @ts-expect-error localPort needs localAddress
  new UDPSocket({ localPort: 5353 })
  // @ts-expect-error both modes at once
  new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: 9, localAddress: '::' })
  // @ts-expect-error dnsQueryType is for connected mode
  new UDPSocket({ localAddress: '::', dnsQueryType: 'ipv4' })
  // @ts-expect-error ipv6Only is for bound mode
  new UDPSocket({ remoteAddress: '::1', remotePort: 9, ipv6Only: true })
}

function policy(): void {
  const restricted = withPolicy({
    directSockets: true,
    privateNetworkAccess: false,
    multicast: false,
    allow: ['203.0.113.0/24'] as const,
    deny: Object.freeze(['203.0.113.7']),
    minServerPort: 32768,
    minUdpBindPort: 1024,
    dns: { servers: ['127.0.0.1:53'], timeout: 2000 },
  })
  const socket: InstanceType<typeof restricted.TCPSocket> = new restricted.TCPSocket('203.0.113.1', 80)
  void socket
  // @ts-expect-error unknown policy keys are rejected
  withPolicy({ allowEverything: true })
}

void tcp
void echo
void errors
void server
void udp
void policy
