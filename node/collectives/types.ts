/**
 * The collectives' public shapes (SPEC §15): groups that admit members by
 * vouching and govern themselves by vote, anonymous votes on group posts,
 * events and map pins. The node implements them in node/collectives/; the
 * control API, the CLI and the web UI speak them.
 *
 * Every argument that names a group takes its name (`name` or `@name`) or
 * its group id (64 hex characters). Ids are lowercase hex throughout.
 */
import type { Post, PostImage } from '../social/types.js'

/**
 * How many vouches admit a candidate (SPEC §15.4): a fixed number, or a
 * percentage of the members with a floor. The quorum never exceeds the
 * member count, so a group can always grow.
 */
export type Constitution =
  | { readonly type: 'fixed', readonly n: number }
  | { readonly type: 'growing', readonly percent: number, readonly min: number }

/** A group named in another shape: its id and, when known, its registered name. */
export interface GroupRef {
  /** Group id: hex of the group's Ed25519 key (64 characters). */
  readonly id: string
  /** The group's registered name (without `@`). */
  readonly name: string
}

/** Where this node stands with a group. */
export type GroupMembership =
  /** We are a member: we hold the keys and read the group. */
  | 'member'
  /** We asked to join and wait for a welcome. */
  | 'pending'
  /** We were a member and left, or were removed: we read nothing posted since. */
  | 'former'

/** A group as lists show it. */
export interface GroupInfo extends GroupRef {
  readonly membership: GroupMembership
  /** Members in our folded view (0 while pending). */
  readonly memberCount: number
  readonly constitution: Constitution
  /** Vouches a candidate needs now. */
  readonly quorum: number
  /** Key epoch: 0 at founding, +1 at each rekey (after a removal or a leave). */
  readonly epoch: number
  /** Open proposals. */
  readonly openProposals: number
  /** Candidates with at least one vouch, not yet admitted. */
  readonly candidateCount: number
  /** Pending join requests we received for this group and did not vouch for yet. */
  readonly pendingRequests: number
  /** True when this node founded the group. */
  readonly founder: boolean
}

/** A member of a group. */
export interface GroupMember {
  /** Contact id (hex Ed25519 key). */
  readonly id: string
  /** Hex public identity (128 characters). */
  readonly identity: string
  /** A name we know them by (contact name), if any. */
  readonly name?: string
  /** Hex of their vote key (ristretto255, SPEC §15.8). */
  readonly voteKey: string
  /** Op id of the op that admitted them (the found op for the founder). */
  readonly since: string
  /** True for ourselves. */
  readonly me: boolean
}

/** A candidate some member vouched for, short of the quorum. */
export interface GroupCandidate {
  readonly id: string
  readonly identity: string
  readonly name?: string
  /** Member ids who vouched, in fold order. */
  readonly vouchers: readonly string[]
  /** The note of the join request. */
  readonly note: string
  /** Candidate's clock when it asked, unix ms. */
  readonly requestedAt: number
}

/** Choice on a governance proposal. */
export type ProposalChoice = 'yes' | 'no'

/** What a proposal asks: a new constitution, or the removal of a member. */
export type ProposalInput = { readonly amend: Constitution } | { readonly remove: string }

/** A governance proposal (SPEC §15.3): passes on a strict majority of the electorate as it was when proposed. */
export interface ProposalInfo {
  /** Proposal id: the op id of the propose op (64 hex characters). */
  readonly id: string
  readonly kind: 'amend' | 'remove'
  /** For `amend`: the proposed constitution. */
  readonly constitution?: Constitution
  /** For `remove`: the member id to remove. */
  readonly target?: string
  readonly reason: string
  /** Member id of the proposer (its proposal counts as its yes). */
  readonly proposer: string
  readonly status: 'open' | 'passed' | 'rejected'
  readonly yes: number
  readonly no: number
  /** Members entitled to vote, as snapshotted when proposed. */
  readonly electorate: number
  /** Our vote, when we voted (the proposer's is `yes`). */
  readonly myVote?: ProposalChoice
  /** Proposer's clock, unix ms. */
  readonly proposedAt: number
}

