/**
 * Profiles across real nodes on 127.0.0.1, with an Operator for names.
 * A registered node sets a world profile with an avatar, then a newer one:
 * the others show the first (avatar byte-identical, name verified), then the
 * second in its place (one profile per author, one `profile` event per
 * change). A node that gets the two profiles in the wrong order (newer first,
 * the stale one after, from a raw peer) keeps the newer one. A circle-only
 * profile reaches the circle member and not the others, who keep the world one.
 */
import { afterEach, expect, it } from 'vitest'
import type { KomradeNode } from '../../node/komrade-node.js'
import type { Profile } from '../../node/social/types.js'
import {
  addToCircle, cleanupSocial, isSubset, joinRing, patternBytes, recordEvents, startOperator, startRawPeer, startSocialNode,
  startStoreProbe, waitFor, type StoreProbe
} from './social-cluster.js'

afterEach(cleanupSocial)

const displayNameAt = async (node: KomradeNode, author: string): Promise<string | undefined> => (await node.social.profile(author))?.displayName

/** The envelopes the author holds after `change()` that it did not hold before, once `ready()` says they are out. */
async function envelopesOf (probe: StoreProbe, author: KomradeNode, change: () => Promise<unknown>, ready: () => Promise<boolean>): Promise<Map<string, Uint8Array>> {
  const before = await probe.held(author)
  await change()
  await waitFor('the change to propagate', ready, 60_000)
  const fresh = new Map([...await probe.envelopes(author)].filter(([id]) => !before.has(id)))
  expect(fresh.size).toBeGreaterThan(0)
  return fresh
}

it('propagates profile updates, replaces stale ones, and keeps circle profiles in the circle', async () => {
  const started = Date.now()
  const op = await startOperator()
  const nodes: KomradeNode[] = []
  for (let i = 0; i < 3; i++) nodes.push((await startSocialNode(op)).node)
  const [author, reader, member] = nodes as [KomradeNode, KomradeNode, KomradeNode]
  await joinRing(nodes)
  const { node: late } = await startSocialNode(op) // joined to no one: it hears only the raw peer
  await author.register('profiler')
  const authorId = author.status().id
  const readerEvents = recordEvents(reader)
  const probe = await startStoreProbe()

  const avatar = { mime: 'image/png', bytes: patternBytes(3_000, 11) }
  let first: Profile | undefined
  const firstEnvelopes = await envelopesOf(probe, author, async () => {
    first = await author.social.setProfile({ displayName: 'First Name', bio: 'the first bio', avatar })
  }, async () => await displayNameAt(reader, authorId) === 'First Name')
  expect(first).toMatchObject({ displayName: 'First Name', bio: 'the first bio', audience: 'world', author: authorId })
  const seenFirst = await reader.social.profile(authorId)
  expect(seenFirst).toMatchObject({ displayName: 'First Name', bio: 'the first bio', audience: 'world', authorName: 'profiler', authorIdentity: author.publicIdentity })
  expect(Buffer.from(seenFirst!.avatar!.bytes).equals(Buffer.from(avatar.bytes))).toBe(true)
  expect(seenFirst!.avatar!.mime).toBe('image/png')

  const secondEnvelopes = await envelopesOf(probe, author, async () => {
    await author.social.setProfile({ displayName: 'Second Name', bio: 'the second bio' })
  }, async () => await displayNameAt(reader, authorId) === 'Second Name' && await displayNameAt(member, authorId) === 'Second Name')
  const seenSecond = await reader.social.profile(authorId)
  expect(seenSecond).toMatchObject({ displayName: 'Second Name', bio: 'the second bio', authorName: 'profiler' })
  expect(seenSecond!.avatar).toBeUndefined()
  expect(seenSecond!.updatedAt).toBeGreaterThan(seenFirst!.updatedAt)
  expect((await reader.social.profiles()).filter((p) => p.author === authorId)).toHaveLength(1)
  expect(readerEvents.profiles.filter((p) => p.author === authorId).map((p) => p.displayName)).toEqual(['First Name', 'Second Name'])
  expect(await author.social.profile()).toMatchObject({ displayName: 'Second Name' })

  // The late node hears the newer profile first, then the stale one: the stale one must not replace it.
  const raw = await startRawPeer(late)
  for (const envelope of secondEnvelopes.values()) await raw.publish(envelope)
  await waitFor('the late node to show the newer profile', async () => await displayNameAt(late, authorId) === 'Second Name', 60_000)
  for (const envelope of firstEnvelopes.values()) await raw.publish(envelope)
  await waitFor('the late node to store the stale profile', async () => isSubset(new Set(firstEnvelopes.keys()), await probe.held(late)), 60_000)
  expect(await displayNameAt(late, authorId)).toBe('Second Name')
  expect((await late.social.profiles()).filter((p) => p.author === authorId)).toHaveLength(1)

  // A circle-only profile: the member shows it; the reader (not in the circle) keeps the world profile.
  await addToCircle(author, member)
  const circleEnvelopes = await envelopesOf(probe, author, async () => {
    await author.social.setProfile({ displayName: 'Circle Name', bio: 'for friends', audience: 'circle' })
  }, async () => await displayNameAt(member, authorId) === 'Circle Name')
  expect(await member.social.profile(authorId)).toMatchObject({ displayName: 'Circle Name', audience: 'circle' })
  await waitFor('the reader to store the circle profile', async () => isSubset(new Set(circleEnvelopes.keys()), await probe.held(reader)), 60_000)
  expect(await reader.social.profile(authorId)).toMatchObject({ displayName: 'Second Name', audience: 'world' })
  expect(readerEvents.profiles.some((p) => p.displayName === 'Circle Name')).toBe(false)
  console.log(`profiles: ${Date.now() - started} ms`)
}, 240_000)
