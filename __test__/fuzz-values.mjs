// A seeded generator of arbitrary JavaScript values for the fuzz tests: every call with
// the same seed produces the same sequence, so a failing case can be replayed.

/** mulberry32: a small, fast, seeded PRNG. */
export function prng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  const pick = (list) => list[int(list.length)]
  const chance = (p) => next() < p
  return { next, int, pick, chance }
}

/** Thrown by the hostile getters and conversions below: a legitimate outcome of any call. */
export class FuzzError extends Error {}

const NUMBERS = [
  0, -0, 1, -1, 2, 255, 256, 999, 1000, 1023, 1024, 32767, 32768, 65535, 65536, 65537, 2 ** 31 - 1, 2 ** 31,
  2 ** 32 - 1, 2 ** 32, 2 ** 53, -(2 ** 53), 1.5, 0.5, -0.5, 65535.9, 1e308, -1e308, Number.MIN_VALUE, NaN, Infinity,
  -Infinity,
]

// Addresses that never leave the private namespace and never wait: loopback (refused or
// answered at once), documentation ranges and others with no route (ENETUNREACH), and
// multicast (routed to lo). Never 10.96.0.0/16, the silent black hole of blackhole.spec.
const ADDRESSES = [
  '127.0.0.1', '127.0.0.2', '127.255.255.254', '0.0.0.0', '255.255.255.255', '224.0.0.1', '239.1.2.3',
  '192.0.2.1', '198.51.100.7', '203.0.113.9', '::1', '::', '[::1]', '::ffff:127.0.0.1', '::127.0.0.1',
  'fe80::1', 'fe80::1%lo', 'ff02::1', 'ff05::1:3', '2001:db8::1', '100::1', 'localhost', 'localhost.',
  'a.invalid', 'no-such-host.invalid', '', ' ', '127.0.0.1 ', '1.2.3', '1.2.3.4.5', '999.1.1.1', '127.1',
  '0x7f.1', '::ffff:999.0.0.1', '[::1', '::1]', ':::', 'x'.repeat(300), 'a.'.repeat(130) + 'invalid',
  '\u0000', 'a\u001fb', '127.0.0.1\u0000', 'localhost:80', 'http://127.0.0.1/', '\u{1F600}.invalid',
  'xn--nxasmq6b.invalid', '-', '.', '..',
]

const CIDRS = [
  '127.0.0.0/8', '10.0.0.0/8', '0.0.0.0/0', '::/0', '::1/128', '127.0.0.1', '::1', '10.0.0.0/33', '::/129',
  '1.2.3.4/-1', '1.2.3.4/', '/8', 'localhost', '', 'fe80::/10', '224.0.0.0/4', '127.0.0.1/32 ', '1.2.3.4/8',
]

// A TCP connect to a multicast or broadcast address normally fails at once
// (ENETUNREACH), but after other traffic over lo the kernel may take it (EINPROGRESS) and
// then wait out its SYN retries, like a silent black hole: TCP fuzzing leaves them out.
const NOT_FOR_TCP = new Set(['224.0.0.1', '239.1.2.3', '255.255.255.255', 'ff02::1', 'ff05::1:3'])

/** `options.tcp`: addresses only a TCP connect may be given (see NOT_FOR_TCP). */
export function makeValues(r, { tcp = false } = {}) {
  const addresses = tcp ? ADDRESSES.filter((a) => !NOT_FOR_TCP.has(a)) : ADDRESSES
  const string = () =>
    r.pick([
      () => r.pick(addresses),
      () => r.pick(['ipv4', 'ipv6', 'IPV4', 'ipv5', 'ipv4\u0000']),
      () => String(r.pick(NUMBERS)),
      () => Array.from({ length: r.int(12) }, () => String.fromCharCode(r.int(0x3000))).join(''),
      () => 'z'.repeat(r.pick([0, 1, 255, 256, 4096, 100_000])),
    ])()
  const buffer = () =>
    r.pick([
      () => new Uint8Array(r.int(2048)),
      () => new Uint8Array(r.int(64)).subarray(r.int(8)),
      () => new Int32Array(r.int(16)),
      () => new Float64Array(r.int(8)),
      () => new BigUint64Array(r.int(4)),
      () => new Uint8ClampedArray(r.int(16)),
      () => new DataView(new ArrayBuffer(32), r.int(16)),
      () => new ArrayBuffer(r.int(512)),
      () => Buffer.from('buffer'),
      () => new Uint8Array(0),
      () => new Uint8Array(new SharedArrayBuffer(16)),
      () => new SharedArrayBuffer(8),
      () => new DataView(new SharedArrayBuffer(8)),
      () => new Uint8Array(new ArrayBuffer(16, { maxByteLength: 64 })),
      () => new ArrayBuffer(8, { maxByteLength: 16 }),
      () => {
        // A detached buffer (transferred away).
        const view = new Uint8Array(32)
        structuredClone(view.buffer, { transfer: [view.buffer] })
        return r.chance(0.5) ? view.buffer : view
      },
      () => new Uint8Array(65_507), // the largest IPv4 UDP payload
      () => new Uint8Array(70_000), // too large for one datagram
    ])()
  const hostile = () =>
    r.pick([
      () => ({
        get [r.pick(['noDelay', 'remotePort', 'data', 'localAddress', 'remoteAddress', 'allow', 'sourceAddress'])]() {
          throw new FuzzError('getter')
        },
      }),
      () => ({ valueOf: () => { throw new FuzzError('valueOf') }, toString: () => { throw new FuzzError('toString') } }),
      () => ({ [Symbol.toPrimitive]: () => r.pick([1, '127.0.0.1', {}]) }),
      () =>
        new Proxy(
          {},
          {
            get: () => {
              throw new FuzzError('proxy get')
            },
            ownKeys: () => {
              throw new FuzzError('proxy ownKeys')
            },
          },
        ),
      () => new Proxy({}, { get: (_, key) => (typeof key === 'string' ? r.pick(NUMBERS) : undefined) }),
      () => Object.create(null),
      () => Object.freeze({ a: 1 }),
    ])()
  const value = (depth = 0) =>
    r.pick([
      () => undefined,
      () => null,
      () => r.chance(0.5),
      () => r.pick(NUMBERS),
      () => BigInt(r.int(70000)),
      () => Symbol('fuzz'),
      string,
      string,
      buffer,
      hostile,
      () => () => 1,
      () => new Date(0),
      () => /re/,
      () => new Map(),
      () => Promise.resolve(1),
      () => (depth < 2 ? Array.from({ length: r.int(4) }, () => value(depth + 1)) : []),
      () => (depth < 2 ? object(['a', 'b', 'toString'], depth + 1) : {}),
    ])()
  /**
   * An object with some of `keys`: each present with probability `present`, then a
   * sensible value (from `sensible[key]()`, when there is one) or, with probability
   * `wild`, any value at all.
   */
  const object = (keys, depth = 0, sensible = {}, { present = 0.5, wild = 0.15 } = {}) => {
    const o = {}
    for (const key of keys) {
      if (!r.chance(present)) continue
      const make = Object.hasOwn(sensible, key) ? sensible[key] : null
      o[key] = make && !r.chance(wild) ? make() : value(depth + 1)
    }
    if (r.chance(0.1)) o[string()] = value(depth + 1)
    return o
  }
  const port = () => r.pick([() => r.pick(NUMBERS), () => r.int(65536), () => value()])()
  const cidrList = () => Array.from({ length: r.int(4) }, () => (r.chance(0.8) ? r.pick(CIDRS) : value()))
  return { value, string, buffer, hostile, object, port, address: () => r.pick(addresses), cidrList }
}
