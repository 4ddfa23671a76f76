'use strict'
// Keeping the event loop turning on the data path.
//
// A read with data waiting, a write the kernel takes whole and a UDP send complete at
// once, settling their promises in microtasks. A loop of them (`for await` over a fast
// stream, a send loop, a ping-pong between two of our sockets) would then run entirely in
// microtasks, and timers and every other socket of the process would wait until it
// stops, where node:net and node:dgram go through the event loop for each callback. So
// once such completions have run for BUDGET_MS without a turn of the event loop, the
// next one completes in a later macrotask (setImmediate) instead.
//
// A turn is known to have happened when a readiness notification arrives (lib/wait.js)
// or one of these deferred completions runs: both are macrotasks. Nothing is scheduled
// just to find out (an immediate in every loop iteration cost ~35 µs of CPU per
// connection in the open/close benchmark). Measured: a yield every 10 ms costs a UDP send
// loop nothing measurable. `opened` is not deferred (see docs/RELIABILITY.md, finding 9).

const BUDGET_MS = 10

/** `performance.now()` of the first completion since a turn was last seen; 0: none. */
let since = 0
/** Completions since then; the clock is read only every CHECK_EVERY of them. */
let count = 0
const CHECK_EVERY = 32

/** A macrotask of ours is running: the event loop has turned. */
function turned() {
  since = 0
}

/**
 * Called before completing an operation at once: true when the caller should complete it
 * in a later macrotask instead (see `nextTurn`).
 */
function mustYield() {
  if (since === 0) {
    since = performance.now()
    count = 0
    return false
  }
  if (++count % CHECK_EVERY !== 0) return false
  return performance.now() - since > BUDGET_MS
}

/** A promise that resolves in a later macrotask, after `fn()` (if given) has run. */
function nextTurn(fn) {
  return new Promise((resolve) =>
    setImmediate(() => {
      since = 0
      if (fn) fn()
      resolve()
    }),
  )
}

module.exports = { mustYield, nextTurn, turned }