/** A group as `groups.get` shows it: the folded state of its log, for members; what we know, for others. */
export interface GroupView extends GroupInfo {
  readonly members: readonly GroupMember[]
  readonly candidates: readonly GroupCandidate[]
  /** Every proposal, newest first. */
  readonly proposals: readonly ProposalInfo[]
  /** Set while a removal or a leave waits for its rekey: the epoch the rekey will open. */
  readonly rekeyPending?: number
  /** Ops the node keeps of the log (at most 8,192): applied ones (at most 4,096) and those waiting for a missing parent. */
  readonly opCount: number
  /** Ops kept but without effect, with the reason the fold gave (forged, late, duplicate...). */
  readonly ignoredOps: number
}

/** A join request we received, to vouch for (or not). */
export interface JoinRequestInfo {
  readonly group: GroupRef
  /** Candidate's contact id. */
  readonly candidate: string
  /** Candidate's hex public identity. */
  readonly candidateIdentity: string
  /** The name we know the candidate by, if any. */
  readonly candidateName?: string
  readonly note: string
  /** Candidate's clock, unix ms. */
  readonly requestedAt: number
  /** Our clock, unix ms. */
  readonly receivedAt: number
  /** True once we published our vouch. */
  readonly vouched: boolean
}

/** Choice on a group post. */
export type PostVoteChoice = 'up' | 'down'

/** The anonymous votes on one group post (SPEC §15.8). */
export interface VoteTally {
  readonly up: number
  readonly down: number
  /** Key images that voted both ways: they count for neither. Anonymous: only the double vote is visible. */
  readonly doubleVoters: readonly string[]
  /** Our own vote, when we voted on this post from this node. */
  readonly mine?: PostVoteChoice
}

/** A place: a geohash (SPEC §15.7). Posts carry at most 6 characters, pins and events at most 9. */
export type LocationInput = string | { readonly lat: number, readonly lon: number, readonly precision?: number }

/** A group post as a group feed shows it. */
export interface GroupPost extends Omit<Post, 'audience' | 'location'> {
  readonly audience: 'group'
  readonly group: GroupRef
  /** Geohash of a coarse place (1 to 6 characters). */
  readonly location?: string
  readonly votes: VoteTally
}

/** What {@link GroupsApi.post} takes. */
export interface GroupPostInput {
  /** Up to 1,000 characters. At least one of text and image. */
  text?: string
  image?: PostImage
  /** A coarse place: a geohash of 1 to 6 characters, or a point (precision 1 to 6, @default 5). */
  location?: LocationInput
  /** Lifetime in whole days, 1 to 7. @default 2 */
  days?: number
  /** Lifetime in minutes (1 to 10,080) instead of days. */
  ttlMinutes?: number
}

/** One page of a group feed, newest first. */
export interface GroupFeedPage {
  readonly posts: GroupPost[]
  /** Pass as `before` for the next (older) page; absent on the last page. */
  readonly next?: string
}

/** Detail of the node's `vote` event: a post's tally changed. */
export interface VoteEvent {
  readonly group: GroupRef
  /** The post voted on (96 hex characters). */
  readonly postId: string
  readonly tally: VoteTally
}

/** Common call options. */
export interface CallOptions {
  signal?: AbortSignal
}

/**
 * The groups API of a node (`node.groups`). Events on the node: `group`
 * (detail: GroupInfo; membership, members, proposals or epoch changed) and
 * `group-post` (detail: GroupPost), `vote` (detail: VoteEvent).
 */
