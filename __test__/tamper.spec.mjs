// Code that poisons built-ins after the module loaded (Promise.prototype.then, a `then`
// getter on Object.prototype, Object.keys, array iteration) can neither widen a policy
// made later nor get hold of a native socket. Runs in a child process.
import test from 'ava'
import { runChild, fixture, lastJson } from './child.mjs'
import { within, netServer } from './helpers.mjs'

test('poisoned built-ins neither widen a later policy nor reach native sockets', async (t) => {
  const { code, stdout, stderr } = await runChild(fixture('tamper.mjs'))
  t.is(code, 0, stderr)
  const { saw, results } = lastJson(stdout)
  t.deepEqual(results, { tcp: 'NotAllowedError', udp: 'NotAllowedError' })
  for (const name of ['UdpHandle', 'TcpListenerHandle', 'External', 'then:UdpHandle', 'then:TcpListenerHandle']) {
    t.false(saw.includes(name), `${name} was seen: ${saw.join(', ')}`)
  }
})

test.serial("setters on Object.prototype see none of an open info's members, nor take them", async (t) => {
  const { TCPSocket, UDPSocket } = await import('../index.js')
  const keys = ['localAddress', 'localPort', 'remoteAddress', 'remotePort', 'multicastController', 'noDelay', 'dnsQueryType']
  const seen = []
  // The node:net peer is made first (net.Server assigns a noDelay of its own).
  const peer = await netServer((s) => s.end())
  // Setters only: reading a member that is missing still gives undefined.
  for (const key of keys) {
    Object.defineProperty(Object.prototype, key, { configurable: true, set: () => seen.push(key) })
  }
  const sockets = []
  try {
    const tcp = new TCPSocket('127.0.0.1', peer.port)
    const bound = new UDPSocket({ localAddress: '127.0.0.1' })
    const boundInfo = await bound.opened
    const connected = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: boundInfo.localPort })
    sockets.push(tcp, bound, connected)
    const infos = {
      tcp: [await tcp.opened, ['localAddress', 'localPort', 'remoteAddress', 'remotePort']],
      bound: [boundInfo, ['localAddress', 'localPort', 'multicastController']],
      connected: [await connected.opened, ['localAddress', 'localPort', 'remoteAddress', 'remotePort']],
    }
    for (const [name, [info, own]] of Object.entries(infos)) {
      for (const key of own) {
        t.true(Object.hasOwn(info, key), `${name}: ${key} is an own property`)
        t.not(info[key], undefined, `${name}: ${key}`)
      }
    }
    t.is(typeof infos.tcp[0].localPort, 'number')
    // A bound socket's datagram names its destination in the message (converted as a
    // dictionary too): it reaches the connected socket.
    const reader = infos.connected[0].readable.getReader()
    const writer = boundInfo.writable.getWriter()
    await writer.write({ data: new Uint8Array([7]), remoteAddress: '127.0.0.1', remotePort: infos.connected[0].localPort })
    const { value } = await within(reader.read(), 2000, 'datagram')
    t.deepEqual([...value.data], [7])
    reader.releaseLock()
    writer.releaseLock()
    t.deepEqual(seen, [])
  } finally {
    for (const key of keys) delete Object.prototype[key]
    for (const s of sockets) await s.close().catch(() => {})
    await peer.close()
  }
})

test.serial('options left out (undefined or null) read nothing inherited from Object.prototype', async (t) => {
  const { TCPSocket } = await import('../index.js')
  const peer = await netServer((s) => s.end())
  // Either would be a TypeError if read as members of the options (WebIDL: an undefined or
  // null dictionary is the empty one).
  Object.prototype.sendBufferSize = 0
  Object.prototype.keepAliveDelay = 5
  try {
    for (const options of [undefined, null]) {
      const s = new TCPSocket('127.0.0.1', peer.port, options)
      await within(s.opened, 5000, 'opened')
      await s.close()
    }
    // Given as an object, inherited members are read, as WebIDL reads a dictionary's.
    t.throws(() => new TCPSocket('127.0.0.1', peer.port, {}), { instanceOf: TypeError, message: /keepAliveDelay/ })
  } finally {
    delete Object.prototype.sendBufferSize
    delete Object.prototype.keepAliveDelay
    await peer.close()
  }
})

test.serial('a get or set member of Object.prototype does not break options given, nor a stream set on an open info', async (t) => {
  const { TCPSocket } = await import('../index.js')
  const peer = await netServer((s) => s.end())
  // A property descriptor that inherited either would be an accessor's, and defining an
  // option's member with it would throw.
  for (const key of ['get', 'set']) {
    Object.defineProperty(Object.prototype, key, { configurable: true, writable: true, value: () => {} })
    try {
      const s = new TCPSocket('127.0.0.1', peer.port, { noDelay: true })
      const info = await within(s.opened, 5000, 'opened')
      info.readable = 'replaced'
      t.is(info.readable, 'replaced', key)
      await s.close()
    } finally {
      delete Object.prototype[key]
    }
  }
  await peer.close()
})

test('FinalizationRegistry methods replaced after load: each socket still reaches only its own peer', async (t) => {
  const { code, stdout, stderr } = await runChild(fixture('tamper-registry.mjs'))
  t.is(code, 0, stderr)
  t.deepEqual(lastJson(stdout), { calls: [], b: 'B', c: 'C' })
})
