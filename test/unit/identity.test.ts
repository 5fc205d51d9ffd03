/** Identities: serialisation both ways, typed errors, fingerprints. */
import { describe, expect, it } from 'vitest'
import {
  createIdentity, decodeIdentity, decodePublicIdentity, encodeIdentity, encodePublicIdentity, fingerprint,
  identityId, nativeCrypto, nobleCrypto, SECRET_IDENTITY_LENGTH
} from '../../protocol/index.js'

const native = nativeCrypto()
const noble = nobleCrypto()

describe('identity', () => {
  it('round-trips secret and public encodings, and both providers derive the same public keys', () => {
    const identity = createIdentity(native)
    const secret = encodeIdentity(identity)
    expect(secret).toHaveLength(SECRET_IDENTITY_LENGTH)
    const again = decodeIdentity(noble, secret)
    expect(again.signingKey).toEqual(identity.signingKey)
    expect(again.sealingKey).toEqual(identity.sealingKey)
    expect(decodePublicIdentity(encodePublicIdentity(identity))).toEqual({ signingKey: identity.signingKey, sealingKey: identity.sealingKey })
    expect(identityId(identity)).toMatch(/^[0-9a-f]{64}$/)
  })

  it('refuses malformed encodings with KeyFormatError', () => {
    const secret = encodeIdentity(createIdentity(native))
    const wrongFormat = secret.slice()
    wrongFormat[0] = 2
    for (const bad of [secret.subarray(1), wrongFormat]) {
      expect(() => decodeIdentity(native, bad)).toThrow(expect.objectContaining({ name: 'KeyFormatError' }))
    }
    expect(() => decodePublicIdentity(new Uint8Array(63))).toThrow(expect.objectContaining({ name: 'KeyFormatError' }))
    expect(() => decodeIdentity(native, 'secret' as unknown as Uint8Array)).toThrow(TypeError)
  })

  it('gives a 24-character base32 fingerprint that changes with either key', () => {
    const identity = createIdentity(native)
    const print = fingerprint(native, identity)
    expect(print).toMatch(/^[a-z2-7]{4}( [a-z2-7]{4}){5}$/)
    expect(fingerprint(noble, identity)).toBe(print)
    const other = createIdentity(native)
    expect(fingerprint(native, { signingKey: identity.signingKey, sealingKey: other.sealingKey })).not.toBe(print)
    expect(fingerprint(native, { signingKey: other.signingKey, sealingKey: identity.sealingKey })).not.toBe(print)
  })
})
