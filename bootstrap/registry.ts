/**
 * The Operator's name registry, independent of libp2p: the protocol service
 * and the flood both call it, and the benchmark drives it directly.
 *
 * A registration passes the stateless checks (checkRegistrationRequest:
 * shape, name, time, work, signature) at once, then waits for the writer.
 * The writer takes every registration waiting (group commit), applies the
 * state rules in arrival order, so of two registrations of one name in one
 * batch the first wins, writes one synced LevelDB batch, and only then
 * appends the leaves to the Merkle tree and answers. Nothing is acknowledged
 * before it is on disk; a failed write answers UNAVAILABLE and leaves the
 * registry as it was, still answering lookups.
 */
import {
  BadNameError, checkRegistrationRequest, decodeLogEntry, decodeTreeHead, DEFAULT_REGISTRATION_WORK_TRIALS, encodeLogEntry,
  MAX_REGISTRY_ENTRIES, MAX_WORK_TRIALS, merkleLeafHash, nativeCrypto, normalizeNameSyntax, publicIdentityOf, RegistryErrorCode, RESERVED_NAMES,
  signCertificate, signTreeHead, verifyRotationSignature, type CryptoProvider, type Identity, type PublicIdentity,
  type RegistrationRequest, type RegistryResponse, type TreeHead
} from '../protocol/index.js'
import { equalBytes, readUint64BE, toHex } from '../protocol/bytes.js'
import { silentLogger, type Logger } from '../node/logger.js'
import { MAX_GROUP_COMMIT } from './constants.js'
import { entryOf, openRegistryStore, RegistryCorruptError, type RegistryStore, type StoredRecord } from './registry-store.js'

/** Options of {@link openRegistry}. */
export interface RegistryInit {
  /** The registry's own LevelDB directory (created if missing). */
  dbPath: string
  /** @default nativeCrypto() */
  crypto?: CryptoProvider
  /** The Operator's identity: its Ed25519 key signs certificates and heads. */
  operator: Identity
  /** Expected hash trials a registration must show (SPEC §13.3). @default 262,144 */
  workTrials?: number
  /** The Operator's clock, unix ms: entry timestamps and the time window. @default Date.now */
  now?: () => number
  /** @default silent */
  logger?: Logger
}

/** A registration's answer: the certificate, the head it is in, and the inclusion proof. */
export interface RegisteredEntry {
  certificate: Uint8Array
  head: TreeHead
  inclusion: Uint8Array[]
}

/** A lookup's answer: a registered entry and a consistency proof from the size the asker knew. */
export interface LookedUpEntry extends RegisteredEntry {
  consistency: Uint8Array[]
}

/** The registry. Every method answers with a RegistryResponse; none throws on bad input. */
export interface Registry {
  /** Entries in the log (durable, and in the Merkle tree). */
  readonly size: number
  info(): { operator: PublicIdentity, workTrials: number, head: TreeHead }
  /** Checks and appends a registration request; answers once it is on disk. */
  register(request: Uint8Array): Promise<RegistryResponse<RegisteredEntry>>
  /** The latest entry of `name`, proven in the current head, and consistency from `knownSize` (0: none). */
  lookup(name: string, knownSize: number): Promise<RegistryResponse<LookedUpEntry>>
  /** The consistency proof between two sizes, 0 < from <= to <= size. */
  consistency(from: number, to: number): RegistryResponse<Uint8Array[]>
  /** Up to `count` (1..256) certificates from `start`; fewer at the end of the log. */
  entries(start: number, count: number): Promise<RegistryResponse<Uint8Array[]>>
  /** The signed head of the current size; signed again only when the size changed. */
  head(): TreeHead
  /** Waits for the registrations in progress, then closes the database. */
  close(): Promise<void>
}

/** A registration waiting for the writer. */
interface Pending {
  readonly request: RegistrationRequest
  readonly hash: Uint8Array
  readonly resolve: (response: RegistryResponse<RegisteredEntry>) => void
}

/** Where a name stands while a batch is decided: its latest entry, on disk or earlier in the batch. */
interface NameState {
  readonly index: number
  readonly signingKey: Uint8Array
  /** Added by this batch: if the write fails, decisions against it were not real. */
  readonly pending: boolean
}

