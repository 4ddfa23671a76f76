'use strict'
// Making the sockets' ReadableStreams and WritableStreams so that they share hidden classes.
//
// Node 20 builds every web stream through `makeTransferable` (lib/internal/worker/
// js_transferable.js), which creates the real object with
// `Reflect.construct(JSTransferable, [], obj.constructor)`. With `new.target` a class that
// does not derive from the C++ class JSTransferable (ReadableStream itself), V8 cannot
// cache the map it derives for the object, so every stream gets a hidden class (map) of
// its own: the property loads in Node's stream code (`stream[kState]` on every read and
// write) go megamorphic, and with hundreds of streams V8's megamorphic stub cache misses
// (the generic LoadIC builtins took 18 % of the CPU with 500 connections doing round
// trips).
//
// With `new.target` a subclass of JSTransferable, V8 caches the derived map on that class:
// every object gets the same map, and so do the maps it goes through after that. So a
// stream is made as an instance of a private subclass of ReadableStream whose prototype's
// `constructor` is such a class (nothing global is changed), and then given the public
// prototype back: the object is what `new ReadableStream(...)` makes (the same prototype,
// `constructor`, brand, name in stack traces and heap snapshots, transfer through
// postMessage), only with a shared map. JSTransferable is the parent class of
// `net.BlockList` on Node 20. Where that is not so (other Node versions: no
// makeTransferable), streams are made as usual.
//
// `makeTransferable` also copies the object the constructor built (the husk) into the
// JSTransferable it makes, through `Object.getOwnPropertyDescriptors` and
// `Object.defineProperties`: a slow path that took about a third of the time of making a
// stream. So the fields the constructor assigns (its state, its closed promise, its error
// function; not its class field, which is defined on the husk whatever its prototype has)
// are caught by accessors on the private subclass's prototype while it runs, and stored on
// the stream handed out afterwards: `makeTransferable` copies one field instead of four,
// and making a stream takes 2-4 µs less (9-10 µs instead of 13-14 on this VM). The husk,
// which the controller names until lib/streams.js points it at the stream (below), reads
// and writes them through the stream from then on.

const {
  ReadableStream,
  WritableStream,
  ReadableByteStreamController,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
  WritableStreamDefaultWriter,
} = require('node:stream/web')
const { BlockList } = require('node:net')
const {
  then,
  microtask,
  defineData,
  dataDescriptor,
  resolvedWith,
  rejectedWith,
  listOfOne,
  uncurryThis,
  RESOLVED,
} = require('./primordials')

/** Node 20's JSTransferable (the parent class of net.BlockList), or null. */
function findJSTransferable() {
  try {
    const parent = Object.getPrototypeOf(BlockList)
    if (typeof parent !== 'function' || parent.name !== 'JSTransferable') return null
    return new BlockList() instanceof parent ? parent : null
  } catch {
    return null // BlockList replaced by something that throws
  }
}
const JSTransferable = findJSTransferable()
// Kept from load time, like lib/primordials.js's built-ins.
const { apply, construct, setPrototypeOf, defineProperty, ownKeys } = Reflect
const { getOwnPropertySymbols, getPrototypeOf, getOwnPropertyDescriptor } = Object
const ObjectPrototype = Object.prototype

/** On a husk, once its stream is made: the stream, which holds the fields it assigned. */
const kPartner = Symbol('stream made')
/** On our copies of a readable's state and a writable's controller state: its source or sink. */
const kUnderlying = Symbol('underlying source or sink')

// Every Node 20 web stream holds `stream[kIsClosedPromise]`, a `{ promise, resolve, reject }`
// made at once (a promise and its two resolving functions, about 0.2 KiB), for
// `stream.finished()` (end-of-stream.js, the one reader of `promise`); the stream code
// only calls `resolve()` / `reject()` on it, as methods. Ours get a record whose promise is
// made when first asked for, settled as the calls before said.
const kIsClosedPromise = Symbol.for('nodejs.webstream.isClosedPromise')
const kControllerErrorFunction = Symbol.for('nodejs.webstream.controllerErrorFunction')
const doNothing = () => {}
const PENDING = 0
const FULFILLED = 1
const REJECTED = 2
const NativePromise = Promise

class LazyClosed {
  #promise = undefined
  #outcome = PENDING
  /**
   * Before the promise is asked for: the value it settled with. Once asked for while
   * pending: `[resolve, reject]` (three fields, not five: most are never asked for).
   */
  #held = undefined

