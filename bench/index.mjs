// npm run bench: every workload of bench/workloads/*.mjs, through direct-sockets ("ours")
// and through node:net / node:dgram ("node"), plus a plain Rust tokio program doing the same
// work ("ceiling": what this machine reaches without JavaScript), all over loopback.
//
//   node bench/index.mjs [--rounds N] [--quick] [--only a,b] [--peer rust|node] [--no-ceiling]
//
//   --rounds N     rounds (default 3; 1 with --quick); medians are reported with min-max
//   --quick        tiny sizes: a smoke run of every workload (CI runs --quick --rounds 1)
//   --only a,b     only workloads whose id or name contains one of these substrings
//   --peer KIND    the peer processes: `rust` (default: the ceiling binary's peers, which
//                  cost the least CPU, so the side is what is measured: a node:net peer
//                  caps bulk receive and accepts) or `node` (bench/peer.mjs). The UDP
//                  loss row always uses the node:dgram blaster.
//   --no-ceiling   skip building and running the Rust ceiling (implies --peer node)
//
// Environment: SIDE_FLAGS="--cpu-prof --cpu-prof-dir=DIR" passes node flags to every node
// side (profiling a workload; NODE_OPTIONS refuses --cpu-prof).
//
// Every run of one workload by one side (ours, node, ceiling) in one round is a fresh
// process (node sides: `node --expose-gc bench/side.mjs`; ceiling: the cargo example
// `ceiling`, built here with `cargo build --release --example ceiling`) beside a fresh peer
// process, each pinned with `taskset -c` to the CPU the workload names (see `cpus` in the
// workload modules: measured side on the first CPU, peer on the second, or both on the
// first). Runs are interleaved: ours, node, ceiling, ours, node, ceiling, ... Nothing
// leaves 127.0.0.1.
//
// Prints a table (median and min-max per side, ratio ours/node with >1 better, the ceiling
// and ours against it) and writes everything, every single run included, to
// bench/results/bench-<date>.json: with each run its peer's figures (a blaster's achieved
// rate, ...) and the kernel's counters over the run (listen queue overflows, SYN
// retransmits, UDP buffer drops; a run whose listen queue overflowed is flagged, as each
// overflow costs a one-second SYN retransmit). Exits non-zero when any run failed.

import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { readdir, writeFile, mkdir, readFile } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'
import os from 'node:os'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..')
const started = Date.now()

// ---- options
const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const option = (name, fallback) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback
}
if (flag('--help') || flag('-h')) {
  const text = await readFile(fileURLToPath(import.meta.url), 'utf8')
  const lines = text.split('\n')
  const end = lines.findIndex((l) => !l.startsWith('//'))
  console.log(
    lines
      .slice(0, end)
      .map((l) => l.slice(3))
      .join('\n'),
  )
  process.exit(0)
}
const quick = flag('--quick')
const rounds = Number(option('--rounds', quick ? 1 : 3))
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error(`--rounds must be 1-100, got ${rounds}`)
const only = option('--only', '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
const wantCeiling = !flag('--no-ceiling')
let peerKind = option('--peer', wantCeiling ? 'rust' : 'node')
if (!['rust', 'node'].includes(peerKind)) throw new Error(`--peer must be rust or node, got ${peerKind}`)
// Per run (a side and its peer). Quick runs take about a second: a hung library must not
// hold CI for long.
const RUN_TIMEOUT_MS = quick ? 20_000 : 300_000
const notes = []

// ---- machine and CPU placement
function allowedCpus() {
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1]
    if (!list) return []
    return list.split(',').flatMap((part) => {
      const [a, b = a] = part.split('-').map(Number)
      return Array.from({ length: b - a + 1 }, (_, i) => a + i)
    })
  } catch {
    return []
  }
}
const cpuList = allowedCpus()
const hasTaskset = spawnSync('taskset', ['-c', String(cpuList[0] ?? 0), 'true']).status === 0
const pinned = hasTaskset && cpuList.length > 0
const cpuOf = (index) => (pinned ? cpuList[Math.min(index, cpuList.length - 1)] : null)
if (!hasTaskset) notes.push('taskset not found: processes are NOT pinned to CPUs (numbers are noisier).')
else if (cpuList.length === 0) notes.push('no CPU list in /proc/self/status: processes are NOT pinned to CPUs.')
else if (cpuList.length < 2) notes.push(`only CPU ${cpuList[0]} is available: "2 CPU" rows run side and peer on one CPU.`)

