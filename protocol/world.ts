/**
 * The world feed (SPEC §14.2): posts every node can read. The network's
 * world key is public by design (SPEC §14.1):
 *
 *   worldKey = HMAC(utf8("komrade/v1/world"), utf8(networkName))
 *
 * A world envelope carries `tag = HMAC(worldKey, 0x01 || salt)[0..16]` and is
 * sealed, as a session envelope is, with the message key
 * `HMAC(worldKey, 0x02 || salt)`; the inner plaintext is signed by the author
 * (signed-post.ts). So one HMAC tells any node whether an envelope is a world
 * post, and nothing on the wire says who published it.
 */
import { assertBytes, concatBytes, plainBytes, utf8 } from './bytes.js'
import { ENVELOPE_SIZE, SALT_LENGTH, SALT_OFFSET, TAG_LENGTH, TAG_OFFSET } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import {
  CHANNEL_KINDS, openPostEnvelope, postParts, sealPostEnvelope, SIGNED_POST_KINDS, type OpenedPost, type SealedPost, type SealPostOptions
} from './signed-post.js'

/** HMAC key of the world key derivation. */
const WORLD_LABEL = utf8('komrade/v1/world')
/** Prefix of the world tag's HMAC input. */
const WORLD_TAG_PREFIX = 0x01
/** Prefix of the world message key's HMAC input. */
const WORLD_MESSAGE_PREFIX = 0x02
/** Longest network name accepted (it is configuration, not input from the wire). */
const MAX_NETWORK_NAME_LENGTH = 256

/** The network's world key (32 bytes). Public: anyone who knows the network name can compute it. */
export function worldKey (crypto: CryptoProvider, networkName: string): Uint8Array {
  if (typeof networkName !== 'string' || networkName.length === 0 || networkName.length > MAX_NETWORK_NAME_LENGTH) {
    throw new TypeError(`"networkName" expected a string of 1 to ${MAX_NETWORK_NAME_LENGTH} characters`)
  }
  return crypto.hmacSha256(WORLD_LABEL, utf8(networkName))
}

/** The world tag of an envelope with this salt: HMAC(worldKey, 0x01 || salt)[0..16]. */
export function worldTag (crypto: CryptoProvider, key: Uint8Array, salt: Uint8Array): Uint8Array {
  assertBytes(key, 'worldKey', 32)
  assertBytes(salt, 'salt', SALT_LENGTH)
  return crypto.hmacSha256(key, concatBytes(Uint8Array.of(WORLD_TAG_PREFIX), salt)).slice(0, TAG_LENGTH)
}

function worldMessageKey (crypto: CryptoProvider, key: Uint8Array, salt: Uint8Array): Uint8Array {
  return crypto.hmacSha256(key, concatBytes(Uint8Array.of(WORLD_MESSAGE_PREFIX), salt))
}

/**
 * One HMAC (through `crypto`): does this envelope carry the world tag for its
 * salt? Never throws. The screener uses the faster {@link createWorldTagMatcher},
 * which gives the same answers.
 */
export function isWorldEnvelope (crypto: CryptoProvider, key: Uint8Array, envelope: Uint8Array): boolean {
  try {
    const input = plainBytes(envelope)
    if (input.length !== ENVELOPE_SIZE) return false
    const expected = worldTag(crypto, key, input.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LENGTH))
    let diff = 0
    for (let i = 0; i < TAG_LENGTH; i++) diff |= (expected[i] as number) ^ (input[TAG_OFFSET + i] as number)
    return diff === 0
  } catch {
    return false
  }
}

/**
 * Seals a world post: one signed envelope per part of POST_BODY_CAPACITY
 * bytes, each with a fresh salt and so its own tag and key (proof of work
 * still to do). Throws on bad options (TypeError, RangeError,
 * MessageTooLargeError).
 */
export function sealWorldPost (crypto: CryptoProvider, options: SealPostOptions & { worldKey: Uint8Array }): SealedPost {
  assertBytes(options.worldKey, 'worldKey', 32)
  return sealChannelPost(crypto, { channel: 'world', ...options, channelKey: options.worldKey })
}

/**
 * Seals a post on a **salted channel** (SPEC §15): the world's construction
 * with another key, a group's anonymous channel or an event's channel.
 * `channel` names which, for the kinds it allows.
 */
export function sealChannelPost (crypto: CryptoProvider, options: SealPostOptions & { channelKey: Uint8Array }): SealedPost {
  assertBytes(options.channelKey, 'channelKey', 32)
  const { messageId, expiryMinute, messages } = postParts(crypto, options)
  const envelopes = messages.map((message) => {
    const salt = crypto.randomBytes(SALT_LENGTH)
    return sealPostEnvelope(crypto, options.author, message, expiryMinute, {
      salt, tag: worldTag(crypto, options.channelKey, salt), messageKey: worldMessageKey(crypto, options.channelKey, salt)
    })
  })
  return { messageId, envelopes, expiryMinute }
}

/**
 * Opens a world envelope: tag, AEAD, inner plaintext, kind, signature.
 * Returns undefined for anything else and never throws.
 */
export function openWorldEnvelope (crypto: CryptoProvider, key: Uint8Array, envelope: Uint8Array): OpenedPost | undefined {
  try {
    if (!isWorldEnvelope(crypto, key, envelope)) return undefined
    return openMatchedWorldEnvelope(crypto, key, envelope)
  } catch {
    return undefined
  }
}

