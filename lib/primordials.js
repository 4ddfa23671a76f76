'use strict'
// Built-ins captured when the module loads, for the paths that carry native sockets and
// settle `opened` / `closed`: code that runs later and replaces `Promise.prototype.then`
// (or `Reflect.apply`) cannot see or hold back what passes through them.
// The timers too, from `node:timers`: a test that installs fake timers afterwards (sinon's,
// Jest's) replaces the globals, and `closed`, a pending read's keep-alive or a write's
// retry must not then wait for the fake clock.

const { apply } = Reflect
/**
 * `fn` as a function that takes its `this` first: `uncurryThis(fn)(self, ...args)` is
 * `fn.call(self, ...args)` with the original `call`. Unlike `apply(fn, self, [args])`, no
 * list of the arguments is made on each call (56 bytes where the caller is not optimized
 * yet: a connection's first steps, every read and write until then).
 */
const uncurryThis = (fn) => apply(Function.prototype.bind, Function.prototype.call, [fn])
const promiseThen = uncurryThis(Promise.prototype.then)
const { setImmediate, setInterval, setTimeout } = require('node:timers')
const { performance } = require('node:perf_hooks')
const performanceNow = uncurryThis(performance.now)

/** `promise.then(onFulfilled, onRejected)` with the original `then`. */
const then = promiseThen

/** Marks `promise` handled (a rejection nobody awaits is not an unhandled rejection). */
const noop = () => {}
const handled = (promise) => {
  promiseThen(promise, undefined, noop)
}

/** `performance.now()` with the original `now` (fake timers replace it with a fake clock). */
const now = () => performanceNow(performance)

/**
 * Runs `fn` in a microtask, as a reaction to a promise already resolved (a throw from it
 * is then an unhandled rejection). Node's `queueMicrotask` wraps each callback in an
 * `AsyncResource` (an async id, a bound function, `runInAsyncScope`): 0.24 µs a
 * microtask instead of 0.39-0.48 in a loop that awaits each one.
 */
const RESOLVED = Promise.resolve()

// Promises made with the original `Promise.resolve` / `Promise.reject`.
const NativePromise = Promise
const promiseResolve = uncurryThis(Promise.resolve)
const promiseReject = uncurryThis(Promise.reject)
/** A new promise resolved with `value`. */
const resolvedWith = (value) => promiseResolve(NativePromise, value)
/** A new promise rejected with `reason`. */
const rejectedWith = (reason) => promiseReject(NativePromise, reason)
const microtask = (fn) => {
  promiseThen(RESOLVED, fn)
}

// A typed array's own length and copies, which a subclass, an own property or a patched
// %TypedArray%.prototype cannot misreport (a run of datagrams is cut by these lengths).
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype)
const getterOf = (proto, name) => {
  const get = Object.getOwnPropertyDescriptor(proto, name)?.get
  return get === undefined ? undefined : uncurryThis(get)
}
const typedArrayBuffer = getterOf(TypedArrayPrototype, 'buffer')
const typedArrayByteOffset = getterOf(TypedArrayPrototype, 'byteOffset')
const typedArrayByteLength = getterOf(TypedArrayPrototype, 'byteLength')
const dataViewBuffer = getterOf(DataView.prototype, 'buffer')
const dataViewByteOffset = getterOf(DataView.prototype, 'byteOffset')
const dataViewByteLength = getterOf(DataView.prototype, 'byteLength')
const arrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength')
const arrayBufferResizable = getterOf(ArrayBuffer.prototype, 'resizable')
const typedArraySet = uncurryThis(TypedArrayPrototype.set)
const Uint8ArrayCtor = Uint8Array

/** `view.byteLength` as the engine knows it. */
const byteLength = typedArrayByteLength

