/**
 * The shapes of the local control API, shared by the server, the typed
 * client, the CLI and the web UI. JSON only: ids are strings (hex), times
 * are unix milliseconds, message bodies are UTF-8 text. No Node imports:
 * the browser bundle imports this file.
 */
import type { ApiCollectivesEvent } from './collectives-types.js'

export type * from './collectives-types.js'

/** Version of this API; `GET /api/status` reports it. */
export const API_VERSION = 1

/** Delivery state of a sent message: working (proof of work) -> queued/sent -> delivered. */
export type ApiDeliveryState = 'working' | 'queued' | 'sent' | 'delivered'

/** The envelope store's counters. */
export interface ApiStoreStats {
  readonly count: number
  readonly bytes: number
  readonly quotaBytes: number
  readonly evicted: number
  readonly pruned: number
  readonly lastError?: string
}

/** The name registry as this node sees it (when an Operator is configured). */
export interface ApiRegistryStatus {
  /** Hex public identity of the pinned Operator. */
  readonly operator: string
  readonly head?: { readonly size: number, readonly timestamp: number, readonly root: string }
  /** Pieces of split-view evidence kept: anything above 0 means the Operator showed two logs. */
  readonly splitViews: number
}

/** `GET /api/status`: the node's status. */
export interface ApiStatus {
  readonly apiVersion: typeof API_VERSION
  readonly running: boolean
  /** Contact id of this node's identity (hex Ed25519 key). */
  readonly id: string
  readonly fingerprint: string
  readonly peerId: string
  readonly addresses: string[]
  /** Connected peers. */
  readonly peers: number
  /** Peers in the gossip mesh. */
  readonly meshPeers: number
  readonly store: ApiStoreStats
  /** Envelopes waiting for, or in, proof of work. */
  readonly workPending: number
  readonly lastSync?: { readonly peer: string, readonly at: number, readonly received: number, readonly sent: number }
  readonly registry?: ApiRegistryStatus
  /** This node's registered name, if it has one. */
  readonly name?: string
}

/** `GET /api/identity`: who this node is, and what to hand to others. */
export interface ApiIdentity {
  readonly id: string
  readonly fingerprint: string
  /** Hex public identity (128 hex characters). */
  readonly publicIdentity: string
  readonly name?: string
  /** Invite code (`KOMRADE1-…`): keys, name and addresses. */
  readonly invite: string
}

/** A verified name (`POST /api/register`, `GET /api/names/:name`). */
export interface ApiNameRecord {
  readonly name: string
  /** Hex public identity the name is bound to. */
  readonly identity: string
  readonly fingerprint: string
  /** Index of the entry in the Operator's log. */
  readonly index: number
  readonly registeredAt: number
  /** Hex of the Operator's certificate. */
  readonly certificate: string
  /** True when the Operator could not be reached and the node answered from its cache. */
  readonly fromCache: boolean
}

/** A contact. */
export interface ApiContact {
  /** Contact id: hex Ed25519 key (64 hex characters). */
  readonly id: string
  /** Hex public identity (128 hex characters). */
  readonly identity: string
  readonly fingerprint: string
  /** Pairwise sessions held with this contact (0 until the first message). */
  readonly sessions: number
  /** The registered name the registry confirmed for these keys. */
  readonly name?: string
}

/** `GET /api/contacts/:id`: a contact and what to compare out of band. */
export interface ApiContactDetail extends ApiContact {
  /**
   * Both fingerprints, ours and theirs, in sorted order and joined by " / ":
   * the same string on both sides, so two people can read it to each other.
   */
  readonly safetyNumber: string
}

/** A received message. */
export interface ApiReceivedMessage {
  readonly id: string
  /** Contact id of the sender. */
  readonly from: string
  /** Hex public identity of the sender (pass it to `send` to answer a stranger). */
  readonly fromIdentity: string
  readonly kind: number
  readonly text: string
  /** The sender's clock. */
  readonly sentAt: number
  /** Our clock. */
  readonly receivedAt: number
}

/** A message we sent and its delivery state. */
export interface ApiSentMessage {
  readonly id: string
  /** Contact id of the recipient. */
  readonly to: string
  readonly state: ApiDeliveryState
  readonly createdAt: number
  readonly deliveredAt?: number
  readonly text: string
}

/** One message of a conversation (`GET /api/messages?with=`). */
export interface ApiConversationMessage {
  readonly id: string
  readonly direction: 'in' | 'out'
  readonly text: string
  /** When it was received (in) or written (out), our clock. */
  readonly at: number
  /** Delivery state of an outgoing message. */
  readonly state?: ApiDeliveryState
  readonly deliveredAt?: number
}

/** `POST /api/session/code`: a one-time sign-in link for the web UI. */
export interface ApiLoginLink {
  readonly code: string
  /** `http://127.0.0.1:PORT/#login=CODE` */
  readonly url: string
}

/** Body of `POST /api/messages`. */
export interface ApiSendRequest {
  /** A registered name, a contact id (64 hex) or a hex public identity (128 hex). */
  readonly to: string
  readonly text: string
}

/** Who reads a post or a profile: every node of the network, or the author's trusted circle. */
export type ApiAudience = 'world' | 'circle'

/** Which feed: `world` (posts to the world, ours included) or `home` (circle posts of those who trust us, and our own posts). */
export type ApiFeedName = 'world' | 'home'

/** What the API tells of an image: its bytes are fetched from its own route (`GET /api/posts/:id/image`, `GET /api/profiles/:author/avatar`). */
export interface ApiImageInfo {
  /** `image/jpeg`, `image/png`, `image/webp` or `image/gif`. */
  readonly mime: string
  /** Bytes. */
  readonly size: number
}

