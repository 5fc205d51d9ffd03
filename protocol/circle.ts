/**
 * Posts to the trusted circle (SPEC §14.4): one envelope per part, whatever
 * the number of members, through a sender-key chain.
 *
 * An author's circle has an epoch: a circle id (16 random bytes) and a chain
 * key (32 random bytes). The chain steps exactly like a session chain
 * (session.ts `chainStep`): each envelope uses the next step's tag and
 * message key, and the author wipes every key it used. The author hands the
 * chain at its current index to each member in a pairwise KIND_CIRCLE_KEY
 * message (post-payload.ts `encodeCircleKey`). Removing a member starts a new
 * epoch, handed to those who remain.
 *
 * A member keeps a receive window per epoch, like a session's (REORDER_WINDOW
 * tags ahead, to the end of a post once one of its parts opened; used keys
 * wiped, skipped keys bounded), for the MAX_CIRCLE_EPOCHS newest epochs of each
 * author. Every envelope is signed by the author (signed-post.ts): members
 * share the chain, so without the signature any member could write as the
 * author.
 */
import { assertBytes, assertInteger, fromHex, plainBytes, toHex, wipe } from './bytes.js'
import {
  CIRCLE_ID_LENGTH, ENVELOPE_SIZE, MAX_CIRCLE_AUTHORS, MAX_CIRCLE_EPOCHS, MAX_CIRCLE_SKIPPED_KEYS, MAX_POST_PARTS,
  REORDER_WINDOW, SALT_LENGTH, TAG_OFFSET
} from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { KeyFormatError } from './errors.js'
import { identityId, type PublicIdentity } from './identity.js'
import { decodeCircleKey, encodeCircleKey } from './post-payload.js'
import {
  chainStep, consumeReceiveKey, deriveReceiveUntil, receiveChainFromJSON, receiveChainToJSON,
  type ReceiveChain, type ReceiveChainJSON, type ReceiveKey
} from './session.js'
import {
  openPostEnvelope, postParts, sealPostEnvelope, type OpenedPost, type SealedPost, type SealPostOptions
} from './signed-post.js'

/** Largest chain index: the handoff carries it as a u32. */
const MAX_CIRCLE_INDEX = 0xffff_ffff
/** Furthest a circle receive window runs past the highest step opened: a whole post plus the window. */
const MAX_CIRCLE_WINDOW_AHEAD = MAX_POST_PARTS + REORDER_WINDOW

// --- Author side ---------------------------------------------------------------------------------

/** The author's side of one epoch of a circle. Holds a secret; persist it after every seal. */
export interface CircleChain {
  /** 16 random bytes naming the epoch. */
  readonly circleId: Uint8Array
  /** Chain key of step `index`. */
  chainKey: Uint8Array
  /** The next step to use. */
  index: number
}

/** Stored form of a {@link CircleChain} (hex). */
export interface CircleChainJSON {
  circleId: string
  chainKey: string
  index: number
}

/** A new epoch: fresh circle id and chain key, index 0. Also what a rotation starts. */
export function newCircleChain (crypto: CryptoProvider): CircleChain {
  return { circleId: crypto.randomBytes(CIRCLE_ID_LENGTH), chainKey: crypto.randomBytes(32), index: 0 }
}

/**
 * The 53-byte KIND_CIRCLE_KEY body that hands the chain, at its current
 * index, to a member: send it over the pairwise session
 * (`keyring.seal(member, body, { kind: KIND_CIRCLE_KEY })`). The member reads
 * every post sealed from this index on.
 */
export function circleHandoff (chain: CircleChain): Uint8Array {
  return encodeCircleKey({ circleId: chain.circleId, index: chain.index, chainKey: chain.chainKey })
}

/**
 * Seals a circle post: one signed envelope per part, on consecutive steps of
 * the chain, which moves on (proof of work still to do). Throws on bad
 * options before the chain moves.
 */
export function sealCirclePost (crypto: CryptoProvider, options: SealPostOptions & { chain: CircleChain }): SealedPost {
  const { chain } = options
  assertBytes(chain.chainKey, 'chain.chainKey', 32)
  assertInteger(chain.index, 'chain.index', 0, MAX_CIRCLE_INDEX)
  const { messageId, expiryMinute, messages } = postParts(crypto, options)
  if (chain.index + messages.length > MAX_CIRCLE_INDEX) {
    throw new RangeError('This circle chain is used up; start a new epoch (newCircleChain) and hand it to the members')
  }
  const envelopes = messages.map((message) => {
    const step = chainStep(crypto, chain.chainKey)
    wipe(chain.chainKey)
    chain.chainKey = step.next
    chain.index += 1
    return sealPostEnvelope(crypto, options.author, message, expiryMinute, {
      salt: crypto.randomBytes(SALT_LENGTH), tag: step.tag, messageKey: step.messageKey
    })
  })
  return { messageId, envelopes, expiryMinute }
}

