/**
 * Screening: who is this envelope for? The hot path of every node, run on
 * every envelope of the network (SPEC §8):
 *   1. tag lookup in each local keyring (pairwise sessions), O(1);
 *   2. tag lookup in the circle ring (circle posts of authors who trust us), O(1);
 *   3. the world tag: one HMAC (world posts), unless the world feed is off;
 *   4. unless "contacts only", one X25519 per local identity for first contact.
 * Returns the opened envelope or nothing, and never throws on hostile input.
 *
 * `screen` and `screenByTag` run the pairwise steps only (1 and 4, and 1), as
 * they always did; `screenAny` and `screenAnyByTag` add the social steps.
 */
import { ENVELOPE_SIZE, ENVELOPE_VERSION, VERSION_OFFSET } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import type { CircleRing, OpenedCirclePost } from './circle.js'
import type { Keyring, OpenedEnvelope } from './keyring.js'
import type { OpenedPost } from './signed-post.js'
import { createWorldTagMatcher, openMatchedWorldEnvelope } from './world.js'

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
  /** The provider that opens world envelopes; required when `worldKey` is set. */
  crypto?: CryptoProvider
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

/** Whatever {@link Screener.screenAny} can find. */
export type AnyScreenResult = ScreenResult | CircleScreenResult | WorldScreenResult

/** Screens envelopes for a set of local identities. */
export interface Screener {
  /** Pairwise steps only: tag lookup, then first contact. */
  screen(envelope: Uint8Array, options?: { now?: number }): ScreenResult | undefined
  /** Pairwise tag lookup only (used to re-screen stored envelopes when a window grows). */
  screenByTag(envelope: Uint8Array): ScreenResult | undefined
  /** Every step, in order: pairwise tags, circle tags, world tag, first contact. */
  screenAny(envelope: Uint8Array, options?: { now?: number }): AnyScreenResult | undefined
  /** The tag lookups (pairwise, then circle): the re-screen path of SPEC §4.4. */
  screenAnyByTag(envelope: Uint8Array): ScreenResult | CircleScreenResult | undefined
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

  function circleByTag (envelope: Uint8Array): CircleScreenResult | undefined {
    const opened = circles?.screenByTag(envelope)
    return opened === undefined ? undefined : { type: 'circle', opened }
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
      return pairwiseByTag(envelope) ?? circleByTag(envelope)
    },

    screenAny (envelope, options) {
      if (!plausible(envelope)) return undefined
      const tagged = pairwiseByTag(envelope) ?? circleByTag(envelope)
      if (tagged !== undefined) return tagged
      if (isWorldTag !== undefined && screener.worldFeed) {
        try {
          if (isWorldTag(envelope)) {
            // The world tag matched: this is a world envelope or a forgery of one, never a first contact.
            const opened = openMatchedWorldEnvelope(crypto!, worldKey!, envelope)
            return opened === undefined ? undefined : { type: 'world', opened }
          }
        } catch {
          return undefined
        }
      }
      return firstContact(envelope, options)
    }
  }
  return screener
}
