/**
 * Envelope v1: the only thing on the wire. 2048 bytes, always:
 *
 * | offset | bytes | field        |
 * |--------|-------|--------------|
 * | 0      | 1     | version 0x01 |
 * | 1      | 4     | expiry, unix minutes, big-endian |
 * | 5      | 8     | proof-of-work nonce |
 * | 13     | 24    | salt |
 * | 37     | 32    | ephemeral X25519 key (top bit random) |
 * | 69     | 16    | tag |
 * | 85     | 1963  | sealed body: ChaCha20-Poly1305 of 1947 bytes + 16-byte tag |
 *
 * This file builds the shell and checks envelopes from the network; what the
 * body holds is in inner.ts, how it is keyed in handshake.ts and session.ts.
 */
import { assertBytes, concatBytes, readUint32BE, writeUint32BE } from './bytes.js'
import {
  CLOCK_SKEW_MINUTES, ENVELOPE_SIZE, ENVELOPE_VERSION, EPHEMERAL_LENGTH, EPHEMERAL_OFFSET, EXPIRY_OFFSET,
  MAX_TTL_MINUTES, NONCE_OFFSET, SALT_LENGTH, SALT_OFFSET, SEALED_BODY_LENGTH, SEALED_BODY_OFFSET,
  TAG_LENGTH, TAG_OFFSET, VERSION_OFFSET
} from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { EnvelopeFormatError } from './errors.js'
import { hasEnoughWork, minuteOf } from './work.js'

/** Why an envelope from the network is refused (SPEC §7). */
export type EnvelopeRejection = 'wrong-size' | 'unknown-version' | 'expired' | 'expiry-too-far' | 'insufficient-work'

/** The outcome of {@link checkEnvelope}. */
export type EnvelopeVerdict =
  | { readonly valid: true, readonly expiryMinute: number }
  | { readonly valid: false, readonly reason: EnvelopeRejection }

/** Options of {@link checkEnvelope}. */
export interface CheckEnvelopeOptions {
  /** Current time in ms. @default Date.now() */
  now?: number
}

/**
 * Checks an envelope from the network in the order of SPEC §7: exact size,
 * known version, expiry window, proof of work. Never throws, whatever
 * `envelope` is: this runs on every message from every peer.
 */
export function checkEnvelope (crypto: CryptoProvider, envelope: unknown, options: CheckEnvelopeOptions = {}): EnvelopeVerdict {
  if (!(envelope instanceof Uint8Array) || envelope.length !== ENVELOPE_SIZE) return { valid: false, reason: 'wrong-size' }
  if (envelope[VERSION_OFFSET] !== ENVELOPE_VERSION) return { valid: false, reason: 'unknown-version' }
  const now = options.now ?? Date.now()
  const nowMinute = minuteOf(now)
  const expiryMinute = readUint32BE(envelope, EXPIRY_OFFSET)
  if (expiryMinute < nowMinute - CLOCK_SKEW_MINUTES) return { valid: false, reason: 'expired' }
  if (expiryMinute > nowMinute + MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES) return { valid: false, reason: 'expiry-too-far' }
  if (!hasEnoughWork(crypto, envelope, now)) return { valid: false, reason: 'insufficient-work' }
  return { valid: true, expiryMinute }
}

/**
 * Throws EnvelopeFormatError unless `envelope` has the v1 shape (size and
 * version). Expiry and work are the validator's business ({@link checkEnvelope}).
 */
export function assertEnvelopeShape (envelope: unknown): asserts envelope is Uint8Array {
  assertBytes(envelope, 'envelope')
  if (envelope.length !== ENVELOPE_SIZE) {
    throw new EnvelopeFormatError(`An envelope is exactly ${ENVELOPE_SIZE} bytes, got ${envelope.length}`, 'wrong-size')
  }
  if (envelope[VERSION_OFFSET] !== ENVELOPE_VERSION) {
    throw new EnvelopeFormatError(`Unknown envelope version ${envelope[VERSION_OFFSET]}; this node speaks version ${ENVELOPE_VERSION}`, 'unknown-version')
  }
}

/** The expiry of an envelope in unix minutes. */
export function envelopeExpiryMinute (envelope: Uint8Array): number {
  return readUint32BE(envelope, EXPIRY_OFFSET)
}

