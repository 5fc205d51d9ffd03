/**
 * RSVPs (KIND_RSVP, SPEC §15.9): an answer to an event, sealed so that only
 * its host reads it. The RSVP travels on the event's salted channel, which
 * every invitee can read, inside an envelope signed by a one-time key; the
 * answer itself is sealed to the event's `hostX` with a fresh ephemeral X25519
 * key (ECIES), and signed inside by the responder, so the host learns who
 * answered and nobody else learns even that.
 *
 *   body   = version 1 (u8) || eventId (16) || ephemeral X25519 public (32) || sealed
 *   okm    = HKDF(X25519(ephemeral secret, hostX), salt = eventId, info = "komrade/v1/event/rsvp", 44)
 *   sealed = AEAD(okm[0..32], okm[32..44], answer, aad = body[0..49])
 *   answer = choice (u8: 1 going, 2 maybe, 3 not going) || responder ed (32) || responder X (32) ||
 *            timestamp (u64 ms) || noteLen (u16) || note (UTF-8, <= MAX_PIN_NOTE_CHARS) || signature (64)
 *   signature = Ed25519(responder, "komrade/v1/event/rsvp" || eventId || hostKey (32) || hostX (32) ||
 *                       answer without the signature)
 *
 * The signature binds the answer to the responder and the event, named by its
 * id and its host's keys (an event is (eventId, hostKey): a host cannot show
 * the answer as one to another event with the same id); the aad binds
 * the ciphertext to the event id and the ephemeral key. openRsvp returns
 * undefined on any failure and never throws on hostile bytes.
 */
import { assertBytes, concatBytes, equalBytes, readUint16BE, readUint32BE, readUint64BE, utf8, wipe, writeUint16BE, writeUint64BE } from './bytes.js'
import { MAX_PIN_NOTE_CHARS } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { EVENT_ID_LENGTH } from './event-payload.js'
import type { Identity, PublicIdentity } from './identity.js'
import { checkTime, codePointLength, encodeText } from './post-payload.js'

const RSVP_VERSION = 0x01
/** Domain label of the RSVP key derivation and of the responder's signature. */
export const RSVP_LABEL = 'komrade/v1/event/rsvp'
const LABEL_BYTES = utf8(RSVP_LABEL)
const KEY_LENGTH = 32
const SIGNATURE_LENGTH = 64
const AEAD_TAG_LENGTH = 16
const AEAD_KEY_LENGTH = 32
const AEAD_NONCE_LENGTH = 12
/** What the aad covers: version, event id, ephemeral key. */
const HEADER_LENGTH = 1 + EVENT_ID_LENGTH + KEY_LENGTH // 49
/** The answer up to its note: choice, responder keys, timestamp, note length. */
const ANSWER_FIXED_LENGTH = 1 + KEY_LENGTH + KEY_LENGTH + 8 + 2 // 75
const MAX_RSVP_NOTE_BYTES = 4 * MAX_PIN_NOTE_CHARS
const MIN_RSVP_LENGTH = HEADER_LENGTH + ANSWER_FIXED_LENGTH + SIGNATURE_LENGTH + AEAD_TAG_LENGTH // 204
/** The longest RSVP body (1,324 bytes): always one envelope. */
export const MAX_RSVP_LENGTH = MIN_RSVP_LENGTH + MAX_RSVP_NOTE_BYTES

/** An answer, in wire order (choice byte = index + 1). */
export const RSVP_CHOICES = ['going', 'maybe', 'not-going'] as const
/** An answer to an event. */
export type RsvpChoice = typeof RSVP_CHOICES[number]

/** An opened RSVP: the responder's signature over it has been checked. */
export interface Rsvp {
  readonly eventId: Uint8Array
  readonly choice: RsvpChoice
  /** Who answered (signature checked); its signingKey hex is the responder's id. Latest timestamp per responder wins. */
  readonly responder: PublicIdentity
  /** The responder's clock, unix ms. */
  readonly timestamp: number
  /** Up to MAX_PIN_NOTE_CHARS code points; may be empty. */
  readonly note: string
}

