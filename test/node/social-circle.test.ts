/**
 * The trusted circle between real nodes on 127.0.0.1 (no Operator: circle
 * posts need no name): a member reads a circle post and a non-member stores
 * it without reading it; removing a member rotates the chain; a member who
 * was offline when the key was handed gets the key and the earlier post at
 * resync, and a post stored before its key arrived opens when the key does;
 * a restart keeps feeds, circle and chains.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import type { KomradeNode } from '../../node/komrade-node.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'
import { startTap, stopTaps } from './social-tap.js'

const TTL_MINUTES = 10

afterEach(async () => {
  await stopTaps()
  await cleanup()
})

const homeIds = async (node: KomradeNode): Promise<string[]> => (await node.social.feed('home')).posts.map((p) => p.id)

describe('the trusted circle', () => {
  it('is read by members only; removal rotates the chain', async () => {
    const { node: alice } = await startNode()
    const { node: bob } = await startNode()
    const { node: carol } = await startNode()
    await connect(bob, alice)
    await connect(carol, alice)
    await waitFor('mesh', () => alice.status().meshPeers >= 2 && bob.status().meshPeers > 0 && carol.status().meshPeers > 0)

    // Circle keys are taken only from known senders: someone added as a contact, or written to.
    await bob.contacts.add(alice.publicIdentity)
    await carol.contacts.add(alice.publicIdentity)
    const member = await alice.social.circle.add(bob.publicIdentity)
    expect(member).toMatchObject({ id: bob.status().id, identity: bob.publicIdentity })
    expect(await alice.social.circle.list()).toEqual([member])
    // Adding again changes the list in nothing (it hands the chain again: one more envelope).
    expect(await alice.social.circle.add(bob.publicIdentity)).toEqual(member)

    const first = await alice.social.post({ text: 'for bob', audience: 'circle', ttlMinutes: TTL_MINUTES })
    expect(await homeIds(alice)).toEqual([first.id])
    await waitFor('bob to read the circle post', async () => (await homeIds(bob)).includes(first.id), 60_000)
    expect(await bob.social.getPost(first.id)).toMatchObject({ text: 'for bob', audience: 'circle', author: alice.status().id, mine: false })
    // Carol stores it (she forwards it) but cannot open it. The circle key was never a message.
    await waitFor('carol to store the post', () => carol.status().store.count >= 3) // two handoffs, the post
    expect(await carol.social.getPost(first.id)).toBeUndefined()
    expect(await homeIds(carol)).toEqual([])
    expect(await bob.inbox()).toEqual([])
    expect(await alice.outbox()).toEqual([])

    // Carol joins, then Bob is removed: a new epoch, handed to Carol only.
    await alice.social.circle.add(carol.publicIdentity)
    expect(await alice.social.circle.remove(bob.status().id)).toBe(true)
    expect(await alice.social.circle.remove(bob.status().id)).toBe(false)
    expect((await alice.social.circle.list()).map((m) => m.id)).toEqual([carol.status().id])
    const second = await alice.social.post({ text: 'not for bob any more', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('carol to read the post after the rotation', async () => (await homeIds(carol)).includes(second.id), 60_000)
    // Carol joined after the first post: she never reads it.
    expect(await carol.social.getPost(first.id)).toBeUndefined()
    // Bob holds the envelope but not the new chain.
    await bob.syncNow()
    await waitFor('bob to store the second post', () => bob.status().store.count >= carol.status().store.count)
    expect(await bob.social.getPost(second.id)).toBeUndefined()
    expect(await homeIds(bob)).toEqual([first.id])
  })

  it('hands the key to a member who was offline, who then reads the earlier post after resync', async () => {
    const { node: bobFirst, dataDir: bobDir } = await startNode()
    const bobIdentity = bobFirst.publicIdentity
    await bobFirst.stop()

    const { node: alice } = await startNode()
    await alice.social.circle.add(bobIdentity)
    const post = await alice.social.post({ text: 'while you were away', audience: 'circle', ttlMinutes: TTL_MINUTES })

    const { node: bob } = await startNode({ dataDir: bobDir })
    await bob.contacts.add(alice.publicIdentity)
    await connect(bob, alice)
    await bob.syncNow()
    await waitFor('bob to read the earlier post', async () => (await homeIds(bob)).includes(post.id), 60_000)
    expect(await bob.social.getPost(post.id)).toMatchObject({ text: 'while you were away', author: alice.status().id })
  })

  it('opens a stored post once the key arrives after it (re-screening stored envelopes)', async () => {
    const { node: bobFirst, dataDir: bobDir } = await startNode()
    const bobIdentity = bobFirst.publicIdentity
    await bobFirst.stop()
    // Alice publishes the key, then the post; a bare peer records them in that order.
    const tap = await startTap()
    const { node: alice } = await startNode()
    await alice.network.libp2p.dial(multiaddr(tap.address))
    await waitFor('alice meshed with the tap', () => alice.status().meshPeers > 0)
    await alice.social.circle.add(bobIdentity)
    await waitFor('the key on the wire', () => tap.seen.length === 1)
    const post = await alice.social.post({ text: 'sent before you held the key', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the post on the wire', () => tap.seen.length === 2)
    const [key, envelope] = tap.seen as [Uint8Array, Uint8Array]

    // Bob hears only from a second bare peer: the post first, which he stores unread, then the key.
    const { node: bob } = await startNode({ dataDir: bobDir })
    await bob.contacts.add(alice.publicIdentity)
    const injector = await startTap()
    await bob.network.libp2p.dial(multiaddr(injector.address))
    await waitFor('bob meshed with the injector', () => bob.status().meshPeers > 0)
    await injector.network.publish(envelope)
    await waitFor('bob to store the post', () => bob.status().store.count === 1)
    expect(await homeIds(bob)).toEqual([])
    await injector.network.publish(key)
    await waitFor('bob to read the stored post', async () => (await homeIds(bob)).includes(post.id))
    expect(await bob.social.getPost(post.id)).toMatchObject({ text: 'sent before you held the key', author: alice.status().id })
  })

  it('keeps feeds, circle and chains across restarts of both sides', async () => {
    const { node: alice1, dataDir: aliceDir } = await startNode()
    const { node: bob1, dataDir: bobDir } = await startNode()
    await connect(bob1, alice1)
    await waitFor('mesh', () => alice1.status().meshPeers > 0 && bob1.status().meshPeers > 0)
    await bob1.contacts.add(alice1.publicIdentity)
    await alice1.social.circle.add(bob1.publicIdentity)
    const before = await alice1.social.post({ text: 'before the restart', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('bob to read it', async () => (await homeIds(bob1)).includes(before.id), 60_000)
    const members = await alice1.social.circle.list()
    await bob1.stop()
    await alice1.stop()

    const { node: alice } = await startNode({ dataDir: aliceDir })
    const { node: bob } = await startNode({ dataDir: bobDir })
    // Feeds and circle as they were.
    expect(await homeIds(alice)).toEqual([before.id])
    expect(await homeIds(bob)).toEqual([before.id])
    expect(await alice.social.circle.list()).toEqual(members)
    // Both chains moved on from where they were: the next post opens on bob's side.
    await connect(bob, alice)
    await waitFor('mesh', () => alice.status().meshPeers > 0 && bob.status().meshPeers > 0)
    // With an image: a payload of several parts, each on its own step of the chain.
    const image = { mime: 'image/jpeg', bytes: new Uint8Array(6000).map((_, i) => i % 251) }
    const after = await alice.social.post({ text: 'after the restart', image, audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('bob to read the post after the restart', async () => (await homeIds(bob)).includes(after.id), 60_000)
    expect(await homeIds(bob)).toEqual([after.id, before.id])
    expect((await bob.social.getPost(after.id))?.image).toEqual(image)
  })
})
