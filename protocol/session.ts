/**
 * Pairwise sessions after first contact (SPEC §4.3). A 32-byte root key gives
 * two hash chains, one per direction. Each step of a chain yields the tag of
 * one envelope, the key that seals it, and the next chain key; the old chain
 * key is wiped, so a stolen session state opens nothing sent before it.
 *
 * The receiver derives tags ahead (REORDER_WINDOW past the newest index it has
 * seen, and to the end of a multi-part payload it has started to receive) and
 * keeps skipped keys for envelopes that arrive late, up to a bound.
 */
import { concatBytes, fromHex, toHex, utf8, wipe } from './bytes.js'
import { MAX_PARTS, REORDER_WINDOW } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { KeyFormatError } from './errors.js'

const CHAIN_INITIATOR_LABEL = utf8('komrade/v1/chain/initiator')
const CHAIN_RESPONDER_LABEL = utf8('komrade/v1/chain/responder')
const MESSAGE_LABEL = utf8('komrade/v1/session/message')
const STEP_TAG = Uint8Array.of(0x01)
const STEP_MESSAGE_KEY = Uint8Array.of(0x02)
const STEP_NEXT = Uint8Array.of(0x03)
/** Skipped keys kept per session: a whole multi-part payload plus the window. */
export const MAX_SKIPPED_KEYS = MAX_PARTS + REORDER_WINDOW
/** Furthest the receive window runs past the highest step opened: a whole payload plus the window. */
const MAX_WINDOW_AHEAD = MAX_PARTS + REORDER_WINDOW

/** One derived but unused step of a receiving chain. */
export interface ReceiveKey {
  readonly index: number
  readonly tag: Uint8Array
  readonly messageKey: Uint8Array
}

/** Which side of the handshake this party was. */
export type SessionRole = 'initiator' | 'responder'

/**
 * The receiving half of a hash chain with its window (SPEC §4.3): what a
 * session and a circle receiver (circle.ts, SPEC §14.4) share.
 */
export interface ReceiveChain {
  /** Key of step `receiveNext`. */
  receiveChainKey: Uint8Array
  /** Index of `receiveChainKey`: the next step not yet derived. */
  receiveNext: number
  /** Highest index opened so far (one below the first index before anything opened). */
  receiveHighest: number
  /** Derived, unused receive steps by index. */
  readonly receiveKeys: Map<number, ReceiveKey>
}

/** The mutable state of one session. Persist it after every change. */
export interface SessionState extends ReceiveChain {
  /** 16 hex characters, the same on both sides. */
  readonly id: string
  readonly role: SessionRole
  /** Timestamp of the first-contact envelope that started it; the newest session is preferred. */
  readonly startedAt: number
  sendChainKey: Uint8Array
  sendIndex: number
}

/** What a change to the receive window did, so the caller can update its tag index. */
export interface WindowChange {
  readonly added: ReceiveKey[]
  readonly removed: ReceiveKey[]
}

/** One step of a chain: the envelope's tag, its message key, the next chain key. */
export interface ChainStep {
  tag: Uint8Array
  messageKey: Uint8Array
  next: Uint8Array
}

/** Step `n` of a chain from `CK_n` (SPEC §4.3): HMAC(CK_n, 0x01)[0..16], HMAC(CK_n, 0x02), HMAC(CK_n, 0x03). */
export function chainStep (crypto: CryptoProvider, chainKey: Uint8Array): ChainStep {
  return {
    tag: crypto.hmacSha256(chainKey, STEP_TAG).slice(0, 16),
    messageKey: crypto.hmacSha256(chainKey, STEP_MESSAGE_KEY),
    next: crypto.hmacSha256(chainKey, STEP_NEXT)
  }
}

/** Builds a session from its root key and derives the first receive window. */
export function createSession (crypto: CryptoProvider, root: Uint8Array, role: SessionRole, id: string, startedAt: number): SessionState {
  const initiatorChain = crypto.hmacSha256(root, CHAIN_INITIATOR_LABEL)
  const responderChain = crypto.hmacSha256(root, CHAIN_RESPONDER_LABEL)
  const session: SessionState = {
    id,
    role,
    startedAt,
    sendChainKey: role === 'initiator' ? initiatorChain : responderChain,
    sendIndex: 0,
    receiveChainKey: role === 'initiator' ? responderChain : initiatorChain,
    receiveNext: 0,
    receiveHighest: -1,
    receiveKeys: new Map()
  }
  deriveReceiveUntil(crypto, session, REORDER_WINDOW - 1)
  return session
}

