/**
 * Anonymous up/down votes on group posts (SPEC §15.8): a kind 0x33 body on the
 * group's anonymous channel, signed with a linkable ring signature
 * (ring-signature.ts) whose scope is the post. A vote proves "one of these
 * 16 to 25 members voted this", and two votes by one member on one post share
 * a key image, so each member counts at most once per post; votes on
 * different posts cannot be linked to each other.
 *
 * Body (one envelope: 147 + 64·n <= 1747 bytes for n <= 25):
 *   version 1 (u8) || groupId (32) || postId: messageId (16) || author ed (32) ||
 *   choice (u8: 1 up, 2 down) || n (u8, 16..25) || ring: n × 32 (strictly ascending) ||
 *   keyImage (32) || c0 (32) || n × s (32)
 *   scope = "komrade/v1/vote/scope" || groupId || postId
 *   m     = SHA-256("komrade/v1/vote" || every byte before keyImage)
 *
 * decodeVote is total (a value or VoteFormatError); verifyVote never throws.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { assertBytes, concatBytes, plainBytes, toHex, utf8 } from './bytes.js'
import { MAX_VOTE_RING, MIN_VOTE_RING } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { VoteFormatError, VoteNotAdmittedError, VoteRingTooSmallError, type VoteFormatReason } from './errors.js'
import {
  isRingPublicKey, ringKeyImage, RING_POINT_LENGTH, RING_SCALAR_LENGTH, signRing, verifyRing, voteKeyPair
} from './ring-signature.js'

/** The only vote version this code speaks. */
const VOTE_VERSION = 0x01
/** Bytes of a group id (the group's Ed25519 key). */
const GROUP_ID_LENGTH = 32
/** Bytes of a post id: message id (16) || author Ed25519 key (32). */
export const VOTE_POST_ID_LENGTH = 16 + 32
/** version, groupId, postId, choice, ring size. */
const VOTE_HEADER_LENGTH = 1 + GROUP_ID_LENGTH + VOTE_POST_ID_LENGTH + 1 + 1 // 83
/** Prefix of the scope, which is also the DST of H_p: one label for "the linking base of a vote". */
const VOTE_SCOPE_LABEL = utf8('komrade/v1/vote/scope')
/** Prefix of the signed message's digest. */
const VOTE_MESSAGE_LABEL = utf8('komrade/v1/vote')
/** Label of the key that seeds the decoy draw (one per voter and post). */
const VOTE_RING_DRAW_LABEL = utf8('komrade/v1/vote/ring-draw')
/** Wire values of the choices. */
const CHOICE_UP = 1
const CHOICE_DOWN = 2

/** An up or down vote. */
export type VoteChoice = 'up' | 'down'

/** A decoded vote body (not yet verified: see {@link verifyVote}). */
export interface DecodedVote {
  /** The group's id (ed_G), 32 bytes. */
  readonly groupId: Uint8Array
  /** messageId (16) || author ed (32): its hex is the post id of feeds. */
  readonly postId: Uint8Array
  readonly choice: VoteChoice
  /** MIN_VOTE_RING..MAX_VOTE_RING vote keys, strictly ascending bytewise. */
  readonly ring: readonly Uint8Array[]
  /** The voter's key image for this post: equal for every vote of one member on one post. */
  readonly keyImage: Uint8Array
  /** c_0 of the ring signature. */
  readonly challenge: Uint8Array
  /** s_0..s_{n-1} of the ring signature, in ring order. */
  readonly responses: readonly Uint8Array[]
  /** The whole body as received. */
  readonly bytes: Uint8Array
}

/** What {@link createVote} needs. */
export interface CreateVoteInit {
  /** The group's id (ed_G), 32 bytes. */
  readonly groupId: Uint8Array
  /** The post voted on: messageId (16) || author ed (32). */
  readonly postId: Uint8Array
  readonly choice: VoteChoice
  /** The voter's identity signing seed (32 bytes): the vote key is derived from it (voteKeyPair). */
  readonly voterSeed: Uint8Array
  /** The vote keys of everyone ever admitted to the group, the voter's own included. */
  readonly candidates: readonly Uint8Array[]
}

/** A post's result: each member counted at most once, double voters for neither. */
export interface VoteTally {
  readonly up: number
  readonly down: number
  /** Key images (hex, ascending) that voted both up and down on this post. */
  readonly doubleVoters: string[]
}

