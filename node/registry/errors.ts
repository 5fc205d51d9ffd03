/**
 * Errors of the node's name registry client. Each has a fixed `name` for
 * code to match on; the message is a sentence that says what to do.
 */
import { registryErrorName, type RegistryErrorCode } from '../../protocol/index.js'

/** The registry has no entry for the name. */
export class NameNotFoundError extends Error {
  constructor (readonly nameAsked: string, message = `No one has registered "${nameAsked}"; check the spelling, or ask for an invite code instead`) {
    super(message)
    this.name = 'NameNotFoundError'
  }
}

/** The Operator could not be reached (or did not answer in time), and nothing cached could answer instead. */
export class RegistryUnavailableError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RegistryUnavailableError'
  }
}

/** The Operator answered with an error code: the request itself was refused. */
export class RegistryRejectedError extends Error {
  /** The code's name, e.g. `NAME_TAKEN`. */
  readonly codeName: string
  constructor (readonly code: RegistryErrorCode, message: string) {
    super(message)
    this.name = 'RegistryRejectedError'
    this.codeName = registryErrorName(code)
  }
}

/**
 * What the Operator answered does not verify: a bad signature, a proof that
 * fails, a certificate for another name, or a view of the log that
 * contradicts one it signed before (then split-view evidence was kept).
 */
export class RegistryVerificationError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RegistryVerificationError'
  }
}

/** A name operation on a node configured without an Operator. */
export class NoOperatorError extends Error {
  constructor (message = 'This node has no Operator configured, so it cannot register or look up names; ' +
    'set `operator` (--operator HEX) or add contacts by identity or invite code') {
    super(message)
    this.name = 'NoOperatorError'
  }
}
