/**
 * A CryptoProvider for test vectors: every "random" byte comes from a seeded
 * stream, so the same seed gives the same keys, salts, ephemerals, message ids
 * and proof-of-work start nonces, hence byte-identical envelopes.
 *
 * Stream: block i = SHA-256(seed || u32be(i)), i = 0, 1, ...; randomBytes(n)
 * takes the next n bytes of the concatenated blocks. x25519KeyPair draws its
 * 32-byte secret from the stream; every other primitive is the wrapped
 * provider's. NEVER use this outside tests: the output is predictable.
 */
import type { CryptoProvider } from '../../protocol/index.js'

/** Wraps `inner` so that its randomness is the deterministic stream of `seed`. */
export function deterministicCrypto (inner: CryptoProvider, seed: Uint8Array | string): CryptoProvider {
  const seedBytes = typeof seed === 'string' ? new TextEncoder().encode(seed) : Uint8Array.from(seed)
  const input = new Uint8Array(seedBytes.length + 4)
  input.set(seedBytes, 0)
  const counterView = new DataView(input.buffer, seedBytes.length, 4)
  let counter = 0
  let block = new Uint8Array(0)
  let used = 0

  function randomBytes (length: number): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`"length" expected a non-negative integer, got ${length}`)
    const out = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      if (used === block.length) {
        if (counter > 0xffff_ffff) throw new RangeError('deterministic stream exhausted')
        counterView.setUint32(0, counter)
        counter += 1
        block = inner.sha256(input).slice()
        used = 0
      }
      const take = Math.min(length - filled, block.length - used)
      out.set(block.subarray(used, used + take), filled)
      used += take
      filled += take
    }
    return out
  }

  return {
    name: `deterministic(${inner.name})`,
    randomBytes,
    sha256: (data) => inner.sha256(data),
    hmacSha256: (key, data) => inner.hmacSha256(key, data),
    hkdfSha256: (ikm, salt, info, length) => inner.hkdfSha256(ikm, salt, info, length),
    x25519KeyPair () {
      const secretKey = randomBytes(32)
      return { secretKey, publicKey: inner.x25519PublicKey(secretKey) }
    },
    x25519PublicKey: (secretKey) => inner.x25519PublicKey(secretKey),
    x25519: (secretKey, publicKey) => inner.x25519(secretKey, publicKey),
    ed25519PublicKey: (seed) => inner.ed25519PublicKey(seed),
    ed25519Sign: (seed, message) => inner.ed25519Sign(seed, message),
    ed25519Verify: (publicKey, message, signature) => inner.ed25519Verify(publicKey, message, signature),
    aeadSeal: (key, nonce, plaintext, aad) => inner.aeadSeal(key, nonce, plaintext, aad),
    aeadOpen: (key, nonce, sealed, aad) => inner.aeadOpen(key, nonce, sealed, aad)
  }
}
