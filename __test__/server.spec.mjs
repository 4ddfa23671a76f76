import test from 'ava'
import net from 'node:net'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { TCPServerSocket, TCPSocket, withPolicy } from '../index.js'
import { within, rejectsWith, readAll } from './helpers.mjs'
import { runChild, fixture } from './child.mjs'
import { createRequire } from 'node:module'

const binding = createRequire(import.meta.url)('../binding.js')

const fds = () => readdirSync('/proc/self/fd').length

/** Serves every accepted connection with `handler(connection)`; `stop()` cancels the readable. */
function serve(readable, handler) {
  const reader = readable.getReader()
  const loop = (async () => {
    for (let i = 0; i < 100000; i++) {
      const { value, done } = await reader.read()
      if (done) return
      handler(value)
    }
  })()
  return { stop: () => reader.cancel().then(() => loop) }
}

async function echo(connection) {
  const { readable, writable } = await connection.opened
  await readable.pipeTo(writable).catch(() => {})
}

function connectNet(port, host = '127.0.0.1') {
  const socket = net.connect(port, host)
  socket.on('error', () => {})
  return once(socket, 'connect').then(() => socket)
}

// ---------------------------------------------------------------- constructor

test('missing arguments and a call without new are TypeErrors', (t) => {
  t.throws(() => new TCPServerSocket(), { instanceOf: TypeError, message: /1 argument required/ })
  t.throws(() => TCPServerSocket('127.0.0.1'), { instanceOf: TypeError })
})

test('a localAddress that is not an IP literal is a TypeError, host names included', (t) => {
  for (const address of ['localhost', 'example.com', '', '1.2.3', '::1::', '127.0.0.1:80', '[::1]', 'fe80::1%lo']) {
    t.throws(() => new TCPServerSocket(address), { instanceOf: TypeError }, address)
  }
})

test('localPort of 0 or out of [EnforceRange] unsigned short range is a TypeError', (t) => {
  for (const localPort of [0, -1, 65536, NaN, Infinity, 'x']) {
    t.throws(() => new TCPServerSocket('127.0.0.1', { localPort }), { instanceOf: TypeError }, String(localPort))
  }
})

test('backlog of 0 or out of [EnforceRange] unsigned long range is a TypeError', (t) => {
  for (const backlog of [0, -1, 2 ** 32, NaN, -Infinity]) {
    t.throws(() => new TCPServerSocket('127.0.0.1', { backlog }), { instanceOf: TypeError }, String(backlog))
  }
})

test('ipv6Only: true with any address but :: is a TypeError', (t) => {
  for (const address of ['127.0.0.1', '0.0.0.0', '::1', '::ffff:0.0.0.0']) {
    t.throws(() => new TCPServerSocket(address, { ipv6Only: true }), { instanceOf: TypeError, message: /ipv6Only/ }, address)
  }
})

test('a non-object options value is a TypeError', (t) => {
  for (const options of [1, 'x', true]) {
    t.throws(() => new TCPServerSocket('127.0.0.1', options), { instanceOf: TypeError })
  }
})

// ---------------------------------------------------------------- opening

test('opened gives the readable and the OS-chosen port when none was asked for', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  t.is(server.opened, server.opened)
  const info = await server.opened
  t.is(info.localAddress, '127.0.0.1')
  t.true(info.localPort > 0)
  t.is(info.readable.constructor.name, 'ReadableStream')
  t.is(Object.prototype.toString.call(server), '[object TCPServerSocket]')
  await server.close()
})

test('an explicit localPort is used, and can be listened on again right after close()', async (t) => {
  const probe = new TCPServerSocket('127.0.0.1')
  const { localPort } = await probe.opened
  await probe.close()
  for (let i = 0; i < 3; i++) {
    const server = new TCPServerSocket('127.0.0.1', { localPort, backlog: 16 })
    t.is((await server.opened).localPort, localPort)
    const client = await connectNet(localPort)
    const reader = (await server.opened).readable.getReader()
    const { value: accepted } = await reader.read()
    reader.releaseLock()
    await server.close()
    await (await accepted.opened).writable.close()
    client.destroy()
  }
})

