/**
 * Reliability scenario 4, eclipse attempt (issue 7).
 *
 * Load: six honest node processes on 127.0.0.1 (cover traffic off, resync
 * every 10 s): the target T is connected to two honest nodes, A and B,
 * which are connected to each other and to three more, C, D and E (the test
 * links T to A and B only). Ten hostile peers (plain libp2p
 * with stock gossipsub, in this process) dial T, and every honest node too:
 * they crowd the meshes on both ends of T's honest links, and give every
 * node more than its 8 target peers, so no Komrade dialer looks for anyone
 * else (kad-dht's own lookups may still connect T to the other honest
 * nodes, one of the defences; the count is reported). They
 * subscribe to the envelope topic and drop everything they receive (their
 * validator ignores every message: never forwarded, never gossiped). A to E
 * each write T a first contact and wait for its accept (through the
 * eclipse), then send T 100 messages (x scale) in all, 5 a second; T
 * answers nothing but its receipts and accepts.
 *
 * Pass criterion: at least 99% of the messages A to E reported queued for T
 * reach T (through A and B's meshes or gossip, resync, and whatever the DHT
 * connects), waiting at most 2 minutes after the last send (ARRIVAL_WINDOW_MS;
 * done as soon as all are in). The rate, the latency percentiles and the
 * hostile share of T's mesh are reported.
 *
 * `KOMRADE_RELIABILITY_SCALE=5 npx vitest run test/reliability/eclipse.test.ts` for 500 messages.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, expect, it } from 'vitest'
import { DEFAULT_NETWORK_NAME, envelopeTopic } from '../../node/network-constants.js'
import { reporter, scaled, sleep, startCluster, until, type Cluster } from './harness.js'

const HOSTILE_PEERS = 10
const HONEST_OTHERS = 5
const MESSAGES = scaled(100)
const MESSAGES_PER_SECOND = 5
const TTL_MINUTES = 10
const RESYNC_INTERVAL_MS = 10_000
const REQUIRED_RATE = 0.99
/**
 * How long after the last send a message may still arrive: two resync
 * periods, or more on a machine so loaded (other test files on the same
 * 2 cores) that the senders' proof of work and T's screening lag by tens of
 * seconds. The wait ends as soon as every message is in; the latencies are
 * reported.
 */
const ARRIVAL_WINDOW_MS = Math.max(2 * RESYNC_INTERVAL_MS, 120_000)

const log = reporter('eclipse')
let cluster: Cluster | undefined
const hostile: Array<Libp2p<{ pubsub: GossipSub }>> = []

afterAll(async () => {
  await Promise.all(hostile.map(async (h) => { await h.stop() }))
  await cluster?.close()
})

/** A peer that joins the topic and swallows it: every message is ignored (not delivered, not forwarded, not gossiped). */
async function startSwallower (topic: string): Promise<Libp2p<{ pubsub: GossipSub }>> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: StrictNoSign, allowPublishToZeroTopicPeers: true })
    }
  })
  node.services.pubsub.topicValidators.set(topic, () => TopicValidatorResult.Ignore)
  node.services.pubsub.subscribe(topic)
  return node
}

function percentile (values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN
}

