/**
 * A group's wire formats (SPEC §15.2-§15.6): the join request a candidate
 * signs, the ops of the group's replicated log, and the welcome that hands
 * an admitted candidate the group's keys and log. Integers are big-endian.
 *
 *   join request: version | groupId 32 | ed 32 | X25519 32 | vote key 32 | u64 time |
 *                 u16 noteLen | note | Ed25519(candidate, "komrade/v1/group/join" || all before)
 *   op:           version | type | groupId 32 | author ed 32 | u32 lamport | u8 parentCount |
 *                 parentCount × opId 32 | u64 time | u16 bodyLen | body |
 *                 Ed25519(author, "komrade/v1/group/op" || all before)
 *   welcome:      version | genesis opId 32 | u32 epoch | ES 32 |
 *                 u8 hasPrevious | [ES_prev 32] | u32 opCount | opCount × (u32 len | op)
 *
 * Every decoder is total: a value, or GroupFormatError naming the rule broken;
 * signatures are checked while decoding, so a decoded op or request is a
 * verified one. Whether an op has an effect is the fold's business
 * (group-state.ts), not the decoder's.
 */
import { assertBytes, assertInteger, concatBytes, equalBytes, fromHex, plainBytes, toHex, utf8, writeUint32BE } from './bytes.js'
import { MAX_GROUP_MEMBERS, MAX_GROUP_NOTE_CHARS, MAX_GROUP_OPS, SIGNATURE_LENGTH } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { GroupFormatError, PostFormatError, type GroupFormatReason } from './errors.js'
import { rekeyCheck, newEpochSecret, EPOCH_SECRET_LENGTH } from './group-keys.js'
import { identityId, type Identity, type PublicIdentity } from './identity.js'
import { isRingPublicKey } from './ring-signature.js'
import { BadNameError, nameFromBytes, nameToBytes, normalizeName } from './names.js'
import { encodeText, readText, Reader, Writer } from './post-payload.js'

/** The only version of requests, ops and welcomes this code speaks. */
const GROUP_VERSION = 0x01
const JOIN_LABEL = utf8('komrade/v1/group/join')
const OP_LABEL = utf8('komrade/v1/group/op')
const FOUND_LABEL = utf8('komrade/v1/group/found')
const REKEY_LABEL = utf8('komrade/v1/group/rekey')
/** A note or reason in UTF-8: at most 4 bytes per code point. */
const MAX_GROUP_NOTE_BYTES = 4 * MAX_GROUP_NOTE_CHARS
/** Fixed bytes of a join request around its note: version, 4 keys, time, note length, signature. */
const JOIN_REQUEST_FIXED_LENGTH = 1 + 32 * 4 + 8 + 2 + SIGNATURE_LENGTH // 203
/** Longest join request: its fixed part and the longest note. */
export const MAX_JOIN_REQUEST_LENGTH = JOIN_REQUEST_FIXED_LENGTH + MAX_GROUP_NOTE_BYTES // 1,323
/** Most parents an op names: enough for the heads of a few concurrent writers; more heads are merged by later ops. */
export const MAX_OP_PARENTS = 16
/** Length of an opId (SHA-256). */
const OP_ID_LENGTH = 32
/** An op's header without its parents: version, type, groupId, author, lamport, parent count, time, body length. */
const OP_HEADER_FIXED_LENGTH = 1 + 1 + 32 + 32 + 4 + 1 + 8 + 2 // 81
/** One entry of a rekey: member ed (32) and the sealed secret (32 + 16-byte AEAD tag). */
const REKEY_ENTRY_LENGTH = 32 + EPOCH_SECRET_LENGTH + 16 // 80
/** Longest op body: a rekey naming MAX_GROUP_MEMBERS members; every other body is shorter (a vouch at most 1,323). */
export const MAX_GROUP_OP_BODY_LENGTH = 4 + 32 + 32 + 2 + MAX_GROUP_MEMBERS * REKEY_ENTRY_LENGTH // 20,550
/** Longest op: header with the most parents, the longest body, signature. */
export const MAX_GROUP_OP_LENGTH = OP_HEADER_FIXED_LENGTH + MAX_OP_PARENTS * OP_ID_LENGTH + MAX_GROUP_OP_BODY_LENGTH + SIGNATURE_LENGTH // 21,207
/**
 * Most ops a welcome carries: the applied ops (at most MAX_GROUP_OPS) and the
 * ignored ops they descend from or that the node keeps (group-state.ts `keep`).
 */
export const MAX_WELCOME_OPS = 2 * MAX_GROUP_OPS
/** A lamport clock is a u32. */
const MAX_LAMPORT = 0xffff_ffff
/** Epochs are u32. */
const MAX_EPOCH = 0xffff_ffff

/** Type byte of each op. */
const OP_TYPES = { found: 1, vouch: 2, propose: 3, vote: 4, rekey: 5, leave: 6 } as const
/** The kinds of op (SPEC §15.3). */
export type GroupOpType = keyof typeof OP_TYPES
const OP_TYPE_NAMES: readonly GroupOpType[] = ['found', 'vouch', 'propose', 'vote', 'rekey', 'leave']
const PROPOSAL_AMEND = 1
const PROPOSAL_REMOVE = 2
const CHOICE_YES = 1
const CHOICE_NO = 2
const CONSTITUTION_FIXED = 1
const CONSTITUTION_GROWING = 2

export { GroupFormatError, type GroupFormatReason } from './errors.js'

/**
 * How many vouches admit a candidate (SPEC §15.4): a fixed number, or a share
 * of the members with a floor. Either is capped by the member count, so a
 * group can always grow.
 */
