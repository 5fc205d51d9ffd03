/**
 * Anonymous votes (SPEC §15.8): signing and verifying a linkable ring
 * signature at the smallest (16) and largest (25) ring, against one Ed25519
 * verification (native, and noble for a pure-JavaScript comparison) measured
 * in the same run, so the ratio says how many ordinary signature checks one
 * vote costs on this machine.
 *
 * Each case runs for `--votes-seconds` (default 1) per round, 3 rounds,
 * interleaved so every round sees the same machine load. Rates are given by
 * wall time and by this thread's CPU time.
 */
import {
  createVote, decodeVote, nativeCrypto, nobleCrypto, toHex, verifyVote, voteKeyPair, MAX_VOTE_RING, MIN_VOTE_RING,
  type CryptoProvider, type DecodedVote
} from '../../protocol/index.js'
import { ratioOf, rowOf, type BenchContext, type Benchmark, type BenchRow } from './harness.js'

const ROUNDS = 3
/** Members of the benchmark group: more than the largest ring, so the ring-25 votes draw their decoys. */
const MEMBERS = 40

interface Sample { readonly wall: number, readonly cpu: number }

/** CPU time of this thread (falls back to the process where threadCpuUsage is missing). */
function cpuNow (): number {
  const usage = typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage() : process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** Runs `operation` for about `seconds` and returns its rate per wall second and per CPU second. */
function rate (seconds: number, operation: () => void): Sample {
  let count = 0
  const cpuStart = cpuNow()
  const start = performance.now()
  while (performance.now() - start < seconds * 1000) {
    operation()
    count++
  }
  const wall = (performance.now() - start) / 1000
  const cpu = cpuNow() - cpuStart
  return { wall: count / wall, cpu: count / Math.max(cpu, 1e-9) }
}

interface Case {
  readonly id: string
  readonly label: string
  readonly unit: string
  readonly operation: () => void
}

export const benchmark: Benchmark = {
  name: 'votes',
  description: 'anonymous votes: LSAG sign and verify at ring 16 and 25 against one Ed25519 verify',
  async run (context: BenchContext) {
    const seconds = Number(context.options['votes-seconds'] ?? 1)
    const crypto: CryptoProvider = nativeCrypto()
    const noble = nobleCrypto()
    const groupId = crypto.randomBytes(32)
    const postId = crypto.randomBytes(48)
    const seeds = Array.from({ length: MEMBERS }, () => crypto.randomBytes(32))
    const keys = seeds.map((seed) => voteKeyPair(seed, groupId).publicKey)
    const admitted = new Set(keys.map(toHex))
    // Ring 16 is a group of 16 (the ring is everyone); ring 25 is drawn at random from all 40.
    const candidatesFor = (ring: number): Uint8Array[] => ring === MAX_VOTE_RING ? keys : keys.slice(0, ring)

    const votes = new Map<number, DecodedVote>()
    for (const ring of [MIN_VOTE_RING, MAX_VOTE_RING]) {
      const vote = decodeVote(createVote(crypto, { groupId, postId, choice: 'up', voterSeed: seeds[0]!, candidates: candidatesFor(ring) }))
      if (vote.ring.length !== ring || !verifyVote(vote, admitted)) throw new Error(`self-check: a ring-${ring} vote does not verify`)
      votes.set(ring, vote)
    }
    const edSeed = crypto.randomBytes(32)
    const edKey = crypto.ed25519PublicKey(edSeed)
    const edMessage = crypto.randomBytes(64)
    const edSignature = crypto.ed25519Sign(edSeed, edMessage)

    const check = (ok: boolean): void => { if (!ok) throw new Error('self-check: a verification failed') }
    const cases: Case[] = [
      ...[MIN_VOTE_RING, MAX_VOTE_RING].flatMap((ring): Case[] => [
        {
          id: `sign-${ring}`,
          label: `createVote, ring ${ring} (sign + encode)`,
          unit: 'votes/s',
          operation: () => { createVote(crypto, { groupId, postId, choice: 'down', voterSeed: seeds[1]!, candidates: candidatesFor(ring) }) }
        },
        {
          id: `verify-${ring}`,
          label: `verifyVote, ring ${ring}`,
          unit: 'votes/s',
          operation: () => { check(verifyVote(votes.get(ring)!, admitted)) }
        }
      ]),
      { id: 'ed25519-native', label: 'Ed25519 verify, native (baseline)', unit: 'verifies/s', operation: () => { check(crypto.ed25519Verify(edKey, edMessage, edSignature)) } },
      { id: 'ed25519-noble', label: 'Ed25519 verify, noble (pure JS)', unit: 'verifies/s', operation: () => { check(noble.ed25519Verify(edKey, edMessage, edSignature)) } }
    ]

    // Warm-up: let the JIT settle before the timed rounds.
    for (const c of cases) rate(Math.min(0.3, seconds), c.operation)
    const samples = new Map<string, Sample[]>(cases.map((c) => [c.id, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        context.gc()
        samples.get(c.id)!.push(rate(seconds, c.operation))
      }
      context.log(`  votes: round ${round + 1}/${ROUNDS}`)
    }

    const rows = new Map<string, BenchRow>()
    for (const c of cases) {
      const list = samples.get(c.id)!
      rows.set(c.id, rowOf({
        id: c.id,
        label: c.label,
        unit: c.unit,
        samples: list.map((s) => s.wall),
        cpuSamples: list.map((s) => s.cpu)
      }))
    }
    const row = (id: string): BenchRow => rows.get(id)!
    const ms = (id: string): string => `${(1000 / row(id).median).toFixed(1)} (CPU ${(1000 / row(id).cpuMedian!).toFixed(1)})`
    const bodyBytes = (ring: number): number => votes.get(ring)!.bytes.length
    return {
      name: 'votes',
      title: 'Anonymous votes: LSAG over ristretto255 (one core)',
      rows: [...rows.values()],
      ratios: [
        ratioOf('ed-per-verify-16', 'Ed25519 native verifies per ring-16 vote verify', row('ed25519-native'), row('verify-16')),
        ratioOf('ed-per-verify-25', 'Ed25519 native verifies per ring-25 vote verify', row('ed25519-native'), row('verify-25')),
        ratioOf('noble-per-verify-25', 'Ed25519 noble verifies per ring-25 vote verify', row('ed25519-noble'), row('verify-25')),
        ratioOf('verify-25-vs-16', 'ring-25 verify time / ring-16 verify time', row('verify-16'), row('verify-25'))
      ],
      notes: [
        `ms per vote, wall median (by CPU time): sign ${ms('sign-16')} ms / verify ${ms('verify-16')} ms at ring 16, ` +
          `sign ${ms('sign-25')} ms / verify ${ms('verify-25')} ms at ring 25; Ed25519 native verify ${(1000 / row('ed25519-native').median).toFixed(3)} ms`,
        `vote body ${bodyBytes(MIN_VOTE_RING)} bytes at ring 16, ${bodyBytes(MAX_VOTE_RING)} at ring 25 (one envelope holds 1,787)`,
        `${ROUNDS} rounds of ${seconds} s per case, cases interleaved; ring 16 = a group of 16, ring 25 drawn from ${MEMBERS} members`
      ],
      details: { seconds, rounds: ROUNDS, members: MEMBERS, bodyBytes: { 16: bodyBytes(MIN_VOTE_RING), 25: bodyBytes(MAX_VOTE_RING) } }
    }
  }
}
