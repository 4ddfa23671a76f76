'use strict'
// TCPSocket (spec section 1): argument conversion, `opened` / `closed` / `close()`.

const { tcpArm, tcpRelease, tcpFinishConnect, tcpInfo } = require('../binding.js')
const { TcpConnection } = require('./tcp-streams')
const wait = require('./wait')
const turns = require('./turns')
const { fromNative } = require('./errors')
const { Lifecycle, INSPECT, linkInfo, addStream, addRemote } = require('./lifecycle')
const idl = require('./webidl')
const { constructorCheck } = require('./policy')
const { dataDescriptor } = require('./primordials')
const { defineProperty } = Object

/** Lets a TCPServerSocket of the same class set hand over an accepted connection. */
const kAdopt = Symbol('adopt accepted socket')

const CTX = "Failed to construct 'TCPSocket'"

const toTCPSocketOptions = idl.dictionary('TCPSocketOptions', {
  dnsQueryType: idl.toDnsQueryType,
  keepAliveDelay: idl.toEnforcedUnsignedLong,
  noDelay: idl.toBoolean,
  receiveBufferSize: idl.toEnforcedUnsignedLong,
  sendBufferSize: idl.toEnforcedUnsignedLong,
})

/** The default of `noDelay`, as a data property's descriptor (one for all sockets). */
const NO_DELAY_DEFAULT = dataDescriptor(false)

function convertOptions(options) {
  const out = toTCPSocketOptions(options, CTX)
  if (out.noDelay === undefined) defineProperty(out, 'noDelay', NO_DELAY_DEFAULT)
  return out
}

function checkOptionValues(opts) {
  if (opts.keepAliveDelay !== undefined && opts.keepAliveDelay < 1000) {
    throw new TypeError(`${CTX}: keepAliveDelay must be at least 1000 ms, got ${opts.keepAliveDelay}.`)
  }
  if (opts.sendBufferSize === 0) throw new TypeError(`${CTX}: sendBufferSize must not be 0.`)
  if (opts.receiveBufferSize === 0) throw new TypeError(`${CTX}: receiveBufferSize must not be 0.`)
}

/**
 * Waits until a connect begun by `connectTcpStart` is done, then opens `life` with the
 * streams of `core`, or fails it. One async function for the whole (no closures for the
 * outcomes, no promise of its own per step: a connection opened allocates less).
 */
async function openWhenConnected(life, core) {
  let info
  try {
    for (;;) {
      info = tcpFinishConnect(core)
      if (info !== null) break
      const armed = wait.arm(tcpArm, core, true)
      if (armed !== true) await armed.promise
    }
  } catch (err) {
    tcpRelease(core)
    failLater(life, err)
    return
  }
  // Done at once (loopback): `opened` still resolves in a later task, as node:net's
  // 'connect' event comes (and Chromium's opened, after a round trip to its network
  // service). A loop of opens would otherwise never let the event loop turn, and a
  // node:net server in this process, which accepts one connection per turn, would
  // fall behind until its backlog overflowed (docs/RELIABILITY.md, finding 9).
  await turns.nextTurn()
  openConnection(life, core, info)
}

/** A connect to a host name (resolved and connected on tokio): opens `life` or fails it. */
async function openWhenResolved(life, connecting) {
  let core
  try {
    core = await connecting
  } catch (err) {
    failLater(life, err)
    return
  }
  openConnection(life, core)
}

/**
 * Spec 1.1 queues a task to reject `opened`: a failure found at once (ECONNREFUSED on
 * loopback, a policy refusal) is reported in a later task, as a success is.
 */
function failLater(life, err) {
  turns.nextTurn(() => Lifecycle.fail(life, fromNative(err)))
}

// The address strings of the last connections opened: most of a process's connections
// share their local address and many their peer's, and each string the native side
// makes is a new one (32 bytes for an IPv4 address, kept as long as the socket).
let lastAddress = ''
let lastButOne = ''

/** `address`, or an equal string kept from a connection opened before. */
function sameAddress(address) {
  if (address === lastAddress) return lastAddress
  if (address === lastButOne) return lastButOne
  lastButOne = lastAddress
  lastAddress = address
  return address
}

/**
 * `opened` resolves: the streams of `core` (the native socket's number, src/tcp.rs).
 * Module-level, so that an open socket keeps no closure of its constructor alive.
 */
function openConnection(life, core, info = tcpInfo(core)) {
  const connection = new TcpConnection(core, life)
  // Members in lexicographic order, as WebIDL makes a dictionary's object; the streams are
  // made on first use (lib/lifecycle.js, addStream).
  const opened = linkInfo(sameAddress(info.localAddress), info.localPort, connection)
  addStream(opened, 'readable')
  addRemote(opened, sameAddress(info.remoteAddress), info.remotePort)
  addStream(opened, 'writable')
  Lifecycle.open(life, opened, connection)
}

/** Makes the TCPSocket class bound to one native `Sockets` (one policy). */
function defineTCPSocket(sockets) {
  const checkConstructor = constructorCheck(sockets)
  const KIND = Lifecycle.kind('TCPSocket')
  class TCPSocket {

    /**
     * Opens a TCP connection to `remoteAddress` (a host name or IP literal) and
     * `remotePort`. Wait for `opened` for the streams.
     */
    constructor(remoteAddress, remotePort, options = undefined) {
      Lifecycle.stamp(this, KIND)
      const adopting = remoteAddress === kAdopt
      let host
      let port
      let opts
      if (!adopting) {
        idl.requireArguments(arguments.length, 2, CTX)
        host = idl.toDOMString(remoteAddress, `${CTX}: remoteAddress`)
        port = idl.toUnsignedShort(remotePort, `${CTX}: remotePort`)
        opts = convertOptions(options)
        checkConstructor()
        checkOptionValues(opts)
      }

      const life = this
      if (adopting) {
        openConnection(life, remotePort)
        return
      }
      // IP literals connect from this thread (on loopback usually done at once); host
      // names are resolved and connected on tokio.
      let core
      try {
        core = sockets.connectTcpStart(host, port, opts)
      } catch (err) {
        failLater(life, err)
        return
      }
      if (core === null) openWhenResolved(life, sockets.connectTcp(host, port, opts))
      else openWhenConnected(life, core)
    }

    /** Resolves with `{ readable, writable, remoteAddress, remotePort, localAddress, localPort }`. */
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
  idl.defineInterface(TCPSocket, 'TCPSocket', ['opened', 'closed', 'close'])
  return TCPSocket
}

module.exports = { defineTCPSocket, kAdopt }
