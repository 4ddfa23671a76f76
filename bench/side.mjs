// One measured side of one workload, in a fresh process (the runner starts it pinned to its
// CPU, with --expose-gc):
//
//   node --expose-gc bench/side.mjs <impl> ours|node key=value...
//
// Runs `impls[impl][side]` from bench/workloads/*.mjs and prints {"result": {...}}. Only
// the `ours` side loads direct-sockets, so a node:net run carries none of its threads or
// memory.
import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'
import { parseParams, emit, nextLine, settle, sleep } from './proc.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const [implName, side, ...rest] = process.argv.slice(2)
const p = parseParams(rest)

const impls = {}
for (const f of (await readdir(path.join(here, 'workloads'))).filter((f) => f.endsWith('.mjs'))) {
  Object.assign(impls, (await import(pathToFileURL(path.join(here, 'workloads', f)))).impls)
}
const run = impls[implName]?.[side]
if (!run) {
  console.error(`side.mjs: no '${side}' side for '${implName}'`)
  process.exit(2)
}

const lib = side === 'ours' ? await import(pathToFileURL(path.join(here, '..', 'index.js'))) : null
try {
  const result = await run({ lib, p, port: p.port, emit, nextLine, settle, sleep })
  emit({ result })
  process.exit(0)
} catch (err) {
  console.error(err?.stack ?? err)
  process.exit(1)
}
