/**
 * The node's errors as API errors. Only known error classes pass their
 * message through (they are written for people); anything else is
 * `internal`, logged in full and answered with a generic sentence, so no
 * stack or path reaches a client.
 */
import {
  BadNameError, KeyFormatError, MessageTooLargeError, PostFormatError, RegistryFormatError, type PostFormatReason
} from '../../protocol/index.js'
import {
  NameNotFoundError, NoOperatorError, RegistryRejectedError, RegistryUnavailableError, RegistryVerificationError
} from '../../node/registry/errors.js'
import { NodeNotRunningError } from '../../node/errors.js'
import type { Logger } from '../../node/logger.js'
import { NetworkNotStartedError } from '../../node/network.js'
import { NoNameError, NotACircleMemberError, NoWorldFeedError } from '../../node/social/errors.js'
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
  // A request that came in as the node stops (or before it started) finds it, or its network, not running.
  if (error instanceof NodeNotRunningError || error instanceof NetworkNotStartedError) return new KomradeApiError('node_not_running')
  logger.error('an API request failed unexpectedly', { error, stack: error instanceof Error ? error.stack : undefined })
  return new KomradeApiError('internal')
}
