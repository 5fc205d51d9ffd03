/**
 * A local network for the benchmark: N worker processes (network-worker.ts)
 * of one kind on 127.0.0.1, wired in a fixed topology, plus the helpers the
 * phases share (spread-out proof of work, arrival collection, percentiles).
 */
import { join } from 'node:path'
import type { CoverTrafficInit } from '../../node/cover-traffic.js'
import { spawnWorker, type BenchWorker, type WireBytes, type WorkerMode } from './network-ipc.js'

/**
 * Each node dials the nodes these many places ahead in a ring (a circulant
 * graph), so every node has 2 x 4 = 8 peers: node/network.ts's
 * DEFAULT_TARGET_PEERS, so the Komrade dialer does not add connections of its
 * own and both networks keep the same topology. Diameter 2 at 20 nodes.
 */
const RING_OFFSETS = [1, 2, 5, 7]
/** Workers started at once: more only makes them fight over the 2 cores while loading modules. */
const SPAWN_BATCH = 4
/** Tries per topology connection, and the pause between tries. */
const DIAL_ATTEMPTS = 5
const DIAL_RETRY_MS = 500
/** The Komrade topology counts as settled when no connection was added for this long. */
const EDGES_SETTLE_MS = 3000
const EDGES_SETTLE_MAX_MS = 30_000
/** Mesh peers every node must have before measuring: gossipsub's Dlo. */
const MIN_MESH_PEERS = 4
/** How long the meshes may take to form (a few 1 s heartbeats normally). */
const MESH_TIMEOUT_MS = 60_000

/** A started node. */
export interface ClusterNode {
  readonly worker: BenchWorker
  readonly peerId: string
  readonly address: string
  readonly publicIdentity?: string
}

/** N nodes of one kind, connected. */
export interface Cluster {
  readonly mode: WorkerMode
  readonly nodes: ClusterNode[]
  /** Ring offsets each node dialed. */
  readonly offsets: number[]
  /** Connected peers and mesh peers per node once the meshes formed: "min..max". */
  readonly setup: { peers: string, mesh: string }
  /** Indexes of the nodes `i` is connected to in the fixed topology. */
  neighbours(i: number): number[]
  /** Wire byte counts of every node, in node order. */
  wire(): Promise<WireBytes[]>
  /** Clears every node's recorded arrivals (after a settle, before a measurement). */
  clearArrivals(): Promise<void>
  /** Every node's arrivals since the last call, as key -> time maps in node order. */
  arrivals(): Promise<Array<Map<string, number>>>
  close(): Promise<void>
}

/** The ring offsets that give distinct neighbours for `n` nodes. */
function offsetsFor (n: number): number[] {
  return RING_OFFSETS.filter((o) => o < n / 2)
}

/** Starts `count` nodes of `mode` and wires them; resolves once every gossip mesh has formed. */
export async function startCluster (init: {
  mode: WorkerMode
  count: number
  root: string
  epoch: bigint
  resyncIntervalMs: number
  /** Komrade only: the synchronous diagnostic validator (see the worker's `start`). */
  syncValidator?: boolean
  /** Komrade only: cover traffic of every node (default off). */
  cover?: CoverTrafficInit | false
  log: (message: string) => void
  firstIndex: number
  /** Connections to make, as [dialer, listener] pairs, instead of the ring (to copy another cluster's topology). */
  edges?: Array<[number, number]>
}): Promise<Cluster> {
  const { mode, count } = init
  const workers: BenchWorker[] = []
  const nodes: ClusterNode[] = []
  const cluster: Cluster = {
    mode,
    nodes,
    offsets: offsetsFor(count),
    setup: { peers: '', mesh: '' },
    neighbours (i) {
      const set = new Set<number>()
      for (const o of offsetsFor(count)) { set.add((i + o) % count); set.add((i - o + count) % count) }
      return [...set]
    },
    async wire () {
      return await Promise.all(nodes.map(async (n) => await n.worker.request('wire', {})))
    },
    async clearArrivals () {
      await Promise.all(nodes.map(async (n) => await n.worker.request('arrivals', {})))
    },
    async arrivals () {
      return await Promise.all(nodes.map(async (n) => new Map((await n.worker.request('arrivals', {})).arrivals)))
    },
    async close () {
      await Promise.all(workers.map(async (w) => { await w.close() }))
    }
  }
  try {
    for (let i = 0; i < count; i += SPAWN_BATCH) {
      const batch = await Promise.all(Array.from({ length: Math.min(SPAWN_BATCH, count - i) }, async (_, j) => {
        const worker = await spawnWorker(init.firstIndex + i + j)
        workers.push(worker)
        const started = await worker.request('start', {
          mode, dataDir: join(init.root, `${mode}-${i + j}`), epoch: init.epoch.toString(), resyncIntervalMs: init.resyncIntervalMs,
          ...(init.syncValidator === true ? { syncValidator: true } : {}),
          ...(init.cover === undefined ? {} : { cover: init.cover })
        })
        return { worker, ...started }
      }))
      nodes.push(...batch)
    }
    init.log(`  ${mode}: ${count} processes started`)
    // Each connection is dialed once: "ahead" in the ring, or from the lower index of a given edge.
    const edges = init.edges ?? nodes.flatMap((_, i) => offsetsFor(count).map((o): [number, number] => [i, (i + o) % count]))
    let todo = nodes.map((_, i) => edges.filter(([from]) => from === i).map(([, to]) => nodes[to]!.address))
    for (let attempt = 1; ; attempt++) {
      const dials = await Promise.all(nodes.map(async (node, i) => await node.worker.request('dial', { addresses: todo[i]! })))
      todo = dials.map((d) => d.failed)
      const failures = todo.reduce((sum, list) => sum + list.length, 0)
      if (failures === 0) break
      // Many dials at once overrun libp2p's limit of pending inbound connections (10): retry the few refused.
      if (attempt === DIAL_ATTEMPTS) throw new Error(`${mode}: ${failures} topology dials failed, e.g. ${dials.find((d) => d.firstError !== undefined)?.firstError}`)
      await sleep(DIAL_RETRY_MS)
    }
    await waitForMeshes(cluster, init.log)
    return cluster
  } catch (error) {
    await cluster.close()
    throw error
  }
}

