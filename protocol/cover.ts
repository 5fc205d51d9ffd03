/**
 * Cover envelopes (SPEC §4.5): random salt, tag and body, a fresh ephemeral
 * key like every other envelope, and (once solved) valid proof of work. They
 * open for nobody and look like everything else.
 */
import { SALT_LENGTH, SEALED_BODY_LENGTH, TAG_LENGTH } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { envelopeWithHeader, freshEphemeral, setSealedBody } from './envelope.js'

/** Builds a cover envelope expiring at `expiryMinute` (proof of work still to do). */
export function sealCover (crypto: CryptoProvider, expiryMinute: number): Uint8Array {
  const ephemeral = freshEphemeral(crypto)
  const envelope = envelopeWithHeader({
    expiryMinute,
    salt: crypto.randomBytes(SALT_LENGTH),
    ephemeral: ephemeral.wire,
    tag: crypto.randomBytes(TAG_LENGTH)
  })
  setSealedBody(envelope, crypto.randomBytes(SEALED_BODY_LENGTH))
  ephemeral.secretKey.fill(0) // nobody will ever answer a cover envelope
  return envelope
}
