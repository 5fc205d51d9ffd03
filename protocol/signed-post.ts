/**
 * Signed post envelopes (SPEC §14.3), shared by world posts (world.ts) and
 * circle posts (circle.ts). The two differ only in where the tag and the
 * message key come from; the envelope is built and opened the same way.
 *
 * The inner plaintext carries the author's sender block (Ed25519 key, X25519
 * key, signature), as a first contact does, and every part is signed over
 *
 *   "komrade/v1/post/signature" || version || expiry (4) || salt (24) || tag (16) || inner'
 *
 * where inner' is the 1947-byte inner plaintext with the signature zeroed.
 * Everyone who can open the envelope (every node for the world, every member
 * for a circle) could re-seal it, so the AEAD alone proves nothing about the
 * author: the signature does. It covers the header fields that mean
 * something (expiry, salt, tag), so a part cannot be moved into someone else's
 * post nor re-wrapped with another lifetime.
 */
import { assertBytes, assertInteger, concatBytes, utf8, wipe } from './bytes.js'
import {
  EXPIRY_LENGTH, EXPIRY_OFFSET, KIND_EVENT, KIND_GROUP_OP, KIND_PIN, KIND_POST, KIND_PROFILE, KIND_RSVP, KIND_VOTE, MAX_POST_PARTS, MAX_TTL_MINUTES, MESSAGE_ID_LENGTH,
  POST_BODY_CAPACITY, SALT_LENGTH, SALT_OFFSET, TAG_LENGTH, TAG_OFFSET, VERSION_OFFSET
} from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { envelopeAad, envelopeFields, envelopeWithHeader, expiryFor, freshEphemeral, setSealedBody } from './envelope.js'
import { MessageTooLargeError } from './errors.js'
import { identityId, type Identity, type PublicIdentity } from './identity.js'
import { decodeInner, encodeInner, SIGNATURE_OFFSET, type InnerMessage } from './inner.js'
import { splitPayload } from './parts.js'
import { sessionEnvelopeKeys } from './session.js'

/** Domain separation of a post signature. */
export const POST_SIGNATURE_LABEL = utf8('komrade/v1/post/signature')
const ZERO_SIGNATURE = new Uint8Array(64)

/** A post envelope that opened and whose author's signature checked out. */
export interface OpenedPost {
  /** The author, from the sender block; the signature proves it. */
  readonly author: PublicIdentity
  /** {@link identityId} of the author: the reassembly scope of the post's parts. */
  readonly authorId: string
  /** A kind of the channel it came through (SIGNED_POST_KINDS), part count at most MAX_POST_PARTS. */
  readonly message: InnerMessage
  /** The envelope's expiry, unix minutes: every part of a post carries the same. */
  readonly expiryMinute: number
}

/** A sealed post: envelopes ready for proof of work, as `Keyring.seal` returns them. */
export interface SealedPost {
  readonly messageId: Uint8Array
  readonly envelopes: Uint8Array[]
  /** The expiry of every envelope, unix minutes. */
  readonly expiryMinute: number
}

/**
 * Where a signed post envelope travels (SPEC §14.3, §15): the world tag, an
 * author's circle chain, a group member's chain, a group's anonymous channel,
 * or an event's channel. Each allows its own inner kinds.
 */
export type PostChannel = 'world' | 'circle' | 'group' | 'group-anonymous' | 'event'

/** The inner kinds each channel carries; an opener refuses any other (SPEC §15). */
export const CHANNEL_KINDS: Readonly<Record<PostChannel, ReadonlySet<number>>> = {
  world: new Set([KIND_POST, KIND_PROFILE, KIND_EVENT, KIND_PIN]),
  circle: new Set([KIND_POST, KIND_PROFILE]),
  group: new Set([KIND_POST, KIND_GROUP_OP, KIND_EVENT, KIND_PIN]),
  'group-anonymous': new Set([KIND_VOTE, KIND_EVENT, KIND_PIN]),
  event: new Set([KIND_EVENT, KIND_RSVP])
}

/** Every kind some channel carries: what a signed post envelope may hold at all. */
export const SIGNED_POST_KINDS: ReadonlySet<number> = new Set(Object.values(CHANNEL_KINDS).flatMap((kinds) => [...kinds]))

/** Options common to sealing a world post and a circle post. */
export interface SealPostOptions {
  /** Who writes: signs every part. */
  author: Identity
  /** A kind of {@link SIGNED_POST_KINDS}; of `channel`'s kinds when `channel` is given. */
  kind: number
  /** The channel the envelopes go to: `kind` must be one it carries. @default any signed post kind */
  channel?: PostChannel
  /** The encoded post or profile; split into parts of POST_BODY_CAPACITY bytes, at most MAX_POST_PARTS. */
  payload: Uint8Array
  /** Lifetime, 1..MAX_TTL_MINUTES. */
  ttlMinutes: number
  /** Author's clock, unix ms. @default Date.now() */
  now?: number
  /** Message id. @default 16 random bytes */
  messageId?: Uint8Array
}

/** The key material of one post envelope: where world and circle posts differ. */
export interface PostEnvelopeKeys {
  readonly salt: Uint8Array
  readonly tag: Uint8Array
  /** 32 bytes; the AEAD key and nonce are `sessionEnvelopeKeys(messageKey, salt)`. */
  readonly messageKey: Uint8Array
}

/** True for the social layer's kinds (post, profile): those of a circle, and the world's cardinal ones. */
export function isPostKind (kind: number): boolean {
  return kind === KIND_POST || kind === KIND_PROFILE
}

