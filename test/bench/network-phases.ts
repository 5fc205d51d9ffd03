/**
 * The gossip phases of the network benchmark, run on a Komrade cluster and a
 * raw gossipsub cluster side by side: delivery latency and bytes per
 * envelope (one sender, a modest rate), recipient-inbox latency of real
 * messages (Komrade only), and sustained throughput on a ladder of rates.
 */
import { deliveryStats, presolve, quantile, sleep, type Cluster } from './network-cluster.js'
import type { WireBytes } from './network-ipc.js'

/** The node that publishes; every other node is a receiver. */
export const SENDER = 0
/** Time for the last envelopes of a latency round to arrive everywhere before counting. */
export const DRAIN_MS = 3000
/** Length of the idle window that measures background traffic (heartbeats, IHAVE, DHT). */
export const IDLE_MS = 5000
/** Between two real messages: lets the recipient's receipt go out first, as in a conversation. */
const INBOX_GAP_MS = 300
/** Polling interval while waiting for an inbox arrival (the time itself is taken in the worker). */
const INBOX_POLL_MS = 20
/** Deadline for one real message, or the handshake, to arrive. */
const INBOX_TIMEOUT_MS = 60_000
/** A network counts as settled after this long without arrivals or store growth. */
const SETTLE_QUIET_MS = 1000
const SETTLE_MAX_MS = 60_000
/** Delivery ratio a throughput step must reach (the "at >= 99.9% delivery"). */
export const DELIVERY_GOAL = 0.999
/** Margin after the deadline before arrivals are collected. */
const COLLECT_MARGIN_MS = 500

function receiversOf (cluster: Cluster, exclude: number[] = []): number[] {
  return cluster.nodes.map((_, i) => i).filter((i) => i !== SENDER && !exclude.includes(i))
}

/** Publish-call timeout: the paced duration plus generous slack. */
function publishTimeout (count: number, rate: number): number {
  return Math.ceil(count / rate * 1000) + 120_000
}

/** Background traffic and CPU of each node with nothing published: bytes read and CPU ms per ms. */
export interface IdleRates {
  readonly read: number[]
  readonly cpu: number[]
}

async function cpuTimes (cluster: Cluster): Promise<number[]> {
  return await Promise.all(cluster.nodes.map(async (n) => (await n.worker.request('status', {})).cpuMs))
}

/** Measures every node's idle traffic and CPU over one window, all clusters at once. */
export async function idleRates (clusters: Cluster[]): Promise<IdleRates[]> {
  const wireBefore = await Promise.all(clusters.map(async (c) => await c.wire()))
  const cpuBefore = await Promise.all(clusters.map(cpuTimes))
  const t0 = performance.now()
  await sleep(IDLE_MS)
  const wireAfter = await Promise.all(clusters.map(async (c) => await c.wire()))
  const cpuAfter = await Promise.all(clusters.map(cpuTimes))
  const ms = performance.now() - t0
  return clusters.map((_, c) => ({
    read: wireAfter[c]!.map((w, i) => (w.read - wireBefore[c]![i]!.read) / ms),
    cpu: cpuAfter[c]!.map((t, i) => (t - cpuBefore[c]![i]!) / ms)
  }))
}

/** One latency round of one network. */
export interface LatencyRound {
  readonly p50: number
  readonly p99: number
  readonly deliveredShare: number
  readonly samples: number
  /** Mean TCP bytes read per receiver per envelope, background included. */
  readonly bytesPerEnvelope: number
  /** The same, less each node's idle background over the window. */
  readonly netBytesPerEnvelope: number
  /** Mean CPU ms per receiver per envelope (all threads of the process), less its idle CPU over the window. */
  readonly cpuPerEnvelope: number
  /** Sender's CPU ms per envelope, less idle. */
  readonly senderCpuPerEnvelope: number
  /** Komrade: the gossip validator's duration per received envelope (every receiver), p50 and p99, ms. */
  readonly validator?: { p50: number, p99: number, count: number }
  readonly zeroRecipients: number
  readonly failed: number
}

