'use strict'
// TCPServerSocket (spec section 4): argument conversion, `opened` / `closed` / `close()`,
// and the readable of accepted connections.

const { newReadableStream, errorStream, hasPendingRead, readNowFirstDefault } = require('./streams')
const { tcpRelease } = require('../binding.js')
const { kAdopt } = require('./tcp')
const { fromNative } = require('./errors')
const { Lifecycle, PULL_ON_READ, INSPECT, ReadableAlone } = require('./lifecycle')
const { ipVersion, canonicalV6 } = require('./ip')
const idl = require('./webidl')
const { constructorCheck } = require('./policy')
const wait = require('./wait')
const turns = require('./turns')
const { then, setImmediate, register } = require('./primordials')

const CTX = "Failed to construct 'TCPServerSocket'"
// At most this many connections are accepted in one crossing. The readable pulls only when
// a read waits (highWaterMark 0) and each pull hands over one connection: the rest of a
// batch waits here as native sockets, with no streams made for them yet, and close()
// closes them (the app never saw them); connections beyond a batch wait in the kernel's
// backlog.
const ACCEPT_BATCH = 64

/** Releases the accepted native sockets of `accepted.batch` not handed over (src/tcp.rs). */
function releaseUnclaimed(accepted) {
  const { batch } = accepted
  for (let i = 0; i < batch.length; i++) if (batch[i] !== undefined) tcpRelease(batch[i])
}

/** A server collected without being closed releases the connections it never handed over. */
const unclaimed = new FinalizationRegistry(releaseUnclaimed)

const toServerOptions = idl.dictionary('TCPServerSocketOptions', {
  backlog: idl.toEnforcedUnsignedLong,
  ipv6Only: idl.toBoolean,
  localPort: idl.toEnforcedUnsignedShort,
})

function checkValues(localAddress, opts) {
  const version = ipVersion(localAddress)
  if (version === 0) throw new TypeError(`${CTX}: '${localAddress}' is not a valid IP address.`)
  if (opts.localPort === 0) throw new TypeError(`${CTX}: localPort must not be 0 (leave it out to let the OS choose).`)
  if (opts.backlog === 0) throw new TypeError(`${CTX}: backlog must not be 0.`)
  if (opts.ipv6Only === true && !(version === 6 && canonicalV6(localAddress) === '::')) {
    throw new TypeError(`${CTX}: ipv6Only: true needs localAddress '::' (the IPv6 unspecified address).`)
  }
}

