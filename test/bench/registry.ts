/**
 * The Operator's registry with 1,000,000 names (issue 4): lookups with proof
 * and registrations per second on one core, proof and answer sizes, store
 * size on disk, start-up time and memory.
 *
 * The filled registry is kept in test-results/bench-cache/ (filling it signs
 * and registers a million requests, a few minutes) and copied for each run,
 * so every run measures the same registry. `--registry-names=N` changes the
 * size; `--registry-sample=N` the number of timed registrations.
 *
 * Requests carry a proof of work of 16 trials instead of the default 262,144:
 * verifying it costs one SHA-256 whatever the target, so the registration
 * rate measured is the rate at the default setting; minting a million real
 * ones would take days.
 */
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { openRegistry, type Registry } from '../../bootstrap/index.js'
import { REGISTRY_DIR } from '../../bootstrap/constants.js'
import { IDENTITY_FILE } from '../../node/identity-file.js'
import { createNetwork } from '../../node/network.js'
import { createRegistryClient } from '../../node/registry/registry-client.js'
import {
  createIdentity, decodeIdentity, encodeIdentity, merkleLeafHash, nativeCrypto, verifyCertificate, verifyInclusion,
  verifyTreeHead, decodeCertificate, decodePublicIdentity, encodeLookupResponse, fromHex, type Identity
} from '../../protocol/index.js'
import { rowOf, type BenchContext, type Benchmark, type BenchRow } from './harness.js'

const BENCH_WORK_TRIALS = 16
const NAME_PREFIX = 'bench_'
const PREFILL_CONCURRENCY = 256
const TIMED_CONCURRENCY = 64
const ROUNDS = 3
const LOOKUP_SECONDS = 2
/** Lookups kept in flight by the client of the wire measurement: the Operator takes 8 streams per connection and op. */
const WIRE_CONCURRENCY = 8
/** Names per `lookupMany` in the pipelined wire measurement: a contact list's worth, one stream each. */
const WIRE_BATCH = 64
/** `lookupMany` calls in flight: the Operator answers one stream while the client verifies another's answers. */
const WIRE_BATCHES_IN_FLIGHT = 4
/**
 * Lookups over the wire before the timed ones: a running Operator is warm (JIT, LevelDB's and the
 * page cache's blocks); with 1,000,000 names the first seconds after start cost it half again as much.
 */
const WIRE_WARMUP_SECONDS = 2
const crypto = nativeCrypto()

/** The i-th benchmark name: always valid (a-z, 0-9, _; 3 to 32 characters). */
export function benchName (prefix: string, i: number): string {
  return `${prefix}${i.toString(36).padStart(5, '0')}`
}

/** Signs `count` requests for names first.. in worker threads, yielding batches as they come. */
async function * generate (first: number, count: number, prefix: string): AsyncGenerator<Uint8Array[]> {
  const threads = 2
  const per = Math.ceil(count / threads)
  const queue: Uint8Array[][] = []
  let running = 0
  let failure: unknown
  let wake: (() => void) | undefined
  for (let t = 0; t < threads; t++) {
    const start = first + t * per
    const n = Math.min(per, first + count - start)
    if (n <= 0) continue
    running++
    const worker = new Worker(new URL('./registry-requests.ts', import.meta.url), {
      execArgv: ['--import', 'tsx'],
      workerData: { first: start, count: n, trials: BENCH_WORK_TRIALS, batch: 2000, prefix }
    })
    worker.on('message', (message: { requests?: Uint8Array[], done?: true }) => {
      if (message.requests !== undefined) queue.push(message.requests)
      if (message.done === true) { running--; void worker.terminate() }
      wake?.()
    })
    worker.on('error', (error) => { failure = error; running--; wake?.() })
  }
  while (running > 0 || queue.length > 0) {
    if (failure !== undefined) throw failure
    const batch = queue.shift()
    if (batch !== undefined) { yield batch; continue }
    await new Promise<void>((resolve) => { wake = resolve })
    wake = undefined
  }
  if (failure !== undefined) throw failure
}

/** Registers requests keeping `concurrency` in flight; throws on the first refusal (a self-check). */
async function registerAll (registry: Registry, requests: Iterable<Uint8Array> | AsyncIterable<Uint8Array[]>, concurrency: number): Promise<number> {
  const inFlight = new Set<Promise<void>>()
  let count = 0
  const submit = async (request: Uint8Array): Promise<void> => {
    const task = registry.register(request).then((result) => {
      if (!result.ok) throw new Error(`self-check: a benchmark registration was refused (${result.code}: ${result.message})`)
      count++
    })
    const tracked = task.finally(() => inFlight.delete(tracked))
    inFlight.add(tracked)
    if (inFlight.size >= concurrency) await Promise.race(inFlight)
  }
  if (Symbol.asyncIterator in requests) {
    for await (const batch of requests) for (const request of batch) await submit(request)
  } else {
    for (const request of requests) await submit(request)
  }
  await Promise.all(inFlight)
  return count
}