/** What the writer decided for one registration of a batch. */
interface Decision {
  readonly pending: Pending
  /** Set when accepted. */
  readonly record?: StoredRecord
  /** Set when refused. */
  readonly refusal?: Refusal
  /** The refusal rests on a registration earlier in the same batch: void if the batch is not written. */
  readonly againstPending: boolean
}

type Refusal = { ok: false, code: RegistryErrorCode, message: string }

const refuse = (code: RegistryErrorCode, message: string): Refusal => ({ ok: false, code, message })
const isIndex = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/**
 * Opens the registry at `init.dbPath`: rebuilds the Merkle tree from the
 * stored entries and checks it against the last signed head. Throws
 * RegistryCorruptError or OperatorKeyMismatchError, whose messages say what to do.
 */
export async function openRegistry (init: RegistryInit): Promise<Registry> {
  const crypto = init.crypto ?? nativeCrypto()
  const operator = init.operator
  const now = init.now ?? Date.now
  const log = init.logger ?? silentLogger()
  const workTrials = init.workTrials ?? DEFAULT_REGISTRATION_WORK_TRIALS
  if (!Number.isSafeInteger(workTrials) || workTrials < 1 || workTrials > MAX_WORK_TRIALS) {
    throw new RangeError(`"workTrials" expected an integer from 1 to ${MAX_WORK_TRIALS}, got ${String(workTrials)}`)
  }
  const opened = performance.now()
  const store = await openRegistryStore({ path: init.dbPath, crypto, operatorSigningKey: operator.signingKey })
  /** Entry and head timestamps never go backwards, even if the clock does: they start from the newest on disk. */
  let lastTimestamp = 0
  const timestamp = (): number => { lastTimestamp = Math.max(lastTimestamp, Math.floor(now())); return lastTimestamp }
  let cachedHead: TreeHead
  try {
    lastTimestamp = await newestTimestamp(store)
    cachedHead = await restoreHead(store, init.dbPath)
  } catch (error) {
    await store.close().catch(() => {})
    throw error
  }
  log.info('registry opened', { entries: store.size, ms: Math.round(performance.now() - opened), workTrials })

  async function restoreHead (s: RegistryStore, path: string): Promise<TreeHead> {
    if (s.savedHead !== undefined) {
      const saved = decodeTreeHead(s.savedHead)
      if (saved.size > s.size || !equalBytes(saved.root, s.tree.root(saved.size))) {
        throw new RegistryCorruptError(`The registry in ${path} no longer matches the tree head it signed (size ${saved.size}): ` +
          'an entry was lost or altered. Restore it from a backup')
      }
      if (saved.size === s.size) return saved
    }
    const head = signTreeHead(crypto, operator, { size: s.size, timestamp: timestamp(), root: s.tree.root() })
    await s.saveHead(head.bytes, { sync: true })
    return head
  }

  function head (): TreeHead {
    if (cachedHead.size !== store.size) {
      cachedHead = signTreeHead(crypto, operator, { size: store.size, timestamp: timestamp(), root: store.tree.root() })
    }
    return cachedHead
  }

  // ---- the writer ---------------------------------------------------------
  const queue: Pending[] = []
  let writer: Promise<void> | undefined
  let closed = false

  function startWriter (): void {
    writer ??= (async () => {
      try {
        await Promise.resolve() // registrations made in the same tick join this first batch
        while (queue.length > 0) await commit(queue.splice(0, MAX_GROUP_COMMIT))
      } finally {
        writer = undefined
      }
    })()
  }

  /** Decides a batch against the disk and itself, writes it, then answers everyone in it. */
  async function commit (batch: Pending[]): Promise<void> {
    let decisions: Decision[]
    try {
      decisions = await decide(batch)
    } catch (error) {
      log.error('registry read failed; registrations refused as UNAVAILABLE', { error })
      for (const p of batch) p.resolve(refuse(RegistryErrorCode.UNAVAILABLE, 'The Operator could not read its registry; try again later'))
      return
    }
    const records = decisions.flatMap((d) => d.record === undefined ? [] : [d.record])
    let written = true
    try {
      await store.append(records)
    } catch (error) {
      written = false
      log.error('registry write failed; nothing was appended', { error, registrations: records.length })
    }
    const current = written && records.length > 0 ? head() : undefined
    for (const { pending, record, refusal, againstPending } of decisions) {
      if (refusal !== undefined && (written || !againstPending)) {
        pending.resolve(refusal)
      } else if (record === undefined || current === undefined) {
        pending.resolve(refuse(RegistryErrorCode.UNAVAILABLE, 'The Operator could not write to its disk; try again later'))
      } else {
        pending.resolve({ ok: true, value: { certificate: record.certificate, head: current, inclusion: store.tree.inclusionProof(record.index, current.size) } })
      }
    }
    if (current !== undefined) {
      // Best effort: a head lost in a crash is signed again at the next open.
      await store.saveHead(current.bytes).catch((error: unknown) => { log.warn('could not save the tree head', { error }) })
      log.debug('registrations appended', { count: records.length, size: current.size })
    }
  }

  /** The state rules, in arrival order, against the disk and the registrations before in the batch. */
  async function decide (batch: Pending[]): Promise<Decision[]> {
    const names = [...new Set(batch.map((p) => p.request.name))]
    const [replayed, latest] = await Promise.all([store.requestIndexes(batch.map((p) => p.hash)), store.latestIndexes(names)])
    // The current keys of names being rotated, from their latest entries on disk.
    const states = new Map<string, NameState>()
    await Promise.all(names.map(async (name, i) => {
      const index = latest[i]
      if (index === undefined) return
      const rotating = batch.some((p) => p.request.name === name && p.request.type === 'rotate')
      let signingKey: Uint8Array = new Uint8Array(0)
      if (rotating) {
        const certificate = await store.certificate(index)
        if (certificate === undefined) throw new RegistryCorruptError(`The registry names entry ${index} for "${name}" but does not hold it`)
        signingKey = decodeLogEntry(entryOf(certificate)).request.signingKey
      }
      states.set(name, { index, signingKey, pending: false })
    }))
    const seenHashes = new Set<string>()
    let nextIndex = store.size
    return batch.map((pending, i): Decision => {
      const { request } = pending
      const hashKey = toHex(pending.hash)
      const state = states.get(request.name)
      if (replayed[i] !== undefined || seenHashes.has(hashKey)) {
        return { pending, refusal: refuse(RegistryErrorCode.REPLAYED, 'This exact request is already in the log; nothing changed'), againstPending: seenHashes.has(hashKey) }
      }
      if (request.type === 'register') {
        if (state !== undefined) {
          return { pending, refusal: refuse(RegistryErrorCode.NAME_TAKEN, `"${request.name}" is taken; choose another name`), againstPending: state.pending }
        }
      } else {
        if (state === undefined) {
          return { pending, refusal: refuse(RegistryErrorCode.NOT_FOUND, `"${request.name}" is not registered; register it before rotating its keys`), againstPending: false }
        }
        if (request.previousIndex !== state.index) {
          return {
            pending,
            refusal: refuse(RegistryErrorCode.STALE, `The rotation replaces entry ${request.previousIndex}, but the current entry of "${request.name}" is ${state.index}; look the name up and rotate again`),
            againstPending: state.pending
          }
        }
        if (!verifyRotationSignature(crypto, request, state.signingKey)) {
          return { pending, refusal: refuse(RegistryErrorCode.BAD_SIGNATURE, `The rotation is not signed by the current key of "${request.name}"`), againstPending: state.pending }
        }
      }
      const index = nextIndex++
      const entry = encodeLogEntry(index, timestamp(), request.bytes)
      const certificate = signCertificate(crypto, operator, entry)
      const record: StoredRecord = { index, name: request.name, certificate, requestHash: pending.hash, leafHash: merkleLeafHash(crypto, entry) }
      seenHashes.add(hashKey)
      states.set(request.name, { index, signingKey: request.signingKey, pending: true })
      return { pending, record, againstPending: false }
    })
  }

  return {
    get size () { return store.size },

    info () {
      return { operator: publicIdentityOf(operator), workTrials, head: head() }
    },

    async register (bytes) {
      if (closed) return refuse(RegistryErrorCode.UNAVAILABLE, 'The registry is shutting down; try again later')
      const verdict = checkRegistrationRequest(crypto, bytes, { now: Math.floor(now()), workTrials })
      if (!verdict.ok) return refuse(verdict.code, verdict.message)
      const request = verdict.request
      return await new Promise<RegistryResponse<RegisteredEntry>>((resolve) => {
        queue.push({ request, hash: crypto.sha256(request.bytes), resolve })
        startWriter()
      })
    },

    async lookup (input, knownSize) {
      let name: string
      try {
        name = normalizeNameSyntax(input)
      } catch (error) {
        if (error instanceof BadNameError || error instanceof TypeError) return refuse(RegistryErrorCode.BAD_NAME, error.message)
        throw error
      }
      if (!isIndex(knownSize)) return refuse(RegistryErrorCode.MALFORMED, '"knownSize" must be a non-negative integer')
      if (knownSize > store.size) {
        return refuse(RegistryErrorCode.BAD_RANGE, `You know a log of ${knownSize} entries; this one has ${store.size}. Is this the right Operator?`)
      }
      let certificate: Uint8Array | undefined
      try {
        const index = store.latestIndexSync(name)
        certificate = index === undefined ? undefined : store.certificateSync(index)
      } catch (error) {
        log.error('registry read failed', { error })
        return refuse(RegistryErrorCode.UNAVAILABLE, 'The Operator could not read its registry; try again later')
      }
      if (certificate === undefined) {
        if (RESERVED_NAMES.has(name)) return refuse(RegistryErrorCode.NAME_RESERVED, `"${name}" is reserved; nobody can register it`)
        return refuse(RegistryErrorCode.NOT_FOUND, `Nobody registered "${name}"`)
      }
      const current = head()
      const index = indexOfCertificate(certificate)
      return {
        ok: true,
        value: {
          certificate,
          head: current,
          inclusion: store.tree.inclusionProof(index, current.size),
          consistency: knownSize === 0 || knownSize === current.size ? [] : store.tree.consistencyProof(knownSize, current.size)
        }
      }
    },

    consistency (from, to) {
      if (!isIndex(from) || !isIndex(to) || from === 0 || from > to || to > store.size) {
        return refuse(RegistryErrorCode.BAD_RANGE, `A consistency proof needs 0 < from <= to <= ${store.size}, got from ${String(from)} to ${String(to)}`)
      }
      return { ok: true, value: store.tree.consistencyProof(from, to) }
    },

    async entries (start, count) {
      if (!isIndex(start) || !isIndex(count) || count < 1 || count > MAX_REGISTRY_ENTRIES || start > store.size) {
        return refuse(RegistryErrorCode.BAD_RANGE, `Entries are read from 0 to ${store.size}, 1 to ${MAX_REGISTRY_ENTRIES} at a time; got start ${String(start)}, count ${String(count)}`)
      }
      try {
        return { ok: true, value: await store.certificates(start, count) }
      } catch (error) {
        log.error('registry read failed', { error })
        return refuse(RegistryErrorCode.UNAVAILABLE, 'The Operator could not read its registry; try again later')
      }
    },

    head,

    async close () {
      if (closed) return
      closed = true
      while (writer !== undefined) await writer
      await store.saveHead(head().bytes, { sync: true }).catch((error: unknown) => { log.warn('could not save the tree head', { error }) })
      await store.close()
      log.info('registry closed', { entries: store.size })
    }
  }
}

/** The newest timestamp on disk: the saved head's, or the last entry's if later (a head lost in a crash). */
async function newestTimestamp (store: RegistryStore): Promise<number> {
  const saved = store.savedHead === undefined ? 0 : decodeTreeHead(store.savedHead).timestamp
  const last = store.size === 0 ? undefined : await store.certificate(store.size - 1)
  return Math.max(saved, last === undefined ? 0 : decodeLogEntry(entryOf(last)).timestamp)
}

/** The log index inside a certificate: bytes 1..9 of its entry (SPEC §13.4). */
function indexOfCertificate (certificate: Uint8Array): number {
  return readUint64BE(certificate, 1)
}