const loadavg = () => os.loadavg().map((x) => Number(x.toFixed(2)))
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  allowedCpus: cpuList,
  memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
  node: process.version,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  loadavgAtStart: loadavg(),
}
if (machine.loadavgAtStart[0] > 0.5) {
  notes.push(`load average ${machine.loadavgAtStart.join(' ')} at start: other processes are running; expect noise.`)
}
const command =
  (process.env.npm_lifecycle_event ? `npm run ${process.env.npm_lifecycle_event} → ` : '') +
  ['node', path.relative(process.cwd(), fileURLToPath(import.meta.url)), ...args].join(' ')

console.log(`direct-sockets benchmark, ${new Date().toISOString()}`)
console.log(`command: ${command}`)
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory}, ${machine.os}, Node ${machine.node}`)
console.log(
  `pinning: ${pinned ? `taskset, measured side on CPU ${cpuOf(0)}, peer on CPU ${cpuOf(1)} (or ${cpuOf(0)} where a row says 1 CPU)` : 'none'}`,
)

// ---- the Rust ceiling
const ceiling = { wanted: wantCeiling, built: false, path: null, buildSeconds: null, error: null }
if (wantCeiling) buildCeiling()
if (!ceiling.path) {
  if (wantCeiling) notes.push(`no Rust ceiling: ${ceiling.error}`)
  if (peerKind === 'rust') {
    peerKind = 'node'
    notes.push('peers fall back to node (bench/peer.mjs): the Rust peers live in the ceiling binary.')
  }
}
console.log(`peers: ${peerKind === 'rust' ? 'Rust (tokio, the ceiling binary)' : 'node:net / node:dgram (bench/peer.mjs)'}`)
for (const note of notes) console.log(`note: ${note}`)

function buildCeiling() {
  const host = /host: (\S+)/.exec(spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout ?? '')?.[1]
  if (!host) {
    ceiling.error = 'rustc not found'
    return
  }
  // The host target spelled out: the same target directory as the addon's own release
  // build (napi build --platform), so only the example itself is compiled when that is fresh.
  const cargoArgs = ['build', '--release', '--example', 'ceiling', '--target', host, '--message-format=json-render-diagnostics']
  console.log(`building the Rust ceiling: cargo ${cargoArgs.slice(0, -1).join(' ')} ...`)
  const t0 = Date.now()
  const build = spawnSync('cargo', cargoArgs, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  ceiling.buildSeconds = (Date.now() - t0) / 1000
  let executable = null
  for (const line of (build.stdout ?? '').split('\n')) {
    if (!line.startsWith('{')) continue
    const msg = JSON.parse(line)
    if (msg.reason === 'compiler-artifact' && msg.target?.name === 'ceiling' && msg.executable) executable = msg.executable
  }
  if (build.status === 0 && executable) {
    Object.assign(ceiling, { built: true, path: executable })
    console.log(`  built in ${ceiling.buildSeconds.toFixed(1)} s: ${path.relative(process.cwd(), executable)}`)
    return
  }
  const stale = path.join(process.env.CARGO_TARGET_DIR ?? path.join(root, 'target'), host, 'release', 'examples', 'ceiling')
  ceiling.error = `cargo build failed (status ${build.status}): ${(build.stderr ?? String(build.error)).trim().split('\n').slice(-15).join('\n')}`
  console.log(`  ${ceiling.error}`)
  if (existsSync(stale)) {
    ceiling.path = stale
    notes.push(`the ceiling build failed; using the previously built ${path.relative(process.cwd(), stale)}`)
  }
}

// ---- workloads
const workloads = []
const ORDER = ['tcp.mjs', 'server.mjs', 'udp.mjs', 'memory.mjs']
const rank = (f) => (ORDER.includes(f) ? ORDER.indexOf(f) : ORDER.length)
const workloadFiles = (await readdir(path.join(here, 'workloads'))).filter((f) => f.endsWith('.mjs'))
for (const f of workloadFiles.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) {
  const mod = await import(pathToFileURL(path.join(here, 'workloads', f)))
  for (const w of mod.workloads ?? []) {
    const name = typeof w.name === 'function' ? w.name(w.params(quick)) : w.name
    if (only.length && !only.some((s) => w.id.includes(s) || name.includes(s))) continue
    workloads.push({ impl: w.id, ...w, name, ceiling: w.ceiling ?? w.impl ?? w.id })
  }
}
if (workloads.length === 0) throw new Error(`no workload matches --only ${only.join(',')}`)

// ---- one run: a side and its peer, each in its own pinned process
class Child {
  #resolveExited

  constructor(label, cmd, argv, cpu) {
    this.label = label
    const [file, fileArgs] = cpu === null ? [cmd, argv] : ['taskset', ['-c', String(cpu), cmd, ...argv]]
    this.proc = spawn(file, fileArgs, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
    this.proc.stdin.on('error', () => {})
    this.messages = []
    this.infos = []
    this.pendingRelays = []
    this.relayTo = null
    this.stderr = ''
    this.waiters = new Set()
    this.exit = null
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve))
    this.proc.on('close', (code, signal) => {
      this.exit = { code, signal }
      this.#notify()
      this.#resolveExited(this.exit)
    })
    this.proc.on('error', (err) => {
      // Failed to start (or to be killed): 'close' may never come.
      this.stderr += String(err)
      this.exit ??= { code: null, signal: null, error: String(err) }
      this.#notify()
      this.#resolveExited(this.exit)
    })
    createInterface({ input: this.proc.stdout }).on('line', (line) => this.#line(line))
    this.proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-8000)
    })
  }

  #line(line) {
    let msg
    try {
      msg = JSON.parse(line)
    } catch {
      this.stderr = (this.stderr + `[stdout] ${line}\n`).slice(-8000)
      return
    }
    if (msg.relay !== undefined) {
      if (this.relayTo) this.relayTo.write(msg.relay)
      else this.pendingRelays.push(msg.relay)
    } else if (msg.info !== undefined) {
      this.infos.push(msg.info)
    } else {
      this.messages.push(msg)
      this.#notify()
    }
  }

  #notify() {
    for (const w of this.waiters) w()
  }

  /** Relays this process's {"relay"} lines to `other`'s stdin. */
  relayInto(other) {
    this.relayTo = other
    for (const text of this.pendingRelays.splice(0)) other.write(text)
  }

  write(text) {
    if (this.exit === null && this.proc.stdin.writable) this.proc.stdin.write(`${text}\n`)
  }

  /** Resolves with the first message that has `key`; rejects if the process ends first. */
  expect(key) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const msg = this.messages.find((m) => m[key] !== undefined)
        if (msg) {
          this.waiters.delete(check)
          resolve(msg[key])
        } else if (this.exit !== null) {
          this.waiters.delete(check)
          reject(new Error(`${this.label} ended (${JSON.stringify(this.exit)}) without "${key}": ${this.stderr.trim().slice(-2000)}`))
        }
      }
      this.waiters.add(check)
      check()
    })
  }

  async stop(graceMs) {
    this.proc.stdin.end()
    let timer
    const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, graceMs, 'timeout')))
    if ((await Promise.race([this.exited, timedOut])) === 'timeout' && this.exit === null) {
      this.proc.kill('SIGKILL')
      await this.exited
    }
    clearTimeout(timer)
  }
}

const kv = (params) => Object.entries(params).map(([k, v]) => `${k}=${v}`)

const sideFlags = process.env.SIDE_FLAGS ? process.env.SIDE_FLAGS.split(' ').filter(Boolean) : []

function startSide(w, side, params, cpu) {
  const argv = kv(params)
  if (side === 'ceiling') return new Child(`ceiling side ${w.ceiling}`, ceiling.path, ['side', w.ceiling, ...argv], cpu)
  return new Child(
    `${side} side ${w.impl}`,
    process.execPath,
    [...sideFlags, '--expose-gc', path.join(here, 'side.mjs'), w.impl, side, ...argv],
    cpu,
  )
}

function startPeer(w, params, cpu) {
  const kind = w.peer.kind ?? peerKind
  const argv = kv(params)
  if (kind === 'rust') return new Child(`rust peer ${w.peer.mode}`, ceiling.path, ['peer', w.peer.mode, ...argv], cpu)
  return new Child(`node peer ${w.peer.mode}`, process.execPath, [path.join(here, 'peer.mjs'), w.peer.mode, ...argv], cpu)
}

// Kernel counters read around every run (namespace-wide, so other processes count too):
// a listen queue that overflowed means one-second SYN retransmits inside the figure.
const COUNTERS = [
  'TcpExt.ListenOverflows',
  'TcpExt.TCPSynRetrans',
  'Tcp.RetransSegs',
  'Udp.RcvbufErrors',
  'Udp.SndbufErrors',
]
function netCounters() {
  const out = {}
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    let lines
    try {
      lines = readFileSync(file, 'utf8').trim().split('\n')
    } catch {
      continue
    }
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i].split(/\s+/)
      const values = lines[i + 1].split(/\s+/)
      const group = names[0].replace(':', '')
      for (let j = 1; j < names.length; j++) {
        const key = `${group}.${names[j]}`
        if (COUNTERS.includes(key)) out[key] = Number(values[j])
      }
    }
  }
  return out
}
const counterDelta = (before, after) =>
  Object.fromEntries(Object.keys(after).map((k) => [k.split('.')[1], after[k] - (before[k] ?? 0)]))

async function runOnce(w, side) {
  const before = netCounters()
  const result = await runPair(w, side)
  result.kernel = counterDelta(before, netCounters())
  return result
}

async function runPair(w, side) {
  const params = w.params(quick)
  const [sideCpu, peerCpu] = [cpuOf(w.cpus.side), cpuOf(w.cpus.peer)]
  let sideProc = null
  let peerProc = null
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS)
  })
  const wire = () => {
    sideProc.relayInto(peerProc)
    peerProc.relayInto(sideProc)
  }
  try {
    const result = await Promise.race([
      timeout,
      (async () => {
        if (w.peer.first) {
          peerProc = startPeer(w, params, peerCpu)
          const port = await peerProc.expect('port')
          sideProc = startSide(w, side, { ...params, port }, sideCpu)
          wire()
        } else {
          sideProc = startSide(w, side, params, sideCpu)
          const port = await sideProc.expect('port')
          peerProc = startPeer(w, { ...params, port }, peerCpu)
          wire()
          // A peer that fails leaves the side waiting for it: report the peer's failure.
          peerProc.exited.then(() => {
            if (peerProc.exit.code !== 0) sideProc.proc.kill('SIGKILL')
          })
        }
        return sideProc.expect('result').catch((err) => {
          if (peerProc?.exit && peerProc.exit.code !== 0) {
            throw new Error(`${err.message}\n${peerProc.label} failed: ${peerProc.stderr.trim().slice(-2000)}`)
          }
          throw err
        })
      })(),
    ])
    const info = [...(sideProc?.infos ?? []), ...(peerProc?.infos ?? [])]
    return { ...result, ...(info.length && { info: Object.assign({}, ...info) }) }
  } catch (err) {
    return { error: err.message }
  } finally {
    clearTimeout(timer)
    await Promise.all([sideProc?.stop(5000), peerProc?.stop(5000)])
  }
}

// ---- run everything, interleaved round by round
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (x) =>
  !Number.isFinite(x) ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)
const sidesFor = (w) => ['ours', 'node', ...(ceiling.path && w.ceiling !== false ? ['ceiling'] : [])]
const summary = (runs, key) => {
  const xs = runs.map((r) => r[key]).filter((x) => typeof x === 'number' && Number.isFinite(x))
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs, errors: runs.filter((r) => r.error).length }
}
const cellOf = (s, unit) =>
  s && s.runs.length ? `${fmt(s.median)} ${unit} (${fmt(s.min)}-${fmt(s.max)})${s.errors ? ` [${s.errors} failed]` : ''}` : s?.errors ? 'failed' : '-'
const better = (a, b, higherIsBetter) => (higherIsBetter ? a / b : b / a)
const ratioText = (x) => (Number.isFinite(x) && x > 0 ? `${x.toFixed(2)}x` : '-')
const cpusText = (w) => (pinned ? `${cpuOf(w.cpus.side)} / ${cpuOf(w.cpus.peer)}` : 'unpinned')

console.log(`\n${workloads.length} workloads x ${rounds} round(s), sides: ours, node${ceiling.path ? ', ceiling' : ''}\n`)
const failures = []
const rows = []
const records = []
for (const w of workloads) {
  const runs = Object.fromEntries(sidesFor(w).map((s) => [s, []]))
  for (let r = 0; r < rounds; r++) {
    for (const side of sidesFor(w)) {
      const t0 = Date.now()
      const res = await runOnce(w, side)
      res.seconds = (Date.now() - t0) / 1000
      runs[side].push(res)
      if (res.error) failures.push(`${w.id} ${side} round ${r + 1}: ${res.error}`)
      const info = res.info ? ` (peer: ${Object.entries(res.info).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')})` : ''
      const figures = res.error
        ? `FAILED: ${res.error.split('\n')[0]}`
        : w.metrics.map((m) => `${fmt(res[m.key])} ${m.unit}`).join(', ') + info
      const overflows = res.kernel.ListenOverflows ?? 0
      const warn = overflows > 0 ? `  [listen queue overflowed ${overflows}x: SYN retransmits in this run]` : ''
      console.log(`  ${w.id} round ${r + 1} ${side.padEnd(7)} ${figures}${warn}`)
    }
  }
  records.push({
    id: w.id,
    name: w.name,
    impl: w.impl,
    ceiling: w.ceiling,
    params: w.params(quick),
    cpus: { side: cpuOf(w.cpus.side), peer: cpuOf(w.cpus.peer) },
    peer: { mode: w.peer.mode, kind: w.peer.kind ?? peerKind },
    runs,
  })
  for (const m of w.metrics) {
    const higherIsBetter = m.higherIsBetter !== false
    const row = {
      workload: w.id,
      metric: m.key,
      name: m.label ? `${w.name}: ${m.label}` : w.name,
      unit: m.unit,
      higherIsBetter,
      cpus: cpusText(w),
      ours: summary(runs.ours, m.key),
      node: summary(runs.node, m.key),
      ceiling: runs.ceiling ? summary(runs.ceiling, m.key) : null,
    }
    row.ratio = better(row.ours.median, row.node.median, higherIsBetter)
    row.oursVsCeiling =
      row.ceiling && w.ceilingRatio !== false ? better(row.ours.median, row.ceiling.median, higherIsBetter) : null
    rows.push(row)
    console.log(
      `${row.name}: ours ${cellOf(row.ours, m.unit)}, node ${cellOf(row.node, m.unit)}, ${ratioText(row.ratio)}` +
        (row.ceiling ? `; ceiling ${cellOf(row.ceiling, m.unit)}` : ''),
    )
  }
}

