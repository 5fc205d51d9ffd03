/**
 * What the node keeps of the registry, in the sublevel 'registry' of its
 * LevelDB: verified certificates by name (so a lookup still answers while
 * the Operator is down), the latest verified tree head and the recent ones
 * (so a node that restarts still notices a fork against what it saw), the
 * split-view evidence (kept for good: it proves the Operator lied), the
 * Operator's work setting, our own name and the names of our contacts.
 *
 * Only verified data is written here: the registry modules verify first.
 */
import type { Level } from 'level'
import type { SplitViewEvidence } from './tree-heads.js'

type Json = Record<string, unknown>

/** A certificate the node verified, by name. */
export interface CachedName {
  /** Normalised name. */
  readonly name: string
  /** Hex public identity (128 hex characters) the name points to. */
  readonly identity: string
  /** Log index of the entry. */
  readonly index: number
  /** The Operator's clock when it appended the entry, unix ms. */
  readonly registeredAt: number
  /** Hex of the certificate as the Operator signed it. */
  readonly certificate: string
  /** Our clock when we last verified it, unix ms. */
  readonly verifiedAt: number
}

/** The tree heads the node remembers, as hex of their 113 bytes. */
export interface StoredHeads {
  readonly latest?: string
  readonly seen: string[]
}

/** The registry's records in the node's database. */
export interface NameCache {
  getName(name: string): Promise<CachedName | undefined>
  putName(record: CachedName): Promise<void>
  getHeads(): Promise<StoredHeads>
  putHeads(heads: StoredHeads): Promise<void>
  evidence(): Promise<SplitViewEvidence[]>
  /** Keeps evidence durably (synced to disk); false when the same evidence was already kept. */
  addEvidence(evidence: SplitViewEvidence): Promise<boolean>
  getWorkTrials(): Promise<number | undefined>
  putWorkTrials(workTrials: number): Promise<void>
  getOwnName(): Promise<string | undefined>
  putOwnName(name: string): Promise<void>
  /** Contact id -> the registered name we know the contact by. */
  contactNames(): Promise<Map<string, string>>
  setContactName(contactId: string, name: string | undefined): Promise<void>
}

/** The key that identifies one piece of evidence: its kind and its two heads in a fixed order. */
export function evidenceKey (evidence: Pick<SplitViewEvidence, 'kind' | 'heads'>): string {
  const [a, b] = [...evidence.heads].sort()
  return `${evidence.kind}/${a}/${b}`
}

/** Opens the registry records inside the node's database. */
export function openNameCache (db: Level<string, Json>): NameCache {
  const registry = db.sublevel<string, Json>('registry', { valueEncoding: 'json' })
  const names = registry.sublevel<string, Json>('names', { valueEncoding: 'json' })
  const evidence = registry.sublevel<string, Json>('evidence', { valueEncoding: 'json' })
  const meta = registry.sublevel<string, Json>('meta', { valueEncoding: 'json' })
  const contacts = registry.sublevel<string, Json>('contacts', { valueEncoding: 'json' })

  return {
    async getName (name) {
      return (await names.get(name)) as unknown as CachedName | undefined
    },
    async putName (record) {
      await names.put(record.name, record as unknown as Json)
    },
    async getHeads () {
      const stored = (await meta.get('heads')) as unknown as StoredHeads | undefined
      return stored ?? { seen: [] }
    },
    async putHeads (heads) {
      await meta.put('heads', heads as unknown as Json)
    },
    async evidence () {
      const all = (await evidence.values().all()) as unknown as SplitViewEvidence[]
      return all.sort((a, b) => a.detectedAt - b.detectedAt)
    },
    async addEvidence (item) {
      const key = evidenceKey(item)
      if ((await evidence.get(key)) !== undefined) return false
      // classic-level's `sync` (fsync before resolving) passes through the sublevel; abstract-level's types omit it.
      await evidence.put(key, item as unknown as Json, { sync: true } as object)
      return true
    },
    async getWorkTrials () {
      const info = (await meta.get('info')) as { workTrials?: unknown } | undefined
      return typeof info?.workTrials === 'number' ? info.workTrials : undefined
    },
    async putWorkTrials (workTrials) {
      await meta.put('info', { workTrials })
    },
    async getOwnName () {
      const own = (await meta.get('own-name')) as { name?: unknown } | undefined
      return typeof own?.name === 'string' ? own.name : undefined
    },
    async putOwnName (name) {
      await meta.put('own-name', { name })
    },
    async contactNames () {
      const map = new Map<string, string>()
      for await (const [id, value] of contacts.iterator()) {
        if (typeof value.name === 'string') map.set(id, value.name)
      }
      return map
    },
    async setContactName (contactId, name) {
      if (name === undefined) await contacts.del(contactId)
      else await contacts.put(contactId, { name })
    }
  }
}
