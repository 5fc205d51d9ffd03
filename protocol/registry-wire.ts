/**
 * The registry's request/response protocol (SPEC §13.5). Each libp2p stream
 * carries one request frame and one response frame; framing (the varint
 * length) is the transport's. This file encodes and decodes the frames'
 * bytes:
 *
 * - a response is `status (1) || payload`: status 0 is OK and the payload
 *   is the op's result; otherwise status is a RegistryErrorCode and the
 *   payload a UTF-8 message of at most 512 bytes;
 * - a proof is `count (1) || count × 32-byte hash`, count at most 64;
 * - a certificate is `length (2) || certificate`;
 * - a tree head is its 113 bytes.
 *
 * Decoders check every length exactly and throw RegistryFormatError; they do
 * not verify signatures or proofs (the caller holds the Operator's key).
 */
import { assertBytes, assertInteger, concatBytes, utf8, writeUint16BE, writeUint32BE, writeUint64BE } from './bytes.js'
import {
  MAX_PROOF_HASHES, MAX_REGISTRY_ENTRIES, MAX_REGISTRY_ERROR_MESSAGE_BYTES, MAX_REGISTRY_REQUEST_BYTES,
  MAX_REGISTRY_RESPONSE_BYTES, MAX_WORK_TRIALS, TREE_HEAD_LENGTH
} from './constants.js'
import { decodePublicIdentity, encodePublicIdentity, PUBLIC_IDENTITY_LENGTH, type PublicIdentity } from './identity.js'
import { MERKLE_HASH_LENGTH } from './merkle.js'
import { nameFromBytes, nameToBytes, normalizeNameSyntax } from './names.js'
import { isRegistryErrorCode, RegistryErrorCode, RegistryFormatError } from './registry-errors.js'
import { capitalise, readerOf, type ByteReader } from './registry-reader.js'
import { decodeCertificate, decodeTreeHead, type Certificate, type TreeHead } from './registry-records.js'

/** The five request kinds, one protocol id each. */
export type RegistryOp = 'info' | 'register' | 'lookup' | 'consistency' | 'entries'

const REGISTRY_OPS: ReadonlySet<string> = new Set<RegistryOp>(['info', 'register', 'lookup', 'consistency', 'entries'])
/** Network names as in SPEC §12: they become a path segment of the protocol id. */
const NETWORK_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/
const STATUS_OK = 0
const MAX_U16 = 0xffff
const LOOKUP_REQUEST_FIXED_LENGTH = 1 + 8
const CONSISTENCY_REQUEST_LENGTH = 8 + 8
const ENTRIES_REQUEST_LENGTH = 8 + 2
const messageDecoder = new TextDecoder('utf-8', { fatal: false })

/** `/komrade/<network>/registry/<op>/1.0.0`. */
export function registryProtocol (networkName: string, op: RegistryOp): string {
  if (typeof networkName !== 'string' || !NETWORK_NAME_PATTERN.test(networkName)) {
    throw new TypeError(`"networkName" expected [a-z0-9-], 1 to 32 characters, starting with a letter or digit, got ${JSON.stringify(networkName)}`)
  }
  if (!REGISTRY_OPS.has(op)) throw new TypeError(`"op" expected one of ${[...REGISTRY_OPS].join(', ')}, got ${JSON.stringify(op)}`)
  return `/komrade/${networkName}/registry/${op}/1.0.0`
}

/** A decoded response: the op's result, or the Operator's refusal. */
export type RegistryResponse<T> =
  | { readonly ok: true, readonly value: T }
  | { readonly ok: false, readonly code: RegistryErrorCode, readonly message: string }

/** The `info` result: who the Operator is, what work it asks, its latest head. */
export interface InfoResult {
  operator: PublicIdentity
  /** Expected hash trials a registration must show (SPEC §13.3). */
  workTrials: number
  head: TreeHead
}

/** A certificate with a tree head and the entry's inclusion proof in that head. */
export interface ProvenEntry {
  certificate: Certificate
  head: TreeHead
  inclusion: Uint8Array[]
}

/** A lookup answer: a proven entry, and a consistency proof from the size the asker knew. */
export interface LookupResult extends ProvenEntry {
  consistency: Uint8Array[]
}

