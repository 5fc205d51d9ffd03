/**
 * The network layer on real libp2p nodes over loopback: an envelope crosses
 * two nodes, a 10-node chain (exactly once at every node), and nodes that
 * only know a bootstrap node find each other through the DHT and keep
 * talking once it is gone.
 */
import { KEEP_ALIVE } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { createNetwork, type Network, type NetworkInit } from '../../node/network.js'
import {
  checkEnvelope, envelopeId, minuteOf, nativeCrypto, sealCover, solveWork, toHex, VERSION_OFFSET
} from '../../protocol/index.js'

const crypto = nativeCrypto()
/** Short-lived envelopes keep the proof of work at a few tens of milliseconds. */
const TEST_TTL_MINUTES = 2

function mint (): Uint8Array {
  return solveWork(crypto, sealCover(crypto, minuteOf(Date.now()) + TEST_TTL_MINUTES))
}

const idOf = (envelope: Uint8Array): string => toHex(envelopeId(crypto, envelope))

/** A started network with the node's validation (checkEnvelope + stored?) and a record of deliveries. */
interface TestPeer {
  network: Network
  /** envelope id -> times onEnvelope saw it */
  delivered: Map<string, number>
  /** ids this node's validator should throw on (tests the throw -> ignore mapping) */
  throwOn: Set<string>
}

const started: Network[] = []

async function startPeer (init: Partial<NetworkInit> = {}): Promise<TestPeer> {
  const delivered = new Map<string, number>()
  const throwOn = new Set<string>()
  const network = await createNetwork({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    validate: async (envelope) => {
      if (throwOn.has(idOf(envelope))) throw new Error('validator failure (test)')
      if (!checkEnvelope(crypto, envelope).valid) return 'reject'
      return delivered.has(idOf(envelope)) ? 'ignore' : 'accept'
    },
    onEnvelope: (envelope) => {
      const id = idOf(envelope)
      delivered.set(id, (delivered.get(id) ?? 0) + 1)
    },
    ...init
  })
  started.push(network)
  await network.start()
  return { network, delivered, throwOn }
}

