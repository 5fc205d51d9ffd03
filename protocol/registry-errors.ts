/**
 * How the registry says no (SPEC §13.5): the error codes an Operator answers
 * with, and the error a decoder throws on bytes that are not a registry
 * record or frame.
 */
import { KomradeProtocolError } from './errors.js'

/** Bytes from the network or a store are not a well-formed registry record or frame. */
export class RegistryFormatError extends KomradeProtocolError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RegistryFormatError'
  }
}

/** The error codes of a registry response frame (SPEC §13.5). Values are wire bytes. */
export const RegistryErrorCode = {
  /** The request is not well formed (length, version, type, a field out of range). */
  MALFORMED: 1,
  /** The name breaks the length or character rules. */
  BAD_NAME: 2,
  /** The name is on the reserved list. */
  NAME_RESERVED: 3,
  /** Someone registered the name already. */
  NAME_TAKEN: 4,
  /** A signature in the request does not verify. */
  BAD_SIGNATURE: 5,
  /** The request carries less proof of work than this Operator asks. */
  INSUFFICIENT_WORK: 6,
  /** The request's time is outside the Operator's window, or a rotation names an entry that is no longer current. */
  STALE: 7,
  /** These exact request bytes are already in the log; nothing changed. */
  REPLAYED: 8,
  /** No entry for that name. */
  NOT_FOUND: 9,
  /** Too many requests from this peer; try later. */
  RATE_LIMITED: 10,
  /** This Operator runs discovery only and keeps no registry. */
  NO_REGISTRY: 11,
  /** A size, index or count outside the log. */
  BAD_RANGE: 12,
  /** The Operator failed internally (e.g. its disk); try later. */
  UNAVAILABLE: 13
} as const

/** One of the values of {@link RegistryErrorCode}. */
export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode]

const KNOWN_CODES: ReadonlySet<number> = new Set(Object.values(RegistryErrorCode))

/** True for a byte that is one of the codes of {@link RegistryErrorCode}. */
export function isRegistryErrorCode (value: unknown): value is RegistryErrorCode {
  return typeof value === 'number' && KNOWN_CODES.has(value)
}

/** The name of an error code, e.g. `NAME_TAKEN`, for logs and messages. */
export function registryErrorName (code: RegistryErrorCode): keyof typeof RegistryErrorCode {
  return (Object.keys(RegistryErrorCode) as Array<keyof typeof RegistryErrorCode>).find((key) => RegistryErrorCode[key] === code)!
}
