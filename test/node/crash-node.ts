/**
 * A node in its own process, for crash tests. Args: dataDir. Reads JSON
 * commands on stdin ({ dial }, { send: { to, text } }, { status: true }),
 * writes JSON events on stdout once they are durable: { ready }, { queued: id }
 * after send() resolved, { received: id } after a message event (emitted
 * after commit), { status } on request.
 */
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { createKomradeNode, type KomradeNodeInit } from '../../node/komrade-node.js'

const dataDir = process.argv[2]!
// Optional argv[3]: the `cover` option as JSON (default false: messages go out at once).
const cover = process.argv[3] === undefined ? false : JSON.parse(process.argv[3]) as KomradeNodeInit['cover']
const node = createKomradeNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, cover })
const say = (event: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(event) + '\n') }
node.addEventListener('message', (event) => { say({ received: (event as CustomEvent<{ id: string }>).detail.id }) })
await node.start()
say({ ready: true, publicIdentity: node.publicIdentity, address: node.status().addresses[0] })
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { dial?: string, send?: { to: string, text: string }, status?: true }
  if (command.dial !== undefined) await node.network.libp2p.dial(multiaddr(command.dial)).catch(() => {})
  if (command.status === true) say({ status: node.status() })
  if (command.send !== undefined) {
    void node.send(command.send.to, command.send.text, { ttlMinutes: 10 }).then((sent) => { say({ queued: sent.id }) })
  }
}
