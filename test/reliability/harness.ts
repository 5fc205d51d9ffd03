/**
 * The reliability harness (issue 7): N real Komrade node processes on
 * 127.0.0.1, each with its own data directory (reliability-node.ts, driven
 * by JSON lines over stdin/stdout), wired in a topology, with traffic,
 * graceful stops and restarts, SIGKILLs, and what each node reported:
 * message ids queued (committed to its outbox) and received (committed to
 * its inbox), counted over every life of its data directory.
 *
 * `KOMRADE_RELIABILITY_SCALE` (default 1) scales the scenarios' nodes,
 * durations and kills: `KOMRADE_RELIABILITY_SCALE=5 npx vitest run test/reliability`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { ChildInit } from './reliability-node.js'

const CHILD_SCRIPT = join(import.meta.dirname, 'reliability-node.ts')
/** Processes started at once: module loading is heavy, and more only fight over the 2 cores (as in test/bench/network-cluster.ts). */
export const SPAWN_BATCH = 4
/** A request that hangs must not hang the scenario. */
const REQUEST_TIMEOUT_MS = 60_000
/**
 * A graceful stop first takes in the envelopes already queued for
 * screening: on a loaded machine that takes tens of seconds. Longer than
 * this is a hang.
 */
const STOP_TIMEOUT_MS = 120_000
/** How long a fresh process may take to load its modules and start its node. */
const START_TIMEOUT_MS = 90_000
/** Grace for a clean exit before the process is killed. */
const EXIT_GRACE_MS = 10_000
/** Tries per topology dial (libp2p refuses inbound connections past 10 pending), and the pause between tries. */
const DIAL_ATTEMPTS = 5
const DIAL_RETRY_MS = 500
/** How often {@link until} checks. */
const POLL_MS = 50

/** The scale knob: a positive number, 1 unless `KOMRADE_RELIABILITY_SCALE` says otherwise. */
export const SCALE = parseScale(process.env.KOMRADE_RELIABILITY_SCALE)

function parseScale (value: string | undefined): number {
  if (value === undefined || value === '') return 1
  const scale = Number(value)
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`"KOMRADE_RELIABILITY_SCALE" expected a positive number, got ${JSON.stringify(value)}`)
  return scale
}

/** `base` times the scale, rounded, at least `min`. */
export function scaled (base: number, min = 1): number {
  return Math.max(min, Math.round(base * SCALE))
}

/** What a node process reported about itself when its node started. */
export interface NodeInfo {
  pid: number
  publicIdentity: string
  peerId: string
  address: string
}

/** A message a node reported queued. */
export interface QueuedMessage {
  id: string
  from: number
  to: string
  text: string
  /** performance.now() when the parent read it. */
  at: number
}

/** A line of the child's stdout. */
interface ReplyLine { reply: number, ok: boolean, result?: unknown, error?: string }
type ChildLine = ReplyLine | ({ event: string } & Record<string, unknown>)

