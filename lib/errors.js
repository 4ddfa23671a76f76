'use strict'
// Turns errors reported by the native side into the spec's error kinds.
//
// Rust encodes (name, code, errno, syscall, detail) in the message of a plain Error
// (src/error.rs); here that becomes a TypeError or a DOMException whose `cause` is a
// Node-style system error (`code`, `errno`, `syscall`), as `node:net` would report it.

const { getSystemErrorName } = require('node:util')

const SEP = '\x1f'

function systemErrorName(errno) {
  try {
    return getSystemErrorName(-errno)
  } catch {
    return `E${errno}`
  }
}

/** Builds a DOMException, with `cause` when there is one. */
function domException(message, name, cause) {
  return cause === undefined ? new DOMException(message, name) : new DOMException(message, { name, cause })
}

/** Decodes an error thrown or rejected by the native binding. */
function fromNative(err) {
  if (!err || typeof err.message !== 'string' || !err.message.includes(SEP)) return err
  const [name, codeField, errnoField, syscall, ...rest] = err.message.split(SEP)
  const detail = rest.join(SEP)
  if (name === 'TypeError') return new TypeError(detail)
  const errno = Number(errnoField) || 0
  const code = codeField || (errno ? systemErrorName(errno) : '')
  if (!code) return domException(detail, name)
  const message = [syscall, code, detail].filter(Boolean).join(' ')
  const cause = new Error(message)
  cause.code = code
  if (errno) cause.errno = -errno
  if (syscall) cause.syscall = syscall
  return domException(message, name, cause)
}

/** Runs a synchronous native call, rethrowing its error decoded. */
function nativeCall(fn) {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err)
  }
}

const invalidState = (message) => new DOMException(message, 'InvalidStateError')

/** The error of a write that close() cut short (as an abort would reject it). */
const closedByClose = () => new DOMException('The socket was closed.', 'AbortError')

module.exports = { fromNative, nativeCall, invalidState, closedByClose }
