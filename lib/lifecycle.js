'use strict'
// The `opened` / `closed` / `close()` bookkeeping every socket class shares (spec 1.4-1.6,
// 2.4-2.6, 4.3-4.5), in one place.

const { invalidState } = require('./errors')

class Lifecycle {
  #className
  #state = 'pending' // 'pending' | 'resolved' | 'rejected'
  #closedSettled = false
  #resolveOpened
  #rejectOpened
  #resolveClosed
  #rejectClosed
  #info = null
  #abortWritable = null

  constructor(className) {
    this.#className = className
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve
      this.#rejectOpened = reject
    })
    this.closed = new Promise((resolve, reject) => {
      this.#resolveClosed = resolve
      this.#rejectClosed = reject
    })
    // Nobody has to listen to these: a failure must not become an unhandled rejection.
    this.opened.catch(() => {})
    this.closed.catch(() => {})
  }

  /**
   * `opened` resolves with `info`, whose `readable` (and `writable`) `close()` acts on;
   * `abortWritable()` is close()'s "abort the writable" (the socket's `abortForClose`).
   */
  open(info, abortWritable = null) {
    this.#state = 'resolved'
    this.#info = info
    this.#abortWritable = abortWritable
    this.#resolveOpened(info)
  }

  /** Opening failed: `opened` and `closed` reject with `error`. */
  fail(error) {
    this.#state = 'rejected'
    this.#rejectOpened(error)
    this.settleClosed(error)
  }

  /** Resolves `closed` (no error) or rejects it; only the first call counts. */
  settleClosed(error) {
    if (this.#closedSettled) return
    this.#closedSettled = true
    if (error === undefined) this.#resolveClosed()
    else this.#rejectClosed(error)
  }

  /** The spec's close() steps: cancel the readable, abort the writable, return `closed`. */
  close() {
    if (this.#state !== 'resolved') {
      return Promise.reject(invalidState(`close() called on a ${this.#className} that is not open.`))
    }
    if (this.#closedSettled) return this.closed
    const { readable, writable } = this.#info
    if (readable.locked || (writable !== undefined && writable.locked)) {
      return Promise.reject(invalidState(`close() called on a ${this.#className} while a stream is locked.`))
    }
    readable.cancel().catch(() => {})
    if (writable !== undefined) this.#abortWritable()
    return this.closed
  }
}

/**
 * The readable and writable of one socket: calls `onBoth(error)` once both have ended
 * (closed or errored), with the spec's precedence: the error of the stream that ended
 * first wins (spec 1.2 / 1.3 / 2.2 / 2.3, "handle closing the ... stream").
 *
 * Once a write has failed, `onBoth` runs in a later task: the spec rejects the write,
 * then closing queues a task that settles `closed`, and Node rejects the write a few
 * microtasks after the sink throws. Otherwise it runs at once (a macrotask on every close
 * costs ~30 µs of CPU per connection).
 */
class StreamEnds {
  #onBoth
  #readable = { open: true, error: undefined }
  #writable = { open: true, error: undefined }
  #writeFailed = false

  constructor(onBoth) {
    this.#onBoth = onBoth
  }

  get readableOpen() {
    return this.#readable.open
  }

  get writableOpen() {
    return this.#writable.open
  }

  /** The readable closed (`error` undefined) or errored. */
  readableEnded(error) {
    this.#ended(this.#readable, this.#writable, error)
  }

  /** The writable closed (`error` undefined) or errored. */
  writableEnded(error) {
    this.#ended(this.#writable, this.#readable, error)
  }

  /** A write failed with `error`, which errors the writable. */
  writeFailed(error) {
    this.#writeFailed = true
    this.writableEnded(error)
  }

  #ended(self, other, error) {
    if (!self.open) return
    self.open = false
    self.error = error
    if (other.open) return
    const first = other.error !== undefined ? other.error : self.error
    if (this.#writeFailed) setImmediate(() => this.#onBoth(first))
    else this.#onBoth(first)
  }
}

/**
 * close()'s "abort the writable" (spec 1.6, 2.6), done as the stream's own error with no
 * reason: the same end state as `writable.abort()` (errored, no stored error) without
 * Node's AbortSignal and its `abort` event, which cost ~60 µs of every close. The
 * writable's abort algorithm is the socket's `abortSteps()`; as for an abort, it runs once
 * the write in flight (`pending`, or null) has settled, and `stopWrite()` makes that write
 * stop waiting (it then rejects with AbortError). Node settles the in-flight write a few
 * microtask turns after the sink's promise does: the abort steps run after those
 * (setImmediate), so that the write's rejection comes before `closed`.
 */
function abortWritableForClose(controller, pending, stopWrite, abortSteps) {
  controller.error(undefined)
  if (pending === null) {
    abortSteps()
    return
  }
  stopWrite()
  const abort = () => setImmediate(abortSteps)
  pending.then(abort, abort)
}

module.exports = { Lifecycle, StreamEnds, abortWritableForClose }
