/**
 * First contact and its answer (SPEC §4.1, §4.2).
 *
 * INIT (A to B, a first-contact envelope): A picks an ephemeral e_A and seals
 * to B's X25519 key with s1 = X25519(e_A, X_B). The inner plaintext carries
 * A's keys and A's Ed25519 signature (sealed sender: only B sees who wrote).
 * The tag field holds a check value derived from s1, so B rejects envelopes
 * not for it after one X25519 and one hash, without running the AEAD.
 *
 * ACCEPT (B to A): B picks e_B and answers under the "accept tag" that A
 * derived from s1 and watches for. The session root mixes
 * s1 = DH(e_A, X_B), s2 = DH(e_A, e_B) and s3 = DH(X_A, e_B); both sides wipe
 * their ephemeral secrets once the root exists, so stealing both identity keys
 * later opens no session envelope (the INIT itself stays readable to whoever
 * holds B's key, as any message sealed to a static key does).
 */
import { concatBytes, toHex, utf8, wipe, writeUint32BE } from './bytes.js'
import { EPHEMERAL_OFFSET, FIRST_CONTACT_BODY_CAPACITY, SALT_LENGTH, SALT_OFFSET, TAG_LENGTH, TAG_OFFSET } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import {
  envelopeAad, envelopeFields, envelopeWithHeader, ephemeralPoint, freshEphemeral, setSealedBody
} from './envelope.js'
import type { Identity, PublicIdentity } from './identity.js'
import { decodeInner, encodeInner, SIGNATURE_OFFSET, type InnerMessage } from './inner.js'
import { createSession, deriveSessionSecrets, type SessionState } from './session.js'
import { MessageTooLargeError } from './errors.js'

const CHECK_LABEL = utf8('komrade/v1/first-contact/tag')
const KEYS_LABEL = utf8('komrade/v1/first-contact')
const SIGNATURE_LABEL = utf8('komrade/v1/first-contact/signature')
const TRANSCRIPT_LABEL = utf8('komrade/v1/session/transcript')
const ZERO_SIGNATURE = new Uint8Array(64)

/**
 * What the responder needs to answer a first-contact envelope: both sides
 * hold these values for one handshake. Holds secrets.
 */
export interface AcceptOffer {
  /** The initiator. */
  readonly peer: PublicIdentity
  /** E_A as on the wire (top bit included). */
  readonly ephemeralWire: Uint8Array
  /** s1 = X25519(e_A, X_B). */
  readonly sharedSecret: Uint8Array
  /** The first contact's salt. */
  readonly salt: Uint8Array
  /** The tag the accept will carry. */
  readonly acceptTag: Uint8Array
  /** The first contact's timestamp: orders sessions (SPEC §4.5). */
  readonly startedAt: number
  /** The first contact's expiry minute. */
  readonly expiryMinute: number
}

/** What the initiator keeps until the accept arrives: the same values and e_A. Holds secrets. */
export interface PendingHandshake extends AcceptOffer {
  /** The responder, for the initiator. */
  readonly peer: PublicIdentity
  /** e_A, wiped once the accept opens. */
  readonly ephemeralSecret: Uint8Array
}

function checkTag (crypto: CryptoProvider, shared: Uint8Array, ephemeralWire: Uint8Array, recipientSealingKey: Uint8Array, salt: Uint8Array): Uint8Array {
  return crypto.sha256(concatBytes(CHECK_LABEL, shared, ephemeralWire, recipientSealingKey, salt)).slice(0, TAG_LENGTH)
}

function firstContactKeys (crypto: CryptoProvider, shared: Uint8Array, ephemeralWire: Uint8Array, recipientSealingKey: Uint8Array, salt: Uint8Array): {
  key: Uint8Array, nonce: Uint8Array, acceptTag: Uint8Array
} {
  const okm = crypto.hkdfSha256(shared, salt, concatBytes(KEYS_LABEL, ephemeralWire, recipientSealingKey), 32 + 12 + 16)
  return { key: okm.slice(0, 32), nonce: okm.slice(32, 44), acceptTag: okm.slice(44, 60) }
}

function signedBytes (recipient: PublicIdentity, ephemeralWire: Uint8Array, expiryMinute: number, salt: Uint8Array, innerWithoutSignature: Uint8Array): Uint8Array {
  const expiry = new Uint8Array(4)
  writeUint32BE(expiry, 0, expiryMinute)
  return concatBytes(SIGNATURE_LABEL, recipient.signingKey, recipient.sealingKey, ephemeralWire, expiry, salt, innerWithoutSignature)
}

