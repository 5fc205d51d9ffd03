/**
 * Envelopes of every kind look like cover (SPEC §2.1, §3.2, §4.6).
 *
 * For each kind (first contact, accept, session message, receipt, part of a
 * multi-part payload, cover) we seal N envelopes and check, field by field
 * (salt, tag, sealed body, and the ephemeral key without its top byte):
 *
 *  1. byte-frequency chi-square against the uniform distribution;
 *  2. per-bit-position balance (catches a leak at one position that a byte
 *     histogram pooled over 1963 positions would dilute);
 *  3. two-sample chi-square of the byte histogram against cover's;
 *  4. the top bit of the ephemeral field is set in 40-60% of envelopes;
 *  5. every envelope is 2048 bytes and the header bytes outside the claim
 *     (version, expiry) are identical across kinds for the same TTL and clock.
 *
 * Statistics. A byte histogram has 256 bins, so the chi-square statistic
 * sum((observed - expected)^2 / expected) has 255 degrees of freedom under
 * uniformity (one constraint: the counts sum to n); the two-sample test of
 * homogeneity on a 2x256 table also has (2-1)(256-1) = 255. The 0.999
 * quantile of chi-square(255) is 330.52: a statistic above it rejects at
 * p < 0.001. For other degrees of freedom (bit balance: one per bit
 * position, 15,704 for the body) we use the Wilson-Hilferty approximation,
 * which gives 330.5 at 255 (checked below) and is better still for larger df.
 * Expected counts are >= 18 per bin for the smallest field (tag: 16 bytes x N),
 * well above the usual 5 needed for the chi-square approximation.
 *
 * Reproducibility. Each statistic rejects a truly random sample with
 * probability 0.001, and this file runs ~70 of them, so with fresh randomness
 * about one run in fifteen would fail by chance. The envelopes are therefore
 * sealed with a seeded provider (test/vectors/deterministic-crypto.ts): every
 * random byte the protocol asks for (salts, ephemeral secrets, cover bytes,
 * message ids) comes from a SHA-256 counter stream; every primitive is the
 * native one. The protocol code is unchanged, so the result is the
 * protocol's, and it is the same on every run. The seed is not tuned: set
 * KOMRADE_STATS_SEED=random (or any string) to draw another sample.
 * Envelopes are not worked: the nonce field is not part of the claim.
 *
 * Negative controls at the end show each statistic rejects what it should.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import {
  createIdentity, createKeyring, encodeReceipt, expiryFor, nativeCrypto, sealCover,
  DEFAULT_TTL_MINUTES, ENVELOPE_SIZE, EXPIRY_LENGTH, EXPIRY_OFFSET,
  FIRST_CONTACT_BODY_CAPACITY, INNER_HEADER_LENGTH, KIND_RECEIPT, MAX_RECEIPT_IDS, SALT_OFFSET,
  SEALED_BODY_OFFSET, SESSION_BODY_CAPACITY, TAG_LENGTH, TAG_OFFSET,
  type CryptoProvider, type Keyring
} from '../../protocol/index.js'
import { deterministicCrypto } from '../vectors/deterministic-crypto.js'
import { bitBalance, chiSquareTwoSample, chiSquareUniform, criticalValue, CRITICAL_255, drawInt, FIELDS, histogram, topBitShare, TOP_BYTE } from './envelope-statistics.js'

/** Envelopes per kind. */
const N = 400
const SEED = process.env.KOMRADE_STATS_SEED === 'random'
  ? `random-${Math.random().toString(36).slice(2)}`
  : process.env.KOMRADE_STATS_SEED ?? 'komrade/indistinguishable/v1'
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)

// ---------------------------------------------------------------------------
// Samples

const KINDS = ['first contact', 'accept', 'session message', 'receipt', 'multi-part part', 'cover'] as const
type Kind = typeof KINDS[number]

interface Samples {
  envelopes: Record<Kind, Uint8Array[]>
  /** Session envelopes and their payload lengths, for the unencrypted-padding control. */
  sessionLengths: number[]
}

function seal (keyring: Keyring, to: Keyring, payload: Uint8Array, kind?: number): Uint8Array[] {
  return keyring.seal(to.identity, payload, kind === undefined ? { now: NOW } : { now: NOW, kind }).envelopes
}

