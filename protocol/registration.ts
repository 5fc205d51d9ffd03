/**
 * Registration requests (SPEC §13.3): what a person signs to claim a name for
 * their keys, or to move a name they hold to new keys. Big-endian integers:
 *
 * | offset | bytes | field |
 * |--------|-------|-------|
 * | 0      | 1     | version 0x01 |
 * | 1      | 1     | type: 0x01 register, 0x02 rotate |
 * | 2      | 1     | n, the name's length |
 * | 3      | n     | name, ASCII, normalised |
 * | 3+n    | 32    | signing key (Ed25519) the name points to |
 * | 35+n   | 32    | sealing key (X25519) |
 * | 67+n   | 8     | time: the registrant's clock, unix ms |
 * | 75+n   | 8     | previous index: 0 to register; to rotate, the log index of the name's current entry |
 * | 83+n   | 8     | work nonce |
 * | 91+n   | 64    | signature by the signing key over "komrade/registry/v1/request" || bytes [0, 91+n) |
 * | 155+n  | 64    | rotate only: signature by the current signing key over "komrade/registry/v1/rotate" || bytes [0, 91+n) |
 *
 * The proof of work covers everything before the nonce; the signatures cover
 * the nonce too, so the work is solved first and signed after.
 */
import { assertBytes, assertInteger, concatBytes, plainBytes, readUint32BE, utf8, writeUint64BE } from './bytes.js'
import {
  DEFAULT_REGISTRATION_WORK_TRIALS, MAX_WORK_TRIALS, REGISTRATION_CLOCK_SKEW_MS, REGISTRY_REQUEST_REGISTER, REGISTRY_REQUEST_ROTATE,
  SIGNATURE_LENGTH
} from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { AbortError } from './errors.js'
import type { Identity } from './identity.js'
import { BadNameError, nameFromBytes, nameToBytes, normalizeName, normalizeNameSyntax, RESERVED_NAMES } from './names.js'
import { RegistryErrorCode, RegistryFormatError } from './registry-errors.js'
import { readerOf } from './registry-reader.js'

/** The only request version this code speaks. */
const REQUEST_VERSION = 0x01
const REQUEST_LABEL = utf8('komrade/registry/v1/request')
const ROTATE_LABEL = utf8('komrade/registry/v1/rotate')
const WORK_LABEL = utf8('komrade/registry/v1/work')
const KEY_LENGTH = 32
const NONCE_LENGTH = 8
/** Bytes before the name: version, type, name length. */
const NAME_OFFSET = 3
/** Bytes from the end of the name to the nonce: keys, time, previous index. */
const FIELDS_BEFORE_NONCE = KEY_LENGTH + KEY_LENGTH + 8 + 8
/** A register request is this long plus its name. */
const REGISTER_FIXED_LENGTH = NAME_OFFSET + FIELDS_BEFORE_NONCE + NONCE_LENGTH + SIGNATURE_LENGTH // 155
/** A rotate request carries the current key's signature too. */
const ROTATE_FIXED_LENGTH = REGISTER_FIXED_LENGTH + SIGNATURE_LENGTH // 219
/** Trials between yields to the event loop (a few ms), checks of the signal and progress reports. */
const WORK_SLICE_TRIALS = 4096
const TWO_POW_64 = 1n << 64n

/** A decoded registration request. `bytes` is the request exactly as signed. */
export interface RegistrationRequest {
  readonly type: 'register' | 'rotate'
  /** Normalised name (SPEC §13.2). */
  readonly name: string
  /** The Ed25519 key the name will point to; it signed `signature`. */
  readonly signingKey: Uint8Array
  /** The X25519 key the name will point to. */
  readonly sealingKey: Uint8Array
  /** The registrant's clock when signing, unix ms. */
  readonly time: number
  /** 0 for register; for rotate, the log index of the entry being replaced. */
  readonly previousIndex: number
  readonly nonce: Uint8Array
  readonly signature: Uint8Array
  /** Rotate only: the signature by the name's current signing key. */
  readonly previousSignature?: Uint8Array
  readonly bytes: Uint8Array
}

