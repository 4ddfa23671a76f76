// MulticastController, run by `npm run test:netns` inside a private network namespace
// (scripts/in-netns.sh: only lo, up, with 224.0.0.0/4 routed to it). Every test is
// skipped unless that is where we are: no multicast datagram may leave the host.
import test from 'ava'
import { insidePrivateNamespace } from './namespace.mjs'
import { execFileSync } from 'node:child_process'
import { within } from '../helpers.mjs'
import { UDPSocket, withPolicy } from '../../index.js'


const inside = insidePrivateNamespace()
const netnsTest = inside ? test.serial : test.skip
if (!inside) test('multicast tests run only inside the private namespace (npm run test:netns)', (t) => t.pass())

const GROUP = '239.255.12.34'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

async function rejectsWith(t, promise, name) {
  const err = await t.throwsAsync(within(promise, 5000), { any: true })
  t.true(err instanceof DOMException, `expected a DOMException, got ${err?.constructor?.name}: ${err?.message}`)
  t.is(err.name, name)
  return err
}

/** A bound receiver on 0.0.0.0 (on `localPort` when given). */
async function receiver(options = {}) {
  const socket = new UDPSocket({ localAddress: '0.0.0.0', ...options })
  const info = await within(socket.opened, 2000)
  return { socket, ...info, reader: info.readable.getReader() }
}

/** Sends `text` to the group from a fresh bound socket. */
async function sendToGroup(port, text, group = GROUP) {
  const socket = new UDPSocket({ localAddress: '0.0.0.0', multicastTimeToLive: 1, multicastLoopback: true })
  const { writable } = await socket.opened
  const writer = writable.getWriter()
  await writer.write({ data: encoder.encode(text), remoteAddress: group, remotePort: port })
  writer.releaseLock()
  await socket.close()
}

/** The next datagram's text, or null when none arrives within `ms`. */
async function nextText(reader, ms = 1000) {
  let timer
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), ms)
  })
  const read = reader.read().then(({ value }) => (value ? decoder.decode(value.data) : null))
  const result = await Promise.race([read, timeout])
  clearTimeout(timer)
  return { text: result, pending: result === null ? read : null }
}

netnsTest('the namespace routes multicast to lo only', (t) => {
  const routes = execFileSync('ip', ['route', 'show'], { encoding: 'utf8' })
  t.regex(routes, /224\.0\.0\.0\/4 dev lo/)
  t.notRegex(routes, /default/)
})

netnsTest('an ASM member receives a datagram sent to the group through loopback', async (t) => {
  const r = await receiver()
  await r.multicastController.joinGroup(GROUP)
  await sendToGroup(r.localPort, 'hello group')
  const { text } = await nextText(r.reader, 2000)
  t.is(text, 'hello group')
  r.reader.releaseLock()
  await r.socket.close()
})

netnsTest('two sockets sharing one port both receive the group datagram', async (t) => {
  const a = await receiver({ multicastAllowAddressSharing: true })
  const b = await receiver({ localPort: a.localPort, multicastAllowAddressSharing: true })
  t.is(b.localPort, a.localPort)
  await a.multicastController.joinGroup(GROUP)
  await b.multicastController.joinGroup(GROUP)
  await sendToGroup(a.localPort, 'to both')
  t.is((await nextText(a.reader, 2000)).text, 'to both')
  t.is((await nextText(b.reader, 2000)).text, 'to both')
  for (const r of [a, b]) {
    r.reader.releaseLock()
    await r.socket.close()
  }
})

netnsTest('with multicast off, a bound socket receives no group datagram though another socket of the host joined the group, and a group address cannot be bound', async (t) => {
  const restrictedSet = withPolicy({ multicast: false })
  // Another socket joins the group (on a port of its own: memberships are the host's, and
  // Linux hands a joined group's datagrams to every socket bound to the wildcard address
  // and the port they are sent to, unless IP_MULTICAST_ALL is off).
  const member = await receiver()
  await member.multicastController.joinGroup(GROUP)
  const restricted = new restrictedSet.UDPSocket({ localAddress: '0.0.0.0' })
  const { readable, localPort, multicastController } = await within(restricted.opened, 2000)
  t.is(multicastController, undefined)
  const reader = readable.getReader()
  await sendToGroup(localPort, 'for members')
  const { text, pending } = await nextText(reader, 500)
  t.is(text, null)
  // Unicast still arrives.
  const sender = new UDPSocket({ remoteAddress: '127.0.0.1', remotePort: localPort })
  const writer = (await sender.opened).writable.getWriter()
  await writer.write({ data: encoder.encode('unicast') })
  t.is(await within(pending, 2000), 'unicast')
  await rejectsWith(t, new restrictedSet.UDPSocket({ localAddress: GROUP }).opened, 'NotAllowedError')
  writer.releaseLock()
  reader.releaseLock()
  member.reader.releaseLock()
  await Promise.all([sender.close(), restricted.close(), member.socket.close()])
})

