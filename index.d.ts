// Type definitions for direct-sockets: the WICG Direct Sockets API for Node.js.
// Shaped after the spec's IDL (https://wicg.github.io/direct-sockets/).

/// <reference types="node" />
import type { ReadableStream, WritableStream } from 'node:stream/web'

/**
 * Bytes a writable takes: any BufferSource (an ArrayBuffer, any TypedArray or DataView, a
 * Buffer). Spelled out rather than `BufferSource`, which since TypeScript 5.7 leaves out
 * views whose buffer type is `ArrayBufferLike` (every `Uint8Array` a stream hands you).
 * Views of a SharedArrayBuffer or a resizable ArrayBuffer are rejected at run time.
 */
export type BytesLike = ArrayBufferView | ArrayBuffer

/**
 * The `cause` of a `NetworkError` `DOMException`: the OS error, Node-style.
 *
 * @example
 * catch (err) { if ((err as DOMException).name === 'NetworkError') ((err as Error).cause as SocketErrorCause).code }
 */
export interface SocketErrorCause extends Error {
  /** `ECONNREFUSED`, `EADDRINUSE`, `ENOTFOUND`, `ETIMEOUT`, ... */
  code: string
  /** The negative errno, as Node reports it (when there is one). */
  errno?: number
  /** `connect`, `bind`, `listen`, `read`, `write`, `getaddrinfo`, ... */
  syscall: string
  /** The address connected, bound or sent to, when the error names one. */
  address?: string
  /** The port of that address. */
  port?: number
  /** The host name that failed to resolve. */
  hostname?: string
}

/** Which DNS records to ask for when a host name is resolved. */
export type SocketDnsQueryType = 'ipv4' | 'ipv6'

/** Options of `new TCPSocket(remoteAddress, remotePort, options)`. */
export interface TCPSocketOptions {
  /** Requested `SO_SNDBUF`, in bytes. Must not be 0. */
  sendBufferSize?: number
  /** Requested `SO_RCVBUF`, in bytes. Must not be 0. */
  receiveBufferSize?: number
  /**
   * Sets `TCP_NODELAY` (disables Nagle's algorithm). Default `false`: Nagle's algorithm
   * coalesces small writes; a chunk of 32 KiB or more is written with `TCP_NODELAY` set, so
   * that its last partial segment is not held back (Nagle's algorithm would hold only that).
   */
  noDelay?: boolean
  /**
   * Enables keep-alive; the idle time and probe interval, in ms (applied in whole seconds,
   * at most the OS maximum: 32767 s on Linux). At least 1000.
   */
  keepAliveDelay?: number
  /** Ask only for A (`"ipv4"`) or AAAA (`"ipv6"`) records when resolving `remoteAddress`. */
  dnsQueryType?: SocketDnsQueryType
}

/** What `TCPSocket.opened` resolves with. */
export interface TCPSocketOpenInfo {
  /**
   * Bytes from the peer: a byte stream (`getReader({ mode: 'byob' })` reads into your buffer).
   * Made when first read (an accessor), the same stream every time.
   */
  readable: ReadableStream<Uint8Array>
  /**
   * Bytes to the peer: any BufferSource (ArrayBuffer, TypedArray, DataView, Buffer).
   * Made when first read (an accessor), the same stream every time. Its highWaterMark is
   * 2 chunks: `writer.desiredSize` is 2 when idle, and `writer.ready` waits once a write
   * is in flight and another is queued behind it.
   */
  writable: WritableStream<BytesLike>
  /** The resolved address actually connected to. */
  remoteAddress: string
  /** The peer's port. */
  remotePort: number
  /** This end's address, as the OS reports it. */
  localAddress: string
  /** This end's port (the OS's choice). */
  localPort: number
}

/**
 * A TCP connection. Construction starts connecting; `opened` resolves with the streams.
 *
 * @example
 * const socket = new TCPSocket('127.0.0.1', 7)
 * const { readable, writable } = await socket.opened
 * const writer = writable.getWriter()
 * await writer.write(new TextEncoder().encode('ping'))
 */
export class TCPSocket {
  /**
   * @param remoteAddress A host name or an IP address literal.
   * @param remotePort The port, converted as the spec's IDL says (a WebIDL `unsigned short`
   *   without `[EnforceRange]`): taken modulo 65536, so 70000 is port 4464. Check it first
   *   if it comes from input. (UDPSocket's ports are `[EnforceRange]` and throw.)
   * @throws {TypeError} for invalid options; {DOMException} `NotAllowedError` when the policy forbids sockets.
   */
  constructor(remoteAddress: string, remotePort: number, options?: TCPSocketOptions)
  /** Resolves once connected; rejects with `NetworkError` (cause: the OS error) or `NotAllowedError`. */
  readonly opened: Promise<TCPSocketOpenInfo>
  /**
   * Resolves when both streams have closed; rejects with the first stream error. Each
   * stream ends on its own (a reset errors the readable when read, the writable when
   * written), so after an error `closed` waits for the other stream, or for `close()`.
   * Once the writable has ended (`writer.close()`, an abort, a failed write) the readable
   * reads ahead (up to 64 KiB queued), so the peer's FIN or reset settles `closed` even
   * if nothing reads.
   */
  readonly closed: Promise<void>
  /**
   * Cancels the readable and aborts the writable, then returns `closed`.
   * Rejects with `InvalidStateError` before `opened` resolves and while a stream is locked.
   */
  close(): Promise<void>
}

