/**
 * The circle state a node keeps in the sublevel `social-circle` of its local
 * database (SPEC §14):
 *
 * - `own`: this node's circle: its members, and the chain of the current
 *   epoch (circle id, chain key at the next step). Posting moves the chain;
 *   removing a member starts a new epoch.
 * - the sublevel `social-ring`, one record per author: the chains others
 *   handed to us (protocol CircleRing), with their receive windows. Per
 *   author, so opening a post serialises and rewrites its author's chains
 *   (`ring.authorJSON`), not everyone's.
 *
 * Changes are never written on their own: each step computes the next state,
 * its writes go into the batch of the step (the outbox entry of a post, the
 * stored part it opened), and the state in memory is adopted once that batch
 * is committed. The old chain key is then gone from memory and disk.
 */
import type { Level } from 'level'
import {
  circleChainFromJSON, circleChainToJSON, createCircleRing, newCircleChain,
  type CircleChain, type CircleChainJSON, type CircleRing, type CircleRingJSON, type CryptoProvider
} from '../../protocol/index.js'
import { jsonSublevel, type Json, type LocalOp } from '../local-state.js'
import type { CircleMember } from './types.js'

/** Stored form of this node's circle. */
export interface OwnCircleJSON {
  readonly version: 1
  /** Epochs started so far (1 for the first): a rotation adds one. */
  readonly epoch: number
  readonly chain: CircleChainJSON
  readonly members: readonly CircleMember[]
}

const OWN_KEY = 'own'

type RingAuthorJSON = CircleRingJSON['authors'][number]

/** This node's circle and the ring of chains handed to it, persisted. */
export interface CircleState {
  /** The circle as committed. */
  own(): OwnCircleJSON
  /** The chain of the current epoch, as a fresh object to seal on (the committed state is untouched until {@link adopt}). */
  chainCopy(): CircleChain
  /** The circle with `chain` as its current chain. */
  withChain(chain: CircleChain): OwnCircleJSON
  /** The circle with a new member. */
  withMember(member: CircleMember): OwnCircleJSON
  /** The circle without `id`, on a new epoch; undefined when `id` is no member. */
  withoutMember(id: string): OwnCircleJSON | undefined
  /** The write that stores `next`. */
  ownOps(next: OwnCircleJSON): LocalOp[]
  /** `next` was committed: it is the circle now. */
  adopt(next: OwnCircleJSON): void
  /** The ring of chains handed to us (the screener holds the same object). */
  readonly ring: CircleRing
  /** The write that stores `authorId`'s chains as they are now (after a screening or a new chain moved them). */
  ringOps(authorId: string): LocalOp[]
}

/** Opens the circle state; a node's first start makes its first epoch (written at once). */
export async function openCircleState (db: Level<string, Json>, crypto: CryptoProvider): Promise<CircleState> {
  const sublevel = jsonSublevel(db, 'social-circle')
  let own = (await sublevel.get(OWN_KEY)) as unknown as OwnCircleJSON | undefined
  if (own === undefined) {
    own = { version: 1, epoch: 1, chain: circleChainToJSON(newCircleChain(crypto)), members: [] }
    await sublevel.put(OWN_KEY, own as unknown as Json)
  }
  const ringSublevel = jsonSublevel(db, 'social-ring')
  const savedAuthors = (await ringSublevel.values().all()) as unknown as RingAuthorJSON[]
  const ring = createCircleRing({ crypto, state: { version: 1, authors: savedAuthors } })
  let current: OwnCircleJSON = own

  return {
    own: () => current,
    chainCopy: () => circleChainFromJSON(current.chain),
    withChain: (chain) => ({ ...current, chain: circleChainToJSON(chain) }),
    withMember: (member) => ({ ...current, members: [...current.members.filter((m) => m.id !== member.id), member] }),
    withoutMember (id) {
      if (!current.members.some((m) => m.id === id)) return undefined
      // A new epoch: the removed member holds the old chain, never the new one.
      return { version: 1, epoch: current.epoch + 1, chain: circleChainToJSON(newCircleChain(crypto)), members: current.members.filter((m) => m.id !== id) }
    },
    ownOps: (next) => [{ type: 'put', sublevel, key: OWN_KEY, value: next as unknown as Json }],
    adopt (next) { current = next },
    ring,
    ringOps (authorId) {
      const record = ring.authorJSON(authorId)
      return [record === undefined
        ? { type: 'del', sublevel: ringSublevel, key: authorId }
        : { type: 'put', sublevel: ringSublevel, key: authorId, value: record as unknown as Json }]
    }
  }
}
