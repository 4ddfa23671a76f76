'use strict'
// TCPSocket (spec section 1): argument conversion, `opened` / `closed` / `close()`.

const { TcpConnection } = require('./tcp-streams')
const { fromNative, nativeCall, invalidState, abortError } = require('./errors')
const idl = require('./webidl')

/** Lets a TCPServerSocket of the same class set hand over an accepted connection. */
const kAdopt = Symbol('adopt accepted handle')

function convertOptions(options) {
  const ctx = "Failed to construct 'TCPSocket'"
  const dict = idl.readMembers(idl.toDictionary(options, `${ctx}: TCPSocketOptions`), [
    'dnsQueryType',
    'keepAliveDelay',
    'noDelay',
    'receiveBufferSize',
    'sendBufferSize',
  ])
  const out = { noDelay: false }
  if (dict.dnsQueryType !== undefined) {
    out.dnsQueryType = idl.toEnum(dict.dnsQueryType, ['ipv4', 'ipv6'], 'SocketDnsQueryType', `${ctx}: dnsQueryType`)
  }
  if (dict.keepAliveDelay !== undefined) {
    out.keepAliveDelay = idl.toEnforcedUnsignedLong(dict.keepAliveDelay, `${ctx}: keepAliveDelay`)
  }
  if (dict.noDelay !== undefined) out.noDelay = idl.toBoolean(dict.noDelay)
  if (dict.receiveBufferSize !== undefined) {
    out.receiveBufferSize = idl.toEnforcedUnsignedLong(dict.receiveBufferSize, `${ctx}: receiveBufferSize`)
  }
  if (dict.sendBufferSize !== undefined) {
    out.sendBufferSize = idl.toEnforcedUnsignedLong(dict.sendBufferSize, `${ctx}: sendBufferSize`)
  }
  return out
}

function checkOptionValues(opts) {
  const ctx = "Failed to construct 'TCPSocket'"
  if (opts.keepAliveDelay !== undefined && opts.keepAliveDelay < 1000) {
    throw new TypeError(`${ctx}: keepAliveDelay must be at least 1000 ms, got ${opts.keepAliveDelay}.`)
  }
  if (opts.sendBufferSize === 0) throw new TypeError(`${ctx}: sendBufferSize must not be 0.`)
  if (opts.receiveBufferSize === 0) throw new TypeError(`${ctx}: receiveBufferSize must not be 0.`)
}

/** Makes the TCPSocket class bound to one native `Sockets` (one policy). */
function defineTCPSocket(sockets) {
  class TCPSocket {
    #opened
    #closed
    #openState = 'pending'
    #closedSettled = false
    #resolveClosed
    #rejectClosed
    #info = null

    /**
     * Opens a TCP connection to `remoteAddress` (a host name or IP literal) and
     * `remotePort`. Wait for `opened` for the streams.
     */
    constructor(remoteAddress, remotePort, options = undefined) {
      const adopting = remoteAddress === kAdopt
      let host
      let port
      let opts
      if (!adopting) {
        idl.requireArguments(arguments.length, 2, "Failed to construct 'TCPSocket'")
        host = idl.toDOMString(remoteAddress, "Failed to construct 'TCPSocket': remoteAddress")
        port = idl.toUnsignedShort(remotePort, "Failed to construct 'TCPSocket': remotePort")
        opts = convertOptions(options)
        nativeCall(() => sockets.checkConstructor())
        checkOptionValues(opts)
      }

      let resolveOpened
      let rejectOpened
      this.#opened = new Promise((resolve, reject) => {
        resolveOpened = resolve
        rejectOpened = reject
      })
      this.#closed = new Promise((resolve, reject) => {
        this.#resolveClosed = resolve
        this.#rejectClosed = reject
      })
      // Nobody has to listen to these: a failure must not become an unhandled rejection.
      this.#opened.catch(() => {})
      this.#closed.catch(() => {})

      const open = (handle) => {
        this.#openState = 'resolved'
        const connection = new TcpConnection(handle, (error) => this.#settleClosed(error))
        this.#info = { readable: connection.readable, writable: connection.writable, ...handle.info() }
        resolveOpened(this.#info)
      }
      const fail = (err) => {
        const error = fromNative(err)
        this.#openState = 'rejected'
        rejectOpened(error)
        this.#settleClosed(error)
      }
      if (adopting) open(remotePort)
      else sockets.connectTcp(host, port, opts).then(open, fail)
    }

    #settleClosed(error) {
      if (this.#closedSettled) return
      this.#closedSettled = true
      if (error === undefined) this.#resolveClosed()
      else this.#rejectClosed(error)
    }

    /** Resolves with `{ readable, writable, remoteAddress, remotePort, localAddress, localPort }`. */
    get opened() {
      return this.#opened
    }

    /** Resolves once both streams are closed; rejects with the first stream error. */
    get closed() {
      return this.#closed
    }

    /** Cancels the readable, aborts the writable and returns `closed`. */
    close() {
      if (this.#openState !== 'resolved') {
        return Promise.reject(invalidState('close() called on a TCPSocket that is not open.'))
      }
      if (this.#closedSettled) return this.#closed
      const { readable, writable } = this.#info
      if (readable.locked || writable.locked) {
        return Promise.reject(invalidState('close() called while the readable or writable is locked.'))
      }
      readable.cancel().catch(() => {})
      writable.abort(abortError('The socket was closed.')).catch(() => {})
      return this.#closed
    }
  }
  Object.defineProperty(TCPSocket.prototype, Symbol.toStringTag, { value: 'TCPSocket', configurable: true })
  return TCPSocket
}

module.exports = { defineTCPSocket, kAdopt }
