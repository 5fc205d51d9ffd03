/**
 * A group's state is a deterministic fold over the set of its ops
 * (SPEC §15.3): decode each (signatures checked), drop duplicates by opId,
 * sort by (lamport, opId bytes) and apply them one by one, each checked
 * against the state the ops before it built. The same set gives the same
 * state on every node, whatever order the ops arrived in, so a node simply
 * folds everything it holds again when an op arrives.
 *
 * An op that breaks a rule at its point (a non-member's vouch, a second vote,
 * a rekey naming the wrong members...) stays in the log but has no effect;
 * the fold says why in `ignored`. Nothing an op holds can make the fold
 * throw.
 */
import { equalBytes, fromHex, toHex } from './bytes.js'
import { MAX_GROUP_MEMBERS, MAX_GROUP_OPS } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { GroupFormatError, type GroupFormatReason } from './errors.js'
import { rekeyCheck } from './group-keys.js'
import {
  decodeGroupOp, decodeWelcome, isVerifiedGroupOp, openRekeyEntry, quorumOf, DEFAULT_CONSTITUTION,
  type Constitution, type GroupOp, type JoinRequest, type RekeyOp
} from './group-ops.js'
import { identityFromSecrets, type Identity, type PublicIdentity } from './identity.js'

/**
 * Furthest an op's lamport may run ahead of the highest applied before it.
 * Honest ops step by 1 over what their author saw, and a log holds at most
 * MAX_GROUP_OPS (4,096) ops, so they never come near it; without it one
 * member could issue an op at lamport 2^32 - 1 and leave nobody a lamport to
 * write with. 4,096 ops × 65,536 stay below 2^32.
 */
export const MAX_LAMPORT_STEP = 65_536

/** Why the fold gave an op no effect: a format rule (the decoder's reason) or a rule of the fold. */
export type GroupOpRejection =
  | GroupFormatReason
  | 'too-many-ops' | 'not-founded' | 'duplicate-found' | 'not-genesis' | 'wrong-group' | 'lamport-gap'
  | 'not-member' | 'already-member' | 'group-full' | 'duplicate-vouch' | 'candidate-keys-differ'
  | 'target-not-member' | 'remove-self' | 'unknown-proposal' | 'proposal-closed' | 'not-in-electorate'
  | 'duplicate-vote' | 'no-rekey-pending' | 'wrong-epoch' | 'wrong-members'

/** A member as the log admitted it. */
export interface GroupMember {
  /** The keys of its join request (or of the found op, for the founder). */
  readonly identity: PublicIdentity
  readonly voteKey: Uint8Array
  /** opId (hex) of the op that admitted it (the found op, a vouch, or the op that lowered the quorum). */
  readonly since: string
  /** Who vouched for it (hex ids, in vouch order): they send the welcome. Empty for the founder. */
  readonly vouchers: readonly string[]
}

/** A candidate with at least one counted vouch, not admitted yet. */
export interface GroupCandidate {
  /** The first counted vouch's request: its keys are the candidate's. */
  readonly request: JoinRequest
  /** Members who vouched (hex ids, in order); only those still members count. */
  readonly vouchers: string[]
}

/** A proposal and its votes. */
export interface GroupProposal {
  /** opId (hex) of the propose op. */
  readonly id: string
  readonly proposer: string
  readonly kind: 'amend' | 'remove'
  /** The constitution an amendment would set. */
  readonly constitution?: Constitution
  /** Hex id of the member a removal would remove. */
  readonly target?: string
  readonly reason: string
  /** Who may vote, fixed when proposed (the members then; for a removal, without the target), sorted. */
  readonly electorate: readonly string[]
  /** Yes votes, the proposer's first. */
  readonly yes: string[]
  readonly no: string[]
  status: 'open' | 'passed' | 'rejected'
  /** opId (hex) of the op that decided it. */
  decidedBy?: string
  readonly lamport: number
  readonly timestamp: number
}

