/**
 * The node's own records in its LevelDB: keyring state, inbox, outbox and
 * parts of multi-part payloads. Every change that moves session state is
 * written in ONE batch with what it produced (an inbox entry, an outbox
 * entry, a stored part), so a crash at any point leaves either both or
 * neither: never a consumed key without its message, never a message whose
 * key could open it twice.
 */
import { Level } from 'level'
import type { KeyringJSON } from '../protocol/index.js'
import { MAX_PARTIAL_PAYLOADS_PER_SENDER, MAX_STORED_PARTS } from './node-constants.js'

/** A message as the inbox keeps it. */
export interface InboxMessage {
  /** Hex of the 16-byte message id. */
  readonly id: string
  /** Contact id (hex Ed25519 key) of the sender. */
  readonly from: string
  /** Hex of the sender's 64-byte public identity. */
  readonly fromIdentity: string
  /** Inner kind (SPEC §3.1). */
  readonly kind: number
  /** Base64 of the payload. */
  readonly body: string
  /** Sender's clock, unix ms. */
  readonly sentAt: number
  /** Our clock, unix ms. */
  readonly receivedAt: number
  /** How the first envelope was recognised. */
  readonly via: 'first-contact' | 'accept' | 'session'
}

/** Delivery state of a message we sent. */
export type OutboxState = 'working' | 'queued' | 'sent' | 'delivered'

/** A message we sent, until it expires. */
export interface OutboxMessage {
  readonly id: string
  readonly to: string
  readonly toIdentity: string
  readonly kind: number
  readonly body: string
  readonly createdAt: number
  state: OutboxState
  /** Hex of each envelope; replaced by its solved form once its proof of work is done. */
  envelopes: string[]
  /** Which envelopes carry their proof of work. */
  solved: boolean[]
  /** Which envelopes reached at least one peer (gossip or resync). */
  published: boolean[]
  deliveredAt?: number
  /** Expiry minute of the envelopes: the entry is dropped after it. */
  readonly expiryMinute: number
}

/** One stored part of an incomplete multi-part payload. */
export interface StoredPart {
  readonly index: number
  readonly count: number
  readonly kind: number
  readonly body: string
  /** Expiry minute of the part's envelope: housekeeping deletes parts of payloads that never completed. */
  readonly expiryMinute?: number
  /** When the part arrived (our clock, unix ms): the oldest incomplete payload is the first to go past a bound. */
  readonly receivedAt?: number
}

/** Bounds on the parts of incomplete payloads (SPEC §6). */
export interface PartLimits {
  /** @default MAX_PARTIAL_PAYLOADS_PER_SENDER */
  maxPayloadsPerSender?: number
  /** @default MAX_STORED_PARTS */
  maxParts?: number
}

/** A JSON record of the local database. */
export type Json = Record<string, unknown>

/** A sublevel of the local database holding JSON records (the social layer keeps its own). */
export type LocalSublevel = ReturnType<typeof jsonSublevel>

/** Opens (or reopens) the JSON sublevel `name` of the local database. */
export function jsonSublevel (db: Level<string, Json>, name: string) {
  return db.sublevel<string, Json>(name, { valueEncoding: 'json' })
}

/** One write to a sublevel of the local database, committed in the batch of a {@link StateChange}. */
export type LocalOp =
  | { readonly type: 'put', readonly sublevel: LocalSublevel, readonly key: string, readonly value: Json }
  | { readonly type: 'del', readonly sublevel: LocalSublevel, readonly key: string }

/** Opens the node database at `path`. */
export async function openLocalDb (path: string): Promise<Level<string, Json>> {
  const db = new Level<string, Json>(path, { keyEncoding: 'utf8', valueEncoding: 'json' })
  await db.open()
  return db
}

/** The sublevels of the node's records, and batch helpers across them. */
export interface LocalState {
  readonly db: Level<string, Json>
  loadKeyring(identityId: string): Promise<KeyringJSON | undefined>
  inbox(): Promise<InboxMessage[]>
  hasInbox(from: string, id: string): Promise<boolean>
  outbox(): Promise<OutboxMessage[]>
  getOutbox(id: string): Promise<OutboxMessage | undefined>
  parts(from: string, id: string): Promise<StoredPart[]>
  /** Deletes stored parts whose envelopes expired before `nowMinute` (payloads that never completed); returns how many. */
  pruneParts(nowMinute: number): Promise<number>
  /** How many incomplete payloads and stored parts are held (the bounds of {@link PartLimits}). */
  partsHeld(): Promise<{ payloads: number, parts: number }>
  /**
   * Writes everything in `change` atomically. A part of a new incomplete
   * payload past a bound of {@link PartLimits} deletes, in the same batch,
   * the oldest incomplete payload (of that sender, or of anyone).
   */
  commit(change: StateChange): Promise<void>
}