export interface GroupsApi {
  /**
   * Founds a group: makes the group's keys, registers `name` with them
   * (needs an Operator, like `register`), publishes the found op. We are its
   * first member. @default constitution `{ type: 'fixed', n: 1 }`
   */
  create(name: string, options?: CallOptions & { constitution?: Constitution }): Promise<GroupInfo>
  /**
   * Asks to join: sends a join request to `via`, a contact who is a member
   * (contact id, name or `@name`). The group is `pending` until a welcome
   * arrives from a member who vouched once the quorum is reached.
   */
  requestJoin(group: string, options: CallOptions & { via: string, note?: string }): Promise<GroupInfo>
  /** Join requests we received, for one group or all, not yet admitted. */
  requests(group?: string): Promise<JoinRequestInfo[]>
  /** Vouches for a candidate whose join request we received (contact id, name or hex identity). */
  vouch(group: string, candidate: string, options?: CallOptions): Promise<GroupView>
  /** Proposes an amendment or a removal; resolves with the proposal id. The proposal counts as our yes. */
  propose(group: string, proposal: ProposalInput, reason?: string, options?: CallOptions): Promise<string>
  /** Votes on an open proposal, once. */
  vote(group: string, proposalId: string, choice: ProposalChoice, options?: CallOptions): Promise<ProposalInfo>
  /** Leaves a group: the others rekey, we read nothing posted afterwards. */
  leave(group: string, options?: CallOptions): Promise<GroupInfo>
  /** Groups we are in, asked to join, or left. */
  list(): Promise<GroupInfo[]>
  /** One group's folded state, or undefined when unknown. */
  get(group: string): Promise<GroupView | undefined>
  /** Posts to a group; resolves once it is safely in the outbox. Needs membership. */
  post(group: string, input: GroupPostInput, options?: CallOptions): Promise<GroupPost>
  /** A page of a group's feed, newest first, each post with its tally. */
  feed(group: string, options?: { before?: string, limit?: number }): Promise<GroupFeedPage>
  /**
   * Votes anonymously on a group post (a ring signature over 16 to 25
   * vote keys of the group's current members: a ring key of someone who was
   * no member in this epoch does not count), once: the same choice
   * again returns the tally, the other choice throws AlreadyVotedError (it
   * would be a double vote, which every node counts for neither side).
   * Throws VoteRingTooSmallError while the group has fewer than 16 members,
   * UnknownGroupPostError for a post the feed does not hold.
   */
  votePost(group: string, postId: string, choice: PostVoteChoice, options?: CallOptions): Promise<VoteTally>
  /** The tally of a group post. */
  tally(group: string, postId: string): Promise<VoteTally>
  /** One post of a group's feed with its tally, or undefined when the node does not hold it (unknown, expired or evicted). */
  getPost(group: string, postId: string): Promise<GroupPost | undefined>
}

// Events (SPEC §15.9), implemented in node/collectives/events.ts.

/** Who an event is for. */
export type EventAudience = 'world' | { readonly group: string } | { readonly contacts: readonly string[] }

/** Answer to an event. */
export type RsvpChoice = 'going' | 'maybe' | 'not-going'

/** A point decoded from a geohash: its cell centre. */
export interface LocationInfo {
  readonly geohash: string
  readonly lat: number
  readonly lon: number
  /** Half the cell's height, km. */
  readonly latErrKm?: number
}

/** An answer, as its host sees it. */
export interface RsvpInfo {
  /** Event id (32 hex characters). */
  readonly eventId: string
  /** Responder's contact id. */
  readonly responder: string
  readonly responderName?: string
  readonly choice: RsvpChoice
  readonly note: string
  /** Responder's clock, unix ms (the latest per responder wins). */
  readonly answeredAt: number
  readonly receivedAt: number
}

