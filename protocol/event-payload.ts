/**
 * Events (KIND_EVENT, SPEC §15.9): a gathering announced by a host. The
 * payload names the keys around it: `hostKey` (Ed25519) must sign the envelope
 * of every revision, so only the host can update or cancel; `hostX` (X25519) is
 * what RSVPs are sealed to (rsvp.ts), so only the host reads who answered;
 * `channelKey` is the secret the event's salted channel key is derived from
 * (`eventChannelKey`), where RSVPs and updates travel.
 * An anonymous host uses one-time keys for hostKey/hostX and no certificate.
 * A higher `revision` of the same (eventId, hostKey) replaces a lower one.
 *
 *   version 1 (u8) || flags (u8, bit 0 = certificate, bit 1 = location, bit 2 = cancelled) ||
 *   eventId (16) || revision (u32) || hostKey (32) || hostX (32) || channelKey (32) ||
 *   startsAt (u64 ms) || endsAt (u64 ms, 0 = no end) || titleLen (u8) || title (UTF-8, 1..100 code points) ||
 *   placeLen (u16) || place (<= 200 code points) || descLen (u16) || description (<= 2000 code points) ||
 *   [geohashLen (u8, 1..MAX_PIN_GEOHASH) || geohash] || [certLen (u16, 1..MAX_POST_CERTIFICATE_LENGTH) || certificate]
 *
 * The longest event is MAX_EVENT_PAYLOAD_LENGTH (9,540 bytes, 6 envelope
 * parts). The decoder is total: a value, or PostFormatError naming the rule.
 */
import { assertBytes, assertInteger, concatBytes, utf8 } from './bytes.js'
import {
  MAX_EVENT_DESCRIPTION_CHARS, MAX_EVENT_PLACE_CHARS, MAX_EVENT_TITLE_CHARS, MAX_PIN_GEOHASH, MAX_POST_CERTIFICATE_LENGTH
} from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import {
  checkFlaggedCertificate, checkInput, checkTime, encodeGeohashField, encodeText, fail, readFlaggedCertificate, readGeohashField,
  readText, Reader, Writer
} from './post-payload.js'

const EVENT_VERSION = 0x01
const FLAG_CERTIFICATE = 0x01
const FLAG_LOCATION = 0x02
const FLAG_CANCELLED = 0x04
const KNOWN_FLAGS = FLAG_CERTIFICATE | FLAG_LOCATION | FLAG_CANCELLED
const KEY_LENGTH = 32
const MAX_REVISION = 0xffff_ffff

/** Random bytes naming an event, chosen by its host. */
export const EVENT_ID_LENGTH = 16
/** The title's length is a u8: at most 255 bytes of UTF-8 as well as MAX_EVENT_TITLE_CHARS code points. */
export const MAX_EVENT_TITLE_BYTES = 255
const MAX_EVENT_PLACE_BYTES = 4 * MAX_EVENT_PLACE_CHARS
const MAX_EVENT_DESCRIPTION_BYTES = 4 * MAX_EVENT_DESCRIPTION_CHARS
/** Everything before the title: version, flags, id, revision, three keys, two times. */
const FIXED_HEADER_LENGTH = 1 + 1 + EVENT_ID_LENGTH + 4 + 3 * KEY_LENGTH + 8 + 8 // 134

/** The longest event payload: every field at its limit. */
export const MAX_EVENT_PAYLOAD_LENGTH = FIXED_HEADER_LENGTH + 1 + MAX_EVENT_TITLE_BYTES + 2 + MAX_EVENT_PLACE_BYTES + 2 +
  MAX_EVENT_DESCRIPTION_BYTES + 1 + MAX_PIN_GEOHASH + 2 + MAX_POST_CERTIFICATE_LENGTH // 9,540

