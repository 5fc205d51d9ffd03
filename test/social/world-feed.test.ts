/**
 * The world feed across real nodes: eleven nodes in a ring on 127.0.0.1 and
 * an Operator for names. One registered node posts to the world; the post
 * reaches the world feed of all ten others exactly once (one `post` event
 * each), with the author's name as its certificate proves it under the
 * pinned Operator key, and never lands in their home feeds. A node with no
 * Operator pinned cannot check names, and one started with `worldFeed:
 * false` skips the world check: neither shows the post, yet both store it
 * and carry it on (the reader behind them shows it).
 * Nine posts from two authors list newest first across pages of seven,
 * with a cursor, and reach a live `posts()` stream once each.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { KomradeNode } from '../../node/komrade-node.js'
import type { Post } from '../../node/social/types.js'
import {
  cleanupSocial, connect, inFeed, isSubset, newlyHeld, recordEvents, startOperator, startRing, startSocialNode, startStoreProbe, TTL_MINUTES, waitFor, wholeFeed
} from './social-cluster.js'

afterEach(cleanupSocial)

describe('a world post', () => {
  it('appears in the world feed of ten other nodes, with the author\'s verified name', async () => {
    const started = Date.now()
    const op = await startOperator()
    const nodes = await startRing(op, 11)
    const [author, ...others] = nodes as [typeof nodes[0], ...typeof nodes]
    await author.register('ringposter')
    const events = others.map(recordEvents)

    const text = 'hello, world feed — 11 nodes'
    const post = await author.social.post({ text, audience: 'world', ttlMinutes: TTL_MINUTES })
    expect(post).toMatchObject({ text, audience: 'world', mine: true, author: author.status().id, authorIdentity: author.publicIdentity })
    expect(post.authorName).toBe('ringposter')

    await waitFor('the post in ten world feeds', async () => {
      for (const node of others) if ((await inFeed(node, 'world', post.id)).length === 0) return false
      return true
    }, 60_000)

    for (const [i, node] of others.entries()) {
      const [seen, ...duplicates] = await inFeed(node, 'world', post.id)
      expect(duplicates).toEqual([])
      expect(seen).toMatchObject({
        id: post.id, text, audience: 'world', mine: false, authorName: 'ringposter',
        author: author.status().id, authorIdentity: author.publicIdentity, sentAt: post.sentAt, expiresAt: post.expiresAt
      })
      expect(seen!.image).toBeUndefined()
      expect(await node.social.getPost(post.id)).toMatchObject({ id: post.id, text })
      expect(await inFeed(node, 'home', post.id)).toEqual([]) // a world post is not in the home feed of strangers
      expect(events[i]!.posts.filter((p) => p.id === post.id)).toHaveLength(1)
    }
    // The author sees its own post in both feeds.
    expect(await inFeed(author, 'world', post.id)).toHaveLength(1)
    expect(await inFeed(author, 'home', post.id)).toHaveLength(1)
    console.log(`world feed, 11 nodes: ${Date.now() - started} ms`)
  }, 180_000)

  it('is not shown by a node with no Operator pinned or with worldFeed off, though they store and forward it', async () => {
    const op = await startOperator()
    const { node: author } = await startSocialNode(op)
    const { node: off } = await startSocialNode(op, { worldFeed: false })
    const { node: unpinned } = await startSocialNode(undefined)
    const { node: reader } = await startSocialNode(op)
    // A chain: the post reaches the reader only through the two nodes that do not read the world.
    await connect(author, off)
    await connect(off, unpinned)
    await connect(unpinned, reader)
    await waitFor('a gossip mesh along the chain', () => [author, off, unpinned, reader].every((n) => n.status().meshPeers > 0), 60_000)
    await author.register('unpinnedcase')
    for (const node of [off, unpinned]) {
      await expect(node.social.post({ text: 'no world here', ttlMinutes: TTL_MINUTES })).rejects.toMatchObject({ name: 'NoWorldFeedError' })
    }
    await expect(reader.social.post({ text: 'no name yet', ttlMinutes: TTL_MINUTES })).rejects.toMatchObject({ name: 'NoNameError' })
    const probe = await startStoreProbe()
    const before = await probe.held(author)
    const post = await author.social.post({ text: 'names need an Operator', ttlMinutes: TTL_MINUTES })
    const postEnvelopes = await newlyHeld(probe, author, before)
    await waitFor('the reader shows the post', async () => (await inFeed(reader, 'world', post.id)).length === 1, 60_000)
    for (const node of [off, unpinned]) {
      expect(isSubset(postEnvelopes, await probe.held(node))).toBe(true)
      expect(await wholeFeed(node, 'world')).toEqual([])
      expect(await node.social.getPost(post.id)).toBeUndefined()
    }
  }, 120_000)

  it('lists the world feed newest first across pages, and streams new posts live', async () => {
    const op = await startOperator()
    const nodes = await startRing(op, 3)
    const [first, second, reader] = nodes as [KomradeNode, KomradeNode, KomradeNode]
    await first.register('firstwriter')
    await second.register('secondwriter')
    const controller = new AbortController()
    const live: Post[] = []
    const streaming = (async () => {
      for await (const post of reader.social.posts({ signal: controller.signal, feed: 'world' })) live.push(post)
    })().catch(() => {})

    const ids: string[] = []
    for (let i = 0; i < 9; i++) {
      const author = i % 2 === 0 ? first : second
      ids.push((await author.social.post({ text: `post ${i}`, ttlMinutes: TTL_MINUTES })).id)
    }
    await waitFor('all nine at the reader', async () => (await wholeFeed(reader, 'world')).length === 9, 60_000)
    const feed = await wholeFeed(reader, 'world') // pages of 7: two pages
    expect(new Set(feed.map((p) => p.id))).toEqual(new Set(ids))
    for (let i = 1; i < feed.length; i++) {
      expect(feed[i - 1]!.sentAt).toBeGreaterThanOrEqual(feed[i]!.sentAt)
    }
    const firstPage = await reader.social.feed('world', { limit: 7 })
    expect(firstPage.posts).toHaveLength(7)
    expect(firstPage.next).toBeDefined()
    const secondPage = await reader.social.feed('world', { limit: 7, before: firstPage.next! })
    expect(secondPage.posts).toHaveLength(2)
    expect(secondPage.next).toBeUndefined()

    await waitFor('the live stream to carry all nine', () => live.length >= 9, 30_000)
    controller.abort()
    await streaming
    expect(live.map((p) => p.id).sort()).toEqual([...ids].sort())
  }, 180_000)
})
