/**
 * World posts (SPEC §14.1-§14.3): the world key and tag, sealing and
 * opening signed post envelopes, and what an attacker holding the (public)
 * world key cannot do: change a bit, re-wrap a part with another expiry,
 * put a part into someone else's post, or sign as someone else.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createIdentity, createReassembler, createWorldTagMatcher, decodeInner, encodeInner, encodePost, envelopeFields, identityId,
  isWorldEnvelope, nativeCrypto, nobleCrypto, openWorldEnvelope, postSignedBytes, sealCover, sealWorldPost, worldKey, worldTag,
  ENVELOPE_SIZE, EXPIRY_OFFSET, KIND_MESSAGE, KIND_POST, KIND_PROFILE, MAX_POST_PARTS, MAX_TTL_MINUTES, NONCE_LENGTH, NONCE_OFFSET,
  POST_BODY_CAPACITY, SALT_OFFSET, SEALED_BODY_OFFSET, TAG_OFFSET, MessageTooLargeError,
  type CryptoProvider, type Identity, type InnerMessage
} from '../../protocol/index.js'
import { envelopeAad, envelopeWithHeader, setSealedBody } from '../../protocol/envelope.js'
import { SIGNATURE_OFFSET } from '../../protocol/inner.js'
import { sessionEnvelopeKeys } from '../../protocol/session.js'

const native = nativeCrypto()
const noble = nobleCrypto()
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)
const NETWORK = 'komrade-test'
const KEY = worldKey(native, NETWORK)

function payloadOf (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7) & 0xff
  return out
}

function worldMessageKey (crypto: CryptoProvider, salt: Uint8Array): Uint8Array {
  return crypto.hmacSha256(KEY, Uint8Array.from([0x02, ...salt]))
}

/** What anyone holding the world key sees inside a world envelope: the decrypted inner plaintext. */
function decrypt (envelope: Uint8Array): Uint8Array {
  const fields = envelopeFields(envelope)
  const keys = sessionEnvelopeKeys(native, worldMessageKey(native, fields.salt), fields.salt)
  const inner = native.aeadOpen(keys.key, keys.nonce, fields.sealedBody, envelopeAad(envelope))
  if (inner === undefined) throw new Error('test: the world key should open its own envelope')
  return inner.slice()
}

/** Re-seals `inner` under the world key into an envelope with the given header (as an attacker could). */
function reseal (header: { expiryMinute: number, salt: Uint8Array, ephemeral: Uint8Array, tag: Uint8Array }, inner: Uint8Array): Uint8Array {
  const envelope = envelopeWithHeader(header)
  const keys = sessionEnvelopeKeys(native, worldMessageKey(native, header.salt), header.salt)
  setSealedBody(envelope, native.aeadSeal(keys.key, keys.nonce, inner, envelopeAad(envelope)))
  return envelope
}

function headerOf (envelope: Uint8Array): { expiryMinute: number, salt: Uint8Array, ephemeral: Uint8Array, tag: Uint8Array } {
  const f = envelopeFields(envelope)
  return { expiryMinute: f.expiryMinute, salt: f.salt.slice(), ephemeral: f.ephemeral.slice(), tag: f.tag.slice() }
}

describe('world key and tag', () => {
  it('worldKey = HMAC("komrade/v1/world", network name), the same for both providers', () => {
    const expected = native.hmacSha256(new TextEncoder().encode('komrade/v1/world'), new TextEncoder().encode(NETWORK))
    expect([...KEY]).toEqual([...expected])
    expect([...worldKey(noble, NETWORK)]).toEqual([...KEY])
    expect([...worldKey(native, 'other')]).not.toEqual([...KEY])
    expect(() => worldKey(native, '')).toThrow(TypeError)
  })

  it('the fast matcher gives the same answer as HMAC through either provider, for any key and salt', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.boolean(), (key, salt, match) => {
      const envelope = new Uint8Array(ENVELOPE_SIZE)
      envelope[0] = 1
      envelope.set(salt, SALT_OFFSET)
      const tag = worldTag(native, key, salt)
      expect([...worldTag(noble, key, salt)]).toEqual([...tag])
      envelope.set(tag, TAG_OFFSET)
      if (!match) envelope[TAG_OFFSET + (salt[0]! % 16)]! ^= 1 << (salt[1]! % 8)
      const matcher = createWorldTagMatcher(key)
      expect(matcher(envelope)).toBe(match)
      expect(isWorldEnvelope(native, key, envelope)).toBe(match)
      expect(isWorldEnvelope(noble, key, envelope)).toBe(match)
    }), { numRuns: 500 })
  })

  it('cover envelopes and hostile input are not world envelopes, and nothing throws', () => {
    const matcher = createWorldTagMatcher(KEY)
    for (let i = 0; i < 200; i++) {
      const cover = sealCover(native, 100)
      expect(matcher(cover)).toBe(false)
      expect(openWorldEnvelope(native, KEY, cover)).toBeUndefined()
    }
    for (const junk of [new Uint8Array(0), new Uint8Array(100), new Uint8Array(ENVELOPE_SIZE + 1), 'text', null, undefined, 42]) {
      expect(isWorldEnvelope(native, KEY, junk as Uint8Array)).toBe(false)
      expect(openWorldEnvelope(native, KEY, junk as Uint8Array)).toBeUndefined()
    }
  })
})

