/**
 * Screening: who is this envelope for? The hot path of every node, run on
 * every envelope of the network (SPEC §8):
 *   1. tag lookup in each local keyring (pairwise sessions), O(1);
 *   2. tag lookup in the circle ring (circle posts of authors who trust us), O(1);
 *   3. tag lookup in each group's ring (member chains of the groups we are in), O(1) per group;
 *   4. the world tag: one HMAC (world posts), unless the world feed is off;
 *   5. salted channels: one HMAC each (groups' anonymous channels, event channels);
 *   6. unless "contacts only", one X25519 per local identity for first contact.
 * Returns the opened envelope or nothing, and never throws on hostile input.
 *
 * `screen` and `screenByTag` run the pairwise steps only (1 and 4, and 1), as
 * they always did; `screenAny` and `screenAnyByTag` add the social steps.
 */
import { ENVELOPE_SIZE, ENVELOPE_VERSION, VERSION_OFFSET } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import type { CircleRing, OpenedCirclePost } from './circle.js'
import type { Keyring, OpenedEnvelope } from './keyring.js'
import { CHANNEL_KINDS, type OpenedPost } from './signed-post.js'
import { createWorldTagMatcher, openMatchedChannelEnvelope, openMatchedWorldEnvelope } from './world.js'

/** Who a salted channel belongs to: a group's anonymous channel of one epoch, or an event's channel. */
export interface ChannelOwner {
  readonly type: 'group' | 'event'
  /** Group id (64 hex), or an event's id (its event id, 32 hex, or event id + host key, 96 hex: node/collectives/events.ts). */
  readonly id: string
  /** For a group's anonymous channel: its key epoch. */
  readonly epoch?: number
}

/** A salted channel the screener tries (SPEC §15): the world's construction under another key. */
export interface SaltedChannel {
  readonly owner: ChannelOwner
  readonly key: Uint8Array
  /** Kinds taken on it (CHANNEL_KINDS['group-anonymous'] or CHANNEL_KINDS.event). */
  readonly kinds: ReadonlySet<number>
  /** createWorldTagMatcher(key): does an envelope carry this channel's tag? */
  readonly matches: (envelope: Uint8Array) => boolean
}

/** The groups' member chains: one ring per group, each looked up by tag. */
export interface GroupRings {
  /** (group id, ring) of every group whose chains we hold. */
  rings(): Iterable<readonly [string, CircleRing]>
}

/** The salted channels a node follows. */
export interface SaltedChannels {
  channels(): Iterable<SaltedChannel>
}

/** Options of {@link createScreener}. */
export interface ScreenerInit {
  /** One keyring per local identity. */
  keyrings: Keyring[]
  /** Skip the first-contact step: only contacts with a session (or an answer we wait for) can reach us. @default false */
  contactsOnly?: boolean
  /** Circle chains handed to us (SPEC §14.4): their tags are looked up after the pairwise ones. */
  circles?: CircleRing
  /** The network's world key (`worldKey(crypto, networkName)`, SPEC §14.1). Without it there is no world step. */
  worldKey?: Uint8Array
  /** Run the world step when `worldKey` is set. @default true */
  worldFeed?: boolean
  /** The provider that opens world envelopes; required when `worldKey` or `channels` is set. */
  crypto?: CryptoProvider
  /** Groups' member chains (SPEC §15.1): looked up after the circle ring. */
  groups?: GroupRings
  /** Salted channels (SPEC §15): tried after the world tag. */
  channels?: SaltedChannels
}

/** A pairwise envelope: a session, an accept, or a first contact. */
export interface ScreenResult {
  readonly type: 'direct'
  /** The keyring (local identity) the envelope was for. */
  readonly keyring: Keyring
  readonly opened: OpenedEnvelope
}

/** A circle post envelope from an author who handed us their chain. */
export interface CircleScreenResult {
  readonly type: 'circle'
  readonly opened: OpenedCirclePost
}

/** A world post envelope. */
export interface WorldScreenResult {
  readonly type: 'world'
  readonly opened: OpenedPost
}

/** A group chain envelope: one of a member's, signed by that member. */
export interface GroupScreenResult {
  readonly type: 'group'
  /** Hex group id. */
  readonly groupId: string
  readonly opened: OpenedCirclePost
}

/** A salted channel envelope (a group's anonymous channel, an event's channel). */
export interface ChannelScreenResult {
  readonly type: 'channel'
  readonly owner: ChannelOwner
  readonly opened: OpenedPost
}

/** What the tag lookups can find (the re-screen path). */
export type TaggedScreenResult = ScreenResult | CircleScreenResult | GroupScreenResult

/** Whatever {@link Screener.screenAny} can find. */
export type AnyScreenResult = TaggedScreenResult | WorldScreenResult | ChannelScreenResult

/** Screens envelopes for a set of local identities. */
export interface Screener {
  /** Pairwise steps only: tag lookup, then first contact. */
  screen(envelope: Uint8Array, options?: { now?: number }): ScreenResult | undefined
  /** Pairwise tag lookup only (used to re-screen stored envelopes when a window grows). */
  screenByTag(envelope: Uint8Array): ScreenResult | undefined
  /** Every step, in order: pairwise tags, circle tags, group chains, world tag, salted channels, first contact. */
  screenAny(envelope: Uint8Array, options?: { now?: number }): AnyScreenResult | undefined
  /** The tag lookups (pairwise, circle, group chains): the re-screen path of SPEC §4.4. */
  screenAnyByTag(envelope: Uint8Array): TaggedScreenResult | undefined
  contactsOnly: boolean
  /** Whether {@link screenAny} runs the world step (only when a world key was given). */
  worldFeed: boolean
}

