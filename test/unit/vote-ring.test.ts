/**
 * Anonymous votes (SPEC §15.8): the linkable ring signature and the vote body.
 * Round trips at both ring bounds; tampering with any field (bit flips sampled
 * in every field), non-members, repeated ring keys, other scopes, forged key
 * images; linkability exactly within one post; hostile input never throws.
 * A reference verifier written from the SPEC text (plain noble primitives,
 * offsets from the table) checks a frozen vector and fresh votes, and signs
 * a ring with a repeated key that only the implementation's checks refuse.
 */
import fc from 'fast-check'
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js'
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import {
  createVote, decodeVote, nativeCrypto, ringKeyImage, signRing, toHex, verifyRing, verifyVote, voteKeyImage, voteKeyPair,
  voteScope, VoteFormatError, VoteNotAdmittedError, VoteRingTooSmallError, MAX_VOTE_RING, MIN_VOTE_RING, type DecodedVote
} from '../../protocol/index.js'
import { deterministicCrypto } from '../vectors/deterministic-crypto.js'

const crypto = nativeCrypto()
const enc = new TextEncoder()
const Point = ristretto255.Point
const L = Point.Fn.ORDER
type RPoint = InstanceType<typeof Point>

const digest = (label: string): Uint8Array => sha256(enc.encode(label))
const groupId = digest('vote test group')
const postId = sha512(enc.encode('vote test post')).slice(0, 48)
const otherPostId = sha512(enc.encode('another post')).slice(0, 48)
const seeds = Array.from({ length: 40 }, (_, i) => digest(`member ${i}`))
const keys = seeds.map((seed) => voteKeyPair(seed, groupId).publicKey)
const admitted = new Set(keys.map(toHex))

const compare = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)

function vote (voter: number, candidates: Uint8Array[], choice: 'up' | 'down' = 'up', post = postId): Uint8Array {
  return createVote(crypto, { groupId, postId: post, choice, voterSeed: seeds[voter]!, candidates })
}

const vote16 = vote(3, keys.slice(0, 16))
const vote25 = vote(7, keys)

// ---- reference implementation, from the SPEC text only ----------------------------------

function le (bytes: Uint8Array): bigint {
  let v = 0n
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!)
  return v
}
function le32 (v: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn)
  return out
}
function cat (...parts: Uint8Array[]): Uint8Array { return Uint8Array.from(parts.flatMap((p) => [...p])) }
/** Hs(DST, msg) = LE(expand_message_xmd(msg, DST, 64)) mod L. */
function refHs (dst: string, msg: Uint8Array): bigint { return le(expand_message_xmd(msg, dst, 64, sha512)) % L }
/** H_p = hash_to_ristretto255(scope, "komrade/v1/vote/scope"): XMD to 64 bytes, then RFC 9496 element derivation. */
function refHp (scope: Uint8Array): RPoint { return ristretto255_hasher.deriveToCurve!(expand_message_xmd(scope, 'komrade/v1/vote/scope', 64, sha512)) }
function refContext (ring: Uint8Array[], image: Uint8Array, scope: Uint8Array, message: Uint8Array): Uint8Array {
  return sha256(cat(enc.encode('komrade/v1/vote/ring-context'), Uint8Array.of(ring.length), ...ring, image,
    Uint8Array.of(scope.length >> 8, scope.length & 0xff), scope, message))
}
function refChallenge (ctx: Uint8Array, left: RPoint, right: RPoint): bigint {
  return refHs('komrade/v1/vote/ring', cat(ctx, left.toBytes(), right.toBytes()))
}
function refPoint (bytes: Uint8Array): RPoint | undefined {
  try { const p = Point.fromBytes(bytes); return p.is0() ? undefined : p } catch { return undefined }
}
/** Verifies vote bytes by the SPEC's table and equations (plain multiplications, no shared code). */
function refVerifyVote (body: Uint8Array, admittedHex: ReadonlySet<string>): boolean {
  if (body[0] !== 1 || (body[81] !== 1 && body[81] !== 2)) return false
  const n = body[82]!
  if (n < 16 || n > 25 || body.length !== 147 + 64 * n) return false
  const ring = Array.from({ length: n }, (_, i) => body.slice(83 + 32 * i, 115 + 32 * i))
  for (let i = 1; i < n; i++) if (compare(ring[i - 1]!, ring[i]!) >= 0) return false
  if (!ring.every((k) => admittedHex.has(toHex(k)))) return false
  const imageBytes = body.slice(83 + 32 * n, 115 + 32 * n)
  const c0 = le(body.slice(115 + 32 * n, 147 + 32 * n))
  const s = Array.from({ length: n }, (_, i) => le(body.slice(147 + 32 * n + 32 * i, 179 + 32 * n + 32 * i)))
  const points = ring.map(refPoint)
  const image = refPoint(imageBytes)
  if (image === undefined || points.some((p) => p === undefined) || c0 >= L || s.some((v) => v >= L)) return false
  const scope = cat(enc.encode('komrade/v1/vote/scope'), body.slice(1, 81))
  const message = sha256(cat(enc.encode('komrade/v1/vote'), body.slice(0, 83 + 32 * n)))
  const hp = refHp(scope)
  const ctx = refContext(ring, imageBytes, scope, message)
  let c = c0
  for (let i = 0; i < n; i++) {
    const left = Point.BASE.multiplyUnsafe(s[i]!).add(points[i]!.multiplyUnsafe(c))
    const right = hp.multiplyUnsafe(s[i]!).add(image.multiplyUnsafe(c))
    c = refChallenge(ctx, left, right)
  }
  return c === c0
}
/** Signs by the SPEC's equations WITHOUT any ring check (so a repeated key can be signed over). */
function refSign (secret: bigint, ring: Uint8Array[], signer: number, scope: Uint8Array, message: Uint8Array): { keyImage: Uint8Array, challenge: Uint8Array, responses: Uint8Array[] } {
  const n = ring.length
  const hp = refHp(scope)
  const image = hp.multiply(secret)
  const ctx = refContext(ring, image.toBytes(), scope, message)
  const alpha = refHs('test nonce', crypto.randomBytes(64))
  const c = new Array<bigint>(n)
  const s = new Array<bigint>(n)
  c[(signer + 1) % n] = refChallenge(ctx, Point.BASE.multiply(alpha), hp.multiply(alpha))
  for (let k = 1; k < n; k++) {
    const i = (signer + k) % n
    s[i] = refHs('test s', crypto.randomBytes(64))
    const P = Point.fromBytes(ring[i]!)
    c[(i + 1) % n] = refChallenge(ctx, Point.BASE.multiply(s[i]!).add(P.multiplyUnsafe(c[i]!)), hp.multiply(s[i]!).add(image.multiplyUnsafe(c[i]!)))
  }
  s[signer] = ((alpha - c[signer]! * secret) % L + L) % L
  return { keyImage: image.toBytes(), challenge: le32(c[0]!), responses: s.map(le32) }
}

