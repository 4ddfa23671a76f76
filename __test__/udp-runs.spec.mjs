// UDP runs (lib/udp.js #sendRun, src/gso.rs): that they happen, within their limits, and
// not where they must not. The native `udpTrySendSegments` is wrapped before the classes
// load, so each test sees the runs sent (this file runs in a process of its own).
import test from 'ava'
import { createRequire } from 'node:module'
import { within, dgramSink } from './helpers.mjs'

const require = createRequire(import.meta.url)
const binding = require('../binding.js')
/** Every run sent: `{ length, segment }` (bytes, and the size of each datagram but the last). */
const runs = []
const sendSegments = binding.udpTrySendSegments
binding.udpTrySendSegments = (core, buf, length, segment, ...destination) => {
  const n = sendSegments(core, buf, length, segment, ...destination)
  if (n >= 0) runs.push({ length, segment })
  return n
}
const { UDPSocket } = require('../index.js')
const turns = require('../lib/turns.js')

/** A node:dgram peer (`got`: the datagrams received) and a started writer of ours to it. */
async function pair() {
  const peer = await dgramSink()
  const { got } = peer
  peer.socket.setRecvBufferSize(1 << 20)
  const socket = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: peer.port })
  const { writable } = await socket.opened
  const writer = writable.getWriter()
  // Awaited, so that the writes after it are made once the stream has started (they queue).
  await writer.write({ data: new Uint8Array([0xff]) })
  const received = async (n) => {
    for (let i = 0; i < 400 && got.length < n; i++) await new Promise((r) => setTimeout(r, 5))
    return got
  }
  const close = async () => {
    writer.releaseLock()
    await socket.close()
    peer.close()
  }
  return { got, writer, received, close }
}

// ava runs the tests of a file concurrently: each looks only at the runs made during it.
const since = (mark) => runs.slice(mark)

test.serial('writes queued behind one another go out in runs of at most 64 datagrams, all delivered', async (t) => {
  const { writer, received, close } = await pair()
  const mark = runs.length
  const writes = Array.from({ length: 150 }, (_, i) => writer.write({ data: new Uint8Array(100).fill(i) }))
  await within(Promise.all(writes), 5000, 'the writes')
  const sent = since(mark)
  t.true(sent.length >= 3, `${sent.length} runs`)
  t.true(sent.every((r) => r.segment === 100 && r.length / 100 <= 64))
  t.is(sent.reduce((sum, r) => sum + r.length / 100, 0), 149, 'all but the first, which went alone')
  const got = await received(151)
  t.deepEqual(
    got.slice(1).map((m) => (m.length === 100 && m.every((b) => b === m[0]) ? m[0] : -1)),
    Array.from({ length: 150 }, (_, i) => i),
  )
  await close()
})

test.serial('a run carries at most 63 KiB: large datagrams go two at a time', async (t) => {
  const { writer, received, close } = await pair()
  const mark = runs.length
  const writes = Array.from({ length: 5 }, (_, i) => writer.write({ data: new Uint8Array(30_000).fill(i) }))
  await within(Promise.all(writes), 5000, 'the writes')
  t.deepEqual(since(mark), [
    { length: 60_000, segment: 30_000 },
    { length: 60_000, segment: 30_000 },
  ])
  const got = await received(6)
  t.deepEqual(
    got.slice(1).map((m) => [m.length, m[0], m[29_999]]),
    Array.from({ length: 5 }, (_, i) => [30_000, i, i]),
  )
  await close()
})

test.serial('a getter read while looking ahead that aborts the writable: the write in flight goes out, nothing behind it', async (t) => {
  const { writer, received, close } = await pair()
  const mark = runs.length
  let aborted = false
  const writes = [
    writer.write({ data: new Uint8Array(10).fill(0) }), // goes at once
    writer.write({ data: new Uint8Array(10).fill(1) }), // in flight when the getter runs
    writer.write({
      get data() {
        if (!aborted) {
          aborted = true
          writer.abort('stop')
        }
        return new Uint8Array(10).fill(2)
      },
    }),
    writer.write({ data: new Uint8Array(10).fill(3) }),
  ]
  const results = await within(Promise.allSettled(writes), 5000, 'the writes')
  t.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'rejected'],
  )
  t.deepEqual(since(mark), [], 'no run')
  await received(3)
  await new Promise((r) => setTimeout(r, 50))
  const got = await received(3)
  t.deepEqual(
    got.slice(1).map((m) => m[0]),
    [0, 1],
  )
  await close()
})

test.serial('a write that finishes in a later turn (lib/turns.js) makes no run; an abort from a timer then rejects only writes not sent', async (t) => {
  const { got, writer, received, close } = await pair()
  const spin = (ms) => {
    const end = performance.now() + ms
    while (performance.now() < end);
  }
  // In the check phase now: a timer due by the next turn runs before the next immediate.
  await turns.nextTurn()
  const mark = runs.length
  const timer = new Promise((resolve) => setTimeout(() => resolve(writer.abort('late')), 0))
  // The first goes out at once; the rest queue behind it until its completion, a microtask
  // away. Before that, lib/turns.js's budget runs out (10 ms without a turn), and is known
  // to have: the next write, which would head a run of the other 6, completes in a later
  // turn, after the timer's abort.
  const writes = Array.from({ length: 8 }, (_, i) => writer.write({ data: new Uint8Array([i]) }))
  spin(11)
  let overdue = false
  for (let i = 0; i < 40 && !overdue; i++) overdue = turns.mustYield()
  t.true(overdue)
  const results = await within(Promise.allSettled(writes), 5000, 'the writes')
  await timer
  t.deepEqual(since(mark), [], 'no run')
  await received(3)
  await new Promise((r) => setTimeout(r, 50))
  const arrived = got.slice(1).map((m) => m[0])
  const fulfilled = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
  t.deepEqual(fulfilled, [0, 1], 'the abort came after the second write went out, before the rest')
  t.deepEqual(arrived, fulfilled, 'a datagram arrived exactly when its write was fulfilled')
  await close()
})