function buildSamples (crypto: CryptoProvider): Samples {
  const keyring = (): Keyring => createKeyring({ crypto, identity: createIdentity(crypto) })
  const alice = keyring(); const bob = keyring(); const carol = keyring(); const dave = keyring()
  const envelopes = Object.fromEntries(KINDS.map((k) => [k, [] as Uint8Array[]])) as Record<Kind, Uint8Array[]>

  // First contacts Alice -> Bob, payloads of every length up to capacity.
  for (let i = 0; i < N; i++) {
    const payload = crypto.randomBytes(drawInt(crypto, FIRST_CONTACT_BODY_CAPACITY + 1))
    envelopes['first contact'].push(...seal(alice, bob, payload))
  }
  // Bob answers every one of them; half the answers are bare handshakes, half carry a payload.
  for (const hello of envelopes['first contact']) {
    const offer = bob.screenFirstContact(hello, { now: NOW })?.offer
    if (offer === undefined) throw new Error('sample: first contact did not open')
    const payload = drawInt(crypto, 2) === 0 ? new Uint8Array(0) : crypto.randomBytes(drawInt(crypto, SESSION_BODY_CAPACITY + 1))
    envelopes.accept.push(...bob.accept(offer, payload, { now: NOW }).envelopes)
  }
  // A session Carol <-> Dave for session messages, receipts and multi-part payloads.
  const hello = seal(carol, dave, Uint8Array.of(1))[0]!
  const offer = dave.screenFirstContact(hello, { now: NOW })!.offer!
  const answer = dave.accept(offer, new Uint8Array(0), { now: NOW }).envelopes[0]!
  if (carol.screenByTag(answer)?.via !== 'accept') throw new Error('sample: accept did not open')

  const sessionLengths: number[] = []
  for (let i = 0; i < N; i++) {
    // Short payloads are the common case and leave the most padding: favour them.
    const length = drawInt(crypto, 2) === 0 ? drawInt(crypto, 64) : drawInt(crypto, SESSION_BODY_CAPACITY + 1)
    sessionLengths.push(length)
    envelopes['session message'].push(...seal(carol, dave, crypto.randomBytes(length)))
  }
  for (let i = 0; i < N; i++) {
    const ids = Array.from({ length: 1 + drawInt(crypto, MAX_RECEIPT_IDS) }, () => crypto.randomBytes(16))
    envelopes.receipt.push(...seal(dave, carol, encodeReceipt(ids), KIND_RECEIPT))
  }
  while (envelopes['multi-part part'].length < N) {
    const length = SESSION_BODY_CAPACITY + 1 + drawInt(crypto, 5 * SESSION_BODY_CAPACITY)
    envelopes['multi-part part'].push(...seal(carol, dave, crypto.randomBytes(length)))
  }
  envelopes['multi-part part'].length = N
  for (let i = 0; i < N; i++) envelopes.cover.push(sealCover(crypto, expiryFor(NOW, DEFAULT_TTL_MINUTES)))
  return { envelopes, sessionLengths }
}

// ---------------------------------------------------------------------------
// Tests

let samples: Samples

beforeAll(() => {
  samples = buildSamples(deterministicCrypto(nativeCrypto(), SEED))
})

describe(`indistinguishability from cover (seed "${SEED}", ${N} envelopes per kind)`, () => {
  it('the critical values are what the comment says', () => {
    expect(Math.abs(criticalValue(255) - CRITICAL_255)).toBeLessThan(0.5)
    // The approximation against exact quantiles (scipy.stats.chi2.ppf(0.999, df)) at the df used here.
    expect(Math.abs(criticalValue(31) - 61.098)).toBeLessThan(0.5)
    expect(Math.abs(criticalValue(1000) - 1143.917)).toBeLessThan(0.5)
    expect(Math.abs(criticalValue(15_704) - 16_257.365)).toBeLessThan(1)
  })

  it('every kind: N envelopes of exactly 2048 bytes, with the same version and expiry bytes', () => {
    const reference = samples.envelopes.cover[0]!.subarray(0, EXPIRY_OFFSET + EXPIRY_LENGTH)
    for (const kind of KINDS) {
      expect(samples.envelopes[kind], kind).toHaveLength(N)
      for (const e of samples.envelopes[kind]) {
        expect(e.length, kind).toBe(ENVELOPE_SIZE)
        expect([...e.subarray(0, EXPIRY_OFFSET + EXPIRY_LENGTH)], kind).toEqual([...reference])
      }
    }
  })

  describe.each(KINDS)('%s', (kind) => {
    it.each(FIELDS)('$name: byte frequencies do not reject uniformity (chi-square, 255 df, p < 0.001)', (field) => {
      const stat = chiSquareUniform(histogram(samples.envelopes[kind], field))
      expect(stat, `${kind} / ${field.name}: chi-square ${stat.toFixed(1)}`).toBeLessThan(CRITICAL_255)
    })

    it.each(FIELDS)('$name: every bit position is balanced (chi-square, one df per bit, p < 0.001)', (field) => {
      const { stat, df } = bitBalance(samples.envelopes[kind], field)
      expect(stat, `${kind} / ${field.name}: chi-square ${stat.toFixed(1)} on ${df} df`).toBeLessThan(criticalValue(df))
    })

    it('the top bit of the ephemeral field is set in 40-60% of envelopes', () => {
      const share = topBitShare(samples.envelopes[kind])
      expect(share, kind).toBeGreaterThanOrEqual(0.4)
      expect(share, kind).toBeLessThanOrEqual(0.6)
    })

    if (kind !== 'cover') {
      it.each(FIELDS)('$name: byte histogram matches cover (two-sample chi-square, p < 0.001)', (field) => {
        const { stat, df } = chiSquareTwoSample(histogram(samples.envelopes[kind], field), histogram(samples.envelopes.cover, field))
        expect(df).toBe(255)
        expect(stat, `${kind} vs cover / ${field.name}: chi-square ${stat.toFixed(1)}`).toBeLessThan(CRITICAL_255)
      })
    }
  })
})