/** Takes the next sending step: its index, tag and message key. The chain moves on. */
export function nextSendKey (crypto: CryptoProvider, session: SessionState): { index: number, tag: Uint8Array, messageKey: Uint8Array } {
  const step = chainStep(crypto, session.sendChainKey)
  wipe(session.sendChainKey)
  session.sendChainKey = step.next
  const index = session.sendIndex
  session.sendIndex += 1
  return { index, tag: step.tag, messageKey: step.messageKey }
}

/** Derives receive steps up to `lastIndex` (inclusive) and returns them. */
export function deriveReceiveUntil (crypto: CryptoProvider, chain: ReceiveChain, lastIndex: number): ReceiveKey[] {
  const added: ReceiveKey[] = []
  while (chain.receiveNext <= lastIndex) {
    const step = chainStep(crypto, chain.receiveChainKey)
    wipe(chain.receiveChainKey)
    chain.receiveChainKey = step.next
    const key: ReceiveKey = { index: chain.receiveNext, tag: step.tag, messageKey: step.messageKey }
    chain.receiveKeys.set(key.index, key)
    added.push(key)
    chain.receiveNext += 1
  }
  return added
}

/**
 * Marks receive step `index` used (its key is wiped), moves the window past
 * it, and, when the envelope was part `partIndex` of `partCount`, derives
 * ahead to the payload's last part. Oldest skipped keys beyond `maxSkipped`
 * are dropped.
 */
export function consumeReceiveKey (
  crypto: CryptoProvider, chain: ReceiveChain, index: number, partIndex = 0, partCount = 1, maxSkipped = MAX_SKIPPED_KEYS
): WindowChange {
  const removed: ReceiveKey[] = []
  const used = chain.receiveKeys.get(index)
  if (used !== undefined) {
    chain.receiveKeys.delete(index)
    removed.push(used)
    wipe(used.messageKey)
  }
  chain.receiveHighest = Math.max(chain.receiveHighest, index)
  // Parts of one payload use consecutive steps; the last is at this index + remaining parts.
  const payloadEnd = index + (partCount - 1 - partIndex)
  const added = deriveReceiveUntil(crypto, chain, Math.max(chain.receiveHighest, payloadEnd) + REORDER_WINDOW)
  // Bound the skipped keys: everything at or below the highest index is a skipped key.
  const skipped = [...chain.receiveKeys.keys()].filter((i) => i <= chain.receiveHighest).sort((a, b) => a - b)
  for (let i = 0; i < skipped.length - maxSkipped; i++) {
    const key = chain.receiveKeys.get(skipped[i] as number)!
    chain.receiveKeys.delete(key.index)
    removed.push(key)
  }
  return { added, removed }
}

/** The AEAD key and nonce of one session envelope: HKDF(message key, envelope salt). */
export function sessionEnvelopeKeys (crypto: CryptoProvider, messageKey: Uint8Array, salt: Uint8Array): { key: Uint8Array, nonce: Uint8Array } {
  const okm = crypto.hkdfSha256(messageKey, salt, MESSAGE_LABEL, 44)
  return { key: okm.slice(0, 32), nonce: okm.slice(32, 44) }
}

/** JSON form of a receive chain (hex strings), for storage. */
export interface ReceiveChainJSON {
  receiveChainKey: string
  receiveNext: number
  receiveHighest: number
  receiveKeys: Array<[index: number, tag: string, messageKey: string]>
}

/** JSON form of a session (hex strings), for storage. */
export interface SessionJSON extends ReceiveChainJSON {
  id: string
  role: SessionRole
  startedAt: number
  sendChainKey: string
  sendIndex: number
}

