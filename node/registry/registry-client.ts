/**
 * The registry client: one stream per request to the Operator's registry
 * ops (SPEC §13.5), one request frame and one response frame, bounded in
 * size and time. It decodes every answer and makes the checks that need only
 * the pinned Operator key (verify.ts); what depends on earlier answers (head
 * consistency, key changes) is for the callers.
 *
 * The addresses may hold peers that are not the Operator (the node's
 * bootstrap list is the default: a discovery-only anchor, another network's
 * Operator). A peer's answers are used only once it answered `info` with the
 * pinned identity and a head signed by the pinned key; the client remembers
 * its libp2p peer id and asks it first. Error frames (NOT_FOUND, BAD_RANGE...)
 * are taken only from such a peer; a peer that is not the Operator, or
 * answers NO_REGISTRY, is skipped for the next address. `info` is not
 * signed, so this catches peers that are honestly something else, not a
 * peer that pretends: the addresses are trusted configuration (SPEC §13.8).
 *
 * Transport failures and timeouts, and addresses where no peer is the
 * Operator, become RegistryUnavailableError; an answer of the Operator that
 * does not decode or verify becomes RegistryVerificationError; an error
 * frame is returned as `{ ok: false, code, message }` for the caller to turn
 * into what it means there.
 */
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, Libp2p } from '@libp2p/interface'
import {
  decodeConsistencyRequest, decodeEntriesResponse, decodeInfoResponse, decodeLookupResponse, decodeProofResponse,
  decodeRegisterResponse, decodeRegistrationRequest, encodeConsistencyRequest, encodeEntriesRequest, encodeLookupRequest,
  MAX_REGISTRY_RESPONSE_BYTES, RegistryErrorCode, registryErrorName, registryProtocol, verifyCertificate, verifyTreeHead,
  type Certificate, type CryptoProvider, type ProvenEntry, type PublicIdentity, type RegistryOp, type RegistryResponse
} from '../../protocol/index.js'
import { equalBytes } from '../../protocol/bytes.js'
import { RegistryRejectedError, RegistryUnavailableError, RegistryVerificationError } from './errors.js'
import { BUFFER_ERROR, errorName, FRAME_PREFIX_BYTES, LENGTH_ERRORS } from '../frames.js'
import { verifyHead, verifyProvenEntry, type VerifiedEntry, type VerifiedTreeHead } from './verify.js'

/** How long one request may take, dial included: long enough for Tor, short enough for a person waiting. */
export const REGISTRY_TIMEOUT_MS = 10_000