test('a busy port rejects opened and closed with NetworkError (EADDRINUSE)', async (t) => {
  const first = new TCPServerSocket('127.0.0.1')
  const { localPort } = await first.opened
  const second = new TCPServerSocket('127.0.0.1', { localPort })
  const err = await rejectsWith(t, second.opened, 'NetworkError', /EADDRINUSE/)
  t.is(err.cause.code, 'EADDRINUSE')
  t.is(await second.closed.catch((e) => e), err)
  await first.close()
})

test('an address that is not local rejects with NetworkError (EADDRNOTAVAIL)', async (t) => {
  const server = new TCPServerSocket('192.0.2.1') // TEST-NET-1: never a local address; bind only
  const err = await rejectsWith(t, server.opened, 'NetworkError', /EADDRNOTAVAIL/)
  t.is(err.cause.code, 'EADDRNOTAVAIL')
})

// ---------------------------------------------------------------- accepting

test('accepted connections are opened TCPSockets of the same class with the peer address', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const client = await connectNet(localPort)
  const reader = readable.getReader()
  const { value: accepted } = await reader.read()
  t.true(accepted instanceof TCPSocket)
  const info = await accepted.opened
  t.is(info.remoteAddress, '127.0.0.1')
  t.is(info.remotePort, client.localPort)
  t.is(info.localPort, localPort)
  client.write('ping')
  const r = info.readable.getReader()
  t.is(Buffer.from((await r.read()).value).toString(), 'ping')
  r.releaseLock()
  const got = once(client, 'data')
  const w = info.writable.getWriter()
  await w.write(new TextEncoder().encode('pong'))
  t.is(String((await got)[0]), 'pong')
  w.releaseLock()
  reader.releaseLock()
  await server.close()
  await accepted.close()
  client.destroy()
})

test('a restricted set accepts instances of its own TCPSocket', async (t) => {
  const set = withPolicy({ minServerPort: 0 })
  const server = new set.TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const client = await connectNet(localPort)
  const reader = readable.getReader()
  const { value } = await reader.read()
  t.true(value instanceof set.TCPSocket)
  t.false(value instanceof TCPSocket)
  reader.releaseLock()
  await server.close()
  await value.close()
  client.destroy()
})

test('500 concurrent node:net clients, data both ways on each', async (t) => {
  const server = new TCPServerSocket('127.0.0.1', { backlog: 1024 })
  const { readable, localPort } = await server.opened
  const serving = serve(readable, echo)
  const clients = await Promise.all(
    Array.from({ length: 500 }, async (_, i) => {
      const socket = await connectNet(localPort)
      const message = `client ${i} `.repeat(50)
      const chunks = []
      socket.on('data', (d) => chunks.push(d))
      const ended = once(socket, 'end')
      socket.end(message)
      await within(ended, 20000, `client ${i}`)
      return Buffer.concat(chunks).toString() === message
    }),
  )
  t.is(clients.filter(Boolean).length, 500)
  await serving.stop()
  await within(server.closed, 5000, 'closed')
})

