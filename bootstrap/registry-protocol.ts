/**
 * The registry over libp2p (SPEC §13.5): five protocols
 * `/komrade/<network>/registry/<op>/1.0.0`, each stream one request frame and
 * one response frame (unsigned-varint length + bytes).
 *
 * Nothing a client sends is trusted: the request frame is bounded (1 KiB)
 * and must arrive within REQUEST_TIMEOUT_MS, a client that does not read its
 * answer is cut off after RESPONSE_TIMEOUT_MS, and every peer has token
 * buckets (registrations apart from the rest); past them it is answered
 * RATE_LIMITED. A discovery-only Operator answers every op NO_REGISTRY.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import {
  BadNameError, decodeConsistencyRequest, decodeEntriesRequest, decodeLookupRequest, encodeEntriesResponse, encodeError,
  encodeInfoResponse, encodeLookupResponse, encodeProofResponse, encodeRegisterResponse, MAX_REGISTRY_REQUEST_BYTES,
  RegistryErrorCode, RegistryFormatError, registryProtocol, type RegistryOp
} from '../protocol/index.js'
import { silentLogger, type Logger } from '../node/logger.js'
import { errorName, LENGTH_ERRORS } from '../node/frames.js'
import {
  DEFAULT_RATE_LIMITS, MAX_INBOUND_STREAMS_PER_OP, MAX_TRACKED_PEERS, REQUEST_TIMEOUT_MS, RESPONSE_TIMEOUT_MS, type RateLimits
} from './constants.js'
import { checkRateLimit, createKeyedLimiter, type KeyedLimiter } from './rate-limit.js'
import type { Registry } from './registry.js'

/** Every op, in the order SPEC §13.5 lists them. */
export const REGISTRY_OPS: readonly RegistryOp[] = ['info', 'register', 'lookup', 'consistency', 'entries']

/** Options of {@link createRegistryService}. */
export interface RegistryServiceInit {
  /** The libp2p node to serve on (the Operator's node). */
  libp2p: Libp2p
  /** The registry; undefined for a discovery-only Operator (every op answers NO_REGISTRY). */
  registry?: Registry
  /** Network name, part of the protocol ids. @default 'komrade' */
  networkName?: string
  /** Per-peer limits; `false` turns them off (benchmarks). @default DEFAULT_RATE_LIMITS */
  rateLimits?: Partial<RateLimits> | false
  /** Longest wait for a request frame. @default 15,000 ms */
  requestTimeoutMs?: number
  /** @default silent */
  logger?: Logger
}

/** The registry service: registers and unregisters the stream handlers. */
export interface RegistryService {
  start(): Promise<void>
  /** Unregisters the handlers and waits for the streams in progress. */
  stop(): Promise<void>
  /** The protocol ids served. */
  readonly protocols: string[]
}

/**
 * Bytes buffered from a client before its request is read. Larger than a
 * request, so an oversize frame arriving whole is still answered MALFORMED
 * (its length prefix is read first); past this the stream is reset.
 */
const MAX_BUFFERED_REQUEST_BYTES = 65_536

/** Resolves rate-limit options: defaults filled in, each one checked. */
export function resolveRateLimits (option: Partial<RateLimits> | false | undefined): RateLimits | false {
  if (option === false) return false
  const limits: RateLimits = { ...DEFAULT_RATE_LIMITS, ...(option ?? {}) }
  checkRateLimit(limits.registrations, 'rateLimits.registrations')
  checkRateLimit(limits.requests, 'rateLimits.requests')
  checkRateLimit(limits.flood, 'rateLimits.flood')
  return limits
}

/**
 * The response frame to one request frame of `op`. Never throws: malformed
 * requests are MALFORMED (or BAD_NAME), a failure inside is UNAVAILABLE.
 */
