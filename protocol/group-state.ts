/**
 * A group's state is a deterministic fold over the set of its ops
 * (SPEC §15.3): decode each (signatures checked), drop duplicates by opId,
 * set aside the ops whose parents are not all present (pending), sort the rest
 * by (lamport, opId bytes) — a linear extension of the parent graph, since an
 * op's lamport is 1 + its parents' highest — and apply them one by one, each
 * checked against the state the ops before it built. Then the ops a removed
 * member wrote concurrently with its removal are excluded and the fold runs
 * again, until nothing more is excluded. The same set gives the same state on
 * every node, whatever order the ops arrived in, so a node simply folds
 * everything it holds again when an op arrives.
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
  MAX_OP_PARENTS, type Constitution, type GroupOp, type JoinRequest, type RekeyOp
} from './group-ops.js'
import type { Identity, PublicIdentity } from './identity.js'

/**
 * @deprecated Not a rule any more: an op's lamport is 1 + its parents' highest
 * (SPEC §15.3), so nobody can leap ahead. Kept so old imports compile.
 */
export const MAX_LAMPORT_STEP = 65_536

/**
 * Most ops of one author a fold keeps waiting for a missing parent (and most
 * ignored ops of one ever-admitted author it asks the node to keep): beyond,
 * they are 'too-many-pending', and the node drops them. Honest authors have a
 * few in flight at a time; without a bound one key could fill a node's store.
 */
export const MAX_PENDING_PER_AUTHOR = 64

/** Why the fold gave an op no effect: a format rule (the decoder's reason) or a rule of the fold. */
export type GroupOpRejection =
  | GroupFormatReason
  | 'too-many-ops' | 'too-many-pending' | 'not-founded' | 'duplicate-found' | 'not-genesis' | 'wrong-group'
  | 'concurrent-with-removal' | 'not-member' | 'already-member' | 'group-full' | 'duplicate-vouch' | 'candidate-keys-differ'
  | 'request-used' | 'vote-key-differs' | 'vote-key-taken'
  | 'target-not-member' | 'remove-self' | 'unknown-proposal' | 'proposal-closed' | 'not-in-electorate'
  | 'duplicate-vote' | 'wrong-epoch' | 'wrong-members'

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
  /** SHA-256 (hex) of each distinct request its vouches carried: all are used up when it is admitted. */
  readonly requests: string[]
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
  /** Every identity ever admitted (hex ed) → its hex vote key, for life: one key per identity, one identity per key. */
  voteKeys: Map<string, string>
  candidates: Map<string, GroupCandidate>
  proposals: Map<string, GroupProposal>
  /** Epoch → opId (hex) of the rekey that started it. */
  rekeys: Map<number, string>
  /** Epoch → the rekey op that started it ({@link openRekeySecret} reads it). */
  rekeyOps: Map<number, RekeyOp>
  /** check_0 of the found op: HMAC(ES_0, "komrade/v1/group/rekey-check"). */
  foundCheck: Uint8Array
  /** opIds (hex) of the ops that had an effect, in fold order. At most MAX_GROUP_OPS. */
  applied: string[]
  /**
   * opIds (hex) of ops waiting for a parent the set does not hold (not
   * applied: reported here, as 'missing-parent'), at most
   * MAX_PENDING_PER_AUTHOR per author, in (lamport, opId) order.
   */
  pending: string[]
  /** Ops without effect and why: undecodable ones first (by opId), then in fold order. */
  ignored: Array<{ opId: string, reason: GroupOpRejection }>
  /**
   * opIds (hex) a node stores, relays and hands to newcomers: the applied and
   * pending ops, every op they descend from, and up to MAX_PENDING_PER_AUTHOR
   * other ignored ops of each ever-admitted author in the group's graph (an op
   * one view ignores may be a parent in another's). Every other op never
   * counts, whatever arrives later: the node drops it.
   */
  keep: Set<string>
  /** Applied ops with no applied child, highest lamport first (then opId): {@link opHeads} takes the first 16. */
  heads: Array<{ id: string, opId: Uint8Array, lamport: number }>
  /** Highest lamport of an applied op. */
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
    voteKeys: new Map(),
    candidates: new Map(),
    proposals: new Map(),
    rekeys: new Map(),
    rekeyOps: new Map(),
    foundCheck: new Uint8Array(0),
    applied: [],
    pending: [],
    ignored: [],
    keep: new Set(),
    heads: [],
    maxLamport: 0
  }
}

