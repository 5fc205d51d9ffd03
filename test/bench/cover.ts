/**
 * The cover-traffic benchmark (`npm run bench -- cover`): what cover traffic
 * costs each node, measured on a small real network and extrapolated.
 *
 * Every envelope reaches every node, so a node receives the cover of the
 * whole network: per node and day, N nodes x 24 x rate envelopes, times the
 * bytes a node reads per envelope (gossip amplification: a copy from mesh
 * peers, IHAVE/IDONTWANT control, framing), plus the background the network
 * costs anyway. This measures that per-envelope cost on `nodes` Komrade node
 * processes on 127.0.0.1 (network-worker.ts, wired as the network benchmark
 * does), all emitting cover at an accelerated `rate` so it stands well above
 * the background, and extrapolates to 100, 1,000 and 10,000 nodes at the
 * default rate (60 an hour). The background (idle TCP bytes and CPU per
 * node) is measured first on the same number of nodes with cover off, over
 * one round's length.
 *
 * Options (`npm run bench -- cover --key=value`): nodes (10), rate (1 per
 * node per second while measuring), seconds (20 per round), rounds (3),
 * per-hour (60: the rate extrapolated to).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ENVELOPE_SIZE } from '../../protocol/index.js'
import { DEFAULT_COVER_RATE_PER_HOUR } from '../../node/node-constants.js'
import { rowOf, type BenchContext, type Benchmark, type BenchResult, type BenchRow } from './harness.js'
import { sleep, startCluster, type Cluster } from './network-cluster.js'
import { killAll, removeOnExit, type WorkerStatus } from './network-ipc.js'

/** Lifetime of the benchmark's cover: proof of work ~17 ms instead of the 2-day default's ~0.25 s (envelopes are 2,048 bytes either way). */
const BENCH_TTL_MINUTES = 15
/** Periodic resync off: it would move envelopes outside gossip during a round. */
const RESYNC_INTERVAL_MS = 3_600_000
/** After the meshes form: every node's reserve of cover minted and the schedule running. */
const WARM_UP_MS = 5000
/** The default TTL (2 days): how long every node stores each envelope. */
const STORED_DAYS = 2
const SIZES = [100, 1_000, 10_000]
const MIB = 1024 * 1024
const GIB = 1024 * MIB

interface Options {
  nodes: number
  rate: number
  seconds: number
  rounds: number
  perHour: number
}

function parseOptions (raw: Readonly<Record<string, string>>): Options {
  const num = (key: string, fallback: number, min: number): number => {
    const value = raw[key] === undefined ? fallback : Number(raw[key])
    if (!Number.isFinite(value) || value < min) throw new RangeError(`--${key} expected a number >= ${min}, got ${raw[key]}`)
    return value
  }
  return {
    nodes: Math.round(num('nodes', 10, 3)),
    rate: num('rate', 1, 0.01),
    seconds: num('seconds', 20, 1),
    rounds: Math.round(num('rounds', 3, 1)),
    perHour: num('per-hour', DEFAULT_COVER_RATE_PER_HOUR, 0.01)
  }
}

interface Round {
  /** Envelopes emitted by the whole network in the round. */
  envelopes: number
  /** Mean per node per envelope of the network, less the idle background: TCP bytes read and written, CPU ms. */
  read: number
  written: number
  cpu: number
  /** Read per node per envelope, background included. */
  grossRead: number
  seconds: number
}

async function statuses (cluster: Cluster): Promise<WorkerStatus[]> {
  return await Promise.all(cluster.nodes.map(async (n) => await n.worker.request('status', {})))
}

