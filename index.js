'use strict'
// direct-sockets: the WICG Direct Sockets API for Node.js.
//
// The module's own exports use the default policy (everything a Node process may do);
// `withPolicy(policy)` returns a frozen class set bound to a restricted one.

const { Sockets } = require('./binding.js')
// Captured now: a class set made later must not depend on what code did to Object since.
const { freeze } = Object
const { fromNative } = require('./lib/errors')
const { toPolicyConfig } = require('./lib/policy')
const { defineTCPSocket } = require('./lib/tcp')
const { defineTCPServerSocket } = require('./lib/server')
const { defineUDPSocket } = require('./lib/udp')
const { MulticastController } = require('./lib/multicast')

/** Builds one class set over a native `Sockets` (the policy plus the open operations). */
function createClassSet(config) {
  let sockets
  try {
    sockets = new Sockets(config)
  } catch (err) {
    throw fromNative(err)
  }
  const TCPSocket = defineTCPSocket(sockets)
  const TCPServerSocket = defineTCPServerSocket(sockets, TCPSocket)
  const UDPSocket = defineUDPSocket(sockets)
  return freeze({ TCPSocket, TCPServerSocket, UDPSocket, MulticastController })
}

/**
 * Returns a new, frozen `{ TCPSocket, TCPServerSocket, UDPSocket, MulticastController }`
 * whose every open is checked against `policy`. Unknown keys, wrong types and malformed
 * values throw a TypeError.
 */
function withPolicy(policy) {
  return createClassSet(toPolicyConfig(policy))
}

const defaults = createClassSet(undefined)
const { TCPSocket, TCPServerSocket, UDPSocket } = defaults

// Assigned one by one, so that Node's ESM loader sees the named exports of this
// CommonJS module (`import { TCPSocket } from 'direct-sockets'`).
exports.TCPSocket = TCPSocket
exports.TCPServerSocket = TCPServerSocket
exports.UDPSocket = UDPSocket
exports.MulticastController = MulticastController
exports.withPolicy = withPolicy