function loopbackAddress (network: Network): string {
  const address = network.status().addresses.find((addr) => addr.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error('no loopback address')
  return address
}

async function connect (from: Network, to: Network): Promise<void> {
  await from.libp2p.dial(multiaddr(loopbackAddress(to)))
}

/** True when `a` knows `b` is subscribed to the envelope topic. */
function hearsTopicFrom (a: Network, b: Network): boolean {
  return a.libp2p.services.pubsub.getSubscribers(a.topic).some((peer) => peer.equals(b.peerId))
}

/** Polls until `check` holds; the time limit is only a hang guard. */
async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

afterEach(async () => {
  await Promise.all(started.splice(0).map(async (network) => { await network.stop() }))
})

describe('createNetwork: options and publish', () => {
  it('refuses bad options, naming them', async () => {
    const base = { validate: async () => 'accept' as const, onEnvelope: () => {} }
    await expect(createNetwork({ ...base, networkName: 'Not/A/Name' })).rejects.toThrow(RangeError)
    await expect(createNetwork({ ...base, networkName: 'Not/A/Name' })).rejects.toThrow(/networkName/)
    await expect(createNetwork({ ...base, targetPeers: -1 })).rejects.toThrow(/targetPeers/)
    await expect(createNetwork({ ...base, validate: undefined as never })).rejects.toThrow(TypeError)
  })

  it('uses the network name in the topic and the DHT protocol, and a neutral user agent', async () => {
    const peer = await startPeer({ networkName: 'testnet' })
    expect(peer.network.topic).toBe('/komrade/testnet/envelopes/1')
    expect(peer.network.libp2p.getProtocols()).toContain('/komrade/testnet/kad/1.0.0')
    expect(peer.network.libp2p.getProtocols()).not.toContain('/ipfs/kad/1.0.0')
    const other = await startPeer({ networkName: 'testnet' })
    await connect(other.network, peer.network)
    const agentVersion = async (): Promise<string | undefined> => {
      const info = await other.network.libp2p.peerStore.get(peer.network.peerId)
      const value = info.metadata.get('AgentVersion')
      return value === undefined ? undefined : new TextDecoder().decode(value)
    }
    await waitFor('identify', async () => (await agentVersion()) !== undefined)
    expect(await agentVersion()).toBe('komrade')
  })

  it('reports 0 recipients with nobody to send to, refuses invalid envelopes and publishing while stopped', async () => {
    const peer = await startPeer()
    expect(await peer.network.publish(mint())).toEqual({ recipients: 0 })
    const wrongVersion = mint()
    wrongVersion[VERSION_OFFSET] = 0x02
    await expect(peer.network.publish(wrongVersion)).rejects.toMatchObject({ name: 'InvalidEnvelopeError', reason: 'unknown-version' })
    await expect(peer.network.publish(new Uint8Array(100))).rejects.toMatchObject({ name: 'InvalidEnvelopeError', reason: 'wrong-size' })
    await peer.network.stop()
    await expect(peer.network.publish(mint())).rejects.toMatchObject({ name: 'NetworkNotStartedError' })
  })
})

describe('dialing discovered peers', () => {
  it('dials discovered peers up to targetPeers, and tops up from the peer store when one leaves', async () => {
    const x = await startPeer({ targetPeers: 2 })
    const others = [await startPeer(), await startPeer(), await startPeer()]
    // Learning a new peer (here by hand) is what every discovery source does: peer:discovery follows.
    for (const other of others) {
      await x.network.libp2p.peerStore.merge(other.network.peerId, { multiaddrs: [multiaddr(loopbackAddress(other.network))] })
    }
    const connectedTo = (peer: TestPeer): boolean => x.network.libp2p.getConnections(peer.network.peerId).length > 0
    await waitFor('two dials', () => others.filter(connectedTo).length === 2)
    const [spare] = others.filter((peer) => !connectedTo(peer))
    expect(spare).toBeDefined()

    const leaving = others.find(connectedTo)!
    await leaving.network.stop()
    await waitFor('top-up to the spare peer', () => connectedTo(spare!))
    expect(x.network.libp2p.getPeers()).toHaveLength(2)
  })
})

describe('gossip of envelopes', () => {
  it('an envelope published by one node reaches the other; a validator that throws means ignore, not blame', async () => {
    const a = await startPeer()
    const b = await startPeer()
    await connect(a.network, b.network)
    await waitFor('mesh', () => a.network.status().meshPeers === 1 && b.network.status().meshPeers === 1)
    expect(a.network.status()).toMatchObject({ peers: 1, meshPeers: 1, topicPeers: 1 })

    const envelope = mint()
    expect(await a.network.publish(envelope)).toEqual({ recipients: 1 })
    await waitFor('delivery at b', () => b.delivered.has(idOf(envelope)))
    expect(b.delivered.get(idOf(envelope))).toBe(1)
    expect(a.delivered.size).toBe(0) // a publisher is not handed its own envelope

    // b's validator throws on this one: dropped, and a is not penalised for it.
    const unlucky = mint()
    b.throwOn.add(idOf(unlucky))
    await a.network.publish(unlucky)
    const after = mint()
    await a.network.publish(after)
    await waitFor('next delivery at b', () => b.delivered.has(idOf(after)))
    expect(b.delivered.has(idOf(unlucky))).toBe(false)
    expect(b.network.peerScore(a.network.peerId)).toBeGreaterThanOrEqual(0)
    expect(b.network.status().meshPeers).toBe(1)
  })

  it('crosses a chain of 10 nodes, reaching every node exactly once', async () => {
    const peers: TestPeer[] = []
    for (let i = 0; i < 10; i++) peers.push(await startPeer())
    for (let i = 0; i < 9; i++) await connect(peers[i]!.network, peers[i + 1]!.network)
    await waitFor('chain subscriptions', () => peers.every((peer, i) =>
      (i === 0 || hearsTopicFrom(peer.network, peers[i - 1]!.network)) &&
      (i === 9 || hearsTopicFrom(peer.network, peers[i + 1]!.network)) &&
      peer.network.status().meshPeers >= 1))

    const first = mint()
    expect((await peers[0]!.network.publish(first)).recipients).toBeGreaterThanOrEqual(1)
    await waitFor('the far end', () => peers[9]!.delivered.has(idOf(first)))
    await waitFor('every node', () => peers.slice(1).every((peer) => peer.delivered.has(idOf(first))))
    // A second envelope behind the first: once every node has it, any late
    // duplicate of the first has had its turn on the same streams.
    const second = mint()
    await peers[0]!.network.publish(second)
    await waitFor('the second envelope everywhere', () => peers.slice(1).every((peer) => peer.delivered.has(idOf(second))))
    for (const peer of peers.slice(1)) {
      expect(peer.delivered.get(idOf(first))).toBe(1)
      expect(peer.delivered.get(idOf(second))).toBe(1)
    }
    expect(peers[0]!.delivered.size).toBe(0)
  })

  it('nodes that know only a bootstrap node find each other through the DHT and keep talking without it', async () => {
    const a = await startPeer()
    const bootstrapList = [loopbackAddress(a.network)]
    expect(bootstrapList[0]).toContain(`/p2p/${a.network.peerId.toString()}`)
    const b = await startPeer({ bootstrap: bootstrapList })
    await waitFor('b in a\'s routing table', () => a.network.libp2p.getConnections(b.network.peerId).length > 0)
    const bootstrapTags = [...(await b.network.libp2p.peerStore.get(a.network.peerId)).tags.keys()]
    expect(bootstrapTags.some((tag) => tag.startsWith(KEEP_ALIVE))).toBe(true) // libp2p redials it when it drops
    const c = await startPeer({ bootstrap: bootstrapList })
    await waitFor('c connected to a', () => c.network.libp2p.getConnections(a.network.peerId).length > 0)

    // Neither b nor c was told about the other: a DHT query through a (the
    // self-query kad-dht runs once it has a peer) leads one to the other.
    // Without passthroughMapper (allowPrivateAddresses: false) this never happens.
    await waitFor('b and c connected', () => b.network.libp2p.getConnections(c.network.peerId).length > 0, 45_000)
    await waitFor('b and c share the topic', () => hearsTopicFrom(b.network, c.network) && hearsTopicFrom(c.network, b.network))

    await a.network.stop()
    await waitFor('a gone', () => b.network.libp2p.getConnections(a.network.peerId).length === 0 &&
      c.network.libp2p.getConnections(a.network.peerId).length === 0)
    const envelope = mint()
    expect(await b.network.publish(envelope)).toEqual({ recipients: 1 })
    await waitFor('delivery at c', () => c.delivered.has(idOf(envelope)))
    expect(c.delivered.get(idOf(envelope))).toBe(1)
  })
})
