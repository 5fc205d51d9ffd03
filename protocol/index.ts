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
export {
  voteKeyPair, signRing, verifyRing, ringKeyImage, isRingPublicKey, RING_POINT_LENGTH, RING_SCALAR_LENGTH,
  type RingSignature, type SignRingInit, type VoteKeyPair
} from './ring-signature.js'
export {
  createVote, decodeVote, verifyVote, tallyVotes, voteKeyImage, voteScope, voteBodyLength, VOTE_POST_ID_LENGTH,
  type DecodedVote, type CreateVoteInit, type VoteChoice, type VoteTally
} from './vote.js'
export {
  encodeGeohash, decodeGeohash, isGeohash, distanceKm, withinKm, geohashErrorKm, GEOHASH_ALPHABET, MAX_GEOHASH_LENGTH,
  EARTH_MEAN_RADIUS_KM, type LatLon, type GeohashCell
} from './geohash.js'
export { encodePin, decodePin, PIN_KINDS, MAX_PIN_PAYLOAD_LENGTH, type PinKind, type PinPayload } from './pin-payload.js'
export {
  encodeEvent, decodeEvent, EVENT_ID_LENGTH, MAX_EVENT_TITLE_BYTES, MAX_EVENT_PAYLOAD_LENGTH, type EventPayload
} from './event-payload.js'
export {
  sealRsvp, openRsvp, rsvpEventId, RSVP_CHOICES, RSVP_LABEL, MAX_RSVP_LENGTH, type Rsvp, type RsvpChoice, type SealRsvpInit
} from './rsvp.js'
export { VoteFormatError, VoteRingTooSmallError, VoteNotAdmittedError, type VoteFormatReason } from './errors.js'
// Collectives plumbing (groups-node): channels of signed post envelopes, salted channels, group chains in screening.
export { CHANNEL_KINDS, SIGNED_POST_KINDS, channelAllows, type PostChannel } from './signed-post.js'
export { sealChannelPost, openMatchedChannelEnvelope } from './world.js'
export type {
  ChannelOwner, SaltedChannel, GroupRings, SaltedChannels, GroupScreenResult, ChannelScreenResult, TaggedScreenResult
} from './screen.js'
// Groups (SPEC §15.1-§15.7): keys, wire formats and the fold of a group's log.
export {
  newEpochSecret, memberChainHandoff, memberSendChain, anonymousChannelKey, rekeyCheck, EPOCH_SECRET_LENGTH
} from './group-keys.js'
export {
  createJoinRequest, decodeJoinRequest, createFoundOp, createGroupOp, createRekeyOp, openRekeyEntry, decodeGroupOp,
  isVerifiedGroupOp, encodeWelcome, decodeWelcome, checkConstitution, encodeConstitution, quorumOf, DEFAULT_CONSTITUTION,
  MAX_JOIN_REQUEST_LENGTH, MAX_GROUP_OP_LENGTH, MAX_GROUP_OP_BODY_LENGTH,
  type Constitution, type JoinRequest, type JoinRequestOptions, type GroupOp, type GroupOpType, type GroupOpInput, type FoundOp,
  type VouchOp, type ProposeOp, type VoteOp, type RekeyOp, type RekeyEntry, type LeaveOp, type Welcome, type FoundOpOptions,
  type GroupOpOptions, type RekeyOpOptions
} from './group-ops.js'
export {
  foldGroup, openRekeySecret, openWelcome, groupStateToJSON, MAX_LAMPORT_STEP,
  type GroupState, type GroupMember, type GroupCandidate, type GroupProposal, type GroupOpRejection, type FoldOptions,
  type WelcomeExpectation, type OpenedWelcome
} from './group-state.js'
export { GroupFormatError, type GroupFormatReason } from './errors.js'
// Groups, causal ops (review fixes): the next op's parents and lamport, and the fold's bounds.
export { opHeads, MAX_PENDING_PER_AUTHOR } from './group-state.js'
export { MAX_OP_PARENTS, MAX_WELCOME_OPS } from './group-ops.js'
export { eventChannelKey } from './event-payload.js'
