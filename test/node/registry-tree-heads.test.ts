/**
 * The node's view of the log (node/registry/tree-heads.ts) on a real
 * LevelDB, against real Merkle trees: heads from one log are adopted in any
 * order, and a fork is found whenever the heads offered cannot all come
 * from one log. Evidence and the latest head survive a reopen.
 */
import { Level } from 'level'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../node/logger.js'
import { RegistryUnavailableError, RegistryVerificationError } from '../../node/registry/errors.js'
import { openNameCache } from '../../node/registry/name-cache.js'
import {
  createTreeHeads, OLDER_HEAD_CHECK_BURST, OLDER_HEAD_CHECK_INTERVAL_MS, type SplitViewEvidence, type TreeHeads
} from '../../node/registry/tree-heads.js'
import { verifyHead, type VerifiedTreeHead } from '../../node/registry/verify.js'
import {
  createIdentity, createMerkleTree, merkleLeafHash, RegistryErrorCode, signTreeHead, type MerkleTree, type RegistryResponse
} from '../../protocol/index.js'
import { cleanupOperators, crypto, tempDir } from './registry-operators.js'

const operator = createIdentity(crypto)
const dbs: Array<Level<string, Record<string, unknown>>> = []

afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close()
  await cleanupOperators()
})

/** A log of `size` leaves; leaves before `shared` are common to every tree built with the same `shared`. */
function tree (label: string, shared: number, size: number): MerkleTree {
  const built = createMerkleTree(crypto)
  for (let i = 0; i < size; i++) built.append(merkleLeafHash(crypto, new TextEncoder().encode(i < shared ? `common ${i}` : `${label} ${i}`)))
  return built
}

function headOf (log: MerkleTree, size: number): VerifiedTreeHead {
  return verifyHead(crypto, operator.signingKey, signTreeHead(crypto, operator, { size, timestamp: 1_700_000_000_000 + size, root: log.root(size) }))
}

/** What the Operator the node asks answers: proofs from `log`, BAD_RANGE beyond it. */
function answersFrom (log: MerkleTree) {
  return async (from: number, to: number): Promise<RegistryResponse<Uint8Array[]>> =>
    to > log.size ? { ok: false, code: RegistryErrorCode.BAD_RANGE, message: 'beyond the log' } : { ok: true, value: log.consistencyProof(from, to) }
}

async function openView (path: string, log: MerkleTree, evidence: SplitViewEvidence[] = []): Promise<TreeHeads> {
  const db = new Level<string, Record<string, unknown>>(path, { keyEncoding: 'utf8', valueEncoding: 'json' })
  await db.open()
  dbs.push(db)
  const view = createTreeHeads({
    crypto, operatorKey: operator.signingKey, cache: openNameCache(db), logger: silentLogger(),
    fetchConsistency: answersFrom(log), onAdopted: () => {}, onSplitView: (item) => { evidence.push(item) }
  })
  await view.load()
  return view
}