  get promise() {
    if (this.#promise === undefined) {
      if (this.#outcome === FULFILLED) this.#promise = resolvedWith(this.#held)
      else if (this.#outcome === REJECTED) this.#promise = rejectedWith(this.#held)
      else this.#promise = new NativePromise((resolve, reject) => void (this.#held = [resolve, reject]))
      if (this.#outcome !== PENDING) this.#held = undefined
    }
    return this.#promise
  }

  resolve(value) {
    LazyClosed.#settle(this, FULFILLED, value)
  }

  /** Whether `record` is a LazyClosed whose promise has been made. */
  static asked(record) {
    return typeof record === 'object' && record !== null && #promise in record && record.#promise !== undefined
  }

  reject(reason) {
    LazyClosed.#settle(this, REJECTED, reason)
  }

  static #settle(self, outcome, value) {
    if (self.#outcome !== PENDING) return
    self.#outcome = outcome
    if (self.#promise === undefined) {
      self.#held = value
      return
    }
    const resolvers = self.#held
    self.#held = undefined
    resolvers[outcome === FULFILLED ? 0 : 1](value)
  }
}

// A stream's own closed record (`stream[kIsClosedPromise]`) is an accessor, the same
// getter and setter on every stream made here (V8 keeps them in the streams' shared hidden
// class: nothing per stream). Asked for while the stream is open, it makes the stream's
// LazyClosed and keeps it in `closedRecords` (`stream.finished()` asks, and Node's own code
// when the stream errors); asked for once the stream has closed, before anything asked,
// it is one settled record for all (Node then only calls `resolve()` on it). A stream
// holds none of its own until asked: 56 bytes less a stream (the record, and the field
// that held it).
const weakMapGet = uncurryThis(WeakMap.prototype.get)
const weakMapSet = uncurryThis(WeakMap.prototype.set)
const closedRecords = new WeakMap()
const CLOSED_RECORD = new LazyClosed()
CLOSED_RECORD.resolve(undefined)

/** `stream[kIsClosedPromise]` of a stream made here (see above). */
function closedRecordOf() {
  let record = weakMapGet(closedRecords, this)
  if (record !== undefined) return record
  const state = this[kState]
  if (state.state === 'closed') return CLOSED_RECORD
  record = new LazyClosed()
  if (state.state === 'errored') record.reject(state.storedError)
  weakMapSet(closedRecords, this, record)
  return record
}

/** Assigning `stream[kIsClosedPromise]` makes it an ordinary field of that stream. */
function setClosedRecord(value) {
  defineData(this, kIsClosedPromise, value)
}

const CLOSED_RECORD_ACCESSOR = { __proto__: null, get: closedRecordOf, set: setClosedRecord, enumerable: true, configurable: true }

/** Gives `stream` (made here) its closed-record accessor. */
const lazyClosedRecord = (stream) => defineProperty(stream, kIsClosedPromise, CLOSED_RECORD_ACCESSOR)

/** `value` is Node's closed-promise record as it is made: `{ promise, resolve, reject }`. */
const isClosedRecord = (value) =>
  typeof value === 'object' &&
  value !== null &&
  value.promise instanceof NativePromise &&
  typeof value.resolve === 'function' &&
  typeof value.reject === 'function'

/**
 * The symbol-keyed fields `Base`'s constructor assigns (rather than defines as class
 * fields), in the order first assigned, and the first value of each: found by making one
 * as an instance of a subclass whose prototype has a setter for each field a `Base` has.
 */
function assignedFields(Base) {
  const fields = getOwnPropertySymbols(new Base())
  const assigned = []
  const firstValues = []
  class Probe extends Base {}
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    defineProperty(Probe.prototype, field, {
      set(value) {
        if (!assigned.includes(field)) {
          assigned.push(field)
          firstValues.push(value)
        }
        defineData(this, field, value)
      },
    })
  }
  void new Probe()
  return { assigned, firstValues }
}

/** Base (ReadableStream, WritableStream) -> the subclass of JSTransferable its streams are made as. */
const transferableOf = new Map()

/** A maker of `Base` streams with shared maps, or null where the trick does not apply. */
function sharedMapMaker(Base) {
  if (JSTransferable === null) return null
  // An explicit constructor: the default one spreads its arguments through the array
  // iterator, which code running later could replace.
  class Shared extends Base {
    constructor(underlying, strategy) {
      super(underlying, strategy)
    }
  }
  // A subclass of JSTransferable rather than JSTransferable itself: V8 names an object after
  // its map's constructor when that is not the class itself (`new.target` here), so stack
  // traces, the inspector and heap snapshots still say ReadableStream / WritableStream.
  class Transferable extends JSTransferable {}
  Object.defineProperty(Shared.prototype, 'constructor', { value: Transferable })
  transferableOf.set(Base, Transferable)
  const proto = Base.prototype
  // The fields the constructor assigns, kept here while it runs (see above).
  let fields = []
  let firstValues = []
  try {
    ;({ assigned: fields, firstValues } = assignedFields(Base))
  } catch {}
  const values = new Array(fields.length)
  let building = false
  let husk = null
  // The closed-promise record is replaced as it is assigned (see LazyClosed), where Node's
  // is as described.
  let lazyClosed = false
  // The constructor's first value for the controller error function is a placeholder that
  // does nothing, `() => {}` (a byte stream keeps it; the others' controllers replace it
  // with their bound `error`): one shared function stands for it.
  let sharedPlaceholder = false
  try {
    lazyClosed = isClosedRecord(firstValues[fields.indexOf(kIsClosedPromise)])
    sharedPlaceholder = `${firstValues[fields.indexOf(kControllerErrorFunction)]}` === '() => {}'
  } catch {}
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    const lazy = lazyClosed && field === kIsClosedPromise
    const placeholder = sharedPlaceholder && field === kControllerErrorFunction
    defineProperty(Shared.prototype, field, {
      get() {
        if (this === husk) return values[i]
        const stream = this[kPartner]
        return stream === undefined ? undefined : stream[field]
      },
      set(value) {
        if (building && (husk === null || husk === this)) {
          husk = this
          if (lazy) value = new LazyClosed()
          else if (placeholder && values[i] === undefined) value = doNothing
          values[i] = value
          return
        }
        const stream = this[kPartner]
        if (stream !== undefined) stream[field] = value
        else defineData(this, field, value)
      },
    })
  }
  const make = (underlying, strategy) => {
    // A stream made while one is being made (not done by ours) is made as usual.
    if (building) return new Base(underlying, strategy)
    building = true
    try {
      const stream = new Shared(underlying, strategy)
      setPrototypeOf(stream, proto)
      for (let i = 0; i < fields.length; i++) {
        // The closed record, as the accessor would make it, unless its promise was asked
        // for while the constructor ran (a stream errored in its start).
        if (lazyClosed && fields[i] === kIsClosedPromise && !LazyClosed.asked(values[i])) lazyClosedRecord(stream)
        else stream[fields[i]] = values[i]
      }
      if (husk !== null) husk[kPartner] = stream
      return stream
    } finally {
      building = false
      husk = null
      for (let i = 0; i < values.length; i++) values[i] = undefined
    }
  }
  // A stream made so must be what `new Base()` makes: the same prototype and constructor,
  // and the same fields, in the same order.
  try {
    const probe = make(undefined, undefined)
    if (getPrototypeOf(probe) !== proto || probe.constructor !== Base) return null
    const made = ownKeys(probe)
    const plain = ownKeys(new Base())
    if (made.length !== plain.length || made.some((key, i) => key !== plain[i])) return null
  } catch {
    return null
  }
  return make
}

// The state of a Node 20 web stream (`stream[kState]`, a symbol-keyed own property) is made
// as `{ __proto__: null, ... }`, and V8 makes such literals in dictionary mode: every access
// in Node's stream code looks the field up in a hash table, and the writable's state, with
// its six nested request records, takes 1.6 KiB more heap than the same fields in fast
// mode. So each stream made here gets a fast-mode copy of its state (null prototype too,
// the same fields in the same order, so all share one map).
//
// Who holds the state when the constructor returns: the stream handed out, and the object
// the constructor built, which `makeTransferable` copied into the one handed out (sharing
// the state) and which the controller names as its stream. Nothing else holds the state or
// its nested records yet. Both objects get the copy, and the controller is pointed at the
// stream handed out (as the spec has it), so the other object, a husk, can be collected.
// Only on Node 20, whose internals (lib/internal/webstreams/*.js) this was written against,
// and only where the layout is as described; anywhere else streams are left as made.
const NODE_MAJOR = Number(process.versions.node.split('.')[0])
const isArray = Array.isArray

const isNullProtoRecord = (v) => typeof v === 'object' && v !== null && !isArray(v) && getPrototypeOf(v) === null

/** `record`'s field names, nested null-prototype records' in braces: 'a,b{c,d},e'. */
function layoutOf(record) {
  const keys = ownKeys(record)
  let layout = ''
  for (let i = 0; i < keys.length; i++) {
    // Our own fields (see shareSource, lazyReaderClosed, WRITABLE_STATE_PROTO).
    if (keys[i] === kUnderlying || keys[i] === kReader || keys[i] === kWriter) continue
    if (typeof keys[i] !== 'string') return null
    const value = record[keys[i]]
    layout += (layout === '' ? '' : ',') + keys[i] + (isNullProtoRecord(value) ? `{${layoutOf(value)}}` : '')
  }
  return layout
}

// The copies are written out field by field: a generic copy (keys, then keyed stores) took
// 9 µs a writable state, as much as making the stream. Each is used only when a probe's
// state has exactly the layout it copies (Node 20.x; checked at load).
const nullProto = (record) => setPrototypeOf(record, null) && record
const request = (r) => nullProto({ promise: r.promise, resolve: r.resolve, reject: r.reject })

const WRITABLE_LAYOUT =
  'close,closeRequest{promise,resolve,reject},inFlightWriteRequest{promise,resolve,reject},' +
  'inFlightCloseRequest{promise,resolve,reject},pendingAbortRequest{abort{promise,resolve,reject},' +
  'reason,wasAlreadyErroring},backpressure,controller,state,storedError,writeRequests,writer,' +
  'transfer{readable,port1,port2,promise}'
/** Our copy's: `writer` behind WRITABLE_STATE_PROTO's accessor (below). */
const WRITABLE_COPY_LAYOUT = WRITABLE_LAYOUT.replace(',writer,', ',').replace(
  'inFlightWriteRequest{promise,resolve,reject}',
  'inFlightWriteRequest',
)
const copyWritableState = (s) => {
  const { pendingAbortRequest: abort, transfer, inFlightWriteRequest: inFlight } = s
  return withWriterHook({
    close: s.close,
    closeRequest: request(s.closeRequest),
    // A plain record, as Node makes it once a write has been in flight (the initial one
    // has no prototype): two kinds of record there made code that reads it (the writers'
    // idleControllerState, and every loop it was compiled into) meet a second one later
    // and be thrown away.
    inFlightWriteRequest: { promise: inFlight.promise, resolve: inFlight.resolve, reject: inFlight.reject },
    inFlightCloseRequest: request(s.inFlightCloseRequest),
    pendingAbortRequest: nullProto({
      abort: request(abort.abort),
      reason: abort.reason,
      wasAlreadyErroring: abort.wasAlreadyErroring,
    }),
    backpressure: s.backpressure,
    controller: s.controller,
    state: s.state,
    storedError: s.storedError,
    writeRequests: s.writeRequests,
    [kWriter]: s.writer,
    transfer: nullProto({
      readable: transfer.readable,
      port1: transfer.port1,
      port2: transfer.port2,
      promise: transfer.promise,
    }),
  })
}

// A stream's `transfer` record ({ writable or readable, port1, port2, promise }, all
// undefined until the stream is transferred through postMessage) is used only by Node's
// transfer steps: our copies get it on first use, from an accessor on their prototype
// (48 bytes less a stream). The copy made of a record whose fields are set already keeps
// its own.
const unsetTransfer = (t) =>
  t.writable === undefined && t.port1 === undefined && t.port2 === undefined && t.promise === undefined

// A reader's `closed` promise: Node gives each reader, as it is made, a pending promise
// and its two resolving functions (`reader[kState].close`, 264 bytes with its record and
// their context), held as long as the reader, though few callers ever look at
// `reader.closed`. A reader of our readables gets a LazyClosed instead (72 bytes; the
// promise is made when asked for, settled as it would have been). The readable's state
// copy holds its reader in a field of its own behind a `reader` accessor: when Node
// attaches a reader (`stream[kState].reader = reader`, before it makes the reader's
// closed promise), the reader's state is replaced by a copy whose `close` is an accessor
// too, and the pending record Node then makes is exchanged for a marker, UNASKED, which
// becomes a LazyClosed when Node or the caller first asks for the record (reader.closed,
// or the stream's close, error or the reader's release settling it): an idle reader holds
// none (48 bytes less). Records Node makes settled (a reader of a closed or errored
// stream, a released reader) are kept as they are. Only where the reader's state is as a
// probe found it (Node 20).
const kReader = Symbol('reader')
const kClose = Symbol('reader closed')
/** On a default reader's state copy: the list of read requests trimmed to one slot (see FAST_READS). */
const kTrimmed = Symbol('trimmed read requests')
let lazyReaderClosed = false
/** Node's default reader prototype, and ours for readers of readables made here (see `read` below). */
const nodeReaderProto = ReadableStreamDefaultReader.prototype
let fastReaderProto = null

/** A reader's pending closed-promise record not asked for yet (see above). */
const UNASKED = Object.freeze(nullProto({}))

/** A reader state's `close` accessor: a pending record Node makes becomes a LazyClosed when first asked for. */
const READER_STATE_PROTO = {
  get close() {
    const record = this[kClose]
    return record === UNASKED ? (this[kClose] = new LazyClosed()) : record
  },
  set close(value) {
    this[kClose] = isClosedRecord(value) ? UNASKED : value
  },
}

/** Node's reader state of `reader` as a copy with the `close` accessor, while it is as first made. */
function fastenReaderState(reader) {
  const s = reader[kState]
  if (typeof s !== 'object' || s === null || getPrototypeOf(s) !== ObjectPrototype) return
  const close = s.close
  if (typeof close !== 'object' || close === null || close.promise !== undefined || close.resolve !== undefined) return
  let copy
  if (isArray(s.readRequests) && s.readIntoRequests === undefined) {
    // Node's empty list is a list of small integers to V8, ours (roomForOne) one of
    // objects: a reader whose reads all found data kept Node's, and the first of those
    // met by code optimized for the other kind threw that code away (a deoptimization,
    // and a fresh compile of the reading loop). Every list is ours from the start.
    const requests = s.readRequests.length === 0 ? listOfOne() : s.readRequests
    copy = { readRequests: requests, stream: s.stream, [kClose]: close, [kTrimmed]: requests.length === 0 ? requests : undefined }
    if (fastReaderProto !== null && getPrototypeOf(reader) === nodeReaderProto) setPrototypeOf(reader, fastReaderProto)
  } else if (isArray(s.readIntoRequests) && s.readRequests === undefined) {
    copy = { stream: s.stream, readIntoRequests: s.readIntoRequests, [kClose]: close }
  } else {
    return
  }
  setPrototypeOf(copy, READER_STATE_PROTO)
  reader[kState] = copy
}

// Made from property descriptors (an object spread would call the `transfer` getter once,
// here, and leave every stream one shared record: RELIABILITY 48).
const READABLE_STATE_PROTO = Object.create(
  null,
  Object.getOwnPropertyDescriptors({
    get transfer() {
      const record = nullProto({ writable: undefined, port1: undefined, port2: undefined, promise: undefined })
      defineData(this, 'transfer', record)
      return record
    },
    set transfer(value) {
      defineData(this, 'transfer', value)
    },
    get reader() {
      return this[kReader]
    },
    set reader(value) {
      if (lazyReaderClosed && value !== undefined) fastenReaderState(value)
      this[kReader] = value
    },
  }),
)

const READABLE_LAYOUT = 'disturbed,reader,state,storedError,transfer{writable,port1,port2,promise},controller'
const READABLE_COPY_LAYOUT = 'disturbed,state,storedError,controller'
const copyReadableState = (s) => {
  const { transfer } = s
  const copy = {
    disturbed: s.disturbed,
    [kReader]: s.reader,
    state: s.state,
    storedError: s.storedError,
    controller: s.controller,
    [kUnderlying]: undefined,
  }
  setPrototypeOf(copy, READABLE_STATE_PROTO)
  if (!unsetTransfer(transfer)) copy.transfer = transfer
  return copy
}

/** The symbol-keyed property of `object` whose symbol is described `description`, or null. */
function symbolNamed(object, description) {
  const symbols = getOwnPropertySymbols(object)
  for (let i = 0; i < symbols.length; i++) if (symbols[i].description === description) return symbols[i]
  return null
}

/** The symbol Node keeps a stream's state under, or null. */
function findStateKey() {
  if (NODE_MAJOR !== 20) return null
  try {
    return symbolNamed(new WritableStream(), 'kState')
  } catch {}
  return null
}
const kState = findStateKey()

// Node 20.20's WritableStream clears its controller's algorithms once the sink's close()
// (or abort()) is called, and `writableStreamDefaultControllerGetChunkSize` then asserts
// that the stream is erroring or errored. Once a close has begun the stream is neither, so
// `writer.write()` after `writer.close()` threw ERR_INTERNAL_ASSERTION ("a bug in Node.js"),
// synchronously, instead of returning a promise rejected with a TypeError, as the streams
// spec's GetChunkSize (which returns 1 when the algorithm is gone) makes it. Our writables'
// controller state is given a copy in which the size algorithm lives in a symbol-keyed
// field behind an accessor on a shared prototype, whose setter turns the clearing into
// `() => 1` (what the spec's GetChunkSize answers then; our own algorithm, which holds the
// socket, is let go). A write after close then gets the spec's rejection ("WritableStream
// is closed").
const kSize = Symbol('size algorithm')
/**
 * On a writable's controller state made here: a chunk the sink's `writeNow` took is counted
 * in flight (FAST_WRITER_PROTO, until writeDoneSoon).
 */
const kWritingNow = Symbol('written at once')
/** What the spec's GetChunkSize returns once the algorithm is gone (ours, which holds the socket, is let go). */
const sizeOne = () => 1
const KEEP_SIZE = nullProto({
  get sizeAlgorithm() {
    return this[kSize]
  },
  set sizeAlgorithm(value) {
    this[kSize] = value === undefined ? sizeOne : value
  },
})
const WRITABLE_CONTROLLER_LAYOUT =
  'abortAlgorithm,closeAlgorithm,highWaterMark,queue,queueTotalSize,abortController,sizeAlgorithm,' +
  'started,stream,writeAlgorithm'
const copyWritableControllerState = (s) => {
  const copy = {
    abortAlgorithm: s.abortAlgorithm,
    closeAlgorithm: s.closeAlgorithm,
    highWaterMark: s.highWaterMark,
    queue: s.queue,
    queueTotalSize: s.queueTotalSize,
    abortController: s.abortController,
    started: s.started,
    stream: s.stream,
    writeAlgorithm: s.writeAlgorithm,
    [kSize]: s.sizeAlgorithm,
    [kUnderlying]: undefined,
    [kWritingNow]: false,
  }
  setPrototypeOf(copy, KEEP_SIZE)
  return copy
}

// Writes straight to the socket. Node's `writer.write(chunk)` makes a write request (a
// promise, its two resolving functions and their record) and lists it, queues a
// `{ value, size }` record, checks the backpressure, calls the sink's write and attaches
// two closures to the promise it returns; a microtask later those take the request and the
// record off their lists, resolve the promise and check the backpressure again: about
// 0.55 KB allocated a write, and much of the JavaScript an echo server compiles. When the
// writable is idle (writable, started, nothing queued or in flight, no close requested)
// and the socket takes the chunk whole at once, all of that ends where it began. So our
// sockets' writers hand such a chunk to the sink's `writeNow` first, as the spec's steps
// hand it to the sink's write inside write(), and return a promise resolved as the write's
// would be. The chunk counts as in flight until the microtask in which Node's steps would
// have finished it (the controller's queue total holds it: `desiredSize` is 1 meanwhile,
// and a write made before then takes Node's steps, and sees the backpressure the spec
// gives it). Any other case (the chunk taken in part or not at all, an error, a chunk that
// is not a BufferSource, a stream not idle, the event loop owed a turn) takes Node's steps
// as before, and the sink's write picks up where `writeNow` stopped (the rest of the
// chunk, the error). A writer gets the prototype below, whose `write` does this (the rest
// is Node's, inherited), when it is attached to a writable made here whose sink can
// (`stream[kState].writer = writer` in Node's setup of a writer: an accessor on our state
// copies, as for readers above). Only where a probe finds Node's writer as described.
const kWriter = Symbol('writer')
const NodeWriterProto = WritableStreamDefaultWriter.prototype

/**
 * The controller state of `writer`'s writable when a chunk written now would go straight
 * to the sink (the stream idle, as above), else null.
 */
function idleControllerState(writer) {
  const stream = writer[kState].stream
  if (stream === undefined) return null
  const state = stream[kState]
  if (
    state.state !== 'writable' ||
    state.inFlightWriteRequest.promise !== undefined ||
    state.closeRequest.promise !== undefined ||
    state.inFlightCloseRequest.promise !== undefined ||
    state.writeRequests.length !== 0
  ) {
    return null
  }
  const controllerState = state.controller[kState]
  if (controllerState.started !== true || controllerState.queueTotalSize !== 0 || controllerState.queue.length !== 0) {
    return null
  }
  return controllerState
}

/**
 * Ends, in the microtask after it, the write counted in flight on a controller state (see
 * above), one microtask for every write of the turn (inOneMicrotask, below).
 */
const writeDoneSoon = inOneMicrotask((state) => {
  // An error or abort meanwhile empties the queue (its total 0): nothing to take off.
  if (state.queueTotalSize >= 1) {
    state.queueTotalSize -= 1
    // As the spec's steps after a write (ProcessWrite): with room again, backpressure ends
    // and the writer's `ready` resolves (a write queued behind this one turned it on).
    if (state.highWaterMark - state.queueTotalSize > 0) endBackpressure(state.stream[kState])
  }
  // A write made meanwhile (which sharedWrite holds back until now) may go.
  state[kWritingNow] = false
})

/** WritableStreamUpdateBackpressure(stream, false), for a writable stream state. */
function endBackpressure(s) {
  if (
    !s.backpressure ||
    s.state !== 'writable' ||
    s.closeRequest.promise !== undefined ||
    s.inFlightCloseRequest.promise !== undefined
  ) {
    return
  }
  s.backpressure = false
  s.writer?.[kState].ready.resolve?.()
}

/** The prototype for our sockets' writers (see above), or null where Node is not as described. */
function fastWriterPrototype() {
  if (kState === null) return null
  try {
    const descriptor = getOwnPropertyDescriptor(NodeWriterProto, 'write')
    const nodeWrite = descriptor?.value
    if (typeof nodeWrite !== 'function') return null
    const probe = new WritableStream()
    const probeWriter = probe.getWriter()
    if (probeWriter[kState]?.stream !== probe || !isArray(probe[kState]?.writeRequests)) return null
    const proto = Object.create(NodeWriterProto)
    // A method (named `write`, length 0, not a constructor), as Node's is.
    const { write } = {
      write(chunk = undefined) {
        if (typeof this === 'object' && this !== null && getPrototypeOf(this) === proto) {
          const controllerState = idleControllerState(this)
          if (controllerState !== null) {
            const written = controllerState[kUnderlying].writeNow(chunk)
            if (written !== undefined) {
              controllerState.queueTotalSize = 1
              controllerState[kWritingNow] = true
              writeDoneSoon(controllerState)
              return written
            }
          }
        }
        return apply(nodeWrite, this, [chunk])
      },
    }
    defineProperty(proto, 'write', { ...descriptor, value: write })
    return proto
  } catch {
    return null
  }
}
const FAST_WRITER_PROTO = fastWriterPrototype()

/** A writer being attached to a writable made here: our prototype, if its sink writes at once. */
function fastenWriter(state, writer) {
  if (getPrototypeOf(writer) !== NodeWriterProto) return
  const sink = state.controller?.[kState]?.[kUnderlying]
  if (typeof sink === 'object' && sink !== null && sink.writesNow === true) setPrototypeOf(writer, FAST_WRITER_PROTO)
}

/** The prototype of our writables' state copies: Node's `writer` field behind an accessor. */
const WRITABLE_STATE_PROTO = nullProto({
  get writer() {
    return this[kWriter]
  },
  set writer(value) {
    if (value !== undefined && FAST_WRITER_PROTO !== null) fastenWriter(this, value)
    this[kWriter] = value
  },
})
const withWriterHook = (record) => setPrototypeOf(record, WRITABLE_STATE_PROTO) && record

/**
 * Gives `stream` (just made) `kind.copy` of its state, where Node's layout is as expected
 * (see above): the stream and the object its controller names both get the copy, and the
 * controller is pointed at the stream; then, for a writable, its controller the copy of
 * its own state (`kind.copyController`).
 */
function fastenState(stream, kind, underlying) {
  const state = stream[kState]
  if (!isNullProtoRecord(state)) return stream
  const { controller } = state
  const controllerState = typeof controller === 'object' && controller !== null ? controller[kState] : undefined
  const inner = controllerState?.stream
  if (typeof inner !== 'object' || inner === null || inner[kState] !== state) return stream
  const fast = kind.copy(state)
  stream[kState] = fast
  inner[kState] = fast
  controllerState.stream = stream
  if (kind.copyController !== undefined) controller[kState] = kind.copyController(controllerState)
  if (typeof underlying === 'object' && underlying !== null) kind.share(controller[kState], underlying)
  return stream
}

// Node 20 wraps each method of a stream's underlying source or sink in a function of the
// stream's own, `(...args) => invokePromiseCallback(fn, thisArg, ...args)` (a closure and
// its context, about 0.1 KiB per method per stream). Ours share one function per method
// (a method's result or throw reaches Node as a promise, as through Node's wrapper, give
// or take a microtask turn: see `settledBy` below for pull and write), which
// finds the source in the readable's state copy, the sink in the writable controller's
// (a field of their own, not one added to Node's records, which would give each a
// separate property store). Node calls them as it calls its own: pull(controller) and
// write(chunk, controller) with the controller, cancel(reason) and abort(reason) as
// methods of the controller's state. The sink's close() keeps Node's wrapper (Node calls
// it with neither). The source or sink stays named for as long as the stream lives,
// where Node's wrappers let it go once the stream has ended; ours are held by their
// socket as long as its streams anyway.
// Pull and write, called on every read that waits and every write, return Node a promise
// without an async function's own: one resolved promise shared by all when the source or
// sink answered at once (Node only attaches reactions to it), the promise it returned, or
// a rejected one for a throw; the reactions run in the same microtask turn as an async
// function's would.
const ANSWERED = resolvedWith(undefined)
const settledBy = (result) =>
  result === undefined
    ? ANSWERED
    : result instanceof NativePromise
      ? result
      : resolvedWith(result)

function sharedPull(controller) {
  try {
    return settledBy(controller[kState].stream[kState][kUnderlying].pull(controller))
  } catch (err) {
    return rejectedWith(err)
  }
}
async function sharedCancel(reason) {
  return this.stream[kState][kUnderlying].cancel(reason)
}
function sharedWrite(chunk, controller) {
  const state = controller[kState]
  // A chunk written while one the sink's writeNow took is in flight (in the same turn)
  // comes here at once, since Node's steps did not see that one: it waits for its turn, a
  // microtask later, as the spec's steps queue it (writeInTurn).
  if (state[kWritingNow]) return then(RESOLVED, () => writeInTurn(chunk, controller))
  try {
    return settledBy(state[kUnderlying].write(chunk, controller))
  } catch (err) {
    return rejectedWith(err)
  }
}
/**
 * Such a chunk at its turn: its bytes are read now; an abort() or error that came first
 * stops it unsent, rejected as a queued write is, with the stream's stored error (close()'s
 * abort has none).
 */
function writeInTurn(chunk, controller) {
  const streamState = controller[kState].stream[kState]
  if (streamState.state !== 'writable') throw streamState.storedError
  return sharedWrite(chunk, controller)
}
async function sharedAbort(reason) {
  return this[kUnderlying].abort(reason)
}

/** Gives a readable's controller state the shared pull and cancel (see above). */
function shareSource(controllerState, source) {
  controllerState.stream[kState][kUnderlying] = source
  if (typeof controllerState.pullAlgorithm === 'function' && typeof source.pull === 'function') {
    controllerState.pullAlgorithm = sharedPull
  }
  if (typeof controllerState.cancelAlgorithm === 'function' && typeof source.cancel === 'function') {
    controllerState.cancelAlgorithm = sharedCancel
  }
}

/**
 * A readable made by `make` with a source that only cancels: its cancel(reason) reaches
 * the source's, synchronously (as Node's wrapper would), through the shared algorithm
 * called as a method of the controller's state. A writable's abort is called the same
 * way: its sink's methods are shared only if this held (readables are made first).
 */
let cancelReached = false
function cancelReachesSource(make) {
  let seen
  const probe = make(
    {
      cancel(reason) {
        seen = reason
      },
    },
    undefined,
  )
  const reason = {}
  probe.cancel(reason).then(undefined, () => {})
  cancelReached = seen === reason
  return cancelReached
}

/** Gives a writable's controller state the shared write and abort (see above). */
function shareSink(controllerState, sink) {
  controllerState[kUnderlying] = sink
  if (typeof controllerState.writeAlgorithm === 'function' && typeof sink.write === 'function') {
    controllerState.writeAlgorithm = sharedWrite
  }
  if (typeof controllerState.abortAlgorithm === 'function' && typeof sink.abort === 'function') {
    controllerState.abortAlgorithm = sharedAbort
  }
}

/**
 * `make` with its streams' state fastened as `kind` says, where a probe made by `make` has
 * the layouts `kind` expects; otherwise `make` itself.
 */
function fastened(make, kind) {
  if (kState === null) return make
  try {
    const probe = make(undefined, undefined)
    const state = probe[kState]
    if (!isNullProtoRecord(state) || layoutOf(state) !== kind.layout) return make
    const controller = state.controller
    if (kind.copyController !== undefined && layoutOf(controller[kState]) !== kind.controllerLayout) return make
    fastenState(probe, kind)
    // The copies have the layout, and the controller names the stream handed out.
    const controllerState = controller[kState]
    if (layoutOf(probe[kState]) !== (kind.copyLayout ?? kind.layout) || controllerState.stream !== probe) return make
    // A lazy transfer record comes as Node's was, one for each stream.
    if (kind.transferLayout !== undefined) {
      const other = make(undefined, undefined)
      fastenState(other, kind)
      const record = probe[kState].transfer
      if (layoutOf(record) !== kind.transferLayout || record === other[kState].transfer) return make
    }
    if (kind.copyController !== undefined) {
      // Node's clearing of the size algorithm leaves `() => 1`.
      if (typeof controllerState.sizeAlgorithm !== 'function') return make
      controllerState.sizeAlgorithm = undefined
      if (controllerState.sizeAlgorithm !== sizeOne) return make
    }
  } catch {
    return make
  }
  const made = (underlying, strategy) => fastenState(make(underlying, strategy), kind, underlying)
  // The shared algorithms must be reached as Node's are: where a probe says otherwise,
  // streams keep Node's.
  let sharing = true
  try {
    sharing = kind.sharingWorks === undefined || kind.sharingWorks(made)
  } catch {
    sharing = false
  }
  if (!sharing) {
    return (underlying, strategy) => fastenState(make(underlying, strategy), kind, undefined)
  }
  return made
}

/** `new ReadableStream(source, strategy)`, with a map shared by every stream made here. */
const newReadableStream = fastened(
  sharedMapMaker(ReadableStream) ?? ((source, strategy) => new ReadableStream(source, strategy)),
  {
    layout: READABLE_LAYOUT,
    copyLayout: READABLE_COPY_LAYOUT,
    transferLayout: 'writable,port1,port2,promise',
    copy: copyReadableState,
    share: shareSource,
    sharingWorks: cancelReachesSource,
  },
)

/** `new WritableStream(sink, strategy)`, with a map shared by every stream made here. */
const newWritableStream = fastened(
  sharedMapMaker(WritableStream) ?? ((sink, strategy) => new WritableStream(sink, strategy)),
  {
    layout: WRITABLE_LAYOUT,
    copyLayout: WRITABLE_COPY_LAYOUT,
    copy: copyWritableState,
    controllerLayout: WRITABLE_CONTROLLER_LAYOUT,
    copyController: copyWritableControllerState,
    share: shareSink,
    sharingWorks: () => cancelReached,
  },
)

// Default reads straight from the socket. A default reader's read() (and those of an async
// iterator, a tee, pipeTo: each reads through a default reader) goes to the byte
// controller's pull steps (`controller[kPull](readRequest)`, a symbol-keyed method of
// ReadableByteStreamController.prototype), which with nothing queued adds the read request
// to the reader's list and calls the source's pull; ours reads the socket there and then,
// and enqueue() finds the request, takes it off the list and answers it with the chunk.
// That round (the request listed and unlisted, the pull's promise and its reaction, the
// enqueue's checks and its transfer of the buffer) took 1.1-1.5 µs of a read's 1.7-2.0 on
// this VM. Our controllers' prototype is a private one below ReadableByteStreamController's
// (the controller is seen only by our source) whose pull steps first ask the socket for
// bytes at once, when the spec's steps would call pull with the queue empty and no other
// request waiting: bytes that are there answer the request directly, as enqueue() would
// have (a Uint8Array of exactly the bytes read, its buffer the reader's alone); nothing
// there, the request is listed and the source waits for the bytes itself (waitsForRead,
// waitForRead); otherwise (the end, a pull of the source's still waiting) Node's steps run
// as before; a read error errors the stream there and then, and the read is rejected with it
// (`closed` settles in a later task: lib/lifecycle.js).
const nodeByteProto = ReadableByteStreamController.prototype

/**
 * A byte controller's state in which Node's steps would call pull for a default read:
 * nothing queued, no pull-into, started, no close requested.
 */
const pullsForRead = (state) =>
  state.queueTotalSize === 0 && state.pendingPullIntos.length === 0 && state.started && !state.closeRequested

/** Node's read request method that answers a read with a chunk (found by fastReadPrototype). */
let kReadChunk = null
/** Node's read request method that rejects a read with an error. */
let kReadError = null
/** Node's read request method that answers a read with the end. */
let kReadClose = null
/** Node's pull steps of byte and of default controllers (found by the probes below). */
let byteNodePull = null
let defaultNodePull = null

/**
 * Before Node's pull steps list a read (a reader state copy's empty list that is not the
 * one-slot list yet): the list becomes one with room for one request, so that Node's push
 * does not grow it to 17 slots first (see trimWaitingList).
 */
function roomForOne(reader) {
  if (reader === undefined) return
  const readerState = reader[kState]
  const requests = readerState.readRequests
  if (requests === readerState[kTrimmed] || requests.length !== 0) return
  if (getPrototypeOf(readerState) === READER_STATE_PROTO) readerState.readRequests = readerState[kTrimmed] = listOfOne()
}

/**
 * After Node's pull steps listed a read that waits (an idle connection's): Node's push
 * grew the reader's empty list to 17 slots (152 bytes, kept for as long as the reader
 * lives, and again each time the list empties by shift and fills); a list of exactly that
 * request holds 24, and keeps its one slot as requests come and go (V8 keeps a list's room
 * when it empties by shift or pop). A reader state copy remembers it, so that it is
 * trimmed once, not on every read that waits.
 */
function trimWaitingList(reader) {
  if (reader === undefined) return
  const readerState = reader[kState]
  const requests = readerState.readRequests
  if (requests.length === 1 && requests !== readerState[kTrimmed]) {
    const trimmed = [requests[0]]
    readerState.readRequests = trimmed
    if (getPrototypeOf(readerState) === READER_STATE_PROTO) readerState[kTrimmed] = trimmed
  } else if (requests.length > 1 && readerState[kTrimmed] !== undefined) {
    // Several reads wait: the list grows; trim it again when one is left waiting.
    readerState[kTrimmed] = undefined
  }
}

/**
 * Our controllers' pull steps for a read: where Node's steps would call pull for it
 * (`wouldPull`: nothing queued, started, no close requested) and no other read waits, the
 * source's `readNow(controller)` is asked first, and a chunk it gives answers the read (an
 * error it met rejects it); nothing there (`source.waitsForRead()`), the read is listed
 * and `source.waitForRead(controller)` waits for it; otherwise Node's steps (`nodePull`)
 * run, with the reader's request list kept at one slot.
 */
function pullSteps(controller, readRequest, nodePull, wouldPull) {
  const streamState = controller[kState].stream[kState]
  const reader = streamState.reader
  if (wouldPull && streamState.state === 'readable' && reader !== undefined) {
    const source = streamState[kUnderlying]
    if (source !== undefined && reader[kState].readRequests.length === 0) {
      const chunk = source.readNow(controller)
      if (chunk !== null) return void readRequest[kReadChunk](chunk)
      // The attempt errored the readable: answered as Node would. (readNow leaves the end
      // to the pull that follows.)
      if (streamState.state === 'errored') return void readRequest[kReadError](streamState.storedError)
      return void waitForSource(controller, readRequest, nodePull, reader, source)
    }
  }
  pullListed(controller, readRequest, nodePull, reader)
}

/**
 * A read the source found nothing for: where the source waits for the bytes itself (a
 * TcpConnection arms its socket or puts the read off to the end of the turn, and answers
 * the read when they come, as after its own pull), the read is listed as Node's steps
 * would list it, without their pull (a promise, its reaction and the pulling flags).
 * Measured on an echo server for 500 connections: 0.7 µs less CPU a round trip (5.0
 * against 5.75 µs of user time, six alternating pairs). Otherwise Node's pull steps.
 */
function waitForSource(controller, readRequest, nodePull, reader, source) {
  if (source.waitsForRead?.() !== true) return pullListed(controller, readRequest, nodePull, reader)
  roomForOne(reader)
  const requests = reader[kState].readRequests
  requests[requests.length] = readRequest
  trimWaitingList(reader)
  // As Node's pull would, a throw errors the stream (rejecting the read) rather than
  // escape from read().
  try {
    source.waitForRead(controller)
  } catch (err) {
    errorStream(controller, err)
  }
}

/** Node's pull steps for `readRequest`, with the reader's request list kept at one slot. */
function pullListed(controller, readRequest, nodePull, reader) {
  roomForOne(reader)
  apply(nodePull, controller, [readRequest])
  trimWaitingList(reader)
}

/** The prototype our byte controllers get (see above), or null where Node is not as described. */
function fastReadPrototype() {
  if (kState === null || !cancelReached) return null
  try {
    const kPull = symbolNamed(nodeByteProto, 'kPull')
    const nodePull = kPull === null ? undefined : nodeByteProto[kPull]
    if (typeof nodePull !== 'function') return null
    // A read request's methods (Node's DefaultReadRequest; the other kinds use the same
    // symbols): one passes through a probe's pull steps.
    let requestProto = null
    const probeProto = Object.create(nodeByteProto)
    defineData(probeProto, kPull, function (readRequest) {
      requestProto = getPrototypeOf(readRequest)
      return apply(nodePull, this, [readRequest])
    })
    let controller
    const probe = newReadableStream({ type: 'bytes', start: (c) => void (controller = c) }, undefined)
    setPrototypeOf(controller, probeProto)
    probe.getReader().read().then(undefined, doNothing)
    if (requestProto === null) return null
    const kChunk = symbolNamed(requestProto, 'kChunk')
    const kError = symbolNamed(requestProto, 'kError')
    const kEnd = symbolNamed(requestProto, 'kClose')
    if (kChunk === null || kError === null || kEnd === null) return null
    kReadChunk = kChunk
    kReadError = kError
    kReadClose = kEnd
    // The fields the steps below read, where Node keeps them.
    const cState = controller[kState]
    const streamState = cState.stream[kState]
    if (
      cState.queueTotalSize !== 0 ||
      !isArray(cState.pendingPullIntos) ||
      cState.byobRequest !== null ||
      typeof cState.pulling !== 'boolean' ||
      typeof cState.closeRequested !== 'boolean' ||
      !('started' in cState) ||
      streamState.state !== 'readable' ||
      !isArray(streamState.reader[kState].readRequests) ||
      !(kUnderlying in streamState)
    ) {
      return null
    }
    byteNodePull = nodePull
    const proto = Object.create(nodeByteProto)
    defineData(proto, kPull, function (readRequest) {
      // Not `pulling`: Node counts a pull as under way until its promise settles, after
      // the read it answered has resolved, so the read that follows at once would always
      // find it set; the source knows whether a pull of its own is still waiting.
      pullSteps(this, readRequest, nodePull, pullsForRead(this[kState]))
    })
    return proto
  } catch {
    return null
  }
}
const FAST_READS = fastReadPrototype()

/**
 * Whether readers of readables made here can get a LazyClosed (see fastenReaderState): a
 * probe's default and BYOB readers get the copy, their `closed` is a promise, and a
 * release rejects it, as Node's own records do.
 */
function probeLazyReaderClosed() {
  if (kState === null) return false
  lazyReaderClosed = true
  try {
    for (const mode of [undefined, 'byob']) {
      const stream = newReadableStream({ type: 'bytes' }, undefined)
      if (getPrototypeOf(stream[kState]) !== READABLE_STATE_PROTO) return (lazyReaderClosed = false)
      const reader = stream.getReader({ mode })
      const state = reader[kState]
      if (getPrototypeOf(state) !== READER_STATE_PROTO || state[kClose] !== UNASKED) {
        return (lazyReaderClosed = false)
      }
      if (!(reader.closed instanceof NativePromise) || reader.closed !== reader.closed) return (lazyReaderClosed = false)
      reader.closed.then(undefined, doNothing)
      reader.releaseLock()
      if (stream[kState].reader !== undefined || reader[kState].stream !== undefined) return (lazyReaderClosed = false)
    }
  } catch {
    lazyReaderClosed = false
  }
  return lazyReaderClosed
}
probeLazyReaderClosed()

// Byte readables built without Node's constructor. `new ReadableStream(source)` makes, and
// throws away, more than a socket's readable keeps: a state record in dictionary mode (which
// lib/streams.js copies, above), the husk `makeTransferable` copies from, a closed-promise
// record and a controller-error placeholder (replaced above), the source's methods bound
// and wrapped (replaced by the shared algorithms), the controller's first, empty, state;
// 3.5 KiB allocated for a readable that keeps about 1 (the sampling heap profiler, 2,000
// connections), which made the young generation grow and kept 5 µs of CPU per stream. So
// the byte readables of our sockets are built as those steps leave them, field by field:
// the stream (a JSTransferable, made as `makeTransferable` makes it, so that it can be
// transferred), its state copy, its byte controller (with the fast reads' prototype) and
// the controller's state, with the shared pull and cancel. The source's start() runs at
// once, as the constructor runs it, and the steps Node takes once the start has completed
// (the controller started, then a pull if a read waits: ReadableByteStreamController
// ShouldCallPull / CallPullIfNeeded) run a microtask later, as Node's reaction would.
// Only where a load-time probe built so matches one made by the constructor and fastened
// (the same keys in the same order, prototypes, field values and shared algorithms).

/** Node's brand symbol (`stream[kType] === 'ReadableStream'`), or null. */
const kType = kState === null ? null : symbolNamed(new WritableStream(), 'kType')
const NO_ARGUMENTS = []

// Controllers made by constructors of their own (named as Node's classes, for heap
// snapshots), whose prototypes are the controllers' (set below): V8 then gives each exactly
// the two fields Node's classes have, where an object literal or Object.create reserves four.
const BuiltByteController = function ReadableByteStreamController(state) {
  this[kType] = 'ReadableByteStreamController'
  this[kState] = state
}
BuiltByteController.prototype = FAST_READS

/** Whether `reader` (or undefined) has reads waiting: a default reader's or a BYOB reader's. */
function readWaits(reader) {
  if (reader === undefined) return false
  const type = reader[kType]
  if (type === 'ReadableStreamDefaultReader') return reader[kState].readRequests.length > 0
  return type === 'ReadableStreamBYOBReader' && reader[kState].readIntoRequests.length > 0
}

/** Node's readableByteStreamControllerCallPullIfNeeded, for the pull after the start. */
function pullIfNeeded(controller) {
  const state = controller[kState]
  const streamState = state.stream[kState]
  if (streamState.state !== 'readable' || state.closeRequested || !state.started) return
  if (!readWaits(streamState.reader) && !(state.highWaterMark - state.queueTotalSize > 0)) return
  if (state.pulling) {
    state.pullAgain = true
    return
  }
  state.pulling = true
  const pulling = state.pullAlgorithm(controller)
  // The source answered at once (the shared resolved promise): the steps after the pull
  // run in a microtask shared by every pull answered so in this turn, without a reaction
  // and two closures per stream.
  if (pulling === ANSWERED) {
    pulledSoon(controller)
    return
  }
  then(
    pulling,
    () => pulled(controller),
    (error) => errorStream(controller, error),
  )
}

/** Node's steps once a pull's promise has settled: not pulling; pull again if asked to. */
function pulled(controller) {
  const state = controller[kState]
  state.pulling = false
  if (state.pullAgain) {
    state.pullAgain = false
    pullIfNeeded(controller)
  }
}

/** What Node does once a byte readable's start has completed. */
function byteStarted(controller) {
  controller[kState].started = true
  pullIfNeeded(controller)
}

/**
 * `step(item)` in a microtask, one microtask for every item (a controller, a controller's
 * state) given in this turn, in order (where Node queues a reaction and two closures per
 * stream).
 */
function inOneMicrotask(step) {
  // Two lists, swapped at each run and kept (their slots emptied as they are taken): a
  // fresh list every run grew to 17 slots at its first push (184 bytes a run, and most runs
  // have one controller: an accepted connection's readable, a pull answered at once).
  let queued = listOfOne()
  let count = 0
  let spare = listOfOne()
  const run = () => {
    const items = queued
    const n = count
    queued = spare
    count = 0
    for (let i = 0; i < n; i++) {
      const item = items[i]
      items[i] = undefined
      step(item)
    }
    spare = items
  }
  return (item) => {
    queued[count] = item
    if (++count === 1) microtask(run)
  }
}
/** A pull from pullIfNeeded answered at once: the steps after it. */
const pulledSoon = inOneMicrotask(pulled)
/** A readable just built: its start completes (spec: a microtask later). */
const startedSoon = inOneMicrotask(byteStarted)

// A built stream's brand (`stream[kType]`), as Node's constructor defines it: one
// descriptor for all, not one made for every stream.
const READABLE_TYPE = dataDescriptor('ReadableStream')
const WRITABLE_TYPE = dataDescriptor('WritableStream')

/**
 * A byte readable of `source` (start, pull, cancel, readNow: a TcpConnection), its queue's
 * highWaterMark `highWaterMark`, built as described above.
 */
function buildByteReadable(source, highWaterMark) {
  const stream = construct(JSTransferable, NO_ARGUMENTS, readableTransferable)
  defineProperty(stream, kType, READABLE_TYPE)
  setPrototypeOf(stream, ReadableStream.prototype)
  const state = {
    disturbed: false,
    [kReader]: undefined,
    state: 'readable',
    storedError: undefined,
    controller: undefined,
    [kUnderlying]: source,
  }
  setPrototypeOf(state, READABLE_STATE_PROTO)
  stream[kState] = state
  lazyClosedRecord(stream)
  stream[kControllerErrorFunction] = doNothing
  const controller = new BuiltByteController({
    byobRequest: null,
    closeRequested: false,
    pullAgain: false,
    pulling: false,
    started: false,
    stream,
    queue: [],
    queueTotalSize: 0,
    highWaterMark,
    pullAlgorithm: sharedPull,
    cancelAlgorithm: sharedCancel,
    autoAllocateChunkSize: undefined,
    pendingPullIntos: [],
  })
  state.controller = controller
  source.start(controller)
  startedSoon(controller)
  return stream
}

const readableTransferable = transferableOf.get(ReadableStream)

/** Own keys, with each property's attributes and kind of value: 'key:wec:type,...'. */
function keysOf(object) {
  const keys = ownKeys(object)
  let text = ''
  for (let i = 0; i < keys.length; i++) {
    const d = getOwnPropertyDescriptor(object, keys[i])
    const value = d.value
    const kind = value === null ? 'null' : typeof value === 'object' ? `object:${isArray(value) ? 'array' : ''}` : typeof value
    text += `${String(keys[i])}:${+d.writable}${+d.enumerable}${+d.configurable}:${kind}:${kind === 'object:' || kind === 'function' ? '' : String(value)},`
  }
  return text
}

/** `a` and `b` have the same prototype and the same own keys, attributes and kinds of value. */
const sameShape = (a, b) => getPrototypeOf(a) === getPrototypeOf(b) && keysOf(a) === keysOf(b)

/**
 * A byte source for the probes made at load: keeps its controller (given the fast reads, as
 * a socket's is), pulls with `pull`, finds nothing in readNow().
 */
function probeSource(pull = doNothing) {
  const source = {
    type: 'bytes',
    controller: null,
    start(c) {
      source.controller = c
      readNowFirst(c)
    },
    pull,
    cancel() {},
    readNow: () => null,
  }
  return source
}

/** A sink for the probes made at load: keeps its controller, does nothing. */
function probeSink() {
  const sink = {
    controller: null,
    start(c) {
      sink.controller = c
    },
    write() {},
    close() {},
    abort() {},
  }
  return sink
}

/** Whether a readable built here is, key for key, what the constructor path makes. */
function builtLikeMade() {
  if (kType === null || FAST_READS === null || readableTransferable === undefined || !lazyReaderClosed) return false
  try {
    const madeSource = probeSource()
    const made = newReadableStream(madeSource, { highWaterMark: 0 })
    const builtSource = probeSource()
    const built = buildByteReadable(builtSource, 0)
    const mc = madeSource.controller
    const bc = builtSource.controller
    const pairs = [
      [made, built],
      [made[kState], built[kState]],
      [mc, bc],
      [mc[kState], bc[kState]],
    ]
    if (!pairs.every(([a, b]) => sameShape(a, b))) {
      return false
    }
    if (made[kState].controller !== mc || mc[kState].stream !== made || built[kState].controller !== bc) return false
    if (getOwnPropertyDescriptor(made, kIsClosedPromise)?.get !== closedRecordOf || made[kControllerErrorFunction] !== doNothing) {
      return false
    }
    const ms = mc[kState]
    return ms.pullAlgorithm === sharedPull && ms.cancelAlgorithm === sharedCancel && made[kState][kUnderlying] === madeSource
  } catch {
    return false
  }
}
const BUILT_READABLES = builtLikeMade()

// Writables built the same way (WritableStream: 6 KiB allocated and 15 µs a stream made by
// the constructor in a loop on this VM, 1.5 KiB and 3 µs built): the stream, its state copy
// (as copyWritableState leaves it), its controller and the controller's state copy (as
// copyWritableControllerState leaves it) with the shared write and abort, and a close
// algorithm of the sink's own (Node calls it as a plain function). Node's state record
// `close`, a pending promise and its resolving functions that no step of Node's ever reads
// (only a writer's own record of that name is used), is a LazyClosed. The one difference
// from a stream made by the constructor: the controller has started when the stream is
// handed out, where Node marks it started a microtask later (its start algorithm, ours,
// does nothing that has to be waited for), so a write made at once reaches the sink in the
// write() call rather than from that microtask, and a socket's writable made on first use
// needs no copies of the writes made before the start (lib/lifecycle.js, Sink).

const FunctionBind = Function.prototype.bind
// Node's own, kept from load time: the constructor path uses its internal class whatever
// replaces the global later (RELIABILITY 49).
const NodeAbortController = AbortController
const writableControllerProto = (() => {
  try {
    return getPrototypeOf(new WritableStream()[kState]?.controller ?? {})
  } catch {
    return null
  }
})()

const BuiltWritableController = function WritableStreamDefaultController(state) {
  this[kType] = 'WritableStreamDefaultController'
  this[kState] = state
}
BuiltWritableController.prototype = writableControllerProto

/** The sink's close() as Node's wrapper calls it: a plain function, its result awaited. */
const closeOf = (sink) => async () => sink.close()

/** A writable of `sink` (a Sink: start, write, close, abort) whose queue holds `highWaterMark` chunks. */
function buildWritable(sink, highWaterMark) {
  const stream = construct(JSTransferable, NO_ARGUMENTS, writableTransferable)
  defineProperty(stream, kType, WRITABLE_TYPE)
  setPrototypeOf(stream, WritableStream.prototype)
  const state = withWriterHook({
    close: new LazyClosed(),
    closeRequest: nullProto({ promise: undefined, resolve: undefined, reject: undefined }),
    // Plain, as Node's own records are once a write has been in flight (copyWritableState).
    inFlightWriteRequest: { promise: undefined, resolve: undefined, reject: undefined },
    inFlightCloseRequest: nullProto({ promise: undefined, resolve: undefined, reject: undefined }),
    pendingAbortRequest: nullProto({
      abort: nullProto({ promise: undefined, resolve: undefined, reject: undefined }),
      reason: undefined,
      wasAlreadyErroring: false,
    }),
    backpressure: highWaterMark <= 0,
    controller: undefined,
    state: 'writable',
    storedError: undefined,
    writeRequests: listOfOne(),
    [kWriter]: undefined,
    transfer: nullProto({ readable: undefined, port1: undefined, port2: undefined, promise: undefined }),
  })
  stream[kState] = state
  lazyClosedRecord(stream)
  const controllerState = {
    abortAlgorithm: sharedAbort,
    closeAlgorithm: closeOf(sink),
    highWaterMark,
    queue: listOfOne(),
    queueTotalSize: 0,
    abortController: new NodeAbortController(),
    started: true,
    stream,
    writeAlgorithm: sharedWrite,
    [kSize]: sizeOne,
    [kUnderlying]: sink,
    [kWritingNow]: false,
  }
  setPrototypeOf(controllerState, KEEP_SIZE)
  const controller = new BuiltWritableController(controllerState)
  state.controller = controller
  stream[kControllerErrorFunction] = apply(FunctionBind, writableControllerProto.error, [controller])
  sink.start(controller)
  return stream
}

const writableTransferable = transferableOf.get(WritableStream)

/** Whether a writable built here is, key for key, what the constructor path makes (once started). */
function writableBuiltLikeMade() {
  if (kType === null || writableTransferable === undefined || writableControllerProto === null || !cancelReached) {
    return false
  }
  try {
    const madeSink = probeSink()
    const made = newWritableStream(madeSink, { highWaterMark: 2, size: sizeOne })
    const builtSink = probeSink()
    const built = buildWritable(builtSink, 2)
    const mc = madeSink.controller
    const bc = builtSink.controller
    mc[kState].started = true // what the start's microtask does to the one made
    const ms = made[kState]
    const bs = built[kState]
    const pairs = [
      [made, built],
      [ms, bs],
      [mc, bc],
      [mc[kState], bc[kState]],
      [ms.pendingAbortRequest.abort, bs.pendingAbortRequest.abort],
    ]
    for (const key of ['closeRequest', 'inFlightWriteRequest', 'inFlightCloseRequest', 'pendingAbortRequest', 'transfer']) {
      pairs.push([ms[key], bs[key]])
    }
    if (!pairs.every(([a, b]) => sameShape(a, b))) return false
    if (ms.controller !== mc || mc[kState].stream !== made || bs.controller !== bc || bc[kState].stream !== built) return false
    const mcs = mc[kState]
    const bcs = bc[kState]
    if (mcs.writeAlgorithm !== sharedWrite || mcs.abortAlgorithm !== sharedAbort || mcs[kUnderlying] !== madeSink) return false
    if (getPrototypeOf(mcs.abortController) !== getPrototypeOf(bcs.abortController)) return false
    // The error function: the controller's error(), bound to it.
    built[kControllerErrorFunction]()
    return bs.state === 'errored' && typeof made[kControllerErrorFunction] === 'function'
  } catch {
    return false
  }
}

/**
 * Whether sockets' writables are built (`buildWritable`: started at once) rather than made
 * by `newWritableStream`.
 */
const BUILT_WRITABLES = writableBuiltLikeMade()

/**
 * A byte readable of a socket's `source` (its TcpConnection), pulled on reads only: built
 * (above) where Node is as a probe found it, otherwise made by `newReadableStream`.
 */
const newByteReadable = (source) =>
  BUILT_READABLES ? buildByteReadable(source, 0) : newReadableStream(source, { highWaterMark: 0 })

// The same for a default readable whose source can hand over a chunk at once (a server's
// readable of accepted connections: `source.readNow(controller)` accepts one, or null):
// a read with nothing queued and no other read waiting takes the chunk in read() itself,
// where Node's steps would list the request, call pull (a promise and its reaction) and
// have enqueue() find the request again.
const nodeDefaultProto = ReadableStreamDefaultController.prototype
const DEFAULT_CONTROLLER_LAYOUT =
  'cancelAlgorithm,closeRequested,highWaterMark,pullAgain,pullAlgorithm,pulling,queue,queueTotalSize,started,' +
  'sizeAlgorithm,stream'

/** The prototype for such controllers, or null where Node is not as described. */
function fastDefaultReadPrototype() {
  if (kState === null || kReadChunk === null || kReadError === null || !cancelReached) return null
  try {
    const kPull = symbolNamed(nodeByteProto, 'kPull')
    const nodePull = kPull === null ? undefined : nodeDefaultProto[kPull]
    if (typeof nodePull !== 'function') return null
    let controller
    const probe = newReadableStream({ start: (c) => void (controller = c), pull() {}, readNow: () => null }, undefined)
    if (getPrototypeOf(controller) !== nodeDefaultProto || layoutOf(controller[kState]) !== DEFAULT_CONTROLLER_LAYOUT) {
      return null
    }
    const streamState = probe[kState]
    if (controller[kState].stream !== probe || !(kUnderlying in streamState) || streamState.state !== 'readable') return null
    defaultNodePull = nodePull
    const proto = Object.create(nodeDefaultProto)
    defineData(proto, kPull, function (readRequest) {
      const state = this[kState]
      pullSteps(this, readRequest, nodePull, state.queue.length === 0 && state.started && !state.closeRequested)
    })
    return proto
  } catch {
    return null
  }
}
const FAST_DEFAULT_READS = fastDefaultReadPrototype()

// A default reader of a readable made here gets a `read()` of its own (on a prototype
// between the reader and Node's, given as Node attaches the reader: see
// fastenReaderState). Node's read() makes a request for every read: the request, its
// record, a `{ promise, resolve, reject }` record, the promise, its two resolving
// functions and their context, and the executor that took them (0.3 KiB), even when the
// bytes are there at once. Where Node's steps would reach our pull steps above with
// nothing queued, ours asks the source first: a chunk is answered with a promise resolved
// with it and nothing else; a read that waits holds a WaitingRead (the promise and its
// resolve function: 192 bytes, where Node's held 296). In every other case (a read queued
// or waiting already, the stream closed or errored, the reader released, a subclass's
// reader, `this` not such a reader) Node's read() runs.

/** Node's `read()` of default readers. */
const nodeRead = nodeReaderProto.read

/** A promise's resolve function taken by `takeResolve` (the executor every WaitingRead shares). */
let takenResolve
const takeResolve = (resolve) => {
  takenResolve = resolve
}

/**
 * The promise of a `read()` from it rejected with `reason` where a WaitingRead resolves it
 * with one (a WaitingRead keeps only the resolve function: 56 bytes less for every read that
 * waits). The reader's closed promise is rejected before its reads are (spec
 * ReadableStreamError, ReadableStreamDefaultReaderRelease): that order stays.
 */
class Rejection {
  #reason
  constructor(reason) {
    this.#reason = reason
  }

