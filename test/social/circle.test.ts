/**
 * Posts to the trusted circle across real nodes on 127.0.0.1. A member is
 * put in the circle as trusted contacts do (addToCircle): it has added the
 * author as a contact, and the author adds it.
 *
 * 1. Opened by the circle only: an author with two circle members, a contact
 *    who is not in the circle (they share a session) and a stranger. One
 *    circle post is one envelope on the network (not one per member); every
 *    node stores it (the resync probe finds it in each store), the members
 *    show it in their home feeds, the contact and the stranger show it
 *    nowhere, and no one shows it in a world feed.
 * 2. Removal stops access to new posts: after the author removes a member,
 *    the removed member keeps the old post but never shows the new one,
 *    although it stores the new one; the remaining member shows both. Added
 *    back, it reads what comes next, never what it missed.
 * 3. A member who was offline while the author added it and posted reads the
 *    post when it comes back: resync brings the post before the key (sooner
 *    expiry first), and the key's arrival re-screens the stored post. The
 *    same across a rotation: both epochs' keys and posts come back together
 *    and both posts open (a receiver keeps the last two epochs).
 * 4. Restarts: the member restarts and still reads new posts (its chains were
 *    kept), the author restarts and its next post still opens for the member
 *    (its chain went on from where it was); feeds keep every post once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { KomradeNode } from '../../node/komrade-node.js'
import {
  addToCircle, cleanupSocial, connect, idOf, inFeed, isSubset, joinRing, newlyHeld, startRing, startSocialNode, startStoreProbe,
  TTL_MINUTES, unseen, waitFor, type StoreProbe
} from './social-cluster.js'

afterEach(cleanupSocial)

const inHome = async (node: KomradeNode, id: string): Promise<boolean> => (await inFeed(node, 'home', id)).length === 1

/** Waits until every node holds the same envelopes, twice in a row (nothing left in flight), and returns them. */
async function quiet (probe: StoreProbe, nodes: KomradeNode[]): Promise<Set<string>> {
  let last = ''
  let settled = new Set<string>()
  await waitFor('the network to settle', async () => {
    const sets = await Promise.all(nodes.map(async (node) => [...await probe.held(node)].sort().join(',')))
    const same = sets.every((s) => s === sets[0])
    const stable = same && sets[0] === last
    last = same ? sets[0]! : ''
    if (stable) settled = new Set(sets[0]!.split(',').filter((id) => id !== ''))
    return stable
  }, 60_000)
  return settled
}