/** Options of `new TCPServerSocket(localAddress, options)`. */
export interface TCPServerSocketOptions {
  /** The port to listen on (1-65535); leave out for one the OS picks. */
  localPort?: number
  /** Size of the accept queue (capped by `net.core.somaxconn`); leave out for the OS maximum. Must not be 0. */
  backlog?: number
  /** `IPV6_V6ONLY`: `true` only with `localAddress` `"::"` (otherwise dual-stack). */
  ipv6Only?: boolean
}

/** What `TCPServerSocket.opened` resolves with. */
export interface TCPServerSocketOpenInfo {
  /** Accepted connections, each an already opened `TCPSocket`. */
  readable: ReadableStream<TCPSocket>
  /** The address listened on, as the OS reports it (`"::"`, `"127.0.0.1"`, ...). */
  localAddress: string
  /** The port listened on (the OS's choice unless one was asked for). */
  localPort: number
}

/**
 * A listening TCP socket.
 *
 * @example
 * const server = new TCPServerSocket('127.0.0.1')
 * const { readable, localPort } = await server.opened
 * for await (const connection of readable) { ... }
 */
export class TCPServerSocket {
  /**
   * @param localAddress An IP address literal to listen on (`"0.0.0.0"`, `"::"`, `"127.0.0.1"`, ...).
   * @throws {TypeError} for a host name or anything but an IP literal, `localPort` or `backlog` of 0 or out of range, `ipv6Only: true` with an address but `"::"`; {DOMException} `NotAllowedError` when the policy forbids it.
   */
  constructor(localAddress: string, options?: TCPServerSocketOptions)
  /**
   * Resolves once listening; rejects with `NetworkError` (its `cause` the OS error:
   * `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, ...) or `NotAllowedError` (the policy's port floor).
   */
  readonly opened: Promise<TCPServerSocketOpenInfo>
  /** Resolves once the readable has ended (closed, cancelled or errored) and the listener is closed. */
  readonly closed: Promise<void>
  /**
   * Cancels the readable and closes the listener (accepted sockets stay open), then returns
   * `closed`. Rejects with `InvalidStateError` before `opened` resolves and while the readable is locked.
   */
  close(): Promise<void>
}

/** Options both UDP modes take. */
export interface UDPSocketCommonOptions {
  /** `SO_SNDBUF` in bytes (`[EnforceRange] unsigned long`). Must not be 0. */
  sendBufferSize?: number
  /**
   * `SO_RCVBUF` in bytes. Without it the socket asks for 1 MiB (the kernel caps it at
   * `net.core.rmem_max`), where datagrams wait while JavaScript is busy. Must not be 0.
   */
  receiveBufferSize?: number
  /** `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS` (0-255, default 1). Needs the multicast policy. */
  multicastTimeToLive?: number
  /** `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP` (default true). Needs the multicast policy. */
  multicastLoopback?: boolean
  /** `SO_REUSEADDR` + `SO_REUSEPORT` (default false). Needs the multicast policy. */
  multicastAllowAddressSharing?: boolean
}

/** Connected mode: one peer, given by `remoteAddress` and `remotePort` (the bound mode's members throw). */
export interface UDPSocketConnectedOptions extends UDPSocketCommonOptions {
  /** The peer: an IP literal or a host name (resolved once, when opening). */
  remoteAddress: string
  /** The peer's port (`[EnforceRange] unsigned short`). */
  remotePort: number
  /** Which records to ask for when resolving `remoteAddress`: A (`"ipv4"`) or AAAA (`"ipv6"`). */
  dnsQueryType?: SocketDnsQueryType
  /** Bound mode only. */
  localAddress?: undefined
  /** Bound mode only. */
  localPort?: undefined
  /** Bound mode only. */
  ipv6Only?: undefined
}

/** Bound mode: any peer; each message names its destination (the connected mode's members throw). */
export interface UDPSocketBoundOptions extends UDPSocketCommonOptions {
  /** An IP literal to bind to (`"0.0.0.0"`, `"::"`, `"127.0.0.1"`, ...). */
  localAddress: string
  /** The port to bind to (1-65535); leave out for one the OS picks. */
  localPort?: number
  /** `IPV6_V6ONLY`; only with `localAddress` `"::"`. */
  ipv6Only?: boolean
  /** Connected mode only. */
  remoteAddress?: undefined
  /** Connected mode only. */
  remotePort?: undefined
  /** Connected mode only (a bound socket's messages carry their own). */
  dnsQueryType?: undefined
}

