/**
 * What the collectives' inputs may be (SPEC §15, protocol/constants.ts), as
 * the API, the CLI and the web UI check them before the node does: text
 * lengths in code points, geohash lengths, pin lifetimes, constitutions. No
 * Node imports: the browser bundle imports this file. The numbers are the
 * protocol's; test/client/collectives-api.test.ts holds them equal.
 */

/** Characters of a join request's note and a proposal's reason (MAX_GROUP_NOTE_CHARS). */
export const MAX_GROUP_NOTE_CHARS = 280
/** Characters of a pin's note (MAX_PIN_NOTE_CHARS). */
export const MAX_PIN_NOTE_CHARS = 280
/** Characters of an event's title, place and description. */
export const MAX_EVENT_TITLE_CHARS = 100
export const MAX_EVENT_PLACE_CHARS = 200
export const MAX_EVENT_DESCRIPTION_CHARS = 2000
/** Note of an RSVP (same bound as a group note, SPEC §15.9). */
export const MAX_RSVP_NOTE_CHARS = 280
/** Geohash characters of a post's place (coarse: 6 is about 1.2 km × 0.6 km) and of a pin's or an event's (9: about 5 m). */
export const MAX_POST_GEOHASH = 6
export const MAX_PIN_GEOHASH = 9
/** A pin's precision unless given: 7 characters, a cell of about 150 m × 150 m. */
export const DEFAULT_PIN_PRECISION = 7
/** A group post's place precision unless given (5: about 5 km). */
export const DEFAULT_POST_PRECISION = 5
/** A pin's lifetime in minutes: 10 minutes to 7 days, 6 hours unless given (the envelope's expiry). */
export const MIN_PIN_TTL_MINUTES = 10
export const MAX_PIN_TTL_MINUTES = 7 * 24 * 60
export const DEFAULT_PIN_TTL_MINUTES = 6 * 60
/** Members a group holds at most: a fixed quorum or a floor above it means nothing. */
export const MAX_GROUP_MEMBERS = 256
/** The largest "within" radius a pin query takes, km: half the Earth's circumference. */
export const MAX_WITHIN_KM = 20_038
/** Contacts one event invitation (or audience) names at most. */
export const MAX_EVENT_CONTACTS = 64
/** Group names: the registry's rules (3 to 32 of a-z, 0-9, _). */
export const GROUP_NAME_PATTERN = /^[a-z0-9_]{3,32}$/

/** The geohash alphabet (base32 without a, i, l, o). */
const GEOHASH = /^[0-9b-hjkmnp-z]+$/

/** True for a geohash of 1 to `maxLength` characters (lower case). */
export function isGeohashText (value: unknown, maxLength: number): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= maxLength && GEOHASH.test(value)
}

/**
 * A group as a person or a URL names it: `name`, `@name` or the group id
 * (64 hex). The canonical form: the name without `@`, or the id in lower
 * case; undefined when it is neither.
 */
export function groupReference (value: string): string | undefined {
  const text = value.trim()
  if (/^[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase()
  const name = text.startsWith('@') ? text.slice(1) : text
  const lower = name.toLowerCase()
  return GROUP_NAME_PATTERN.test(lower) ? lower : undefined
}

/** A constitution as the API takes it. */
export type ConstitutionInput = { type: 'fixed', n: number } | { type: 'growing', percent: number, min: number }

/** "1 vouch", "3 vouches", "20% of members, at least 2". */
export function constitutionText (constitution: ConstitutionInput): string {
  if (constitution.type === 'fixed') return constitution.n === 1 ? '1 vouch' : `${constitution.n} vouches`
  return `${constitution.percent}% of the members' vouches, at least ${constitution.min}`
}
