/**
 * `node.groups` as a library, on one real node with a real Operator on
 * 127.0.0.1: founding registers the group's name with the group's keys and
 * makes us its only member; posts land in the group's feed (not in the
 * social feeds, not in the inbox or outbox); bad input and calls that need
 * membership fail with typed errors before anything is written; a restart
 * keeps the group, its log, its feed, our send chain (the next post goes on
 * from where the chain was) and the derived anonymous channel.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { collectivesTesting } from '../../node/collectives/node-collectives.js'
import { cleanup, startNode } from './cluster.js'
import { cleanupOperators, startOperator, type TestOperator } from './registry-operators.js'

const TTL = 10
const collectives = { ttlMinutes: TTL, rekeyStaggerMs: 500 }

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
})

async function founder (op: TestOperator, dataDir?: string): Promise<Awaited<ReturnType<typeof startNode>>> {
  return await startNode({ operator: op.config, collectives, ...(dataDir === undefined ? {} : { dataDir }) })
}

describe('groups on one node', () => {
  it('founds a group under a registered name, posts to it, and keeps it all across a restart', async () => {
    const op = await startOperator()
    const { node, dataDir } = await founder(op)
    const seen: Array<{ type: string, detail: { name?: string, text?: string, group?: { name: string } } }> = []
    for (const type of ['group', 'group-post']) node.addEventListener(type, (event) => { seen.push({ type, detail: (event as CustomEvent).detail }) })
    const info = await node.groups.create('makers', { constitution: { type: 'fixed', n: 2 } })
    expect(seen).toEqual([{ type: 'group', detail: info }])
    expect(info).toMatchObject({ name: 'makers', membership: 'member', memberCount: 1, quorum: 1, epoch: 0, founder: true, constitution: { type: 'fixed', n: 2 } })
    expect(info.id).toMatch(/^[0-9a-f]{64}$/)
    // The name is registered to the group's keys, not ours.
    const record = await node.lookup('makers')
    expect(record.identity.slice(0, 64)).toBe(info.id)
    expect(record.identity).not.toBe(node.publicIdentity)
    // Our own name stays unregistered: a group's name is not ours.
    expect(node.invite()).toBeTypeOf('string')

    const view = await node.groups.get('@makers')
    expect(view).toMatchObject({ id: info.id, opCount: 1, ignoredOps: 0, proposals: [], candidates: [] })
    expect(view!.members.map((m) => ({ id: m.id, me: m.me }))).toEqual([{ id: node.status().id, me: true }])
    expect(await node.groups.get(info.id)).toEqual(view)
    expect(await node.groups.list()).toEqual([info])

    const first = await node.groups.post('makers', { text: 'hello makers', location: 'u4pruy', ttlMinutes: TTL })
    expect(first).toMatchObject({ audience: 'group', text: 'hello makers', location: 'u4pruy', mine: true, group: { id: info.id, name: 'makers' }, votes: { up: 0, down: 0, doubleVoters: [] } })
    expect(first.id).toBe(first.id.slice(0, 32) + node.status().id)
    const second = await node.groups.post('makers', { text: 'a point, coarsened', location: { lat: 57.64911, lon: 10.40744 }, ttlMinutes: TTL })
    expect(second.location).toBe('u4pru') // precision 5 by default
    expect(seen.filter((e) => e.type === 'group-post').map((e) => [e.detail.text, e.detail.group?.name])).toEqual([['hello makers', 'makers'], ['a point, coarsened', 'makers']])
    const feed = await node.groups.feed('makers', { limit: 1 })
    expect(feed.posts.map((p) => p.text)).toEqual(['a point, coarsened'])
    const rest = await node.groups.feed('makers', { limit: 5, before: feed.next! })
    expect(rest.posts.map((p) => p.text)).toEqual(['hello makers'])
    expect(rest.next).toBeUndefined()
    // None of it is a social post or a message.
    expect((await node.social.feed('home')).posts).toEqual([])
    expect(await node.outbox()).toEqual([])
    expect(await node.inbox()).toEqual([])

    // Posting moved our chain; the next index is on disk with the outbox entry.
    const before = collectivesTesting(node).state('makers')
    await node.stop()
    const { node: again } = await founder(op, dataDir)
    expect(await again.groups.list()).toEqual([info])
    expect(await again.groups.get('makers')).toEqual(view)
    expect((await again.groups.feed('makers')).posts.map((p) => p.text)).toEqual(['a point, coarsened', 'hello makers'])
    expect(collectivesTesting(again).state('makers').applied).toEqual(before.applied)
    const third = await again.groups.post('makers', { text: 'after the restart', ttlMinutes: TTL })
    expect(third.id.slice(0, 32)).not.toBe(first.id.slice(0, 32))
    expect((await again.groups.feed('makers')).posts).toHaveLength(3)
  })

  it('refuses bad input and calls that need membership, with typed errors and nothing written', async () => {
    const op = await startOperator()
    const { node } = await founder(op)
    await expect(node.groups.get('nobody')).resolves.toBeUndefined()
    await expect(node.groups.post('nobody', { text: 'x' })).rejects.toMatchObject({ name: 'UnknownGroupError' })
    await expect(node.groups.feed('nobody')).rejects.toMatchObject({ name: 'UnknownGroupError' })
    await expect(node.groups.create('Bad Name!')).rejects.toMatchObject({ name: 'BadNameError' })
    await expect(node.groups.create('weird', { constitution: { type: 'fixed', n: 0 } })).rejects.toMatchObject({ name: 'GroupFormatError' })
    expect(await node.groups.list()).toEqual([])

    await node.groups.create('solo')
    await expect(node.groups.create('solo')).rejects.toMatchObject({ name: 'AlreadyAGroupMemberError' })
    await expect(node.groups.post('solo', {})).rejects.toThrow(RangeError)
    await expect(node.groups.post('solo', { text: 'x', location: 'u4pruydqq' })).rejects.toThrow(RangeError) // finer than a post may be
    await expect(node.groups.post('solo', { text: 'x', location: { lat: 1, lon: 2, precision: 7 } })).rejects.toThrow(RangeError)
    await expect(node.groups.feed('solo', { limit: 0 })).rejects.toThrow(RangeError)
    await expect(node.groups.feed('solo', { before: 'feed!elsewhere' })).rejects.toThrow(RangeError)
    await expect(node.groups.vouch('solo', 'f'.repeat(64))).rejects.toMatchObject({ name: 'NoJoinRequestError' })
    await expect(node.groups.propose('solo', { remove: 'e'.repeat(64) })).rejects.toMatchObject({ name: 'NotAMemberError' })
    await expect(node.groups.vote('solo', 'd'.repeat(64), 'yes')).rejects.toMatchObject({ name: 'ProposalClosedError', why: 'unknown' })
    await expect(node.groups.vote('solo', 'd'.repeat(64), 'maybe' as 'yes')).rejects.toThrow(TypeError)
    await expect(node.groups.requestJoin('solo', { via: 'x' })).rejects.toMatchObject({ name: 'AlreadyAGroupMemberError' })
    await expect(node.groups.requestJoin('other', { via: 'nobody-i-know' })).rejects.toMatchObject({ name: 'NameNotFoundError' })

    const post = await node.groups.post('solo', { text: 'vote on me', ttlMinutes: TTL })
    await expect(node.groups.votePost('solo', 'ab', 'up')).rejects.toThrow(TypeError)
    await expect(node.groups.votePost('solo', 'c'.repeat(96), 'up')).rejects.toMatchObject({ name: 'UnknownGroupPostError' })
    // One member ever admitted: a ring of 16 cannot be drawn.
    await expect(node.groups.votePost('solo', post.id, 'up')).rejects.toMatchObject({ name: 'VoteRingTooSmallError', available: 1, required: 16 })
    expect(await node.groups.tally('solo', post.id)).toEqual({ up: 0, down: 0, doubleVoters: [] })

    // Amending alone: a majority of one passes at once.
    const proposal = await node.groups.propose('solo', { amend: { type: 'growing', percent: 50, min: 2 } }, 'grow')
    const view = await node.groups.get('solo')
    expect(view!.proposals).toEqual([expect.objectContaining({ id: proposal, status: 'passed', yes: 1, electorate: 1, myVote: 'yes', reason: 'grow' })])
    expect(view!.constitution).toEqual({ type: 'growing', percent: 50, min: 2 })
    await expect(node.groups.vote('solo', proposal, 'no')).rejects.toMatchObject({ name: 'ProposalClosedError', why: 'closed' })

    // Leaving: we are a former member; nothing that needs membership works any more.
    const left = await node.groups.leave('solo')
    expect(left.membership).toBe('former')
    await expect(node.groups.post('solo', { text: 'x' })).rejects.toMatchObject({ name: 'NotAGroupMemberError', membership: 'former' })
    await expect(node.groups.leave('solo')).rejects.toMatchObject({ name: 'NotAGroupMemberError' })
    expect((await node.groups.feed('solo')).posts.map((p) => p.text)).toEqual(['vote on me'])
  })
})
