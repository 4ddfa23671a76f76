// Code that poisons built-ins after the module loaded (Promise.prototype.then, a `then`
// getter on Object.prototype, Object.keys, array iteration) can neither widen a policy
// made later nor get hold of a native socket. Runs in a child process.
import test from 'ava'
import { runChild, fixture, lastJson } from './child.mjs'

test('poisoned built-ins neither widen a later policy nor reach native sockets', async (t) => {
  const { code, stdout, stderr } = await runChild(fixture('tamper.mjs'))
  t.is(code, 0, stderr)
  const { saw, results } = lastJson(stdout)
  t.deepEqual(results, { tcp: 'NotAllowedError', udp: 'NotAllowedError' })
  for (const name of ['UdpHandle', 'TcpListenerHandle', 'External', 'then:UdpHandle', 'then:TcpListenerHandle']) {
    t.false(saw.includes(name), `${name} was seen: ${saw.join(', ')}`)
  }
})
