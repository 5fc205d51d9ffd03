/**
 * The node's collectives objects as the API shows them: only the fields the
 * API promises (client/api/collectives-types.ts), so nothing internal leaks
 * by accident, and a group post's image as its type and size, never its
 * bytes (they have their own route).
 */
import type {
  EventInfo, GroupCandidate, GroupInfo, GroupMember, GroupPost, GroupView, JoinRequestInfo, PinInfo, ProposalInfo, RsvpInfo, VoteEvent, VoteTally
} from '../../node/collectives/types.js'
import type {
  ApiEventInfo, ApiGroupCandidate, ApiGroupInfo, ApiGroupMember, ApiGroupPost, ApiGroupView, ApiJoinRequest, ApiPin, ApiProposal, ApiRsvp,
  ApiVoteTally
} from './collectives-types.js'

/** `{ key: value }` when value is defined, `{}` otherwise: optional fields stay absent, never `undefined`. */
function optional<K extends string, V> (key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
}

export function apiGroupInfo (group: GroupInfo): ApiGroupInfo {
  return {
    id: group.id, name: group.name, membership: group.membership, memberCount: group.memberCount, constitution: group.constitution,
    quorum: group.quorum, epoch: group.epoch, openProposals: group.openProposals, candidateCount: group.candidateCount,
    pendingRequests: group.pendingRequests, founder: group.founder
  }
}

function apiMember (member: GroupMember): ApiGroupMember {
  return { id: member.id, identity: member.identity, ...optional('name', member.name), voteKey: member.voteKey, since: member.since, me: member.me }
}

function apiCandidate (candidate: GroupCandidate): ApiGroupCandidate {
  return {
    id: candidate.id, identity: candidate.identity, ...optional('name', candidate.name), vouchers: [...candidate.vouchers],
    note: candidate.note, requestedAt: candidate.requestedAt
  }
}

export function apiProposal (proposal: ProposalInfo): ApiProposal {
  return {
    id: proposal.id, kind: proposal.kind, ...optional('constitution', proposal.constitution), ...optional('target', proposal.target),
    reason: proposal.reason, proposer: proposal.proposer, status: proposal.status, yes: proposal.yes, no: proposal.no,
    electorate: proposal.electorate, ...optional('myVote', proposal.myVote), proposedAt: proposal.proposedAt
  }
}

export function apiGroupView (view: GroupView): ApiGroupView {
  return {
    ...apiGroupInfo(view),
    members: view.members.map(apiMember),
    candidates: view.candidates.map(apiCandidate),
    proposals: view.proposals.map(apiProposal),
    ...optional('rekeyPending', view.rekeyPending),
    opCount: view.opCount,
    ignoredOps: view.ignoredOps
  }
}

export function apiJoinRequest (request: JoinRequestInfo): ApiJoinRequest {
  return {
    group: { id: request.group.id, name: request.group.name }, candidate: request.candidate, candidateIdentity: request.candidateIdentity,
    ...optional('candidateName', request.candidateName), note: request.note, requestedAt: request.requestedAt, receivedAt: request.receivedAt,
    vouched: request.vouched
  }
}

export function apiTally (tally: VoteTally): ApiVoteTally {
  return { up: tally.up, down: tally.down, doubleVoters: [...tally.doubleVoters], ...optional('mine', tally.mine) }
}

export function apiGroupPost (post: GroupPost): ApiGroupPost {
  return {
    id: post.id, author: post.author, authorIdentity: post.authorIdentity, ...optional('authorName', post.authorName),
    audience: 'group', group: { id: post.group.id, name: post.group.name }, text: post.text,
    hasImage: post.image !== undefined,
    ...(post.image === undefined ? {} : { image: { mime: post.image.mime, size: post.image.bytes.byteLength } }),
    ...optional('location', post.location),
    votes: apiTally(post.votes),
    sentAt: post.sentAt, receivedAt: post.receivedAt, expiresAt: post.expiresAt, mine: post.mine
  }
}

export function apiVoteEvent (event: VoteEvent): { group: { id: string, name: string }, postId: string, tally: ApiVoteTally } {
  return { group: { id: event.group.id, name: event.group.name }, postId: event.postId, tally: apiTally(event.tally) }
}

export function apiRsvp (rsvp: RsvpInfo): ApiRsvp {
  return {
    eventId: rsvp.eventId, responder: rsvp.responder, ...optional('responderName', rsvp.responderName), choice: rsvp.choice,
    note: rsvp.note, answeredAt: rsvp.answeredAt, receivedAt: rsvp.receivedAt
  }
}

export function apiEvent (event: EventInfo): ApiEventInfo {
  return {
    id: event.id, revision: event.revision, title: event.title, startsAt: event.startsAt, ...optional('endsAt', event.endsAt),
    place: event.place, description: event.description,
    ...(event.location === undefined
      ? {}
      : { location: { geohash: event.location.geohash, lat: event.location.lat, lon: event.location.lon, ...optional('latErrKm', event.location.latErrKm) } }),
    cancelled: event.cancelled,
    ...(event.host === undefined ? {} : { host: { id: event.host.id, ...optional('name', event.host.name) } }),
    audience: event.audience, mine: event.mine, ...optional('myRsvp', event.myRsvp),
    ...(event.rsvps === undefined ? {} : { rsvps: event.rsvps.map(apiRsvp) }),
    updatedAt: event.updatedAt
  }
}

export function apiPin (pin: PinInfo): ApiPin {
  return {
    id: pin.id, kind: pin.kind, note: pin.note, geohash: pin.geohash, lat: pin.lat, lon: pin.lon, ...optional('latErrKm', pin.latErrKm),
    expiresAt: pin.expiresAt, sentAt: pin.sentAt, audience: pin.audience,
    ...(pin.author === undefined ? {} : { author: { id: pin.author.id, ...optional('name', pin.author.name) } }),
    mine: pin.mine, ...optional('distanceKm', pin.distanceKm)
  }
}
