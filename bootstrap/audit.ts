/**
 * Exporting the log and auditing it offline. The export file:
 *
 *     "KOMRADE-LOG-1\n"
 *     for each entry, in index order: u32 BE length || certificate
 *     u32 BE length || the signed tree head (113 bytes) covering exactly those entries
 *
 * The audit trusts nothing in the file: it re-verifies every certificate
 * signature and every request (format, name rules, the registrant's
 * signature, the time window against the entry's timestamp), replays the
 * registry rules (one registration per name, each rotation naming the
 * then-latest entry and signed by its key, no request twice, consecutive
 * indexes), recomputes the Merkle root and compares it with the signed head.
 * Proof of work is not held to the Operator's current setting (it may have
 * changed); the weakest work found is reported.
 */
import { open, readFile } from 'node:fs/promises'
import { concatBytes, equalBytes, fromHex, readUint32BE, toHex, utf8, writeUint32BE } from '../protocol/bytes.js'
import {
  checkRegistrationRequest, decodeCertificate, decodeTreeHead, merkleLeafHash, merkleRoot, nativeCrypto, PUBLIC_IDENTITY_HEX_PATTERN,
  registrationWorkValue, registryErrorName, verifyCertificate, verifyRotationSignature, verifyTreeHead, type Certificate,
  type CryptoProvider, type TreeHead
} from '../protocol/index.js'
import { LOG_EXPORT_MAGIC } from './constants.js'
import { entryOf, openRegistryDb, readCertificates, readMeta } from './registry-store.js'
import type { Registry } from './registry.js'

const MAGIC = utf8(LOG_EXPORT_MAGIC)
const LENGTH_PREFIX = 4
/** Bytes gathered before each write to the export file. */
const WRITE_CHUNK_BYTES = 1 << 20
const ENTRIES_PER_READ = 256
const TWO_POW_64 = 1n << 64n

/** What {@link exportLog} wrote. */
export interface ExportResult {
  /** Entries written: the size of the head written. */
  readonly entries: number
  readonly head: TreeHead
  /** Entries in the database past the last head it saved (after a crash); not exported. */
  readonly unsignedEntries: number
}

/** The registry database is held by a running Operator. */
export class RegistryInUseError extends Error {
  constructor (readonly path: string, options?: ErrorOptions) {
    super(`The registry in ${path} is in use: stop the Operator first (or export from the running Operator's registry)`, options)
    this.name = 'RegistryInUseError'
  }
}

/**
 * Writes the log to `outFile`: every entry covered by the latest signed head,
 * then that head. `source` is an open registry, or the path of a registry
 * database no process holds.
 */
export async function exportLog (source: Registry | string, outFile: string): Promise<ExportResult> {
  if (typeof source !== 'string') {
    const head = source.head()
    await writeExport(outFile, head, (async function * () {
      for (let start = 0; start < head.size; start += ENTRIES_PER_READ) {
        const answer = await source.entries(start, Math.min(ENTRIES_PER_READ, head.size - start))
        if (!answer.ok) throw new Error(`Could not read entries from ${start}: ${answer.message}`)
        yield * answer.value
      }
    })())
    return { entries: head.size, head, unsignedEntries: source.size - head.size }
  }
  let parts
  try {
    parts = await openRegistryDb(source)
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code
    if (code === 'LEVEL_LOCKED') throw new RegistryInUseError(source, { cause: error })
    throw error
  }
  try {
    const meta = await readMeta(parts)
    if (meta.head === undefined) throw new Error(`The registry in ${source} has no signed tree head yet; start its Operator once, then export`)
    const head = decodeTreeHead(meta.head)
    await writeExport(outFile, head, readCertificates(parts, 0, head.size))
    return { entries: head.size, head, unsignedEntries: meta.size - head.size }
  } finally {
    await parts.db.close()
  }
}

