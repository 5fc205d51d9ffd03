/**
 * The pure reconciler (node/resync/reconcile.ts): results against a plain
 * set-difference reference (fixed cases, 100,000-item sets, fast-check
 * properties with mismatched parameters on the two sides), the frame limit,
 * the bytes a small difference costs, and hostile input (20,000+ random,
 * mutated and crafted messages: only ReconcileProtocolError may escape, and
 * every reply stays inside the frame limit).
 *
 * The fuzz inputs come from a seeded generator: set KOMRADE_FUZZ_SEED to
 * replay a run (the seed is printed).
 */
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareItems, createReconciler, DEFAULT_FRAME_SIZE_LIMIT, MIN_FRAME_SIZE_LIMIT, RECONCILE_VERSION,
  type ReconcileItem, type ReconcilerInit
} from '../../node/resync/reconcile.js'

const NOW_MINUTE = 29_500_000
const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex')

function randomItems (n: number, spreadMinutes = 10_080): ReconcileItem[] {
  const ids = randomBytes(n * 32)
  const items: ReconcileItem[] = []
  for (let i = 0; i < n; i++) {
    items.push({ expiryMinute: NOW_MINUTE + Math.floor(Math.random() * spreadMinutes), id: new Uint8Array(ids.subarray(i * 32, (i + 1) * 32)) })
  }
  return items.sort(compareItems)
}

interface Outcome { have: Set<string>, need: Set<string>, bytes: number, rounds: number, largest: number, messages: Uint8Array[] }

/** Runs a whole reconciliation between `a` (initiator) and `b`, checking the frame limit on the way. */
function reconcileSets (a: readonly ReconcileItem[], b: readonly ReconcileItem[], initA: ReconcilerInit = {}, initB: ReconcilerInit = initA): Outcome {
  const limit = initA.frameSizeLimit ?? DEFAULT_FRAME_SIZE_LIMIT
  const initiator = createReconciler(a, initA)
  const responder = createReconciler(b, initB)
  const outcome: Outcome = { have: new Set(), need: new Set(), bytes: 0, rounds: 0, largest: 0, messages: [] }
  const note = (message: Uint8Array): void => {
    outcome.bytes += message.length
    outcome.largest = Math.max(outcome.largest, message.length)
    if (outcome.messages.length < 64) outcome.messages.push(message)
  }
  let message: Uint8Array | undefined = initiator.initiate()
  while (message !== undefined) {
    note(message)
    if (++outcome.rounds > 10_000) throw new Error('reconciliation does not terminate')
    const answer = responder.reconcile(message)
    expect(answer.reply).toBeInstanceOf(Uint8Array)
    note(answer.reply as Uint8Array)
    const result = initiator.reconcile(answer.reply as Uint8Array)
    for (const id of result.have) { expect(outcome.have.has(hex(id))).toBe(false); outcome.have.add(hex(id)) }
    for (const id of result.need) { expect(outcome.need.has(hex(id))).toBe(false); outcome.need.add(hex(id)) }
    message = result.reply
  }
  expect(outcome.largest).toBeLessThanOrEqual(limit)
  return outcome
}

/** The reference: plain set differences. */
function expectDifference (outcome: Outcome, a: readonly ReconcileItem[], b: readonly ReconcileItem[]): void {
  const inA = new Set(a.map((item) => hex(item.id)))
  const inB = new Set(b.map((item) => hex(item.id)))
  expect([...outcome.have].sort()).toEqual([...inA].filter((id) => !inB.has(id)).sort())
  expect([...outcome.need].sort()).toEqual([...inB].filter((id) => !inA.has(id)).sort())
}

/** Splits `all` into (initiator, responder): `missing` indices go to one side only, alternately. */
function withDifferences (all: ReconcileItem[], missing: Set<number>): [ReconcileItem[], ReconcileItem[]] {
  const a: ReconcileItem[] = []
  const b: ReconcileItem[] = []
  let turn = 0
  all.forEach((item, i) => {
    if (!missing.has(i)) {
      a.push(item)
      b.push(item)
    } else if (turn++ % 2 === 0) {
      a.push(item)
    } else {
      b.push(item)
    }
  })
  return [a, b]
}

function randomIndices (n: number, count: number): Set<number> {
  const out = new Set<number>()
  while (out.size < count) out.add(Math.floor(Math.random() * n))
  return out
}

