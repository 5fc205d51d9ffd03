/**
 * A tor-only node in its own process, for test/tor/tor-only.test.ts (run
 * with test/tor/network-guard.ts preloaded). Arg: JSON { dataDir, socks,
 * control, bootstrap }. Writes JSON lines: { ready, … } once started,
 * { received } per message; reads commands on stdin: { send: { to, text } },
 * { dial: multiaddr } -> { dialed, error? }, { report: true } -> { report: { status, attempts } }. Stops on stdin's end.
 */
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { createKomradeNode } from '../../node/komrade-node.js'
import type { NetworkAttempt } from './network-guard.js'

const { dataDir, socks, control, bootstrap } = JSON.parse(process.argv[2]!) as { dataDir: string, socks: string, control: string, bootstrap: string[] }
const node = createKomradeNode({
  dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, workThreads: 1, cover: false, tor: { socks, control, onlyTor: true }
})
const say = (event: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(event) + '\n') }
const attempts = (): NetworkAttempt[] => (globalThis as { __networkAttempts?: NetworkAttempt[] }).__networkAttempts ?? []
node.addEventListener('message', (event) => {
  const { id, text, fromIdentity } = (event as CustomEvent<{ id: string, text: string, fromIdentity: string }>).detail
  say({ received: { id, text, fromIdentity } })
})
await node.start()
say({
  ready: true,
  peerId: node.network.peerId.toString(),
  publicIdentity: node.publicIdentity,
  addresses: node.status().addresses,
  onion: node.status().tor?.onion,
  listener: node.network.onionTarget()
})
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { send?: { to: string, text: string }, dial?: string, report?: true }
  if (command.dial !== undefined) {
    const address = command.dial
    await node.network.libp2p.dial(multiaddr(address), { signal: AbortSignal.timeout(30_000) })
      .then(() => { say({ dialed: address }) }, (error: Error) => { say({ dialed: address, error: error.name }) })
  }
  if (command.send !== undefined) {
    const sent = await node.send(command.send.to, command.send.text, { ttlMinutes: 10 })
    say({ queued: sent.id })
  }
  if (command.report === true) say({ report: { status: node.status(), attempts: attempts() } })
}
await node.stop()
process.exit(0)
