'use strict'
// The `opened` / `closed` / `close()` bookkeeping every socket class shares (spec 1.4-1.6,
// 2.4-2.6, 4.3-4.5), in one place.

const { invalidState } = require('./errors')
const { then, handled } = require('./primordials')

// The sockets' queuing strategies, shared: a readable pulls only for a waiting read; a
// writable takes one chunk at a time.
const PULL_ON_READ = Object.freeze({ highWaterMark: 0 })
const ONE_WRITE = Object.freeze({ highWaterMark: 1 })

/** The symbol `util.inspect` calls (the classes show their state, not `{}`). */
const INSPECT = Symbol.for('nodejs.util.inspect.custom')
const ADDRESS_KEYS = ['remoteAddress', 'remotePort', 'localAddress', 'localPort']

/**
 * `closed` is made on first use (most sockets are closed without anyone asking for it): a
 * pending promise, its resolvers and the handler that keeps its rejection handled cost
 * every idle socket ~0.4 KiB. Made after the socket has closed, it is made settled.
 */
class Lifecycle {
  #className
  #state = 'pending' // 'pending' | 'resolved' | 'rejected'
  #closedSettled = false
  #closedError = undefined
  #closed = null
  #resolveOpened
  #rejectOpened
  #resolveClosed = null
  #rejectClosed = null
  #info = null
  #connection = null

