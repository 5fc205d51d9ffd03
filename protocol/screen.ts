/**
 * Screening: who is this envelope for? The hot path of every node, run on
 * every envelope of the network (SPEC §8):
 *   1. tag lookup in each local keyring, O(1);
 *   2. unless "contacts only", one X25519 per local identity for first contact.
 * Returns the opened envelope or nothing, and never throws on hostile input.
 */
import { ENVELOPE_SIZE, ENVELOPE_VERSION, VERSION_OFFSET } from './constants.js'
import type { Keyring, OpenedEnvelope } from './keyring.js'

/** Options of {@link createScreener}. */
export interface ScreenerInit {
  /** One keyring per local identity. */
  keyrings: Keyring[]
  /** Skip step 2: only contacts with a session (or an answer we wait for) can reach us. @default false */
  contactsOnly?: boolean
}

/** What {@link Screener.screen} found. */
export interface ScreenResult {
  /** The keyring (local identity) the envelope was for. */
  readonly keyring: Keyring
  readonly opened: OpenedEnvelope
}

/** Screens envelopes for a set of local identities. */
export interface Screener {
  screen(envelope: Uint8Array, options?: { now?: number }): ScreenResult | undefined
  /** Tag lookup only (used to re-screen stored envelopes when a window grows). */
  screenByTag(envelope: Uint8Array): ScreenResult | undefined
  contactsOnly: boolean
}

/** Creates a screener over the given keyrings. */
export function createScreener (init: ScreenerInit): Screener {
  const keyrings = [...init.keyrings]

  function plausible (envelope: unknown): envelope is Uint8Array {
    return envelope instanceof Uint8Array && envelope.length === ENVELOPE_SIZE && envelope[VERSION_OFFSET] === ENVELOPE_VERSION
  }

  function screenByTag (envelope: Uint8Array): ScreenResult | undefined {
    if (!plausible(envelope)) return undefined
    for (const keyring of keyrings) {
      const opened = keyring.screenByTag(envelope)
      if (opened !== undefined) return { keyring, opened }
    }
    return undefined
  }

  const screener: Screener = {
    contactsOnly: init.contactsOnly ?? false,
    screenByTag,
    screen (envelope, options) {
      if (!plausible(envelope)) return undefined
      for (const keyring of keyrings) {
        const opened = keyring.screenByTag(envelope)
        if (opened !== undefined) return { keyring, opened }
      }
      if (screener.contactsOnly) return undefined
      for (const keyring of keyrings) {
        const opened = keyring.screenFirstContact(envelope, options)
        if (opened !== undefined) return { keyring, opened }
      }
      return undefined
    }
  }
  return screener
}