it(`an honest node among ${HOSTILE_PEERS} swallowing peers still receives >= 99% of its messages`, async () => {
  const started = performance.now()
  cluster = await startCluster({ count: 1 + HONEST_OTHERS, resyncIntervalMs: RESYNC_INTERVAL_MS, prefix: 'komrade-eclipse-' })
  const [target, a, b, ...rest] = cluster.nodes
  const others = [a!, b!, ...rest]
  // T - A, T - B; A, B, C, D, E all connected to each other. The hostile peers connect before the honest nodes
  // have had time to look for more peers (their dialers top up to 8 from the DHT a moment after start).
  const topic = envelopeTopic(DEFAULT_NETWORK_NAME)
  for (let i = 0; i < HOSTILE_PEERS; i++) hostile.push(await startSwallower(topic))
  await Promise.all(hostile.flatMap((h) => cluster!.nodes.map(async (n) => await h.dial(multiaddr(n.info.address)))))
  await cluster.connect([[target!.index, a!.index], [target!.index, b!.index],
    ...others.flatMap((x, i) => others.slice(i + 1).map((y) => [x.index, y.index] as const))])

  const hostileIds = new Set(hostile.map((h) => h.peerId.toString()))
  await cluster.waitForMeshes(2)
  const before = await target!.request<{ peers: string[], mesh: string[] }>('peers')
  const hostileConnected = before.peers.filter((p) => hostileIds.has(p)).length
  const honestIds = new Set(cluster.nodes.map((n) => n.info.peerId))
  log(`set up in ${((performance.now() - started) / 1000).toFixed(1)} s: T has ${before.peers.length} peers (${hostileConnected} hostile, ` +
    `${before.peers.filter((p) => honestIds.has(p)).length} honest), ` +
    `mesh ${before.mesh.length} (${before.mesh.filter((p) => hostileIds.has(p)).length} hostile)`)
  // The attack is in place: every hostile peer is connected to T. (kad-dht's own lookups may still connect T to
  // other honest nodes: that is one of the defences, reported above.)
  expect(hostileConnected).toBe(HOSTILE_PEERS)

  // Sessions first: each sender's first contact, and T's accept back, through the eclipse. Senders wait for the
  // accept before writing again (see /tmp/social/reliability-needs.md: a burst of first contacts before the first
  // accept returns can leave a sender on a session the recipient already evicted).
  const firstContacts = await Promise.all(others.map(async (o) => await o.send(target!.info.publicIdentity, `hello T from ${o.index}`, TTL_MINUTES)))
  await until('a session from every sender to T', async () => {
    const lists = await Promise.all(others.map(async (o) => (await o.request<{ contacts: Array<{ identity: string, sessions: number }> }>('contacts')).contacts))
    return lists.every((contacts) => contacts.some((c) => c.identity === target!.info.publicIdentity && c.sessions > 0))
  }, 120_000)

  const sends: Array<Promise<unknown>> = []
  const refused: string[] = []
  for (let n = 0; n < MESSAGES; n++) {
    const from = others[n % others.length]!
    sends.push(from.send(target!.info.publicIdentity, `to T ${n}`, TTL_MINUTES).catch((error: Error) => { refused.push(error.message) }))
    await sleep(1000 / MESSAGES_PER_SECOND)
  }
  await Promise.all(sends)
  const lastSent = performance.now()
  const queued = others.flatMap((o) => [...o.queued.values()])
  const arrived = (): number => queued.filter((m) => target!.received.has(m.id)).length
  await until('every message at T', () => arrived() === queued.length, ARRIVAL_WINDOW_MS).catch(() => {})
  const received = arrived()
  const rate = received / queued.length
  const latencies = queued.filter((m) => target!.received.has(m.id)).map((m) => target!.receivedAt.get(m.id)! - m.at)
  const after = await target!.request<{ peers: string[], mesh: string[] }>('peers')
  log(`${received}/${queued.length} received (${(100 * rate).toFixed(2)}%), ${Math.round((performance.now() - lastSent) / 1000)} s after the last send; ` +
    `latency p50 ${percentile(latencies, 0.5).toFixed(0)} ms, p99 ${percentile(latencies, 0.99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms; ` +
    `T's peers at the end ${after.peers.length} (${after.peers.filter((p) => honestIds.has(p)).length} honest), ` +
    `its mesh ${after.mesh.length} (${after.mesh.filter((p) => hostileIds.has(p)).length} hostile), ${target!.syncsDone} resyncs done; ` +
    `wall time ${((performance.now() - started) / 1000).toFixed(1)} s`)

  const missing = queued.filter((m) => !target!.received.has(m.id))
  for (const m of missing) {
    const sender = cluster.nodes[m.from]!
    const state = (await sender.request<{ messages: Array<{ id: string, state: string }> }>('outbox')).messages.find((o) => o.id === m.id)?.state
    log(`missing: "${m.text}" from node ${m.from}, its outbox state ${state ?? 'gone'}`)
  }
  expect(cluster.nodes.flatMap((n) => n.unexpectedExits), 'node processes that died by themselves').toEqual([])
  expect(refused).toEqual([])
  expect(queued.length).toBe(MESSAGES + firstContacts.length)
  expect(rate).toBeGreaterThanOrEqual(REQUIRED_RATE)
}, 300_000)
