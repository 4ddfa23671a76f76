// The WebIDL shape of the interfaces: attributes and operations enumerable on the
// prototype, Symbol.toStringTag, and promise members that reject (not throw) when called
// on the wrong object.
import test from 'ava'
import { inspect } from 'node:util'
import { TCPSocket, TCPServerSocket, UDPSocket, MulticastController } from '../index.js'
import { runChild, fixture, lastJson } from './child.mjs'

const interfaces = [
  [TCPSocket, 'TCPSocket', ['opened', 'closed', 'close']],
  [TCPServerSocket, 'TCPServerSocket', ['opened', 'closed', 'close']],
  [UDPSocket, 'UDPSocket', ['opened', 'closed', 'close']],
  [MulticastController, 'MulticastController', ['joinGroup', 'leaveGroup', 'joinedGroups']],
]

for (const [cls, name, members] of interfaces) {
  test(`${name}: attributes and operations are enumerable prototype members, toStringTag is '${name}'`, (t) => {
    for (const member of members) {
      const desc = Object.getOwnPropertyDescriptor(cls.prototype, member)
      t.truthy(desc, member)
      t.true(desc.enumerable, member)
      t.true(desc.configurable, member)
    }
    t.is(cls.prototype[Symbol.toStringTag], name)
    t.deepEqual(
      Object.keys(cls.prototype).sort(),
      [...members].sort(),
      'nothing else is enumerable',
    )
  })
}

for (const [cls, name] of interfaces.slice(0, 3)) {
  test(`${name}: opened, closed and close() on another object return a promise rejected with TypeError`, async (t) => {
    const proto = cls.prototype
    const calls = {
      opened: (self) => Object.getOwnPropertyDescriptor(proto, 'opened').get.call(self),
      closed: (self) => Object.getOwnPropertyDescriptor(proto, 'closed').get.call(self),
      close: (self) => proto.close.call(self),
    }
    for (const [member, call] of Object.entries(calls)) {
      for (const self of [{}, undefined, 5, Object.create(proto)]) {
        let result
        t.notThrows(() => (result = call(self)), `${member} on ${typeof self}`)
        t.true(result instanceof Promise, member)
        await t.throwsAsync(result, { instanceOf: TypeError }, member)
      }
    }
  })
}

test('code that walks a prototype\'s getters (JSON.stringify, a spread, inspect) leaves no unhandled rejection behind', async (t) => {
  const { code, stdout, stderr } = await runChild(fixture('walk-prototypes.mjs'), [], { nodeArgs: [] })
  t.is(code, 0, stderr)
  t.deepEqual(lastJson(stdout), { seen: ['closed,opened', 'closed,opened', 'closed,opened'], unhandled: [] })
})

test('MulticastController: joinGroup and leaveGroup on another object reject with TypeError; joinedGroups throws', async (t) => {
  for (const op of ['joinGroup', 'leaveGroup']) {
    const result = MulticastController.prototype[op].call({}, '224.0.0.1')
    t.true(result instanceof Promise)
    await t.throwsAsync(result, { instanceOf: TypeError }, op)
  }
  t.throws(() => Object.getOwnPropertyDescriptor(MulticastController.prototype, 'joinedGroups').get.call({}), {
    instanceOf: TypeError,
  })
})

// WebIDL converts a dictionary member by member (read, then convert, in lexicographic
// order): a bad member throws before any later member's getter runs.
function logged(members, log) {
  const dict = {}
  for (const [key, value] of Object.entries(members)) {
    Object.defineProperty(dict, key, {
      enumerable: true,
      get() {
        log.push(key)
        if (value instanceof Error) throw value
        return value
      },
    })
  }
  return dict
}

test('dictionaries are converted member by member: the first bad member throws before later getters run', async (t) => {
  const late = new RangeError('a later member was read')
  const cases = [
    ['TCPSocketOptions', (d) => new TCPSocket('127.0.0.1', 1, d), { dnsQueryType: 'bogus', keepAliveDelay: late }],
    ['TCPSocketOptions', (d) => new TCPSocket('127.0.0.1', 1, d), { keepAliveDelay: -1, noDelay: late }],
    ['TCPServerSocketOptions', (d) => new TCPServerSocket('127.0.0.1', d), { backlog: Infinity, ipv6Only: late }],
    ['UDPSocketOptions', (d) => new UDPSocket(d), { dnsQueryType: 'bogus', sendBufferSize: late }],
    ['UDPSocketOptions', (d) => new UDPSocket(d), { localPort: 70000, remoteAddress: late }],
  ]
  for (const [type, make, members] of cases) {
    const log = []
    t.throws(() => make(logged(members, log)), { instanceOf: TypeError }, type)
    t.deepEqual(log, Object.keys(members).slice(0, 1), `${type}: no member after the bad one is read`)
  }
})