describe('a circle post', () => {
  it('is one envelope that every node stores, and only the circle opens', async () => {
    const started = Date.now()
    const nodes = await startRing(undefined, 5)
    const [author, member1, member2, contact, stranger] = nodes as [KomradeNode, KomradeNode, KomradeNode, KomradeNode, KomradeNode]
    const probe = await startStoreProbe()

    // The contact shares a session with the author, but is not in the circle.
    await author.contacts.add(contact.publicIdentity)
    await author.send(contact.publicIdentity, 'a contact, not a member', { ttlMinutes: TTL_MINUTES })
    await waitFor('the contact to receive', async () => (await contact.inbox()).some((m) => m.text === 'a contact, not a member'), 60_000)

    expect(await addToCircle(author, member1)).toMatchObject({ id: member1.status().id, identity: member1.publicIdentity })
    expect(await addToCircle(author, member2)).toMatchObject({ id: member2.status().id })
    expect((await author.social.circle.list()).map((m) => m.id).sort()).toEqual([member1.status().id, member2.status().id].sort())

    // A first post makes sure the members hold the chain; then the network settles.
    const warmUp = await author.social.post({ text: 'warm-up', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the members to read the warm-up', async () => await inHome(member1, warmUp.id) && await inHome(member2, warmUp.id), 60_000)
    await quiet(probe, nodes)

    // What the author floods from now on (the node's embedding API: its network's publish).
    const published = vi.spyOn(author.network, 'publish')
    const text = 'for my circle only'
    const post = await author.social.post({ text, audience: 'circle', ttlMinutes: TTL_MINUTES })
    expect(post).toMatchObject({ text, audience: 'circle', mine: true, authorIdentity: author.publicIdentity })
    await waitFor('both members to read it', async () => await inHome(member1, post.id) && await inHome(member2, post.id), 60_000)
    await quiet(probe, nodes) // every node holds the same envelopes, the author's included
    // One envelope for the whole circle, not one per member (a retry may publish the same one again).
    const added = [...new Set(published.mock.calls.map(([envelope]) => idOf(envelope)))]
    expect(added).toHaveLength(1)
    published.mockRestore()

    for (const member of [member1, member2]) {
      const [seen, ...duplicates] = await inFeed(member, 'home', post.id)
      expect(duplicates).toEqual([])
      expect(seen).toMatchObject({ id: post.id, text, audience: 'circle', mine: false, author: author.status().id, authorIdentity: author.publicIdentity })
      expect(await inFeed(member, 'world', post.id)).toEqual([])
    }
    // Everyone stores it (quiet() saw the same set at every node); the contact and the stranger cannot open it.
    for (const outsider of [contact, stranger]) {
      expect(isSubset(new Set(added), await probe.held(outsider))).toBe(true)
      expect(await unseen(outsider, post.id)).toBe(true)
      expect(await unseen(outsider, warmUp.id)).toBe(true)
    }
    expect(await inFeed(author, 'home', post.id)).toHaveLength(1)
    expect(await inFeed(author, 'world', post.id)).toEqual([])
    console.log(`circle, opened by the circle only: ${Date.now() - started} ms`)
  }, 180_000)

  it('stops reaching a removed member: the old post stays, the new one never opens', async () => {
    const started = Date.now()
    const nodes = await startRing(undefined, 3)
    const [author, removed, remaining] = nodes as [KomradeNode, KomradeNode, KomradeNode]
    const probe = await startStoreProbe()
    await addToCircle(author, removed)
    await addToCircle(author, remaining)

    const old = await author.social.post({ text: 'before the removal', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('both members to read the old post', async () => await inHome(removed, old.id) && await inHome(remaining, old.id), 60_000)

    expect(await author.social.circle.remove(removed.status().id)).toBe(true)
    expect((await author.social.circle.list()).map((m) => m.id)).toEqual([remaining.status().id])

    const before = await probe.held(author)
    const fresh = await author.social.post({ text: 'after the removal', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the remaining member to read the new post', async () => await inHome(remaining, fresh.id), 60_000)
    const freshEnvelopes = await newlyHeld(probe, author, before)
    await waitFor('the removed member to store the new post', async () => isSubset(freshEnvelopes, await probe.held(removed)), 60_000)

    expect(await inHome(removed, old.id)).toBe(true)
    expect(await unseen(removed, fresh.id)).toBe(true)
    expect(await inHome(remaining, old.id)).toBe(true)
    expect(await inHome(remaining, fresh.id)).toBe(true)

    // A later post does not open for the removed member either (the author never goes back to the old chain).
    const later = await author.social.post({ text: 'still without you', audience: 'circle', ttlMinutes: TTL_MINUTES })
    const beforeLater = new Set([...before, ...freshEnvelopes])
    await waitFor('the remaining member to read the later post', async () => await inHome(remaining, later.id), 60_000)
    const laterEnvelopes = await newlyHeld(probe, author, beforeLater)
    await waitFor('the removed member to store the later post', async () => isSubset(laterEnvelopes, await probe.held(removed)), 60_000)
    expect(await unseen(removed, later.id)).toBe(true)

    // Added back: it reads what comes next, never what was posted while it was out.
    await addToCircle(author, removed)
    const back = await author.social.post({ text: 'welcome back', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the member added back to read the next post', async () => await inHome(removed, back.id) && await inHome(remaining, back.id), 60_000)
    expect(await unseen(removed, fresh.id)).toBe(true)
    expect(await unseen(removed, later.id)).toBe(true)
    console.log(`circle, removal: ${Date.now() - started} ms`)
  }, 180_000)

  it('reaches a member who was offline: the post comes back through resync before its key, and opens once the key arrives', async () => {
    const started = Date.now()
    const [author, relay] = await startRing(undefined, 2) as [KomradeNode, KomradeNode]
    const { node: member } = await startSocialNode(undefined) // joined to no one yet
    const probe = await startStoreProbe()
    const before = await probe.held(author)
    await addToCircle(author, member)
    const post = await author.social.post({ text: 'while you were away', audience: 'circle', ttlMinutes: TTL_MINUTES })
    // The key (7-day lifetime) and the post (10 minutes) are out; resync hands them over soonest expiry first: post, then key.
    const out = await newlyHeld(probe, author, before, 2)
    await waitFor('the relay to hold them', async () => isSubset(out, await probe.held(relay)), 60_000)
    expect(await unseen(member, post.id)).toBe(true)

    await connect(member, relay)
    await waitFor('the member to read the post', async () => await inHome(member, post.id), 60_000)
    expect(await inFeed(member, 'home', post.id)).toHaveLength(1)
    console.log(`circle, offline member: ${Date.now() - started} ms`)
  }, 180_000)

  it('reaches a member who was offline across a rotation: posts of both epochs open', async () => {
    const started = Date.now()
    const [author, removed, relay] = await startRing(undefined, 3) as [KomradeNode, KomradeNode, KomradeNode]
    const { node: away } = await startSocialNode(undefined) // joined to no one yet
    const probe = await startStoreProbe()
    const before = await probe.held(author)
    await addToCircle(author, removed)
    await addToCircle(author, away)
    const old = await author.social.post({ text: 'first epoch', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the online member to read the first post', async () => await inHome(removed, old.id), 60_000)
    expect(await author.social.circle.remove(removed.status().id)).toBe(true)
    const fresh = await author.social.post({ text: 'second epoch', audience: 'circle', ttlMinutes: TTL_MINUTES })
    // Two keys for the absent member, two posts: all worked, out and held by the others before it comes back.
    await waitFor('the author\'s work to finish', () => author.status().workPending === 0, 60_000)
    const out = new Set([...await quiet(probe, [author, removed, relay])].filter((id) => !before.has(id)))
    expect(out.size).toBeGreaterThanOrEqual(5) // three keys, two posts

    await connect(away, relay)
    await waitFor('the returning member to read both posts', async () => await inHome(away, old.id) && await inHome(away, fresh.id), 60_000)
    await waitFor('the removed member to store the second post', async () => isSubset(out, await probe.held(removed)), 60_000)
    expect(await unseen(removed, fresh.id)).toBe(true)
    console.log(`circle, offline across a rotation: ${Date.now() - started} ms`)
  }, 180_000)

  it('survives restarts: the member keeps its chains and the author continues its own', async () => {
    const started = Date.now()
    const authorRun = await startSocialNode(undefined)
    const memberRun = await startSocialNode(undefined)
    const { node: relay } = await startSocialNode(undefined)
    await joinRing([authorRun.node, memberRun.node, relay])
    let author = authorRun.node
    let member = memberRun.node
    await addToCircle(author, member)
    const first = await author.social.post({ text: 'before any restart', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the member to read the first post', async () => await inHome(member, first.id), 60_000)

    await member.stop()
    member = (await startSocialNode(undefined, { dataDir: memberRun.dataDir })).node
    await connect(member, relay)
    const second = await author.social.post({ text: 'after the member restarted', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the restarted member to read the second post', async () => await inHome(member, second.id), 60_000)

    await author.stop()
    author = (await startSocialNode(undefined, { dataDir: authorRun.dataDir })).node
    await connect(author, relay)
    expect((await author.social.circle.list()).map((m) => m.id)).toEqual([member.status().id])
    const third = await author.social.post({ text: 'after the author restarted', audience: 'circle', ttlMinutes: TTL_MINUTES })
    await waitFor('the member to read the third post', async () => await inHome(member, third.id), 60_000)

    for (const post of [first, second, third]) {
      expect(await inFeed(member, 'home', post.id)).toHaveLength(1)
      expect(await inFeed(author, 'home', post.id)).toHaveLength(1)
    }
    expect(await unseen(relay, third.id)).toBe(true)
    console.log(`circle, restarts: ${Date.now() - started} ms`)
  }, 180_000)
})
