/**
 * A node in its own process, for crash tests. Args: dataDir. Reads JSON
 * commands on stdin ({ dial }, { send: { to, text } }), writes JSON events on
 * stdout once they are durable: { ready }, { queued: id } after send()
 * resolved, { received: id } after a message event (emitted after commit).
 */
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { createKomradeNode } from '../../node/komrade-node.js'

const dataDir = process.argv[2]!
const node = createKomradeNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1 })
const say = (event: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(event) + '\n') }
node.addEventListener('message', (event) => { say({ received: (event as CustomEvent<{ id: string }>).detail.id }) })
await node.start()
say({ ready: true, publicIdentity: node.publicIdentity, address: node.status().addresses[0] })
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { dial?: string, send?: { to: string, text: string } }
  if (command.dial !== undefined) await node.network.libp2p.dial(multiaddr(command.dial)).catch(() => {})
  if (command.send !== undefined) {
    void node.send(command.send.to, command.send.text, { ttlMinutes: 10 }).then((sent) => { say({ queued: sent.id }) })
  }
}
