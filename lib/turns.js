'use strict'
// Keeping the event loop turning on the data path.
//
// A read with data waiting, a write the kernel takes whole and a UDP send complete at
// once, settling their promises in microtasks. A loop of them (`for await` over a fast
// stream, a send loop, a ping-pong between two of our sockets) would then run entirely in
// microtasks, and timers and every other socket of the process would wait until it
// stops, where node:net and node:dgram go through the event loop for each callback. So
// once such completions have run for BUDGET_MS without a turn of the event loop, the
// next one completes in a later macrotask (setImmediate) instead (a TCP write that the
// kernel takes whole, once they have run for twice that: `writeMustYield`).
//
// A turn is known to have happened when our one immediate per turn runs (`nextTurn`;
// these deferred completions and lib/wait.js's end-of-turn retry of deferred reads share
// it): the check phase comes after the timers phase. Readiness notifications are not
// turns: one poll phase runs up to a thousand of them back to back. Nothing is scheduled
// just to find out (an immediate in every loop iteration cost ~35 µs of CPU per
// connection in the open/close benchmark). Measured: a yield every 10 ms costs a UDP
// send loop nothing measurable. Connects done at once (`opened`) and accepts found ready
// defer the same way (docs/RELIABILITY.md, finding 9).

const { then, now, setImmediate } = require('./primordials')

const BUDGET_MS = 10

// Captured at load (lib/primordials.js): code that runs later and replaces it cannot hold
// completions back.
const later = setImmediate

/** `performance.now()` of the first completion since a turn was last seen; 0: none. */
let since = 0
/** Completions since then; the clock is read only every CHECK_EVERY of them. */
let count = 0
const CHECK_EVERY = 32

/**
 * How far past the budget completions have run without a turn, as last seen: 0 within
 * it, 1 past BUDGET_MS, 2 past twice that. Past it, every completion waits for a turn
 * (not just every CHECK_EVERY-th, which let many loops at once run on for hundreds of
 * ms); a TCP write only past twice that (see `writeMustYield`).
 */
let overdue = 0

/** A macrotask of ours is running: the event loop has turned. */
function turned() {
  since = 0
  overdue = 0
}

/** Counts a completion and answers `overdue`, reading the clock every CHECK_EVERY calls. */
function pastBudget() {
  if (overdue === 2) return 2
  if (since === 0) {
    since = now()
    count = 0
    return 0
  }
  if (++count % CHECK_EVERY !== 0) return overdue
  const elapsed = now() - since
  overdue = elapsed > 2 * BUDGET_MS ? 2 : elapsed > BUDGET_MS ? 1 : 0
  return overdue
}

/**
 * Called before completing an operation at once: true when the caller should complete it
 * in a later macrotask instead (see `nextTurn`).
 */
function mustYield() {
  return pastBudget() !== 0
}

/**
 * As `mustYield`, for a TCP write the kernel took whole: true only past twice the budget.
 * In a conversation the read that follows the write waits for the turn, and cheaply (as a
 * read that found nothing), where a write that waits goes through the stream's own steps
 * and settles through a promise more: with 500 connections each writing and then reading,
 * a quarter of the writes went that way, against about 5 % of the rate. A loop of writes
 * alone still waits for a turn, after 20 ms rather than 10.
 */
function writeMustYield() {
  return pastBudget() === 2
}

/** The promise of `nextTurn` for the coming turn of the event loop; null: none yet. */
let turn = null

/**
 * A promise that resolves in the next macrotask, after `fn()` (if given) has run, with what
 * it returned (a promise it returned is followed). Everything that asks before then shares
 * one immediate: with an immediate each, the check phase would run them one after
 * another, each resetting the budget, and timers would wait for them all.
 */
function nextTurn(fn) {
  if (turn === null) {
    turn = new Promise((resolve) =>
      later(() => {
        turn = null
        turned()
        resolve()
      }),
    )
  }
  return fn ? then(turn, fn) : turn
}

module.exports = { mustYield, writeMustYield, nextTurn }
