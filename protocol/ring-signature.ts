/**
 * Linkable ring signatures (LSAG, Liu–Wei–Wong 2004) over ristretto255, with a
 * linking base per *scope* (SPEC §15.8).
 *
 * A signer holding secret x of one key in a ring of public keys P_0..P_{n-1}
 * proves "one of these signed" without saying which, and publishes the key
 * image I = x·H_p(scope). The same key always gives the same image within a
 * scope (so a second signature in that scope is recognised: double voting)
 * and unrelated images in different scopes (so signatures on different
 * posts cannot be linked to each other).
 *
 *   H_p(scope)   = hash_to_ristretto255(scope, DST "komrade/v1/vote/scope")   (RFC 9380 App. B)
 *   Hs(DST, msg) = LE(expand_message_xmd_SHA-512(msg, DST, 64)) mod L
 *   ctx          = SHA-256("komrade/v1/vote/ring-context" || u8 n || P_0..P_{n-1} || I || u16 |scope| || scope || message)
 *   c_{i+1}      = Hs("komrade/v1/vote/ring", ctx || enc(s_i·G + c_i·P_i) || enc(s_i·H_p + c_i·I))
 *   signature    = (I, c_0, s_0..s_{n-1}); verification recomputes the cycle and checks c_n = c_0.
 *
 * Verification only touches public data, so it uses the variable-time
 * multiplications (multiplyUnsafe, Straus); the signer's secret terms (x·H_p,
 * α·G, α·H_p) use the constant-time `multiply`. The signer's n−1 decoy steps
 * run the very code verification runs, whichever position is the signer's.
 * Bigint arithmetic in JavaScript is not constant-time: s_π = α − c_π·x is
 * one multiplication and one subtraction on the secret (see SPEC §15.8).
 */
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js'
import { interleavedMSMUnsafe, mulAddUnsafe } from '@noble/curves/abstract/curve.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { assertBytes, concatBytes, toHex, utf8, writeUint16BE } from './bytes.js'
import { MAX_VOTE_RING, MIN_VOTE_RING } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'

type RistrettoPoint = InstanceType<typeof ristretto255.Point>
const Point = ristretto255.Point
/** L, the prime order of ristretto255 (= the ed25519 subgroup order). */
const ORDER = Point.Fn.ORDER

/** Bytes of a ristretto255 encoding (public key, key image). */
export const RING_POINT_LENGTH = 32
/** Bytes of a scalar (c_0, s_i): little-endian, below L. */
export const RING_SCALAR_LENGTH = 32
/** Longest scope accepted: a vote's is 101 bytes; the bound keeps hostile input cheap. */
export const MAX_RING_SCOPE_LENGTH = 1024

/** DST of the linking base H_p(scope). */
export const RING_SCOPE_DST = 'komrade/v1/vote/scope'
/** DST of the challenges c_i. */
export const RING_CHALLENGE_DST = 'komrade/v1/vote/ring'
/** Label of the digest that binds ring, key image, scope and message into every challenge. */
export const RING_CONTEXT_LABEL = 'komrade/v1/vote/ring-context'
/** DST of the signer's hedged nonce α (secret, randomness and context; not checkable by verifiers). */
const RING_NONCE_DST = 'komrade/v1/vote/nonce'
/** DST of the per-group vote key derivation. */
export const VOTE_KEY_DST = 'komrade/v1/vote-key'
/** Bytes drawn per random scalar: 64, so the reduction mod L has a bias below 2^-250. */
const WIDE_SCALAR_BYTES = 64
/** Window of the per-signature Straus table for H_p and I: 6 is the cheapest measured for 16..25 uses (setup ~0.1 ms). */
const KEY_IMAGE_WINDOW = 6

/** A ring signature as it travels (SPEC §15.8): key image, c_0, and one response per ring key. */
export interface RingSignature {
  /** I = x·H_p(scope), 32 bytes. */
  readonly keyImage: Uint8Array
  /** c_0, 32 bytes little-endian. */
  readonly challenge: Uint8Array
  /** s_0..s_{n-1}, 32 bytes little-endian each, in ring order. */
  readonly responses: readonly Uint8Array[]
}

/** What {@link signRing} needs. */
export interface SignRingInit {
  /** The signer's secret scalar x, 1 <= x < L; its public key x·G must be in `ring`. */
  readonly secret: bigint
  /** MIN_VOTE_RING..MAX_VOTE_RING distinct ristretto255 public keys, in the order they are signed over. */
  readonly ring: readonly Uint8Array[]
  /** Linking scope: signatures by one key in one scope share a key image. At most MAX_RING_SCOPE_LENGTH bytes. */
  readonly scope: Uint8Array
  /** The signed message. */
  readonly message: Uint8Array
}

/** A per-group vote key pair: secret x and public key P = x·G (ristretto255 encoding). Holds a secret. */
export interface VoteKeyPair {
  readonly secret: bigint
  readonly publicKey: Uint8Array
}

// ---- encodings ----------------------------------------------------------------

