/**
 * The map pins a node keeps (SPEC §15.10), in the sublevel
 * `collectives-pins` (`<pin id>` → the pin), all of them in memory too: a pin
 * is small and the set is bounded. Ours are kept until they expire; those of
 * others at most {@link MAX_PINS_OF_OTHERS}, the soonest-expiring dropped
 * first (a newcomer that would expire soonest is refused instead).
 *
 * Inserts return their writes, as the feed store's do: they join the batch
 * of the step that opened the pin (delivery's turn), and memory follows once
 * that batch is committed.
 */
import type { Level } from 'level'
import { jsonSublevel, type Json, type LocalOp } from '../local-state.js'

/** Pins of others kept at most: ~600 bytes each on disk and in memory, so about 6 MB at the bound. */
export const MAX_PINS_OF_OTHERS = 10_000

/** A pin as stored. */
export interface StoredPin {
  /** Message id (32 hex) then signer id (64 hex), as post ids. */
  readonly id: string
  readonly kind: 'police' | 'danger' | 'help' | 'info' | 'other'
  readonly note: string
  readonly geohash: string
  /** Author's clock, unix ms. */
  readonly sentAt: number
  /** Our clock, unix ms. */
  readonly receivedAt: number
  /** The envelope's expiry: the pin's end everywhere. */
  readonly expiresAt: number
  readonly audience: 'world' | { readonly group: { readonly id: string, readonly name: string } }
  /** Absent for an anonymous pin (a one-time key signed it, or its certificate could not name anyone). */
  readonly author?: { readonly id: string, readonly name?: string }
  readonly mine: boolean
}

/** Why an insert kept nothing. */
export type PinRefusal = 'duplicate' | 'expired' | 'full'

/** Writes of one step, and what to do once they are committed. */
export interface PreparedPins {
  readonly ops: LocalOp[]
  committed(): void
}

/** The pin store; see the file comment. */
export interface PinStore {
  /** Unexpired pins, in no particular order. */
  live(now: number): StoredPin[]
  /** The writes that keep `pin` (evicting the soonest-expiring pin of others past the bound), or why not. */
  prepareInsert(pin: StoredPin, now: number): PreparedPins | PinRefusal
  /** The writes that delete expired pins; `removed` counts them. */
  prepareHousekeeping(now: number): PreparedPins & { removed: number }
}

/** Bounds of the store (tests lower them). */
export interface PinStoreLimits {
  /** @default MAX_PINS_OF_OTHERS */
  maxPinsOfOthers?: number
}

/** Opens the pin store: reads every pin into memory. */
export async function openPinStore (db: Level<string, Json>, limits: PinStoreLimits = {}): Promise<PinStore> {
  const maxOthers = limits.maxPinsOfOthers ?? MAX_PINS_OF_OTHERS
  const sublevel = jsonSublevel(db, 'collectives-pins')
  const pins = new Map<string, StoredPin>()
  for (const value of (await sublevel.values().all()) as unknown as StoredPin[]) {
    if (typeof value?.id === 'string' && typeof value.expiresAt === 'number') pins.set(value.id, value)
  }
  let others = [...pins.values()].filter((p) => !p.mine).length

  /** The pin of others that expires first. */
  function soonestOfOthers (): StoredPin | undefined {
    let soonest: StoredPin | undefined
    for (const pin of pins.values()) if (!pin.mine && (soonest === undefined || pin.expiresAt < soonest.expiresAt)) soonest = pin
    return soonest
  }

  return {
    live: (now) => [...pins.values()].filter((p) => p.expiresAt > now),

    prepareInsert (pin, now) {
      if (pins.has(pin.id)) return 'duplicate'
      if (pin.expiresAt <= now) return 'expired'
      const ops: LocalOp[] = [{ type: 'put', sublevel, key: pin.id, value: pin as unknown as Json }]
      let evicted: StoredPin | undefined
      if (!pin.mine && others >= maxOthers) {
        evicted = soonestOfOthers()
        if (evicted === undefined || pin.expiresAt <= evicted.expiresAt) return 'full'
        ops.push({ type: 'del', sublevel, key: evicted.id })
      }
      return {
        ops,
        committed () {
          if (evicted !== undefined && pins.delete(evicted.id)) others--
          if (pins.has(pin.id)) return
          pins.set(pin.id, pin)
          if (!pin.mine) others++
        }
      }
    },

    prepareHousekeeping (now) {
      const expired = [...pins.values()].filter((p) => p.expiresAt <= now)
      return {
        removed: expired.length,
        ops: expired.map((p) => ({ type: 'del', sublevel, key: p.id })),
        committed () {
          for (const pin of expired) if (pins.delete(pin.id) && !pin.mine) others--
        }
      }
    }
  }
}