/** Decode-then-verify as a node does: false for a VoteFormatError, any other throw fails the test. */
function accepted (body: Uint8Array, set: ReadonlySet<string> = admitted): boolean {
  let decoded: DecodedVote
  try {
    decoded = decodeVote(body)
  } catch (error) {
    expect(error).toBeInstanceOf(VoteFormatError)
    return false
  }
  return verifyVote(decoded, set)
}

// ---- tests --------------------------------------------------------------------------------

describe('vote keys', () => {
  it('are deterministic per identity and group, x·G, and unrelated across groups', () => {
    const a = voteKeyPair(seeds[0]!, groupId)
    expect(voteKeyPair(seeds[0]!, groupId)).toEqual(a)
    expect(toHex(Point.BASE.multiply(a.secret).toBytes())).toBe(toHex(a.publicKey))
    expect(a.secret).toBe(refHs('komrade/v1/vote-key', cat(seeds[0]!, groupId)))
    expect(toHex(voteKeyPair(seeds[0]!, digest('other group')).publicKey)).not.toBe(toHex(a.publicKey))
    expect(new Set(keys.map(toHex)).size).toBe(keys.length)
  })
})

describe('round trip', () => {
  it('signs and verifies at ring 16: the ring is the whole group of 16', () => {
    const decoded = decodeVote(vote16)
    expect(vote16.length).toBe(147 + 64 * MIN_VOTE_RING)
    expect(decoded.ring.map(toHex)).toEqual(keys.slice(0, 16).sort(compare).map(toHex))
    expect(decoded.choice).toBe('up')
    expect(toHex(decoded.groupId)).toBe(toHex(groupId))
    expect(toHex(decoded.postId)).toBe(toHex(postId))
    expect(toHex(decoded.keyImage)).toBe(toHex(voteKeyImage(seeds[3]!, groupId, postId)))
    expect(verifyVote(decoded, admitted)).toBe(true)
    expect(refVerifyVote(vote16, admitted)).toBe(true)
  })

  it('signs and verifies at ring 25, drawn from 40 candidates, sorted, with the voter in it', () => {
    const decoded = decodeVote(vote25)
    expect(vote25.length).toBe(147 + 64 * MAX_VOTE_RING)
    expect(decoded.ring).toHaveLength(MAX_VOTE_RING)
    expect(decoded.ring.map(toHex)).toContain(toHex(keys[7]!))
    for (let i = 1; i < decoded.ring.length; i++) expect(compare(decoded.ring[i - 1]!, decoded.ring[i]!)).toBeLessThan(0)
    expect(decoded.ring.every((k) => admitted.has(toHex(k)))).toBe(true)
    expect(verifyVote(decoded, admitted)).toBe(true)
    expect(refVerifyVote(vote25, admitted)).toBe(true)
  })

  it('draws a ring per post: over 10 posts every candidate shows up', () => {
    const seen = new Set<string>()
    const rings = new Set<string>()
    for (let i = 0; i < 10; i++) {
      const decoded = decodeVote(vote(0, keys, 'up', sha512(enc.encode(`post ${i}`)).slice(0, 48)))
      rings.add(decoded.ring.map(toHex).join())
      for (const key of decoded.ring) seen.add(toHex(key))
    }
    // Each other key is in a ring with probability 24/39: a uniform draw misses one over 10 posts
    // with odds ~3e-3 (the draw is a fixed function of voter and post, so this is not flaky).
    expect(seen.size).toBe(keys.length)
    expect(rings.size).toBe(10)
  })

  it('reuses the ring when the same member votes again on the same post (no ring intersection)', () => {
    const first = decodeVote(vote(2, keys, 'up'))
    const again = decodeVote(vote(2, keys, 'down'))
    expect(again.ring.map(toHex)).toEqual(first.ring.map(toHex))
    expect(toHex(again.challenge)).not.toBe(toHex(first.challenge))
    // Candidate order does not matter either.
    expect(decodeVote(vote(2, [...keys].reverse(), 'up')).ring.map(toHex)).toEqual(first.ring.map(toHex))
  })

  it('refuses to vote below 16 keys (typed), and when the voter is not among the candidates', () => {
    const fifteen = keys.slice(0, 15)
    const error = (() => { try { vote(0, [...fifteen, fifteen[0]!, fifteen[1]!]); return undefined } catch (e) { return e } })()
    expect(error).toBeInstanceOf(VoteRingTooSmallError)
    expect((error as VoteRingTooSmallError).available).toBe(15)
    expect((error as VoteRingTooSmallError).required).toBe(MIN_VOTE_RING)
    // An invalid encoding does not count towards the 16 either.
    expect(() => vote(0, [...fifteen, new Uint8Array(32)])).toThrow(VoteRingTooSmallError)
    expect(() => vote(20, keys.slice(0, 16))).toThrow(VoteNotAdmittedError)
    expect(() => vote(0, keys.slice(0, 16), 'sideways' as 'up')).toThrow(TypeError)
  })
})