export type Constitution =
  | { readonly type: 'fixed', readonly n: number }
  | { readonly type: 'growing', readonly percent: number, readonly min: number }

/** The constitution of a group whose founder chose none: one vouch admits. */
export const DEFAULT_CONSTITUTION: Constitution = { type: 'fixed', n: 1 }

/** A join request whose candidate's signature checked out. */
export interface JoinRequest {
  /** ed_G of the group asked to join. */
  readonly groupId: Uint8Array
  /** The candidate's keys: they become the member's keys when admitted. */
  readonly candidate: PublicIdentity
  /** Hex of the candidate's Ed25519 key. */
  readonly candidateId: string
  /** The candidate's ristretto255 vote key (SPEC §15.8): a canonical point (the decoder checks). */
  readonly voteKey: Uint8Array
  /** The candidate's clock, unix ms. */
  readonly timestamp: number
  /** Up to MAX_GROUP_NOTE_CHARS code points; may be empty. */
  readonly note: string
  /** The request as signed. */
  readonly bytes: Uint8Array
}

/** What every decoded op carries. */
interface GroupOpCommon {
  /** Hex of `opId`. */
  readonly id: string
  /** SHA-256 of the whole op. */
  readonly opId: Uint8Array
  readonly groupId: Uint8Array
  /** The author's Ed25519 key; the signature proves it. */
  readonly author: Uint8Array
  /** Hex of `author`. */
  readonly authorId: string
  /** 1 + the highest lamport of its parents; 0 for a found op. */
  readonly lamport: number
  /** opIds of the ops its author had applied with no applied child (strictly ascending); none for a found op. */
  readonly parents: readonly Uint8Array[]
  /** Hex of each parent, in the same order. */
  readonly parentIds: readonly string[]
  /** The author's clock, unix ms; shown, never used to order. */
  readonly timestamp: number
  /** The op as signed. */
  readonly bytes: Uint8Array
}

/** Founds the group: the founder is its first member. Lamport 0. */
export interface FoundOp extends GroupOpCommon {
  readonly type: 'found'
  /** The group's registry name (SPEC §13.2 rules). */
  readonly name: string
  /** X_G: the group identity's X25519 key. */
  readonly groupSealingKey: Uint8Array
  /** The founder: `author` and its X25519 key. */
  readonly founder: PublicIdentity
  readonly founderVoteKey: Uint8Array
  /** check_0 = HMAC(ES_0, "komrade/v1/group/rekey-check"): commits the founder to epoch 0's secret. */
  readonly epochCheck: Uint8Array
  readonly constitution: Constitution
}

/** A member vouches for a candidate's join request. */
export interface VouchOp extends GroupOpCommon {
  readonly type: 'vouch'
  readonly request: JoinRequest
}

/** A proposal: amend the constitution, or remove a member. Exactly one of `amend`, `remove`. */
export interface ProposeOp extends GroupOpCommon {
  readonly type: 'propose'
  readonly amend?: Constitution
  /** Ed25519 key of the member to remove. */
  readonly remove?: Uint8Array
  /** Up to MAX_GROUP_NOTE_CHARS code points; may be empty. */
  readonly reason: string
}

/** A member's vote on a proposal. */
export interface VoteOp extends GroupOpCommon {
  readonly type: 'vote'
  /** opId of the proposal. */
  readonly proposalId: Uint8Array
  readonly choice: 'yes' | 'no'
}

/** One member's sealed copy of a new epoch secret. */
export interface RekeyEntry {
  readonly member: Uint8Array
  /** AEAD of the 32-byte secret: 48 bytes. */
  readonly sealed: Uint8Array
}

/** A new epoch secret for every current member (SPEC §15.5). */
export interface RekeyOp extends GroupOpCommon {
  readonly type: 'rekey'
  readonly newEpoch: number
  readonly ephemeralKey: Uint8Array
  /** HMAC(ES_new, "komrade/v1/group/rekey-check"). */
  readonly check: Uint8Array
  /** Sorted by member key, strictly ascending. */
  readonly entries: readonly RekeyEntry[]
}

/** The author leaves the group. */
export interface LeaveOp extends GroupOpCommon {
  readonly type: 'leave'
}

/** A decoded, verified op. Only {@link decodeGroupOp} makes one. */
export type GroupOp = FoundOp | VouchOp | ProposeOp | VoteOp | RekeyOp | LeaveOp

/** The group's epoch secrets and log as handed to an admitted candidate (SPEC §15.6). Holds secrets. */
export interface Welcome {
  /** opId of the group's found op (the voucher's pinned genesis): the candidate's fold is pinned to it. */
  readonly genesis: Uint8Array
  readonly epoch: number
  readonly epochSecret: Uint8Array
  /** The secret of epoch - 1, for late envelopes of the previous epoch; only when epoch > 0. */
  readonly previousEpochSecret?: Uint8Array
  /** The log: op bytes, at most MAX_WELCOME_OPS. */
  readonly ops: readonly Uint8Array[]
}

/** The op body a caller asks {@link createGroupOp} to sign. */
export type GroupOpInput =
  | { type: 'vouch', request: Uint8Array }
  | { type: 'propose', amend?: Constitution, remove?: Uint8Array, reason?: string }
  | { type: 'vote', proposalId: Uint8Array | string, choice: 'yes' | 'no' }
  | { type: 'leave' }

/** Ops decodeGroupOp produced: the fold takes these without verifying them again. */
const verifiedOps = new WeakSet<object>()

/** True when `op` came out of {@link decodeGroupOp} (its signatures were checked). */
export function isVerifiedGroupOp (op: unknown): op is GroupOp {
  return typeof op === 'object' && op !== null && verifiedOps.has(op)
}

