/**
 * The incoming side of the social layer (node/social/incoming.ts) against a
 * real feed store: a post or profile whose author timestamp lies further
 * before its expiry than the longest lifetime (plus clock skew) allows is
 * refused, like one from the future (SPEC §14.7); that is what makes the
 * per-day bound count. Posts come out under their (message id, author) id.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Level } from 'level'
import {
  createIdentity, encodePost, encodeProfile, identityId, KIND_POST, KIND_PROFILE, MAX_TTL_MINUTES, MINUTE_MS, nativeCrypto, publicIdentityOf,
  type CircleScreenResult
} from '../../protocol/index.js'
import { openLocalDb, type Json, type StateChange } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import { POST_CLOCK_SKEW_MS } from '../../node/node-constants.js'
import { openFeedStore, postIdOf, type FeedStore } from '../../node/social/feed-store.js'
import { createIncoming, timestampRefusal } from '../../node/social/incoming.js'

const crypto = nativeCrypto()
const author = createIdentity(crypto)
const dirs: string[] = []
const dbs: Array<Level<string, Json>> = []

afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close().catch(() => {})
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function setUp (): Promise<{ db: Level<string, Json>, feeds: FeedStore, absorb(kind: number, timestamp: number, expiryMinute: number): Promise<string[]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-incoming-'))
  dirs.push(dir)
  const db = await openLocalDb(join(dir, 'db'))
  dbs.push(db)
  const feeds = await openFeedStore(db)
  const events: string[] = []
  const incoming = createIncoming({
    crypto, log: silentLogger(), emit: (type) => { events.push(type) },
    opened: () => ({
      feeds, ownId: '00'.repeat(32),
      parts: { contactName: () => undefined } as never,
      circle: { ringOps: () => [] } as never,
      knownSenders: { has: () => true } as never
    })
  })
  return {
    db,
    feeds,
    async absorb (kind, timestamp, expiryMinute) {
      events.length = 0
      const message = { kind, timestamp, messageId: crypto.randomBytes(16), partIndex: 0, partCount: 1, body: new Uint8Array(0) }
      const result = {
        type: 'circle',
        opened: { author: publicIdentityOf(author), authorId: identityId(author), message, expiryMinute, circleId: '', newTags: [] }
      } as unknown as CircleScreenResult
      const payload = kind === KIND_POST ? encodePost({ text: 'hello' }) : encodeProfile({ displayName: 'A', bio: '' })
      const change: StateChange = {}
      const after: Array<() => void> = []
      await incoming.absorbPost(result, payload, change, after)
      await db.batch((change.ops ?? []) as never)
      for (const step of after) step()
      return events.slice()
    }
  }
}

describe('author timestamps', () => {
  const now = Date.now()
  const expiryMinute = Math.floor(now / MINUTE_MS) + 60
  const expiresAt = (expiryMinute + 1) * MINUTE_MS
  const oldest = expiresAt - MAX_TTL_MINUTES * MINUTE_MS - POST_CLOCK_SKEW_MS

  it('the rule: no later than the clock skew ahead, no earlier than a lifetime plus the skew before the expiry', () => {
    expect(timestampRefusal(now, expiresAt, now)).toBeUndefined()
    expect(timestampRefusal(now + POST_CLOCK_SKEW_MS, expiresAt, now)).toBeUndefined()
    expect(timestampRefusal(now + POST_CLOCK_SKEW_MS + 1, expiresAt, now)).toBe('future')
    expect(timestampRefusal(oldest, expiresAt, now)).toBeUndefined()
    expect(timestampRefusal(oldest - 1, expiresAt, now)).toBe('backdated')
  })

  it('a back-dated post or profile is refused; one at the limit is kept', async () => {
    const { feeds, absorb } = await setUp()
    // Dated on another day, a week and more before it expires: each would get a fresh day's allowance.
    expect(await absorb(KIND_POST, oldest - 1, expiryMinute)).toEqual([])
    expect(await absorb(KIND_POST, now - 8 * 86_400_000, expiryMinute)).toEqual([])
    expect(await absorb(KIND_PROFILE, oldest - 1, expiryMinute)).toEqual([])
    expect(await feeds.profile(identityId(author))).toBeUndefined()
    expect((await feeds.feed('home')).posts).toEqual([])

    expect(await absorb(KIND_POST, oldest, expiryMinute)).toEqual(['post'])
    expect(await absorb(KIND_POST, now + POST_CLOCK_SKEW_MS + 60_000, expiryMinute)).toEqual([])
    expect(await absorb(KIND_PROFILE, now, expiryMinute)).toEqual(['profile'])
    const [kept] = (await feeds.feed('home')).posts
    expect(kept?.id).toMatch(/^[0-9a-f]{96}$/)
    expect(kept?.id.slice(32)).toBe(identityId(author))
    expect(postIdOf(kept!.id.slice(0, 32), identityId(author))).toBe(kept?.id)
  })
})
