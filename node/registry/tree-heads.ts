/**
 * The node's view of the Operator's log: the latest tree head it verified,
 * the recent heads it saw, and the evidence when the Operator showed two
 * views that cannot both be true (SPEC §13.9).
 *
 * A head is adopted only when it is consistent with the latest one: a
 * consistency proof (RFC 9162 §2.1.4) from the Operator must show the older
 * log is a prefix of the newer. Heads from lookups bring their proof; heads
 * from gossip or `info` make us ask for one. Two valid heads of the same
 * size with different roots, or two heads the Operator cannot (or will not)
 * prove consistent, are a split view: the Operator shows different logs to
 * different people. That evidence is kept for good and reported.
 *
 * A head from a lookup is a direct answer of the Operator, not gossip that
 * anyone can replay: it is proven at once, without the rate limit of older
 * gossiped heads, or the answer is not used (RegistryUnavailableError, so the
 * lookup falls back to the cache). It is never left pending.
 *
 * Everything runs one step at a time, so a lookup and a gossiped head never
 * race on `latest`.
 */
import { fromHex, RegistryErrorCode, toHex, verifyConsistency, type CryptoProvider, type RegistryResponse } from '../../protocol/index.js'
import { equalBytes } from '../../protocol/bytes.js'
import type { Logger } from '../logger.js'
import { RegistryUnavailableError, RegistryVerificationError } from './errors.js'
import type { NameCache } from './name-cache.js'
import { verifyHeadBytes, type VerifiedTreeHead } from './verify.js'

/** Heads of distinct sizes remembered besides the latest: enough to catch a fork against any head of the last hours. */
export const MAX_SEEN_HEADS = 64
/**
 * Proofs asked for gossiped heads OLDER than ours: 8 at once, then one a
 * minute. Heads newer than ours are few (the log grows only so fast) and
 * each one checked moves us forward; old heads can be replayed by anyone in
 * any number, and must not turn every node into load on the Operator. An
 * old head not checked stays remembered, so a fork at its size is still
 * caught by comparison.
 */
export const OLDER_HEAD_CHECK_BURST = 8
export const OLDER_HEAD_CHECK_INTERVAL_MS = 60_000

/** Proof that the Operator showed two views of its log. Both heads carry its signature. */
export interface SplitViewEvidence {
  /** 'same-size': two heads of one size with different roots. 'inconsistent': a larger head the Operator cannot prove extends a smaller one. */
  readonly kind: 'same-size' | 'inconsistent'
  /** Hex of the two heads' 113 bytes: ours first, then the one that contradicts it. */
  readonly heads: readonly [string, string]
  /** Our clock when we found it, unix ms. */
  readonly detectedAt: number
}

/** What became of a head offered to the view. */
export type HeadOutcome =
  /** It is now the latest head. */
  | 'adopted'
  /** We already had it (or a proven head of its size and root). */
  | 'known'
  /** Smaller than the latest, and proven to be a prefix of it. */
  | 'older'
  /** Its consistency could not be checked now (the Operator is unreachable); remembered, not adopted. Offered heads only. */
  | 'pending'
  /** It contradicts a head we hold: evidence was kept. */
  | 'split-view'

/** Options and dependencies of {@link createTreeHeads}. */
export interface TreeHeadsInit {
  crypto: CryptoProvider
  /** The pinned Operator's Ed25519 key. */
  operatorKey: Uint8Array
  cache: NameCache
  logger: Logger
  /** Asks the Operator for a consistency proof; throws RegistryUnavailableError when it cannot be reached. */
  fetchConsistency(from: number, to: number): Promise<RegistryResponse<Uint8Array[]>>
  /** A new latest head: gossip it. */
  onAdopted(head: VerifiedTreeHead): void
  /** New evidence, already stored. */
  onSplitView(evidence: SplitViewEvidence): void
  /** @default Date.now */
  now?: () => number
}

/** The node's view of the log; see {@link createTreeHeads}. */
export interface TreeHeads {
  /** Reads what the cache kept (call once, before anything else). */
  load(): Promise<void>
  /** The latest verified, consistent head. */
  latest(): VerifiedTreeHead | undefined
  /** The evidence found so far, oldest first. */
  evidence(): readonly SplitViewEvidence[]
  /**
   * A head from a lookup, with the consistency proof from `fromSize` (the
   * size we sent). Adopts it when it extends the latest head, asking the
   * Operator for a proof when the answer's proof does not apply (our head
   * moved meanwhile, or the answer's head is smaller). Throws
   * RegistryVerificationError on a split view (the evidence is kept), and
   * RegistryUnavailableError when no proof could be had: the answer must
   * not be used. Never resolves 'pending'.
   */
  acceptLookupHead(head: VerifiedTreeHead, fromSize: number, proof: readonly Uint8Array[]): Promise<HeadOutcome>
  /**
   * The head of another direct answer that brings no proof (a registration
   * made with the `register` op): proven by asking the Operator, with the
   * same outcomes and errors as {@link acceptLookupHead}.
   */
  acceptAnswerHead(head: VerifiedTreeHead): Promise<HeadOutcome>
  /** Any other head (gossip, info, a registration through the flood, the Operator's own): compared, proven and adopted when it can be. */
  offer(head: VerifiedTreeHead, options?: { own?: boolean }): Promise<HeadOutcome>
}

