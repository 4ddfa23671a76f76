'use strict'
// The `opened` / `closed` / `close()` bookkeeping every socket class shares (spec 1.4-1.6,
// 2.4-2.6, 4.3-4.5), in one place.

const { invalidState } = require('./errors')
const { newWritableStream, sizeAllOne, buildWritable, BUILT_WRITABLES } = require('./streams')
const { then, handled, microtask, setImmediate, dataDescriptor } = require('./primordials')

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

/** A base class whose constructor returns its argument, so that a subclass can stamp it. */
class Stamp {
  constructor(target) {
    return target
  }
}

// Lifecycle's phases (#phase): one of OPENING, OPEN, FAILED, with CLOSED_SETTLED or not.
const OPENING = 0
const OPEN = 1
const FAILED = 2
const OPEN_STATE = 3
/** `closed` has settled (or its outcome is known, if it is not made yet). */
const CLOSED_SETTLED = 4

/**
 * A socket's `opened` / `closed` / `close()` state, stamped on the socket object itself as
 * private fields (`Lifecycle.stamp(this, KIND)` in its constructor, `KIND` made by
 * `Lifecycle.kind(name)` with the class): one object less a socket. The socket classes'
 * members call the static functions below; `is(object, KIND)` is their brand check.
 *
 * `closed` is made on first use (most sockets are closed without anyone asking for it): a
 * pending promise, its resolvers and the handler that keeps its rejection handled cost
 * every idle socket ~0.4 KiB. Made after the socket has closed, it is made settled.
 * `opened` too: a client's is asked for at once (and made pending), an accepted socket's
 * only once it is open (and made resolved, without resolvers).
 */
class Lifecycle extends Stamp {
  /** The socket class's kind (`Lifecycle.kind(name)`): its brand, and its name for messages. */
  #kind
  #phase = OPENING
  #closedError = undefined
  #closed = null
  #opened = null
  /** `[resolve, reject]` of a pending `opened`, or null. */
  #openedResolvers = null
  /** `[resolve, reject]` of a pending `closed`, or null. */
  #closedResolvers = null
  /** Once open, what `opened` resolves with; once failed, the error. */
  #info = null
  #connection = null

  constructor(target, kind) {
    super(target)
    this.#kind = kind
  }

  /**
   * A socket class's kind: made once per class definition (each policy's module instance
   * defines its own classes), named as its interface (a fixed name: a class's own `name`
   * can be redefined).
   */
  static kind(name) {
    return Object.freeze({ name })
  }

  /** Gives `socket` (being constructed by the class of `kind`) its lifecycle. */
  static stamp(socket, kind) {
    new Lifecycle(socket, kind)
  }

  /** Whether `object` is a socket made by the constructor of the class of `kind` (or a subclass's). */
  static is(object, kind) {
    return typeof object === 'object' && object !== null && #kind in object && object.#kind === kind
  }

  /** The `opened` promise: the same one every time. */
  static opened(socket) {
    if (socket.#opened !== null) return socket.#opened
    const state = socket.#phase & OPEN_STATE
    if (state === OPENING) {
      socket.#opened = new Promise((resolve, reject) => {
        socket.#openedResolvers = [resolve, reject]
      })
    } else if (state === OPEN) {
      socket.#opened = Promise.resolve(socket.#info)
      return socket.#opened
    } else {
      socket.#opened = Promise.reject(socket.#info)
    }
    // Nobody has to listen to these: a failure must not become an unhandled rejection.
    handled(socket.#opened)
    return socket.#opened
  }

