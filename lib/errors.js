'use strict'
// Turns errors reported by the native side into the spec's error kinds.
//
// Rust encodes (name, code, errno, syscall, detail) in the message of a plain Error
// (src/error.rs); here that becomes a TypeError or a DOMException whose `cause` is a
// Node-style system error (`code`, `errno`, `syscall`), as `node:net` would report it.

const { getSystemErrorName } = require('node:util')
const { errno: osErrno } = require('node:os').constants

const SEP = '\x1f'

// Captured when the module loads, so that code that runs later and replaces them cannot
// garble the errors of policy refusals (which must say NotAllowedError, whatever else ran).
const { apply } = Reflect
const { split, includes } = String.prototype
const DOMExceptionCtor = DOMException
const TypeErrorCtor = TypeError
const ErrorCtor = Error

function systemErrorName(errno) {
  try {
    return getSystemErrorName(-errno)
  } catch {
    return `E${errno}`
  }
}

/** Builds a DOMException, with `cause` when there is one. */
function domException(message, name, cause) {
  return cause === undefined
    ? new DOMExceptionCtor(message, name)
    : new DOMExceptionCtor(message, { __proto__: null, name, cause })
}

/** Decodes an error thrown or rejected by the native binding. */
function fromNative(err) {
  if (!err || typeof err.message !== 'string' || !apply(includes, err.message, [SEP])) return err
  const fields = apply(split, err.message, [SEP])
  const name = fields[0]
  const codeField = fields[1]
  const syscall = fields[3]
  let detail = fields[4] ?? ''
  for (let i = 5; i < fields.length; i++) detail += SEP + fields[i]
  if (name === 'TypeError') return new TypeErrorCtor(detail)
  const errno = Number(fields[2]) || 0
  const code = codeField || (errno ? systemErrorName(errno) : '')
  if (!code) return domException(detail, name)
  let message = syscall ? `${syscall} ${code}` : code
  if (detail) message += ` ${detail}`
  const cause = new ErrorCtor(message)
  cause.code = code
  if (errno) cause.errno = -errno
  if (syscall) cause.syscall = syscall
  describeTarget(cause, syscall, detail)
  return domException(message, name, cause)
}

// `address:port` or `[v6]:port`, as the native side writes a socket address.
const SOCKET_ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/
const { exec } = RegExp.prototype

/** Node-style fields naming what failed: `address` and `port`, or `hostname` for a lookup. */
function describeTarget(cause, syscall, detail) {
  if (!detail) return
  const m = apply(exec, SOCKET_ADDRESS, [detail])
  if (m !== null) {
    cause.address = m[1] ?? m[2]
    cause.port = Number(m[3])
  } else if (syscall === 'getaddrinfo' || syscall === 'queryA' || syscall === 'queryAaaa') {
    cause.hostname = apply(split, detail, [' ('])[0]
  }
}

/** Runs a synchronous native call, rethrowing its error decoded. */
function nativeCall(fn) {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err)
  }
}

/**
 * A NetworkError for an OS failure known before the call is made (the call would not fail,
 * but do something else), shaped as `fromNative` shapes the kernel's: `syscall code detail`,
 * with a `cause` carrying `code`, `errno` and `syscall`.
 */
function osNetworkError(syscall, code, detail) {
  const message = `${syscall} ${code} ${detail}`
  const cause = new ErrorCtor(message)
  cause.code = code
  const errno = osErrno[code]
  if (errno) cause.errno = -errno
  cause.syscall = syscall
  return domException(message, 'NetworkError', cause)
}

const invalidState = (message) => new DOMExceptionCtor(message, 'InvalidStateError')

/** The error of a write that close() cut short (as an abort would reject it). */
const closedByClose = () => new DOMExceptionCtor('The socket was closed.', 'AbortError')

module.exports = { fromNative, nativeCall, invalidState, closedByClose, osNetworkError }