/** A decoded event (one revision of it). */
export interface EventPayload {
  /** EVENT_ID_LENGTH random bytes, the same in every revision. */
  readonly eventId: Uint8Array
  /** u32; a higher revision of the same (eventId, hostKey) replaces a lower one. */
  readonly revision: number
  /** Ed25519 key (32 bytes) that signs the envelope of every revision; one-time for an anonymous host. */
  readonly hostKey: Uint8Array
  /** X25519 key (32 bytes) RSVPs are sealed to; one-time for an anonymous host. */
  readonly hostX: Uint8Array
  /** 32 secret bytes the event's channel key is derived from ({@link eventChannelKey}): RSVPs and updates travel there. */
  readonly channelKey: Uint8Array
  /** Start, unix ms, below 2^53. */
  readonly startsAt: number
  /** End, unix ms, at or after `startsAt`; 0 when the event has no set end. */
  readonly endsAt: number
  /** 1 to MAX_EVENT_TITLE_CHARS code points (and MAX_EVENT_TITLE_BYTES bytes). */
  readonly title: string
  /** Where, in words; up to MAX_EVENT_PLACE_CHARS code points; may be empty. */
  readonly place: string
  /** Up to MAX_EVENT_DESCRIPTION_CHARS code points; may be empty. */
  readonly description: string
  /** Where, as a geohash of 1 to MAX_PIN_GEOHASH lower-case characters. */
  readonly location?: string
  /** The host's registry certificate (1 to MAX_POST_CERTIFICATE_LENGTH bytes); absent for an anonymous host. Not checked here. */
  readonly certificate?: Uint8Array
  /** The host called it off; the revision that says so replaces the others like any update. */
  readonly cancelled: boolean
}

/** Domain label of {@link eventChannelKey}. */
export const EVENT_CHANNEL_LABEL = 'komrade/v1/event/channel'
const EVENT_CHANNEL_LABEL_BYTES = utf8(EVENT_CHANNEL_LABEL)

/**
 * The key of an event's salted channel (SPEC §15.9): the key envelopes on the
 * channel are sealed and recognised with, derived from the payload's
 * `channelKey` and the event's identity (`eventId`, `hostKey`):
 *
 *   HMAC-SHA256(channelKey, "komrade/v1/event/channel" || eventId || hostKey)
 *
 * A host cannot make it equal to a key it does not choose (a group's
 * anonymous key, the world key, another event's channel): that would take an
 * HMAC preimage. Two events that share a `channelKey` (a copy under another
 * host key) still get two channels.
 */
export function eventChannelKey (crypto: CryptoProvider, event: Pick<EventPayload, 'channelKey' | 'eventId' | 'hostKey'>): Uint8Array {
  assertBytes(event.channelKey, 'channelKey', KEY_LENGTH)
  assertBytes(event.eventId, 'eventId', EVENT_ID_LENGTH)
  assertBytes(event.hostKey, 'hostKey', KEY_LENGTH)
  return crypto.hmacSha256(event.channelKey, concatBytes(EVENT_CHANNEL_LABEL_BYTES, event.eventId, event.hostKey))
}

function checkTimes (startsAt: number, endsAt: number): void {
  if (endsAt !== 0 && endsAt < startsAt) fail('bad-time', `An event ends (${endsAt}) at or after it starts (${startsAt}), or has no end (0)`)
}