/**
 * An error response frame. The message is cut to 512 bytes of UTF-8 (at a
 * character boundary), so any message can be sent.
 */
export function encodeError (code: RegistryErrorCode, message: string): Uint8Array {
  if (!isRegistryErrorCode(code)) throw new RangeError(`"code" expected a RegistryErrorCode, got ${String(code)}`)
  if (typeof message !== 'string') throw new TypeError(`"message" expected a string, got ${typeof message}`)
  return concatBytes(Uint8Array.of(code), truncateUtf8(message, MAX_REGISTRY_ERROR_MESSAGE_BYTES))
}

/** The `info` OK frame: operator public identity (64) || workTrials u32 || tree head (113). */
export function encodeInfoResponse (v: { operator: PublicIdentity, workTrials: number, head: Uint8Array }): Uint8Array {
  assertInteger(v.workTrials, 'workTrials', 1, MAX_WORK_TRIALS)
  const trials = new Uint8Array(4)
  writeUint32BE(trials, 0, v.workTrials)
  return okFrame(encodePublicIdentity(checkedIdentity(v.operator)), trials, checkedHead(v.head))
}

/** Decodes an `info` response. Throws RegistryFormatError on a malformed frame. */
export function decodeInfoResponse (bytes: Uint8Array): RegistryResponse<InfoResult> {
  return decodeResponse(bytes, 'an info response', (reader) => {
    const operator = decodePublicIdentity(reader.bytes(PUBLIC_IDENTITY_LENGTH, 'operator identity'))
    const workTrials = reader.u32('work setting')
    if (workTrials === 0) throw new RegistryFormatError('An info response has a work setting of 0 trials; it is at least 1')
    return { operator, workTrials, head: readTreeHead(reader) }
  })
}

/** The `register` OK frame (also the body of a KIND_REGISTRY_RESPONSE): certificate || head || inclusion proof. */
export function encodeRegisterResponse (v: { certificate: Uint8Array, head: Uint8Array, inclusion: Uint8Array[] }): Uint8Array {
  return okFrame(certificateField(v.certificate), checkedHead(v.head), proofField(v.inclusion, 'inclusion'))
}

/** Decodes a `register` response. Throws RegistryFormatError on a malformed frame. */
export function decodeRegisterResponse (bytes: Uint8Array): RegistryResponse<ProvenEntry> {
  return decodeResponse(bytes, 'a register response', (reader) => ({
    certificate: readCertificate(reader),
    head: readTreeHead(reader),
    inclusion: readProof(reader, 'inclusion proof')
  }))
}

/** The `lookup` request: n u8 || name || knownSize u64 (0 when the asker knows no head). The name is normalised. */
export function encodeLookupRequest (name: string, knownSize: number): Uint8Array {
  const nameBytes = nameToBytes(normalizeNameSyntax(name))
  assertInteger(knownSize, 'knownSize', 0, Number.MAX_SAFE_INTEGER)
  const out = new Uint8Array(LOOKUP_REQUEST_FIXED_LENGTH + nameBytes.length)
  out[0] = nameBytes.length
  out.set(nameBytes, 1)
  writeUint64BE(out, 1 + nameBytes.length, knownSize)
  return out
}

/** Decodes a `lookup` request. Throws RegistryFormatError, or BadNameError for the name. */
export function decodeLookupRequest (bytes: Uint8Array): { name: string, knownSize: number } {
  checkRequestSize(bytes)
  const reader = readerOf(bytes, 'a lookup request')
  const nameBytes = reader.bytes(reader.u8('name length'), 'name')
  const knownSize = reader.u64('known size')
  reader.finish()
  return { name: nameFromBytes(nameBytes), knownSize }
}

/** The `lookup` OK frame: certificate || head || inclusion proof || consistency proof. */
export function encodeLookupResponse (v: { certificate: Uint8Array, head: Uint8Array, inclusion: Uint8Array[], consistency: Uint8Array[] }): Uint8Array {
  return okFrame(certificateField(v.certificate), checkedHead(v.head), proofField(v.inclusion, 'inclusion'), proofField(v.consistency, 'consistency'))
}

/** Decodes a `lookup` response. Throws RegistryFormatError on a malformed frame. */
export function decodeLookupResponse (bytes: Uint8Array): RegistryResponse<LookupResult> {
  return decodeResponse(bytes, 'a lookup response', (reader) => ({
    certificate: readCertificate(reader),
    head: readTreeHead(reader),
    inclusion: readProof(reader, 'inclusion proof'),
    consistency: readProof(reader, 'consistency proof')
  }))
}

