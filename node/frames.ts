/**
 * Length-prefixed frames on libp2p streams (an unsigned-varint length and
 * the bytes, read with `lpStream` from @libp2p/utils): what the resync
 * protocol, the registry client and the Operator's registry service all need
 * to know of them.
 */

/**
 * Names of the errors a length-prefixed read throws for a frame whose
 * length (or length prefix) is over its bound: the frame is refused
 * without being read.
 */
export const LENGTH_ERRORS: ReadonlySet<string> = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError'])

/**
 * Name of the error a length-prefixed read throws when more bytes arrived
 * than it may buffer: for a registry client an oversized answer, for the
 * Operator a client to cut off (SPEC §13.10), for resync an oversized frame.
 */
export const BUFFER_ERROR = 'StreamBufferError'

/**
 * Name of the error a length-prefixed read throws when the stream ends
 * (before a frame, or inside one): on a stream of several requests, the
 * client is done.
 */
export const END_OF_STREAM_ERROR = 'UnexpectedEOFError'

/** Longest unsigned-varint length prefix of a registry frame (up to MAX_REGISTRY_RESPONSE_BYTES). */
export const FRAME_PREFIX_BYTES = 8

/** The `name` of a thrown value, '' when it has none. */
export function errorName (error: unknown): string {
  return (error as Error | undefined)?.name ?? ''
}
