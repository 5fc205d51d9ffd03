/**
 * World and circle post envelopes look like every other envelope (SPEC §2.1,
 * §14.3), with the statistics of test/unit/indistinguishable.test.ts: per
 * field (salt, tag, sealed body, ephemeral without its top byte) a byte
 * chi-square against uniform, a per-bit balance, a two-sample chi-square
 * against cover, and the top bit of the ephemeral in 40-60% of envelopes.
 * Seeded (test/vectors/deterministic-crypto.ts) so the run is reproducible;
 * KOMRADE_STATS_SEED=random draws another sample. The reasoning behind the
 * critical values is in indistinguishable.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import {
  circleHandoff, createCircleRing, createIdentity, encodePost, encodeProfile, expiryFor, nativeCrypto, newCircleChain,
  publicIdentityOf, sealCirclePost, sealCover, sealWorldPost, worldKey,
  DEFAULT_TTL_MINUTES, ENVELOPE_SIZE, EXPIRY_LENGTH, EXPIRY_OFFSET, KIND_POST, KIND_PROFILE,
  TAG_LENGTH, TAG_OFFSET, type CryptoProvider
} from '../../protocol/index.js'
import { deterministicCrypto } from '../vectors/deterministic-crypto.js'
import { bitBalance, chiSquareTwoSample, chiSquareUniform, criticalValue, CRITICAL_255, drawInt, FIELDS, histogram, topBitShare } from './envelope-statistics.js'

const N = 400
const SEED = process.env.KOMRADE_STATS_SEED === 'random'
  ? `random-${Math.random().toString(36).slice(2)}`
  : process.env.KOMRADE_STATS_SEED ?? 'komrade/social-indistinguishable/v1'
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)
const KINDS = ['world post', 'world profile', 'world post part', 'circle post', 'cover'] as const
type Kind = typeof KINDS[number]

function buildSamples (crypto: CryptoProvider): Record<Kind, Uint8Array[]> {
  const out = Object.fromEntries(KINDS.map((k) => [k, [] as Uint8Array[]])) as Record<Kind, Uint8Array[]>
  const key = worldKey(crypto, 'komrade-test')
  const authors = Array.from({ length: 8 }, () => createIdentity(crypto))
  const ttlMinutes = DEFAULT_TTL_MINUTES
  const text = (): string => 'x'.repeat(1 + drawInt(crypto, 1000))
  for (let i = 0; i < N; i++) {
    const author = authors[i % authors.length]!
    // Short posts leave the most padding: the body must still look random.
    out['world post'].push(...sealWorldPost(crypto, { author, worldKey: key, kind: KIND_POST, payload: encodePost({ text: text().slice(0, 1 + drawInt(crypto, 40)) }), ttlMinutes, now: NOW }).envelopes)
    out['world profile'].push(...sealWorldPost(crypto, { author, worldKey: key, kind: KIND_PROFILE, payload: encodeProfile({ displayName: 'n', bio: text().slice(0, 400) }), ttlMinutes, now: NOW }).envelopes)
  }
  while (out['world post part'].length < N) {
    const image = { mime: 'image/jpeg' as const, bytes: crypto.randomBytes(2000 + drawInt(crypto, 8000)) }
    out['world post part'].push(...sealWorldPost(crypto, { author: authors[0]!, worldKey: key, kind: KIND_POST, payload: encodePost({ text: '', image }), ttlMinutes, now: NOW }).envelopes)
  }
  out['world post part'].length = N
  const chain = newCircleChain(crypto)
  // A member's ring makes sure the samples are real circle posts.
  const ring = createCircleRing({ crypto })
  ring.addChain(publicIdentityOf(authors[1]!), circleHandoff(chain), NOW)
  for (let i = 0; i < N; i++) {
    out['circle post'].push(...sealCirclePost(crypto, { author: authors[1]!, chain, kind: KIND_POST, payload: encodePost({ text: text() }), ttlMinutes, now: NOW }).envelopes)
  }
  if (out['circle post'].some((e) => ring.screenByTag(e) === undefined)) throw new Error('sample: a circle post did not open for the member')
  for (let i = 0; i < N; i++) out.cover.push(sealCover(crypto, expiryFor(NOW, ttlMinutes)))
  return out
}

let samples: Record<Kind, Uint8Array[]>

beforeAll(() => {
  samples = buildSamples(deterministicCrypto(nativeCrypto(), SEED))
})

describe(`social envelopes are indistinguishable from cover (seed "${SEED}", ${N} per kind)`, () => {
  it('every kind: N envelopes of exactly 2048 bytes with the same version and expiry bytes as cover', () => {
    const reference = samples.cover[0]!.subarray(0, EXPIRY_OFFSET + EXPIRY_LENGTH)
    for (const kind of KINDS) {
      expect(samples[kind], kind).toHaveLength(N)
      for (const e of samples[kind]) {
        expect(e.length, kind).toBe(ENVELOPE_SIZE)
        expect([...e.subarray(0, EXPIRY_OFFSET + EXPIRY_LENGTH)], kind).toEqual([...reference])
      }
    }
  })

  describe.each(KINDS.filter((k) => k !== 'cover'))('%s', (kind) => {
    it.each(FIELDS)('$name: byte frequencies do not reject uniformity', (field) => {
      const stat = chiSquareUniform(histogram(samples[kind], field))
      expect(stat, `${kind} / ${field.name}: chi-square ${stat.toFixed(1)}`).toBeLessThan(CRITICAL_255)
    })

    it.each(FIELDS)('$name: every bit position is balanced', (field) => {
      const { stat, df } = bitBalance(samples[kind], field)
      expect(stat, `${kind} / ${field.name}: chi-square ${stat.toFixed(1)} on ${df} df`).toBeLessThan(criticalValue(df))
    })

    it.each(FIELDS)('$name: byte histogram matches cover', (field) => {
      const { stat, df } = chiSquareTwoSample(histogram(samples[kind], field), histogram(samples.cover, field))
      expect(df).toBe(255)
      expect(stat, `${kind} vs cover / ${field.name}: chi-square ${stat.toFixed(1)}`).toBeLessThan(CRITICAL_255)
    })

    it('the top bit of the ephemeral field is set in 40-60% of envelopes', () => {
      const share = topBitShare(samples[kind])
      expect(share).toBeGreaterThanOrEqual(0.4)
      expect(share).toBeLessThanOrEqual(0.6)
    })
  })

  it('negative control: a tag that is the world tag of a fixed salt would be caught (all tags equal)', () => {
    const fixed = samples['world post'].map((e) => { const c = e.slice(); c.set(samples['world post'][0]!.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH), TAG_OFFSET); return c })
    expect(chiSquareUniform(histogram(fixed, FIELDS[1]!))).toBeGreaterThan(CRITICAL_255)
  })
})
