/**
 * Token buckets: a bucket holds at most `burst` tokens and refills at
 * `perSecond`; a request takes one token or is refused. Per-peer buckets live
 * in a map bounded by recency, so a peer that goes quiet is forgotten (and
 * comes back with a full bucket, which it would have had by then anyway).
 */
import type { RateLimit } from './constants.js'

/** One bucket. */
export interface TokenBucket {
  /** Takes a token if there is one. */
  take(): boolean
}

/** Buckets per key (a peer id), the least recently used forgotten beyond `maxKeys`. */
export interface KeyedLimiter {
  take(key: string): boolean
  /** Keys tracked now. */
  readonly size: number
}

/** The clock of the buckets: monotonic milliseconds. */
export type Clock = () => number

const monotonic: Clock = () => performance.now()

/** Throws RangeError naming the option unless `limit` is a usable bucket. */
export function checkRateLimit (limit: RateLimit, name: string): void {
  if (typeof limit !== 'object' || limit === null) throw new TypeError(`"${name}" expected { perSecond, burst }`)
  if (typeof limit.perSecond !== 'number' || !(limit.perSecond > 0) || !Number.isFinite(limit.perSecond)) {
    throw new RangeError(`"${name}.perSecond" expected a positive number, got ${String(limit.perSecond)}`)
  }
  if (!Number.isSafeInteger(limit.burst) || limit.burst < 1) {
    throw new RangeError(`"${name}.burst" expected a positive integer, got ${String(limit.burst)}`)
  }
}

/** A bucket starting full. */
export function createTokenBucket (limit: RateLimit, clock: Clock = monotonic): TokenBucket {
  let tokens = limit.burst
  let updated = clock()
  return {
    take () {
      const now = clock()
      tokens = Math.min(limit.burst, tokens + (now - updated) / 1000 * limit.perSecond)
      updated = now
      if (tokens < 1) return false
      tokens -= 1
      return true
    }
  }
}

/** Buckets per key, at most `maxKeys` of them. */
export function createKeyedLimiter (limit: RateLimit, maxKeys: number, clock: Clock = monotonic): KeyedLimiter {
  const buckets = new Map<string, TokenBucket>()
  return {
    take (key) {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        bucket = createTokenBucket(limit, clock)
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!)
      } else {
        buckets.delete(key) // re-inserted below: Map order is recency order
      }
      buckets.set(key, bucket)
      return bucket.take()
    },
    get size () { return buckets.size }
  }
}