/** Publishes `count` payloads at `rate` from the sender and measures arrival latency and bytes read. */
export async function latencyRound (cluster: Cluster, count: number, rate: number, idle: IdleRates): Promise<LatencyRound> {
  const sender = cluster.nodes[SENDER]!.worker
  await cluster.clearArrivals()
  await takeValidations(cluster)
  const before = await cluster.wire()
  const cpuBefore = await cpuTimes(cluster)
  const t0 = performance.now()
  const published = await sender.request('publish', { count, rate }, publishTimeout(count, rate))
  await sleep(DRAIN_MS)
  const after = await cluster.wire()
  const cpuAfter = await cpuTimes(cluster)
  const windowMs = performance.now() - t0
  const cpu = cpuAfter.map((t, i) => (t - cpuBefore[i]! - idle.cpu[i]! * windowMs) / count)
  const arrivals = await cluster.arrivals()
  const receivers = receiversOf(cluster)
  const stats = deliveryStats(published.sent, arrivals, receivers, Number.POSITIVE_INFINITY)
  const validations = await takeValidations(cluster)
  const read = receivers.map((i) => after[i]!.read - before[i]!.read)
  const gross = read.reduce((a, b) => a + b, 0) / receivers.length / count
  const background = receivers.map((i) => idle.read[i]! * windowMs).reduce((a, b) => a + b, 0) / receivers.length / count
  return {
    p50: quantile(stats.latencies, 0.5),
    p99: quantile(stats.latencies, 0.99),
    deliveredShare: stats.arrived / stats.expected,
    samples: stats.latencies.length,
    bytesPerEnvelope: gross,
    netBytesPerEnvelope: gross - background,
    cpuPerEnvelope: receivers.map((i) => cpu[i]!).reduce((a, b) => a + b, 0) / receivers.length,
    senderCpuPerEnvelope: cpu[SENDER]!,
    ...validatorStats(validations),
    zeroRecipients: published.zeroRecipients,
    failed: published.failed
  }
}

/** Recipient-inbox latency of real messages sent with `node.send`. */
export interface InboxResult {
  /** Send call to the recipient's `message` event, first contact (handshake) excluded. */
  readonly latencies: number[]
  /** The part until the envelope reached the recipient's gossip handler: seal, proof of work, store, publish, gossip. */
  readonly toGossip: number[]
  /** The rest: the recipient's ingest (store lookup, screening, opening, inbox commit) until its `message` event. */
  readonly toInbox: number[]
  /** The first message, a first contact to a stranger. */
  readonly firstContactMs: number
}

async function waitForMessage (cluster: Cluster, recipient: number, text: string): Promise<number> {
  const deadline = Date.now() + INBOX_TIMEOUT_MS
  for (;;) {
    const { messages } = await cluster.nodes[recipient]!.worker.request('messages', {})
    const hit = messages.find(([t]) => t === text)
    if (hit !== undefined) return hit[1]
    if (Date.now() > deadline) throw new Error(`inbox: "${text}" did not reach node ${recipient}`)
    await sleep(INBOX_POLL_MS)
  }
}

/**
 * Opens a session from the sender to `recipient` (first contact, then the
 * accept comes back), then sends `count` messages one at a time over it.
 */
export async function inboxLatency (cluster: Cluster, recipient: number, count: number, ttlMinutes: number): Promise<InboxResult> {
  const sender = cluster.nodes[SENDER]!.worker
  const to = cluster.nodes[recipient]!.publicIdentity
  if (to === undefined) throw new Error('inbox: the recipient has no public identity')
  await cluster.nodes[recipient]!.worker.request('messages', {})
  const first = await sender.request('send', { to, text: 'hello', ttlMinutes })
  const firstContactMs = await waitForMessage(cluster, recipient, 'hello') - first.at
  const deadline = Date.now() + INBOX_TIMEOUT_MS
  while (!(await sender.request('outbox', {})).states.every((s) => s === 'delivered')) {
    if (Date.now() > deadline) throw new Error('inbox: the first contact was never accepted')
    await sleep(100)
  }
  const latencies: number[] = []
  const toGossip: number[] = []
  const toInbox: number[] = []
  const recipientWorker = cluster.nodes[recipient]!.worker
  for (let i = 0; i < count; i++) {
    const text = `latency ${i}`
    await recipientWorker.request('arrivals', {})
    const { at } = await sender.request('send', { to, text, ttlMinutes })
    const inboxAt = await waitForMessage(cluster, recipient, text)
    latencies.push(inboxAt - at)
    // The only gossip the recipient receives meanwhile is this message's envelope (its receipts go the other way).
    const gossipAt = Math.min(...(await recipientWorker.request('arrivals', {})).arrivals.map(([, t]) => t).filter((t) => t >= at && t <= inboxAt))
    if (Number.isFinite(gossipAt)) {
      toGossip.push(gossipAt - at)
      toInbox.push(inboxAt - gossipAt)
    }
    await sleep(INBOX_GAP_MS)
  }
  return { latencies, toGossip, toInbox, firstContactMs }
}