/** A post as a feed shows it (`GET /api/feed/:feed`, `GET /api/posts/:id`, the `post` event). */
export interface ApiPost {
  /** Opaque post id, 96 hex characters (the 16-byte message id, then the author's 32-byte id). */
  readonly id: string
  /** Author's contact id (hex Ed25519 key). */
  readonly author: string
  /** Author's hex public identity (128 hex). */
  readonly authorIdentity: string
  /** The author's registered name, checked under the pinned Operator key. */
  readonly authorName?: string
  readonly audience: ApiAudience
  /** Up to 1,000 characters (may be empty when there is an image). */
  readonly text: string
  /** True when the post carries an image: `GET /api/posts/:id/image` gives it. */
  readonly hasImage: boolean
  readonly image?: ApiImageInfo
  /** Author's clock, unix ms. */
  readonly sentAt: number
  /** Our clock, when the last part arrived. */
  readonly receivedAt: number
  /** When the post leaves every store. */
  readonly expiresAt: number
  /** True for this node's own posts. */
  readonly mine: boolean
  /** The coarse place the author gave (SPEC §14.6); absent when they gave none. */
  readonly location?: ApiPostLocation
}

/** A post's coarse place: the geohash it carries and its cell's centre. The author was somewhere in the cell. */
export interface ApiPostLocation {
  /** 1 to 6 geohash characters. */
  readonly geohash: string
  /** The cell's centre, degrees: what a "within R km" filter measures from. */
  readonly lat: number
  readonly lon: number
  /** The cell's larger half-extent, km: the area is about 2 × errKm across. */
  readonly errKm: number
}

/** A point to post from (`POST /api/posts`): the node cuts it to a geohash of `precision` characters before sealing. */
export interface ApiPostLocationInput {
  readonly lat: number
  readonly lon: number
  /** Geohash characters, 1 to 6. @default 5 (about 5 km) */
  readonly precision?: number
}

/** One page of a feed, newest first. */
export interface ApiFeedPage {
  readonly posts: ApiPost[]
  /** Pass as `before` for the next, older page; absent on the last page. */
  readonly next?: string
}

/** An image in a request body: its type and its bytes as base64. */
export interface ApiImageUpload {
  readonly mime: string
  /** The bytes, standard base64 (RFC 4648 §4, padded). */
  readonly data: string
}

/** Body of `POST /api/posts`. */
export interface ApiPostRequest {
  /** Up to 1,000 characters; at least one of text and image. */
  readonly text?: string
  /** Up to 256 KiB (262,144 bytes) once decoded. */
  readonly image?: ApiImageUpload
  /** @default 'world' */
  readonly audience?: ApiAudience
  /** Lifetime in whole days, 1 to 7. @default 2 */
  readonly days?: number
  /** Lifetime in minutes (1 to 10,080) instead of days. */
  readonly ttlMinutes?: number
  /** A coarse place, sealed inside the post as a geohash. */
  readonly location?: ApiPostLocationInput
}

/** A profile, ours or another's (`GET /api/profile`, `GET /api/profiles`, the `profile` event). */
export interface ApiProfile {
  /** Contact id of its owner. */
  readonly author: string
  readonly authorIdentity: string
  /** Registered name, when a certificate came with it. */
  readonly authorName?: string
  /** Up to 64 characters, chosen by its owner: not verified by anyone. */
  readonly displayName: string
  /** Up to 500 characters. */
  readonly bio: string
  /** True when there is an avatar: `GET /api/profiles/:author/avatar` gives it. */
  readonly hasAvatar: boolean
  readonly avatar?: ApiImageInfo
  readonly audience: ApiAudience
  /** Author's clock when it was set. */
  readonly updatedAt: number
}

/** Body of `PUT /api/profile`. */
export interface ApiProfileRequest {
  /** 1 to 64 characters, at most 255 bytes of UTF-8. */
  readonly displayName: string
  /** Up to 500 characters. @default '' (a profile is published whole: a bio left out is not kept) */
  readonly bio?: string
  /** Up to 32 KiB (32,768 bytes) once decoded. */
  readonly avatar?: ApiImageUpload
  /** @default 'world' */
  readonly audience?: ApiAudience
}

/** A member of this node's trusted circle (`GET /api/circle`). */
export interface ApiCircleMember {
  /** Contact id. */
  readonly id: string
  readonly identity: string
  readonly name?: string
  /** When they were added, unix ms. */
  readonly addedAt: number
}

/** What the WebSocket `/api/events` sends, one JSON object per frame. `hello` comes first. */
export type ApiEvent =
  | { readonly type: 'hello', readonly status: ApiStatus }
  | { readonly type: 'message', readonly message: ApiReceivedMessage }
  | { readonly type: 'outbox', readonly message: ApiSentMessage }
  | { readonly type: 'peers', readonly peers: number, readonly meshPeers: number }
  | { readonly type: 'sync', readonly peer: string, readonly phase: 'start' | 'done' | 'failed', readonly received?: number, readonly sent?: number }
  | { readonly type: 'work', readonly op: 'register', readonly trials: number, readonly expected: number }
  | { readonly type: 'key-change', readonly name: string, readonly previous: string, readonly current: string, readonly index: number }
  | { readonly type: 'split-view', readonly kind: 'same-size' | 'inconsistent', readonly heads: readonly [string, string], readonly detectedAt: number }
  | { readonly type: 'post', readonly post: ApiPost }
  | { readonly type: 'profile', readonly profile: ApiProfile }
  | ApiCollectivesEvent

/** The error body every failed request answers with. */
export interface ApiErrorBody {
  readonly error: { readonly code: string, readonly message: string, readonly details?: unknown }
}

/** `<dataDir>/api.json`: where a running daemon's API listens. */
export interface ApiEndpointFile {
  readonly url: string
  readonly pid: number
}
