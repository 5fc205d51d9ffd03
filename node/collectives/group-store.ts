/**
 * What a node keeps of its groups, in the sublevel `collectives-groups` of
 * its local database (SPEC §15):
 *
 * - `group!<gid>` → {@link GroupRecord}: membership, the group's secrets and
 *   epoch secrets we hold, our send chain (at its next index), the identities
 *   of everyone ever a member, whom we vouched for and welcomed;
 * - `op!<gid>!<opId>` → the op bytes (base64): the log, re-folded on change;
 * - `ring!<gid>!<authorId>` → one member's chains of the group's ring
 *   (protocol CircleRing `authorJSON`): opening a group envelope rewrites
 *   its author's record only;
 * - `req!<gid>!<candidateId>` → a join request we received;
 * - `post!<gid>!<postId>`, `feed!<gid>!<sentAt>!<postId>`, `pexp!<expiresAt>!<gid>!<postId>`:
 *   group posts, their feed order and their expiry;
 * - `vote!<gid>!<postId>!<keyImage>!<choice>` → an anonymous vote's bytes (verified, its post held);
 *   `pvote!<gid>!<postId>!<keyImage>!<choice>!<hash>` → a vote waiting for its post or a ring key's admission (not verified yet; `hash`: the start of its SHA-256);
 *   `vexp!<expiresAt>!<vote|pvote>!<gid>!<postId>!<keyImage>!<choice>[!<hash>]` → either's own expiry;
 *   `myvote!<gid>!<postId>` → our own choice.
 *
 * Like the social layer's stores, nothing here writes on its own during
 * screening: the callers put {@link LocalOp}s into the batch of the step
 * that produced them (node-groups.ts).
 */
import type { Level } from 'level'
import {
  createCircleRing, type CircleChainJSON, type CircleRing, type CircleRingJSON, type CryptoProvider, type GroupOp, type GroupState
} from '../../protocol/index.js'
import { jsonSublevel, type Json, type LocalOp, type LocalSublevel } from '../local-state.js'
import { MAX_GROUP_RING_AUTHORS } from './collectives-constants.js'
import type { GroupMembership } from './types.js'

/** One epoch secret we hold: the rekey op that made it ('' for epoch 0) and the secret (hex). */
export interface HeldSecret {
  readonly op: string
  readonly secret: string
}

/** Stored form of one group. Holds secrets. */
export interface GroupRecord {
  readonly version: 1
  readonly id: string
  name: string
  membership: GroupMembership
  founder: boolean
  /** The group identity's secrets (hex), once a member. */
  groupSeed?: string
  groupSealingSecret?: string
  /** The found op we know as the group's (pins the fold). */
  genesis?: string
  /** Epoch → the secret we hold for it (at most the two newest are kept). */
  secrets: Record<string, HeldSecret>
  /**
   * Our chains, by `<epoch>:<rekey op>`, each at its next index: persisted in
   * the batch that queues what it sealed. Kept per secret, not per epoch: a
   * fold can go back (our rekey loses to one that arrives later, or is
   * undone by a concurrent admission), and a chain must never restart at an
   * index already used.
   */
  sends: Record<string, { epoch: number, op: string, chain: CircleChainJSON }>
  /** Epoch → the rekey op whose secret the ring was fed for it: another op for an epoch means the ring is rebuilt. */
  ringFed: Record<string, string>
  /** Our join request (hex) while we wait to be admitted; its keys are what a welcome must admit. */
  request?: string
  /** The contact we asked through, and when. */
  via?: string
  requestedAt?: number
  /** Id → hex public identity of everyone the log ever made a member. */
  identities: Record<string, string>
  /**
   * Epoch → the members seen while it was current (at most the last two
   * epochs): whose chains of the previous epoch the ring holds. Absent for an
   * epoch from before we joined: then everyone ever a member.
   */
  epochMembers: Record<string, string[]>
  /** Candidates we vouched for: we welcome them once admitted. */
  vouchedFor: string[]
  /** `<candidate id>:<since op id>` of the welcomes we sent (once per admission). */
  welcomed: string[]
  /** Candidates whose welcome waits for a pairwise session (we knocked). */
  welcomeWaiting: string[]
  /** Epochs whose anonymous channel's stored envelopes are still to be screened again (a crash in between resumes it). */
  channelScans?: number[]
  joinedAt?: number
  updatedAt: number
}

