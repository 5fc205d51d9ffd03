/**
 * The registry's LevelDB, in its own directory. Sublevels:
 *
 * - `certs`:    index (u64 BE) -> certificate: the log entry (the Merkle leaf
 *               data) followed by the Operator's 64-byte signature
 * - `names`:    name -> index (u64 BE) of its latest entry
 * - `requests`: SHA-256 of the request bytes -> index (u64 BE): replays are refused
 * - `meta`:     `operator` -> the signing key that signs this log; `size` -> entry
 *               count (u64 BE); `head` -> the latest signed tree head
 *
 * One append is one batch written with `{ sync: true }` (fsync): when it
 * resolves, the entries are on disk, and only then do they reach the
 * in-memory Merkle tree. The tree is rebuilt from `certs` at open, in key
 * order, and the count must match `meta/size`, written in the same batches.
 *
 * Lookups read with `getSync`: two small reads from LevelDB's cache cost a
 * few microseconds, where each async read is a round trip through the
 * thread pool (lookups/s tripled, npm run bench -- registry). A synced batch
 * is visible to `getSync` before its write returns and before its leaves are
 * in the tree, so while a batch is written the names in it answer from
 * their entries before it: a lookup sees the last committed state, never a
 * `names` row pointing past the tree.
 */
import { Level } from 'level'
import { equalBytes, readUint64BE, toHex, writeUint64BE } from '../protocol/bytes.js'
import { createMerkleTree, merkleLeafHash, SIGNATURE_LENGTH, type CryptoProvider, type MerkleTree } from '../protocol/index.js'
import { REBUILD_CHUNK } from './constants.js'

/** Offset of the index inside a log entry (after the version byte). */
const ENTRY_INDEX_OFFSET = 1
const META_OPERATOR = 'operator'
const META_SIZE = 'size'
const META_HEAD = 'head'

type Bytes = Uint8Array

/** The sublevels of an open registry database. */
export type RegistryDb = Awaited<ReturnType<typeof openRegistryDb>>

/** One registration ready to be written: the registry made and signed it. */
export interface StoredRecord {
  readonly index: number
  readonly name: string
  /** The certificate: the log entry (leaf data) and the Operator's signature. */
  readonly certificate: Uint8Array
  /** SHA-256 of the request bytes. */
  readonly requestHash: Uint8Array
  /** merkleLeafHash of `entry`. */
  readonly leafHash: Uint8Array
}

/** The store under the registry: durable writes, then the in-memory tree. */
export interface RegistryStore {
  /** Entries on disk, and leaves in `tree`: always equal. */
  readonly size: number
  readonly tree: MerkleTree
  /** The head saved by {@link saveHead}, if any. */
  readonly savedHead: Uint8Array | undefined
  /** Index of the latest entry of each name (undefined: no entry). */
  latestIndexes(names: readonly string[]): Promise<Array<number | undefined>>
  /**
   * The same for one name, read synchronously (the lookup path): always an
   * entry already in `tree`, also while an {@link append} is being written.
   */
  latestIndexSync(name: string): number | undefined
  /** Index of the entry holding each request hash (undefined: none). */
  requestIndexes(hashes: readonly Uint8Array[]): Promise<Array<number | undefined>>
  /** The certificate (entry || signature) at `index`, or undefined past the end. */
  certificate(index: number): Promise<Uint8Array | undefined>
  /** The same, read synchronously (the lookup path). */
  certificateSync(index: number): Uint8Array | undefined
  /** Up to `count` certificates from `start`, in order. */
  certificates(start: number, count: number): Promise<Uint8Array[]>
  /**
   * Writes `records` (indexes size, size+1, ...) in one synced batch, then
   * appends their leaves to the tree. On a write error nothing is appended
   * and the error is thrown: the store is as before. One append at a time
   * (the registry's single writer).
   */
  append(records: readonly StoredRecord[]): Promise<void>
  /** Remembers the latest signed head; `sync` for the last one before close. */
  saveHead(head: Uint8Array, options?: { sync?: boolean }): Promise<void>
  close(): Promise<void>
}

