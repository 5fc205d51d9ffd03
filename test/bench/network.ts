/**
 * The network benchmark: a local network of Komrade node processes on
 * 127.0.0.1 side by side with raw gossipsub (the same number of processes,
 * the same topology, the same 2048-byte payloads; network-raw.ts):
 *
 *   1. delivery latency p50/p99: one sender publishes pre-solved envelopes
 *      through `node.network.publish` (raw: random payloads) at a modest
 *      rate; every other node records when the envelope reaches its gossip
 *      handler. Rounds alternate between the two networks. Also the
 *      recipient-inbox latency of real messages (`node.send`: sealing, proof
 *      of work at a short TTL, screening), Komrade only.
 *   2. sustained throughput: a ladder of publish rates; the highest rate at
 *      which >= 99.9% of (envelope, receiver) pairs arrive within a deadline.
 *   3. bytes received per node per envelope (TCP bytes, from the latency rounds).
 *   4. resync after an outage: one node misses N envelopes and 100 real
 *      messages, restarts, and resyncs with its usual peers.
 *   5. resident memory of a node holding 100,000 envelopes.
 *
 * Every node is its own process (network-worker.ts); every process and the
 * temp root are removed on any exit. Options (`npm run bench -- network
 * --key=value`): nodes (20), rounds (3), latency-envelopes (100 per round),
 * latency-rate (20/s), inbox-messages (20), ladder (25,50,...), step-seconds
 * (5), deadline-ms (2000), missed (10000), resync-messages (100),
 * resync-rate (from the Komrade throughput), memory-envelopes (100000),
 * scale (multiplies every envelope count), phases (latency,inbox,throughput,resync,memory).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ratioOf, rowOf, type BenchContext, type Benchmark, type BenchRatio, type BenchResult, type BenchRow } from './harness.js'
import { presolve, quantile, startCluster, type Cluster } from './network-cluster.js'
import { killAll, removeOnExit } from './network-ipc.js'
import { DELIVERY_GOAL, SENDER, idleReadRates, inboxLatency, latencyRound, throughputStep, type LatencyRound, type ThroughputStep } from './network-phases.js'
import { nodeMemory, resyncAfterOutage } from './network-resync.js'

/**
 * Lifetime of the pre-solved envelopes. The verifier charges 5 minutes less
 * (SPEC §5), so 15 minutes costs ~17,600 trials (~17 ms here), barely more
 * than the 16,384 floor, and they stay valid for the whole run.
 */
const PRESOLVED_TTL_MINUTES = 15
/** TTL of real messages (`node.send`): short, so proof of work is ~17 ms, not the 2-day default's ~0.25 s. */
const SEND_TTL_MINUTES = 10
/** Periodic resync off: only connections trigger syncs, so the periodic ones do not land inside a measurement. */
const RESYNC_INTERVAL_MS = 3_600_000
/** The resync phase publishes at this share of the Komrade sustained rate, well inside it. */
const RESYNC_RATE_SHARE = 0.5
const RESYNC_RATE_BOUNDS = [20, 400] as const
/** Fixed overhead the resync goal allows on top of 1.1x the missed bytes (the issue: "<= 1.1x missed + 64 KiB"). */
const RESYNC_SLACK_BYTES = 64 * 1024
const MIB = 1024 * 1024

const PHASES = ['latency', 'inbox', 'throughput', 'resync', 'memory'] as const
type Phase = typeof PHASES[number]

interface Options {
  nodes: number
  rounds: number
  latencyEnvelopes: number
  latencyRate: number
  inboxMessages: number
  ladder: number[]
  stepSeconds: number
  deadlineMs: number
  missed: number
  resyncMessages: number
  resyncRate?: number
  memoryEnvelopes: number
  phases: Set<Phase>
}