/** A join request we received. */
export interface StoredRequest {
  readonly group: string
  readonly candidate: string
  /** Hex of the signed request. */
  readonly bytes: string
  readonly receivedAt: number
  vouched: boolean
}

/** A group post as stored: the image as base64. */
export interface StoredGroupPost {
  readonly id: string
  readonly group: string
  readonly author: string
  readonly authorIdentity: string
  readonly authorName?: string
  readonly text: string
  readonly image?: { readonly mime: string, readonly bytes: string }
  readonly location?: string
  readonly sentAt: number
  readonly receivedAt: number
  readonly expiresAt: number
  readonly mine: boolean
}

/** A stored anonymous vote. */
export interface StoredVote {
  /** Hex of the vote body. */
  readonly bytes: string
  readonly expiresAt: number
  /** The epoch of the anonymous channel it came on (absent: the current epoch when it came). */
  readonly epoch?: number
}

const NUMBER_WIDTH = 16
export const padded = (n: number): string => String(Math.max(0, Math.floor(n))).padStart(NUMBER_WIDTH, '0')

/** Keys of the sublevel; one place, so readers and writers agree. */
export const keys = {
  group: (gid: string) => `group!${gid}`,
  op: (gid: string, opId: string) => `op!${gid}!${opId}`,
  ring: (gid: string, authorId: string) => `ring!${gid}!${authorId}`,
  request: (gid: string, candidate: string) => `req!${gid}!${candidate}`,
  post: (gid: string, postId: string) => `post!${gid}!${postId}`,
  feed: (gid: string, sentAt: number, postId: string) => `feed!${gid}!${padded(sentAt)}!${postId}`,
  expiry: (expiresAt: number, gid: string, postId: string) => `pexp!${padded(expiresAt)}!${gid}!${postId}`,
  vote: (gid: string, postId: string, keyImage: string, choice: string) => `vote!${gid}!${postId}!${keyImage}!${choice}`,
  /**
   * A vote waiting for its post or for a ring key's admission, not verified yet: the suffix of `vote!`
   * and the start of the vote's SHA-256 (`bytesHash`), so a forged copy with an honest vote's key image
   * and choice, arriving first, waits beside it instead of shutting it out.
   */
  pendingVote: (gid: string, postId: string, keyImage: string, choice: string, bytesHash: string) => `pvote!${gid}!${postId}!${keyImage}!${choice}!${bytesHash.slice(0, 32)}`,
  /** A vote's (stored or pending) own expiry: `<kind>` is `vote` or `pvote`. */
  voteExpiry: (expiresAt: number, kind: 'vote' | 'pvote', gid: string, rest: string) => `vexp!${padded(expiresAt)}!${kind}!${gid}!${rest}`,
  myVote: (gid: string, postId: string) => `myvote!${gid}!${postId}`
}

/** One group in memory (node-groups.ts): its record, its log (bytes and decoded), the fold, the ring, requests and counts. */
export interface LiveGroup {
  record: GroupRecord
  ops: Map<string, Uint8Array>
  /** The same ops decoded once (signatures checked): folds take these without verifying again. */
  decoded: Map<string, GroupOp>
  state: GroupState
  ring: CircleRing
  requests: Map<string, StoredRequest>
  posts: number
  votes: number
  /**
   * Held ops whose past is not all held (a parent missing, or pending itself): the fold leaves them out; their
   * bytes are kept (within MAX_WELCOME_OPS, the oldest evicted first) and they count once their parents arrive.
   */
  pending: Set<string>
  /** Applied ops per author, from the last fold (the acceptance budget). */
  appliedBy: Map<string, number>
  /** Votes waiting for their post or a ring key's admission (`pvote!` records). */
  pendingVotes: number
  /** Hashes of votes that failed to verify (bounded, oldest first): a replay is not verified again. */
  failedVotes: Set<string>
  rekeyTimer?: { epoch: number, timer: NodeJS.Timeout }
  /** Rekeys we published per target epoch in this run: a rekey the fold keeps refusing is not retried forever. */
  rekeyAttempts?: Map<number, number>
}

