// npm run bench: every workload in bench/workloads/*.mjs, ours beside Node's own
// (`node:net` / `node:dgram`) in one run, interleaved round by round.
//
//   node bench/index.mjs [--rounds N] [--quick] [--only substring]
//
// A workload module exports `workloads`: an array of
//   { name, unit, higherIsBetter = true, ours: async (opts) => number, node: async (opts) => number }
// Each function does the work once and returns its figure (MB/s, ops/s, KiB, ...).
// Prints a table of medians (min-max) with the ratio ours/node and writes JSON to bench/results/.

import { readdir, writeFile, mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import os from 'node:os'

const here = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const option = (name, fallback) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback
}
const quick = flag('--quick')
const rounds = Number(option('--rounds', quick ? 1 : 3))
const only = option('--only', '')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))

const files = (await readdir(path.join(here, 'workloads'))).filter((f) => f.endsWith('.mjs')).sort()
const workloads = []
for (const f of files) {
  const mod = await import(path.join(here, 'workloads', f))
  for (const w of mod.workloads) if (!only || w.name.includes(only)) workloads.push(w)
}

const results = []
for (const w of workloads) {
  const ours = []
  const node = []
  for (let r = 0; r < rounds; r++) {
    ours.push(await w.ours({ quick }))
    node.push(await w.node({ quick }))
  }
  const row = {
    name: w.name,
    unit: w.unit,
    higherIsBetter: w.higherIsBetter !== false,
    ours: { median: median(ours), min: Math.min(...ours), max: Math.max(...ours), runs: ours },
    node: { median: median(node), min: Math.min(...node), max: Math.max(...node), runs: node },
  }
  row.ratio = row.higherIsBetter ? row.ours.median / row.node.median : row.node.median / row.ours.median
  results.push(row)
  console.log(
    `${w.name.padEnd(34)} ours ${fmt(row.ours.median)} (${fmt(row.ours.min)}-${fmt(row.ours.max)}) ${w.unit}` +
      `  node ${fmt(row.node.median)} (${fmt(row.node.min)}-${fmt(row.node.max)})  ratio ${row.ratio.toFixed(2)}x`,
  )
}

console.log('\n| workload | direct-sockets | node | ratio (>1 is better) |\n|---|---|---|---|')
for (const r of results) {
  console.log(
    `| ${r.name} | ${fmt(r.ours.median)} ${r.unit} (${fmt(r.ours.min)}-${fmt(r.ours.max)}) | ${fmt(r.node.median)} ${r.unit} (${fmt(r.node.min)}-${fmt(r.node.max)}) | ${r.ratio.toFixed(2)}x |`,
  )
}

await mkdir(path.join(here, 'results'), { recursive: true })
const out = path.join(here, 'results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, mem: os.totalmem(), node: process.version, platform: process.platform }
await writeFile(out, JSON.stringify({ machine, rounds, quick, results }, null, 2))
console.log(`\nwrote ${path.relative(process.cwd(), out)}`)
