/**
 * The feeds and profiles a node keeps, in sublevels of its local database
 * (SPEC §14):
 *
 * - `social-posts`: `<post id>` → the post. A post id is the message id and
 *   the author id (see {@link postIdOf}): message ids are the author's choice,
 *   so another author's post with the same message id is another post;
 * - `social-feed`: `<feed>!<sentAt>!<post id>` → {}; read backwards, newest
 *   first, ties by id; a page's cursor is the last key it returned;
 * - `social-expiry`: `<expiresAt>!<post id>` → {}, for housekeeping;
 * - `social-world-others`: `<sentAt>!<post id>` → { bytes }, world posts
 *   of others, the oldest dropped past MAX_WORLD_POSTS_FROM_OTHERS posts or
 *   MAX_WORLD_FEED_BYTES;
 * - `social-daily`: `<author>!<day>` → { count }, posts kept per author per day;
 * - `social-profiles`: `<author>` → the newest profile (ours included);
 * - `social-profile-expiry`: `<expiresAt>!<author>` → { bytes }, profiles of
 *   others, the soonest-expiring dropped past MAX_PROFILES_OF_OTHERS or
 *   MAX_PROFILE_BYTES.
 *
 * Inserting returns the writes instead of making them: they go into the same
 * batch as the chain state that opened the post (local-state.ts), so a crash
 * never leaves a consumed key without its post.
 */
import type { Level } from 'level'
import { decodeGeohash, geohashErrorKm, isGeohash, MAX_POST_GEOHASH } from '../../protocol/index.js'
import {
  DEFAULT_FEED_PAGE, MAX_FEED_PAGE, MAX_POSTS_PER_AUTHOR_PER_DAY, MAX_PROFILE_BYTES, MAX_PROFILES_OF_OTHERS, MAX_WORLD_FEED_BYTES,
  MAX_WORLD_POSTS_FROM_OTHERS
} from '../node-constants.js'
import { jsonSublevel, type Json, type LocalOp } from '../local-state.js'
import type { Audience, FeedName, FeedPage, Post, PostImage, PostLocation, Profile } from './types.js'

/**
 * The id of the post `authorId` sent with message id `messageIdHex`: the 32
 * hex characters of the message id, then the 64 of the author id (96 in
 * all). Clients treat it as opaque.
 */
export function postIdOf (messageIdHex: string, authorId: string): string {
  return `${messageIdHex}${authorId}`
}

/** A post as stored: the image as base64, the place as its geohash (posts stored before places existed have none). */
export interface StoredPost {
  /** The post id ({@link postIdOf}). */
  readonly id: string
  readonly author: string
  readonly authorIdentity: string
  readonly authorName?: string
  readonly audience: Audience
  readonly text: string
  readonly image?: { readonly mime: string, readonly bytes: string }
  readonly sentAt: number
  readonly receivedAt: number
  readonly expiresAt: number
  readonly mine: boolean
  /** Geohash of 1 to 6 characters (SPEC §14.6). */
  readonly location?: string
}

/** A profile as stored: the avatar as base64. */
export interface StoredProfile {
  readonly author: string
  readonly authorIdentity: string
  readonly authorName?: string
  readonly displayName: string
  readonly bio: string
  readonly avatar?: { readonly mime: string, readonly bytes: string }
  readonly audience: Audience
  readonly updatedAt: number
  /** When the envelope that brought it expires (others' profiles); our own has none. */
  readonly expiresAt?: number
}

/** Why an insert kept nothing. */
export type InsertRefusal = 'duplicate' | 'expired' | 'flood' | 'full'

/** The writes of one step, to commit in the caller's batch, and what to do once they are committed. */
export interface PreparedInsert {
  readonly ops: LocalOp[]
  /** Call after the batch is committed (counters kept in memory). */
  committed(): void
}

