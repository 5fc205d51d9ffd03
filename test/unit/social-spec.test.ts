/**
 * SPEC §14 re-implemented from its text with `node:crypto` only, and checked
 * against what the protocol code puts on the wire: the world key and tag, the
 * message key and AEAD, the inner plaintext table, the signed bytes, the
 * circle chain steps and the handoff layout, the post payload layout. If the
 * code and the SPEC drift apart, this fails.
 */
import { createDecipheriv, createHmac, createPublicKey, hkdfSync, verify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  circleHandoff, createIdentity, encodePost, identityId, nativeCrypto, newCircleChain, sealCirclePost, sealWorldPost, worldKey,
  KIND_POST, KIND_PROFILE
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)
const NETWORK = 'komrade-spec'

function hmac (key: Uint8Array | string, ...data: Array<Uint8Array | string | number[]>): Buffer {
  const h = createHmac('sha256', typeof key === 'string' ? Buffer.from(key, 'utf8') : key)
  for (const d of data) h.update(typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d as Uint8Array))
  return h.digest()
}

/** Opens an envelope the SPEC way: HKDF(mk, salt, "komrade/v1/session/message", 44), ChaCha20-Poly1305 with the 77-byte aad. */
function openWith (messageKey: Uint8Array, envelope: Uint8Array): Buffer {
  const e = Buffer.from(envelope)
  const salt = e.subarray(13, 37)
  const okm = Buffer.from(hkdfSync('sha256', messageKey, salt, Buffer.from('komrade/v1/session/message'), 44))
  const decipher = createDecipheriv('chacha20-poly1305', okm.subarray(0, 32), okm.subarray(32, 44), { authTagLength: 16 })
  decipher.setAAD(Buffer.concat([e.subarray(0, 5), e.subarray(13, 85)]), { plaintextLength: 1947 })
  decipher.setAuthTag(e.subarray(2048 - 16))
  return Buffer.concat([decipher.update(e.subarray(85, 2048 - 16)), decipher.final()] as Uint8Array[])
}

/** Parses the inner plaintext of §14.3 and checks the signature of §14.3 over the envelope. */
function readSignedInner (envelope: Uint8Array, inner: Buffer) {
  expect(inner.length).toBe(1947)
  const length = inner.readUInt16BE(30)
  const fields = {
    kind: inner[0], flags: inner[1], timestamp: Number(inner.readBigUInt64BE(2)), messageId: inner.subarray(10, 26),
    partIndex: inner.readUInt16BE(26), partCount: inner.readUInt16BE(28), ed: inner.subarray(32, 64), x: inner.subarray(64, 96),
    signature: Buffer.from(inner.subarray(96, 160)), body: inner.subarray(160, 160 + length)
  }
  expect(inner.subarray(160 + length).every((b) => b === 0)).toBe(true)
  const zeroed = Buffer.from(inner)
  zeroed.fill(0, 96, 160)
  const e = Buffer.from(envelope)
  const signed = Buffer.concat([Buffer.from('komrade/v1/post/signature'), e.subarray(0, 5), e.subarray(13, 37), e.subarray(69, 85), zeroed])
  expect(signed.length).toBe(2017)
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), fields.ed])
  const valid = verify(null, signed, createPublicKey({ key: spki, format: 'der', type: 'spki' }), fields.signature)
  return { ...fields, valid }
}

describe('SPEC §14 from its text', () => {
  const alice = createIdentity(crypto)

  it('§14.1-§14.3: world key, tag, message key, inner plaintext and signature of every part', () => {
    const key = hmac('komrade/v1/world', NETWORK)
    expect(Buffer.from(worldKey(crypto, NETWORK)).equals(key)).toBe(true)
    const payload = Buffer.alloc(1787 * 2 + 10, 0x5a)
    const sealed = sealWorldPost(crypto, { author: alice, worldKey: key, kind: KIND_PROFILE, payload, ttlMinutes: 90, now: NOW })
    expect(sealed.envelopes).toHaveLength(3)
    const bodies: Buffer[] = []
    sealed.envelopes.forEach((envelope, i) => {
      const e = Buffer.from(envelope)
      expect(e.length).toBe(2048)
      expect(e[0]).toBe(1)
      expect(e.readUInt32BE(1)).toBe(Math.floor(NOW / 60_000) + 90)
      const salt = e.subarray(13, 37)
      expect(e.subarray(69, 85).equals(hmac(key, [0x01], salt).subarray(0, 16))).toBe(true)
      const inner = readSignedInner(envelope, openWith(hmac(key, [0x02], salt), envelope))
      expect(inner).toMatchObject({ kind: 0x21, flags: 0, timestamp: NOW, partIndex: i, partCount: 3, valid: true })
      expect(inner.messageId.equals(Buffer.from(sealed.messageId))).toBe(true)
      expect(inner.ed.toString('hex')).toBe(identityId(alice))
      expect(inner.x.equals(Buffer.from(alice.sealingKey))).toBe(true)
      expect(inner.body.length).toBe(i < 2 ? 1787 : 10)
      bodies.push(Buffer.from(inner.body))
    })
    expect(Buffer.concat(bodies).equals(payload)).toBe(true)
  })

  it('§14.4: circle steps are HMAC(CK, 0x01)[0..16], HMAC(CK, 0x02), HMAC(CK, 0x03), and the handoff is 53 bytes', () => {
    const chain = newCircleChain(crypto)
    let ck: Buffer = Buffer.from(chain.chainKey)
    const circleId = Buffer.from(chain.circleId)
    const handoff = Buffer.from(circleHandoff(chain))
    expect(handoff.length).toBe(53)
    expect(handoff[0]).toBe(1)
    expect(handoff.subarray(1, 17).equals(circleId)).toBe(true)
    expect(handoff.readUInt32BE(17)).toBe(0)
    expect(handoff.subarray(21, 53).equals(ck)).toBe(true)
    for (let n = 0; n < 3; n++) {
      const envelope = sealCirclePost(crypto, { author: alice, chain, kind: KIND_POST, payload: encodePost({ text: `post ${n}` }), ttlMinutes: 5, now: NOW }).envelopes[0]!
      expect(Buffer.from(envelope.subarray(69, 85)).equals(hmac(ck, [0x01]).subarray(0, 16))).toBe(true)
      const inner = readSignedInner(envelope, openWith(hmac(ck, [0x02]), envelope))
      expect(inner).toMatchObject({ kind: 0x20, partCount: 1, valid: true })
      ck = hmac(ck, [0x03])
    }
    expect(Buffer.from(circleHandoff(chain)).readUInt32BE(17)).toBe(3)
    expect(Buffer.from(circleHandoff(chain)).subarray(21, 53).equals(ck)).toBe(true)
  })

  it('§14.6: the post layout byte by byte', () => {
    const text = 'Grüße 😀'
    const bytes = Buffer.from(encodePost({ text, certificate: Buffer.from([7, 7]), image: { mime: 'image/webp', bytes: Buffer.from([1, 2, 3]) } }))
    const utf8 = Buffer.from(text, 'utf8')
    const expected = Buffer.concat([
      Buffer.from([1, 1, 0, 2, 7, 7]), Buffer.from([utf8.length >> 8, utf8.length & 0xff]), utf8,
      Buffer.from([10]), Buffer.from('image/webp', 'ascii'), Buffer.from([0, 0, 0, 3, 1, 2, 3])
    ])
    expect(bytes.toString('hex')).toBe(expected.toString('hex'))
  })
})
