/**
 * A hostile peer against whole Komrade nodes: a stock gossipsub node on our
 * topic publishes wrong-size, unknown-version, expired, bad-work and replayed
 * envelopes. Nothing invalid is stored by the node it talks to or by the node
 * behind it, and a real message between the honest nodes still arrives.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterEach, expect, it } from 'vitest'
import { envelopeTopic } from '../../node/network-constants.js'
import { EXPIRY_OFFSET, minuteOf, NONCE_OFFSET, nativeCrypto, sealCover, solveWork } from '../../protocol/index.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'

const crypto = nativeCrypto()
let hostile: Libp2p<{ pubsub: GossipSub }> | undefined

afterEach(async () => {
  await hostile?.stop()
  await cleanup()
})

it('stores and forwards none of a hostile peer\'s invalid envelopes, and honest mail still flows', async () => {
  const { node: front } = await startNode()
  const { node: behind } = await startNode()
  await connect(behind, front)
  hostile = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      // A random message id lets it publish the same envelope twice.
      pubsub: gossipsub({ globalSignaturePolicy: StrictNoSign, allowPublishToZeroTopicPeers: true, msgIdFn: () => crypto.randomBytes(32) })
    }
  })
  const topic = envelopeTopic('komrade')
  hostile.services.pubsub.subscribe(topic)
  await hostile.dial(multiaddr(front.status().addresses[0]!))
  await waitFor('the hostile peer in the topic', () => hostile!.services.pubsub.getSubscribers(topic).length > 0)

  const now = Date.now()
  const valid = solveWork(crypto, sealCover(crypto, minuteOf(now) + 10), { now })
  const wrongVersion = valid.slice()
  wrongVersion[0] = 2
  const expired = solveWork(crypto, sealCover(crypto, minuteOf(now) - 30), { now: now - 40 * 60_000 })
  const badWork = valid.slice()
  badWork[NONCE_OFFSET] = badWork[NONCE_OFFSET]! ^ 0xff
  badWork[NONCE_OFFSET + 1] = badWork[NONCE_OFFSET + 1]! ^ 0xff
  const farFuture = valid.slice()
  new DataView(farFuture.buffer).setUint32(EXPIRY_OFFSET, minuteOf(now) + 30 * 24 * 60)
  const storedBefore = [front.status().store.count, behind.status().store.count]
  for (const bad of [new Uint8Array(100), new Uint8Array(4096), wrongVersion, expired, badWork, farFuture]) {
    await hostile.services.pubsub.publish(topic, bad).catch(() => {})
  }
  // One valid envelope, published twice (a replay): stored once, everywhere.
  await hostile.services.pubsub.publish(topic, valid)
  await hostile.services.pubsub.publish(topic, valid).catch(() => {})
  await waitFor('the valid envelope to spread', () => behind.status().store.count === storedBefore[1]! + 1)

  // Honest traffic still flows, through the node the hostile peer hammered.
  const sent = await behind.send(front.publicIdentity, 'still here', { ttlMinutes: 10 })
  await waitFor('the honest message', async () => (await front.inbox()).some((m) => m.text === 'still here'))
  await waitFor('its receipt', async () => (await behind.outbox()).find((m) => m.id === sent.id)?.state === 'delivered')
  await behind.syncNow()
  // Each store holds exactly: the valid cover, the message, and the accept/receipt that answered it.
  expect(front.status().store.count).toBe(storedBefore[0]! + 3)
  expect(behind.status().store.count).toBe(storedBefore[1]! + 3)
}, 60_000)
