/**
 * The keys of a group (SPEC §15.1), all derived from the epoch secret ES_e
 * (32 random bytes, replaced by every rekey):
 *
 *   member chain of M:  CK_0     = HMAC(ES_e, "komrade/v1/group/chain" || ed_M)
 *                       circleId = HMAC(ES_e, "komrade/v1/group/chain-id" || ed_M)[0..16]
 *   anonymous channel:  AK_e     = HMAC(ES_e, "komrade/v1/group/anonymous")
 *   rekey check:        check    = HMAC(ES_e, "komrade/v1/group/rekey-check")
 *
 * A member's chain is an ordinary circle chain (circle.ts): the node feeds
 * every member's chain to one CircleRing per group through a handoff it
 * builds itself, so no chain code is new. Every member can derive every
 * member's chain: the chain gives O(1) recognition and secrecy towards
 * non-members, never authorship, which is the Ed25519 signature of the
 * envelope (the ring refuses an envelope not signed by the chain's owner).
 */
import { assertBytes, concatBytes, utf8 } from './bytes.js'
import { CIRCLE_ID_LENGTH } from './constants.js'
import type { CircleChain } from './circle.js'
import type { CryptoProvider } from './crypto-provider.js'
import { encodeCircleKey } from './post-payload.js'

/** Length of an epoch secret. */
export const EPOCH_SECRET_LENGTH = 32
const CHAIN_LABEL = utf8('komrade/v1/group/chain')
const CHAIN_ID_LABEL = utf8('komrade/v1/group/chain-id')
const ANONYMOUS_LABEL = utf8('komrade/v1/group/anonymous')
const REKEY_CHECK_LABEL = utf8('komrade/v1/group/rekey-check')

/** A fresh epoch secret: 32 random bytes. The founder draws epoch 0's, each rekey the next one. */
export function newEpochSecret (crypto: CryptoProvider): Uint8Array {
  return crypto.randomBytes(EPOCH_SECRET_LENGTH)
}

function memberChainStart (crypto: CryptoProvider, epochSecret: Uint8Array, memberSigningKey: Uint8Array): { circleId: Uint8Array, chainKey: Uint8Array } {
  assertBytes(epochSecret, 'epochSecret', EPOCH_SECRET_LENGTH)
  assertBytes(memberSigningKey, 'memberSigningKey', 32)
  return {
    circleId: crypto.hmacSha256(epochSecret, concatBytes(CHAIN_ID_LABEL, memberSigningKey)).slice(0, CIRCLE_ID_LENGTH),
    chainKey: crypto.hmacSha256(epochSecret, concatBytes(CHAIN_LABEL, memberSigningKey))
  }
}

/**
 * The 53-byte circle handoff (`0x01 || circleId || u32 0 || CK_0`) of member
 * M's chain in this epoch, for `CircleRing.addChain(M, handoff, epoch)`: the
 * epoch number as `sentAt` orders the epochs, so the ring keeps the two newest.
 */
export function memberChainHandoff (crypto: CryptoProvider, epochSecret: Uint8Array, memberSigningKey: Uint8Array): Uint8Array {
  const start = memberChainStart(crypto, epochSecret, memberSigningKey)
  const handoff = encodeCircleKey({ circleId: start.circleId, index: 0, chainKey: start.chainKey })
  start.chainKey.fill(0)
  return handoff
}

/**
 * The sending side of our own chain in this epoch, at index 0. The node moves
 * `index` on and persists the chain BEFORE publishing what it sealed (a
 * restart must never reuse a step); it is derived afresh only for a new epoch.
 */
export function memberSendChain (crypto: CryptoProvider, epochSecret: Uint8Array, memberSigningKey: Uint8Array): CircleChain {
  const start = memberChainStart(crypto, epochSecret, memberSigningKey)
  return { circleId: start.circleId, chainKey: start.chainKey, index: 0 }
}

/** The key of the group's anonymous channel in this epoch: a salted channel as the world's (SPEC §14.2). */
export function anonymousChannelKey (crypto: CryptoProvider, epochSecret: Uint8Array): Uint8Array {
  assertBytes(epochSecret, 'epochSecret', EPOCH_SECRET_LENGTH)
  return crypto.hmacSha256(epochSecret, ANONYMOUS_LABEL)
}

/**
 * The `check` a rekey op carries: it commits the rekey's author to one
 * secret, so a member who decrypts its entry knows it holds the same secret
 * as every other member (SPEC §15.5).
 */
export function rekeyCheck (crypto: CryptoProvider, epochSecret: Uint8Array): Uint8Array {
  assertBytes(epochSecret, 'epochSecret', EPOCH_SECRET_LENGTH)
  return crypto.hmacSha256(epochSecret, REKEY_CHECK_LABEL)
}
