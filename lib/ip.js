'use strict'
// IP address text: validation, classification and formatting of received source addresses.

const net = require('node:net')

/** 4 or 6 for an IP address literal (no zone index), 0 otherwise. */
function ipVersion(text) {
  if (typeof text !== 'string' || text.includes('%')) return 0
  return net.isIP(text)
}

/** The canonical (RFC 5952) text of an IPv6 literal, as the URL parser writes it. */
function canonicalV6(text) {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1)
}

/** A key under which two spellings of one address are equal. */
function addressKey(text) {
  return ipVersion(text) === 6 ? canonicalV6(text) : text
}

function v4FirstOctet(text) {
  return Number(text.slice(0, text.indexOf('.')))
}

function isMulticast(text) {
  const v = ipVersion(text)
  if (v === 4) return (v4FirstOctet(text) & 0xf0) === 224
  return v === 6 && canonicalV6(text).startsWith('ff')
}

function isLoopback(text) {
  const v = ipVersion(text)
  if (v === 4) return v4FirstOctet(text) === 127
  if (v !== 6) return false
  const c = canonicalV6(text)
  return c === '::1' || /^::ffff:7f[0-9a-f]{2}:/.test(c)
}

function isUnspecified(text) {
  const v = ipVersion(text)
  if (v === 4) return text === '0.0.0.0'
  if (v !== 6) return false
  const c = canonicalV6(text)
  return c === '::' || c === '::ffff:0:0'
}

// Received source addresses arrive as numbers (src/udp.rs, META_STRIDE); their strings
// are cached, since a socket usually hears from few peers.
const CACHE_LIMIT = 4096
const v4Strings = new Map()
const v6Strings = new Map()

function v4Text(w) {
  let s = v4Strings.get(w)
  if (s === undefined) {
    s = `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`
    if (v4Strings.size >= CACHE_LIMIT) v4Strings.clear()
    v4Strings.set(w, s)
  }
  return s
}

/** RFC 5952 text of an IPv6 address given as four big-endian 32-bit words. */
function formatV6(a, b, c, d) {
  if (a === 0 && b === 0 && c === 0xffff) return `::ffff:${v4Text(d)}`
  const groups = [a >>> 16, a & 0xffff, b >>> 16, b & 0xffff, c >>> 16, c & 0xffff, d >>> 16, d & 0xffff]
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (g) => g.toString(16)
  if (bestStart < 0) return groups.map(hex).join(':')
  return `${groups.slice(0, bestStart).map(hex).join(':')}::${groups.slice(bestStart + bestLen).map(hex).join(':')}`
}

function v6Text(a, b, c, d) {
  const key = `${a},${b},${c},${d}`
  let s = v6Strings.get(key)
  if (s === undefined) {
    s = formatV6(a, b, c, d)
    if (v6Strings.size >= CACHE_LIMIT) v6Strings.clear()
    v6Strings.set(key, s)
  }
  return s
}

module.exports = { ipVersion, canonicalV6, addressKey, isMulticast, isLoopback, isUnspecified, v4Text, v6Text, formatV6 }
