/**
 * The parent side of the network benchmark's worker processes: spawning
 * them, request/response over the Node IPC channel, and killing every one
 * of them (and removing the temp root) however the run ends.
 *
 * Each worker is `node --import tsx test/bench/network-worker.ts`, one libp2p
 * node per process, so the network has as many event loops as nodes, as a
 * real one does. The commands and their replies are typed in {@link Commands}.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CoverTrafficInit } from '../../node/cover-traffic.js'

/** Which node a worker runs. */
export type WorkerMode = 'komrade' | 'raw'

/** Byte counts of every TCP socket a process opened or accepted. */
export interface WireBytes {
  read: number
  written: number
}

/** One SyncReport a node logged ('resync done'), or a failed sync, with the peer it was with. */
export interface SyncRecord {
  peer: string
  at: number
  ok: boolean
  rounds?: number
  have?: number
  need?: number
  sent?: number
  received?: number
  bytesIn?: number
  bytesOut?: number
  durationMs?: number
  complete?: boolean
  error?: string
}

/** A process's memory after full GCs, bytes. */
export type MemoryUsage = {
  rss: number
  /** V8 heap reserved (what the RSS holds for it), and used after the GCs. */
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
  /** Linux only: anonymous (heap, native allocations) and file-backed (mapped files) parts of the RSS. */
  rssAnon?: number
  rssFile?: number
}

/** A status snapshot of a worker's node. */
export interface WorkerStatus {
  running: boolean
  peers: number
  meshPeers: number
  storeCount: number
  rss: number
  /** CPU time of the process (all threads), ms. */
  cpuMs: number
  /** Komrade: envelopes the node emitted today (cover traffic's count, real and cover). */
  coverEmitted?: number
}

/** Commands a worker answers: `[arguments, reply]`. Times are ms since the run's common epoch. */
export interface Commands {
  /**
   * Starts the node; `epoch` is the parent's `process.hrtime.bigint()` as a
   * decimal string. `syncValidator` (a diagnostic) swaps the Komrade gossip
   * validator for a synchronous one: checkEnvelope plus an in-memory set of
   * the ids this node accepted, instead of the store lookup in LevelDB.
   * `cover`: the node's cover traffic (default false, off).
   */
  start: [{ mode: WorkerMode, dataDir: string, epoch: string, resyncIntervalMs: number, syncValidator?: boolean, cover?: CoverTrafficInit | false },
    { peerId: string, address: string, publicIdentity?: string }]
  /** Dials these multiaddrs (each ending in /p2p/<id>); returns those that failed. */
  dial: [{ addresses: string[] }, { failed: string[], firstError?: string }]
  status: [Record<string, never>, WorkerStatus]
  /** Peer ids of the connected peers. */
  peers: [Record<string, never>, { peers: string[] }]
  /** Mints `count` cover envelopes expiring `ttlMinutes` from now and writes them, concatenated, to `file`. */
  solve: [{ count: number, ttlMinutes: number, file: string }, { count: number, ms: number }]
  /** Appends the envelopes in these files to the publish queue. */
  load: [{ files: string[] }, { queued: number }]
  /**
   * Publishes `count` payloads paced at `rate` per second: the queued
   * envelopes (komrade) or fresh random 2048-byte payloads (raw). Returns
   * each payload's key and the time just before its publish call.
   */
  publish: [{ count: number, rate: number }, { sent: Array<[string, number]>, zeroRecipients: number, failed: number, firstError?: string }]
  /** Gossip arrivals (key, time) recorded since the last call. */
  arrivals: [Record<string, never>, { arrivals: Array<[string, number]> }]
  wire: [Record<string, never>, WireBytes]
  /** Durations (ms) of the Komrade gossip validator since the last call. */
  validations: [Record<string, never>, { ms: number[] }]
  /** `node.send(to, text)`; returns the time just before the call. */
  send: [{ to: string, text: string, ttlMinutes: number }, { at: number }]
  /** Inbox arrivals (text, time) recorded since the last call. */
  messages: [Record<string, never>, { messages: Array<[string, number]> }]
  /** Outbox states, for waiting on a session. */
  outbox: [Record<string, never>, { states: string[] }]
  /** Resync records logged since the last call. */
  syncs: [Record<string, never>, { syncs: SyncRecord[] }]
  /** Stops the node; the process stays. */
  stopNode: [Record<string, never>, { stopped: boolean }]
  /**
   * Starts the stopped node again on its data directory, dials `addresses`,
   * and waits (up to `timeoutMs`) until its store holds `storeTarget`
   * envelopes and its inbox `inboxTarget` messages. Times from the start call.
   */
  restart: [{ addresses: string[], storeTarget: number, inboxTarget: number, timeoutMs: number },
    { startMs: number, storeMs?: number, inboxMs?: number, storeCount: number, inboxCount: number, wireBefore: WireBytes, wireAfter: WireBytes }]
  /**
   * Writes envelopes straight into the store of `dataDir` (no node running
   * there): the envelopes in `files`, or else `count` unworked cover
   * envelopes expiring in `ttlMinutes`.
   */
  fill: [{ dataDir: string, count: number, ttlMinutes: number, files?: string[] }, { count: number, ms: number }]
  /** Full GCs, then process.memoryUsage(). */
  memory: [Record<string, never>, MemoryUsage]
}