describe('the view of the log', () => {
  it('adopts heads of one log in any order, and finds a fork exactly when the heads cannot come from one log', async () => {
    const dir = await tempDir()
    let run = 0
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }),
      fc.array(fc.record({ fork: fc.boolean(), size: fc.integer({ min: 1, max: 10 }) }), { minLength: 1, maxLength: 6 }),
      async (shared, extraA, extraB, picks) => {
        // The node's Operator serves log A; log B shares A's first `shared` entries, then differs.
        const a = tree('a', shared, shared + extraA)
        const b = tree('b', shared, shared + extraB)
        const offered = picks.map(({ fork, size }) => {
          const log = fork ? b : a
          const clamped = Math.min(size, log.size)
          return { head: headOf(log, clamped), fromB: fork && clamped > shared, key: `${fork && clamped > shared ? 'b' : 'a'}${clamped}` }
        })
        const evidence: SplitViewEvidence[] = []
        const view = await openView(`${dir}/${run++}`, a, evidence)
        for (const { head } of offered) await view.offer(head)
        const distinct = new Set(offered.map((o) => o.key))
        const forked = offered.some((o) => o.fromB) && distinct.size >= 2
        expect(evidence.length > 0).toBe(forked)
        if (!forked) expect(view.latest()?.size).toBe(Math.max(...offered.map((o) => o.head.size)))
        await dbs.pop()!.close()
      }
    ), { numRuns: 60 })
  })

  it('adopts a lookup head that extends ours; refuses one of our size with another root, or an unproven one', async () => {
    const dir = await tempDir()
    const a = tree('a', 0, 8)
    const evidence: SplitViewEvidence[] = []
    const view = await openView(dir, a, evidence)
    expect(await view.acceptLookupHead(headOf(a, 3), 0, [])).toBe('adopted')
    expect(await view.acceptLookupHead(headOf(a, 6), 3, a.consistencyProof(3, 6))).toBe('adopted')
    expect(await view.acceptLookupHead(headOf(a, 6), 6, [])).toBe('known')

    const b = tree('b', 4, 8)
    await expect(view.acceptLookupHead(headOf(b, 6), 6, [])).rejects.toBeInstanceOf(RegistryVerificationError)
    await expect(view.acceptLookupHead(headOf(b, 8), 6, a.consistencyProof(6, 8))).rejects.toThrow(/split view/)
    expect(evidence.map((e) => e.kind)).toEqual(['same-size', 'inconsistent'])
    expect(view.latest()?.size).toBe(6)

    // Reopened: the latest head and the evidence are still there, and the fork is still refused.
    await dbs.pop()!.close()
    const reopened = await openView(dir, a)
    expect(reopened.latest()?.size).toBe(6)
    expect(reopened.evidence().map((e) => e.kind)).toEqual(['same-size', 'inconsistent'])
    expect(await reopened.offer(headOf(b, 6))).toBe('split-view')
    expect(reopened.evidence()).toHaveLength(2) // the same evidence is kept once
  })

  it('keeps a head it cannot check yet as pending, and adopts it once the Operator answers', async () => {
    const dir = await tempDir()
    const a = tree('a', 0, 5)
    let reachable = false
    const db = new Level<string, Record<string, unknown>>(dir, { keyEncoding: 'utf8', valueEncoding: 'json' })
    await db.open()
    dbs.push(db)
    const answer = answersFrom(a)
    const view = createTreeHeads({
      crypto, operatorKey: operator.signingKey, cache: openNameCache(db), logger: silentLogger(),
      fetchConsistency: async (from, to) => {
        if (!reachable) throw new RegistryUnavailableError('down')
        return await answer(from, to)
      },
      onAdopted: () => {}, onSplitView: () => {}
    })
    await view.load()
    expect(await view.offer(headOf(a, 2))).toBe('adopted')
    expect(await view.offer(headOf(a, 5))).toBe('pending')
    expect(view.latest()?.size).toBe(2)
    reachable = true
    expect(await view.offer(headOf(a, 5))).toBe('adopted')
    expect(await view.offer(headOf(a, 1))).toBe('older')
    expect(await view.offer(headOf(a, 1))).toBe('known')
  })

  it('checks replayed old heads at a bounded rate, so gossip cannot turn nodes into load on the Operator', async () => {
    const dir = await tempDir()
    const a = tree('a', 0, 20)
    let clock = 1_000_000
    let asked = 0
    const answer = answersFrom(a)
    const db = new Level<string, Record<string, unknown>>(dir, { keyEncoding: 'utf8', valueEncoding: 'json' })
    await db.open()
    dbs.push(db)
    const view = createTreeHeads({
      crypto, operatorKey: operator.signingKey, cache: openNameCache(db), logger: silentLogger(), now: () => clock,
      fetchConsistency: async (from, to) => { asked++; return await answer(from, to) },
      onAdopted: () => {}, onSplitView: () => {}
    })
    await view.load()
    expect(await view.offer(headOf(a, 20))).toBe('adopted')
    const outcomes = []
    for (let size = 1; size <= 10; size++) outcomes.push(await view.offer(headOf(a, size)))
    expect(outcomes).toEqual([...Array(OLDER_HEAD_CHECK_BURST).fill('older'), 'pending', 'pending'])
    expect(asked).toBe(OLDER_HEAD_CHECK_BURST)
    clock += OLDER_HEAD_CHECK_INTERVAL_MS
    expect(await view.offer(headOf(a, 9))).toBe('older')
    expect(await view.offer(headOf(a, 10))).toBe('pending')
    // A fork at a remembered size is still caught, without asking anyone.
    expect(await view.offer(headOf(tree('b', 0, 10), 10))).toBe('split-view')
    expect(asked).toBe(OLDER_HEAD_CHECK_BURST + 1)
  })
})

