// Policy tests. They run inside a private network namespace (scripts/in-netns.sh), so an
// address wrongly allowed reaches nothing outside this test.
import test from 'ava'
import vm from 'node:vm'
import os from 'node:os'
import dgram from 'node:dgram'
import { once } from 'node:events'
import * as ds from '../../index.js'
import { netServer, rejectsWith, within } from '../helpers.mjs'
import { startDnsResponder } from './dns-responder.mjs'

const { TCPSocket, withPolicy } = ds

test.before(() => {
  const names = Object.keys(os.networkInterfaces())
  if (names.some((n) => n !== 'lo')) {
    throw new Error(`policy tests must run in a private network namespace (found ${names.join(', ')}); use npm run test:netns`)
  }
})

const echo = (host = '127.0.0.1') =>
  netServer((s) => {
    s.on('error', () => {})
    s.pipe(s)
  }, host)

// ---------------------------------------------------------------- the API

test('withPolicy returns a new frozen class set; the module exports use the default policy', (t) => {
  const set = withPolicy({})
  t.true(Object.isFrozen(set))
  t.is(typeof set.TCPSocket, 'function')
  t.not(set.TCPSocket, TCPSocket)
  t.not(withPolicy({}).TCPSocket, set.TCPSocket)
  t.throws(() => {
    set.TCPSocket = null
  })
})

test('a restricted set\'s sockets are instances of that set\'s class only', async (t) => {
  const { port, close } = await echo()
  const set = withPolicy({ allow: ['127.0.0.0/8'] })
  const s = new set.TCPSocket('127.0.0.1', port)
  t.true(s instanceof set.TCPSocket)
  t.false(s instanceof TCPSocket)
  await s.opened
  await s.close()
  await close()
})

test('unknown keys, wrong types and malformed values throw TypeError naming the key', (t) => {
  const cases = [
    [undefined, /must be an object/],
    [null, /must be an object/],
    ['allow', /must be an object/],
    [[], /must be an object/],
    [{ privateNetworkAcess: false }, /privateNetworkAcess/],
    [{ [Symbol('x')]: 1 }, /symbol/],
    [{ directSockets: 'no' }, /directSockets/],
    [{ privateNetworkAccess: 0 }, /privateNetworkAccess/],
    [{ multicast: null }, /multicast/],
    [{ allow: '10.0.0.0/8' }, /allow/],
    [{ allow: [10] }, /allow\[0\]/],
    [{ allow: ['10.0.0.0/33'] }, /allow/],
    [{ deny: ['not-an-ip'] }, /deny/],
    [{ deny: ['10.0.0.1/8/1'] }, /deny/],
    [{ minServerPort: -1 }, /minServerPort/],
    [{ minServerPort: 65536 }, /minServerPort/],
    [{ minUdpBindPort: 1.5 }, /minUdpBindPort/],
    [{ minUdpBindPort: '1024' }, /minUdpBindPort/],
    [{ dns: '127.0.0.1:53' }, /dns/],
    [{ dns: { server: ['127.0.0.1:53'] } }, /server/],
    [{ dns: { servers: ['127.0.0.1'] } }, /dns.servers/],
    [{ dns: { servers: ['localhost:53'] } }, /dns.servers/],
    [{ dns: { servers: [] } }, /dns.servers/],
    [{ dns: { timeout: 0 } }, /dns.timeout/],
    [{ dns: { timeout: Infinity } }, /dns.timeout/],
    [{ dns: { servers: ['127.0.0.1:0'] } }, /dns.servers/],
    // eslint-disable-next-line no-sparse-arrays
    [{ deny: ['127.0.0.0/8', , '10.0.0.0/8'] }, /deny\[1\]/],
    [Object.defineProperty({}, 'privateNetworkAcess', { value: false }), /privateNetworkAcess/],
    // Known keys count wherever they are (own, inherited, getters): so do misspelled ones.
    [Object.create({ privateNetworkAcess: false }), /privateNetworkAcess/],
    [
      new (class {
        get privateNetworkAcess() {
          return false
        }
      })(),
      /privateNetworkAcess/,
    ],
    [{ dns: Object.create({ server: ['127.0.0.1:53'] }) }, /server/],
    // A proxy whose prototype chain never ends is refused, not walked forever.
    [
      new Proxy(
        {},
        {
          getPrototypeOf() {
            return new Proxy({}, this)
          },
        },
      ),
      /prototype chain/,
    ],
  ]
  for (const [policy, message] of cases) {
    t.throws(() => withPolicy(policy), { instanceOf: TypeError, message }, JSON.stringify(policy) ?? String(policy))
  }
})

