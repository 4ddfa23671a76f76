// The line protocol every benchmark child process speaks with the runner (bench/index.mjs),
// shared by bench/side.mjs (a measured side) and bench/peer.mjs (its peer). The Rust
// ceiling (bench/ceiling/main.rs) speaks the same.
//
// Arguments: `key=value` pairs (numbers where they parse as numbers).
// stdout: one JSON object per line:
//   {"port": N}          a socket of ours listens on 127.0.0.1:N
//   {"relay": "text"}    the runner writes "text\n" to the other process's stdin
//   {"info": {...}}      recorded in the JSON results
//   {"result": {...}}    the measured side's figures; its last line
// stdin: relayed lines; its end tells a peer to stop. Every process ends with process.exit()
// (reading stdin keeps the event loop alive).

export function parseParams(argv) {
  const params = {}
  for (const arg of argv) {
    const i = arg.indexOf('=')
    if (i <= 0) throw new Error(`expected key=value, got '${arg}'`)
    const value = arg.slice(i + 1)
    params[arg.slice(0, i)] = value !== '' && Number.isFinite(Number(value)) ? Number(value) : value
  }
  return params
}

/** Writes one protocol line (synchronous for pipes on POSIX, so process.exit() may follow). */
export const emit = (message) => process.stdout.write(`${JSON.stringify(message)}\n`)

const lines = []
let stdinEnded = false
let wake = null
let buffered = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  buffered += chunk
  let i
  while ((i = buffered.indexOf('\n')) >= 0) {
    lines.push(buffered.slice(0, i))
    buffered = buffered.slice(i + 1)
  }
  wake?.()
})
process.stdin.on('end', () => {
  stdinEnded = true
  wake?.()
})

/** The next line from stdin, or null once stdin has ended. */
export async function nextLine() {
  while (lines.length === 0 && !stdinEnded) {
    await new Promise((resolve) => (wake = resolve))
    wake = null
  }
  return lines.length > 0 ? lines.shift() : null
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Lets pending reads arm, then collects garbage (with --expose-gc) until the heap is quiet. */
export async function settle() {
  await sleep(200)
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((resolve) => setImmediate(resolve))
    await sleep(20)
  }
}

/** Runs `fn` `total` times, `parallel` at a time. */
export async function inParallel(total, parallel, fn) {
  let started = 0
  const worker = async () => {
    while (started < total) {
      started++
      await fn()
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, total) }, worker))
}

/** `sorted[floor(q * (length - 1))]`, as the Rust ceiling computes it. */
export function percentile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.floor(q * (sorted.length - 1))]
}

/** CPU placements (indexes into the runner's two CPUs): measured side and peer apart, or together. */
export const SPLIT = Object.freeze({ side: 0, peer: 1 })
export const SHARED = Object.freeze({ side: 0, peer: 0 })

/** 20000 → "20,000"; 1073741824 bytes → "1 GiB" (for workload names that follow --quick sizes). */
export const count = (n) => n.toLocaleString('en-US')
export const bytesText = (n) =>
  n >= 2 ** 30 ? `${n / 2 ** 30} GiB` : n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`
