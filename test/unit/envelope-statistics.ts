/**
 * The statistics of the indistinguishability tests (test/unit/indistinguishable.test.ts,
 * social-indistinguishable.test.ts): byte histograms and bit balance of the envelope fields that
 * must look random, chi-square against uniform and between two samples, at p = 0.999.
 */
import {
  EPHEMERAL_LENGTH, EPHEMERAL_OFFSET, SALT_LENGTH, SALT_OFFSET, SEALED_BODY_LENGTH, SEALED_BODY_OFFSET, TAG_LENGTH, TAG_OFFSET,
  type CryptoProvider
} from '../../protocol/index.js'

/** chi-square(0.999) quantile for 255 degrees of freedom (tables; R: qchisq(0.999, 255) = 330.5197). */
export const CRITICAL_255 = 330.52
/** z such that P(Z > z) = 0.001 for a standard normal. */
export const Z_0_999 = 3.090232

/** Wilson-Hilferty approximation of the chi-square quantile at p = 0.999 for `df` degrees of freedom. */
export function criticalValue (df: number): number {
  const a = 2 / (9 * df)
  return df * (1 - a + Z_0_999 * Math.sqrt(a)) ** 3
}

export interface Field { name: string, offset: number, length: number }

export const FIELDS: Field[] = [
  { name: 'salt', offset: SALT_OFFSET, length: SALT_LENGTH },
  { name: 'tag', offset: TAG_OFFSET, length: TAG_LENGTH },
  { name: 'sealed body', offset: SEALED_BODY_OFFSET, length: SEALED_BODY_LENGTH },
  // The top byte holds the random top bit and the key's high bits, below 2^255 - 19: tested apart.
  { name: 'ephemeral (bytes 0..30)', offset: EPHEMERAL_OFFSET, length: EPHEMERAL_LENGTH - 1 }
]
export const TOP_BYTE = EPHEMERAL_OFFSET + EPHEMERAL_LENGTH - 1

export function histogram (envelopes: Uint8Array[], field: Field): Float64Array {
  const counts = new Float64Array(256)
  for (const e of envelopes) for (let i = field.offset; i < field.offset + field.length; i++) counts[e[i] as number]! += 1
  return counts
}

/** Chi-square statistic of a byte histogram against uniform (255 degrees of freedom). */
export function chiSquareUniform (counts: Float64Array): number {
  const total = counts.reduce((s, c) => s + c, 0)
  const expected = total / 256
  let stat = 0
  for (const c of counts) stat += (c - expected) ** 2 / expected
  return stat
}

/** Chi-square test of homogeneity of two histograms; bins empty in both are left out. */
export function chiSquareTwoSample (a: Float64Array, b: Float64Array): { stat: number, df: number } {
  const totalA = a.reduce((s, c) => s + c, 0)
  const totalB = b.reduce((s, c) => s + c, 0)
  const total = totalA + totalB
  let stat = 0
  let bins = 0
  for (let i = 0; i < 256; i++) {
    const column = a[i]! + b[i]!
    if (column === 0) continue
    bins += 1
    const expectedA = column * totalA / total
    const expectedB = column * totalB / total
    stat += (a[i]! - expectedA) ** 2 / expectedA + (b[i]! - expectedB) ** 2 / expectedB
  }
  return { stat, df: bins - 1 }
}

/**
 * Per-bit-position balance: for each of the field's bits, z = (ones - n/2) / sqrt(n/4) over the n
 * envelopes; the sum of z^2 is chi-square with one degree of freedom per bit.
 */
export function bitBalance (envelopes: Uint8Array[], field: Field): { stat: number, df: number } {
  const ones = new Float64Array(field.length * 8)
  for (const e of envelopes) {
    for (let i = 0; i < field.length; i++) {
      const byte = e[field.offset + i] as number
      for (let bit = 0; bit < 8; bit++) if ((byte >> bit) & 1) ones[i * 8 + bit]! += 1
    }
  }
  const n = envelopes.length
  let stat = 0
  for (const o of ones) stat += (2 * o - n) ** 2 / n
  return { stat, df: ones.length }
}

export function topBitShare (envelopes: Uint8Array[]): number {
  return envelopes.filter((e) => ((e[TOP_BYTE] as number) & 0x80) !== 0).length / envelopes.length
}

/** A uniform integer in [0, n) drawn from the provider's (seeded) stream. */
export function drawInt (crypto: CryptoProvider, n: number): number {
  const b = crypto.randomBytes(4)
  return Math.floor(((b[0]! * 2 ** 24) + (b[1]! << 16) + (b[2]! << 8) + b[3]!) / 2 ** 32 * n)
}