/** The registry database is not what it should be (a lost or altered file). */
export class RegistryCorruptError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'RegistryCorruptError'
  }
}

/** The registry was made by another Operator key than the one given. */
export class OperatorKeyMismatchError extends Error {
  constructor (readonly path: string, readonly stored: string, readonly given: string) {
    super(`The registry in ${path} is signed by the Operator key ${stored}, not by this data directory's key ${given}. ` +
      'Start the Operator with the data directory (identity.key) that created this registry, or move the registry away to begin a new log')
    this.name = 'OperatorKeyMismatchError'
  }
}

/** The 8-byte big-endian key of an index. */
export function indexKey (index: number): Uint8Array {
  const key = new Uint8Array(8)
  writeUint64BE(key, 0, index)
  return key
}

/** Opens the database and its sublevels (no checks): for the store and for export. */
export async function openRegistryDb (path: string) {
  const db = new Level<Bytes, Bytes>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  return {
    db,
    certs: db.sublevel<Bytes, Bytes>('certs', { keyEncoding: 'view', valueEncoding: 'view' }),
    names: db.sublevel<string, Bytes>('names', { keyEncoding: 'utf8', valueEncoding: 'view' }),
    requests: db.sublevel<Bytes, Bytes>('requests', { keyEncoding: 'view', valueEncoding: 'view' }),
    meta: db.sublevel<string, Bytes>('meta', { keyEncoding: 'utf8', valueEncoding: 'view' })
  }
}

/** The log entry inside a certificate: all but its last 64 bytes. */
export function entryOf (certificate: Uint8Array): Uint8Array {
  return certificate.subarray(0, Math.max(0, certificate.length - SIGNATURE_LENGTH))
}

/** Certificates from `start` in index order, `count` at most, read in chunks. */
export async function * readCertificates (parts: RegistryDb, start = 0, count = Infinity): AsyncGenerator<Uint8Array> {
  const end = Number.isFinite(count) ? start + count : Number.MAX_SAFE_INTEGER
  const iterator = parts.certs.values({ gte: indexKey(start), lt: indexKey(end) })
  try {
    for (;;) {
      const chunk = await iterator.nextv(REBUILD_CHUNK)
      if (chunk.length === 0) return
      yield * chunk
    }
  } finally {
    await iterator.close()
  }
}

/** The stored size and head of a registry database (for export). */
export async function readMeta (parts: RegistryDb): Promise<{ size: number, head?: Uint8Array }> {
  const size = await parts.meta.get(META_SIZE)
  const head = await parts.meta.get(META_HEAD)
  return { size: size === undefined ? 0 : readUint64BE(size, 0), ...(head === undefined ? {} : { head }) }
}

/** Options of {@link openRegistryStore}. */
export interface RegistryStoreInit {
  path: string
  crypto: CryptoProvider
  /** The Ed25519 key that signs this log; the store refuses a log signed by another. */
  operatorSigningKey: Uint8Array
}

/** Opens (or creates) the store and rebuilds the Merkle tree from its entries. */
export async function openRegistryStore (init: RegistryStoreInit): Promise<RegistryStore> {
  const parts = await openRegistryDb(init.path)
  try {
    const stored = await parts.meta.get(META_OPERATOR)
    const tree = await rebuildTree(parts, init.crypto, init.path)
    const recordedSize = await parts.meta.get(META_SIZE)
    const expected = recordedSize === undefined ? 0 : readUint64BE(recordedSize, 0)
    if (tree.size !== expected) {
      throw new RegistryCorruptError(`The registry in ${init.path} holds ${tree.size} entries but recorded ${expected}. ` +
        'Restore it from a backup, or rebuild it from an export (komrade operator export)')
    }
    if (stored === undefined) {
      if (tree.size > 0) throw new RegistryCorruptError(`The registry in ${init.path} has entries but no Operator key; restore it from a backup`)
      await parts.db.batch([{ type: 'put', sublevel: parts.meta, key: META_OPERATOR, value: init.operatorSigningKey }], { sync: true })
    } else if (!equalBytes(stored, init.operatorSigningKey)) {
      throw new OperatorKeyMismatchError(init.path, toHex(stored), toHex(init.operatorSigningKey))
    }
    return createStore(parts, tree, await parts.meta.get(META_HEAD))
  } catch (error) {
    await parts.db.close().catch(() => {})
    throw error
  }
}