/** Offsets that depend on the name's length `n`. */
function layout (n: number) {
  const signingKey = NAME_OFFSET + n
  const nonce = signingKey + FIELDS_BEFORE_NONCE
  return { signingKey, nonce, signed: nonce + NONCE_LENGTH }
}

/**
 * Decodes a request and checks its shape: exact length for its type and
 * name length, version 1, type 1 or 2, safe integers, previous index 0 on a
 * register, a name that is already normalised. It does not check the
 * reserved list, work, time or signatures ({@link checkRegistrationRequest}).
 * Throws RegistryFormatError, or BadNameError for the name.
 */
export function decodeRegistrationRequest (bytes: Uint8Array): RegistrationRequest {
  assertBytes(bytes, 'request')
  const input = plainBytes(bytes)
  if (input.length < NAME_OFFSET) {
    throw new RegistryFormatError(`A registration request is at least ${REGISTER_FIXED_LENGTH + 3} bytes, got ${input.length}`)
  }
  if (input[0] !== REQUEST_VERSION) {
    throw new RegistryFormatError(`Unknown registration request version ${input[0]}; this code speaks version ${REQUEST_VERSION}`)
  }
  const typeByte = input[1]
  if (typeByte !== REGISTRY_REQUEST_REGISTER && typeByte !== REGISTRY_REQUEST_ROTATE) {
    throw new RegistryFormatError(`Unknown registration request type ${typeByte}; ${REGISTRY_REQUEST_REGISTER} is register, ${REGISTRY_REQUEST_ROTATE} is rotate`)
  }
  const type = typeByte === REGISTRY_REQUEST_REGISTER ? 'register' : 'rotate'
  const n = input[2] as number
  const expected = (type === 'register' ? REGISTER_FIXED_LENGTH : ROTATE_FIXED_LENGTH) + n
  if (input.length !== expected) {
    throw new RegistryFormatError(`A ${type} request with a ${n}-byte name is ${expected} bytes, got ${input.length}`)
  }
  const reader = readerOf(input, `a ${type} request`)
  reader.bytes(NAME_OFFSET, 'header')
  const nameBytes = reader.bytes(n, 'name')
  const signingKey = reader.bytes(KEY_LENGTH, 'signing key')
  const sealingKey = reader.bytes(KEY_LENGTH, 'sealing key')
  const time = reader.u64('time')
  const previousIndex = reader.u64('previous index')
  const nonce = reader.bytes(NONCE_LENGTH, 'nonce')
  const signature = reader.bytes(SIGNATURE_LENGTH, 'signature')
  const previousSignature = type === 'rotate' ? reader.bytes(SIGNATURE_LENGTH, 'previous signature') : undefined
  reader.finish()
  if (type === 'register' && previousIndex !== 0) {
    throw new RegistryFormatError(`A register request has previous index 0, got ${previousIndex}`)
  }
  const name = nameFromBytes(nameBytes)
  return {
    type, name, signingKey, sealingKey, time, previousIndex, nonce, signature, bytes: input.slice(),
    ...(previousSignature !== undefined ? { previousSignature } : {})
  }
}

/** Options of {@link createRegistration} and {@link createRotation}. */
export interface RegistrationOptions {
  /** The time written into the request, unix ms. @default Date.now() */
  now?: number
  /** The Operator's work setting, from its `info`. @default DEFAULT_REGISTRATION_WORK_TRIALS */
  workTrials?: number
  /** Cancels the proof of work with an AbortError. */
  signal?: AbortSignal
  /** Called every few thousand trials with the number of trials made so far. */
  onProgress?: (trials: number) => void
}

/**
 * A signed register request claiming `name` for `identity`'s keys. Solves
 * the proof of work in slices, yielding to the event loop between them.
 * Throws BadNameError for a name the registry would refuse, AbortError when
 * `signal` fires.
 */