function fail (reason: GroupFormatReason, message: string): never {
  throw new GroupFormatError(message, reason)
}

/** Runs a codec step built on post-payload.ts's readers, turning its PostFormatError into ours (same reason). */
function translated<T> (step: () => T): T {
  try {
    return step()
  } catch (cause) {
    if (cause instanceof PostFormatError) throw new GroupFormatError(cause.message, cause.reason as GroupFormatReason)
    throw cause
  }
}

function checkInput (bytes: unknown, what: string, maxLength: number): Uint8Array {
  if (!(bytes instanceof Uint8Array)) fail('truncated', `${what} is not bytes`)
  if (bytes.length > maxLength) fail('too-long', `${what} is at most ${maxLength} bytes, got ${bytes.length}`)
  return plainBytes(bytes)
}

function checkNow (now: number | undefined): number {
  const value = now ?? Date.now()
  assertInteger(value, 'now', 0, Number.MAX_SAFE_INTEGER)
  return value
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  }
  return a.length - b.length
}

// --- Constitution --------------------------------------------------------------------------------

/** Throws GroupFormatError('bad-constitution') unless `c` is a constitution within its ranges. */
export function checkConstitution (c: Constitution): Constitution {
  const inRange = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
  if (c?.type === 'fixed' && inRange(c.n, 1, 255)) return { type: 'fixed', n: c.n }
  if (c?.type === 'growing' && inRange(c.percent, 1, 100) && inRange(c.min, 1, 255)) return { type: 'growing', percent: c.percent, min: c.min }
  fail('bad-constitution', 'A constitution is {type: "fixed", n: 1..255} or {type: "growing", percent: 1..100, min: 1..255}')
}

/** The constitution's bytes: `1 | n` or `2 | percent | min`. */
export function encodeConstitution (c: Constitution): Uint8Array {
  const checked = checkConstitution(c)
  return checked.type === 'fixed'
    ? Uint8Array.of(CONSTITUTION_FIXED, checked.n)
    : Uint8Array.of(CONSTITUTION_GROWING, checked.percent, checked.min)
}

function readConstitution (reader: Reader): Constitution {
  const type = reader.u8('constitution type')
  if (type === CONSTITUTION_FIXED) return checkConstitution({ type: 'fixed', n: reader.u8('constitution n') })
  if (type === CONSTITUTION_GROWING) {
    const percent = reader.u8('constitution percent')
    return checkConstitution({ type: 'growing', percent, min: reader.u8('constitution min') })
  }
  fail('bad-constitution', `Unknown constitution type ${type}`)
}

/**
 * Vouches that admit a candidate to a group of `memberCount` members:
 * fixed n, or max(min, ceil(percent × members / 100)); then at most the
 * member count (and at least 1), so a group can always grow.
 */
export function quorumOf (c: Constitution, memberCount: number): number {
  const wanted = c.type === 'fixed' ? c.n : Math.max(c.min, Math.ceil(c.percent * memberCount / 100))
  return Math.max(1, Math.min(wanted, memberCount))
}

// --- Join requests -------------------------------------------------------------------------------

/** Options of {@link createJoinRequest}. */
export interface JoinRequestOptions {
  /** The candidate: signs the request; its keys become the member's. */
  identity: Identity
  /** ed_G of the group. */
  groupId: Uint8Array
  /** The candidate's vote key for this group (vote.ts `voteKeyPair`). */
  voteKey: Uint8Array
  /** Up to MAX_GROUP_NOTE_CHARS code points. @default '' */
  note?: string
  /** Unix ms. @default Date.now() */
  now?: number
}

/** A signed join request (kind 0x31 body). Throws GroupFormatError('note-too-long' | 'not-utf8' | 'bad-vote-key') or TypeError/RangeError on bad options. */
export function createJoinRequest (crypto: CryptoProvider, options: JoinRequestOptions): Uint8Array {
  const { identity, groupId, voteKey } = options
  assertBytes(identity.signingSeed, 'identity.signingSeed', 32)
  assertBytes(identity.signingKey, 'identity.signingKey', 32)
  assertBytes(identity.sealingKey, 'identity.sealingKey', 32)
  assertBytes(groupId, 'groupId', 32)
  assertBytes(voteKey, 'voteKey', 32)
  if (!isRingPublicKey(voteKey)) fail('bad-vote-key', 'The vote key is not a canonical ristretto255 point (vote.ts voteKeyPair makes one)')
  const now = checkNow(options.now)
  const note = translated(() => encodeText(options.note ?? '', 'note', MAX_GROUP_NOTE_CHARS, MAX_GROUP_NOTE_BYTES, 'note-too-long'))
  const writer = new Writer(JOIN_REQUEST_FIXED_LENGTH + note.length)
  writer.u8(GROUP_VERSION)
  writer.bytes(groupId)
  writer.bytes(identity.signingKey)
  writer.bytes(identity.sealingKey)
  writer.bytes(voteKey)
  writer.u64(now)
  writer.u16(note.length)
  writer.bytes(note)
  writer.bytes(new Uint8Array(SIGNATURE_LENGTH))
  const out = writer.finish()
  const signedLength = out.length - SIGNATURE_LENGTH
  out.set(crypto.ed25519Sign(identity.signingSeed, concatBytes(JOIN_LABEL, out.subarray(0, signedLength))), signedLength)
  return out
}

