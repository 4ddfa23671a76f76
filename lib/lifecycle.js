'use strict'
// The `opened` / `closed` / `close()` bookkeeping every socket class shares (spec 1.4-1.6,
// 2.4-2.6, 4.3-4.5), in one place.

const { invalidState } = require('./errors')
const { newWritableStream, sizeAllOne, buildWritable, BUILT_WRITABLES } = require('./streams')
const { then, handled, microtask, setImmediate } = require('./primordials')

// The sockets' queuing strategies, shared: a readable pulls only for a waiting read; a
// writable queues one chunk behind the one being written (UDP's more: lib/udp.js).
const PULL_ON_READ = Object.freeze({ highWaterMark: 0 })

/**
 * A writable's highWaterMark (the spec leaves it to the implementation), counted in chunks:
 * one write in flight and one more queued behind it. With 1, every write (even one awaited
 * before the next) made `desiredSize` 0 until the sink finished it, so Node replaced
 * `writer.ready` with a new pending promise on every write, and a loop that waits for
 * `ready` when `desiredSize <= 0` awaited once per write: 9 % of the garbage of a small
 * round trip, 3-5 % of its CPU (README, "Why it is fast"). The queue stays as short as a
 * backpressure-respecting writer needs.
 */
const WRITABLE_HIGH_WATER_MARK = 2

/** The symbol `util.inspect` calls (the classes show their state, not `{}`). */
const INSPECT = Symbol.for('nodejs.util.inspect.custom')
const ADDRESS_KEYS = ['remoteAddress', 'remotePort', 'localAddress', 'localPort']

/**
 * `closed` is made on first use (most sockets are closed without anyone asking for it): a
 * pending promise, its resolvers and the handler that keeps its rejection handled cost
 * every idle socket ~0.4 KiB. Made after the socket has closed, it is made settled.
 * `opened` too: a client's is asked for at once (and made pending), an accepted socket's
 * only once it is open (and made resolved, without resolvers).
 */
class Lifecycle {
  #className
  #state = 'pending' // 'pending' | 'resolved' | 'rejected'
  #closedSettled = false
  #closedError = undefined
  #closed = null
  #opened = null
  #resolveOpened = null
  #rejectOpened = null
  #resolveClosed = null
  #rejectClosed = null
  /** Once resolved, what `opened` resolves with; once rejected, the error. */
  #info = null
  #connection = null

  constructor(className) {
    this.#className = className
  }

