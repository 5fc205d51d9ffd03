/**
 * The Operator as discovery anchor (issue 4): nodes configured with only the
 * Operator's address find each other through it, and once it is gone new
 * messages still flow and a newcomer is still found through the DHT.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import type { KomradeNode } from '../../node/index.js'
import { cleanup, startNode, waitFor } from '../node/cluster.js'

const dirs: string[] = []
const operators: Operator[] = []

afterAll(async () => {
  for (const operator of operators) await operator.stop().catch(() => {})
  await cleanup()
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

function loopbackAddress (node: KomradeNode): string {
  const address = node.status().addresses.find((a) => a.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error('no loopback address')
  return address
}

function connected (a: KomradeNode, b: KomradeNode): boolean {
  return a.network.libp2p.getConnections(b.network.peerId).length > 0
}

async function receives (node: KomradeNode, text: string): Promise<void> {
  await waitFor(`"${text}" at ${node.status().id.slice(0, 8)}`, async () => (await node.inbox()).some((m) => m.text === text), 60_000)
}

describe('the Operator as discovery anchor', () => {
  it('anchors discovery with a second, discovery-only Operator; without them messages still flow and newcomers are found through the DHT', async () => {
    const started: Operator[] = []
    const operatorAt = async (init: { registry: boolean, bootstrap?: string[] }): Promise<{ operator: Operator, address: string }> => {
      const dataDir = await mkdtemp(join(tmpdir(), 'komrade-operator-'))
      dirs.push(dataDir)
      const operator = createOperator({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: 16, ...init })
      await operator.start()
      started.push(operator)
      operators.push(operator)
      const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))
      expect(address).toContain(`/p2p/${operator.node.network.peerId.toString()}`)
      return { operator, address: address! }
    }
    // One Operator holds the registry key; a second one only anchors discovery and knows the first.
    const registrar = await operatorAt({ registry: true })
    const anchor = await operatorAt({ registry: false, bootstrap: [registrar.address] })
    const pinned = { identity: registrar.operator.identity, addresses: [registrar.address] }

    const a = await startNode({ bootstrap: [registrar.address], operator: pinned })
    const b = await startNode({ bootstrap: [registrar.address], operator: pinned })
    const c = await startNode({ bootstrap: [anchor.address], operator: pinned })
    // Each knows only one Operator; the DHT (both answer as servers) leads them to each other.
    await waitFor('a, b and c connected to each other', () => connected(a.node, b.node) && connected(b.node, c.node) && connected(a.node, c.node), 60_000)

    // Names through the Operator that holds the key; c adds a by name.
    await a.node.register('alice')
    const contact = await c.node.contacts.add('alice')
    expect(contact.identity).toBe(a.node.publicIdentity)
    await c.node.send(contact.identity, 'hello alice, with the Operators')
    await receives(a.node, 'hello alice, with the Operators')

    const operatorPeers = started.map((o) => o.node.network.peerId)
    for (const operator of started) await operator.stop()
    await waitFor('the Operators gone', () => [a, b, c].every((n) => operatorPeers.every((peer) => n.node.network.libp2p.getConnections(peer).length === 0)), 30_000)

    // New messages still flow without the Operators, and the name still resolves from the cache.
    expect((await c.node.lookup('alice')).fromCache).toBe(true)
    await c.node.send(a.node.publicIdentity, 'without the Operators')
    await receives(a.node, 'without the Operators')

    // A newcomer who knows only a, not the Operators: b was never told about
    // it, and finds it through the DHT (a peer-routing query answered by a).
    const d = await startNode({ bootstrap: [loopbackAddress(a.node)] })
    await waitFor('d connected to a', () => connected(d.node, a.node))
    expect(connected(b.node, d.node)).toBe(false)
    // d's record reaches the DHT once d has joined a's routing table: ask until it is there.
    let found: Awaited<ReturnType<typeof b.node.network.libp2p.peerRouting.findPeer>> | undefined
    await waitFor('b finds d through the DHT', async () => {
      found = await b.node.network.libp2p.peerRouting.findPeer(d.node.network.peerId, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
      return found !== undefined
    }, 60_000)
    const record = found
    if (record === undefined) throw new Error('unreachable: waitFor returned without a record')
    expect(record.id.equals(d.node.network.peerId)).toBe(true)
    expect(record.multiaddrs.map((m) => `${m.toString()}/p2p/${record.id.toString()}`)).toContain(loopbackAddress(d.node))
    await b.node.network.libp2p.dial(d.node.network.peerId)
    await waitFor('b connected to d', () => connected(b.node, d.node))

    await d.node.send(b.node.publicIdentity, 'from the newcomer')
    await receives(b.node, 'from the newcomer')
  })
})