describe('negative controls: the same statistics reject what is not random', () => {
  const tag = FIELDS.find((f) => f.name === 'tag')!
  const body = FIELDS.find((f) => f.name === 'sealed body')!

  it('tags that are a counter are rejected (uniformity and two-sample)', () => {
    const counted = samples.envelopes.cover.map((e, i) => {
      const copy = e.slice()
      copy.fill(0, TAG_OFFSET, TAG_OFFSET + TAG_LENGTH)
      Buffer.from(copy.buffer).writeUInt32BE(i, TAG_OFFSET + TAG_LENGTH - 4)
      return copy
    })
    expect(chiSquareUniform(histogram(counted, tag))).toBeGreaterThan(CRITICAL_255)
    const twoSample = chiSquareTwoSample(histogram(counted, tag), histogram(samples.envelopes.cover, tag))
    expect(twoSample.stat).toBeGreaterThan(criticalValue(twoSample.df))
    expect(bitBalance(counted, tag).stat).toBeGreaterThan(criticalValue(bitBalance(counted, tag).df))
  })

  it('a body whose zero padding was left unencrypted is rejected (uniformity and two-sample)', () => {
    // What a sealer that encrypted only header and payload would send: ciphertext, then the padding in clear.
    const leaky = samples.envelopes['session message'].map((e, i) => {
      const copy = e.slice()
      copy.fill(0, SEALED_BODY_OFFSET + INNER_HEADER_LENGTH + samples.sessionLengths[i]!, ENVELOPE_SIZE - 16)
      return copy
    })
    expect(chiSquareUniform(histogram(leaky, body))).toBeGreaterThan(CRITICAL_255)
    const twoSample = chiSquareTwoSample(histogram(leaky, body), histogram(samples.envelopes.cover, body))
    expect(twoSample.stat).toBeGreaterThan(criticalValue(twoSample.df))
  })

  it('a subtle leak, one cleartext byte in the body (the inner kind), is caught by the bit-position test', () => {
    const leaky = samples.envelopes['session message'].map((e) => {
      const copy = e.slice()
      copy[SEALED_BODY_OFFSET] = 0x01
      return copy
    })
    const { stat, df } = bitBalance(leaky, body)
    expect(stat).toBeGreaterThan(criticalValue(df))
  })

  it('an ephemeral whose top bit is never set (the coin forgotten) is outside 40-60%', () => {
    const cleared = samples.envelopes.accept.map((e) => {
      const copy = e.slice()
      copy[TOP_BYTE] = (copy[TOP_BYTE] as number) & 0x7f
      return copy
    })
    const share = topBitShare(cleared)
    expect(share < 0.4 || share > 0.6).toBe(true)
  })

  it('a salt byte whose top bit is always clear is caught by the bit-position test', () => {
    const biased = samples.envelopes.cover.map((e) => {
      const copy = e.slice()
      copy[SALT_OFFSET] = (copy[SALT_OFFSET] as number) & 0x7f
      return copy
    })
    const salt = FIELDS.find((f) => f.name === 'salt')!
    const { stat, df } = bitBalance(biased, salt)
    expect(stat).toBeGreaterThan(criticalValue(df))
  })
})