/** Options of {@link createRegistryClient}. */
export interface RegistryClientInit {
  /** The node's libp2p host; connections are opened (or reused) with `dial`. */
  libp2p: Pick<Libp2p, 'dial'>
  /** Network name: the protocol ids derive from it. */
  networkName: string
  /** The pinned Operator identity: its Ed25519 key signs certificates and heads. */
  operator: PublicIdentity
  /**
   * Where to ask (multiaddrs ending in /p2p/<peer id>), tried in order, the
   * one that answered last first. Peers there that are not the pinned
   * Operator are skipped.
   */
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


/** Creates a client for the pinned Operator. */
export function createRegistryClient (init: RegistryClientInit): RegistryClient {
  const { crypto, operator } = init
  const timeoutMs = init.timeoutMs ?? REGISTRY_TIMEOUT_MS
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError(`"timeoutMs" expected a positive integer, got ${String(timeoutMs)}`)
  const operatorKey = operator.signingKey

  /** libp2p peer ids that answered `info` as the pinned Operator: their answers, error frames included, are its answers. */
  const operatorPeers = new Set<string>()
  /** The address that answered last: asked first next time. */
  let preferred: string | undefined

  /** One request frame and one response frame on a new stream of `connection`. */
  async function exchange (connection: Connection, op: RegistryOp, request: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const stream = await connection.newStream(registryProtocol(init.networkName, op), { signal })
    try {
      // One frame and its varint prefix: a peer cannot make us buffer more.
      const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES, maxBufferSize: MAX_REGISTRY_RESPONSE_BYTES + FRAME_PREFIX_BYTES })
      await lp.write(request, { signal })
      const response = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => {})
      return response
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)))
      throw error
    }
  }

  /** Why an `info` answer is not the pinned Operator's (undefined: it is), and whether it said NO_REGISTRY. */
  function notTheOperator (bytes: Uint8Array): { reason: string, noRegistry: boolean } | undefined {
    let info
    try {
      info = decodeInfoResponse(bytes)
    } catch (error) {
      return { reason: `its info answer is malformed (${(error as Error).message})`, noRegistry: false }
    }
    if (!info.ok) {
      const said = info.message === '' ? '' : `: ${info.message}`
      return { reason: `it answers info with ${registryErrorName(info.code)}${said}`, noRegistry: info.code === RegistryErrorCode.NO_REGISTRY }
    }
    if (!equalBytes(info.value.operator.signingKey, operator.signingKey) || !equalBytes(info.value.operator.sealingKey, operator.sealingKey)) {
      return { reason: 'it is another Operator than the pinned one', noRegistry: false }
    }
    if (!verifyTreeHead(crypto, operatorKey, info.value.head)) return { reason: 'its tree head is not signed by the pinned key', noRegistry: false }
    return undefined
  }

  /**
   * One request, one response, from the first address whose peer is the
   * Operator (checked with `info` once per peer), until the deadline.
   * Returns the NO_REGISTRY frame when every address answered that.
   */
  async function call (op: RegistryOp, request: Uint8Array, options: Options): Promise<Uint8Array> {
    options.signal?.throwIfAborted()
    if (init.addresses.length === 0) {
      throw new RegistryUnavailableError('No address is configured for the Operator; set its addresses (--operator-addresses) and try again')
    }
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal])
    const failures: string[] = []
    let unreachable = 0
    let noRegistry: { frame: Uint8Array, count: number } | undefined
    const addresses = preferred === undefined ? init.addresses : [preferred, ...init.addresses.filter((a) => a !== preferred)]
    for (const address of addresses) {
      let trusted = false
      try {
        const connection = await init.libp2p.dial(multiaddr(address), { signal })
        const peer = connection.remotePeer.toString()
        trusted = operatorPeers.has(peer)
        if (op === 'info' || !trusted) {
          const info = await exchange(connection, 'info', new Uint8Array(0), signal)
          const not = notTheOperator(info)
          if (not !== undefined) {
            operatorPeers.delete(peer)
            if (not.noRegistry) noRegistry = { frame: info, count: (noRegistry?.count ?? 0) + 1 }
            failures.push(`${address}: ${not.reason}`)
            continue
          }
          operatorPeers.add(peer)
          trusted = true
          if (op === 'info') { preferred = address; return info }
        }
        const response = await exchange(connection, op, request, signal)
        if (response[0] === RegistryErrorCode.NO_REGISTRY) {
          operatorPeers.delete(peer) // it stopped keeping the registry since it answered info
          noRegistry = { frame: response, count: (noRegistry?.count ?? 0) + 1 }
          failures.push(`${address}: it answers ${op} with NO_REGISTRY`)
          continue
        }
        preferred = address
        return response
      } catch (error) {
        options.signal?.throwIfAborted()
        const name = errorName(error)
        if ((LENGTH_ERRORS.has(name) || name === BUFFER_ERROR) && trusted) {
          throw new RegistryVerificationError(`The Operator's answer to ${op} is larger than ${MAX_REGISTRY_RESPONSE_BYTES} bytes; it was not used`, { cause: error })
        }
        unreachable++
        failures.push(`${address}: ${(error as Error | undefined)?.message ?? String(error)}`)
        if (timeout.aborted) break
      }
    }
    // Every address a discovery-only Operator: its own answer says best what to do.
    if (noRegistry?.count === addresses.length) return noRegistry.frame
    if (unreachable === 0) {
      throw new RegistryUnavailableError(`No peer at the Operator addresses is the pinned Operator (${failures.join('; ')}); ` +
        'check the Operator identity and addresses (--operator, --operator-addresses)')
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
      // call() returns only an info answer it checked: the pinned identity and a head signed by its key (or NO_REGISTRY).
      const response = decoded('info', await call('info', new Uint8Array(0), options), decodeInfoResponse)
      if (!response.ok) throw new RegistryRejectedError(response.code, `The Operator refused to describe itself: ${response.message}`)
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
