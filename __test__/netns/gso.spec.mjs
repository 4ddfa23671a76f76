// UDP runs (src/gso.rs) where the kernel refuses to segment: a local address whose route
// has an MTU of 1,280 bytes, made only inside the private network namespace that
// `npm run test:netns` runs in (scripts/in-netns.sh); skipped anywhere else.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { insidePrivateNamespace } from './namespace.mjs'
import { UDPSocket } from '../../index.js'
import { within, dgramSink } from '../helpers.mjs'

const inside = insidePrivateNamespace()
const netnsTest = inside ? test : test.skip
if (!inside) test('GSO fallback tests run only inside the private namespace (npm run test:netns)', (t) => t.pass())

const SMALL_MTU_ADDRESS = '127.0.0.77'
if (inside) {
  test.before(() => {
    execFileSync('ip', ['route', 'replace', 'local', `${SMALL_MTU_ADDRESS}/32`, 'dev', 'lo', 'table', 'local', 'mtu', '1280'])
  })
}

/** A node:dgram peer on SMALL_MTU_ADDRESS (`got`: what it received) and a writer of ours to it. */
async function smallMtuPair() {
  const peer = await dgramSink(SMALL_MTU_ADDRESS)
  const { got } = peer
  const socket = new UDPSocket({ remoteAddress: SMALL_MTU_ADDRESS, remotePort: peer.port })
  const { writable } = await socket.opened
  const writer = writable.getWriter()
  const close = async () => {
    writer.releaseLock()
    await socket.close()
    peer.close()
  }
  return { got, writer, close }
}

/** Waits (bounded: 2 s) until `got` holds `n` datagrams. */
async function until(got, n) {
  for (let i = 0; i < 200 && got.length < n; i++) await new Promise((r) => setTimeout(r, 10))
}

netnsTest('datagrams larger than the path MTU, queued together, go out one by one (fragmented) when the kernel refuses the run', async (t) => {
  const { got, writer, close } = await smallMtuPair()
  await writer.write({ data: new Uint8Array(1400).fill(255) })
  // Queued behind each other: the first run (1,400-byte segments over a 1,280-byte MTU) is
  // refused with EMSGSIZE before anything is sent.
  const writes = []
  for (let i = 0; i < 20; i++) writes.push(writer.write({ data: new Uint8Array(1400).fill(i) }))
  await within(Promise.all(writes), 5000, 'the writes')
  await until(got, 21)
  t.is(got.length, 21)
  t.true(got.every((m) => m.length === 1400))
  t.deepEqual(
    got.slice(1).map((m) => m[0]),
    Array.from({ length: 20 }, (_, i) => i),
  )
  t.true(got.slice(1).every((m, i) => m.every((b) => b === i)))
  await close()
})

netnsTest('runs of datagrams within the MTU still go out to that address', async (t) => {
  const { got, writer, close } = await smallMtuPair()
  await writer.write({ data: new Uint8Array(1000) })
  const writes = []
  for (let i = 0; i < 40; i++) writes.push(writer.write({ data: new Uint8Array(1000).fill(i) }))
  await within(Promise.all(writes), 5000, 'the writes')
  await until(got, 41)
  t.is(got.length, 41)
  t.deepEqual(
    got.slice(1).map((m) => m[0]),
    Array.from({ length: 40 }, (_, i) => i),
  )
  await close()
})
