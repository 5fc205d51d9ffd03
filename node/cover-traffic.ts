/**
 * Cover traffic: a node emits envelopes as a Poisson process whether or not
 * its user writes, so an observer of its links cannot tell when it sends.
 *
 * Slots are drawn ahead (exponential gaps at `ratePerHour`). At each slot
 * the node emits exactly one envelope: the oldest real one waiting (a
 * message, a receipt, an accept, a registry request), else a cover envelope
 * (random content, valid proof of work, protocol `sealCover`). A real
 * envelope takes a slot instead of adding one, so the emission pattern does
 * not change when the user writes; the cost is latency (a real envelope
 * waits for the next slot: one mean gap, 60 s at the default rate, and a
 * multi-part message one slot per part) and bandwidth (every node receives
 * every node's cover; `npm run bench -- cover`).
 *
 * Cover envelopes are minted ahead by the work pool, each for one planned
 * slot and ahead of real envelopes' work (a late cover would show in the
 * pattern, a late real envelope only waits), so a slot is not late for proof
 * of work while the machine keeps up with the rate. The expiry (whole minutes)
 * is on the wire, and a real envelope's expiry is its sealing time plus the
 * TTL, some wait before its slot: a cover envelope's expiry is set as if it
 * had been sealed an exponential wait before its slot, the wait of a real
 * one sent at a random moment. A cover whose slot a real envelope took is
 * dropped, not kept for a later slot, where its apparent wait would be
 * longer than a real one's.
 *
 * Envelopes handed over here are stored (resync can hand them out) and
 * published at their slot, not before: an envelope in a node's store that
 * nobody gossiped yet would name its sender to a peer that resyncs. Until
 * then a real envelope lives only in the durable outbox (delivery.ts): a
 * crash or stop loses nothing, the outbox resumes it at the next start.
 */
import { AbortError, DEFAULT_TTL_MINUTES, MAX_TTL_MINUTES, MINUTE_MS, expiryFor, sealCover, type CryptoProvider } from '../protocol/index.js'
import type { Logger } from './logger.js'
import { COVER_BUDGET_HEADROOM, DEFAULT_COVER_RATE_PER_HOUR } from './node-constants.js'
import type { WorkPool } from './work-pool.js'

/** Cover envelopes minted ahead cover at least this much time of slots, so a burst of slots finds them ready. */
const RESERVE_LEAD_MS = 2_000
/** And at least this many: at the default rate, two slots are about two minutes ahead, 500 times a mint. */
const MIN_RESERVE = 2
/** setTimeout's limit (about 24.8 days); a later slot is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1
const DAY_MS = 86_400_000
/** 2^53: 53 random bits make a uniform double in [0, 1). */
const TWO_POW_53 = 2 ** 53

/** Options of {@link createCoverTraffic}; `false` turns cover traffic off (envelopes go out at once). */
export interface CoverTrafficInit {
  /** Envelopes per hour, real and cover together (mean of the Poisson process). @default 60 */
  ratePerHour?: number
  /**
   * Most envelopes per UTC day, real and cover together. Past it no cover
   * goes out, only real envelopes, still on slots (an observer then knows
   * each emission is real: keep the budget above 24 x rate).
   * @default 2 x 24 x ratePerHour (never reached by the schedule alone)
   */
  budgetPerDay?: number
  /**
   * Lifetime of cover envelopes in minutes. The expiry is on the wire: it
   * must be the TTL real messages use (tests use short ones).
   * @default DEFAULT_TTL_MINUTES (2 days)
   */
  ttlMinutes?: number
}

/** What cover traffic needs from the node. */
export interface CoverTrafficComponents {
  crypto: CryptoProvider
  pool: Pick<WorkPool, 'solve'>
  /** Stores then floods one envelope (the node's store.put and network.publish). */
  emit(envelope: Uint8Array): Promise<{ recipients: number }>
  logger: Logger
  /** Uniform in [0, 1), for the schedule. @default from `crypto.randomBytes` (an observer must not predict slots) */
  random?: () => number
}

/** What `status()` shows the local user: the schedule's settings and totals, not which emissions were real. */
export interface CoverStatus {
  readonly enabled: boolean
  /** Envelopes per hour (absent when off). */
  readonly ratePerHour?: number
  /** Envelopes per UTC day at most (absent when off). */
  readonly budgetPerDay?: number
  /** Envelopes emitted since 00:00 UTC, real and cover together. */
  readonly emittedToday: number
  /** Real envelopes waiting for a slot. */
  readonly waiting: number
  /** Cover envelopes minted and ready. */
  readonly ready: number
  /** Slots that had to wait for their cover's proof of work since start (0 when the reserve keeps up). */
  readonly lateSlots: number
}

