/**
 * The portable reference provider: pure JavaScript from @noble. Runs anywhere
 * (browsers included); about 15x slower than native X25519.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { bytesToNumberLE } from '@noble/curves/utils.js'
import { assertBytes, assertInteger, concatBytes } from './bytes.js'
import type { CryptoProvider } from './crypto-provider.js'

const ED25519_ORDER = ed25519.Point.Fn.ORDER

/**
 * Ed25519 verification as OpenSSL (our native provider) does it: canonical
 * encodings, S < L, small-order A and R refused, and the cofactorless
 * equation [S]B = R + [k]A. noble's own verify checks the cofactored
 * equation, which accepts signatures OpenSSL refuses: nodes on different
 * providers would then disagree on what is valid (vectors in
 * test/vectors/primitives.json, ed25519-speccheck cases 2, 4, 5).
 */
function verifyLikeOpenSSL (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  try {
    const A = ed25519.Point.fromBytes(publicKey, false)
    const rBytes = signature.subarray(0, 32)
    const R = ed25519.Point.fromBytes(rBytes, false)
    if (A.isSmallOrder() || R.isSmallOrder()) return false
    const s = bytesToNumberLE(signature.subarray(32, 64))
    if (s >= ED25519_ORDER) return false
    const k = bytesToNumberLE(sha512(concatBytes(rBytes, publicKey, message))) % ED25519_ORDER
    return ed25519.Point.BASE.multiplyUnsafe(s).equals(R.add(A.multiplyUnsafe(k)))
  } catch {
    return false // not a point
  }
}

function assertAeadKeys (key: Uint8Array, nonce: Uint8Array): void {
  assertBytes(key, 'key', 32)
  assertBytes(nonce, 'nonce', 12)
}

function isAllZero (bytes: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i] as number
  return acc === 0
}

/** Creates the pure-JavaScript provider. */
export function nobleCrypto (): CryptoProvider {
  return {
    name: 'noble',
    randomBytes: (length) => randomBytes(length),
    sha256: (data) => sha256(data),
    hmacSha256: (key, data) => hmac(sha256, key, data),
    hkdfSha256 (ikm, salt, info, length) {
      assertInteger(length, 'length', 1, 255 * 32)
      return hkdf(sha256, ikm, salt, info, length)
    },
    x25519KeyPair () {
      const secretKey = randomBytes(32)
      return { secretKey, publicKey: x25519.getPublicKey(secretKey) }
    },
    x25519PublicKey: (secretKey) => x25519.getPublicKey(secretKey),
    x25519 (secretKey, publicKey) {
      try {
        const shared = x25519.getSharedSecret(secretKey, publicKey)
        return isAllZero(shared) ? undefined : shared
      } catch {
        return undefined // noble refuses low-order points; same meaning
      }
    },
    ed25519PublicKey: (seed) => ed25519.getPublicKey(seed),
    ed25519Sign: (seed, message) => ed25519.sign(message, seed),
    ed25519Verify: verifyLikeOpenSSL,
    aeadSeal (key, nonce, plaintext, aad) {
      assertAeadKeys(key, nonce)
      return chacha20poly1305(key, nonce, aad).encrypt(plaintext)
    },
    aeadOpen (key, nonce, sealed, aad) {
      assertAeadKeys(key, nonce)
      try {
        return chacha20poly1305(key, nonce, aad).decrypt(sealed)
      } catch {
        return undefined
      }
    }
  }
}
