/**
 * Proof of work scaled by lifetime (Bitmessage's idea, far lighter). The work
 * value of an envelope is the first 8 bytes, big-endian, of
 * SHA-256(nonce || SHA-256(envelope without its nonce field)); it must be
 * below 2^64 / requiredTrials(ttl). Verifying costs one hash of the envelope.
 */
import { AbortError } from './errors.js'
import { assertInteger, concatBytes, readUint32BE } from './bytes.js'
import {
  CLOCK_SKEW_MINUTES, ENVELOPE_SIZE, EXPIRY_OFFSET, MAX_TTL_MINUTES, MINUTE_MS, NONCE_LENGTH,
  NONCE_OFFSET, WORK_BASE_TRIALS, WORK_TRIALS_PER_MINUTE
} from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'

const TWO_POW_64 = 1n << 64n
const TWO_POW_32 = 0x1_0000_0000

/** Expected hash trials for an envelope that lives `ttlMinutes` (SPEC §5). */
export function requiredTrials (ttlMinutes: number): number {
  const ttl = Math.min(Math.max(0, Math.floor(ttlMinutes)), MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES)
  return WORK_BASE_TRIALS + WORK_TRIALS_PER_MINUTE * ttl
}

/** The target a work value must stay below: floor(2^64 / requiredTrials). */
export function workTarget (ttlMinutes: number): bigint {
  return TWO_POW_64 / BigInt(requiredTrials(ttlMinutes))
}

/** The unix minute `now` (ms) falls in. */
export function minuteOf (nowMs: number): number {
  return Math.floor(nowMs / MINUTE_MS)
}

/** SHA-256 of the envelope with the nonce field left out. */
export function contentDigest (crypto: CryptoProvider, envelope: Uint8Array): Uint8Array {
  return crypto.sha256(concatBytes(envelope.subarray(0, NONCE_OFFSET), envelope.subarray(NONCE_OFFSET + NONCE_LENGTH)))
}

/** The 64-bit work value of an envelope as it stands. */
export function workValue (crypto: CryptoProvider, envelope: Uint8Array): bigint {
  const digest = crypto.sha256(concatBytes(envelope.subarray(NONCE_OFFSET, NONCE_OFFSET + NONCE_LENGTH), contentDigest(crypto, envelope)))
  return (BigInt(readUint32BE(digest, 0)) << 32n) | BigInt(readUint32BE(digest, 4))
}

/**
 * The lifetime a verifier charges for: minutes from now to expiry, less the
 * tolerated clock skew, never negative.
 */
export function chargedTtlMinutes (expiryMinute: number, nowMs: number): number {
  return Math.max(0, expiryMinute - minuteOf(nowMs) - CLOCK_SKEW_MINUTES)
}

/** True when the envelope's nonce meets the target for its remaining lifetime. */
export function hasEnoughWork (crypto: CryptoProvider, envelope: Uint8Array, nowMs: number): boolean {
  const expiryMinute = readUint32BE(envelope, EXPIRY_OFFSET)
  return workValue(crypto, envelope) < workTarget(chargedTtlMinutes(expiryMinute, nowMs))
}

/** Options of {@link solveWork}. */
export interface SolveWorkOptions {
  /** Current time in ms; the TTL charged is the envelope's expiry minus this. @default Date.now() */
  now?: number
  /** Trials between checks of `signal` and yields to the event loop. @default 65536 */
  batch?: number
  /** Cancels the search with an AbortError. */
  signal?: AbortSignal
}

interface Search {
  input: Uint8Array
  targetHigh: number
  targetLow: number
}

function prepareSearch (crypto: CryptoProvider, envelope: Uint8Array, nowMs: number): Search {
  if (!(envelope instanceof Uint8Array) || envelope.length !== ENVELOPE_SIZE) {
    throw new RangeError(`"envelope" expected Uint8Array of length ${ENVELOPE_SIZE}`)
  }
  const expiryMinute = readUint32BE(envelope, EXPIRY_OFFSET)
  // Mint for the full remaining lifetime (no skew discount): a verifier whose
  // clock lags ours by up to the skew still accepts it.
  const target = workTarget(Math.max(0, expiryMinute - minuteOf(nowMs)))
  const input = new Uint8Array(NONCE_LENGTH + 32)
  input.set(crypto.randomBytes(NONCE_LENGTH), 0) // random start: parallel searches never overlap
  input.set(contentDigest(crypto, envelope), NONCE_LENGTH)
  return { input, targetHigh: Number(target >> 32n), targetLow: Number(target & 0xffffffffn) }
}

/** Runs up to `trials` attempts; returns true when `search.input` holds a solving nonce. */
function tryNonces (crypto: CryptoProvider, search: Search, trials: number): boolean {
  const { input, targetHigh, targetLow } = search
  for (let i = 0; i < trials; i++) {
    const digest = crypto.sha256(input)
    const high = readUint32BE(digest, 0)
    if (high < targetHigh || (high === targetHigh && readUint32BE(digest, 4) < targetLow)) return true
    // Increment the 64-bit nonce (bytes 0..7 of input), big-endian.
    for (let j = NONCE_LENGTH - 1; j >= 0; j--) {
      input[j] = ((input[j] as number) + 1) & 0xff
      if (input[j] !== 0) break
    }
  }
  return false
}

/**
 * Finds a nonce that meets the envelope's target and returns a copy of the
 * envelope carrying it. Synchronous: run it in a worker on a busy thread.
 */
export function solveWork (crypto: CryptoProvider, envelope: Uint8Array, options: Omit<SolveWorkOptions, 'signal'> = {}): Uint8Array {
  const search = prepareSearch(crypto, envelope, options.now ?? Date.now())
  while (!tryNonces(crypto, search, TWO_POW_32)) { /* 2^32 trials without success: keep going */ }
  const out = Uint8Array.from(envelope) // a copy, also when given a Buffer
  out.set(search.input.subarray(0, NONCE_LENGTH), NONCE_OFFSET)
  return out
}

/**
 * Like {@link solveWork}, but yields to the event loop every `batch` trials
 * and stops with an AbortError when `signal` fires.
 */
export async function solveWorkAsync (crypto: CryptoProvider, envelope: Uint8Array, options: SolveWorkOptions = {}): Promise<Uint8Array> {
  const batch = options.batch ?? 65_536
  assertInteger(batch, 'batch', 1, TWO_POW_32)
  const search = prepareSearch(crypto, envelope, options.now ?? Date.now())
  for (;;) {
    if (options.signal?.aborted === true) throw new AbortError('Proof of work was cancelled')
    if (tryNonces(crypto, search, batch)) break
    await new Promise<void>((resolve) => setTimeout(resolve, 0))
  }
  const out = Uint8Array.from(envelope) // a copy, also when given a Buffer
  out.set(search.input.subarray(0, NONCE_LENGTH), NONCE_OFFSET)
  return out
}