/** The `consistency` request: from u64 || to u64, with 0 < from <= to. */
export function encodeConsistencyRequest (from: number, to: number): Uint8Array {
  assertInteger(from, 'from', 1, Number.MAX_SAFE_INTEGER)
  assertInteger(to, 'to', from, Number.MAX_SAFE_INTEGER)
  const out = new Uint8Array(CONSISTENCY_REQUEST_LENGTH)
  writeUint64BE(out, 0, from)
  writeUint64BE(out, 8, to)
  return out
}

/**
 * Decodes a `consistency` request. Checks the encoding only (16 bytes, safe
 * integers); whether the sizes fit the log is the registry's BAD_RANGE.
 */
export function decodeConsistencyRequest (bytes: Uint8Array): { from: number, to: number } {
  checkRequestSize(bytes)
  const reader = readerOf(bytes, 'a consistency request')
  const from = reader.u64('from size')
  const to = reader.u64('to size')
  reader.finish()
  return { from, to }
}

/** The `consistency` OK frame: a proof. */
export function encodeProofResponse (proof: Uint8Array[]): Uint8Array {
  return okFrame(proofField(proof, 'proof'))
}

/** Decodes a `consistency` response. Throws RegistryFormatError on a malformed frame. */
export function decodeProofResponse (bytes: Uint8Array): RegistryResponse<Uint8Array[]> {
  return decodeResponse(bytes, 'a consistency response', (reader) => readProof(reader, 'proof'))
}

/** The `entries` request: start u64 || count u16, count 1 to 256. */
export function encodeEntriesRequest (start: number, count: number): Uint8Array {
  assertInteger(start, 'start', 0, Number.MAX_SAFE_INTEGER)
  assertInteger(count, 'count', 1, MAX_REGISTRY_ENTRIES)
  const out = new Uint8Array(ENTRIES_REQUEST_LENGTH)
  writeUint64BE(out, 0, start)
  writeUint16BE(out, 8, count)
  return out
}

/**
 * Decodes an `entries` request. Checks the encoding only (10 bytes, a safe
 * start); a count of 0 or above 256, or a start past the log, is the
 * registry's BAD_RANGE.
 */
export function decodeEntriesRequest (bytes: Uint8Array): { start: number, count: number } {
  checkRequestSize(bytes)
  const reader = readerOf(bytes, 'an entries request')
  const start = reader.u64('start')
  const count = reader.u16('count')
  reader.finish()
  return { start, count }
}

/** The `entries` OK frame: k u16 || k certificates, k at most 256. */
export function encodeEntriesResponse (certificates: Uint8Array[]): Uint8Array {
  if (!Array.isArray(certificates) || certificates.length > MAX_REGISTRY_ENTRIES) {
    throw new RangeError(`"certificates" expected an array of at most ${MAX_REGISTRY_ENTRIES}`)
  }
  const count = new Uint8Array(2)
  writeUint16BE(count, 0, certificates.length)
  return okFrame(count, ...certificates.map(certificateField))
}

/** Decodes an `entries` response. Throws RegistryFormatError on a malformed frame. */
export function decodeEntriesResponse (bytes: Uint8Array): RegistryResponse<Certificate[]> {
  return decodeResponse(bytes, 'an entries response', (reader) => {
    const count = reader.u16('count')
    if (count > MAX_REGISTRY_ENTRIES) {
      throw new RegistryFormatError(`An entries response holds at most ${MAX_REGISTRY_ENTRIES} certificates, this one says ${count}`)
    }
    const certificates: Certificate[] = []
    for (let i = 0; i < count; i++) certificates.push(readCertificate(reader))
    return certificates
  })
}

// ---------------------------------------------------------------------------

function okFrame (...parts: Uint8Array[]): Uint8Array {
  const frame = concatBytes(Uint8Array.of(STATUS_OK), ...parts)
  if (frame.length > MAX_REGISTRY_RESPONSE_BYTES) throw new RangeError(`A registry response is at most ${MAX_REGISTRY_RESPONSE_BYTES} bytes`)
  return frame
}