describe('tampering', () => {
  const n = MIN_VOTE_RING
  const fields: Array<[string, number, number]> = [
    ['version', 0, 1], ['groupId', 1, 33], ['postId', 33, 81], ['choice', 81, 82], ['ringSize', 82, 83],
    ['ring', 83, 83 + 32 * n], ['keyImage', 83 + 32 * n, 115 + 32 * n], ['c0', 115 + 32 * n, 147 + 32 * n],
    ['s', 147 + 32 * n, 147 + 64 * n]
  ]

  it.each(fields)('any single-bit flip in %s is refused', (_name, start, end) => {
    const bits = (end - start) * 8
    const positions = new Set([0, bits - 1, 7, ...Array.from({ length: 3 }, (_, i) => Math.floor(((i * 0.37 + 0.11) % 1) * bits))])
    for (const bit of positions) {
      const bad = vote16.slice()
      bad[start + (bit >> 3)]! ^= 1 << (bit & 7)
      // Admit whatever keys the tampered ring names, so the refusal has to come from the signature.
      let widened: Set<string> = admitted
      try { widened = new Set([...admitted, ...decodeVote(bad).ring.map(toHex)]) } catch {}
      expect(accepted(bad, widened), `bit ${bit}`).toBe(false)
    }
    expect(accepted(vote16)).toBe(true)
  })

  it('refuses non-canonical scalars (c0 + L, s_i + L)', () => {
    const decoded = decodeVote(vote16)
    const plusL = (bytes: Uint8Array): Uint8Array => le32(le(bytes) + L)
    expect(verifyVote({ ...decoded, challenge: plusL(decoded.challenge) }, admitted)).toBe(false)
    const responses = decoded.responses.slice()
    responses[5] = plusL(responses[5]!)
    expect(verifyVote({ ...decoded, responses }, admitted)).toBe(false)
  })

  it('refuses a vote when one ring key is not an admitted vote key (non-member)', () => {
    const decoded = decodeVote(vote25)
    const someoneElse = decoded.ring.map(toHex).find((k) => k !== toHex(keys[7]!))!
    expect(verifyVote(decoded, new Set([...admitted].filter((k) => k !== someoneElse)))).toBe(false)
    // An outsider with a valid signature over members' keys: only the admitted set refuses it.
    const outsider = voteKeyPair(digest('outsider'), groupId)
    const forged = createVote(crypto, { groupId, postId, choice: 'up', voterSeed: digest('outsider'), candidates: [...keys.slice(0, 15), outsider.publicKey] })
    expect(accepted(forged)).toBe(false)
    expect(accepted(forged, new Set([...admitted, toHex(outsider.publicKey)]))).toBe(true)
  })

  it('refuses a ring with a repeated key, even with a signature that is otherwise valid', () => {
    const pair = voteKeyPair(seeds[0]!, groupId)
    const ring = [...keys.slice(0, 15), keys[1]!] // keys[1] twice
    const scope = voteScope(groupId, postId)
    const message = digest('message')
    const signature = refSign(pair.secret, ring, 0, scope, message)
    // The bare equations accept it (the cycle closes)...
    const ctx = refContext(ring, signature.keyImage, scope, message)
    let c = le(signature.challenge)
    const hp = refHp(scope)
    const image = Point.fromBytes(signature.keyImage)
    for (let i = 0; i < ring.length; i++) {
      const s = le(signature.responses[i]!)
      c = refChallenge(ctx, Point.BASE.multiplyUnsafe(s).add(Point.fromBytes(ring[i]!).multiplyUnsafe(c)), hp.multiplyUnsafe(s).add(image.multiplyUnsafe(c)))
    }
    expect(c).toBe(le(signature.challenge))
    // ...the verifier does not.
    expect(verifyRing(signature, ring, scope, message)).toBe(false)
    expect(() => signRing(crypto, { secret: pair.secret, ring, scope, message })).toThrow(RangeError)
    // On the wire a repeat breaks the strict order.
    const bad = vote16.slice()
    bad.set(bad.subarray(83, 115), 115)
    expect(() => decodeVote(bad)).toThrow(expect.objectContaining({ name: 'VoteFormatError', reason: 'ring-not-sorted' }))
    const decoded = decodeVote(vote16)
    expect(verifyVote({ ...decoded, ring: [decoded.ring[0]!, ...decoded.ring.slice(0, 15)] }, admitted)).toBe(false)
  })

  it('refuses the vote under another post, group or scope', () => {
    const decoded = decodeVote(vote16)
    expect(verifyVote({ ...decoded, postId: otherPostId }, admitted)).toBe(false)
    expect(verifyVote({ ...decoded, groupId: digest('other group') }, admitted)).toBe(false)
    expect(verifyVote({ ...decoded, choice: 'down' }, admitted)).toBe(false)
    const message = digest('m')
    const pair = voteKeyPair(seeds[2]!, groupId)
    const ring = keys.slice(0, 16)
    const signature = signRing(crypto, { secret: pair.secret, ring, scope: voteScope(groupId, postId), message })
    expect(verifyRing(signature, ring, voteScope(groupId, postId), message)).toBe(true)
    expect(verifyRing(signature, ring, voteScope(groupId, otherPostId), message)).toBe(false)
    expect(verifyRing(signature, ring, voteScope(groupId, postId), digest('m2'))).toBe(false)
    expect(verifyRing(signature, [...ring].reverse(), voteScope(groupId, postId), message)).toBe(false)
  })

  it('refuses a forged key image (a random point, the identity)', () => {
    const decoded = decodeVote(vote16)
    const random = Point.BASE.multiply(refHs('any', crypto.randomBytes(32))).toBytes()
    expect(verifyVote({ ...decoded, keyImage: random }, admitted)).toBe(false)
    expect(verifyVote({ ...decoded, keyImage: new Uint8Array(32) }, admitted)).toBe(false)
    // Another member's real key image for this post does not fit this signature either.
    expect(verifyVote({ ...decoded, keyImage: voteKeyImage(seeds[4]!, groupId, postId) }, admitted)).toBe(false)
  })

  it('never throws on hostile input', () => {
    const decoded = decodeVote(vote16)
    const hostile: unknown[] = [null, undefined, 7, 'vote', {}, { ...decoded, ring: 'x' }, { ...decoded, responses: null },
      { ...decoded, ring: [...decoded.ring.slice(0, 15), 5] }, { ...decoded, challenge: new Uint8Array(31) },
      { ...decoded, keyImage: new Uint8Array(33) }, { ...decoded, responses: decoded.responses.slice(1) },
      { ...decoded, ring: decoded.ring.slice(0, 15) }, { ...decoded, groupId: 'g' }]
    for (const value of hostile) expect(verifyVote(value as DecodedVote, admitted)).toBe(false)
    expect(verifyVote(decoded, null as unknown as Set<string>)).toBe(false)
    expect(verifyRing(null as never, null as never, null as never, null as never)).toBe(false)
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 30 }), fc.uint8Array({ minLength: 0, maxLength: 2000 }), fc.boolean(),
      (n, tail, shaped) => {
        const bytes = shaped ? cat(Uint8Array.of(1), tail.slice(0, 80), new Uint8Array(Math.max(0, 80 - tail.length)), Uint8Array.of(1, n), tail.slice(80)) : tail
        accepted(bytes)
      }), { numRuns: 300 })
  })
})