describe('reconciliation results', () => {
  it('identical sets: one round, no differences, a few hundred bytes', () => {
    for (const n of [0, 1, 3, 4, 100, 5_000]) {
      const items = randomItems(n)
      const outcome = reconcileSets(items, items)
      expect(outcome.have.size + outcome.need.size).toBe(0)
      expect(outcome.rounds).toBe(1)
      expect(outcome.bytes).toBeLessThan(400)
    }
  })

  it('disjoint sets, and empty against large in both directions', () => {
    const a = randomItems(3_000)
    const b = randomItems(2_000)
    expectDifference(reconcileSets(a, b), a, b)
    expectDifference(reconcileSets([], b), [], b)
    expectDifference(reconcileSets(a, []), a, [])
    expectDifference(reconcileSets([], []), [], [])
  })

  it('random overlaps, including every item in the same minute and the extreme expiries', () => {
    for (const spread of [1, 3, 10_080]) {
      const all = randomItems(4_000, spread)
      const [a, b] = withDifferences(all, randomIndices(all.length, 700))
      expectDifference(reconcileSets(a, b), a, b)
    }
    const edges = [0, 1, 0xffff_fffe, 0xffff_ffff].flatMap((expiryMinute) =>
      Array.from({ length: 40 }, () => ({ expiryMinute, id: new Uint8Array(randomBytes(32)) }))).sort(compareItems)
    const [a, b] = withDifferences(edges, randomIndices(edges.length, 60))
    expectDifference(reconcileSets(a, b), a, b)
  })

  it('ids sharing long prefixes inside one minute (bounds need long id prefixes)', () => {
    const items: ReconcileItem[] = []
    for (let i = 0; i < 600; i++) {
      const id = new Uint8Array(32).fill(0xab)
      id[31] = i & 0xff
      id[30] = i >> 8
      items.push({ expiryMinute: NOW_MINUTE, id })
    }
    items.sort(compareItems)
    const [a, b] = withDifferences(items, randomIndices(items.length, 90))
    expectDifference(reconcileSets(a, b, { frameSizeLimit: MIN_FRAME_SIZE_LIMIT }), a, b)
  })

  it('100,000 items with 10, 1,000 and 10,000 differences (scattered), and a 10,000 gap (clustered)', () => {
    const all = randomItems(100_000)
    const lines: string[] = []
    for (const d of [10, 1_000, 10_000]) {
      const [a, b] = withDifferences(all, randomIndices(all.length, d))
      const outcome = reconcileSets(a, b)
      expectDifference(outcome, a, b)
      lines.push(`scattered ${d}: ${outcome.bytes} bytes (${(outcome.bytes / d).toFixed(0)} per difference), ${outcome.rounds} rounds`)
      // Small differences stay small next to the set: the ids alone would be 3.2 MB.
      if (d === 10) expect(outcome.bytes).toBeLessThan(16_384)
      expect(outcome.bytes / d).toBeLessThan(1_024)
    }
    const gap = new Set(Array.from({ length: 10_000 }, (_, i) => 40_000 + i))
    const a = all.filter((_, i) => !gap.has(i))
    const outcome = reconcileSets(a, all)
    expectDifference(outcome, a, all)
    lines.push(`clustered 10000: ${outcome.bytes} bytes (${(outcome.bytes / 10_000).toFixed(1)} per difference), ${outcome.rounds} rounds`)
    // A clustered gap costs about one id per missing envelope (32 of its 2048 bytes).
    expect(outcome.bytes / 10_000).toBeLessThan(40)
    console.log('reconcile, 100,000 items:\n  ' + lines.join('\n  '))
  })

  it('respects small frame limits, splitting and continuing over later rounds', () => {
    const all = randomItems(20_000)
    const cases: Array<[ReconcileItem[], ReconcileItem[], number]> = [
      // [initiator, responder, least rounds]: ids that must cross take many 4 KiB frames.
      [[], all, 100],
      [...withDifferences(all, randomIndices(all.length, 3_000)), 10],
      // The responder holding nothing answers every range at once: no ids need to cross.
      [all, [], 1]
    ]
    for (const [a, b, rounds] of cases) {
      const outcome = reconcileSets(a, b, { frameSizeLimit: MIN_FRAME_SIZE_LIMIT })
      expectDifference(outcome, a, b)
      expect(outcome.rounds).toBeGreaterThanOrEqual(rounds)
    }
  })

  it('property: any two sets, any parameters on either side, give exactly the set differences', () => {
    const item = fc.record({
      expiryMinute: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 0xffff_ffff })),
      id: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      side: fc.constantFrom(0, 1, 2)
    })
    const params = fc.record({ buckets: fc.integer({ min: 2, max: 32 }), idListThreshold: fc.integer({ min: 2, max: 64 }) })
    const sets = fc.oneof(fc.array(item, { maxLength: 20 }), fc.array(item, { maxLength: 600, size: 'large' }))
    fc.assert(fc.property(sets, params, params, fc.constantFrom(MIN_FRAME_SIZE_LIMIT, 5_000, 65_536),
      (raw, pa, pb, frameSizeLimit) => {
        const seen = new Set<string>()
        const unique = raw.filter((x) => !seen.has(hex(x.id)) && seen.add(hex(x.id)) !== undefined)
        const a = unique.filter((x) => x.side !== 1).sort(compareItems)
        const b = unique.filter((x) => x.side !== 0).sort(compareItems)
        expectDifference(reconcileSets(a, b, { ...pa, frameSizeLimit }, { ...pb, frameSizeLimit }), a, b)
      }), { numRuns: 150 })
  })
})

