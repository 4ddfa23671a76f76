// A tiny DNS server over node:dgram for the policy tests: answers A/AAAA queries from a
// fixed table, NXDOMAIN for names it does not know, and stays silent for names in `silent`.
import dgram from 'node:dgram'
import { once } from 'node:events'

function parseQuestion(msg) {
  const labels = []
  let i = 12
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'))
    i += len + 1
  }
  const end = i + 5 // zero byte + qtype + qclass
  return { name: labels.join('.').toLowerCase(), qtype: msg.readUInt16BE(i + 1), question: msg.subarray(12, end) }
}

function ipBytes(ip) {
  if (ip.includes(':')) {
    const [head, tail = ''] = ip.split('::')
    const h = head ? head.split(':') : []
    const tl = tail ? tail.split(':') : []
    const groups = [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl]
    const b = Buffer.alloc(16)
    groups.forEach((g, k) => b.writeUInt16BE(parseInt(g, 16), k * 2))
    return b
  }
  return Buffer.from(ip.split('.').map(Number))
}

/** Starts the responder on 127.0.0.1; `records` maps a name to { A: [...], AAAA: [...] }. */
export async function startDnsResponder(records, { silent = [] } = {}) {
  const socket = dgram.createSocket('udp4')
  const queries = []
  socket.on('message', (msg, rinfo) => {
    const { name, qtype, question } = parseQuestion(msg)
    queries.push({ name, qtype })
    if (silent.includes(name)) return
    const entry = records[name]
    const type = qtype === 1 ? 'A' : qtype === 28 ? 'AAAA' : null
    const answers = entry && type ? entry[type] || [] : []
    const header = Buffer.alloc(12)
    header.writeUInt16BE(msg.readUInt16BE(0), 0)
    header.writeUInt16BE(entry ? 0x8180 : 0x8183, 2) // NOERROR or NXDOMAIN
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(answers.length, 6)
    const rrs = answers.map((ip) => {
      const data = ipBytes(ip)
      const rr = Buffer.alloc(12)
      rr.writeUInt16BE(0xc00c, 0)
      rr.writeUInt16BE(qtype, 2)
      rr.writeUInt16BE(1, 4)
      rr.writeUInt32BE(1, 6)
      rr.writeUInt16BE(data.length, 10)
      return Buffer.concat([rr, data])
    })
    socket.send(Buffer.concat([header, question, ...rrs]), rinfo.port, rinfo.address)
  })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  return { server: `127.0.0.1:${socket.address().port}`, queries, close: () => socket.close() }
}