test('valid values of every key are accepted', (t) => {
  t.notThrows(() =>
    withPolicy({
      directSockets: true,
      privateNetworkAccess: true,
      multicast: false,
      allow: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1', '::1'],
      deny: ['10.1.0.0/16'],
      minServerPort: 32768,
      minUdpBindPort: 1024,
      dns: { servers: ['127.0.0.1:53', '[::1]:5353'], timeout: 1000 },
    }),
  )
})

// ---------------------------------------------------------------- directSockets

test('directSockets: false makes the constructor throw NotAllowedError', (t) => {
  const set = withPolicy({ directSockets: false })
  const err = t.throws(() => new set.TCPSocket('127.0.0.1', 80), { any: true })
  t.true(err instanceof DOMException)
  t.is(err.name, 'NotAllowedError')
})

test('argument TypeErrors still come before the policy\'s NotAllowedError', (t) => {
  const set = withPolicy({ directSockets: false })
  t.throws(() => new set.TCPSocket('127.0.0.1', 80, { sendBufferSize: -1 }), { instanceOf: TypeError })
})

// ---------------------------------------------------------------- private network access

const privateDestinations = [
  '127.0.0.1',
  '127.1.2.3',
  '10.0.0.1',
  '172.16.0.1',
  '192.168.1.1',
  '169.254.1.1',
  '100.64.0.1',
  '0.0.0.0',
  '::1',
  '::',
  'fc00::1',
  'fd12::1',
  'fe80::1',
  '::ffff:127.0.0.1',
  '::ffff:10.0.0.1',
  '::127.0.0.1',
]

test('privateNetworkAccess: false rejects opened and closed with NotAllowedError for every private destination', async (t) => {
  const set = withPolicy({ privateNetworkAccess: false })
  for (const address of privateDestinations) {
    const s = new set.TCPSocket(address, 9)
    const err = await rejectsWith(t, within(s.opened, 5000, address), 'NotAllowedError')
    t.is(await s.closed.catch((e) => e), err, address)
  }
})

test('privateNetworkAccess: false refuses localhost after resolving it', async (t) => {
  const { port, close } = await echo()
  const set = withPolicy({ privateNetworkAccess: false })
  const s = new set.TCPSocket('localhost', port)
  await rejectsWith(t, s.opened, 'NotAllowedError')
  await close()
})

test('the default policy still reaches loopback', async (t) => {
  const { port, close } = await echo()
  const s = new TCPSocket('127.0.0.1', port)
  await s.opened
  await s.close()
  await close()
  t.pass()
})

// ---------------------------------------------------------------- allow / deny

test('allow: a destination outside the list is refused, one inside connects', async (t) => {
  const a = await echo('127.0.0.2')
  const b = await echo('127.0.0.3')
  const set = withPolicy({ allow: ['127.0.0.2/32'] })
  const ok = new set.TCPSocket('127.0.0.2', a.port)
  t.is((await ok.opened).remoteAddress, '127.0.0.2')
  await ok.close()
  await rejectsWith(t, new set.TCPSocket('127.0.0.3', b.port).opened, 'NotAllowedError', /not in policy.allow/)
  await a.close()
  await b.close()
})

test('deny wins over allow, and matches IPv4-mapped IPv6 forms', async (t) => {
  const { port, close } = await echo()
  const set = withPolicy({ allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] })
  await rejectsWith(t, new set.TCPSocket('127.0.0.1', port).opened, 'NotAllowedError', /denied/)
  await rejectsWith(t, new set.TCPSocket('::ffff:127.0.0.1', port).opened, 'NotAllowedError', /denied/)
  await close()
})

test('an IPv4 host written in IPv4-mapped form is admitted by its IPv4 address only: an IPv6 allow range such as ::/0 does not admit it', async (t) => {
  const { port, close } = await echo()
  const ipv6Only = withPolicy({ allow: ['::/0'] })
  for (const host of ['127.0.0.1', '::ffff:127.0.0.1']) {
    await rejectsWith(t, new ipv6Only.TCPSocket(host, port).opened, 'NotAllowedError', /not in policy.allow/)
    await rejectsWith(t, new ipv6Only.UDPSocket({ remoteAddress: host, remotePort: port }).opened, 'NotAllowedError', /not in policy.allow/)
  }
  for (const allow of ['127.0.0.0/8', '::ffff:127.0.0.0/104']) {
    const set = withPolicy({ allow: [allow] })
    const socket = new set.TCPSocket('::ffff:127.0.0.1', port)
    await within(socket.opened, 5000, allow)
    await socket.close()
  }
  await close()
})