function scalarToBytes (value: bigint): Uint8Array {
  const out = new Uint8Array(RING_SCALAR_LENGTH)
  let rest = value
  for (let i = 0; i < RING_SCALAR_LENGTH; i++) {
    out[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  return out
}

/** Little-endian integer of any byte string. */
function littleEndian (bytes: Uint8Array): bigint {
  let value = 0n
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i] as number)
  return value
}

/** The scalar a 32-byte field holds, or undefined unless it is canonical (< L). */
function decodeScalar (bytes: unknown): bigint | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length !== RING_SCALAR_LENGTH) return undefined
  const value = littleEndian(bytes)
  return value < ORDER ? value : undefined
}

/**
 * The point a 32-byte field holds, or undefined unless it is a canonical
 * ristretto255 encoding of a point other than the identity.
 */
function decodePoint (bytes: unknown): RistrettoPoint | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length !== RING_POINT_LENGTH) return undefined
  let point: RistrettoPoint
  try {
    point = Point.fromBytes(bytes)
  } catch {
    return undefined
  }
  return point.is0() ? undefined : point
}

/** True when `bytes` is a usable ring key: a canonical ristretto255 encoding, not the identity. */
export function isRingPublicKey (bytes: unknown): bytes is Uint8Array {
  return decodePoint(bytes) !== undefined
}

/** Hs(DST, msg): expand_message_xmd with SHA-512 to 64 bytes, little-endian, mod L. */
function hashToScalar (message: Uint8Array, dst: string): bigint {
  return ristretto255_hasher.hashToScalar(message, { DST: dst })
}

/** The linking base H_p(scope). */
function linkingBase (scope: Uint8Array): RistrettoPoint {
  return ristretto255_hasher.hashToCurve(scope, { DST: RING_SCOPE_DST })
}

function ringContext (ring: readonly Uint8Array[], keyImage: Uint8Array, scope: Uint8Array, message: Uint8Array): Uint8Array {
  const scopeLength = new Uint8Array(2)
  writeUint16BE(scopeLength, 0, scope.length)
  return sha256(concatBytes(utf8(RING_CONTEXT_LABEL), Uint8Array.of(ring.length), ...ring, keyImage, scopeLength, scope, message))
}

function challenge (context: Uint8Array, left: RistrettoPoint, right: RistrettoPoint): bigint {
  return hashToScalar(concatBytes(context, left.toBytes(), right.toBytes()), RING_CHALLENGE_DST)
}

/**
 * One step of the cycle on public values: c_{i+1} from (s_i, c_i, P_i).
 * Shared by verification and the signer's decoy positions.
 */
function ringStep (
  context: Uint8Array, response: bigint, current: bigint, publicKey: RistrettoPoint,
  imageTerms: (scalars: bigint[]) => RistrettoPoint
): bigint {
  const left = mulAddUnsafe(Point, [Point.BASE, publicKey], [response, current])
  const right = imageTerms([response, current])
  return challenge(context, left, right)
}

// ---- keys -----------------------------------------------------------------------

/**
 * The vote key pair of one member in one group (SPEC §15.8):
 * x = Hs("komrade/v1/vote-key", signingSeed || groupId), P = x·G. Deterministic,
 * so nothing extra is stored, and unrelated from one group to the next.
 */
export function voteKeyPair (seed: Uint8Array, groupId: Uint8Array): VoteKeyPair {
  assertBytes(seed, 'seed', 32)
  assertBytes(groupId, 'groupId', 32)
  const secret = hashToScalar(concatBytes(seed, groupId), VOTE_KEY_DST)
  // Probability 2^-252; a zero secret has no public key, so refuse rather than misbehave.
  if (secret === 0n) throw new RangeError('"seed" gives a zero vote key; use another identity')
  return { secret, publicKey: Point.BASE.multiply(secret).toBytes() }
}

/** The key image x·H_p(scope) a secret has in a scope: what {@link signRing} publishes. */
export function ringKeyImage (secret: bigint, scope: Uint8Array): Uint8Array {
  checkSecret(secret)
  checkScope(scope)
  return linkingBase(scope).multiply(secret).toBytes()
}

function checkSecret (secret: bigint): void {
  if (typeof secret !== 'bigint') throw new TypeError(`"secret" expected a bigint, got ${typeof secret}`)
  if (secret <= 0n || secret >= ORDER) throw new RangeError('"secret" expected a scalar in [1, L)')
}

function checkScope (scope: Uint8Array): void {
  assertBytes(scope, 'scope')
  if (scope.length > MAX_RING_SCOPE_LENGTH) {
    throw new RangeError(`"scope" expected at most ${MAX_RING_SCOPE_LENGTH} bytes, got length=${scope.length}`)
  }
}

// ---- sign -------------------------------------------------------------------------

/** A uniform nonzero scalar from 64 random bytes. */
function randomScalar (crypto: Pick<CryptoProvider, 'randomBytes'>): bigint {
  for (;;) {
    const value = littleEndian(crypto.randomBytes(WIDE_SCALAR_BYTES)) % ORDER
    if (value !== 0n) return value
  }
}