test("an accepted connection's addresses are the two ends the client sees, on a specific and on a wildcard address", async (t) => {
  for (const [bind, connectTo, local] of [
    ['127.0.0.1', '127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '127.0.0.1', '127.0.0.1'],
    ['::', '127.0.0.1', '::ffff:127.0.0.1'],
    ['::1', '::1', '::1'],
  ]) {
    const server = new TCPServerSocket(bind)
    const { readable, localPort } = await server.opened
    const client = await connectNet(localPort, connectTo)
    const reader = readable.getReader()
    const { value } = await within(reader.read(), 5000, `accept on ${bind}`)
    const info = await value.opened
    t.is(info.localAddress, local, bind)
    t.is(info.localPort, localPort, bind)
    t.is(info.remotePort, client.localPort, bind)
    reader.releaseLock()
    await server.close()
    await value.close()
    client.destroy()
  }
})

test('IPv6 :: with ipv6Only false accepts IPv4 clients too', async (t) => {
  const server = new TCPServerSocket('::', { ipv6Only: false })
  const { readable, localPort, localAddress } = await server.opened
  t.is(localAddress, '::')
  const client = await connectNet(localPort, '127.0.0.1')
  const reader = readable.getReader()
  const { value } = await reader.read()
  const info = await value.opened
  t.is(info.remoteAddress, '::ffff:127.0.0.1')
  reader.releaseLock()
  await server.close()
  await value.close()
  client.destroy()
})

test('IPv6 :: with ipv6Only true refuses IPv4 clients and accepts IPv6 ones', async (t) => {
  const server = new TCPServerSocket('::', { ipv6Only: true })
  const { readable, localPort } = await server.opened
  // Refused, unless some other socket of this machine listens on 127.0.0.1 at that port
  // number (the IPv4 port space is apart from the IPv6-only server's; tests run in
  // parallel): either way it must not reach our server, whose first connection is then
  // the IPv6 one.
  const v4 = net.connect(localPort, '127.0.0.1')
  v4.on('error', () => {})
  const outcome = await within(
    Promise.race([once(v4, 'error').then(([err]) => err.code), once(v4, 'connect').then(() => 'elsewhere')]),
    5000,
    'the IPv4 client',
  )
  t.true(outcome === 'ECONNREFUSED' || outcome === 'elsewhere', String(outcome))
  const client = await connectNet(localPort, '::1')
  const reader = readable.getReader()
  const { value } = await reader.read()
  t.is((await value.opened).remoteAddress, '::1')
  v4.destroy()
  reader.releaseLock()
  await server.close()
  await value.close()
  client.destroy()
})

// ---------------------------------------------------------------- close()

test('close() rejects with InvalidStateError before opened settles and after it rejected', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  await rejectsWith(t, server.close(), 'InvalidStateError')
  const { localPort } = await server.opened
  const busy = new TCPServerSocket('127.0.0.1', { localPort })
  await t.throwsAsync(busy.opened, { any: true })
  await rejectsWith(t, busy.close(), 'InvalidStateError')
  await server.close()
})

test('close() rejects with InvalidStateError while the readable is locked', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const { readable } = await server.opened
  const reader = readable.getReader()
  await rejectsWith(t, server.close(), 'InvalidStateError')
  reader.releaseLock()
  await server.close()
})

test("close() acts on the server's own readable, whatever became of the open info's member", async (t) => {
  const replaced = new TCPServerSocket('127.0.0.1')
  const info = await replaced.opened
  const { readable, localPort } = info
  const reader = readable.getReader()
  info.readable = new ReadableStream()
  // The real readable is locked: InvalidStateError, though the member is not.
  await rejectsWith(t, within(replaced.close(), 5000, 'close()'), 'InvalidStateError')
  reader.releaseLock()
  await within(replaced.close(), 5000, 'close()')
  t.true(readable.locked === false && (await readable.getReader().read()).done)
  const late = net.connect(localPort, '127.0.0.1')
  t.is((await within(once(late, 'error'), 5000, 'refusal'))[0].code, 'ECONNREFUSED')
  // A member deleted or set to something else: close() neither throws nor misses.
  for (const change of [(i) => delete i.readable, (i) => (i.readable = undefined)]) {
    const server = new TCPServerSocket('127.0.0.1')
    const opened = await server.opened
    change(opened)
    await within(server.close(), 5000, 'close()')
    const refused = net.connect(opened.localPort, '127.0.0.1')
    t.is((await within(once(refused, 'error'), 5000, 'refusal'))[0].code, 'ECONNREFUSED')
  }
})

test('close() cancels the readable, stops listening and resolves closed; accepted sockets stay open', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const client = await connectNet(localPort)
  const reader = readable.getReader()
  const { value: accepted } = await reader.read()
  reader.releaseLock()
  t.is(await server.close(), undefined)
  await server.closed
  t.is(server.close(), server.closed)
  t.true((await readable.getReader().read()).done)
  // Nobody listens any more.
  const late = net.connect(localPort, '127.0.0.1')
  t.is((await within(once(late, 'error'), 5000, 'refusal'))[0].code, 'ECONNREFUSED')
  // The accepted connection still works.
  const { readable: r, writable } = await accepted.opened
  client.end('still open')
  t.is((await readAll(r)).toString(), 'still open')
  await writable.close()
  await within(accepted.closed, 5000, 'accepted closed')
})

test('cancelling the readable by hand also closes the listener and resolves closed', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const { readable } = await server.opened
  const reader = readable.getReader()
  const pending = reader.read()
  await reader.cancel()
  t.true((await pending).done)
  await within(server.closed, 5000, 'closed')
})