describe('reconciler inputs', () => {
  it('sorts an unsorted copy, rejects duplicates and malformed items and options', () => {
    const items = randomItems(100_000)
    const shuffled = [...items].sort(() => Math.random() - 0.5)
    let started = performance.now()
    createReconciler(items)
    const sortedMs = performance.now() - started
    started = performance.now()
    const fromShuffled = createReconciler(shuffled)
    console.log(`createReconciler, 100,000 items: sorted input ${sortedMs.toFixed(0)} ms, shuffled input ${(performance.now() - started).toFixed(0)} ms`)
    // Same content, whatever the order: an identical set reconciles in one round.
    const message = fromShuffled.initiate()
    expect(createReconciler(items).reconcile(message).reply).toEqual(new Uint8Array([RECONCILE_VERSION]))
    expect(shuffled[0]).not.toBe(undefined) // the caller's array is left alone

    expect(() => createReconciler([items[0] as ReconcileItem, items[0] as ReconcileItem])).toThrow(RangeError)
    expect(() => createReconciler([{ expiryMinute: 1, id: new Uint8Array(31) }])).toThrow(RangeError)
    expect(() => createReconciler([{ expiryMinute: 1, id: 'x' as unknown as Uint8Array }])).toThrow(TypeError)
    expect(() => createReconciler([{ expiryMinute: -1, id: new Uint8Array(32) }])).toThrow(RangeError)
    expect(() => createReconciler([{ expiryMinute: 2 ** 32, id: new Uint8Array(32) }])).toThrow(RangeError)
    expect(() => createReconciler([{ expiryMinute: 1.5, id: new Uint8Array(32) }])).toThrow(TypeError)
    expect(() => createReconciler([], { frameSizeLimit: 4_095 })).toThrow(RangeError)
    expect(() => createReconciler([], { buckets: 1 })).toThrow(RangeError)
    expect(() => createReconciler([], { idListThreshold: 1 })).toThrow(RangeError)
  })

  it('initiate() comes first and only once', () => {
    const initiator = createReconciler(randomItems(10))
    initiator.initiate()
    expect(() => initiator.initiate()).toThrow(expect.objectContaining({ name: 'ReconcilerStateError' }))
    const responder = createReconciler(randomItems(10))
    responder.reconcile(createReconciler([]).initiate())
    expect(() => responder.initiate()).toThrow(expect.objectContaining({ name: 'ReconcilerStateError' }))
  })
})

// ---------------------------------------------------------------------------
// Hostile input

/** xorshift128+: a reproducible stream of fuzz decisions. */
function prng (seed: number): () => number {
  let s0 = (seed ^ 0x9e3779b9) >>> 0 || 1
  let s1 = (seed * 2654435761) >>> 0 || 2
  return () => {
    let x = s0
    const y = s1
    s0 = y
    x ^= x << 23; x ^= x >>> 17; x ^= y ^ (y >>> 26)
    s1 = x >>> 0
    return ((s0 + s1) >>> 0) / 0x1_0000_0000
  }
}

function varint (n: number): number[] {
  const digits = [n % 128]
  for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) digits.unshift((n % 128) | 0x80)
  return digits
}