describe('a head from a lookup', () => {
  /** How the Operator answers the consistency requests of the view. */
  type Answer = 'honest' | 'unreachable' | 'rate-limited' | 'unavailable' | 'bad-range' | 'malformed'

  async function viewAnswering (log: MerkleTree, mode: () => Answer, evidence: SplitViewEvidence[]): Promise<TreeHeads> {
    const db = new Level<string, Record<string, unknown>>(await tempDir(), { keyEncoding: 'utf8', valueEncoding: 'json' })
    await db.open()
    dbs.push(db)
    const honest = answersFrom(log)
    const view = createTreeHeads({
      crypto, operatorKey: operator.signingKey, cache: openNameCache(db), logger: silentLogger(),
      fetchConsistency: async (from, to): Promise<RegistryResponse<Uint8Array[]>> => {
        switch (mode()) {
          case 'honest': return await honest(from, to)
          case 'unreachable': throw new RegistryUnavailableError('down')
          case 'rate-limited': return { ok: false, code: RegistryErrorCode.RATE_LIMITED, message: 'later' }
          case 'unavailable': return { ok: false, code: RegistryErrorCode.UNAVAILABLE, message: 'disk' }
          case 'bad-range': return { ok: false, code: RegistryErrorCode.BAD_RANGE, message: 'no such size' }
          case 'malformed': throw new RegistryVerificationError('The Operator\'s answer to consistency is malformed')
        }
      },
      onAdopted: () => {}, onSplitView: (item) => { evidence.push(item) }
    })
    await view.load()
    return view
  }

  it.each(['unreachable', 'rate-limited', 'unavailable'] as const)('is not used when the Operator gives no proof for it (%s)', async (failure) => {
    const honest = tree('a', 0, 12)
    const fork = tree('b', 3, 12)
    let mode: Answer = 'honest'
    const evidence: SplitViewEvidence[] = []
    const view = await viewAnswering(honest, () => mode, evidence)
    expect(await view.offer(headOf(honest, 10))).toBe('adopted')
    mode = failure
    // A smaller head than the one we asked from: it needs a proof we cannot get.
    await expect(view.acceptLookupHead(headOf(fork, 5), 10, [])).rejects.toThrow(RegistryUnavailableError)
    // Gossip moved our head while the lookup ran: the answer is proven against the new one, or not used.
    expect(await view.offer(headOf(honest, 11))).toBe('pending')
    mode = 'honest'
    expect(await view.offer(headOf(honest, 11))).toBe('adopted')
    mode = failure
    await expect(view.acceptLookupHead(headOf(honest, 12), 10, honest.consistencyProof(10, 12))).rejects.toThrow(/not used/)
    expect(view.latest()?.size).toBe(11)
    expect(evidence).toEqual([])
    mode = 'honest'
    expect(await view.acceptLookupHead(headOf(honest, 12), 10, honest.consistencyProof(10, 12))).toBe('adopted')
  })

  it('is checked even when replayed old heads used up the checks of gossip, and a fork is found', async () => {
    const honest = tree('a', 0, 20)
    const evidence: SplitViewEvidence[] = []
    const view = await viewAnswering(honest, () => 'honest', evidence)
    expect(await view.offer(headOf(honest, 20))).toBe('adopted')
    for (let size = 1; size <= OLDER_HEAD_CHECK_BURST; size++) await view.offer(headOf(honest, size))
    expect(await view.offer(headOf(honest, 15))).toBe('pending') // the bucket of gossip checks is empty
    await expect(view.acceptLookupHead(headOf(tree('b', 3, 12), 12), 20, [])).rejects.toThrow(/split view/)
    expect(evidence.map((e) => e.kind)).toEqual(['inconsistent'])
  })

  it.each(['bad-range', 'malformed'] as const)('is a split view when the Operator answers its proof with %s', async (failure) => {
    const honest = tree('a', 0, 10)
    let mode: Answer = 'honest'
    const evidence: SplitViewEvidence[] = []
    const view = await viewAnswering(honest, () => mode, evidence)
    expect(await view.offer(headOf(honest, 10))).toBe('adopted')
    mode = failure
    await expect(view.acceptLookupHead(headOf(tree('b', 3, 5), 5), 10, [])).rejects.toBeInstanceOf(RegistryVerificationError)
    expect(evidence.map((e) => e.kind)).toEqual(['inconsistent'])
    expect(view.latest()?.size).toBe(10)
  })
})
