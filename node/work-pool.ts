/**
 * Proof of work off the main thread: a small pool of worker threads that run
 * protocol's `solveWork`. Minting takes ~0.25 s per envelope at the default
 * TTL; on the main thread it would stall gossip validation and screening.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { AbortError, ENVELOPE_SIZE } from '../protocol/index.js'

/** Options of {@link createWorkPool}. */
export interface WorkPoolInit {
  /** Worker threads. @default max(1, availableParallelism() - 1): leave a core for the network */
  threads?: number
}

/** Solves proof of work in worker threads. */
export interface WorkPool {
  /**
   * Returns a copy of `envelope` with a nonce meeting its target (SPEC §5).
   * `first` puts the job ahead of those waiting (cover envelopes: a late one
   * would show in the emission pattern; a real one only waits).
   */
  solve(envelope: Uint8Array, options?: { now?: number, signal?: AbortSignal, first?: boolean }): Promise<Uint8Array>
  /** Jobs waiting or running. */
  readonly pending: number
  /** Terminates the workers; pending jobs reject with AbortError. */
  close(): Promise<void>
}

interface Job {
  envelope: Uint8Array
  now: number
  resolve: (solved: Uint8Array) => void
  reject: (error: Error) => void
  signal?: AbortSignal
  first: boolean
}

interface Slot {
  worker: Worker
  job?: Job
}

// Under vitest/tsx the sources are .ts and the worker needs the tsx loader; built code runs .js.
// The loader is resolved from this file, not the working directory: a node run from source in
// another directory would otherwise fail to start its workers ("Cannot find package 'tsx'").
const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(RUNNING_FROM_SOURCE ? './work-worker.ts' : './work-worker.js', import.meta.url)
const WORKER_EXEC_ARGV = RUNNING_FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : []

/** Creates a pool of proof-of-work threads. */
export function createWorkPool (init: WorkPoolInit = {}): WorkPool {
  const threads = init.threads ?? Math.max(1, availableParallelism() - 1)
  const queue: Job[] = []
  const slots: Slot[] = []
  let closed = false

  function spawn (): Slot {
    const slot: Slot = { worker: new Worker(WORKER_URL, { execArgv: WORKER_EXEC_ARGV }) }
    slot.worker.unref()
    slot.worker.on('message', (solved: Uint8Array) => {
      const job = slot.job
      slot.job = undefined
      job?.resolve(new Uint8Array(solved))
      dispatch()
    })
    slot.worker.on('error', (error) => {
      const job = slot.job
      slot.job = undefined
      job?.reject(error)
      replace(slot)
    })
    return slot
  }

  function replace (slot: Slot): void {
    // An aborted job terminates its worker (a synchronous search cannot be interrupted otherwise).
    void slot.worker.terminate()
    const index = slots.indexOf(slot)
    if (index >= 0 && !closed) slots[index] = spawn()
    dispatch()
  }

  function dispatch (): void {
    for (const slot of slots) {
      if (slot.job !== undefined) continue
      let job = queue.shift()
      while (job?.signal?.aborted === true) {
        job.reject(new AbortError('Proof of work was cancelled'))
        job = queue.shift()
      }
      if (job === undefined) return
      slot.job = job
      slot.worker.ref()
      slot.worker.postMessage({ envelope: job.envelope, now: job.now })
    }
    for (const slot of slots) if (slot.job === undefined) slot.worker.unref()
  }

  for (let i = 0; i < threads; i++) slots.push(spawn())

  return {
    solve (envelope, options = {}) {
      if (closed) return Promise.reject(new AbortError('The work pool is closed'))
      if (!(envelope instanceof Uint8Array) || envelope.length !== ENVELOPE_SIZE) {
        return Promise.reject(new RangeError(`"envelope" expected Uint8Array of length ${ENVELOPE_SIZE}`))
      }
      return new Promise<Uint8Array>((resolve, reject) => {
        const job: Job = { envelope: Uint8Array.from(envelope), now: options.now ?? Date.now(), resolve, reject, signal: options.signal, first: options.first === true }
        options.signal?.addEventListener('abort', () => {
          const queued = queue.indexOf(job)
          if (queued >= 0) queue.splice(queued, 1)
          const running = slots.find((slot) => slot.job === job)
          if (running !== undefined) {
            running.job = undefined
            replace(running)
          }
          reject(new AbortError('Proof of work was cancelled'))
        }, { once: true })
        // `first` jobs go after the other `first` ones, in order, ahead of the rest.
        const at = options.first === true ? queue.findIndex((waiting) => waiting.first !== true) : -1
        if (at >= 0) queue.splice(at, 0, job)
        else queue.push(job)
        dispatch()
      })
    },
    get pending () { return queue.length + slots.filter((slot) => slot.job !== undefined).length },
    async close () {
      closed = true
      for (const job of queue.splice(0)) job.reject(new AbortError('The work pool is closed'))
      await Promise.all(slots.map(async (slot) => {
        slot.job?.reject(new AbortError('The work pool is closed'))
        await slot.worker.terminate()
      }))
    }
  }
}