/** Makes the TCPServerSocket class bound to one native `Sockets` and its TCPSocket class. */
function defineTCPServerSocket(sockets, TCPSocket) {
  const checkConstructor = constructorCheck(sockets)
  const KIND = Lifecycle.kind('TCPServerSocket')
  class TCPServerSocket {
    #listener = null
    #readableDone = false
    #waitToken = 0
    /** A pull waits for the listener to be ready (its wait is armed). */
    #waiting = false
    /**
     * Accepted native sockets (their numbers, src/tcp.rs) not handed over yet:
     * `#accepted.batch[#next]` onwards. The record is what the registry below gets, so
     * that a server collected without being closed releases them.
     */
    #accepted = { batch: [] }
    #next = 0

    /** Listens on `localAddress` (an IP literal); `opened` resolves with the readable of connections. */
    constructor(localAddress, options = undefined) {
      Lifecycle.stamp(this, KIND)
      idl.requireArguments(arguments.length, 1, CTX)
      const address = idl.toDOMString(localAddress, `${CTX}: localAddress`)
      const opts = toServerOptions(options, CTX)
      checkConstructor()
      checkValues(address, opts)
      register(unclaimed, this, this.#accepted)

      then(
        sockets.listenTcp(address, opts.localPort ?? 0, opts.backlog, opts.ipv6Only),
        (key) => {
          const listener = sockets.takeListener(key)
          this.#listener = listener
          const readable = newReadableStream(
            { pull: (c) => this.#pull(c), cancel: () => this.#finish(), readNow: (c) => this.#readNow(c) },
            PULL_ON_READ,
          )
          // A read finds a connection accepted in read() itself when one is ready.
          readNowFirstDefault(readable)
          const { localAddress, localPort } = listener.info()
          // Members in lexicographic order, as WebIDL makes a dictionary's object.
          Lifecycle.open(this, { localAddress, localPort, readable }, new ReadableAlone(readable))
        },
        (err) => Lifecycle.fail(this, fromNative(err)),
      )
    }

    // Answers at once when a connection is ready (one accept batch serves many reads);
    // waits for one otherwise.
    #pull(c) {
      // A loop of accepts that find connections ready would never let the event loop turn.
      if (turns.mustYield()) return turns.nextTurn(() => this.#pullNow(c))
      return this.#pullNow(c)
    }

    #pullNow(c) {
      if (!this.#handOver(c)) return this.#pullWhenReady(c)
    }

    /** Enqueues one accepted connection if one is ready; false if none is. */
    #handOver(c) {
      if (this.#readableDone) return true
      // The read this pull was for is gone (its reader released, or cancelled by a tee or
      // an iterator): a connection enqueued now would wait in the stream's queue, where
      // close() cannot reach it. It stays in the batch (closed with the listener) for the
      // next read, whose pull comes then.
      if (!hasPendingRead(c)) return true
      const socket = this.#takeReady(c)
      // None ready (false), or the accept failed and ended the readable (true).
      if (socket === null) return this.#readableDone
      c.enqueue(socket)
      return true
    }

    /**
     * For a read with nothing queued and no other read waiting (lib/streams.js,
     * readNowFirstDefault): a connection ready now, or null (then Node's pull steps run).
     */
    #readNow(c) {
      // Not while a pull waits for the listener (its reader released meanwhile): an accept
      // then would end the listener's registration (src/server.rs) under that wait, which
      // might never be woken, and the stream would pull no more (RELIABILITY 51). A loop of
      // reads that find connections ready would never let the event loop turn.
      if (this.#readableDone || this.#waiting || turns.mustYield()) return null
      return this.#takeReady(c)
    }

    /**
     * The next accepted connection, as a TCPSocket, accepting a batch if none is left; null
     * if none is ready, or if the accept failed (which errors the readable and ends it).
     */
    #takeReady(c) {
      const accepted = this.#accepted
      if (this.#next === accepted.batch.length) {
        try {
          accepted.batch = this.#listener.tryAcceptBatch(ACCEPT_BATCH)
        } catch (err) {
          this.#fail(c, err)
          return null
        }
        this.#next = 0
        if (accepted.batch.length === 0) return null
      }
      const core = accepted.batch[this.#next]
      accepted.batch[this.#next++] = undefined
      return new TCPSocket(kAdopt, core)
    }

    async #pullWhenReady(c) {
      for (;;) {
        let armed
        try {
          armed = wait.arm(wait.armHandle, this.#listener, false)
        } catch (err) {
          this.#fail(c, err)
          return
        }
        if (armed !== true) {
          this.#waitToken = armed.token
          this.#waiting = true
          const ready = await armed.promise
          this.#waiting = false
          if (!ready) return
        }
        if (this.#handOver(c)) return
      }
    }

    /**
     * An accept failed (EMFILE, ...): spec 4.2 errors the readable with NetworkError and
     * then handles closing, which closes the listener and resolves `closed`.
     */
    #fail(c, err) {
      // Node's error() can throw from inside (an async iterator's two reads: lib/streams.js)
      // after erroring the stream: the listener must still close and `closed` settle.
      errorStream(c, fromNative(err))
      this.#finish()
    }

    /** The readable ended (cancelled, or errored by an accept failure): stop listening. */
    #finish() {
      if (this.#readableDone) return
      this.#readableDone = true
      this.#listener.close()
      // Connections accepted but never handed over: nobody else can close them.
      releaseUnclaimed(this.#accepted)
      this.#accepted.batch = []
      this.#next = 0
      wait.cancel(this.#waitToken)
      // Spec 4.2: closing the socket queues a task that resolves `closed`, so the cancel's
      // (or the failed read's) promise settles first.
      setImmediate(() => Lifecycle.settleClosed(this, undefined))
    }

    /** Resolves with `{ readable, localAddress, localPort }`. */
    get opened() {
      return Lifecycle.is(this, KIND) ? Lifecycle.opened(this) : idl.illegalInvocation()
    }

    /** Resolves once the readable is closed and the listener with it. */
    get closed() {
      return Lifecycle.is(this, KIND) ? Lifecycle.closed(this) : idl.illegalInvocation()
    }

    /** For `util.inspect` / `console.log`: the state and, once open, the addresses. */
    [INSPECT](depth, options, inspect) {
      return Lifecycle.is(this, KIND) ? Lifecycle.inspect(this, depth, options, inspect) : this
    }

    /** Cancels the readable (closing the listener; accepted sockets stay open) and returns `closed`. */
    close() {
      return Lifecycle.is(this, KIND) ? Lifecycle.close(this) : idl.illegalInvocation()
    }
  }
  idl.defineInterface(TCPServerSocket, 'TCPServerSocket', ['opened', 'closed', 'close'])
  return TCPServerSocket
}

module.exports = { defineTCPServerSocket }