/** What a group's log says, as {@link foldGroup} computes it. */
export interface GroupState {
  /** False when no valid found op was in the set: the rest is empty. */
  founded: boolean
  /** hex(ed_G); '' when not founded and no groupId was asked for. */
  groupId: string
  /** opId (hex) of the found op that won. */
  foundId: string
  name: string
  /** X_G. */
  groupSealingKey: Uint8Array
  constitution: Constitution
  /** Vouches that admit a candidate now. */
  quorum: number
  epoch: number
  /** Set to epoch + 1 by a removal or leave, until a rekey to that epoch is applied. */
  rekeyPending?: number
  members: Map<string, GroupMember>
  /** Hex vote keys of every member ever admitted: the ring votes draw from (SPEC §15.8). */
  everAdmittedVoteKeys: Set<string>
  candidates: Map<string, GroupCandidate>
  proposals: Map<string, GroupProposal>
  /** Epoch → opId (hex) of the rekey that started it. */
  rekeys: Map<number, string>
  /** Epoch → the rekey op that started it ({@link openRekeySecret} reads it). */
  rekeyOps: Map<number, RekeyOp>
  /** opIds (hex) of the ops that had an effect, in fold order. */
  applied: string[]
  /** Ops without effect and why: undecodable ones first (by opId), then in fold order. */
  ignored: Array<{ opId: string, reason: GroupOpRejection }>
  /** Highest lamport of an applied op: a new op takes maxLamport + 1. */
  maxLamport: number
}

/** Options of {@link foldGroup}. */
export interface FoldOptions {
  /** The group these ops belong to (bytes or hex): ops of any other group are ignored. */
  groupId?: Uint8Array | string
  /**
   * opId (hex) of the found op this node knows as the group's (the one it
   * created, or that its welcome's fold gave). Any member holds the group key
   * and could sign another found op; without a pin the smallest opId wins.
   */
  genesis?: string
}

function emptyState (groupId: string): GroupState {
  return {
    founded: false,
    groupId,
    foundId: '',
    name: '',
    groupSealingKey: new Uint8Array(0),
    constitution: DEFAULT_CONSTITUTION,
    quorum: 1,
    epoch: 0,
    members: new Map(),
    everAdmittedVoteKeys: new Set(),
    candidates: new Map(),
    proposals: new Map(),
    rekeys: new Map(),
    rekeyOps: new Map(),
    applied: [],
    ignored: [],
    maxLamport: 0
  }
}

