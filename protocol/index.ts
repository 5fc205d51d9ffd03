/**
 * `komrade/protocol`: the pure protocol layer. Envelope v1, sealing and
 * opening, sessions, proof of work, screening; the name registry's records,
 * Merkle proofs, wire frames and invite codes. No I/O; `nativeCrypto` is the
 * only part that needs Node.js (it wraps `node:crypto`).
 *
 * The normative description is SPEC.md beside this file.
 */
export * from './constants.js'
export {
  KomradeProtocolError, EnvelopeFormatError, MessageTooLargeError, KeyFormatError, NoSessionError, AbortError,
  PostFormatError, type PostFormatReason
} from './errors.js'
export { toHex, fromHex } from './bytes.js'
export type { CryptoProvider } from './crypto-provider.js'
export { nativeCrypto } from './crypto-native.js'
export { nobleCrypto } from './crypto-noble.js'
export {
  createIdentity, identityFromSecrets, publicIdentityOf, encodePublicIdentity, decodePublicIdentity,
  encodeIdentity, decodeIdentity, identityId, fingerprint, PUBLIC_IDENTITY_LENGTH, PUBLIC_IDENTITY_HEX_PATTERN, SECRET_IDENTITY_LENGTH,
  type Identity, type PublicIdentity
} from './identity.js'
export {
  checkEnvelope, assertEnvelopeShape, envelopeExpiryMinute, envelopeId, envelopeFields, expiryFor,
  type EnvelopeRejection, type EnvelopeVerdict, type CheckEnvelopeOptions, type EnvelopeFields
} from './envelope.js'
export {
  requiredTrials, workTarget, workValue, hasEnoughWork, solveWork, solveWorkAsync, minuteOf, type SolveWorkOptions
} from './work.js'
export { encodeInner, decodeInner, bodyCapacity, type InnerMessage, type SenderBlock } from './inner.js'
export type { AcceptOffer, PendingHandshake } from './handshake.js'
export {
  createKeyring, type Keyring, type KeyringInit, type KeyringJSON, type OpenedEnvelope, type SealOptions,
  type SealedPayload, type ContactSummary
} from './keyring.js'
export {
  createScreener, type Screener, type ScreenerInit, type ScreenResult, type CircleScreenResult, type WorldScreenResult,
  type AnyScreenResult
} from './screen.js'
export { sealCover } from './cover.js'
export { splitPayload, createReassembler, type Reassembler, type ReassemblerInit } from './parts.js'
export { encodeReceipt, decodeReceipt, MAX_RECEIPT_IDS } from './receipts.js'
export {
  MERKLE_HASH_LENGTH, merkleLeafHash, merkleNodeHash, merkleRoot, createMerkleTree, verifyInclusion, verifyConsistency,
  type MerkleTree
} from './merkle.js'
export { normalizeName, normalizeNameSyntax, RESERVED_NAMES, BadNameError, type BadNameReason } from './names.js'
export { RegistryErrorCode, RegistryFormatError, isRegistryErrorCode, registryErrorName } from './registry-errors.js'
export {
  decodeRegistrationRequest, createRegistration, createRotation, hasRegistrationWork, registrationWorkValue, checkRegistrationRequest,
  verifyRequestSignature, verifyRotationSignature, type RegistrationRequest, type RegistrationOptions, type RequestVerdict
} from './registration.js'
export {
  encodeLogEntry, decodeLogEntry, signCertificate, decodeCertificate, verifyCertificate, signTreeHead, decodeTreeHead,
  verifyTreeHead, type LogEntry, type Certificate, type TreeHead
} from './registry-records.js'
export {
  registryProtocol, encodeError, encodeInfoResponse, decodeInfoResponse, encodeRegisterResponse, decodeRegisterResponse,
  encodeLookupRequest, decodeLookupRequest, encodeLookupResponse, decodeLookupResponse, encodeConsistencyRequest,
  decodeConsistencyRequest, encodeProofResponse, decodeProofResponse, encodeEntriesRequest, decodeEntriesRequest,
  encodeEntriesResponse, decodeEntriesResponse,
  type RegistryOp, type RegistryResponse, type InfoResult, type ProvenEntry, type LookupResult
} from './registry-wire.js'
export { encodeInvite, decodeInvite, isInviteCode, type Invite } from './invite.js'
export {
  encodePost, decodePost, encodeProfile, decodeProfile, encodeCircleKey, decodeCircleKey, codePointLength,
  type PostImageMime, type PostImageData, type PostPayload, type ProfilePayload, type CircleKeyPayload
} from './post-payload.js'
export {
  POST_SIGNATURE_LABEL, isPostKind, postSignedBytes, type OpenedPost, type SealedPost, type SealPostOptions
} from './signed-post.js'
export {
  worldKey, worldTag, isWorldEnvelope, sealWorldPost, openWorldEnvelope, createWorldTagMatcher
} from './world.js'
export {
  newCircleChain, circleHandoff, sealCirclePost, circleChainToJSON, circleChainFromJSON, createCircleRing,
  type CircleChain, type CircleChainJSON, type OpenedCirclePost, type CircleRing, type CircleRingInit, type CircleRingJSON
} from './circle.js'
export type { ReceiveChainJSON } from './session.js'