export async function answerRegistryRequest (registry: Registry | undefined, op: RegistryOp, request: Uint8Array, logger: Logger = silentLogger()): Promise<Uint8Array> {
  if (registry === undefined) {
    return encodeError(RegistryErrorCode.NO_REGISTRY, 'This Operator runs discovery only and keeps no name registry; ask the Operator your network pins')
  }
  try {
    switch (op) {
      case 'info': {
        if (request.length !== 0) return encodeError(RegistryErrorCode.MALFORMED, 'An info request is empty')
        const info = registry.info()
        return encodeInfoResponse({ operator: info.operator, workTrials: info.workTrials, head: info.head.bytes })
      }
      case 'register': {
        const answer = await registry.register(request)
        if (!answer.ok) return encodeError(answer.code, answer.message)
        return encodeRegisterResponse({ certificate: answer.value.certificate, head: answer.value.head.bytes, inclusion: answer.value.inclusion })
      }
      case 'lookup': {
        const { name, knownSize } = decodeLookupRequest(request)
        const answer = await registry.lookup(name, knownSize)
        if (!answer.ok) return encodeError(answer.code, answer.message)
        const { certificate, head, inclusion, consistency } = answer.value
        return encodeLookupResponse({ certificate, head: head.bytes, inclusion, consistency })
      }
      case 'consistency': {
        const { from, to } = decodeConsistencyRequest(request)
        const answer = registry.consistency(from, to)
        return answer.ok ? encodeProofResponse(answer.value) : encodeError(answer.code, answer.message)
      }
      case 'entries': {
        const { start, count } = decodeEntriesRequest(request)
        const answer = await registry.entries(start, count)
        return answer.ok ? encodeEntriesResponse(answer.value) : encodeError(answer.code, answer.message)
      }
    }
    return encodeError(RegistryErrorCode.MALFORMED, `Unknown registry operation ${String(op)}`)
  } catch (error) {
    if (error instanceof RegistryFormatError) return encodeError(RegistryErrorCode.MALFORMED, error.message)
    if (error instanceof BadNameError) return encodeError(RegistryErrorCode.BAD_NAME, error.message)
    logger.error('registry request failed', { op, error })
    return encodeError(RegistryErrorCode.UNAVAILABLE, 'The Operator failed to answer; try again later')
  }
}

/** Creates the service; `start()` registers the handlers on `init.libp2p`. */
export function createRegistryService (init: RegistryServiceInit): RegistryService {
  const networkName = init.networkName ?? 'komrade'
  const log = init.logger ?? silentLogger()
  const requestTimeoutMs = init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
  const protocols = REGISTRY_OPS.map((op) => registryProtocol(networkName, op))
  const limits = resolveRateLimits(init.rateLimits)
  const limiters: { registrations: KeyedLimiter, requests: KeyedLimiter } | undefined = limits === false
    ? undefined
    : { registrations: createKeyedLimiter(limits.registrations, MAX_TRACKED_PEERS), requests: createKeyedLimiter(limits.requests, MAX_TRACKED_PEERS) }
  let shutdown = new AbortController()
  const inFlight = new Set<Promise<void>>()

  function allowed (op: RegistryOp, peer: string): boolean {
    if (limiters === undefined) return true
    return (op === 'register' ? limiters.registrations : limiters.requests).take(peer)
  }

  async function serve (op: RegistryOp, stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_REQUEST_BYTES, maxBufferSize: MAX_BUFFERED_REQUEST_BYTES })
    let response: Uint8Array
    try {
      const request = (await lp.read({ signal: AbortSignal.any([shutdown.signal, AbortSignal.timeout(requestTimeoutMs)]) })).subarray()
      response = allowed(op, peer)
        ? await answerRegistryRequest(init.registry, op, request, log)
        : encodeError(RegistryErrorCode.RATE_LIMITED, `Too many ${op} requests from you; wait a minute and try again`)
    } catch (error) {
      if (!LENGTH_ERRORS.has(errorName(error))) {
        // Silent, closed, cut off, or past MAX_BUFFERED_REQUEST_BYTES: nobody waits for an answer, or it is not worth one.
        log.debug('registry stream dropped', { op, peer, error })
        stream.abort(error instanceof Error ? error : new Error(String(error)))
        return
      }
      response = encodeError(RegistryErrorCode.MALFORMED, `A registry request is at most ${MAX_REGISTRY_REQUEST_BYTES} bytes`)
    }
    const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(RESPONSE_TIMEOUT_MS)])
    try {
      await lp.write(response, { signal })
      await stream.close({ signal })
    } catch (error) {
      log.debug('registry answer not delivered', { op, peer, error })
      stream.abort(error instanceof Error ? error : new Error(String(error)))
    }
  }

  return {
    protocols,
    async start () {
      if (shutdown.signal.aborted) shutdown = new AbortController()
      for (const op of REGISTRY_OPS) {
        await init.libp2p.handle(registryProtocol(networkName, op), (stream, connection) => {
          const task = serve(op, stream, connection).finally(() => { inFlight.delete(task) })
          inFlight.add(task)
        }, { maxInboundStreams: MAX_INBOUND_STREAMS_PER_OP })
      }
    },
    async stop () {
      await init.libp2p.unhandle(protocols)
      shutdown.abort()
      await Promise.allSettled([...inFlight])
    }
  }
}