async function waitForMeshes (cluster: Cluster, log: (message: string) => void): Promise<void> {
  const deadline = Date.now() + MESH_TIMEOUT_MS
  const want = Math.min(MIN_MESH_PEERS, cluster.nodes.length - 1)
  for (;;) {
    const statuses = await Promise.all(cluster.nodes.map(async (n) => await n.worker.request('status', {})))
    const meshes = statuses.map((s) => s.meshPeers)
    if (meshes.every((m) => m >= want)) {
      const peers = statuses.map((s) => s.peers)
      Object.assign(cluster.setup, { peers: `${Math.min(...peers)}..${Math.max(...peers)}`, mesh: `${Math.min(...meshes)}..${Math.max(...meshes)}` })
      log(`  ${cluster.mode}: meshes formed (mesh peers ${cluster.setup.mesh}, peers ${cluster.setup.peers})`)
      return
    }
    if (Date.now() > deadline) throw new Error(`${cluster.mode}: gossip meshes did not form (mesh peers: ${meshes.join(',')}; peers: ${statuses.map((s) => s.peers).join(',')})`)
    await sleep(500)
  }
}

/**
 * The connections a cluster actually has, as [lower, higher] index pairs:
 * the Komrade dialer may add a few to the ring (it tops up to 8 peers from
 * what kad-dht discovers), and the raw network copies the result.
 */
export async function edgesOf (cluster: Cluster): Promise<Array<[number, number]>> {
  const index = new Map(cluster.nodes.map((n, i) => [n.peerId, i]))
  const edges = new Set<string>()
  const lists = await Promise.all(cluster.nodes.map(async (n) => (await n.worker.request('peers', {})).peers))
  lists.forEach((peers, i) => {
    for (const peer of peers) {
      const j = index.get(peer)
      if (j !== undefined && j !== i) edges.add(`${Math.min(i, j)},${Math.max(i, j)}`)
    }
  })
  return [...edges].map((e) => e.split(',').map(Number) as [number, number])
}

/** Waits until a cluster's connections stop changing (the Komrade dialer settles a few seconds after wiring). */
export async function stableEdges (cluster: Cluster): Promise<Array<[number, number]>> {
  const deadline = Date.now() + EDGES_SETTLE_MAX_MS
  let edges = await edgesOf(cluster)
  for (;;) {
    await sleep(EDGES_SETTLE_MS)
    const next = await edgesOf(cluster)
    if (next.length === edges.length || Date.now() > deadline) return next
    edges = next
  }
}

/** Sleeps `ms`. */
export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Mints `total` cover envelopes expiring `ttlMinutes` from now, spread over
 * the cluster's processes (the machine's cores do the work, whichever
 * process asks), and queues them in node `sender` unless it is undefined.
 * Untimed setup. Returns the files that hold them.
 */
export async function presolve (cluster: Cluster, sender: number | undefined, total: number, ttlMinutes: number, root: string, tag: string): Promise<{ ms: number, files: string[] }> {
  const started = performance.now()
  const share = Math.ceil(total / cluster.nodes.length)
  const jobs = cluster.nodes.map((node, i) => ({ node, count: Math.max(0, Math.min(share, total - i * share)), file: join(root, `${tag}-${i}.bin`) }))
    .filter((job) => job.count > 0)
  await Promise.all(jobs.map(async (job) => await job.node.worker.request('solve', { count: job.count, ttlMinutes, file: job.file }, 600_000)))
  const files = jobs.map((job) => job.file)
  if (sender !== undefined) await cluster.nodes[sender]!.worker.request('load', { files })
  return { ms: performance.now() - started, files }
}

/** The value at quantile `q` (0..1) of a non-empty list (nearest rank). */
export function quantile (values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** Per published payload and receiver: latency if it arrived within `deadlineMs`. */
export interface DeliveryStats {
  readonly expected: number
  readonly delivered: number
  /** Arrived at all, however late. */
  readonly arrived: number
  readonly latencies: number[]
}

/** Matches what `sender` published against what every other node recorded. */
export function deliveryStats (sent: Array<[string, number]>, arrivals: Array<Map<string, number>>, receivers: number[], deadlineMs: number): DeliveryStats {
  const latencies: number[] = []
  let delivered = 0
  let arrived = 0
  for (const r of receivers) {
    const seen = arrivals[r]!
    for (const [key, at] of sent) {
      const t = seen.get(key)
      if (t === undefined) continue
      arrived++
      const latency = t - at
      latencies.push(latency)
      if (latency <= deadlineMs) delivered++
    }
  }
  return { expected: sent.length * receivers.length, delivered, arrived, latencies }
}