/** {@link openWorldEnvelope} after the tag already matched: the world's kinds only. Never throws. */
export function openMatchedWorldEnvelope (crypto: CryptoProvider, key: Uint8Array, envelope: Uint8Array): OpenedPost | undefined {
  return openMatchedChannelEnvelope(crypto, key, envelope, CHANNEL_KINDS.world)
}

/**
 * Opens an envelope of a salted channel keyed `key` whose tag already
 * matched (createWorldTagMatcher(key)): only `kinds` are taken. Never throws.
 */
export function openMatchedChannelEnvelope (crypto: CryptoProvider, key: Uint8Array, envelope: Uint8Array, kinds: ReadonlySet<number> = SIGNED_POST_KINDS): OpenedPost | undefined {
  try {
    const input = plainBytes(envelope)
    const salt = input.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LENGTH)
    return openPostEnvelope(crypto, worldMessageKey(crypto, key, salt), input, kinds)
  } catch {
    return undefined
  }
}

// --- The world tag check on the screening hot path -------------------------------------------
//
// Every envelope that is not for a local session or circle costs one world-tag HMAC. Through
// node:crypto an HMAC is ~3.7 µs (object setup, key import, two digests); here the HMAC's inner and
// outer key blocks are compressed once per world key, and each check is the two remaining SHA-256
// compressions (FIPS 180-4) over fixed-size blocks in plain JavaScript. Same bytes, same answer:
// test/unit/social-world.test.ts checks it against both providers' HMAC.

const SHA256_K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
])
const SHA256_IV = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])
const SHA256_BLOCK = 64
/** Bits hashed by the inner digest: key block (64) + 0x01 || salt (25). */
const INNER_BITS = (SHA256_BLOCK + 1 + SALT_LENGTH) * 8
/** Bits hashed by the outer digest: key block (64) + inner digest (32). */
const OUTER_BITS = (SHA256_BLOCK + 32) * 8
// Int32Array, not Uint32Array: reads stay small integers in V8 (a u32 above 2^31 would be a heap double).
const schedule = new Int32Array(64)

/** One SHA-256 compression of the 16 words in `schedule[0..16]` onto `state`, into `out`. */
function compress (state: Int32Array, out: Int32Array): void {
  const w = schedule
  for (let i = 16; i < 64; i++) {
    const w15 = w[i - 15]!
    const w2 = w[i - 2]!
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0
  }
  let a = state[0]!; let b = state[1]!; let c = state[2]!; let d = state[3]!
  let e = state[4]!; let f = state[5]!; let g = state[6]!; let h = state[7]!
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + SHA256_K[i]! + w[i]!) | 0
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0
  }
  out[0] = (state[0]! + a) | 0; out[1] = (state[1]! + b) | 0; out[2] = (state[2]! + c) | 0; out[3] = (state[3]! + d) | 0
  out[4] = (state[4]! + e) | 0; out[5] = (state[5]! + f) | 0; out[6] = (state[6]! + g) | 0; out[7] = (state[7]! + h) | 0
}

/** The state after compressing `key` (32 bytes, zero-padded to a block) XOR `pad`. */
function keyBlockState (key: Uint8Array, pad: number): Int32Array {
  for (let i = 0; i < 16; i++) {
    let word = 0
    for (let j = 0; j < 4; j++) word = (word << 8) | (((key[4 * i + j] ?? 0) ^ pad) & 0xff)
    schedule[i] = word
  }
  const state = new Int32Array(8)
  compress(SHA256_IV, state)
  return state
}

/**
 * A fast world-tag check for one world key: `(envelope) => boolean`, the same
 * answer as {@link isWorldEnvelope} at the cost of two SHA-256 compressions.
 * `envelope` must be a 2048-byte envelope (the screener checks that first).
 */
export function createWorldTagMatcher (key: Uint8Array): (envelope: Uint8Array) => boolean {
  assertBytes(key, 'worldKey', 32)
  const inner = keyBlockState(key, 0x36)
  const outer = keyBlockState(key, 0x5c)
  const digest = new Int32Array(8)
  return (envelope) => {
    const w = schedule
    // Inner block: 0x01 || salt (24) || 0x80 || zeros || bit length. Bytes 0..25 hold prefix and salt.
    const s = SALT_OFFSET
    w[0] = (WORLD_TAG_PREFIX << 24) | (envelope[s]! << 16) | (envelope[s + 1]! << 8) | envelope[s + 2]!
    for (let i = 1; i < 6; i++) {
      const o = s + 4 * i - 1
      w[i] = (envelope[o]! << 24) | (envelope[o + 1]! << 16) | (envelope[o + 2]! << 8) | envelope[o + 3]!
    }
    w[6] = (envelope[s + 23]! << 24) | 0x0080_0000
    for (let i = 7; i < 15; i++) w[i] = 0
    w[15] = INNER_BITS
    compress(inner, digest)
    // Outer block: inner digest (8 words) || 0x80 || zeros || bit length.
    for (let i = 0; i < 8; i++) w[i] = digest[i]!
    w[8] = 0x8000_0000
    for (let i = 9; i < 15; i++) w[i] = 0
    w[15] = OUTER_BITS
    compress(outer, digest)
    let diff = 0
    for (let i = 0; i < 4; i++) {
      const t = TAG_OFFSET + 4 * i
      diff |= digest[i]! ^ ((envelope[t]! << 24) | (envelope[t + 1]! << 16) | (envelope[t + 2]! << 8) | envelope[t + 3]!)
    }
    return diff === 0
  }
}
