/**
 * Helpers for the social layer's cross-node tests: an Operator and real
 * nodes on 127.0.0.1 (cover traffic off), feed reading, a store probe that
 * asks a node for everything it holds through the resync protocol (what any
 * peer can learn), and a raw gossipsub peer that publishes hand-made
 * envelopes.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { KomradeNode } from '../../node/komrade-node.js'
import { envelopeTopic } from '../../node/network-constants.js'
import { createResync, type Resync } from '../../node/resync/resync-protocol.js'
import type { CircleMember, FeedName, Post, Profile } from '../../node/social/types.js'
import { createIdentity, createRegistration, envelopeId, toHex, type Identity } from '../../protocol/index.js'
import { cleanup, connect, startNode, waitFor, type TestNode } from '../node/cluster.js'
import { cleanupOperators, crypto, startOperator, TEST_WORK_TRIALS, type TestOperator } from '../node/registry-operators.js'

export { connect, crypto, startOperator, waitFor }
export type { TestOperator }

/** Short lifetimes: little proof of work, and nothing outlives the test by much. */
export const TTL_MINUTES = 10

/** Hex id of an envelope. */
export const idOf = (envelope: Uint8Array): string => toHex(envelopeId(crypto, envelope))

/** The raw libp2p peers made by this file, stopped by {@link cleanupSocial}. */
const peers: Libp2p[] = []

/** Starts a node that pins `op` for names (no bootstrap: the tests wire the topology themselves). */
export async function startSocialNode (op: TestOperator | undefined, init: Parameters<typeof startNode>[0] = {}): Promise<TestNode> {
  return await startNode({ ...(op === undefined ? {} : { operator: op.config }), ...init })
}

/** Starts `count` nodes pinning `op`, joined in a ring (each node dials the next), and waits for every gossip mesh. */
export async function startRing (op: TestOperator | undefined, count: number): Promise<KomradeNode[]> {
  const nodes: KomradeNode[] = []
  for (let i = 0; i < count; i++) nodes.push((await startSocialNode(op)).node)
  await joinRing(nodes)
  return nodes
}

/** Dials each node's successor (a ring; a chain of two for two nodes) and waits until every node has a mesh peer. */
export async function joinRing (nodes: KomradeNode[]): Promise<void> {
  const links = nodes.length === 2 ? 1 : nodes.length
  for (let i = 0; i < links; i++) await connect(nodes[i]!, nodes[(i + 1) % nodes.length]!)
  await waitFor('every node in a gossip mesh', () => nodes.every((node) => node.status().meshPeers > 0), 60_000)
}

/** Registers a fresh identity straight into an Operator's registry; returns it with its certificate. */
export async function registeredAuthor (op: TestOperator, name: string): Promise<{ identity: Identity, certificate: Uint8Array }> {
  const identity = createIdentity(crypto)
  const answer = await op.operator.registry!.register(await createRegistration(crypto, identity, name, { workTrials: TEST_WORK_TRIALS }))
  if (!answer.ok) throw new Error(`registering ${name} failed: ${answer.message}`)
  return { identity, certificate: answer.value.certificate }
}

/**
 * Puts `member` in `author`'s circle the way trusted contacts do: the member
 * knows the author (a node takes circle keys only from those it added or
 * wrote to, SPEC §14), and the author adds the member.
 */
export async function addToCircle (author: KomradeNode, member: KomradeNode): Promise<CircleMember> {
  await member.contacts.add(author.publicIdentity)
  return await author.social.circle.add(member.publicIdentity)
}

/** Every post of a feed, newest first, read page by page (small pages, so paging is exercised too). */
export async function wholeFeed (node: KomradeNode, name: FeedName): Promise<Post[]> {
  const posts: Post[] = []
  let before: string | undefined
  for (let page = 0; page < 1000; page++) {
    const result = await node.social.feed(name, { limit: 7, ...(before === undefined ? {} : { before }) })
    posts.push(...result.posts)
    if (result.next === undefined) return posts
    before = result.next
  }
  throw new Error('feed paging did not end')
}

/** The posts with `id` in a node's feed (to count duplicates). */
export async function inFeed (node: KomradeNode, name: FeedName, id: string): Promise<Post[]> {
  return (await wholeFeed(node, name)).filter((post) => post.id === id)
}

/**
 * Every appearance, in either feed, of a post whose text is `text` (and by
 * `author`, a contact id, when given). The tests that build posts themselves
 * give each one a text of its own and find it this way, not by its id.
 */
export async function postsWithText (node: KomradeNode, text: string, author?: string): Promise<Post[]> {
  const all = [...await wholeFeed(node, 'world'), ...await wholeFeed(node, 'home')]
  return all.filter((post) => post.text === text && (author === undefined || post.author === author))
}

/** True when `id` is in neither feed of the node and getPost does not know it. */
export async function unseen (node: KomradeNode, id: string): Promise<boolean> {
  return (await inFeed(node, 'world', id)).length === 0 && (await inFeed(node, 'home', id)).length === 0 &&
    (await node.social.getPost(id)) === undefined
}

