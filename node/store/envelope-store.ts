/**
 * The envelope store: every valid envelope of the network, kept in LevelDB
 * until it expires (DESIGN "Store and resync"). Three sublevels, always
 * written together in one atomic batch:
 *
 * - `id`:  id (32) -> envelope (2048)
 * - `exp`: expiryMinute (4, big-endian) || id -> tag (16). Ordered iteration
 *          is soonest-to-expire first: pruning and quota eviction walk it.
 * - `tag`: tag (16) || id -> empty. "Which stored envelopes carry this tag",
 *          for re-screening after new tags are watched (SPEC §4.4).
 *
 * The sorted (expiryMinute, id) list that resync reconciles over is kept in
 * memory, loaded from `exp` at open and changed only after a batch commits,
 * so it always mirrors the disk.
 */
import { compareItems, type ReconcileItem } from '../resync/reconcile.js'
import type { AbstractBatchOperation, AbstractLevel, AbstractSublevel } from 'abstract-level'
import {
  assertEnvelopeShape, CLOCK_SKEW_MINUTES, ENVELOPE_SIZE, envelopeFields, envelopeId, minuteOf, TAG_LENGTH,
  type CryptoProvider
} from '../../protocol/index.js'

/** Length of an envelope id (SHA-256). */
export const ENVELOPE_ID_LENGTH = 32
/** Default disk quota: 512 MiB (DESIGN "Store and resync"). */
export const DEFAULT_QUOTA_BYTES = 512 * 1024 * 1024
/** Length of the big-endian expiry minute that starts an expiry-index key. */
const EXPIRY_KEY_PREFIX_LENGTH = 4
/** Expired entries deleted per batch: bounded batches keep puts flowing in between. */
const PRUNE_BATCH_SIZE = 1000
/** Expiry-index keys read per step at open (one native call per chunk). */
const LOAD_CHUNK_SIZE = 4096
const EMPTY = new Uint8Array(0)

/**
 * A database with Uint8Array keys and values: the caller's
 * `db.sublevel('envelopes', { keyEncoding: 'view', valueEncoding: 'view' })`
 * (or a `Level` opened with those encodings). The store never closes it.
 */
export type EnvelopeDb = AbstractLevel<any, Uint8Array, Uint8Array>

// One stored envelope as resync sees it: the reconciler owns the type and its order.
export type { ReconcileItem } from '../resync/reconcile.js'

/** Options of {@link createEnvelopeStore}. */
export interface EnvelopeStoreInit {
  /** Where to keep envelopes (nested sublevels are created inside it). */
  db: EnvelopeDb
  /** Computes envelope ids. */
  crypto: CryptoProvider
  /**
   * Quota in bytes, counted as {@link EnvelopeStoreStats.bytes} (see there).
   * @default 536870912 (512 MiB)
   */
  quotaBytes?: number
  /** Namespaced logger (`komrade:store`). @default no logging */
  logger?: (msg: string, fields?: object) => void
}

/** Why `put` stored nothing. */
export type PutRefusal = 'duplicate' | 'expired' | 'quota'

/** Result of {@link EnvelopeStore.put}. */
export interface PutResult {
  readonly id: Uint8Array
  readonly added: boolean
  /** Envelopes evicted (soonest expiry first) to make room, in the same batch. */
  readonly evicted: number
  /** Set when `added` is false. */
  readonly reason?: PutRefusal
}

/** Counters of {@link EnvelopeStore.stats}. */
export interface EnvelopeStoreStats {
  readonly count: number
  /**
   * Logical bytes: per envelope its 2048 bytes plus the keys and values of its
   * three index entries, sublevel prefixes included (2,227 bytes under the usual
   * `envelopes` sublevel). LevelDB's
   * own overhead (write-ahead log, not-yet-compacted tables) is not counted, so
   * the directory can briefly hold more than this.
   */
  readonly bytes: number
  readonly quotaBytes: number
  /** Envelopes evicted for the quota since open. */
  readonly evicted: number
  /** Expired envelopes pruned since open. */
  readonly pruned: number
  /** The last write error, if any (a full disk, an I/O error). */
  readonly lastError?: string
}

