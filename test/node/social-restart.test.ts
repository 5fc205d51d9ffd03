/**
 * Restarts in the middle of the social layer's work, on real nodes and real
 * LevelDB: a circle post that was queued but not yet on the wire when its
 * node stopped goes out after the restart, read by a member; a member that
 * stops with half the parts of an image post (shuffled, one duplicated)
 * keeps them, and reads the post whole once the rest arrives.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, expect, it } from 'vitest'
import { cleanup, connect, startNode, waitFor } from './cluster.js'
import { startTap, stopTaps } from './social-tap.js'

const TTL_MINUTES = 10

afterEach(async () => {
  await stopTaps()
  await cleanup()
})

it('sends a queued post after a restart and loses nothing on either side', async () => {
  const { node: bob1, dataDir: bobDir } = await startNode()
  const bobIdentity = bob1.publicIdentity
  // Alice's envelopes wait for a cover-traffic slot about an hour away: the post stays in her outbox.
  const { node: alice1, dataDir: aliceDir } = await startNode({ cover: { ratePerHour: 0.1, ttlMinutes: TTL_MINUTES } })
  await connect(bob1, alice1)
  await bob1.contacts.add(alice1.publicIdentity) // circle keys only from known senders
  await alice1.social.circle.add(bobIdentity)
  const post = await alice1.social.post({ text: 'queued when I stopped', audience: 'circle', ttlMinutes: TTL_MINUTES })
  await waitFor('the work done, waiting for a slot', () => alice1.status().workPending === 0)
  expect(alice1.status().cover.waiting).toBeGreaterThan(0)
  await alice1.stop()
  // Bob stops too, before anything reached him.
  expect((await bob1.social.feed('home')).posts).toEqual([])
  await bob1.stop()

  const { node: alice } = await startNode({ dataDir: aliceDir })
  expect((await alice.social.feed('home')).posts.map((p) => p.id)).toEqual([post.id])
  expect((await alice.social.circle.list()).map((m) => m.identity)).toEqual([bobIdentity])
  const { node: bob } = await startNode({ dataDir: bobDir })
  await connect(bob, alice)
  await waitFor('bob to read the post sent after the restart', async () => (await bob.social.feed('home')).posts.some((p) => p.id === post.id), 60_000)
  // Nothing of it in the message lists.
  expect(await alice.outbox()).toEqual([])
  expect(await bob.inbox()).toEqual([])
})

it('keeps the parts of an image post across a restart of the member, and reads it whole afterwards', async () => {
  const { node: bobFirst, dataDir: bobDir } = await startNode()
  const bobIdentity = bobFirst.publicIdentity
  await bobFirst.stop()
  const tap = await startTap()
  const { node: alice } = await startNode()
  await alice.network.libp2p.dial(multiaddr(tap.address))
  await waitFor('alice meshed with the tap', () => alice.status().meshPeers > 0)
  await alice.social.circle.add(bobIdentity)
  await waitFor('the key on the wire', () => tap.seen.length === 1)
  const image = { mime: 'image/webp', bytes: new Uint8Array(6000).map((_, i) => (i * 7) % 256) }
  const post = await alice.social.post({ text: 'in four parts', image, audience: 'circle', ttlMinutes: TTL_MINUTES })
  await waitFor('the parts on the wire', () => tap.seen.length === 5)
  const [key, ...parts] = tap.seen as [Uint8Array, ...Uint8Array[]]

  // The key and two parts, the second twice; then bob stops.
  const bob1 = (await startNode({ dataDir: bobDir })).node
  await bob1.contacts.add(alice.publicIdentity) // circle keys only from known senders
  const injector1 = await startTap()
  await bob1.network.libp2p.dial(multiaddr(injector1.address))
  await waitFor('bob meshed', () => bob1.status().meshPeers > 0)
  for (const envelope of [key, parts[2]!, parts[0]!, parts[0]!]) await injector1.network.publish(envelope)
  await waitFor('bob to store three envelopes', () => bob1.status().store.count === 3)
  expect((await bob1.social.feed('home')).posts).toEqual([])
  await bob1.stop()

  // After the restart, the other two parts: the post is whole.
  const bob = (await startNode({ dataDir: bobDir })).node
  const injector2 = await startTap()
  await bob.network.libp2p.dial(multiaddr(injector2.address))
  await waitFor('bob meshed again', () => bob.status().meshPeers > 0)
  for (const envelope of [parts[3]!, parts[1]!]) await injector2.network.publish(envelope)
  await waitFor('bob to read the whole post', async () => (await bob.social.getPost(post.id)) !== undefined)
  expect(await bob.social.getPost(post.id)).toMatchObject({ text: 'in four parts', image, audience: 'circle', author: alice.status().id })
})
