/**
 * A hostile peer: a plain libp2p node running stock gossipsub (StrictNoSign,
 * our topic, no validator) that publishes whatever it likes to an honest
 * node H1, itself meshed with a second honest node H2. Nothing invalid may
 * reach either honest node's onEnvelope or be forwarded to H2, the hostile
 * peer's score must fall, and honest traffic must keep flowing.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, type Network } from '../../node/network.js'
import { SCORE_THRESHOLDS } from '../../node/network-constants.js'
import {
  checkEnvelope, envelopeId, EXPIRY_OFFSET, minuteOf, NONCE_OFFSET, nativeCrypto, sealCover, solveWork, toHex,
  VERSION_OFFSET
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const TEST_TTL_MINUTES = 2
const idOf = (envelope: Uint8Array): string => toHex(envelopeId(crypto, envelope))

function mint (expiryMinute = minuteOf(Date.now()) + TEST_TTL_MINUTES): Uint8Array {
  return solveWork(crypto, sealCover(crypto, expiryMinute))
}

/** An honest node with the node's validation: checkEnvelope, then "already stored?" -> ignore. */
interface HonestNode {
  network: Network
  stored: Set<string>
  /** envelope id -> onEnvelope calls */
  delivered: Map<string, number>
  /** every envelope id the validator was asked about, with its verdict */
  validated: Array<{ id: string, verdict: string }>
}

async function startHonest (): Promise<HonestNode> {
  const stored = new Set<string>()
  const delivered = new Map<string, number>()
  const validated: HonestNode['validated'] = []
  const network = await createNetwork({
    validate: async (envelope) => {
      const id = idOf(envelope)
      const verdict = !checkEnvelope(crypto, envelope).valid ? 'reject' : stored.has(id) ? 'ignore' : 'accept'
      validated.push({ id, verdict })
      return verdict
    },
    onEnvelope: (envelope) => {
      const id = idOf(envelope)
      stored.add(id)
      delivered.set(id, (delivered.get(id) ?? 0) + 1)
    }
  })
  await network.start()
  return { network, stored, delivered, validated }
}

/**
 * Stock gossipsub, no validator. Its message id is random, so its own seen
 * cache never stops it from sending the same envelope again (a replay).
 */
async function startHostile (topics: string[]): Promise<Libp2p<{ pubsub: GossipSub }>> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictNoSign,
        allowPublishToZeroTopicPeers: true,
        msgIdFn: () => crypto.randomBytes(32)
      })
    }
  })
  for (const topic of topics) node.services.pubsub.subscribe(topic)
  return node
}