netnsTest('leaveGroup stops delivery and empties joinedGroups', async (t) => {
  const r = await receiver()
  const mc = r.multicastController
  await mc.joinGroup(GROUP)
  await sendToGroup(r.localPort, 'while joined')
  t.is((await nextText(r.reader, 2000)).text, 'while joined')
  await mc.leaveGroup(GROUP)
  t.deepEqual([...mc.joinedGroups], [])
  await sendToGroup(r.localPort, 'after leaving')
  const { text, pending } = await nextText(r.reader, 300)
  t.is(text, null)
  r.reader.releaseLock()
  await r.socket.close()
  await pending?.catch(() => {})
})

netnsTest('joinedGroups lists ASM as strings and SSM as objects, frozen, in join order', async (t) => {
  const r = await receiver()
  const mc = r.multicastController
  await mc.joinGroup(GROUP)
  await mc.joinGroup('232.1.1.1', { sourceAddress: '192.0.2.100' })
  const groups = mc.joinedGroups
  t.deepEqual(groups, [GROUP, { groupAddress: '232.1.1.1', sourceAddress: '192.0.2.100' }])
  t.true(Object.isFrozen(groups))
  t.throws(() => groups.push('x'), { instanceOf: TypeError })
  // WebIDL freezes the array, not the dictionaries in it; each read makes new ones (spec
  // 3.5), so a change to one read's copy shows in no other.
  t.false(Object.isFrozen(groups[1]))
  t.not(mc.joinedGroups, groups)
  groups[1].sourceAddress = '192.0.2.1'
  t.deepEqual(mc.joinedGroups, [GROUP, { groupAddress: '232.1.1.1', sourceAddress: '192.0.2.100' }])
  await mc.leaveGroup('232.1.1.1', { sourceAddress: '192.0.2.100' })
  t.deepEqual(mc.joinedGroups, [GROUP])
  r.reader.releaseLock()
  await r.socket.close()
})

netnsTest('multicastTimeToLive and multicastLoopback are accepted on both families', async (t) => {
  for (const localAddress of ['0.0.0.0', '::']) {
    const socket = new UDPSocket({ localAddress, multicastTimeToLive: 4, multicastLoopback: false })
    await within(socket.opened, 2000)
    await socket.close()
  }
  t.pass()
})

const typeErrors = [
  ['groupAddress is not an IP address', ['not-an-ip']],
  ['groupAddress is not multicast', ['10.1.2.3']],
  ['groupAddress is IPv6 unicast', ['2001:db8::1']],
  ['sourceAddress is not an IP address', [GROUP, { sourceAddress: 'nope' }]],
  ['sourceAddress is multicast', [GROUP, { sourceAddress: '224.0.0.9' }]],
  ['sourceAddress is loopback', [GROUP, { sourceAddress: '127.0.0.1' }]],
  ['sourceAddress is unspecified', [GROUP, { sourceAddress: '0.0.0.0' }]],
  ['sourceAddress is another IP version', [GROUP, { sourceAddress: '2001:db8::1' }]],
  ['no groupAddress is given', []],
]

for (const [what, args] of typeErrors) {
  netnsTest(`joinGroup rejects with TypeError when ${what}`, async (t) => {
    const r = await receiver()
    await t.throwsAsync(r.multicastController.joinGroup(...args), { instanceOf: TypeError })
    t.deepEqual([...r.multicastController.joinedGroups], [])
    r.reader.releaseLock()
    await r.socket.close()
  })
}

for (const [what, args] of [
  ['groupAddress is not an IP address', ['not-an-ip']],
  ['sourceAddress is not an IP address', [GROUP, { sourceAddress: 'nope' }]],
]) {
  netnsTest(`leaveGroup rejects with TypeError when ${what}`, async (t) => {
    const r = await receiver()
    await t.throwsAsync(r.multicastController.leaveGroup(...args), { instanceOf: TypeError })
    r.reader.releaseLock()
    await r.socket.close()
  })
}