/** True when `channel` carries `kind` (SPEC §15). */
export function channelAllows (channel: PostChannel, kind: number): boolean {
  return CHANNEL_KINDS[channel]?.has(kind) === true
}

/** The bytes a post signature covers (SPEC §14.3); `innerZeroed` has its signature bytes set to zero. */
export function postSignedBytes (envelope: Uint8Array, innerZeroed: Uint8Array): Uint8Array {
  return concatBytes(
    POST_SIGNATURE_LABEL,
    envelope.subarray(VERSION_OFFSET, EXPIRY_OFFSET + EXPIRY_LENGTH),
    envelope.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LENGTH),
    envelope.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH),
    innerZeroed)
}

/**
 * Checks the options of a post and splits its payload: the inner messages
 * (without sender block) and the expiry. Throws on bad input, before any key
 * is used, so a refused post leaves no trace in a chain.
 */
export function postParts (crypto: CryptoProvider, options: SealPostOptions): { messageId: Uint8Array, expiryMinute: number, messages: InnerMessage[] } {
  const { author, kind, payload, ttlMinutes } = options
  assertBytes(author.signingSeed, 'author.signingSeed', 32)
  assertBytes(author.signingKey, 'author.signingKey', 32)
  assertBytes(author.sealingKey, 'author.sealingKey', 32)
  const allowed = options.channel === undefined ? SIGNED_POST_KINDS : CHANNEL_KINDS[options.channel]
  if (allowed === undefined) throw new RangeError(`"channel" expected one of ${Object.keys(CHANNEL_KINDS).join(', ')}, got ${String(options.channel)}`)
  if (!allowed.has(kind)) {
    throw new RangeError(`"kind" expected one of ${[...allowed].map((k) => `0x${k.toString(16)}`).join(', ')}${options.channel === undefined ? '' : ` (channel ${options.channel})`}, got ${String(kind)}`)
  }
  assertBytes(payload, 'payload')
  assertInteger(ttlMinutes, 'ttlMinutes', 1, MAX_TTL_MINUTES)
  const now = options.now ?? Date.now()
  assertInteger(now, 'now', 0, Number.MAX_SAFE_INTEGER)
  const messageId = options.messageId ?? crypto.randomBytes(MESSAGE_ID_LENGTH)
  assertBytes(messageId, 'messageId', MESSAGE_ID_LENGTH)
  if (Math.ceil(payload.length / POST_BODY_CAPACITY) > MAX_POST_PARTS) {
    throw new MessageTooLargeError(`A post spans at most ${MAX_POST_PARTS} envelopes (${MAX_POST_PARTS * POST_BODY_CAPACITY} bytes), got ${payload.length} bytes`)
  }
  const bodies = splitPayload(payload, POST_BODY_CAPACITY)
  const messages = bodies.map((body, partIndex) => ({ kind, timestamp: now, messageId, partIndex, partCount: bodies.length, body }))
  return { messageId, expiryMinute: expiryFor(now, ttlMinutes), messages }
}

/** Seals one signed post envelope (proof of work still to do). Wipes `keys.messageKey`. */
export function sealPostEnvelope (crypto: CryptoProvider, author: Identity, message: InnerMessage, expiryMinute: number, keys: PostEnvelopeKeys): Uint8Array {
  const ephemeral = freshEphemeral(crypto)
  wipe(ephemeral.secretKey) // only its public half: it makes this envelope look like every other (SPEC §2.1)
  const envelope = envelopeWithHeader({ expiryMinute, salt: keys.salt, ephemeral: ephemeral.wire, tag: keys.tag })
  const inner = encodeInner(message, { signingKey: author.signingKey, sealingKey: author.sealingKey, signature: ZERO_SIGNATURE })
  inner.set(crypto.ed25519Sign(author.signingSeed, postSignedBytes(envelope, inner)), SIGNATURE_OFFSET)
  const aead = sessionEnvelopeKeys(crypto, keys.messageKey, keys.salt)
  setSealedBody(envelope, crypto.aeadSeal(aead.key, aead.nonce, inner, envelopeAad(envelope)))
  wipe(keys.messageKey, aead.key, inner)
  return envelope
}

/**
 * Opens a post envelope with its message key: AEAD, inner plaintext with
 * sender block, kind (one of `kinds`) and part count, then the author's
 * signature. Returns undefined on any failure and never throws on a
 * 2048-byte envelope. The default takes every signed post kind: a circle
 * ring opens with it, and the screener keeps only its channel's kinds.
 */
export function openPostEnvelope (crypto: CryptoProvider, messageKey: Uint8Array, envelope: Uint8Array, kinds: ReadonlySet<number> = SIGNED_POST_KINDS): OpenedPost | undefined {
  const fields = envelopeFields(envelope)
  const aead = sessionEnvelopeKeys(crypto, messageKey, fields.salt)
  const inner = crypto.aeadOpen(aead.key, aead.nonce, fields.sealedBody, envelopeAad(envelope))
  wipe(aead.key)
  if (inner === undefined) return undefined
  const decoded = decodeInner(inner, true)
  if (decoded?.sender === undefined) return undefined
  const { message, sender } = decoded
  if (!kinds.has(message.kind) || message.partCount > MAX_POST_PARTS) return undefined
  inner.set(ZERO_SIGNATURE, SIGNATURE_OFFSET)
  if (!crypto.ed25519Verify(sender.signingKey, postSignedBytes(envelope, inner), sender.signature)) return undefined
  const author = { signingKey: sender.signingKey, sealingKey: sender.sealingKey }
  return { author, authorId: identityId(author), message, expiryMinute: fields.expiryMinute }
}