  constructor(className) {
    this.#className = className
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve
      this.#rejectOpened = reject
    })
    // Nobody has to listen to these: a failure must not become an unhandled rejection.
    handled(this.opened)
  }

  /** The `closed` promise: the same one every time. */
  get closed() {
    if (this.#closed !== null) return this.#closed
    if (!this.#closedSettled) {
      this.#closed = new Promise((resolve, reject) => {
        this.#resolveClosed = resolve
        this.#rejectClosed = reject
      })
    } else if (this.#closedError === undefined) {
      this.#closed = Promise.resolve()
    } else {
      this.#closed = Promise.reject(this.#closedError)
    }
    handled(this.#closed)
    return this.#closed
  }

  /**
   * `opened` resolves with `info`, whose `readable` (and `writable`) `close()` acts on;
   * with a writable, `connection.abortForClose()` is close()'s "abort the writable".
   */
  open(info, connection = null) {
    this.#state = 'resolved'
    this.#info = info
    this.#connection = connection
    this.#resolveOpened(info)
    this.#resolveOpened = this.#rejectOpened = null
  }

  /** Opening failed: `opened` and `closed` reject with `error`. */
  fail(error) {
    this.#state = 'rejected'
    this.#rejectOpened(error)
    this.#resolveOpened = this.#rejectOpened = null
    this.settleClosed(error)
  }

  /** Resolves `closed` (no error) or rejects it; only the first call counts. */
  settleClosed(error) {
    if (this.#closedSettled) return
    this.#closedSettled = true
    if (this.#closed === null) {
      this.#closedError = error
      return
    }
    if (error === undefined) this.#resolveClosed()
    else this.#rejectClosed(error)
    this.#resolveClosed = this.#rejectClosed = null
  }

  /**
   * What `util.inspect` shows of a socket: its state ('opening', 'open', 'closed' or
   * 'failed') and, once open, its addresses. Reading it creates nothing (`closed` stays
   * unmade).
   */
  inspect(depth, options, inspect) {
    let state = 'open'
    if (this.#state === 'pending') state = 'opening'
    else if (this.#state === 'rejected') state = 'failed'
    else if (this.#closedSettled) state = 'closed'
    const view = { state }
    const info = this.#info
    if (info !== null) {
      for (const key of ADDRESS_KEYS) if (info[key] !== undefined) view[key] = info[key]
    }
    return `${this.#className} ${inspect(view, { ...options, depth: depth === null ? null : depth - 1 })}`
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
    handled(readable.cancel())
    if (writable !== undefined) this.#connection.abortForClose()
    return this.closed
  }
}

/**
 * The readable and writable of one socket: calls `owner.bothEnded(error)` once both have ended
 * (closed or errored), with the spec's precedence: the error of the stream that ended
 * first wins (spec 1.2 / 1.3 / 2.2 / 2.3, "handle closing the ... stream").
 *
 * The spec settles `closed` in a task queued by those steps, after the stream operation
 * that ended the stream has settled its own promise. Node settles a readable's cancel and
 * a writable's close, abort or failed write a few microtasks after the source or sink
 * returns, so when one of those (`later`) ends the second stream, and always once a write
 * has failed, `bothEnded` runs in a later task. Otherwise it runs at once: a readable's
 * close and error settle their promises before our steps run, and close() (which cancels
 * first, then ends the writable itself) leaves no reader or writer to observe the order (a
 * macrotask on every close() costs ~30 µs of CPU per connection).
 */
class StreamEnds {
  #owner
  #readableOpen = true
  #writableOpen = true
  /** The error of the stream that ended first (undefined: it closed cleanly). */
  #firstError = undefined
  #writeFailed = false

  constructor(owner) {
    this.#owner = owner
  }

  get readableOpen() {
    return this.#readableOpen
  }

  get writableOpen() {
    return this.#writableOpen
  }

  /**
   * The readable closed (`error` undefined) or errored; `later`: by its cancel algorithm,
   * whose promise Node settles after we return.
   */
  readableEnded(error, later = false) {
    if (!this.#readableOpen) return
    this.#readableOpen = false
    this.#ended(this.#writableOpen, error, later)
  }

  /**
   * The writable closed (`error` undefined) or errored; `later`: by the writable's own
   * close or abort algorithm, whose promise Node settles after we return.
   */
  writableEnded(error, later = false) {
    if (!this.#writableOpen) return
    this.#writableOpen = false
    this.#ended(this.#readableOpen, error, later)
  }

  /** A write failed with `error`, which errors the writable. */
  writeFailed(error) {
    this.#writeFailed = true
    this.writableEnded(error, true)
  }

  #ended(otherOpen, error, later) {
    if (otherOpen) {
      this.#firstError = error
      return
    }
    const first = this.#firstError !== undefined ? this.#firstError : error
    if (later || this.#writeFailed) setImmediate(() => this.#owner.bothEnded(first))
    else this.#owner.bothEnded(first)
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
  then(pending, abort, abort)
}

/**
 * A socket's underlying source and sink: small objects whose methods live on a prototype
 * (not arrow functions made per socket), so an idle socket holds fewer closures. They
 * call the socket's stream steps: `readStarted(c)`, `pullReadable(c)`, `cancelReadable()`,
 * `readReady(ready)` (the end of a read wait, lib/wait.js `armFor`), and `writeStarted(c)`,
 * `writeChunk(chunk, c)`, `closeWritable()`, `abortWritable()`.
 */
class Source {
  constructor(socket) {
    this.socket = socket
  }

  start(c) {
    this.socket.readStarted(c)
  }

  pull(c) {
    return this.socket.pullReadable(c)
  }

  cancel() {
    this.socket.cancelReadable()
  }

  onReady(ready) {
    this.socket.readReady(ready)
  }
}

/** A `Source` for a readable byte stream. */
class ByteSource extends Source {
  get type() {
    return 'bytes'
  }
}

class Sink {
  constructor(socket) {
    this.socket = socket
  }

  start(c) {
    this.socket.writeStarted(c)
  }

  write(chunk, c) {
    return this.socket.writeChunk(chunk, c)
  }

  close() {
    this.socket.closeWritable()
  }

  abort() {
    this.socket.abortWritable()
  }
}

module.exports = {
  INSPECT,
  Lifecycle,
  StreamEnds,
  abortWritableForClose,
  Source,
  ByteSource,
  Sink,
  PULL_ON_READ,
  ONE_WRITE,
}
