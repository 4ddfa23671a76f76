'use strict'
// Keeping the event loop turning.
//
// An operation that completes at once (a read with data waiting, a write the kernel takes
// whole, a UDP send, a loopback connect, a close) settles its promise in a microtask. A
// loop of such operations (`for await` over a fast stream, a send loop, open/close churn)
// would then run entirely in microtasks, and timers and every other socket of the process
// would wait until it stops, where node:net and node:dgram go through the event loop for
// each callback. So once completions have run for BUDGET_MS without the event loop
// turning, the next one completes in a later macrotask (setImmediate) instead.

const BUDGET_MS = 1

/** `performance.now()` of the first completion since the event loop last turned; 0: none. */
let since = 0
const turned = () => {
  since = 0
}

/**
 * Called before completing an operation at once: true when the caller should complete it
 * in a later macrotask instead (see `nextTurn`).
 */
function mustYield() {
  const now = performance.now()
  if (since === 0) {
    since = now
    setImmediate(turned)
    return false
  }
  return now - since > BUDGET_MS
}

/** A promise that resolves in a later macrotask, after `fn()` (if given) has run. */
function nextTurn(fn) {
  return new Promise((resolve) =>
    setImmediate(() => {
      if (fn) fn()
      resolve()
    }),
  )
}

/** Runs `fn` now, or in a later macrotask when completions have run too long (`mustYield`). */
function soon(fn) {
  if (mustYield()) setImmediate(fn)
  else fn()
}

module.exports = { mustYield, nextTurn, soon }