/** Serialises a receive chain for storage. The result holds secrets. */
export function receiveChainToJSON (chain: ReceiveChain): ReceiveChainJSON {
  return {
    receiveChainKey: toHex(chain.receiveChainKey),
    receiveNext: chain.receiveNext,
    receiveHighest: chain.receiveHighest,
    receiveKeys: [...chain.receiveKeys.values()].map((k) => [k.index, toHex(k.tag), toHex(k.messageKey)])
  }
}

/**
 * Inverse of {@link receiveChainToJSON}. Throws a plain Error naming the
 * problem (callers wrap it in KeyFormatError) unless the counters describe a
 * window this code could have produced: at most `maxAhead` steps derived past
 * the highest opened, at most `maxSkipped + maxAhead` keys. Anything else
 * could make the next open derive millions of steps (a corrupted or hostile
 * state file must not hang the node).
 */
export function receiveChainFromJSON (json: ReceiveChainJSON, maxSkipped: number, maxAhead: number): ReceiveChain {
  const receiveKeys = new Map<number, ReceiveKey>()
  if (!Array.isArray(json.receiveKeys)) throw new Error('receiveKeys')
  for (const [index, tag, messageKey] of json.receiveKeys) {
    if (!Number.isSafeInteger(index)) throw new Error('index')
    receiveKeys.set(index, { index, tag: fromHex(tag, 'tag', 16), messageKey: fromHex(messageKey, 'messageKey', 32) })
  }
  for (const n of [json.receiveNext, json.receiveHighest]) {
    if (!Number.isSafeInteger(n)) throw new Error('counter')
  }
  if (json.receiveHighest < -1) throw new Error('negative counter')
  if (json.receiveNext <= json.receiveHighest || json.receiveNext - json.receiveHighest > maxAhead + 1) {
    throw new Error('receive window out of range')
  }
  if (receiveKeys.size > maxSkipped + maxAhead) throw new Error('too many receive keys')
  for (const index of receiveKeys.keys()) {
    if (index < 0 || index >= json.receiveNext) throw new Error('receive key outside the window')
  }
  return {
    receiveChainKey: fromHex(json.receiveChainKey, 'receiveChainKey', 32),
    receiveNext: json.receiveNext,
    receiveHighest: json.receiveHighest,
    receiveKeys
  }
}

/** Serialises a session for storage. The result holds secrets. */
export function sessionToJSON (session: SessionState): SessionJSON {
  return {
    id: session.id,
    role: session.role,
    startedAt: session.startedAt,
    sendChainKey: toHex(session.sendChainKey),
    sendIndex: session.sendIndex,
    ...receiveChainToJSON(session)
  }
}

/** Inverse of {@link sessionToJSON}; throws KeyFormatError on a malformed record. */
export function sessionFromJSON (json: SessionJSON): SessionState {
  try {
    if (json.role !== 'initiator' && json.role !== 'responder') throw new Error('role')
    if (!/^[0-9a-f]{16}$/.test(json.id)) throw new Error('id')
    for (const n of [json.startedAt, json.sendIndex]) {
      if (!Number.isSafeInteger(n)) throw new Error('counter')
    }
    if (json.startedAt < 0 || json.sendIndex < 0) throw new Error('negative counter')
    const receive = receiveChainFromJSON(json, MAX_SKIPPED_KEYS, MAX_WINDOW_AHEAD)
    return {
      id: json.id,
      role: json.role,
      startedAt: json.startedAt,
      sendChainKey: fromHex(json.sendChainKey, 'sendChainKey', 32),
      sendIndex: json.sendIndex,
      ...receive
    }
  } catch (cause) {
    throw new KeyFormatError(`Stored session is malformed (${(cause as Error).message})`)
  }
}

/** Root, accept-envelope key and session id from the three handshake DH results (SPEC §4.2). */
export function deriveSessionSecrets (crypto: CryptoProvider, dh: Uint8Array[], transcript: Uint8Array): {
  root: Uint8Array, key: Uint8Array, nonce: Uint8Array, id: string
} {
  const ikm = concatBytes(...dh)
  const okm = crypto.hkdfSha256(ikm, crypto.sha256(transcript), utf8('komrade/v1/session'), 32 + 32 + 12 + 8)
  wipe(ikm)
  return { root: okm.slice(0, 32), key: okm.slice(32, 64), nonce: okm.slice(64, 76), id: toHex(okm.subarray(76, 84)) }
}