/** The envelope store. */
export interface EnvelopeStore {
  /**
   * Stores a (validated) envelope with its index entries in one atomic batch,
   * evicting the soonest-expiring envelopes if the quota requires it. When the
   * newcomer itself would be first to go (it sorts before every envelope the
   * quota would evict, in (expiryMinute, id) order), nothing changes and the
   * result says `reason: 'quota'`. An envelope past expiry plus clock skew at
   * `now` (default: the current time) is refused with `reason: 'expired'`.
   * Throws EnvelopeFormatError for a malformed envelope, StoreWriteError if
   * the disk refuses the write (nothing changes then, and later writes are
   * refused until the store is opened again).
   */
  put(envelope: Uint8Array, options?: { now?: number, signal?: AbortSignal }): Promise<PutResult>
  has(id: Uint8Array): Promise<boolean>
  get(id: Uint8Array): Promise<Uint8Array | undefined>
  getMany(ids: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  /** The stored envelopes carrying `tag` (SPEC §4.4 re-screening). */
  withTag(tag: Uint8Array): Promise<Uint8Array[]>
  /**
   * Deletes envelopes whose expiry minute is below now's minute minus the
   * clock skew (they would fail validation everywhere). Returns how many.
   */
  prune(now?: number, options?: { signal?: AbortSignal }): Promise<number>
  /** All stored envelopes, sorted; a snapshot that later writes do not change. */
  items(): readonly ReconcileItem[]
  stats(): EnvelopeStoreStats
  /** Waits for pending writes; later calls throw StoreClosedError. Does not close `db`. */
  close(): Promise<void>
}

/**
 * The disk refused a write (full disk, I/O error), now or earlier since open.
 * The store is unchanged and still answers reads; `cause` holds LevelDB's error.
 */
export class StoreWriteError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'StoreWriteError'
  }
}

/** The store was used after `close()`. */
export class StoreClosedError extends Error {
  constructor () {
    super('The envelope store is closed; open a new one to keep using the data directory')
    this.name = 'StoreClosedError'
  }
}

/** Opens the store in `init.db` and loads the reconcile list from the expiry index. */
export async function createEnvelopeStore (init: EnvelopeStoreInit): Promise<EnvelopeStore> {
  const quotaBytes = init.quotaBytes ?? DEFAULT_QUOTA_BYTES
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes <= 0) {
    throw new RangeError(`"quotaBytes" expected a positive integer, got ${quotaBytes}`)
  }
  const store = new LevelEnvelopeStore(init, quotaBytes)
  await store.load()
  return store
}

class LevelEnvelopeStore implements EnvelopeStore {
  private readonly db: EnvelopeDb
  private readonly crypto: CryptoProvider
  private readonly log: (msg: string, fields?: object) => void
  private readonly quotaBytes: number
  private readonly byId: NestedDb
  private readonly byExpiry: NestedDb
  private readonly byTag: NestedDb
  private readonly bytesPerEnvelope: number
  /** Mirrors the expiry index; mutated only after a batch commits. */
  private readonly sorted: ReconcileItem[] = []
  /**
   * The ids of `sorted` as strings: `has()` answers from memory. It runs in
   * the gossip validator for every envelope of the network, and a LevelDB
   * lookup there cost milliseconds per hop under load (npm run bench -- network).
   */
  private readonly ids = new Set<string>()
  private snapshot: readonly ReconcileItem[] | undefined
  /** Writes run one at a time, so quota and dedupe decisions see committed state. */
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false
  private evicted = 0
  private pruned = 0
  private lastError: string | undefined
  /** Set by the first failed batch: writes stay refused until reopen (see commit). */
  private writeFailure: unknown

