/**
 * Groups on one real node under hostile or unlucky input (review of the
 * node layer, findings N1, N4 to N8, N10, N18; SPEC §15.8 and §15.11):
 *
 * - ops that come before their parent (a resync in any order) are held,
 *   not folded and not pruned, and count once the parent comes: the node
 *   ends with the state of one that got them in order;
 * - an author's ops past the day's budget are refused (ours are not sent);
 * - votes: a replay is not verified again, nor is a vote that failed once;
 *   a vote on a post the node does not hold waits (bounded, until its own
 *   expiry) and counts when the post comes, even when a forged copy of it
 *   (same key image and choice) came first; a vote whose ring holds a key
 *   not admitted yet waits and counts once admitted; a ring with a key of
 *   someone who was no member in the channel's epoch, or a vote on a post
 *   of a later epoch, never counts;
 * - welcomes: a stranger's is dropped before anything is decoded or folded;
 * - join requests: strangers cannot push out a contact's.
 *
 * Key-only members (keys, no node) stand in for the others: their ops and
 * votes are made here and handed to the node as if received.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { collectivesTesting } from '../../node/collectives/node-collectives.js'
import { MAX_GROUP_OPS_PER_AUTHOR_PER_DAY, MAX_STRANGER_REQUESTS_PER_GROUP, MAX_WELCOME_BYTES } from '../../node/collectives/collectives-constants.js'
import {
  createGroupOp, createIdentity, createJoinRequest, createVote, decodePublicIdentity, encodePost, encodeWelcome, fromHex, identityId, KIND_GROUP_OP, opHeads,
  toHex, voteKeyPair, type Identity
} from '../../protocol/index.js'
import { cleanup, startNode, waitFor } from './cluster.js'
import { cleanupOperators, crypto, identityOf, startOperator } from './registry-operators.js'

const TTL = 10
const collectives = { ttlMinutes: TTL, rekeyStaggerMs: 50 }

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
})

async function founderNode (): Promise<{ node: Awaited<ReturnType<typeof startNode>>['node'], me: Identity }> {
  const op = await startOperator()
  const started = await startNode({ operator: op.config, collectives })
  return { node: started.node, me: await identityOf(started.dataDir) }
}

describe('groups on one node, hostile input', () => {
  it('holds ops that come before their parent and folds them once it comes; refuses an author\'s ops past the day\'s budget', async () => {
    const { node, me } = await founderNode()
    const t = collectivesTesting(node)
    const info = await node.groups.create('busy')
    const gid = fromHex(info.id)
    // 100 chained ops of ours (another device of ours, say), 2..100 arriving before 1.
    const ops: Uint8Array[] = []
    let heads = opHeads(t.state('busy'))
    for (let i = 0; i < 100; i++) {
      const op = createGroupOp(crypto, { author: me, groupId: gid, ...heads, op: { type: 'propose', amend: { type: 'fixed', n: 1 }, reason: String(i) } })
      ops.push(op)
      heads = { parents: [crypto.sha256(op)], lamport: heads.lamport + 1 }
    }
    const folds = t.counters().folds
    for (const op of ops.slice(1)) await t.publishRaw('busy', KIND_GROUP_OP, op, false)
    // Held, all of them (not only 64), and never folded: the fold would leave them out anyway.
    expect(t.counters().folds).toBe(folds)
    expect((await node.groups.get('busy'))!.opCount).toBe(100)
    expect(t.state('busy').applied).toHaveLength(1)
    // An op that does apply meanwhile (a fold, then the prune of what the fold does not keep): the waiting ones stay.
    const aside = createGroupOp(crypto, { author: me, groupId: gid, ...opHeads(t.state('busy')), op: { type: 'propose', amend: { type: 'fixed', n: 1 }, reason: 'aside' } })
    await t.publishRaw('busy', KIND_GROUP_OP, aside, false)
    expect(t.counters().folds).toBe(folds + 1)
    expect((await node.groups.get('busy'))!.opCount).toBe(101)
    await t.publishRaw('busy', KIND_GROUP_OP, ops[0]!, false)
    const state = t.state('busy')
    expect(state.applied.filter((id) => id !== toHex(crypto.sha256(aside)))).toEqual([state.foundId, ...ops.map((op) => toHex(crypto.sha256(op)))])
    expect(state.applied).toHaveLength(102)
    expect(state.proposals.size).toBe(101)
    expect(state.pending).toEqual([])

    // The budget: the found op and 101 proposals today; 26 more are taken, the next are refused.
    heads = opHeads(state)
    for (let i = 0; i < MAX_GROUP_OPS_PER_AUTHOR_PER_DAY - 101 + 1; i++) {
      const op = createGroupOp(crypto, { author: me, groupId: gid, ...heads, op: { type: 'propose', amend: { type: 'fixed', n: 1 }, reason: `more ${i}` } })
      await t.publishRaw('busy', KIND_GROUP_OP, op, false)
      heads = { parents: [crypto.sha256(op)], lamport: heads.lamport + 1 }
    }
    expect((await node.groups.get('busy'))!.opCount).toBe(MAX_GROUP_OPS_PER_AUTHOR_PER_DAY)
    // Ours through the API: refused before anything is sent.
    await expect(node.groups.propose('busy', { amend: { type: 'fixed', n: 1 } })).rejects.toMatchObject({ name: 'GroupOpBudgetError', why: 'per-day' })
    expect((await node.groups.get('busy'))!.opCount).toBe(MAX_GROUP_OPS_PER_AUTHOR_PER_DAY)
    // A step that fails leaves nothing behind in memory: the vouch's bookkeeping is read back from disk.
    const candidate = createIdentity(crypto)
    await t.receiveJoinRequest(createJoinRequest(crypto, { identity: candidate, groupId: gid, voteKey: voteKeyPair(candidate.signingSeed, gid).publicKey }), candidate)
    await expect(node.groups.vouch('busy', identityId(candidate))).rejects.toMatchObject({ name: 'GroupOpBudgetError' })
    expect((await node.groups.requests('busy')).map((r) => r.vouched)).toEqual([false])
  })

  it('checks votes cheaply before verifying them, keeps early ones waiting, and counts only members of the epoch', async () => {
    const { node, me } = await founderNode()
    const t = collectivesTesting(node)
    const info = await node.groups.create('council')
    const gid = fromHex(info.id)
    const keyOnly = Array.from({ length: 15 }, () => createIdentity(crypto))
    const admit = async (identity: Identity): Promise<void> => {
      const request = createJoinRequest(crypto, { identity, groupId: gid, voteKey: voteKeyPair(identity.signingSeed, gid).publicKey })
      await t.receiveJoinRequest(request, identity)
      await node.groups.vouch('council', identityId(identity))
    }
    for (const identity of keyOnly) await admit(identity)
    expect(t.state('council').members.size).toBe(16)
    const memberKeys = (): Uint8Array[] => [...t.state('council').members.values()].map((m) => m.voteKey)
    const voteBy = (voter: Identity, postId: string, candidates = memberKeys(), choice: 'up' | 'down' = 'up'): Uint8Array =>
      createVote(crypto, { groupId: gid, postId: fromHex(postId), choice, voterSeed: voter.signingSeed, candidates })
    const postOf = async (author: Identity, text: string): Promise<string> => {
      const messageId = toHex(crypto.randomBytes(16))
      const now = Date.now()
      await t.receivePost('council', author, encodePost({ text }), { messageId, sentAt: now, expiresAt: now + TTL * 60_000 })
      return `${messageId}${identityId(author)}`
    }
    const [k1, k2, k3, k4, k5] = keyOnly as [Identity, Identity, Identity, Identity, Identity]

    // N5: a replay is not verified again; neither is a forged vote that failed once.
    const post = await postOf(k1, 'first')
    expect((await node.groups.feed('council')).posts.map((p) => p.text)).toEqual(['first'])
    const vote = voteBy(k2, post)
    let verified = t.counters().voteVerifications
    await t.receiveVote('council', vote)
    await t.receiveVote('council', vote)
    expect(t.counters().voteVerifications).toBe(verified + 1)
    expect(await node.groups.tally('council', post)).toEqual({ up: 1, down: 0, doubleVoters: [] })
    const forged = voteBy(k3, post)
    forged[forged.length - 1]! ^= 1
    verified = t.counters().voteVerifications
    await t.receiveVote('council', forged)
    await t.receiveVote('council', forged)
    expect(t.counters().voteVerifications).toBe(verified + 1)
    expect(await node.groups.tally('council', post)).toEqual({ up: 1, down: 0, doubleVoters: [] })

    // N4: votes on a post the node does not hold wait, unverified, until their own expiry; those left count when it comes.
    const messageId = toHex(crypto.randomBytes(16))
    const early = `${messageId}${identityId(k4)}`
    verified = t.counters().voteVerifications
    await t.receiveVote('council', voteBy(k2, early), { expiresAt: Date.now() + 3_600_000 })
    await t.receiveVote('council', voteBy(k3, early), { expiresAt: Date.now() + 60_000 })
    // A forged copy of an honest vote (its key image and choice, a broken response) that comes first waits beside it, not in its place.
    const honest = voteBy(k5, early)
    const forgedCopy = honest.slice()
    forgedCopy[forgedCopy.length - 1]! ^= 1
    await t.receiveVote('council', forgedCopy, { expiresAt: Date.now() + 3_600_000 })
    await t.receiveVote('council', honest, { expiresAt: Date.now() + 3_600_000 })
    expect(t.counters().voteVerifications).toBe(verified)
    expect(await node.groups.tally('council', early)).toEqual({ up: 0, down: 0, doubleVoters: [] })
    await t.housekeeping(Date.now() + 120_000) // the second vote's envelope is over
    const now = Date.now()
    await t.receivePost('council', k4, encodePost({ text: 'late' }), { messageId, sentAt: now, expiresAt: now + TTL * 60_000 })
    await t.settled()
    await waitFor('the waiting votes to count', async () => (await node.groups.tally('council', early)).up === 2, 10_000)
    expect(await node.groups.tally('council', early)).toEqual({ up: 2, down: 0, doubleVoters: [] })

    // N6: a ring with a key not admitted yet waits, and counts once the key is admitted.
    const newcomer = createIdentity(crypto)
    await t.receiveVote('council', voteBy(k1, post, [...memberKeys(), voteKeyPair(newcomer.signingSeed, gid).publicKey]))
    expect((await node.groups.tally('council', post)).up).toBe(1)
    await admit(newcomer)
    await t.settled()
    await waitFor('the early vote to count', async () => (await node.groups.tally('council', post)).up === 2, 10_000)

    // N7: k5 is removed (the founder proposes, 8 of 16 yes pass it); the group rekeys to epoch 1.
    const proposal = await node.groups.propose('council', { remove: identityId(k5) }, 'gone')
    for (const voter of keyOnly.slice(5, 13)) {
      const heads = opHeads(t.state('council'))
      await t.publishRaw('council', KIND_GROUP_OP, createGroupOp(crypto, { author: voter, groupId: gid, ...heads, op: { type: 'vote', proposalId: fromHex(proposal), choice: 'yes' } }), false)
      if (!t.state('council').members.has(identityId(k5))) break
    }
    expect(t.state('council').members.has(identityId(k5))).toBe(false)
    await waitFor('the rekey to epoch 1', () => t.state('council').epoch === 1, 20_000)
    // A ring with k5's key: not on the new epoch's channel; on the old one, for a post of the old epoch, it counts.
    const withRemoved = [...[...t.state('council').everAdmittedVoteKeys].map((k) => fromHex(k))].filter((k) => toHex(k) !== toHex(voteKeyPair(newcomer.signingSeed, gid).publicKey))
    verified = t.counters().voteVerifications
    await t.receiveVote('council', voteBy(k5, post, withRemoved), { epoch: 1 })
    expect(t.counters().voteVerifications).toBe(verified) // refused before verifying
    expect((await node.groups.tally('council', post)).up).toBe(2)
    await t.receiveVote('council', voteBy(k3, post, withRemoved), { epoch: 0 })
    expect((await node.groups.tally('council', post)).up).toBe(3)
    // A post of the new epoch: a vote from the old epoch's channel never counts.
    const fresh = await postOf(k1, 'after the rekey')
    await t.receiveVote('council', voteBy(k2, fresh, withRemoved), { epoch: 0 })
    expect(await node.groups.tally('council', fresh)).toEqual({ up: 0, down: 0, doubleVoters: [] })
    await t.receiveVote('council', voteBy(k2, fresh), { epoch: 1 })
    expect(await node.groups.tally('council', fresh)).toEqual({ up: 1, down: 0, doubleVoters: [] })

    // Leaving: the ring of the members' chains goes too (nothing of the group is screened any more).
    expect(t.ringAuthors('council').length).toBeGreaterThan(0)
    await node.groups.leave('council')
    expect(t.ringAuthors('council')).toEqual([])
    void me
  })

  it('drops a stranger\'s welcome before decoding it, and a too long one; bounds strangers\' join requests', async () => {
    const op = await startOperator()
    const { node: founder } = await startNode({ operator: op.config, collectives })
    const { node: candidate } = await startNode({ operator: op.config, collectives })
    const info = await founder.groups.create('guild')
    await candidate.contacts.add(founder.publicIdentity)
    await candidate.groups.requestJoin(info.id, { via: founder.status().id })
    const t = collectivesTesting(candidate)
    // Well-formed, but not a welcome into anything: only the contact we asked through gets it opened.
    const junk = encodeWelcome({ genesis: crypto.randomBytes(32), epoch: 0, epochSecret: crypto.randomBytes(32), ops: [crypto.randomBytes(300)] })
    const stranger = createIdentity(crypto)
    await t.receiveWelcome(junk, stranger)
    expect(t.counters().welcomesOpened).toBe(0)
    await t.receiveWelcome(junk, decodePublicIdentity(fromHex(founder.publicIdentity)))
    expect(t.counters().welcomesOpened).toBe(1)
    // Too long to open, even from that contact.
    const long = encodeWelcome({ genesis: crypto.randomBytes(32), epoch: 0, epochSecret: crypto.randomBytes(32), ops: Array.from({ length: 60 }, () => crypto.randomBytes(21_000)) })
    expect(long.length).toBeGreaterThan(MAX_WELCOME_BYTES)
    await t.receiveWelcome(long, decodePublicIdentity(fromHex(founder.publicIdentity)))
    expect(t.counters().welcomesOpened).toBe(1)
    expect((await candidate.groups.get(info.id))!.membership).toBe('pending')

    // Join requests: a stranger's share is bounded; a contact's still gets in.
    const f = collectivesTesting(founder)
    const gid = fromHex(info.id)
    for (let i = 0; i < MAX_STRANGER_REQUESTS_PER_GROUP + 5; i++) {
      const who = createIdentity(crypto)
      await f.receiveJoinRequest(createJoinRequest(crypto, { identity: who, groupId: gid, voteKey: voteKeyPair(who.signingSeed, gid).publicKey }), who)
    }
    expect(await founder.groups.requests('guild')).toHaveLength(MAX_STRANGER_REQUESTS_PER_GROUP)
  })
})
