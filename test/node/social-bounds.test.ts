/**
 * The social layer's stores and their bounds, over a real LevelDB: a post is
 * identified by (author, message id), so an impostor reusing a message id
 * neither replaces nor hides the victim's post (SPEC §14.7); others'
 * profiles are bounded in count and bytes, the soonest to expire dropped
 * first; parts of incomplete payloads are bounded per sender and in all, the
 * oldest payload dropped first (SPEC §6); housekeeping's counts come from its
 * own writes.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Level } from 'level'
import { localState, openLocalDb, type Json, type StoredPart } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import type { Delivery } from '../../node/delivery.js'
import { openFeedStore, postIdOf, type FeedStore, type StoredPost, type StoredProfile } from '../../node/social/feed-store.js'
import { openKnownSenders } from '../../node/social/known-senders.js'
import { createNodeSocial } from '../../node/social/node-social.js'
import { createIdentity, nativeCrypto } from '../../protocol/index.js'

const dirs: string[] = []
const dbs: Array<Level<string, Json>> = []

afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close().catch(() => {})
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function openDb (): Promise<{ db: Level<string, Json>, reopen(): Promise<Level<string, Json>> }> {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-bounds-'))
  dirs.push(dir)
  const db = await openLocalDb(join(dir, 'db'))
  dbs.push(db)
  return {
    db,
    async reopen () {
      await db.close()
      const again = await openLocalDb(join(dir, 'db'))
      dbs.push(again)
      return again
    }
  }
}

const NOW = Date.UTC(2026, 10, 22, 12)
const VICTIM = 'f'.repeat(64)
const IMPOSTOR = '0'.repeat(64)
const MESSAGE_ID = 'ab'.repeat(16)

function post (author: string, fields: Partial<StoredPost> = {}): StoredPost {
  return {
    id: postIdOf(MESSAGE_ID, author), author, authorIdentity: author + author, audience: 'world', text: `by ${author.slice(0, 4)}`,
    sentAt: NOW - 1000, receivedAt: NOW, expiresAt: NOW + 3_600_000, mine: false, ...fields
  }
}

async function insert (db: Level<string, Json>, feeds: FeedStore, p: StoredPost): Promise<string> {
  const prepared = await feeds.prepareInsert(p, NOW)
  if (typeof prepared === 'string') return prepared
  await db.batch(prepared.ops as never)
  prepared.committed()
  return 'kept'
}

describe('post identity', () => {
  it('an impostor reusing the victim\'s message id neither replaces nor hides the victim\'s post', async () => {
    const { db } = await openDb()
    const feeds = await openFeedStore(db)
    const victim = post(VICTIM)
    // The impostor sorts first by author and is dated later, so it comes first newest-first.
    const impostor = post(IMPOSTOR, { sentAt: victim.sentAt + 1, text: 'not the victim', image: { mime: 'image/png', bytes: 'AAAA' } })
    expect(await insert(db, feeds, victim)).toBe('kept')
    expect(await insert(db, feeds, impostor)).toBe('kept')
    expect(victim.id).toHaveLength(96)
    expect(victim.id).not.toBe(impostor.id)

    const page = (await feeds.feed('world', { now: NOW })).posts
    expect(page.map((p) => [p.id, p.author])).toEqual([[impostor.id, IMPOSTOR], [victim.id, VICTIM]])
    expect(new Set(page.map((p) => p.id)).size).toBe(2) // a client keyed on the id shows both
    expect(await feeds.get(victim.id, NOW)).toMatchObject({ author: VICTIM, text: victim.text })
    expect((await feeds.get(victim.id, NOW))?.image).toBeUndefined()
    expect(await feeds.get(impostor.id, NOW)).toMatchObject({ author: IMPOSTOR })
    // The bare message id names no post.
    expect(await feeds.get(MESSAGE_ID, NOW)).toBeUndefined()
  })
})

function profile (author: string, expiresAt: number | undefined, bio = ''): StoredProfile {
  return {
    author, authorIdentity: author + author, displayName: author.slice(0, 4), bio, audience: 'world', updatedAt: NOW,
    ...(expiresAt === undefined ? {} : { expiresAt })
  }
}

async function putProfile (db: Level<string, Json>, feeds: FeedStore, p: StoredProfile): Promise<boolean> {
  const prepared = await feeds.prepareProfile(p)
  if (prepared === undefined) return false
  await db.batch(prepared.ops as never)
  prepared.committed()
  return true
}

describe('profiles of others', () => {
  it('keeps at most so many: the soonest to expire goes, a newcomer that would expire first is refused, ours is not counted', async () => {
    const { db, reopen } = await openDb()
    const feeds = await openFeedStore(db, { maxProfilesOfOthers: 2 })
    const [a, b, c, d, mine] = ['a', 'b', 'c', 'd', 'e'].map((x) => x.repeat(64)) as [string, string, string, string, string]
    expect(await putProfile(db, feeds, profile(mine, undefined))).toBe(true)
    expect(await putProfile(db, feeds, profile(a, NOW + 1_000))).toBe(true)
    expect(await putProfile(db, feeds, profile(b, NOW + 3_000))).toBe(true)
    expect(await putProfile(db, feeds, profile(c, NOW + 2_000))).toBe(true) // a goes
    expect((await feeds.profiles(NOW)).map((p) => p.author).sort()).toEqual([b, c, mine].sort())
    expect(await putProfile(db, feeds, profile(d, NOW + 500))).toBe(false) // would expire first
    // A newer profile of one held replaces it without counting twice.
    expect(await putProfile(db, feeds, { ...profile(c, NOW + 4_000), updatedAt: NOW + 1 })).toBe(true)
    expect((await feeds.profiles(NOW)).map((p) => p.author).sort()).toEqual([b, c, mine].sort())

    // The count is read back from disk at the next open.
    const again = await openFeedStore(await reopen(), { maxProfilesOfOthers: 2 })
    expect(await again.profile(b, NOW)).toBeDefined()
    const db2 = dbs.at(-1)!
    expect(await putProfile(db2, again, profile(d, NOW + 5_000))).toBe(true) // b, the soonest now, goes
    expect((await again.profiles(NOW)).map((p) => p.author).sort()).toEqual([c, d, mine].sort())
  })

  it('keeps at most so many bytes, and housekeeping frees what expired', async () => {
    const { db } = await openDb()
    const bio = 'x'.repeat(400) // about 1,200 + 512 bytes counted each
    const feeds = await openFeedStore(db, { maxProfileBytes: 4_000 })
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(64)) as [string, string, string]
    expect(await putProfile(db, feeds, profile(a, NOW + 1_000, bio))).toBe(true)
    expect(await putProfile(db, feeds, profile(b, NOW + 2_000, bio))).toBe(true)
    expect(await putProfile(db, feeds, profile(c, NOW + 3_000, bio))).toBe(true) // a goes
    expect((await feeds.profiles(NOW)).map((p) => p.author).sort()).toEqual([b, c])
    await feeds.housekeeping(NOW + 2_000) // b expired
    expect((await feeds.profiles(NOW + 2_000)).map((p) => p.author)).toEqual([c])
    // Room for one more without dropping c.
    expect(await putProfile(db, feeds, profile(a, NOW + 9_000, bio))).toBe(true)
    expect((await feeds.profiles(NOW + 2_000)).map((p) => p.author).sort()).toEqual([a, c])
  })
})

describe('housekeeping', () => {
  it('counts what it removed: a world post slot freed by expiry is free for the next insert', async () => {
    const { db } = await openDb()
    const feeds = await openFeedStore(db, { maxWorldPostsFromOthers: 2 })
    const author = (n: number): string => String(n).repeat(64)
    const short = post(author(1), { expiresAt: NOW + 60_000, sentAt: NOW - 3000 })
    const long = post(author(2), { sentAt: NOW - 2000 })
    expect(await insert(db, feeds, short)).toBe('kept')
    expect(await insert(db, feeds, long)).toBe('kept')
    const prepared = await feeds.prepareHousekeeping(NOW + 60_000)
    expect(prepared.removed).toBe(1)
    await db.batch(prepared.ops as never)
    prepared.committed()
    // One slot free: the next post is kept and `long` stays.
    const next = post(author(3), { sentAt: NOW - 1000 })
    expect(await insert(db, feeds, next)).toBe('kept')
    expect((await feeds.feed('world', { now: NOW })).posts.map((p) => p.id)).toEqual([next.id, long.id])
  })
})

describe('the node\'s housekeeping', () => {
  it('runs in delivery\'s turn (a queued step), so no insert interleaves with it', async () => {
    const { db } = await openDb()
    const now = Date.now()
    const feeds = await openFeedStore(db)
    const expired = post(VICTIM, { expiresAt: now - 1, sentAt: now - 60_000 })
    const prepared = await feeds.prepareInsert(expired, now - 60_000)
    if (typeof prepared === 'string') throw new Error(prepared)
    await db.batch(prepared.ops as never)

    const social = createNodeSocial({ crypto: nativeCrypto(), logger: silentLogger(), networkName: 'test', events: new EventTarget(), worldFeed: false })
    await social.open({
      identity: createIdentity(nativeCrypto()), db, ownCertificate: async () => undefined, contactName: () => undefined,
      addContact: async () => { throw new Error('not here') }, contactIds: () => []
    })
    let turns = 0
    social.attach({
      async queue (build: () => Promise<{ ops?: unknown[] }>, committed?: () => void) {
        turns++
        const planned = await build()
        await db.batch((planned.ops ?? []) as never)
        committed?.()
        return []
      }
    } as unknown as Delivery)
    await social.housekeeping(now)
    expect(turns).toBe(1)
    expect(await feeds.has(expired.id)).toBe(false)
  })
})

function part (index: number, count: number, receivedAt: number): StoredPart {
  return { index, count, kind: 0x20, body: 'AA==', receivedAt }
}

describe('parts of incomplete payloads', () => {
  it('keeps so many incomplete payloads per sender and so many parts in all, dropping the oldest payload first', async () => {
    const { db, reopen } = await openDb()
    const limits = { maxPayloadsPerSender: 2, maxParts: 5 }
    let state = localState(db, limits)
    const A = 'a'.repeat(64)
    const B = 'b'.repeat(64)
    const C = 'c'.repeat(64)
    await state.commit({ part: { from: A, id: 'a1', part: part(0, 3, 1) } })
    await state.commit({ part: { from: A, id: 'a2', part: part(0, 3, 2) } })
    await state.commit({ part: { from: A, id: 'a1', part: part(1, 3, 3) } }) // a part of a payload held: nothing goes
    expect(await state.partsHeld()).toEqual({ payloads: 2, parts: 3 })
    await state.commit({ part: { from: A, id: 'a3', part: part(0, 3, 4) } }) // a third of A's: A's oldest (a1) goes
    expect(await state.parts(A, 'a1')).toEqual([])
    expect((await state.parts(A, 'a2')).length).toBe(1)
    expect(await state.partsHeld()).toEqual({ payloads: 2, parts: 2 })

    await state.commit({ part: { from: B, id: 'b1', part: part(0, 9, 5) } })
    await state.commit({ part: { from: B, id: 'b1', part: part(1, 9, 6) } })
    await state.commit({ part: { from: B, id: 'b1', part: part(2, 9, 7) } })
    expect(await state.partsHeld()).toEqual({ payloads: 3, parts: 5 })
    // A sixth part in all: the oldest payload of anyone (a2) goes.
    await state.commit({ part: { from: C, id: 'c1', part: part(0, 2, 8) } })
    expect(await state.parts(A, 'a2')).toEqual([])
    expect(await state.partsHeld()).toEqual({ payloads: 3, parts: 5 })

    // The index is rebuilt from disk at the next open, and a completed payload frees its parts.
    state = localState(await reopen(), limits)
    expect(await state.partsHeld()).toEqual({ payloads: 3, parts: 5 })
    await state.commit({ removeParts: { from: B, id: 'b1', count: 9 } })
    expect(await state.partsHeld()).toEqual({ payloads: 2, parts: 2 })
    expect(await state.parts(B, 'b1')).toEqual([])
  })
})

describe('known senders', () => {
  it('are seeded once, at the first open, with the contacts held then; later contacts become known only when added', async () => {
    const { db, reopen } = await openDb()
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(64)) as [string, string, string]
    const first = await openKnownSenders(db, () => [a, b])
    expect([first.has(a), first.has(b), first.has(c)]).toEqual([true, true, false])
    expect(await first.remove(b)).toBe(true)
    await first.add(c)
    // Not seeded again: b stays removed, and a contact the keyring gained meanwhile is not known by that alone.
    const again = await openKnownSenders(await reopen(), () => [a, b, 'd'.repeat(64)])
    expect([again.has(a), again.has(b), again.has(c), again.has('d'.repeat(64))]).toEqual([true, false, true, false])
  })
})