/** Seals a first-contact envelope (proof of work still to do). */
export function sealFirstContact (crypto: CryptoProvider, options: {
  from: Identity
  to: PublicIdentity
  message: InnerMessage
  expiryMinute: number
}): { envelope: Uint8Array, pending: PendingHandshake } {
  const { from, to, message, expiryMinute } = options
  if (message.body.length > FIRST_CONTACT_BODY_CAPACITY) {
    throw new MessageTooLargeError(`A first-contact envelope carries at most ${FIRST_CONTACT_BODY_CAPACITY} body bytes, got ${message.body.length}`)
  }
  const ephemeral = freshEphemeral(crypto)
  const shared = crypto.x25519(ephemeral.secretKey, to.sealingKey)
  if (shared === undefined) throw new RangeError('"to.sealingKey" is a low-order point and cannot be sealed to')
  const salt = crypto.randomBytes(SALT_LENGTH)
  const tag = checkTag(crypto, shared, ephemeral.wire, to.sealingKey, salt)
  const keys = firstContactKeys(crypto, shared, ephemeral.wire, to.sealingKey, salt)

  const unsigned = encodeInner(message, { signingKey: from.signingKey, sealingKey: from.sealingKey, signature: ZERO_SIGNATURE })
  const signature = crypto.ed25519Sign(from.signingSeed, signedBytes(to, ephemeral.wire, expiryMinute, salt, unsigned))
  unsigned.set(signature, SIGNATURE_OFFSET)

  const envelope = envelopeWithHeader({ expiryMinute, salt, ephemeral: ephemeral.wire, tag })
  setSealedBody(envelope, crypto.aeadSeal(keys.key, keys.nonce, unsigned, envelopeAad(envelope)))
  wipe(keys.key, unsigned)
  return {
    envelope,
    pending: {
      peer: { signingKey: to.signingKey, sealingKey: to.sealingKey },
      ephemeralSecret: ephemeral.secretKey,
      ephemeralWire: ephemeral.wire,
      sharedSecret: shared,
      salt,
      acceptTag: keys.acceptTag,
      startedAt: message.timestamp,
      expiryMinute
    }
  }
}

const CHECK_INPUT = new Uint8Array(CHECK_LABEL.length + 32 + 32 + 32 + SALT_LENGTH)
CHECK_INPUT.set(CHECK_LABEL, 0)

/** checkTag() compared with the envelope's tag in place: no concatenation of five parts, no slice. */
function checkTagMatches (crypto: CryptoProvider, shared: Uint8Array, envelope: Uint8Array, recipientSealingKey: Uint8Array): boolean {
  let offset = CHECK_LABEL.length
  CHECK_INPUT.set(shared, offset)
  CHECK_INPUT.set(envelope.subarray(EPHEMERAL_OFFSET, EPHEMERAL_OFFSET + 32), offset += 32)
  CHECK_INPUT.set(recipientSealingKey, offset += 32)
  CHECK_INPUT.set(envelope.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LENGTH), offset += 32)
  const digest = crypto.sha256(CHECK_INPUT)
  CHECK_INPUT.fill(0, CHECK_LABEL.length, CHECK_LABEL.length + 32)
  let diff = 0
  for (let i = 0; i < TAG_LENGTH; i++) diff |= (digest[i] as number) ^ (envelope[TAG_OFFSET + i] as number)
  return diff === 0
}

/**
 * Tries to open `envelope` as a first-contact envelope to `identity`: one
 * X25519 and one hash for an envelope that is not. Never throws.
 */