/** The emission scheduler. */
export interface CoverTraffic {
  /**
   * Stores and publishes a real envelope at the next free slot (at once when
   * off). Rejects with AbortError when `signal` aborts or the scheduler stops
   * first: the envelope was not emitted, and stays wherever the caller keeps it.
   */
  publish(envelope: Uint8Array, options?: { signal?: AbortSignal }): Promise<{ recipients: number }>
  /** Starts the schedule and the minting of cover envelopes. */
  start(): void
  /** Stops; waiting real envelopes reject with AbortError; resolves when emissions in progress are done. */
  stop(): Promise<void>
  status(): CoverStatus
}

interface Waiting {
  envelope: Uint8Array
  resolve: (result: { recipients: number }) => void
  reject: (error: Error) => void
  detach: () => void
}

interface Slot {
  at: number
  /** The cover minted for this slot, once ready. */
  cover?: Uint8Array
  /** Minting started. */
  minting: boolean
  /** The slot came before its cover was ready: emit the cover as soon as it is. */
  late: boolean
  /** Taken by a real envelope, or past: the cover is dropped. */
  done: boolean
}

function checkPositive (value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`"cover.${name}" expected a positive number, got ${String(value)}`)
  }
  return value
}

/** The settings `init` gives, defaults filled in; false when off. Throws RangeError naming a bad field. */
export function coverSettings (init: CoverTrafficInit | false): Required<CoverTrafficInit> | false {
  if (init === false) return false
  if (init === null || typeof init !== 'object') throw new TypeError('"cover" expected false or { ratePerHour?, budgetPerDay?, ttlMinutes? }')
  const ratePerHour = checkPositive(init.ratePerHour ?? DEFAULT_COVER_RATE_PER_HOUR, 'ratePerHour')
  const budgetPerDay = checkPositive(init.budgetPerDay ?? Math.ceil(COVER_BUDGET_HEADROOM * 24 * ratePerHour), 'budgetPerDay')
  const ttlMinutes = init.ttlMinutes ?? DEFAULT_TTL_MINUTES
  if (!Number.isSafeInteger(ttlMinutes) || ttlMinutes < 1 || ttlMinutes > MAX_TTL_MINUTES) {
    throw new RangeError(`"cover.ttlMinutes" expected an integer from 1 to ${MAX_TTL_MINUTES}, got ${String(ttlMinutes)}`)
  }
  return { ratePerHour, budgetPerDay, ttlMinutes }
}

