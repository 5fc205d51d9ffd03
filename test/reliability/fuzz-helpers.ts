/**
 * Shared parts of reliability scenario 5 (fuzz-*.test.ts): generated inputs
 * (fast-check, seeded and reproducible), the heap after a full GC, a bounded
 * worker pool, and a session runner for a raw libp2p stream.
 *
 * Reproduce a run with its seed: KOMRADE_FUZZ_SEED=<seed printed by the test>.
 */
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import fc from 'fast-check'
import type { Stream } from '@libp2p/interface'
import { SCALE } from './harness.js'

/** Inputs per door (x KOMRADE_RELIABILITY_SCALE); the issue asks for at least 100,000. */
export const INPUTS_PER_DOOR = Math.round(100_000 * SCALE)

/** The seed of this run: KOMRADE_FUZZ_SEED, else random (printed by each test so a failure can be replayed). */
export const FUZZ_SEED = process.env.KOMRADE_FUZZ_SEED === undefined ? (Math.random() * 2 ** 31) | 0 : Number(process.env.KOMRADE_FUZZ_SEED)

/** `count` values of `arbitrary`, reproducible from `seed`. */
export function generate<T> (arbitrary: fc.Arbitrary<T>, count: number, seed: number): T[] {
  return fc.sample(arbitrary, { numRuns: count, seed })
}

/** Inputs generated at a time by {@link generateInChunks}: the whole run is never in memory at once. */
const CHUNK = 5000

/** `count` values of `arbitrary` in chunks (each reproducible from `seed` and its index), with their overall index. */
export function * generateInChunks<T> (arbitrary: fc.Arbitrary<T>, count: number, seed: number): Generator<{ value: T, index: number }> {
  for (let start = 0, chunk = 0; start < count; start += CHUNK, chunk++) {
    const values = generate(arbitrary, Math.min(CHUNK, count - start), seed + chunk * 7919)
    for (const [i, value] of values.entries()) yield { value, index: start + i }
  }
}

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** V8 heap in use after two full collections, bytes. */
export function heapAfterGc (): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/**
 * Bytes shaped like the real thing, or not at all: a valid `seed` as is, a
 * seed with one byte changed (to a boundary value or random), cut short,
 * extended, with a run of random bytes spliced in, or with a length byte
 * turned to its extremes; or random bytes of any length up to `maxLength`.
 */
export function mutatedBytes (seeds: readonly Uint8Array[], maxLength: number): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds)
  const boundary = fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff)
  return fc.oneof(
    { weight: 1, arbitrary: seed },
    { weight: 3, arbitrary: fc.tuple(seed, fc.nat(), fc.oneof(boundary, fc.integer({ min: 0, max: 255 }))).map(([s, at, value]) => {
      const out = s.slice()
      if (out.length > 0) out[at % out.length] = value
      return out
    }) },
    { weight: 2, arbitrary: fc.tuple(seed, fc.nat()).map(([s, at]) => s.slice(0, s.length === 0 ? 0 : at % s.length)) },
    { weight: 1, arbitrary: fc.tuple(seed, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([s, extra]) => concat(s, extra)) },
    { weight: 2, arbitrary: fc.tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([s, at, run]) => {
      const out = s.slice()
      out.set(run.subarray(0, Math.max(0, out.length - (at % Math.max(1, out.length)))), at % Math.max(1, out.length))
      return out
    }) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength }) }
  )
}

/** `a || b`. */
export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0))
  let offset = 0
  for (const p of parts) { out.set(p, offset); offset += p.length }
  return out
}

/** An unsigned varint length prefix (as it-length-prefixed writes it) followed by `body`. */
export function lengthPrefixed (body: Uint8Array): Uint8Array {
  const prefix: number[] = []
  let n = body.length
  while (n >= 0x80) { prefix.push((n & 0x7f) | 0x80); n = Math.floor(n / 0x80) }
  prefix.push(n)
  return concat(Uint8Array.from(prefix), body)
}

/** Runs `task` over what `items` yields with at most `concurrency` at once; resolves when all have finished. */
export async function pool<T> (items: Iterable<T>, concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let next = iterator.next(); next.done !== true; next = iterator.next()) await task(next.value)
  }))
}

/** How a raw session ended, seen from the client. */
export interface SessionOutcome {
  /** Bytes the server sent back. */
  answered: number
  /** True when the server reset the stream (cut the client off); false when it closed it in order. */
  reset: boolean
}

/**
 * Writes `bytes` on `stream` as they are (the caller frames them, or not),
 * closes our side, and waits for the server to end the stream: by closing it
 * after its answers, or by resetting it. Throws when it does neither within
 * `timeoutMs` (a hang).
 */
export async function rawSession (stream: Stream, bytes: Uint8Array, timeoutMs: number): Promise<SessionOutcome> {
  let answered = 0
  stream.addEventListener('message', (event) => { answered += event.data.byteLength })
  const ended = new Promise<boolean>((resolve) => {
    stream.addEventListener('close', (event) => { resolve(event.error !== undefined) }, { once: true })
  })
  /**
   * The server may end the stream before we hold it (right after protocol
   * negotiation): its 'close' event has passed then, and only the status says
   * so. Seen in CI: a stream already 'reset' was counted as a hang.
   */
  const endedBefore = (): boolean | undefined =>
    stream.status === 'reset' || stream.status === 'aborted' ? true : stream.status === 'closed' ? false : undefined
  try {
    if (bytes.length > 0 && !stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(timeoutMs) })
    await stream.close({ signal: AbortSignal.timeout(timeoutMs) })
  } catch {
    // The server may cut us off before we finish writing: that is an answer too.
  }
  const already = endedBefore()
  if (already !== undefined) return { answered, reset: already }
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`the server neither closed nor reset the stream within ${timeoutMs} ms ` +
        `(stream ${stream.status}, read ${stream.readStatus}, write ${stream.writeStatus}, ${answered} bytes back; input ${bytes.length} bytes: ` +
        `${Buffer.from(bytes.subarray(0, 120)).toString('hex')}…)`))
    }, timeoutMs)
  })
  try {
    const reset = await Promise.race([ended, hang])
    return { answered, reset }
  } finally {
    clearTimeout(timer)
    if (stream.status === 'open') stream.abort(new Error('done'))
  }
}
