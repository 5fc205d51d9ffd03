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
import { MAX_GROUP_POSTS, MAX_GROUP_VOTES } from './collectives-constants.js'
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
  /** The writes that keep a verified vote (once per key image and choice; at most MAX_GROUP_VOTES per group). */
  prepareVote(g: LiveGroup, vote: DecodedVote, expiresAt: number): Promise<LocalOp[] | undefined>
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

  async function prepareVote (g: LiveGroup, vote: DecodedVote, expiresAt: number): Promise<LocalOp[] | undefined> {
    const s = init.store()
    const postId = toHex(vote.postId)
    const key = keys.vote(g.record.id, postId, toHex(vote.keyImage), vote.choice)
    if (await s.get(key) !== undefined) return undefined
    if (g.votes >= MAX_GROUP_VOTES) return undefined
    g.votes++
    return [s.put(key, { bytes: toHex(vote.bytes), expiresAt } satisfies StoredVote)]
  }

  return { postOf, preparePost, votesOf, tallyOf, prepareVote }
}
