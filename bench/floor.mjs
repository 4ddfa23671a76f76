// What Node's own WHATWG streams cost before a socket does anything (and, for memory, a
// whole net.Socket beside them): the floor under the rows of `npm run bench` where
// direct-sockets is behind (README, "Where we are behind, and why").
//
//   node --expose-gc bench/floor.mjs        (npm run bench:floor)
//
// Prints, each figure measured in a fresh process (times: medians of 5 runs), for streams
// made as `new ReadableStream()` does ("node") and as direct-sockets makes its sockets'
// (lib/streams.js: built field by field, fast default reads; "ours"):
//   - time per WritableStream write with a sink that does nothing (64-byte chunks, awaited)
//   - time per BYOB read from a byte stream whose pull answers at once
//   - time per default read from such a stream (ours: the source answers in read() itself,
//     lib/streams.js readNowFirst, as a socket with bytes there does)
//   (pure JavaScript, so wall time is CPU time; rusage is no help here: this VM samples
//   user and system time by tick)
//   - JS heap and RSS per byte ReadableStream with a pending read, per WritableStream, and
//     per open net.Socket with a 'data' listener (2,000 each)
import { ReadableStream, WritableStream } from 'node:stream/web'
import { fork, execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import net from 'node:net'
import { once } from 'node:events'
import { createRequire } from 'node:module'

const { newByteReadable, buildWritable, BUILT_WRITABLES, readNowFirst } = createRequire(import.meta.url)(
  '../lib/streams.js',
)
// What a socket's source and sink have (lib/lifecycle.js), around the figures' own methods.
const asSource = (source) => ({ start() {}, pull() {}, cancel() {}, readNow: () => null, ...source })
const asSink = (sink) => ({ start() {}, write() {}, close() {}, abort() {}, ...sink })
/** The two ways of making a stream compared: Node's constructors, and as our sockets' are made. */
const makers = {
  node: {
    readable: (source, strategy) => new ReadableStream(source, strategy),
    writable: (sink, strategy) => new WritableStream(sink, strategy),
  },
  ours: {
    // Byte readables pulled on reads only (highWaterMark 0), as every figure here asks.
    readable: (source) => newByteReadable(asSource(source)),
    writable: (sink, strategy) =>
      BUILT_WRITABLES ? buildWritable(asSink(sink), strategy.highWaterMark) : new WritableStream(sink, strategy),
    readsNow: true,
  },
}

const HOST = '127.0.0.1'
const run = promisify(execFile)
const RUNS = 5

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function timePer(n, body) {
  const t0 = performance.now()
  await body(n)
  return ((performance.now() - t0) * 1000) / n
}

const writableWrite = (make) => async (n) => {
  const writer = make.writable({ write() {} }, { highWaterMark: 2 }).getWriter()
  const chunk = new Uint8Array(64)
  for (let i = 0; i < n; i++) await writer.write(chunk)
}

const byobRead = (make) => async (n) => {
  const stream = make.readable(
    {
      type: 'bytes',
      pull(c) {
        c.byobRequest.respond(64)
      },
    },
    { highWaterMark: 0 },
  )
  const reader = stream.getReader({ mode: 'byob' })
  let buf = new Uint8Array(64)
  for (let i = 0; i < n; i++) buf = new Uint8Array((await reader.read(buf)).value.buffer)
}

const defaultRead = (make) => async (n) => {
  const stream = make.readable(
    {
      type: 'bytes',
      start(c) {
        if (make.readsNow) readNowFirst(c)
      },
      pull(c) {
        c.enqueue(new Uint8Array(64))
      },
      // What a socket with bytes there answers (lib/tcp-streams.js).
      readNow() {
        return new Uint8Array(64)
      },
    },
    { highWaterMark: 0 },
  )
  const reader = stream.getReader()
  for (let i = 0; i < n; i++) await reader.read()
}

async function perObject(make, count = 2000) {
  const gc = async () => {
    for (let i = 0; i < 4; i++) {
      globalThis.gc?.()
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const held = []
  await gc()
  const before = process.memoryUsage()
  for (let i = 0; i < count; i++) held.push(await make())
  await gc()
  const after = process.memoryUsage()
  if (held.length !== count) throw new Error('lost objects') // (and keeps `held` alive until here)
  return { heap: (after.heapUsed - before.heapUsed) / count / 1024, rss: (after.rss - before.rss) / count / 1024 }
}

/** One figure, measured in this (fresh) process: the value printed for its row. */
async function measureHere(what, kind, port) {
  const make = makers[kind]
  if (what === 'write' || what === 'read' || what === 'default-read') {
    const body = { write: writableWrite, read: byobRead, 'default-read': defaultRead }[what](make)
    const runs = []
    for (let r = 0; r < RUNS; r++) runs.push(await timePer(200_000, body))
    return `${median(runs).toFixed(2)} µs`
  }
  let object
  if (what === 'readable') {
    object = () => {
      const reader = make.readable({ type: 'bytes', pull() {} }, { highWaterMark: 0 }).getReader()
      reader.read()
      return reader
    }
  } else if (what === 'writable') {
    object = () => make.writable({ write() {} }, { highWaterMark: 2 })
  } else {
    object = async () => {
      const socket = net.connect(port, HOST)
      await once(socket, 'connect')
      return socket.on('data', () => {}).on('error', () => {})
    }
  }
  const { heap, rss } = await perObject(object)
  return `${heap.toFixed(2)} KiB heap, ${rss.toFixed(2)} KiB RSS`
}

const LABELS = {
  write: 'WritableStream write, no-op sink',
  read: 'BYOB read, pull answers at once',
  'default-read': 'default read, bytes there',
  readable: 'byte ReadableStream + reader + pending read',
  writable: 'WritableStream',
  socket: 'net.Socket, open, with a data listener',
}

async function main() {
  if (!globalThis.gc) console.log('(run with --expose-gc for the memory rows)')
  const child = fork(new URL(import.meta.url), ['sink'])
  const [ports] = await once(child, 'message')
  // Each figure in a process of its own: in one process, whatever ran first left the heap
  // grown (RSS) and the code warm (times) for what came after.
  const rows = []
  const jobs = []
  for (const what of ['write', 'read', 'default-read', 'readable', 'writable']) {
    for (const kind of Object.keys(makers)) jobs.push([what, kind])
  }
  jobs.push(['socket', 'node'])
  for (const [what, kind] of jobs) {
    const { stdout } = await run(process.execPath, [
      '--expose-gc',
      fileURLToPath(import.meta.url),
      'measure',
      what,
      kind,
      String(ports.tcp),
    ])
    rows.push([what === 'socket' ? LABELS.socket : `${LABELS[what]} (${kind})`, stdout.trim()])
  }

  const width = Math.max(...rows.map((r) => r[0].length))
  console.log(`Node ${process.version}, medians of ${RUNS} runs, each figure in a fresh process`)
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`)
  child.disconnect()
  process.exit(0)
}

if (process.argv[2] === 'measure') {
  console.log(await measureHere(process.argv[3], process.argv[4], Number(process.argv[5])))
  process.exit(0)
} else if (process.argv[2] === 'sink') {
  // Child: a TCP server that holds its connections.
  const held = []
  const tcp = net.createServer((s) => held.push(s.on('error', () => {})))
  tcp.listen(0, HOST)
  await once(tcp, 'listening')
  process.send({ tcp: tcp.address().port })
  process.on('disconnect', () => process.exit(0))
} else {
  await main()
}