/** The feed store; see the file comment. */
export interface FeedStore {
  /** The writes that add `post` to its feeds, or why it is not kept. */
  prepareInsert(post: StoredPost, now?: number): Promise<PreparedInsert | InsertRefusal>
  /** A page of a feed, newest first; expired posts are skipped. Throws RangeError for a bad `limit` or `before`. */
  feed(name: FeedName, options?: { before?: string, limit?: number, now?: number }): Promise<FeedPage>
  /** A live post by post id ({@link postIdOf}). */
  get(id: string, now?: number): Promise<Post | undefined>
  /** True when the post with this post id is held (live or not yet deleted). */
  has(id: string): Promise<boolean>
  /**
   * The writes that make `profile` the author's profile (`replaced` is
   * always true: it is newer than the one held), or undefined when the one
   * held is as new or newer, or when the bounds on others' profiles are
   * reached and this one would expire soonest. A republished profile is a
   * newer one (node-social.ts stamps it anew), so it replaces.
   */
  prepareProfile(profile: StoredProfile): Promise<(PreparedInsert & { replaced: true }) | undefined>
  profile(author: string, now?: number): Promise<Profile | undefined>
  profiles(now?: number): Promise<Profile[]>
  /** The stored form of a profile (to republish our own). */
  ownProfile(author: string): Promise<StoredProfile | undefined>
  /**
   * The writes that delete expired posts and profiles and old day counters,
   * `removed` the posts among them; `committed` adjusts the counts the
   * bounds use by what the writes removed. Run it in delivery's turn
   * (node-social.ts): an insert prepared meanwhile could evict the same post.
   */
  prepareHousekeeping(now?: number): Promise<PreparedInsert & { removed: number }>
  /** {@link prepareHousekeeping} and its commit, alone (tests, tools); returns how many posts went. */
  housekeeping(now?: number): Promise<number>
}

const DAY_MS = 86_400_000
/** Day counters are kept past the longest lifetime (7 days) plus a day of clock skew. */
const DAILY_COUNTER_DAYS = 9
const NUMBER_WIDTH = 16

/** Roughly what a post takes on disk: its text and image (base64) plus the fields around them. */
const sizeOf = (post: StoredPost): number => post.text.length * 3 + (post.image?.bytes.length ?? 0) + (post.location?.length ?? 0) + 512
/** Likewise for a profile. */
const profileSizeOf = (profile: StoredProfile): number => (profile.displayName.length + profile.bio.length) * 3 + (profile.avatar?.bytes.length ?? 0) + 512

const pad = (n: number): string => String(Math.max(0, Math.floor(n))).padStart(NUMBER_WIDTH, '0')
const profileExpiryKey = (expiresAt: number, author: string): string => `${pad(expiresAt)}!${author}`

/** A post id: 32 hex characters of message id, 64 of author id. */
const POST_ID_PATTERN = /^[0-9a-f]{96}$/

function feedsOf (post: StoredPost): FeedName[] {
  if (post.audience === 'world') return post.mine ? ['world', 'home'] : ['world']
  return ['home']
}

function imageOf (stored: { mime: string, bytes: string } | undefined): PostImage | undefined {
  return stored === undefined ? undefined : { mime: stored.mime, bytes: new Uint8Array(Buffer.from(stored.bytes, 'base64')) }
}

/** The stored form of an image. */
export function storedImage (image: PostImage | undefined): { mime: string, bytes: string } | undefined {
  return image === undefined ? undefined : { mime: image.mime, bytes: Buffer.from(image.bytes).toString('base64') }
}

/** A geohash as the API shows it: the cell's centre and size; undefined for none (or a stored value that is not one). */
export function postLocationOf (geohash: string | undefined): PostLocation | undefined {
  if (!isGeohash(geohash, MAX_POST_GEOHASH)) return undefined
  const cell = decodeGeohash(geohash)
  const { latErrKm, lonErrKm } = geohashErrorKm(geohash)
  return { geohash, lat: cell.lat, lon: cell.lon, errKm: Math.max(latErrKm, lonErrKm) }
}

/** A stored post as the API shows it. */
export function postOf (stored: StoredPost): Post {
  const image = imageOf(stored.image)
  const location = postLocationOf(stored.location)
  return {
    id: stored.id, author: stored.author, authorIdentity: stored.authorIdentity,
    ...(stored.authorName === undefined ? {} : { authorName: stored.authorName }),
    audience: stored.audience, text: stored.text, ...(image === undefined ? {} : { image }),
    sentAt: stored.sentAt, receivedAt: stored.receivedAt, expiresAt: stored.expiresAt, mine: stored.mine,
    ...(location === undefined ? {} : { location })
  }
}