async function measureRound (cluster: Cluster, seconds: number, idle: { read: number, written: number, cpu: number }): Promise<Round> {
  await cluster.clearArrivals()
  const wireBefore = await cluster.wire()
  const before = await statuses(cluster)
  const t0 = performance.now()
  await sleep(seconds * 1000)
  const wireAfter = await cluster.wire()
  const after = await statuses(cluster)
  const ms = performance.now() - t0
  await cluster.clearArrivals()
  const envelopes = after.reduce((sum, s, i) => sum + (s.coverEmitted ?? 0) - (before[i]!.coverEmitted ?? 0), 0)
  if (envelopes <= 0) throw new Error('the nodes emitted no cover envelope during the round')
  const read = mean(wireAfter.map((w, i) => w.read - wireBefore[i]!.read))
  const written = mean(wireAfter.map((w, i) => w.written - wireBefore[i]!.written))
  const cpu = mean(after.map((s, i) => s.cpuMs - before[i]!.cpuMs))
  return {
    envelopes,
    read: (read - idle.read * ms) / envelopes,
    written: (written - idle.written * ms) / envelopes,
    cpu: (cpu - idle.cpu * ms) / envelopes,
    grossRead: read / envelopes,
    seconds: ms / 1000
  }
}

/** Bytes read and written and CPU per node per ms over `seconds` of a network that emits nothing. */
async function background (cluster: Cluster, seconds: number): Promise<{ read: number, written: number, cpu: number }> {
  const wireBefore = await cluster.wire()
  const before = await statuses(cluster)
  const t0 = performance.now()
  await sleep(seconds * 1000)
  const wireAfter = await cluster.wire()
  const after = await statuses(cluster)
  const ms = performance.now() - t0
  return {
    read: mean(wireAfter.map((w, i) => w.read - wireBefore[i]!.read)) / ms,
    written: mean(wireAfter.map((w, i) => w.written - wireBefore[i]!.written)) / ms,
    cpu: mean(after.map((s, i) => s.cpuMs - before[i]!.cpuMs)) / ms
  }
}

function mean (values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length
}

