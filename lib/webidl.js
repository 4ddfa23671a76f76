'use strict'
// The WebIDL conversions the spec's IDL asks for, with the TypeErrors WebIDL prescribes.

// Brand checks, not `instanceof`: a buffer made in another realm (a `vm` context, Jest's
// test environment, an iframe-like Electron context) is a BufferSource all the same.
const { isArrayBuffer, isSharedArrayBuffer, isUint8Array, isDataView } = require('node:util').types
// The bytes of a view as the engine knows them: WebIDL's "bytes held by the buffer source"
// are its internal slots, which a subclass's or an own property's getters cannot change.
const {
  viewBuffer,
  viewRange,
  bufferByteLength,
  bufferResizable,
  bytesFrom,
  byteLength,
  copyInto,
  defineData,
  handled,
  inheritingNothing,
  rejectedWith,
} = require('./primordials')
const Uint8ArrayCtor = Uint8Array
const { isView } = ArrayBuffer

const U16 = 2 ** 16
const U32_MAX = 2 ** 32 - 1

/** `N arguments required` check of an operation or constructor. */
function requireArguments(given, required, context) {
  if (given < required) {
    throw new TypeError(
      `${context}: ${required} argument${required === 1 ? '' : 's'} required, but only ${given} present.`,
    )
  }
}

/** ECMAScript ToNumber, which throws for Symbols and BigInts as WebIDL requires. */
function toNumber(value, context) {
  if (typeof value === 'bigint') throw new TypeError(`${context}: cannot convert a BigInt to a number.`)
  if (typeof value === 'symbol') throw new TypeError(`${context}: cannot convert a Symbol to a number.`)
  return +value
}

/** `DOMString`. */
function toDOMString(value, context) {
  if (typeof value === 'symbol') throw new TypeError(`${context}: cannot convert a Symbol to a string.`)
  return `${value}`
}

/** `boolean`. */
function toBoolean(value) {
  return Boolean(value)
}

/** `unsigned short` without [EnforceRange]: wraps modulo 2^16, NaN and infinities become 0. */
function toUnsignedShort(value, context) {
  const x = toNumber(value, context)
  if (!Number.isFinite(x)) return 0
  const n = Math.trunc(x) % U16
  return n < 0 ? n + U16 : n === 0 ? 0 : n
}

/** An integer type with [EnforceRange]: throws outside [0, max] or for NaN and infinities. */
function enforceRange(value, max, typeName, context) {
  const x = toNumber(value, context)
  if (!Number.isFinite(x)) throw new TypeError(`${context} is not a finite number (got ${String(x)}).`)
  const n = Math.trunc(x)
  if (n < 0 || n > max) throw new TypeError(`${context} is outside the range of ${typeName} (0 to ${max}): ${n}.`)
  return n === 0 ? 0 : n
}

const toEnforcedUnsignedLong = (v, ctx) => enforceRange(v, U32_MAX, 'unsigned long', ctx)
const toEnforcedUnsignedShort = (v, ctx) => enforceRange(v, U16 - 1, 'unsigned short', ctx)
const toEnforcedOctet = (v, ctx) => enforceRange(v, 255, 'octet', ctx)

/** An enumeration value. */
function toEnum(value, allowed, enumName, context) {
  const s = toDOMString(value, context)
  if (!allowed.includes(s)) {
    throw new TypeError(`${context}: the provided value '${s}' is not a valid enum value of type ${enumName}.`)
  }
  return s
}

/**
 * A converted dictionary: it inherits nothing, so that a member left out reads as
 * undefined whatever Object.prototype has.
 */
const Members = inheritingNothing(function Members() {})

/** An undefined or null dictionary value: no members (frozen: only read). */
const NO_MEMBERS = Object.freeze(new Members())

/**
 * A dictionary argument: undefined and null are the empty dictionary (nothing inherited
 * from Object.prototype is read for them); other primitives throw.
 */
function toDictionary(value, context, typeName) {
  if (value === undefined || value === null) return NO_MEMBERS
  if (typeof value !== 'object' && typeof value !== 'function') {
    throw new TypeError(`${context}: ${typeName}: the provided value is not of type '${typeName}'.`)
  }
  return value
}

/** Shared memory, from any realm (this realm's ArrayBuffer, the usual case, costs no call). */
function isShared(buffer) {
  return !(buffer instanceof ArrayBuffer) && isSharedArrayBuffer(buffer)
}

/** Raw bytes (an ArrayBuffer, SharedArrayBuffer or view), from any realm. */
function isRawBytes(value) {
  return isView(value) || isArrayBuffer(value) || isSharedArrayBuffer(value)
}

/** An empty buffer whose memory was transferred away (Node 20 has no `ArrayBuffer#detached`). */
function isDetached(buffer) {
  try {
    new Uint8ArrayCtor(buffer)
    return false
  } catch {
    return true
  }
}

function describeValue(value) {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  try {
    return value.constructor?.name || 'object'
  } catch {
    return 'object'
  }
}

/**
 * A copy of `bytes` (a Uint8Array, maybe a Buffer) from `start` on, as a plain Uint8Array
 * over a fresh ArrayBuffer. Not `bytes.slice()`: a Buffer's `slice` shares its memory.
 */
