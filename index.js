'use strict'
// direct-sockets: the WICG Direct Sockets API for Node.js.
//
// The module's own exports use the default policy (everything a Node process may do);
// `withPolicy(policy)` returns a frozen class set bound to a restricted one.

const { Sockets } = require('./binding.js')
const { fromNative } = require('./lib/errors')
const { defineTCPSocket } = require('./lib/tcp')
const { defineUDPSocket } = require('./lib/udp')
const { MulticastController } = require('./lib/multicast')

/** Builds one class set over a native `Sockets` (policy + open operations). */
function createClassSet(config) {
  let sockets
  try {
    sockets = new Sockets(config)
  } catch (err) {
    throw fromNative(err)
  }
  const TCPSocket = defineTCPSocket(sockets)
  const UDPSocket = defineUDPSocket(sockets)
  return Object.freeze({ TCPSocket, UDPSocket, MulticastController })
}

const defaults = createClassSet(undefined)
const { TCPSocket, UDPSocket } = defaults

// Shorthand names, so that ESM `import { UDPSocket } from 'direct-sockets'` finds them
// (Node's CommonJS export detection stops at the first `key: expression`).
module.exports = {
  TCPSocket,
  UDPSocket,
  MulticastController,
}