/** Serialises the author's chain. The result holds a secret. */
export function circleChainToJSON (chain: CircleChain): CircleChainJSON {
  return { circleId: toHex(chain.circleId), chainKey: toHex(chain.chainKey), index: chain.index }
}

/** Inverse of {@link circleChainToJSON}; throws KeyFormatError on a malformed record. */
export function circleChainFromJSON (json: CircleChainJSON): CircleChain {
  try {
    if (!Number.isSafeInteger(json.index) || json.index < 0 || json.index > MAX_CIRCLE_INDEX) throw new Error('index')
    return { circleId: fromHex(json.circleId, 'circleId', CIRCLE_ID_LENGTH), chainKey: fromHex(json.chainKey, 'chainKey', 32), index: json.index }
  } catch (cause) {
    throw new KeyFormatError(`Stored circle chain is malformed (${(cause as Error).message})`, { cause })
  }
}

// --- Receiver side -------------------------------------------------------------------------------

/** A circle post envelope that opened, from an author whose chain we hold. */
export interface OpenedCirclePost extends OpenedPost {
  /** Hex of the epoch's circle id. */
  readonly circleId: string
  /**
   * Tags the ring started watching (the window moved). Envelopes stored
   * earlier may carry one: look them up among stored envelopes and screen
   * them again (SPEC §4.4).
   */
  readonly newTags: readonly Uint8Array[]
}

/** Stored form of a {@link CircleRing}. Holds secrets. */
export interface CircleRingJSON {
  version: 1
  authors: Array<{
    signingKey: string
    sealingKey: string
    epochs: Array<{ circleId: string, sentAt: number, chain: ReceiveChainJSON }>
  }>
}

/** Options of {@link createCircleRing}. */
export interface CircleRingInit {
  crypto: CryptoProvider
  /** State from an earlier {@link CircleRing.toJSON}; KeyFormatError if malformed. */
  state?: CircleRingJSON
  /** Authors whose chains are held at most; a new author beyond it is refused. @default MAX_CIRCLE_AUTHORS */
  maxAuthors?: number
}

/** The circle chains handed to us, with a tag index that makes screening O(1). */
export interface CircleRing {
  /**
   * Takes a chain `author` handed us: the body of a KIND_CIRCLE_KEY message
   * that came from `author` over our pairwise session, `sentAt` that
   * message's timestamp (it orders the epochs). Returns the tags now watched
   * (look them up among stored envelopes: posts sent before the key arrived
   * open then), `{ newTags: [] }` when this epoch is already held, or
   * undefined when the body is malformed, the epoch is older than the
   * MAX_CIRCLE_EPOCHS newest held, or the ring is full. Never throws.
   */
  addChain(author: PublicIdentity, handoff: Uint8Array, sentAt: number): { newTags: Uint8Array[] } | undefined
  /** Forgets every chain of an author; true if there was one. */
  removeAuthor(authorId: string): boolean
  /**
   * The stored form of one author's chains (what {@link toJSON} holds for
   * them), or undefined when none is held: persisting the author a screening
   * moved costs that author's keys, not the whole ring's.
   */
  authorJSON(authorId: string): CircleRingJSON['authors'][number] | undefined
  /** Ids of the authors whose chains are held. */
  authors(): string[]
  /** Tag lookup, O(1): opens, checks the author's signature, consumes the step. Never throws. */
  screenByTag(envelope: Uint8Array): OpenedCirclePost | undefined
  /** Watched (tag, author epoch) pairs: a tag that two authors' epochs watch counts twice. */
  readonly watchedTags: number
  /** Serialisable state (holds secrets). */
  toJSON(): CircleRingJSON
}

interface Epoch {
  readonly circleId: string
  readonly sentAt: number
  readonly chain: ReceiveChain
}

interface AuthorRecord {
  identity: PublicIdentity
  /** Newest first (by sentAt). */
  epochs: Epoch[]
}

interface TagTarget {
  readonly authorId: string
  readonly epoch: Epoch
  readonly index: number
}

/**
 * Stored form of one author. The handoff of any member can carry any chain
 * (a member of X's circle holds X's chain and can hand it on under its own
 * name), so one tag can belong to several authors' epochs: each one is a
 * target, and the signature decides whose envelope it is (SPEC §14.4).
 */
