/**
 * What the Operator's log holds and signs (SPEC §13.4). Big-endian integers.
 *
 * Log entry, the data of one Merkle leaf:
 *
 * | offset | bytes | field |
 * |--------|-------|-------|
 * | 0      | 1     | version 0x01 |
 * | 1      | 8     | index in the log |
 * | 9      | 8     | timestamp: the Operator's clock at append, unix ms |
 * | 17     | 2     | L, the request's length |
 * | 19     | L     | the registration request, as received |
 *
 * Certificate: entry || Ed25519 signature (64) by the Operator over
 * "komrade/registry/v1/certificate" || entry. It says, offline, that the
 * Operator put this name and these keys at this index at this time.
 *
 * Signed tree head, 113 bytes: version 0x01 (1) || tree size (8) ||
 * timestamp (8) || root (32) || signature (64) over
 * "komrade/registry/v1/tree-head" || bytes [0, 49).
 */
import { assertBytes, assertInteger, concatBytes, utf8, writeUint16BE, writeUint64BE } from './bytes.js'
import { SIGNATURE_LENGTH, TREE_HEAD_LENGTH } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import type { Identity } from './identity.js'
import { MERKLE_HASH_LENGTH } from './merkle.js'
import { BadNameError } from './names.js'
import { decodeRegistrationRequest, type RegistrationRequest } from './registration.js'
import { RegistryFormatError } from './registry-errors.js'
import { readerOf } from './registry-reader.js'

const RECORD_VERSION = 0x01
const CERTIFICATE_LABEL = utf8('komrade/registry/v1/certificate')
const TREE_HEAD_LABEL = utf8('komrade/registry/v1/tree-head')
const ENTRY_HEADER_LENGTH = 19
/** The signed part of a tree head: version, size, timestamp, root. */
const TREE_HEAD_SIGNED_LENGTH = TREE_HEAD_LENGTH - SIGNATURE_LENGTH // 49

/** A decoded log entry; `bytes` is the leaf data exactly. */
export interface LogEntry {
  readonly index: number
  /** The Operator's clock when it appended the entry, unix ms. */
  readonly timestamp: number
  readonly request: RegistrationRequest
  readonly bytes: Uint8Array
}

/** A decoded certificate: an entry and the Operator's signature over it. Not verified: {@link verifyCertificate}. */
export interface Certificate {
  readonly entry: LogEntry
  readonly signature: Uint8Array
  readonly bytes: Uint8Array
}

/** A decoded signed tree head (STH). Not verified: {@link verifyTreeHead}. */
export interface TreeHead {
  /** Number of entries in the log. */
  readonly size: number
  /** The Operator's clock when it signed, unix ms. */
  readonly timestamp: number
  /** Merkle root of the first `size` entries (SPEC §13.1). */
  readonly root: Uint8Array
  readonly signature: Uint8Array
  /** The 113 bytes, as gossiped and sent. */
  readonly bytes: Uint8Array
}

/**
 * The leaf data for `request` appended at `index` at `timestamp`. Throws
 * RegistryFormatError (or BadNameError) unless `request` decodes, so an
 * entry that was written can always be read back.
 */
export function encodeLogEntry (index: number, timestamp: number, request: Uint8Array): Uint8Array {
  assertInteger(index, 'index', 0, Number.MAX_SAFE_INTEGER)
  assertInteger(timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER)
  decodeRegistrationRequest(request)
  const entry = new Uint8Array(ENTRY_HEADER_LENGTH + request.length)
  entry[0] = RECORD_VERSION
  writeUint64BE(entry, 1, index)
  writeUint64BE(entry, 9, timestamp)
  writeUint16BE(entry, 17, request.length)
  entry.set(request, ENTRY_HEADER_LENGTH)
  return entry
}

/** Decodes a log entry, its request included. Throws RegistryFormatError. */
export function decodeLogEntry (bytes: Uint8Array): LogEntry {
  assertBytes(bytes, 'entry')
  const reader = readerOf(bytes, 'a log entry')
  const version = reader.u8('version')
  if (version !== RECORD_VERSION) throw new RegistryFormatError(`Unknown log entry version ${version}; this code speaks version ${RECORD_VERSION}`)
  const index = reader.u64('index')
  const timestamp = reader.u64('timestamp')
  const length = reader.u16('request length')
  const requestBytes = reader.bytes(length, 'request')
  reader.finish()
  let request: RegistrationRequest
  try {
    request = decodeRegistrationRequest(requestBytes)
  } catch (error) {
    if (error instanceof RegistryFormatError || error instanceof BadNameError) {
      throw new RegistryFormatError(`Log entry ${index} holds an invalid request: ${error.message}`, { cause: error })
    }
    throw error
  }
  return { index, timestamp, request, bytes: concatBytes(bytes) }
}

