/**
 * The two-sample Kolmogorov–Smirnov test, for the cover-traffic measurement:
 * D = sup |F1(x) - F2(x)| over the two empirical distribution functions,
 * and its two-sided p-value P(D >= d) under H0 (both samples from one
 * continuous distribution), exact or asymptotic.
 *
 * Exact: under H0 every interleaving of the pooled sorted sample is equally
 * likely, i.e. a uniformly random lattice path from (0, 0) to (n, m); D >= d
 * when the path touches |i*m - j*n| >= d*n*m. The probability is summed over
 * the first touches, step by step (from (i, j) the next value comes from
 * sample 1 with probability (n - i) / (n + m - i - j)), so small p-values
 * keep their precision and nothing overflows. O(n*m).
 *
 * Asymptotic: Kolmogorov's limit, P(D >= d) ~ Q(sqrt(n*m/(n+m)) * d) with
 * Q(z) = 2 sum_k (-1)^(k-1) exp(-2 k^2 z^2) (Smirnov 1939), SciPy's
 * `kstwobign.sf`.
 */

/** Result of {@link ksTwoSample}. */
export interface KsResult {
  /** The statistic D in [0, 1]. */
  readonly d: number
  /** Two-sided p-value P(D >= d) under H0. */
  readonly pValue: number
  readonly method: 'exact' | 'asymptotic'
  readonly n: number
  readonly m: number
}

/** Beyond this many lattice points, `auto` uses the asymptotic p-value. */
const EXACT_LIMIT = 10_000_000

function checkSample (sample: readonly number[], name: string): number[] {
  if (!Array.isArray(sample) || sample.length === 0) throw new RangeError(`"${name}" expected a non-empty array of numbers`)
  if (!sample.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new TypeError(`"${name}" expected finite numbers only`)
  return [...sample].sort((x, y) => x - y)
}

/**
 * D as the integer max |i*m - j*n| over the steps of the merged sorted
 * samples (tied values step together), so comparisons stay exact; D = k/(n*m).
 */
export function ksDistance (a: readonly number[], b: readonly number[]): { k: number, d: number } {
  const x = checkSample(a, 'a')
  const y = checkSample(b, 'b')
  const n = x.length
  const m = y.length
  let i = 0
  let j = 0
  let k = 0
  while (i < n && j < m) {
    const v = Math.min(x[i]!, y[j]!)
    while (i < n && x[i] === v) i++
    while (j < m && y[j] === v) j++
    k = Math.max(k, Math.abs(i * m - j * n))
  }
  // Once one sample is used up the distance only shrinks towards (n, m).
  return { k, d: k / (n * m) }
}

/** Exact P(max |i*m - j*n| >= k) over a uniformly random path from (0, 0) to (n, m). */
export function ksExactPValue (n: number, m: number, k: number): number {
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(m) || n < 1 || m < 1) throw new RangeError('"n" and "m" expected positive integers')
  if (k <= 0) return 1
  let previous = new Float64Array(m + 1)
  let current = new Float64Array(m + 1)
  let outside = 0
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= m; j++) {
      let mass: number
      if (i === 0 && j === 0) {
        mass = 1
      } else {
        mass = 0
        // From (i-1, j), drawing the next value from sample 1; from (i, j-1), from sample 2.
        if (i > 0) mass += previous[j]! * (n - i + 1) / (n + m - i + 1 - j)
        if (j > 0) mass += current[j - 1]! * (m - j + 1) / (n + m - i - j + 1)
      }
      if (Math.abs(i * m - j * n) >= k) {
        outside += mass
        current[j] = 0
      } else {
        current[j] = mass
      }
    }
    ;[previous, current] = [current, previous]
  }
  return Math.min(1, outside)
}

/** Q(z) = P(K >= z) for Kolmogorov's distribution K. */
export function kolmogorovSurvival (z: number): number {
  if (!(z > 0)) return 1
  if (z < 1.18) {
    // The other form of the series converges fast here: P(K <= z) = sqrt(2 pi)/z sum_k exp(-(2k-1)^2 pi^2 / (8 z^2)).
    let cdf = 0
    for (let k = 1; k <= 20; k++) cdf += Math.exp(-((2 * k - 1) ** 2) * Math.PI ** 2 / (8 * z * z))
    return Math.max(0, Math.min(1, 1 - Math.sqrt(2 * Math.PI) / z * cdf))
  }
  let sum = 0
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * z * z)
    sum += (k % 2 === 1 ? 1 : -1) * term
    if (term < 1e-300) break
  }
  return Math.max(0, Math.min(1, 2 * sum))
}

/** The asymptotic two-sided p-value of D = d for samples of n and m. */
export function ksAsymptoticPValue (n: number, m: number, d: number): number {
  return kolmogorovSurvival(Math.sqrt(n * m / (n + m)) * d)
}

/** The two-sample KS test; `auto` (default) is exact up to 10^7 lattice points. */
export function ksTwoSample (a: readonly number[], b: readonly number[], options: { method?: 'exact' | 'asymptotic' | 'auto' } = {}): KsResult {
  const { k, d } = ksDistance(a, b)
  const n = a.length
  const m = b.length
  const method = options.method === 'asymptotic' || (options.method !== 'exact' && (n + 1) * (m + 1) > EXACT_LIMIT) ? 'asymptotic' : 'exact'
  const pValue = method === 'exact' ? ksExactPValue(n, m, k) : ksAsymptoticPValue(n, m, d)
  return { d, pValue, method, n, m }
}
