/**
 * `komrade`: the embeddable node. Start one with {@link createKomradeNode};
 * it keeps its identity, envelopes and messages in a data directory.
 */
export {
  createKomradeNode, type KomradeNode, type KomradeNodeInit, type ReceivedMessage, type SentMessage,
  type Contact, type NodeStatus, type KeyChange, type NameRecord, type SplitViewEvidence, type SyncProgress, type PeerCounts
} from './komrade-node.js'
export type { CoverTrafficInit, CoverStatus } from './cover-traffic.js'
export { NodeNotRunningError } from './errors.js'
export { createLogger, silentLogger, type Logger, type LoggerInit, type LogLevel } from './logger.js'
export { resolveConfig, nodeInitOf, ConfigError, type DaemonConfig } from './config.js'
export { resolveDataDir } from './data-dir.js'
export { DataDirLockedError } from './store/data-lock.js'
export { StoreWriteError } from './store/envelope-store.js'
export { IdentityExistsError, NoIdentityError } from './identity-file.js'
export { TorControlUnreachableError, TorControlAuthError, TorTooOldError, TorControlError } from './tor/tor-control.js'
export { OnionKeyError } from './tor/onion-service.js'
export { TorNotRunningError, SocksRefusedError, OnionUnreachableError, SocksUnreachableError } from './tor/errors.js'
export {
  NameNotFoundError, RegistryUnavailableError, RegistryRejectedError, RegistryVerificationError, NoOperatorError
} from './registry/errors.js'
export type { OperatorConfig, RegistryStatus } from './registry/node-registry.js'
export type { HeadOutcome } from './registry/tree-heads.js'
export { BadNameError, RegistryErrorCode, KIND_MESSAGE, KIND_REGISTRY_REQUEST, KIND_REGISTRY_RESPONSE } from '../protocol/index.js'
export type {
  SocialApi, Post, PostInput, PostImage, PostLocation, PostLocationInput, FeedPage, FeedName, Audience, Profile, ProfileInput, CircleMember
} from './social/types.js'
export { NoNameError, NoWorldFeedError, NotACircleMemberError } from './social/errors.js'
export { KIND_POST, KIND_PROFILE, KIND_CIRCLE_KEY } from '../protocol/index.js'