test('closed resolves in a later task than the cancel that closed the readable (spec 4.2)', async (t) => {
  for (const how of ['readable.cancel()', 'reader.cancel()']) {
    const server = new TCPServerSocket('127.0.0.1')
    const { readable } = await server.opened
    const order = []
    server.closed.then(() => order.push('closed'))
    const cancelled = how === 'reader.cancel()' ? readable.getReader().cancel() : readable.cancel()
    cancelled.then(() => order.push('cancel'))
    await within(server.closed, 5000, 'closed')
    await new Promise((resolve) => setImmediate(resolve))
    t.deepEqual(order, ['cancel', 'closed'], how)
  }
})

test('connections nobody reads stay in the kernel backlog, not in this process', async (t) => {
  const server = new TCPServerSocket('127.0.0.1', { backlog: 512 })
  const { localPort } = await server.opened
  const before = fds()
  // 300 clients from another process, so that their descriptors are not counted here.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const net=require('net');let n=0;for(let i=0;i<300;i++){const s=net.connect(${localPort},'127.0.0.1');s.on('connect',()=>{if(++n===300)console.log('connected')});s.on('error',()=>{})}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await within(once(child.stdout, 'data'), 15000, 'clients connected')
  await new Promise((r) => setTimeout(r, 200))
  const after = fds()
  t.true(after - before < 10, `descriptors grew from ${before} to ${after}`)
  child.kill()
  await once(child, 'exit')
  await server.close()
})

test('close() also closes connections accepted in a batch but never handed to the app', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const clients = []
  for (let i = 0; i < 10; i++) {
    const c = await connectNet(localPort)
    c.resume()
    clients.push(c)
  }
  // Let the kernel finish every handshake so that one accept batch takes them all.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const reader = readable.getReader()
  const { value: first } = await within(reader.read(), 5000, 'the first accept')
  const firstPort = (await first.opened).remotePort
  reader.releaseLock()
  await server.close()
  // Every client the app never got is closed by the server (FIN or reset), not left open
  // until a garbage collection.
  const others = clients.filter((c) => c.localPort !== firstPort)
  t.is(others.length, 9)
  await within(
    Promise.all(others.map((c) => (c.destroyed || c.readableEnded ? null : once(c, 'close')))),
    5000,
    'the undelivered connections to close',
  )
  t.true(others.every((c) => c.destroyed))
  await first.close()
  for (const c of clients) c.destroy()
})

// A read waits for a connection; its reader is released (the read rejects); a client then
// connects. The connection must not sit in the stream's queue, out of close()'s reach: it
// waits for the next read, and close() closes it with the listener.
test('a connection that comes after the waiting read was released: the next read gets it, or close() closes it', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const first = readable.getReader()
  const released = first.read().then(
    () => 'resolved',
    () => 'rejected',
  )
  first.releaseLock()
  t.is(await released, 'rejected')
  const client = net.connect(localPort, '127.0.0.1')
  client.on('error', () => {})
  await once(client, 'connect')
  const ended = new Promise((resolve) => {
    client.once('end', () => resolve('end'))
    client.once('close', () => resolve('close'))
  })
  await new Promise((resolve) => setTimeout(resolve, 100))
  await within(server.close(), 5000, 'server.close()')
  t.truthy(await within(ended, 5000, 'the client sees the connection end'))

  // The other way: a new reader's read gets the connection.
  const again = new TCPServerSocket('127.0.0.1')
  const opened = await again.opened
  const r1 = opened.readable.getReader()
  r1.read().catch(() => {})
  r1.releaseLock()
  const c2 = net.connect(opened.localPort, '127.0.0.1')
  c2.on('error', () => {})
  await once(c2, 'connect')
  await new Promise((resolve) => setTimeout(resolve, 100))
  const { value: accepted } = await within(opened.readable.getReader().read(), 5000, 'read')
  t.true(accepted instanceof TCPSocket)
  const info = await accepted.opened
  t.is(info.remotePort, c2.localPort)
  c2.destroy()
  await accepted.close().catch(() => {})
  await again.close().catch(() => {})
})