/** Creates the scheduler; `init === false` gives the off switch: every envelope is emitted at once. */
export function createCoverTraffic (init: CoverTrafficInit | false, components: CoverTrafficComponents): CoverTraffic {
  const settings = coverSettings(init)
  const log = components.logger.child('cover')
  let day = Math.floor(Date.now() / DAY_MS)
  let emittedToday = 0
  const emitting = new Set<Promise<unknown>>()

  function counted (): void {
    const today = Math.floor(Date.now() / DAY_MS)
    if (today !== day) { day = today; emittedToday = 0 }
    emittedToday++
  }

  /** Emissions since 00:00 UTC (0 once a new day began, before the next emission resets the counter). */
  function currentEmitted (): number {
    return Math.floor(Date.now() / DAY_MS) === day ? emittedToday : 0
  }

  function track<T> (promise: Promise<T>): Promise<T> {
    emitting.add(promise)
    void promise.finally(() => emitting.delete(promise)).catch(() => {})
    return promise
  }

  if (settings === false) {
    let stopped = false
    return {
      async publish (envelope, options = {}) {
        options.signal?.throwIfAborted()
        if (stopped) throw new AbortError('Cover traffic has stopped; the envelope was not sent')
        counted()
        return await track(components.emit(envelope))
      },
      start () {},
      async stop () {
        stopped = true
        await Promise.allSettled([...emitting])
      },
      status () {
        return { enabled: false, emittedToday: currentEmitted(), waiting: 0, ready: 0, lateSlots: 0 }
      }
    }
  }

  const { ratePerHour, budgetPerDay, ttlMinutes } = settings
  const meanGapMs = 3_600_000 / ratePerHour
  const reserve = Math.max(MIN_RESERVE, Math.ceil(RESERVE_LEAD_MS / meanGapMs))
  const random = components.random ?? (() => {
    const bytes = components.crypto.randomBytes(8)
    const high = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 11 // 21 bits
    const low = ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0 // 32 bits
    return (high * 2 ** 32 + low) / TWO_POW_53
  })
  /** An exponential gap of mean `meanGapMs`: 1 - u is in (0, 1], so the log is finite. */
  const gap = (): number => -Math.log(1 - random()) * meanGapMs

  const waiting: Waiting[] = []
  const slots: Slot[] = []
  let timer: NodeJS.Timeout | undefined
  let running = false
  let stopped = false
  let lateSlots = 0

  function budgetLeft (): boolean {
    return currentEmitted() < budgetPerDay
  }

  /** Draws slots until `reserve` are ahead, and mints a cover for each (while the budget lasts). */
  function planAhead (): void {
    while (slots.length < reserve) {
      const last = slots.at(-1)?.at ?? Date.now()
      slots.push({ at: last + gap(), minting: false, late: false, done: false })
    }
    for (const slot of slots) if (!slot.minting && budgetLeft()) mint(slot)
  }

  function mint (slot: Slot): void {
    slot.minting = true
    // Sealed, as it would seem, a real envelope's wait before its slot; never so early it expires on the way.
    const sealedAt = slot.at - Math.min(gap(), ttlMinutes * MINUTE_MS / 2)
    const envelope = sealCover(components.crypto, expiryFor(sealedAt, ttlMinutes))
    // Work for the full TTL from the apparent sealing time: what a verifier at the slot (later) charges is less.
    components.pool.solve(envelope, { now: sealedAt, first: true }).then((solved) => {
      if (slot.done && !slot.late) return // a real envelope took the slot, or we stopped
      slot.cover = solved
      if (slot.late) {
        slot.late = false
        slot.done = true
        emitCover(solved)
      }
    }, (error: unknown) => {
      if (running) log.warn('could not mint a cover envelope', { error })
    })
  }

  function emitCover (envelope: Uint8Array): void {
    if (!running) return
    counted()
    void track(components.emit(envelope).catch((error: unknown) => {
      log.debug('cover envelope not published', { error })
    }))
  }

  function emitReal (next: Waiting): void {
    next.detach()
    counted()
    track(components.emit(next.envelope)).then(next.resolve, next.reject)
  }

  function onSlot (): void {
    timer = undefined
    if (!running) return
    const slot = slots.shift()
    if (slot === undefined) return
    if (slot.at > Date.now()) { // a long wait in steps, or an early timer
      slots.unshift(slot)
      arm()
      return
    }
    const real = waiting.shift()
    if (real !== undefined) {
      slot.done = true
      emitReal(real)
    } else if (!budgetLeft()) {
      slot.done = true
    } else if (slot.cover !== undefined) {
      slot.done = true
      emitCover(slot.cover)
    } else {
      // Its proof of work is not done yet (or it was never minted: the budget ran out, then a new day began).
      lateSlots++
      slot.late = true
      if (!slot.minting) mint(slot)
    }
    planAhead()
    arm()
  }

  function arm (): void {
    const next = slots[0]
    if (!running || next === undefined || timer !== undefined) return
    timer = setTimeout(onSlot, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(next.at - Date.now()))))
    timer.unref()
  }

  return {
    async publish (envelope, options = {}) {
      options.signal?.throwIfAborted()
      if (stopped) throw new AbortError('Cover traffic has stopped; the envelope stays in the outbox')
      return await new Promise((resolve, reject) => {
        const onAbort = (): void => {
          const index = waiting.indexOf(entry)
          if (index >= 0) waiting.splice(index, 1)
          reject(new AbortError('Sending was cancelled before its slot'))
        }
        const entry: Waiting = {
          envelope,
          resolve,
          reject,
          detach: () => { options.signal?.removeEventListener('abort', onAbort) }
        }
        options.signal?.addEventListener('abort', onAbort, { once: true })
        waiting.push(entry)
      })
    },

    start () {
      if (running || stopped) return
      running = true
      planAhead()
      arm()
      log.debug('cover traffic started', { ratePerHour, budgetPerDay, reserve })
    },

    async stop () {
      running = false
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      for (const slot of slots) slot.done = true
      slots.length = 0
      for (const entry of waiting.splice(0)) {
        entry.detach()
        entry.reject(new AbortError('The node is stopping; the envelope stays in the outbox for the next start'))
      }
      await Promise.allSettled([...emitting])
    },

    status () {
      return {
        enabled: true,
        ratePerHour,
        budgetPerDay,
        emittedToday: currentEmitted(),
        waiting: waiting.length,
        ready: slots.filter((slot) => slot.cover !== undefined && !slot.done).length,
        lateSlots
      }
    }
  }
}