export async function createRegistration (crypto: CryptoProvider, identity: Identity, name: string, options: RegistrationOptions = {}): Promise<Uint8Array> {
  const normalised = normalizeName(name)
  return await buildRequest(crypto, { type: REGISTRY_REQUEST_REGISTER, name: normalised, next: identity, previousIndex: 0 }, options)
}

/**
 * A signed rotate request moving `name` from `current`'s keys to `next`'s.
 * `previousIndex` is the log index of the name's current entry (its
 * certificate says). Throws BadNameError, AbortError.
 */
export async function createRotation (
  crypto: CryptoProvider, current: Identity, next: Identity, name: string, previousIndex: number, options: RegistrationOptions = {}
): Promise<Uint8Array> {
  assertInteger(previousIndex, 'previousIndex', 0, Number.MAX_SAFE_INTEGER)
  assertBytes(current.signingSeed, 'current.signingSeed', KEY_LENGTH)
  // The syntax only: a name already registered stays rotatable if the reserved list grows.
  const normalised = normalizeNameSyntax(name)
  const request = await buildRequest(crypto, { type: REGISTRY_REQUEST_ROTATE, name: normalised, next, previousIndex }, options)
  const signedPart = request.subarray(0, layout(normalised.length).signed)
  request.set(crypto.ed25519Sign(current.signingSeed, concatBytes(ROTATE_LABEL, signedPart)), request.length - SIGNATURE_LENGTH)
  return request
}

interface RequestFields {
  type: typeof REGISTRY_REQUEST_REGISTER | typeof REGISTRY_REQUEST_ROTATE
  name: string
  next: Identity
  previousIndex: number
}

/** Writes the fields, solves the work and signs with the new key; a rotation's last 64 bytes stay zero. */
async function buildRequest (crypto: CryptoProvider, fields: RequestFields, options: RegistrationOptions): Promise<Uint8Array> {
  const { next, name } = fields
  assertBytes(next.signingKey, 'identity.signingKey', KEY_LENGTH)
  assertBytes(next.sealingKey, 'identity.sealingKey', KEY_LENGTH)
  assertBytes(next.signingSeed, 'identity.signingSeed', KEY_LENGTH)
  const now = options.now ?? Date.now()
  assertInteger(now, 'now', 0, Number.MAX_SAFE_INTEGER)
  const workTrials = options.workTrials ?? DEFAULT_REGISTRATION_WORK_TRIALS
  assertInteger(workTrials, 'workTrials', 1, MAX_WORK_TRIALS)
  const offsets = layout(name.length)
  const length = (fields.type === REGISTRY_REQUEST_REGISTER ? REGISTER_FIXED_LENGTH : ROTATE_FIXED_LENGTH) + name.length
  const request = new Uint8Array(length)
  request[0] = REQUEST_VERSION
  request[1] = fields.type
  request[2] = name.length
  request.set(nameToBytes(name), NAME_OFFSET)
  request.set(next.signingKey, offsets.signingKey)
  request.set(next.sealingKey, offsets.signingKey + KEY_LENGTH)
  writeUint64BE(request, offsets.signingKey + 2 * KEY_LENGTH, now)
  writeUint64BE(request, offsets.signingKey + 2 * KEY_LENGTH + 8, fields.previousIndex)
  const nonce = await solveWork(crypto, workDigest(crypto, request, name.length), workTrials, options)
  request.set(nonce, offsets.nonce)
  const signedPart = request.subarray(0, offsets.signed)
  request.set(crypto.ed25519Sign(next.signingSeed, concatBytes(REQUEST_LABEL, signedPart)), offsets.signed)
  return request
}

/** SHA-256("komrade/registry/v1/work" || bytes [0, 83+n)): what the nonce is searched against. */
function workDigest (crypto: CryptoProvider, request: Uint8Array, n: number): Uint8Array {
  return crypto.sha256(concatBytes(WORK_LABEL, request.subarray(0, layout(n).nonce)))
}

