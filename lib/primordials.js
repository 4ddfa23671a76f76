'use strict'
// Built-ins captured when the module loads, for the paths that carry native sockets and
// settle `opened` / `closed`: code that runs later and replaces `Promise.prototype.then`
// (or `Reflect.apply`, `queueMicrotask`) cannot see or hold back what passes through them.

const { apply } = Reflect
const promiseThen = Promise.prototype.then
const enqueueMicrotask = globalThis.queueMicrotask

/** `promise.then(onFulfilled, onRejected)` with the original `then`. */
const then = (promise, onFulfilled, onRejected) => apply(promiseThen, promise, [onFulfilled, onRejected])

/** Marks `promise` handled (a rejection nobody awaits is not an unhandled rejection). */
const noop = () => {}
const handled = (promise) => {
  apply(promiseThen, promise, [undefined, noop])
}

/** Runs `fn` in a microtask. */
const microtask = (fn) => apply(enqueueMicrotask, globalThis, [fn])

module.exports = { then, handled, microtask }
