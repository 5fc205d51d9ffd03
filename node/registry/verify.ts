/**
 * What a node checks in every answer of the Operator before it uses it
 * (SPEC §13.8). These checks need nothing but the pinned Operator key; the
 * checks against what the node saw before (consistency of heads, key
 * changes) are in tree-heads.ts and name-service.ts.
 *
 * An entry that passed gets the branded type {@link VerifiedEntry}, so
 * unverified data cannot reach the cache or the contacts by mistake.
 */
import {
  decodeTreeHead, encodePublicIdentity, merkleLeafHash, toHex, verifyCertificate, verifyInclusion, verifyRequestSignature,
  verifyRotationSignature, verifyTreeHead, type Certificate, type CryptoProvider, type ProvenEntry, type PublicIdentity, type TreeHead
} from '../../protocol/index.js'
import { RegistryVerificationError } from './errors.js'

declare const verifiedBrand: unique symbol

/** A tree head whose signature verified under the pinned Operator key. */
export type VerifiedTreeHead = TreeHead & { readonly [verifiedBrand]: 'head' }

/**
 * A certificate signed by the Operator, for the name asked, whose request
 * the name's key signed, included in `head` (a verified head).
 */
export interface VerifiedEntry {
  readonly certificate: Certificate
  readonly head: VerifiedTreeHead
  readonly [verifiedBrand]: 'entry'
}

/** Checks a decoded head's signature; throws RegistryVerificationError. */
export function verifyHead (crypto: CryptoProvider, operatorKey: Uint8Array, head: TreeHead): VerifiedTreeHead {
  if (!verifyTreeHead(crypto, operatorKey, head)) {
    throw new RegistryVerificationError('A tree head is not signed by the pinned Operator key; the answer was not used')
  }
  return head as VerifiedTreeHead
}

/** Decodes and checks 113 bytes of a signed tree head; throws RegistryVerificationError. */
export function verifyHeadBytes (crypto: CryptoProvider, operatorKey: Uint8Array, bytes: Uint8Array): VerifiedTreeHead {
  let head: TreeHead
  try {
    head = decodeTreeHead(bytes)
  } catch (error) {
    throw new RegistryVerificationError(`A tree head is malformed: ${(error as Error).message}`, { cause: error })
  }
  return verifyHead(crypto, operatorKey, head)
}

/**
 * Checks a `register` or `lookup` answer: the head's signature, the
 * certificate's signature, the registrant's signature, that the certificate
 * names `name`, and that its entry is in the log the head commits to.
 * Throws RegistryVerificationError saying which check failed.
 */
export function verifyProvenEntry (crypto: CryptoProvider, operatorKey: Uint8Array, proven: ProvenEntry, name: string): VerifiedEntry {
  const head = verifyHead(crypto, operatorKey, proven.head)
  const { certificate } = proven
  const entry = certificate.entry
  if (!verifyCertificate(crypto, operatorKey, certificate)) {
    throw new RegistryVerificationError(`The certificate for "${name}" is not signed by the pinned Operator key; the answer was not used`)
  }
  if (entry.request.name !== name) {
    throw new RegistryVerificationError(`Asked for "${name}", the Operator answered with a certificate for "${entry.request.name}"; the answer was not used`)
  }
  // The registrant's own signature: the Operator checked it too, and we do not take its word.
  if (!verifyRequestSignature(crypto, entry.request)) {
    throw new RegistryVerificationError(`The certificate for "${name}" holds a request its key did not sign; the answer was not used`)
  }
  if (!verifyInclusion(crypto, merkleLeafHash(crypto, entry.bytes), entry.index, head.size, proven.inclusion, head.root)) {
    throw new RegistryVerificationError(`The certificate for "${name}" (entry ${entry.index}) is not proven to be in the log of ${head.size} entries; the answer was not used`)
  }
  return { certificate, head } as VerifiedEntry
}

/** The keys a certificate gives its name. */
export function entryIdentity (certificate: Certificate): PublicIdentity {
  return { signingKey: certificate.entry.request.signingKey, sealingKey: certificate.entry.request.sealingKey }
}

/** Hex public identity (128 hex characters) of a certificate's keys. */
export function entryIdentityHex (certificate: Certificate): string {
  return toHex(encodePublicIdentity(entryIdentity(certificate)))
}

/**
 * True when `next` is a rotation of its name signed by the key of `previous`,
 * whose index it names: one verified step of a name moving to new keys.
 */
export function isRotationOf (crypto: CryptoProvider, next: Certificate, previous: Certificate): boolean {
  const request = next.entry.request
  return request.type === 'rotate' &&
    request.name === previous.entry.request.name &&
    request.previousIndex === previous.entry.index &&
    previous.entry.index < next.entry.index &&
    verifyRotationSignature(crypto, request, previous.entry.request.signingKey)
}