async function waitFor (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const knows = (pubsub: GossipSub, topic: string, peer: { equals(other: unknown): boolean }): boolean =>
  pubsub.getSubscribers(topic).some((subscriber) => peer.equals(subscriber))

function loopbackAddress (network: Network): string {
  const address = network.status().addresses.find((addr) => addr.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error('no loopback address')
  return address
}

describe('a hostile peer', () => {
  let h1: HonestNode
  let h2: HonestNode
  let hostile: Libp2p<{ pubsub: GossipSub }>
  const otherTopic = '/komrade/elsewhere/envelopes/1'

  beforeAll(async () => {
    h1 = await startHonest()
    h2 = await startHonest()
    await h2.network.libp2p.dial(multiaddr(loopbackAddress(h1.network)))
    hostile = await startHostile([otherTopic, h1.network.topic])
    await hostile.dial(multiaddr(loopbackAddress(h1.network)))
    const topic = h1.network.topic
    await waitFor('everyone subscribed', () =>
      knows(hostile.services.pubsub, topic, h1.network.peerId) &&
      knows(h1.network.libp2p.services.pubsub, topic, hostile.peerId) &&
      knows(h1.network.libp2p.services.pubsub, topic, h2.network.peerId) &&
      knows(h2.network.libp2p.services.pubsub, topic, h1.network.peerId) &&
      h2.network.status().meshPeers === 1)
  })

  afterAll(async () => {
    await hostile?.stop()
    await h1?.network.stop()
    await h2?.network.stop()
  })

  /** The hostile peer publishes; every publish goes to h1 (its only peer). */
  async function hostilePublish (envelope: Uint8Array): Promise<void> {
    const result = await hostile.services.pubsub.publish(h1.network.topic, envelope)
    expect(result.recipients).toHaveLength(1)
  }

  it('is not heard on other topics (allowedTopics)', () => {
    // Subscriptions travel in one frame, ours last: h1 read it and kept only ours.
    expect(knows(h1.network.libp2p.services.pubsub, otherTopic, hostile.peerId)).toBe(false)
  })

  it('replays a valid envelope: it reaches each honest node once', async () => {
    const envelope = mint()
    await hostilePublish(envelope)
    await hostilePublish(envelope)
    const marker = mint()
    await hostilePublish(marker)
    await waitFor('marker at h2', () => h2.delivered.has(idOf(marker)))
    for (const node of [h1, h2]) {
      expect(node.delivered.get(idOf(envelope))).toBe(1)
      // gossipsub's seen cache dropped the replay before validation
      expect(node.validated.filter((entry) => entry.id === idOf(envelope))).toHaveLength(1)
    }
  })

  it('sends an envelope h1 already stored: ignored, not forwarded, not blamed', async () => {
    const envelope = mint()
    h1.stored.add(idOf(envelope)) // as if resync had brought it earlier
    await hostilePublish(envelope)
    const marker = mint()
    await hostilePublish(marker)
    await waitFor('marker at h2', () => h2.delivered.has(idOf(marker)))
    expect(h1.validated).toContainEqual({ id: idOf(envelope), verdict: 'ignore' })
    expect(h1.delivered.has(idOf(envelope))).toBe(false)
    expect(h2.validated.some((entry) => entry.id === idOf(envelope))).toBe(false)
    expect(h1.network.peerScore(hostile.peerId)).toBeGreaterThanOrEqual(0)
  })

  it('sends invalid envelopes: none delivered or forwarded, its score falls past the graylist, honest traffic flows', async () => {
    const now = Date.now()
    const wrongSize = crypto.randomBytes(100)
    const unknownVersion = mint()
    unknownVersion[VERSION_OFFSET] = 0x02
    const expired = mint(minuteOf(now) - 10)
    let badWork = sealCover(crypto, minuteOf(now) + TEST_TTL_MINUTES)
    while (checkEnvelope(crypto, badWork).valid) { // a random nonce meets the target about once in 16,000
      badWork = badWork.slice()
      badWork.set(crypto.randomBytes(8), NONCE_OFFSET)
    }
    const invalid = { 'wrong-size': wrongSize, 'unknown-version': unknownVersion, expired, 'insufficient-work': badWork }
    for (const [reason, envelope] of Object.entries(invalid)) {
      expect(checkEnvelope(crypto, envelope)).toEqual({ valid: false, reason })
    }
    expect(new DataView(expired.buffer).getUint32(EXPIRY_OFFSET)).toBeLessThan(minuteOf(now))

    for (const envelope of Object.values(invalid)) await hostilePublish(envelope)
    const invalidIds = Object.values(invalid).map(idOf)
    const rejectedAtH1 = (): number => h1.validated.filter((entry) => invalidIds.includes(entry.id) && entry.verdict === 'reject').length
    // Past three rejections h1 may graylist the sender and drop the rest unread.
    await waitFor('h1 rejected them', () => rejectedAtH1() >= 3 && h1.network.peerScore(hostile.peerId) < SCORE_THRESHOLDS.graylistThreshold)
    expect(h1.network.peerScore(hostile.peerId)).toBeLessThan(0)

    // Honest traffic both ways; h1's envelope to h2 travels behind anything h1 forwarded before.
    const fromH1 = mint()
    const fromH2 = mint()
    await h1.network.publish(fromH1)
    await h2.network.publish(fromH2)
    await waitFor('honest delivery', () => h2.delivered.has(idOf(fromH1)) && h1.delivered.has(idOf(fromH2)))

    for (const id of invalidIds) {
      expect(h1.delivered.has(id)).toBe(false)
      expect(h2.delivered.has(id)).toBe(false)
      expect(h2.validated.some((entry) => entry.id === id)).toBe(false) // never forwarded
    }
    // h1 keeps h2 in its mesh and its score at h2 is untouched.
    expect(h2.network.peerScore(h1.network.peerId)).toBeGreaterThanOrEqual(0)
    expect(h1.network.status().meshPeers).toBeGreaterThanOrEqual(1)
  })
})

describe('an oversized frame', () => {
  it('is refused before decoding and costs the sender its gossip stream', async () => {
    const honest = await startHonest()
    const hostile = await startHostile([honest.network.topic])
    try {
      await hostile.dial(multiaddr(loopbackAddress(honest.network)))
      const honestPubsub = honest.network.libp2p.services.pubsub
      const hostileIsGossipPeer = (): boolean => honestPubsub.getPeers().some((peer) => peer.equals(hostile.peerId))
      await waitFor('gossip peers', () => hostileIsGossipPeer() &&
        knows(hostile.services.pubsub, honest.network.topic, honest.network.peerId))

      // 200 KiB: well over maxInboundDataLength (148 KiB), well under gossipsub's 4 MiB default.
      const huge = crypto.randomBytes(200 * 1024)
      await hostile.services.pubsub.publish(honest.network.topic, huge)
      await waitFor('hostile dropped from gossip', () => !hostileIsGossipPeer())
      expect(honest.validated).toHaveLength(0)
      expect(honest.delivered.size).toBe(0)
    } finally {
      await hostile.stop()
      await honest.network.stop()
    }
  })
})