/** What sealRsvp needs. */
export interface SealRsvpInit {
  /** The event answered (EVENT_ID_LENGTH bytes). */
  readonly eventId: Uint8Array
  /** The event host's Ed25519 key (the event's hostKey): the signature covers it. */
  readonly hostKey: Uint8Array
  /** The event's hostX: only its secret opens the RSVP; the signature covers it. */
  readonly hostX: Uint8Array
  /** Who answers; signs the answer. */
  readonly responder: Identity
  readonly choice: RsvpChoice
  /** Up to MAX_PIN_NOTE_CHARS code points. @default '' */
  readonly note?: string
  /** Timestamp, unix ms. @default Date.now() */
  readonly now?: number
}

function rsvpKeys (crypto: CryptoProvider, shared: Uint8Array, eventId: Uint8Array): { key: Uint8Array, nonce: Uint8Array } {
  const okm = crypto.hkdfSha256(shared, eventId, LABEL_BYTES, AEAD_KEY_LENGTH + AEAD_NONCE_LENGTH)
  return { key: okm.slice(0, AEAD_KEY_LENGTH), nonce: okm.slice(AEAD_KEY_LENGTH) }
}

function signedBytes (eventId: Uint8Array, hostKey: Uint8Array, hostX: Uint8Array, answerWithoutSignature: Uint8Array): Uint8Array {
  return concatBytes(LABEL_BYTES, eventId, hostKey, hostX, answerWithoutSignature)
}

/**
 * Seals an RSVP body (KIND_RSVP) to the event's host. Throws PostFormatError
 * for a note over the limit or a bad time, RangeError for a bad choice, key
 * size, or a hostX that is a low-order point (no shared secret).
 */
export function sealRsvp (crypto: CryptoProvider, init: SealRsvpInit): Uint8Array {
  assertBytes(init.eventId, 'eventId', EVENT_ID_LENGTH)
  assertBytes(init.hostKey, 'hostKey', KEY_LENGTH)
  assertBytes(init.hostX, 'hostX', KEY_LENGTH)
  assertBytes(init.responder.signingSeed, 'responder.signingSeed', KEY_LENGTH)
  assertBytes(init.responder.signingKey, 'responder.signingKey', KEY_LENGTH)
  assertBytes(init.responder.sealingKey, 'responder.sealingKey', KEY_LENGTH)
  const choiceIndex = RSVP_CHOICES.indexOf(init.choice)
  if (choiceIndex === -1) throw new RangeError(`"choice" expected one of ${RSVP_CHOICES.join(', ')}, got ${String(init.choice).slice(0, 20)}`)
  const note = encodeText(init.note ?? '', 'note', MAX_PIN_NOTE_CHARS, MAX_RSVP_NOTE_BYTES, 'note-too-long')
  const timestamp = checkTime(init.now ?? Date.now(), 'timestamp')

  const answer = new Uint8Array(ANSWER_FIXED_LENGTH + note.length + SIGNATURE_LENGTH)
  answer[0] = choiceIndex + 1
  answer.set(init.responder.signingKey, 1)
  answer.set(init.responder.sealingKey, 1 + KEY_LENGTH)
  writeUint64BE(answer, 1 + 2 * KEY_LENGTH, timestamp)
  writeUint16BE(answer, 1 + 2 * KEY_LENGTH + 8, note.length)
  answer.set(note, ANSWER_FIXED_LENGTH)
  const unsigned = answer.subarray(0, ANSWER_FIXED_LENGTH + note.length)
  answer.set(crypto.ed25519Sign(init.responder.signingSeed, signedBytes(init.eventId, init.hostKey, init.hostX, unsigned)), unsigned.length)

  const ephemeral = crypto.x25519KeyPair()
  const shared = crypto.x25519(ephemeral.secretKey, init.hostX)
  wipe(ephemeral.secretKey)
  if (shared === undefined) throw new RangeError('"hostX" is a low-order point: nothing can be sealed to it')
  const header = new Uint8Array(HEADER_LENGTH)
  header[0] = RSVP_VERSION
  header.set(init.eventId, 1)
  header.set(ephemeral.publicKey, 1 + EVENT_ID_LENGTH)
  const { key, nonce } = rsvpKeys(crypto, shared, init.eventId)
  const sealed = crypto.aeadSeal(key, nonce, answer, header)
  wipe(shared, key, nonce)
  return concatBytes(header, sealed)
}