interface SeenHead {
  head: VerifiedTreeHead
  /** Its relation to the latest head is proven (it is the latest, or a prefix of it). */
  proven: boolean
}

/** Creates the view; call `load()` before use. */
export function createTreeHeads (init: TreeHeadsInit): TreeHeads {
  const { crypto, cache, logger } = init
  const now = init.now ?? Date.now
  const seen = new Map<number, SeenHead>()
  const evidence: SplitViewEvidence[] = []
  let latest: VerifiedTreeHead | undefined
  let chain: Promise<unknown> = Promise.resolve()
  let olderChecks = OLDER_HEAD_CHECK_BURST
  let olderChecksAt = now()

  /** Takes one check of an older head from the bucket; false when it is empty. */
  function takeOlderCheck (): boolean {
    const t = now()
    olderChecks = Math.min(OLDER_HEAD_CHECK_BURST, olderChecks + (t - olderChecksAt) / OLDER_HEAD_CHECK_INTERVAL_MS)
    olderChecksAt = t
    if (olderChecks < 1) return false
    olderChecks--
    return true
  }

  function exclusive<T> (step: () => Promise<T>): Promise<T> {
    const run = chain.then(step, step)
    chain = run.catch(() => {})
    return run
  }

  function remember (head: VerifiedTreeHead, proven: boolean): void {
    const known = seen.get(head.size)
    if (known !== undefined) { known.proven ||= proven; return }
    seen.set(head.size, { head, proven })
    while (seen.size > MAX_SEEN_HEADS) {
      const smallest = Math.min(...[...seen.keys()].filter((size) => size !== latest?.size))
      seen.delete(smallest)
    }
  }

  async function persist (): Promise<void> {
    const proven = [...seen.values()].filter((s) => s.proven).map((s) => toHex(s.head.bytes))
    await cache.putHeads({ ...(latest === undefined ? {} : { latest: toHex(latest.bytes) }), seen: proven })
  }

  async function adopt (head: VerifiedTreeHead): Promise<'adopted'> {
    latest = head
    remember(head, true)
    await persist()
    init.onAdopted(head)
    return 'adopted'
  }

  async function splitView (kind: SplitViewEvidence['kind'], ours: VerifiedTreeHead, theirs: VerifiedTreeHead): Promise<'split-view'> {
    const item: SplitViewEvidence = { kind, heads: [toHex(ours.bytes), toHex(theirs.bytes)], detectedAt: now() }
    if (await cache.addEvidence(item)) {
      evidence.push(item)
      logger.error('the Operator shows a split view of its log: two signed heads that cannot both be true', {
        kind, sizes: [ours.size, theirs.size]
      })
      init.onSplitView(item)
    }
    return 'split-view'
  }

  /** The head of the same size we hold, if any. */
  function sameSize (head: VerifiedTreeHead): SeenHead | undefined {
    if (latest?.size === head.size) return { head: latest, proven: true }
    return seen.get(head.size)
  }

  /**
   * Asks the Operator to prove `from` is a prefix of `to` (from.size < to.size), and checks the proof.
   * A proof that fails, BAD_RANGE or a malformed answer: 'inconsistent'. No answer, or a refusal that
   * says nothing about the log (RATE_LIMITED, UNAVAILABLE...): 'unknown'.
   */
  async function proveConsistency (from: VerifiedTreeHead, to: VerifiedTreeHead): Promise<'consistent' | 'inconsistent' | 'unknown'> {
    // The empty log is a prefix of every log: nothing to ask (verifyConsistency checks the empty root).
    let response: RegistryResponse<Uint8Array[]> = { ok: true, value: [] }
    if (from.size > 0) {
      try {
        response = await init.fetchConsistency(from.size, to.size)
      } catch (error) {
        if (error instanceof RegistryVerificationError) {
          logger.warn('the Operator answered a consistency request with a malformed proof', { sizes: [from.size, to.size], error })
          return 'inconsistent'
        }
        if (error instanceof RegistryUnavailableError) {
          logger.debug('could not check a tree head against ours yet', { sizes: [from.size, to.size], error })
          return 'unknown'
        }
        throw error
      }
    }
    if (!response.ok) {
      // BAD_RANGE: the Operator says a size it signed does not exist. Anything else (busy, rate limited) says nothing.
      return response.code === RegistryErrorCode.BAD_RANGE ? 'inconsistent' : 'unknown'
    }
    return verifyConsistency(crypto, from.size, to.size, from.root, to.root, response.value) ? 'consistent' : 'inconsistent'
  }

  /** Compares `head` with what we hold, asking the Operator for a proof when needed. Inside `exclusive`. */
  async function compare (head: VerifiedTreeHead, own: boolean): Promise<HeadOutcome> {
    const same = sameSize(head)
    if (same !== undefined) {
      if (!equalBytes(same.head.root, head.root)) return await splitView('same-size', same.head, head)
      if (same.proven) return 'known'
    }
    remember(head, false)
    const current = latest
    if (current === undefined) return await adopt(head)
    // A head signed with the key this node holds is its own: nothing to prove.
    if (own) return head.size > current.size ? await adopt(head) : 'older'
    if (head.size < current.size && !takeOlderCheck()) return 'pending'
    const [from, to] = head.size > current.size ? [current, head] : [head, current]
    const verdict = await proveConsistency(from, to)
    if (verdict === 'unknown') return 'pending'
    if (verdict === 'inconsistent') return await splitView('inconsistent', current, head)
    if (to === head) return await adopt(head)
    remember(head, true)
    await persist()
    return 'older'
  }

  /**
   * The head of a direct answer, proven now or refused; see {@link TreeHeads.acceptLookupHead}.
   * `carried`: the consistency proof the answer brought, from the size we sent. Inside `exclusive`.
   */
  async function checkAnswerHead (head: VerifiedTreeHead, carried?: { fromSize: number, proof: readonly Uint8Array[] }): Promise<HeadOutcome> {
    const same = sameSize(head)
    if (same !== undefined) {
      if (!equalBytes(same.head.root, head.root)) return await splitView('same-size', same.head, head)
      if (same.proven) return 'known'
    }
    const current = latest
    // Trust on first use: the lookup sent knownSize 0.
    if (current === undefined) return await adopt(head)
    remember(head, false)
    if (carried !== undefined && carried.fromSize === current.size && head.size > current.size) {
      // The answer carries the proof from the head we sent.
      if (verifyConsistency(crypto, current.size, head.size, current.root, head.root, carried.proof)) return await adopt(head)
      return await splitView('inconsistent', current, head)
    }
    // No proof came (a registration), our head moved while the lookup ran (gossip), or the Operator answered
    // with a smaller head than one it signed for us (it should have said BAD_RANGE): the Operator proves it now.
    const [from, to] = head.size > current.size ? [current, head] : [head, current]
    const verdict = await proveConsistency(from, to)
    if (verdict === 'inconsistent') return await splitView('inconsistent', current, head)
    if (verdict === 'unknown') {
      throw new RegistryUnavailableError('The Operator did not prove this answer consistent with the log this node holds; it was not used')
    }
    if (to === head) return await adopt(head)
    remember(head, true)
    await persist()
    return 'older'
  }

  function splitViewError (): RegistryVerificationError {
    return new RegistryVerificationError('The Operator showed this node a log that contradicts a tree head it signed before (a split view); ' +
      'the answer was not used and the evidence was kept (status().registry.splitViews): tell the people who run your network')
  }

  return {
    async load () {
      const stored = await cache.getHeads()
      for (const hex of stored.seen) {
        try {
          remember(verifyHeadBytes(crypto, init.operatorKey, fromHex(hex)), true)
        } catch (error) {
          logger.warn('dropped a stored tree head that does not verify', { error })
        }
      }
      if (stored.latest !== undefined) {
        try {
          latest = verifyHeadBytes(crypto, init.operatorKey, fromHex(stored.latest))
          remember(latest, true)
        } catch (error) {
          logger.warn('dropped the stored latest tree head: it does not verify (was the Operator key changed?)', { error })
        }
      }
      evidence.push(...await cache.evidence())
    },

    latest: () => latest,
    evidence: () => evidence,

    acceptLookupHead (head, fromSize, proof) {
      return exclusive(async () => {
        const outcome = await checkAnswerHead(head, { fromSize, proof })
        if (outcome === 'split-view') throw splitViewError()
        return outcome
      })
    },

    acceptAnswerHead (head) {
      return exclusive(async () => {
        const outcome = await checkAnswerHead(head)
        if (outcome === 'split-view') throw splitViewError()
        return outcome
      })
    },

    offer (head, options = {}) {
      return exclusive(async () => await compare(head, options.own === true))
    }
  }
}
