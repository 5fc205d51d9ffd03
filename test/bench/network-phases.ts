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
const DRAIN_MS = 3000
/** Length of the idle window that measures background traffic (heartbeats, IHAVE, DHT). */
const IDLE_MS = 5000
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

/** Background bytes each node reads per ms with nothing published. */
export async function idleReadRates (clusters: Cluster[]): Promise<number[][]> {
  const before = await Promise.all(clusters.map(async (c) => await c.wire()))
  const t0 = performance.now()
  await sleep(IDLE_MS)
  const after = await Promise.all(clusters.map(async (c) => await c.wire()))
  const ms = performance.now() - t0
  return after.map((list, c) => list.map((w, i) => (w.read - before[c]![i]!.read) / ms))
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
  readonly zeroRecipients: number
  readonly failed: number
}

/** Publishes `count` payloads at `rate` from the sender and measures arrival latency and bytes read. */
export async function latencyRound (cluster: Cluster, count: number, rate: number, idle: number[]): Promise<LatencyRound> {
  const sender = cluster.nodes[SENDER]!.worker
  await cluster.clearArrivals()
  const before = await cluster.wire()
  const t0 = performance.now()
  const published = await sender.request('publish', { count, rate }, publishTimeout(count, rate))
  await sleep(DRAIN_MS)
  const after = await cluster.wire()
  const windowMs = performance.now() - t0
  const arrivals = await cluster.arrivals()
  const receivers = receiversOf(cluster)
  const stats = deliveryStats(published.sent, arrivals, receivers, Number.POSITIVE_INFINITY)
  const read = receivers.map((i) => after[i]!.read - before[i]!.read)
  const gross = read.reduce((a, b) => a + b, 0) / receivers.length / count
  const background = receivers.map((i) => idle[i]! * windowMs).reduce((a, b) => a + b, 0) / receivers.length / count
  return {
    p50: quantile(stats.latencies, 0.5),
    p99: quantile(stats.latencies, 0.99),
    deliveredShare: stats.arrived / stats.expected,
    samples: stats.latencies.length,
    bytesPerEnvelope: gross,
    netBytesPerEnvelope: gross - background,
    zeroRecipients: published.zeroRecipients,
    failed: published.failed
  }
}

/** Recipient-inbox latency of real messages sent with `node.send`. */
export interface InboxResult {
  /** Send call to the recipient's `message` event, first contact (handshake) excluded. */
  readonly latencies: number[]
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
  for (let i = 0; i < count; i++) {
    const text = `latency ${i}`
    const { at } = await sender.request('send', { to, text, ttlMinutes })
    latencies.push(await waitForMessage(cluster, recipient, text) - at)
    await sleep(INBOX_GAP_MS)
  }
  return { latencies, firstContactMs }
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
  const before = await cluster.wire()
  const published = await cluster.nodes[SENDER]!.worker.request('publish', { count, rate }, publishTimeout(count, rate))
  const times = published.sent.map(([, at]) => at)
  const span = times[times.length - 1]! - times[0]!
  await sleep(deadlineMs + COLLECT_MARGIN_MS)
  const after = await cluster.wire()
  const arrivals = await cluster.arrivals()
  const receivers = receiversOf(cluster)
  const stats = deliveryStats(published.sent, arrivals, receivers, deadlineMs)
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
    bytesPerEnvelope: readPerReceiver(before, after, receivers, count)
  }
}
