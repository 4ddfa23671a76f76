'use strict'
// UDPSocket (spec section 2): argument conversion, the message streams, `opened` /
// `closed` / `close()`.
//
// Data path (DESIGN.md): one synchronous `tryRecvBatch` call drains every datagram that
// is ready (up to RECEIVE_BATCH) into one scratch buffer plus a metadata array; each
// datagram is then copied into its own Uint8Array. Where lib/streams.js's probe finds
// Node's streams as it expects (readNowFirstDefault; otherwise every batch is enqueued), a
// read with nothing queued takes its datagram in read() itself: from the socket's batch
// received before, or from a batch received then; reads waiting when a batch comes are
// answered by enqueue. A batch's other datagrams wait in the socket for the reads after
// it, not in the stream's queue (whose steps cost more per datagram than the receive).
// Nothing is received while nobody reads (highWaterMark 0): datagrams wait in the
// kernel's receive buffer (`receiveBufferSize`) and are dropped there, as UDP does. A
// socket nobody reads has no pending receive, so it neither keeps the process alive nor
// escapes the GC.
// Sends are synchronous `trySend` / `trySendTo`; only a full send buffer or a host name
// to resolve makes a write wait. When writes are queued behind the one being written, it
// goes out in a run with the ones behind it of the same size (the last may be shorter) to
// the same destination: one `trySendSegments` call, one system call (UDP GSO, src/gso.rs),
// and the stream's calls for those chunks find them sent (see #sendRun).

const { newReadableStream, errorStream, writeQueue, readNowFirstDefault, hasPendingRead } = require('./streams')
const { udpTryRecvBatch, udpTrySend, udpTrySendTo, udpTrySendSegments } = require('../binding.js')
const { fromNative, nativeCall, invalidState, closedByClose } = require('./errors')
const {
  Lifecycle,
  abortWritableForClose,
  Source,
  LazyStreams,
  linkInfo,
  addStream,
  addRemote,
  startReadable,
  startWritable,
  PULL_ON_READ,
  INSPECT,
} = require('./lifecycle')
const idl = require('./webidl')
const { constructorCheck } = require('./policy')
const ip = require('./ip')
const { createMulticastController } = require('./multicast')
const wait = require('./wait')
const { DEFERRED } = wait
const turns = require('./turns')
const { then, byteLength, copyInto, defineData } = require('./primordials')

const WOULD_BLOCK = -1
const NEEDS_RESOLUTION = -2
const SEGMENTS_UNAVAILABLE = -3 // src/udp.rs
/** #sendRun found no run to send: send the one datagram. */
const NO_RUN = -4
const META_STRIDE = 8 // src/udp.rs
const MAX_DATAGRAM = 64 * 1024
const RECEIVE_BATCH = 32

// One scratch buffer per thread, shared by every socket (receives are synchronous):
// room for a full batch of the largest datagrams, so none is ever truncated.
let scratch = null
/** The next UDP socket's #serial. */
let nextSerial = -2
let meta = null
function scratchBuffers() {
  if (scratch === null) {
    scratch = new Uint8Array(RECEIVE_BATCH * MAX_DATAGRAM)
    meta = new Uint32Array(RECEIVE_BATCH * META_STRIDE)
  }
}

// A run of datagrams sent in one call (src/gso.rs: the kernel's limits).
const RUN_MAX_SEGMENTS = 64
const RUN_MAX_BYTES = 63 * 1024
/**
 * The writable's highWaterMark, in messages: room for a run. A writer that waits for
 * `ready` keeps this many queued, and each write then goes out with those behind it (a
 * queue of 2, as TCP's, made runs of 2).
 */
const UDP_WRITABLE_HIGH_WATER_MARK = 32
// One buffer per thread for the run being sent (sends are synchronous).
let runBuffer = null

function sourceAddress(m, i) {
  const family = m[i + 3]
  if (family === 4) return ip.v4Text(m[i + 4])
  return ip.v6Text(m[i + 4], m[i + 5], m[i + 6], m[i + 7])
}

// The source address of the last datagram received from IPv4 (as a number) and as text:
// most batches come from one or a few peers, and each text made is a new string.
let lastSourceWord = -1
let lastSourceText = ''