/** Orders ops as the fold applies them: lamport, then opId bytes (lowercase hex compares as the bytes do). */
function foldOrder (a: GroupOp, b: GroupOp): number {
  if (a.lamport !== b.lamport) return a.lamport - b.lamport
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** A member removed (by the vote that passed it) or departed (by its leave op). */
interface Removal {
  readonly member: string
  /** opId (hex) of the op that removed it. */
  readonly at: string
}

/** Applies ops to a state; one instance per pass of the fold. */
class Folder {
  /** Removals in fold order: the fixpoint excludes what their members wrote concurrently. */
  readonly removals: Removal[] = []
  /** SHA-256 (hex) of every join request that admitted its candidate: a request admits once. */
  private readonly usedRequests = new Set<string>()
  /** opIds of the ops that descend from the applied found op. */
  readonly fromGenesis = new Set<string>()

  constructor (
    readonly state: GroupState,
    private readonly crypto: CryptoProvider,
    private readonly genesis: string | undefined,
    private readonly pinnedGroup: string | undefined,
    private readonly excluded: ReadonlySet<string>
  ) {}

  apply (op: GroupOp): GroupOpRejection | undefined {
    const s = this.state
    if (op.type === 'found') return this.found(op)
    if (!s.founded) return 'not-founded'
    if (toHex(op.groupId) !== s.groupId) return 'wrong-group'
    // Bound to the genesis: an op of a rival found op's graph never applies here.
    if (!op.parentIds.some((p) => p === s.foundId || this.fromGenesis.has(p))) return 'not-genesis'
    this.fromGenesis.add(op.id)
    if (this.excluded.has(op.id)) return 'concurrent-with-removal'
    if (!s.members.has(op.authorId)) return 'not-member'
    if (s.applied.length >= MAX_GROUP_OPS) return 'too-many-ops'
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
    if (this.pinnedGroup !== undefined && toHex(op.groupId) !== this.pinnedGroup) return 'wrong-group'
    if (this.genesis !== undefined && op.id !== this.genesis) return 'not-genesis'
    if (s.founded) return 'duplicate-found'
    s.founded = true
    s.groupId = toHex(op.groupId)
    s.foundId = op.id
    s.name = op.name
    s.groupSealingKey = op.groupSealingKey
    s.foundCheck = op.epochCheck
    s.constitution = op.constitution
    this.admit(op.founder, op.founderVoteKey, op.id, [])
    return undefined
  }

  private admit (identity: PublicIdentity, voteKey: Uint8Array, since: string, vouchers: readonly string[]): void {
    const id = toHex(identity.signingKey)
    this.state.members.set(id, { identity, voteKey, since, vouchers })
    this.state.everAdmittedVoteKeys.add(toHex(voteKey))
    this.state.voteKeys.set(id, toHex(voteKey))
  }

  /** Why `request` may not admit its candidate as things stand: single use, and one vote key per identity for life. */
  private requestRefusal (request: JoinRequest, requestHash: string): GroupOpRejection | undefined {
    const s = this.state
    if (this.usedRequests.has(requestHash)) return 'request-used'
    const voteKey = toHex(request.voteKey)
    const held = s.voteKeys.get(request.candidateId)
    if (held !== undefined && held !== voteKey) return 'vote-key-differs'
    if (held === undefined && s.everAdmittedVoteKeys.has(voteKey)) return 'vote-key-taken'
    return undefined
  }

  private quorum (): number {
    return quorumOf(this.state.constitution, this.state.members.size)
  }

  /**
   * Admits every candidate whose vouchers still members reach the quorum, in
   * candidate id order, while there is room. After a vouch only its candidate
   * can have come to qualify (`only`): no candidate qualifies with room to
   * spare after any op, and an admission only raises the quorum. A candidate
   * whose vote key another identity took meanwhile is dropped.
   */
  private admitReady (byOpId: string, only?: string): void {
    const s = this.state
    for (const id of only === undefined ? [...s.candidates.keys()].sort() : [only]) {
      if (s.members.size >= MAX_GROUP_MEMBERS) return
      const candidate = s.candidates.get(id)!
      const counted = candidate.vouchers.filter((v) => s.members.has(v))
      if (counted.length < this.quorum()) continue
      s.candidates.delete(id)
      const voteKey = toHex(candidate.request.voteKey)
      const held = s.voteKeys.get(id)
      if (held === undefined ? s.everAdmittedVoteKeys.has(voteKey) : held !== voteKey) continue
      for (const hash of candidate.requests) this.usedRequests.add(hash)
      this.admit(candidate.request.candidate, candidate.request.voteKey, byOpId, counted)
      // Whoever else waits with that vote key can never be admitted now.
      for (const [other, waiting] of [...s.candidates]) if (toHex(waiting.request.voteKey) === voteKey) s.candidates.delete(other)
    }
  }

  private vouch (request: JoinRequest, voucher: string, opId: string): GroupOpRejection | undefined {
    const s = this.state
    if (s.members.has(request.candidateId)) return 'already-member'
    if (s.members.size >= MAX_GROUP_MEMBERS) return 'group-full'
    const requestHash = toHex(this.crypto.sha256(request.bytes))
    const refusal = this.requestRefusal(request, requestHash)
    if (refusal !== undefined) return refusal
    const held = s.candidates.get(request.candidateId)
    if (held === undefined) {
      s.candidates.set(request.candidateId, { request, vouchers: [voucher], requests: [requestHash] })
    } else {
      if (!equalBytes(held.request.candidate.sealingKey, request.candidate.sealingKey) || !equalBytes(held.request.voteKey, request.voteKey)) {
        return 'candidate-keys-differ'
      }
      if (held.vouchers.includes(voucher)) return 'duplicate-vouch'
      held.vouchers.push(voucher)
      if (!held.requests.includes(requestHash)) held.requests.push(requestHash)
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
    this.removals.push({ member: id, at: byOpId })
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
    // Any member may rekey at any time (one left without a readable entry refreshes the keys itself); a removal makes one due.
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

/** Every op `from` reaches through parents, itself included (ops the set holds). */
function reachable (from: string, next: (id: string) => readonly string[] | undefined): Set<string> {
  const seen = new Set<string>([from])
  const stack = [from]
  while (stack.length > 0) {
    for (const id of next(stack.pop()!) ?? []) {
      if (seen.has(id)) continue
      seen.add(id)
      stack.push(id)
    }
  }
  return seen
}

/**
 * Splits decoded ops into those whose past is wholly in the set (every parent
 * present, and theirs, down to a found op) and those waiting for a parent.
 * Iterative: a hostile set cannot overflow the stack (and cannot make a cycle:
 * an op would have to name its own hash among its ancestors).
 */
function completeOps (decoded: ReadonlyMap<string, GroupOp>): Set<string> {
  const status = new Map<string, boolean>()
  for (const root of decoded.values()) {
    const stack: GroupOp[] = [root]
    while (stack.length > 0) {
      const op = stack[stack.length - 1]!
      if (status.has(op.id)) { stack.pop(); continue }
      let missing = false
      let waiting = false
      for (const id of op.parentIds) {
        const parent = decoded.get(id)
        const known = status.get(id)
        if (parent === undefined || known === false) { missing = true; break }
        if (known === undefined) { stack.push(parent); waiting = true }
      }
      if (missing) status.set(op.id, false)
      else if (!waiting) status.set(op.id, true)
      if (missing || !waiting) stack.pop()
    }
  }
  return new Set([...status].filter(([, complete]) => complete).map(([id]) => id))
}

/**
 * Folds a set of ops (bytes, or ops {@link decodeGroupOp} returned) into the
 * group's state. Deterministic: the same set gives the same state in any
 * order, with any duplicates. Never throws on hostile ops: each is applied,
 * pending (a parent missing) or listed in `ignored` with its reason. At most
 * MAX_GROUP_OPS ops are applied; ops without effect take no place.
 */
export function foldGroup (crypto: CryptoProvider, ops: Iterable<Uint8Array | GroupOp>, options: FoldOptions = {}): GroupState {
  const pinnedGroup = options.groupId === undefined
    ? undefined
    : typeof options.groupId === 'string' ? toHex(fromHex(options.groupId, 'groupId', 32)) : toHex(options.groupId)
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
  const complete = completeOps(decoded)
  const sorted = [...decoded.values()].sort(foldOrder)
  // Sound: lamport exactly 1 + the parents' highest, and so are the parents'. Then (lamport, opId) order
  // puts every parent before its children; an op whose lamport passes sorts after its parents, so one pass does.
  const sound = new Set<string>()
  const children = new Map<string, string[]>()
  for (const op of sorted) {
    if (!complete.has(op.id)) continue
    let highest = -1
    for (const id of op.parentIds) {
      highest = Math.max(highest, decoded.get(id)!.lamport)
      const list = children.get(id)
      if (list === undefined) children.set(id, [op.id])
      else list.push(op.id)
    }
    if (op.type === 'found' || (op.lamport === highest + 1 && op.parentIds.every((id) => sound.has(id)))) sound.add(op.id)
  }
  const ordered = sorted.filter((op) => complete.has(op.id))

  // The fixpoint: fold; exclude what each removed member wrote neither before (an ancestor of) nor after (a
  // descendant of) the op that removed it; fold again until nothing more is excluded. Each pass excludes at
  // least one more op, so there are at most as many passes as ops; it depends on the set only.
  const excluded = new Set<string>()
  let state: GroupState
  let folder: Folder
  for (;;) {
    state = emptyState(pinnedGroup ?? '')
    folder = new Folder(state, crypto, options.genesis, pinnedGroup, excluded)
    for (const op of ordered) {
      const rejection = sound.has(op.id) ? folder.apply(op) : 'bad-lamport'
      if (rejection === undefined) state.applied.push(op.id)
      else state.ignored.push({ opId: op.id, reason: rejection })
    }
    let grew = false
    for (const removal of folder.removals) {
      const past = reachable(removal.at, (id) => decoded.get(id)?.parentIds)
      const future = reachable(removal.at, (id) => children.get(id))
      for (const id of state.applied) {
        if (decoded.get(id)!.authorId !== removal.member || past.has(id) || future.has(id) || excluded.has(id)) continue
        excluded.add(id)
        grew = true
      }
    }
    if (!grew) break
  }

  const malformedReports = [...malformed.keys()].sort().map((opId) => ({ opId, reason: malformed.get(opId)! }))
  const pendingByAuthor = new Map<string, number>()
  const overflow: Array<{ opId: string, reason: GroupOpRejection }> = []
  for (const op of sorted) {
    if (complete.has(op.id)) continue
    const count = pendingByAuthor.get(op.authorId) ?? 0
    pendingByAuthor.set(op.authorId, count + 1)
    if (count < MAX_PENDING_PER_AUTHOR) state.pending.push(op.id)
    else overflow.push({ opId: op.id, reason: 'too-many-pending' })
  }
  state.ignored = [...malformedReports, ...state.ignored, ...overflow]

  const appliedSet = new Set(state.applied)
  const withChild = new Set<string>()
  for (const id of state.applied) {
    const op = decoded.get(id)!
    state.maxLamport = Math.max(state.maxLamport, op.lamport)
    for (const parent of op.parentIds) if (appliedSet.has(parent)) withChild.add(parent)
  }
  state.heads = state.applied.filter((id) => !withChild.has(id)).map((id) => decoded.get(id)!)
    .sort((a, b) => b.lamport - a.lamport || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((op) => ({ id: op.id, opId: op.opId, lamport: op.lamport }))

  // What the node keeps: applied, pending, a bounded number of other ops of ever-admitted authors in this
  // group's graph, and everything those descend from.
  const keptByAuthor = new Map<string, number>()
  const seeds = [...state.applied, ...state.pending]
  for (const { opId } of state.ignored) {
    const op = decoded.get(opId)
    if (op === undefined || !sound.has(opId) || !folder.fromGenesis.has(opId) || !state.voteKeys.has(op.authorId)) continue
    const count = keptByAuthor.get(op.authorId) ?? 0
    keptByAuthor.set(op.authorId, count + 1)
    if (count < MAX_PENDING_PER_AUTHOR) seeds.push(opId)
  }
  // One walk over the ancestors of all seeds: a walk stops at what is kept already.
  const stack = seeds.filter((id) => decoded.has(id))
  while (stack.length > 0) {
    const id = stack.pop()!
    if (state.keep.has(id)) continue
    state.keep.add(id)
    for (const parent of decoded.get(id)!.parentIds) if (decoded.has(parent) && !state.keep.has(parent)) stack.push(parent)
  }
  state.quorum = quorumOf(state.constitution, state.members.size)
  return state
}

/**
 * The parents and lamport of the next op this node writes: the applied ops
 * with no applied child (at most MAX_OP_PARENTS, highest lamport first) and
 * 1 + the highest of their lamports. Throws RangeError before the group is
 * founded (nothing to follow).
 */
export function opHeads (state: GroupState): { parents: Uint8Array[], lamport: number } {
  const heads = state.heads.slice(0, MAX_OP_PARENTS)
  if (!state.founded || heads.length === 0) throw new RangeError('"state" has no applied op to follow: the group is not founded')
  return { parents: heads.map((h) => h.opId.slice()), lamport: heads[0]!.lamport + 1 }
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
  /** opId (hex) of the group's found op: pin it (FoldOptions.genesis) in every later fold. */
  readonly genesis: string
  /** The fold of the welcome's log, pinned to the group asked for and to `genesis`. */
  readonly state: GroupState
  readonly epoch: number
  readonly epochSecret: Uint8Array
  readonly previousEpochSecret?: Uint8Array
  readonly ops: readonly Uint8Array[]
}

/**
 * Decodes and checks a welcome (SPEC §15.6): the log, folded pinned to the
 * group we asked to join and to the welcome's genesis, founds that group with
 * that found op and makes us a member with the keys we asked with; the epoch
 * is the log's; the epoch secrets match their commitments (the found op's
 * check for epoch 0, the rekey's check after). Throws GroupFormatError: the
 * format reasons, 'wrong-group', 'not-genesis', 'not-admitted', 'wrong-keys',
 * 'bad-epoch', 'check-mismatch'. Whether we asked to join this group is the
 * caller's to check before.
 */
export function openWelcome (crypto: CryptoProvider, bytes: Uint8Array, expected: WelcomeExpectation): OpenedWelcome {
  const welcome = decodeWelcome(bytes)
  const groupId = typeof expected.groupId === 'string' ? toHex(fromHex(expected.groupId, 'groupId', 32)) : toHex(expected.groupId)
  const genesis = toHex(welcome.genesis)
  const fail = (reason: GroupFormatReason, message: string): never => { throw new GroupFormatError(message, reason) }
  const state = foldGroup(crypto, welcome.ops, { groupId, genesis })
  // The found op is signed by the group key (= groupId), so a founded, pinned fold is this group's.
  if (!state.founded) {
    const foreign = state.ignored.some((i) => i.opId === genesis && i.reason === 'wrong-group')
    fail(foreign ? 'wrong-group' : 'not-genesis', foreign ? "The welcome's genesis founds another group" : "The welcome's log does not hold its genesis found op")
  }
  const member = state.members.get(toHex(expected.me.signingKey))
  if (member === undefined) fail('not-admitted', "The welcome's log does not admit us")
  if (!equalBytes(member!.identity.sealingKey, expected.me.sealingKey) || !equalBytes(member!.voteKey, expected.voteKey)) {
    fail('wrong-keys', "The welcome's log admits our name with keys we did not ask with")
  }
  if (state.epoch !== welcome.epoch) fail('bad-epoch', `The welcome is for epoch ${welcome.epoch}, its log is at epoch ${state.epoch}`)
  const matches = (epoch: number, secret: Uint8Array): boolean => {
    const check = epoch === 0 ? state.foundCheck : state.rekeyOps.get(epoch)?.check
    return check !== undefined && equalBytes(rekeyCheck(crypto, secret), check)
  }
  if (!matches(welcome.epoch, welcome.epochSecret)) fail('check-mismatch', 'The epoch secret does not match its commitment (found op or rekey)')
  if (welcome.previousEpochSecret !== undefined && !matches(welcome.epoch - 1, welcome.previousEpochSecret)) {
    fail('check-mismatch', "The previous epoch's secret does not match its commitment")
  }
  return {
    genesis,
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
    voteKeys: sortedEntries(state.voteKeys),
    candidates: sortedEntries(state.candidates).map(([id, c]) => ({ id, request: toHex(c.request.bytes), vouchers: c.vouchers, requests: c.requests })),
    proposals: sortedEntries(state.proposals).map(([, p]) => ({ ...p, constitution: p.constitution ?? null, target: p.target ?? null, decidedBy: p.decidedBy ?? null })),
    rekeys: [...state.rekeys.entries()].sort(([a], [b]) => a - b),
    foundCheck: toHex(state.foundCheck),
    applied: state.applied,
    pending: state.pending,
    ignored: state.ignored,
    keep: [...state.keep].sort(),
    heads: state.heads.map((h) => h.id),
    maxLamport: state.maxLamport
  }
}
