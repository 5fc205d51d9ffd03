/**
 * The store phases of the network benchmark: resync after an outage (one
 * Komrade node stopped while the others receive envelopes, then restarted)
 * and the resident memory of a node holding many envelopes.
 */
import { join } from 'node:path'
import { ENVELOPE_SIZE } from '../../protocol/index.js'
import { presolve, sleep, type Cluster } from './network-cluster.js'
import { spawnWorker, type MemoryUsage, type SyncRecord, type WireBytes } from './network-ipc.js'
import { SENDER, settle } from './network-phases.js'

/** How long the others may take to hold the messages, and then the missed envelopes. */
const SPREAD_TIMEOUT_MS = 120_000
/**
 * Feeder nodes that bring the missed envelopes to the other nodes, each to
 * its share: 2 keep both cores busy (one node's syncs run one at a time).
 */
const FEEDERS = 2
/** How long the restarted node may take to hold everything again. */
const RESYNC_TIMEOUT_MS = 300_000
/** After the store is full, syncs still running are waited for until the node's traffic drops below this. */
const QUIET_BYTES_PER_S = 64 * 1024
const QUIET_MAX_MS = 120_000
/** A node that starts in this benchmark settles (DHT, identify) for this long before its memory is read. */
export const MEMORY_SETTLE_MS = 3000
/** Lifetime of the envelopes written straight into a store for the memory phase: far from expiry. */
const MEMORY_TTL_MINUTES = 24 * 60

/** What the resync phase measured. */
export interface ResyncResult {
  readonly missedEnvelopes: number
  readonly missedBytes: number
  /** Resync frame bytes (SyncReport bytesIn + bytesOut) of every sync between the node and a peer, counted once. */
  readonly resyncBytes: number
  /** TCP bytes in and out at the node from restart until its traffic went quiet. */
  readonly wireBytes: number
  /** TCP bytes until the store was full (start of restart to store full). */
  readonly wireBytesAtFull: number
  readonly startMs: number
  readonly storeMs?: number
  readonly inboxMs?: number
  readonly messages: number
  readonly syncs: SyncRecord[]
  /** Peers the node dialed when it came back (its ring neighbours). */
  readonly peers: number
  /** Other nodes holding every missed envelope when it came back. */
  readonly holders: number
  /** Time for the feeders to resync the missed envelopes into the other nodes. */
  readonly feedMs: number
}

async function waitForStores (cluster: Cluster, targets: Map<number, number>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await Promise.all([...targets.keys()].map(async (i) => (await cluster.nodes[i]!.worker.request('status', {})).storeCount))
    if ([...targets.values()].every((target, j) => counts[j]! >= target)) return true
    if (Date.now() > deadline) return false
    await sleep(500)
  }
}

function total (w: WireBytes): number {
  return w.read + w.written
}

/**
 * Stops node `outage`; node 0 sends it `messages` real messages (a session
 * must exist) over gossip; the `missed` pre-solved envelopes reach every
 * other node through feeder nodes whose stores hold them (resync, far
 * cheaper here than gossiping them to every process); then the node
 * restarts, dials its ring neighbours, and its resync is measured.
 */