describe('linkability', () => {
  it('one member, one post: the same key image whatever the ring', () => {
    const a = decodeVote(vote(5, keys.slice(0, 16)))
    const b = decodeVote(vote(5, keys, 'down'))
    expect(toHex(a.keyImage)).toBe(toHex(b.keyImage))
    expect(a.ring.map(toHex).join()).not.toBe(b.ring.map(toHex).join())
    expect(verifyVote(a, admitted) && verifyVote(b, admitted)).toBe(true)
  })

  it('one member, two posts: unrelated key images', () => {
    const a = decodeVote(vote(5, keys.slice(0, 16)))
    const b = decodeVote(vote(5, keys.slice(0, 16), 'up', otherPostId))
    expect(toHex(a.keyImage)).not.toBe(toHex(b.keyImage))
    expect(toHex(b.keyImage)).toBe(toHex(voteKeyImage(seeds[5]!, groupId, otherPostId)))
  })

  it('two members, one post: different key images', () => {
    const images = new Set(seeds.map((seed) => toHex(voteKeyImage(seed, groupId, postId))))
    expect(images.size).toBe(seeds.length)
    const pair = voteKeyPair(seeds[6]!, groupId)
    expect(toHex(ringKeyImage(pair.secret, voteScope(groupId, postId)))).toBe(toHex(refHp(voteScope(groupId, postId)).multiply(pair.secret).toBytes()))
  })
})