/** Decodes a join request and checks the candidate's signature. Throws GroupFormatError (only). */
export function decodeJoinRequest (crypto: CryptoProvider, bytes: Uint8Array): JoinRequest {
  const input = checkInput(bytes, 'A join request', MAX_JOIN_REQUEST_LENGTH)
  const fields = translated(() => {
    const reader = new Reader(input, 'a join request')
    const version = reader.u8('version')
    if (version !== GROUP_VERSION) fail('unknown-version', `Unknown join request version ${version}; this code speaks version ${GROUP_VERSION}`)
    const groupId = reader.bytes(32, 'group id')
    const signingKey = reader.bytes(32, 'candidate key')
    const sealingKey = reader.bytes(32, 'candidate X25519 key')
    const voteKey = reader.bytes(32, 'vote key')
    const timestamp = reader.time('timestamp')
    const note = readText(reader, reader.u16('note length'), 'note', MAX_GROUP_NOTE_CHARS, MAX_GROUP_NOTE_BYTES, 'note-too-long')
    const signature = reader.bytes(SIGNATURE_LENGTH, 'signature')
    reader.finish()
    return { groupId, signingKey, sealingKey, voteKey, timestamp, note, signature }
  })
  const signed = concatBytes(JOIN_LABEL, input.subarray(0, input.length - SIGNATURE_LENGTH))
  if (!crypto.ed25519Verify(fields.signingKey, signed, fields.signature)) fail('bad-signature', 'The join request is not signed by its candidate')
  // A vote key that is not a point could never vote, and one that is not canonical could alias another's ring key.
  if (!isRingPublicKey(fields.voteKey)) fail('bad-vote-key', 'The vote key is not a canonical ristretto255 point')
  const candidate = { signingKey: fields.signingKey, sealingKey: fields.sealingKey }
  return {
    groupId: fields.groupId,
    candidate,
    candidateId: identityId(candidate),
    voteKey: fields.voteKey,
    timestamp: fields.timestamp,
    note: fields.note,
    bytes: input.slice()
  }
}

// --- Ops -----------------------------------------------------------------------------------------

/** Options of {@link signGroupOp}: an op with its body already encoded. */
export interface SignGroupOpOptions {
  author: Identity
  groupId: Uint8Array
  type: GroupOpType
  lamport: number
  /** opIds (32 bytes or hex) of the parents, any order: written strictly ascending. None for a found op. */
  parents: ReadonlyArray<Uint8Array | string>
  body: Uint8Array
  /** Unix ms. @default Date.now() */
  now?: number
  /** Signs the body's last 64 bytes in place before the author signs (a found op's group signature). */
  groupSigner?: Identity
}

/** Parents as bytes, strictly ascending (duplicates refused): the one form the decoder takes. Not checked for count. */
function sortedParents (parents: ReadonlyArray<Uint8Array | string>): Uint8Array[] {
  if (!Array.isArray(parents)) throw new TypeError('"parents" expected an array of opIds')
  if (parents.length > MAX_OP_PARENTS) throw new RangeError(`"parents" expected at most ${MAX_OP_PARENTS} opIds, got ${parents.length}`)
  const bytes = parents.map((p, i) => {
    const b = typeof p === 'string' ? fromHex(p, `parents[${i}]`, OP_ID_LENGTH) : p
    assertBytes(b, `parents[${i}]`, OP_ID_LENGTH)
    return b
  }).sort(compareBytes)
  for (let i = 1; i < bytes.length; i++) if (equalBytes(bytes[i - 1]!, bytes[i]!)) throw new RangeError('"parents" names an op twice')
  return bytes
}

/** Checks the parents and lamport a caller gives an op after found: 1..16 parents, lamport at least 1. */
function checkCausal (parents: unknown, lamport: number): void {
  if (!Array.isArray(parents) || parents.length === 0) throw new RangeError('"parents" expected 1 to 16 opIds: take them from opHeads(state)')
  assertInteger(lamport, 'lamport', 1, MAX_LAMPORT)
}

/**
 * Signs an op whose body is already encoded. The typed creators below use it;
 * it is exported for tests that need ops the creators refuse to make.
 */
export function signGroupOp (crypto: CryptoProvider, options: SignGroupOpOptions): Uint8Array {
  const { author, groupId, type, lamport, body } = options
  assertBytes(author.signingSeed, 'author.signingSeed', 32)
  assertBytes(author.signingKey, 'author.signingKey', 32)
  assertBytes(groupId, 'groupId', 32)
  assertInteger(lamport, 'lamport', 0, MAX_LAMPORT)
  assertBytes(body, 'body')
  if (body.length > MAX_GROUP_OP_BODY_LENGTH) fail('too-long', `An op body is at most ${MAX_GROUP_OP_BODY_LENGTH} bytes, got ${body.length}`)
  const parents = sortedParents(options.parents)
  const now = checkNow(options.now)
  const writer = new Writer(OP_HEADER_FIXED_LENGTH + parents.length * OP_ID_LENGTH + body.length + SIGNATURE_LENGTH)
  writer.u8(GROUP_VERSION)
  writer.u8(OP_TYPES[type])
  writer.bytes(groupId)
  writer.bytes(author.signingKey)
  writer.u32(lamport)
  writer.u8(parents.length)
  for (const parent of parents) writer.bytes(parent)
  writer.u64(now)
  writer.u16(body.length)
  writer.bytes(body)
  writer.bytes(new Uint8Array(SIGNATURE_LENGTH))
  const out = writer.finish()
  const bodyEnd = OP_HEADER_FIXED_LENGTH + parents.length * OP_ID_LENGTH + body.length
  if (options.groupSigner !== undefined) {
    const groupSignatureAt = bodyEnd - SIGNATURE_LENGTH
    out.set(crypto.ed25519Sign(options.groupSigner.signingSeed, concatBytes(FOUND_LABEL, out.subarray(0, groupSignatureAt))), groupSignatureAt)
  }
  out.set(crypto.ed25519Sign(author.signingSeed, concatBytes(OP_LABEL, out.subarray(0, bodyEnd))), bodyEnd)
  return out
}