export async function resyncAfterOutage (cluster: Cluster, init: {
  outage: number
  missed: number
  messages: number
  ttlMinutes: number
  sendTtlMinutes: number
  root: string
  epoch: bigint
  feederIndex: number
  log: (message: string) => void
}): Promise<ResyncResult> {
  const { outage, log } = init
  const x = cluster.nodes[outage]!
  const sender = cluster.nodes[SENDER]!.worker
  log(`  resync: solving ${init.missed} envelopes across ${cluster.nodes.length} processes`)
  const solved = await presolve(cluster, undefined, init.missed, init.ttlMinutes, init.root, 'resync')
  log(`  resync: solved in ${(solved.ms / 1000).toFixed(1)} s`)
  await settle(cluster)
  // Its ring neighbours: as many as a node's dialer aims for (8), not the extra connections of the wiring.
  const peers = cluster.neighbours(outage)
  const before = await Promise.all(cluster.nodes.map(async (n) => (await n.worker.request('status', {})).storeCount))
  await x.worker.request('stopNode', {})

  for (let i = 0; i < init.messages; i++) {
    await sender.request('send', { to: x.publicIdentity!, text: `missed ${i}`, ttlMinutes: init.sendTtlMinutes })
  }
  const targets = new Map(cluster.nodes.map((_, i) => [i, before[i]! + init.messages] as [number, number]).filter(([i]) => i !== outage))
  if (!(await waitForStores(cluster, targets, SPREAD_TIMEOUT_MS))) log('  resync: WARNING: the messages did not reach every store')

  // Every other node gets the missed envelopes, as gossip would have brought them: from feeder
  // nodes whose stores hold them, each resyncing them into its share of the nodes.
  const others = cluster.nodes.map((_, i) => i).filter((i) => i !== outage)
  log(`  resync: node ${outage} stopped; ${FEEDERS} feeders resync ${init.missed} envelopes into the other ${others.length} nodes`)
  const feedStart = performance.now()
  const feeders = await Promise.all(Array.from({ length: FEEDERS }, async (_, f) => await spawnWorker(init.feederIndex + f)))
  try {
    await Promise.all(feeders.map(async (feeder, f) => {
      const feederDir = join(init.root, `feeder-${f}`)
      await feeder.request('fill', { dataDir: feederDir, count: init.missed, ttlMinutes: init.ttlMinutes, files: solved.files }, 600_000)
      await feeder.request('start', { mode: 'komrade', dataDir: feederDir, epoch: init.epoch.toString(), resyncIntervalMs: 3_600_000 })
      await feeder.request('dial', { addresses: others.filter((_, k) => k % FEEDERS === f).map((i) => cluster.nodes[i]!.address) })
    }))
    const fed = new Map(others.map((i) => [i, before[i]! + init.messages + init.missed] as [number, number]))
    if (!(await waitForStores(cluster, fed, SPREAD_TIMEOUT_MS))) log('  resync: WARNING: not every node holds every missed envelope')
  } finally {
    await Promise.all(feeders.map(async (feeder) => { await feeder.close() }))
  }
  const feedMs = performance.now() - feedStart
  await settle(cluster)
  const fedCounts = await Promise.all(cluster.nodes.map(async (n, i) => i === outage ? 0 : (await n.worker.request('status', {})).storeCount))
  const holders = fedCounts.filter((count, i) => i !== outage && count >= before[i]! + init.messages + init.missed).length
  // Forget the syncs logged so far: only the restart's count.
  await Promise.all(cluster.nodes.map(async (n) => await n.worker.request('syncs', {})))

  const storeTarget = before[outage]! + init.missed + init.messages
  log(`  resync: restarting node ${outage} (store ${before[outage]} -> target ${storeTarget})`)
  const restarted = await x.worker.request('restart', {
    addresses: peers.map((i) => cluster.nodes[i]!.address),
    storeTarget,
    inboxTarget: init.messages,
    timeoutMs: RESYNC_TIMEOUT_MS
  }, RESYNC_TIMEOUT_MS + 60_000)
  // Syncs still moving (duplicates from other peers) count too: wait until the node's traffic is quiet.
  let last = total(await x.worker.request('wire', {}))
  const quietDeadline = Date.now() + QUIET_MAX_MS
  for (;;) {
    await sleep(1000)
    const now = total(await x.worker.request('wire', {}))
    const quiet = now - last < QUIET_BYTES_PER_S
    last = now
    if (quiet || Date.now() > quietDeadline) break
  }
  const records = await Promise.all(cluster.nodes.map(async (n) => (await n.worker.request('syncs', {})).syncs))
  const syncs = [
    ...records[outage]!, // the node's own syncs (it dialed, so it started them)
    ...records.flatMap((list, i) => i === outage ? [] : list.filter((s) => s.peer === x.peerId)) // any a peer started with it
  ]
  return {
    missedEnvelopes: storeTarget - before[outage]!,
    missedBytes: (storeTarget - before[outage]!) * ENVELOPE_SIZE,
    resyncBytes: syncs.reduce((sum, s) => sum + (s.bytesIn ?? 0) + (s.bytesOut ?? 0), 0),
    wireBytes: last - total(restarted.wireBefore),
    wireBytesAtFull: total(restarted.wireAfter) - total(restarted.wireBefore),
    startMs: restarted.startMs,
    ...(restarted.storeMs === undefined ? {} : { storeMs: restarted.storeMs }),
    ...(restarted.inboxMs === undefined ? {} : { inboxMs: restarted.inboxMs }),
    messages: restarted.inboxCount,
    syncs,
    peers: peers.length,
    holders,
    feedMs
  }
}

/** Memory of a node process. */
export interface MemoryResult {
  readonly envelopes: number
  readonly full: MemoryUsage
  readonly empty: MemoryUsage
  readonly fillMs: number
}

/**
 * Writes `count` cover envelopes (no proof of work: the store does not check
 * it) straight into a fresh data directory's store from one process, then
 * starts a Komrade node on it in a fresh process (not connected to anyone:
 * its unworked envelopes would be rejected by peers) and reads its memory
 * after full GCs; an empty node in another fresh process is the baseline.
 */
export async function nodeMemory (count: number, root: string, epoch: bigint, firstIndex: number, log: (message: string) => void): Promise<MemoryResult> {
  const fullDir = join(root, 'memory-full')
  const filler = await spawnWorker(firstIndex)
  let fillMs: number
  try {
    const filled = await filler.request('fill', { dataDir: fullDir, count, ttlMinutes: MEMORY_TTL_MINUTES }, 600_000)
    if (filled.count !== count) throw new Error(`memory: the store holds ${filled.count} envelopes, not ${count}`)
    fillMs = filled.ms
    log(`  memory: ${count} envelopes written in ${(fillMs / 1000).toFixed(1)} s`)
  } finally {
    await filler.close()
  }
  const measure = async (dataDir: string, index: number): Promise<MemoryResult['full']> => {
    const worker = await spawnWorker(index)
    try {
      await worker.request('start', { mode: 'komrade', dataDir, epoch: epoch.toString(), resyncIntervalMs: 3_600_000 })
      const status = await worker.request('status', {})
      if (dataDir === fullDir && status.storeCount !== count) throw new Error(`memory: the node loaded ${status.storeCount} envelopes`)
      await sleep(MEMORY_SETTLE_MS)
      return await worker.request('memory', {})
    } finally {
      await worker.close()
    }
  }
  const full = await measure(fullDir, firstIndex + 1)
  const empty = await measure(join(root, 'memory-empty'), firstIndex + 2)
  return { envelopes: count, full, empty, fillMs }
}