/**
 * The Operator's certificate for a log entry: the entry followed by its
 * signature. Throws RegistryFormatError unless `entryBytes` is a valid entry.
 */
export function signCertificate (crypto: CryptoProvider, operator: Identity, entryBytes: Uint8Array): Uint8Array {
  assertBytes(operator.signingSeed, 'operator.signingSeed', 32)
  decodeLogEntry(entryBytes)
  return concatBytes(entryBytes, crypto.ed25519Sign(operator.signingSeed, concatBytes(CERTIFICATE_LABEL, entryBytes)))
}

/** Decodes a certificate (entry, then 64 bytes of signature). Throws RegistryFormatError. */
export function decodeCertificate (bytes: Uint8Array): Certificate {
  assertBytes(bytes, 'certificate')
  if (bytes.length < ENTRY_HEADER_LENGTH + SIGNATURE_LENGTH) {
    throw new RegistryFormatError(`A certificate is at least ${ENTRY_HEADER_LENGTH + SIGNATURE_LENGTH} bytes, got ${bytes.length}`)
  }
  const split = bytes.length - SIGNATURE_LENGTH
  const entry = decodeLogEntry(bytes.subarray(0, split))
  return { entry, signature: concatBytes(bytes.subarray(split)), bytes: concatBytes(bytes) }
}

/** True when the Operator's key `operatorSigningKey` signed this certificate's entry. */
export function verifyCertificate (crypto: CryptoProvider, operatorSigningKey: Uint8Array, certificate: Certificate): boolean {
  assertBytes(operatorSigningKey, 'operatorSigningKey', 32)
  return crypto.ed25519Verify(operatorSigningKey, concatBytes(CERTIFICATE_LABEL, certificate.entry.bytes), certificate.signature)
}

/** Signs a tree head for the log's `size` entries with Merkle root `root`. */
export function signTreeHead (crypto: CryptoProvider, operator: Identity, head: { size: number, timestamp: number, root: Uint8Array }): TreeHead {
  assertBytes(operator.signingSeed, 'operator.signingSeed', 32)
  const signed = unsignedTreeHead(head)
  const signature = crypto.ed25519Sign(operator.signingSeed, concatBytes(TREE_HEAD_LABEL, signed))
  return { size: head.size, timestamp: head.timestamp, root: concatBytes(head.root), signature, bytes: concatBytes(signed, signature) }
}

/** Decodes the 113 bytes of a signed tree head. Throws RegistryFormatError. */
export function decodeTreeHead (bytes: Uint8Array): TreeHead {
  assertBytes(bytes, 'treeHead')
  if (bytes.length !== TREE_HEAD_LENGTH) throw new RegistryFormatError(`A tree head is exactly ${TREE_HEAD_LENGTH} bytes, got ${bytes.length}`)
  const reader = readerOf(bytes, 'a tree head')
  const version = reader.u8('version')
  if (version !== RECORD_VERSION) throw new RegistryFormatError(`Unknown tree head version ${version}; this code speaks version ${RECORD_VERSION}`)
  const size = reader.u64('size')
  const timestamp = reader.u64('timestamp')
  const root = reader.bytes(MERKLE_HASH_LENGTH, 'root')
  const signature = reader.bytes(SIGNATURE_LENGTH, 'signature')
  reader.finish()
  return { size, timestamp, root, signature, bytes: concatBytes(bytes) }
}

/**
 * True when the Operator's key signed this head. What is checked is the
 * head's fields (size, timestamp, root), re-encoded, so a head whose fields
 * were changed after decoding fails. Never throws on a malformed head.
 */
export function verifyTreeHead (crypto: CryptoProvider, operatorSigningKey: Uint8Array, head: TreeHead): boolean {
  assertBytes(operatorSigningKey, 'operatorSigningKey', 32)
  let signed: Uint8Array
  try {
    signed = unsignedTreeHead(head)
  } catch {
    return false
  }
  return head.signature instanceof Uint8Array && crypto.ed25519Verify(operatorSigningKey, concatBytes(TREE_HEAD_LABEL, signed), head.signature)
}

/** Bytes [0, 49) of a tree head. */
function unsignedTreeHead (head: { size: number, timestamp: number, root: Uint8Array }): Uint8Array {
  assertInteger(head.size, 'size', 0, Number.MAX_SAFE_INTEGER)
  assertInteger(head.timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER)
  assertBytes(head.root, 'root', MERKLE_HASH_LENGTH)
  const out = new Uint8Array(TREE_HEAD_SIGNED_LENGTH)
  out[0] = RECORD_VERSION
  writeUint64BE(out, 1, head.size)
  writeUint64BE(out, 9, head.timestamp)
  out.set(head.root, 17)
  return out
}