/** Length of a vote body with a ring of `ringSize` keys. */
export function voteBodyLength (ringSize: number): number {
  return VOTE_HEADER_LENGTH + ringSize * RING_POINT_LENGTH + RING_POINT_LENGTH + RING_SCALAR_LENGTH + ringSize * RING_SCALAR_LENGTH
}

/** The linking scope of votes on one post: "komrade/v1/vote/scope" || groupId || postId. */
export function voteScope (groupId: Uint8Array, postId: Uint8Array): Uint8Array {
  assertBytes(groupId, 'groupId', GROUP_ID_LENGTH)
  assertBytes(postId, 'postId', VOTE_POST_ID_LENGTH)
  return concatBytes(VOTE_SCOPE_LABEL, groupId, postId)
}

/**
 * The key image a member's vote on a post has (or would have): lets a node
 * find its own vote among others and refuse to cast a second, different one.
 */
export function voteKeyImage (seed: Uint8Array, groupId: Uint8Array, postId: Uint8Array): Uint8Array {
  return ringKeyImage(voteKeyPair(seed, groupId).secret, voteScope(groupId, postId))
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const diff = (a[i] as number) - (b[i] as number)
    if (diff !== 0) return diff
  }
  return a.length - b.length
}

/** Every byte before the key image: what the signed message digests. */
function encodeHead (groupId: Uint8Array, postId: Uint8Array, choice: VoteChoice, ring: readonly Uint8Array[]): Uint8Array {
  const head = new Uint8Array(VOTE_HEADER_LENGTH + ring.length * RING_POINT_LENGTH)
  head[0] = VOTE_VERSION
  head.set(groupId, 1)
  head.set(postId, 1 + GROUP_ID_LENGTH)
  head[VOTE_HEADER_LENGTH - 2] = choice === 'up' ? CHOICE_UP : CHOICE_DOWN
  head[VOTE_HEADER_LENGTH - 1] = ring.length
  ring.forEach((key, i) => head.set(key, VOTE_HEADER_LENGTH + i * RING_POINT_LENGTH))
  return head
}

function voteMessage (head: Uint8Array): Uint8Array {
  return sha256(concatBytes(VOTE_MESSAGE_LABEL, head))
}

/**
 * The decoy draw's random stream: block j = SHA-256(K || u32be(j)) with
 * K = SHA-256("komrade/v1/vote/ring-draw" || LE32(x) || scope). A function of
 * the voter's secret and the post, so it looks uniform to everyone else, and
 * voting again on the same post (same candidates) gives the same ring: two
 * rings around one key image would otherwise narrow the voter down to their
 * intersection.
 */
function ringDrawStream (secret: bigint, scope: Uint8Array): Pick<CryptoProvider, 'randomBytes'> {
  const secretBytes = new Uint8Array(RING_SCALAR_LENGTH)
  for (let i = 0, rest = secret; i < RING_SCALAR_LENGTH; i++, rest >>= 8n) secretBytes[i] = Number(rest & 0xffn)
  const key = sha256(concatBytes(VOTE_RING_DRAW_LABEL, secretBytes, scope))
  secretBytes.fill(0)
  let counter = 0
  let block = new Uint8Array(0)
  let used = 0
  return {
    randomBytes (length: number): Uint8Array {
      const out = new Uint8Array(length)
      for (let filled = 0; filled < length;) {
        if (used === block.length) {
          const index = new Uint8Array(4)
          new DataView(index.buffer).setUint32(0, counter++)
          block = sha256(concatBytes(key, index))
          used = 0
        }
        const take = Math.min(length - filled, block.length - used)
        out.set(block.subarray(used, used + take), filled)
        used += take
        filled += take
      }
      return out
    }
  }
}

/** A uniform integer in [0, bound) from a random stream (rejection sampling, no modulo bias). */
function randomIndex (crypto: Pick<CryptoProvider, 'randomBytes'>, bound: number): number {
  const limit = Math.floor(0x1_0000_0000 / bound) * bound
  for (;;) {
    const bytes = crypto.randomBytes(4)
    const value = (((bytes[0] as number) << 24) >>> 0) + ((bytes[1] as number) << 16) + ((bytes[2] as number) << 8) + (bytes[3] as number)
    if (value < limit) return value % bound
  }
}

