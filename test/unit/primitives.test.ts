/**
 * Published test vectors (test/vectors/primitives.json) for every primitive a
 * CryptoProvider wraps, run against both providers, plus a randomized
 * cross-check that native (OpenSSL) and noble give byte-identical results.
 *
 * Expected values come only from the JSON (RFCs, FIPS, Wycheproof,
 * ed25519-speccheck); nothing here is computed by our own code. Ed25519
 * verification must agree exactly between providers (strict, cofactorless, as
 * OpenSSL does): a signature valid on one node and invalid on another would
 * split the network.
 */
import { describe, it, expect } from 'vitest'
import vectors from '../vectors/primitives.json' with { type: 'json' }
import { nativeCrypto, nobleCrypto, toHex, fromHex, type CryptoProvider } from '../../protocol/index.js'

const native = nativeCrypto()
const noble = nobleCrypto()
const providers: Array<[string, CryptoProvider]> = [[native.name, native], [noble.name, noble]]

function repeated (hex: string, times: number): Uint8Array {
  const unit = fromHex(hex)
  const out = new Uint8Array(unit.length * times)
  for (let i = 0; i < times; i++) out.set(unit, i * unit.length)
  return out
}

describe.each(providers)('%s provider: published vectors', (name, crypto) => {
  describe('SHA-256', () => {
    it.each(vectors.sha256)('$source', (v) => {
      expect(toHex(crypto.sha256(repeated(v.inputHex, v.repeat)))).toBe(v.digestHex)
    })
  })

  describe('HMAC-SHA-256', () => {
    it.each(vectors.hmacSha256)('$source', (v) => {
      expect(toHex(crypto.hmacSha256(fromHex(v.keyHex), fromHex(v.dataHex)))).toBe(v.macHex)
    })
  })

  describe('HKDF-SHA-256', () => {
    it.each(vectors.hkdfSha256)('$source', (v) => {
      const okm = crypto.hkdfSha256(fromHex(v.ikmHex), fromHex(v.saltHex), fromHex(v.infoHex), v.length)
      expect(toHex(okm)).toBe(v.okmHex)
    })
  })

  describe('X25519', () => {
    it.each(vectors.x25519.publicKey)('public key: $source', (v) => {
      expect(toHex(crypto.x25519PublicKey(fromHex(v.secretKeyHex)))).toBe(v.publicKeyHex)
    })

    it.each(vectors.x25519.sharedSecret)('shared secret: $source', (v) => {
      const shared = crypto.x25519(fromHex(v.secretKeyHex), fromHex(v.publicKeyHex))
      expect(shared).toBeInstanceOf(Uint8Array)
      expect(toHex(shared!)).toBe(v.sharedHex)
    })

    it.each(vectors.x25519.iterated)('$source', (v) => {
      let k = fromHex(v.startHex)
      let u = fromHex(v.startHex)
      for (let i = 0; i < v.iterations; i++) {
        const next = crypto.x25519(k, u)
        expect(next).toBeInstanceOf(Uint8Array)
        u = k
        k = next!
      }
      expect(toHex(k)).toBe(v.resultHex)
    })

    it.each(vectors.x25519.lowOrder)('low-order public key gives undefined: $source', (v) => {
      expect(crypto.x25519(fromHex(v.secretKeyHex), fromHex(v.publicKeyHex))).toBeUndefined()
    })
  })

  describe('ChaCha20-Poly1305', () => {
    it.each(vectors.chacha20Poly1305.valid)('seal and open: $source', (v) => {
      const key = fromHex(v.keyHex)
      const nonce = fromHex(v.nonceHex)
      const aad = fromHex(v.aadHex)
      const sealed = crypto.aeadSeal(key, nonce, fromHex(v.plaintextHex), aad)
      expect(toHex(sealed)).toBe(v.ciphertextHex + v.tagHex)
      const opened = crypto.aeadOpen(key, nonce, fromHex(v.ciphertextHex + v.tagHex), aad)
      expect(opened).toBeInstanceOf(Uint8Array)
      expect(toHex(opened!)).toBe(v.plaintextHex)
    })

    it.each(vectors.chacha20Poly1305.invalid)('open rejects: $source', (v) => {
      const opened = crypto.aeadOpen(fromHex(v.keyHex), fromHex(v.nonceHex), fromHex(v.sealedHex), fromHex(v.aadHex))
      expect(opened).toBeUndefined()
    })
  })

  describe('Ed25519', () => {
    it.each(vectors.ed25519.sign)('public key, signature, verify: $source', (v) => {
      const seed = fromHex(v.seedHex)
      const message = fromHex(v.messageHex)
      expect(toHex(crypto.ed25519PublicKey(seed))).toBe(v.publicKeyHex)
      expect(toHex(crypto.ed25519Sign(seed, message))).toBe(v.signatureHex)
      expect(crypto.ed25519Verify(fromHex(v.publicKeyHex), message, fromHex(v.signatureHex))).toBe(true)
    })

    for (const v of vectors.ed25519.verify) {
      it(`verify is ${String(v.valid)}: ${v.source}`, () => {
        expect(crypto.ed25519Verify(fromHex(v.publicKeyHex), fromHex(v.messageHex), fromHex(v.signatureHex))).toBe(v.valid)
      })
    }
  })
})

