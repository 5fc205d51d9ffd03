/**
 * The review's group findings (review-protocol.md #1, #2, #3, #5, #9, #10),
 * each as the scenario that exploited it, now refused: causal ops (parents,
 * lamport = 1 + the parents' highest, pending until the parents arrive),
 * ops a removed member wrote concurrently with its removal excluded, the op
 * cap counting applied ops only, one vote key per identity for life, single-use
 * join requests, and welcomes pinned to their genesis (SPEC §15.3, §15.6).
 */
import { describe, expect, it } from 'vitest'
import {
  createFoundOp, createGroupOp, createIdentity, createJoinRequest, createRekeyOp, decodeGroupOp, encodeWelcome, foldGroup,
  nativeCrypto, openRekeySecret, openWelcome, opHeads, publicIdentityOf, toHex, voteKeyPair, GroupFormatError, MAX_GROUP_OPS,
  MAX_OP_PARENTS, MAX_PENDING_PER_AUTHOR, type GroupOp, type GroupOpInput, type GroupState, type Identity
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)

type Heads = { parents: Uint8Array[], lamport: number }
function idOf (identity: Identity): string { return toHex(identity.signingKey) }

/** A group's log; its founder alone holds the group identity. */
class Log {
  readonly group = createIdentity(crypto)
  readonly ops: GroupOp[] = []
  readonly es0: Uint8Array
  readonly voteKeys = new Map<string, Uint8Array>()
  constructor (readonly founder: Identity) {
    const found = createFoundOp(crypto, { founder, group: this.group, name: 'union', founderVoteKey: this.voteKey(founder), now: NOW })
    this.es0 = found.epochSecret
    this.push(found.op)
  }

  get groupId (): Uint8Array { return this.group.signingKey }
  get genesis (): string { return this.ops[0]!.id }
  voteKey (who: Identity): Uint8Array {
    if (!this.voteKeys.has(idOf(who))) this.voteKeys.set(idOf(who), voteKeyPair(crypto.randomBytes(32), this.groupId).publicKey)
    return this.voteKeys.get(idOf(who))!
  }

  push (bytes: Uint8Array): string {
    const op = decodeGroupOp(crypto, bytes)
    this.ops.push(op)
    return op.id
  }

  fold (ops: Iterable<GroupOp | Uint8Array> = this.ops): GroupState { return foldGroup(crypto, ops, { groupId: this.groupId, genesis: this.genesis }) }
  request (who: Identity, voteKey = this.voteKey(who), now = NOW): Uint8Array {
    return createJoinRequest(crypto, { identity: who, groupId: this.groupId, voteKey, now })
  }

  op (author: Identity, op: GroupOpInput, heads: Heads = opHeads(this.fold())): string {
    return this.push(createGroupOp(crypto, { author, groupId: this.groupId, ...heads, op, now: NOW }))
  }

  rekey (author: Identity, members: Identity[], state = this.fold()): { id: string, secret: Uint8Array } {
    const { op, secret } = createRekeyOp(crypto, { author, groupId: this.groupId, ...opHeads(state), newEpoch: state.epoch + 1, members: members.map(publicIdentityOf), now: NOW })
    return { id: this.push(op), secret }
  }

  verdict (id: string, state = this.fold()): string {
    if (state.applied.includes(id)) return 'applied'
    if (state.pending.includes(id)) return 'pending'
    return state.ignored.find((i) => i.opId === id)?.reason ?? 'absent'
  }
}

function reasonOf (run: () => unknown): string {
  try {
    run()
    return 'no error'
  } catch (error) {
    return error instanceof GroupFormatError ? error.reason : `other: ${(error as Error).name}`
  }
}