describe('sealing and opening world posts', () => {
  const alice = createIdentity(native)
  const mallory = createIdentity(native)

  it('one part: every node opens it, with the author, kind, id, timestamp and expiry', () => {
    const payload = encodePost({ text: 'hello world' })
    const sealed = sealWorldPost(native, { author: alice, worldKey: KEY, kind: KIND_POST, payload, ttlMinutes: 60, now: NOW })
    expect(sealed.envelopes).toHaveLength(1)
    expect(sealed.expiryMinute).toBe(Math.floor(NOW / 60_000) + 60)
    const envelope = sealed.envelopes[0]!
    expect(envelope.length).toBe(ENVELOPE_SIZE)
    for (const crypto of [native, noble]) {
      const opened = openWorldEnvelope(crypto, KEY, envelope)!
      expect(opened.authorId).toBe(identityId(alice))
      expect([...opened.author.sealingKey]).toEqual([...alice.sealingKey])
      expect(opened.message).toMatchObject({ kind: KIND_POST, timestamp: NOW, partIndex: 0, partCount: 1 })
      expect([...opened.message.messageId]).toEqual([...sealed.messageId])
      expect([...opened.message.body]).toEqual([...payload])
      expect(opened.expiryMinute).toBe(sealed.expiryMinute)
    }
    // Another network's key does not open it.
    expect(openWorldEnvelope(native, worldKey(native, 'elsewhere'), envelope)).toBeUndefined()
  })

  it('the noble and native providers agree: either seals, either opens', () => {
    for (const [sealer, opener] of [[native, noble], [noble, native]] as const) {
      const author = createIdentity(sealer)
      const payload = payloadOf(POST_BODY_CAPACITY * 2 + 5)
      const sealed = sealWorldPost(sealer, { author, worldKey: worldKey(sealer, NETWORK), kind: KIND_PROFILE, payload, ttlMinutes: 10, now: NOW })
      expect(sealed.envelopes).toHaveLength(3)
      const reassembler = createReassembler()
      let whole: Uint8Array | undefined
      for (const envelope of sealed.envelopes) {
        const opened = openWorldEnvelope(opener, worldKey(opener, NETWORK), envelope)!
        expect(opened.message.kind).toBe(KIND_PROFILE)
        whole = reassembler.add(opened.authorId, opened.message) ?? whole
      }
      expect([...whole!]).toEqual([...payload])
    }
  })

  it('a multi-part post (a 256 KiB image) arrives whole in any order with duplicates', () => {
    const payload = encodePost({ text: 'big', image: { mime: 'image/jpeg', bytes: payloadOf(262_144, 3) } })
    const sealed = sealWorldPost(native, { author: alice, worldKey: KEY, kind: KIND_POST, payload, ttlMinutes: 60, now: NOW })
    expect(sealed.envelopes).toHaveLength(Math.ceil(payload.length / POST_BODY_CAPACITY))
    const shuffled = [...sealed.envelopes, ...sealed.envelopes.slice(0, 20)].sort(() => Math.random() - 0.5)
    const reassembler = createReassembler()
    const done: Uint8Array[] = []
    for (const envelope of shuffled) {
      const opened = openWorldEnvelope(native, KEY, envelope)!
      const whole = reassembler.add(opened.authorId, opened.message)
      if (whole !== undefined) done.push(whole)
    }
    expect(done).toHaveLength(1)
    expect([...done[0]!]).toEqual([...payload])
  })

  it('refuses what it cannot seal: other kinds, bad TTL, more than MAX_POST_PARTS parts', () => {
    const base = { author: alice, worldKey: KEY, payload: Uint8Array.of(1), ttlMinutes: 60, now: NOW }
    expect(() => sealWorldPost(native, { ...base, kind: KIND_MESSAGE })).toThrow(RangeError)
    expect(() => sealWorldPost(native, { ...base, kind: KIND_POST, ttlMinutes: 0 })).toThrow(RangeError)
    expect(() => sealWorldPost(native, { ...base, kind: KIND_POST, ttlMinutes: MAX_TTL_MINUTES + 1 })).toThrow(RangeError)
    expect(sealWorldPost(native, { ...base, kind: KIND_POST, ttlMinutes: MAX_TTL_MINUTES }).envelopes).toHaveLength(1)
    expect(() => sealWorldPost(native, { ...base, kind: KIND_POST, payload: new Uint8Array(MAX_POST_PARTS * POST_BODY_CAPACITY + 1) }))
      .toThrow(MessageTooLargeError)
    expect(sealWorldPost(native, { ...base, kind: KIND_POST, payload: new Uint8Array(MAX_POST_PARTS * POST_BODY_CAPACITY) }).envelopes)
      .toHaveLength(MAX_POST_PARTS)
  })

  it('every single-bit flip of a part is refused, except in the proof-of-work nonce (not sealed, SPEC §2)', () => {
    const envelope = sealWorldPost(native, { author: alice, worldKey: KEY, kind: KIND_POST, payload: encodePost({ text: 'flip me' }), ttlMinutes: 60, now: NOW }).envelopes[0]!
    let refused = 0
    let openedNonce = 0
    for (let bit = 0; bit < ENVELOPE_SIZE * 8; bit++) {
      const copy = envelope.slice()
      copy[bit >> 3]! ^= 1 << (bit & 7)
      const byte = bit >> 3
      const opened = openWorldEnvelope(native, KEY, copy)
      if (byte >= NONCE_OFFSET && byte < NONCE_OFFSET + NONCE_LENGTH) {
        expect(opened?.authorId, `nonce bit ${bit}`).toBe(identityId(alice))
        openedNonce++
      } else {
        expect(opened, `bit ${bit} (byte ${byte})`).toBeUndefined()
        refused++
      }
    }
    expect(openedNonce).toBe(NONCE_LENGTH * 8)
    expect(refused).toBe((ENVELOPE_SIZE - NONCE_LENGTH) * 8)
  })

  it('holding the world key, changing any bit of the signed inner plaintext and re-sealing is refused by the signature', () => {
    const envelope = sealWorldPost(native, { author: alice, worldKey: KEY, kind: KIND_POST, payload: encodePost({ text: 'sign me' }), ttlMinutes: 60, now: NOW }).envelopes[0]!
    const inner = decrypt(envelope)
    const header = headerOf(envelope)
    expect(openWorldEnvelope(native, KEY, reseal(header, inner))?.authorId).toBe(identityId(alice)) // the control: an honest re-seal opens
    // Header, sender keys, signature and body: the bytes before the zero padding.
    const used = 32 + 128 + (decodeInner(inner, true)!.message.body.length)
    for (let bit = 0; bit < used * 8; bit++) {
      const changed = inner.slice()
      changed[bit >> 3]! ^= 1 << (bit & 7)
      expect(openWorldEnvelope(native, KEY, reseal(header, changed)), `inner bit ${bit}`).toBeUndefined()
    }
  })

  it('a part re-wrapped with another expiry (or salt and tag) is refused', () => {
    const envelope = sealWorldPost(native, { author: alice, worldKey: KEY, kind: KIND_POST, payload: encodePost({ text: 'lifetime' }), ttlMinutes: 60, now: NOW }).envelopes[0]!
    const inner = decrypt(envelope)
    const header = headerOf(envelope)
    for (const expiryMinute of [header.expiryMinute + 1, header.expiryMinute - 1, header.expiryMinute + 7 * 1440]) {
      expect(openWorldEnvelope(native, KEY, reseal({ ...header, expiryMinute }, inner))).toBeUndefined()
    }
    const salt = native.randomBytes(24)
    expect(openWorldEnvelope(native, KEY, reseal({ ...header, salt, tag: worldTag(native, KEY, salt) }, inner))).toBeUndefined()
    // The ephemeral field carries no meaning and is not signed (SPEC §14.3): a new one yields the same part.
    const moved = openWorldEnvelope(native, KEY, reseal({ ...header, ephemeral: native.x25519KeyPair().publicKey }, inner))
    expect(moved?.authorId).toBe(identityId(alice))
  })

  it('parts from another author cannot join a post, and nobody can sign as someone else', () => {
    const payload = payloadOf(POST_BODY_CAPACITY * 3)
    const sealed = sealWorldPost(native, { author: alice, worldKey: KEY, kind: KIND_POST, payload, ttlMinutes: 60, now: NOW })
    // Mallory seals a part 1 of 3 with Alice's message id: it opens as Mallory's, in Mallory's reassembly scope.
    const forged = sealWorldPost(native, {
      author: mallory, worldKey: KEY, kind: KIND_POST, payload: payloadOf(POST_BODY_CAPACITY * 3, 9), ttlMinutes: 60, now: NOW, messageId: sealed.messageId
    })
    const reassembler = createReassembler()
    const f = openWorldEnvelope(native, KEY, forged.envelopes[1]!)!
    expect(f.authorId).toBe(identityId(mallory))
    expect(reassembler.add(f.authorId, f.message)).toBeUndefined()
    let whole: Uint8Array | undefined
    for (const envelope of sealed.envelopes) {
      const opened = openWorldEnvelope(native, KEY, envelope)!
      whole = reassembler.add(opened.authorId, opened.message) ?? whole
    }
    expect([...whole!]).toEqual([...payload])

    // Mallory puts Alice's keys into the sender block of Mallory's own part: the signature does not verify.
    const inner = decrypt(forged.envelopes[0]!)
    inner.set(alice.signingKey, 32)
    inner.set(alice.sealingKey, 64)
    expect(openWorldEnvelope(native, KEY, reseal(headerOf(forged.envelopes[0]!), inner))).toBeUndefined()
    // ... and re-signing with Mallory's key over Alice's keys does not help either.
    inner.fill(0, SIGNATURE_OFFSET, SIGNATURE_OFFSET + 64)
    const header = headerOf(forged.envelopes[0]!)
    const shell = envelopeWithHeader(header)
    inner.set(native.ed25519Sign(mallory.signingSeed, postSignedBytes(shell, inner)), SIGNATURE_OFFSET)
    expect(openWorldEnvelope(native, KEY, reseal(header, inner))).toBeUndefined()
  })

  it('a well-signed envelope of another kind, or with too many parts, is refused', () => {
    function signedWith (author: Identity, message: InnerMessage): Uint8Array {
      const salt = native.randomBytes(24)
      const header = { expiryMinute: Math.floor(NOW / 60_000) + 60, salt, ephemeral: native.x25519KeyPair().publicKey, tag: worldTag(native, KEY, salt) }
      const inner = encodeInner(message, { signingKey: author.signingKey, sealingKey: author.sealingKey, signature: new Uint8Array(64) })
      inner.set(native.ed25519Sign(author.signingSeed, postSignedBytes(envelopeWithHeader(header), inner)), SIGNATURE_OFFSET)
      return reseal(header, inner)
    }
    const base = { kind: KIND_POST, timestamp: NOW, messageId: new Uint8Array(16), partIndex: 0, partCount: 1, body: Uint8Array.of(1) }
    expect(openWorldEnvelope(native, KEY, signedWith(alice, base))?.authorId).toBe(identityId(alice)) // control
    expect(openWorldEnvelope(native, KEY, signedWith(alice, { ...base, kind: KIND_MESSAGE }))).toBeUndefined()
    expect(openWorldEnvelope(native, KEY, signedWith(alice, { ...base, partCount: MAX_POST_PARTS + 1 }))).toBeUndefined()
    expect(openWorldEnvelope(native, KEY, signedWith(alice, { ...base, partCount: MAX_POST_PARTS }))?.message.partCount).toBe(MAX_POST_PARTS)
  })

  it('the expiry in the header is the one the signature covers', () => {
    const envelope = sealWorldPost(native, { author: alice, worldKey: KEY, kind: KIND_POST, payload: Uint8Array.of(1), ttlMinutes: 7, now: NOW }).envelopes[0]!
    const view = new DataView(envelope.buffer, envelope.byteOffset)
    expect(view.getUint32(EXPIRY_OFFSET)).toBe(Math.floor(NOW / 60_000) + 7)
    expect(SEALED_BODY_OFFSET).toBe(85)
  })
})
