'use strict'
// The WebIDL conversions the spec's IDL asks for, with the TypeErrors WebIDL prescribes.

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

/** A dictionary argument: undefined and null are the empty dictionary; other primitives throw. */
function toDictionary(value, context) {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' && typeof value !== 'function') {
    throw new TypeError(`${context}: the provided value is not of type '${context.split(' ').pop()}'.`)
  }
  return value
}

function isSharedArrayBuffer(buffer) {
  return typeof SharedArrayBuffer === 'function' && buffer instanceof SharedArrayBuffer
}

/**
 * `BufferSource` (an ArrayBuffer, a TypedArray or a DataView, not shared memory) as a
 * Uint8Array over the same bytes. Returns the value itself when it already is one.
 */
function toBytes(value, context) {
  if (value instanceof Uint8Array) {
    if (isSharedArrayBuffer(value.buffer)) throw new TypeError(`${context}: shared memory is not a BufferSource.`)
    return value
  }
  if (ArrayBuffer.isView(value)) {
    if (isSharedArrayBuffer(value.buffer)) throw new TypeError(`${context}: shared memory is not a BufferSource.`)
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  const kind = value === null ? 'null' : typeof value === 'object' ? value.constructor?.name || 'object' : typeof value
  throw new TypeError(`${context}: expected an ArrayBuffer, TypedArray or DataView, got ${kind}.`)
}

/** Reads the members of a dictionary in the order WebIDL prescribes (lexicographic). */
function readMembers(dict, names) {
  const out = {}
  for (const name of [...names].sort()) out[name] = dict[name]
  return out
}

module.exports = {
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
  readMembers,
}
