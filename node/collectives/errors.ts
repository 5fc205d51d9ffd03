/**
 * Errors of the collectives layer (SPEC §15), each with a stable `name` and
 * a sentence that says what to do. Wrong argument types and sizes are
 * `TypeError` / `RangeError` naming the argument; these are the states a
 * well-formed call can still run into.
 */

/** No group of that name or id is known to this node (neither joined, asked, nor left). */
export class UnknownGroupError extends Error {
  constructor (readonly group: string) {
    super(`No group "${group}" is known here: join it first (\`groups.requestJoin\`), or check the name`)
    this.name = 'UnknownGroupError'
  }
}

/** The call needs membership: we asked to join and wait, left, or were removed. */
export class NotAGroupMemberError extends Error {
  constructor (readonly group: string, readonly membership: 'pending' | 'former' | 'none') {
    super(membership === 'pending'
      ? `We are not a member of "${group}" yet: wait for the welcome (members vouch for the request)`
      : `We are not a member of "${group}": only members can do this`)
    this.name = 'NotAGroupMemberError'
  }
}

/** `requestJoin` for a group we already belong to. */
export class AlreadyAGroupMemberError extends Error {
  constructor (readonly group: string) {
    super(`We already are a member of "${group}"`)
    this.name = 'AlreadyAGroupMemberError'
  }
}

/** `requestJoin` through someone who is not a contact (a join request is a pairwise message). */
export class NotAContactError extends Error {
  constructor (readonly contact: string) {
    super(`"${contact}" is not a contact: add a member of the group as a contact first, then ask through them`)
    this.name = 'NotAContactError'
  }
}

/** `vouch` for a candidate whose join request did not reach us. */
export class NoJoinRequestError extends Error {
  constructor (readonly group: string, readonly candidate: string) {
    super(`No join request from "${candidate}" for "${group}" reached us: ask them to send it through us`)
    this.name = 'NoJoinRequestError'
  }
}

/** `vote` or `propose` on a proposal that is unknown, closed, or already voted on by us. */
export class ProposalClosedError extends Error {
  constructor (readonly proposalId: string, readonly why: 'unknown' | 'closed' | 'voted' | 'not-electorate') {
    super(why === 'unknown'
      ? `No proposal ${proposalId} in this group`
      : why === 'closed'
        ? `Proposal ${proposalId} is already decided`
        : why === 'voted'
          ? `We already voted on proposal ${proposalId}`
          : `We are not in the electorate of proposal ${proposalId} (we joined after it, or it is about us)`)
    this.name = 'ProposalClosedError'
  }
}

/** A removal proposal names someone who is not a member. */
export class NotAMemberError extends Error {
  constructor (readonly group: string, readonly member: string) {
    super(`"${member}" is not a member of "${group}"`)
    this.name = 'NotAMemberError'
  }
}

/** A group post id that this group's feed does not hold. */
export class UnknownGroupPostError extends Error {
  constructor (readonly postId: string) {
    super(`No post ${postId} in this group's feed`)
    this.name = 'UnknownGroupPostError'
  }
}

/** The group's log holds MAX_GROUP_OPS ops already, or its member list is full. */
export class GroupFullError extends Error {
  constructor (readonly group: string, readonly what: 'ops' | 'members') {
    super(what === 'ops'
      ? `The log of "${group}" is full (4,096 ops): found a new group to go on`
      : `"${group}" has the most members a group can hold (256)`)
    this.name = 'GroupFullError'
  }
}

/** An event id this node does not know (for node/collectives/events.ts). */
export class UnknownEventError extends Error {
  constructor (readonly eventId: string) {
    super(`No event ${eventId} is known here`)
    this.name = 'UnknownEventError'
  }
}

/** Updating, cancelling or inviting to an event we do not host (for node/collectives/events.ts). */
export class NotTheEventHostError extends Error {
  constructor (readonly eventId: string) {
    super(`Only the host of event ${eventId} can change it or invite to it`)
    this.name = 'NotTheEventHostError'
  }
}

/** `votePost` the other way after a vote on the same post: that would be a double vote, counted for neither. */
export class AlreadyVotedError extends Error {
  constructor (readonly postId: string, readonly choice: 'up' | 'down') {
    super(`We already voted "${choice}" on post ${postId}; a second, different vote would cancel both (a double vote)`)
    this.name = 'AlreadyVotedError'
  }
}

/** Our own op would pass the budget a node accepts of one author (SPEC §15.11): other nodes would refuse it. */
export class GroupOpBudgetError extends Error {
  constructor (readonly group: string, readonly why: 'per-day' | 'total') {
    super(why === 'per-day'
      ? `We published as many ops to ${group} today as nodes accept of one member in a day; try again tomorrow`
      : `We published as many ops to ${group} as nodes accept of one member`)
    this.name = 'GroupOpBudgetError'
  }
}

// The votes' protocol errors, for callers of `groups.votePost`.
export { VoteRingTooSmallError, VoteNotAdmittedError } from '../../protocol/index.js'
