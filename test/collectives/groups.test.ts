/**
 * Groups across real nodes on 127.0.0.1, with a real Operator (SPEC §15).
 *
 * 1. Joining by vouching: a founder admits a newcomer with quorum 1; the two
 *    amend the constitution to a quorum of 2 by majority vote; the next
 *    newcomer needs both vouches (one from a member who never received its
 *    request: the vouch op carries it). The first voucher is offline by then,
 *    so the welcome comes from the second, who has no session with the
 *    newcomer; the offline voucher catches up at restart. A group post is ONE envelope on the
 *    network: every node stores it (the resync probe finds it everywhere),
 *    the members read it, an outsider stores it without reading it.
 * 2. Removal and convergence: a member is offline while the others remove
 *    a member by vote and rekey concurrently (both remaining ranks rekey at
 *    once; the first in order wins), and post. The removed member cannot read
 *    the post made after the rekey; the others can; the offline member,
 *    restarted, catches up by resync and reads it; every node (the removed
 *    one too, which still reads the old epoch's ops) ends with the identical
 *    folded state.
 * 3. Hostile members and a 16-key ring: 14 key-only identities (no node,
 *    only keys) are admitted by vouches, so votes draw rings of 16. A forged
 *    vouch (a non-member author), a broken signature, a governance vote from
 *    a non-member, and an anonymous vote whose ring holds keys never admitted
 *    are published by a hostile member: every node drops them (never applied,
 *    not even kept in the log; the vote never counts). A
 *    member voting both ways on a post is a double voter on every node:
 *    counted for neither side. A latecomer who stored all of it before its
 *    welcome reads the post and counts the votes once welcomed (the store
 *    pass for a salted channel whose key came late).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { collectivesTesting } from '../../node/collectives/node-collectives.js'
import type { KomradeNode } from '../../node/komrade-node.js'
import type { VoteEvent } from '../../node/collectives/types.js'
import {
  createGroupOp, createIdentity, createJoinRequest, createRekeyOp, createVote, fromHex, identityId, KIND_GROUP_OP, KIND_VOTE, opHeads, toHex, voteKeyImage, voteKeyPair
} from '../../protocol/index.js'
import { idOf, isSubset, startStoreProbe } from '../social/social-cluster.js'
import {
  cleanupSocial, converged, crypto, feedTexts, identityOf, join, joinRing, postSeen, startMember, startOperator, stateOf, TTL, waitFor
} from './collectives-cluster.js'

afterEach(cleanupSocial)

const idsOf = (nodes: KomradeNode[]): string[] => nodes.map((n) => n.status().id)

describe('groups across nodes', () => {
  it('admits by vouching, quorum 1 then 2 by majority vote; a post is one envelope every node stores and only members open', async () => {
    const op = await startOperator()
    const tests = await Promise.all([0, 1, 2, 3].map(async () => await startMember(op)))
    const [founder, firstSecond, third, outsider] = tests.map((t) => t.node) as [KomradeNode, KomradeNode, KomradeNode, KomradeNode]
    await joinRing([founder, firstSecond, third, outsider])
    const probe = await startStoreProbe()
    let second = firstSecond

    const created = await founder.groups.create('weavers')
    await join(second, founder, 'weavers')
    expect((await second.groups.get('weavers'))!.members.map((m) => m.id).sort()).toEqual(idsOf([founder, second]).sort())

    // Quorum 2 by majority vote: the proposer's yes is 1 of 2 (not a majority), the second's yes passes it.
    const proposal = await founder.groups.propose('weavers', { amend: { type: 'fixed', n: 2 } }, 'two vouches from now on')
    expect((await founder.groups.get('weavers'))!.proposals[0]).toMatchObject({ id: proposal, status: 'open', yes: 1, electorate: 2 })
    await waitFor('the proposal at the second member', async () => (await second.groups.get('weavers'))!.proposals.some((p) => p.id === proposal), 60_000)
    expect(await second.groups.vote('weavers', proposal, 'yes')).toMatchObject({ status: 'passed', yes: 2 })
    await converged([founder, second], 'weavers')
    expect((await founder.groups.get('weavers'))!).toMatchObject({ constitution: { type: 'fixed', n: 2 }, quorum: 2 })

    // The third asks through the second; one vouch is not enough any more.
    await third.contacts.add(second.publicIdentity)
    await third.groups.requestJoin('@weavers', { via: second.status().id, note: 'I knit' })
    await waitFor('the request at the second', async () => (await second.groups.requests('weavers')).length === 1, 60_000)
    expect((await second.groups.requests('weavers'))[0]).toMatchObject({ candidate: third.status().id, note: 'I knit', vouched: false })
    await second.groups.vouch('weavers', third.status().id)
    await waitFor('the candidate at the founder', async () => (await founder.groups.get('weavers'))!.candidates.length === 1, 60_000)
    expect((await founder.groups.get('weavers'))!.candidates[0]).toMatchObject({ id: third.status().id, vouchers: [second.status().id], note: 'I knit' })
    expect((await third.groups.get('weavers'))!.membership).toBe('pending')
    // The second goes offline: the welcome can only come from the founder, who never received the request (it vouches
    // with the one the second's vouch carries) and has no session with the third (a first contact, or a knock first).
    await second.stop()
    await founder.groups.vouch('weavers', third.status().id)
    await waitFor('the third welcomed by the founder', async () => (await third.groups.get('weavers'))?.membership === 'member', 60_000)
    second = (await startMember(op, { dataDir: tests[1]!.dataDir })).node
    await joinRing([second, founder])
    await second.syncNow()
    const agreed = await converged([founder, second, third], 'weavers')
    expect(JSON.parse(agreed)).toMatchObject({ epoch: 0, quorum: 2 })
    expect((await third.groups.get('weavers'))!.members.map((m) => m.id).sort()).toEqual(idsOf([founder, second, third]).sort())

    // One envelope for the whole group (once the restarted second sent the welcome it owed: that is pairwise).
    await waitFor('the second idle', () => second.status().workPending === 0)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const published = vi.spyOn(second.network, 'publish')
    const before = await probe.held(founder)
    const post = await second.groups.post('weavers', { text: 'one envelope for all of us', ttlMinutes: TTL })
    for (const member of [founder, third]) await postSeen(member, 'weavers', 'one envelope for all of us')
    const sent = [...new Set(published.mock.calls.map(([envelope]) => idOf(envelope)))]
    expect(sent).toHaveLength(1)
    await waitFor('every node to store it', async () => {
      for (const node of [founder, second, third, outsider]) if (!isSubset(new Set(sent), await probe.held(node))) return false
      return true
    }, 60_000)
    expect(before.has(sent[0]!)).toBe(false)
    // Read by members (with its author and group), not by the outsider, and never a social post or a message.
    const seen = (await founder.groups.feed('weavers')).posts.find((p) => p.id === post.id)
    expect(seen).toMatchObject({ author: second.status().id, mine: false, group: { id: created.id, name: 'weavers' }, audience: 'group' })
    expect(await outsider.groups.list()).toEqual([])
    expect((await outsider.social.feed('world')).posts).toEqual([])
    expect((await outsider.social.feed('home')).posts).toEqual([])
    for (const node of [founder, second, third, outsider]) {
      expect(await node.inbox()).toEqual([])
      expect(await node.outbox()).toEqual([])
    }
  })

  it('removes a member by vote and rekeys; a member offline during concurrent vouches, votes and rekeys catches up; all fold the same state', async () => {
    const op = await startOperator()
    const tests = await Promise.all([0, 1, 2, 3].map(async () => await startMember(op, { collectives: { ttlMinutes: TTL, rekeyStaggerMs: 0 } })))
    const [alice, bob, carol, dave] = tests.map((t) => t.node) as [KomradeNode, KomradeNode, KomradeNode, KomradeNode]
    await joinRing([alice, bob, carol, dave])
    const created = await alice.groups.create('tenants')
    const gid = fromHex(created.id)
    for (const node of [bob, carol, dave]) await join(node, alice, 'tenants')
    await converged([alice, bob, carol, dave], 'tenants')
    await alice.groups.post('tenants', { text: 'before the removal', ttlMinutes: TTL })
    for (const node of [bob, carol, dave]) await postSeen(node, 'tenants', 'before the removal')

    // Dave goes offline. Alice proposes to remove Carol; Bob agrees while Alice vouches for a newcomer (same lamport, two authors).
    const daveTest = tests[3]!
    const daveId = dave.status().id
    await dave.stop()
    const proposal = await alice.groups.propose('tenants', { remove: carol.status().id }, 'moved out')
    await waitFor('the proposal at bob', async () => (await bob.groups.get('tenants'))!.proposals.some((p) => p.id === proposal), 60_000)
    const erin = createIdentity(crypto)
    await collectivesTesting(alice).receiveJoinRequest(createJoinRequest(crypto, { identity: erin, groupId: gid, voteKey: voteKeyPair(erin.signingSeed, gid).publicKey }), erin)
    await Promise.all([bob.groups.vote('tenants', proposal, 'yes'), alice.groups.vouch('tenants', identityId(erin))])
    // Passed (2 of the 3 electors): the remaining members rekey (no stagger here).
    await waitFor('epoch 1 at alice and bob', async () => (await alice.groups.get('tenants'))!.epoch === 1 && (await bob.groups.get('tenants'))!.epoch === 1, 60_000)
    await converged([alice, bob], 'tenants')
    expect((await alice.groups.get('tenants'))!.members.map((m) => m.id).sort()).toEqual([...idsOf([alice, bob]), daveId, identityId(erin)].sort())
    await waitFor('carol to see her removal', async () => (await carol.groups.get('tenants'))?.membership === 'former', 60_000)

    // A concurrent rekey: the member who did not win made one from the same state (it had not seen the winner's yet).
    // Made to sort first, it wins on every node, and everyone moves to its secret.
    const first = collectivesTesting(alice).state('tenants').rekeyOps.get(1)!
    const loserTest = first.authorId === alice.status().id ? tests[1]! : tests[0]!
    const loser = await identityOf(loserTest)
    const remaining = [...collectivesTesting(alice).state('tenants').members.values()].map((m) => m.identity)
    let rival: Uint8Array
    do {
      rival = createRekeyOp(crypto, { author: loser, groupId: gid, parents: first.parents, lamport: first.lamport, newEpoch: 1, members: remaining }).op
    } while (toHex(crypto.sha256(rival)) > first.id)
    await collectivesTesting(loserTest.node).publishRaw('tenants', KIND_GROUP_OP, rival, false)
    const rivalId = toHex(crypto.sha256(rival))
    await waitFor('the rival rekey winning at alice and bob', () =>
      [alice, bob].every((node) => collectivesTesting(node).state('tenants').rekeys.get(1) === rivalId), 60_000)

    await bob.groups.post('tenants', { text: 'after the removal', ttlMinutes: TTL })
    await postSeen(alice, 'tenants', 'after the removal')

    // Dave comes back: resync brings the ops (proposal, vouch, vote, both rekeys) and the post; he opens the winning secret.
    const { node: dave2 } = await startMember(op, { dataDir: daveTest.dataDir, collectives: { ttlMinutes: TTL, rekeyStaggerMs: 0 } })
    await joinRing([dave2, alice])
    await dave2.syncNow()
    await postSeen(dave2, 'tenants', 'after the removal')
    const final = await converged([alice, bob, dave2], 'tenants')
    expect(JSON.parse(final)).toMatchObject({ epoch: 1, rekeyPending: null })
    expect(collectivesTesting(dave2).state('tenants').rekeys.get(1)).toBe(rivalId)

    // Carol stored the new post (she forwards it) but never reads it; she keeps what came before.
    await new Promise((resolve) => setTimeout(resolve, 2000))
    expect(await feedTexts(carol, 'tenants')).toEqual(['before the removal'])
    await expect(carol.groups.post('tenants', { text: 'still here?' })).rejects.toMatchObject({ name: 'NotAGroupMemberError' })
    expect(await feedTexts(dave2, 'tenants')).toEqual(['after the removal', 'before the removal'])
  })

  it('rejects hostile ops and votes on every node, and detects a double vote in a 16-key ring', async () => {
    const op = await startOperator()
    const tests = await Promise.all([0, 1, 2, 3].map(async () => await startMember(op)))
    const [alice, bob, carol, latecomer] = tests.map((t) => t.node) as [KomradeNode, KomradeNode, KomradeNode, KomradeNode]
    const nodes = [alice, bob, carol]
    await joinRing([...nodes, latecomer])
    const created = await alice.groups.create('assembly')
    const gid = fromHex(created.id)
    await join(bob, alice, 'assembly')
    await join(carol, alice, 'assembly')

    // 14 key-only members: their join requests reach Alice, she vouches; no node runs for them.
    const keyOnly = Array.from({ length: 14 }, () => createIdentity(crypto))
    for (const identity of keyOnly) {
      const request = createJoinRequest(crypto, { identity, groupId: gid, voteKey: voteKeyPair(identity.signingSeed, gid).publicKey })
      await collectivesTesting(alice).receiveJoinRequest(request, identity)
      await alice.groups.vouch('assembly', identityId(identity))
    }
    const admitted = await converged(nodes, 'assembly', 90_000)
    expect(JSON.parse(admitted).members).toHaveLength(17)

    const voteEvents: VoteEvent[] = []
    bob.addEventListener('vote', (event) => { voteEvents.push((event as CustomEvent<VoteEvent>).detail) })
    const post = await bob.groups.post('assembly', { text: 'shall we?', ttlMinutes: TTL })
    for (const node of [alice, carol]) await postSeen(node, 'assembly', 'shall we?')
    expect(await alice.groups.votePost('assembly', post.id, 'up')).toEqual({ up: 1, down: 0, doubleVoters: [], mine: 'up' })
    await waitFor('alice\'s vote at carol', async () => (await carol.groups.tally('assembly', post.id)).up === 1, 60_000)
    expect(await carol.groups.tally('assembly', post.id)).toEqual({ up: 1, down: 0, doubleVoters: [] }) // anonymous: not hers
    expect(await carol.groups.votePost('assembly', post.id, 'up')).toEqual({ up: 2, down: 0, doubleVoters: [], mine: 'up' })
    await bob.groups.votePost('assembly', post.id, 'down')
    for (const node of nodes) {
      await waitFor('the three votes everywhere', async () => (await node.groups.tally('assembly', post.id)).up === 2 && (await node.groups.tally('assembly', post.id)).down === 1, 60_000)
    }
    await expect(carol.groups.votePost('assembly', post.id, 'down')).rejects.toMatchObject({ name: 'AlreadyVotedError' })

    // Carol's modified node votes again, the other way: a double vote, counted for neither on every node.
    const carolIdentity = await identityOf(tests[2]!)
    const postId = fromHex(post.id)
    const doubled = createVote(crypto, { groupId: gid, postId, choice: 'down', voterSeed: carolIdentity.signingSeed, candidates: [...JSON.parse(admitted).everAdmittedVoteKeys].map((k: string) => fromHex(k)) })
    await collectivesTesting(carol).publishRaw('assembly', KIND_VOTE, doubled, true)
    const carolImage = toHex(voteKeyImage(carolIdentity.signingSeed, gid, postId))
    for (const node of nodes) {
      await waitFor('the double vote everywhere', async () => (await node.groups.tally('assembly', post.id)).doubleVoters.length === 1, 60_000)
      expect(await node.groups.tally('assembly', post.id)).toMatchObject({ up: 1, down: 1, doubleVoters: [carolImage] })
    }

    // Bob's node told its user each time the tally moved; the last one shows the double voter.
    expect(voteEvents.every((e) => e.postId === post.id && e.group.name === 'assembly')).toBe(true)
    expect(voteEvents.at(-1)!.tally).toMatchObject({ up: 1, down: 1, doubleVoters: [carolImage], mine: 'down' })
    expect(voteEvents.length).toBeGreaterThanOrEqual(4)

    // A vote from outside: a ring that holds keys the group never admitted. Published by a member, dropped by all.
    const stranger = createIdentity(crypto)
    const outsiders = [stranger, ...Array.from({ length: 15 }, () => createIdentity(crypto))].map((i) => voteKeyPair(i.signingSeed, gid).publicKey)
    const foreign = createVote(crypto, { groupId: gid, postId, choice: 'up', voterSeed: stranger.signingSeed, candidates: outsiders })
    await collectivesTesting(bob).publishRaw('assembly', KIND_VOTE, foreign, true)

    // Forged ops, relayed by Bob's modified node: a vouch and a governance vote by a non-member, and a vouch with a broken
    // signature. Then Bob votes honestly: once that vote is everywhere, so is what Bob published before it.
    const proposal = await alice.groups.propose('assembly', { amend: { type: 'fixed', n: 3 } })
    await converged(nodes, 'assembly')
    const heads = opHeads(collectivesTesting(bob).state('assembly'))
    const target = createIdentity(crypto)
    const targetRequest = createJoinRequest(crypto, { identity: target, groupId: gid, voteKey: voteKeyPair(target.signingSeed, gid).publicKey })
    const forgedVouch = createGroupOp(crypto, { author: stranger, groupId: gid, ...heads, op: { type: 'vouch', request: targetRequest } })
    const strangerVote = createGroupOp(crypto, { author: stranger, groupId: gid, ...heads, op: { type: 'vote', proposalId: proposal, choice: 'yes' } })
    const bobIdentity = await identityOf(tests[1]!)
    const broken = createGroupOp(crypto, { author: bobIdentity, groupId: gid, ...heads, op: { type: 'vouch', request: targetRequest } })
    broken[broken.length - 1]! ^= 1
    for (const bytes of [forgedVouch, strangerVote, broken]) await collectivesTesting(bob).publishRaw('assembly', KIND_GROUP_OP, bytes, false)
    await bob.groups.vote('assembly', proposal, 'no')
    const forgedIds = [forgedVouch, strangerVote, broken].map((b) => toHex(crypto.sha256(b)))
    for (const node of nodes) {
      await waitFor('bob\'s honest vote everywhere', () => collectivesTesting(node).state('assembly').proposals.get(proposal)!.no.includes(bob.status().id), 60_000)
      const state = collectivesTesting(node).state('assembly')
      // Never applied, and not even kept: a stranger's ops and undecodable bytes are dropped (neither stored nor relayed).
      for (const id of forgedIds) {
        expect(state.applied).not.toContain(id)
        expect(state.keep.has(id)).toBe(false)
      }
      expect(state.candidates.has(identityId(target))).toBe(false)
      expect(state.members.has(identityId(target))).toBe(false)
      expect(state.proposals.get(proposal)).toMatchObject({ yes: [alice.status().id], no: [bob.status().id], status: 'open' })
    }
    const final = await converged(nodes, 'assembly')
    expect(stateOf(alice, 'assembly')).toBe(final)

    // A latecomer stored all of it without reading it; once welcomed, it reads the post (its chain's tags are looked
    // up among stored envelopes) and counts the votes (the anonymous channel's key is new: one pass over its store).
    await join(latecomer, alice, 'assembly')
    await postSeen(latecomer, 'assembly', 'shall we?')
    await waitFor('the votes at the latecomer', async () => (await latecomer.groups.tally('assembly', post.id)).doubleVoters.length === 1, 60_000)
    expect(await latecomer.groups.tally('assembly', post.id)).toEqual({ up: 1, down: 1, doubleVoters: [carolImage] })
    // The outsiders' vote never counted anywhere.
    for (const node of nodes) expect(await node.groups.tally('assembly', post.id)).toMatchObject({ up: 1, down: 1 })
  })
})