async function rebuildTree (parts: RegistryDb, crypto: CryptoProvider, path: string): Promise<MerkleTree> {
  const tree = createMerkleTree(crypto)
  // Values only: the index inside each entry must be its position in key order, which catches
  // a missing or misplaced entry as well as the key would, without copying every key.
  const iterator = parts.certs.values()
  try {
    for (;;) {
      const chunk = await iterator.nextv(REBUILD_CHUNK)
      if (chunk.length === 0) break
      for (const certificate of chunk) {
        const index = tree.size
        const entry = entryOf(certificate)
        if (entry.length < ENTRY_INDEX_OFFSET + 8 || readUint64BE(entry, ENTRY_INDEX_OFFSET) !== index) {
          throw new RegistryCorruptError(`The registry in ${path} is missing entry ${index} or holds it out of place. ` +
            'Restore it from a backup, or rebuild it from an export (komrade operator export)')
        }
        tree.append(merkleLeafHash(crypto, entry))
      }
    }
  } finally {
    await iterator.close()
  }
  return tree
}

function createStore (parts: RegistryDb, tree: MerkleTree, initialHead: Uint8Array | undefined): RegistryStore {
  const { db, certs, names, requests, meta } = parts
  let savedHead = initialHead
  const indexOf = (value: Uint8Array | undefined): number | undefined => value === undefined ? undefined : readUint64BE(value, 0)
  /** Names in the batch being written, and their latest entry before it (undefined: none). */
  const committing = new Map<string, number | undefined>()

  return {
    get size () { return tree.size },
    tree,
    get savedHead () { return savedHead },

    async latestIndexes (list) {
      if (list.length === 0) return []
      return (await names.getMany([...list])).map(indexOf)
    },
    async requestIndexes (hashes) {
      if (hashes.length === 0) return []
      return (await requests.getMany([...hashes])).map(indexOf)
    },
    latestIndexSync (name) {
      if (committing.has(name)) return committing.get(name)
      return indexOf(names.getSync(name))
    },
    async certificate (index) {
      if (index >= tree.size) return undefined
      return await certs.get(indexKey(index))
    },
    certificateSync (index) {
      if (index >= tree.size) return undefined
      return certs.getSync(indexKey(index))
    },
    async certificates (start, count) {
      const end = Math.min(tree.size, start + count)
      const out: Uint8Array[] = []
      if (start >= end) return out
      for await (const certificate of readCertificates(parts, start, end - start)) out.push(certificate)
      return out
    },

    async append (records) {
      if (records.length === 0) return
      const ops: Array<{ type: 'put', sublevel: unknown, key: unknown, value: Uint8Array }> = []
      records.forEach((record, i) => {
        if (record.index !== tree.size + i) throw new RangeError(`record ${i} has index ${record.index}, expected ${tree.size + i}`)
        const key = indexKey(record.index)
        ops.push({ type: 'put', sublevel: certs, key, value: record.certificate })
        ops.push({ type: 'put', sublevel: names, key: record.name, value: key })
        ops.push({ type: 'put', sublevel: requests, key: record.requestHash, value: key })
      })
      ops.push({ type: 'put', sublevel: meta, key: META_SIZE, value: indexKey(tree.size + records.length) })
      for (const record of records) {
        if (!committing.has(record.name)) committing.set(record.name, indexOf(names.getSync(record.name)))
      }
      try {
        await db.batch(ops as never, { sync: true })
        for (const record of records) tree.append(record.leafHash)
      } finally {
        committing.clear()
      }
    },

    async saveHead (head, options = {}) {
      await db.batch([{ type: 'put', sublevel: meta, key: META_HEAD, value: head }], { sync: options.sync === true })
      savedHead = head
    },

    async close () {
      await db.close()
    }
  }
}