/**
 * Signs an anonymous vote. The ring is the voter's key plus
 * min(MAX_VOTE_RING, available) − 1 others drawn uniformly from `candidates`
 * (by a stream keyed by the voter's secret and the post, so a repeated vote
 * reuses its ring), sorted ascending. Throws VoteNotAdmittedError when the
 * voter's key is not among the candidates, VoteRingTooSmallError when fewer
 * than MIN_VOTE_RING distinct valid keys are available (TypeError/RangeError
 * for malformed arguments). Duplicates and invalid encodings among the
 * candidates are skipped.
 */
export function createVote (crypto: Pick<CryptoProvider, 'randomBytes'>, init: CreateVoteInit): Uint8Array {
  const { groupId, postId, choice, voterSeed, candidates } = init
  assertBytes(groupId, 'groupId', GROUP_ID_LENGTH)
  assertBytes(postId, 'postId', VOTE_POST_ID_LENGTH)
  if (choice !== 'up' && choice !== 'down') throw new TypeError(`"choice" expected 'up' or 'down', got ${String(choice).slice(0, 20)}`)
  if (!Array.isArray(candidates)) throw new TypeError('"candidates" expected an array of 32-byte vote keys')
  const voter = voteKeyPair(voterSeed, groupId)
  const voterHex = toHex(voter.publicKey)

  const others = new Map<string, Uint8Array>()
  let voterListed = false
  candidates.forEach((key, i) => {
    assertBytes(key, `candidates[${i}]`)
    if (!isRingPublicKey(key)) return
    const hex = toHex(key)
    if (hex === voterHex) voterListed = true
    else if (!others.has(hex)) others.set(hex, key.slice())
  })
  if (!voterListed) {
    throw new VoteNotAdmittedError('Your vote key is not among the group\'s admitted members\' keys, so your vote could not count')
  }
  const available = others.size + 1
  if (available < MIN_VOTE_RING) {
    throw new VoteRingTooSmallError(
      `Anonymous votes need at least ${MIN_VOTE_RING} members ever admitted to hide among; this group has ${available}`,
      available, MIN_VOTE_RING)
  }

  // Partial Fisher–Yates over a canonical order: the draw depends on the stream only.
  const scope = voteScope(groupId, postId)
  const draw = ringDrawStream(voter.secret, scope)
  const pool = [...others.values()].sort(compareBytes)
  const decoys = Math.min(MAX_VOTE_RING, available) - 1
  for (let i = 0; i < decoys; i++) {
    const j = i + randomIndex(draw, pool.length - i)
    const picked = pool[j]!
    pool[j] = pool[i]!
    pool[i] = picked
  }
  const ring = [voter.publicKey, ...pool.slice(0, decoys)].sort(compareBytes)

  const head = encodeHead(groupId, postId, choice, ring)
  const signature = signRing(crypto, { secret: voter.secret, ring, scope, message: voteMessage(head) })
  return concatBytes(head, signature.keyImage, signature.challenge, ...signature.responses)
}

function fail (reason: VoteFormatReason, message: string): never {
  throw new VoteFormatError(message, reason)
}

/**
 * Decodes a vote body. Total: returns the fields or throws VoteFormatError
 * naming the rule broken (TypeError only if `bytes` is not a Uint8Array).
 * Checks the layout only; {@link verifyVote} checks the cryptography.
 */