/** The envelope id: SHA-256 of all 2048 bytes (also the gossipsub message id). */
export function envelopeId (crypto: CryptoProvider, envelope: Uint8Array): Uint8Array {
  return crypto.sha256(envelope)
}

/** Read-only views of an envelope's fields. */
export interface EnvelopeFields {
  readonly expiryMinute: number
  readonly salt: Uint8Array
  readonly ephemeral: Uint8Array
  readonly tag: Uint8Array
  readonly sealedBody: Uint8Array
}

/** Views (not copies) of the fields of a v1-shaped envelope. */
export function envelopeFields (envelope: Uint8Array): EnvelopeFields {
  return {
    expiryMinute: readUint32BE(envelope, EXPIRY_OFFSET),
    salt: envelope.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LENGTH),
    ephemeral: envelope.subarray(EPHEMERAL_OFFSET, EPHEMERAL_OFFSET + EPHEMERAL_LENGTH),
    tag: envelope.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH),
    sealedBody: envelope.subarray(SEALED_BODY_OFFSET)
  }
}

/**
 * The AEAD's associated data: every header byte except the nonce (which the
 * proof of work fills in after sealing). 77 bytes.
 */
export function envelopeAad (envelope: Uint8Array): Uint8Array {
  return concatBytes(envelope.subarray(VERSION_OFFSET, NONCE_OFFSET), envelope.subarray(SALT_OFFSET, SEALED_BODY_OFFSET))
}

/** The header fields a sealer chooses; the nonce starts at zero until {@link solveWork}. */
export interface EnvelopeHeader {
  expiryMinute: number
  salt: Uint8Array
  ephemeral: Uint8Array
  tag: Uint8Array
}

/** Writes a header into a fresh 2048-byte envelope whose body is still empty. */
export function envelopeWithHeader (header: EnvelopeHeader): Uint8Array {
  assertBytes(header.salt, 'salt', SALT_LENGTH)
  assertBytes(header.ephemeral, 'ephemeral', EPHEMERAL_LENGTH)
  assertBytes(header.tag, 'tag', TAG_LENGTH)
  const envelope = new Uint8Array(ENVELOPE_SIZE)
  envelope[VERSION_OFFSET] = ENVELOPE_VERSION
  writeUint32BE(envelope, EXPIRY_OFFSET, header.expiryMinute)
  envelope.set(header.salt, SALT_OFFSET)
  envelope.set(header.ephemeral, EPHEMERAL_OFFSET)
  envelope.set(header.tag, TAG_OFFSET)
  return envelope
}

/** Puts the sealed body (exactly 1963 bytes) into an envelope built by {@link envelopeWithHeader}. */
export function setSealedBody (envelope: Uint8Array, sealedBody: Uint8Array): void {
  assertBytes(sealedBody, 'sealedBody', SEALED_BODY_LENGTH)
  envelope.set(sealedBody, SEALED_BODY_OFFSET)
}

/**
 * A fresh X25519 key pair whose public key has its (ignored) top bit set at
 * random, so the ephemeral field of every envelope has the same distribution
 * (SPEC §2.1). Returns the wire form of the public key.
 */
export function freshEphemeral (crypto: CryptoProvider): { secretKey: Uint8Array, wire: Uint8Array } {
  const pair = crypto.x25519KeyPair()
  const wire = pair.publicKey.slice()
  const coin = crypto.randomBytes(1)[0] as number
  wire[31] = ((wire[31] as number) & 0x7f) | (coin & 0x80)
  return { secretKey: pair.secretKey, wire }
}

/** The X25519 u-coordinate of a wire ephemeral: the top bit cleared (RFC 7748 §5). */
export function ephemeralPoint (wire: Uint8Array): Uint8Array {
  const point = Uint8Array.from(wire) // a copy even when `wire` is a Buffer
  point[31] = (point[31] as number) & 0x7f
  return point
}

/** Expiry minute for an envelope sent at `nowMs` that should live `ttlMinutes`. */
export function expiryFor (nowMs: number, ttlMinutes: number): number {
  return minuteOf(nowMs) + ttlMinutes
}
