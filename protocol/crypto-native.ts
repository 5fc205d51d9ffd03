/**
 * The hot-path provider: `node:crypto` (OpenSSL). Node.js only. Raw keys are
 * wrapped in DER so OpenSSL can use them; private keys are cached per secret
 * buffer because screening reuses the same identity key for every envelope.
 */
import {
  createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, createSecretKey,
  diffieHellman, hash, hkdfSync, randomBytes, sign, verify, type KeyObject
} from 'node:crypto'
import { assertBytes, assertInteger, equalBytes } from './bytes.js'
import type { CryptoProvider } from './crypto-provider.js'

// DER prefixes of PKCS#8 private and SPKI public keys (RFC 8410) for raw 32-byte keys.
const X25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const X25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])
const ED25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
const RAW_KEY_OFFSET = 12 // SPKI prefix length; the raw public key follows it

function der (prefix: Uint8Array, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + key.length)
  out.set(prefix, 0)
  out.set(key, prefix.length)
  return out
}

// A string (PEM) input skips the isKeyObject/isCryptoKey probes of Node 24's
// prepareAsymmetricKey, which throw and catch two errors for every options object.
const PEM_HEAD = '-----BEGIN PUBLIC KEY-----\n'
const PEM_TAIL = '\n-----END PUBLIC KEY-----\n'
function publicKeyObject (prefix: Uint8Array, key: Uint8Array): KeyObject {
  return createPublicKey(PEM_HEAD + der(prefix, key).toString('base64') + PEM_TAIL)
}

// Same for secret keys: a KeyObject from createSecretKey() (which takes the buffer-only path) skips the probes.
function secret (key: Uint8Array): KeyObject | Uint8Array {
  return key.length === 0 ? key : createSecretKey(key)
}

function view (bytes: Uint8Array): Uint8Array {
  // node:crypto returns Buffers; hand callers plain Uint8Arrays over the same memory.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

interface CachedKey {
  /** The bytes the key object was built from: a buffer changed in place (wiped) must not reuse it. */
  readonly bytes: Uint8Array
  readonly key: KeyObject
}

/**
 * Private KeyObjects cached per secret buffer: screening uses the same
 * identity key for every envelope, and building a KeyObject costs about as
 * much as the X25519 itself. The entry dies with the buffer.
 */
function privateKeyCache (prefix: Uint8Array): (secret: Uint8Array) => KeyObject {
  const cache = new WeakMap<Uint8Array, CachedKey>()
  return (secret) => {
    assertBytes(secret, 'secretKey', 32)
    const cached = cache.get(secret)
    if (cached !== undefined && equalBytes(cached.bytes, secret)) return cached.key
    const key = createPrivateKey({ key: der(prefix, secret), format: 'der', type: 'pkcs8' })
    cache.set(secret, { bytes: Uint8Array.from(secret), key })
    return key
  }
}

function assertAeadKeys (key: Uint8Array, nonce: Uint8Array): void {
  assertBytes(key, 'key', 32)
  assertBytes(nonce, 'nonce', 12)
}

/** Creates the `node:crypto` provider. */
export function nativeCrypto (): CryptoProvider {
  const x25519Private = privateKeyCache(X25519_PKCS8_PREFIX)
  const ed25519Private = privateKeyCache(ED25519_PKCS8_PREFIX)

  function x25519PublicKey (secretKey: Uint8Array): Uint8Array {
    const spki = createPublicKey(x25519Private(secretKey)).export({ format: 'der', type: 'spki' })
    return Uint8Array.from(spki.subarray(RAW_KEY_OFFSET))
  }

  return {
    name: 'native',
    randomBytes: (length) => view(randomBytes(length)),
    sha256: (data) => view(hash('sha256', data, 'buffer')),
    hmacSha256: (key, data) => view(createHmac('sha256', secret(key)).update(data).digest()),
    hkdfSha256 (ikm, salt, info, length) {
      assertInteger(length, 'length', 1, 255 * 32)
      return new Uint8Array(hkdfSync('sha256', secret(ikm), salt, info, length))
    },
    x25519KeyPair () {
      const secretKey = view(randomBytes(32))
      return { secretKey, publicKey: x25519PublicKey(secretKey) }
    },
    x25519PublicKey,
    x25519 (secretKey, publicKey) {
      try {
        const peer = publicKeyObject(X25519_SPKI_PREFIX, publicKey)
        return view(diffieHellman({ privateKey: x25519Private(secretKey), publicKey: peer }))
      } catch {
        return undefined // OpenSSL refuses an all-zero shared secret (low-order point)
      }
    },
    ed25519PublicKey (seed) {
      const spki = createPublicKey(ed25519Private(seed)).export({ format: 'der', type: 'spki' })
      return Uint8Array.from(spki.subarray(RAW_KEY_OFFSET))
    },
    ed25519Sign: (seed, message) => view(sign(null, message, ed25519Private(seed))),
    ed25519Verify (publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false
      try {
        const key = publicKeyObject(ED25519_SPKI_PREFIX, publicKey)
        return verify(null, message, key, signature)
      } catch {
        return false
      }
    },
    aeadSeal (key, nonce, plaintext, aad) {
      assertAeadKeys(key, nonce)
      const cipher = createCipheriv('chacha20-poly1305', secret(key), nonce, { authTagLength: 16 })
      cipher.setAAD(aad, { plaintextLength: plaintext.length })
      const body = cipher.update(plaintext)
      cipher.final()
      const out = new Uint8Array(body.length + 16)
      out.set(body, 0)
      out.set(cipher.getAuthTag(), body.length)
      return out
    },
    aeadOpen (key, nonce, sealed, aad) {
      assertAeadKeys(key, nonce)
      if (sealed.length < 16) return undefined
      const decipher = createDecipheriv('chacha20-poly1305', secret(key), nonce, { authTagLength: 16 })
      decipher.setAAD(aad, { plaintextLength: sealed.length - 16 })
      decipher.setAuthTag(sealed.subarray(sealed.length - 16))
      const body = decipher.update(sealed.subarray(0, sealed.length - 16))
      try {
        decipher.final()
      } catch {
        return undefined
      }
      return view(body)
    }
  }
}