export function decodeVote (bytes: Uint8Array): DecodedVote {
  assertBytes(bytes, 'bytes')
  const body = plainBytes(bytes)
  if (body.length < VOTE_HEADER_LENGTH) fail('truncated', `A vote has at least ${VOTE_HEADER_LENGTH} bytes, got ${body.length}`)
  if (body[0] !== VOTE_VERSION) fail('unknown-version', `Unknown vote version ${body[0]!}`)
  const choiceByte = body[VOTE_HEADER_LENGTH - 2]!
  if (choiceByte !== CHOICE_UP && choiceByte !== CHOICE_DOWN) fail('unknown-choice', `Unknown vote choice ${choiceByte}`)
  const n = body[VOTE_HEADER_LENGTH - 1]!
  if (n < MIN_VOTE_RING) fail('ring-too-small', `A vote's ring has at least ${MIN_VOTE_RING} keys, got ${n}`)
  if (n > MAX_VOTE_RING) fail('ring-too-large', `A vote's ring has at most ${MAX_VOTE_RING} keys, got ${n}`)
  const expected = voteBodyLength(n)
  if (body.length < expected) fail('truncated', `A vote with a ring of ${n} has ${expected} bytes, got ${body.length}`)
  if (body.length > expected) fail('wrong-length', `A vote with a ring of ${n} has ${expected} bytes, got ${body.length}`)

  const field = (offset: number, length: number): Uint8Array => body.slice(offset, offset + length)
  const ring: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const key = field(VOTE_HEADER_LENGTH + i * RING_POINT_LENGTH, RING_POINT_LENGTH)
    if (i > 0 && compareBytes(ring[i - 1]!, key) >= 0) fail('ring-not-sorted', 'A vote\'s ring keys must be distinct and in ascending order')
    ring.push(key)
  }
  const imageOffset = VOTE_HEADER_LENGTH + n * RING_POINT_LENGTH
  const responsesOffset = imageOffset + RING_POINT_LENGTH + RING_SCALAR_LENGTH
  const responses: Uint8Array[] = []
  for (let i = 0; i < n; i++) responses.push(field(responsesOffset + i * RING_SCALAR_LENGTH, RING_SCALAR_LENGTH))
  return {
    groupId: field(1, GROUP_ID_LENGTH),
    postId: field(1 + GROUP_ID_LENGTH, VOTE_POST_ID_LENGTH),
    choice: choiceByte === CHOICE_UP ? 'up' : 'down',
    ring,
    keyImage: field(imageOffset, RING_POINT_LENGTH),
    challenge: field(imageOffset + RING_POINT_LENGTH, RING_SCALAR_LENGTH),
    responses,
    bytes: body.slice()
  }
}

/**
 * True when the vote's ring signature verifies over its fields and every ring
 * key is in `admitted` (hex vote keys of everyone ever admitted to the group).
 * Never throws. Does not check which group or post the vote is for: the
 * caller compares `groupId` and `postId` with where the vote was found.
 */
export function verifyVote (vote: DecodedVote, admitted: ReadonlySet<string>): boolean {
  try {
    if (typeof vote !== 'object' || vote === null || typeof admitted?.has !== 'function') return false
    const { groupId, postId, choice, ring } = vote
    if (!(groupId instanceof Uint8Array) || groupId.length !== GROUP_ID_LENGTH) return false
    if (!(postId instanceof Uint8Array) || postId.length !== VOTE_POST_ID_LENGTH) return false
    if (choice !== 'up' && choice !== 'down') return false
    if (!Array.isArray(ring) || ring.length < MIN_VOTE_RING || ring.length > MAX_VOTE_RING) return false
    for (let i = 0; i < ring.length; i++) {
      const key: unknown = ring[i]
      if (!(key instanceof Uint8Array) || key.length !== RING_POINT_LENGTH) return false
      // The wire order (strictly ascending) is part of what is signed; a hand-built vote must keep it too.
      if (i > 0 && compareBytes(ring[i - 1]!, key) >= 0) return false
      if (!admitted.has(toHex(key))) return false
    }
    const message = voteMessage(encodeHead(groupId, postId, choice, ring))
    return verifyRing(
      { keyImage: vote.keyImage, challenge: vote.challenge, responses: vote.responses },
      ring, voteScope(groupId, postId), message)
  } catch {
    return false
  }
}

/**
 * Counts the verified votes of ONE post. Deterministic and independent of
 * order and repetition: votes are grouped by key image; a key image whose
 * votes all say the same counts once; one that said both up and down is a
 * double voter, counted for neither and reported. Throws RangeError when the
 * votes are not all for the same group and post (a caller's mistake).
 */
export function tallyVotes (votes: Iterable<DecodedVote>): VoteTally {
  const choices = new Map<string, Set<VoteChoice>>()
  let target: string | undefined
  for (const vote of votes) {
    const voteTarget = toHex(vote.groupId) + toHex(vote.postId)
    if (target === undefined) target = voteTarget
    else if (voteTarget !== target) throw new RangeError('"votes" expected the votes of one post only')
    const image = toHex(vote.keyImage)
    let seen = choices.get(image)
    if (seen === undefined) {
      seen = new Set()
      choices.set(image, seen)
    }
    seen.add(vote.choice)
  }
  let up = 0
  let down = 0
  const doubleVoters: string[] = []
  for (const [image, seen] of choices) {
    if (seen.size > 1) doubleVoters.push(image)
    else if (seen.has('up')) up++
    else down++
  }
  doubleVoters.sort()
  return { up, down, doubleVoters }
}