/** A stored profile as the API shows it. */
export function profileOf (stored: StoredProfile): Profile {
  const avatar = imageOf(stored.avatar)
  return {
    author: stored.author, authorIdentity: stored.authorIdentity,
    ...(stored.authorName === undefined ? {} : { authorName: stored.authorName }),
    displayName: stored.displayName, bio: stored.bio, ...(avatar === undefined ? {} : { avatar }),
    audience: stored.audience, updatedAt: stored.updatedAt
  }
}

function checkLimit (limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_FEED_PAGE
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FEED_PAGE) {
    throw new RangeError(`"limit" expected a whole number from 1 to ${MAX_FEED_PAGE}, got ${String(limit)}`)
  }
  return limit
}

function decodeCursor (name: FeedName, before: string | undefined): string | undefined {
  if (before === undefined) return undefined
  const key = typeof before === 'string' ? Buffer.from(before, 'base64url').toString('utf8') : ''
  if (!key.startsWith(`${name}!`) || key.split('!').length !== 3) {
    throw new RangeError(`"before" expected the \`next\` of an earlier page of the ${name} feed`)
  }
  return key
}

/** Bounds of a feed store (tests lower them). */
export interface FeedStoreLimits {
  /** @default MAX_WORLD_POSTS_FROM_OTHERS */
  maxWorldPostsFromOthers?: number
  /** @default MAX_WORLD_FEED_BYTES */
  maxWorldFeedBytes?: number
  /** @default MAX_POSTS_PER_AUTHOR_PER_DAY */
  maxPostsPerAuthorPerDay?: number
  /** @default MAX_PROFILES_OF_OTHERS */
  maxProfilesOfOthers?: number
  /** @default MAX_PROFILE_BYTES */
  maxProfileBytes?: number
}

