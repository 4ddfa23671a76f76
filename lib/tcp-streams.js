'use strict'
// The streams of an open TCPSocket and the bookkeeping that settles `closed`.
//
// Data path (DESIGN.md): reads and writes are synchronous non-blocking calls on the JS
// thread into and out of memory JavaScript owns; only when the socket would block do we
// arm it and wait for readiness (lib/wait.js).

const {
  newByteReadable,
  errorStream,
  isErrored,
  readNowFirst,
  abortSince,
  defaultReadsWaiting,
  answerWaitingRead,
  byobRequestOf,
} = require('./streams')
const { tcpArm, tcpRelease, tcpShutdownWrite, tcpTryRead, tcpTryWrite } = require('../binding.js')
const { fromNative, nativeCall, invalidState, closedByClose } = require('./errors')
const { toBytes, bytesOrNull, copyBytes } = require('./webidl')
const wait = require('./wait')
const { DEFERRED } = wait
const turns = require('./turns')
const {
  microtask,
  setImmediate,
  then,
  RESOLVED,
  resolvedWith,
  byteLength,
  bytesFrom,
  copyInto,
  register,
  unregister,
} = require('./primordials')
const {
  abortWritableForClose,
  Lifecycle,
  LazyStreams,
  startReadable,
  startWritable,
} = require('./lifecycle')

const WOULD_BLOCK = -1
const WRITE_FAILED = "Failed to execute 'write' on 'WritableStream'"

/**
 * What TcpConnection.writeNow did with a chunk it could not write whole, `{ connection,
 * chunk, bytes, n, error }`, until the stream's steps hand that chunk to the connection's
 * writeChunk, which they do before `write()` returns (the writable was idle: see
 * lib/streams.js, FAST_WRITER_PROTO). One for the module: nothing comes in between.
 */
let triedNow = null

// Default readers (no BYOB view) read into one scratch buffer shared by every socket of
// this thread, so an idle connection with a pending read holds no buffer of its own.
// Each chunk's buffer holds exactly the bytes read (spec 1.2, "creating a Uint8Array from
// bytes"): a read that fills the scratch hands the scratch itself to the stream (enqueue
// transfers it) and a fresh one is made next time; a shorter read is copied out and the
// scratch is kept. The scratch comes from Buffer.allocUnsafeSlow (about 4x cheaper than a
// zero-filled Uint8Array of 64 KiB); a chunk never shows bytes past those read.
const SCRATCH_SIZE = 64 * 1024
let scratch = null

/** The chunk of the last readIntoScratch() that read bytes (taken by its caller at once). */
let scratchChunk = null

/**
 * Reads up to `max` bytes: the count (WOULD_BLOCK, 0 at the end), the bytes read in
 * `scratchChunk` (a record of both was an allocation per read: 50 bytes a round trip).
 */
function readIntoScratch(core, max, spin) {
  if (scratch === null) scratch = unfilledBytes(SCRATCH_SIZE)
  const n = tcpTryRead(core, max < SCRATCH_SIZE ? scratch.subarray(0, max) : scratch, spin)
  if (n <= 0) scratchChunk = null
  else if (n < SCRATCH_SIZE) scratchChunk = copyOut(n)
  else {
    scratchChunk = scratch
    scratch = null
  }
  return n
}

/**
 * Shorter reads from this many bytes on are copied into a buffer that is not zero-filled
 * first (`slice` zero-fills its new buffer, then copies over it): on a bulk receive over
 * loopback, one read in ten gets a 65,483-byte segment, and the zero-filling was 2-3 % of
 * the receiver's CPU. Below it `slice` is as quick.
 */
const COPY_UNFILLED_BYTES = 4096

/** A plain Uint8Array over a new buffer of `n` bytes, not zero-filled (to be written over). */
const unfilledBytes = (n) => bytesFrom(Buffer.allocUnsafeSlow(n), 0)

/** The first `n` bytes of the scratch, in a Uint8Array whose buffer holds exactly them. */
function copyOut(n) {
  if (n < COPY_UNFILLED_BYTES) return scratch.slice(0, n)
  const chunk = unfilledBytes(n)
  copyInto(chunk, scratch.subarray(0, n), 0)
  return chunk
}

/** Takes the chunk the last readIntoScratch() read (so the module does not hold it). */
function takeScratchChunk() {
  const chunk = scratchChunk
  scratchChunk = null
  return chunk
}