/** What one step changes, committed in one batch. */
export interface StateChange {
  keyring?: { identityId: string, state: KeyringJSON }
  inbox?: InboxMessage[]
  removeInbox?: Array<{ from: string, id: string }>
  outbox?: OutboxMessage[]
  removeOutbox?: string[]
  part?: { from: string, id: string, part: StoredPart }
  removeParts?: { from: string, id: string, count: number }
  /** Writes of other parts of the node (the social layer's feeds, circle and chains) that belong to the same step. */
  ops?: LocalOp[]
}

const inboxKey = (from: string, id: string): string => `${from}/${id}`
const partKey = (from: string, id: string, index: number): string => `${from}/${id}/${String(index).padStart(5, '0')}`

/** An incomplete payload: whose, since when, which parts are stored. */
interface Assembly {
  readonly from: string
  readonly id: string
  startedAt: number
  readonly indices: Set<number>
}

/** Wraps an open database in the node's record helpers. */
export function localState (db: Level<string, Json>, limits: PartLimits = {}): LocalState {
  const keyrings = jsonSublevel(db, 'keyring')
  const inbox = jsonSublevel(db, 'inbox')
  const outbox = jsonSublevel(db, 'outbox')
  const parts = jsonSublevel(db, 'parts')
  const maxPerSender = limits.maxPayloadsPerSender ?? MAX_PARTIAL_PAYLOADS_PER_SENDER
  const maxParts = limits.maxParts ?? MAX_STORED_PARTS

  /** Incomplete payloads by `from/id`, read from disk at first use; the parts' bounds are kept with it. */
  let assemblies: Map<string, Assembly> | undefined
  let partCount = 0

  async function partIndex (): Promise<Map<string, Assembly>> {
    if (assemblies !== undefined) return assemblies
    const loaded = new Map<string, Assembly>()
    let count = 0
    for await (const [key, value] of parts.iterator()) {
      const cut = key.lastIndexOf('/')
      const head = key.slice(0, cut)
      const slash = head.indexOf('/')
      const part = value as unknown as StoredPart
      let assembly = loaded.get(head)
      if (assembly === undefined) {
        assembly = { from: head.slice(0, slash), id: head.slice(slash + 1), startedAt: part.receivedAt ?? 0, indices: new Set() }
        loaded.set(head, assembly)
      }
      assembly.startedAt = Math.min(assembly.startedAt, part.receivedAt ?? 0)
      assembly.indices.add(Number(key.slice(cut + 1)))
      count++
    }
    assemblies ??= loaded
    if (assemblies === loaded) partCount = count
    return assemblies
  }

  /** The incomplete payloads to delete so that a new part of `head` fits the bounds, oldest first. */
  function evictionsFor (index: Map<string, Assembly>, head: string, from: string, isNewPart: boolean): Assembly[] {
    const victims: Assembly[] = []
    const byAge = [...index.entries()].filter(([key]) => key !== head).map(([, a]) => a).sort((a, b) => a.startedAt - b.startedAt)
    if (!index.has(head)) {
      const mine = byAge.filter((a) => a.from === from)
      for (let i = 0; i <= mine.length - maxPerSender; i++) victims.push(mine[i]!)
    }
    let total = partCount + (isNewPart ? 1 : 0) - victims.reduce((n, a) => n + a.indices.size, 0)
    for (const assembly of byAge) {
      if (total <= maxParts) break
      if (victims.includes(assembly)) continue
      victims.push(assembly)
      total -= assembly.indices.size
    }
    return victims
  }

  return {
    db,
    async loadKeyring (identityId) {
      return (await keyrings.get(identityId)) as unknown as KeyringJSON | undefined
    },
    async inbox () {
      const all = (await inbox.values().all()) as unknown as InboxMessage[]
      return all.sort((a, b) => a.receivedAt - b.receivedAt)
    },
    async hasInbox (from, id) {
      return (await inbox.get(inboxKey(from, id))) !== undefined
    },
    async outbox () {
      const all = (await outbox.values().all()) as unknown as OutboxMessage[]
      return all.sort((a, b) => a.createdAt - b.createdAt)
    },
    async getOutbox (id) {
      return (await outbox.get(id)) as unknown as OutboxMessage | undefined
    },
    async parts (from, id) {
      const prefix = `${from}/${id}/`
      return (await parts.values({ gte: prefix, lt: `${prefix}\uffff` }).all()) as unknown as StoredPart[]
    },
    async pruneParts (nowMinute) {
      const index = await partIndex()
      const stale: string[] = []
      for await (const [key, part] of parts.iterator()) {
        const expiry = (part as unknown as StoredPart).expiryMinute
        if (expiry !== undefined && expiry < nowMinute) stale.push(key)
      }
      if (stale.length > 0) await parts.batch(stale.map((key) => ({ type: 'del' as const, key })))
      for (const key of stale) {
        const cut = key.lastIndexOf('/')
        const assembly = index.get(key.slice(0, cut))
        if (assembly?.indices.delete(Number(key.slice(cut + 1))) === true) partCount--
        if (assembly?.indices.size === 0) index.delete(key.slice(0, cut))
      }
      return stale.length
    },
    async partsHeld () {
      return { payloads: (await partIndex()).size, parts: partCount }
    },
    async commit (change) {
      const ops: LocalOp[] = []
      const index = change.part !== undefined || change.removeParts !== undefined ? await partIndex() : undefined
      let victims: Assembly[] = []
      if (change.keyring !== undefined) ops.push({ type: 'put', sublevel: keyrings, key: change.keyring.identityId, value: change.keyring.state as unknown as Json })
      for (const message of change.inbox ?? []) ops.push({ type: 'put', sublevel: inbox, key: inboxKey(message.from, message.id), value: message as unknown as Json })
      for (const { from, id } of change.removeInbox ?? []) ops.push({ type: 'del', sublevel: inbox, key: inboxKey(from, id) })
      for (const message of change.outbox ?? []) ops.push({ type: 'put', sublevel: outbox, key: message.id, value: message as unknown as Json })
      for (const id of change.removeOutbox ?? []) ops.push({ type: 'del', sublevel: outbox, key: id })
      if (change.part !== undefined) {
        const { from, id, part } = change.part
        const head = `${from}/${id}`
        const isNewPart = index!.get(head)?.indices.has(part.index) !== true
        victims = evictionsFor(index!, head, from, isNewPart)
        for (const victim of victims) {
          for (const i of victim.indices) ops.push({ type: 'del', sublevel: parts, key: partKey(victim.from, victim.id, i) })
        }
        ops.push({ type: 'put', sublevel: parts, key: partKey(from, id, part.index), value: part as unknown as Json })
      }
      if (change.removeParts !== undefined) {
        const { from, id, count } = change.removeParts
        // Every part stored for the id, parts of another count included (a sender's bug or malice).
        const indices = new Set([...Array.from({ length: count }, (_, i) => i), ...(index!.get(`${from}/${id}`)?.indices ?? [])])
        for (const i of indices) ops.push({ type: 'del', sublevel: parts, key: partKey(from, id, i) })
      }
      for (const op of change.ops ?? []) ops.push(op)
      if (ops.length > 0) await db.batch(ops as never)
      // Committed: the index follows.
      for (const victim of victims) {
        if (index!.delete(`${victim.from}/${victim.id}`)) partCount -= victim.indices.size
      }
      if (change.part !== undefined) {
        const { from, id, part } = change.part
        const head = `${from}/${id}`
        let assembly = index!.get(head)
        if (assembly === undefined) {
          assembly = { from, id, startedAt: part.receivedAt ?? Date.now(), indices: new Set() }
          index!.set(head, assembly)
        }
        if (!assembly.indices.has(part.index)) { assembly.indices.add(part.index); partCount++ }
      }
      if (change.removeParts !== undefined) {
        const head = `${change.removeParts.from}/${change.removeParts.id}`
        const assembly = index!.get(head)
        if (assembly !== undefined) { partCount -= assembly.indices.size; index!.delete(head) }
      }
    }
  }
}