export type CommandName = keyof Commands

/** A request on the IPC channel. */
export interface Request<C extends CommandName = CommandName> {
  id: number
  cmd: C
  args: Commands[C][0]
}

/** A reply on the IPC channel. */
export type Reply = { id: number, ok: true, result: unknown } | { id: number, ok: false, error: { name: string, message: string } }

/** A worker reported an error, or died, or did not answer in time. */
export class WorkerError extends Error {
  constructor (message: string, readonly worker: number) {
    super(message)
    this.name = 'WorkerError'
  }
}

/** A worker process. */
export interface BenchWorker {
  readonly index: number
  readonly pid: number
  request<C extends CommandName>(cmd: C, args: Commands[C][0], timeoutMs?: number): Promise<Commands[C][1]>
  /** Asks the worker to exit; SIGKILL after a grace period. */
  close(): Promise<void>
}

/** Default reply deadline: a command that hangs must not hang the benchmark. */
const DEFAULT_REQUEST_TIMEOUT_MS = 120_000
/** Grace period for a worker to stop its node and exit before it is killed. */
const EXIT_GRACE_MS = 5_000

const WORKER_PATH = join(dirname(fileURLToPath(import.meta.url)), 'network-worker.ts')
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let hooked = false

/** Kills every worker still alive (by its pid) and removes the temp dirs: synchronous, safe in 'exit'. */
export function killAll (): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL') } catch {}
    }
  }
  children.clear()
  for (const dir of tempDirs) {
    try { rmSync(dir, { recursive: true, force: true }) } catch {}
  }
  tempDirs.clear()
}

/** Registers a temp dir for removal by {@link killAll}. */
export function removeOnExit (dir: string): void {
  tempDirs.add(dir)
}

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.once('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll()
      process.exit(130)
    })
  }
}

/** Spawns one worker process; resolves once it is ready for commands. */
export async function spawnWorker (index: number): Promise<BenchWorker> {
  hookExit()
  // stdout ignored: it is the report's; worker errors go to stderr like the runner's progress.
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', WORKER_PATH], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  })
  children.add(child)
  const pending = new Map<number, { resolve: (value: unknown) => void, reject: (error: Error) => void, timer: NodeJS.Timeout }>()
  let nextId = 1
  let dead: string | undefined

  const failAll = (why: string): void => {
    dead = why
    for (const [id, waiter] of pending) {
      clearTimeout(waiter.timer)
      waiter.reject(new WorkerError(`worker ${index}: ${why}`, index))
      pending.delete(id)
    }
  }
  child.on('exit', (code, signal) => {
    children.delete(child)
    failAll(`exited (code ${String(code)}, signal ${String(signal)})`)
  })
  child.on('error', (error) => { failAll(`error ${error.message}`) })

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new WorkerError(`worker ${index} did not start`, index)) }, DEFAULT_REQUEST_TIMEOUT_MS)
    child.once('message', () => { clearTimeout(timer); resolve() }) // the first message is 'ready'
    child.once('exit', () => { clearTimeout(timer); reject(new WorkerError(`worker ${index} exited during start-up`, index)) })
  })
  child.on('message', (raw: unknown) => {
    const reply = raw as Reply
    const waiter = pending.get(reply.id)
    if (waiter === undefined) return
    pending.delete(reply.id)
    clearTimeout(waiter.timer)
    if (reply.ok) waiter.resolve(reply.result)
    else waiter.reject(new WorkerError(`worker ${index}: ${reply.error.name}: ${reply.error.message}`, index))
  })

  return {
    index,
    pid: child.pid ?? -1,
    async request (cmd, args, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
      if (dead !== undefined) throw new WorkerError(`worker ${index}: ${dead}`, index)
      const id = nextId++
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new WorkerError(`worker ${index}: no answer to ${cmd} within ${timeoutMs} ms`, index))
        }, timeoutMs)
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer })
        child.send({ id, cmd, args } satisfies Request)
      })
    },
    async close () {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
      try { child.send({ id: 0, cmd: 'exit', args: {} }) } catch {}
      const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, EXIT_GRACE_MS)
      await exited
      clearTimeout(timer)
    }
  }
}