/**
 * Once the writable has ended (closed, aborted or failed), the readable reads ahead of its
 * reader, up to this many bytes queued: the peer's FIN or reset is then seen, and `closed`
 * settles (spec 1.2: "handle closing the readable" runs when the connection is closed,
 * whatever is still queued), even if nothing reads. Chromium does the same: its network
 * service keeps reading the socket into a data pipe (of about this size) that the readable
 * drains. While the writable is open nothing is read before a read asks for it: `closed`
 * could not settle then anyway, and reads go straight into BYOB views.
 */
const READ_AHEAD_BYTES = 64 * 1024

/** A TcpConnection's #core once released: a number no native socket has (src/tcp.rs). */
const RELEASED = -1
/** Releases the native socket of a TcpConnection collected while open. */
const released = new FinalizationRegistry(tcpRelease)

// TcpConnection's booleans, bits of its #flags (one field: 40 bytes less a connection).
/** close() is under way: a write still waiting fails with its error. */
const CLOSING = 1
/** Deliver the next read's bytes with enqueue, not the BYOB request (see pullReadable). */
const ENQUEUE_NEXT = 2
/** A read-ahead is queued (see READ_AHEAD_BYTES). */
const READ_AHEAD_QUEUED = 4
/** A read-ahead is reading: no read waits for it, so it does not busy-poll (spin.rs). */
const READING_AHEAD = 8
/**
 * readNow() just found nothing to read (or skipped the try): the read is listed, and
 * waitForRead waits for it without trying again.
 */
const TRIED_NOW = 16
/** A pull waits for the next turn of the event loop (lib/turns.js). */
const PULL_NEXT_TURN = 32
/** Bytes were written since the last read attempt (see readNow). */
const WROTE = 64
/** Reads made right after this socket's writes have lately found nothing (see readNow). */
const QUIET_AFTER_WRITE = 128
/** How many reads readNow() has put off without a try since it last tried (3 bits). */
const SKIP_ONE = 256
const SKIPS = 7 * SKIP_ONE
/** readNow() owed the event loop a turn: the read it listed waits for the next (waitForRead). */
const READ_NEXT_TURN = 2048

/**
 * Owns one native socket (a `TcpCore`, by its number: src/tcp.rs): makes its readable and
 * writable and calls `Lifecycle.settleClosed(life, error)` (lib/lifecycle.js; `life`: the
 * TCPSocket) once both are closed or errored, with the spec's precedence (the error of the
 * stream that ended first wins). Each stream errors on its own operations' failures (spec 1.2, 1.3).
 * Cancelling the readable or aborting the writable is a graceful end, as in Chromium:
 * `closed` then resolves.
 *
 * It is its readable's underlying source itself; its sink is lib/lifecycle.js's `Sink`; the
 * streams are made on first use (LazyStreams).
 *
 * Its helpers (and those of the classes it extends) are static private methods taking the
 * connection: a class with private instance methods gives every instance a brand field
 * (8 bytes a class, three classes deep).
 */
class TcpConnection extends LazyStreams {
  #core
  #life
  #readController
  #writeController
  #readWait = 0
  #writeWait = 0
  #pendingWrite = null
  /** A reset a write met first (ECONNRESET): later reads fail with it (see #readOnce). */
  #writeError
  /**
   * The error the readable met behind bytes read ahead and still queued: the stream errors
   * with it once a read finds the queue empty, so those bytes are read first (as a reset
   * that came after them is reported after them).
   */
  #queuedError = undefined
  /** CLOSING, ENQUEUE_NEXT, ... (above), one bit each. */
  #flags = 0

  /** Whether the flag `bit` (CLOSING, ...) is set. */
  static #has(self, bit) {
    return (self.#flags & bit) !== 0
  }

