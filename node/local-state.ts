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
  /** Writes everything in `change` atomically. */
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

/** Wraps an open database in the node's record helpers. */
export function localState (db: Level<string, Json>): LocalState {
  const keyrings = jsonSublevel(db, 'keyring')
  const inbox = jsonSublevel(db, 'inbox')
  const outbox = jsonSublevel(db, 'outbox')
  const parts = jsonSublevel(db, 'parts')

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
      const stale: string[] = []
      for await (const [key, part] of parts.iterator()) {
        const expiry = (part as unknown as StoredPart).expiryMinute
        if (expiry !== undefined && expiry < nowMinute) stale.push(key)
      }
      if (stale.length > 0) await parts.batch(stale.map((key) => ({ type: 'del' as const, key })))
      return stale.length
    },
    async commit (change) {
      const ops: LocalOp[] = []
      if (change.keyring !== undefined) ops.push({ type: 'put', sublevel: keyrings, key: change.keyring.identityId, value: change.keyring.state as unknown as Json })
      for (const message of change.inbox ?? []) ops.push({ type: 'put', sublevel: inbox, key: inboxKey(message.from, message.id), value: message as unknown as Json })
      for (const { from, id } of change.removeInbox ?? []) ops.push({ type: 'del', sublevel: inbox, key: inboxKey(from, id) })
      for (const message of change.outbox ?? []) ops.push({ type: 'put', sublevel: outbox, key: message.id, value: message as unknown as Json })
      for (const id of change.removeOutbox ?? []) ops.push({ type: 'del', sublevel: outbox, key: id })
      if (change.part !== undefined) {
        const { from, id, part } = change.part
        ops.push({ type: 'put', sublevel: parts, key: partKey(from, id, part.index), value: part as unknown as Json })
      }
      if (change.removeParts !== undefined) {
        const { from, id, count } = change.removeParts
        for (let i = 0; i < count; i++) ops.push({ type: 'del', sublevel: parts, key: partKey(from, id, i) })
      }
      for (const op of change.ops ?? []) ops.push(op)
      if (ops.length > 0) await db.batch(ops as never)
    }
  }
}