describe('native and noble agree on random inputs', () => {
  const ROUNDS = 200
  const rand = (max: number): number => Math.floor(Math.random() * (max + 1))
  const bytes = (length: number): Uint8Array => native.randomBytes(length)
  const hexOrUndefined = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : toHex(b)

  it('SHA-256, HMAC-SHA-256 and HKDF-SHA-256', () => {
    for (let i = 0; i < ROUNDS; i++) {
      const key = bytes(rand(200))
      const data = bytes(rand(300))
      const salt = bytes(rand(80))
      const info = bytes(rand(80))
      const length = 1 + rand(32 * 12)
      const inputs = `key=${toHex(key)} data=${toHex(data)} salt=${toHex(salt)} info=${toHex(info)} length=${length}`
      expect(toHex(noble.sha256(data)), inputs).toBe(toHex(native.sha256(data)))
      expect(toHex(noble.hmacSha256(key, data)), inputs).toBe(toHex(native.hmacSha256(key, data)))
      expect(toHex(noble.hkdfSha256(data, salt, info, length)), inputs).toBe(toHex(native.hkdfSha256(data, salt, info, length)))
    }
  })

  it('X25519 public keys and shared secrets (random secrets, random and real peer keys)', () => {
    for (let i = 0; i < ROUNDS; i++) {
      const secret = bytes(32)
      const peerSecret = bytes(32)
      const randomPeer = bytes(32) // any 32 bytes: curve, twist or non-canonical u
      const inputs = `secret=${toHex(secret)} peerSecret=${toHex(peerSecret)} randomPeer=${toHex(randomPeer)}`
      const publicKey = toHex(native.x25519PublicKey(secret))
      expect(toHex(noble.x25519PublicKey(secret)), inputs).toBe(publicKey)
      const peer = noble.x25519PublicKey(peerSecret)
      const shared = hexOrUndefined(native.x25519(secret, peer))
      expect(shared, inputs).toBeDefined()
      expect(hexOrUndefined(noble.x25519(secret, peer)), inputs).toBe(shared)
      expect(hexOrUndefined(noble.x25519(peerSecret, fromHex(publicKey))), inputs).toBe(shared)
      expect(hexOrUndefined(noble.x25519(secret, randomPeer)), inputs).toBe(hexOrUndefined(native.x25519(secret, randomPeer)))
    }
  })

  it('Ed25519 public keys, signatures and verification', () => {
    for (let i = 0; i < ROUNDS; i++) {
      const seed = bytes(32)
      const message = bytes(rand(300))
      const inputs = `seed=${toHex(seed)} message=${toHex(message)}`
      const publicKey = native.ed25519PublicKey(seed)
      expect(toHex(noble.ed25519PublicKey(seed)), inputs).toBe(toHex(publicKey))
      const signature = native.ed25519Sign(seed, message)
      expect(toHex(noble.ed25519Sign(seed, message)), inputs).toBe(toHex(signature))
      expect(noble.ed25519Verify(publicKey, message, signature), inputs).toBe(true)
      expect(native.ed25519Verify(publicKey, message, signature), inputs).toBe(true)
      const tampered = Uint8Array.from(signature)
      tampered[rand(63)]! ^= 1 << rand(7)
      expect(noble.ed25519Verify(publicKey, message, tampered), inputs).toBe(false)
      expect(native.ed25519Verify(publicKey, message, tampered), inputs).toBe(false)
    }
  })

  it('ChaCha20-Poly1305 seal, and open of each other\'s output', () => {
    for (let i = 0; i < ROUNDS; i++) {
      const key = bytes(32)
      const nonce = bytes(12)
      const plaintext = bytes(rand(300))
      const aad = bytes(rand(64))
      const inputs = `key=${toHex(key)} nonce=${toHex(nonce)} plaintext=${toHex(plaintext)} aad=${toHex(aad)}`
      const sealed = native.aeadSeal(key, nonce, plaintext, aad)
      expect(toHex(noble.aeadSeal(key, nonce, plaintext, aad)), inputs).toBe(toHex(sealed))
      expect(hexOrUndefined(noble.aeadOpen(key, nonce, sealed, aad)), inputs).toBe(toHex(plaintext))
      expect(hexOrUndefined(native.aeadOpen(key, nonce, sealed, aad)), inputs).toBe(toHex(plaintext))
      const tampered = Uint8Array.from(sealed)
      tampered[rand(sealed.length - 1)]! ^= 1 << rand(7)
      expect(noble.aeadOpen(key, nonce, tampered, aad), inputs).toBeUndefined()
      expect(native.aeadOpen(key, nonce, tampered, aad), inputs).toBeUndefined()
    }
  })
})

describe('providers read secrets at the time of use', () => {
  it.each(providers)('%s: a secret changed in place (wiped, reused) is not served from a cache', (_name, crypto) => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
    const first = toHex(crypto.x25519PublicKey(secret))
    const firstEd = toHex(crypto.ed25519PublicKey(secret))
    secret.set(Uint8Array.from({ length: 32 }, (_, i) => 100 + i))
    expect(toHex(crypto.x25519PublicKey(secret))).not.toBe(first)
    expect(toHex(crypto.x25519PublicKey(secret))).toBe(toHex(noble.x25519PublicKey(secret.slice())))
    expect(toHex(crypto.ed25519PublicKey(secret))).not.toBe(firstEd)
  })

  it.each(providers)('%s: wrong key or nonce sizes are a RangeError, not a silent failure', (_name, crypto) => {
    expect(() => crypto.aeadOpen(new Uint8Array(32), new Uint8Array(24), new Uint8Array(32), new Uint8Array(0))).toThrow(RangeError)
    expect(() => crypto.aeadSeal(new Uint8Array(16), new Uint8Array(12), new Uint8Array(1), new Uint8Array(0))).toThrow(RangeError)
    expect(() => crypto.hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 0)).toThrow(RangeError)
  })
})