async function diskBytes (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? await diskBytes(path) : (await stat(path)).size
  }
  return total
}

/** The filled registry in the cache, made on first use. */
async function cachedRegistry (root: string, names: number, context: BenchContext): Promise<{ dir: string, operator: Identity }> {
  const dir = join(root, 'test-results', 'bench-cache', `registry-${names}-v2`)
  // Laid out as an Operator's data directory, so the wire measurement can start an Operator on a copy.
  const keyFile = join(dir, IDENTITY_FILE)
  const doneFile = join(dir, 'complete')
  try {
    await stat(doneFile)
    return { dir, operator: decodeIdentity(crypto, new Uint8Array(await readFile(keyFile))) }
  } catch {}
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const operator = createIdentity(crypto)
  await writeFile(keyFile, encodeIdentity(operator), { mode: 0o600 })
  context.log(`registry: filling ${names.toLocaleString('en-US')} names into ${dir} (once; later runs reuse it)`)
  const registry = await openRegistry({ dbPath: join(dir, REGISTRY_DIR), crypto, operator, workTrials: BENCH_WORK_TRIALS })
  const started = Date.now()
  let lastLog = started
  async function * logged (): AsyncGenerator<Uint8Array[]> {
    for await (const batch of generate(0, names, NAME_PREFIX)) {
      yield batch
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now()
        context.log(`  ${registry.size.toLocaleString('en-US')} registered, ${((Date.now() - started) / 1000).toFixed(0)} s`)
      }
    }
  }
  await registerAll(registry, logged(), PREFILL_CONCURRENCY)
  if (registry.size !== names) throw new Error(`self-check: the filled registry holds ${registry.size} entries, not ${names}`)
  await registry.close()
  await writeFile(doneFile, `${new Date().toISOString()}\n`)
  context.log(`registry: filled in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return { dir, operator }
}

/** Looks up random names for `seconds`, one at a time (one core); checks a few answers fully. */
async function lookupRate (registry: Registry, names: number, operator: Identity, seconds: number): Promise<{ rate: number, cpuRate: number, bytes: number[] }> {
  const bytes: number[] = []
  let count = 0
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < 200; i++) {
      const name = benchName(NAME_PREFIX, Math.floor(Math.random() * names))
      const answer = await registry.lookup(name, 0)
      if (!answer.ok) throw new Error(`self-check: lookup of ${name} failed (${answer.code}: ${answer.message})`)
      if (count % 5000 === 0) {
        const certificate = decodeCertificate(answer.value.certificate)
        const head = answer.value.head
        const proven = certificate.entry.request.name === name &&
          verifyCertificate(crypto, operator.signingKey, certificate) &&
          verifyTreeHead(crypto, operator.signingKey, head) &&
          verifyInclusion(crypto, merkleLeafHash(crypto, certificate.entry.bytes), certificate.entry.index, head.size, answer.value.inclusion, head.root)
        if (!proven) throw new Error(`self-check: the answer for ${name} does not verify`)
        bytes.push(encodeLookupResponse({ ...answer.value, head: head.bytes }).length)
      }
      count++
    }
  }
  const elapsed = (performance.now() - start) / 1000
  const cpu = process.cpuUsage(cpuStart)
  return { rate: count / elapsed, cpuRate: count / ((cpu.user + cpu.system) / 1e6), bytes }
}

/** Lookups per second, and per second of the Operator process's CPU time. */
interface WireRate { rate: number, perOperatorCpu: number }

/**
 * An Operator in its own process on a copy of the filled registry, and a
 * client node asking it over libp2p, every answer verified by the client:
 * start-up time and memory of the Operator process, then lookups per second
 * and per second of the Operator's CPU time (the client verifies three
 * signatures per answer and shares the 2 cores), first with one stream per
 * lookup, then with `lookupMany` (WIRE_BATCH lookups on one stream).
 */
async function wireMeasurement (copyDir: string, names: number, context: BenchContext): Promise<{ startSeconds: number, rssMiB: number, single: WireRate, pipelined: WireRate }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./registry-operator.ts', import.meta.url)), copyDir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await lines.next()
    if (line.done === true) throw new Error('self-check: the Operator process ended early')
    return JSON.parse(line.value) as Record<string, unknown>
  }
  const network = await createNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], validate: async () => 'ignore', onEnvelope: () => {} })
  try {
    const ready = await next() as { address: string, identity: string, startSeconds: number, rssMiB: number }
    await network.start()
    const client = createRegistryClient({
      libp2p: network.libp2p, networkName: 'komrade', operator: decodePublicIdentity(fromHex(ready.identity)), addresses: [ready.address], crypto
    })
    await client.info()
    const cpuOf = async (): Promise<number> => { child.stdin.write('cpu\n'); return (await next() as { cpuSeconds: number }).cpuSeconds }
    const randomName = (): string => benchName(NAME_PREFIX, Math.floor(Math.random() * names))
    /** Runs `inFlight` loops of `step` (each returning the lookups it made) for `seconds`. */
    const measure = async (inFlight: number, step: () => Promise<number>, seconds = LOOKUP_SECONDS): Promise<WireRate> => {
      const cpuBefore = await cpuOf()
      let count = 0
      const started = performance.now()
      const loop = async (): Promise<void> => {
        while (performance.now() - started < seconds * 1000) {
          const made = await step() // not `count += await step()`: that reads `count` before the await, losing the other loops' counts
          count += made
        }
      }
      await Promise.all(Array.from({ length: inFlight }, loop))
      const elapsed = (performance.now() - started) / 1000
      const operatorCpu = await cpuOf() - cpuBefore
      return { rate: count / elapsed, perOperatorCpu: count / operatorCpu }
    }
    const oneLookup = async (): Promise<number> => {
      const name = randomName()
      const answer = await client.lookup(name, 0)
      if (!answer.ok) throw new Error(`self-check: wire lookup of ${name} failed (${answer.code}: ${answer.message})`)
      return 1
    }
    const batchOfLookups = async (): Promise<number> => {
      const outcomes = await client.lookupMany(Array.from({ length: WIRE_BATCH }, randomName), 0)
      for (const outcome of outcomes) {
        if (outcome.error !== undefined) throw new Error(`self-check: pipelined lookup of ${outcome.name} failed: ${outcome.error.message}`)
        if (!outcome.answer.ok) throw new Error(`self-check: pipelined lookup of ${outcome.name} failed (${outcome.answer.code}: ${outcome.answer.message})`)
      }
      return outcomes.length
    }
    await measure(WIRE_BATCHES_IN_FLIGHT, batchOfLookups, WIRE_WARMUP_SECONDS)
    const single = await measure(WIRE_CONCURRENCY, oneLookup)
    const pipelined = await measure(WIRE_BATCHES_IN_FLIGHT, batchOfLookups)
    context.log(`  wire: ${Math.round(single.rate)} lookups/s one per stream, ${Math.round(pipelined.rate)} lookups/s ${WIRE_BATCH} per stream; ` +
      `Operator started in ${ready.startSeconds.toFixed(1)} s`)
    return { startSeconds: ready.startSeconds, rssMiB: ready.rssMiB, single, pipelined }
  } finally {
    await network.stop()
    child.stdin.end('stop\n')
    await new Promise((resolve) => child.once('exit', resolve))
  }
}

export const benchmark: Benchmark = {
  name: 'registry',
  description: 'the Operator with 1,000,000 names: lookups and registrations per second, proof sizes, disk, start-up',
  async run (context) {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
    const names = Number(context.options['registry-names'] ?? 1_000_000)
    const sample = Number(context.options['registry-sample'] ?? 20_000)
    const { dir: cacheDir, operator } = await cachedRegistry(root, names, context)

    const rows: BenchRow[] = []
    const notes: string[] = []
    const startup: number[] = []
    const lookups: number[] = []
    const lookupsCpu: number[] = []
    const registrations: number[] = []
    const registrationsCpu: number[] = []
    const answerBytes: number[] = []
    const wireLookups: number[] = []
    const wirePerCpu: number[] = []
    const pipelinedLookups: number[] = []
    const pipelinedPerCpu: number[] = []
    let rssMiB = 0
    let storeBytes = 0
    let consistencyHashes = 0
    let inclusionHashes = 0

    for (let round = 0; round < ROUNDS; round++) {
      const operatorDir = join(tmpdir(), `komrade-bench-operator-${process.pid}-${round}`)
      await rm(operatorDir, { recursive: true, force: true })
      await cp(cacheDir, operatorDir, { recursive: true })
      try {
        const wire = await wireMeasurement(operatorDir, names, context)
        startup.push(wire.startSeconds)
        rssMiB = wire.rssMiB
        wireLookups.push(wire.single.rate)
        wirePerCpu.push(wire.single.perOperatorCpu)
        pipelinedLookups.push(wire.pipelined.rate)
        pipelinedPerCpu.push(wire.pipelined.perOperatorCpu)
      } finally {
        await rm(operatorDir, { recursive: true, force: true })
      }

      const work = join(tmpdir(), `komrade-bench-registry-${process.pid}-${round}`)
      await rm(work, { recursive: true, force: true })
      await cp(join(cacheDir, REGISTRY_DIR), work, { recursive: true })
      try {
        context.gc()
        const registry = await openRegistry({ dbPath: work, crypto, operator, workTrials: BENCH_WORK_TRIALS })
        if (registry.size < names) throw new Error(`self-check: the copied registry holds ${registry.size} entries`)

        const lookup = await lookupRate(registry, names, operator, LOOKUP_SECONDS)
        lookups.push(lookup.rate)
        lookupsCpu.push(lookup.cpuRate)
        answerBytes.push(...lookup.bytes)
        const size = registry.size
        const first = await registry.lookup(benchName(NAME_PREFIX, 0), 0)
        if (!first.ok) throw new Error('self-check: the first name is missing')
        inclusionHashes = first.value.inclusion.length
        const consistency = registry.consistency(Math.floor(size / 2) + 1, size)
        if (!consistency.ok) throw new Error('self-check: no consistency proof')
        consistencyHashes = consistency.value.length

        // Fresh requests (made now: the Operator refuses requests older than 10 minutes).
        const fresh: Uint8Array[] = []
        for await (const batch of generate(names + round * sample, sample, `${NAME_PREFIX}r${round}_`)) fresh.push(...batch)
        context.gc()
        const cpuStart = process.cpuUsage()
        const started = performance.now()
        const registered = await registerAll(registry, fresh, TIMED_CONCURRENCY)
        const elapsed = (performance.now() - started) / 1000
        const cpu = process.cpuUsage(cpuStart)
        registrations.push(registered / elapsed)
        registrationsCpu.push(registered / ((cpu.user + cpu.system) / 1e6))
        await registry.close()
        storeBytes = await diskBytes(work)
        context.log(`  round ${round + 1}: ${Math.round(lookup.rate)} lookups/s, ${Math.round(registered / elapsed)} registrations/s`)
      } finally {
        await rm(work, { recursive: true, force: true })
      }
    }

    rows.push(rowOf({ id: 'lookup', label: `lookups with proof (${names.toLocaleString('en-US')} names, one at a time)`, unit: 'lookups/s', samples: lookups, cpuSamples: lookupsCpu, goal: { op: '>=', target: 5000, source: 'issue 4' } }))
    rows.push(rowOf({ id: 'register', label: `registrations, ${TIMED_CONCURRENCY} in flight, work checked, synced to disk`, unit: 'registrations/s', samples: registrations, cpuSamples: registrationsCpu, goal: { op: '>=', target: 1000, source: 'issue 4' } }))
    rows.push(rowOf({ id: 'wire', label: `lookups over libp2p, one stream each, ${WIRE_CONCURRENCY} in flight, answers verified by the client`, unit: 'lookups/s', samples: wireLookups }))
    rows.push(rowOf({ id: 'wire-cpu', label: 'the same per second of the Operator process\'s CPU time', unit: 'lookups/s', samples: wirePerCpu }))
    rows.push(rowOf({ id: 'wire-pipelined', label: `lookups over libp2p, ${WIRE_BATCH} per stream (lookupMany), ${WIRE_BATCHES_IN_FLIGHT} streams in flight, verified`, unit: 'lookups/s', samples: pipelinedLookups }))
    rows.push(rowOf({ id: 'wire-pipelined-cpu', label: 'the same per second of the Operator process\'s CPU time', unit: 'lookups/s', samples: pipelinedPerCpu, goal: { op: '>=', target: 5000, source: 'issue 4' } }))
    rows.push(rowOf({ id: 'startup', label: 'Operator start-up (own process): store, Merkle tree, node', unit: 's', samples: startup }))
    rows.push(rowOf({ id: 'answer', label: 'lookup answer on the wire (certificate, head, inclusion proof)', unit: 'bytes', samples: answerBytes }))
    notes.push(`inclusion proof at ${names.toLocaleString('en-US')} entries: ${inclusionHashes} hashes = ${inclusionHashes * 32} bytes; consistency proof from half the log: ${consistencyHashes} hashes = ${consistencyHashes * 32} bytes`)
    notes.push(`store on disk after ${(names + sample).toLocaleString('en-US')} entries: ${(storeBytes / 2 ** 20).toFixed(1)} MiB (${Math.round(storeBytes / (names + sample))} bytes per entry)`)
    notes.push(`resident memory of the Operator process after start-up: ${rssMiB.toFixed(0)} MiB (Merkle tree, LevelDB caches, libp2p)`)
    notes.push(`registrations are acknowledged only after a synced LevelDB batch; requests carry ${BENCH_WORK_TRIALS}-trial work (verifying costs one SHA-256 at any target)`)
    return { name: 'registry', title: 'Operator registry: lookups, registrations, sizes', rows, ratios: [], notes }
  }
}
