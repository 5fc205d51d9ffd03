/**
 * Reliability scenario 5b: bad input at the registry door (SPEC §13.5:
 * bootstrap/registry-protocol.ts, protocol/registry-wire.ts).
 *
 * Inputs: INPUTS_PER_DOOR (100,000 x KOMRADE_RELIABILITY_SCALE) generated
 * with fast-check from one printed seed, valid-shaped (real requests of the
 * five ops: registrations made with the real encoder and by hand, lookups of
 * registered and unknown names, consistency and entries ranges, then mutated)
 * and random. The split (a libp2p stream costs about a millisecond):
 *  - OPERATOR_INPUTS requests into the Operator's real request handler
 *    (answerRegistryRequest over a real registry on LevelDB), op by op;
 *  - CLIENT_INPUTS response frames into the decoders a node runs on the
 *    Operator's answers (decodeInfoResponse ... decodeEntriesResponse),
 *    mutated from real answers: the door in the other direction;
 *  - WIRE_INPUTS requests over real libp2p streams (TCP, noise, yamux) to a
 *    real Operator (createOperator, rate limits off so that every frame
 *    reaches the decoders): pipelined streams of lookups, consistency and
 *    entries requests, one-request streams of info and register, and
 *    streams of raw bytes that break the framing.
 *
 * Pass criterion: every request is answered with a well-formed frame (status
 * OK or a known error code; never UNAVAILABLE, which means the handler hit
 * an exception, and nothing logged as an error); every decoder returns or
 * throws RegistryFormatError; every wire stream ends (answered, or reset)
 * within STREAM_TIMEOUT_MS with one answer per request read; the heap after
 * a full GC grows by less than HEAP_BOUND_BYTES; and afterwards the Operator
 * still registers a new name and proves it on lookup.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { createLibp2p } from 'libp2p'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createOperator, openRegistry, type Operator } from '../../bootstrap/index.js'
import { answerRegistryRequest } from '../../bootstrap/registry-protocol.js'
import type { Logger } from '../../node/logger.js'
import {
  createIdentity, createRegistration, decodeEntriesResponse, decodeInfoResponse, decodeLookupResponse, decodeProofResponse,
  decodeRegisterResponse, encodeConsistencyRequest, encodeEntriesRequest, encodeLookupRequest, isRegistryErrorCode,
  MAX_REGISTRY_RESPONSE_BYTES, RegistryErrorCode, RegistryFormatError, registryProtocol, type RegistryOp
} from '../../protocol/index.js'
import { craftRequest, crypto, removeTempDirs, tempDir, TEST_WORK_TRIALS } from '../bootstrap/registry-helpers.js'
import { concat, FUZZ_SEED, generateInChunks, heapAfterGc, INPUTS_PER_DOOR, lengthPrefixed, mutatedBytes, pool, rawSession } from './fuzz-helpers.js'
import { SCALE } from './harness.js'

const WIRE_INPUTS = Math.round(5_000 * SCALE)
const CLIENT_INPUTS = Math.round(20_000 * SCALE)
const OPERATOR_INPUTS = INPUTS_PER_DOOR - WIRE_INPUTS - CLIENT_INPUTS
/** Requests per pipelined wire stream (the protocol allows 256). */
const REQUESTS_PER_STREAM = 100
const STREAM_TIMEOUT_MS = 30_000
const HEAP_BOUND_BYTES = 32 * 1024 * 1024
const OPS: readonly RegistryOp[] = ['info', 'register', 'lookup', 'consistency', 'entries']

const operators: Operator[] = []
afterAll(async () => {
  for (const operator of operators) await operator.stop().catch(() => {})
  await removeTempDirs()
})

/** A logger that keeps what was logged as an error: an exception inside the handler. */
function recordingLogger (errors: string[]): Logger {
  const logger: Logger = {
    debug () {}, info () {}, warn () {},
    error (message, fields) { errors.push(`${message} ${JSON.stringify(fields, (_k, v: unknown) => v instanceof Error ? v.stack : v)}`) },
    child: () => logger
  }
  return logger
}

