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
 *   4. resync after an outage: one node misses 10,000 pre-solved envelopes
 *      (feeder nodes resync them into the others) and 100 real messages,
 *      restarts, and resyncs with its peers (network-resync.ts).
 *   5. resident memory of a node holding 100,000 envelopes.
 *
 * Every node is its own process (network-worker.ts); every process and the
 * temp root are removed on any exit. Options (`npm run bench -- network
 * --key=value`): nodes (20), rounds (3), latency-envelopes (50 per round),
 * latency-rate (5/s), inbox-messages (20), ladder (20,30,40,...),
 * step-seconds (5), deadline-ms (2000), missed (10000), resync-messages
 * (100), memory-envelopes (100000), scale (multiplies every envelope count
 * not given explicitly), phases (latency,inbox,throughput,resync,memory).
 * The diagnostic flag --sync-validator swaps the Komrade gossip validator
 * for a synchronous one (no LevelDB lookup) to show what the lookup costs.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ratioOf, rowOf, type BenchContext, type Benchmark, type BenchRatio, type BenchResult, type BenchRow } from './harness.js'
import { presolve, stableEdges, quantile, startCluster, type Cluster } from './network-cluster.js'
import { killAll, removeOnExit } from './network-ipc.js'
import { DELIVERY_GOAL, DRAIN_MS, IDLE_MS, SENDER, idleRates, inboxLatency, latencyRound, throughputStep, type LatencyRound, type ThroughputStep } from './network-phases.js'
import { MEMORY_SETTLE_MS, nodeMemory, resyncAfterOutage } from './network-resync.js'

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
/** Fixed overhead the resync goal allows on top of 1.1x the missed bytes (the issue: "<= 1.1x missed + 64 KiB"). */
const RESYNC_SLACK_BYTES = 64 * 1024
const MIB = 1024 * 1024
/**
 * Publish rates tried, per second. Every node is a process on 2 shared
 * cores, and libp2p spends a few ms of CPU per node per 2 KiB gossip
 * message, so 20 nodes saturate the machine at a few dozen envelopes a
 * second; steps of about 1.4x up to well past that.
 */
