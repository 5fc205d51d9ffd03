/**
 * The salted channels a node follows (SPEC §15): the anonymous channels of
 * its groups (current and previous epoch) and the channels of the events it
 * hosts or answers. Screening tries each with one HMAC (world.ts
 * `createWorldTagMatcher`), after the world tag.
 *
 * Each channel has an owner label ({type, id, epoch?}). Group channels are
 * derived from the groups' epoch secrets at every start and are not stored
 * here (`persist: false`); event channels are stored in the sublevel
 * `collectives-channels` (`<type>!<id>!<epoch>` → {key, kinds}) so they
 * outlive a restart. One key has one owner: a key another owner follows is
 * refused (the screener names one owner per envelope). Changes happen in
 * delivery's turn (node-collectives.ts)
 * or between screenings: JavaScript runs one at a time, and screening reads
 * the set synchronously.
 */
import type { Level } from 'level'
import {
  CHANNEL_KINDS, createWorldTagMatcher, fromHex, toHex, type ChannelOwner, type SaltedChannel, type SaltedChannels
} from '../../protocol/index.js'
import { jsonSublevel, type Json } from '../local-state.js'
import { MAX_EVENT_CHANNELS, MAX_SALTED_CHANNELS } from './collectives-constants.js'

/** The label a channel is kept under. */
export function channelLabel (owner: ChannelOwner): string {
  return `${owner.type}!${owner.id}!${owner.epoch ?? ''}`
}

/** The node's salted channels; see the file comment. */
export interface ChannelSet extends SaltedChannels {
  /**
   * Follows `key` under `owner` (replacing a channel of the same owner).
   * `kinds` defaults to the owner type's: a group's anonymous channel or an
   * event channel. Persisted unless `persist` is false (then the caller
   * screens the store again itself). Throws RangeError past
   * MAX_SALTED_CHANNELS, past MAX_EVENT_CHANNELS event channels, for the
   * world key, or for a key another owner follows already (the screener
   * names one owner per envelope: two owners of one key would take each
   * other's envelopes; SPEC §14.5).
   */
  add(owner: ChannelOwner, key: Uint8Array, options?: { kinds?: ReadonlySet<number>, persist?: boolean }): Promise<void>
  /** Stops following `owner`'s channel; true if it was followed. */
  remove(owner: ChannelOwner): Promise<boolean>
  /** Every channel whose owner matches `filter` (all when absent). */
  list(filter?: Partial<ChannelOwner>): SaltedChannel[]
  has(owner: ChannelOwner): boolean
}

interface StoredChannel {
  readonly type: ChannelOwner['type']
  readonly id: string
  readonly epoch?: number
  readonly key: string
  readonly kinds: number[]
}

const defaultKinds = (owner: ChannelOwner): ReadonlySet<number> =>
  owner.type === 'group' ? CHANNEL_KINDS['group-anonymous'] : CHANNEL_KINDS.event

function makeChannel (owner: ChannelOwner, key: Uint8Array, kinds: ReadonlySet<number>): SaltedChannel {
  return { owner: { ...owner }, key: key.slice(), kinds: new Set(kinds), matches: createWorldTagMatcher(key) }
}

/** Options of {@link openChannelSet}. */
export interface ChannelSetInit {
  /** The world key: a channel with the same key is refused (the world step would always take its envelopes first). */
  worldKey?: Uint8Array
  /**
   * Called when a stored (event) channel is newly followed: its envelopes may
   * be stored already, and salted tags cannot be looked up, so the caller
   * screens the store again with `channel.matches`.
   */
  onAdded?: (channel: SaltedChannel) => void
}

/** Opens the channel set; the stored (event) channels are followed at once. */
export async function openChannelSet (db: Level<string, Json>, init: ChannelSetInit = {}): Promise<ChannelSet> {
  const worldHex = init.worldKey === undefined ? undefined : toHex(init.worldKey)
  const sublevel = jsonSublevel(db, 'collectives-channels')
  const channels = new Map<string, SaltedChannel>()
  for (const value of (await sublevel.values().all()) as unknown as StoredChannel[]) {
    try {
      const owner: ChannelOwner = { type: value.type, id: value.id, ...(value.epoch === undefined ? {} : { epoch: value.epoch }) }
      channels.set(channelLabel(owner), makeChannel(owner, fromHex(value.key, 'key', 32), new Set(value.kinds)))
    } catch {
      // A record we cannot read is skipped, never fatal: its owner adds it again.
    }
  }

  return {
    channels: () => channels.values(),

    async add (owner, key, options = {}) {
      const label = channelLabel(owner)
      if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError('"key" expected 32 bytes')
      const hex = toHex(key)
      if (worldHex !== undefined && hex === worldHex) throw new RangeError('A channel key cannot be the world key')
      for (const [other, channel] of channels) {
        if (other !== label && toHex(channel.key) === hex) throw new RangeError('A channel key cannot be one another channel is followed with')
      }
      const previous = channels.get(label)
      if (previous === undefined) {
        if (channels.size >= MAX_SALTED_CHANNELS) throw new RangeError(`A node follows at most ${MAX_SALTED_CHANNELS} salted channels`)
        const sameType = [...channels.values()].filter((c) => c.owner.type === owner.type).length
        if (owner.type === 'event' && sameType >= MAX_EVENT_CHANNELS) {
          throw new RangeError(`A node follows at most ${MAX_EVENT_CHANNELS} event channels: forget an old event first`)
        }
      }
      const kinds = options.kinds ?? defaultKinds(owner)
      const channel = makeChannel(owner, key, kinds)
      channels.set(label, channel)
      if (options.persist !== false && (previous === undefined || toHex(previous.key) !== hex)) init.onAdded?.(channel)
      if (options.persist !== false) {
        const stored: StoredChannel = { type: owner.type, id: owner.id, ...(owner.epoch === undefined ? {} : { epoch: owner.epoch }), key: hex, kinds: [...kinds] }
        await sublevel.put(label, stored as unknown as Json)
      }
    },

    async remove (owner) {
      const label = channelLabel(owner)
      const had = channels.delete(label)
      await sublevel.del(label)
      return had
    },

    list (filter = {}) {
      return [...channels.values()].filter((c) =>
        (filter.type === undefined || c.owner.type === filter.type) && (filter.id === undefined || c.owner.id === filter.id) &&
        (filter.epoch === undefined || c.owner.epoch === filter.epoch))
    },

    has: (owner) => channels.has(channelLabel(owner))
  }
}
