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
