'use strict'
// Waiting for a socket to become ready, for every socket of this thread.
//
// A sync call that would block arms its socket with a fresh token (src/notify.rs); when
// tokio's driver sees the socket ready, the native Notifier calls back here with that
// token and the waiter resolves `true`. Closing a socket resolves its waiters `false`.
// While any wait is pending a ref'd timer keeps the event loop alive, as a pending read
// on a `node:net` socket does; otherwise nothing does.

const { Notifier } = require('../binding.js')
const { fromNative } = require('./errors')
const turns = require('./turns')
const { setInterval, setTimeout, now, listOfOne } = require('./primordials')

const waiters = new Map()
let nextToken = 1
let keepAlive = null

const notifier = new Notifier((token) => settle(token, true))

/** Every wait keeps the event loop alive (a no-op but the first time since `release`). */
function hold() {
  if (keepAlive === null) keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  keepAlive.ref()
}

function release() {
  if (waiters.size === 0 && keepAlive !== null) keepAlive.unref()
}

function settle(token, value) {
  const waiter = waiters.get(token)
  if (waiter === undefined) return
  waiters.delete(token)
  release()
  if (typeof waiter === 'function') waiter(value)
  else waiter.onReady(value)
}

/**
 * A write wait registers a duplicate descriptor (src/notify.rs, `Watch`). At the
 * descriptor limit that `dup` fails (EMFILE / ENFILE), which says nothing about the
 * connection: such a wait polls instead, every POLL_MS, until descriptors free up.
 */
const POLL_MS = 5

function noDescriptorForWait(error) {
  const cause = error?.cause
  return cause?.syscall === 'dup' && (cause.code === 'EMFILE' || cause.code === 'ENFILE')
}

/**
 * Arms `socket` for reading (`writable` false) or writing with the native
 * `armFn(socket, notifier, token, writable)`. Returns `true` when it is ready already, or
 * `{ token, promise }`: the promise resolves `true` once ready, or `false` if
 * `cancel(token)` runs first. Throws the native error if the socket failed.
 */
function arm(armFn, socket, writable) {
  const token = armNative(armFn, socket, writable)
  if (token === 0) return true
  const promise = new Promise((resolve) => wait(token, resolve))
  return { token, promise }
}

/**
 * As `arm`, without a promise (an idle socket's pending read holds less): returns 0 when
 * the socket is ready already, or the wait's token, and `target.onReady(ready)` runs later
 * with `true` once ready, or `false` if `cancel(token)` runs first.
 */
function armFor(armFn, socket, writable, target) {
  const token = armNative(armFn, socket, writable)
  if (token !== 0) wait(token, target)
  return token
}

/** Arms the socket under a fresh token; 0 if it is ready already. */
function armNative(armFn, socket, writable) {
  const token = nextToken
  nextToken = nextToken >= 0xffffffff ? 1 : nextToken + 1
  let ready
  try {
    ready = armFn(socket, notifier, token, writable)
  } catch (err) {
    if (!writable || !noDescriptorForWait(fromNative(err))) throw err
    // Try the write again in a moment (cancel still ends the wait at once).
    setTimeout(() => settle(token, true), POLL_MS)
    ready = false
  }
  return ready ? 0 : token
}

/** `waiter`: a function or an object with `onReady`, called with the wait's outcome. */
function wait(token, waiter) {
  hold()
  waiters.set(token, waiter)
}

// DIRECT_SOCKETS_BUSY_POLL=0 turns off the short busy-poll for replies (src/spin.rs).
const busyPoll = process.env.DIRECT_SOCKETS_BUSY_POLL !== '0'

/** The socket (its number: see maySpin) whose read came last on this thread. */
let lastReader = 0
/**
 * The socket whose read maySpin() refused only because another socket had read just
 * before (see putOff), or NOBODY. (A number either way, and both tests of putOff made on
 * every call: an operation first reached once the code was optimized, a comparison with
 * no feedback yet, threw that code away in the middle of a benchmark. So too in busy()
 * and hold().)
 */