  /** The `opened` promise: the same one every time. */
  get opened() {
    if (this.#opened !== null) return this.#opened
    if (this.#state === 'pending') {
      this.#opened = new Promise((resolve, reject) => {
        this.#resolveOpened = resolve
        this.#rejectOpened = reject
      })
    } else if (this.#state === 'resolved') {
      this.#opened = Promise.resolve(this.#info)
      return this.#opened
    } else {
      this.#opened = Promise.reject(this.#info)
    }
    // Nobody has to listen to these: a failure must not become an unhandled rejection.
    handled(this.#opened)
    return this.#opened
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
   * `opened` resolves with `info`. close() acts on `connection` (its `locked` and
   * `closeStreams()`: cancel the readable, abort the writable), or without one (a server)
   * on `info.readable`.
   */
  open(info, connection = null) {
    this.#state = 'resolved'
    this.#info = info
    this.#connection = connection
    if (this.#resolveOpened !== null) {
      this.#resolveOpened(info)
      this.#resolveOpened = this.#rejectOpened = null
    }
  }

  /** Opening failed: `opened` and `closed` reject with `error`. */
  fail(error) {
    this.#state = 'rejected'
    this.#info = error
    if (this.#rejectOpened !== null) {
      this.#rejectOpened(error)
      this.#resolveOpened = this.#rejectOpened = null
    }
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
    if (this.#state === 'resolved') {
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
    const connection = this.#connection
    const locked = connection !== null ? connection.locked : this.#info.readable.locked
    if (locked) {
      return Promise.reject(invalidState(`close() called on a ${this.#className} while a stream is locked.`))
    }
    if (connection !== null) connection.closeStreams()
    else handled(this.#info.readable.cancel())
    return this.closed
  }
}

// ---- Streams made on first use.
//
// An open socket's `readable` and `writable` cost ~2-4 KiB of heap each, and Node makes a
// C++ object for each (makeTransferable): most of an idle connection's memory, and of the
// time to open and accept one. The open info's `readable` and `writable` are therefore
// enumerable accessors that make the stream when first read (the same one every time);
// assigning one makes it a plain data property. They stay accessors once read: redefining
// them turns the object into a dictionary (~0.4 KiB more per socket, and slower to read).
// A socket closed before anyone asked for a stream makes none; one made later starts in
// the state close() leaves it in (see `LazyStreams`).

/** A base class whose constructor returns its argument, so that a subclass can stamp it. */
class Stamp {
  constructor(target) {
    return target
  }
}

/**
 * Links an open info dictionary to its connection through a private field: invisible to
 * `Object.keys`, spread, JSON and `util.inspect`, unlike a symbol or a closure per key.
 */
class LinkedInfo extends Stamp {
  #connection
  constructor(info, connection) {
    super(info)
    this.#connection = connection
  }

  static connectionOf(object) {
    return typeof object === 'object' && object !== null && #connection in object ? object.#connection : null
  }
}

function streamAccessor(key) {
  return {
    enumerable: true,
    configurable: true,
    get() {
      const connection = LinkedInfo.connectionOf(this)
      return connection === null ? undefined : connection[key]
    },
    set(value) {
      Reflect.defineProperty(this, key, { value, writable: true, enumerable: true, configurable: true })
    },
  }
}
const STREAM_ACCESSORS = { readable: streamAccessor('readable'), writable: streamAccessor('writable') }

/**
 * Starts an open info dictionary of `connection`: `info` holds the members before
 * `readable`; add the rest in order, the streams with `addStream`. (Adding accessors as
 * new properties keeps V8's fast object shapes: redefining existing ones is ~4x slower.)
 */
function linkInfo(info, connection) {
  new LinkedInfo(info, connection)
  return info
}

/** Adds `info`'s `key` ('readable' or 'writable'), made on first use. */
function addStream(info, key) {
  Object.defineProperty(info, key, STREAM_ACCESSORS[key])
}

/**
 * The ends of a socket's readable and writable (the base of LazyStreams, so of every
 * connection: one object less per socket): calls `this.bothEnded(error)` once both have
 * ended (closed or errored), with the spec's precedence: the error of the stream that
 * ended first wins (spec 1.2 / 1.3 / 2.2 / 2.3, "handle closing the ... stream"), and
 * `this.writableEndedFirst()` (if the subclass has one) when the writable ends while the
 * readable is open.
 *
 * The spec settles `closed` in a task queued by those steps, after the stream operation
 * that ended the stream has settled its own promise. Node settles a readable's cancel and
 * a writable's close, abort or failed write a few microtasks after the source or sink
 * returns, so when one of those (`later`) ends the second stream, and always once a write
 * has failed, `bothEnded` runs in a later task. So does every end of the readable: its
 * cancel, as above, and the end the socket brings (the peer's FIN, a read error), where a
 * read made when it had come already (data and FIN there before the read, a read answered
 * in read() itself: lib/streams.js) settles in that call, before its caller can attach
 * anything to it, and `closed` must settle after it. Otherwise it runs at once: close()
 * (which cancels first, then ends the writable itself) leaves no reader or writer to
 * observe the order (a macrotask on every close() costs ~30 µs of CPU per connection).
 */
class StreamEnds {
  #readableOpen = true
  #writableOpen = true
  /** The error of the stream that ended first (undefined: it closed cleanly). */
  #firstError = undefined
  #writeFailed = false

  get readableOpen() {
    return this.#readableOpen
  }

  get writableOpen() {
    return this.#writableOpen
  }

  /** The readable closed (`error` undefined) or errored: `closed` settles in a later task. */
  readableEnded(error) {
    if (!this.#readableOpen) return
    this.#readableOpen = false
    this.#ended(this.#writableOpen, error, true)
  }

  /**
   * The writable closed (`error` undefined) or errored; `later`: by the writable's own
   * close or abort algorithm, whose promise Node settles after we return.
   */
  writableEnded(error, later = false) {
    if (!this.#writableOpen) return
    this.#writableOpen = false
    this.#ended(this.#readableOpen, error, later)
    if (this.#readableOpen) this.writableEndedFirst?.()
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
    if (later || this.#writeFailed) setImmediate(() => this.bothEnded(first))
    else this.bothEnded(first)
  }
}

/**
 * The base of a socket's connection (TcpConnection, UdpConnection): its two streams, each
 * made on first use, the readable by the subclass's `makeReadable()`, the writable here
 * (its sink: `Sink`, which calls the subclass's `writeStarted`, `writeChunk`, `copyChunk`,
 * `closeWritable`, `abortWritable`). A stream made after its side ended (close() came
 * first) starts closed (the readable, as a cancelled one is) or errored with no reason (the
 * writable, as close()'s abort leaves it): the subclass's `readStarted` / `writeStarted`
 * call `startReadable` / `startWritable`.
 */
class LazyStreams extends StreamEnds {
  #readable = null
  #writable = null
  #sink = null
  /** close() came while the writable had not started: its abort waits for the start. */
  #abortOnStart = false

  get readable() {
    return (this.#readable ??= this.makeReadable())
  }

  get writable() {
    if (this.#writable === null) {
      const sink = (this.#sink = new Sink(this))
      if (BUILT_WRITABLES) {
        // Built started (lib/streams.js, buildWritable): writes reach the sink at once.
        sink.started = true
        this.#writable = buildWritable(sink, this.writableHighWaterMark)
        return this.#writable
      }
      const size = (chunk) => sink.sizeOf(chunk)
      this.#writable = newWritableStream(sink, { highWaterMark: this.writableHighWaterMark, size })
      // Node marks the stream started, and hands it any write queued meanwhile, in a
      // reaction queued while it was made: this microtask runs right after that.
      microtask(() => this.#writableStarted())
    }
    return this.#writable
  }

  /** The writable's highWaterMark, in chunks (a subclass may queue more). */
  get writableHighWaterMark() {
    return WRITABLE_HIGH_WATER_MARK
  }

  /** Either stream is locked (one not made yet is not). */
  get locked() {
    return (this.#readable !== null && this.#readable.locked) || (this.#writable !== null && this.#writable.locked)
  }

  /**
   * close()'s steps: cancel the readable (one not made yet ends as a cancel would), then
   * abort the writable (the subclass's `abortForClose()`). A writable made but not started
   * yet holds the writes made so far in its queue: the abort waits for the start, which
   * hands the first to the sink, as with a stream made when the socket opened (where that
   * write would have gone to the sink at once), instead of dropping it unsent.
   */
  closeStreams() {
    if (this.#readable !== null) handled(this.#readable.cancel())
    else this.cancelReadable()
    if (this.#sink !== null && !this.#sink.started) this.#abortOnStart = true
    else this.abortForClose()
  }

  #writableStarted() {
    this.#sink.started = true
    // From now on no write is copied (Sink.sizeOf): every chunk is sized 1 by one shared
    // function.
    sizeAllOne(this.#writable)
    if (this.#abortOnStart) {
      this.#abortOnStart = false
      this.abortForClose()
    }
  }
}

/** A readable made after its side ended starts closed. */
function startReadable(c, ends) {
  if (!ends.readableOpen) c.close()
}

/** A writable made after its side ended starts errored, with no reason (close()'s abort). */
function startWritable(c, ends) {
  if (!ends.writableOpen) c.error(undefined)
}

/**
 * close()'s "abort the writable" (spec 1.6, 2.6), done as the stream's own error with no
 * reason: the same end state as `writable.abort()` (errored, no stored error) without
 * Node's AbortSignal and its `abort` event, which cost ~60 µs of every close. The
 * writable's abort algorithm is the socket's `abortSteps()`; as for an abort, it runs once
 * the write in flight (`pending`, or null) has settled, and `stopWrite()` makes that write
 * stop waiting (it then rejects with AbortError). Node settles the in-flight write a few
 * microtask turns after the sink's promise does: the abort steps run after those
 * (setImmediate), so that the write's rejection comes before `closed`. `controller` is
 * undefined for a writable not made yet (LazyStreams): only the abort steps run then (one
 * made later starts errored).
 */
function abortWritableForClose(controller, pending, stopWrite, abortSteps) {
  controller?.error(undefined)
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
 * `readNow()` (byte streams),
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

  /** A default read's bytes at once, or null (lib/streams.js, readNowFirst). */
  readNow() {
    return this.socket.readNow()
  }
}

/**
 * A writable's underlying sink. It also carries what a writable made on first use needs
 * (see LazyStreams): Node hands a write to the sink only once the stream has started (a
 * microtask after it was made) and queues it until then. So that such a write still sends
 * the bytes the caller gave at `write()`, as one to a stream made when the socket opened
 * would, the queuing strategy's `size` (which the stream calls at `write()`) keeps a copy
 * of each chunk written before the start (`socket.copyChunk`), and `write` sends the copy.
 */
class Sink {
  constructor(socket) {
    this.socket = socket
    this.started = false
    /** [chunk, copy, chunk, copy, ...] of writes made before the start, or null. */
    this.early = null
  }

  start(c) {
    this.socket.writeStarted(c)
  }

  /** The queuing strategy's size of `chunk` (always 1): copies a write made early. */
  sizeOf(chunk) {
    if (!this.started) {
      const copy = this.socket.copyChunk(chunk)
      if (copy !== undefined) (this.early ??= []).push(chunk, copy)
    }
    return 1
  }

  write(chunk, c) {
    return this.socket.writeChunk(this.early === null ? chunk : this.#earlyCopy(chunk), c)
  }

  close() {
    return this.socket.closeWritable()
  }

  abort() {
    this.socket.abortWritable()
  }

  /** The copy kept for `chunk` if it was written before the start (the oldest such). */
  #earlyCopy(chunk) {
    const early = this.early
    for (let i = 0; i < early.length; i += 2) {
      if (early[i] === chunk) {
        const copy = early[i + 1]
        early.splice(i, 2)
        if (early.length === 0) this.early = null
        return copy
      }
    }
    return chunk
  }
}

module.exports = {
  INSPECT,
  Lifecycle,
  LazyStreams,
  linkInfo,
  addStream,
  startReadable,
  startWritable,
  abortWritableForClose,
  Source,
  ByteSource,
  PULL_ON_READ,
}