const DEFAULT_LADDER = '20,30,40,60,80,120,160,240'

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
  memoryEnvelopes: number
  phases: Set<Phase>
  /** Diagnostic: the synchronous validator in the Komrade nodes. */
  syncValidator: boolean
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
  const ladder = (raw.ladder ?? DEFAULT_LADDER).split(',').map(Number)
  if (ladder.some((r) => !Number.isFinite(r) || r <= 0)) throw new RangeError('--ladder expected positive rates, e.g. 50,100,200')
  return {
    nodes: Math.round(num('nodes', 20, 3)),
    rounds: Math.round(num('rounds', 3)),
    latencyEnvelopes: count('latency-envelopes', 50),
    latencyRate: num('latency-rate', 5),
    inboxMessages: count('inbox-messages', 20),
    ladder: ladder.sort((a, b) => a - b),
    stepSeconds: num('step-seconds', 5, 0.5),
    deadlineMs: num('deadline-ms', 2000),
    missed: count('missed', 10_000),
    resyncMessages: count('resync-messages', 100),
    memoryEnvelopes: count('memory-envelopes', 100_000),
    phases: phases as Set<Phase>,
    syncValidator: raw['sync-validator'] === 'true'
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
  let topology: string | undefined
  try {
    const gossip = o.phases.has('latency') || o.phases.has('throughput')
    if (gossip || o.phases.has('inbox') || o.phases.has('resync')) {
      komrade = await startCluster({ mode: 'komrade', count: o.nodes, root, epoch, resyncIntervalMs: RESYNC_INTERVAL_MS, log, firstIndex: 0, syncValidator: o.syncValidator })
      if (o.syncValidator) notes.push('DIAGNOSTIC RUN (--sync-validator): the Komrade nodes\' gossip validator was replaced by checkEnvelope plus an in-memory set of accepted ids (no LevelDB lookup); everything else is the node\'s own.')
    }
    if (gossip) {
      // The same connections as the Komrade network ended up with (its dialer may add a few to the ring).
      const edges = komrade === undefined ? undefined : await stableEdges(komrade)
      raw = await startCluster({ mode: 'raw', count: o.nodes, root, epoch, resyncIntervalMs: RESYNC_INTERVAL_MS, log, firstIndex: o.nodes, ...(edges === undefined ? {} : { edges }) })
      if (edges !== undefined) {
        details.edges = edges
        const degree = komrade!.nodes.map((_, i) => edges.filter(([a, b]) => a === i || b === i).length)
        topology = `${edges.length} connections, ${Math.min(...degree)}..${Math.max(...degree)} per node`
      }
    }
    const wiring = komrade ?? raw
    if (wiring !== undefined) {
      notes.push(`${o.nodes} node processes per network on 127.0.0.1. Komrade nodes dial the nodes ${wiring.offsets.join(', ')} places ahead in a ring (${wiring.neighbours(0).length} peers each); their dialer adds more from what kad-dht discovers while a node has fewer than 8 peers, which it does during the wiring; once that settles, the raw nodes dial exactly the connections the Komrade network has${topology === undefined ? '' : ` (${topology})`}. Mesh peers per node: ${[komrade, raw].filter((c) => c !== undefined).map((c) => `${c.mode} ${c.setup.mesh}`).join(', ')}. Sender: node ${SENDER}.`)
    }

    if (o.phases.has('latency') && komrade !== undefined && raw !== undefined) {
      const [idleK, idleR] = await idleRates([komrade, raw])
      details.idle = {
        readBytesPerSecondPerNode: { komrade: mean(idleK!.read) * 1000, raw: mean(idleR!.read) * 1000 },
        cpuSharePerNode: { komrade: mean(idleK!.cpu), raw: mean(idleR!.cpu) }
      }
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
      const kc = rowOf({ id: 'cpu-k', label: 'CPU per receiving node per envelope, Komrade', unit: 'ms', samples: k.map((x) => x.cpuPerEnvelope) })
      const rc = rowOf({ id: 'cpu-r', label: 'CPU per receiving node per envelope, raw', unit: 'ms', samples: r.map((x) => x.cpuPerEnvelope) })
      rows.push(kp50, kp99, rp50, rp99, kb, rb, kc, rc)
      ratios.push(
        ratioOf('lat-p99', 'Komrade / raw, gossip delivery p99', kp99, rp99, { op: '<=', target: 1.25, source: 'issue 3: p99 <= 1.25x raw gossipsub' }),
        ratioOf('lat-p50', 'Komrade / raw, gossip delivery p50', kp50, rp50),
        ratioOf('bytes', 'Komrade / raw, bytes read per envelope', kb, rb),
        ratioOf('cpu', 'Komrade / raw, CPU per envelope', kc, rc)
      )
      const shares = [...k, ...r].map((x) => x.deliveredShare)
      notes.push(`Latency: ${o.rounds} alternating rounds of ${o.latencyEnvelopes} payloads at ${o.latencyRate}/s per network; p50/p99 over every (payload, receiver) pair of a round; arrival = the gossipsub:message event (Komrade: as the envelope reaches the node's onEnvelope/ingest, after its validator). Delivered share ${Math.min(...shares).toFixed(4)}..${Math.max(...shares).toFixed(4)}.`)
      notes.push(`Bytes: TCP bytes read (Noise, yamux, gossipsub framing, control messages and background included) per receiving node per payload of 2,048 B, over each round and its ${DRAIN_MS / 1000} s drain. Less the idle background: Komrade ${k.map((x) => Math.round(x.netBytesPerEnvelope)).join(', ')}, raw ${r.map((x) => Math.round(x.netBytesPerEnvelope)).join(', ')}; idle read ${Math.round(mean(idleK!.read) * 1000)} B/s per Komrade node, ${Math.round(mean(idleR!.read) * 1000)} B/s per raw node.`)
      const validators = k.map((x) => x.validator).filter((v) => v !== undefined)
      if (validators.length > 0) {
        notes.push(`Komrade's gossip validator (${o.syncValidator ? 'the diagnostic synchronous one' : 'checkEnvelope, then the store lookup in LevelDB'}), timed around the function gossipsub calls, per hop: p50 ${validators.map((v) => v.p50.toFixed(2)).join(', ')} ms, p99 ${validators.map((v) => v.p99.toFixed(1)).join(', ')} ms (per round).`)
      }
      notes.push(`CPU: process CPU time (all threads) per receiving node per payload over each round, less the node's idle CPU (measured over ${IDLE_MS / 1000} s before the rounds: ${(mean(idleK!.cpu) * 100).toFixed(2)}% of a core per Komrade node, ${(mean(idleR!.cpu) * 100).toFixed(2)}% per raw node; ${(mean(idleK!.cpu) * o.nodes * 100).toFixed(0)}% vs ${(mean(idleR!.cpu) * o.nodes * 100).toFixed(0)}% of a core for the whole network). Sender, per payload: Komrade ${mean(k.map((x) => x.senderCpuPerEnvelope)).toFixed(2)} ms, raw ${mean(r.map((x) => x.senderCpuPerEnvelope)).toFixed(2)} ms.`)
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
        details: { p90: quantile(inbox.latencies, 0.9), p99: quantile(inbox.latencies, 0.99), firstContactMs: inbox.firstContactMs, toGossipP50: quantile(inbox.toGossip, 0.5), toInboxP50: quantile(inbox.toInbox, 0.5) }
      }))
      notes.push(`Inbox: ${o.inboxMessages} messages over an established session, one at a time, from the send() call to the recipient's 'message' event: sealing, proof of work (TTL ${SEND_TTL_MINUTES} min, ~17k trials, in the sender's work thread), store, gossip, validation, screening, inbox commit. The first contact (before the session) took ${Math.round(inbox.firstContactMs)} ms. p90 ${Math.round(quantile(inbox.latencies, 0.9))} ms. Split at the envelope's arrival at the recipient's gossip handler (p50): ${Math.round(quantile(inbox.toGossip, 0.5))} ms from send() (seal, outbox commit, proof of work in the work thread, store, publish, gossip) and ${Math.round(quantile(inbox.toInbox, 0.5))} ms more to the 'message' event (ingest: screening, opening, inbox commit).`)
    }

    if (o.phases.has('throughput') && komrade !== undefined && raw !== undefined) {
      const steps: ThroughputStep[] = []
      const active = new Set<Cluster>([komrade, raw])
      for (const rate of o.ladder) {
        if (active.size === 0) break
        for (const cluster of [komrade, raw]) {
          if (!active.has(cluster)) continue
          const step = await throughputStep(cluster, rate, o.stepSeconds, o.deadlineMs, { root, ttlMinutes: PRESOLVED_TTL_MINUTES })
          steps.push(step)
          log(`  throughput ${cluster.mode} ${rate}/s (kept ${step.achievedRate.toFixed(0)}/s): delivered ${(step.deliveredShare * 100).toFixed(2)}% within ${o.deadlineMs} ms, p99 ${step.p99.toFixed(0)} ms${step.storedShare === undefined ? '' : `, stored ${(step.storedShare * 100).toFixed(2)}%`}${step.validator === undefined ? '' : `, validator p50 ${step.validator.p50.toFixed(1)} p99 ${step.validator.p99.toFixed(0)} ms`}`)
          if (step.deliveredShare < DELIVERY_GOAL) active.delete(cluster)
        }
      }
      details.throughputSteps = steps
      const k = sustained(steps.filter((s) => s.system === 'komrade'))
      const r = sustained(steps.filter((s) => s.system === 'raw'))
      const kRow = rowOf({ id: 'tput-k', label: 'sustained rate at >= 99.9% delivery, Komrade', unit: 'envelopes/s', samples: [k.rate], details: { step: k.step } })
      const rRow = rowOf({ id: 'tput-r', label: 'sustained rate at >= 99.9% delivery, raw', unit: 'envelopes/s', samples: [r.rate], details: { step: r.step } })
      rows.push(kRow, rRow)
      ratios.push(ratioOf('tput', 'Komrade / raw, sustained rate', kRow, rRow, { op: '>=', target: 0.8, source: 'issue 3: >= 0.8x raw gossipsub' }))
      const failing = steps.filter((x) => x.deliveredShare < DELIVERY_GOAL)
        .map((x) => `${x.system} at ${x.rate}/s (sender kept ${Math.round(x.achievedRate)}/s): ${(x.deliveredShare * 100).toFixed(2)}% within the deadline, ${(x.arrivedShare * 100).toFixed(2)}% at all, p99 ${Math.round(x.p99)} ms${x.validator === undefined ? '' : `, validator p50 ${x.validator.p50.toFixed(1)} ms p99 ${Math.round(x.validator.p99)} ms`}`)
      if (failing.length > 0) notes.push(`First failing steps: ${failing.join('; ')}.`)
      const topped = active.size > 0 ? ` ${[...active].map((c) => c.mode).join(' and ')} never fell below the goal: the ladder's top is a lower bound.` : ''
      notes.push(`Throughput: ladder ${o.ladder.join(', ')}/s, ${o.stepSeconds} s per step, networks alternating; a step passes when >= 99.9% of (payload, receiver) pairs arrive within ${o.deadlineMs} ms of their publish call; a network stops at its first failing step; the rate reported is the passing step's, capped by what the sender actually kept.${topped}`)
    }
    await raw?.close()
    raw = undefined

    if (o.phases.has('resync') && komrade !== undefined) {
      if (!o.phases.has('inbox')) await inboxLatency(komrade, recipient, 0, SEND_TTL_MINUTES) // the session the messages need
      const resync = await resyncAfterOutage(komrade, {
        outage: recipient, missed: o.missed, messages: o.resyncMessages, ttlMinutes: PRESOLVED_TTL_MINUTES, sendTtlMinutes: SEND_TTL_MINUTES, root, epoch, feederIndex: 2 * o.nodes, log
      })
      details.resync = resync
      const goal = 1.1 + RESYNC_SLACK_BYTES / resync.missedBytes
      // Each sync alone: frame bytes over the bytes of the envelopes it moved (those that moved at least half the gap).
      const perSync = resync.syncs.filter((x) => x.ok && (x.received ?? 0) + (x.sent ?? 0) >= resync.missedEnvelopes / 2)
        .map((x) => ((x.bytesIn ?? 0) + (x.bytesOut ?? 0)) / (((x.received ?? 0) + (x.sent ?? 0)) * 2048))
      rows.push(
        rowOf({ id: 'resync-bytes', label: 'resync bytes (all syncs) / missed bytes', unit: 'x', samples: [resync.resyncBytes / resync.missedBytes], goal: { op: '<=', target: goal, source: 'issue 3: <= 1.1x missed + 64 KiB' } }),
        rowOf({ id: 'resync-wire', label: 'TCP bytes in+out at the node / missed bytes', unit: 'x', samples: [resync.wireBytes / resync.missedBytes] }),
        rowOf({ id: 'resync-one', label: 'one sync: its bytes / bytes of the envelopes it moved', unit: 'x', samples: perSync.length === 0 ? [Number.NaN] : perSync }),
        rowOf({ id: 'resync-store', label: `time to hold all ${resync.missedEnvelopes} missed envelopes`, unit: 's', samples: [resync.storeMs === undefined ? Number.POSITIVE_INFINITY : resync.storeMs / 1000] }),
        rowOf({ id: 'resync-inbox', label: `time to a full inbox (${o.resyncMessages} messages)`, unit: 's', samples: [resync.inboxMs === undefined ? Number.POSITIVE_INFINITY : resync.inboxMs / 1000] })
      )
      const ok = resync.syncs.filter((s) => s.ok)
      const failed = resync.syncs.filter((s) => !s.ok)
      notes.push(`Resync: node ${recipient} stopped; node ${SENDER} sent it ${o.resyncMessages} messages over their session (TTL ${SEND_TTL_MINUTES} min, gossiped to every store); the ${o.missed.toLocaleString('en-US')} pre-solved envelopes (TTL ${PRESOLVED_TTL_MINUTES} min) reached the other nodes from feeder nodes whose stores held them, through resync (${round1(resync.feedMs / 1000)} s, ${resync.holders} of ${o.nodes - 1} nodes held them all; gossiping them to every process would take this machine far longer). The node restarted and dialed its ${resync.peers} ring neighbours; its own dialer (8 peers wanted, not counting those dials while in flight) may add more, and every outbound connection queues a sync. Missed: ${resync.missedEnvelopes.toLocaleString('en-US')} envelopes (${round1(resync.missedBytes / MIB)} MiB). Syncs: ${ok.length} completed, ${failed.length} failed${failed.length === 0 ? '' : ` (${[...new Set(failed.map((s) => s.error))].join(', ')})`}; envelopes received/sent by the node per sync, in order: ${ok.map((s) => s.peer === komrade!.nodes[recipient]!.peerId ? `${s.sent ?? 0}/${s.received ?? 0}` : `${s.received ?? 0}/${s.sent ?? 0}`).join(', ')}. Resync frame bytes ${round1(resync.resyncBytes / MIB)} MiB; TCP ${round1(resync.wireBytes / MIB)} MiB (${round1(resync.wireBytesAtFull / MIB)} MiB until the store was full). Node start ${Math.round(resync.startMs)} ms, included in both times. Goal: <= 1.1 + 64 KiB / missed = ${goal.toFixed(4)}.`)
    }
    await komrade?.close()
    komrade = undefined

    if (o.phases.has('memory')) {
      const memory = await nodeMemory(o.memoryEnvelopes, root, epoch, 2 * o.nodes + 2, log)
      details.memory = memory
      rows.push(
        rowOf({ id: 'rss-full', label: `RSS of a node holding ${o.memoryEnvelopes.toLocaleString('en-US')} envelopes`, unit: 'MiB', samples: [memory.full.rss / MIB], details: memory.full }),
        rowOf({ id: 'rss-empty', label: 'RSS of an empty node', unit: 'MiB', samples: [memory.empty.rss / MIB], details: memory.empty })
      )
      notes.push(`Memory: ${o.memoryEnvelopes.toLocaleString('en-US')} cover envelopes WITHOUT proof of work (the store does not check it) written by another process through createEnvelopeStore into the node's LevelDB sublevel, then a fresh process started createKomradeNode on it (unconnected: peers would reject unworked envelopes), waited ${MEMORY_SETTLE_MS / 1000} s and ran full GCs. Heap used ${round1(memory.full.heapUsed / MIB)} MiB vs ${round1(memory.empty.heapUsed / MIB)} MiB empty (reserved ${round1(memory.full.heapTotal / MIB)} vs ${round1(memory.empty.heapTotal / MIB)} MiB); ${Math.round((memory.full.rss - memory.empty.rss) / memory.envelopes)} B of RSS per envelope${memory.full.rssFile === undefined || memory.empty.rssFile === undefined ? '' : `, of which ${Math.round((memory.full.rssFile - memory.empty.rssFile) / memory.envelopes)} B file-backed (mapped files: LevelDB tables, reclaimable)`}. The empty node's RSS includes tsx (the benchmark runs the TypeScript sources) in the main thread and in the proof-of-work thread.`)
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