/**
 * Signs `message` with the secret of one key of `ring`, linkably within
 * `scope`. Throws TypeError/RangeError on bad arguments: a ring outside
 * MIN_VOTE_RING..MAX_VOTE_RING, a key that is not a valid ristretto255 point,
 * a repeated key, or a secret whose public key is not in the ring.
 */
export function signRing (crypto: Pick<CryptoProvider, 'randomBytes'>, init: SignRingInit): RingSignature {
  const { secret, ring, scope, message } = init
  checkSecret(secret)
  checkScope(scope)
  assertBytes(message, 'message')
  if (!Array.isArray(ring)) throw new TypeError('"ring" expected an array of 32-byte keys')
  if (ring.length < MIN_VOTE_RING || ring.length > MAX_VOTE_RING) {
    throw new RangeError(`"ring" expected ${MIN_VOTE_RING} to ${MAX_VOTE_RING} keys, got ${ring.length}`)
  }
  const points: RistrettoPoint[] = []
  const seen = new Set<string>()
  ring.forEach((key, i) => {
    assertBytes(key, `ring[${i}]`, RING_POINT_LENGTH)
    const point = decodePoint(key)
    if (point === undefined) throw new RangeError(`"ring[${i}]" is not a valid ristretto255 public key`)
    const hex = toHex(key)
    if (seen.has(hex)) throw new RangeError(`"ring[${i}]" repeats an earlier key`)
    seen.add(hex)
    points.push(point)
  })
  const own = toHex(Point.BASE.multiply(secret).toBytes())
  const signer = ring.findIndex((key) => toHex(key) === own)
  if (signer === -1) throw new RangeError('"secret" does not belong to any key of "ring"')

  const n = ring.length
  const base = linkingBase(scope)
  const image = base.multiply(secret)
  const keyImage = image.toBytes()
  const context = ringContext(ring, keyImage, scope, message)
  const imageTerms = interleavedMSMUnsafe(Point, [base, image], KEY_IMAGE_WINDOW)

  // Hedged nonce: fresh randomness, and still no reuse across messages if the generator fails.
  const nonceInput = concatBytes(scalarToBytes(secret), crypto.randomBytes(32), context)
  const alpha = hashToScalar(nonceInput, RING_NONCE_DST)
  nonceInput.fill(0)
  if (alpha === 0n) throw new Error('The ring signature nonce is zero; sign again')
  const challenges = new Array<bigint>(n)
  const responses = new Array<bigint>(n)
  let current = challenge(context, Point.BASE.multiply(alpha), base.multiply(alpha))
  for (let step = 1; step < n; step++) {
    const i = (signer + step) % n
    challenges[i] = current
    responses[i] = randomScalar(crypto)
    current = ringStep(context, responses[i], current, points[i]!, imageTerms)
  }
  challenges[signer] = current
  responses[signer] = ((alpha - current * secret) % ORDER + ORDER) % ORDER
  return {
    keyImage,
    challenge: scalarToBytes(challenges[0]!),
    responses: responses.map(scalarToBytes)
  }
}

// ---- verify -------------------------------------------------------------------------

/**
 * True when `signature` is a valid ring signature on `message` in `scope` by
 * one of the keys of `ring`. Returns false, never throws, on any input: ring
 * size outside MIN_VOTE_RING..MAX_VOTE_RING, a ring key or key image that is
 * not a canonical non-identity ristretto255 encoding, repeated ring keys,
 * scalars not below L, or a cycle that does not close.
 */
export function verifyRing (signature: RingSignature, ring: readonly Uint8Array[], scope: Uint8Array, message: Uint8Array): boolean {
  try {
    return verifyChecked(signature, ring, scope, message)
  } catch {
    return false
  }
}

function verifyChecked (signature: RingSignature, ring: readonly Uint8Array[], scope: Uint8Array, message: Uint8Array): boolean {
  if (typeof signature !== 'object' || signature === null) return false
  if (!Array.isArray(ring) || ring.length < MIN_VOTE_RING || ring.length > MAX_VOTE_RING) return false
  if (!(scope instanceof Uint8Array) || scope.length > MAX_RING_SCOPE_LENGTH) return false
  if (!(message instanceof Uint8Array)) return false
  const { keyImage, responses } = signature
  const n = ring.length
  if (!Array.isArray(responses) || responses.length !== n) return false
  const image = decodePoint(keyImage)
  const first = decodeScalar(signature.challenge)
  if (image === undefined || first === undefined) return false

  const points: RistrettoPoint[] = []
  const scalars: bigint[] = []
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) {
    const point = decodePoint(ring[i])
    const response = decodeScalar(responses[i])
    if (point === undefined || response === undefined) return false
    const hex = toHex(ring[i]!)
    if (seen.has(hex)) return false
    seen.add(hex)
    points.push(point)
    scalars.push(response)
  }

  const context = ringContext(ring, keyImage, scope, message)
  const imageTerms = interleavedMSMUnsafe(Point, [linkingBase(scope), image], KEY_IMAGE_WINDOW)
  let current = first
  for (let i = 0; i < n; i++) current = ringStep(context, scalars[i]!, current, points[i]!, imageTerms)
  return current === first
}