/**
 * Options of `new UDPSocket(options)`: `remoteAddress` + `remotePort` for connected mode,
 * `localAddress` for bound mode. Any other combination throws `TypeError`.
 */
export type UDPSocketOptions = UDPSocketConnectedOptions | UDPSocketBoundOptions

/**
 * A datagram to send (the spec's `UDPMessage`). In connected mode only `data` may be
 * given; in bound mode `remoteAddress` and `remotePort` are required. A message that
 * breaks this rejects its write with `TypeError` (and, as any rejected write does, errors
 * the writable).
 */
export interface UDPMessage {
  /** Any BufferSource (copied when its turn to be sent comes). */
  data: BytesLike
  /** Bound mode: the destination, an IP literal or a host name (resolved for this message). */
  remoteAddress?: string
  /** Bound mode: the destination port. */
  remotePort?: number
  /** Bound mode, sending to a host name: which records to ask for. */
  dnsQueryType?: SocketDnsQueryType
}

/** A received datagram, in either mode: `remoteAddress`/`remotePort` are there in bound mode. */
export interface UDPReceivedMessage {
  /** The datagram's bytes, in a `Uint8Array` with an ArrayBuffer of its own. */
  data: Uint8Array
  /** Bound mode: the sender's address (`"::ffff:a.b.c.d"` for IPv4 senders to a dual-stack `"::"`). */
  remoteAddress?: string
  /** Bound mode: the sender's port. */
  remotePort?: number
}

/** A datagram received in connected mode (from the socket's peer). */
export interface UDPConnectedReceivedMessage extends UDPReceivedMessage {
  remoteAddress?: undefined
  remotePort?: undefined
}

/** A datagram received in bound mode, with its sender. */
export interface UDPBoundReceivedMessage extends UDPReceivedMessage {
  remoteAddress: string
  remotePort: number
}

/** What `UDPSocket.opened` resolves with, in either mode. */
export interface UDPSocketOpenInfo {
  /** Datagrams received. Made when first read (an accessor), the same stream every time. */
  readable: ReadableStream<UDPReceivedMessage>
  /**
   * Datagrams to send. Made when first read (an accessor), the same stream every time.
   * Its highWaterMark is 32 messages: messages queued behind the one being sent go out
   * with it in one system call when they have its size (the last may be shorter) and
   * destination (Linux UDP GSO); each still arrives as its own datagram, and each write
   * settles once its datagram was sent (see docs/udp.md, "Sending").
   */
  writable: WritableStream<UDPMessage>
  /** Connected mode: the peer's address (the resolved one, when a host name was given). */
  remoteAddress?: string
  /** Connected mode: the peer's port. */
  remotePort?: number
  /** The address the socket is bound to (the OS's choice in connected mode). */
  localAddress: string
  /** The port the socket is bound to (the OS's choice unless one was asked for). */
  localPort: number
  /** Bound mode, unless the class set's policy has `multicast: false`. */
  multicastController?: MulticastController
}

/** What a connected `UDPSocket`'s `opened` resolves with. */
export interface UDPConnectedSocketOpenInfo extends UDPSocketOpenInfo {
  readable: ReadableStream<UDPConnectedReceivedMessage>
  remoteAddress: string
  remotePort: number
  multicastController?: undefined
}

/** What a bound `UDPSocket`'s `opened` resolves with. */
export interface UDPBoundSocketOpenInfo extends UDPSocketOpenInfo {
  readable: ReadableStream<UDPBoundReceivedMessage>
  remoteAddress?: undefined
  remotePort?: undefined
}

/**
 * The open info of a socket made with options of type `O`: the connected or the bound
 * one when the options say which, else the one of either mode.
 */
export type UDPSocketOpenInfoFor<O extends UDPSocketOptions> = [O] extends [UDPSocketConnectedOptions]
  ? UDPConnectedSocketOpenInfo
  : [O] extends [UDPSocketBoundOptions]
    ? UDPBoundSocketOpenInfo
    : UDPSocketOpenInfo

/**
 * A UDP socket in connected or bound mode; `Info` is what `opened` resolves with (the
 * mode's own open info when the constructor's options say which mode).
 */
export interface UDPSocket<Info extends UDPSocketOpenInfo = UDPSocketOpenInfo> {
  /**
   * Resolves once the socket is connected or bound; rejects with `NetworkError` (its
   * `cause` the OS error: `ENOTFOUND`, `EADDRINUSE`, ...) or `NotAllowedError` (the policy).
   */
  readonly opened: Promise<Info>
  /** Resolves when both streams have closed; rejects with the first stream error. */
  readonly closed: Promise<void>
  /**
   * Cancels the readable and aborts the writable, then returns `closed`. Rejects with
   * `InvalidStateError` before `opened` resolves and while a stream is locked.
   */
  close(): Promise<void>
}