/** Waits until no node records arrivals (and, for Komrade, no store grows) for a quiet second. */
export async function settle (cluster: Cluster): Promise<void> {
  const deadline = Date.now() + SETTLE_MAX_MS
  let stores = -1
  for (;;) {
    await cluster.clearArrivals()
    await sleep(SETTLE_QUIET_MS)
    const arrived = (await cluster.arrivals()).reduce((sum, m) => sum + m.size, 0)
    const now = cluster.mode === 'komrade'
      ? (await Promise.all(cluster.nodes.map(async (n) => (await n.worker.request('status', {})).storeCount))).reduce((a, b) => a + b, 0)
      : 0
    if (arrived === 0 && now === stores) return
    stores = now
    if (Date.now() > deadline) return
  }
}

/** One step of the throughput ladder. */
export interface ThroughputStep {
  readonly system: Cluster['mode']
  readonly rate: number
  /** Publish rate the sender actually kept (count over the span of publish calls). */
  readonly achievedRate: number
  readonly deliveredShare: number
  /** Arrived at all (late ones too). */
  readonly arrivedShare: number
  readonly p50: number
  readonly p99: number
  /** Komrade: envelopes stored by receivers during the step, per expected delivery. */
  readonly storedShare?: number
  readonly bytesPerEnvelope: number
  /** Komrade: the gossip validator's duration per received envelope, p50 and p99, ms. */
  readonly validator?: { p50: number, p99: number, count: number }
}

async function takeValidations (cluster: Cluster): Promise<number[]> {
  if (cluster.mode !== 'komrade') return []
  return (await Promise.all(cluster.nodes.map(async (n) => (await n.worker.request('validations', {})).ms))).flat()
}

function validatorStats (ms: number[]): { validator?: { p50: number, p99: number, count: number } } {
  return ms.length === 0 ? {} : { validator: { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), count: ms.length } }
}

async function storeCounts (cluster: Cluster): Promise<number[]> {
  return await Promise.all(cluster.nodes.map(async (n) => (await n.worker.request('status', {})).storeCount))
}

function readPerReceiver (before: WireBytes[], after: WireBytes[], receivers: number[], count: number): number {
  return receivers.map((i) => after[i]!.read - before[i]!.read).reduce((a, b) => a + b, 0) / receivers.length / count
}

/** Publishes `rate` x `seconds` payloads (pre-solved for Komrade) and counts deliveries within `deadlineMs`. */
export async function throughputStep (cluster: Cluster, rate: number, seconds: number, deadlineMs: number,
  presolveInit: { root: string, ttlMinutes: number }): Promise<ThroughputStep> {
  const count = Math.max(2, Math.round(rate * seconds))
  if (cluster.mode === 'komrade') await presolve(cluster, SENDER, count, presolveInit.ttlMinutes, presolveInit.root, `tput-${rate}`)
  await settle(cluster)
  const storedBefore = cluster.mode === 'komrade' ? await storeCounts(cluster) : []
  await cluster.clearArrivals()
  await takeValidations(cluster)
  const before = await cluster.wire()
  const published = await cluster.nodes[SENDER]!.worker.request('publish', { count, rate }, publishTimeout(count, rate))
  const times = published.sent.map(([, at]) => at)
  const span = times[times.length - 1]! - times[0]!
  await sleep(deadlineMs + COLLECT_MARGIN_MS)
  const after = await cluster.wire()
  const arrivals = await cluster.arrivals()
  const receivers = receiversOf(cluster)
  const stats = deliveryStats(published.sent, arrivals, receivers, deadlineMs)
  const validations = await takeValidations(cluster)
  let storedShare: number | undefined
  if (cluster.mode === 'komrade') {
    await settle(cluster)
    const storedAfter = await storeCounts(cluster)
    storedShare = receivers.map((i) => storedAfter[i]! - storedBefore[i]!).reduce((a, b) => a + b, 0) / stats.expected
  }
  return {
    system: cluster.mode,
    rate,
    achievedRate: span > 0 ? (count - 1) / (span / 1000) : rate,
    deliveredShare: stats.delivered / stats.expected,
    arrivedShare: stats.arrived / stats.expected,
    p50: quantile(stats.latencies, 0.5),
    p99: quantile(stats.latencies, 0.99),
    ...(storedShare === undefined ? {} : { storedShare }),
    bytesPerEnvelope: readPerReceiver(before, after, receivers, count),
    ...validatorStats(validations)
  }
}