function decodeResponse<T> (bytes: Uint8Array, what: string, readValue: (reader: ByteReader) => T): RegistryResponse<T> {
  assertBytes(bytes, 'response')
  if (bytes.length === 0) throw new RegistryFormatError(`${capitalise(what)} is empty; a response starts with its status byte`)
  if (bytes.length > MAX_REGISTRY_RESPONSE_BYTES) {
    throw new RegistryFormatError(`${capitalise(what)} is ${bytes.length} bytes; a response is at most ${MAX_REGISTRY_RESPONSE_BYTES}`)
  }
  const status = bytes[0] as number
  if (status !== STATUS_OK) {
    if (bytes.length - 1 > MAX_REGISTRY_ERROR_MESSAGE_BYTES) {
      throw new RegistryFormatError(`${capitalise(what)} carries a ${bytes.length - 1}-byte error message; the limit is ${MAX_REGISTRY_ERROR_MESSAGE_BYTES}`)
    }
    const message = messageDecoder.decode(bytes.subarray(1))
    if (isRegistryErrorCode(status)) return { ok: false, code: status, message }
    return {
      ok: false,
      code: RegistryErrorCode.MALFORMED,
      message: `The Operator answered with error code ${status}, which this version does not know` + (message === '' ? '' : `: ${message}`)
    }
  }
  const reader = readerOf(bytes.subarray(1), what)
  const value = readValue(reader)
  reader.finish()
  return { ok: true, value }
}

function readProof (reader: ByteReader, field: string): Uint8Array[] {
  const count = reader.u8(`${field} length`)
  if (count > MAX_PROOF_HASHES) throw new RegistryFormatError(`A proof has at most ${MAX_PROOF_HASHES} hashes; this ${field} says ${count}`)
  const proof: Uint8Array[] = []
  for (let i = 0; i < count; i++) proof.push(reader.bytes(MERKLE_HASH_LENGTH, field))
  return proof
}

function readCertificate (reader: ByteReader): Certificate {
  return decodeCertificate(reader.bytes(reader.u16('certificate length'), 'certificate'))
}

function readTreeHead (reader: ByteReader): TreeHead {
  return decodeTreeHead(reader.bytes(TREE_HEAD_LENGTH, 'tree head'))
}

function proofField (proof: Uint8Array[], name: string): Uint8Array {
  if (!Array.isArray(proof) || proof.length > MAX_PROOF_HASHES) throw new RangeError(`"${name}" expected an array of at most ${MAX_PROOF_HASHES} hashes`)
  proof.forEach((hash, i) => assertBytes(hash, `${name}[${i}]`, MERKLE_HASH_LENGTH))
  return concatBytes(Uint8Array.of(proof.length), ...proof)
}

/** `length u16 || certificate`, after checking the certificate decodes (an Operator never sends one a client cannot read). */
function certificateField (certificate: Uint8Array): Uint8Array {
  assertBytes(certificate, 'certificate')
  if (certificate.length > MAX_U16) throw new RangeError(`"certificate" expected at most ${MAX_U16} bytes, got ${certificate.length}`)
  decodeCertificate(certificate)
  const length = new Uint8Array(2)
  writeUint16BE(length, 0, certificate.length)
  return concatBytes(length, certificate)
}

function checkedHead (head: Uint8Array): Uint8Array {
  decodeTreeHead(head)
  return head
}

function checkedIdentity (identity: PublicIdentity): PublicIdentity {
  assertBytes(identity.signingKey, 'operator.signingKey', 32)
  assertBytes(identity.sealingKey, 'operator.sealingKey', 32)
  return identity
}

function checkRequestSize (bytes: Uint8Array): void {
  assertBytes(bytes, 'request')
  if (bytes.length > MAX_REGISTRY_REQUEST_BYTES) {
    throw new RegistryFormatError(`A registry request is at most ${MAX_REGISTRY_REQUEST_BYTES} bytes, got ${bytes.length}`)
  }
}

/** The longest prefix of `text` whose UTF-8 fits `limit` bytes, cut between characters. */
function truncateUtf8 (text: string, limit: number): Uint8Array {
  const bytes = utf8(text)
  if (bytes.length <= limit) return bytes
  let end = limit
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end-- // never split a multi-byte character
  return bytes.slice(0, end)
}