/**
 * The datagram described at `meta[i]` (in the shared scratch buffer) as a UDPMessage with a
 * buffer of its own; in connected mode without the source.
 */
function messageAt(i, connected) {
  const m = meta
  const offset = m[i]
  const data = scratch.slice(offset, offset + m[i + 1])
  if (connected) return { data }
  let remoteAddress
  if (m[i + 3] === 4) {
    if (m[i + 4] !== lastSourceWord) {
      lastSourceText = ip.v4Text(m[i + 4])
      lastSourceWord = m[i + 4]
    }
    remoteAddress = lastSourceText
  } else {
    remoteAddress = sourceAddress(m, i)
  }
  return { data, remoteAddress, remotePort: m[i + 2] }
}

const WRITE_CONTEXT = "Failed to execute 'write' on 'WritableStream'"

/**
 * Converts a written chunk to a UDPMessage and applies spec 2.3's mode checks. A chunk that
 * cannot be converted rejects the write with a TypeError (spec 2.3), also when the cause
 * is an exception of another kind thrown by the chunk's own code (a member's getter, a
 * `toString`): that exception is the TypeError's `cause`.
 */
function convertMessage(chunk, connected) {
  try {
    return convertMessageSteps(chunk, connected)
  } catch (err) {
    if (err instanceof TypeError) throw err
    let detail = ''
    try {
      detail = `: ${err?.message ?? err}`
    } catch {}
    throw new TypeError(`${WRITE_CONTEXT}: the chunk cannot be converted to a UDPMessage${detail}`, { cause: err })
  }
}

function convertMessageSteps(chunk, connected) {
  if (chunk === null || chunk === undefined || (typeof chunk !== 'object' && typeof chunk !== 'function')) {
    throw new TypeError(`${WRITE_CONTEXT}: the chunk is not a UDPMessage ({ data, remoteAddress?, remotePort? }).`)
  }
  if (idl.isRawBytes(chunk)) {
    throw new TypeError(`${WRITE_CONTEXT}: write a UDPMessage ({ data }), not raw bytes.`)
  }
  // Each member read and converted in turn, in lexicographic order, as WebIDL does (`data`
  // is not a required member: its absence is refused after the mode checks, as spec 2.3
  // then copies it).
  // The converted message is a literal with every member (undefined when not given): its
  // members are defined, not assigned, so nothing on Object.prototype can take them.
  let data = chunk.data
  if (data !== undefined) data = idl.toBytes(data, `${WRITE_CONTEXT}: UDPMessage.data`)
  let dnsQueryType = chunk.dnsQueryType
  if (dnsQueryType !== undefined) dnsQueryType = idl.toDnsQueryType(dnsQueryType, `${WRITE_CONTEXT}: dnsQueryType`)
  let remoteAddress = chunk.remoteAddress
  if (remoteAddress !== undefined) remoteAddress = idl.toDOMString(remoteAddress, `${WRITE_CONTEXT}: remoteAddress`)
  let remotePort = chunk.remotePort
  if (remotePort !== undefined) remotePort = idl.toUnsignedShort(remotePort, `${WRITE_CONTEXT}: remotePort`)
  const msg = { data, dnsQueryType, remoteAddress, remotePort }
  if (connected) {
    if (msg.remoteAddress !== undefined || msg.remotePort !== undefined || msg.dnsQueryType !== undefined) {
      throw new TypeError(
        `${WRITE_CONTEXT}: remoteAddress, remotePort and dnsQueryType cannot be given in connected mode.`,
      )
    }
  } else if (msg.remoteAddress === undefined || msg.remotePort === undefined) {
    throw new TypeError(`${WRITE_CONTEXT}: remoteAddress and remotePort are required in bound mode.`)
  }
  if (msg.data === undefined) throw new TypeError(`${WRITE_CONTEXT}: UDPMessage.data is required.`)
  return msg
}

/** A message written before the writable started whose conversion failed (copyChunk). */
class EarlyFailure {
  constructor(error) {
    this.error = error
  }
}

/** A UDP socket's underlying source, with the fast default reads' steps (lib/streams.js). */
class UdpSource extends Source {
  readNow() {
    return this.socket.readNow()
  }

  waitsForRead() {
    return this.socket.waitsForRead()
  }