netnsTest('joinGroup rejects a duplicate join, and one in progress, with InvalidStateError', async (t) => {
  const r = await receiver()
  const mc = r.multicastController
  const first = mc.joinGroup(GROUP)
  await rejectsWith(t, mc.joinGroup(GROUP), 'InvalidStateError')
  await first
  await rejectsWith(t, mc.joinGroup(GROUP), 'InvalidStateError')
  // The same group with a source is another membership (not a duplicate).
  await mc.joinGroup('239.255.0.98', { sourceAddress: '192.0.2.7' })
  await rejectsWith(t, mc.joinGroup('239.255.0.98', { sourceAddress: '192.0.2.7' }), 'InvalidStateError')
  t.is(mc.joinedGroups.length, 2)
  r.reader.releaseLock()
  await r.socket.close()
})

// Linux keeps one filter per group and socket: a source-specific join of a group joined
// for any source would turn that membership into one from the source alone (the kernel
// takes it), and an any-source join after a source-specific one fails with EADDRINUSE.
netnsTest('a group joined for any source and by source at once: the second join rejects with NetworkError (EADDRINUSE), the first keeps receiving', async (t) => {
  const r = await receiver()
  const mc = r.multicastController
  await mc.joinGroup(GROUP)
  const err = await rejectsWith(t, mc.joinGroup(GROUP, { sourceAddress: '192.0.2.7' }), 'NetworkError')
  t.is(err.cause?.code, 'EADDRINUSE')
  t.is(err.cause?.syscall, 'IP_ADD_SOURCE_MEMBERSHIP')
  t.regex(err.message, /EADDRINUSE/)
  t.deepEqual([...mc.joinedGroups], [GROUP])
  // Still a member for any source: a datagram from this host's own address arrives.
  await sendToGroup(r.localPort, 'still any source')
  t.is((await nextText(r.reader, 2000)).text, 'still any source')
  await mc.leaveGroup(GROUP)
  // The other order: the kernel refuses it.
  await mc.joinGroup(GROUP, { sourceAddress: '192.0.2.7' })
  const other = await rejectsWith(t, mc.joinGroup(GROUP), 'NetworkError')
  t.is(other.cause?.code, 'EADDRINUSE')
  t.deepEqual(mc.joinedGroups, [{ groupAddress: GROUP, sourceAddress: '192.0.2.7' }])
  r.reader.releaseLock()
  await r.socket.close()
})

netnsTest('leaveGroup rejects a group never joined, or being left, with InvalidStateError', async (t) => {
  const r = await receiver()
  const mc = r.multicastController
  await rejectsWith(t, mc.leaveGroup(GROUP), 'InvalidStateError')
  await mc.joinGroup(GROUP)
  await rejectsWith(t, mc.leaveGroup(GROUP, { sourceAddress: '192.0.2.7' }), 'InvalidStateError')
  const leaving = mc.leaveGroup(GROUP)
  await rejectsWith(t, mc.leaveGroup(GROUP), 'InvalidStateError')
  await leaving
  await rejectsWith(t, mc.leaveGroup(GROUP), 'InvalidStateError')
  r.reader.releaseLock()
  await r.socket.close()
})

netnsTest('joinGroup and leaveGroup reject with InvalidStateError once the socket is closed', async (t) => {
  const r = await receiver()
  const mc = r.multicastController
  await mc.joinGroup(GROUP)
  r.reader.releaseLock()
  await r.socket.close()
  await rejectsWith(t, mc.joinGroup('239.255.0.99'), 'InvalidStateError')
  await rejectsWith(t, mc.leaveGroup(GROUP), 'InvalidStateError')
})

netnsTest('IPv6 source-specific joins are refused with NetworkError (not supported)', async (t) => {
  const socket = new UDPSocket({ localAddress: '::' })
  const { multicastController } = await socket.opened
  const err = await rejectsWith(t, multicastController.joinGroup('ff3e::1234', { sourceAddress: '2001:db8::5' }), 'NetworkError')
  t.is(err.cause?.code, 'ENOTSUP')
  // Refused before any system call: the cause names the option, not a setsockopt made.
  t.is(err.cause?.syscall, 'MCAST_JOIN_SOURCE_GROUP')
  t.regex(err.message, /not supported by direct-sockets/)
  t.deepEqual([...multicastController.joinedGroups], [])
  await socket.close()
})
