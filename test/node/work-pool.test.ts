/** The proof-of-work pool: real worker threads. */
import { afterEach, describe, expect, it } from 'vitest'
import { checkEnvelope, expiryFor, nativeCrypto, sealCover } from '../../protocol/index.js'
import { createWorkPool, type WorkPool } from '../../node/work-pool.js'

const crypto = nativeCrypto()

describe('work pool', () => {
  let pool: WorkPool | undefined
  afterEach(async () => { await pool?.close() })

  it('solves envelopes in worker threads, in parallel, and each validates', async () => {
    pool = createWorkPool({ threads: 2 })
    const now = Date.now()
    const envelopes = Array.from({ length: 6 }, () => sealCover(crypto, expiryFor(now, 60)))
    const solved = await Promise.all(envelopes.map(async (e) => await pool!.solve(e, { now })))
    for (const [i, envelope] of solved.entries()) {
      expect(checkEnvelope(crypto, envelope, { now }).valid).toBe(true)
      // Only the nonce changed.
      expect(envelope.subarray(13)).toEqual(envelopes[i]!.subarray(13))
    }
    expect(pool.pending).toBe(0)
  })

  it('runs `first` jobs ahead of the waiting ones, in the order given (cover envelopes before real ones)', async () => {
    pool = createWorkPool({ threads: 1 })
    const now = Date.now()
    const done: string[] = []
    const job = async (name: string, first: boolean): Promise<void> => {
      await pool!.solve(sealCover(crypto, expiryFor(now, 60)), { now, first })
      done.push(name)
    }
    // The first job takes the only thread at once; the rest wait in the queue.
    await Promise.all([job('a', false), job('b', false), job('c', false), job('first 1', true), job('first 2', true)])
    expect(done).toEqual(['a', 'first 1', 'first 2', 'b', 'c'])
  })

  it('cancels a running search with AbortError and keeps working afterwards', async () => {
    pool = createWorkPool({ threads: 1 })
    const now = Date.now()
    // 7 days of TTL: ~0.6 s median. A search can still end within the 20 ms before the abort
    // (about 2% of the time), so try up to 5 envelopes: all 5 finishing that fast is ~1e-8.
    let aborted = 0
    for (let attempt = 0; attempt < 5 && aborted === 0; attempt++) {
      const controller = new AbortController()
      const slow = pool.solve(sealCover(crypto, expiryFor(now, 7 * 24 * 60)), { now, signal: controller.signal })
      setTimeout(() => controller.abort(), 20)
      try {
        await slow
      } catch (error) {
        expect((error as Error).name).toBe('AbortError')
        aborted++
      }
    }
    expect(aborted).toBe(1)
    const quick = await pool.solve(sealCover(crypto, expiryFor(now, 1)), { now })
    expect(checkEnvelope(crypto, quick, { now }).valid).toBe(true)
  })

  it('refuses wrong-size input and work after close', async () => {
    pool = createWorkPool({ threads: 1 })
    await expect(pool.solve(new Uint8Array(10))).rejects.toThrow(RangeError)
    await pool.close()
    await expect(pool.solve(sealCover(crypto, expiryFor(Date.now(), 1)))).rejects.toMatchObject({ name: 'AbortError' })
  })
})