// A typed array's or DataView's buffer, offset and length as the engine knows them (its
// internal slots, not getters a subclass or an own property could override). A DataView's
// offset and length throw once its buffer is detached: ask for the buffer first.
/** The ArrayBuffer (or SharedArrayBuffer) under `view`. */
const viewBuffer = (view, isDataView) => (isDataView ? dataViewBuffer(view) : typedArrayBuffer(view))
/** `[byteOffset, byteLength]` of `view` (its buffer not detached). */
const viewRange = (view, isDataView) =>
  isDataView
    ? [dataViewByteOffset(view), dataViewByteLength(view)]
    : [typedArrayByteOffset(view), typedArrayByteLength(view)]

/** An (unshared) ArrayBuffer's byteLength, and whether it is resizable, as the engine knows them. */
const bufferByteLength = arrayBufferByteLength
const bufferResizable = (buffer) => arrayBufferResizable !== undefined && arrayBufferResizable(buffer)

/** A plain Uint8Array over `view`'s bytes from `start` on (`view` a Uint8Array, maybe a subclass). */
const bytesFrom = (view, start) =>
  new Uint8ArrayCtor(
    typedArrayBuffer(view),
    typedArrayByteOffset(view) + start,
    typedArrayByteLength(view) - start,
  )
/** `target.set(source, offset)`. */
const copyInto = typedArraySet

/**
 * Gives `object` the own, ordinary data property `key`, as a literal's member or an
 * assignment with no setter would: defined, not assigned, so that a setter or a read-only
 * property of that name on Object.prototype cannot take it.
 */
const { defineProperty } = Object
const defineData = (object, key, value) => defineProperty(object, key, dataDescriptor(value))

/**
 * Makes the objects `ctor` constructs inherit nothing: their prototype chain ends without
 * Object.prototype, so whatever Object.prototype is given is never read through them. (A
 * `{ __proto__: null }` literal would do too, but V8 makes those in dictionary mode: twice
 * as slow to define properties with, slower to read.) Returns `ctor`.
 */
function inheritingNothing(ctor) {
  ctor.prototype = Object.freeze(Object.create(null))
  return ctor
}

/**
 * The descriptor of such a property holding `value` (also made once for every object given
 * one value: a built stream's brand, an option's default). Nothing inherited: a `get` or
 * `set` on Object.prototype would make a plain literal an accessor's descriptor, and the
 * definition throw.
 */
const DataDescriptor = inheritingNothing(function DataDescriptor(value) {
  this.value = value
  this.writable = true
  this.enumerable = true
  this.configurable = true
})
const dataDescriptor = (value) => new DataDescriptor(value)

// FinalizationRegistry's methods: a TCP socket's native half is released through one when
// its connection is collected (src/tcp.rs), and code that replaced `unregister` after
// load must not keep a released socket's number registered for release a second time.
/** `registry.register(target, held, token)` with the original method. */
const register = uncurryThis(FinalizationRegistry.prototype.register)

/** `registry.unregister(token)` with the original method. */
const unregister = uncurryThis(FinalizationRegistry.prototype.unregister)

/**
 * An empty list with room for one element, which V8 sees as a list of objects from the
 * start. V8 gives an empty list 17 slots (152 bytes) at its first push and takes them back
 * when a shift empties it, so a list that holds one record at a time (a reader's waiting
 * read; a writable's write request and queue entry) made and dropped them at every use; a
 * list of one slot keeps it (V8 keeps the room of a list emptied by shift or pop). And
 * `[]` is a list of small integers until its first push: code optimized for lists of one
 * kind is thrown away (a deoptimization, and a fresh compile) when it first meets the other.
 */
function listOfOne() {
  const list = [undefined]
  list.pop()
  return list
}

module.exports = {
  uncurryThis,
  inheritingNothing,
  defineData,
  dataDescriptor,
  listOfOne,
  register,
  unregister,
  RESOLVED,
  resolvedWith,
  rejectedWith,
  then,
  handled,
  microtask,
  now,
  setImmediate,
  setInterval,
  setTimeout,
  byteLength,
  viewBuffer,
  viewRange,
  bufferByteLength,
  bufferResizable,
  bytesFrom,
  copyInto,
}