/** An event, hosted by us or received. */
export interface EventInfo {
  /** Event id (16 bytes, 32 hex characters). */
  readonly id: string
  /** Higher revisions replace lower ones. */
  readonly revision: number
  readonly title: string
  /** Unix ms. */
  readonly startsAt: number
  readonly endsAt?: number
  readonly place: string
  readonly description: string
  readonly location?: LocationInfo
  readonly cancelled: boolean
  /** The host: absent for an anonymous host. */
  readonly host?: { readonly id: string, readonly name?: string }
  /** How it reached us (for our own events: who we published it to). */
  readonly audience: 'world' | { readonly group: string } | 'invited' | { readonly contacts: readonly string[] }
  readonly mine: boolean
  /** Our own answer, if any. */
  readonly myRsvp?: RsvpChoice
  /** The answers, for our own events only. */
  readonly rsvps?: readonly RsvpInfo[]
  /** Our clock when this revision arrived (or was made). */
  readonly updatedAt: number
}

/** What {@link EventsApi.host} takes. */
export interface EventInput {
  /** 1 to 100 characters. */
  title: string
  /** Unix ms. */
  startsAt: number
  endsAt?: number
  /** Up to 200 characters. */
  place?: string
  /** Up to 2,000 characters. */
  description?: string
  /** Up to 9 geohash characters. */
  location?: LocationInput
  audience: EventAudience
  /** Host with one-time keys, without our name. @default false */
  anonymous?: boolean
}

/** What {@link EventsApi.update} changes. */
export type EventChanges = Partial<Pick<EventInput, 'title' | 'startsAt' | 'endsAt' | 'place' | 'description' | 'location'>>

/** The events API of a node (`node.events`). Events on the node: `event` (detail: EventInfo), `rsvp` (detail: RsvpInfo, host only). */
export interface EventsApi {
  host(input: EventInput, options?: CallOptions): Promise<EventInfo>
  update(eventId: string, changes: EventChanges, options?: CallOptions): Promise<EventInfo>
  cancel(eventId: string, options?: CallOptions): Promise<EventInfo>
  /** Sends the event to contacts as pairwise invitations. */
  invite(eventId: string, contacts: readonly string[], options?: CallOptions): Promise<EventInfo>
  rsvp(eventId: string, choice: RsvpChoice, note?: string, options?: CallOptions): Promise<EventInfo>
  list(): Promise<EventInfo[]>
  /** One event; its answers for the host. */
  get(eventId: string): Promise<EventInfo | undefined>
}

// Map pins (SPEC §15.10), implemented in node/collectives/pins.ts.

export type PinKind = 'police' | 'danger' | 'help' | 'info' | 'other'

/** A map pin (DESIGN §7). */
export interface PinInfo {
  readonly id: string
  readonly kind: PinKind
  readonly note: string
  readonly geohash: string
  /** Cell centre. */
  readonly lat: number
  readonly lon: number
  readonly latErrKm?: number
  /** Unix ms. */
  readonly expiresAt: number
  readonly sentAt: number
  readonly audience: 'world' | { readonly group: string }
  /** Absent for an anonymous pin. */
  readonly author?: { readonly id: string, readonly name?: string }
  readonly mine: boolean
  /** From the `near` point of the query, km. */
  readonly distanceKm?: number
}

/** What {@link PinsApi.add} takes. */
export interface PinInput {
  kind: PinKind
  /** Up to 280 characters. */
  note: string
  lat: number
  lon: number
  /** Geohash characters, 1 to 9. @default 7 */
  precision?: number
  /** 10 to 10,080. @default 360 */
  ttlMinutes?: number
  audience: 'world' | { readonly group: string }
  /** @default false */
  anonymous?: boolean
}

/** The pins API of a node (`node.pins`). Event on the node: `pin` (detail: PinInfo). */
export interface PinsApi {
  add(input: PinInput, options?: CallOptions): Promise<PinInfo>
  /** Unexpired pins, nearest first when `near` is given; the filter is local. */
  list(options?: { near?: { lat: number, lon: number }, withinKm?: number, group?: string }): Promise<PinInfo[]>
}

/** The `detail` of each collectives event the node dispatches. */
export interface CollectivesEventMap {
  group: GroupInfo
  'group-post': GroupPost
  vote: VoteEvent
  event: EventInfo
  rsvp: RsvpInfo
  pin: PinInfo
}
