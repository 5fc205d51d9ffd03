/**
 * Store passes (`Delivery.rescreenMatching`, SPEC §14.5) are coalesced: at
 * most one reads the store at a time, and the matchers that arrive while it
 * runs share the next one (review N3/N9: a stream of new channel keys, from
 * event revisions or rekeys, must not start a whole-store read each). Each
 * caller still learns how many envelopes its own matcher picked, and those
 * are screened once each. Count-based: no timing.
 */
import { describe, expect, it } from 'vitest'
import { createDelivery } from '../../node/delivery.js'
import type { LocalState } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import type { WorkPool } from '../../node/work-pool.js'
import { ENVELOPE_SIZE, nativeCrypto, type Keyring, type Screener } from '../../protocol/index.js'

const crypto = nativeCrypto()

describe('Delivery.rescreenMatching', () => {
  it('runs one pass at a time and lets every matcher that arrives meanwhile share the next', async () => {
    const envelopes = Array.from({ length: 600 }, (_, i) => { const e = crypto.randomBytes(ENVELOPE_SIZE); e[100] = i % 7; return e })
    const ids = envelopes.map((_, i) => ({ id: new Uint8Array([i >> 8, i & 255]) }))
    let reads = 0
    let release: () => void = () => {}
    let gate: Promise<void> | undefined = new Promise<void>((resolve) => { release = resolve })
    let screened = 0
    const delivery = createDelivery({
      crypto,
      keyring: { id: 'k' } as unknown as Keyring,
      screener: { screenAny: () => { screened++; return undefined }, screenAnyByTag: () => undefined } as unknown as Screener,
      state: {} as unknown as LocalState,
      store: {
        has: async () => false,
        put: async () => {},
        withTag: async () => [],
        items: () => ids,
        async getMany (wanted: readonly Uint8Array[]) {
          reads += wanted.length
          if (gate !== undefined) await gate // the first pass holds here while more keys arrive
          return wanted.map((id) => envelopes[(id[0]! << 8) | id[1]!])
        }
      },
      pool: {} as unknown as WorkPool,
      publish: async () => ({ recipients: 0 }),
      logger: silentLogger(),
      acceptStrangers: true,
      onMessage: () => {},
      onOutboxChange: () => {}
    })
    const byMark = (mark: number) => (envelope: Uint8Array): boolean => envelope[100] === mark
    const first = delivery.rescreenMatching(byMark(0))
    await new Promise((resolve) => setImmediate(resolve))
    // Fifty new keys while the first pass runs: they wait, and share one more pass.
    const later = Array.from({ length: 50 }, (_, i) => delivery.rescreenMatching(byMark(1 + (i % 6))))
    gate = undefined
    release()
    const counts = await Promise.all([first, ...later])
    expect(reads).toBe(2 * envelopes.length) // two reads of the store, not 51
    const expected = (mark: number): number => envelopes.filter((e) => e[100] === mark).length
    expect(counts[0]).toBe(expected(0))
    expect(counts.slice(1)).toEqual(Array.from({ length: 50 }, (_, i) => expected(1 + (i % 6))))
    // Each picked envelope is screened once per pass that picked it, however many matchers picked it.
    expect(screened).toBe(envelopes.length)
    // An aborted caller is dropped from the pass; the others are not.
    const aborted = new AbortController()
    aborted.abort()
    await expect(delivery.rescreenMatching(byMark(0), { signal: aborted.signal })).rejects.toThrow()
  })
})