// ---- report
const elapsed = (Date.now() - started) / 1000
console.log(
  `\n${rounds} round(s), medians (min-max). ours/node: ours against node:net / node:dgram, >1 is better. ` +
    `ours/ceiling: against plain Rust tokio, 1 = as fast as the ceiling. cpus: measured side / peer.`,
)
console.log('\n| workload | cpus | direct-sockets | node | ours/node | Rust ceiling | ours/ceiling |')
console.log('|---|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.cpus} | ${cellOf(r.ours, r.unit)} | ${cellOf(r.node, r.unit)} | ${ratioText(r.ratio)} | ` +
      `${r.ceiling ? cellOf(r.ceiling, r.unit) : '-'} | ${r.oursVsCeiling === null ? '-' : ratioText(r.oursVsCeiling)} |`,
  )
}
console.log(`\ncommand: ${command}; peers: ${peerKind}; ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`)
for (const note of notes) console.log(`note: ${note}`)

await mkdir(path.join(here, 'results'), { recursive: true })
const out = path.join(here, 'results', `bench-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`)
const report = {
  date: new Date(started).toISOString(),
  command,
  machine,
  pinning: { taskset: hasTaskset, pinned, cpus: pinned ? [cpuOf(0), cpuOf(1)] : null },
  peer: peerKind,
  ceiling,
  rounds,
  quick,
  notes,
  elapsedSeconds: elapsed,
  loadavgAtEnd: loadavg(),
  rows,
  workloads: records,
  failures,
}
await writeFile(out, JSON.stringify(report, null, 2))
console.log(`wrote ${path.relative(process.cwd(), out)} (${elapsed.toFixed(0)} s)`)
if (failures.length || (wantCeiling && !ceiling.built)) {
  console.log(`\n${failures.length} run(s) failed${wantCeiling && !ceiling.built ? '; the Rust ceiling did not build' : ''}:`)
  for (const f of failures) console.log(`  ${f}`)
  process.exitCode = 1
}