/** The event an RSVP body answers, read without opening it; undefined unless it has an RSVP's shape. */
export function rsvpEventId (body: Uint8Array): Uint8Array | undefined {
  if (!(body instanceof Uint8Array) || body.length < MIN_RSVP_LENGTH || body.length > MAX_RSVP_LENGTH || body[0] !== RSVP_VERSION) return undefined
  return body.slice(1, 1 + EVENT_ID_LENGTH)
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Parses and verifies an opened answer; undefined on any rule broken. */
function readAnswer (crypto: CryptoProvider, eventId: Uint8Array, hostKey: Uint8Array, hostX: Uint8Array, answer: Uint8Array): Rsvp | undefined {
  if (answer.length < ANSWER_FIXED_LENGTH + SIGNATURE_LENGTH) return undefined
  const choice = RSVP_CHOICES[(answer[0] as number) - 1]
  if (choice === undefined) return undefined
  const timeOffset = 1 + 2 * KEY_LENGTH
  if (readUint32BE(answer, timeOffset) >= 0x20_0000) return undefined // 2^53 ms or more
  const timestamp = readUint64BE(answer, timeOffset)
  const noteLength = readUint16BE(answer, timeOffset + 8)
  if (noteLength > MAX_RSVP_NOTE_BYTES || answer.length !== ANSWER_FIXED_LENGTH + noteLength + SIGNATURE_LENGTH) return undefined
  let note: string
  try {
    note = decoder.decode(answer.subarray(ANSWER_FIXED_LENGTH, ANSWER_FIXED_LENGTH + noteLength))
  } catch {
    return undefined
  }
  if (codePointLength(note) > MAX_PIN_NOTE_CHARS) return undefined
  const signingKey = answer.slice(1, 1 + KEY_LENGTH)
  const unsigned = answer.subarray(0, ANSWER_FIXED_LENGTH + noteLength)
  const signature = answer.subarray(ANSWER_FIXED_LENGTH + noteLength)
  if (!crypto.ed25519Verify(signingKey, signedBytes(eventId, hostKey, hostX, unsigned), signature)) return undefined
  return {
    eventId,
    choice,
    responder: { signingKey, sealingKey: answer.slice(1 + KEY_LENGTH, 1 + 2 * KEY_LENGTH) },
    timestamp,
    note
  }
}

/**
 * Opens an RSVP body with the host's X25519 secret (the one behind the event's
 * hostX) for the event hosted by `hostKey`. With `expectedEventId`, an RSVP
 * for any other event is refused. The responder's signature must cover
 * `hostKey` and the hostX of `hostXSecret`: an answer to another host's event
 * does not open here. Returns undefined on any failure (wrong key, tampering,
 * malformed answer, bad signature); never throws on hostile bytes.
 */
export function openRsvp (crypto: CryptoProvider, body: Uint8Array, hostXSecret: Uint8Array, expectedEventId: Uint8Array | undefined, hostKey: Uint8Array): Rsvp | undefined {
  assertBytes(hostXSecret, 'hostXSecret', KEY_LENGTH)
  assertBytes(hostKey, 'hostKey', KEY_LENGTH)
  if (expectedEventId !== undefined) assertBytes(expectedEventId, 'expectedEventId', EVENT_ID_LENGTH)
  const eventId = rsvpEventId(body)
  if (eventId === undefined) return undefined
  if (expectedEventId !== undefined && !equalBytes(eventId, expectedEventId)) return undefined
  try {
    const input = Uint8Array.from(body)
    const header = input.subarray(0, HEADER_LENGTH)
    const shared = crypto.x25519(hostXSecret, input.slice(1 + EVENT_ID_LENGTH, HEADER_LENGTH))
    if (shared === undefined) return undefined
    const { key, nonce } = rsvpKeys(crypto, shared, eventId)
    const answer = crypto.aeadOpen(key, nonce, input.subarray(HEADER_LENGTH), header)
    wipe(shared, key, nonce)
    if (answer === undefined) return undefined
    const hostX = crypto.x25519PublicKey(hostXSecret)
    return readAnswer(crypto, eventId, hostKey, hostX, answer)
  } catch {
    // A provider may throw on a malformed point or key; hostile bytes never escape as an error.
    return undefined
  }
}
