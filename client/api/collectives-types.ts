/**
 * The shapes of the collectives' routes (DESIGN §7, SPEC §15): groups that
 * grow by vouching and govern themselves by vote, anonymous votes on group
 * posts, events and map pins. They mirror node/collectives/types.ts as JSON
 * (ids hex, times unix ms) and are declared here again, not imported: the
 * browser bundle imports this file, and node/ is Node code. No Node imports.
 */
import type { ApiImageInfo, ApiImageUpload } from './types.js'

/** How many vouches admit a candidate: a fixed number, or a percentage of the members with a floor. */
export type ApiConstitution =
  | { readonly type: 'fixed', readonly n: number }
  | { readonly type: 'growing', readonly percent: number, readonly min: number }

/** A group named in another shape. */
export interface ApiGroupRef {
  /** Group id: hex of the group's Ed25519 key (64 characters). */
  readonly id: string
  /** Registered name, without `@`. */
  readonly name: string
}

/** A group as `GET /api/groups` lists it. */
export interface ApiGroupInfo extends ApiGroupRef {
  /** `member`, `pending` (asked to join, waiting for the welcome) or `former` (left or removed). */
  readonly membership: 'member' | 'pending' | 'former'
  readonly memberCount: number
  readonly constitution: ApiConstitution
  /** Vouches a candidate needs now. */
  readonly quorum: number
  /** Key epoch: +1 at each rekey. */
  readonly epoch: number
  readonly openProposals: number
  readonly candidateCount: number
  /** Join requests we received and did not vouch for yet. */
  readonly pendingRequests: number
  readonly founder: boolean
}

/** A member of a group. */
export interface ApiGroupMember {
  readonly id: string
  readonly identity: string
  /** The contact name we know them by, if any. */
  readonly name?: string
  readonly voteKey: string
  readonly since: string
  readonly me: boolean
}

/** A candidate with vouches short of the quorum. */
export interface ApiGroupCandidate {
  readonly id: string
  readonly identity: string
  readonly name?: string
  readonly vouchers: readonly string[]
  readonly note: string
  readonly requestedAt: number
}

/** A governance proposal: passes on a strict majority of the electorate as it was when proposed. */
export interface ApiProposal {
  /** 64 hex characters. */
  readonly id: string
  readonly kind: 'amend' | 'remove'
  readonly constitution?: ApiConstitution
  /** For `remove`: the member id. */
  readonly target?: string
  readonly reason: string
  readonly proposer: string
  readonly status: 'open' | 'passed' | 'rejected'
  readonly yes: number
  readonly no: number
  readonly electorate: number
  readonly myVote?: 'yes' | 'no'
  readonly proposedAt: number
}

/** `GET /api/groups/:group`: the folded state of the group's log. */
export interface ApiGroupView extends ApiGroupInfo {
  readonly members: readonly ApiGroupMember[]
  readonly candidates: readonly ApiGroupCandidate[]
  /** Newest first. */
  readonly proposals: readonly ApiProposal[]
  readonly rekeyPending?: number
  readonly opCount: number
  readonly ignoredOps: number
}

/** A join request we received (`GET /api/groups/:group/requests`). */
export interface ApiJoinRequest {
  readonly group: ApiGroupRef
  readonly candidate: string
  readonly candidateIdentity: string
  readonly candidateName?: string
  readonly note: string
  readonly requestedAt: number
  readonly receivedAt: number
  readonly vouched: boolean
}

/** The anonymous votes on a group post. */
export interface ApiVoteTally {
  readonly up: number
  readonly down: number
  /** Key images that voted both ways: they count for neither. */
  readonly doubleVoters: readonly string[]
  readonly mine?: 'up' | 'down'
}

/** A group post (`GET /api/groups/:group/feed`, the `group-post` event). */
export interface ApiGroupPost {
  /** 96 hex characters, as world posts. */
  readonly id: string
  readonly author: string
  readonly authorIdentity: string
  readonly authorName?: string
  readonly audience: 'group'
  readonly group: ApiGroupRef
  readonly text: string
  readonly hasImage: boolean
  readonly image?: ApiImageInfo
  /** Geohash of a coarse place (1 to 6 characters). */
  readonly location?: string
  readonly votes: ApiVoteTally
  readonly sentAt: number
  readonly receivedAt: number
  readonly expiresAt: number
  readonly mine: boolean
}

/** One page of a group feed, newest first. */
export interface ApiGroupFeedPage {
  readonly posts: ApiGroupPost[]
  readonly next?: string
}

/** A place given as a geohash, or as a point (cut to `precision` geohash characters by the node). */
export type ApiLocationInput = string | { readonly lat: number, readonly lon: number, readonly precision?: number }

