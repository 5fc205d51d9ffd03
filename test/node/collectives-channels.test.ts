/**
 * The node's salted channel set (node/collectives/channels.ts) over a real
 * LevelDB: event channels persist and are followed again after a reopen,
 * group channels (derived) do not; the world key and a 65th event channel
 * are refused with a RangeError; a newly followed persisted channel is
 * announced (so the store is searched for its envelopes), a re-added one
 * with the same key is not; and the set's matcher finds exactly its own
 * envelopes among others.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { openChannelSet } from '../../node/collectives/channels.js'
import { createWorldTagMatcher as channelMatcher } from '../../protocol/world.js'
import { MAX_EVENT_CHANNELS } from '../../node/collectives/collectives-constants.js'
import { openLocalDb } from '../../node/local-state.js'
import {
  CHANNEL_KINDS, createIdentity, createScreener, KIND_RSVP, KIND_VOTE, nativeCrypto, sealChannelPost, sealWorldPost, worldKey, type SaltedChannel,
  type SaltedChannels
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const dirs: string[] = []
afterEach(async () => { for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true }) })

async function freshDb (): Promise<{ db: Awaited<ReturnType<typeof openLocalDb>>, path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-channels-'))
  dirs.push(dir)
  const path = join(dir, 'db')
  return { db: await openLocalDb(path), path }
}

it('keeps event channels across a reopen, refuses the world key and the 65th event channel, and announces new ones', async () => {
  const world = worldKey(crypto, 'komrade')
  let { db, path } = await freshDb()
  const added: SaltedChannel[] = []
  let channels = await openChannelSet(db, { worldKey: world, onAdded: (c) => { added.push(c) } })

  const eventKey = crypto.randomBytes(32)
  const groupKey = crypto.randomBytes(32)
  await channels.add({ type: 'event', id: 'ab'.repeat(16) }, eventKey)
  await channels.add({ type: 'group', id: 'cd'.repeat(32), epoch: 3 }, groupKey, { persist: false })
  expect(added.map((c) => c.owner)).toEqual([{ type: 'event', id: 'ab'.repeat(16) }]) // derived group channels are the caller's to search
  await channels.add({ type: 'event', id: 'ab'.repeat(16) }, eventKey) // the same key again: nothing new to look for
  expect(added).toHaveLength(1)
  expect(channels.list({ type: 'event' })[0]!.kinds).toEqual(CHANNEL_KINDS.event)
  expect(channels.list({ type: 'group' })[0]!.kinds).toEqual(CHANNEL_KINDS['group-anonymous'])

  await expect(channels.add({ type: 'event', id: 'ef'.repeat(16) }, world)).rejects.toThrow(RangeError)
  await expect(channels.add({ type: 'event', id: 'ef'.repeat(16) }, new Uint8Array(31))).rejects.toThrow(TypeError)
  for (let i = 1; i < MAX_EVENT_CHANNELS; i++) await channels.add({ type: 'event', id: i.toString(16).padStart(32, '0') }, crypto.randomBytes(32))
  expect(channels.list({ type: 'event' })).toHaveLength(MAX_EVENT_CHANNELS)
  await expect(channels.add({ type: 'event', id: 'f'.repeat(32) }, crypto.randomBytes(32))).rejects.toThrow(RangeError)
  // Group channels do not count against the event bound.
  await channels.add({ type: 'group', id: 'cd'.repeat(32), epoch: 4 }, crypto.randomBytes(32), { persist: false })

  // Reopened: the event channels are back, the derived group channels are not.
  await db.close()
  db = await openLocalDb(path)
  channels = await openChannelSet(db, { worldKey: world })
  expect(channels.list({ type: 'event' })).toHaveLength(MAX_EVENT_CHANNELS)
  expect(channels.list({ type: 'group' })).toEqual([])
  expect(channels.has({ type: 'event', id: 'ab'.repeat(16) })).toBe(true)
  expect(await channels.remove({ type: 'event', id: 'ab'.repeat(16) })).toBe(true)
  expect(await channels.remove({ type: 'event', id: 'ab'.repeat(16) })).toBe(false)
  await db.close()
  db = await openLocalDb(path)
  channels = await openChannelSet(db)
  expect(channels.has({ type: 'event', id: 'ab'.repeat(16) })).toBe(false)
  await db.close()
  ;({ db, path } = await freshDb())

  // A channel's matcher takes its own envelopes only: not the world's, not another channel's.
  channels = await openChannelSet(db)
  await channels.add({ type: 'event', id: '01'.repeat(16) }, eventKey)
  const channel = channels.list()[0]!
  const author = createIdentity(crypto)
  const own = sealChannelPost(crypto, { author, kind: KIND_RSVP, payload: new Uint8Array(10), ttlMinutes: 10, channel: 'event', channelKey: eventKey })
  const other = sealChannelPost(crypto, { author, kind: KIND_VOTE, payload: new Uint8Array(10), ttlMinutes: 10, channel: 'group-anonymous', channelKey: groupKey })
  const worldPost = sealWorldPost(crypto, { author, kind: 0x20, payload: new Uint8Array(10), ttlMinutes: 10, worldKey: world })
  expect(channel.matches(own.envelopes[0]!)).toBe(true)
  expect(channel.matches(other.envelopes[0]!)).toBe(false)
  expect(channel.matches(worldPost.envelopes[0]!)).toBe(false)
  // The channel's kinds are enforced when sealing too.
  expect(() => sealChannelPost(crypto, { author, kind: KIND_VOTE, payload: new Uint8Array(1), ttlMinutes: 10, channel: 'event', channelKey: eventKey })).toThrow(RangeError)
  await db.close()
})

it('refuses a key another owner follows, and the screener tries every matching channel before calling an envelope forged', async () => {
  const { db } = await freshDb()
  const channels = await openChannelSet(db)
  const groupKey = crypto.randomBytes(32)
  await channels.add({ type: 'group', id: 'cd'.repeat(32), epoch: 3 }, groupKey, { persist: false })
  await expect(channels.add({ type: 'event', id: 'ab'.repeat(16) }, groupKey)).rejects.toThrow(RangeError)
  await expect(channels.add({ type: 'group', id: 'ef'.repeat(32), epoch: 0 }, groupKey, { persist: false })).rejects.toThrow(RangeError)
  expect(channels.list()).toHaveLength(1)
  await channels.add({ type: 'group', id: 'cd'.repeat(32), epoch: 3 }, groupKey, { persist: false }) // the same owner again: fine
  await db.close()

  // Two channels of one key (as before the refusal), the event's first: a vote still reaches the group's.
  const shared = crypto.randomBytes(32)
  const make = (owner: SaltedChannel['owner'], kinds: ReadonlySet<number>): SaltedChannel => ({ owner, key: shared, kinds, matches: channelMatcher(shared) })
  const set: SaltedChannels = { channels: () => [make({ type: 'event', id: 'ab'.repeat(16) }, CHANNEL_KINDS.event), make({ type: 'group', id: 'cd'.repeat(32), epoch: 3 }, CHANNEL_KINDS['group-anonymous'])] }
  const screener = createScreener({ keyrings: [], crypto, channels: set })
  const vote = sealChannelPost(crypto, { author: createIdentity(crypto), kind: KIND_VOTE, payload: new Uint8Array(10), ttlMinutes: 10, channel: 'group-anonymous', channelKey: shared })
  expect(screener.screenAny(vote.envelopes[0]!)).toMatchObject({ type: 'channel', owner: { type: 'group', epoch: 3 } })
  // An envelope no matching channel opens is still a forgery: screening ends (no first contact).
  const garbled = vote.envelopes[0]!.slice()
  garbled[garbled.length - 1]! ^= 1
  expect(screener.screenAny(garbled)).toBeUndefined()
})