/** Records every `post` and `profile` event of a node. */
export function recordEvents (node: KomradeNode): { posts: Post[], profiles: Profile[] } {
  const seen = { posts: [] as Post[], profiles: [] as Profile[] }
  node.addEventListener('post', (event) => { seen.posts.push((event as CustomEvent<Post>).detail) })
  node.addEventListener('profile', (event) => { seen.profiles.push((event as CustomEvent<Profile>).detail) })
  return seen
}

/**
 * A store probe: a bare libp2p peer that resyncs with a node from an empty
 * store, so the node sends it every envelope it holds. It never stores or
 * forwards anything itself. `held(node)` answers with the ids of the
 * envelopes the node holds now.
 */
export interface StoreProbe {
  held(node: KomradeNode): Promise<Set<string>>
  /** The envelopes themselves, by id. */
  envelopes(node: KomradeNode): Promise<Map<string, Uint8Array>>
}

export async function startStoreProbe (): Promise<StoreProbe> {
  const libp2p = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() }
  })
  peers.push(libp2p)
  const received = new Map<string, Map<string, Uint8Array>>()
  const resync: Resync = createResync({
    libp2p,
    snapshot: async () => [],
    getEnvelopes: async (ids) => ids.map(() => undefined),
    receiveEnvelope: async (envelope, from) => {
      const key = from.toString()
      const held = received.get(key) ?? new Map<string, Uint8Array>()
      received.set(key, held.set(idOf(envelope), envelope))
      return 'accepted'
    }
  })
  await resync.start()
  async function envelopes (node: KomradeNode): Promise<Map<string, Uint8Array>> {
    const address = node.status().addresses.find((a) => a.includes('/127.0.0.1/'))
    if (address === undefined) throw new Error('node has no loopback address')
    await libp2p.dial(multiaddr(address))
    const key = node.network.peerId.toString()
    received.set(key, new Map())
    const report = await resync.syncWith(node.network.peerId)
    if (!report.complete) throw new Error('the probe\'s resync was cut short')
    return received.get(key)!
  }
  return {
    envelopes,
    held: async (node) => new Set((await envelopes(node)).keys())
  }
}

/** True when every element of `part` is in `whole`. */
export function isSubset (part: ReadonlySet<string>, whole: ReadonlySet<string>): boolean {
  for (const item of part) if (!whole.has(item)) return false
  return true
}

/**
 * The envelopes `node` holds now that it did not hold in `before`, once there
 * are at least `atLeast` of them (its own post is stored once its work is done).
 */
export async function newlyHeld (probe: StoreProbe, node: KomradeNode, before: ReadonlySet<string>, atLeast = 1): Promise<Set<string>> {
  let fresh = new Set<string>()
  await waitFor(`${atLeast} new envelope(s) in the author's store`, async () => {
    fresh = new Set([...await probe.held(node)].filter((id) => !before.has(id)))
    return fresh.size >= atLeast
  }, 60_000)
  return fresh
}

/**
 * A raw gossipsub peer on the network's envelope topic, dialed to `target`:
 * it publishes whatever the test hands it. Its message ids are random, so it
 * can publish the same envelope twice.
 */
export interface RawPeer {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  publish(envelope: Uint8Array): Promise<void>
}

export async function startRawPeer (target: KomradeNode, networkName = 'komrade'): Promise<RawPeer> {
  const libp2p = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: StrictNoSign, allowPublishToZeroTopicPeers: true, msgIdFn: () => crypto.randomBytes(32) })
    }
  })
  peers.push(libp2p)
  const topic = envelopeTopic(networkName)
  libp2p.services.pubsub.subscribe(topic)
  const address = target.status().addresses.find((a) => a.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error('node has no loopback address')
  await libp2p.dial(multiaddr(address))
  await waitFor('the raw peer and the node on the topic', () =>
    libp2p.services.pubsub.getSubscribers(topic).some((peer) => peer.equals(target.network.peerId)) &&
    target.network.libp2p.services.pubsub.getSubscribers(topic).some((peer) => peer.equals(libp2p.peerId)))
  return {
    libp2p,
    async publish (envelope) {
      const result = await libp2p.services.pubsub.publish(topic, envelope)
      if (result.recipients.length === 0) throw new Error('the raw peer reached nobody')
    }
  }
}

/** Stops every node, Operator and raw peer the social tests started. */
export async function cleanupSocial (): Promise<void> {
  for (const peer of peers.splice(0).reverse()) await Promise.resolve(peer.stop()).catch(() => {})
  await cleanup()
  await cleanupOperators()
}

/** Deterministic pseudo-random bytes (a test "image" whose every byte matters). */
export function patternBytes (length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    bytes[i] = x & 0xff
  }
  return bytes
}

/** A seeded Fisher–Yates shuffle (reproducible order in a failure report). */
export function shuffled<T> (items: readonly T[], seed = 7): T[] {
  const out = [...items]
  const random = patternBytes(out.length * 4, seed)
  for (let i = out.length - 1; i > 0; i--) {
    const r = new DataView(random.buffer, i * 4, 4).getUint32(0) % (i + 1)
    ;[out[i], out[r]] = [out[r]!, out[i]!]
  }
  return out
}
