/**
 * The registry client: one stream per request to the Operator's registry
 * ops (SPEC §13.5), one request frame and one response frame, bounded in
 * size and time. It decodes every answer and makes the checks that need only
 * the pinned Operator key (verify.ts); what depends on earlier answers (head
 * consistency, key changes) is for the callers.
 *
 * Transport failures and timeouts become RegistryUnavailableError; an answer
 * that does not decode or verify becomes RegistryVerificationError; an
 * error frame is returned as `{ ok: false, code, message }` for the caller
 * to turn into what it means there.
 */
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, Stream } from '@libp2p/interface'
import {
  decodeConsistencyRequest, decodeEntriesResponse, decodeInfoResponse, decodeLookupResponse, decodeProofResponse,
  decodeRegisterResponse, decodeRegistrationRequest, encodeConsistencyRequest, encodeEntriesRequest, encodeLookupRequest,
  MAX_REGISTRY_RESPONSE_BYTES, registryProtocol, verifyCertificate, type Certificate, type CryptoProvider,
  type ProvenEntry, type PublicIdentity, type RegistryOp, type RegistryResponse
} from '../../protocol/index.js'
import { equalBytes } from '../../protocol/bytes.js'
import { RegistryRejectedError, RegistryUnavailableError, RegistryVerificationError } from './errors.js'
import { verifyHead, verifyProvenEntry, type VerifiedEntry, type VerifiedTreeHead } from './verify.js'

/** How long one request may take, dial included: long enough for Tor, short enough for a person waiting. */
export const REGISTRY_TIMEOUT_MS = 10_000

/** Options of {@link createRegistryClient}. */
export interface RegistryClientInit {
  /** The node's libp2p host; streams are opened with `dialProtocol`. */
  libp2p: Pick<Libp2p, 'dialProtocol'>
  /** Network name: the protocol ids derive from it. */
  networkName: string
  /** The pinned Operator identity: its Ed25519 key signs certificates and heads. */
  operator: PublicIdentity
  /** The Operator's multiaddrs (ending in /p2p/<peer id>), tried in order. */
  addresses: readonly string[]
  crypto: CryptoProvider
  /** @default 10,000 ({@link REGISTRY_TIMEOUT_MS}) */
  timeoutMs?: number
}

/** The Operator's `info`, its head verified. */
export interface VerifiedInfo {
  readonly workTrials: number
  readonly head: VerifiedTreeHead
}

/** A lookup answer whose entry verified; `consistency` is checked by the caller against the head it knew. */
export interface VerifiedLookup {
  readonly entry: VerifiedEntry
  readonly consistency: Uint8Array[]
}

type Options = { signal?: AbortSignal }

/** The registry client; see {@link createRegistryClient}. */
export interface RegistryClient {
  /** The Operator's work setting and latest head. Throws RegistryRejectedError for an error frame. */
  info(options?: Options): Promise<VerifiedInfo>
  /** Sends a registration request; a certificate in the answer must be for exactly this request. */
  register(request: Uint8Array, options?: Options): Promise<RegistryResponse<VerifiedEntry>>
  /** Verifies an answer to a registration request that came another way (the flood). */
  verifyRegisterResponse(request: Uint8Array, response: Uint8Array): RegistryResponse<VerifiedEntry>
  /** The latest entry of `name` (normalised), and a consistency proof from `knownSize` (0: none). */
  lookup(name: string, knownSize: number, options?: Options): Promise<RegistryResponse<VerifiedLookup>>
  /** A consistency proof between two sizes of the log. */
  consistency(from: number, to: number, options?: Options): Promise<RegistryResponse<Uint8Array[]>>
  /** Certificates `start`, `start + 1`... (at most `count`), each signed by the Operator. */
  entries(start: number, count: number, options?: Options): Promise<RegistryResponse<Certificate[]>>
}

/** Longest unsigned-varint length prefix of a frame up to MAX_REGISTRY_RESPONSE_BYTES. */
const FRAME_PREFIX_BYTES = 8
/** Names of the errors a length-prefixed read throws for an oversized frame. */
const LENGTH_ERRORS = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError', 'StreamBufferError'])

