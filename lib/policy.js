'use strict'
// Checks the shape of a policy object before it reaches Rust: an unknown key, a wrong
// type or a malformed value is a TypeError naming the key, so a typo can never widen
// access. Rust parses the values (CIDRs, server addresses) and checks them again.

const { nativeCall } = require('./errors')

const BOOLEAN_KEYS = ['directSockets', 'privateNetworkAccess', 'multicast']
const LIST_KEYS = ['allow', 'deny']
const PORT_KEYS = ['minServerPort', 'minUdpBindPort']
const DNS_KEYS = ['servers', 'timeout']
const KNOWN = new Set([...BOOLEAN_KEYS, ...LIST_KEYS, ...PORT_KEYS, 'dns'])

const fail = (message) => {
  throw new TypeError(`withPolicy: ${message}`)
}
const describe = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v)
const isPlainObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v)

function stringList(value, name) {
  if (!Array.isArray(value)) fail(`${name} must be an array of strings, got ${describe(value)}.`)
  return value.map((item, i) => {
    if (typeof item !== 'string') fail(`${name}[${i}] must be a string, got ${describe(item)}.`)
    return item
  })
}

function ownKeys(object, name) {
  const symbols = Object.getOwnPropertySymbols(object)
  if (symbols.length) fail(`${name} has a symbol key, which is not a policy key.`)
  return Object.keys(object)
}

/** Validates `policy` and returns the native `PolicyConfig`. */
function toPolicyConfig(policy) {
  if (!isPlainObject(policy)) fail(`the policy must be an object, got ${describe(policy)}.`)
  const config = {}
  for (const key of ownKeys(policy, 'the policy')) {
    if (!KNOWN.has(key)) fail(`unknown policy key '${key}'.`)
    const value = policy[key]
    if (value === undefined) continue
    if (BOOLEAN_KEYS.includes(key)) {
      if (typeof value !== 'boolean') fail(`${key} must be a boolean, got ${describe(value)}.`)
      config[key] = value
    } else if (LIST_KEYS.includes(key)) {
      config[key] = stringList(value, key)
    } else if (PORT_KEYS.includes(key)) {
      if (!Number.isInteger(value) || value < 0 || value > 65535) {
        fail(`${key} must be an integer from 0 to 65535, got ${String(value)}.`)
      }
      config[key] = value
    } else {
      Object.assign(config, dnsConfig(value))
    }
  }
  return config
}

function dnsConfig(dns) {
  if (!isPlainObject(dns)) fail(`dns must be an object, got ${describe(dns)}.`)
  const out = {}
  for (const key of ownKeys(dns, 'dns')) {
    if (!DNS_KEYS.includes(key)) fail(`unknown dns key '${key}'.`)
  }
  if (dns.servers !== undefined) {
    out.dnsServers = stringList(dns.servers, 'dns.servers')
    if (out.dnsServers.length === 0) fail('dns.servers must name at least one "ip:port" server.')
  }
  if (dns.timeout !== undefined) {
    const t = dns.timeout
    if (!Number.isInteger(t) || t <= 0 || t > 2 ** 32 - 1) {
      fail(`dns.timeout must be a positive whole number of milliseconds, got ${String(t)}.`)
    }
    out.dnsTimeout = t
  }
  return out
}

/**
 * The constructor check of one policy (`sockets`, a native `Sockets`): throws the
 * NotAllowedError of a policy without `directSockets`. A policy never changes, so the
 * native side is asked once here rather than on every constructor call.
 */
function constructorCheck(sockets) {
  if (sockets.constructorsAllowed) return () => {}
  return () => nativeCall(() => sockets.checkConstructor())
}

module.exports = { toPolicyConfig, constructorCheck }