/** Encodes an event. Throws PostFormatError naming the rule broken (TypeError/RangeError for wrong types and key sizes). */
export function encodeEvent (event: EventPayload): Uint8Array {
  assertBytes(event.eventId, 'eventId', EVENT_ID_LENGTH)
  assertInteger(event.revision, 'revision', 0, MAX_REVISION)
  assertBytes(event.hostKey, 'hostKey', KEY_LENGTH)
  assertBytes(event.hostX, 'hostX', KEY_LENGTH)
  assertBytes(event.channelKey, 'channelKey', KEY_LENGTH)
  if (typeof event.cancelled !== 'boolean') throw new TypeError(`"cancelled" expected a boolean, got ${typeof event.cancelled}`)
  const startsAt = checkTime(event.startsAt, 'start')
  const endsAt = checkTime(event.endsAt, 'end')
  checkTimes(startsAt, endsAt)
  const title = encodeText(event.title, 'title', MAX_EVENT_TITLE_CHARS, MAX_EVENT_TITLE_BYTES, 'title-too-long')
  if (title.length === 0) fail('empty', 'An event needs a title')
  const place = encodeText(event.place, 'place', MAX_EVENT_PLACE_CHARS, MAX_EVENT_PLACE_BYTES, 'place-too-long')
  const description = encodeText(event.description, 'description', MAX_EVENT_DESCRIPTION_CHARS, MAX_EVENT_DESCRIPTION_BYTES, 'description-too-long')
  const location = event.location === undefined ? undefined : encodeGeohashField(event.location, 'location', MAX_PIN_GEOHASH)
  const certificate = checkFlaggedCertificate(event.certificate)

  const writer = new Writer(FIXED_HEADER_LENGTH + 1 + title.length + 2 + place.length + 2 + description.length +
    (location === undefined ? 0 : 1 + location.length) + (certificate === undefined ? 0 : 2 + certificate.length))
  writer.u8(EVENT_VERSION)
  writer.u8((certificate === undefined ? 0 : FLAG_CERTIFICATE) | (location === undefined ? 0 : FLAG_LOCATION) |
    (event.cancelled ? FLAG_CANCELLED : 0))
  writer.bytes(event.eventId)
  writer.u32(event.revision)
  writer.bytes(event.hostKey)
  writer.bytes(event.hostX)
  writer.bytes(event.channelKey)
  writer.u64(startsAt)
  writer.u64(endsAt)
  writer.u8(title.length)
  writer.bytes(title)
  writer.u16(place.length)
  writer.bytes(place)
  writer.u16(description.length)
  writer.bytes(description)
  if (location !== undefined) {
    writer.u8(location.length)
    writer.bytes(location)
  }
  if (certificate !== undefined) {
    writer.u16(certificate.length)
    writer.bytes(certificate)
  }
  return writer.finish()
}

/** Decodes an event payload. Throws PostFormatError (only) on anything malformed. */
export function decodeEvent (bytes: Uint8Array): EventPayload {
  const reader = new Reader(checkInput(bytes, 'An event'), 'an event')
  const version = reader.u8('version')
  if (version !== EVENT_VERSION) fail('unknown-version', `Unknown event version ${version}; this code speaks version ${EVENT_VERSION}`)
  const flags = reader.u8('flags')
  if ((flags & ~KNOWN_FLAGS) !== 0) fail('unknown-flags', `Unknown event flags 0x${flags.toString(16)}`)
  const eventId = reader.bytes(EVENT_ID_LENGTH, 'event id')
  const revision = reader.u32('revision')
  const hostKey = reader.bytes(KEY_LENGTH, 'host key')
  const hostX = reader.bytes(KEY_LENGTH, 'host X25519 key')
  const channelKey = reader.bytes(KEY_LENGTH, 'channel key')
  const startsAt = reader.time('start')
  const endsAt = reader.time('end')
  checkTimes(startsAt, endsAt)
  const title = readText(reader, reader.u8('title length'), 'title', MAX_EVENT_TITLE_CHARS, MAX_EVENT_TITLE_BYTES, 'title-too-long')
  if (title.length === 0) fail('empty', 'An event needs a title')
  const place = readText(reader, reader.u16('place length'), 'place', MAX_EVENT_PLACE_CHARS, MAX_EVENT_PLACE_BYTES, 'place-too-long')
  const description = readText(reader, reader.u16('description length'), 'description', MAX_EVENT_DESCRIPTION_CHARS,
    MAX_EVENT_DESCRIPTION_BYTES, 'description-too-long')
  const location = (flags & FLAG_LOCATION) !== 0
    ? readGeohashField(reader, reader.u8('location length'), 'location', MAX_PIN_GEOHASH)
    : undefined
  const certificate = (flags & FLAG_CERTIFICATE) !== 0 ? readFlaggedCertificate(reader) : undefined
  reader.finish()
  return {
    eventId, revision, hostKey, hostX, channelKey, startsAt, endsAt, title, place, description,
    ...(location === undefined ? {} : { location }),
    ...(certificate === undefined ? {} : { certificate }),
    cancelled: (flags & FLAG_CANCELLED) !== 0
  }
}
