/**
 * The cryptographic primitives the protocol needs, behind one interface so the
 * hot path can use `node:crypto` (native, ~15x faster X25519) while the noble
 * implementation stays the portable reference. Both must give byte-identical
 * results on every vector (test/vectors/primitives.json).
 */
export interface CryptoProvider {
  /** Short name for logs and benchmarks: "native" or "noble". */
  readonly name: string
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array
  /** SHA-256 of `data`. */
  sha256(data: Uint8Array): Uint8Array
  /** HMAC-SHA-256 (RFC 2104). */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array
  /** HKDF-SHA-256 extract-then-expand (RFC 5869). */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array
  /** A fresh X25519 key pair (RFC 7748). */
  x25519KeyPair(): { secretKey: Uint8Array, publicKey: Uint8Array }
  /** The X25519 public key of a 32-byte secret. */
  x25519PublicKey(secretKey: Uint8Array): Uint8Array
  /**
   * X25519 shared secret, or `undefined` when the peer's key is a low-order
   * point (all-zero result). Never throws on a 32-byte input: hostile
   * envelopes reach this on the screening path.
   */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined
  /** The Ed25519 public key of a 32-byte seed (RFC 8032). */
  ed25519PublicKey(seed: Uint8Array): Uint8Array
  /** Ed25519 signature (64 bytes) of `message` with a 32-byte seed. */
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array
  /** Ed25519 verification; `false` for a well-formed but wrong signature or key. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  /** ChaCha20-Poly1305 (RFC 8439): ciphertext followed by the 16-byte tag. */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array
  /** ChaCha20-Poly1305 open; `undefined` when authentication fails. */
  aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined
}
