// Helpers for tests that run a fixture in a child process (for `ulimit -n`, `--expose-gc`,
// or simply so that a crash, a hang or a leak cannot take the test runner with it).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { within } from './helpers.mjs'

export const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

/**
 * Runs `node [nodeArgs] script args` (through `bash -c 'ulimit -n N; exec node ...'` when
 * `ulimit` is given) and resolves `{ code, signal, stdout, stderr, ms }` once it exits and
 * its output is closed; kills it and rejects after `timeoutMs`.
 */
export function runChild(script, args = [], { timeoutMs = 30_000, ulimit, nodeArgs = ['--expose-gc'], env } = {}) {
  const argv = [...nodeArgs, script, ...args.map(String)]
  const child =
    ulimit === undefined
      ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
      : spawn('bash', ['-c', `ulimit -n ${Number(ulimit)} && exec "$0" "$@"`, process.execPath, ...argv], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: env ?? process.env,
        })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const started = Date.now()
  return within(
    once(child, 'close').then(([code, signal]) => ({ code, signal, stdout, stderr, ms: Date.now() - started })),
    timeoutMs,
    `child ${script}`,
  ).catch((err) => {
    child.kill('SIGKILL')
    throw err
  })
}

/** The last line of a child's stdout that parses as JSON (fixtures report that way). */
export function lastJson(stdout) {
  const lines = stdout.trim().split('\n').reverse()
  for (const line of lines) {
    try {
      return JSON.parse(line)
    } catch {}
  }
  throw new Error(`no JSON line in the child's output: ${stdout.slice(-500)}`)
}
