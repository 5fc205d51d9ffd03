/**
 * The registry client: a stream per request to the Operator's registry ops
 * (SPEC §13.5), one request frame and one response frame, bounded in size
 * and time; `lookupMany` sends many lookups on one stream, a window of them
 * in flight, each answer checked as `lookup` checks it. It decodes every
 * answer and makes the checks that need only the pinned Operator key
 * (verify.ts); what depends on earlier answers (head consistency, key
 * changes) is for the callers.
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
  MAX_REGISTRY_REQUESTS_PER_STREAM, MAX_REGISTRY_RESPONSE_BYTES, RegistryErrorCode, registryErrorName, registryProtocol, verifyCertificate, verifyTreeHead,
  type Certificate, type CryptoProvider, type ProvenEntry, type PublicIdentity, type RegistryOp, type RegistryResponse
} from '../../protocol/index.js'
import { equalBytes } from '../../protocol/bytes.js'
import { RegistryRejectedError, RegistryUnavailableError, RegistryVerificationError } from './errors.js'
import { BUFFER_ERROR, END_OF_STREAM_ERROR, errorName, FRAME_PREFIX_BYTES, LENGTH_ERRORS } from '../frames.js'
import { verifyHead, verifyProvenEntry, type VerifiedEntry, type VerifiedTreeHead } from './verify.js'

/**
 * How long one request may take, dial included: long enough for Tor, short
 * enough for a person waiting. For requests sent together on one stream, the
 * longest wait for the next answer.
 */
export const REGISTRY_TIMEOUT_MS = 10_000
/**
 * Lookups `lookupMany` keeps in flight on a stream: enough to hide a Tor
 * round trip behind the Operator's work, few enough that the answers waiting
 * to be read stay small (32 lookup answers are ~40 KB), and well inside the
 * 64 KiB of requests the Operator buffers.
 */
export const REGISTRY_PIPELINE_WINDOW = 32

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

/**
 * One name's outcome in {@link RegistryClient.lookupMany}: the answer
 * `lookup` would have returned, or the error it would have thrown
 * (RegistryVerificationError, RegistryUnavailableError, or BadNameError for
 * a name that cannot be asked).
 */