/** Creates a screener over the given keyrings (and, optionally, circle ring and world key). */
export function createScreener (init: ScreenerInit): Screener {
  const keyrings = [...init.keyrings]
  const circles = init.circles
  const worldKey = init.worldKey
  const crypto = init.crypto
  if (worldKey !== undefined && crypto === undefined) throw new TypeError('"crypto" is required with "worldKey"')
  if (init.channels !== undefined && crypto === undefined) throw new TypeError('"crypto" is required with "channels"')
  const groups = init.groups
  const channels = init.channels
  const isWorldTag = worldKey === undefined ? undefined : createWorldTagMatcher(worldKey)

  function plausible (envelope: unknown): envelope is Uint8Array {
    return envelope instanceof Uint8Array && envelope.length === ENVELOPE_SIZE && envelope[VERSION_OFFSET] === ENVELOPE_VERSION
  }

  function pairwiseByTag (envelope: Uint8Array): ScreenResult | undefined {
    for (const keyring of keyrings) {
      const opened = keyring.screenByTag(envelope)
      if (opened !== undefined) return { type: 'direct', keyring, opened }
    }
    return undefined
  }

  function firstContact (envelope: Uint8Array, options?: { now?: number }): ScreenResult | undefined {
    if (screener.contactsOnly) return undefined
    for (const keyring of keyrings) {
      const opened = keyring.screenFirstContact(envelope, options)
      if (opened !== undefined) return { type: 'direct', keyring, opened }
    }
    return undefined
  }

  /**
   * A ring's opener takes every signed post kind (it cannot tell channels
   * apart); the kind is checked here. A wrong kind under the right author's
   * signature used the step: it is that author's own envelope, dropped.
   */
  function circleByTag (envelope: Uint8Array): CircleScreenResult | undefined {
    const opened = circles?.screenByTag(envelope)
    return opened === undefined || !CHANNEL_KINDS.circle.has(opened.message.kind) ? undefined : { type: 'circle', opened }
  }

  function groupByTag (envelope: Uint8Array): GroupScreenResult | undefined {
    if (groups === undefined) return undefined
    for (const [groupId, ring] of groups.rings()) {
      const opened = ring.screenByTag(envelope)
      if (opened === undefined) continue
      if (!CHANNEL_KINDS.group.has(opened.message.kind)) return undefined
      return { type: 'group', groupId, opened }
    }
    return undefined
  }

  function taggedOnly (envelope: Uint8Array): TaggedScreenResult | undefined {
    return pairwiseByTag(envelope) ?? circleByTag(envelope) ?? groupByTag(envelope)
  }

  /**
   * Salted channels: one tag check each. A channel whose tag matches but
   * whose opener refuses the envelope (AEAD, decoding, signature, or a kind
   * that channel does not carry) does not end the search: another channel
   * with the same key may carry that kind (keys are kept apart when added,
   * channels.ts, but a collision must not silence the channel that owns the
   * envelope). Only when every matching channel refused it is the envelope
   * a forgery, and screening ends (not a first contact: its sender built it
   * under a channel key).
   */
  function channelMatch (envelope: Uint8Array): ChannelScreenResult | undefined | 'forged' {
    if (channels === undefined) return undefined
    let matched = false
    for (const channel of channels.channels()) {
      if (!channel.matches(envelope)) continue
      matched = true
      const opened = openMatchedChannelEnvelope(crypto!, channel.key, envelope, channel.kinds)
      if (opened !== undefined) return { type: 'channel', owner: channel.owner, opened }
    }
    return matched ? 'forged' : undefined
  }

  const screener: Screener = {
    contactsOnly: init.contactsOnly ?? false,
    worldFeed: init.worldFeed ?? true,

    screenByTag (envelope) {
      return plausible(envelope) ? pairwiseByTag(envelope) : undefined
    },

    screen (envelope, options) {
      if (!plausible(envelope)) return undefined
      return pairwiseByTag(envelope) ?? firstContact(envelope, options)
    },

    screenAnyByTag (envelope) {
      if (!plausible(envelope)) return undefined
      return taggedOnly(envelope)
    },

    screenAny (envelope, options) {
      if (!plausible(envelope)) return undefined
      const tagged = taggedOnly(envelope)
      if (tagged !== undefined) return tagged
      if (isWorldTag !== undefined && screener.worldFeed) {
        try {
          if (isWorldTag(envelope)) {
            // The world tag matched: this is a world envelope or a forgery of one, never a first contact.
            // Ending here is still right with salted channels after it: no channel may hold the world
            // key (channels.ts refuses it), and another key gives the world tag only by an HMAC
            // collision, so the envelopes this drops are only those their sender built under the world key.
            const opened = openMatchedWorldEnvelope(crypto!, worldKey!, envelope)
            return opened === undefined ? undefined : { type: 'world', opened }
          }
        } catch {
          return undefined
        }
      }
      try {
        const channel = channelMatch(envelope)
        if (channel === 'forged') return undefined
        if (channel !== undefined) return channel
      } catch {
        return undefined
      }
      return firstContact(envelope, options)
    }
  }
  return screener
}
