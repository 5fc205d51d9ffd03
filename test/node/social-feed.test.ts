/**
 * Feeds: the feed store over a real LevelDB (order, paging, expiry at read
 * and in housekeeping, the bounds of SPEC §14, profiles newest-wins), and a
 * real node's `social` API: paging its own posts, and post and profile input
 * errors, each a clear typed error that changes nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openLocalDb } from '../../node/local-state.js'
import { openFeedStore, postIdOf, type FeedStore, type StoredPost, type StoredProfile } from '../../node/social/feed-store.js'
import { cleanup, startNode } from './cluster.js'

const dirs: string[] = []
const closers: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const close of closers.splice(0)) await close()
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  await cleanup()
})

let commitOps: (ops: unknown[]) => Promise<void> = async () => {}

async function openStore (limits: Parameters<typeof openFeedStore>[1] = {}): Promise<{ feeds: FeedStore, reopen(): Promise<FeedStore> }> {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-feeds-'))
  dirs.push(dir)
  let db = await openLocalDb(join(dir, 'db'))
  closers.push(async () => { await db.close() })
  commitOps = async (ops) => { await db.batch(ops as never) }
  const feeds = await openFeedStore(db, limits)
  return {
    feeds,
    async reopen () {
      await db.close()
      db = await openLocalDb(join(dir, 'db'))
      commitOps = async (ops) => { await db.batch(ops as never) }
      return await openFeedStore(db, limits)
    }
  }
}

const NOW = Date.UTC(2026, 10, 22, 12)
let serial = 0

function post (fields: Partial<StoredPost> = {}): StoredPost {
  serial++
  const author = fields.author ?? 'a'.repeat(64)
  return {
    id: postIdOf(serial.toString(16).padStart(32, '0'), author), author, authorIdentity: 'b'.repeat(128), audience: 'world', text: `post ${serial}`,
    sentAt: NOW - 1000 + serial, receivedAt: NOW, expiresAt: NOW + 3_600_000, mine: false, ...fields
  }
}

async function insert (feeds: FeedStore, p: StoredPost, now = NOW): Promise<string> {
  const prepared = await feeds.prepareInsert(p, now)
  if (typeof prepared === 'string') return prepared
  // The node commits these in the batch of the step that opened the post; here, alone.
  await commitOps(prepared.ops)
  prepared.committed()
  return 'kept'
}

describe('the feed store', () => {
  it('lists newest first, pages with a cursor, and keeps each post in its feeds', async () => {
    const { feeds, reopen } = await openStore()
    const world = [post(), post(), post()]
    const circle = post({ audience: 'circle' })
    const mine = post({ mine: true, author: 'c'.repeat(64) })
    for (const p of [...world, circle, mine]) expect(await insert(feeds, p)).toBe('kept')
    expect(await insert(feeds, world[0]!)).toBe('duplicate')

    const first = await feeds.feed('world', { limit: 2, now: NOW })
    expect(first.posts.map((p) => p.id)).toEqual([mine.id, world[2]!.id])
    const second = await feeds.feed('world', { limit: 2, before: first.next!, now: NOW })
    expect(second.posts.map((p) => p.id)).toEqual([world[1]!.id, world[0]!.id])
    expect(second.next).toBeUndefined()
    // Home: circle posts of others and our own posts.
    expect((await feeds.feed('home', { now: NOW })).posts.map((p) => p.id)).toEqual([mine.id, circle.id])

    await expect(feeds.feed('world', { limit: 0 })).rejects.toThrow(RangeError)
    await expect(feeds.feed('world', { limit: 101 })).rejects.toThrow(RangeError)
    await expect(feeds.feed('home', { before: first.next! })).rejects.toThrow(/earlier page of the home feed/)
    await expect(feeds.feed('world', { before: 'nonsense' })).rejects.toThrow(RangeError)

    // Kept on disk.
    const again = await reopen()
    expect((await again.feed('world', { now: NOW })).posts.map((p) => p.id)).toEqual([mine.id, ...world.map((p) => p.id).reverse()])
  })

  it('never lists an expired post, and housekeeping deletes it', async () => {
    const { feeds } = await openStore()
    const short = post({ expiresAt: NOW + 60_000 })
    const long = post()
    await insert(feeds, short)
    await insert(feeds, long)
    expect(await insert(feeds, post({ expiresAt: NOW }))).toBe('expired')
    expect((await feeds.feed('world', { now: NOW })).posts).toHaveLength(2)
    const later = NOW + 60_000
    expect((await feeds.feed('world', { now: later })).posts.map((p) => p.id)).toEqual([long.id])
    expect(await feeds.get(short.id, later)).toBeUndefined()
    expect(await feeds.get(short.id, NOW)).toBeDefined()
    expect(await feeds.housekeeping(later)).toBe(1)
    expect(await feeds.has(short.id)).toBe(false)
    expect(await feeds.has(long.id)).toBe(true)
  })

  it('keeps at most so many posts per author per day, and drops the oldest world posts past the bound', async () => {
    const { feeds } = await openStore({ maxPostsPerAuthorPerDay: 3, maxWorldPostsFromOthers: 5 })
    const flooder = 'f'.repeat(64)
    const flood = Array.from({ length: 5 }, () => post({ author: flooder }))
    const kept = []
    for (const p of flood) kept.push(await insert(feeds, p))
    expect(kept).toEqual(['kept', 'kept', 'kept', 'flood', 'flood'])
    // Our own posts are never bounded.
    for (let i = 0; i < 5; i++) expect(await insert(feeds, post({ author: flooder, mine: true }))).toBe('kept')

    const others = Array.from({ length: 4 }, (_, i) => post({ author: String(i).repeat(64) }))
    for (const p of others) expect(await insert(feeds, p)).toBe('kept')
    // 3 + 4 = 7 world posts of others were offered past a bound of 5: the two oldest went.
    const listed = (await feeds.feed('world', { limit: 100, now: NOW })).posts.filter((p) => !p.mine)
    expect(listed).toHaveLength(5)
    expect(listed.map((p) => p.id)).toEqual([...others.map((p) => p.id).reverse(), flood[2]!.id])
    // Older than everything held: refused, not kept.
    expect(await insert(feeds, post({ author: 'e'.repeat(64), sentAt: 1 }))).toBe('full')
  })

  it('drops the oldest world posts past the byte bound too', async () => {
    const { feeds, reopen } = await openStore({ maxWorldFeedBytes: 3 * (100_000 + 1024) })
    const image = { mime: 'image/png', bytes: 'A'.repeat(100_000) }
    const big = Array.from({ length: 4 }, (_, i) => post({ author: String(i).repeat(64), image }))
    for (const p of big) expect(await insert(feeds, p)).toBe('kept')
    // The fourth image pushed the first one out.
    expect((await feeds.feed('world', { now: NOW })).posts.map((p) => p.id)).toEqual(big.slice(1).map((p) => p.id).reverse())
    // A post larger than the whole bound is never kept, and drops nothing.
    expect(await insert(feeds, post({ image: { mime: 'image/png', bytes: 'A'.repeat(400_000) } }))).toBe('full')
    expect((await feeds.feed('world', { now: NOW })).posts).toHaveLength(3)
    // The bytes held are measured again when the store opens.
    const again = await reopen()
    expect(await insert(again, post({ author: '9'.repeat(64), image }))).toBe('kept')
    expect((await again.feed('world', { now: NOW })).posts).toHaveLength(3)
  })

  it('keeps the newest profile per author', async () => {
    const { feeds } = await openStore()
    const profile = (updatedAt: number, bio: string): StoredProfile => ({
      author: 'a'.repeat(64), authorIdentity: 'b'.repeat(128), displayName: 'A', bio, audience: 'world', updatedAt, expiresAt: NOW + 3_600_000
    })
    const write = async (p: StoredProfile): Promise<boolean | undefined> => {
      const prepared = await feeds.prepareProfile(p)
      if (prepared === undefined) return undefined
      await commitOps(prepared.ops)
      return prepared.replaced
    }
    expect(await write(profile(NOW - 10, 'first'))).toBe(true)
    expect(await write(profile(NOW, 'second'))).toBe(true)
    expect(await write(profile(NOW - 5, 'stale'))).toBeUndefined()
    expect((await feeds.profile('a'.repeat(64), NOW))?.bio).toBe('second')
    expect(await feeds.profiles(NOW)).toHaveLength(1)
    // Gone once its envelope expired.
    expect(await feeds.profile('a'.repeat(64), NOW + 3_600_000)).toBeUndefined()
  })
})

describe('a node\'s social API', () => {
  it('pages its own posts newest first', async () => {
    const { node } = await startNode()
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await node.social.post({ text: `note ${i}`, audience: 'circle', ttlMinutes: 10 })).id)
    const pages: string[][] = []
    let before: string | undefined
    do {
      const page = await node.social.feed('home', { limit: 2, ...(before === undefined ? {} : { before }) })
      pages.push(page.posts.map((p) => p.id))
      before = page.next
    } while (before !== undefined)
    expect(pages).toEqual([[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]])
    expect((await node.social.getPost(ids[2]!))?.text).toBe('note 2')
    expect(await node.social.getPost('00'.repeat(16))).toBeUndefined()
    // Circle posts are not world posts.
    expect((await node.social.feed('world')).posts).toEqual([])
  })

  it('refuses bad posts and profiles with clear typed errors, and changes nothing', async () => {
    const { node } = await startNode()
    const bad: Array<[Parameters<typeof node.social.post>[0], string, RegExp]> = [
      [{ text: 'x'.repeat(1001), audience: 'circle' }, 'RangeError', /"text" is at most 1000 characters, got 1001/],
      [{ image: { mime: 'image/png', bytes: new Uint8Array(262_145) }, audience: 'circle' }, 'RangeError', /"image" is at most 262144 bytes/],
      [{ image: { mime: 'image/bmp', bytes: new Uint8Array(10) }, audience: 'circle' }, 'TypeError', /"image.mime" expected one of image\/jpeg/],
      [{ text: 'hi', audience: 'circle', days: 0 }, 'RangeError', /"days" expected a whole number from 1 to 7, got 0/],
      [{ text: 'hi', audience: 'circle', days: 8 }, 'RangeError', /"days" expected a whole number from 1 to 7, got 8/],
      [{ text: 'hi', audience: 'circle', ttlMinutes: 0 }, 'RangeError', /"ttlMinutes"/],
      [{ audience: 'circle' }, 'RangeError', /needs text or an image/],
      [{ text: 'hi', audience: 'everyone' as never }, 'TypeError', /"audience"/],
      // No Operator, so no world feed at all.
      [{ text: 'hi' }, 'NoWorldFeedError', /configure an Operator/]
    ]
    for (const [input, name, message] of bad) {
      const error = await node.social.post(input).catch((e: unknown) => e)
      expect(error, JSON.stringify(input).slice(0, 80)).toMatchObject({ name, message: expect.stringMatching(message) as unknown })
    }
    await expect(node.social.setProfile({ displayName: 'x'.repeat(65), audience: 'circle' })).rejects.toThrow(/"displayName" is at most 64 characters/)
    await expect(node.social.setProfile({ displayName: 'A', bio: 'x'.repeat(501), audience: 'circle' })).rejects.toThrow(/"bio" is at most 500 characters/)
    await expect(node.social.setProfile({ displayName: 'A', avatar: { mime: 'image/png', bytes: new Uint8Array(32_769) }, audience: 'circle' }))
      .rejects.toThrow(/"avatar" is at most 32768 bytes/)
    expect(await node.social.profile()).toBeUndefined()
    await expect(node.social.feed('world', { limit: 1000 })).rejects.toThrow(RangeError)
    await expect(node.social.circle.add(node.publicIdentity)).rejects.toMatchObject({ name: 'NotACircleMemberError' })
    expect(await node.social.circle.list()).toEqual([])
    expect(node.status().workPending).toBe(0)
    expect((await node.social.feed('home')).posts).toEqual([])
    expect(node.contacts.list()).toEqual([])

    // 1,000 characters outside the BMP are 1,000 characters (4,000 bytes), not 2,000.
    expect((await node.social.post({ text: '😀'.repeat(1000), audience: 'circle', ttlMinutes: 10 })).text).toHaveLength(2000)
    expect((await node.social.feed('home')).posts).toHaveLength(1)
  })

  it('throws NodeNotRunningError while stopped', async () => {
    const { node } = await startNode()
    await node.stop()
    await expect(node.social.feed('home')).rejects.toMatchObject({ name: 'NodeNotRunningError' })
    await expect(node.social.post({ text: 'x', audience: 'circle' })).rejects.toMatchObject({ name: 'NodeNotRunningError' })
  })
})