describe('review #1: a removed member cannot act "before" its removal', () => {
  /** /tmp/rvw/backdate.ts: {A, B, M}, quorum 1; A and B remove M, A rekeys for {A, B}. */
  function removed (): { log: Log, a: Identity, b: Identity, m: Identity, beforeRemoval: GroupState, removal: string, honest: { id: string, secret: Uint8Array } } {
    const [a, b, m] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    log.op(a, { type: 'vouch', request: log.request(b) })
    log.op(a, { type: 'vouch', request: log.request(m) })
    const beforeRemoval = log.fold()
    const proposal = log.op(a, { type: 'propose', remove: m.signingKey })
    const removal = log.op(b, { type: 'vote', proposalId: proposal, choice: 'yes' })
    const honest = log.rekey(a, [a, b])
    return { log, a, b, m, beforeRemoval, removal, honest }
  }

  it('the backdated vouch for a sockpuppet is excluded; the honest rekey applies; the sockpuppet gets nothing', () => {
    const { log, a, b, m, beforeRemoval, honest } = removed()
    const s = createIdentity(crypto)
    // M writes on the last state it saw as a member: its op sorts before the removal (lamport 3 < the vote's 4).
    const heads = opHeads(beforeRemoval)
    expect(heads.lamport).toBe(3)
    const backdated = log.op(m, { type: 'vouch', request: log.request(s) }, heads)
    let state = log.fold()
    expect(log.verdict(backdated, state)).toBe('concurrent-with-removal')
    expect(state.members.has(idOf(s))).toBe(false)
    expect(state.epoch).toBe(1)
    expect(log.verdict(honest.id, state)).toBe('applied')
    expect([...state.members.keys()].sort()).toEqual([idOf(a), idOf(b)].sort())
    // The sockpuppet's own rekey (naming itself) is a non-member's; it opens no epoch.
    const evil = createRekeyOp(crypto, { author: s, groupId: log.groupId, ...opHeads(state), newEpoch: 2, members: [a, b, s].map(publicIdentityOf), now: NOW })
    state = log.fold([...log.ops, decodeGroupOp(crypto, evil.op)])
    expect(log.verdict(toHex(crypto.sha256(evil.op)), state)).toBe('not-member')
    expect(openRekeySecret(crypto, state, 1, s)).toBeUndefined()
    expect(toHex(openRekeySecret(crypto, state, 1, b)!)).toBe(toHex(honest.secret))
  })

  it('nor can it choose its lamport: it must be 1 + its parents\' highest', () => {
    const { log, m, beforeRemoval } = removed()
    const s = createIdentity(crypto)
    const lowered = log.op(m, { type: 'vouch', request: log.request(s) }, { parents: opHeads(beforeRemoval).parents, lamport: 1 })
    expect(log.verdict(lowered)).toBe('bad-lamport')
    expect(log.fold().members.has(idOf(s))).toBe(false)
  })

  it('its concurrent proposals and votes are excluded too, whatever they sort before; what the removers saw stays', () => {
    const [a, b, c, m] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    for (const who of [b, c, m]) log.op(a, { type: 'vouch', request: log.request(who) })
    // M's vouch that A and B saw before removing it: an ancestor of the removal, it stands.
    const friend = createIdentity(crypto)
    const seen = log.op(m, { type: 'vouch', request: log.request(friend) })
    const base = log.fold()
    const proposal = log.op(a, { type: 'propose', remove: m.signingKey })
    log.op(b, { type: 'vote', proposalId: proposal, choice: 'yes' })
    const removal = log.op(c, { type: 'vote', proposalId: proposal, choice: 'yes' })
    expect(log.fold().members.has(idOf(m))).toBe(false)
    // Meanwhile (on `base`), M proposes to remove A and votes on an amendment of its own.
    const mProposal = log.op(m, { type: 'propose', remove: a.signingKey }, opHeads(base))
    const state = log.fold()
    expect(log.verdict(seen, state)).toBe('applied')
    expect(state.members.has(idOf(friend))).toBe(true)
    expect(log.verdict(mProposal, state)).toBe('concurrent-with-removal')
    expect(state.proposals.has(mProposal)).toBe(false)
    expect(log.verdict(removal, state)).toBe('applied')
  })

  it('a leave excludes the leaver\'s concurrent ops, even those sorting after its re-admission; its ops after the leave count', () => {
    const [a, v] = [createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    log.op(a, { type: 'vouch', request: log.request(v) })
    const base = log.fold()
    const leave = log.op(v, { type: 'leave' }, opHeads(base))
    // Meanwhile, on `base`, V writes a chain of 4 proposals (lamports 2 to 5).
    const chain: string[] = []
    let heads = opHeads(base)
    for (let i = 0; i < 4; i++) {
      chain.push(log.op(v, { type: 'propose', amend: { type: 'fixed', n: 2 }, reason: `c${i}` }, heads))
      heads = { parents: [log.ops.at(-1)!.opId], lamport: heads.lamport + 1 }
    }
    // A re-admits V (a new request, the same vote key) at lamport 3, on the leave: the chain's end sorts after it.
    const readmit = log.op(a, { type: 'vouch', request: log.request(v, log.voteKey(v), NOW + 1) }, { parents: [log.ops.find((op) => op.id === leave)!.opId], lamport: 3 })
    let state = log.fold()
    expect(log.verdict(readmit, state)).toBe('applied')
    expect(state.members.has(idOf(v))).toBe(true)
    for (const id of chain) expect(['not-member', 'concurrent-with-removal']).toContain(log.verdict(id, state))
    expect(log.verdict(chain[3]!, state)).toBe('concurrent-with-removal')
    // What V writes after its re-admission descends from its leave: it counts.
    const after = log.op(v, { type: 'propose', amend: { type: 'fixed', n: 2 }, reason: 'back' })
    state = log.fold()
    expect(log.verdict(after, state)).toBe('applied')
    expect(log.verdict(chain[3]!, state)).toBe('concurrent-with-removal')
  })

  it('an op waits for its parents (pending, not applied) and applies once they arrive', () => {
    const [a, b] = [createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    const vouch = log.op(a, { type: 'vouch', request: log.request(b) })
    const amend = log.op(b, { type: 'propose', amend: { type: 'fixed', n: 2 } })
    const withoutParent = log.fold(log.ops.filter((op) => op.id !== vouch))
    expect(withoutParent.pending).toEqual([amend])
    expect(withoutParent.applied).toEqual([log.genesis])
    expect(withoutParent.keep.has(amend)).toBe(true)
    expect(log.verdict(amend)).toBe('applied')
  })
})

describe('review #2: the op cap counts applied ops; junk takes no place', () => {
  it('/tmp/rvw/flood.ts: 4,096 ops of a stranger (half for another group) do not keep the founder from vouching', () => {
    const [a, b, x] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    const other = createIdentity(crypto).signingKey
    const flood: Uint8Array[] = []
    for (let i = 0; i < MAX_GROUP_OPS; i++) {
      flood.push(createGroupOp(crypto, { author: x, groupId: i % 2 === 1 ? log.groupId : other, parents: [log.ops[0]!.opId], lamport: 1, op: { type: 'leave' }, now: NOW + i }))
    }
    const vouch = log.op(a, { type: 'vouch', request: log.request(b) })
    const state = log.fold([...log.ops, ...flood])
    expect(log.verdict(vouch, state)).toBe('applied')
    expect(state.members.has(idOf(b))).toBe(true)
    const counts: Record<string, number> = {}
    for (const i of state.ignored) counts[i.reason] = (counts[i.reason] ?? 0) + 1
    expect(counts).toEqual({ 'not-member': MAX_GROUP_OPS / 2, 'wrong-group': MAX_GROUP_OPS / 2 })
    // The node keeps only the group's own ops: the flood is dropped.
    expect([...state.keep].sort()).toEqual([log.genesis, vouch].sort())
  })

  it(`pending ops are bounded per author (${MAX_PENDING_PER_AUTHOR}); the rest are 'too-many-pending' and not kept`, () => {
    const [a, x] = [createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    const orphans = Array.from({ length: MAX_PENDING_PER_AUTHOR + 6 }, (_, i) =>
      createGroupOp(crypto, { author: x, groupId: log.groupId, parents: [crypto.randomBytes(32)], lamport: 1 + i, op: { type: 'leave' }, now: NOW }))
    const state = log.fold([...log.ops, ...orphans])
    expect(state.pending).toHaveLength(MAX_PENDING_PER_AUTHOR)
    expect(state.ignored.filter((i) => i.reason === 'too-many-pending')).toHaveLength(6)
    expect(state.keep.size).toBe(1 + MAX_PENDING_PER_AUTHOR)
  })
})

describe('review #3 and #10: one vote key per identity for life, unique; a join request admits once', () => {
  /** /tmp/rvw/doublevote.ts: V leaves and comes back with a vote key from another seed. */
  it('a vouch carrying another vote key for an identity once admitted is ignored', () => {
    const [a, v] = [createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    log.op(a, { type: 'vouch', request: log.request(v) })
    log.op(v, { type: 'leave' })
    const seed2 = voteKeyPair(crypto.randomBytes(32), log.groupId).publicKey
    const rejoin = log.op(a, { type: 'vouch', request: log.request(v, seed2, NOW + 1) })
    const state = log.fold()
    expect(log.verdict(rejoin, state)).toBe('vote-key-differs')
    expect(state.members.has(idOf(v))).toBe(false)
    expect(state.everAdmittedVoteKeys.size).toBe(2)
    expect(state.voteKeys.get(idOf(v))).toBe(toHex(log.voteKey(v)))
  })

  it('a vote key another identity was admitted with is ignored', () => {
    const [a, b, w] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    log.op(a, { type: 'vouch', request: log.request(b) })
    const alias = log.op(a, { type: 'vouch', request: log.request(w, log.voteKey(b)) })
    expect(log.verdict(alias)).toBe('vote-key-taken')
    expect(log.verdict(log.op(a, { type: 'vouch', request: log.request(w, log.voteKey(a)) }))).toBe('vote-key-taken')
  })

  it('two candidates waiting with one vote key: the first admitted takes it, the other is dropped', () => {
    const [a, b, c, d] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    log.op(a, { type: 'vouch', request: log.request(b) })
    const amend = log.op(a, { type: 'propose', amend: { type: 'fixed', n: 2 } })
    log.op(b, { type: 'vote', proposalId: amend, choice: 'yes' })
    const shared = log.voteKey(c)
    log.op(a, { type: 'vouch', request: log.request(c, shared) })
    log.op(a, { type: 'vouch', request: log.request(d, shared) })
    expect(log.fold().candidates.size).toBe(2)
    log.op(b, { type: 'vouch', request: log.request(d, shared) })
    log.op(b, { type: 'vouch', request: log.request(c, shared) })
    const state = log.fold()
    expect(state.members.has(idOf(d))).toBe(true)
    expect(state.members.has(idOf(c))).toBe(false)
    expect(state.candidates.has(idOf(c))).toBe(false)
  })

  it('the request that admitted a member cannot admit it again after it leaves; a new request can', () => {
    const [a, v] = [createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    const request = log.request(v)
    log.op(a, { type: 'vouch', request })
    log.op(v, { type: 'leave' })
    const replay = log.op(a, { type: 'vouch', request })
    expect(log.verdict(replay)).toBe('request-used')
    expect(log.fold().members.has(idOf(v))).toBe(false)
    log.op(a, { type: 'vouch', request: log.request(v, log.voteKey(v), NOW + 5) })
    expect(log.fold().members.has(idOf(v))).toBe(true)
  })

  it('a join request whose vote key is not a canonical ristretto255 point does not decode', () => {
    const log = new Log(createIdentity(crypto))
    expect(reasonOf(() => log.request(createIdentity(crypto), new Uint8Array(32).fill(0xff)))).toBe('bad-vote-key')
  })
})

describe('review #4, #5, #9: the welcome carries no group secret, is pinned to its genesis, and checks ES_0', () => {
  /** /tmp/rvw/rival.ts: a rival found op (signed with the group key) with a smaller opId sits in the honest log. */
  it('a rival found op in the log: the welcome still admits, pinned to its genesis; the rival\'s graph is void', () => {
    const [a, m, c] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    log.op(a, { type: 'vouch', request: log.request(m) })
    let rival: GroupOp
    let tries = 0
    do {
      tries++
      rival = decodeGroupOp(crypto, createFoundOp(crypto, { founder: m, group: log.group, name: 'union', founderVoteKey: log.voteKey(m), now: NOW + tries }).op)
    } while (rival.id > log.genesis)
    log.ops.push(rival)
    // An op in the rival's graph: its only root is the rival found op.
    const onRival = log.op(m, { type: 'propose', amend: { type: 'fixed', n: 3 } }, { parents: [rival.opId], lamport: 1 })
    log.op(a, { type: 'vouch', request: log.request(c) })
    const ops = log.ops.map((op) => op.bytes)
    const opened = openWelcome(crypto, encodeWelcome({ genesis: log.genesis, epoch: 0, epochSecret: log.es0, ops }), { groupId: log.groupId, me: c, voteKey: log.voteKey(c) })
    expect(opened.genesis).toBe(log.genesis)
    expect(opened.state.members.has(idOf(c))).toBe(true)
    expect(log.verdict(rival.id, opened.state)).toBe('not-genesis')
    expect(log.verdict(onRival, opened.state)).toBe('not-genesis')
    expect(opened.state.keep.has(rival.id)).toBe(false)
    // Unpinned, the smallest opId wins: the rival's history, which does not admit C.
    expect(foldGroup(crypto, ops, { groupId: log.groupId }).foundId).toBe(rival.id)
  })

  it('a welcome whose genesis is another group\'s found op, or absent from its log, is refused', () => {
    const [a, c] = [createIdentity(crypto), createIdentity(crypto)]
    const log = new Log(a)
    log.op(a, { type: 'vouch', request: log.request(c) })
    const otherLog = new Log(a)
    const ops = [...log.ops, otherLog.ops[0]!].map((op) => op.bytes)
    const expected = { groupId: log.groupId, me: c, voteKey: log.voteKey(c) }
    expect(reasonOf(() => openWelcome(crypto, encodeWelcome({ genesis: otherLog.genesis, epoch: 0, epochSecret: log.es0, ops }), expected))).toBe('wrong-group')
    expect(reasonOf(() => openWelcome(crypto, encodeWelcome({ genesis: crypto.randomBytes(32), epoch: 0, epochSecret: log.es0, ops }), expected))).toBe('not-genesis')
    expect(reasonOf(() => openWelcome(crypto, encodeWelcome({ genesis: log.genesis, epoch: 0, epochSecret: otherLog.es0, ops }), expected))).toBe('check-mismatch')
    expect(reasonOf(() => openWelcome(crypto, encodeWelcome({ genesis: log.genesis, epoch: 0, epochSecret: log.es0, ops }), expected))).toBe('no error')
  })
})

describe('opHeads', () => {
  it(`gives the applied ops without an applied child, at most ${MAX_OP_PARENTS}, highest lamport first, and 1 + the highest lamport`, () => {
    const a = createIdentity(crypto)
    const log = new Log(a)
    expect(opHeads(log.fold())).toEqual({ parents: [log.ops[0]!.opId], lamport: 1 })
    const first = log.op(a, { type: 'propose', amend: { type: 'fixed', n: 2 } })
    // 20 ops concurrent with each other (all on `first`), and one more on the found op only.
    const onFirst = opHeads(log.fold())
    const concurrent = Array.from({ length: 20 }, (_, i) => log.op(a, { type: 'propose', amend: { type: 'fixed', n: 2 }, reason: `r${i}` }, onFirst))
    log.op(a, { type: 'propose', amend: { type: 'fixed', n: 9 } }, { parents: [log.ops[0]!.opId], lamport: 1 })
    const state = log.fold()
    expect(state.heads).toHaveLength(21)
    const heads = opHeads(state)
    expect(heads.lamport).toBe(3)
    expect(heads.parents).toHaveLength(MAX_OP_PARENTS)
    expect(heads.parents.map(toHex).every((id) => concurrent.includes(id))).toBe(true)
    expect(heads.parents.map(toHex)).not.toContain(first)
    const merged = log.op(a, { type: 'propose', amend: { type: 'fixed', n: 3 }, reason: 'merge' }, heads)
    expect(log.verdict(merged)).toBe('applied')
    expect(log.fold().heads.length).toBe(1 + 20 + 1 - MAX_OP_PARENTS)
  })

  it('refuses a state that founds nothing', () => {
    expect(() => opHeads(foldGroup(crypto, []))).toThrow(RangeError)
  })
})
