/**
 * The shapes of the local control API, shared by the server, the typed
 * client, the CLI and the web UI. JSON only: ids are strings (hex), times
 * are unix milliseconds, message bodies are UTF-8 text. No Node imports:
 * the browser bundle imports this file.
 */

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

/** The error body every failed request answers with. */
export interface ApiErrorBody {
  readonly error: { readonly code: string, readonly message: string, readonly details?: unknown }
}

/** `<dataDir>/api.json`: where a running daemon's API listens. */
export interface ApiEndpointFile {
  readonly url: string
  readonly pid: number
}
