/**
 * The portable reference provider: pure JavaScript from @noble. Runs anywhere
 * (browsers included); about 15x slower than native X25519.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import type { CryptoProvider } from './crypto-provider.js'

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
    hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
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
    ed25519Verify (publicKey, message, signature) {
      try {
        // Strict RFC 8032 (canonical encodings, cofactorless), as OpenSSL verifies.
        return ed25519.verify(signature, message, publicKey, { zip215: false })
      } catch {
        return false
      }
    },
    aeadSeal: (key, nonce, plaintext, aad) => chacha20poly1305(key, nonce, aad).encrypt(plaintext),
    aeadOpen (key, nonce, sealed, aad) {
      try {
        return chacha20poly1305(key, nonce, aad).decrypt(sealed)
      } catch {
        return undefined
      }
    }
  }
}