async function writeExport (outFile: string, head: TreeHead, certificates: AsyncIterable<Uint8Array>): Promise<void> {
  const handle = await open(outFile, 'w', 0o644)
  try {
    let pending: Uint8Array[] = [MAGIC]
    let pendingBytes = MAGIC.length
    const flush = async (): Promise<void> => {
      await handle.write(concatBytes(...pending))
      pending = []
      pendingBytes = 0
    }
    let count = 0
    for await (const certificate of certificates) {
      pending.push(lengthPrefixed(certificate))
      pendingBytes += LENGTH_PREFIX + certificate.length
      count++
      if (pendingBytes >= WRITE_CHUNK_BYTES) await flush()
    }
    if (count !== head.size) throw new Error(`The registry holds ${count} of the ${head.size} entries its head signs; restore it from a backup`)
    pending.push(lengthPrefixed(head.bytes))
    await flush()
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function lengthPrefixed (bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(LENGTH_PREFIX + bytes.length)
  writeUint32BE(out, 0, bytes.length)
  out.set(bytes, LENGTH_PREFIX)
  return out
}

/** One finding of the audit; `index` is the entry's position in the file, null for the file as a whole. */
export interface AuditProblem {
  readonly index: number | null
  readonly problem: string
}

/** What {@link auditLog} found. Clean when `problems` is empty. */
export interface AuditReport {
  /** Entries in the file. */
  readonly entries: number
  /** Distinct names registered. */
  readonly names: number
  /** Key rotations. */
  readonly rotations: number
  /** Merkle root of the file's entries, recomputed (hex). */
  readonly root: string
  /** Size the signed head claims. */
  readonly headSize: number
  /** The recomputed root and size are the signed head's. */
  readonly headMatches: boolean
  /** Signatures were checked against a given Operator key (without one, only the log's own consistency is). */
  readonly signaturesChecked: boolean
  /** The most proof of work every entry meets, in expected trials (the weakest entry's); null with no entries. */
  readonly minWorkTrials: number | null
  readonly problems: AuditProblem[]
}

/** Options of {@link auditLog}. */
export interface AuditOptions {
  /** The Operator's public identity (128 hex) or signing key (64 hex): check every signature against it. */
  operator?: string
  /** @default nativeCrypto() */
  crypto?: CryptoProvider
}

/** Re-verifies an exported log offline. Throws only when the file cannot be read or `operator` is not hex. */
export async function auditLog (file: string, options: AuditOptions = {}): Promise<AuditReport> {
  const crypto = options.crypto ?? nativeCrypto()
  const operatorKey = options.operator === undefined ? undefined : operatorSigningKey(options.operator)
  const bytes = new Uint8Array(await readFile(file))
  const problems: AuditProblem[] = []
  const report = (index: number | null, problem: string): void => { problems.push({ index, problem }) }

  const records = splitRecords(bytes, report)
  const headBytes = records.pop()
  const leafHashes: Uint8Array[] = []
  const latest = new Map<string, { index: number, signingKey: Uint8Array }>()
  const requests = new Map<string, number>()
  let rotations = 0
  /** The largest work value seen: the least work (a lower value means more trials). */
  let weakest: bigint | undefined

  records.forEach((record, i) => {
    let certificate: Certificate
    try {
      certificate = decodeCertificate(record)
    } catch (error) {
      leafHashes.push(merkleLeafHash(crypto, entryOf(record)))
      report(i, `malformed certificate: ${(error as Error).message}`)
      return
    }
    const { entry } = certificate
    const { request } = entry
    leafHashes.push(merkleLeafHash(crypto, entry.bytes))
    if (entry.index !== i) report(i, `the entry says index ${entry.index}; the log is not consecutive here`)
    if (operatorKey !== undefined && !verifyCertificate(crypto, operatorKey, certificate)) report(i, 'the Operator\'s certificate signature does not verify')
    // Format, name rules, time window (against the append time) and the registrant's signature; any work passes here.
    const verdict = checkRegistrationRequest(crypto, request.bytes, { now: entry.timestamp, workTrials: 1 })
    if (!verdict.ok) report(i, `the request would be refused: ${registryErrorName(verdict.code)}: ${verdict.message}`)
    const work = registrationWorkValue(crypto, request.bytes)
    if (weakest === undefined || work > weakest) weakest = work

    const hash = toHex(crypto.sha256(request.bytes))
    const replayed = requests.get(hash)
    if (replayed !== undefined) report(i, `replays the request of entry ${replayed}`)
    else requests.set(hash, i)
    const current = latest.get(request.name)
    if (request.type === 'register') {
      if (current !== undefined) report(i, `registers "${request.name}" again; entry ${current.index} holds it`)
    } else {
      rotations++
      if (current === undefined) {
        report(i, `rotates "${request.name}", which is not registered before it`)
      } else {
        if (request.previousIndex !== current.index) {
          report(i, `rotates "${request.name}" from entry ${request.previousIndex}, but its latest entry is ${current.index}`)
        }
        if (!verifyRotationSignature(crypto, request, current.signingKey)) report(i, `the rotation of "${request.name}" is not signed by its current key`)
      }
    }
    // The log says this is now the name's entry, whatever was wrong with it: later entries are judged against it.
    latest.set(request.name, { index: i, signingKey: request.signingKey })
  })

  let head: TreeHead | undefined
  if (headBytes === undefined) {
    report(null, 'the file ends before its signed tree head')
  } else {
    try {
      head = decodeTreeHead(headBytes)
    } catch (error) {
      report(null, `malformed tree head: ${(error as Error).message}`)
    }
  }
  if (head !== undefined && operatorKey !== undefined && !verifyTreeHead(crypto, operatorKey, head)) {
    report(null, 'the tree head\'s signature does not verify')
  }
  const root = merkleRoot(crypto, leafHashes)
  const headMatches = head !== undefined && head.size === leafHashes.length && equalBytes(root, head.root)
  if (head !== undefined && head.size !== leafHashes.length) report(null, `the signed head covers ${head.size} entries; the file holds ${leafHashes.length}`)
  else if (head !== undefined && !headMatches) report(null, 'the Merkle root of the entries is not the signed head\'s: an entry was altered')

  return {
    entries: records.length,
    names: latest.size,
    rotations,
    root: toHex(root),
    headSize: head?.size ?? 0,
    headMatches,
    signaturesChecked: operatorKey !== undefined,
    minWorkTrials: weakest === undefined ? null : Number(TWO_POW_64 / (weakest + 1n)),
    problems
  }
}

/** Splits the file into its length-prefixed records (the magic checked first). */
function splitRecords (bytes: Uint8Array, report: (index: number | null, problem: string) => void): Uint8Array[] {
  if (bytes.length < MAGIC.length || !equalBytes(bytes.subarray(0, MAGIC.length), MAGIC)) {
    report(null, `not a Komrade log export: it does not start with ${JSON.stringify(LOG_EXPORT_MAGIC)}`)
    return []
  }
  const records: Uint8Array[] = []
  let offset = MAGIC.length
  while (offset < bytes.length) {
    if (bytes.length - offset < LENGTH_PREFIX) {
      report(null, `the file is truncated ${bytes.length - offset} bytes into a length`)
      break
    }
    const length = readUint32BE(bytes, offset)
    offset += LENGTH_PREFIX
    if (bytes.length - offset < length) {
      report(null, `the file is truncated inside record ${records.length}`)
      break
    }
    records.push(bytes.subarray(offset, offset + length))
    offset += length
  }
  return records
}

/** An Ed25519 public key as text: 64 hex characters. */
const SIGNING_KEY_HEX_PATTERN = /^[0-9a-fA-F]{64}$/

function operatorSigningKey (hex: string): Uint8Array {
  if (!PUBLIC_IDENTITY_HEX_PATTERN.test(hex) && !SIGNING_KEY_HEX_PATTERN.test(hex)) {
    throw new TypeError('"operator" expected the Operator\'s public identity (128 hex) or its signing key (64 hex)')
  }
  return fromHex(hex).subarray(0, 32)
}
