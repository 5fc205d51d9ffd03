/**
 * Identities: an Ed25519 key that signs and an X25519 key that seals. The
 * public half travels as 64 bytes (signing key, then sealing key); the secret
 * half is stored as 65 bytes (format byte, signing seed, sealing secret).
 */
import { assertBytes, concatBytes, toHex, utf8 } from './bytes.js'
import type { CryptoProvider } from './crypto-provider.js'
import { KeyFormatError } from './errors.js'

/** The public keys that name a person on the network. */
export interface PublicIdentity {
  /** Ed25519 public key (32 bytes): signs first-contact envelopes and registry records. */
  readonly signingKey: Uint8Array
  /** X25519 public key (32 bytes): strangers seal first-contact envelopes to it. */
  readonly sealingKey: Uint8Array
}

/** A local identity: the public keys and their secrets. Keep it out of logs. */
export interface Identity extends PublicIdentity {
  /** Ed25519 seed (32 bytes). */
  readonly signingSeed: Uint8Array
  /** X25519 secret (32 bytes). */
  readonly sealingSecret: Uint8Array
}

/** Length of an encoded public identity. */
export const PUBLIC_IDENTITY_LENGTH = 64
/** A public identity as text: its 64 bytes (signing key || sealing key) in hex, 128 characters, either case. */
export const PUBLIC_IDENTITY_HEX_PATTERN = /^[0-9a-fA-F]{128}$/
/** Length of an encoded secret identity. */
export const SECRET_IDENTITY_LENGTH = 65
const SECRET_IDENTITY_FORMAT = 0x01
const FINGERPRINT_LABEL = utf8('komrade/v1/fingerprint')
/** Bytes of hash shown in a fingerprint: 120 bits, 24 base32 characters. */
const FINGERPRINT_BYTES = 15
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** Creates a new identity from fresh randomness. */
export function createIdentity (crypto: CryptoProvider): Identity {
  return identityFromSecrets(crypto, crypto.randomBytes(32), crypto.randomBytes(32))
}

/** Rebuilds an identity from its two 32-byte secrets. */
export function identityFromSecrets (crypto: CryptoProvider, signingSeed: Uint8Array, sealingSecret: Uint8Array): Identity {
  assertBytes(signingSeed, 'signingSeed', 32)
  assertBytes(sealingSecret, 'sealingSecret', 32)
  return {
    signingSeed,
    sealingSecret,
    signingKey: crypto.ed25519PublicKey(signingSeed),
    sealingKey: crypto.x25519PublicKey(sealingSecret)
  }
}

/** The public half of an identity, without its secrets. */
export function publicIdentityOf (identity: PublicIdentity): PublicIdentity {
  return { signingKey: identity.signingKey, sealingKey: identity.sealingKey }
}

/** 64 bytes: Ed25519 public key, then X25519 public key. */
export function encodePublicIdentity (identity: PublicIdentity): Uint8Array {
  return concatBytes(identity.signingKey, identity.sealingKey)
}

/** Inverse of {@link encodePublicIdentity}; throws KeyFormatError on a wrong length. */
export function decodePublicIdentity (bytes: Uint8Array): PublicIdentity {
  assertBytes(bytes, 'publicIdentity')
  if (bytes.length !== PUBLIC_IDENTITY_LENGTH) {
    throw new KeyFormatError(`A public identity is ${PUBLIC_IDENTITY_LENGTH} bytes, got ${bytes.length}`)
  }
  return { signingKey: bytes.slice(0, 32), sealingKey: bytes.slice(32, 64) }
}

/** 65 bytes: format 0x01, Ed25519 seed, X25519 secret. Encrypting it at rest is the node's job. */
export function encodeIdentity (identity: Identity): Uint8Array {
  return concatBytes(Uint8Array.of(SECRET_IDENTITY_FORMAT), identity.signingSeed, identity.sealingSecret)
}

/** Inverse of {@link encodeIdentity}; throws KeyFormatError on anything else. */
export function decodeIdentity (crypto: CryptoProvider, bytes: Uint8Array): Identity {
  assertBytes(bytes, 'identity')
  if (bytes.length !== SECRET_IDENTITY_LENGTH || bytes[0] !== SECRET_IDENTITY_FORMAT) {
    throw new KeyFormatError(`A secret identity is ${SECRET_IDENTITY_LENGTH} bytes starting with 0x01`)
  }
  return identityFromSecrets(crypto, bytes.slice(1, 33), bytes.slice(33, 65))
}

/**
 * A stable id for a public identity: the hex of its Ed25519 key. Used as the
 * contact id everywhere.
 */
export function identityId (identity: PublicIdentity): string {
  return toHex(identity.signingKey)
}

/**
 * Short human fingerprint for comparing keys out of band: the first 120 bits
 * of SHA-256("komrade/v1/fingerprint" || signing key || sealing key) in
 * lowercase RFC 4648 base32, as six groups of four, e.g. `q3vm 7hxk ...`.
 */
export function fingerprint (crypto: CryptoProvider, identity: PublicIdentity): string {
  const digest = crypto.sha256(concatBytes(FINGERPRINT_LABEL, identity.signingKey, identity.sealingKey))
  const text = base32(digest.subarray(0, FINGERPRINT_BYTES))
  return text.match(/.{4}/g)!.join(' ')
}

function base32 (bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31]!
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31]!
  return out
}
