/**
 * The node's errors as API errors. Only known error classes pass their
 * message through (they are written for people); anything else is
 * `internal`, logged in full and answered with a generic sentence, so no
 * stack or path reaches a client.
 */
import {
  BadNameError, KeyFormatError, MessageTooLargeError, PostFormatError, RegistryFormatError, VoteNotAdmittedError, VoteRingTooSmallError,
  type PostFormatReason
} from '../../protocol/index.js'
import {
  NameNotFoundError, NoOperatorError, RegistryRejectedError, RegistryUnavailableError, RegistryVerificationError
} from '../../node/registry/errors.js'
import { NodeNotRunningError } from '../../node/errors.js'
import type { Logger } from '../../node/logger.js'
import { NetworkNotStartedError } from '../../node/network.js'
import { NoNameError, NotACircleMemberError, NoWorldFeedError } from '../../node/social/errors.js'
import {
  AlreadyAGroupMemberError, AlreadyVotedError, GroupFullError, GroupOpBudgetError, NoJoinRequestError, NotAContactError, NotAGroupMemberError, NotAMemberError, NotTheEventHostError,
  ProposalClosedError, UnknownEventError, UnknownGroupError, UnknownGroupPostError
} from '../../node/collectives/errors.js'
import { KomradeApiError } from './errors.js'

/**
 * A post or profile the protocol's encoder refused: the routes check the
 * limits first, so this is a limit they do not know of; it is still the
 * caller's input, never an internal error.
 */
function postFormatCode (reason: PostFormatReason): 'post_too_large' | 'profile_too_large' | 'bad_image' | 'bad_request' {
  switch (reason) {
    case 'text-too-long': case 'image-too-large': return 'post_too_large'
    case 'name-too-long': case 'bio-too-long': case 'avatar-too-large': return 'profile_too_large'
    case 'unknown-mime': case 'empty-image': return 'bad_image'
    default: return 'bad_request'
  }
}

/** The collectives' errors (node/collectives/errors.ts, and the protocol's refusal of a too small vote ring). */
function collectivesError (error: unknown): KomradeApiError | undefined {
  if (error instanceof UnknownGroupError) return new KomradeApiError('unknown_group', error.message)
  if (error instanceof NotAGroupMemberError) return new KomradeApiError('not_a_group_member', error.message, { details: { membership: error.membership } })
  if (error instanceof AlreadyAGroupMemberError) return new KomradeApiError('already_a_group_member', error.message)
  if (error instanceof NotAContactError) return new KomradeApiError('unknown_contact', error.message)
  if (error instanceof NoJoinRequestError) return new KomradeApiError('no_join_request', error.message)
  if (error instanceof ProposalClosedError) return new KomradeApiError('proposal_closed', error.message, { details: { why: error.why } })
  if (error instanceof NotAMemberError) return new KomradeApiError('unknown_group_member', error.message)
  if (error instanceof UnknownGroupPostError) return new KomradeApiError('unknown_post', error.message)
  if (error instanceof GroupFullError) return new KomradeApiError('group_full', error.message, { details: { what: error.what } })
  // Our own op would pass what other nodes accept of one member: a 409 like a full group, with the budget that ran out.
  if (error instanceof GroupOpBudgetError) return new KomradeApiError('group_full', error.message, { details: { what: 'ops', why: error.why } })
  if (error instanceof UnknownEventError) return new KomradeApiError('unknown_event', error.message)
  if (error instanceof NotTheEventHostError) return new KomradeApiError('not_event_host', error.message)
  if (error instanceof AlreadyVotedError) return new KomradeApiError('already_voted', error.message, { details: { choice: error.choice } })
  if (error instanceof VoteRingTooSmallError) return new KomradeApiError('vote_ring_too_small', error.message, { details: { available: error.available, required: error.required } })
  if (error instanceof VoteNotAdmittedError) return new KomradeApiError('not_a_group_member', error.message)
  // A node built without a feature answers so (the name is the node's promise; the message is for people).
  if (error instanceof Error && error.name === 'NotAvailableError') return new KomradeApiError('not_available', error.message)
  return undefined
}

/** Maps what a node call threw to the API error to answer with. */
export function apiErrorOf (error: unknown, logger: Logger): KomradeApiError {
  if (error instanceof KomradeApiError) return error
  if (error instanceof BadNameError) return new KomradeApiError('bad_name', error.message)
  if (error instanceof NameNotFoundError) return new KomradeApiError('unknown_name', error.message)
  if (error instanceof NoOperatorError) return new KomradeApiError('no_operator', error.message)
  if (error instanceof RegistryUnavailableError) return new KomradeApiError('registry_unavailable', error.message)
  if (error instanceof RegistryVerificationError) return new KomradeApiError('verification_failed', error.message)
  if (error instanceof MessageTooLargeError) return new KomradeApiError('message_too_large', error.message)
  if (error instanceof PostFormatError) return new KomradeApiError(postFormatCode(error.reason), error.message)
  if (error instanceof RegistryFormatError || error instanceof KeyFormatError) return new KomradeApiError('bad_request', error.message)
  if (error instanceof RegistryRejectedError) {
    if (error.codeName === 'NAME_TAKEN') return new KomradeApiError('name_taken', error.message)
    if (error.codeName === 'BAD_NAME' || error.codeName === 'NAME_RESERVED') return new KomradeApiError('bad_name', error.message)
    return new KomradeApiError('registry_refused', error.message, { details: { registryCode: error.codeName } })
  }
  if (error instanceof NoNameError) return new KomradeApiError('name_required', error.message)
  if (error instanceof NoWorldFeedError) return new KomradeApiError('no_world_feed', error.message)
  if (error instanceof NotACircleMemberError) return new KomradeApiError('bad_request', error.message)
  const collectives = collectivesError(error)
  if (collectives !== undefined) return collectives
  // A request that came in as the node stops (or before it started) finds it, or its network, not running.
  if (error instanceof NodeNotRunningError || error instanceof NetworkNotStartedError) return new KomradeApiError('node_not_running')
  logger.error('an API request failed unexpectedly', { error, stack: error instanceof Error ? error.stack : undefined })
  return new KomradeApiError('internal')
}