  constructor (init: EnvelopeStoreInit, quotaBytes: number) {
    this.db = init.db
    this.crypto = init.crypto
    this.log = init.logger ?? (() => {})
    this.quotaBytes = quotaBytes
    const views = { keyEncoding: 'view', valueEncoding: 'view' }
    this.byId = init.db.sublevel<Uint8Array, Uint8Array>('id', views)
    this.byExpiry = init.db.sublevel<Uint8Array, Uint8Array>('exp', views)
    this.byTag = init.db.sublevel<Uint8Array, Uint8Array>('tag', views)
    const prefixes = [this.byId, this.byExpiry, this.byTag].map(s => s.prefix.length)
    this.bytesPerEnvelope = ENVELOPE_SIZE + prefixes.reduce((a, b) => a + b, 0) +
      ENVELOPE_ID_LENGTH + // id key
      EXPIRY_KEY_PREFIX_LENGTH + ENVELOPE_ID_LENGTH + TAG_LENGTH + // expiry key, tag value
      TAG_LENGTH + ENVELOPE_ID_LENGTH // tag key
    if (quotaBytes < this.bytesPerEnvelope) {
      throw new RangeError(`"quotaBytes" must hold at least one envelope (${this.bytesPerEnvelope} bytes), got ${quotaBytes}`)
    }
  }

  async load (): Promise<void> {
    const iterator = this.byExpiry.keys()
    try {
      for (;;) {
        const keys = await iterator.nextv(LOAD_CHUNK_SIZE)
        if (keys.length === 0) break
        for (const key of keys) {
          const item = itemOfExpiryKey(key)
          this.sorted.push(item)
          this.ids.add(idKey(item.id))
        }
      }
    } finally {
      await iterator.close()
    }
    this.log('opened', { count: this.sorted.length, quotaBytes: this.quotaBytes })
    // A smaller quota than last time: shrink now, so each put evicts at most one.
    const excess = this.excessOver(this.sorted.length)
    if (excess > 0) {
      await this.serialized(async () => {
        const ops = await this.evictionOps(excess)
        await this.commit(ops, 'evicting over quota at open')
        this.dropFirst(excess)
        this.changed()
        this.evicted += excess
      })
    }
  }

  async put (envelope: Uint8Array, options: { now?: number, signal?: AbortSignal } = {}): Promise<PutResult> {
    this.assertOpen()
    assertEnvelopeShape(envelope)
    options.signal?.throwIfAborted()
    const copy = envelope.slice() // the caller may reuse its buffer before the batch runs
    const id = envelopeId(this.crypto, copy)
    const { expiryMinute, tag } = envelopeFields(copy)
    const nowMinute = minuteOf(options.now ?? Date.now())
    if (expiryMinute < nowMinute - CLOCK_SKEW_MINUTES) return { id, added: false, evicted: 0, reason: 'expired' }
    const item: ReconcileItem = { expiryMinute, id }
    return await this.serialized(async () => {
      this.assertOpen()
      const at = lowerBound(this.sorted, item)
      const found = this.sorted[at]
      if (found !== undefined && compareItems(found, item) === 0) return { id, added: false, evicted: 0, reason: 'duplicate' }
      const evict = Math.min(this.excessOver(this.sorted.length + 1), this.sorted.length)
      const lastEvicted = this.sorted[evict - 1]
      if (lastEvicted !== undefined && compareItems(item, lastEvicted) < 0) {
        // The newcomer would be the first to go: keep what is stored.
        return { id, added: false, evicted: 0, reason: 'quota' }
      }
      const ops = await this.evictionOps(evict)
      ops.push(
        { type: 'put', sublevel: this.byId, key: id, value: copy },
        { type: 'put', sublevel: this.byExpiry, key: expiryKey(item), value: tag.slice() },
        { type: 'put', sublevel: this.byTag, key: concat(tag, id), value: EMPTY }
      )
      await this.commit(ops, 'storing an envelope')
      this.dropFirst(evict)
      this.sorted.splice(at - evict, 0, item)
      this.ids.add(idKey(id))
      this.changed()
      this.evicted += evict
      return { id, added: true, evicted: evict }
    })
  }

  async has (id: Uint8Array): Promise<boolean> {
    this.assertOpen()
    return this.ids.has(idKey(checkId(id)))
  }

  /** Removes the first `count` items (the soonest to expire) from the in-memory mirror. */
  private dropFirst (count: number): void {
    for (const item of this.sorted.splice(0, count)) this.ids.delete(idKey(item.id))
  }