export function openFirstContact (crypto: CryptoProvider, identity: Identity, envelope: Uint8Array): {
  message: InnerMessage, sender: PublicIdentity, offer: AcceptOffer
} | undefined {
  const shared = crypto.x25519(identity.sealingSecret, ephemeralPoint(envelope.subarray(EPHEMERAL_OFFSET, EPHEMERAL_OFFSET + 32)))
  if (shared === undefined) return undefined
  if (!checkTagMatches(crypto, shared, envelope, identity.sealingKey)) return undefined
  const fields = envelopeFields(envelope)
  const keys = firstContactKeys(crypto, shared, fields.ephemeral, identity.sealingKey, fields.salt)
  const inner = crypto.aeadOpen(keys.key, keys.nonce, fields.sealedBody, envelopeAad(envelope))
  if (inner === undefined) return undefined
  const decoded = decodeInner(inner, true)
  if (decoded?.sender === undefined) return undefined
  const { message, sender } = decoded
  inner.set(ZERO_SIGNATURE, SIGNATURE_OFFSET)
  const signed = signedBytes(identity, fields.ephemeral, fields.expiryMinute, fields.salt, inner)
  if (!crypto.ed25519Verify(sender.signingKey, signed, sender.signature)) return undefined
  const peer = { signingKey: sender.signingKey, sealingKey: sender.sealingKey }
  return {
    message,
    sender: peer,
    offer: {
      peer,
      ephemeralWire: fields.ephemeral.slice(),
      sharedSecret: shared,
      salt: fields.salt.slice(),
      acceptTag: keys.acceptTag,
      startedAt: message.timestamp,
      expiryMinute: fields.expiryMinute
    }
  }
}

function transcript (initiator: PublicIdentity, responder: PublicIdentity, initEphemeral: Uint8Array, acceptEphemeral: Uint8Array, initSalt: Uint8Array, acceptSalt: Uint8Array): Uint8Array {
  return concatBytes(TRANSCRIPT_LABEL, initEphemeral, acceptEphemeral, initiator.signingKey, initiator.sealingKey,
    responder.signingKey, responder.sealingKey, initSalt, acceptSalt)
}

/** Seals the accept that answers `offer`, and returns the responder's new session. */
export function sealAccept (crypto: CryptoProvider, options: {
  identity: Identity
  offer: AcceptOffer
  message: InnerMessage
  expiryMinute: number
}): { envelope: Uint8Array, session: SessionState } {
  const { identity, offer, message, expiryMinute } = options
  const ephemeral = freshEphemeral(crypto)
  const s2 = crypto.x25519(ephemeral.secretKey, ephemeralPoint(offer.ephemeralWire))
  const s3 = crypto.x25519(ephemeral.secretKey, offer.peer.sealingKey)
  if (s2 === undefined || s3 === undefined) throw new RangeError('"offer" holds a low-order key; refusing to answer it')
  const salt = crypto.randomBytes(SALT_LENGTH)
  const secrets = deriveSessionSecrets(crypto, [offer.sharedSecret, s2, s3],
    transcript(offer.peer, identity, offer.ephemeralWire, ephemeral.wire, offer.salt, salt))
  wipe(ephemeral.secretKey, s2, s3)

  const envelope = envelopeWithHeader({ expiryMinute, salt, ephemeral: ephemeral.wire, tag: offer.acceptTag })
  const inner = encodeInner(message)
  setSealedBody(envelope, crypto.aeadSeal(secrets.key, secrets.nonce, inner, envelopeAad(envelope)))
  const session = createSession(crypto, secrets.root, 'responder', secrets.id, offer.startedAt)
  wipe(secrets.root, secrets.key)
  return { envelope, session }
}

/**
 * Opens an accept that answers `pending` (found by its tag). On success the
 * initiator's ephemeral secret is wiped and the session returned.
 */
export function openAccept (crypto: CryptoProvider, identity: Identity, pending: PendingHandshake, envelope: Uint8Array): {
  message: InnerMessage, session: SessionState
} | undefined {
  const fields = envelopeFields(envelope)
  const point = ephemeralPoint(fields.ephemeral)
  const s2 = crypto.x25519(pending.ephemeralSecret, point)
  const s3 = crypto.x25519(identity.sealingSecret, point)
  if (s2 === undefined || s3 === undefined) return undefined
  const secrets = deriveSessionSecrets(crypto, [pending.sharedSecret, s2, s3],
    transcript(identity, pending.peer, pending.ephemeralWire, fields.ephemeral, pending.salt, fields.salt))
  wipe(s2, s3)
  const inner = crypto.aeadOpen(secrets.key, secrets.nonce, fields.sealedBody, envelopeAad(envelope))
  if (inner === undefined) return undefined
  const decoded = decodeInner(inner, false)
  if (decoded === undefined) return undefined
  const session = createSession(crypto, secrets.root, 'initiator', secrets.id, pending.startedAt)
  wipe(secrets.root, secrets.key, pending.ephemeralSecret, pending.sharedSecret)
  return { message: decoded.message, session }
}

/** A stable key for a pending handshake or offer: hex of its ephemeral key. */
export function handshakeKey (ephemeralWire: Uint8Array): string {
  return toHex(ephemeralWire)
}