  waitForRead() {
    this.socket.waitForRead()
  }
}

/**
 * Owns one native UdpHandle: makes its readable and writable and calls
 * `Lifecycle.settleClosed(life, error)` (`life`: the UDPSocket) once both are closed or
 * errored, with the spec's precedence (the error of the stream that ended first wins).
 * Cancelling the readable or aborting the writable is a graceful end: `closed` then
 * resolves.
 */
class UdpConnection extends LazyStreams {
  #handle
  #coreRef = null
  /** This socket's number for wait.maySpin (TCP sockets' are their cores: 0 and up). */
  #serial = nextSerial--
  #connected
  #life
  #readController
  #readWait = 0
  #writeWait = 0
  #writeController
  #closing = false
  #pendingWrite = null
  /** Ends a write's wait for a host name lookup (close() or an abort came first). */
  #stopLookup = null
  #source
  /** A batch is being enqueued (it lives in the shared scratch buffers until then). */
  #delivering = false
  /** The stream pulled while a batch was being enqueued: receive again after it. */
  #pullAgain = false
  /** The readable has the fast default reads (lib/streams.js, readNowFirstDefault). */
  #fastReads = false
  /** Datagrams received that no read has taken yet, in order (see #keep), or null. */
  #ready = null
  /** The index in #ready of the next one. */
  #next = 0
  /** readNow() has just received nothing (see waitsForRead). */
  #triedNow = false
  /**
   * Messages queued behind the one being written that #sendRun converted and did not send,
   * in queue order: `{ chunk, msg }`, or `{ chunk, failed: true, error }` (each chunk's
   * members are read once).
   */
  #lookedAhead = []
  /** How many chunks queued behind the one being written went out in its run. */
  #sentAhead = 0
  /** Runs may be sent (not once the kernel refused one: src/gso.rs). */
  #runs = true

  constructor(handle, connected, life) {
    super()
    this.#handle = handle
    this.#connected = connected
    this.#life = life
  }