  static #set(self, bit, on) {
    self.#flags = on ? self.#flags | bit : self.#flags & ~bit
  }

  constructor(core, life) {
    super()
    this.#core = core
    this.#life = life
    // Collected before both streams ended (a socket dropped while open): its native socket
    // is released then (src/tcp.rs).
    register(released, this, core, this)
  }

  makeReadable() {
    return newByteReadable(this)
  }

  // The connection is its readable's underlying byte source itself (lib/lifecycle.js,
  // Source, describes these): one object less a connection.
  get type() {
    return 'bytes'
  }

  start(c) {
    this.readStarted(c)
  }

  pull(c) {
    return this.pullReadable(c)
  }

  cancel() {
    this.cancelReadable()
  }

  onReady(ready) {
    this.readReady(ready)
  }

  /** A copy of a write's bytes (for one made before the writable started: see Sink). */
  copyChunk(chunk) {
    try {
      return copyBytes(toBytes(chunk, ''))
    } catch {
      return undefined // not bytes: the write fails in writeChunk, on the chunk itself
    }
  }

  // The stream steps the source and sink call (lib/lifecycle.js).
  readStarted(c) {
    this.#readController = c
    readNowFirst(c)
    startReadable(c, this)
  }

  writeStarted(c) {
    this.#writeController = c
    startWritable(c, this)
  }

  // Pull and write answer synchronously when the socket is ready (the common case): an
  // async function would cost a promise and a microtask turn on every chunk. A read that
  // would block arms the socket and returns; the wait's callback (our onReady)
  // answers the read later with enqueue / respond, which pulls again for any read still
  // waiting. A pull while that wait is armed (a second read) leaves it to the wait.
  pullReadable(c) {
    if (this.#queuedError !== undefined) {
      errorStream(c, this.#queuedError)
      this.#queuedError = undefined
      return
    }
    if (this.#readWait !== 0) {
      // Another read came while one waits. It may be a default reader's read behind the
      // pull-into of a BYOB reader that was released while waiting: the stream keeps that
      // pull-into (reader type "none"), and bytes responded into it go to the queue
      // without answering the default read. Enqueueing answers any kind of read (BYOB
      // reads get a copy), so the next delivery enqueues.
      TcpConnection.#set(this, ENQUEUE_NEXT, true)
      return
    }
    // A read loop that always finds data would never let the event loop turn (lib/turns.js).
    // While the pull waits for that turn the stream does not pull again, so a BYOB reader
    // released meanwhile would leave its pull-into to be answered instead of the next
    // reader's read (see above): deliver with enqueue, which answers any kind of read.
    if (turns.mustYield()) {
      TcpConnection.#set(this, ENQUEUE_NEXT, true)
      TcpConnection.#set(this, PULL_NEXT_TURN, true)
      return turns.nextTurn(() => {
        TcpConnection.#set(this, PULL_NEXT_TURN, false)
        TcpConnection.#pullNow(this, c)
      })
    }
    TcpConnection.#pullNow(this, c)
  }

  /**
   * Answers a pull now or waits; `triedNow`: readNow() has just found nothing (no retry);
   * `nextTurn`: it owed the event loop a turn (the read waits for the next).
   */
  static #pullNow(self, c, triedNow = false, nextTurn = false) {
    // A pull put off to the next turn may find a wait the read-ahead armed meanwhile.
    if (self.#readWait !== 0) {
      TcpConnection.#set(self, ENQUEUE_NEXT, true)
      return
    }
    if (!triedNow && TcpConnection.#readOnce(self, c)) return
    // Other sockets wait too, or read just before: try again at the end of this turn
    // before arming (wait.js). A read-ahead (no read waits for it) only for the first:
    // put off, its retry would be a read that may poll. A read owed a turn is tried again
    // there too (asked last, so that the others are asked on every call: see readNow).
    if ((TcpConnection.#has(self, READING_AHEAD) ? wait.busy() : wait.putOff(self.#core)) || nextTurn) {
      self.#readWait = DEFERRED
      wait.deferRead(self)
      return
    }
    TcpConnection.#readOrArm(self, false)
  }

  /** The end of the turn in which a read would block (wait.deferRead). */
  retryRead() {
    // Cancelled or closed meanwhile: #readOnce answers nothing more.
    if (this.#readWait !== DEFERRED) return
    this.#readWait = 0
    TcpConnection.#readOrArm(this, true)
  }

  /**
   * Reads (when `readFirst`) and, while that finds nothing, arms the socket; an arm that
   * finds it ready already reads again (each arm clears tokio's cached readiness first,
   * src/notify.rs, so this repeats only if new data came and went in between). One read
   * for every path here, so that the read after such an arm (rare) goes through the call
   * every retry and readiness callback has taken: an operation first reached in optimized
   * code throws that code away, and with 500 connections this one did so in the middle of
   * the work, the retries' code compiled again.
   */
  static #readOrArm(self, readFirst) {
    for (let read = readFirst; ; read = true) {
      if (read && TcpConnection.#readOnce(self, self.#readController)) return
      try {
        self.#readWait = wait.armFor(tcpArm, self.#core, false, self)
      } catch (err) {
        TcpConnection.#failReadable(self, fromNative(err))
        return
      }
      if (self.#readWait !== 0) return
    }
  }

  /** The read wait ended: `ready`, or cancelled (close, cancel) when false. */
  readReady(ready) {
    this.#readWait = 0
    if (ready) TcpConnection.#readOrArm(this, true)
  }

  /**
   * A default read with nothing queued and no other read waiting (lib/streams.js,
   * readNowFirst): the bytes read at once, as a Uint8Array of exactly them, or null: nothing
   * yet (TRIED_NOW: the read is then listed and waitForRead waits for it), or the end, or a
   * wait or turn under way (the stream's own steps then pull, and that pull reports the
   * end). A failed read errors the readable here, as #readOnce would.
   */
  readNow() {
    // Not while a pull of ours is under way (a wait armed or put off to the end of the
    // turn, a pull put off to the next turn): its answer comes first. A pull that has
    // answered already is over for us, though Node counts it as pulling until its promise
    // settles (the read it answered resolves before that).
    if (
      !this.readableOpen ||
      this.#queuedError !== undefined ||
      this.#readWait !== 0 ||
      TcpConnection.#has(this, PULL_NEXT_TURN)
    ) {
      return null
    }
    // The event loop is owed a turn (lib/turns.js): the read is listed, as one that found
    // nothing is, and tried again in the next turn (waitForRead), without Node's pull.
    if (turns.mustYield()) {
      TcpConnection.#set(this, TRIED_NOW | READ_NEXT_TURN, true)
      return null
    }
    const core = this.#core
    const spin = wait.maySpin(core)
    const afterWrite = TcpConnection.#has(this, WROTE)
    TcpConnection.#set(this, WROTE, false)
    // Written just now, with other sockets at work (wait.putOff), and the reads right after
    // this socket's writes have lately found nothing (a request and its reply): the reply
    // cannot have come yet, and the read is put off to the end of the turn without a
    // system call that would find nothing (with 500 connections each writing and then
    // reading, that call took a fifth of the rate). Every eighth such read tries all the
    // same, so that a socket whose reads after writes do find data (a stream both ways)
    // is noticed.
    if (afterWrite && !spin && TcpConnection.#has(this, QUIET_AFTER_WRITE) && wait.putOff(core)) {
      // The count of skips goes 0..7 and round to 0 (the try), TRIED_NOW set on a skip: one
      // store for both, as a branch first taken once this function was optimized (the
      // eighth read) threw that code away and compiled it again in the middle of the work.
      const flags = this.#flags
      const skip = (flags & SKIPS) !== SKIPS
      this.#flags = (flags & ~SKIPS) | ((flags + SKIP_ONE) & SKIPS) | (skip ? TRIED_NOW : 0)
      if (skip) return null
    }
    let n
    try {
      // Once reading ahead, no more than READ_AHEAD_BYTES queued (see #readOnce; none is).
      n = readIntoScratch(core, this.writableOpen ? SCRATCH_SIZE : READ_AHEAD_BYTES, spin)
    } catch (err) {
      // The readable errors now (nothing is queued); the read is answered with the error
      // by the caller (lib/streams.js), and `closed` settles in a later task.
      TcpConnection.#failReadable(this, fromNative(err))
      return null
    }
    if (afterWrite && !spin) TcpConnection.#set(this, QUIET_AFTER_WRITE, n < 0)
    // Data clears ENQUEUE_NEXT, nothing (n < 0) sets TRIED_NOW, the end clears it: worked
    // out alike for every outcome (only constants chosen by them), as an operation first
    // reached once this function was optimized (the first read that found nothing) threw
    // that code away and compiled it again. So too the chunk (null unless bytes were read)
    // is taken and the writable asked on every outcome: on a busy server most of these
    // reads are put off or find nothing, and the first to find bytes threw the code away.
    const found = n > 0
    this.#flags = (this.#flags & ~(found ? ENQUEUE_NEXT : TRIED_NOW)) | (n < 0 ? TRIED_NOW : 0)
    const chunk = takeScratchChunk()
    const writing = this.writableOpen
    if (found && !writing) TcpConnection.#queueReadAhead(this, microtask)
    return chunk
  }

  /**
   * Asked right after readNow() returned null (lib/streams.js, pullSteps): true when it
   * found nothing to read (or skipped the try), so that this connection waits for the read
   * itself (waitForRead) instead of through Node's pull. (readNow tries only with no wait,
   * turn or queued error under way.)
   */
  waitsForRead() {
    return TcpConnection.#has(this, TRIED_NOW)
  }

  /** The read readNow() could not answer is listed: wait for its bytes, as a pull would. */
  waitForRead(c) {
    const nextTurn = TcpConnection.#has(this, READ_NEXT_TURN)
    TcpConnection.#set(this, TRIED_NOW | READ_NEXT_TURN, false)
    TcpConnection.#pullNow(this, c, true, nextTurn)
  }

  /** One read attempt: true when the pull is answered (data, end or error). */
  static #readOnce(self, c) {
    // Whatever readNow() found is out of date once the socket is read again.
    TcpConnection.#set(self, TRIED_NOW | WROTE | READ_NEXT_TURN, false)
    if (!self.readableOpen) return true
    const core = self.#core
    let request = TcpConnection.#has(self, ENQUEUE_NEXT) ? null : byobRequestOf(c)
    // A released BYOB reader's pull-into answered while default reads wait would leave
    // them waiting (lib/streams.js, defaultReadsWaiting): enqueue answers them.
    if (request !== null && defaultReadsWaiting(c)) request = null
    const spin = !TcpConnection.#has(self, READING_AHEAD) && wait.maySpin(core)
    let n
    let chunk = null
    try {
      if (request) {
        // A byte stream's BYOB request view is always a Uint8Array (streams spec).
        n = tcpTryRead(core, request.view, spin)
      } else {
        // Once reading ahead, no more than READ_AHEAD_BYTES queued (highWaterMark 0:
        // desiredSize is minus the bytes queued).
        const max = self.writableOpen ? SCRATCH_SIZE : READ_AHEAD_BYTES + c.desiredSize
        n = readIntoScratch(core, Math.max(max, 1), spin)
        chunk = takeScratchChunk()
      }
    } catch (err) {
      TcpConnection.#failReadable(self, fromNative(err))
      return true
    }
    // (Both compared on every attempt: see readNow.)
    const found = n > 0
    const ended = n === 0
    if (found) {
      TcpConnection.#set(self, ENQUEUE_NEXT, false)
      try {
        if (request) request.respond(n)
        else if (!answerWaitingRead(c, chunk)) c.enqueue(chunk)
      } catch (err) {
        // Node's stream code threw from inside (lib/streams.js): the readable ends with
        // that error rather than leave its reads waiting.
        errorStream(c, err)
        self.readableEnded(err)
        return true
      }
      if (!self.writableOpen) TcpConnection.#queueReadAhead(self, microtask)
      return true
    }
    if (ended) {
      // After a reset the first syscall takes the error and later reads see 0 bytes: when
      // a write met it, this is not the peer's FIN but the same failure, and the readable
      // errors with it rather than look like a clean end.
      if (self.#writeError !== undefined) {
        TcpConnection.#failReadable(self, self.#writeError)
        return true
      }
      // The peer sent FIN: the readable closes, writing may go on. A BYOB read waiting
      // (even one ENQUEUE_NEXT passed over) is answered "done" by respond(0).
      // Nothing may escape from here (a readiness callback: an uncaught throw would end the
      // process). A BYOB read that holds part of an element (an odd byte count read into a
      // Uint16Array, ...) makes close() error the stream with a TypeError and throw it (the
      // streams spec): the readable has ended with that error, and the read rejects with
      // it. A throw that leaves the stream closed came from further on (a tee branch's
      // own partial element out of respond(0), Node's async iterator: lib/streams.js): the
      // readable itself ended cleanly.
      let error
      try {
        c.close()
        c.byobRequest?.respond(0)
      } catch (err) {
        error = err
      }
      self.readableEnded(error !== undefined && isErrored(c) ? error : undefined)
      return true
    }
    return false
  }

  /** The writable ended with the readable open (StreamEnds): read ahead from now on. */
  writableEndedFirst() {
    // After the writable's own promise has settled (closed must settle after it: spec 1.3).
    TcpConnection.#queueReadAhead(this, setImmediate)
  }

  static #queueReadAhead(self, schedule) {
    if (TcpConnection.#has(self, READ_AHEAD_QUEUED)) return
    TcpConnection.#set(self, READ_AHEAD_QUEUED, true)
    schedule(() => {
      TcpConnection.#set(self, READ_AHEAD_QUEUED, false)
      TcpConnection.#readAhead(self)
    })
  }

  /** Reads what has come, or waits for it, unless a read waits already or enough is queued. */
  static #readAhead(self) {
    if (!self.readableOpen || self.#readWait !== 0) return
    // A readable nobody has asked for yet is made now (its start sets #readController): it
    // holds what is read, and the end.
    if (self.#readController === undefined) void self.readable
    const c = self.#readController
    // highWaterMark 0: desiredSize is minus the bytes queued (null once errored).
    const desired = c.desiredSize
    if (desired === null || -desired >= READ_AHEAD_BYTES) return
    TcpConnection.#set(self, READING_AHEAD, true)
    try {
      TcpConnection.#pullNow(self, c)
    } finally {
      TcpConnection.#set(self, READING_AHEAD, false)
    }
  }

  /** Waits until the socket may be ready for writing; false if it closed. */
  static async #writeReady(self) {
    let armed
    try {
      armed = wait.arm(tcpArm, self.#core, true)
    } catch (err) {
      throw TcpConnection.#failWritable(self, fromNative(err))
    }
    if (armed === true) return true
    self.#writeWait = armed.token
    return armed.promise
  }

  cancelReadable() {
    this.#queuedError = undefined
    if (!this.readableOpen) return
    // A pending wait must not keep the process alive.
    wait.cancel(this.#readWait)
    this.readableEnded(undefined)
  }

  writeChunk(chunk, c) {
    const tried = triedNow
    if (tried !== null && tried.connection === this && tried.chunk === chunk) {
      // writeNow's attempt at this chunk, just before the stream's steps called us.
      triedNow = null
      if (tried.bytes === null) throw TcpConnection.#failWritable(this, fromNative(tried.error))
      return TcpConnection.#wrote(this, tried.bytes, tried.n, c)
    }
    let bytes
    try {
      bytes = toBytes(chunk, WRITE_FAILED)
    } catch (err) {
      this.writeFailed(err)
      throw err
    }
    return TcpConnection.#wrote(this, bytes, TcpConnection.#writeOnce(this, bytes, true), c)
  }

  /**
   * A chunk written to the idle writable (lib/lifecycle.js, Sink.writeNow): a promise for
   * the write when the socket took it whole, else undefined, and what this attempt did
   * (bytes taken, or the error) waits for the stream's steps to hand the chunk to
   * writeChunk, which they do before write() returns.
   */
  writeNow(chunk) {
    // The event loop is owed a turn: the stream's steps take the chunk, and the write
    // settles in a later macrotask (writeChunk), the chunk in flight until then.
    if (turns.writeMustYield()) return undefined
    // Not a BufferSource: the stream's steps reject the write with writeChunk's TypeError
    // (made there only, so that nothing of the chunk's own code runs twice).
    let bytes
    try {
      bytes = bytesOrNull(chunk)
    } catch {
      return undefined // whatever threw throws again in writeChunk, as it always did
    }
    if (bytes === null) return undefined
    let n
    try {
      n = TcpConnection.#tryWrite(this, bytes, true)
    } catch (error) {
      triedNow = { connection: this, chunk, bytes: null, n: 0, error }
      return undefined
    }
    if (n === byteLength(bytes)) return resolvedWith(undefined)
    triedNow = { connection: this, chunk, bytes, n, error: undefined }
    return undefined
  }

  /** After the first attempt at a chunk: done when whole, else the rest waits for the socket. */
  static #wrote(self, bytes, n, c) {
    // Written whole: done, in a later macrotask if the event loop has waited too long.
    if (n === byteLength(bytes)) return turns.writeMustYield() ? turns.nextTurn() : undefined
    // The spec writes a copy: keep the rest safe from the caller while we wait.
    return (self.#pendingWrite = TcpConnection.#writeWhenReady(self, copyBytes(bytes, n > 0 ? n : 0), c))
  }

  static async #writeWhenReady(self, bytes, c) {
    // The spec's abort steps: a write waiting on a full send buffer returns at once.
    const signal = c.signal
    const onAbort = () => wait.cancel(self.#writeWait)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      for (;;) {
        const ready = await TcpConnection.#writeReady(self)
        if (signal.aborted) throw signal.reason
        if (TcpConnection.#has(self, CLOSING)) throw closedByClose()
        if (!ready) throw invalidState('The socket was closed.')
        const n = TcpConnection.#writeOnce(self, bytes, false)
        if (n === byteLength(bytes)) return
        if (n > 0) bytes = bytesFrom(bytes, n)
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      self.#pendingWrite = null
    }
  }

  /**
   * One write attempt: the byte count written, or WOULD_BLOCK. `whole`: `bytes` is a whole
   * chunk (its first attempt), not the rest of one (Nagle's algorithm: src/tcp.rs).
   */
  static #writeOnce(self, bytes, whole) {
    try {
      return TcpConnection.#tryWrite(self, bytes, whole)
    } catch (err) {
      throw TcpConnection.#failWritable(self, fromNative(err))
    }
  }

  /** #writeOnce's system call; a failure is thrown as the native error, the writable left as it is. */
  static #tryWrite(self, bytes, whole) {
    const n = tcpTryWrite(self.#core, bytes, whole)
    if (n > 0) TcpConnection.#set(self, WROTE, true)
    return n
  }

  /**
   * The close algorithm (spec 1.3): FIN now; the rest in a later step (a microtask), where
   * an `abort(reason)` that came meanwhile (in the same turn as `close()`) makes the close
   * reject with its reason, which errors the writable with it.
   */
  closeWritable() {
    try {
      nativeCall(() => tcpShutdownWrite(this.#core))
    } catch (err) {
      this.writableEnded(err, true)
      throw err
    }
    const c = this.#writeController
    return then(RESOLVED, () => {
      const abort = abortSince(c)
      if (abort !== null) {
        this.writableEnded(abort.reason, true)
        throw abort.reason
      }
      this.writableEnded(undefined, true)
    })
  }

  /** close()'s "abort the writable" (see abortWritableForClose in lifecycle.js). */
  abortForClose() {
    if (!this.writableOpen) return
    TcpConnection.#set(this, CLOSING, true)
    abortWritableForClose(
      this.#writeController,
      this.#pendingWrite,
      () => wait.cancel(this.#writeWait),
      () => this.abortWritable(false),
    )
  }

  /** The abort algorithm (`later`: the sink's, for `writable.abort()`), or close()'s. */
  abortWritable(later = true) {
    // With the readable gone too (close()), the descriptor is about to be closed, which
    // sends FIN by itself: skip the shutdown call.
    if (this.readableOpen) {
      try {
        tcpShutdownWrite(this.#core)
      } catch {}
    }
    this.writableEnded(undefined, later)
  }

  /**
   * A read failed (spec 1.2: error the readable with a NetworkError, then "handle closing
   * the readable"): the readable errors; the writable goes on until it ends on its own
   * (after a reset, its next write fails with its own NetworkError).
   */
  static #failReadable(self, error) {
    if (self.readableOpen) {
      // Bytes read ahead are still queued: they are read first (see #queuedError); the
      // readable has ended all the same (closed may settle now, as after a FIN).
      if (self.#readController.desiredSize < 0) self.#queuedError = error
      else errorStream(self.#readController, error)
      self.readableEnded(error)
    }
    return error
  }

  /**
   * A write failed (spec 1.3): the write rejects with `error` (the caller throws it, which
   * errors the writable); the readable goes on.
   */
  static #failWritable(self, error) {
    // Only a reset the write took first (ECONNRESET) hides from later reads; EPIPE means
    // the peer's FIN had come before, and the readable may end cleanly.
    if (error?.cause?.code === 'ECONNRESET') self.#writeError ??= error
    self.writeFailed(error)
    return error
  }

  /** Both streams have ended (StreamEnds): the descriptor closes and `closed` settles. */
  bothEnded(error) {
    // The native socket closes and its number is freed now: nothing calls with it once
    // #core no longer holds it (a call with RELEASED gets the closed socket's error).
    tcpRelease(this.#core)
    this.#core = RELEASED
    unregister(released, this)
    wait.cancel(this.#readWait)
    wait.cancel(this.#writeWait)
    Lifecycle.settleClosed(this.#life, error)
  }
}

module.exports = { TcpConnection }
