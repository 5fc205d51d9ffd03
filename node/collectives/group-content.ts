/**
 * Group posts and anonymous votes as a node keeps them (group-store.ts keys
 * `post!`, `feed!`, `pexp!`, `vote!`, `myvote!`): the writes that keep one
 * (returned, for the batch of the step that opened it), the tally of a post,
 * and the public shape of a post with its tally.
 */
import {
  decodeVote, fromHex, tallyVotes, toHex, voteKeyImage, type DecodedVote, type Identity
} from '../../protocol/index.js'
import type { LocalOp } from '../local-state.js'
import { MAX_FAILED_VOTES_REMEMBERED, MAX_GROUP_POSTS, MAX_PENDING_VOTES_PER_GROUP, MAX_VOTES_PER_POST } from './collectives-constants.js'
import { keys, type GroupStore, type LiveGroup, type StoredGroupPost, type StoredVote } from './group-store.js'
import type { GroupPost, PostVoteChoice, VoteTally } from './types.js'

/** What the content part needs: the store and our identity while the node runs, a group's name. */
export interface GroupContentInit {
  store(): GroupStore
  identity(): Identity
  groupName(groupId: string): string | undefined
}

/** Posts and votes of the groups; see the file comment. */
export interface GroupContent {
  postOf(stored: StoredGroupPost): Promise<GroupPost>
  /** The writes that store a post (evicting the group's oldest past MAX_GROUP_POSTS); undefined for a duplicate. */
  preparePost(g: LiveGroup, post: StoredGroupPost): Promise<LocalOp[] | undefined>
  votesOf(groupId: string, postId: string): Promise<DecodedVote[]>
  tallyOf(groupId: string, postId: string): Promise<VoteTally>
  /** The writes that keep a verified vote (once per key image and choice; at most MAX_VOTES_PER_POST per post), with its expiry index. */
  prepareVote(g: LiveGroup, vote: DecodedVote, expiresAt: number, epoch?: number): Promise<LocalOp[] | undefined>
  voteStanding(g: LiveGroup, vote: DecodedVote, epoch: number, failedHash: string, fromPending?: boolean): Promise<'duplicate' | 'wait' | 'refused' | 'ok'>
  preparePendingVote(g: LiveGroup, vote: DecodedVote, expiresAt: number, epoch: number, bytesHash: string): Promise<LocalOp[] | undefined>
  rememberFailed(g: LiveGroup, hash: string): void
  postEpoch(g: LiveGroup, sentAt: number): number
}