function parseOptions (raw: Readonly<Record<string, string>>): Options {
  const num = (key: string, fallback: number, min = 1): number => {
    const value = raw[key] === undefined ? fallback : Number(raw[key])
    if (!Number.isFinite(value) || value < min) throw new RangeError(`--${key} expected a number >= ${min}, got ${raw[key]}`)
    return value
  }
  const scale = num('scale', 1, 0.001)
  const count = (key: string, fallback: number): number => Math.max(1, Math.round(num(key, fallback) * (raw[key] === undefined ? scale : 1)))
  const phases = new Set((raw.phases ?? PHASES.join(',')).split(',').map((p) => p.trim()))
  for (const p of phases) if (!(PHASES as readonly string[]).includes(p)) throw new RangeError(`--phases: unknown phase ${p}; known: ${PHASES.join(', ')}`)
  const ladder = (raw.ladder ?? '25,50,75,100,150,200,300,400,600,800').split(',').map(Number)
  if (ladder.some((r) => !Number.isFinite(r) || r <= 0)) throw new RangeError('--ladder expected positive rates, e.g. 50,100,200')
  return {
    nodes: Math.round(num('nodes', 20, 3)),
    rounds: Math.round(num('rounds', 3)),
    latencyEnvelopes: count('latency-envelopes', 100),
    latencyRate: num('latency-rate', 20),
    inboxMessages: count('inbox-messages', 20),
    ladder: ladder.sort((a, b) => a - b),
    stepSeconds: num('step-seconds', 5, 0.5),
    deadlineMs: num('deadline-ms', 2000),
    missed: count('missed', 10_000),
    resyncMessages: count('resync-messages', 100),
    ...(raw['resync-rate'] === undefined ? {} : { resyncRate: num('resync-rate', 50) }),
    memoryEnvelopes: count('memory-envelopes', 100_000),
    phases: phases as Set<Phase>
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10

/** The highest ladder rate whose step met the delivery goal, capped by what the sender kept up. */
function sustained (steps: ThroughputStep[]): { rate: number, step?: ThroughputStep } {
  let best: ThroughputStep | undefined
  for (const step of steps) if (step.deliveredShare >= DELIVERY_GOAL) best = step
  return best === undefined ? { rate: 0 } : { rate: Math.min(best.rate, best.achievedRate), step: best }
}

async function run (context: BenchContext): Promise<BenchResult> {
  const o = parseOptions(context.options)
  const log = context.log
  const rows: BenchRow[] = []
  const ratios: BenchRatio[] = []
  const notes: string[] = []
  const details: Record<string, unknown> = { options: { ...o, phases: [...o.phases] } }
  const root = await mkdtemp(join(tmpdir(), 'komrade-bench-network-'))
  removeOnExit(root)
  const epoch = process.hrtime.bigint()
  const recipient = Math.floor(o.nodes / 2)
  let komrade: Cluster | undefined
  let raw: Cluster | undefined
  try {
    const gossip = o.phases.has('latency') || o.phases.has('throughput')
    if (gossip || o.phases.has('inbox') || o.phases.has('resync')) {
      komrade = await startCluster({ mode: 'komrade', count: o.nodes, root, epoch, resyncIntervalMs: RESYNC_INTERVAL_MS, log, firstIndex: 0 })
    }
    if (gossip) raw = await startCluster({ mode: 'raw', count: o.nodes, root, epoch, resyncIntervalMs: RESYNC_INTERVAL_MS, log, firstIndex: o.nodes })
    notes.push(`${o.nodes} node processes per network on 127.0.0.1, each dialing the nodes 1, 2, 5 and 7 places ahead in a ring (8 peers each); sender node ${SENDER}.`)

    if (o.phases.has('latency') && komrade !== undefined && raw !== undefined) {
      const [idleK, idleR] = await idleReadRates([komrade, raw])
      details.idleReadBytesPerSecond = { komrade: mean(idleK!) * 1000, raw: mean(idleR!) * 1000 }
      log(`  latency: solving ${o.rounds * o.latencyEnvelopes} envelopes`)
      await presolve(komrade, SENDER, o.rounds * o.latencyEnvelopes, PRESOLVED_TTL_MINUTES, root, 'latency')
      const k: LatencyRound[] = []
      const r: LatencyRound[] = []
      for (let i = 0; i < o.rounds; i++) {
        k.push(await latencyRound(komrade, o.latencyEnvelopes, o.latencyRate, idleK!))
        r.push(await latencyRound(raw, o.latencyEnvelopes, o.latencyRate, idleR!))
        log(`  latency round ${i + 1}: komrade p50 ${k[i]!.p50.toFixed(1)} p99 ${k[i]!.p99.toFixed(1)} ms; raw p50 ${r[i]!.p50.toFixed(1)} p99 ${r[i]!.p99.toFixed(1)} ms`)
      }
      details.latencyRounds = { komrade: k, raw: r }
      const kp50 = rowOf({ id: 'lat-k-p50', label: 'gossip delivery p50, Komrade (pre-solved, network.publish)', unit: 'ms', samples: k.map((x) => x.p50) })
      const kp99 = rowOf({ id: 'lat-k-p99', label: 'gossip delivery p99, Komrade', unit: 'ms', samples: k.map((x) => x.p99) })
      const rp50 = rowOf({ id: 'lat-r-p50', label: 'gossip delivery p50, raw gossipsub', unit: 'ms', samples: r.map((x) => x.p50) })
      const rp99 = rowOf({ id: 'lat-r-p99', label: 'gossip delivery p99, raw gossipsub', unit: 'ms', samples: r.map((x) => x.p99) })
      const kb = rowOf({ id: 'bytes-k', label: 'TCP bytes read per node per envelope, Komrade', unit: 'B', samples: k.map((x) => x.bytesPerEnvelope), details: { lessIdleBackground: k.map((x) => Math.round(x.netBytesPerEnvelope)) } })
      const rb = rowOf({ id: 'bytes-r', label: 'TCP bytes read per node per envelope, raw', unit: 'B', samples: r.map((x) => x.bytesPerEnvelope), details: { lessIdleBackground: r.map((x) => Math.round(x.netBytesPerEnvelope)) } })
      rows.push(kp50, kp99, rp50, rp99, kb, rb)
      ratios.push(
        ratioOf('lat-p99', 'Komrade / raw, gossip delivery p99', kp99, rp99, { op: '<=', target: 1.25, source: 'issue 3: p99 <= 1.25x raw gossipsub' }),
        ratioOf('lat-p50', 'Komrade / raw, gossip delivery p50', kp50, rp50),
        ratioOf('bytes', 'Komrade / raw, bytes read per envelope', kb, rb)
      )
      const shares = [...k, ...r].map((x) => x.deliveredShare)
      notes.push(`Latency: ${o.rounds} alternating rounds of ${o.latencyEnvelopes} payloads at ${o.latencyRate}/s per network; p50/p99 over every (payload, receiver) pair of a round; arrival = the gossipsub:message event (Komrade: as the envelope reaches the node's onEnvelope/ingest, after its validator). Delivered share ${Math.min(...shares).toFixed(4)}..${Math.max(...shares).toFixed(4)}.`)
      notes.push(`Bytes: TCP bytes read (Noise, yamux, gossipsub framing, control messages and background included) per receiving node per payload of 2,048 B, over each round and its ${3} s drain. Less the idle background: Komrade ${k.map((x) => Math.round(x.netBytesPerEnvelope)).join(', ')}, raw ${r.map((x) => Math.round(x.netBytesPerEnvelope)).join(', ')}; idle read ${Math.round(mean(idleK!) * 1000)} B/s per Komrade node, ${Math.round(mean(idleR!) * 1000)} B/s per raw node.`)
    }

    if (o.phases.has('inbox') && komrade !== undefined) {
      log(`  inbox: ${o.inboxMessages} messages from node ${SENDER} to node ${recipient}`)
      const inbox = await inboxLatency(komrade, recipient, o.inboxMessages, SEND_TTL_MINUTES)
      details.inbox = inbox
      rows.push(rowOf({
        id: 'inbox',
        label: `recipient-inbox latency, node.send, TTL ${SEND_TTL_MINUTES} min`,
        unit: 'ms',
        samples: inbox.latencies,
        details: { p90: quantile(inbox.latencies, 0.9), p99: quantile(inbox.latencies, 0.99), firstContactMs: inbox.firstContactMs }
      }))
      notes.push(`Inbox: ${o.inboxMessages} messages over an established session, one at a time, from the send() call to the recipient's 'message' event: sealing, proof of work (TTL ${SEND_TTL_MINUTES} min, ~17k trials, in the sender's work thread), store, gossip, validation, screening, inbox commit. The first contact (before the session) took ${Math.round(inbox.firstContactMs)} ms. p90 ${Math.round(quantile(inbox.latencies, 0.9))} ms.`)
    }

    let komradeSustained: number | undefined
    if (o.phases.has('throughput') && komrade !== undefined && raw !== undefined) {
      const steps: ThroughputStep[] = []
      const active = new Set<Cluster>([komrade, raw])
      for (const rate of o.ladder) {
        if (active.size === 0) break
        for (const cluster of [komrade, raw]) {
          if (!active.has(cluster)) continue
          const step = await throughputStep(cluster, rate, o.stepSeconds, o.deadlineMs, { root, ttlMinutes: PRESOLVED_TTL_MINUTES })
          steps.push(step)
          log(`  throughput ${cluster.mode} ${rate}/s (kept ${step.achievedRate.toFixed(0)}/s): delivered ${(step.deliveredShare * 100).toFixed(2)}% within ${o.deadlineMs} ms, p99 ${step.p99.toFixed(0)} ms${step.storedShare === undefined ? '' : `, stored ${(step.storedShare * 100).toFixed(2)}%`}`)
          if (step.deliveredShare < DELIVERY_GOAL) active.delete(cluster)
        }
      }
      details.throughputSteps = steps
      const k = sustained(steps.filter((s) => s.system === 'komrade'))
      const r = sustained(steps.filter((s) => s.system === 'raw'))
      komradeSustained = k.rate
      const kRow = rowOf({ id: 'tput-k', label: 'sustained rate at >= 99.9% delivery, Komrade', unit: 'envelopes/s', samples: [k.rate], details: { step: k.step } })
      const rRow = rowOf({ id: 'tput-r', label: 'sustained rate at >= 99.9% delivery, raw', unit: 'envelopes/s', samples: [r.rate], details: { step: r.step } })
      rows.push(kRow, rRow)
      ratios.push(ratioOf('tput', 'Komrade / raw, sustained rate', kRow, rRow, { op: '>=', target: 0.8, source: 'issue 3: >= 0.8x raw gossipsub' }))
      const topped = active.size > 0 ? ` ${[...active].map((c) => c.mode).join(' and ')} never fell below the goal: the ladder's top is a lower bound.` : ''
      notes.push(`Throughput: ladder ${o.ladder.join(', ')}/s, ${o.stepSeconds} s per step, networks alternating; a step passes when >= 99.9% of (payload, receiver) pairs arrive within ${o.deadlineMs} ms of their publish call; a network stops at its first failing step; the rate reported is the passing step's, capped by what the sender actually kept.${topped}`)
    }
    await raw?.close()
    raw = undefined

    if (o.phases.has('resync') && komrade !== undefined) {
      if (!o.phases.has('inbox')) await inboxLatency(komrade, recipient, 0, SEND_TTL_MINUTES) // the session the messages need
      const rate = o.resyncRate ?? (komradeSustained !== undefined && komradeSustained > 0
        ? Math.round(Math.min(RESYNC_RATE_BOUNDS[1], Math.max(RESYNC_RATE_BOUNDS[0], komradeSustained * RESYNC_RATE_SHARE)))
        : 50)
      const resync = await resyncAfterOutage(komrade, {
        outage: recipient, missed: o.missed, messages: o.resyncMessages, rate, ttlMinutes: PRESOLVED_TTL_MINUTES, sendTtlMinutes: SEND_TTL_MINUTES, root, log
      })
      details.resync = resync
      const goal = 1.1 + RESYNC_SLACK_BYTES / resync.missedBytes
      rows.push(
        rowOf({ id: 'resync-bytes', label: 'resync bytes (all syncs) / missed bytes', unit: 'x', samples: [resync.resyncBytes / resync.missedBytes], goal: { op: '<=', target: goal, source: 'issue 3: <= 1.1x missed + 64 KiB' } }),
        rowOf({ id: 'resync-wire', label: 'TCP bytes in+out at the node / missed bytes', unit: 'x', samples: [resync.wireBytes / resync.missedBytes] }),
        rowOf({ id: 'resync-store', label: `time to hold all ${resync.missedEnvelopes} missed envelopes`, unit: 's', samples: [resync.storeMs === undefined ? Number.POSITIVE_INFINITY : resync.storeMs / 1000] }),
        rowOf({ id: 'resync-inbox', label: `time to a full inbox (${o.resyncMessages} messages)`, unit: 's', samples: [resync.inboxMs === undefined ? Number.POSITIVE_INFINITY : resync.inboxMs / 1000] })
      )
      const ok = resync.syncs.filter((s) => s.ok)
      const failed = resync.syncs.filter((s) => !s.ok)
      notes.push(`Resync: node ${recipient} stopped; node ${SENDER} sent it ${o.resyncMessages} messages (session, TTL ${SEND_TTL_MINUTES} min) and published ${o.missed} pre-solved envelopes at ${rate}/s (spread to every other store in ${round1(resync.spreadMs / 1000)} s); then it restarted and dialed its ${komrade.neighbours(recipient).length} usual peers. Missed: ${resync.missedBytes / 2048} envelopes (${round1(resync.missedBytes / MIB)} MiB). ${ok.length} syncs completed (${resync.syncs.filter((s) => s.ok && s.peer !== komrade!.nodes[recipient]!.peerId).length} initiated by peers), ${failed.length} failed (${[...new Set(failed.map((s) => s.error))].join(', ') || 'none'}); envelopes received by the node per sync: ${ok.map((s) => s.peer === komrade!.nodes[recipient]!.peerId ? s.sent : s.received).join(', ')}. Resync frame bytes ${round1(resync.resyncBytes / MIB)} MiB; TCP ${round1(resync.wireBytes / MIB)} MiB (${round1(resync.wireBytesAtFull / MIB)} MiB until the store was full). Node start ${Math.round(resync.startMs)} ms, included in both times. Goal: <= 1.1 + 64 KiB / missed = ${goal.toFixed(4)}.`)
    }
    await komrade?.close()
    komrade = undefined

    if (o.phases.has('memory')) {
      const memory = await nodeMemory(o.memoryEnvelopes, root, epoch, 2 * o.nodes, log)
      details.memory = memory
      rows.push(
        rowOf({ id: 'rss-full', label: `RSS of a node holding ${o.memoryEnvelopes.toLocaleString('en-US')} envelopes`, unit: 'MiB', samples: [memory.full.rss / MIB], details: memory.full }),
        rowOf({ id: 'rss-empty', label: 'RSS of an empty node', unit: 'MiB', samples: [memory.empty.rss / MIB], details: memory.empty })
      )
      notes.push(`Memory: ${o.memoryEnvelopes.toLocaleString('en-US')} cover envelopes WITHOUT proof of work (the store does not check it) written by another process through createEnvelopeStore into the node's LevelDB sublevel, then a fresh process started createKomradeNode on it (unconnected: peers would reject unworked envelopes), waited ${3} s and ran full GCs. Heap ${round1(memory.full.heapUsed / MIB)} MiB vs ${round1(memory.empty.heapUsed / MIB)} MiB empty; ${Math.round((memory.full.rss - memory.empty.rss) / memory.envelopes)} B of RSS per envelope.`)
    }
    return { name: 'network', title: `Network: ${o.nodes} Komrade node processes vs raw gossipsub on 127.0.0.1`, rows, ratios, notes, details }
  } finally {
    await raw?.close().catch(() => {})
    await komrade?.close().catch(() => {})
    killAll()
    await rm(root, { recursive: true, force: true }).catch(() => {})
  }
}

function mean (values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
}

/** The network benchmark (see the file comment). */
export const benchmark: Benchmark = {
  name: 'network',
  description: 'latency, throughput, bytes per envelope, resync and memory of a local Komrade network vs raw gossipsub',
  run
}
