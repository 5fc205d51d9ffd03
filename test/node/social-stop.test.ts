/**
 * A graceful stop stops intake first (reliability-needs R1-2): once
 * `Delivery.close()` is called, ingests still waiting for their turn return
 * 'deferred' without being screened or stored (resync brings their
 * envelopes back), so `idle()` waits for the one screening in progress, not
 * for a backlog. Count-based: no timing.
 */
import { describe, expect, it } from 'vitest'
import { createDelivery } from '../../node/delivery.js'
import type { LocalState } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import type { WorkPool } from '../../node/work-pool.js'
import { ENVELOPE_SIZE, nativeCrypto, type Keyring, type Screener } from '../../protocol/index.js'

const crypto = nativeCrypto()

describe('Delivery.close', () => {
  it('leaves a queued backlog unscreened and unstored: at most the screening in progress finishes', async () => {
    let screened = 0
    const stored: Uint8Array[] = []
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    let firstInTurn: () => void = () => {}
    const inTurn = new Promise<void>((resolve) => { firstInTurn = resolve })
    const delivery = createDelivery({
      crypto,
      keyring: { id: 'k' } as unknown as Keyring,
      screener: { screenAny: () => { screened++; return undefined }, screenAnyByTag: () => undefined } as unknown as Screener,
      state: {} as unknown as LocalState,
      store: {
        has: async () => false,
        // The first envelope's store waits at the gate: the rest queue behind it.
        put: async (envelope: Uint8Array) => { stored.push(envelope); firstInTurn(); await gate },
        withTag: async () => []
      },
      pool: {} as unknown as WorkPool,
      publish: async () => ({ recipients: 0 }),
      logger: silentLogger(),
      acceptStrangers: true,
      onMessage: () => {},
      onOutboxChange: () => {}
    })
    const BACKLOG = 50
    const results = Array.from({ length: BACKLOG }, () => delivery.ingest(crypto.randomBytes(ENVELOPE_SIZE), { validated: true }))
    await inTurn
    const screenedWhenStopping = screened
    expect(screenedWhenStopping).toBe(1)
    delivery.close()
    release()
    await delivery.idle()
    expect(screened - screenedWhenStopping).toBeLessThanOrEqual(1)
    const outcomes = await Promise.all(results)
    expect(outcomes.filter((r) => r === 'accepted')).toHaveLength(stored.length)
    expect(outcomes.filter((r) => r === 'deferred').length).toBeGreaterThanOrEqual(BACKLOG - 2)
    // Nothing new is taken in after close.
    expect(await delivery.ingest(crypto.randomBytes(ENVELOPE_SIZE), { validated: true })).toBe('deferred')
    expect(screened).toBe(screenedWhenStopping)
  })
})