/** The `UDPSocket` class. */
export interface UDPSocketConstructor {
  /**
   * @param options `remoteAddress` + `remotePort` for connected mode, `localAddress` for bound mode.
   * @throws {TypeError} for a mode that cannot be inferred or invalid options; {DOMException} `NotAllowedError` when the policy forbids it.
   */
  new <O extends UDPSocketOptions>(options: O): UDPSocket<UDPSocketOpenInfoFor<O>>
  /** The same, for a subclass (`class Mine extends UDPSocket`): either mode's open info. */
  new (options: UDPSocketOptions): UDPSocket
  readonly prototype: UDPSocket
}

/** A UDP socket in connected or bound mode (spec section 2). */
export declare const UDPSocket: UDPSocketConstructor

/** Options of `joinGroup` / `leaveGroup`. */
export interface MulticastGroupOptions {
  /** For source-specific multicast (SSM): the one source to receive from (IPv4). */
  sourceAddress?: string
}

/** A source-specific membership as listed in `joinedGroups`. */
export interface MulticastMembership {
  /** The group joined. */
  groupAddress: string
  /** The source it was joined for. */
  sourceAddress: string
}

/** Group memberships of a bound UDPSocket. */
export class MulticastController {
  private constructor()
  /**
   * Joins `groupAddress` for any source, or with `{ sourceAddress }` for that source only
   * (IPv4). Rejects with `TypeError` for bad addresses, `InvalidStateError` for a
   * membership already joined or being joined (or a closed socket), and `NetworkError`
   * when the OS refuses, including a group this socket already holds the other way (for
   * any source vs by source: `cause.code` `EADDRINUSE`).
   */
  joinGroup(groupAddress: string, options?: MulticastGroupOptions): Promise<void>
  /**
   * Leaves a membership made by `joinGroup` with the same arguments. Rejects with
   * `TypeError` for bad addresses, `InvalidStateError` for a membership not joined (or
   * being left, or a closed socket), and `NetworkError` when the OS refuses.
   */
  leaveGroup(groupAddress: string, options?: MulticastGroupOptions): Promise<void>
  /**
   * A new frozen array in join order on every read: ASM groups as strings, SSM
   * memberships as new plain `{ groupAddress, sourceAddress }` objects.
   */
  readonly joinedGroups: ReadonlyArray<string | MulticastMembership>
}

/** The policy deciding what a class set may open. Every key is optional. */
export interface DirectSocketsPolicy {
  /** `false`: every constructor throws `NotAllowedError`. Default `true`. */
  directSockets?: boolean
  /** `false`: destinations in the private/local address space, and every bound UDPSocket, are refused. Default `true`. */
  privateNetworkAccess?: boolean
  /** `false`: multicast options throw `NotAllowedError`; no `multicastController`. Default `true`. */
  multicast?: boolean
  /** CIDR ranges or addresses a destination must be in (when given). */
  allow?: readonly string[]
  /** CIDR ranges or addresses a destination must not be in. Deny wins over allow. */
  deny?: readonly string[]
  /** Lowest `localPort` a TCPServerSocket may ask for (one that asks for none, letting the system pick, is always allowed). */
  minServerPort?: number
  /** Lowest `localPort` a bound UDPSocket may ask for (one that asks for none, letting the system pick, is always allowed). */
  minUdpBindPort?: number
  /** Resolver to use instead of the system's. */
  dns?: {
    /** `"ip:port"` name servers, asked over UDP (TCP on truncation). */
    servers?: readonly string[]
    /** Milliseconds a lookup may take before it fails with `NetworkError`. */
    timeout?: number
  }
}

/** A class set bound to one policy. */
export interface DirectSockets {
  /** `TCPSocket` under the policy: its destinations are checked after resolution. */
  readonly TCPSocket: typeof TCPSocket
  /** `TCPServerSocket` under the policy (its port floor); accepted sockets are this set's `TCPSocket`s. */
  readonly TCPServerSocket: typeof TCPServerSocket
  /** `UDPSocket` under the policy: connected destinations, bound sends and multicast checked. */
  readonly UDPSocket: typeof UDPSocket
  /** The same `MulticastController` class as the module's (it has no policy of its own). */
  readonly MulticastController: typeof MulticastController
}

/**
 * Returns a new frozen class set bound to `policy`, for code you do not fully trust.
 * @throws {TypeError} for an unknown key, a wrong type or a malformed value.
 */
export function withPolicy(policy: DirectSocketsPolicy): DirectSockets