/** Creates the content part over the running node's store. */
export function createGroupContent (init: GroupContentInit): GroupContent {
  async function postOf (stored: StoredGroupPost): Promise<GroupPost> {
    return {
      id: stored.id, author: stored.author, authorIdentity: stored.authorIdentity, ...(stored.authorName === undefined ? {} : { authorName: stored.authorName }),
      audience: 'group', text: stored.text,
      ...(stored.image === undefined ? {} : { image: { mime: stored.image.mime, bytes: new Uint8Array(Buffer.from(stored.image.bytes, 'base64')) } }),
      sentAt: stored.sentAt, receivedAt: stored.receivedAt, expiresAt: stored.expiresAt, mine: stored.mine,
      group: { id: stored.group, name: init.groupName(stored.group) ?? '' },
      ...(stored.location === undefined ? {} : { location: stored.location }),
      votes: await tallyOf(stored.group, stored.id)
    }
  }

  async function preparePost (g: LiveGroup, post: StoredGroupPost): Promise<LocalOp[] | undefined> {
    const s = init.store()
    if (await s.get(keys.post(g.record.id, post.id)) !== undefined) return undefined
    const ops: LocalOp[] = []
    if (g.posts >= MAX_GROUP_POSTS) {
      const [oldest] = await s.range<{ expiresAt: number }>(`feed!${g.record.id}!`, { limit: 1 })
      if (oldest !== undefined) {
        const postId = oldest[0].slice(oldest[0].lastIndexOf('!') + 1)
        ops.push(s.del(oldest[0]), s.del(keys.post(g.record.id, postId)), s.del(keys.expiry(oldest[1].expiresAt, g.record.id, postId)))
        g.posts--
      }
    }
    ops.push(s.put(keys.post(g.record.id, post.id), post), s.put(keys.feed(g.record.id, post.sentAt, post.id), { expiresAt: post.expiresAt }),
      s.put(keys.expiry(post.expiresAt, g.record.id, post.id), {}))
    g.posts++
    return ops
  }

  async function votesOf (gid: string, postId: string): Promise<DecodedVote[]> {
    const s = init.store()
    const out: DecodedVote[] = []
    for (const [, stored] of await s.range<StoredVote>(`vote!${gid}!${postId}!`)) {
      try {
        out.push(decodeVote(fromHex(stored.bytes)))
      } catch {
        // Stored only after verifying; a record we cannot read counts for nothing.
      }
    }
    return out
  }

  async function tallyOf (gid: string, postId: string): Promise<VoteTally> {
    const s = init.store()
    const votes = await votesOf(gid, postId)
    const counted = votes.length === 0 ? { up: 0, down: 0, doubleVoters: [] as string[] } : tallyVotes(votes)
    const mine = await s.get<{ choice: PostVoteChoice }>(keys.myVote(gid, postId))
    let myChoice = mine?.choice
    if (myChoice === undefined && votes.length > 0) {
      // Our vote from before a restart of the record, found by our key image.
      const image = toHex(voteKeyImage(init.identity().signingSeed, fromHex(gid), fromHex(postId)))
      const own = votes.filter((v) => toHex(v.keyImage) === image)
      if (own.length === 1) myChoice = own[0]!.choice
    }
    return { up: counted.up, down: counted.down, doubleVoters: [...counted.doubleVoters], ...(myChoice === undefined ? {} : { mine: myChoice }) }
  }

  async function prepareVote (g: LiveGroup, vote: DecodedVote, expiresAt: number, epoch?: number): Promise<LocalOp[] | undefined> {
    const s = init.store()
    const postId = toHex(vote.postId)
    const rest = `${postId}!${toHex(vote.keyImage)}!${vote.choice}`
    const key = keys.vote(g.record.id, postId, toHex(vote.keyImage), vote.choice)
    if (await s.get(key) !== undefined) return undefined
    if (await countVotes(g.record.id, postId) >= MAX_VOTES_PER_POST) return undefined
    g.votes++
    return [
      s.put(key, { bytes: toHex(vote.bytes), expiresAt, ...(epoch === undefined ? {} : { epoch }) } satisfies StoredVote),
      s.put(keys.voteExpiry(expiresAt, 'vote', g.record.id, rest), {})
    ]
  }

  async function countVotes (gid: string, postId: string): Promise<number> {
    let n = 0
    for await (const _ of init.store().sublevel.keys({ gte: `vote!${gid}!${postId}!`, lt: `vote!${gid}!${postId}!\uffff`, limit: MAX_VOTES_PER_POST })) n++
    return n
  }

  /**
   * What a vote that came on `epoch`'s anonymous channel is (SPEC §15.8):
   * 'duplicate' when held already (stored or waiting: nothing is verified
   * again), 'wait' while its post is not held or a ring key is not admitted
   * yet, 'refused' when a ring key's owner was no member during that epoch or
   * the post is of a later epoch, 'ok' when it may be verified and stored.
   */
  async function voteStanding (g: LiveGroup, vote: DecodedVote, epoch: number, failedHash: string, fromPending = false): Promise<'duplicate' | 'wait' | 'refused' | 'ok'> {
    const s = init.store()
    const gid = g.record.id
    const postId = toHex(vote.postId)
    const image = toHex(vote.keyImage)
    if (g.failedVotes.has(failedHash)) return 'duplicate'
    if (await s.get(keys.vote(gid, postId, image, vote.choice)) !== undefined) return 'duplicate'
    if (!fromPending && await s.get(keys.pendingVote(gid, postId, image, vote.choice, failedHash)) !== undefined) return 'duplicate'
    if (epoch > g.state.epoch) return 'wait'
    if (!vote.ring.every((k) => g.state.everAdmittedVoteKeys.has(toHex(k)))) return 'wait'
    const post = await s.get<StoredGroupPost>(keys.post(gid, postId))
    if (post === undefined) return 'wait'
    // Every ring key is of someone who was a member while that epoch was current (the members the node saw then).
    const seen = g.record.epochMembers[String(epoch)]
    const allowed = new Set<string>()
    if (seen !== undefined) {
      for (const id of seen) { const k = g.state.voteKeys.get(id); if (k !== undefined) allowed.add(k) }
    } else if (epoch === g.state.epoch) {
      for (const m of g.state.members.values()) allowed.add(toHex(m.voteKey))
    } else {
      for (const k of g.state.everAdmittedVoteKeys) allowed.add(k)
    }
    if (!vote.ring.every((k) => allowed.has(toHex(k)))) return 'refused'
    if (postEpoch(g, post.sentAt) > epoch) return 'refused'
    return 'ok'
  }

  /** The epoch a post is from: the newest whose rekey its author's clock is not before. */
  function postEpoch (g: LiveGroup, sentAt: number): number {
    let epoch = 0
    for (const [e, op] of g.state.rekeyOps) if (e > epoch && op.timestamp <= sentAt) epoch = e
    return epoch
  }

  /** The writes that keep a vote waiting (for its post or an admission), within MAX_PENDING_VOTES_PER_GROUP and the per-post bound. */
  async function preparePendingVote (g: LiveGroup, vote: DecodedVote, expiresAt: number, epoch: number, bytesHash: string): Promise<LocalOp[] | undefined> {
    const s = init.store()
    const gid = g.record.id
    const postId = toHex(vote.postId)
    const key = keys.pendingVote(gid, postId, toHex(vote.keyImage), vote.choice, bytesHash)
    const rest = key.slice(`pvote!${gid}!`.length)
    if (await s.get(key) !== undefined) return undefined
    if (g.pendingVotes >= MAX_PENDING_VOTES_PER_GROUP) return undefined
    let n = 0
    for await (const _ of s.sublevel.keys({ gte: `pvote!${gid}!${postId}!`, lt: `pvote!${gid}!${postId}!\uffff`, limit: MAX_VOTES_PER_POST })) n++
    if (n >= MAX_VOTES_PER_POST) return undefined
    g.pendingVotes++
    return [s.put(key, { bytes: toHex(vote.bytes), expiresAt, epoch } satisfies StoredVote), s.put(keys.voteExpiry(expiresAt, 'pvote', gid, rest), {})]
  }

  /** Remembers a vote that failed to verify (bounded: the oldest forgotten first). */
  function rememberFailed (g: LiveGroup, hash: string): void {
    g.failedVotes.add(hash)
    if (g.failedVotes.size > MAX_FAILED_VOTES_REMEMBERED) g.failedVotes.delete(g.failedVotes.values().next().value!)
  }

  return { postOf, preparePost, votesOf, tallyOf, prepareVote, voteStanding, preparePendingVote, rememberFailed, postEpoch }
}