/** Everything of one group read back at start. */
export interface LoadedGroup {
  record: GroupRecord
  ops: Map<string, Uint8Array>
  ring: CircleRing
  requests: Map<string, StoredRequest>
  posts: number
  votes: number
  pendingVotes: number
}

/** The group sublevel and its readers. */
export interface GroupStore {
  readonly sublevel: LocalSublevel
  loadAll(): Promise<LoadedGroup[]>
  /** One group as it is on disk (what the last committed step left), or undefined. */
  loadGroup(gid: string): Promise<LoadedGroup | undefined>
  put(key: string, value: unknown): LocalOp
  del(key: string): LocalOp
  get<T>(key: string): Promise<T | undefined>
  /** Values under `prefix`, in key order (reverse: newest first for feeds), from `lt` down when given. */
  range<T>(prefix: string, options?: { reverse?: boolean, lt?: string, limit?: number }): Promise<Array<[string, T]>>
  /** A fresh ring for a group (restored from `authors`). */
  newRing(authors?: CircleRingJSON['authors']): CircleRing
}

/** Opens the group store over the node's database. */
export function openGroupStore (db: Level<string, Json>, crypto: CryptoProvider): GroupStore {
  const sublevel = jsonSublevel(db, 'collectives-groups')

  async function range<T> (prefix: string, options: { reverse?: boolean, lt?: string, limit?: number } = {}): Promise<Array<[string, T]>> {
    const out: Array<[string, T]> = []
    const bounds = { gte: prefix, lt: options.lt ?? `${prefix}\uffff`, reverse: options.reverse ?? false, ...(options.limit === undefined ? {} : { limit: options.limit }) }
    for await (const [key, value] of sublevel.iterator(bounds)) out.push([key, value as unknown as T])
    return out
  }

  async function loadOne (record: GroupRecord): Promise<LoadedGroup> {
    const gid = record.id
    const ops = new Map<string, Uint8Array>()
    for (const [key, value] of await range<{ b: string }>(`op!${gid}!`)) {
      ops.set(key.slice(key.lastIndexOf('!') + 1), new Uint8Array(Buffer.from(value.b, 'base64')))
    }
    const authors = (await range<CircleRingJSON['authors'][number]>(`ring!${gid}!`)).map(([, v]) => v)
    const requests = new Map<string, StoredRequest>()
    for (const [, request] of await range<StoredRequest>(`req!${gid}!`)) requests.set(request.candidate, request)
    let posts = 0
    for await (const _ of sublevel.keys({ gte: `post!${gid}!`, lt: `post!${gid}!\uffff` })) posts++
    let votes = 0
    for await (const _ of sublevel.keys({ gte: `vote!${gid}!`, lt: `vote!${gid}!\uffff` })) votes++
    let pendingVotes = 0
    for await (const _ of sublevel.keys({ gte: `pvote!${gid}!`, lt: `pvote!${gid}!\uffff` })) pendingVotes++
    return { record, ops, ring: newRing(authors), requests, posts, votes, pendingVotes }
  }

  function newRing (authors: CircleRingJSON['authors'] = []): CircleRing {
    try {
      return createCircleRing({ crypto, maxAuthors: MAX_GROUP_RING_AUTHORS, state: { version: 1, authors } })
    } catch {
      // A ring we cannot restore is rebuilt from the epoch secrets (node-groups.ts feeds it): at worst old envelopes open again, and dedup drops them.
      return createCircleRing({ crypto, maxAuthors: MAX_GROUP_RING_AUTHORS })
    }
  }

  return {
    sublevel,
    put: (key, value) => ({ type: 'put', sublevel, key, value: value as Json }),
    del: (key) => ({ type: 'del', sublevel, key }),
    async get<T> (key: string) { return (await sublevel.get(key)) as unknown as T | undefined },
    range,
    newRing,
    async loadAll () {
      const loaded: LoadedGroup[] = []
      for (const [, record] of await range<GroupRecord>('group!')) loaded.push(await loadOne(record))
      return loaded
    },
    async loadGroup (gid) {
      const record = (await sublevel.get(keys.group(gid))) as unknown as GroupRecord | undefined
      return record === undefined ? undefined : await loadOne(record)
    }
  }
}