/** Options of {@link createFoundOp}. */
export interface FoundOpOptions {
  /** Who founds: the first member. */
  founder: Identity
  /** The group identity (ed_G, X_G): signs the found op too. */
  group: Identity
  /** The group's registry name; normalised, BadNameError if it breaks SPEC §13.2. */
  name: string
  founderVoteKey: Uint8Array
  /** @default DEFAULT_CONSTITUTION (fixed 1) */
  constitution?: Constitution
  /** Unix ms. @default Date.now() */
  now?: number
}

/**
 * The op that founds a group (lamport 0, no parents), signed by the founder
 * and by the group key. Draws epoch 0's secret and commits to it (check_0):
 * returns both; the founder keeps the secret (persist it before publishing).
 */
export function createFoundOp (crypto: CryptoProvider, options: FoundOpOptions): { op: Uint8Array, epochSecret: Uint8Array } {
  const { founder, group } = options
  assertBytes(group.signingSeed, 'group.signingSeed', 32)
  assertBytes(group.signingKey, 'group.signingKey', 32)
  assertBytes(group.sealingKey, 'group.sealingKey', 32)
  assertBytes(founder.sealingKey, 'founder.sealingKey', 32)
  assertBytes(options.founderVoteKey, 'founderVoteKey', 32)
  if (!isRingPublicKey(options.founderVoteKey)) fail('bad-vote-key', 'The founder vote key is not a canonical ristretto255 point (vote.ts voteKeyPair makes one)')
  const name = nameToBytes(normalizeName(options.name))
  const constitution = encodeConstitution(options.constitution ?? DEFAULT_CONSTITUTION)
  const epochSecret = newEpochSecret(crypto)
  const body = concatBytes(Uint8Array.of(name.length), name, group.sealingKey, founder.sealingKey, options.founderVoteKey,
    rekeyCheck(crypto, epochSecret), constitution, new Uint8Array(SIGNATURE_LENGTH))
  const op = signGroupOp(crypto, { author: founder, groupId: group.signingKey, type: 'found', lamport: 0, parents: [], body, now: options.now, groupSigner: group })
  return { op, epochSecret }
}

/** Options of {@link createGroupOp}. */
export interface GroupOpOptions {
  author: Identity
  groupId: Uint8Array
  /** opIds (32 bytes or hex) the op follows: `opHeads(state).parents`, 1 to 16. */
  parents: ReadonlyArray<Uint8Array | string>
  /** 1 + the highest lamport of `parents`: `opHeads(state).lamport`. The fold ignores the op otherwise. */
  lamport: number
  op: GroupOpInput
  /** Unix ms. @default Date.now() */
  now?: number
}

/**
 * A vouch, proposal, vote or leave op, signed by `author`. Throws
 * GroupFormatError for a body that breaks a rule (a request for another
 * group, a reason over the limit, a proposal that is not exactly one of
 * amend/remove), TypeError/RangeError on bad options.
 */
export function createGroupOp (crypto: CryptoProvider, options: GroupOpOptions): Uint8Array {
  const { op, groupId } = options
  assertBytes(groupId, 'groupId', 32)
  checkCausal(options.parents, options.lamport)
  let body: Uint8Array
  switch (op.type) {
    case 'vouch': {
      const request = decodeJoinRequest(crypto, op.request)
      if (!equalBytes(request.groupId, groupId)) fail('wrong-group', 'The join request asks to join another group')
      body = request.bytes
      break
    }
    case 'propose': {
      const reason = translated(() => encodeText(op.reason ?? '', 'reason', MAX_GROUP_NOTE_CHARS, MAX_GROUP_NOTE_BYTES, 'note-too-long'))
      let proposal: Uint8Array
      if (op.amend !== undefined && op.remove === undefined) {
        proposal = concatBytes(Uint8Array.of(PROPOSAL_AMEND), encodeConstitution(op.amend))
      } else if (op.remove !== undefined && op.amend === undefined) {
        assertBytes(op.remove, 'remove', 32)
        proposal = concatBytes(Uint8Array.of(PROPOSAL_REMOVE), op.remove)
      } else {
        fail('bad-proposal', 'A proposal either amends the constitution or removes a member')
      }
      const length = new Uint8Array(2)
      length[0] = reason.length >> 8
      length[1] = reason.length & 0xff
      body = concatBytes(proposal, length, reason)
      break
    }
    case 'vote': {
      const proposalId = typeof op.proposalId === 'string' ? fromHex(op.proposalId, 'proposalId', 32) : op.proposalId
      assertBytes(proposalId, 'proposalId', 32)
      if (op.choice !== 'yes' && op.choice !== 'no') fail('bad-choice', 'A vote is "yes" or "no"')
      body = concatBytes(proposalId, Uint8Array.of(op.choice === 'yes' ? CHOICE_YES : CHOICE_NO))
      break
    }
    case 'leave':
      body = new Uint8Array(0)
      break
    default:
      fail('unknown-type', `Unknown op type ${String((op as { type: unknown }).type)}; found and rekey have their own creators`)
  }
  return signGroupOp(crypto, { author: options.author, groupId, type: op.type, lamport: options.lamport, parents: options.parents, body, now: options.now })
}

/** Options of {@link createRekeyOp}. */
export interface RekeyOpOptions {
  author: Identity
  groupId: Uint8Array
  /** `opHeads(state).parents`. */
  parents: ReadonlyArray<Uint8Array | string>
  /** `opHeads(state).lamport`. */
  lamport: number
  /** The group state's epoch + 1. */
  newEpoch: number
  /** Exactly the current members, the author among them. */
  members: readonly PublicIdentity[]
  /** Unix ms. @default Date.now() */
  now?: number
}