/** Opens the feed store over the node's local database. */
export async function openFeedStore (db: Level<string, Json>, limits: FeedStoreLimits = {}): Promise<FeedStore> {
  const maxWorldOthers = limits.maxWorldPostsFromOthers ?? MAX_WORLD_POSTS_FROM_OTHERS
  const maxPerDay = limits.maxPostsPerAuthorPerDay ?? MAX_POSTS_PER_AUTHOR_PER_DAY
  const maxWorldBytes = limits.maxWorldFeedBytes ?? MAX_WORLD_FEED_BYTES
  const maxProfiles = limits.maxProfilesOfOthers ?? MAX_PROFILES_OF_OTHERS
  const maxProfileBytes = limits.maxProfileBytes ?? MAX_PROFILE_BYTES
  const posts = jsonSublevel(db, 'social-posts')
  const feeds = jsonSublevel(db, 'social-feed')
  const expiry = jsonSublevel(db, 'social-expiry')
  const worldOthers = jsonSublevel(db, 'social-world-others')
  const daily = jsonSublevel(db, 'social-daily')
  const profiles = jsonSublevel(db, 'social-profiles')
  const profileExpiry = jsonSublevel(db, 'social-profile-expiry')

  /** Counts the entries of an index and their bytes (each entry holds its record's size). */
  async function measure (index: typeof worldOthers): Promise<{ count: number, bytes: number }> {
    let count = 0
    let bytes = 0
    for await (const value of index.values()) {
      count++
      bytes += (value as { bytes?: number }).bytes ?? 0
    }
    return { count, bytes }
  }
  let worldOthersHeld = await measure(worldOthers)
  let profilesHeld = await measure(profileExpiry)

  function removalOps (post: StoredPost): LocalOp[] {
    const ops: LocalOp[] = [
      { type: 'del', sublevel: posts, key: post.id },
      { type: 'del', sublevel: expiry, key: `${pad(post.expiresAt)}!${post.id}` }
    ]
    for (const feed of feedsOf(post)) ops.push({ type: 'del', sublevel: feeds, key: `${feed}!${pad(post.sentAt)}!${post.id}` })
    if (post.audience === 'world' && !post.mine) ops.push({ type: 'del', sublevel: worldOthers, key: `${pad(post.sentAt)}!${post.id}` })
    return ops
  }

  async function stored (key: string): Promise<StoredPost | undefined> {
    return (await posts.get(key)) as unknown as StoredPost | undefined
  }

  const store: FeedStore = {
    async prepareInsert (post, now = Date.now()) {
      if (post.expiresAt <= now) return 'expired'
      const key = post.id
      if (await posts.get(key) !== undefined) return 'duplicate'
      const ops: LocalOp[] = [
        { type: 'put', sublevel: posts, key, value: post as unknown as Json },
        { type: 'put', sublevel: expiry, key: `${pad(post.expiresAt)}!${post.id}`, value: {} }
      ]
      for (const feed of feedsOf(post)) ops.push({ type: 'put', sublevel: feeds, key: `${feed}!${pad(post.sentAt)}!${post.id}`, value: {} })
      let count = 0
      let bytes = 0
      if (!post.mine) {
        const dayKey = `${post.author}!${Math.floor(post.sentAt / DAY_MS)}`
        const today = ((await daily.get(dayKey)) as { count?: number } | undefined)?.count ?? 0
        if (today >= maxPerDay) return 'flood'
        ops.push({ type: 'put', sublevel: daily, key: dayKey, value: { count: today + 1 } })
        if (post.audience === 'world') {
          const othersKey = `${pad(post.sentAt)}!${post.id}`
          const size = sizeOf(post)
          ops.push({ type: 'put', sublevel: worldOthers, key: othersKey, value: { bytes: size } })
          count = 1
          bytes = size
          // Past a bound, the oldest go, unless the newcomer is older still.
          for await (const [oldestKey, value] of worldOthers.iterator()) {
            if (worldOthersHeld.count + count <= maxWorldOthers && worldOthersHeld.bytes + bytes <= maxWorldBytes) break
            if (oldestKey > othersKey) return 'full'
            const victim = await stored(oldestKey.slice(oldestKey.indexOf('!') + 1))
            ops.push(...(victim === undefined ? [{ type: 'del' as const, sublevel: worldOthers, key: oldestKey }] : removalOps(victim)))
            count--
            bytes -= (value as { bytes?: number }).bytes ?? 0
          }
          if (worldOthersHeld.count + count > maxWorldOthers || worldOthersHeld.bytes + bytes > maxWorldBytes) return 'full'
        }
      }
      return { ops, committed: () => { worldOthersHeld = { count: worldOthersHeld.count + count, bytes: worldOthersHeld.bytes + bytes } } }
    },

    async feed (name, options = {}) {
      if (name !== 'world' && name !== 'home') throw new RangeError(`"feed" expected 'world' or 'home', got ${JSON.stringify(name)}`)
      const limit = checkLimit(options.limit)
      const cursor = decodeCursor(name, options.before)
      const now = options.now ?? Date.now()
      const page: Post[] = []
      let last: string | undefined
      let more = false
      for await (const key of feeds.keys({ gt: `${name}!`, lt: cursor ?? `${name}!~`, reverse: true })) {
        if (page.length === limit) { more = true; break }
        const post = await stored(key.slice(key.lastIndexOf('!') + 1))
        if (post === undefined || post.expiresAt <= now) continue
        page.push(postOf(post))
        last = key
      }
      return more && last !== undefined ? { posts: page, next: Buffer.from(last, 'utf8').toString('base64url') } : { posts: page }
    },

    async get (id, now = Date.now()) {
      // The whole post id, author included: another author's post with the same message id is another post.
      if (typeof id !== 'string' || !POST_ID_PATTERN.test(id)) return undefined
      const post = await stored(id)
      return post !== undefined && post.expiresAt > now ? postOf(post) : undefined
    },

    async has (id) {
      return (await posts.get(id)) !== undefined
    },

    async prepareProfile (profile) {
      const held = (await profiles.get(profile.author)) as unknown as StoredProfile | undefined
      if (held !== undefined && held.updatedAt >= profile.updatedAt) return undefined
      const ops: LocalOp[] = [{ type: 'put', sublevel: profiles, key: profile.author, value: profile as unknown as Json }]
      let count = 0
      let bytes = 0
      const heldKey = held?.expiresAt === undefined ? undefined : profileExpiryKey(held.expiresAt, held.author)
      if (heldKey !== undefined) {
        ops.push({ type: 'del', sublevel: profileExpiry, key: heldKey })
        count--
        bytes -= profileSizeOf(held!)
      }
      // Others' profiles are bounded (our own has no expiry and is not counted): the soonest to expire go first.
      if (profile.expiresAt !== undefined) {
        const key = profileExpiryKey(profile.expiresAt, profile.author)
        const size = profileSizeOf(profile)
        ops.push({ type: 'put', sublevel: profileExpiry, key, value: { bytes: size } })
        count++
        bytes += size
        for await (const [soonestKey, value] of profileExpiry.iterator()) {
          if (profilesHeld.count + count <= maxProfiles && profilesHeld.bytes + bytes <= maxProfileBytes) break
          if (soonestKey === heldKey) continue
          if (soonestKey > key) return undefined // the newcomer would expire first: it is the one not kept
          ops.push({ type: 'del', sublevel: profiles, key: soonestKey.slice(soonestKey.indexOf('!') + 1) }, { type: 'del', sublevel: profileExpiry, key: soonestKey })
          count--
          bytes -= (value as { bytes?: number }).bytes ?? 0
        }
        if (profilesHeld.count + count > maxProfiles || profilesHeld.bytes + bytes > maxProfileBytes) return undefined
      }
      return { ops, replaced: true, committed: () => { profilesHeld = { count: profilesHeld.count + count, bytes: profilesHeld.bytes + bytes } } }
    },

    async profile (author, now = Date.now()) {
      const held = (await profiles.get(author)) as unknown as StoredProfile | undefined
      return held === undefined || (held.expiresAt ?? Infinity) <= now ? undefined : profileOf(held)
    },

    async profiles (now = Date.now()) {
      return ((await profiles.values().all()) as unknown as StoredProfile[]).filter((p) => (p.expiresAt ?? Infinity) > now).map(profileOf)
    },

    async ownProfile (author) {
      return (await profiles.get(author)) as unknown as StoredProfile | undefined
    },

    async prepareHousekeeping (now = Date.now()) {
      const ops: LocalOp[] = []
      let removed = 0
      let worldCount = 0
      let worldBytes = 0
      for await (const key of expiry.keys({ lt: `${pad(now + 1)}!` })) {
        const post = await stored(key.slice(key.indexOf('!') + 1))
        if (post === undefined) { ops.push({ type: 'del', sublevel: expiry, key }); continue }
        ops.push(...removalOps(post))
        removed++
        if (post.audience === 'world' && !post.mine) { worldCount++; worldBytes += sizeOf(post) }
      }
      let profileCount = 0
      let profileBytes = 0
      for await (const [key, value] of profileExpiry.iterator({ lt: `${pad(now + 1)}!` })) {
        const author = key.slice(key.indexOf('!') + 1)
        ops.push({ type: 'del', sublevel: profileExpiry, key })
        const held = (await profiles.get(author)) as unknown as StoredProfile | undefined
        if (held?.expiresAt !== undefined && held.expiresAt <= now) ops.push({ type: 'del', sublevel: profiles, key: author })
        profileCount++
        profileBytes += (value as { bytes?: number }).bytes ?? 0
      }
      const oldestDay = Math.floor(now / DAY_MS) - DAILY_COUNTER_DAYS
      for await (const key of daily.keys()) {
        if (Number(key.slice(key.lastIndexOf('!') + 1)) < oldestDay) ops.push({ type: 'del', sublevel: daily, key })
      }
      return {
        ops,
        removed,
        committed: () => {
          // Derived from the writes, not measured again: an insert committed meanwhile keeps its count.
          worldOthersHeld = { count: worldOthersHeld.count - worldCount, bytes: worldOthersHeld.bytes - worldBytes }
          profilesHeld = { count: profilesHeld.count - profileCount, bytes: profilesHeld.bytes - profileBytes }
        }
      }
    },

    async housekeeping (now = Date.now()) {
      const prepared = await store.prepareHousekeeping(now)
      if (prepared.ops.length > 0) await db.batch(prepared.ops as never)
      prepared.committed()
      return prepared.removed
    }
  }
  return store
}