/** Body of `POST /api/groups/:group/posts`. */
export interface ApiGroupPostRequest {
  readonly text?: string
  readonly image?: ApiImageUpload
  /** A coarse place: geohash of 1 to 6 characters, or a point (precision 1 to 6). */
  readonly location?: ApiLocationInput
  readonly days?: number
  readonly ttlMinutes?: number
}

/** A place decoded from a geohash: its cell centre. */
export interface ApiLocation {
  readonly geohash: string
  readonly lat: number
  readonly lon: number
  readonly latErrKm?: number
}

/** An answer to an event, as its host sees it. */
export interface ApiRsvp {
  readonly eventId: string
  readonly responder: string
  readonly responderName?: string
  readonly choice: ApiRsvpChoice
  readonly note: string
  readonly answeredAt: number
  readonly receivedAt: number
}

/** Answer to an event. */
export type ApiRsvpChoice = 'going' | 'maybe' | 'not-going'

/** Who an event is for. */
export type ApiEventAudience = 'world' | { readonly group: string } | { readonly contacts: readonly string[] }

/** An event (`GET /api/events`, the `event` event). */
export interface ApiEventInfo {
  /** 32 hex characters. */
  readonly id: string
  readonly revision: number
  readonly title: string
  readonly startsAt: number
  readonly endsAt?: number
  readonly place: string
  readonly description: string
  readonly location?: ApiLocation
  readonly cancelled: boolean
  /** Absent for an anonymous host. */
  readonly host?: { readonly id: string, readonly name?: string }
  readonly audience: 'world' | 'invited' | { readonly group: string } | { readonly contacts: readonly string[] }
  readonly mine: boolean
  readonly myRsvp?: ApiRsvpChoice
  /** For our own events only. */
  readonly rsvps?: readonly ApiRsvp[]
  readonly updatedAt: number
}

/** Body of `POST /api/events`. */
export interface ApiEventRequest {
  /** 1 to 100 characters. */
  readonly title: string
  /** Unix ms. */
  readonly startsAt: number
  readonly endsAt?: number
  /** Up to 200 characters. */
  readonly place?: string
  /** Up to 2,000 characters. */
  readonly description?: string
  /** Geohash of up to 9 characters, or a point. */
  readonly location?: ApiLocationInput
  readonly audience: ApiEventAudience
  readonly anonymous?: boolean
}

/** Body of `PATCH /api/events/:id`: the fields to change. */
export type ApiEventChanges = Partial<Pick<ApiEventRequest, 'title' | 'startsAt' | 'endsAt' | 'place' | 'description' | 'location'>>

/** The kinds of pin. */
export type ApiPinKind = 'police' | 'danger' | 'help' | 'info' | 'other'

/** Every pin kind, in the order forms offer them. */
export const PIN_KINDS: readonly ApiPinKind[] = ['police', 'danger', 'help', 'info', 'other']

/** A map pin (`GET /api/pins`, the `pin` event). */
export interface ApiPin {
  readonly id: string
  readonly kind: ApiPinKind
  /** Up to 280 characters, from whoever placed it. */
  readonly note: string
  readonly geohash: string
  /** The geohash cell's centre. */
  readonly lat: number
  readonly lon: number
  /** Half the cell's height, km. */
  readonly latErrKm?: number
  readonly expiresAt: number
  readonly sentAt: number
  readonly audience: 'world' | { readonly group: string }
  /** Absent for an anonymous pin. */
  readonly author?: { readonly id: string, readonly name?: string }
  readonly mine: boolean
  /** From the `near` point of the query, km. */
  readonly distanceKm?: number
}

/** Body of `POST /api/pins`. */
export interface ApiPinRequest {
  readonly kind: ApiPinKind
  /** Up to 280 characters. */
  readonly note: string
  readonly lat: number
  readonly lon: number
  /** Geohash characters, 1 to 9. @default 7 (about 150 m) */
  readonly precision?: number
  /** 10 to 10,080. @default 360 */
  readonly ttlMinutes?: number
  readonly audience: 'world' | { readonly group: string }
  readonly anonymous?: boolean
}

/** The collectives' WebSocket events (no image bytes). */
export type ApiCollectivesEvent =
  | { readonly type: 'group', readonly group: ApiGroupInfo }
  | { readonly type: 'group-post', readonly post: ApiGroupPost }
  | { readonly type: 'vote', readonly group: ApiGroupRef, readonly postId: string, readonly tally: ApiVoteTally }
  | { readonly type: 'event', readonly event: ApiEventInfo }
  | { readonly type: 'rsvp', readonly rsvp: ApiRsvp }
  | { readonly type: 'pin', readonly pin: ApiPin }