/** HKDF output of one rekey entry: the AEAD key and nonce that seal member `memberKey`'s copy. */
function rekeyEntryKeys (crypto: CryptoProvider, shared: Uint8Array, author: Uint8Array, newEpoch: number, memberKey: Uint8Array): { key: Uint8Array, nonce: Uint8Array } {
  const epoch = new Uint8Array(4)
  writeUint32BE(epoch, 0, newEpoch)
  const okm = crypto.hkdfSha256(shared, concatBytes(author, epoch), concatBytes(REKEY_LABEL, memberKey), 44)
  return { key: okm.slice(0, 32), nonce: okm.slice(32, 44) }
}

/**
 * A rekey op: a fresh epoch secret sealed to each member's X25519 key with
 * one ephemeral key. Returns the op and the secret (persist it before
 * publishing the op). A member whose X25519 key is a low-order point gets
 * random bytes it cannot open: the entry must still name it (the fold wants
 * exactly the members).
 */
export function createRekeyOp (crypto: CryptoProvider, options: RekeyOpOptions): { op: Uint8Array, secret: Uint8Array } {
  const { author, groupId, newEpoch, members } = options
  assertInteger(newEpoch, 'newEpoch', 1, MAX_EPOCH)
  checkCausal(options.parents, options.lamport)
  if (!Array.isArray(members) || members.length === 0 || members.length > MAX_GROUP_MEMBERS) {
    throw new RangeError(`"members" expected 1 to ${MAX_GROUP_MEMBERS} members, got ${Array.isArray(members) ? members.length : typeof members}`)
  }
  for (const [i, member] of members.entries()) {
    assertBytes(member.signingKey, `members[${i}].signingKey`, 32)
    assertBytes(member.sealingKey, `members[${i}].sealingKey`, 32)
  }
  const sorted = [...members].sort((a, b) => compareBytes(a.signingKey, b.signingKey))
  for (let i = 1; i < sorted.length; i++) {
    if (equalBytes(sorted[i - 1]!.signingKey, sorted[i]!.signingKey)) throw new RangeError('"members" names a member twice')
  }
  const secret = newEpochSecret(crypto)
  const ephemeral = crypto.x25519KeyPair()
  const epoch = new Uint8Array(4)
  writeUint32BE(epoch, 0, newEpoch)
  const parts: Uint8Array[] = [epoch, ephemeral.publicKey, rekeyCheck(crypto, secret), Uint8Array.of(sorted.length >> 8, sorted.length & 0xff)]
  for (const member of sorted) {
    const shared = crypto.x25519(ephemeral.secretKey, member.sealingKey)
    let sealed: Uint8Array
    if (shared === undefined) {
      sealed = crypto.randomBytes(EPOCH_SECRET_LENGTH + 16)
    } else {
      const { key, nonce } = rekeyEntryKeys(crypto, shared, author.signingKey, newEpoch, member.signingKey)
      sealed = crypto.aeadSeal(key, nonce, secret, new Uint8Array(0))
      key.fill(0)
      shared.fill(0)
    }
    parts.push(member.signingKey, sealed)
  }
  ephemeral.secretKey.fill(0)
  const op = signGroupOp(crypto, { author, groupId, type: 'rekey', lamport: options.lamport, parents: options.parents, body: concatBytes(...parts), now: options.now })
  return { op, secret }
}

/**
 * Opens member `me`'s entry of a rekey op: the epoch secret, or undefined
 * when there is no entry for `me`, it does not open, or the secret does not
 * match the op's `check` (an author who gave members different secrets).
 */
export function openRekeyEntry (crypto: CryptoProvider, op: RekeyOp, me: Identity): Uint8Array | undefined {
  const entry = op.entries.find((e) => equalBytes(e.member, me.signingKey))
  if (entry === undefined) return undefined
  const shared = crypto.x25519(me.sealingSecret, op.ephemeralKey)
  if (shared === undefined) return undefined
  const { key, nonce } = rekeyEntryKeys(crypto, shared, op.author, op.newEpoch, me.signingKey)
  const secret = crypto.aeadOpen(key, nonce, entry.sealed, new Uint8Array(0))
  key.fill(0)
  shared.fill(0)
  if (secret === undefined) return undefined
  if (!equalBytes(rekeyCheck(crypto, secret), op.check)) {
    secret.fill(0)
    return undefined
  }
  return secret
}