type AuthorJSON = CircleRingJSON['authors'][number]

/** Map key of a 16-byte tag: 8 UTF-16 code units (a bijection, cheaper than hex), as keyring.ts does. */
function tagKey (tag: Uint8Array, offset = 0): string {
  return String.fromCharCode(
    (tag[offset] as number) << 8 | (tag[offset + 1] as number), (tag[offset + 2] as number) << 8 | (tag[offset + 3] as number),
    (tag[offset + 4] as number) << 8 | (tag[offset + 5] as number), (tag[offset + 6] as number) << 8 | (tag[offset + 7] as number),
    (tag[offset + 8] as number) << 8 | (tag[offset + 9] as number), (tag[offset + 10] as number) << 8 | (tag[offset + 11] as number),
    (tag[offset + 12] as number) << 8 | (tag[offset + 13] as number), (tag[offset + 14] as number) << 8 | (tag[offset + 15] as number))
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Creates a circle ring, restoring `state` if given. */
export function createCircleRing (init: CircleRingInit): CircleRing {
  const { crypto } = init
  const maxAuthors = init.maxAuthors ?? MAX_CIRCLE_AUTHORS
  assertInteger(maxAuthors, 'maxAuthors', 1, Number.MAX_SAFE_INTEGER)
  const authors = new Map<string, AuthorRecord>()
  /** Tag → every (author, epoch, step) that watches it; usually one. */
  const tags = new Map<string, TagTarget[]>()
  let watched = 0

  function watch (authorId: string, epoch: Epoch, keys: Iterable<ReceiveKey>): void {
    for (const key of keys) {
      const k = tagKey(key.tag)
      const targets = tags.get(k)
      const target = { authorId, epoch, index: key.index }
      if (targets === undefined) tags.set(k, [target])
      else if (!targets.some((t) => t.epoch === epoch && t.index === key.index)) targets.push(target)
      else continue
      watched++
    }
  }

  /** Stops watching `keys` of `epoch` only: another author's epoch watching the same tag keeps it. */
  function unwatch (epoch: Epoch, keys: Iterable<ReceiveKey>): void {
    for (const key of keys) {
      const k = tagKey(key.tag)
      const targets = tags.get(k)
      if (targets === undefined) continue
      const rest = targets.filter((t) => !(t.epoch === epoch && t.index === key.index))
      watched -= targets.length - rest.length
      if (rest.length === 0) tags.delete(k)
      else tags.set(k, rest)
    }
  }

  function dropEpoch (epoch: Epoch): void {
    unwatch(epoch, epoch.chain.receiveKeys.values())
    for (const key of epoch.chain.receiveKeys.values()) wipe(key.messageKey)
    wipe(epoch.chain.receiveChainKey)
  }

  /** Adds `epoch` in sentAt order and drops the oldest beyond MAX_CIRCLE_EPOCHS; false if `epoch` itself was the oldest. */
  function insertEpoch (authorId: string, record: AuthorRecord, epoch: Epoch): boolean {
    record.epochs.push(epoch)
    record.epochs.sort((a, b) => b.sentAt - a.sentAt)
    watch(authorId, epoch, epoch.chain.receiveKeys.values())
    let kept = true
    while (record.epochs.length > MAX_CIRCLE_EPOCHS) {
      const dropped = record.epochs.pop()!
      if (dropped === epoch) kept = false
      dropEpoch(dropped)
    }
    return kept
  }

  function recordJSON (record: AuthorRecord): AuthorJSON {
    return {
      signingKey: toHex(record.identity.signingKey),
      sealingKey: toHex(record.identity.sealingKey),
      epochs: record.epochs.map((epoch) => ({ circleId: epoch.circleId, sentAt: epoch.sentAt, chain: receiveChainToJSON(epoch.chain) }))
    }
  }

  function restore (state: CircleRingJSON): void {
    if (state?.version !== 1 || !Array.isArray(state.authors)) throw new KeyFormatError('Stored circle ring is not version 1')
    for (const stored of state.authors) {
      const identity = { signingKey: fromHex(stored.signingKey, 'signingKey', 32), sealingKey: fromHex(stored.sealingKey, 'sealingKey', 32) }
      const authorId = identityId(identity)
      if (authors.has(authorId)) throw new Error('an author appears twice')
      if (!Array.isArray(stored.epochs) || stored.epochs.length === 0 || stored.epochs.length > MAX_CIRCLE_EPOCHS) throw new Error('epochs')
      const record: AuthorRecord = { identity, epochs: [] }
      authors.set(authorId, record)
      for (const e of stored.epochs) {
        const circleId = toHex(fromHex(e.circleId, 'circleId', CIRCLE_ID_LENGTH))
        if (!Number.isSafeInteger(e.sentAt) || e.sentAt < 0) throw new Error('sentAt')
        if (record.epochs.some((held) => held.circleId === circleId)) throw new Error('an epoch appears twice')
        const chain = receiveChainFromJSON(e.chain, MAX_CIRCLE_SKIPPED_KEYS, MAX_CIRCLE_WINDOW_AHEAD)
        insertEpoch(authorId, record, { circleId, sentAt: e.sentAt, chain })
      }
    }
  }

  if (init.state !== undefined) {
    try {
      restore(init.state)
    } catch (cause) {
      if (cause instanceof KeyFormatError) throw cause
      throw new KeyFormatError(`Stored circle ring is malformed (${(cause as Error).message})`, { cause })
    }
  }

  return {
    addChain (author, handoff, sentAt) {
      try {
        assertBytes(author.signingKey, 'signingKey', 32)
        assertBytes(author.sealingKey, 'sealingKey', 32)
        assertInteger(sentAt, 'sentAt', 0, Number.MAX_SAFE_INTEGER)
        const key = decodeCircleKey(handoff)
        const authorId = identityId(author)
        let record = authors.get(authorId)
        const circleId = toHex(key.circleId)
        if (record?.epochs.some((epoch) => epoch.circleId === circleId) === true) {
          wipe(key.chainKey)
          return { newTags: [] } // a repeated handoff: the chain we hold already derives its steps
        }
        if (record === undefined) {
          if (authors.size >= maxAuthors) return undefined
          record = { identity: { signingKey: author.signingKey.slice(), sealingKey: author.sealingKey.slice() }, epochs: [] }
          authors.set(authorId, record)
        } else if (!sameBytes(record.identity.sealingKey, author.sealingKey)) {
          record.identity = { signingKey: author.signingKey.slice(), sealingKey: author.sealingKey.slice() }
        }
        const chain: ReceiveChain = { receiveChainKey: key.chainKey, receiveNext: key.index, receiveHighest: key.index - 1, receiveKeys: new Map() }
        const added = deriveReceiveUntil(crypto, chain, key.index + REORDER_WINDOW - 1)
        const newTags = added.map((k) => k.tag.slice())
        if (!insertEpoch(authorId, record, { circleId, sentAt, chain })) return undefined
        return { newTags }
      } catch {
        return undefined
      }
    },

    removeAuthor (authorId) {
      const record = authors.get(authorId)
      if (record === undefined) return false
      for (const epoch of record.epochs) dropEpoch(epoch)
      authors.delete(authorId)
      return true
    },

    authors: () => [...authors.keys()],

    authorJSON (authorId) {
      const record = authors.get(authorId)
      return record === undefined ? undefined : recordJSON(record)
    },

    screenByTag (input) {
      try {
        const envelope = plainBytes(input)
        if (envelope.length !== ENVELOPE_SIZE) return undefined
        const targets = tags.get(tagKey(envelope, TAG_OFFSET))
        if (targets === undefined) return undefined
        // Usually one target. Several when members handed on a chain they hold: the one whose author signed wins.
        for (const target of [...targets]) {
          const record = authors.get(target.authorId)
          const key = target.epoch.chain.receiveKeys.get(target.index)
          if (record === undefined || key === undefined) continue
          const opened = openPostEnvelope(crypto, key.messageKey, envelope)
          if (opened === undefined) continue
          // Another member holds the same chain: only the author's signature makes it the author's post.
          // A forgery does not consume the step, so the author's real envelope still opens.
          if (!sameBytes(opened.author.signingKey, record.identity.signingKey)) continue
          const { message } = opened
          const change = consumeReceiveKey(crypto, target.epoch.chain, target.index, message.partIndex, message.partCount, MAX_CIRCLE_SKIPPED_KEYS)
          unwatch(target.epoch, change.removed)
          watch(target.authorId, target.epoch, change.added)
          return { ...opened, circleId: target.epoch.circleId, newTags: change.added.map((k) => k.tag.slice()) }
        }
        return undefined
      } catch {
        return undefined // hostile input never escapes as an exception
      }
    },

    get watchedTags () { return watched },

    toJSON () {
      return { version: 1, authors: [...authors.values()].map(recordJSON) }
    }
  }
}