  async get (id: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertOpen()
    return plain(await this.byId.get(checkId(id)))
  }

  async getMany (ids: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    this.assertOpen()
    if (ids.length === 0) return []
    return (await this.byId.getMany(ids.map(checkId))).map(e => plain(e))
  }

  async withTag (tag: Uint8Array): Promise<Uint8Array[]> {
    this.assertOpen()
    if (!(tag instanceof Uint8Array)) throw new TypeError(`"tag" expected Uint8Array, got ${typeof tag}`)
    if (tag.length !== TAG_LENGTH) {
      throw new RangeError(`"tag" expected Uint8Array of length ${TAG_LENGTH}, got length=${tag.length}`)
    }
    const keys = await this.byTag.keys({
      gte: concat(tag, new Uint8Array(ENVELOPE_ID_LENGTH)),
      lte: concat(tag, new Uint8Array(ENVELOPE_ID_LENGTH).fill(0xff))
    }).all()
    if (keys.length === 0) return []
    const envelopes = await this.byId.getMany(keys.map(key => key.subarray(TAG_LENGTH)))
    return envelopes.filter((e): e is Uint8Array => e !== undefined).map(e => plain(e))
  }

  async prune (now: number = Date.now(), options: { signal?: AbortSignal } = {}): Promise<number> {
    this.assertOpen()
    const below = minuteOf(now) - CLOCK_SKEW_MINUTES
    if (below <= 0) return 0
    const bound = new Uint8Array(EXPIRY_KEY_PREFIX_LENGTH)
    new DataView(bound.buffer).setUint32(0, below)
    let total = 0
    // One queued task per batch, so puts are not held up behind a large prune.
    for (;;) {
      options.signal?.throwIfAborted()
      const deleted = await this.serialized(async () => {
        if (this.closed) return 0
        const entries = await this.byExpiry.iterator({ lt: bound, limit: PRUNE_BATCH_SIZE }).all()
        const last = entries.at(-1)
        if (last === undefined) return 0
        const ops: WriteOp[] = []
        for (const [key, tag] of entries) ops.push(...this.deleteOps(itemOfExpiryKey(key), tag))
        await this.commit(ops, 'pruning expired envelopes')
        // The batch removed exactly the first entries of the sorted mirror.
        this.dropFirst(upperBound(this.sorted, itemOfExpiryKey(last[0])))
        this.changed()
        this.pruned += entries.length
        return entries.length
      })
      total += deleted
      if (deleted < PRUNE_BATCH_SIZE) break
    }
    if (total > 0) this.log('pruned', { count: total })
    return total
  }

  items (): readonly ReconcileItem[] {
    this.snapshot ??= Object.freeze(this.sorted.slice())
    return this.snapshot
  }