test('UDPMessage is converted member by member: a bad data throws before dnsQueryType is read', async (t) => {
  const sink = new UDPSocket({ localAddress: '127.0.0.1' })
  const { localPort } = await sink.opened
  const socket = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: localPort })
  const { writable } = await socket.opened
  const log = []
  const writer = writable.getWriter()
  const error = await writer.write(logged({ data: 'not bytes', dnsQueryType: new RangeError('read') }, log)).catch((e) => e)
  t.true(error instanceof TypeError)
  t.deepEqual(log, ['data'])
  writer.releaseLock()
  await socket.close().catch(() => {})
  await sink.close()
})

test('open info objects list their members in lexicographic order, as WebIDL dictionaries do', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const serverInfo = await server.opened
  t.deepEqual(Object.keys(serverInfo), ['localAddress', 'localPort', 'readable'])
  const socket = new TCPSocket('127.0.0.1', serverInfo.localPort)
  // TCPSocketOpenInfo, and UDPSocketOpenInfo in connected mode.
  const connectedKeys = ['localAddress', 'localPort', 'readable', 'remoteAddress', 'remotePort', 'writable']
  t.deepEqual(Object.keys(await socket.opened), connectedKeys)
  const bound = new UDPSocket({ localAddress: '127.0.0.1' })
  const boundInfo = await bound.opened
  t.deepEqual(Object.keys(boundInfo), ['localAddress', 'localPort', 'multicastController', 'readable', 'writable'])
  const connected = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: boundInfo.localPort })
  t.deepEqual(Object.keys(await connected.opened), connectedKeys)
  await Promise.all([socket.close(), server.close(), bound.close(), connected.close()])
})

test('interface objects have the length of their constructor operation (MulticastController has none: 0)', (t) => {
  t.is(TCPSocket.length, 2)
  t.is(TCPServerSocket.length, 1)
  t.is(UDPSocket.length, 0)
  t.is(MulticastController.length, 0)
})

test('util.inspect shows a socket state and, once open, its addresses', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  t.is(inspect(server), "TCPServerSocket { state: 'opening' }")
  const { localPort } = await server.opened
  t.is(inspect(server), `TCPServerSocket { state: 'open', localAddress: '127.0.0.1', localPort: ${localPort} }`)
  const client = new TCPSocket('127.0.0.1', localPort)
  const info = await client.opened
  t.is(
    inspect(client, { breakLength: Infinity }),
    `TCPSocket { state: 'open', remoteAddress: '127.0.0.1', remotePort: ${localPort}, localAddress: '127.0.0.1', localPort: ${info.localPort} }`,
  )
  await client.close()
  t.regex(inspect(client, { breakLength: Infinity }), /^TCPSocket \{ state: 'closed', /)
  const refused = new TCPSocket('127.0.0.1', 1)
  await refused.opened.catch(() => {})
  t.is(inspect(refused), "TCPSocket { state: 'failed' }")
  const udp = new UDPSocket({ localAddress: '127.0.0.1' })
  const { localPort: udpPort } = await udp.opened
  t.is(inspect(udp), `UDPSocket { state: 'open', localAddress: '127.0.0.1', localPort: ${udpPort} }`)
  await Promise.all([udp.close(), server.close()])
  // The prototypes still inspect as plain objects.
  t.regex(inspect(TCPSocket.prototype), /opened/)
})

// lib/streams.js: on Node 20 every stream made with `new ReadableStream()` gets a hidden
// class of its own (makeTransferable), which made Node's stream code megamorphic with many
// sockets. Ours share theirs, keep their state records in fast mode (Node makes them in
// dictionary mode), and must still be ordinary, transferable web streams.
test('socket streams share V8 hidden classes, keep fast-mode state, and are still ordinary (named so in stacks, the same fields, stream.finished() works), transferable web streams', async (t) => {
  const r = await runChild(fixture('shared-maps.mjs'), [], { nodeArgs: ['--allow-natives-syntax'] })
  t.is(r.code, 0, r.stderr)
  const result = lastJson(r.stdout)
  const everywhere = {
    readableOrdinary: true,
    writableOrdinary: true,
    fields: true,
    readableBefore: 'resolved',
    readableAfter: 'resolved',
    writableBefore: 'resolved',
    writableAfter: 'resolved',
    erroredBefore: 'rejected: NetworkError',
    erroredAfter: 'rejected: NetworkError',
    transferred: 'hello',
    writtenFromWorker: 'from a worker',
  }
  t.like(result, everywhere)
  if (process.versions.node.split('.')[0] === '20') {
    t.deepEqual(result, {
      tcpReadable: true,
      tcpWritable: true,
      udpReadable: true,
      udpWritable: true,
      serverReadable: true,
      tcpReadableState: true,
      tcpWritableState: true,
      udpReadableState: true,
      udpWritableState: true,
      serverReadableState: true,
      appStreamUntouched: true,
      sharedAlgorithms: true,
      fastReads: true,
      ...everywhere,
    })
  }
})