/** Checks one answer frame: status OK or a known code, never UNAVAILABLE. Returns the status. */
function statusOf (answer: Uint8Array, context: string): number {
  if (!(answer instanceof Uint8Array) || answer.length === 0) throw new Error(`${context}: empty answer`)
  const status = answer[0]!
  if (status !== 0 && !isRegistryErrorCode(status)) throw new Error(`${context}: unknown status ${status}`)
  if (status === RegistryErrorCode.UNAVAILABLE) throw new Error(`${context}: UNAVAILABLE (${new TextDecoder().decode(answer.subarray(1))})`)
  if (answer.length > MAX_REGISTRY_RESPONSE_BYTES) throw new Error(`${context}: answer of ${answer.length} bytes`)
  return status
}

/** Valid requests of each op, the seeds of the mutations. */
async function requestSeeds (names: string[], size: number): Promise<Record<RegistryOp, Uint8Array[]>> {
  const now = Date.now()
  const identity = createIdentity(crypto)
  return {
    info: [new Uint8Array(0)],
    register: [
      ...await Promise.all(['fresh_one', 'fresh_two', 'x'.repeat(20), names[0]!].map(async (name) => await createRegistration(crypto, createIdentity(crypto), name, { workTrials: TEST_WORK_TRIALS }))),
      craftRequest({ name: 'crafted', identity, time: now }),
      craftRequest({ name: 'rotated', identity, time: now, type: 2, previousIndex: 0 }),
      craftRequest({ name: 'badwork', identity, time: now, failWork: TEST_WORK_TRIALS }),
      craftRequest({ name: 'Ünicode', identity, time: now }),
      craftRequest({ name: new Uint8Array([0xff, 0xfe]), identity, time: now }),
      craftRequest({ name: 'stale', identity, time: now - 3_600_000 })
    ],
    lookup: [...names.map((n) => encodeLookupRequest(n, 0)), encodeLookupRequest(names[1]!, size), encodeLookupRequest('nobody_here', 1), encodeLookupRequest('abc', Number.MAX_SAFE_INTEGER), Uint8Array.of(1, 0x41, 0, 0, 0, 0, 0, 0, 0, 0)],
    consistency: [encodeConsistencyRequest(1, size), encodeConsistencyRequest(size, size), encodeConsistencyRequest(1, size + 5), encodeConsistencyRequest(2, Number.MAX_SAFE_INTEGER)],
    entries: [encodeEntriesRequest(0, 256), encodeEntriesRequest(size - 1, 1), encodeEntriesRequest(size, 10), encodeEntriesRequest(Number.MAX_SAFE_INTEGER, 1)]
  }
}

const requestArbitrary = (seeds: Record<RegistryOp, Uint8Array[]>): fc.Arbitrary<{ op: RegistryOp, request: Uint8Array }> =>
  fc.constantFrom(...OPS).chain((op) => mutatedBytes(seeds[op], 1100).map((request) => ({ op, request })))