/** Creates a client for the pinned Operator. */
export function createRegistryClient (init: RegistryClientInit): RegistryClient {
  const { crypto, operator } = init
  const timeoutMs = init.timeoutMs ?? REGISTRY_TIMEOUT_MS
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError(`"timeoutMs" expected a positive integer, got ${String(timeoutMs)}`)
  const operatorKey = operator.signingKey

  /** One request, one response, trying each address in turn until the deadline. */
  async function call (op: RegistryOp, request: Uint8Array, options: Options): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    if (init.addresses.length === 0) {
      throw new RegistryUnavailableError('No address is configured for the Operator; set its addresses (--operator-addresses) and try again')
    }
    const protocol = registryProtocol(init.networkName, op)
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal])
    const failures: string[] = []
    for (const address of init.addresses) {
      let stream: Stream | undefined
      try {
        stream = await init.libp2p.dialProtocol(multiaddr(address), protocol, { signal })
        // One frame and its varint prefix: an Operator cannot make us buffer more.
        const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES, maxBufferSize: MAX_REGISTRY_RESPONSE_BYTES + FRAME_PREFIX_BYTES })
        await lp.write(request, { signal })
        const response = (await lp.read({ signal })).subarray()
        await stream.close({ signal }).catch(() => {})
        return response
      } catch (error) {
        stream?.abort(error instanceof Error ? error : new Error(String(error)))
        options.signal?.throwIfAborted()
        const name = (error as Error | undefined)?.name ?? ''
        if (LENGTH_ERRORS.has(name)) {
          throw new RegistryVerificationError(`The Operator's answer to ${op} is larger than ${MAX_REGISTRY_RESPONSE_BYTES} bytes; it was not used`, { cause: error })
        }
        failures.push(`${address}: ${(error as Error | undefined)?.message ?? String(error)}`)
        if (timeout.aborted) break
      }
    }
    const waited = timeout.aborted ? ` within ${timeoutMs / 1000} s` : ''
    throw new RegistryUnavailableError(`The Operator did not answer${waited} (${failures.join('; ')}); ` +
      'check the network connection and the Operator addresses, or try again later')
  }

  /** Decodes with `decode`; a malformed frame is a verification failure, not a refusal. */
  function decoded<T> (op: RegistryOp, bytes: Uint8Array, decode: (bytes: Uint8Array) => RegistryResponse<T>): RegistryResponse<T> {
    try {
      return decode(bytes)
    } catch (error) {
      throw new RegistryVerificationError(`The Operator's answer to ${op} is malformed: ${(error as Error).message}`, { cause: error })
    }
  }

  function verifyRegistered (request: Uint8Array, response: RegistryResponse<ProvenEntry>): RegistryResponse<VerifiedEntry> {
    if (!response.ok) return response
    const name = decodeRegistrationRequest(request).name
    const entry = verifyProvenEntry(crypto, operatorKey, response.value, name)
    if (!equalBytes(entry.certificate.entry.request.bytes, request)) {
      throw new RegistryVerificationError(`The Operator certified another request for "${name}" than the one we sent; the answer was not used`)
    }
    return { ok: true, value: entry }
  }

  return {
    async info (options = {}) {
      const response = decoded('info', await call('info', new Uint8Array(0), options), decodeInfoResponse)
      if (!response.ok) throw new RegistryRejectedError(response.code, `The Operator refused to describe itself: ${response.message}`)
      if (!equalBytes(response.value.operator.signingKey, operator.signingKey) || !equalBytes(response.value.operator.sealingKey, operator.sealingKey)) {
        throw new RegistryVerificationError('The peer at the Operator addresses is another Operator than the pinned one; check the configured identity and addresses')
      }
      return { workTrials: response.value.workTrials, head: verifyHead(crypto, operatorKey, response.value.head) }
    },

    async register (request, options = {}) {
      return verifyRegistered(request, decoded('register', await call('register', request, options), decodeRegisterResponse))
    },

    verifyRegisterResponse (request, response) {
      return verifyRegistered(request, decoded('register', response, decodeRegisterResponse))
    },

    async lookup (name, knownSize, options = {}) {
      const response = decoded('lookup', await call('lookup', encodeLookupRequest(name, knownSize), options), decodeLookupResponse)
      if (!response.ok) return response
      const entry = verifyProvenEntry(crypto, operatorKey, response.value, name)
      return { ok: true, value: { entry, consistency: response.value.consistency } }
    },

    async consistency (from, to, options = {}) {
      const request = encodeConsistencyRequest(from, to)
      decodeConsistencyRequest(request) // the same bounds the Operator applies, checked before dialing
      return decoded('consistency', await call('consistency', request, options), decodeProofResponse)
    },

    async entries (start, count, options = {}) {
      const response = decoded('entries', await call('entries', encodeEntriesRequest(start, count), options), decodeEntriesResponse)
      if (!response.ok) return response
      for (const [i, certificate] of response.value.entries()) {
        if (certificate.entry.index !== start + i || !verifyCertificate(crypto, operatorKey, certificate)) {
          throw new RegistryVerificationError(`Entry ${start + i} from the Operator is not a certificate it signed for that index; the answer was not used`)
        }
      }
      if (response.value.length > count) throw new RegistryVerificationError(`Asked for ${count} entries, the Operator sent ${response.value.length}`)
      return response
    }
  }
}