export type LookupOutcome =
  | { readonly name: string, readonly answer: RegistryResponse<VerifiedLookup>, readonly error?: undefined }
  | { readonly name: string, readonly answer?: undefined, readonly error: Error }

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
  /**
   * `lookup` of every name, in order, sent together on as few streams as the
   * Operator allows. Each answer is checked as `lookup` checks it, and a
   * failure is that name's alone; when the Operator stops answering, the
   * names not answered get RegistryUnavailableError. Throws only when
   * `options.signal` aborts, or for a `knownSize` that is not a size.
   */
  lookupMany(names: readonly string[], knownSize: number, options?: Options): Promise<LookupOutcome[]>
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

  /**
   * Request frames on a new stream of `connection`, at most
   * REGISTRY_PIPELINE_WINDOW unanswered, and their response frames in order.
   * Returns the answers to a prefix of the requests, at least one; `cut` is
   * why the stream ended before the rest were answered (an Operator that
   * answers one request per stream ends it after the first). Throws when the
   * stream ends before any answer.
   */
  async function exchange (connection: Connection, op: RegistryOp, requests: readonly Uint8Array[], signal: AbortSignal,
    onAnswer?: () => void): Promise<{ responses: Uint8Array[], cut?: unknown }> {
    const stream = await connection.newStream(registryProtocol(init.networkName, op), { signal })
    const window = Math.min(REGISTRY_PIPELINE_WINDOW, requests.length)
    const responses: Uint8Array[] = []
    try {
      // The window's frames and their varint prefixes (8 MiB at the frame bound; 32 lookup answers are at most ~150 KB): a peer cannot make us buffer more.
      const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES, maxBufferSize: window * (MAX_REGISTRY_RESPONSE_BYTES + FRAME_PREFIX_BYTES) })
      let sent = 0
      let closed = false
      while (responses.length < requests.length) {
        if (sent < requests.length && sent - responses.length <= window / 2) {
          // The window refilled once half of it is answered: requests go out in few frames, not one each.
          const upTo = Math.min(requests.length, responses.length + window)
          await lp.writeV(requests.slice(sent, upTo), { signal })
          sent = upTo
        }
        if (sent === requests.length && !closed) {
          // All sent: closing our side tells the Operator it may end the stream after the last answer.
          closed = true
          await stream.close({ signal }).catch(() => {})
        }
        responses.push((await lp.read({ signal })).subarray())
        onAnswer?.()
      }
      return { responses }
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)))
      if (responses.length === 0) throw error
      return { responses, cut: error }
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
   * Requests of one op, from the first address whose peer is the Operator
   * (checked with `info` once per peer), until the deadline: `timeoutMs`
   * for the dial and the first answer, and again for each next one. Returns
   * the answers to a prefix of the requests (see {@link exchange}), or the
   * NO_REGISTRY frame alone (`noRegistry`) when every address answered that.
   */
  async function callMany (op: RegistryOp, requests: readonly Uint8Array[], options: Options): Promise<{ responses: Uint8Array[], cut?: unknown, noRegistry?: true }> {
    options.signal?.throwIfAborted()
    if (init.addresses.length === 0) {
      throw new RegistryUnavailableError('No address is configured for the Operator; set its addresses (--operator-addresses) and try again')
    }
    const deadline = new AbortController()
    const timer = setTimeout(() => { deadline.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')) }, timeoutMs)
    timer.unref()
    const timedOut = deadline.signal
    const signal = options.signal === undefined ? timedOut : AbortSignal.any([timedOut, options.signal])
    const failures: string[] = []
    let unreachable = 0
    let noRegistry: { frame: Uint8Array, count: number } | undefined
    const addresses = preferred === undefined ? init.addresses : [preferred, ...init.addresses.filter((a) => a !== preferred)]
    try {
      for (const address of addresses) {
        let trusted = false
        try {
          const connection = await init.libp2p.dial(multiaddr(address), { signal })
          const peer = connection.remotePeer.toString()
          trusted = operatorPeers.has(peer)
          if (op === 'info' || !trusted) {
            const [info] = (await exchange(connection, 'info', [new Uint8Array(0)], signal)).responses as [Uint8Array]
            const not = notTheOperator(info)
            if (not !== undefined) {
              operatorPeers.delete(peer)
              if (not.noRegistry) noRegistry = { frame: info, count: (noRegistry?.count ?? 0) + 1 }
              failures.push(`${address}: ${not.reason}`)
              continue
            }
            operatorPeers.add(peer)
            trusted = true
            if (op === 'info') { preferred = address; return { responses: [info] } }
          }
          const exchanged = await exchange(connection, op, requests, signal, () => { timer.refresh() })
          const stopped = exchanged.responses.findIndex((response) => response[0] === RegistryErrorCode.NO_REGISTRY)
          if (stopped !== -1) operatorPeers.delete(peer) // it stopped keeping the registry since it answered info
          if (stopped === 0) {
            noRegistry = { frame: exchanged.responses[0]!, count: (noRegistry?.count ?? 0) + 1 }
            failures.push(`${address}: it answers ${op} with NO_REGISTRY`)
            continue
          }
          preferred = address
          // Answers after a NO_REGISTRY are not the Operator's: the caller asks them again, and info is checked anew.
          return stopped === -1 ? exchanged : { responses: exchanged.responses.slice(0, stopped), cut: new Error(`${address} stopped keeping the registry`) }
        } catch (error) {
          options.signal?.throwIfAborted()
          const name = errorName(error)
          if ((LENGTH_ERRORS.has(name) || name === BUFFER_ERROR) && trusted) throw oversized(op, error)
          unreachable++
          failures.push(`${address}: ${(error as Error | undefined)?.message ?? String(error)}`)
          if (timedOut.aborted) break
        }
      }
    } finally {
      clearTimeout(timer)
    }
    // Every address a discovery-only Operator: its own answer says best what to do.
    if (noRegistry?.count === addresses.length) return { responses: [noRegistry.frame], noRegistry: true }
    if (unreachable === 0) {
      throw new RegistryUnavailableError(`No peer at the Operator addresses is the pinned Operator (${failures.join('; ')}); ` +
        'check the Operator identity and addresses (--operator, --operator-addresses)')
    }
    const waited = timedOut.aborted ? ` within ${timeoutMs / 1000} s` : ''
    throw new RegistryUnavailableError(`The Operator did not answer${waited} (${failures.join('; ')}); ` +
      'check the network connection and the Operator addresses, or try again later')
  }

  /** One request, one response: {@link callMany} of one. */
  async function call (op: RegistryOp, request: Uint8Array, options: Options): Promise<Uint8Array> {
    return (await callMany(op, [request], options)).responses[0]!
  }

  function oversized (op: RegistryOp, cause: unknown): RegistryVerificationError {
    return new RegistryVerificationError(`The Operator's answer to ${op} is larger than ${MAX_REGISTRY_RESPONSE_BYTES} bytes; it was not used`, { cause })
  }

  /** Decodes with `decode`; a malformed frame is a verification failure, not a refusal. */
  function decoded<T> (op: RegistryOp, bytes: Uint8Array, decode: (bytes: Uint8Array) => RegistryResponse<T>): RegistryResponse<T> {
    try {
      return decode(bytes)
    } catch (error) {
      throw new RegistryVerificationError(`The Operator's answer to ${op} is malformed: ${(error as Error).message}`, { cause: error })
    }
  }

  /** Decodes and checks a lookup answer for `name`: the checks of {@link verifyProvenEntry}. */
  function verifyLookup (name: string, bytes: Uint8Array): RegistryResponse<VerifiedLookup> {
    const response = decoded('lookup', bytes, decodeLookupResponse)
    if (!response.ok) return response
    const entry = verifyProvenEntry(crypto, operatorKey, response.value, name)
    return { ok: true, value: { entry, consistency: response.value.consistency } }
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
      return verifyLookup(name, await call('lookup', encodeLookupRequest(name, knownSize), options))
    },

    async lookupMany (names, knownSize, options = {}) {
      if (!Number.isSafeInteger(knownSize) || knownSize < 0) throw new RangeError(`"knownSize" expected a size of the log, got ${String(knownSize)}`)
      const outcomes: LookupOutcome[] = new Array(names.length)
      const settle = (at: number, outcome: () => RegistryResponse<VerifiedLookup>): void => {
        const name = names[at]!
        try {
          outcomes[at] = { name, answer: outcome() }
        } catch (error) {
          outcomes[at] = { name, error: error instanceof Error ? error : new Error(String(error)) }
        }
      }
      const pending: Array<{ at: number, request: Uint8Array }> = []
      for (const [at, name] of names.entries()) {
        try {
          pending.push({ at, request: encodeLookupRequest(name, knownSize) })
        } catch (error) {
          settle(at, () => { throw error }) // a name that cannot be asked (BadNameError): `lookup` would throw it too
        }
      }
      let next = 0
      const failRest = (error: Error): void => { for (const { at } of pending.slice(next)) settle(at, () => { throw error }) }
      while (next < pending.length) {
        const batch = pending.slice(next, next + MAX_REGISTRY_REQUESTS_PER_STREAM)
        let exchanged
        try {
          exchanged = await callMany('lookup', batch.map((p) => p.request), options)
        } catch (error) {
          options.signal?.throwIfAborted()
          if (!(error instanceof RegistryVerificationError)) { failRest(error as Error); break }
          // Its first answer was oversized: that name's failure; the rest go on a new stream.
          settle(batch[0]!.at, () => { throw error })
          next++
          continue
        }
        if (exchanged.noRegistry === true) {
          // No address keeps the registry: every name gets that answer.
          for (const { at } of pending.slice(next)) settle(at, () => verifyLookup(names[at]!, exchanged.responses[0]!))
          break
        }
        for (const [i, response] of exchanged.responses.entries()) settle(batch[i]!.at, () => verifyLookup(names[batch[i]!.at]!, response))
        next += exchanged.responses.length
        if (exchanged.cut === undefined || next === pending.length) continue
        options.signal?.throwIfAborted()
        const cut = errorName(exchanged.cut)
        if (LENGTH_ERRORS.has(cut) || cut === BUFFER_ERROR) {
          // An oversized answer cannot be skipped on its stream: its name's failure; the rest go on a new stream.
          settle(pending[next]!.at, () => { throw oversized('lookup', exchanged.cut) })
          next++
        } else if (cut !== END_OF_STREAM_ERROR) {
          failRest(new RegistryUnavailableError(`The Operator stopped answering after ${next} of ${pending.length} lookups ` +
            `(${(exchanged.cut as Error | undefined)?.message ?? String(exchanged.cut)}); try again later`, { cause: exchanged.cut }))
          break
        }
        // Else the Operator ended the stream early (one that answers one request per stream): a new one for the rest.
      }
      return outcomes
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
