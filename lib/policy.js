'use strict'
// Checks the shape of a policy object before it reaches Rust: an unknown key, a wrong
// type or a malformed value is a TypeError naming the key, so a typo can never widen
// access. Rust parses the values (CIDRs, server addresses) and checks them again.

const { nativeCall } = require('./errors')

// Built-ins captured when the module loads: a policy made later must not depend on what
// code that ran in between did to Object, Array or Number.
const { getOwnPropertyNames, getOwnPropertySymbols, getOwnPropertyDescriptor, getPrototypeOf } = Object
const { isArray } = Array
const { isInteger } = Number

const BOOLEAN_KEYS = ['directSockets', 'multicast', 'privateNetworkAccess']
const LIST_KEYS = ['allow', 'deny']
const PORT_KEYS = ['minServerPort', 'minUdpBindPort']
// Every key, in the order a WebIDL dictionary reads them (lexicographic).
const KNOWN = [...BOOLEAN_KEYS, ...LIST_KEYS, ...PORT_KEYS, 'dns'].sort()
const DNS_KEYS = ['servers', 'timeout']

const fail = (message) => {
  throw new TypeError(`withPolicy: ${message}`)
}
const describe = (v) => (v === null ? 'null' : isArray(v) ? 'an array' : typeof v)
const isObjectNotArray = (v) => ((typeof v === 'object' && v !== null) || typeof v === 'function') && !isArray(v)
const includes = (list, item) => {
  for (let i = 0; i < list.length; i++) if (list[i] === item) return true
  return false
}

/** A list of strings, read by index (holes are undefined, so they fail). */
function stringList(value, name) {
  if (!isArray(value)) fail(`${name} must be an array of strings, got ${describe(value)}.`)
  const out = []
  const length = value.length
  for (let i = 0; i < length; i++) {
    const item = value[i]
    if (typeof item !== 'string') fail(`${name}[${i}] must be a string, got ${describe(item)}.`)
    out[i] = item
  }
  return out
}

const MAX_PROTOTYPE_DEPTH = 32

/** `proto` is some realm's `Object.prototype` (a vm context's too). */
function isObjectPrototype(proto) {
  if (getPrototypeOf(proto) !== null) return false
  const ctor = getOwnPropertyDescriptor(proto, 'constructor')?.value
  return typeof ctor === 'function' && ctor.name === 'Object' && ctor.prototype === proto
}

/**
 * Every key of `object` (enumerable or not, own or inherited, below `Object.prototype`;
 * a class's getters too) must be one of `known`: the keys are read the WebIDL way, so a
 * misspelled key anywhere on the chain would otherwise be dropped unseen. A prototype's
 * `constructor` is not a key.
 */
function checkKeys(object, known, name) {
  const what = name === 'the policy' ? 'policy' : name
  let depth = 0
  for (let o = object, own = true; o !== null && !isObjectPrototype(o); o = getPrototypeOf(o), own = false) {
    // A proxy can make its chain endless.
    if (++depth > MAX_PROTOTYPE_DEPTH) fail(`${name} has a prototype chain over ${MAX_PROTOTYPE_DEPTH} deep.`)
    if (getOwnPropertySymbols(o).length) {
      fail(`${name} has a symbol key${own ? '' : ' (inherited)'}, which is not a policy key.`)
    }
    const keys = getOwnPropertyNames(o)
    for (let i = 0; i < keys.length; i++) {
      if (includes(known, keys[i]) || (!own && keys[i] === 'constructor')) continue
      fail(`unknown ${what} key '${keys[i]}'${own ? '' : ' (inherited)'}.`)
    }
  }
}

/**
 * Validates `policy` and returns the native `PolicyConfig`. Like a WebIDL dictionary,
 * each known key is read once, in lexicographic order, whether it is an own property,
 * inherited or a getter; a key that is not a policy key, own or inherited, is a TypeError.
 */
function toPolicyConfig(policy) {
  if (!isObjectNotArray(policy)) fail(`the policy must be an object, got ${describe(policy)}.`)
  checkKeys(policy, KNOWN, 'the policy')
  const config = { __proto__: null }
  for (let i = 0; i < KNOWN.length; i++) {
    const key = KNOWN[i]
    const value = policy[key]
    if (value === undefined) continue
    if (includes(BOOLEAN_KEYS, key)) {
      if (typeof value !== 'boolean') fail(`${key} must be a boolean, got ${describe(value)}.`)
      config[key] = value
    } else if (includes(LIST_KEYS, key)) {
      config[key] = stringList(value, key)
    } else if (includes(PORT_KEYS, key)) {
      if (!isInteger(value) || value < 0 || value > 65535) {
        fail(`${key} must be an integer from 0 to 65535, got ${String(value)}.`)
      }
      config[key] = value
    } else {
      dnsConfig(value, config)
    }
  }
  return config
}

function dnsConfig(dns, config) {
  if (!isObjectNotArray(dns)) fail(`dns must be an object, got ${describe(dns)}.`)
  checkKeys(dns, DNS_KEYS, 'dns')
  const servers = dns.servers
  if (servers !== undefined) {
    config.dnsServers = stringList(servers, 'dns.servers')
    if (config.dnsServers.length === 0) fail('dns.servers must name at least one "ip:port" server.')
  }
  const timeout = dns.timeout
  if (timeout !== undefined) {
    if (!isInteger(timeout) || timeout <= 0 || timeout > 2 ** 32 - 1) {
      fail(`dns.timeout must be a positive whole number of milliseconds, got ${String(timeout)}.`)
    }
    config.dnsTimeout = timeout
  }
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
