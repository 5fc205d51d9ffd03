/**
 * The world feed between real nodes on 127.0.0.1 with a real Operator: a
 * world post reaches another node with its author's checked name; a node
 * with no Operator, or with `worldFeed: false`, stores and forwards world
 * envelopes but reads none; posting to the world needs a name.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { jsonSublevel, openLocalDb } from '../../node/local-state.js'
import type { Post } from '../../node/social/types.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'
import { cleanupOperators, startOperator } from './registry-operators.js'

const TTL_MINUTES = 10

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
})

describe('the world feed', () => {
  it('carries a post to another node with its author name, and to no one who does not read the world', async () => {
    const op = await startOperator()
    const { node: alice } = await startNode({ operator: op.config, bootstrap: [op.address] })
    const { node: bob } = await startNode({ operator: op.config, bootstrap: [op.address] })
    // Carol has no Operator: no world feed. Dave turned it off.
    const { node: carol } = await startNode({ bootstrap: [op.address] })
    const { node: dave } = await startNode({ operator: op.config, bootstrap: [op.address], worldFeed: false })
    await alice.register('alice')
    for (const node of [alice, bob, carol, dave]) await waitFor('mesh', () => node.status().meshPeers > 0)

    const events: Post[] = []
    bob.addEventListener('post', (event) => { events.push((event as CustomEvent<Post>).detail) })
    const post = await alice.social.post({ text: 'hello, world', ttlMinutes: TTL_MINUTES })
    expect(post).toMatchObject({ audience: 'world', authorName: 'alice', author: alice.status().id, authorIdentity: alice.publicIdentity, mine: true, text: 'hello, world' })
    // Ours at once, in both feeds.
    expect((await alice.social.feed('world')).posts.map((p) => p.id)).toEqual([post.id])
    expect((await alice.social.feed('home')).posts.map((p) => p.id)).toEqual([post.id])

    await waitFor('bob to read the post', async () => (await bob.social.feed('world')).posts.length === 1, 60_000)
    const got = await bob.social.getPost(post.id)
    expect(got).toMatchObject({ id: post.id, text: 'hello, world', authorName: 'alice', author: alice.status().id, audience: 'world', mine: false, sentAt: post.sentAt, expiresAt: post.expiresAt })
    expect(events.map((p) => p.id)).toEqual([post.id])
    // Not in bob's home feed (world posts of others are not home), not in anyone's inbox or outbox.
    expect((await bob.social.feed('home')).posts).toEqual([])
    expect(await alice.outbox()).toEqual([])
    expect(await bob.inbox()).toEqual([])

    // Carol and Dave store it (they forward it) but read nothing.
    await carol.syncNow()
    await dave.syncNow()
    for (const node of [carol, dave]) {
      await waitFor('the envelope stored', () => node.status().store.count > 0)
      expect((await node.social.feed('world')).posts).toEqual([])
      expect(await node.social.getPost(post.id)).toBeUndefined()
    }
    await expect(carol.social.post({ text: 'no operator here' })).rejects.toMatchObject({ name: 'NoWorldFeedError' })
    await expect(dave.social.post({ text: 'world is off' })).rejects.toMatchObject({ name: 'NoWorldFeedError' })
  })

  it('refuses a world post without a registered name, and changes nothing', async () => {
    const op = await startOperator()
    const { node } = await startNode({ operator: op.config, bootstrap: [op.address] })
    await expect(node.social.post({ text: 'who am I?' })).rejects.toMatchObject({ name: 'NoNameError', message: expect.stringMatching(/register a name first/) as unknown })
    await expect(node.social.setProfile({ displayName: 'Nobody' })).rejects.toMatchObject({ name: 'NoNameError' })
    expect((await node.social.feed('world')).posts).toEqual([])
    expect((await node.social.feed('home')).posts).toEqual([])
    expect(await node.social.profile()).toBeUndefined()
    expect(node.status().workPending).toBe(0)
    // A circle post needs no name.
    const post = await node.social.post({ text: 'to my circle', audience: 'circle', ttlMinutes: TTL_MINUTES })
    expect(post).toMatchObject({ audience: 'circle', mine: true })
    expect(post.authorName).toBeUndefined()
  })

  it('publishes a world profile that replaces the older one on another node, and republishes it when it gets old', async () => {
    const op = await startOperator()
    const { node: alice, dataDir: aliceDir, init: aliceInit } = await startNode({ operator: op.config, bootstrap: [op.address] })
    const { node: bob } = await startNode({ operator: op.config })
    await connect(bob, alice)
    await alice.register('alice')
    await waitFor('mesh', () => bob.status().meshPeers > 0 && alice.status().meshPeers > 0)

    const heard: string[] = []
    bob.addEventListener('profile', (event) => { heard.push((event as CustomEvent<{ bio: string }>).detail.bio) })
    const first = await alice.social.setProfile({ displayName: 'Alice', bio: 'first' })
    expect(first).toMatchObject({ author: alice.status().id, authorName: 'alice', displayName: 'Alice', bio: 'first', audience: 'world' })
    expect(await alice.social.profile()).toEqual(first)
    await waitFor('bob to hold the profile', async () => (await bob.social.profile(alice.status().id))?.bio === 'first', 60_000)
    const second = await alice.social.setProfile({ displayName: 'Alice A.', bio: 'second', avatar: { mime: 'image/png', bytes: new Uint8Array(3000).fill(7) } })
    await waitFor('bob to hold the newer profile', async () => (await bob.social.profile(alice.status().id))?.bio === 'second', 60_000)
    const held = await bob.social.profile(alice.status().id)
    expect(held).toMatchObject({ displayName: 'Alice A.', authorName: 'alice', updatedAt: second.updatedAt })
    expect(held?.avatar?.bytes).toEqual(new Uint8Array(3000).fill(7))
    expect((await bob.social.profiles()).map((p) => p.author)).toEqual([alice.status().id])
    expect(heard).toEqual(['first', 'second'])

    // Four days later (its record made older on disk), Alice's node republishes it at its start.
    await alice.stop()
    const db = await openLocalDb(join(aliceDir, 'db'))
    const profiles = jsonSublevel(db, 'social-profiles')
    const own = (await profiles.get(first.author))!
    await profiles.put(first.author, { ...own, updatedAt: Date.now() - 4 * 86_400_000 })
    await db.close()
    const { node: alice2 } = await startNode({ ...aliceInit, dataDir: aliceDir })
    await connect(bob, alice2)
    await waitFor('bob to hold the republished profile', async () => ((await bob.social.profile(first.author))?.updatedAt ?? 0) > second.updatedAt, 60_000)
    expect(await bob.social.profile(first.author)).toMatchObject({ displayName: 'Alice A.', bio: 'second' })
    expect((await alice2.social.profile())?.updatedAt).toBeGreaterThan(second.updatedAt)
  })
})