  stats (): EnvelopeStoreStats {
    return {
      count: this.sorted.length,
      bytes: this.sorted.length * this.bytesPerEnvelope,
      quotaBytes: this.quotaBytes,
      evicted: this.evicted,
      pruned: this.pruned,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError })
    }
  }

  async close (): Promise<void> {
    this.closed = true
    await this.queue.catch(() => {})
  }

  /** Envelopes to evict so that `count` envelopes fit in the quota. */
  private excessOver (count: number): number {
    return Math.max(0, count - Math.floor(this.quotaBytes / this.bytesPerEnvelope))
  }

  /** Delete operations for the `n` soonest-expiring envelopes (tags read from the expiry index). */
  private async evictionOps (n: number): Promise<WriteOp[]> {
    if (n === 0) return []
    const victims = this.sorted.slice(0, n)
    const tags = await this.byExpiry.getMany(victims.map(expiryKey))
    const ops: WriteOp[] = []
    victims.forEach((victim, i) => ops.push(...this.deleteOps(victim, tags[i])))
    return ops
  }

  /**
   * Commits one atomic batch, turning LevelDB's failure into StoreWriteError.
   * After one failure every later write fails too, until the store is opened
   * again: LevelDB (1.23) keeps accepting writes after a failed, unsynced log
   * append, but its log writer has lost its place in the file, so recovery
   * drops everything written after it (measured: all of it, silently).
   * Reopening recovers the intact prefix and starts a fresh log.
   */
  private async commit (ops: WriteOp[], doing: string): Promise<void> {
    if (this.writeFailure !== undefined) {
      throw new StoreWriteError(`The envelope store stopped writing after an earlier failure (${this.lastError}). Free disk space, then restart the node`, { cause: this.writeFailure })
    }
    try {
      await this.db.batch(ops)
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause)
      this.lastError = `${doing}: ${detail}`
      this.writeFailure = cause
      this.log('write failed; store is read-only until reopened', { doing, error: detail })
      throw new StoreWriteError(`The envelope store could not write (${doing}): ${detail}. Free disk space or lower the quota, then restart the node`, { cause })
    }
  }


  private async serialized<T> (task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => {})
    return await run
  }

  private changed (): void {
    this.snapshot = undefined
  }

  private assertOpen (): void {
    if (this.closed) throw new StoreClosedError()
  }

  /** The deletes that remove one envelope; without its tag (never expected) the tag entry stays. */
  private deleteOps (item: ReconcileItem, tag: Uint8Array | undefined): WriteOp[] {
    const ops: WriteOp[] = [
      { type: 'del', sublevel: this.byId, key: item.id },
      { type: 'del', sublevel: this.byExpiry, key: expiryKey(item) }
    ]
    if (tag !== undefined) ops.push({ type: 'del', sublevel: this.byTag, key: concat(tag, item.id) })
    else this.log('expiry entry without tag', { expiryMinute: item.expiryMinute })
    return ops
  }
}

type WriteOp = AbstractBatchOperation<EnvelopeDb, Uint8Array, Uint8Array>
type NestedDb = AbstractSublevel<EnvelopeDb, any, Uint8Array, Uint8Array>

function expiryKey (item: ReconcileItem): Uint8Array {
  const key = new Uint8Array(EXPIRY_KEY_PREFIX_LENGTH + ENVELOPE_ID_LENGTH)
  new DataView(key.buffer).setUint32(0, item.expiryMinute)
  key.set(item.id, EXPIRY_KEY_PREFIX_LENGTH)
  return key
}

function itemOfExpiryKey (key: Uint8Array): ReconcileItem {
  const expiryMinute = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0
  // A copy: the key may be a Buffer (whose slice() is a view) over a larger allocation.
  return { expiryMinute, id: new Uint8Array(key.subarray(EXPIRY_KEY_PREFIX_LENGTH)) }
}

/** An id as a 16-character string (two bytes per UTF-16 unit): a compact Set key. */
function idKey (id: Uint8Array): string {
  // One fromCharCode call makes one flat string, not a rope of 16 concatenations.
  const units = new Array<number>(id.length >> 1)
  for (let i = 0; i < units.length; i++) units[i] = ((id[2 * i] as number) << 8) | (id[2 * i + 1] as number)
  return String.fromCharCode(...units)
}

/** LevelDB hands out Buffers; callers get plain Uint8Arrays (same memory, no Buffer semantics). */
function plain (bytes: Uint8Array): Uint8Array
function plain (bytes: Uint8Array | undefined): Uint8Array | undefined
function plain (bytes: Uint8Array | undefined): Uint8Array | undefined {
  return bytes === undefined ? undefined : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}


/** First index whose item is >= `item`. */
function lowerBound (items: readonly ReconcileItem[], item: ReconcileItem): number {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareItems(items[mid]!, item) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** First index whose item is > `item`. */
function upperBound (items: readonly ReconcileItem[], item: ReconcileItem): number {
  const at = lowerBound(items, item)
  return items[at] !== undefined && compareItems(items[at], item) === 0 ? at + 1 : at
}

function checkId (id: Uint8Array): Uint8Array {
  if (!(id instanceof Uint8Array)) throw new TypeError(`"id" expected Uint8Array, got ${typeof id}`)
  if (id.length !== ENVELOPE_ID_LENGTH) {
    throw new RangeError(`"id" expected Uint8Array of length ${ENVELOPE_ID_LENGTH}, got length=${id.length}`)
  }
  return id
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
