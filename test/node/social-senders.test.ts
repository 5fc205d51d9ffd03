/**
 * Known senders (SPEC §14.4, node/social/known-senders.ts) between real
 * nodes on 127.0.0.1: a circle key is taken only from someone the user added
 * or wrote to. A stranger's first contact carrying one, or one sent over a
 * session the stranger started, is dropped (never in the inbox). Once the
 * author is added as a contact, a repeated `circle.add` hands the chain
 * again. Removing a contact drops its chains and takes it out of our circle.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { KomradeNode } from '../../node/komrade-node.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'

const TTL_MINUTES = 10

afterEach(async () => { await cleanup() })

const homeIds = async (node: KomradeNode): Promise<string[]> => (await node.social.feed('home')).posts.map((p) => p.id)

async function pair (): Promise<[KomradeNode, KomradeNode]> {
  const { node: a } = await startNode()
  const { node: b } = await startNode()
  await connect(b, a)
  await waitFor('mesh', () => a.status().meshPeers > 0 && b.status().meshPeers > 0)
  return [a, b]
}

/** Waits until `to` stored every envelope `from` stored (both screened by then: a node stores an envelope after screening it). */
async function settled (from: KomradeNode, to: KomradeNode, atLeast: number): Promise<void> {
  await waitFor(`${atLeast} envelopes at both`, () => from.status().store.count >= atLeast && to.status().store.count >= from.status().store.count, 60_000)
}

describe('circle keys from strangers', () => {
  it('drops a stranger\'s circle key sent as a first contact; once the author is added, a repeated circle.add hands the chain again', async () => {
    const [alice, bob] = await pair()
    await alice.social.circle.add(bob.publicIdentity) // Bob never heard of Alice
    const post = await alice.social.post({ text: 'from a stranger', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await settled(alice, bob, 2)
    expect(await homeIds(bob)).toEqual([])
    expect(await bob.inbox()).toEqual([])
    // Not answered either: Alice did not become Bob's contact.
    expect(bob.contacts.list().map((c) => c.id)).not.toContain(alice.status().id)

    // Bob adds Alice; she adds him again, which hands the chain again (he is a member already) at its current
    // step: he reads what she posts from now on. The first post's step is gone from her chain (forward secrecy).
    await bob.contacts.add(alice.publicIdentity)
    await alice.social.circle.add(bob.publicIdentity)
    const later = await alice.social.post({ text: 'now you know me', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('bob to read the later post', async () => (await homeIds(bob)).includes(later.id), 60_000)
    expect(await homeIds(bob)).toEqual([later.id])
    expect(await bob.social.getPost(post.id)).toBeUndefined()
    expect(await bob.inbox()).toEqual([])
  })

  it('drops a circle key sent over a session the stranger started', async () => {
    const [carol, bob] = await pair()
    const hello = await carol.send(bob.publicIdentity, 'hello')
    await waitFor('bob to answer carol (a session)', async () => (await carol.outbox()).some((m) => m.id === hello.id && m.state === 'delivered'), 60_000)
    await carol.social.circle.add(bob.publicIdentity)
    const post = await carol.social.post({ text: 'over the session', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await settled(carol, bob, 4) // hello, bob's accept, the key, the post
    expect(await homeIds(bob)).toEqual([])
    expect((await bob.inbox()).map((m) => m.text)).toEqual(['hello'])
    expect(await bob.social.getPost(post.id)).toBeUndefined()
  })

  it('takes circle keys from someone we wrote to', async () => {
    const [dave, bob] = await pair()
    await bob.send(dave.publicIdentity, 'hi dave')
    await waitFor('dave to get it', async () => (await dave.inbox()).length === 1, 60_000)
    await dave.social.circle.add(bob.publicIdentity)
    const post = await dave.social.post({ text: 'you wrote first', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('bob to read it', async () => (await homeIds(bob)).includes(post.id), 60_000)
  })
})

describe('contacts.remove', () => {
  it('drops the chains the contact handed us, and takes them out of our circle', async () => {
    const [alice, bob] = await pair()
    await bob.contacts.add(alice.publicIdentity)
    await alice.social.circle.add(bob.publicIdentity)
    const first = await alice.social.post({ text: 'first', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('bob to read the first post', async () => (await homeIds(bob)).includes(first.id), 60_000)

    // Bob removes Alice: her chain goes with her.
    expect(await bob.contacts.remove(alice.status().id)).toBe(true)
    const before = alice.status().store.count
    const second = await alice.social.post({ text: 'second', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await settled(alice, bob, before + 1)
    expect(await homeIds(bob)).toEqual([first.id])
    expect(await bob.social.getPost(second.id)).toBeUndefined()

    // Alice removes Bob: he is no member any more (the chain rotated).
    expect(await alice.contacts.remove(bob.status().id)).toBe(true)
    expect(await alice.social.circle.list()).toEqual([])
  })
})
