/**
 * Typed errors of the protocol layer. Each has a fixed `name` that callers and
 * tests match on; the message is a sentence for people.
 */

/** Base class: every error this layer throws on purpose extends it. */
export class KomradeProtocolError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'KomradeProtocolError'
  }
}

/** An envelope does not have the v1 shape (wrong size, unknown version). */
export class EnvelopeFormatError extends KomradeProtocolError {
  static readonly code = 'EnvelopeFormatError'
  constructor (message: string, readonly reason: 'wrong-size' | 'unknown-version') {
    super(message)
    this.name = 'EnvelopeFormatError'
  }
}

/** A payload is larger than the envelope (or the multi-part limit) can carry. */
export class MessageTooLargeError extends KomradeProtocolError {
  constructor (message: string) {
    super(message)
    this.name = 'MessageTooLargeError'
  }
}

/** Serialised keys or state could not be decoded. */
export class KeyFormatError extends KomradeProtocolError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'KeyFormatError'
  }
}

/** An operation needs a session (or contact) that does not exist. */
export class NoSessionError extends KomradeProtocolError {
  constructor (message: string) {
    super(message)
    this.name = 'NoSessionError'
  }
}

/** A long computation was cancelled through its AbortSignal. */
export class AbortError extends KomradeProtocolError {
  constructor (message = 'The operation was aborted') {
    super(message)
    this.name = 'AbortError'
  }
}

/** Which rule a post, profile or circle-key payload broke (SPEC §14.6). */
export type PostFormatReason =
  | 'truncated' | 'trailing-bytes' | 'unknown-version' | 'unknown-flags' | 'empty'
  | 'not-utf8' | 'text-too-long' | 'name-too-long' | 'bio-too-long'
  | 'certificate-too-long' | 'unknown-mime' | 'empty-image' | 'image-too-large' | 'avatar-too-large'
  | 'wrong-length'
  | 'bad-geohash' | 'unknown-pin-kind' | 'note-too-long' | 'title-too-long' | 'place-too-long'
  | 'description-too-long' | 'bad-time' | 'empty-certificate'

/**
 * A post, profile or circle-key payload is malformed or breaks a limit. The
 * encoders throw it for input over a limit, the decoders for anything
 * malformed; `reason` names the rule.
 */
export class PostFormatError extends KomradeProtocolError {
  constructor (message: string, readonly reason: PostFormatReason) {
    super(message)
    this.name = 'PostFormatError'
  }
}

/** Which rule an anonymous vote's bytes broke (SPEC §15.8). */
export type VoteFormatReason =
  | 'truncated' | 'wrong-length' | 'unknown-version' | 'unknown-choice'
  | 'ring-too-small' | 'ring-too-large' | 'ring-not-sorted'

/** An anonymous vote (kind 0x33 body) is malformed; `reason` names the rule broken (SPEC §15.8). */
export class VoteFormatError extends KomradeProtocolError {
  constructor (message: string, readonly reason: VoteFormatReason) {
    super(message)
    this.name = 'VoteFormatError'
  }
}

/**
 * Fewer vote keys than MIN_VOTE_RING are available to hide a vote among: the
 * group is too small for anonymous votes yet (SPEC §15.8).
 */
export class VoteRingTooSmallError extends KomradeProtocolError {
  constructor (message: string, readonly available: number, readonly required: number) {
    super(message)
    this.name = 'VoteRingTooSmallError'
  }
}

/** The voter's own vote key is not among the group's admitted vote keys, so its vote could not count. */
export class VoteNotAdmittedError extends KomradeProtocolError {
  constructor (message: string) {
    super(message)
    this.name = 'VoteNotAdmittedError'
  }
}

/** Which rule a group's join request, op or welcome broke (SPEC §15.2-§15.6). */
export type GroupFormatReason =
  | 'truncated' | 'trailing-bytes' | 'unknown-version' | 'unknown-type' | 'too-long'
  | 'bad-signature' | 'bad-group-signature' | 'bad-name' | 'not-utf8' | 'note-too-long' | 'bad-time'
  | 'bad-constitution' | 'bad-proposal' | 'bad-choice' | 'bad-lamport' | 'bad-epoch' | 'bad-entries'
  | 'wrong-group' | 'bad-previous' | 'too-many-ops' | 'not-admitted' | 'wrong-keys' | 'check-mismatch'
  | 'bad-vote-key' | 'bad-parents' | 'not-genesis'

/**
 * A group's join request, op or welcome is malformed, breaks a limit or
 * carries a signature that does not verify. Encoders throw it for input over
 * a limit, decoders for anything else; `reason` names the rule (SPEC §15).
 */
export class GroupFormatError extends KomradeProtocolError {
  constructor (message: string, readonly reason: GroupFormatReason) {
    super(message)
    this.name = 'GroupFormatError'
  }
}
