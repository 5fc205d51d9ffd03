/**
 * Expiry on real nodes: a circle post with `ttlMinutes: 1` is listed by its
 * author and a member until its expiry, then by neither (feeds filter at
 * read; housekeeping deletes). The wait is the post's real lifetime, 1 to 2
 * minutes (expiry is carried in whole minutes); the test only waits, so it
 * costs wall time, not CPU.
 */
import { afterEach, expect, it } from 'vitest'
import { cleanup, connect, startNode, waitFor } from './cluster.js'

afterEach(cleanup)

it('removes a one-minute post from every feed at its expiry', async () => {
  const { node: alice } = await startNode()
  const { node: bob } = await startNode()
  await connect(bob, alice)
  await waitFor('mesh', () => alice.status().meshPeers > 0 && bob.status().meshPeers > 0)
  await bob.contacts.add(alice.publicIdentity) // circle keys only from known senders
  await alice.social.circle.add(bob.publicIdentity)
  const post = await alice.social.post({ text: 'gone in a minute', audience: 'circle', ttlMinutes: 1 })
  const keep = await alice.social.post({ text: 'still here', audience: 'circle', ttlMinutes: 30 })
  expect(post.expiresAt).toBeGreaterThanOrEqual(post.sentAt + 60_000)
  expect(post.expiresAt).toBeLessThanOrEqual(post.sentAt + 120_000)
  await waitFor('bob to read both', async () => (await bob.social.feed('home')).posts.length === 2, 60_000)

  await waitFor('the expiry', () => Date.now() > post.expiresAt, 150_000)
  for (const node of [alice, bob]) {
    expect((await node.social.feed('home')).posts.map((p) => p.id)).toEqual([keep.id])
    expect(await node.social.getPost(post.id)).toBeUndefined()
    expect(await node.social.getPost(keep.id)).toBeDefined()
  }
}, 240_000)