function human (bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(1)} GiB`
  return `${(bytes / MIB).toFixed(bytes >= 10 * MIB ? 0 : 1)} MiB`
}

async function run (context: BenchContext): Promise<BenchResult> {
  const o = parseOptions(context.options)
  const log = context.log
  const root = await mkdtemp(join(tmpdir(), 'komrade-bench-cover-'))
  removeOnExit(root)
  const epoch = process.hrtime.bigint()
  const rows: BenchRow[] = []
  const notes: string[] = []
  let cluster: Cluster | undefined
  try {
    // 1. The background: the same network with cover off (heartbeats, IHAVE, DHT, identify).
    cluster = await startCluster({ mode: 'komrade', count: o.nodes, root, epoch, resyncIntervalMs: RESYNC_INTERVAL_MS, log, firstIndex: 0, cover: false })
    await sleep(WARM_UP_MS)
    const idle = await background(cluster, o.seconds)
    log(`  background: ${Math.round(idle.read * 1000)} B/s read, ${(idle.cpu * 100).toFixed(2)}% of a core per node`)
    await cluster.close()
    cluster = undefined

    // 2. Cover at an accelerated rate on every node.
    const ratePerHour = o.rate * 3600
    cluster = await startCluster({
      mode: 'komrade', count: o.nodes, root, epoch, resyncIntervalMs: RESYNC_INTERVAL_MS, log, firstIndex: o.nodes,
      cover: { ratePerHour, ttlMinutes: BENCH_TTL_MINUTES }
    })
    await sleep(WARM_UP_MS)
    const rounds: Round[] = []
    for (let i = 0; i < o.rounds; i++) {
      const round = await measureRound(cluster, o.seconds, idle)
      rounds.push(round)
      log(`  round ${i + 1}: ${round.envelopes} envelopes, ${Math.round(round.read)} B read and ${Math.round(round.written)} B written per node per envelope (less background), ${round.cpu.toFixed(2)} ms CPU`)
    }

    rows.push(
      rowOf({ id: 'read', label: 'TCP bytes read per node per envelope of the network (less background)', unit: 'B', samples: rounds.map((r) => r.read), details: { gross: rounds.map((r) => Math.round(r.grossRead)), envelopes: rounds.map((r) => r.envelopes) } }),
      rowOf({ id: 'written', label: 'TCP bytes written per node per envelope (less background)', unit: 'B', samples: rounds.map((r) => r.written) }),
      rowOf({ id: 'cpu', label: 'CPU per node per envelope (less background)', unit: 'ms', samples: rounds.map((r) => r.cpu) }),
      rowOf({ id: 'idle', label: 'background read per node, cover off', unit: 'B/s', samples: [idle.read * 1000] })
    )
    const perNodeDay = o.perHour * 24
    for (const size of SIZES) {
      const envelopesPerDay = size * perNodeDay
      rows.push(rowOf({
        id: `day-${size}`,
        label: `read per node per day, ${size.toLocaleString('en-US')} nodes at ${o.perHour}/h (cover + background)`,
        unit: 'MiB',
        samples: rounds.map((r) => (r.read * envelopesPerDay + idle.read * 86_400_000) / MIB),
        details: {
          envelopesPerDay,
          writtenMiB: Math.round(mean(rounds.map((r) => r.written)) * envelopesPerDay / MIB),
          cpuSecondsPerDay: Math.round(mean(rounds.map((r) => r.cpu)) * envelopesPerDay / 1000),
          storedEnvelopes: envelopesPerDay * STORED_DAYS,
          storedMiB: Math.round(envelopesPerDay * STORED_DAYS * ENVELOPE_SIZE / MIB)
        }
      }))
    }
    const read = mean(rounds.map((r) => r.read))
    const written = mean(rounds.map((r) => r.written))
    const cpu = mean(rounds.map((r) => r.cpu))
    notes.push(`${o.nodes} Komrade node processes on 127.0.0.1 in a ring (each dials the nodes ${cluster.offsets.join(', ')} ahead; mesh ${cluster.setup.mesh}), every node emitting cover traffic at ${o.rate}/s (${ratePerHour}/h, TTL ${BENCH_TTL_MINUTES} min: the same 2,048-byte envelopes as at the default TTL, cheaper proof of work). ${o.rounds} rounds of ${o.seconds} s; envelopes counted from every node's status().cover.emittedToday; TCP bytes of every socket (Noise, yamux, gossipsub framing and control) per node, divided by the envelopes the whole network emitted, less each node's background measured on the same network size with cover off (${Math.round(idle.read * 1000)} B/s read, ${(idle.cpu * 100).toFixed(2)}% of a core).`)
    notes.push(`Extrapolation: a node receives every node's envelopes, ${o.perHour} x 24 = ${perNodeDay.toLocaleString('en-US')} a day each: per node per day = N x ${perNodeDay.toLocaleString('en-US')} x ${Math.round(read)} B read (${Math.round(written)} B written, ${cpu.toFixed(2)} ms CPU) + ${human(idle.read * 86_400_000)} background. ` +
      SIZES.map((size) => `${size.toLocaleString('en-US')} nodes: ${human(size * perNodeDay * read + idle.read * 86_400_000)} read, ${human(size * perNodeDay * written)} written, ${Math.round(size * perNodeDay * cpu / 1000).toLocaleString('en-US')} CPU s, ${human(size * perNodeDay * STORED_DAYS * ENVELOPE_SIZE)} of envelopes stored (2-day TTL; the default quota is 512 MiB)`).join('; ') +
      '. Assumes the per-envelope cost measured here (a gossip mesh of ${cluster.setup.mesh} peers, the same control traffic per message) holds in a larger network, and that real messages are a small part of the traffic (they take cover slots, adding nothing).')
    return { name: 'cover', title: `Cover traffic: cost per node, ${o.nodes} nodes measured, extrapolated at ${o.perHour}/h`, rows, ratios: [], notes, details: { options: o, idle, rounds } }
  } finally {
    await cluster?.close().catch(() => {})
    killAll()
    await rm(root, { recursive: true, force: true }).catch(() => {})
  }
}

/** The cover-traffic benchmark (see the file comment). */
export const benchmark: Benchmark = {
  name: 'cover',
  description: 'bytes and CPU per node per cover envelope on a small network, extrapolated to 100, 1,000 and 10,000 nodes',
  run
}