test('policy keys are read like a WebIDL dictionary: inherited, getter and non-enumerable keys count', async (t) => {
  const { port, close } = await echo()
  class Restricted {
    get privateNetworkAccess() {
      return false
    }
  }
  const policies = {
    'a getter on a class': new Restricted(),
    inherited: Object.create({ privateNetworkAccess: false }),
    'non-enumerable': Object.defineProperty({}, 'privateNetworkAccess', { value: false }),
    // Another realm's Object.prototype is where the keys end, as ours is.
    'from a vm context': vm.runInNewContext('({ privateNetworkAccess: false })'),
  }
  for (const [name, policy] of Object.entries(policies)) {
    const set = withPolicy(policy)
    await rejectsWith(t, new set.TCPSocket('127.0.0.1', port).opened, 'NotAllowedError', undefined, name)
  }
  await close()
})

test('the unspecified address is judged as the loopback it reaches (0.0.0.0, ::, ::ffff:0.0.0.0)', async (t) => {
  const v4 = await echo('127.0.0.1')
  const v6 = await echo('::1')
  const deny = withPolicy({ deny: ['127.0.0.0/8', '::1'] })
  const noPrivate = withPolicy({ privateNetworkAccess: false })
  for (const [host, port] of [
    ['0.0.0.0', v4.port],
    ['::ffff:0.0.0.0', v4.port],
    ['::', v6.port],
  ]) {
    await rejectsWith(t, new deny.TCPSocket(host, port).opened, 'NotAllowedError', /denied/)
    await rejectsWith(t, new noPrivate.TCPSocket(host, port).opened, 'NotAllowedError')
    const udp = new deny.UDPSocket({ remoteAddress: host, remotePort: port })
    await rejectsWith(t, udp.opened, 'NotAllowedError')
  }
  // The default policy still connects there, to loopback.
  const s = new TCPSocket('0.0.0.0', v4.port)
  t.is((await s.opened).remoteAddress, '127.0.0.1')
  await s.close()
  await v4.close()
  await v6.close()
})

test('NAT64 and 6to4 addresses are judged by the IPv4 address inside them', async (t) => {
  const noPrivate = withPolicy({ privateNetworkAccess: false })
  for (const host of ['64:ff9b::a01:203', '64:ff9b::7f00:1', '2002:a01:203::1', '2002:7f00:1::1', '64:ff9b:1::1']) {
    await rejectsWith(t, new noPrivate.TCPSocket(host, 9).opened, 'NotAllowedError', /private/, host)
  }
  const deny = withPolicy({ deny: ['203.0.113.0/24'] })
  await rejectsWith(t, new deny.TCPSocket('64:ff9b::cb00:7105', 9).opened, 'NotAllowedError', /denied/)
  // A deny range written in IPv4-mapped form covers the plain IPv4 addresses too.
  const mapped = withPolicy({ deny: ['::ffff:127.0.0.0/104'] })
  await rejectsWith(t, new mapped.TCPSocket('127.0.0.1', 9).opened, 'NotAllowedError', /denied/)
})

test('multicast: false refuses UDP destinations that are multicast groups', async (t) => {
  const set = withPolicy({ multicast: false })
  await rejectsWith(t, new set.UDPSocket({ remoteAddress: '239.255.255.250', remotePort: 1900 }).opened, 'NotAllowedError')
  const bound = new set.UDPSocket({ localAddress: '127.0.0.1' })
  const { writable } = await bound.opened
  const writer = writable.getWriter()
  const error = await writer.write({ data: new Uint8Array(1), remoteAddress: '224.0.0.251', remotePort: 5353 }).catch((e) => e)
  t.is(error?.name, 'NotAllowedError')
  writer.releaseLock()
  await bound.close().catch(() => {})
})

test('deny applies to IPv6 ranges', async (t) => {
  const { port, close } = await echo('::1')
  const set = withPolicy({ deny: ['::/64'] })
  await rejectsWith(t, new set.TCPSocket('::1', port).opened, 'NotAllowedError')
  await close()
})

// ---------------------------------------------------------------- DNS

test('dns.servers is the resolver used, and the resolved address is the one connected to', async (t) => {
  const dns = await startDnsResponder({ 'service.test': { A: ['127.0.0.5'] } })
  const { port, close } = await echo('127.0.0.5')
  const set = withPolicy({ dns: { servers: [dns.server], timeout: 2000 } })
  const s = new set.TCPSocket('service.test', port)
  const info = await within(s.opened, 5000, 'opened')
  t.is(info.remoteAddress, '127.0.0.5')
  t.true(dns.queries.some((q) => q.name === 'service.test'))
  await s.close()
  await close()
  dns.close()
})