/** One data directory and the process (one after another) that runs a node on it. */
export interface NodeProcess {
  readonly index: number
  readonly dataDir: string
  /** Identity and address of the last start (the port changes at each start; the peer id does not). */
  readonly info: NodeInfo
  /** True while the node is started (not stopped, not killed). */
  readonly running: boolean
  /** Message id -> how many times a `message` event reported it, over every life. */
  readonly received: Map<string, number>
  /** Message id -> performance.now() of its first `received` event. */
  readonly receivedAt: Map<string, number>
  /** Message id -> the message, for every send() that resolved, over every life. */
  readonly queued: Map<string, QueuedMessage>
  /** Resyncs started and not yet finished or failed, in the current life. */
  readonly syncsInFlight: number
  /** Resyncs finished ('done'), over every life. */
  readonly syncsDone: number
  /** Sends requested and not yet answered, in the current life. */
  readonly sendsInFlight: number
  /** Time (performance.now()) of the last `received` event. */
  readonly lastReceivedAt: number
  /** Processes that exited without being asked to (no kill(), close()): a node that crashed on its own. */
  readonly unexpectedExits: string[]
  /** A request to the running process; rejects with the child's error text. */
  request<T = Record<string, unknown>>(cmd: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>
  /** Sends a message to `to` (a public identity); resolves with its id once it is in the outbox. */
  send(to: string, text: string, ttlMinutes: number): Promise<string>
  /** Starts a new process on the data directory (its node starts at once); resolves when it is ready. */
  spawn(): Promise<NodeInfo>
  /** Stops the node gracefully; the process stays. */
  stop(): Promise<void>
  /** Starts the stopped node again in the same process. */
  start(): Promise<NodeInfo>
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>
  /** Asks the process to stop its node and exit (SIGKILL after a grace period). */
  close(): Promise<void>
}

const liveChildren = new Set<ChildProcess>()
let exitHooked = false

/** The harness's own children are killed (by pid) if the test process exits first. */
function hookExit (): void {
  if (exitHooked) return
  exitHooked = true
  process.once('exit', () => {
    for (const child of liveChildren) { try { child.kill('SIGKILL') } catch {} }
  })
}

/** Creates the handle of node `index` on `dataDir`; no process runs until `spawn()`. */
export function nodeProcess (index: number, dataDir: string, resyncIntervalMs: number): NodeProcess {
  hookExit()
  let child: ChildProcess | undefined
  let info: NodeInfo | undefined
  let running = false
  let nextId = 1
  let syncing = new Set<string>()
  let sendsInFlight = 0
  let syncsDone = 0
  let lastReceivedAt = 0
  let lastError = ''
  const pending = new Map<number, { resolve: (value: unknown) => void, reject: (error: Error) => void, timer: NodeJS.Timeout }>()
  const received = new Map<string, number>()
  const receivedAt = new Map<string, number>()
  const queued = new Map<string, QueuedMessage>()
  let onReady: ((info: NodeInfo) => void) | undefined
  const unexpectedExits: string[] = []
  /** The processes the harness itself killed or closed. */
  const ended = new WeakSet<ChildProcess>()

  function onLine (line: string): void {
    let parsed: ChildLine
    try { parsed = JSON.parse(line) as ChildLine } catch { return } // not ours (a library printing)
    if ('reply' in parsed) {
      const reply = parsed as ReplyLine
      const waiter = pending.get(reply.reply)
      if (waiter === undefined) return
      pending.delete(reply.reply)
      clearTimeout(waiter.timer)
      if (reply.ok) waiter.resolve(reply.result)
      else waiter.reject(new Error(`node ${index} (pid ${info?.pid}): ${reply.error}`))
      return
    }
    const event = parsed as { event: string } & Record<string, unknown>
    if (event.event === 'received') {
      const id = event.id as string
      received.set(id, (received.get(id) ?? 0) + 1)
      lastReceivedAt = performance.now()
      if (!receivedAt.has(id)) receivedAt.set(id, lastReceivedAt)
    } else if (event.event === 'queued') {
      queued.set(event.id as string, { id: event.id as string, from: index, to: event.to as string, text: event.text as string, at: performance.now() })
    } else if (event.event === 'sync') {
      const peer = event.peer as string
      if (event.phase === 'start') syncing.add(peer)
      else { syncing.delete(peer); if (event.phase === 'done') syncsDone++ }
    } else if (event.event === 'ready') {
      info = { pid: event.pid as number, publicIdentity: event.publicIdentity as string, peerId: event.peerId as string, address: event.address as string }
      running = true
      onReady?.(info)
    } else if (event.event === 'failed') {
      lastError = event.error as string
    }
  }

  function failPending (why: string): void {
    for (const [id, waiter] of pending) {
      clearTimeout(waiter.timer)
      waiter.reject(new Error(`node ${index}: ${why}`))
      pending.delete(id)
    }
  }

  const handle: NodeProcess = {
    index,
    dataDir,
    get info () {
      if (info === undefined) throw new Error(`node ${index} has not started yet`)
      return info
    },
    get running () { return running },
    received,
    receivedAt,
    queued,
    get syncsInFlight () { return syncing.size },
    get syncsDone () { return syncsDone },
    get sendsInFlight () { return sendsInFlight },
    get lastReceivedAt () { return lastReceivedAt },
    unexpectedExits,

    async request<T> (cmd: string, args: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
      const current = child
      if (current === undefined || current.exitCode !== null || current.signalCode !== null) throw new Error(`node ${index}: no process`)
      const id = nextId++
      return await new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`node ${index} (pid ${info?.pid}): no answer to ${cmd} within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer })
        current.stdin!.write(JSON.stringify({ id, cmd, args }) + '\n')
      })
    },

    async send (to, text, ttlMinutes) {
      sendsInFlight++
      try {
        return (await handle.request<{ id: string }>('send', { to, text, ttlMinutes })).id
      } finally {
        sendsInFlight--
      }
    },

    async spawn () {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) throw new Error(`node ${index} is still running`)
      const init: ChildInit = { dataDir, resyncIntervalMs }
      const started = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT, JSON.stringify(init)], { stdio: ['pipe', 'pipe', 'inherit'] })
      child = started
      liveChildren.add(started)
      running = false
      syncing = new Set()
      sendsInFlight = 0
      lastError = ''
      createInterface({ input: started.stdout! }).on('line', onLine)
      started.stdin!.on('error', () => {}) // writes to a killed child
      const exited = new Promise<void>((resolve) => {
        started.once('exit', (code, signal) => {
          liveChildren.delete(started)
          if (child === started) running = false
          if (!ended.has(started)) unexpectedExits.push(`node ${index} exited by itself (code ${String(code)}, signal ${String(signal)})`)
          failPending(`exited (code ${String(code)}, signal ${String(signal)})`)
          resolve()
        })
      })
      return await new Promise<NodeInfo>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`node ${index} did not start within ${START_TIMEOUT_MS} ms`)) }, START_TIMEOUT_MS)
        onReady = (ready) => { clearTimeout(timer); onReady = undefined; resolve(ready) }
        void exited.then(() => {
          clearTimeout(timer)
          reject(new Error(`node ${index} exited during start-up${lastError === '' ? '' : `: ${lastError}`}`))
        })
      })
    },

    async stop () {
      running = false
      await handle.request('stop', {}, STOP_TIMEOUT_MS)
    },

    async start () {
      syncing = new Set()
      return await handle.request<NodeInfo>('start')
    },

    async kill () {
      const current = child
      running = false
      if (current === undefined || current.exitCode !== null || current.signalCode !== null) return
      const exited = new Promise((resolve) => current.once('exit', resolve))
      ended.add(current)
      current.kill('SIGKILL')
      await exited
    },

    async close () {
      const current = child
      if (current === undefined || current.exitCode !== null || current.signalCode !== null) return
      const exited = new Promise((resolve) => current.once('exit', resolve))
      ended.add(current)
      const timer = setTimeout(() => { current.kill('SIGKILL') }, EXIT_GRACE_MS)
      await handle.request('exit', {}, EXIT_GRACE_MS).catch(() => {})
      await exited
      clearTimeout(timer)
      running = false
    }
  }
  return handle
}

/** N node processes in one temp root. */
export interface Cluster {
  readonly root: string
  readonly nodes: NodeProcess[]
  /** Node index by public identity. */
  indexOf(publicIdentity: string): number
  /** Dials each [from, to] pair (from `from`), retrying refused dials; throws if some still fail. */
  connect(edges: ReadonlyArray<readonly [number, number]>): Promise<void>
  /** Dials `targets` from node `from` once each (retrying refused dials); returns those that still failed. */
  dial(from: number, targets: readonly number[]): Promise<{ failed: number[] }>
  /** Waits until every running node has at least `min` gossip mesh peers. */
  waitForMeshes(min: number, timeoutMs?: number): Promise<void>
  /** Closes every process and removes the root. */
  close(): Promise<void>
}

/** Starts `count` node processes, {@link SPAWN_BATCH} at a time. */
export async function startCluster (init: { count: number, resyncIntervalMs: number, prefix?: string }): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), init.prefix ?? 'komrade-reliability-'))
  const nodes = Array.from({ length: init.count }, (_, i) => nodeProcess(i, join(root, `node-${i}`), init.resyncIntervalMs))
  const byIdentity = new Map<string, number>()
  async function dialEdges (edges: ReadonlyArray<readonly [number, number]>): Promise<Array<readonly [number, number]>> {
    let todo = [...edges]
    for (let attempt = 1; todo.length > 0 && attempt <= DIAL_ATTEMPTS; attempt++) {
      if (attempt > 1) await sleep(DIAL_RETRY_MS)
      const results = await Promise.all(todo.map(async ([from, to]) => {
        const { failed } = await nodes[from]!.request<{ failed: string[] }>('dial', { addresses: [nodes[to]!.info.address] })
        return failed.length === 0
      }))
      todo = todo.filter((_, i) => !results[i]!)
    }
    return todo
  }
  const cluster: Cluster = {
    root,
    nodes,
    indexOf (publicIdentity) {
      const index = byIdentity.get(publicIdentity)
      if (index === undefined) throw new Error(`no node has the identity ${publicIdentity.slice(0, 16)}…`)
      return index
    },
    async connect (edges) {
      const failed = await dialEdges(edges)
      if (failed.length > 0) throw new Error(`${failed.length} dials failed, e.g. ${failed[0]!.join(' -> ')}`)
    },
    async dial (from, targets) {
      return { failed: (await dialEdges(targets.map((to) => [from, to] as const))).map(([, to]) => to) }
    },
    async waitForMeshes (min, timeoutMs = 60_000) {
      let meshes: number[] = []
      await until(`gossip meshes of at least ${min} (mesh peers now: ${meshes.join(',')})`, async () => {
        meshes = await Promise.all(nodes.filter((n) => n.running).map(async (n) => (await n.request<{ meshPeers: number }>('status')).meshPeers))
        return meshes.every((m) => m >= min)
      }, timeoutMs)
    },
    async close () {
      await Promise.all(nodes.map(async (n) => { await n.close() }))
      await rm(root, { recursive: true, force: true })
    }
  }
  try {
    for (let i = 0; i < nodes.length; i += SPAWN_BATCH) {
      await Promise.all(nodes.slice(i, i + SPAWN_BATCH).map(async (n) => { byIdentity.set((await n.spawn()).publicIdentity, n.index) }))
    }
  } catch (error) {
    await cluster.close()
    throw error
  }
  return cluster
}

/**
 * Each node dials the nodes these many places ahead in a ring: 8 peers per
 * node at 20 nodes (node/network.ts's DEFAULT_TARGET_PEERS), diameter 2,
 * as in test/bench/network-cluster.ts.
 */
export const RING_OFFSETS = [1, 2, 5, 7]

/** The ring's edges for `count` nodes, as [dialer, listener]; only offsets that give distinct neighbours. */
export function ringEdges (count: number, offsets: readonly number[] = RING_OFFSETS): Array<[number, number]> {
  const usable = offsets.filter((o) => o < count / 2)
  return Array.from({ length: count }, (_, i) => usable.map((o): [number, number] => [i, (i + o) % count])).flat()
}

/** The ring neighbours of `i`, both directions. */
export function ringNeighbours (i: number, count: number, offsets: readonly number[] = RING_OFFSETS): number[] {
  const usable = offsets.filter((o) => o < count / 2)
  return [...new Set(usable.flatMap((o) => [(i + o) % count, (i - o + count) % count]))]
}

/** Sleeps `ms`. */
export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `check` until it holds; throws naming `what` after `timeoutMs`. */
export async function until (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(POLL_MS)
  }
}

/** A random integer in [0, n). */
export function randomInt (n: number): number {
  return Math.floor(Math.random() * n)
}

/** `count` distinct random picks from `items`. */
export function pick<T> (items: readonly T[], count: number): T[] {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = randomInt(i + 1)
    ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
  }
  return copy.slice(0, count)
}

/** Every message any node queued, by id. */
export function allQueued (nodes: readonly NodeProcess[]): Map<string, QueuedMessage> {
  return new Map(nodes.flatMap((n) => [...n.queued]))
}

/** Logs a scenario's progress and figures on stderr (vitest shows it), prefixed with its name. */
export function reporter (scenario: string): (line: string) => void {
  return (line) => { process.stderr.write(`[reliability ${scenario}] ${line}\n`) }
}