describe('vector', () => {
  it('a deterministic vote has frozen bytes and passes the SPEC reference verifier', () => {
    const fixed = deterministicCrypto(crypto, 'komrade vote vector')
    const body = createVote(fixed, { groupId, postId, choice: 'down', voterSeed: seeds[9]!, candidates: keys.slice(0, 30) })
    expect(body.length).toBe(147 + 64 * 25)
    expect(refVerifyVote(body, admitted)).toBe(true)
    expect(accepted(body)).toBe(true)
    expect(toHex(sha256(body))).toBe('6e83ee41e17eb90e4e8162d405309d6223415da05b501a88a7f5b83e04ca2722')
    // The ring is the SPEC's draw: partial Fisher–Yates over the sorted others, stream keyed by x and the scope.
    const x = voteKeyPair(seeds[9]!, groupId).secret
    const drawKey = sha256(cat(enc.encode('komrade/v1/vote/ring-draw'), le32(x), voteScope(groupId, postId)))
    let stream: number[] = []
    let counter = 0
    const u32 = (): number => {
      while (stream.length < 4) stream = [...stream, ...sha256(cat(drawKey, Uint8Array.of(counter >>> 24, (counter >>> 16) & 255, (counter >>> 8) & 255, counter++ & 255)))]
      const [a, b, c, d] = stream.splice(0, 4)
      return ((a! << 24) >>> 0) + (b! << 16) + (c! << 8) + d!
    }
    const pool = keys.slice(0, 30).filter((_, i) => i !== 9).sort(compare)
    for (let i = 0; i < 24; i++) {
      const bound = pool.length - i
      let v = u32()
      while (v >= Math.floor(2 ** 32 / bound) * bound) v = u32()
      const j = i + (v % bound)
      ;[pool[i], pool[j]] = [pool[j]!, pool[i]!]
    }
    expect(decodeVote(body).ring.map(toHex)).toEqual([keys[9]!, ...pool.slice(0, 24)].sort(compare).map(toHex))
    const bad = body.slice()
    bad[81] = 1 // the choice is signed
    expect(refVerifyVote(bad, admitted)).toBe(false)
    expect(accepted(bad)).toBe(false)
  })
})