function copyBytes(bytes, start = 0) {
  const copy = new Uint8ArrayCtor(byteLength(bytes) - start)
  copyInto(copy, start === 0 ? bytes : bytesFrom(bytes, start), 0)
  return copy
}

/**
 * `BufferSource` (an ArrayBuffer, a TypedArray or a DataView) as a Uint8Array over the
 * same bytes; the value itself when it already is one. As WebIDL says: shared memory and
 * resizable buffers (no [AllowResizable] in the spec's IDL) are TypeErrors, and a
 * detached buffer holds no bytes (a fresh empty Uint8Array, which a later copy or send
 * can use safely).
 */
function toBytes(value, context) {
  const bytes = bytesOrNull(value)
  if (bytes !== null) return bytes
  if (!isRawBytes(value)) {
    throw new TypeError(`${context}: expected an ArrayBuffer, TypedArray or DataView, got ${describeValue(value)}.`)
  }
  const buffer = isView(value) ? viewBuffer(value, isDataView(value)) : value
  throw new TypeError(
    isShared(buffer)
      ? `${context}: shared memory is not a BufferSource.`
      : `${context}: a resizable ArrayBuffer is not a BufferSource.`,
  )
}

/**
 * What toBytes gives for `value`, or null where it would throw its TypeError (which is not
 * made: nothing of the value's own, such as a `constructor` getter, runs).
 */
function bytesOrNull(value) {
  if (!isRawBytes(value)) return null
  const u8 = isUint8Array(value)
  const view = u8 || isView(value)
  const dataView = view && !u8 && isDataView(value)
  const buffer = view ? viewBuffer(value, dataView) : value
  if (isShared(buffer) || bufferResizable(buffer)) return null
  if (bufferByteLength(buffer) === 0 && isDetached(buffer)) return new Uint8ArrayCtor(0)
  if (!view) return new Uint8ArrayCtor(value)
  // A Uint8Array (a Buffer, a subclass) is used as it is: whatever reads its length or
  // bytes later does so through the engine (lib/primordials.js), as the native side does.
  if (u8) return value
  const [offset, length] = viewRange(value, dataView)
  return new Uint8ArrayCtor(buffer, offset, length)
}

/**
 * A dictionary type's converter: `members` maps each member name to its converter
 * `(value, context) => idlValue`. As WebIDL converts a dictionary, each member is read
 * and converted in turn, in lexicographic order, so the first bad member's error is the
 * one thrown and no later member's getter runs. Members that are undefined are left out.
 * Returns `(value, context) => object`.
 */
function dictionary(typeName, members) {
  const names = Object.keys(members).sort()
  const converters = names.map((name) => members[name])
  return (value, context) => {
    // (The context's text is made only for an error.)
    const dict = toDictionary(value, context, typeName)
    const out = new Members()
    for (let i = 0; i < names.length; i++) {
      const member = dict[names[i]]
      // Defined, not assigned (lib/primordials.js).
      if (member !== undefined) defineData(out, names[i], converters[i](member, `${context}: ${names[i]}`))
    }
    return out
  }
}

/** An enumeration type's converter for `dictionary`. */
const enumeration = (enumName, allowed) => (value, context) => toEnum(value, allowed, enumName, context)

/** `SocketDnsQueryType`. */
const toDnsQueryType = enumeration('SocketDnsQueryType', ['ipv4', 'ipv6'])

/** Whether `value` is an object (one a private-field brand check can be asked of). */
const isObject = (value) => (typeof value === 'object' && value !== null) || typeof value === 'function'

/**
 * What a promise-typed attribute or operation returns when called on an object that is
 * not of its interface: a promise rejected with a TypeError, as WebIDL says (not a throw).
 * Marked handled (whoever awaits it still gets the TypeError): code that walks an
 * object's getters (`JSON.stringify(TCPSocket.prototype)`, a spread, a deep comparison)
 * reads `opened` and `closed` of the prototype itself, and an unhandled rejection ends a
 * Node process.
 */
const illegalInvocation = () => {
  const rejected = rejectedWith(new TypeError('Illegal invocation'))
  handled(rejected)
  return rejected
}

/**
 * Gives `cls` the shape of a WebIDL interface: the listed attributes and operations
 * enumerable (class syntax makes them non-enumerable), and `Symbol.toStringTag` `name`.
 */
function defineInterface(cls, name, members) {
  const proto = cls.prototype
  for (const member of members) {
    Object.defineProperty(proto, member, { ...Object.getOwnPropertyDescriptor(proto, member), enumerable: true })
  }
  Object.defineProperty(proto, Symbol.toStringTag, { value: name, configurable: true })
}

module.exports = {
  isObject,
  illegalInvocation,
  defineInterface,
  requireArguments,
  toDOMString,
  toBoolean,
  toUnsignedShort,
  toEnforcedUnsignedLong,
  toEnforcedUnsignedShort,
  toEnforcedOctet,
  toEnum,
  toDictionary,
  toBytes,
  bytesOrNull,
  isRawBytes,
  copyBytes,
  dictionary,
  toDnsQueryType,
}