/** floor(2^64 / workTrials) as two u32 halves, for the comparison in the hot loop. */
function workTarget (workTrials: number): { high: number, low: number } {
  const target = TWO_POW_64 / BigInt(workTrials)
  return { high: Number(target >> 32n), low: Number(target & 0xffff_ffffn) }
}

/** True when the first 8 bytes of `digest`, as a u64, are below the target. */
function belowTarget (digest: Uint8Array, target: { high: number, low: number }): boolean {
  const high = readUint32BE(digest, 0)
  return high < target.high || (high === target.high && readUint32BE(digest, 4) < target.low)
}

/** Searches nonces from a random start, a slice at a time; returns the solving nonce. */
async function solveWork (crypto: CryptoProvider, digest: Uint8Array, workTrials: number, options: RegistrationOptions): Promise<Uint8Array> {
  const target = workTarget(workTrials)
  const input = new Uint8Array(NONCE_LENGTH + digest.length)
  input.set(crypto.randomBytes(NONCE_LENGTH), 0) // a random start: two searches never repeat each other's trials
  input.set(digest, NONCE_LENGTH)
  let trials = 0
  for (;;) {
    if (options.signal?.aborted === true) throw new AbortError('The registration was cancelled before its proof of work was done')
    for (let i = 0; i < WORK_SLICE_TRIALS; i++) {
      trials++
      if (belowTarget(crypto.sha256(input), target)) {
        options.onProgress?.(trials)
        return input.slice(0, NONCE_LENGTH)
      }
      for (let j = NONCE_LENGTH - 1; j >= 0; j--) { // next nonce, big-endian
        input[j] = ((input[j] as number) + 1) & 0xff
        if (input[j] !== 0) break
      }
    }
    options.onProgress?.(trials)
    await new Promise<void>((resolve) => setTimeout(resolve, 0))
  }
}

/**
 * The request's work value: the first 8 bytes, as a u64, of
 * SHA-256(nonce || SHA-256("komrade/registry/v1/work" || bytes [0, 83+n)))
 * (SPEC §13.3). Lower is more work: it meets `workTrials` when below
 * floor(2^64 / workTrials). Throws RegistryFormatError when `request` is too
 * short to hold a nonce.
 */
export function registrationWorkValue (crypto: CryptoProvider, request: Uint8Array): bigint {
  const digest = workValueDigest(crypto, request)
  return (BigInt(readUint32BE(digest, 0)) << 32n) + BigInt(readUint32BE(digest, 4))
}

/**
 * True when the request's nonce meets `workTrials`: its work value
 * ({@link registrationWorkValue}) is below floor(2^64 / workTrials). Throws
 * RegistryFormatError when `request` is too short to hold a nonce.
 */
export function hasRegistrationWork (crypto: CryptoProvider, request: Uint8Array, workTrials: number): boolean {
  assertBytes(request, 'request')
  assertInteger(workTrials, 'workTrials', 1, MAX_WORK_TRIALS)
  return belowTarget(workValueDigest(crypto, request), workTarget(workTrials))
}

/** SHA-256(nonce || work digest) of a request; its first 8 bytes are the work value. */
function workValueDigest (crypto: CryptoProvider, request: Uint8Array): Uint8Array {
  assertBytes(request, 'request')
  const n = request[2]
  if (n === undefined || request.length < layout(n).signed) {
    throw new RegistryFormatError(`${request.length} bytes are too few for a registration request${n === undefined ? '' : ` with a ${n}-byte name`}`)
  }
  const { nonce } = layout(n)
  return crypto.sha256(concatBytes(request.subarray(nonce, nonce + NONCE_LENGTH), workDigest(crypto, request, n)))
}

/** The outcome of {@link checkRegistrationRequest}. */
export type RequestVerdict =
  | { readonly ok: true, readonly request: RegistrationRequest }
  | { readonly ok: false, readonly code: RegistryErrorCode, readonly message: string }