function readBody (crypto: CryptoProvider, type: GroupOpType, groupId: Uint8Array, header: Uint8Array, body: Uint8Array): Record<string, unknown> {
  const reader = new Reader(body, `a ${type} op's body`)
  switch (type) {
    case 'found': {
      const nameBytes = reader.bytes(reader.u8('name length'), 'name')
      let name: string
      try {
        name = nameFromBytes(nameBytes)
      } catch (cause) {
        if (cause instanceof BadNameError) fail('bad-name', `The group's name breaks the registry's rules: ${cause.message}`)
        throw cause
      }
      const groupSealingKey = reader.bytes(32, 'group X25519 key')
      const founderSealingKey = reader.bytes(32, 'founder X25519 key')
      const founderVoteKey = reader.bytes(32, 'founder vote key')
      if (!isRingPublicKey(founderVoteKey)) fail('bad-vote-key', "The founder's vote key is not a canonical ristretto255 point")
      const epochCheck = reader.bytes(32, 'epoch 0 check')
      const constitution = readConstitution(reader)
      const groupSignature = reader.bytes(SIGNATURE_LENGTH, 'group signature')
      reader.finish()
      const signed = concatBytes(FOUND_LABEL, header, body.subarray(0, body.length - SIGNATURE_LENGTH))
      if (!crypto.ed25519Verify(groupId, signed, groupSignature)) fail('bad-group-signature', 'The found op is not signed by the group key')
      return { name, groupSealingKey, founderSealingKey, founderVoteKey, epochCheck, constitution }
    }
    case 'vouch': {
      const request = decodeJoinRequest(crypto, body)
      if (!equalBytes(request.groupId, groupId)) fail('wrong-group', 'The vouched join request asks to join another group')
      return { request }
    }
    case 'propose': {
      const proposal = reader.u8('proposal type')
      let fields: Record<string, unknown>
      if (proposal === PROPOSAL_AMEND) fields = { amend: readConstitution(reader) }
      else if (proposal === PROPOSAL_REMOVE) fields = { remove: reader.bytes(32, 'member') }
      else fail('bad-proposal', `Unknown proposal type ${proposal}`)
      const reason = readText(reader, reader.u16('reason length'), 'reason', MAX_GROUP_NOTE_CHARS, MAX_GROUP_NOTE_BYTES, 'note-too-long')
      reader.finish()
      return { ...fields, reason }
    }
    case 'vote': {
      const proposalId = reader.bytes(32, 'proposal id')
      const choice = reader.u8('choice')
      if (choice !== CHOICE_YES && choice !== CHOICE_NO) fail('bad-choice', `A vote's choice is 1 (yes) or 2 (no), got ${choice}`)
      reader.finish()
      return { proposalId, choice: choice === CHOICE_YES ? 'yes' : 'no' }
    }
    case 'rekey': {
      const newEpoch = reader.u32('new epoch')
      if (newEpoch === 0) fail('bad-epoch', 'A rekey starts epoch 1 or later')
      const ephemeralKey = reader.bytes(32, 'ephemeral key')
      const check = reader.bytes(32, 'check')
      const count = reader.u16('entry count')
      if (count === 0 || count > MAX_GROUP_MEMBERS) fail('bad-entries', `A rekey has 1 to ${MAX_GROUP_MEMBERS} entries, got ${count}`)
      const entries: RekeyEntry[] = []
      for (let i = 0; i < count; i++) {
        const member = reader.bytes(32, 'entry member')
        const sealed = reader.bytes(EPOCH_SECRET_LENGTH + 16, 'entry secret')
        // Strictly ascending: one canonical form, and each member at most once.
        if (i > 0 && compareBytes(entries[i - 1]!.member, member) >= 0) fail('bad-entries', 'Rekey entries must be sorted by member key, each member once')
        entries.push({ member, sealed })
      }
      reader.finish()
      return { newEpoch, ephemeralKey, check, entries }
    }
    case 'leave':
      reader.finish()
      return {}
  }
}

/**
 * Decodes an op and checks its signatures: the author's over the whole op,
 * the group key's over a found op, the candidate's over a vouched request.
 * Throws GroupFormatError (only) on anything malformed or forged.
 */
export function decodeGroupOp (crypto: CryptoProvider, bytes: Uint8Array): GroupOp {
  const input = checkInput(bytes, 'A group op', MAX_GROUP_OP_LENGTH)
  return translated(() => {
    const reader = new Reader(input, 'a group op')
    const version = reader.u8('version')
    if (version !== GROUP_VERSION) fail('unknown-version', `Unknown group op version ${version}; this code speaks version ${GROUP_VERSION}`)
    const typeByte = reader.u8('type')
    const type = OP_TYPE_NAMES[typeByte - 1]
    if (type === undefined) fail('unknown-type', `Unknown group op type ${typeByte}`)
    const groupId = reader.bytes(32, 'group id')
    const author = reader.bytes(32, 'author')
    const lamport = reader.u32('lamport')
    const parentCount = reader.u8('parent count')
    const parents: Uint8Array[] = []
    for (let i = 0; i < parentCount; i++) {
      const parent = reader.bytes(OP_ID_LENGTH, 'parent')
      // Strictly ascending: one canonical form, each parent once.
      if (i > 0 && compareBytes(parents[i - 1]!, parent) >= 0) fail('bad-parents', 'Parents must be sorted by opId, each once')
      parents.push(parent)
    }
    const timestamp = reader.time('timestamp')
    const bodyLength = reader.u16('body length')
    if (bodyLength > MAX_GROUP_OP_BODY_LENGTH) fail('too-long', `An op body is at most ${MAX_GROUP_OP_BODY_LENGTH} bytes, got ${bodyLength}`)
    const body = reader.bytes(bodyLength, 'body')
    const signature = reader.bytes(SIGNATURE_LENGTH, 'signature')
    reader.finish()
    // Found is the log's root; every other op follows 1 to MAX_OP_PARENTS ops, with a lamport above theirs.
    if ((type === 'found') !== (lamport === 0)) fail('bad-lamport', type === 'found' ? 'A found op has lamport 0' : 'Only a found op has lamport 0')
    if (type === 'found' ? parentCount !== 0 : parentCount === 0 || parentCount > MAX_OP_PARENTS) {
      fail('bad-parents', type === 'found' ? 'A found op has no parents' : `An op has 1 to ${MAX_OP_PARENTS} parents, got ${parentCount}`)
    }
    const signedEnd = input.length - SIGNATURE_LENGTH
    if (!crypto.ed25519Verify(author, concatBytes(OP_LABEL, input.subarray(0, signedEnd)), signature)) {
      fail('bad-signature', 'The op is not signed by its author')
    }
    const headerLength = OP_HEADER_FIXED_LENGTH + parentCount * OP_ID_LENGTH
    const fields = readBody(crypto, type, groupId, input.subarray(0, headerLength), body)
    const opId = crypto.sha256(input)
    Object.freeze(parents)
    const parentIds = Object.freeze(parents.map(toHex))
    const common = { id: toHex(opId), opId, groupId, author, authorId: toHex(author), lamport, parents, parentIds, timestamp, bytes: input.slice() }
    let op: GroupOp
    if (type === 'found') {
      const { name, groupSealingKey, founderSealingKey, founderVoteKey, epochCheck, constitution } = fields as {
        name: string, groupSealingKey: Uint8Array, founderSealingKey: Uint8Array, founderVoteKey: Uint8Array, epochCheck: Uint8Array, constitution: Constitution
      }
      op = { ...common, type, name, groupSealingKey, founder: { signingKey: author, sealingKey: founderSealingKey }, founderVoteKey, epochCheck, constitution }
    } else {
      op = { ...common, type, ...fields } as GroupOp
    }
    // Frozen: the fold trusts a verified op without checking it again, so it must stay as verified.
    if (op.type === 'rekey') Object.freeze(op.entries)
    verifiedOps.add(Object.freeze(op))
    return op
  })
}

