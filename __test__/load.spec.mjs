// Load: thousands of concurrent TCP connections and a million UDP datagrams, each in a
// child process (raised `ulimit -n`, its own memory), over loopback only.
import test from 'ava'
import { runChild, fixture, lastJson } from './child.mjs'

test.serial('5,000 concurrent TCP connections through our server and our client, each echoing a checksummed payload', async (t) => {
  // Client and server are both ours and in one process: two descriptors per connection.
  const r = await runChild(fixture('load-tcp.mjs'), [5000, 16 * 1024], { ulimit: 16384, timeoutMs: 120_000 })
  t.is(r.code, 0, r.stderr || r.stdout)
  const res = lastJson(r.stdout)
  t.log(res)
  t.is(res.held, 5000, 'every connection opened and was held at once')
  t.is(res.accepted, 5000)
  t.true(res.fdsHeld >= 10_000, `descriptors held: ${res.fdsHeld}`)
  t.is(res.ok, 5000, 'every echo arrived whole, checksum intact')
  t.is(res.bad, 0)
  t.is(res.bytes, 5000 * 16 * 1024)
  t.is(res.echoed, 5000)
  t.is(res.serverErrors, 0)
  t.true(res.fdsAfter < 64, `descriptors left after closing: ${res.fdsAfter}`)
  // Bounded memory: ~40 KiB a connection at the idle peak, all 5,000 payloads in flight.
  t.true(res.rssHeldMiB < 512, `RSS with 5,000 idle connections: ${res.rssHeldMiB} MiB`)
  t.true(res.rssPeakMiB < 1024, `peak RSS: ${res.rssPeakMiB} MiB`)
})

test.serial('1,000,000 sequence-numbered UDP datagrams through a paced loopback pair: loss reported, nothing corrupt', async (t) => {
  const r = await runChild(fixture('load-udp.mjs'), [1_000_000, 64, 2048], { timeoutMs: 120_000 })
  t.is(r.code, 0, r.stderr || r.stdout)
  const res = lastJson(r.stdout)
  t.log(res)
  t.is(res.sent, 1_000_000)
  t.is(res.corrupt, 0)
  t.is(res.duplicates, 0)
  t.is(res.received + res.lost, res.sent)
  // Paced over loopback with an 8 MiB receive buffer nothing should be lost; allow a
  // little, since UDP guarantees nothing, but a real loss would show here.
  t.true(res.lossPercent < 1, `lost ${res.lost} (${res.lossPercent} %)`)
  t.true(res.rssPeakMiB < 256, `peak RSS: ${res.rssPeakMiB} MiB`)
})

test.serial('an unpaced UDP flood into a small receive buffer loses datagrams, reports it, and never crashes', async (t) => {
  const r = await runChild(fixture('load-udp.mjs'), [200_000, 64, 0, 65536], { timeoutMs: 60_000 })
  t.is(r.code, 0, r.stderr || r.stdout)
  const res = lastJson(r.stdout)
  t.log(res)
  t.is(res.sent, 200_000)
  t.is(res.corrupt, 0)
  t.is(res.duplicates, 0)
  t.true(res.received > 0)
  t.is(res.received + res.lost, res.sent)
})