  then(onFulfilled, onRejected) {
    onRejected(this.#reason)
  }
}

/** A read that waits, listed on its reader as Node's read requests are (Node calls the same methods). */
const WaitingRead =
  FAST_READS === null
    ? null
    : class WaitingRead {
        #resolve
        constructor(resolve) {
          this.#resolve = resolve
        }

        [kReadChunk](value) {
          this.#resolve({ value, done: false })
        }

        [kReadClose]() {
          this.#resolve({ value: undefined, done: true })
        }

        [kReadError](reason) {
          this.#resolve(new Rejection(reason))
        }
      }

/**
 * `reader.read()` of a default reader of a readable made here (see above); `this`, as any
 * method's, may be anything.
 */
function read() {
  if (typeof this !== 'object' || this === null || getPrototypeOf(this) !== fastReaderProto) return apply(nodeRead, this, [])
  const readerState = this[kState]
  const stream = readerState?.stream
  if (stream === undefined || getPrototypeOf(readerState) !== READER_STATE_PROTO) return apply(nodeRead, this, [])
  const streamState = stream[kState]
  if (streamState.state !== 'readable' || streamState.reader !== this) return apply(nodeRead, this, [])
  const controller = streamState.controller
  const controllerProto = getPrototypeOf(controller)
  const state = controller[kState]
  let nodePull
  let wouldPull
  if (controllerProto === FAST_READS) {
    nodePull = byteNodePull
    wouldPull = pullsForRead(state)
  } else if (controllerProto === FAST_DEFAULT_READS) {
    nodePull = defaultNodePull
    wouldPull = state.queue.length === 0 && state.started && !state.closeRequested
  } else {
    return apply(nodeRead, this, [])
  }
  streamState.disturbed = true
  const source = streamState[kUnderlying]
  const first = wouldPull && source !== undefined && readerState.readRequests.length === 0
  if (first) {
    const chunk = source.readNow(controller)
    if (chunk !== null) return resolvedWith({ value: chunk, done: false })
    if (streamState.state === 'errored') return rejectedWith(streamState.storedError)
  }
  const promise = new NativePromise(takeResolve)
  const request = new WaitingRead(takenResolve)
  takenResolve = undefined
  if (first) waitForSource(controller, request, nodePull, this, source)
  else pullListed(controller, request, nodePull, this)
  return promise
}

/** The prototype for such readers, or null where Node is not as described. */
function fastReaderPrototype() {
  if (WaitingRead === null || FAST_DEFAULT_READS === null || !lazyReaderClosed) return null
  const described = getOwnPropertyDescriptor(nodeReaderProto, 'read')
  if (described?.value !== nodeRead || typeof nodeRead !== 'function') return null
  const { writable, enumerable, configurable } = described
  return Object.create(nodeReaderProto, { read: { __proto__: null, value: read, writable, enumerable, configurable } })
}
fastReaderProto = fastReaderPrototype()

/**
 * Gives the default readable `stream` (made here, its source with `readNow`) the fast reads
 * above, where they apply; true if it has them.
 */
function readNowFirstDefault(stream) {
  if (FAST_DEFAULT_READS === null) return false
  const controller = stream[kState]?.controller
  if (typeof controller === 'object' && controller !== null && getPrototypeOf(controller) === nodeDefaultProto) {
    setPrototypeOf(controller, FAST_DEFAULT_READS)
    return true
  }
  return false
}

/** Whether byte controller `c` is one of ours with the fast default reads (readNowFirst). */
const hasFastReads = (c) => FAST_READS !== null && getPrototypeOf(c) === FAST_READS

/**
 * Answers the one default read waiting on byte controller `c` (of a readable made here,
 * with the fast reads above) with `chunk` (a Uint8Array over a buffer of its own, as
 * readNow gives), as `c.enqueue(chunk)` would there: Node's enqueue would transfer the
 * buffer, find the queue empty and this request the only one, take it off the list and
 * answer it, and pull no more (nothing else waits). False, and nothing done, in any other
 * case (bytes or a pull-into queued, a BYOB reader, several reads waiting, closing).
 */
function answerWaitingRead(c, chunk) {
  if (!hasFastReads(c)) return false
  const state = c[kState]
  if (!pullsForRead(state)) return false
  const streamState = state.stream[kState]
  if (streamState.state !== 'readable') return false
  const reader = streamState.reader
  if (reader === undefined) return false
  const requests = reader[kState].readRequests
  if (!isArray(requests) || requests.length !== 1) return false
  requests.pop()[kReadChunk](chunk)
  return true
}

/**
 * `c.byobRequest` of byte controller `c`: null without asking Node's getter (its brand
 * check and state reads showed 1 % of the CPU of 500 connections doing round trips) when
 * `c` has the fast reads above (so Node 20's state layout) and no pull-into is pending,
 * which is every default read.
 */
function byobRequestOf(c) {
  if (hasFastReads(c)) {
    const state = c[kState]
    if (state.byobRequest === null && state.pendingPullIntos.length === 0) return null
  }
  return c.byobRequest
}

/**
 * Gives the byte controller `c` of a readable made here the fast default reads above: its
 * source's `readNow()` is asked for bytes first, and answers a Uint8Array of them or null.
 */
function readNowFirst(c) {
  if (FAST_READS !== null && getPrototypeOf(c) === nodeByteProto) setPrototypeOf(c, FAST_READS)
}

// Node 20's stream code can throw from inside controller calls the spec completes:
// ERR_INTERNAL_ASSERTION from a byte stream's enqueue() when a default reader's reads meet
// bytes left by a released BYOB reader's part-filled read (it reads the queue's total once
// where the spec re-reads it), and from close() / error() when an async iterator has two
// reads outstanding (nodejs/node#57679: each releases the reader); a tee branch's
// TypeError comes out of the respond(0) that answers our BYOB read at the end. Our sockets
// make these calls from callbacks of their own (a readiness notification, the end-of-turn
// retry, a read-ahead), where a throw would end the process: they catch, and use these.

/** `c.error(reason)`; a throw from inside Node's code is dropped (the state is set first). */
function errorStream(c, reason) {
  try {
    c.error(reason)
  } catch {}
}

/** A byte or default readable's controller reports its stream errored (desiredSize null). */
const isErrored = (c) => c.desiredSize === null

/**
 * The chunks a writable made here still holds, the one being written first: Node 20's
 * queue of `{ value, size }` records (ours are sized 1 a chunk; the close request's
 * record, always the last, 0), which Node hands to the sink one at a time. Null where the
 * controller's state is not the copy made above (other Node versions): the queue is then
 * not ours to read. Only to look at: the stream alone takes from it.
 */
function writeQueue(c) {
  if (kState === null) return null
  const state = c[kState]
  return typeof state === 'object' && state !== null && getPrototypeOf(state) === KEEP_SIZE ? state.queue : null
}

/**
 * How many default reads wait on the readable of controller `c` (made here); -1 where that
 * cannot be told (a layout other than Node 20's, a BYOB reader).
 */
function defaultReadCount(c) {
  if (kState === null) return -1
  const stream = c[kState]?.stream
  const state = typeof stream === 'object' && stream !== null ? stream[kState] : undefined
  if (typeof state !== 'object' || state === null || !('reader' in state)) return -1
  const reader = state.reader
  if (reader === undefined) return 0
  const requests = typeof reader === 'object' && reader !== null ? reader[kState]?.readRequests : undefined
  return isArray(requests) ? requests.length : -1
}

/**
 * Whether a read waits on the readable of controller `c` (a default readable made here):
 * false once its reader was released or its read cancelled while a pull was waiting, when
 * anything enqueued would sit in the stream's queue, out of the socket's reach. Where that
 * cannot be told, true: the caller enqueues as it would anyway.
 */
const hasPendingRead = (c) => defaultReadCount(c) !== 0

/**
 * Whether the readable of byte controller `c` (made here) has a default reader with reads
 * waiting. A BYOB reader released mid-read leaves its pull-into with the stream (type
 * "none"): bytes responded into it go to the queue without answering those reads, and
 * Node 20's next enqueue() then drops one and throws ERR_INTERNAL_ASSERTION (it reads the
 * queue's total once where the spec re-reads it). The socket enqueues instead while this
 * holds, which answers them (RELIABILITY 42). False where that cannot be told.
 */
const defaultReadsWaiting = (c) => defaultReadCount(c) > 0

/**
 * Once the writable of `stream` (made here) has started, its chunks are sized 1 by one
 * function shared by all (`sizeOne`) in place of its own strategy's size, which only
 * copies writes made before the start (lib/lifecycle.js, Sink): Node calls the size
 * function on every write, and one shared function is a call V8 can inline where each
 * stream's own closure was not (that closure showed 0.3 µs of self time a write in a
 * profile of 500 connections doing round trips; no change in their rate could be told
 * from the noise); the closure and its context are let go. Where the controller state is not our copy, nothing changes.
 */
function sizeAllOne(stream) {
  if (kState === null) return
  const controller = stream[kState]?.controller
  const state = typeof controller === 'object' && controller !== null ? controller[kState] : undefined
  if (typeof state === 'object' && state !== null && getPrototypeOf(state) === KEEP_SIZE) state.sizeAlgorithm = sizeOne
}

/**
 * After a writable's close has begun: `{ reason }` if `abort(reason)` was called on it since
 * (spec 1.3's close steps check the controller's signal), else null. Where the controller
 * state is our copy (above), read from the stream's pending abort request, as Node's
 * abort sets it together with the signal: Node makes a controller's AbortSignal when
 * first asked for (with its EventTarget, 9 µs a connection on this VM), and most
 * writables never need it. Elsewhere, and for an abort of a writable already erroring
 * (whose request holds no reason), the signal itself.
 */
function abortSince(c) {
  const state = kState === null ? undefined : c[kState]
  if (typeof state === 'object' && state !== null && getPrototypeOf(state) === KEEP_SIZE) {
    const pending = state.stream[kState].pendingAbortRequest
    if (pending.abort.promise === undefined) return null
    if (!pending.wasAlreadyErroring) return pending
  }
  const { signal } = c
  return signal.aborted ? { reason: signal.reason } : null
}

/**
 * V8 specializes optimized code on what the fields of a hidden class have held so far (a
 * field only ever given records of one layout is loaded as such, one not changed since its
 * object was made as unchanging), and when one object of the class first breaks that (a
 * writable's first close stores Node's close-request record where ours was; a readable's
 * close clears its algorithms), every optimized function that relied on it is thrown away
 * at once. The streams built here share their hidden classes (above), so the first socket
 * to end threw away the data path's optimized code of every connection, in the middle of
 * their work: a server whose 500 clients finish at about the same time compiled 19
 * functions again (65 ms of compiling on its one CPU) in the last tenth of its round trips.
 * So at load, readables and writables built here go through the ends a socket's go through
 * (a read answered, then the close while a read waits, or a cancel; a write, then close, or
 * the abort of close()), and their classes are as the first socket's end would leave them
 * before anything is optimized. Only microtasks: nothing keeps the event loop alive.
 */
async function primeLayouts() {
  if (BUILT_READABLES) {
    for (const end of ['close', 'cancel']) {
      let pulls = 0
      const source = probeSource((c) => {
        if (pulls++ === 0) c.enqueue(new Uint8Array(1))
      })
      const reader = buildByteReadable(source, 0).getReader()
      await reader.read()
      const waiting = reader.read()
      if (end === 'close') source.controller.close()
      else await reader.cancel()
      await waiting
    }
  }
  if (BUILT_WRITABLES) {
    for (const end of ['close', 'abort']) {
      const sink = probeSink()
      const writer = buildWritable(sink, 2).getWriter()
      writer.closed.then(undefined, doNothing)
      writer.ready.then(undefined, doNothing)
      await writer.write(new Uint8Array(1))
      if (end === 'close') await writer.close()
      else sink.controller.error(undefined)
    }
  }
}
primeLayouts().then(undefined, doNothing)

module.exports = {
  answerWaitingRead,
  byobRequestOf,
  readNowFirstDefault,
  newByteReadable,
  buildWritable,
  BUILT_WRITABLES,
  sizeAllOne,
  newReadableStream,
  newWritableStream,
  errorStream,
  isErrored,
  writeQueue,
  hasPendingRead,
  readNowFirst,
  abortSince,
  defaultReadsWaiting,
}
