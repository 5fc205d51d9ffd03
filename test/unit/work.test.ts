/**
 * Proof of work and envelope validation: the target formula of SPEC §5, the
 * validation order of SPEC §7, clock skew, cancellation.
 */
import { describe, expect, it } from 'vitest'
import {
  checkEnvelope, CLOCK_SKEW_MINUTES, DEFAULT_TTL_MINUTES, ENVELOPE_SIZE, EXPIRY_OFFSET, hasEnoughWork,
  MAX_TTL_MINUTES, MINUTE_MS, nativeCrypto, nobleCrypto, requiredTrials, sealCover, solveWork, solveWorkAsync,
  workTarget, workValue
} from '../../protocol/index.js'

const native = nativeCrypto()
const NOW = 1_800_000_000_000
const nowMinute = Math.floor(NOW / MINUTE_MS)

function setExpiry (envelope: Uint8Array, minute: number): void {
  new DataView(envelope.buffer, envelope.byteOffset).setUint32(EXPIRY_OFFSET, minute)
}

describe('work target', () => {
  it('follows trials(t) = 16384 + 80 t and target = floor(2^64 / trials)', () => {
    expect(requiredTrials(0)).toBe(16_384)
    expect(requiredTrials(DEFAULT_TTL_MINUTES)).toBe(246_784)
    expect(workTarget(DEFAULT_TTL_MINUTES)).toBe((1n << 64n) / 246_784n)
    // Capped at the longest lifetime a validator accepts.
    expect(requiredTrials(10 * MAX_TTL_MINUTES)).toBe(requiredTrials(MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES))
  })

  it('a solved envelope validates with both providers, and the work value is below target', () => {
    const envelope = solveWork(native, sealCover(native, nowMinute + 30), { now: NOW })
    expect(workValue(native, envelope)).toBeLessThan(workTarget(30))
    expect(workValue(nobleCrypto(), envelope)).toBe(workValue(native, envelope))
    expect(checkEnvelope(native, envelope, { now: NOW })).toEqual({ valid: true, expiryMinute: nowMinute + 30 })
    expect(checkEnvelope(nobleCrypto(), envelope, { now: NOW })).toEqual({ valid: true, expiryMinute: nowMinute + 30 })
  })

  it('stays valid as the envelope ages, and for a verifier whose clock lags by the skew', () => {
    const envelope = solveWork(native, sealCover(native, nowMinute + 60), { now: NOW })
    expect(hasEnoughWork(native, envelope, NOW + 59 * MINUTE_MS)).toBe(true)
    expect(hasEnoughWork(native, envelope, NOW - CLOCK_SKEW_MINUTES * MINUTE_MS)).toBe(true)
  })

  it('an envelope changed after solving fails the work check', () => {
    const envelope = solveWork(native, sealCover(native, nowMinute + 2880), { now: NOW })
    const changed = envelope.slice()
    changed[ENVELOPE_SIZE - 1] = changed[ENVELOPE_SIZE - 1]! ^ 1
    // One flipped bit gives a fresh random value: below target with probability 1/246,784.
    expect(checkEnvelope(native, changed, { now: NOW })).toEqual({ valid: false, reason: 'insufficient-work' })
  })

  it('solveWorkAsync stops with an AbortError', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(solveWorkAsync(native, sealCover(native, nowMinute + 60), { now: NOW, signal: controller.signal }))
      .rejects.toMatchObject({ name: 'AbortError' })
    const solved = await solveWorkAsync(native, sealCover(native, nowMinute + 1), { now: NOW, batch: 1000 })
    expect(checkEnvelope(native, solved, { now: NOW }).valid).toBe(true)
  })
})

describe('checkEnvelope', () => {
  const valid = solveWork(native, sealCover(native, nowMinute + 10), { now: NOW })

  it.each([
    ['wrong-size', new Uint8Array(ENVELOPE_SIZE - 1)],
    ['wrong-size', new Uint8Array(ENVELOPE_SIZE + 1)],
    ['wrong-size', 'not bytes'],
    ['wrong-size', null]
  ])('rejects %s input', (reason, input) => {
    expect(checkEnvelope(native, input, { now: NOW })).toEqual({ valid: false, reason })
  })

  it('rejects an unknown version before looking at anything else', () => {
    const v2 = valid.slice()
    v2[0] = 2
    expect(checkEnvelope(native, v2, { now: NOW })).toEqual({ valid: false, reason: 'unknown-version' })
  })

  it('rejects expiry outside [now - skew, now + MAX_TTL + skew]', () => {
    const expired = valid.slice()
    setExpiry(expired, nowMinute - CLOCK_SKEW_MINUTES - 1)
    expect(checkEnvelope(native, expired, { now: NOW })).toEqual({ valid: false, reason: 'expired' })
    const far = valid.slice()
    setExpiry(far, nowMinute + MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES + 1)
    expect(checkEnvelope(native, far, { now: NOW })).toEqual({ valid: false, reason: 'expiry-too-far' })
    // Just expired, within the skew: still accepted (work for t = 0 is the base only).
    const recent = solveWork(native, sealCover(native, nowMinute - CLOCK_SKEW_MINUTES), { now: NOW })
    expect(checkEnvelope(native, recent, { now: NOW }).valid).toBe(true)
  })
})
