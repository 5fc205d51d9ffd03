/**
 * What a command prints when it fails, and its exit code. Errors of the
 * control API (KomradeApiError, by stable code) and of the local data
 * directory become one sentence that says what to do; anything unexpected
 * keeps its name so a bug report has something to go on.
 */
import { ConfigError } from '../../node/config.js'
import {
  BadIdentityFileError, IdentityExistsError, NoIdentityError, PassphraseRequiredError, WrongPassphraseError
} from '../../node/identity-file.js'
import { DataDirLockedError } from '../../node/store/data-lock.js'
import { TokenFileError } from '../api/auth.js'
import { KomradeApiError } from '../api/client.js'
import { EXIT_FAILURE, EXIT_NO_NODE } from './exit-codes.js'
import { PassphraseInputError } from './passphrase.js'
import { printable } from './terminal.js'

/** Errors whose message is already the sentence to show. */
const LOCAL_ERRORS = [
  ConfigError, DataDirLockedError, IdentityExistsError, NoIdentityError, PassphraseRequiredError, WrongPassphraseError,
  BadIdentityFileError, PassphraseInputError, TokenFileError
]

/** What the failing command was doing: fills in the sentences. */
export interface FailureContext {
  /** "komrade send": the prefix of the line. */
  command: string
  dataDir?: string
  /** The name the command was about (register, lookup, contacts add, send). */
  name?: string
}

/** A failure the command itself detected, with its sentence. */
export class CommandError extends Error {
  constructor (message: string, readonly exitCode = EXIT_FAILURE) {
    super(message)
    this.name = 'CommandError'
  }
}

function dataDirFlag (dataDir: string | undefined): string {
  return dataDir === undefined ? '' : ` --data-dir ${dataDir}`
}

/** The sentence and exit code for an API error. */
function apiFailure (error: KomradeApiError, context: FailureContext): { message: string, exitCode: number } {
  const flag = dataDirFlag(context.dataDir)
  switch (error.code) {
    case 'no_daemon': // its message names the data directory and the command to run
      return { message: error.message, exitCode: EXIT_NO_NODE }
    case 'node_not_running':
      return { message: `The node on ${context.dataDir ?? 'this data directory'} is stopping or not started yet; start it with \`komrade start${flag}\``, exitCode: EXIT_NO_NODE }
    case 'bad_token':
      return { message: error.message, exitCode: EXIT_FAILURE }
    case 'unauthorized':
      return {
        message: `The node refused the token in ${context.dataDir === undefined ? 'api.token' : `${context.dataDir}/api.token`}; ` +
          'make sure --data-dir names the directory of the node you started (a restart with --rotate-token makes a new token)',
        exitCode: EXIT_FAILURE
      }
    case 'name_taken':
      return { message: `The name ${context.name === undefined ? '' : `"${context.name}" `}is already registered to someone else; choose another name`, exitCode: EXIT_FAILURE }
    case 'unknown_name':
      return {
        message: `No one has registered ${context.name === undefined ? 'that name' : `"${context.name}"`}; check the spelling, or ask for their invite code (komrade whoami shows yours)`,
        exitCode: EXIT_FAILURE
      }
    case 'message_too_large':
    case 'body_too_large':
      return { message: `${tooLargeSentence()} (${error.message})`, exitCode: EXIT_FAILURE }
    default:
      return { message: error.message, exitCode: EXIT_FAILURE }
  }
}

/** The sentence for a message over the limit. */
export function tooLargeSentence (bytes?: number): string {
  return `The message is too large${bytes === undefined ? '' : ` (${bytes} bytes)`}: a message carries at most 1 MiB (1048576 bytes); ` +
    'split it, or share a link to the file instead'
}

/** Prints the failure of a command to stderr and returns its exit code. */
export function reportFailure (error: unknown, context: FailureContext): number {
  let message: string
  let exitCode = EXIT_FAILURE
  if (error instanceof KomradeApiError) {
    ({ message, exitCode } = apiFailure(error, context))
  } else if (error instanceof CommandError) {
    message = error.message
    exitCode = error.exitCode
  } else if (LOCAL_ERRORS.some((kind) => error instanceof kind)) {
    message = (error as Error).message
  } else if (error instanceof Error) {
    message = `${error.name}: ${error.message}`
  } else {
    message = String(error)
  }
  process.stderr.write(`${context.command}: ${printable(message, { indent: '  ' })}\n`)
  return exitCode
}