// --- Welcome -------------------------------------------------------------------------------------

/** Encodes a welcome (kind 0x32 body). Throws GroupFormatError over a limit, TypeError/RangeError on bad fields. */
export function encodeWelcome (w: Omit<Welcome, 'genesis'> & { genesis: Uint8Array | string }): Uint8Array {
  const genesis = typeof w.genesis === 'string' ? fromHex(w.genesis, 'genesis', OP_ID_LENGTH) : w.genesis
  assertBytes(genesis, 'genesis', OP_ID_LENGTH)
  assertInteger(w.epoch, 'epoch', 0, MAX_EPOCH)
  assertBytes(w.epochSecret, 'epochSecret', EPOCH_SECRET_LENGTH)
  if (w.previousEpochSecret !== undefined) {
    assertBytes(w.previousEpochSecret, 'previousEpochSecret', EPOCH_SECRET_LENGTH)
    if (w.epoch === 0) fail('bad-previous', 'Epoch 0 has no previous epoch')
  }
  if (w.ops.length > MAX_WELCOME_OPS) fail('too-many-ops', `A welcome carries at most ${MAX_WELCOME_OPS} ops, got ${w.ops.length}`)
  let length = 1 + OP_ID_LENGTH + 4 + EPOCH_SECRET_LENGTH + 1 + (w.previousEpochSecret === undefined ? 0 : EPOCH_SECRET_LENGTH) + 4
  for (const [i, op] of w.ops.entries()) {
    assertBytes(op, `ops[${i}]`)
    if (op.length === 0 || op.length > MAX_GROUP_OP_LENGTH) fail('too-long', `An op is 1 to ${MAX_GROUP_OP_LENGTH} bytes, got ${op.length}`)
    length += 4 + op.length
  }
  const writer = new Writer(length)
  writer.u8(GROUP_VERSION)
  writer.bytes(genesis)
  writer.u32(w.epoch)
  writer.bytes(w.epochSecret)
  writer.u8(w.previousEpochSecret === undefined ? 0 : 1)
  if (w.previousEpochSecret !== undefined) writer.bytes(w.previousEpochSecret)
  writer.u32(w.ops.length)
  for (const op of w.ops) {
    writer.u32(op.length)
    writer.bytes(op)
  }
  return writer.finish()
}

/** Longest welcome: its fixed part and MAX_WELCOME_OPS ops of the longest kind (a bound, never reached in practice). */
const MAX_WELCOME_LENGTH = 1 + OP_ID_LENGTH + 4 + 64 + 1 + 4 + MAX_WELCOME_OPS * (4 + MAX_GROUP_OP_LENGTH)

/** Decodes a welcome. Its ops are not decoded here (the fold does it). Throws GroupFormatError (only). */
export function decodeWelcome (bytes: Uint8Array): Welcome {
  const input = checkInput(bytes, 'A welcome', MAX_WELCOME_LENGTH)
  return translated(() => {
    const reader = new Reader(input, 'a welcome')
    const version = reader.u8('version')
    if (version !== GROUP_VERSION) fail('unknown-version', `Unknown welcome version ${version}; this code speaks version ${GROUP_VERSION}`)
    const genesis = reader.bytes(OP_ID_LENGTH, 'genesis')
    const epoch = reader.u32('epoch')
    const epochSecret = reader.bytes(EPOCH_SECRET_LENGTH, 'epoch secret')
    const hasPrevious = reader.u8('previous flag')
    if (hasPrevious > 1 || (hasPrevious === 1 && epoch === 0)) fail('bad-previous', 'The previous-epoch flag is 0, or 1 after epoch 0')
    const previousEpochSecret = hasPrevious === 1 ? reader.bytes(EPOCH_SECRET_LENGTH, 'previous epoch secret') : undefined
    const count = reader.u32('op count')
    if (count > MAX_WELCOME_OPS) fail('too-many-ops', `A welcome carries at most ${MAX_WELCOME_OPS} ops, got ${count}`)
    const ops: Uint8Array[] = []
    for (let i = 0; i < count; i++) {
      const length = reader.u32('op length')
      if (length === 0 || length > MAX_GROUP_OP_LENGTH) fail('too-long', `An op is 1 to ${MAX_GROUP_OP_LENGTH} bytes, got ${length}`)
      ops.push(reader.bytes(length, 'op'))
    }
    reader.finish()
    return {
      genesis,
      epoch,
      epochSecret,
      ...(previousEpochSecret === undefined ? {} : { previousEpochSecret }),
      ops
    }
  })
}
