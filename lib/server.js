'use strict'
// TCPServerSocket (spec section 4): argument conversion, `opened` / `closed` / `close()`,
// and the readable of accepted connections.

const { ReadableStream } = require('node:stream/web')
const { kAdopt } = require('./tcp')
const { fromNative, nativeCall, invalidState } = require('./errors')
const { ipVersion, canonicalV6 } = require('./ip')
const idl = require('./webidl')
const wait = require('./wait')

const CTX = "Failed to construct 'TCPServerSocket'"
// At most this many connections are accepted in one crossing; the readable pulls only
// when read (highWaterMark 0), so the rest wait in the kernel's backlog.
const ACCEPT_BATCH = 64

function convertOptions(options) {
  const dict = idl.readMembers(idl.toDictionary(options, `${CTX}: TCPServerSocketOptions`), [
    'backlog',
    'ipv6Only',
    'localPort',
  ])
  const out = {}
  if (dict.backlog !== undefined) out.backlog = idl.toEnforcedUnsignedLong(dict.backlog, `${CTX}: backlog`)
  if (dict.ipv6Only !== undefined) out.ipv6Only = idl.toBoolean(dict.ipv6Only)
  if (dict.localPort !== undefined) out.localPort = idl.toEnforcedUnsignedShort(dict.localPort, `${CTX}: localPort`)
  return out
}

function checkValues(localAddress, opts) {
  const version = ipVersion(localAddress)
  if (version === 0) throw new TypeError(`${CTX}: '${localAddress}' is not a valid IP address.`)
  if (opts.localPort === 0) throw new TypeError(`${CTX}: localPort must not be 0 (leave it out to let the OS choose).`)
  if (opts.backlog === 0) throw new TypeError(`${CTX}: backlog must not be 0.`)
  if (opts.ipv6Only === true && !(version === 6 && canonicalV6(localAddress) === '::')) {
    throw new TypeError(`${CTX}: ipv6Only can only be set when localAddress is '::'.`)
  }
}

/** Makes the TCPServerSocket class bound to one native `Sockets` and its TCPSocket class. */
function defineTCPServerSocket(sockets, TCPSocket) {
  class TCPServerSocket {
    #opened
    #closed
    #openState = 'pending'
    #closedSettled = false
    #resolveClosed
    #rejectClosed
    #info = null
    #listener = null
    #readableDone = false
    #waitToken = 0

    /** Listens on `localAddress` (an IP literal); `opened` resolves with the readable of connections. */
    constructor(localAddress, options = undefined) {
      idl.requireArguments(arguments.length, 1, CTX)
      const address = idl.toDOMString(localAddress, `${CTX}: localAddress`)
      const opts = convertOptions(options)
      nativeCall(() => sockets.checkConstructor())
      checkValues(address, opts)

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
      this.#opened.catch(() => {})
      this.#closed.catch(() => {})

      sockets.listenTcp(address, opts.localPort ?? 0, opts.backlog, opts.ipv6Only).then(
        (listener) => {
          this.#listener = listener
          this.#openState = 'resolved'
          const readable = new ReadableStream(
            { pull: (c) => this.#pull(c), cancel: () => this.#finish(undefined) },
            { highWaterMark: 0 },
          )
          this.#info = { readable, ...listener.info() }
          resolveOpened(this.#info)
        },
        (err) => {
          const error = fromNative(err)
          this.#openState = 'rejected'
          rejectOpened(error)
          this.#settleClosed(error)
        },
      )
    }

    async #pull(c) {
      const listener = this.#listener
      for (;;) {
        if (this.#readableDone) return
        let handles
        try {
          handles = listener.tryAcceptBatch(ACCEPT_BATCH)
        } catch (err) {
          const error = fromNative(err)
          c.error(error)
          this.#finish(error)
          return
        }
        if (handles.length > 0) {
          for (const handle of handles) c.enqueue(new TCPSocket(kAdopt, handle))
          return
        }
        let armed
        try {
          armed = wait.arm(listener, false)
        } catch (err) {
          const error = fromNative(err)
          c.error(error)
          this.#finish(error)
          return
        }
        if (armed !== true) {
          this.#waitToken = armed.token
          if (!(await armed.promise)) return
        }
      }
    }

    /** The readable ended (cancelled, or errored by an accept failure): stop listening. */
    #finish(error) {
      if (this.#readableDone) return
      this.#readableDone = true
      this.#listener.close()
      wait.cancel(this.#waitToken)
      this.#settleClosed(error)
    }

    #settleClosed(error) {
      if (this.#closedSettled) return
      this.#closedSettled = true
      if (error === undefined) this.#resolveClosed()
      else this.#rejectClosed(error)
    }

    /** Resolves with `{ readable, localAddress, localPort }`. */
    get opened() {
      return this.#opened
    }

    /** Resolves once the readable is closed and the listener with it. */
    get closed() {
      return this.#closed
    }

    /** Cancels the readable (closing the listener; accepted sockets stay open) and returns `closed`. */
    close() {
      if (this.#openState !== 'resolved') {
        return Promise.reject(invalidState('close() called on a TCPServerSocket that is not open.'))
      }
      if (this.#closedSettled) return this.#closed
      if (this.#info.readable.locked) {
        return Promise.reject(invalidState('close() called while the readable is locked.'))
      }
      this.#info.readable.cancel().catch(() => {})
      return this.#closed
    }
  }
  Object.defineProperty(TCPServerSocket.prototype, Symbol.toStringTag, { value: 'TCPServerSocket', configurable: true })
  return TCPServerSocket
}

module.exports = { defineTCPServerSocket }