/** Orders ops as the fold applies them: lamport, then opId bytes (lowercase hex compares as the bytes do). */
function foldOrder (a: GroupOp, b: GroupOp): number {
  if (a.lamport !== b.lamport) return a.lamport - b.lamport
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** Applies ops to a state; one instance per fold. */
class Folder {
  constructor (readonly state: GroupState, private readonly genesis: string | undefined, private readonly pinnedGroup: string | undefined) {}

  apply (op: GroupOp): GroupOpRejection | undefined {
    const s = this.state
    if (op.type === 'found') return this.found(op)
    if (!s.founded) return 'not-founded'
    if (toHex(op.groupId) !== s.groupId) return 'wrong-group'
    if (op.lamport > s.maxLamport + MAX_LAMPORT_STEP) return 'lamport-gap'
    if (!s.members.has(op.authorId)) return 'not-member'
    switch (op.type) {
      case 'vouch': return this.vouch(op.request, op.authorId, op.id)
      case 'propose': return this.propose(op)
      case 'vote': return this.vote(op.proposalId, op.authorId, op.choice, op.id)
      case 'rekey': return this.rekey(op)
      case 'leave':
        this.removeMember(op.authorId, op.id)
        return undefined
    }
  }

  private found (op: Extract<GroupOp, { type: 'found' }>): GroupOpRejection | undefined {
    const s = this.state
    if (s.founded) return 'duplicate-found'
    if (this.pinnedGroup !== undefined && toHex(op.groupId) !== this.pinnedGroup) return 'wrong-group'
    if (this.genesis !== undefined && op.id !== this.genesis) return 'not-genesis'
    s.founded = true
    s.groupId = toHex(op.groupId)
    s.foundId = op.id
    s.name = op.name
    s.groupSealingKey = op.groupSealingKey
    s.constitution = op.constitution
    this.admit(op.founder, op.founderVoteKey, op.id, [])
    return undefined
  }

  private admit (identity: PublicIdentity, voteKey: Uint8Array, since: string, vouchers: readonly string[]): void {
    this.state.members.set(toHex(identity.signingKey), { identity, voteKey, since, vouchers })
    this.state.everAdmittedVoteKeys.add(toHex(voteKey))
  }

  private quorum (): number {
    return quorumOf(this.state.constitution, this.state.members.size)
  }

  /**
   * Admits every candidate whose vouchers still members reach the quorum, in
   * candidate id order, while there is room. After a vouch only its candidate
   * can have come to qualify (`only`): no candidate qualifies with room to
   * spare after any op, and an admission only raises the quorum.
   */
  private admitReady (byOpId: string, only?: string): void {
    const s = this.state
    for (const id of only === undefined ? [...s.candidates.keys()].sort() : [only]) {
      if (s.members.size >= MAX_GROUP_MEMBERS) return
      const candidate = s.candidates.get(id)!
      const counted = candidate.vouchers.filter((v) => s.members.has(v))
      if (counted.length < this.quorum()) continue
      s.candidates.delete(id)
      this.admit(candidate.request.candidate, candidate.request.voteKey, byOpId, counted)
    }
  }

  private vouch (request: JoinRequest, voucher: string, opId: string): GroupOpRejection | undefined {
    const s = this.state
    if (s.members.has(request.candidateId)) return 'already-member'
    if (s.members.size >= MAX_GROUP_MEMBERS) return 'group-full'
    const held = s.candidates.get(request.candidateId)
    if (held === undefined) {
      s.candidates.set(request.candidateId, { request, vouchers: [voucher] })
    } else {
      if (!equalBytes(held.request.candidate.sealingKey, request.candidate.sealingKey) || !equalBytes(held.request.voteKey, request.voteKey)) {
        return 'candidate-keys-differ'
      }
      if (held.vouchers.includes(voucher)) return 'duplicate-vouch'
      held.vouchers.push(voucher)
    }
    this.admitReady(opId, request.candidateId)
    return undefined
  }

  private propose (op: Extract<GroupOp, { type: 'propose' }>): GroupOpRejection | undefined {
    const s = this.state
    const members = [...s.members.keys()].sort()
    let proposal: GroupProposal
    const common = { id: op.id, proposer: op.authorId, reason: op.reason, yes: [op.authorId], no: [], status: 'open' as const, lamport: op.lamport, timestamp: op.timestamp }
    if (op.remove !== undefined) {
      const target = toHex(op.remove)
      if (!s.members.has(target)) return 'target-not-member'
      if (target === op.authorId) return 'remove-self'
      proposal = { ...common, kind: 'remove', target, electorate: members.filter((m) => m !== target) }
    } else {
      proposal = { ...common, kind: 'amend', constitution: op.amend!, electorate: members }
    }
    s.proposals.set(op.id, proposal)
    this.decide(proposal, op.id)
    return undefined
  }

  private vote (proposalId: Uint8Array, voter: string, choice: 'yes' | 'no', opId: string): GroupOpRejection | undefined {
    const proposal = this.state.proposals.get(toHex(proposalId))
    if (proposal === undefined) return 'unknown-proposal'
    if (proposal.status !== 'open') return 'proposal-closed'
    if (!proposal.electorate.includes(voter)) return 'not-in-electorate'
    if (proposal.yes.includes(voter) || proposal.no.includes(voter)) return 'duplicate-vote'
    ;(choice === 'yes' ? proposal.yes : proposal.no).push(voter)
    this.decide(proposal, opId)
    return undefined
  }

  /** True when yes can no longer exceed half the electorate: undecided voters who are no longer members do not count. */
  private unreachable (proposal: GroupProposal): boolean {
    const voted = new Set([...proposal.yes, ...proposal.no])
    let undecided = 0
    for (const m of proposal.electorate) if (!voted.has(m) && this.state.members.has(m)) undecided++
    return 2 * (proposal.yes.length + undecided) <= proposal.electorate.length
  }

  private decide (proposal: GroupProposal, byOpId: string): void {
    if (2 * proposal.yes.length > proposal.electorate.length) {
      proposal.status = 'passed'
      proposal.decidedBy = byOpId
      if (proposal.kind === 'amend') {
        this.state.constitution = proposal.constitution!
        this.admitReady(byOpId)
      } else if (this.state.members.has(proposal.target!)) {
        this.removeMember(proposal.target!, byOpId)
      }
    } else if (this.unreachable(proposal)) {
      proposal.status = 'rejected'
      proposal.decidedBy = byOpId
    }
  }

  /**
   * A member leaves or is removed: a rekey is due, removals of it are moot
   * (closed as rejected), proposals it could still have carried may become
   * unreachable, and a lower quorum may admit a waiting candidate.
   */
  private removeMember (id: string, byOpId: string): void {
    const s = this.state
    s.members.delete(id)
    s.rekeyPending = s.epoch + 1
    for (const id2 of [...s.proposals.keys()].sort()) {
      const proposal = s.proposals.get(id2)!
      if (proposal.status !== 'open') continue
      // Losing a voter never adds a yes, so this only rejects: it cannot remove anyone in turn.
      if ((proposal.kind === 'remove' && proposal.target === id) || this.unreachable(proposal)) {
        proposal.status = 'rejected'
        proposal.decidedBy = byOpId
      }
    }
    this.admitReady(byOpId)
  }

  private rekey (op: RekeyOp): GroupOpRejection | undefined {
    const s = this.state
    if (s.rekeyPending === undefined) return 'no-rekey-pending'
    if (op.newEpoch !== s.epoch + 1) return 'wrong-epoch'
    // Entries are strictly ascending (the decoder checks), so equal counts and all members named means exactly the members.
    if (op.entries.length !== s.members.size || !op.entries.every((e) => s.members.has(toHex(e.member)))) return 'wrong-members'
    s.epoch = op.newEpoch
    s.rekeys.set(s.epoch, op.id)
    s.rekeyOps.set(s.epoch, op)
    delete s.rekeyPending
    return undefined
  }
}

/**
 * Folds a set of ops (bytes, or ops {@link decodeGroupOp} returned) into the
 * group's state. Deterministic: the same set gives the same state in any
 * order, with any duplicates. Never throws on hostile ops: each is applied or
 * listed in `ignored` with its reason. Only the first MAX_GROUP_OPS decodable
 * ops in fold order count.
 */
export function foldGroup (crypto: CryptoProvider, ops: Iterable<Uint8Array | GroupOp>, options: FoldOptions = {}): GroupState {
  const pinnedGroup = options.groupId === undefined
    ? undefined
    : typeof options.groupId === 'string' ? toHex(fromHex(options.groupId, 'groupId', 32)) : toHex(options.groupId)
  const state = emptyState(pinnedGroup ?? '')
  const decoded = new Map<string, GroupOp>()
  const malformed = new Map<string, GroupOpRejection>()
  for (const item of ops) {
    if (isVerifiedGroupOp(item)) {
      decoded.set(item.id, item)
      continue
    }
    if (!(item instanceof Uint8Array)) continue // not bytes and not a verified op: nothing to fold
    const id = toHex(crypto.sha256(item))
    if (decoded.has(id) || malformed.has(id)) continue
    try {
      decoded.set(id, decodeGroupOp(crypto, item))
    } catch (cause) {
      malformed.set(id, cause instanceof GroupFormatError ? cause.reason : 'truncated')
    }
  }
  for (const id of [...malformed.keys()].sort()) state.ignored.push({ opId: id, reason: malformed.get(id)! })
  const folder = new Folder(state, options.genesis, pinnedGroup)
  const sorted = [...decoded.values()].sort(foldOrder)
  for (const [index, op] of sorted.entries()) {
    const rejection = index >= MAX_GROUP_OPS ? 'too-many-ops' : folder.apply(op)
    if (rejection === undefined) {
      state.applied.push(op.id)
      state.maxLamport = Math.max(state.maxLamport, op.lamport)
    } else {
      state.ignored.push({ opId: op.id, reason: rejection })
    }
  }
  state.quorum = quorumOf(state.constitution, state.members.size)
  return state
}

/**
 * This member's secret of `epoch` (1 or later) from the rekey that started
 * it: undefined when the state holds no rekey for that epoch, it has no entry
 * for `me`, the entry does not open, or the secret does not match the rekey's
 * `check` (its author gave members different secrets).
 */
export function openRekeySecret (crypto: CryptoProvider, state: GroupState, epoch: number, me: Identity): Uint8Array | undefined {
  const op = state.rekeyOps.get(epoch)
  if (op === undefined) return undefined
  try {
    return openRekeyEntry(crypto, op, me)
  } catch {
    return undefined
  }
}

/** What the candidate expects of a welcome: the group it asked to join, with the keys it asked with. */
export interface WelcomeExpectation {
  /** ed_G (bytes or hex) of a group we asked to join. */
  groupId: Uint8Array | string
  /** Our keys, as in our join request. */
  me: PublicIdentity
  /** Our vote key, as in our join request. */
  voteKey: Uint8Array
}

/** A welcome that checked out. Holds secrets. */
export interface OpenedWelcome {
  /** The group identity, rebuilt from its secrets. */
  readonly group: Identity
  /** The fold of the welcome's log (pinned to its found op from now on: `state.foundId`). */
  readonly state: GroupState
  readonly epoch: number
  readonly epochSecret: Uint8Array
  readonly previousEpochSecret?: Uint8Array
  readonly ops: readonly Uint8Array[]
}

/**
 * Decodes and checks a welcome (SPEC §15.6): the group key is the group's, the
 * log founds that group with that key and makes us a member with the keys we
 * asked with, the epoch is the log's, and the epoch secrets match their
 * rekeys' checks. Throws GroupFormatError: the format reasons, 'wrong-group',
 * 'not-admitted', 'wrong-keys', 'bad-epoch', 'check-mismatch'. Whether we
 * asked to join this group is the caller's to check before.
 */
export function openWelcome (crypto: CryptoProvider, bytes: Uint8Array, expected: WelcomeExpectation): OpenedWelcome {
  const welcome = decodeWelcome(bytes)
  const groupId = typeof expected.groupId === 'string' ? expected.groupId.toLowerCase() : toHex(expected.groupId)
  const group = identityFromSecrets(crypto, welcome.group.signingSeed, welcome.group.sealingSecret)
  const fail = (reason: GroupFormatReason, message: string): never => { throw new GroupFormatError(message, reason) }
  if (toHex(group.signingKey) !== groupId) fail('wrong-group', 'The welcome carries the keys of another group')
  const state = foldGroup(crypto, welcome.ops, { groupId })
  if (!state.founded || !equalBytes(state.groupSealingKey, group.sealingKey)) fail('wrong-group', "The welcome's log does not found this group with these keys")
  const member = state.members.get(toHex(expected.me.signingKey))
  if (member === undefined) fail('not-admitted', "The welcome's log does not admit us")
  if (!equalBytes(member!.identity.sealingKey, expected.me.sealingKey) || !equalBytes(member!.voteKey, expected.voteKey)) {
    fail('wrong-keys', "The welcome's log admits our name with keys we did not ask with")
  }
  if (state.epoch !== welcome.epoch) fail('bad-epoch', `The welcome is for epoch ${welcome.epoch}, its log is at epoch ${state.epoch}`)
  const matches = (epoch: number, secret: Uint8Array): boolean => {
    if (epoch === 0) return true // epoch 0's secret is the founder's; no rekey commits to it
    const op = state.rekeyOps.get(epoch)
    return op !== undefined && equalBytes(rekeyCheck(crypto, secret), op.check)
  }
  if (!matches(welcome.epoch, welcome.epochSecret)) fail('check-mismatch', "The epoch secret does not match its rekey's check")
  if (welcome.previousEpochSecret !== undefined && !matches(welcome.epoch - 1, welcome.previousEpochSecret)) {
    fail('check-mismatch', "The previous epoch's secret does not match its rekey's check")
  }
  return {
    group,
    state,
    epoch: welcome.epoch,
    epochSecret: welcome.epochSecret,
    ...(welcome.previousEpochSecret === undefined ? {} : { previousEpochSecret: welcome.previousEpochSecret }),
    ops: welcome.ops
  }
}

/**
 * A canonical, JSON-ready view of a state: maps as arrays sorted by key,
 * bytes as hex. Equal states give equal JSON strings (what the convergence
 * tests compare); useful to show or log a group.
 */
export function groupStateToJSON (state: GroupState): Record<string, unknown> {
  const sortedEntries = <V>(map: Map<string, V>): Array<[string, V]> => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return {
    founded: state.founded,
    groupId: state.groupId,
    foundId: state.foundId,
    name: state.name,
    groupSealingKey: toHex(state.groupSealingKey),
    constitution: state.constitution,
    quorum: state.quorum,
    epoch: state.epoch,
    rekeyPending: state.rekeyPending ?? null,
    members: sortedEntries(state.members).map(([id, m]) => ({
      id, sealingKey: toHex(m.identity.sealingKey), voteKey: toHex(m.voteKey), since: m.since, vouchers: m.vouchers
    })),
    everAdmittedVoteKeys: [...state.everAdmittedVoteKeys].sort(),
    candidates: sortedEntries(state.candidates).map(([id, c]) => ({ id, request: toHex(c.request.bytes), vouchers: c.vouchers })),
    proposals: sortedEntries(state.proposals).map(([, p]) => ({ ...p, constitution: p.constitution ?? null, target: p.target ?? null, decidedBy: p.decidedBy ?? null })),
    rekeys: [...state.rekeys.entries()].sort(([a], [b]) => a - b),
    applied: state.applied,
    ignored: state.ignored,
    maxLamport: state.maxLamport
  }
}
