/**
 * How node-groups.ts shows groups: the public shapes of types.ts made from a
 * group in memory (its record and folded state), and the check of a post's
 * place. Pure functions: no store, no network.
 */
import { encodeGeohash, encodePublicIdentity, isGeohash, MAX_POST_GEOHASH, toHex, type GroupProposal } from '../../protocol/index.js'
import type { LiveGroup } from './group-store.js'
import type { GroupInfo, GroupView, LocationInput, ProposalInfo } from './types.js'

/** Precision of a post location given as a point: about 5 × 5 km. */
const DEFAULT_POST_PRECISION = 5

/** A group as lists show it. */
export function groupInfo (g: LiveGroup): GroupInfo {
  const member = g.record.membership === 'member'
  const pendingRequests = [...g.requests.values()].filter((r) => !r.vouched && !g.state.members.has(r.candidate)).length
  return {
    id: g.record.id,
    name: g.record.name,
    membership: g.record.membership,
    memberCount: member || g.record.membership === 'former' ? g.state.members.size : 0,
    constitution: g.state.constitution,
    quorum: g.state.quorum,
    epoch: g.state.epoch,
    openProposals: [...g.state.proposals.values()].filter((p) => p.status === 'open').length,
    candidateCount: g.state.candidates.size,
    pendingRequests,
    founder: g.record.founder
  }
}

/** A proposal as `get` shows it, with our vote. */
export function proposalInfo (p: GroupProposal, ownId: string): ProposalInfo {
  const myVote = p.yes.includes(ownId) ? 'yes' : p.no.includes(ownId) ? 'no' : undefined
  return {
    id: p.id, kind: p.kind, ...(p.constitution === undefined ? {} : { constitution: p.constitution }),
    ...(p.target === undefined ? {} : { target: p.target }), reason: p.reason, proposer: p.proposer, status: p.status,
    yes: p.yes.length, no: p.no.length, electorate: p.electorate.length, ...(myVote === undefined ? {} : { myVote }), proposedAt: p.timestamp
  }
}

/** A group's folded state as `get` shows it; `contactName` names members we know. */
export function groupView (g: LiveGroup, ownId: string, contactName: (id: string) => string | undefined): GroupView {
  const name = (id: string): { name?: string } => {
    const known = contactName(id)
    return known === undefined ? {} : { name: known }
  }
  return {
    ...groupInfo(g),
    members: [...g.state.members.entries()].map(([id, m]) => ({
      id, identity: toHex(encodePublicIdentity(m.identity)), ...name(id), voteKey: toHex(m.voteKey), since: m.since, me: id === ownId
    })),
    candidates: [...g.state.candidates.entries()].map(([id, c]) => ({
      id, identity: toHex(encodePublicIdentity(c.request.candidate)), ...name(id), vouchers: [...c.vouchers], note: c.request.note,
      requestedAt: c.request.timestamp
    })),
    proposals: [...g.state.proposals.values()].sort((a, b) => b.lamport - a.lamport || (a.id < b.id ? 1 : -1)).map((p) => proposalInfo(p, ownId)),
    ...(g.state.rekeyPending === undefined ? {} : { rekeyPending: g.state.rekeyPending }),
    opCount: g.ops.size,
    ignoredOps: g.state.ignored.length
  }
}

/** The geohash a group post carries: a geohash of 1 to 6 characters, or a point coarsened (precision 5 by default). */
export function locationOf (input: LocationInput | undefined): string | undefined {
  if (input === undefined) return undefined
  if (typeof input === 'string') {
    if (!isGeohash(input, MAX_POST_GEOHASH)) throw new RangeError(`"location" expected a geohash of 1 to ${MAX_POST_GEOHASH} characters`)
    return input
  }
  if (input === null || typeof input !== 'object' || typeof input.lat !== 'number' || typeof input.lon !== 'number') {
    throw new TypeError('"location" expected a geohash or { lat, lon, precision? }')
  }
  const precision = input.precision ?? DEFAULT_POST_PRECISION
  if (!Number.isInteger(precision) || precision < 1 || precision > MAX_POST_GEOHASH) {
    throw new RangeError(`"location.precision" expected 1 to ${MAX_POST_GEOHASH} (posts carry a coarse place), got ${String(precision)}`)
  }
  return encodeGeohash(input.lat, input.lon, precision)
}