test('reads that find connections queued and reads that wait for one, alternating, all get theirs', async (t) => {
  // A batch accepted without a wait lets the listener's registration go (no wake-ups of
  // tokio's thread for connections nobody waits for); the next wait must register again.
  const server = new TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const reader = readable.getReader()
  const clients = []
  for (let round = 0; round < 5; round++) {
    // Three queued before the reads: accepted in one batch, no wait.
    for (let i = 0; i < 3; i++) clients.push(await connectNet(localPort))
    await new Promise((r) => setTimeout(r, 20))
    for (let i = 0; i < 3; i++) {
      const { value, done } = await within(reader.read(), 5000, `queued connection ${round}.${i}`)
      t.false(done)
      await value.close()
    }
    // Then a read that waits: the connection comes 30 ms after it started.
    const read = reader.read()
    await new Promise((r) => setTimeout(r, 30))
    clients.push(await connectNet(localPort))
    const { value, done } = await within(read, 5000, `awaited connection ${round}`)
    t.false(done)
    await value.close()
  }
  for (const c of clients) c.destroy()
  reader.releaseLock()
  await server.close()
})

// RELIABILITY 51: a read answered in read() itself must not accept while a pull of the
// stream waits for the listener (its reader released meanwhile): that accept would end the
// listener's registration under the wait, which might then never be woken.
test.serial('a read made while a released reader\'s pull waits for the listener gets its connection from that wait, not by an accept of its own', async (t) => {
  const Handle = binding.TcpListenerHandle
  const { armReadable, tryAcceptBatch } = Handle.prototype
  let armed = false
  let inRead = false
  let acceptsInRead = 0
  Handle.prototype.armReadable = function (...args) {
    const ready = Reflect.apply(armReadable, this, args)
    if (!ready) armed = true
    return ready
  }
  Handle.prototype.tryAcceptBatch = function (...args) {
    if (inRead && armed) acceptsInRead++
    return Reflect.apply(tryAcceptBatch, this, args)
  }
  try {
    const server = new TCPServerSocket('127.0.0.1')
    const { readable, localPort } = await server.opened
    const first = readable.getReader()
    first.read().catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 20))
    t.true(armed) // nothing to accept yet: the pull waits
    first.releaseLock()
    // Three clients connect (from another process) while this thread is blocked: the
    // wait's wake-up cannot reach JavaScript before the next read.
    const clients = spawn(process.execPath, [
      '-e',
      `const net = require('net'); process.stdin.once('data', () => { for (let i = 0; i < 3; i++) net.connect(${localPort}, '127.0.0.1').on('error', () => {}) }); setTimeout(() => {}, 5000)`,
    ])
    await new Promise((resolve) => setTimeout(resolve, 200))
    clients.stdin.write('go\n')
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300)
    const second = readable.getReader()
    inRead = true
    const read = second.read()
    inRead = false
    const { value } = await within(read, 5000, 'read')
    t.true(value instanceof TCPSocket)
    t.is(acceptsInRead, 0)
    second.releaseLock()
    await within(server.close(), 5000, 'close')
    clients.kill()
  } finally {
    Handle.prototype.armReadable = armReadable
    Handle.prototype.tryAcceptBatch = tryAcceptBatch
  }
})

test('an accepted socket is handed out open: its opened is settled already, with the addresses, and stable', async (t) => {
  const server = new TCPServerSocket('127.0.0.1')
  const { readable, localPort } = await server.opened
  const client = net.connect(localPort, '127.0.0.1').on('error', () => {})
  const reader = readable.getReader()
  const { value: socket } = await within(reader.read(), 5000, 'accept')
  let settled = false
  const opened = socket.opened
  opened.then(() => (settled = true))
  await null
  t.true(settled) // one microtask: settled before it was asked for
  t.is(socket.opened, opened)
  const info = await opened
  t.is(info.localPort, localPort)
  t.is(info.remotePort, client.localPort)
  reader.releaseLock()
  await within(Promise.all([socket.close(), server.close()]), 5000, 'close')
  client.destroy()
})

test('a server collected without close() closes its listener and every connection it accepted, handed over or not', async (t) => {
  const r = await runChild(fixture('gc-server.mjs'), [], { timeoutMs: 20000 })
  if (r.code !== 0) return t.fail(`child exited ${r.code}: ${r.stderr}`)
  const { before, opened, after, child } = JSON.parse(r.stdout)
  t.true(opened >= before + 31, `fds: before ${before}, opened ${opened}`)
  t.true(after <= before + 2, `fds: before ${before}, after GC ${after}`)
  t.is(child, 0, 'every client saw its connection closed')
})