describe('hostile messages', () => {
  it('only ReconcileProtocolError escapes, each call is bounded and every reply fits the frame', () => {
    const seed = Number(process.env.KOMRADE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
    const random = prng(seed)
    const int = (n: number): number => Math.floor(random() * n)
    const limit = 8_192
    const all = randomItems(3_000, 200)
    const [a, b] = withDifferences(all, randomIndices(all.length, 500))
    // A corpus of real messages in both directions, to mutate.
    const corpus = reconcileSets(a, b, { frameSizeLimit: limit }).messages
    const targets = () => {
      const initiator = createReconciler(a, { frameSizeLimit: limit })
      initiator.initiate()
      return [initiator, createReconciler(b, { frameSizeLimit: limit })]
    }
    let [initiator, responder] = targets()
    const crafted: number[][] = [
      [RECONCILE_VERSION, 0x80, 0x01, 0, 1], // non-minimal varint
      [RECONCILE_VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // varint too long
      [RECONCILE_VERSION, ...varint(10), 0, 0, ...varint(5), 0, 0], // bounds out of order
      [RECONCILE_VERSION, ...varint(10), 0, 2, ...varint(2 ** 32)], // absurd IdList count
      [RECONCILE_VERSION, ...varint(2 ** 32), 0, 0], // expiry beyond u32
      [RECONCILE_VERSION, 0, 1, 7, 0], // infinity bound with a prefix
      [RECONCILE_VERSION, ...varint(10), 33, ...new Array(33).fill(1), 0], // prefix too long
      [RECONCILE_VERSION, 0, 0, 9], // unknown mode
      [RECONCILE_VERSION, 0, 0, 1, 1, 2, 3], // fingerprint cut short
      [RECONCILE_VERSION, 0, 0, 3, 0], // IdListResponse to a responder
      [0x61, 0, 0, 0], // negentropy's version byte
      []
    ]
    const errors = new Map<string, number>()
    let slowest = 0
    let calls = 0
    const attempt = (target: typeof initiator, message: Uint8Array): void => {
      const started = performance.now()
      try {
        const result = target!.reconcile(message)
        if (result.reply !== undefined) expect(result.reply.length).toBeLessThanOrEqual(limit)
        errors.set('accepted', (errors.get('accepted') ?? 0) + 1)
      } catch (error) {
        const name = (error as Error).name
        errors.set(name, (errors.get(name) ?? 0) + 1)
        if (name !== 'ReconcileProtocolError') throw new Error(`seed ${seed}: ${name} escaped: ${(error as Error).stack}`)
      }
      slowest = Math.max(slowest, performance.now() - started)
      calls++
    }
    for (const bytes of crafted) { attempt(initiator, new Uint8Array(bytes)); attempt(responder, new Uint8Array(bytes)) }
    attempt(responder, new Uint8Array(limit + 1).fill(RECONCILE_VERSION, 0, 1)) // oversized
    for (let i = 0; i < 22_000; i++) {
      if (i % 2_000 === 0) [initiator, responder] = targets() // fresh state now and then
      let message: Uint8Array
      const kind = int(4)
      if (kind === 0) {
        message = new Uint8Array(randomBytes(int(64) === 0 ? int(limit + 64) : int(200)))
        if (int(2) === 0 && message.length > 0) message[0] = RECONCILE_VERSION
      } else {
        message = (corpus[int(corpus.length)] as Uint8Array).slice()
        const edits = 1 + int(4)
        for (let e = 0; e < edits; e++) {
          const at = int(message.length)
          const op = int(5)
          if (op === 0) message[at] = (message[at] as number) ^ (1 << int(8))
          else if (op === 1) message[at] = int(256)
          else if (op === 2) message = message.subarray(0, at)
          else if (op === 3) message = Uint8Array.from([...message.subarray(0, at), ...randomBytes(1 + int(40)), ...message.subarray(at)])
          else message = Uint8Array.from([...message, ...(corpus[int(corpus.length)] as Uint8Array).subarray(1, 1 + int(400))])
        }
        if (kind === 3 && message.length > 0) message[0] = RECONCILE_VERSION
      }
      attempt(int(2) === 0 ? initiator : responder, message.subarray(0, limit + 8))
    }
    console.log(`reconcile fuzz (seed ${seed}): ${calls} calls, outcomes ${JSON.stringify(Object.fromEntries(errors))}, slowest ${slowest.toFixed(1)} ms`)
    expect(calls).toBeGreaterThanOrEqual(20_000)
    expect(errors.get('ReconcileProtocolError') ?? 0).toBeGreaterThan(1_000)
    expect(slowest).toBeLessThan(2_000) // a hang guard, not a benchmark
  })
})