const NOBODY = -1
let company = NOBODY
/**
 * Reads are being retried at the end of a turn (see retryDeferred). (A flag of its own:
 * a test of the time below against 0 was compiled for the integer 0 it first met, and the
 * first time met there threw that code away.)
 */
let retrying = false
/** Until when those reads may poll. */
let retryPollsUntil = 0
/**
 * How long the reads retried at the end of one turn may poll in all: each for up to
 * 100 µs while replies keep coming, but timers and other I/O wait meanwhile.
 */
const RETRY_POLL_BUDGET_MS = 5

/**
 * May a read of socket `reader` (a number of its own: a TCP socket's core, a UDP socket's
 * serial) that would block poll briefly for a reply? Only while no socket of this thread
 * waits for readiness (so nobody else's data is delayed), unless turned off, and only when
 * the read before it on this thread was this socket's too. With several conversations
 * going on at once (many connections each writing and then reading in the same turn), one
 * socket's poll held up the writes and reads behind it, and the replies came one poll at a
 * time: 500 connections doing round trips this way ran at half the rate. Such a read is
 * put off to the end of the turn instead (`putOff`), when every write of the turn has gone
 * out, and the reads retried there may poll, one after another, until one finds nothing
 * (and arms) or RETRY_POLL_BUDGET_MS have passed.
 */
function maySpin(reader) {
  const alone = lastReader === reader
  lastReader = reader
  company = NOBODY
  if (!busyPoll) return false
  if (retrying) return waiters.size === 0 && now() < retryPollsUntil
  if (busy()) return false
  if (!alone) company = reader
  return alone
}

/**
 * Should a read of socket `reader` that would block be tried again at the end of this
 * turn rather than armed now? When other reads wait (see `deferred`), or when the last
 * maySpin() refused it only because another socket had read just before it.
 */
function putOff(reader) {
  const after = company === reader
  return busy() || after
}

/**
 * Reads that would block while other waits are pending (a busy thread: many connections),
 * or right after another socket's read (see maySpin), are not armed at once. Armed, a
 * socket wakes tokio's driver thread the moment its data comes, and that thread hands it
 * to this one: two context switches per message, while this thread is busy with other
 * sockets anyway. Instead the read is tried once more at the end of this turn of the
 * event loop (after every notification of the turn has been handled), when the data has
 * often come, and armed only if it still would block; as node:net's single epoll loop
 * gets many sockets' data from one wait.
 */
let deferred = listOfOne()
/**
 * The list retryDeferred took last (emptied): the next turn's `deferred`. (Both lists of
 * objects from the start: lib/primordials.js, listOfOne.)
 */
let retried = listOfOne()

/** `#readWait` of a socket whose read waits for the end of the turn (`deferRead`). */
const DEFERRED = -1

/** Is this thread busy, with other reads or writes waiting? */
function busy() {
  return (waiters.size | deferred.length) !== 0
}

/** `target.retryRead()` runs at the end of this turn (see `deferred`). */
function deferRead(target) {
  if (deferred.length === 0) turns.nextTurn(retryDeferred)
  deferred.push(target)
}

function retryDeferred() {
  const targets = deferred
  deferred = retried
  retried = targets
  // Every write of the turn has gone out: each read may poll for its reply, until one
  // finds nothing or the budget is spent (maySpin).
  retryPollsUntil = now() + RETRY_POLL_BUDGET_MS
  retrying = true
  let error = null
  for (let i = 0; i < targets.length; i++) {
    // One retry that throws (a bug) must not leave the others waiting forever.
    try {
      targets[i].retryRead()
    } catch (err) {
      error ??= err
    }
  }
  retrying = false
  targets.length = 0
  if (error !== null) throw error
}

/** Resolves the waiter of `token` (if any) with `false`. */
function cancel(token) {
  settle(token, false)
}

/** `armFn` for a native class with `armReadable` / `armWritable` methods. */
function armHandle(handle, notifier, token, writable) {
  return writable ? handle.armWritable(notifier, token) : handle.armReadable(notifier, token)
}

module.exports = { DEFERRED, arm, armFor, armHandle, busy, cancel, deferRead, maySpin, putOff }
