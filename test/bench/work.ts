/**
 * Proof of work at the default TTL (2 days): how long minting takes on one
 * core, native against noble, and what verifying costs. The goal is
 * "about 0.25 s median" for native; solve times are geometric, so besides the
 * measured median of many solves we report the median implied by the
 * measured trial rate (ln 2 * expected trials / rate), which is far steadier.
 */
import {
  checkEnvelope, DEFAULT_TTL_MINUTES, expiryFor, nativeCrypto, nobleCrypto, requiredTrials, sealCover,
  solveWork, type CryptoProvider
} from '../../protocol/index.js'
import { ratioOf, rowOf, type BenchContext, type Benchmark, type BenchRow } from './harness.js'

const TRIAL_INPUT_LENGTH = 40 // nonce (8) || content digest (32): what every trial hashes

function trialRate (crypto: CryptoProvider, seconds: number): number {
  const input = new Uint8Array(TRIAL_INPUT_LENGTH)
  let trials = 0
  const start = performance.now()
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < 10_000; i++) {
      input[0] = i & 0xff
      crypto.sha256(input)
    }
    trials += 10_000
  }
  return trials / ((performance.now() - start) / 1000)
}

function solveTimes (crypto: CryptoProvider, count: number, context: BenchContext): number[] {
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const now = Date.now()
    const envelope = sealCover(crypto, expiryFor(now, DEFAULT_TTL_MINUTES))
    const start = performance.now()
    const solved = solveWork(crypto, envelope, { now })
    times.push((performance.now() - start) / 1000)
    if (!checkEnvelope(crypto, solved, { now }).valid) throw new Error('self-check: a solved envelope failed validation')
  }
  context.log(`  ${crypto.name}: ${count} solves`)
  return times
}

export const benchmark: Benchmark = {
  name: 'work',
  description: 'proof of work at the default TTL: solve time (native vs noble) and verification rate',
  async run (context) {
    const native = nativeCrypto()
    const noble = nobleCrypto()
    const solves = Number(context.options['work-solves'] ?? 61)
    const expected = requiredTrials(DEFAULT_TTL_MINUTES)
    const rows: BenchRow[] = []
    const rates: Record<string, number[]> = { native: [], noble: [] }
    for (let r = 0; r < 3; r++) {
      rates.native!.push(trialRate(native, 1))
      rates.noble!.push(trialRate(noble, 1))
    }
    const nativeRate = rowOf({ id: 'trials-native', label: 'trial rate, native (SHA-256 of 40 B)', unit: 'trials/s', samples: rates.native! })
    const nobleRate = rowOf({ id: 'trials-noble', label: 'trial rate, noble', unit: 'trials/s', samples: rates.noble! })
    rows.push(nativeRate, nobleRate)
    const implied = (rate: number): number => Math.LN2 * expected / rate
    rows.push(rowOf({
      id: 'implied-median-native',
      label: 'median solve implied by the trial rate, native, 2-day TTL',
      unit: 's',
      samples: rates.native!.map(implied),
      goal: { op: '<=', target: 0.35, source: 'issue: about 0.25 s median on one core' }
    }))
    context.gc()
    const nativeSolves = rowOf({ id: 'solve-native', label: `measured solve, native, 2-day TTL (${solves} solves)`, unit: 's', samples: solveTimes(native, solves, context) })
    const nobleSolves = rowOf({ id: 'solve-noble', label: `measured solve, noble, 2-day TTL (${Math.ceil(solves / 4)} solves)`, unit: 's', samples: solveTimes(noble, Math.ceil(solves / 4), context) })
    rows.push(nativeSolves, nobleSolves)

    const now = Date.now()
    const envelope = solveWork(native, sealCover(native, expiryFor(now, DEFAULT_TTL_MINUTES)), { now })
    const verifySamples: number[] = []
    for (let r = 0; r < 3; r++) {
      let count = 0
      const start = performance.now()
      while (performance.now() - start < 500) {
        for (let i = 0; i < 1000; i++) if (checkEnvelope(native, envelope, { now }).valid) count++
      }
      verifySamples.push(count / ((performance.now() - start) / 1000))
    }
    rows.push(rowOf({ id: 'verify-native', label: 'checkEnvelope (size, version, expiry, work), native', unit: 'envelopes/s', samples: verifySamples }))
    return {
      name: 'work',
      title: 'Proof of work, default TTL 2 days (one core)',
      rows,
      ratios: [ratioOf('noble-vs-native-solve', 'noble solve time / native solve time', nobleSolves, nativeSolves)],
      notes: [
        `expected trials at the default TTL: ${expected.toLocaleString('en')} (SPEC §5); median = ln 2 x expected / rate`,
        'measured solve medians are noisy (geometric distribution); the implied median is the steadier figure'
      ]
    }
  }
}