  /** The `closed` promise: the same one every time. */
  static closed(socket) {
    if (socket.#closed !== null) return socket.#closed
    if ((socket.#phase & CLOSED_SETTLED) === 0) {
      socket.#closed = new Promise((resolve, reject) => {
        socket.#closedResolvers = [resolve, reject]
      })
    } else if (socket.#closedError === undefined) {
      socket.#closed = Promise.resolve()
    } else {
      socket.#closed = Promise.reject(socket.#closedError)
    }
    handled(socket.#closed)
    return socket.#closed
  }

  /**
   * `opened` resolves with `info`. close() acts on `connection`: its `locked` and
   * `closeStreams()` (cancel the readable, abort the writable), never on `info`, whose
   * members are the user's to change.
   */
  static open(socket, info, connection) {
    socket.#phase = (socket.#phase & CLOSED_SETTLED) | OPEN
    socket.#info = info
    socket.#connection = connection
    const resolvers = socket.#openedResolvers
    if (resolvers !== null) {
      socket.#openedResolvers = null
      resolvers[0](info)
    }
  }

  /** Opening failed: `opened` and `closed` reject with `error`. */
  static fail(socket, error) {
    socket.#phase = (socket.#phase & CLOSED_SETTLED) | FAILED
    socket.#info = error
    const resolvers = socket.#openedResolvers
    if (resolvers !== null) {
      socket.#openedResolvers = null
      resolvers[1](error)
    }
    Lifecycle.settleClosed(socket, error)
  }

  /** Resolves `closed` (no error) or rejects it; only the first call counts. */
  static settleClosed(socket, error) {
    if ((socket.#phase & CLOSED_SETTLED) !== 0) return
    socket.#phase |= CLOSED_SETTLED
    const resolvers = socket.#closedResolvers
    if (resolvers === null) {
      socket.#closedError = error
      return
    }
    socket.#closedResolvers = null
    if (error === undefined) resolvers[0]()
    else resolvers[1](error)
  }

  /**
   * What `util.inspect` shows of a socket: its state ('opening', 'open', 'closed' or
   * 'failed') and, once open, its addresses. Reading it creates nothing (`closed` stays
   * unmade).
   */
  static inspect(socket, depth, options, inspect) {
    const phase = socket.#phase
    let state = 'open'
    if ((phase & OPEN_STATE) === OPENING) state = 'opening'
    else if ((phase & OPEN_STATE) === FAILED) state = 'failed'
    else if ((phase & CLOSED_SETTLED) !== 0) state = 'closed'
    const view = { state }
    const info = socket.#info
    if ((phase & OPEN_STATE) === OPEN) {
      for (const key of ADDRESS_KEYS) if (info[key] !== undefined) view[key] = info[key]
    }
    return `${socket.#kind.name} ${inspect(view, { ...options, depth: depth === null ? null : depth - 1 })}`
  }

  /** The spec's close() steps: cancel the readable, abort the writable, return `closed`. */
  static close(socket) {
    const className = socket.#kind.name
    if ((socket.#phase & OPEN_STATE) !== OPEN) {
      return Promise.reject(invalidState(`close() called on a ${className} that is not open.`))
    }
    if ((socket.#phase & CLOSED_SETTLED) !== 0) return Lifecycle.closed(socket)
    const connection = socket.#connection
    if (connection.locked) {
      return Promise.reject(invalidState(`close() called on a ${className} while a stream is locked.`))
    }
    connection.closeStreams()
    return Lifecycle.closed(socket)
  }
}

/**
 * What close() acts on for a socket with a readable alone (a server): the stream itself,
 * kept here, as the open info's `readable` may be replaced or deleted by its user.
 */
class ReadableAlone {
  #readable
  constructor(readable) {
    this.#readable = readable
  }

  get locked() {
    return this.#readable.locked
  }

  closeStreams() {
    handled(this.#readable.cancel())
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
      Reflect.defineProperty(this, key, dataDescriptor(value))
    },
  }
}
const STREAM_ACCESSORS = { readable: streamAccessor('readable'), writable: streamAccessor('writable') }

/**
 * An open info dictionary's object: a plain object (its prototype is Object.prototype, as a
 * literal's), made by a constructor so that V8 sizes it for all its members (its slack
 * tracking counts those added after construction): a literal of two members left the
 * other three fields in a separate property array (16 bytes more a connection).
 */
function OpenInfo() {}
OpenInfo.prototype = Object.prototype

/**
 * A class that stamps two members, `first` and `second`, on an info: class fields, so
 * defined as own data properties, not assigned, and nothing on Object.prototype (a setter,
 * a read-only property) can intercept them, as nothing can a literal's.
 */
const twoMembers = (first, second) =>
  class extends Stamp {
    [first];
    [second]
    constructor(info, firstValue, secondValue) {
      super(info)
      this[first] = firstValue
      this[second] = secondValue
    }
  }
const LocalMembers = twoMembers('localAddress', 'localPort')
const RemoteMembers = twoMembers('remoteAddress', 'remotePort')

/**
 * Starts an open info dictionary of `connection` with `localAddress` and `localPort`; add
 * the rest in lexicographic order (as WebIDL makes a dictionary's object): the streams
 * with `addStream`, the remote address with `addRemote`. (Adding accessors as new
 * properties keeps V8's fast object shapes: redefining existing ones is ~4x slower.)
 */
function linkInfo(localAddress, localPort, connection) {
  const info = new OpenInfo()
  new LocalMembers(info, localAddress, localPort)
  new LinkedInfo(info, connection)
  return info
}

/** Adds `info`'s `key` ('readable' or 'writable'), made on first use. */
function addStream(info, key) {
  Object.defineProperty(info, key, STREAM_ACCESSORS[key])
}

/** Adds `info`'s `remoteAddress` and `remotePort`. */
function addRemote(info, remoteAddress, remotePort) {
  new RemoteMembers(info, remoteAddress, remotePort)
}

// StreamEnds' bits.
const READABLE_ENDED = 1
const WRITABLE_ENDED = 2
const WRITE_FAILED = 4
/** A bit no end uses: set and cleared once per class (see StreamEnds' constructor). */
const PRIMING = 8

/** The classes (derived from StreamEnds) whose first object has changed `#ends` (below). */
const endsChanged = new Set()

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
  /** READABLE_ENDED, WRITABLE_ENDED, WRITE_FAILED (above), one bit each: one field. */
  #ends = 0
  /** The error of the stream that ended first (undefined: it closed cleanly). */
  #firstError = undefined

  constructor() {
    // V8 notes, per hidden class, whether a field has been changed since objects of the
    // class were made, and optimized code relies on it while it has not; the first change
    // throws all that code away. `#ends` changes only as a stream ends, so the first socket
    // of a class to end (a peer's FIN) threw away the optimized data path (readNow,
    // readableOpen, ...) that every other connection of the class was running, and it was
    // compiled again in the middle of their work. The first object of each class changes
    // it at once instead, before anything is optimized.
    if (!endsChanged.has(new.target)) {
      endsChanged.add(new.target)
      this.#ends ^= PRIMING
      this.#ends ^= PRIMING
    }
  }

  get readableOpen() {
    return (this.#ends & READABLE_ENDED) === 0
  }

  get writableOpen() {
    return (this.#ends & WRITABLE_ENDED) === 0
  }

  /** The readable closed (`error` undefined) or errored: `closed` settles in a later task. */
  readableEnded(error) {
    if ((this.#ends & READABLE_ENDED) !== 0) return
    this.#ends |= READABLE_ENDED
    StreamEnds.#ended(this, this.writableOpen, error, true)
  }

  /**
   * The writable closed (`error` undefined) or errored; `later`: by the writable's own
   * close or abort algorithm, whose promise Node settles after we return.
   */
  writableEnded(error, later = false) {
    if ((this.#ends & WRITABLE_ENDED) !== 0) return
    this.#ends |= WRITABLE_ENDED
    StreamEnds.#ended(this, this.readableOpen, error, later)
    if (this.readableOpen) this.writableEndedFirst?.()
  }

  /** A write failed with `error`, which errors the writable. */
  writeFailed(error) {
    this.#ends |= WRITE_FAILED
    this.writableEnded(error, true)
  }

  static #ended(self, otherOpen, error, later) {
    if (otherOpen) {
      self.#firstError = error
      return
    }
    const first = self.#firstError !== undefined ? self.#firstError : error
    if (later || (self.#ends & WRITE_FAILED) !== 0) setImmediate(() => self.bothEnded(first))
    else self.bothEnded(first)
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
      microtask(() => LazyStreams.#writableStarted(this))
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
    if (this.#sink !== null && !this.#sink.started) this.#sink.abortOnStart = true
    else this.abortForClose()
  }

  static #writableStarted(self) {
    self.#sink.started = true
    // From now on no write is copied (Sink.sizeOf): every chunk is sized 1 by one shared
    // function.
    sizeAllOne(self.#writable)
    if (self.#sink.abortOnStart) {
      self.#sink.abortOnStart = false
      self.abortForClose()
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
    /** close() came before the start: the writable's abort waits for it (LazyStreams). */
    this.abortOnStart = false
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
    return this.socket.writeChunk(this.early === null ? chunk : Sink.#earlyCopy(this, chunk), c)
  }

  /** Whether the socket can take a chunk at once, before the stream's steps (`writeNow`). */
  get writesNow() {
    return typeof this.socket.writeNow === 'function'
  }

  /**
   * A chunk written to the idle writable (lib/streams.js, FAST_WRITER_PROTO): the write's
   * promise if the socket took it whole at once, or undefined (the stream's steps then run,
   * and `write` above finishes what the socket's `writeNow` began).
   */
  writeNow(chunk) {
    return this.early === null ? this.socket.writeNow(chunk) : undefined
  }

  close() {
    return this.socket.closeWritable()
  }

  abort() {
    this.socket.abortWritable()
  }

  /** The copy kept for `chunk` if it was written before the start (the oldest such). */
  static #earlyCopy(self, chunk) {
    const early = self.early
    for (let i = 0; i < early.length; i += 2) {
      if (early[i] === chunk) {
        const copy = early[i + 1]
        early.splice(i, 2)
        if (early.length === 0) self.early = null
        return copy
      }
    }
    return chunk
  }
}

module.exports = {
  INSPECT,
  Lifecycle,
  ReadableAlone,
  LazyStreams,
  linkInfo,
  addStream,
  addRemote,
  startReadable,
  startWritable,
  abortWritableForClose,
  Source,
  PULL_ON_READ,
}