/**
 * The checks an Operator makes before looking at its log, in this order:
 * shape (MALFORMED), name rules (BAD_NAME, and NAME_RESERVED for a register),
 * time window (STALE), proof of work (INSUFFICIENT_WORK), the new key's
 * signature (BAD_SIGNATURE). The current key's signature on a rotation
 * depends on the log: {@link verifyRotationSignature}. Never throws on
 * `bytes`, whatever they are.
 */
export function checkRegistrationRequest (
  crypto: CryptoProvider, bytes: Uint8Array, options: { now: number, workTrials: number }
): RequestVerdict {
  assertInteger(options.now, 'now', 0, Number.MAX_SAFE_INTEGER)
  assertInteger(options.workTrials, 'workTrials', 1, MAX_WORK_TRIALS)
  if (!(bytes instanceof Uint8Array)) return refuse(RegistryErrorCode.MALFORMED, 'A registration request is bytes')
  let request: RegistrationRequest
  try {
    request = decodeRegistrationRequest(bytes)
  } catch (error) {
    if (error instanceof RegistryFormatError) return refuse(RegistryErrorCode.MALFORMED, error.message)
    if (error instanceof BadNameError) return refuse(RegistryErrorCode.BAD_NAME, error.message)
    throw error
  }
  if (request.type === 'register' && RESERVED_NAMES.has(request.name)) {
    return refuse(RegistryErrorCode.NAME_RESERVED, `"${request.name}" is reserved; choose another name`)
  }
  if (Math.abs(options.now - request.time) > REGISTRATION_CLOCK_SKEW_MS) {
    return refuse(RegistryErrorCode.STALE, `The request was signed at ${showTime(request.time)} and the Operator's clock says ` +
      `${showTime(options.now)}, more than ${REGISTRATION_CLOCK_SKEW_MS / 60_000} minutes apart; check the clock and register again`)
  }
  if (!hasRegistrationWork(crypto, request.bytes, options.workTrials)) {
    return refuse(RegistryErrorCode.INSUFFICIENT_WORK, `The request carries too little proof of work: this Operator asks for ` +
      `${options.workTrials} trials (see its info); solve again with that setting`)
  }
  if (!verifyRequestSignature(crypto, request)) {
    return refuse(RegistryErrorCode.BAD_SIGNATURE, 'The request\'s signature does not verify with the signing key it carries')
  }
  return { ok: true, request }
}

/**
 * True when the request carries a valid signature by the signing key it
 * names, over "komrade/registry/v1/request" || bytes [0, 91+n): the keys
 * asked for the name themselves (SPEC §13.8 rule 4).
 */
export function verifyRequestSignature (crypto: CryptoProvider, request: RegistrationRequest): boolean {
  const signed = request.bytes.subarray(0, layout(request.name.length).signed)
  return crypto.ed25519Verify(request.signingKey, concatBytes(REQUEST_LABEL, signed), request.signature)
}

/**
 * True when a rotate request carries a valid signature by
 * `currentSigningKey`, the key of the name's current entry. False for a
 * register request and for any wrong key or signature.
 */
export function verifyRotationSignature (crypto: CryptoProvider, request: RegistrationRequest, currentSigningKey: Uint8Array): boolean {
  assertBytes(currentSigningKey, 'currentSigningKey', KEY_LENGTH)
  if (request.type !== 'rotate' || request.previousSignature === undefined) return false
  const signed = request.bytes.subarray(0, layout(request.name.length).signed)
  return crypto.ed25519Verify(currentSigningKey, concatBytes(ROTATE_LABEL, signed), request.previousSignature)
}

function refuse (code: RegistryErrorCode, message: string): RequestVerdict {
  return { ok: false, code, message }
}

/** ISO time for a message; raw milliseconds where Date cannot represent it. */
function showTime (ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString()
}