// A name with both A and AAAA records, written to from bound sockets that can reach one
// family only (or both): each sends to an address it can reach.
test('a bound UDP socket sends to the address of a name it can reach: IPv6-only and ::1 sockets take the AAAA record', async (t) => {
  const dns = await startDnsResponder({ 'both.test': { A: ['127.0.0.1'], AAAA: ['::1'] } })
  const set = withPolicy({ dns: { servers: [dns.server], timeout: 2000 } })
  const sink6 = dgram.createSocket({ type: 'udp6', ipv6Only: true })
  sink6.bind(0, '::1')
  await once(sink6, 'listening')
  const port = sink6.address().port
  const sink4 = dgram.createSocket('udp4')
  sink4.bind(port, '127.0.0.1')
  await once(sink4, 'listening')
  const arrived = []
  sink6.on('message', (m) => arrived.push(`v6 ${m}`))
  sink4.on('message', (m) => arrived.push(`v4 ${m}`))
  const cases = [
    [{ localAddress: '::1' }, 'v6'],
    [{ localAddress: '::', ipv6Only: true }, 'v6'],
    [{ localAddress: '::', ipv6Only: false }, 'v4'], // dual-stack: the A record comes first
    [{ localAddress: '127.0.0.1' }, 'v4'],
  ]
  for (const [options, family] of cases) {
    const socket = new set.UDPSocket(options)
    const { writable } = await within(socket.opened, 2000, 'opened')
    const writer = writable.getWriter()
    const label = JSON.stringify(options)
    await within(writer.write({ data: new TextEncoder().encode(label), remoteAddress: 'both.test', remotePort: port }), 5000, label)
    for (let i = 0; i < 50 && arrived.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    t.deepEqual(arrived.splice(0), [`${family} ${label}`], label)
    writer.releaseLock()
    await socket.close()
  }
  sink6.close()
  sink4.close()
  dns.close()
})

test('a name that resolves to a private address is refused when private access is off (DNS rebinding)', async (t) => {
  const dns = await startDnsResponder({ 'rebind.test': { A: ['127.0.0.1'] } })
  const { port, close } = await echo()
  const set = withPolicy({ privateNetworkAccess: false, dns: { servers: [dns.server] } })
  await rejectsWith(t, new set.TCPSocket('rebind.test', port).opened, 'NotAllowedError')
  t.true(dns.queries.some((q) => q.name === 'rebind.test'))
  await close()
  dns.close()
})

test('an unknown name from the policy\'s servers rejects with NetworkError (ENOTFOUND)', async (t) => {
  const dns = await startDnsResponder({})
  const set = withPolicy({ dns: { servers: [dns.server], timeout: 2000 } })
  const err = await rejectsWith(t, within(new set.TCPSocket('nobody.test', 80).opened, 5000, 'opened'), 'NetworkError')
  t.is(err.cause.code, 'ENOTFOUND')
  dns.close()
})

test('a lookup that outlives dns.timeout rejects with NetworkError', async (t) => {
  const dns = await startDnsResponder({}, { silent: ['slow.test'] })
  const set = withPolicy({ dns: { servers: [dns.server], timeout: 300 } })
  const started = Date.now()
  const err = await rejectsWith(t, within(new set.TCPSocket('slow.test', 80).opened, 5000, 'opened'), 'NetworkError')
  t.regex(err.cause.code, /^ETIME/)
  t.true(Date.now() - started < 3000)
  dns.close()
})

// ---------------------------------------------------------------- port floors

test('minServerPort: a TCPServerSocket asking for a lower port rejects opened with NotAllowedError', async (t) => {
  const set = withPolicy({ minServerPort: 32768 })
  const low = new set.TCPServerSocket('127.0.0.1', { localPort: 8080 })
  await rejectsWith(t, low.opened, 'NotAllowedError', /minServerPort/)
  await rejectsWith(t, low.closed, 'NotAllowedError')
  const chosen = new set.TCPServerSocket('127.0.0.1') // 0: the OS chooses, always allowed
  t.true((await chosen.opened).localPort > 0)
  await chosen.close()
  // A port above the floor that is free now (a fixed one can be taken by a concurrent
  // test's ephemeral port): the OS picks from 32768-60999.
  const probe = await netServer(() => {})
  const highPort = probe.port
  await probe.close()
  const high = new set.TCPServerSocket('127.0.0.1', { localPort: highPort })
  t.is((await high.opened).localPort, highPort)
  await high.close()
})

test('directSockets: false makes TCPServerSocket throw NotAllowedError too', (t) => {
  const set = withPolicy({ directSockets: false })
  const err = t.throws(() => new set.TCPServerSocket('127.0.0.1'), { any: true })
  t.is(err.name, 'NotAllowedError')
})
