// Bad input found by the fuzz tests (__test__/netns/fuzz.spec.mjs), kept as plain
// regression tests over loopback.
import test from 'ava'
import { TCPSocket, UDPSocket } from '../index.js'
import { netServer, within, dgramSink } from './helpers.mjs'

function detachedView(Type = Uint8Array) {
  const view = new Type(new ArrayBuffer(16))
  structuredClone(view.buffer, { transfer: [view.buffer] })
  return view
}
function detachedBuffer() {
  const buffer = new ArrayBuffer(16)
  structuredClone(buffer, { transfer: [buffer] })
  return buffer
}


// Found by the fuzz test: a detached Uint8Array passed the BufferSource conversion, then
// the host-name path of a bound UDPSocket copied it (slice() throws on a detached buffer)
// outside its error handling; the writable errored without the socket noticing, so
// closed, and close(), never settled, and the descriptor was never closed.
test('a detached Uint8Array sent to a host name: the write settles and close() settles', async (t) => {
  const sink = await dgramSink()
  const s = new UDPSocket({ localAddress: '127.0.0.1' })
  const { writable } = await s.opened
  const writer = writable.getWriter()
  await within(writer.write({ data: detachedView(), remoteAddress: 'localhost', remotePort: sink.port, dnsQueryType: 'ipv4' }), 5000, 'write')
  writer.releaseLock()
  await within(s.close(), 5000, 'close()')
  // WebIDL: a detached buffer holds no bytes, so an empty datagram went out.
  for (let i = 0; i < 50 && sink.got.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.deepEqual(sink.got.map((m) => m.length), [0])
  sink.close()
})

test('detached buffers of every kind are written as no bytes (TCP) or an empty datagram (UDP)', async (t) => {
  const kinds = [() => detachedView(), () => detachedView(Float64Array), () => detachedView(DataView), detachedBuffer]
  const sink = await dgramSink()
  const u = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: sink.port })
  const uw = (await u.opened).writable.getWriter()
  let received = 0
  const srv = await netServer((sock) => sock.on('data', (d) => (received += d.length)))
  const s = new TCPSocket('127.0.0.1', srv.port)
  const tw = (await s.opened).writable.getWriter()
  for (const make of kinds) {
    await within(uw.write({ data: make() }), 2000, 'UDP write')
    await within(tw.write(make()), 2000, 'TCP write')
  }
  await tw.write(new Uint8Array([1, 2, 3]))
  for (let i = 0; i < 50 && (sink.got.length < kinds.length || received < 3); i++) await new Promise((r) => setTimeout(r, 20))
  t.deepEqual(sink.got.map((m) => m.length), kinds.map(() => 0))
  t.is(received, 3)
  uw.releaseLock()
  tw.releaseLock()
  await Promise.all([u.close(), s.close()])
  sink.close()
  await srv.close()
})

// WebIDL: a BufferSource without [AllowResizable] refuses resizable buffers.
test('a resizable ArrayBuffer (or a view of one) is a TypeError for TCP and UDP writes', async (t) => {
  const srv = await netServer((sock) => sock.resume())
  for (const make of [() => new ArrayBuffer(8, { maxByteLength: 16 }), () => new Uint8Array(new ArrayBuffer(8, { maxByteLength: 16 }))]) {
    const s = new TCPSocket('127.0.0.1', srv.port)
    const w = (await s.opened).writable.getWriter()
    await t.throwsAsync(w.write(make()), { instanceOf: TypeError, message: /resizable/ })
    w.releaseLock()
    await t.throwsAsync(s.close(), { instanceOf: TypeError })
    const u = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: 9 })
    const uw = (await u.opened).writable.getWriter()
    await t.throwsAsync(uw.write({ data: make() }), { instanceOf: TypeError, message: /resizable/ })
    uw.releaseLock()
    await t.throwsAsync(u.close(), { instanceOf: TypeError })
  }
  await srv.close()
})

// Names no DNS server could hold are refused without a lookup, as getaddrinfo refuses them:
// NetworkError with ENOTFOUND (not a temporary failure worth retrying).
test('a remoteAddress that cannot be a host name rejects opened with NetworkError (ENOTFOUND), without a lookup', async (t) => {
  const names = [' 127.0.0.1', 'a'.repeat(254), `${'a'.repeat(64)}.test`, 'a..b', 'fe80::1%lo', 'bad name.test', 'a/b']
  for (const name of names) {
    const err = await t.throwsAsync(within(new TCPSocket(name, 80).opened, 5000, name), { any: true })
    t.is(err?.name, 'NetworkError', name)
    t.is(err?.cause?.code, 'ENOTFOUND', name)
  }
  const udp = new UDPSocket({ remoteAddress: 'a..b', remotePort: 9 })
  const err = await t.throwsAsync(within(udp.opened, 5000, 'udp'), { any: true })
  t.is(err?.cause?.code, 'ENOTFOUND')
})
