'use strict'
// MulticastController (spec section 3): group membership of a bound UDPSocket.
//
// The checks of 3.3 / 3.4 run here in the spec's order (TypeErrors, then
// InvalidStateError for duplicates, joins or leaves in progress, and a closed socket);
// the OS calls are in src/multicast.rs. Memberships are recorded once the OS call has
// succeeded, in a later task, so a second identical call before then is "in progress".

const { fromNative, invalidState, osNetworkError } = require('./errors')
const idl = require('./webidl')
const ip = require('./ip')
const { setImmediate } = require('./primordials')

const kCreate = Symbol('create MulticastController')

const toGroupOptions = idl.dictionary('MulticastGroupOptions', { sourceAddress: idl.toDOMString })

function membershipKey(groupAddress, sourceAddress) {
  return sourceAddress === undefined
    ? ip.addressKey(groupAddress)
    : `${ip.addressKey(groupAddress)} ${ip.addressKey(sourceAddress)}`
}

function checkJoinArguments(groupAddress, sourceAddress, ctx) {
  const version = ip.ipVersion(groupAddress)
  if (version === 0) throw new TypeError(`${ctx}: groupAddress '${groupAddress}' is not a valid IP address.`)
  if (!ip.isMulticast(groupAddress)) {
    throw new TypeError(`${ctx}: groupAddress '${groupAddress}' is not a multicast address (224.0.0.0/4 or ff00::/8).`)
  }
  if (sourceAddress === undefined) return
  const sourceVersion = ip.ipVersion(sourceAddress)
  if (sourceVersion === 0) throw new TypeError(`${ctx}: sourceAddress '${sourceAddress}' is not a valid IP address.`)
  if (ip.isMulticast(sourceAddress) || ip.isLoopback(sourceAddress) || ip.isUnspecified(sourceAddress)) {
    throw new TypeError(
      `${ctx}: sourceAddress '${sourceAddress}' must be a unicast address that is neither loopback nor unspecified.`,
    )
  }
  if (sourceVersion !== version) {
    throw new TypeError(`${ctx}: sourceAddress and groupAddress must be of the same IP version.`)
  }
}

function checkLeaveArguments(groupAddress, sourceAddress, ctx) {
  if (ip.ipVersion(groupAddress) === 0) {
    throw new TypeError(`${ctx}: groupAddress '${groupAddress}' is not a valid IP address.`)
  }
  if (sourceAddress !== undefined && ip.ipVersion(sourceAddress) === 0) {
    throw new TypeError(`${ctx}: sourceAddress '${sourceAddress}' is not a valid IP address.`)
  }
}

/** The next task: memberships change after the call that made them, as the spec queues it. */
const nextTask = () => new Promise((resolve) => setImmediate(resolve))

class MulticastController {
  #handle
  /** Memberships in join order: `{ key, groupAddress, sourceAddress }`. */
  #joined = []
  /** Keys of joins and leaves in progress. */
  #joining = new Set()
  #leaving = new Set()

  /** Not constructible: a bound UDPSocket's `opened` hands one out. */
  constructor(token, handle) {
    if (token !== kCreate) throw new TypeError('Illegal constructor')
    this.#handle = handle
  }

  /** Joins an any-source group, or with `{ sourceAddress }` a source-specific one. */
  joinGroup(groupAddress, options = undefined) {
    const ctx = "Failed to execute 'joinGroup' on 'MulticastController'"
    try {
      idl.requireArguments(arguments.length, 1, ctx)
      const group = idl.toDOMString(groupAddress, `${ctx}: groupAddress`)
      const { sourceAddress } = toGroupOptions(options, ctx)
      checkJoinArguments(group, sourceAddress, ctx)
      const key = membershipKey(group, sourceAddress)
      if (this.#joining.has(key) || this.#joined.some((m) => m.key === key)) {
        throw invalidState(`${ctx}: this membership is already joined or being joined.`)
      }
      if (this.#handle.closed) throw invalidState(`${ctx}: the socket is closed.`)
      const anySource = sourceAddress !== undefined && this.#hasAnySource(group)
      this.#joining.add(key)
      return this.#change(key, () => {
        // Linux takes a source-specific join of a group the socket has joined for any
        // source, and turns that membership into one from this source only: the
        // any-source one would stop receiving while still listed. The kernel refuses the
        // other order (any-source after source-specific) with EADDRINUSE: so does this.
        if (anySource) {
          throw osNetworkError(
            'IP_ADD_SOURCE_MEMBERSHIP',
            'EADDRINUSE',
            `${group} from ${sourceAddress}: the socket has joined ${group} for any source (leave it first)`,
          )
        }
        this.#handle.joinGroup(group, sourceAddress)
      }, () => {
        this.#joined.push({ key, groupAddress: group, sourceAddress })
      }, this.#joining)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Leaves a membership made by `joinGroup` with the same arguments. */
  leaveGroup(groupAddress, options = undefined) {
    const ctx = "Failed to execute 'leaveGroup' on 'MulticastController'"
    try {
      idl.requireArguments(arguments.length, 1, ctx)
      const group = idl.toDOMString(groupAddress, `${ctx}: groupAddress`)
      const { sourceAddress } = toGroupOptions(options, ctx)
      checkLeaveArguments(group, sourceAddress, ctx)
      const key = membershipKey(group, sourceAddress)
      if (this.#leaving.has(key) || !this.#joined.some((m) => m.key === key)) {
        throw invalidState(`${ctx}: this membership was never joined, was left, or is being left.`)
      }
      if (this.#handle.closed) throw invalidState(`${ctx}: the socket is closed.`)
      this.#leaving.add(key)
      return this.#change(key, () => this.#handle.leaveGroup(group, sourceAddress), () => {
        this.#joined = this.#joined.filter((m) => m.key !== key)
      }, this.#leaving)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** An any-source membership of `group` is joined or being joined. */
  #hasAnySource(group) {
    const key = membershipKey(group, undefined)
    return this.#joining.has(key) || this.#joined.some((m) => m.key === key)
  }

  async #change(key, osCall, record, inProgress) {
    try {
      try {
        osCall()
      } catch (err) {
        throw fromNative(err)
      }
      await nextTask()
      record()
    } finally {
      inProgress.delete(key)
    }
  }

  /**
   * A new frozen array in join order on every read (spec 3.5: a new list, each SSM
   * membership a new dictionary): ASM groups as strings, SSM memberships as plain
   * `{ groupAddress, sourceAddress }` objects (a FrozenArray freezes the array only), so
   * what one reader changes in its copy no other read sees.
   */
  get joinedGroups() {
    return Object.freeze(
      this.#joined.map(({ groupAddress, sourceAddress }) =>
        sourceAddress === undefined ? groupAddress : { groupAddress, sourceAddress },
      ),
    )
  }
}
idl.defineInterface(MulticastController, 'MulticastController', ['joinGroup', 'leaveGroup', 'joinedGroups'])
// An interface without a constructor: its interface object's length is 0 (WebIDL).
Object.defineProperty(MulticastController, 'length', { value: 0 })

const createMulticastController = (handle) => new MulticastController(kCreate, handle)

module.exports = { MulticastController, createMulticastController }