  makeReadable() {
    this.#source = new UdpSource(this)
    const readable = newReadableStream(this.#source, PULL_ON_READ)
    this.#fastReads = readNowFirstDefault(readable)
    return readable
  }

  /**
   * A written message converted, with a copy of its data, for one made before the
   * writable started (see Sink in lib/lifecycle.js); its conversion error if it fails, so
   * that the members are read once, at write().
   */
  copyChunk(chunk) {
    let msg
    try {
      msg = convertMessage(chunk, this.#connected)
    } catch (error) {
      return new EarlyFailure(error)
    }
    msg.data = idl.copyBytes(msg.data)
    return msg
  }

  // The stream steps the source and sink call (lib/lifecycle.js). A pull comes when a read
  // waits on an empty queue: one receive drains a whole batch, the reads waiting get its
  // first datagrams, and the reads after them take the rest from the socket (readNow), or
  // from the stream's queue without the fast reads.
  readStarted(c) {
    this.#readController = c
    startReadable(c, this)
  }

  writeStarted(c) {
    this.#writeController = c
    startWritable(c, this)
  }

  get writableHighWaterMark() {
    return UDP_WRITABLE_HIGH_WATER_MARK
  }

  closeWritable() {
    this.#lookedAhead = []
    this.writableEnded(undefined, true)
  }

  abortWritable() {
    this.closeWritable()
  }

  /** The native socket for the data-path functions, made on the first read or write. */
  #core() {
    return (this.#coreRef ??= this.#handle.core())
  }

  // A read that finds nothing arms the socket and returns; the wait's callback (Source's
  // onReady) receives then. A pull while that wait is armed leaves it to the wait.
  pullReadable(c) {
    // (Not expected: a read takes from #ready before it can wait.)
    if (this.#ready !== null) {
      while (this.#ready !== null && hasPendingRead(c)) c.enqueue(this.#takeReady())
      if (this.#ready !== null || !hasPendingRead(c)) return
    }
    if (this.#readWait !== 0) return
    // Enqueueing a datagram answers a read, and the stream pulls at once for the next
    // read still waiting: receiving now would overwrite the batch being delivered (the
    // scratch buffers are shared) and put newer datagrams before its rest.
    if (this.#delivering) {
      this.#pullAgain = true
      return
    }
    // A receive loop that always finds datagrams would never let the event loop turn.
    if (turns.mustYield()) return turns.nextTurn(() => this.#readWait === 0 && this.#receive())
    this.#receive()
  }

  /**
   * Drains what is ready into the queue; arms the socket when nothing is (`defer`: on a
   * busy thread, first tries again at the end of the turn, see wait.deferRead).
   */
  #receive(defer = true) {
    for (;;) {
      if (!this.readableOpen) return
      const n = this.#receiveBatch()
      if (n === null) return
      if (n > 0) {
        this.#pullAgain = false
        this.#delivering = true
        try {
          this.#deliver(this.#readController, n)
        } catch (err) {
          // Node's stream code threw from inside (lib/streams.js): the readable ends with
          // that error rather than leave its reads waiting (nothing may escape from a
          // readiness callback).
          this.#failReadable(err)
          return
        } finally {
          this.#delivering = false
        }
        // More reads wait than the batch answered: receive for them. (Datagrams kept for
        // the reads to come: none waits.)
        if (this.#ready !== null) this.#pullAgain = false
        if (!this.#pullAgain) return
        continue
      }
      if (!this.#waitForData(defer)) return
    }
  }

  /**
   * Receives a batch into the scratch buffers: how many datagrams, WOULD_BLOCK, or null
   * when the receive failed (the readable has then errored).
   */
  #receiveBatch() {
    scratchBuffers()
    try {
      return udpTryRecvBatch(this.#core(), scratch, meta, RECEIVE_BATCH, wait.maySpin(this.#serial))
    } catch (err) {
      this.#failReadable(fromNative(err))
      return null
    }
  }

  /**
   * Nothing to receive: waits for datagrams (`defer`: on a busy thread, first tries again
   * at the end of the turn, see wait.deferRead). True when they are there already.
   */
  #waitForData(defer) {
    if (defer && wait.putOff(this.#serial)) {
      this.#readWait = DEFERRED
      wait.deferRead(this)
      return false
    }
    try {
      this.#readWait = wait.armFor(wait.armHandle, this.#handle, false, this.#source)
    } catch (err) {
      this.#failReadable(fromNative(err))
      return false
    }
    return this.#readWait === 0
  }

  /**
   * For a read with nothing queued and no other read waiting (lib/streams.js,
   * readNowFirstDefault): the next datagram, from the batch received before or from one
   * received now, or null: none came (then waitsForRead), or a wait is armed, or the
   * event loop must turn first (a loop of reads that always find datagrams would never
   * let it), or the readable has ended; Node's pull steps then run.
   */
  readNow() {
    this.#triedNow = false
    if (this.#ready !== null) return this.#takeReady()
    if (this.#readWait !== 0 || this.#delivering || !this.readableOpen || turns.mustYield()) return null
    const n = this.#receiveBatch()
    // A failed receive errored the readable: the read is rejected with it (lib/streams.js).
    if (n === null) return null
    if (n <= 0) {
      this.#triedNow = true
      return null
    }
    // (A reply alone, as in request and response: no list for it.)
    if (n === 1) return messageAt(0, this.#connected)
    this.#keep(0, n * META_STRIDE)
    return this.#takeReady()
  }

  /** Asked right after readNow() returned null: true when it found nothing to receive. */
  waitsForRead() {
    return this.#triedNow
  }

  /** The read readNow() could not answer is listed: wait for datagrams, as a pull would. */
  waitForRead() {
    this.#triedNow = false
    if (this.#waitForData(true)) this.#receive(false)
  }

  /**
   * Keeps the datagrams of the batch from `meta[from]` to `meta[end]` for the reads to come
   * (after any still kept: not expected, as a batch is received only when none is).
   */
  #keep(from, end) {
    const kept = this.#ready === null ? 0 : this.#ready.length - this.#next
    const ready = new Array(kept + (end - from) / META_STRIDE)
    for (let j = 0; j < kept; j++) ready[j] = this.#ready[this.#next + j]
    for (let i = from, j = kept; i < end; i += META_STRIDE, j++) ready[j] = messageAt(i, this.#connected)
    this.#ready = ready
    this.#next = 0
  }

  /** The next datagram kept by #keep (there is one). */
  #takeReady() {
    const ready = this.#ready
    const msg = ready[this.#next]
    ready[this.#next] = undefined
    if (++this.#next === ready.length) this.#ready = null
    return msg
  }

  /** The read wait ended: `ready`, or cancelled (close, cancel) when false. */
  readReady(ready) {
    this.#readWait = 0
    if (ready) this.#receive()
  }

  /** The end of the turn in which a receive would block (wait.deferRead). */
  retryRead() {
    // Cancelled or closed meanwhile: #receive answers nothing more.
    if (this.#readWait !== DEFERRED) return
    this.#readWait = 0
    this.#receive(false)
  }

  /**
   * Hands the `n` datagrams just received to the readable: enqueued while reads wait (which
   * answers them), the rest kept for the reads to come (readNow) where the readable has the
   * fast reads, enqueued otherwise.
   */
  #deliver(c, n) {
    const end = n * META_STRIDE
    const connected = this.#connected
    let i = 0
    if (this.#fastReads) {
      for (; i < end && hasPendingRead(c); i += META_STRIDE) c.enqueue(messageAt(i, connected))
      if (i < end) this.#keep(i, end)
      return
    }
    for (; i < end; i += META_STRIDE) c.enqueue(messageAt(i, connected))
  }

  cancelReadable() {
    this.#ready = null
    if (!this.readableOpen) return
    // End a pending wait so that it does not keep the process alive. Sending goes on.
    wait.cancel(this.#readWait)
    this.readableEnded(undefined)
  }

  writeChunk(chunk, c) {
    // Sent already, in the run of a write before it: done at once, so that the stream
    // takes the whole run off its queue in the turn that sent it (an abort() in a later
    // turn cannot reject a write whose datagram went out).
    if (this.#sentAhead > 0) {
      this.#sentAhead--
      return undefined
    }
    let msg
    try {
      msg = this.#messageOf(chunk)
    } catch (err) {
      throw this.#failWrite(err)
    }
    // Done in a later macrotask if the event loop has waited too long (lib/turns.js); then
    // no run either (see above).
    const yieldFirst = turns.mustYield()
    let n
    try {
      n = yieldFirst ? NO_RUN : this.#sendRun(chunk, msg, c)
      if (n === NO_RUN) n = this.#trySend(msg.data, msg.remoteAddress, msg.remotePort)
      else if (n >= 0) return undefined
    } catch (err) {
      throw this.#failWrite(fromNative(err))
    }
    if (n >= 0) return yieldFirst ? turns.nextTurn() : undefined
    return (this.#pendingWrite = this.#writeLater(msg, n, c))
  }

  /** The written `chunk` as a UDPMessage: converted now, or by #sendRun's look-ahead. */
  #messageOf(chunk) {
    const lookedAhead = this.#lookedAhead
    if (lookedAhead.length > 0) {
      const first = lookedAhead.shift()
      if (first.chunk === chunk) {
        if (first.failed) throw first.error
        return first.msg
      }
      this.#lookedAhead = [] // not the queue's order: convert afresh
    }
    if (chunk instanceof EarlyFailure) throw chunk.error
    return convertMessage(chunk, this.#connected)
  }

  /**
   * Sends `msg` (the message of `chunk`, the chunk being written) in a run with the
   * messages queued behind it (lib/streams.js, writeQueue) that are the same size (the
   * last may be shorter) and go to the same destination: one call, one system call (UDP
   * GSO, src/gso.rs). The stream then hands us those chunks one by one, and writeChunk
   * finds them sent. Returns what the send returned (the byte count, or WOULD_BLOCK /
   * NEEDS_RESOLUTION: for those two nothing was sent, and the write goes on alone), or
   * NO_RUN when there is no run (one message, runs refused, or the look-ahead's getters
   * aborted the writable or changed the first message).
   */
  #sendRun(chunk, msg, c) {
    if (!this.#runs) return NO_RUN
    const queue = writeQueue(c)
    // Written before the stream started, a chunk comes as a copy (Sink in lib/lifecycle.js):
    // such writes are the first and go alone.
    if (queue === null || queue.length < 2 || queue[0].value !== chunk) return NO_RUN
    const size = byteLength(msg.data)
    if (size === 0 || size * 2 > RUN_MAX_BYTES) return NO_RUN
    // A host name is resolved for each message, alone.
    if (!this.#connected && ip.ipVersion(msg.remoteAddress) === 0) return NO_RUN
    const lookedAhead = this.#lookedAhead
    let count = 1
    let total = size
    let run = null
    for (let i = 1; i < queue.length && count < RUN_MAX_SEGMENTS; i++) {
      const entry = queue[i]
      if (entry.size !== 1) break // the close request
      let next = lookedAhead[i - 1]
      if (next === undefined) lookedAhead.push((next = this.#lookAhead(entry.value)))
      else if (next.chunk !== entry.value) break
      // Its getters may have aborted the writable: nothing behind this write goes out.
      if (next.failed || c.signal.aborted) break
      const m = next.msg
      const length = byteLength(m.data)
      // (An empty datagram cannot end a run: the kernel would send nothing for it.)
      if (length === 0 || length > size || total + length > RUN_MAX_BYTES) break
      if (m.remoteAddress !== msg.remoteAddress || m.remotePort !== msg.remotePort) break
      if (run === null) {
        // A getter may have detached or resized the first message's buffer.
        if (byteLength(msg.data) !== size) break
        run = runBuffer ??= new Uint8Array(RUN_MAX_BYTES)
        copyInto(run, msg.data, 0)
      }
      copyInto(run, m.data, total)
      total += length
      count++
      if (length < size) break // a shorter datagram ends a run
    }
    // A getter read while looking ahead may have aborted the writable: this write goes on
    // (it is the one in flight), the ones behind it do not.
    if (count === 1 || c.signal.aborted) return NO_RUN
    const n = this.#connected
      ? udpTrySendSegments(this.#core(), run, total, size)
      : udpTrySendSegments(this.#core(), run, total, size, msg.remoteAddress, msg.remotePort)
    if (n >= 0) {
      lookedAhead.splice(0, count - 1)
      this.#sentAhead = count - 1
      return n
    }
    if (n !== SEGMENTS_UNAVAILABLE) return n
    this.#runs = false
    return NO_RUN
  }

  /** A queued chunk converted ahead of its write (its error kept for then). */
  #lookAhead(chunk) {
    try {
      return { chunk, msg: convertMessage(chunk, this.#connected), failed: false, error: undefined }
    } catch (error) {
      return { chunk, msg: null, failed: true, error }
    }
  }

  #trySend(bytes, address, port) {
    return this.#connected ? udpTrySend(this.#core(), bytes) : udpTrySendTo(this.#core(), bytes, address, port)
  }

  /** The slow path: a host name to resolve, or a full send buffer to wait for. */
  async #writeLater(msg, n, c) {
    const handle = this.#handle
    // The spec sends a copy: keep the bytes safe from the caller while we wait.
    const bytes = idl.copyBytes(msg.data)
    let address = msg.remoteAddress
    try {
      for (let attempts = 0; ; attempts++) {
        if (n >= 0) return
        if (n === NEEDS_RESOLUTION) {
          if (attempts > 0) throw new TypeError(`Could not resolve '${msg.remoteAddress}' to an IP address.`)
          address = await this.#unlessStopped(handle.resolveDestination(address, msg.dnsQueryType), c.signal)
          if (c.signal.aborted) throw c.signal.reason
          if (this.#closing) throw closedByClose()
        } else {
          const ready = await this.#writableReady(c.signal)
          if (c.signal.aborted) throw c.signal.reason
          if (this.#closing) throw closedByClose()
          if (!ready) throw invalidState('The socket was closed.')
        }
        n = this.#trySend(bytes, address, msg.remotePort)
      }
    } catch (err) {
      if (this.#closing) throw closedByClose()
      if (c.signal.aborted && err === c.signal.reason) throw err
      throw this.#failWrite(fromNative(err))
    } finally {
      this.#pendingWrite = null
    }
  }

  /**
   * `lookup`'s result, or undefined as soon as close() or an abort cuts the write short: a
   * lookup cannot be cancelled, and neither may wait for it (its outcome is dropped).
   */
  #unlessStopped(lookup, signal) {
    return new Promise((resolve, reject) => {
      const stop = () => resolve(undefined)
      const done = () => {
        signal.removeEventListener('abort', stop)
        this.#stopLookup = null
      }
      signal.addEventListener('abort', stop, { once: true })
      this.#stopLookup = stop
      then(
        lookup,
        (address) => {
          done()
          resolve(address)
        },
        (err) => {
          done()
          reject(err)
        },
      )
    })
  }

  /** Waits for room in the send buffer; `false` if the socket closed or `signal` aborted. */
  async #writableReady(signal) {
    const armed = wait.arm(wait.armHandle, this.#handle, true)
    if (armed === true) return true
    this.#writeWait = armed.token
    const onAbort = () => wait.cancel(armed.token)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await armed.promise
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** close()'s "abort the writable" (see abortWritableForClose in lifecycle.js). */
  abortForClose() {
    if (!this.writableOpen) return
    this.#closing = true
    this.#lookedAhead = []
    abortWritableForClose(
      this.#writeController,
      this.#pendingWrite,
      () => {
        wait.cancel(this.#writeWait)
        this.#stopLookup?.()
      },
      () => this.writableEnded(undefined),
    )
  }

  /**
   * A failed write (its send, or its message's conversion): the write rejects and the
   * writable is closed (spec 2.3); messages looked ahead are let go.
   */
  #failWrite(error) {
    this.#lookedAhead = []
    this.writeFailed(error)
    return error
  }

  /** A receive error: the readable errors and is closed (spec 2.2). */
  #failReadable(error) {
    this.#ready = null
    if (!this.readableOpen) return
    errorStream(this.#readController, error)
    this.readableEnded(error)
  }

  /** Both streams have ended (StreamEnds): the socket closes and `closed` settles. */
  bothEnded(error) {
    this.#handle.close()
    wait.cancel(this.#readWait)
    wait.cancel(this.#writeWait)
    Lifecycle.settleClosed(this.#life, error)
  }
}

const CTX = "Failed to construct 'UDPSocket'"

/** WebIDL conversion of UDPSocketOptions. */
const toUDPSocketOptions = idl.dictionary('UDPSocketOptions', {
  dnsQueryType: idl.toDnsQueryType,
  ipv6Only: idl.toBoolean,
  localAddress: idl.toDOMString,
  localPort: idl.toEnforcedUnsignedShort,
  multicastAllowAddressSharing: idl.toBoolean,
  multicastLoopback: idl.toBoolean,
  multicastTimeToLive: idl.toEnforcedOctet,
  receiveBufferSize: idl.toEnforcedUnsignedLong,
  remoteAddress: idl.toDOMString,
  remotePort: idl.toEnforcedUnsignedShort,
  sendBufferSize: idl.toEnforcedUnsignedLong,
})

const isUnspecifiedV6 = (text) => ip.ipVersion(text) === 6 && ip.canonicalV6(text) === '::'

/** Spec 2.1's checks after the policy's, in its order. Returns 'connected' or 'bound'. */
function inferMode(o) {
  const hasRemoteAddress = o.remoteAddress !== undefined
  const hasRemotePort = o.remotePort !== undefined
  if (hasRemoteAddress !== hasRemotePort) {
    throw new TypeError(`${CTX}: remoteAddress and remotePort must be given together.`)
  }
  let mode = hasRemoteAddress ? 'connected' : null
  if (o.localPort === 0) throw new TypeError(`${CTX}: localPort must not be 0 (leave it out to let the OS pick).`)
  if (o.localPort !== undefined && o.localAddress === undefined) {
    throw new TypeError(`${CTX}: localPort requires localAddress.`)
  }
  if (o.localAddress !== undefined) {
    if (mode === 'connected') {
      throw new TypeError(`${CTX}: localAddress cannot be combined with remoteAddress and remotePort.`)
    }
    if (ip.ipVersion(o.localAddress) === 0) {
      throw new TypeError(`${CTX}: localAddress '${o.localAddress}' is not a valid IP address.`)
    }
    mode = 'bound'
  }
  if (mode === null) {
    throw new TypeError(`${CTX}: give remoteAddress and remotePort (connected mode) or localAddress (bound mode).`)
  }
  if (o.dnsQueryType !== undefined && mode === 'bound') {
    throw new TypeError(`${CTX}: dnsQueryType is only allowed in connected mode.`)
  }
  if (o.ipv6Only !== undefined) {
    if (mode === 'connected') throw new TypeError(`${CTX}: ipv6Only is only allowed in bound mode.`)
    if (!isUnspecifiedV6(o.localAddress)) {
      throw new TypeError(`${CTX}: ipv6Only is only allowed with localAddress '::'.`)
    }
  }
  if (o.sendBufferSize === 0) throw new TypeError(`${CTX}: sendBufferSize must not be 0.`)
  if (o.receiveBufferSize === 0) throw new TypeError(`${CTX}: receiveBufferSize must not be 0.`)
  return mode
}

function nativeOptions(o) {
  return {
    sendBufferSize: o.sendBufferSize,
    receiveBufferSize: o.receiveBufferSize,
    dnsQueryType: o.dnsQueryType,
    ipv6Only: o.ipv6Only,
    multicastTimeToLive: o.multicastTimeToLive,
    multicastLoopback: o.multicastLoopback,
    multicastAllowAddressSharing: o.multicastAllowAddressSharing,
  }
}

/** Makes the UDPSocket class bound to one native `Sockets` (one policy). */
function defineUDPSocket(sockets) {
  const checkConstructor = constructorCheck(sockets)
  const KIND = Lifecycle.kind('UDPSocket')
  class UDPSocket {

    /**
     * Connected mode with `{ remoteAddress, remotePort }`, bound mode with
     * `{ localAddress, localPort? }`. Wait for `opened` for the streams.
     */
    constructor(options = undefined) {
      Lifecycle.stamp(this, KIND)
      const o = toUDPSocketOptions(options, CTX)
      checkConstructor()
      if (
        o.multicastTimeToLive !== undefined ||
        o.multicastLoopback !== undefined ||
        o.multicastAllowAddressSharing !== undefined
      ) {
        nativeCall(() => sockets.checkMulticast())
      }
      const mode = inferMode(o)

      const life = this
      const connected = mode === 'connected'
      const open = (handle) => {
        const connection = new UdpConnection(handle, connected, life)
        const { localAddress, localPort, remoteAddress, remotePort } = handle.info()
        // Members in lexicographic order, as WebIDL makes a dictionary's object.
        // The streams are made on first use (lib/lifecycle.js, addStream).
        const info = linkInfo(localAddress, localPort, connection)
        if (!connected && sockets.multicastAllowed) {
          // Defined, not assigned (see lib/lifecycle.js, linkInfo).
          defineData(info, 'multicastController', createMulticastController(handle))
        }
        addStream(info, 'readable')
        if (connected) addRemote(info, remoteAddress, remotePort)
        addStream(info, 'writable')
        Lifecycle.open(life, info, connection)
      }
      const fail = (err) => Lifecycle.fail(life, fromNative(err))
      const native = nativeOptions(o)
      const opening = connected
        ? sockets.connectUdp(o.remoteAddress, o.remotePort, native)
        : sockets.bindUdp(o.localAddress, o.localPort, native)
      then(opening, (key) => open(sockets.takeUdp(key)), fail)
    }

    /** Resolves with `{ readable, writable, localAddress, localPort, ... }` (see UDPSocketOpenInfo). */
    get opened() {
      return Lifecycle.is(this, KIND) ? Lifecycle.opened(this) : idl.illegalInvocation()
    }

    /** Resolves once both streams are closed; rejects with the first stream error. */
    get closed() {
      return Lifecycle.is(this, KIND) ? Lifecycle.closed(this) : idl.illegalInvocation()
    }

    /** For `util.inspect` / `console.log`: the state and, once open, the addresses. */
    [INSPECT](depth, options, inspect) {
      return Lifecycle.is(this, KIND) ? Lifecycle.inspect(this, depth, options, inspect) : this
    }

    /** Cancels the readable, aborts the writable and returns `closed`. */
    close() {
      return Lifecycle.is(this, KIND) ? Lifecycle.close(this) : idl.illegalInvocation()
    }
  }
  idl.defineInterface(UDPSocket, 'UDPSocket', ['opened', 'closed', 'close'])
  return UDPSocket
}

module.exports = { defineUDPSocket, convertMessage }