describe('the registry door under 100,000 generated inputs', () => {
  it('answers each request with its error, decodes or refuses each answer, and keeps serving', async () => {
    const startedAt = Date.now()
    console.log(`[scenario 5b] seed ${FUZZ_SEED}: ${OPERATOR_INPUTS} handler + ${CLIENT_INPUTS} client decoder + ${WIRE_INPUTS} wire inputs`)

    // 1. The request handler over a real registry.
    const operatorIdentity = createIdentity(crypto)
    const registry = await openRegistry({ dbPath: join(await tempDir(), 'registry'), crypto, operator: operatorIdentity, workTrials: TEST_WORK_TRIALS })
    const names = ['alice', 'bob_b', 'carol_c', 'dave']
    for (const name of names) expect((await registry.register(await createRegistration(crypto, createIdentity(crypto), name, { workTrials: TEST_WORK_TRIALS }))).ok).toBe(true)
    const seeds = await requestSeeds(names, registry.size)
    const errors: string[] = []
    const logger = recordingLogger(errors)
    const statuses = new Map<number, number>()
    const heapBefore = heapAfterGc()
    for (const { value: { op, request }, index } of generateInChunks(requestArbitrary(seeds), OPERATOR_INPUTS, FUZZ_SEED)) {
      const status = statusOf(await answerRegistryRequest(registry, op, request, logger), `input ${index} (${op} ${Buffer.from(request).toString('hex').slice(0, 80)})`)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
    const sizeAfterFuzz = registry.size
    const handlerHeap = heapAfterGc()
    const handlerSeconds = (Date.now() - startedAt) / 1000

    // 2. The decoders of the answers, fed real answers mutated.
    const realAnswers: Record<RegistryOp, Uint8Array[]> = { info: [], register: [], lookup: [], consistency: [], entries: [] }
    for (const op of OPS) {
      for (const request of seeds[op]) realAnswers[op].push(await answerRegistryRequest(registry, op, request))
    }
    realAnswers.register.push(await answerRegistryRequest(registry, 'register', await createRegistration(crypto, createIdentity(crypto), 'answer_seed', { workTrials: TEST_WORK_TRIALS })))
    const decoders: Record<RegistryOp, (bytes: Uint8Array) => unknown> = {
      info: decodeInfoResponse, register: decodeRegisterResponse, lookup: decodeLookupResponse, consistency: decodeProofResponse, entries: decodeEntriesResponse
    }
    let decodedAnswers = 0
    let refusedAnswers = 0
    const answerArbitrary = fc.constantFrom(...OPS).chain((op) => mutatedBytes(realAnswers[op], 4000).map((answer) => ({ op, answer })))
    for (const { value: { op, answer }, index } of generateInChunks(answerArbitrary, CLIENT_INPUTS, FUZZ_SEED + 1)) {
      try {
        decoders[op](answer)
        decodedAnswers++
      } catch (error) {
        if (!(error instanceof RegistryFormatError)) throw new Error(`answer ${index} (${op}) threw ${String(error)}`, { cause: error })
        refusedAnswers++
      }
    }
    await registry.close()
    const clientHeap = heapAfterGc()

    // 3. A real Operator over real streams.
    const dataDir = await tempDir()
    const operator = createOperator({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1, rateLimits: false })
    await operator.start()
    operators.push(operator)
    for (const name of names) expect((await operator.registry!.register(await createRegistration(crypto, createIdentity(crypto), name, { workTrials: TEST_WORK_TRIALS }))).ok).toBe(true)
    const wireSeeds = await requestSeeds(names, operator.registry!.size)
    const address = multiaddr(operator.addresses.find((a) => a.includes('/127.0.0.1/'))!)
    const client = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    const wireHeapBefore = heapAfterGc()
    const wireStatuses = new Map<number, number>()
    let wireStreams = 0
    let rawStreams = 0
    let rawAnswered = 0
    try {
      // Batches of one op: a pipelined stream for lookup/consistency/entries, a stream each for info/register.
      const batches: Array<{ op: RegistryOp, requests: Uint8Array[] }> = []
      let current: { op: RegistryOp, requests: Uint8Array[] } | undefined
      for (const { value: { op, request } } of generateInChunks(requestArbitrary(wireSeeds), WIRE_INPUTS, FUZZ_SEED + 2)) {
        const pipelined = op === 'lookup' || op === 'consistency' || op === 'entries'
        if (current === undefined || current.op !== op || !pipelined || current.requests.length >= REQUESTS_PER_STREAM) {
          current = { op, requests: [] }
          batches.push(current)
        }
        current.requests.push(request)
      }
      // Group the one-request batches of the pipelined ops, so most requests share streams.
      const merged = new Map<RegistryOp, Uint8Array[]>()
      const streams: Array<{ op: RegistryOp, requests: Uint8Array[] }> = []
      for (const batch of batches) {
        if (batch.op === 'info' || batch.op === 'register') { streams.push(batch); continue }
        const list = merged.get(batch.op) ?? []
        list.push(...batch.requests)
        merged.set(batch.op, list)
      }
      for (const [op, list] of merged) {
        for (let i = 0; i < list.length; i += REQUESTS_PER_STREAM) streams.push({ op, requests: list.slice(i, i + REQUESTS_PER_STREAM) })
      }
      await pool(streams, 8, async ({ op, requests }) => {
        const stream = await client.dialProtocol(address, registryProtocol('komrade', op))
        wireStreams++
        const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES })
        const signal = AbortSignal.timeout(STREAM_TIMEOUT_MS)
        await lp.writeV(requests, { signal })
        await stream.close({ signal })
        for (let i = 0; i < requests.length; i++) {
          const answer = (await lp.read({ signal })).subarray()
          // A request over 1 KiB is answered MALFORMED and ends the stream (the rest of the frame is not read).
          const status = statusOf(answer, `wire ${op} request ${i}`)
          wireStatuses.set(status, (wireStatuses.get(status) ?? 0) + 1)
          if (requests[i]!.length > 1024) break
        }
      })
      // Raw bytes that break the framing: a length prefix past the limit, a truncated frame, noise.
      const raws = fc.sample(fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.constant(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f)),
        fc.uint8Array({ minLength: 1, maxLength: 50 }).map((b) => lengthPrefixed(b).subarray(0, Math.max(1, b.length))),
        fc.constant(concat(lengthPrefixed(new Uint8Array(2000)), lengthPrefixed(new Uint8Array(10))))
      ), { numRuns: Math.round(200 * SCALE), seed: FUZZ_SEED + 3 })
      await pool(raws.map((bytes, i) => ({ bytes, op: OPS[i % OPS.length]! })), 8, async ({ bytes, op }) => {
        const stream = await client.dialProtocol(address, registryProtocol('komrade', op))
        rawStreams++
        // An unfinished frame waits for the request timeout (15 s): the stream ends then, no later.
        const outcome = await rawSession(stream, bytes, STREAM_TIMEOUT_MS)
        if (outcome.answered > 0) rawAnswered++
      })

      // Afterwards: a new registration, proven on lookup, over the wire.
      const ask = async (op: RegistryOp, request: Uint8Array): Promise<Uint8Array> => {
        const stream = await client.dialProtocol(address, registryProtocol('komrade', op))
        const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES })
        await lp.write(request)
        const answer = (await lp.read({ signal: AbortSignal.timeout(STREAM_TIMEOUT_MS) })).subarray()
        await stream.close().catch(() => {})
        return answer
      }
      const registered = decodeRegisterResponse(await ask('register', await createRegistration(crypto, createIdentity(crypto), 'after_the_storm', { workTrials: TEST_WORK_TRIALS })))
      expect(registered.ok).toBe(true)
      const looked = decodeLookupResponse(await ask('lookup', encodeLookupRequest('after_the_storm', 0)))
      expect(looked).toMatchObject({ ok: true, value: { certificate: { entry: { request: { name: 'after_the_storm' } } } } })
    } finally {
      await client.stop()
    }
    const wireHeapAfter = heapAfterGc()
    const wireRequests = [...wireStatuses.values()].reduce((a, b) => a + b, 0)
    const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
    const named = (map: Map<number, number>): string => JSON.stringify(Object.fromEntries([...map].sort((a, b) => a[0] - b[0])
      .map(([code, n]) => [code === 0 ? 'OK' : Object.keys(RegistryErrorCode).find((k) => RegistryErrorCode[k as keyof typeof RegistryErrorCode] === code), n])))

    console.log(`[scenario 5b] handler: ${OPERATOR_INPUTS} requests, answers ${named(statuses)}; registry ${names.length} -> ${sizeAfterFuzz} entries; ` +
      `heap ${mib(heapBefore)} -> ${mib(handlerHeap)} MiB; ${handlerSeconds.toFixed(1)} s`)
    console.log(`[scenario 5b] client decoders: ${CLIENT_INPUTS} answers, ${decodedAnswers} decoded, ${refusedAnswers} refused with RegistryFormatError; heap -> ${mib(clientHeap)} MiB`)
    console.log(`[scenario 5b] wire: ${wireRequests} requests answered over ${wireStreams} streams ${named(wireStatuses)}, ${rawStreams} raw streams (${rawAnswered} answered, the rest reset); ` +
      `then a registration and its lookup succeeded; heap with the Operator up ${mib(wireHeapBefore)} -> ${mib(wireHeapAfter)} MiB; wall ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)

    expect(errors).toEqual([])
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(OPERATOR_INPUTS)
    expect(statuses.get(0)).toBeGreaterThan(0) // valid-shaped inputs got through
    expect(statuses.get(RegistryErrorCode.MALFORMED)).toBeGreaterThan(0)
    expect(decodedAnswers + refusedAnswers).toBe(CLIENT_INPUTS)
    expect(decodedAnswers).toBeGreaterThan(0)
    expect(refusedAnswers).toBeGreaterThan(0)
    expect(wireRequests).toBeGreaterThan(WIRE_INPUTS * 0.9) // all but those behind an oversize frame on its stream
    expect(handlerHeap - heapBefore).toBeLessThan(HEAP_BOUND_BYTES)
    expect(clientHeap - heapBefore).toBeLessThan(HEAP_BOUND_BYTES)
    expect(wireHeapAfter - wireHeapBefore).toBeLessThan(HEAP_BOUND_BYTES)
  }, 300_000)
})
