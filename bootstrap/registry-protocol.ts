/**
 * The registry over libp2p (SPEC §13.5): five protocols
 * `/komrade/<network>/registry/<op>/1.0.0`, frames of an unsigned-varint
 * length + bytes. An `info` or `register` stream carries one request frame
 * and one response frame; a `lookup`, `consistency` or `entries` stream up to
 * MAX_REGISTRY_REQUESTS_PER_STREAM requests, answered one by one in order,
 * until the client closes its side (a client that sends one request and
 * closes sees no difference).
 *
 * Nothing a client sends is trusted: each request frame is bounded (1 KiB)
 * and must arrive within REQUEST_TIMEOUT_MS of the stream opening or of the
 * previous answer, a client that does not read its answers is cut off after
 * RESPONSE_TIMEOUT_MS, and every peer has token buckets, taken per request
 * (registrations apart from the rest); past them a request is answered
 * RATE_LIMITED. A discovery-only Operator answers every op NO_REGISTRY.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, Stream, StreamMessageEvent } from '@libp2p/interface'
import {
  BadNameError, decodeConsistencyRequest, decodeEntriesRequest, decodeLookupRequest, encodeEntriesResponse, encodeError,
  encodeInfoResponse, encodeLookupResponse, encodeProofResponse, encodeRegisterResponse, MAX_REGISTRY_REQUEST_BYTES,
  MAX_REGISTRY_REQUESTS_PER_STREAM, RegistryErrorCode, RegistryFormatError, registryProtocol, type RegistryOp
} from '../protocol/index.js'
import { silentLogger, type Logger } from '../node/logger.js'
import { END_OF_STREAM_ERROR, errorName, LENGTH_ERRORS } from '../node/frames.js'
import {
  DEFAULT_RATE_LIMITS, MAX_INBOUND_STREAMS_PER_OP, MAX_TRACKED_PEERS, REQUEST_TIMEOUT_MS, RESPONSE_TIMEOUT_MS, type RateLimits
} from './constants.js'
import { checkRateLimit, createKeyedLimiter, type KeyedLimiter } from './rate-limit.js'
import type { Registry } from './registry.js'

/** Every op, in the order SPEC §13.5 lists them. */
export const REGISTRY_OPS: readonly RegistryOp[] = ['info', 'register', 'lookup', 'consistency', 'entries']

/**
 * Ops whose stream may carry several requests (SPEC §13.5): the read-only
 * ones a node asks in bulk. `register` keeps one per stream (each costs
 * proof-of-work checks and a synced write), `info` too (asked once per peer).
 */
export const PIPELINED_REGISTRY_OPS: ReadonlySet<RegistryOp> = new Set(['lookup', 'consistency', 'entries'])

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
  /** Longest wait for a request frame: after the stream opens, or after the previous answer. @default 15,000 ms */
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
 * Bytes buffered from a client before its requests are read. Larger than a
 * request, so an oversize frame arriving whole is still answered MALFORMED
 * (its length prefix is read first), and than a client's window of pipelined
 * lookups (32 frames of at most 42 bytes); past this the stream is reset.
 */
const MAX_BUFFERED_REQUEST_BYTES = 65_536

/**
 * Answers of one stream held back to be written together, at most: a window
 * of lookup answers (~1 KB each) fits many times, and a client that does not
 * read has at most this (and one write in progress) waiting for it.
 */
const MAX_UNSENT_ANSWER_BYTES = 65_536

/** Bytes of the unsigned-varint length prefix of a frame of `length` bytes. */
function varintLength (length: number): number {
  let bytes = 1
  for (let rest = length; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++
  return bytes
}

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

  /**
   * Answers the requests of one stream in order: one for `info` and
   * `register`, up to MAX_REGISTRY_REQUESTS_PER_STREAM for the others, until
   * the client closes its side. Each request has REQUEST_TIMEOUT_MS to
   * arrive and takes a token of the peer's bucket.
   */
  async function serve (op: RegistryOp, stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_REQUEST_BYTES, maxBufferSize: MAX_BUFFERED_REQUEST_BYTES })
    const limit = PIPELINED_REGISTRY_OPS.has(op) ? MAX_REGISTRY_REQUESTS_PER_STREAM : 1
    // While more requests have arrived, answers wait here and then go out together: one write (one
    // muxer frame, one encryption, one syscall) for a window of lookups, not one each. An answer with
    // nothing behind it goes out at once.
    let received = 0
    let consumed = 0
    const countReceived = (event: StreamMessageEvent): void => { received += event.data.byteLength }
    stream.addEventListener('message', countReceived)
    const unsent: Uint8Array[] = []
    let unsentBytes = 0
    let scheduled: NodeJS.Immediate | undefined
    /** The last write: false once one failed (the stream is aborted then). One write at a time. */
    let written = Promise.resolve(true)
    // The silent-client timeout, counted anew for each request: one timer per stream (not one per request,
    // thousands pending at once), and it cuts off only a wait for a request, never the Operator's own work.
    let waiting = false
    // One controller for the reads, aborted by the timer or the shutdown (not AbortSignal.any: see `deliver`).
    const reading = new AbortController()
    const silentTimer = setTimeout(() => { if (waiting) reading.abort(new DOMException(`No request within ${requestTimeoutMs} ms`, 'TimeoutError')) }, requestTimeoutMs)
    const stopping = shutdown.signal // start() after stop() makes a new one
    const onShutdown = (): void => { reading.abort(stopping.reason) }
    if (stopping.aborted) onShutdown()
    else stopping.addEventListener('abort', onShutdown, { once: true })
    const readSignal = reading.signal
    const flush = async (): Promise<boolean> => {
      if (scheduled !== undefined) clearImmediate(scheduled)
      scheduled = undefined
      if (unsent.length > 0) {
        const batch = unsent.splice(0)
        unsentBytes = 0
        written = written.then(async (ok) => ok && await deliver(op, peer, stream, async (signal) => { await lp.writeV(batch, { signal }) }))
      }
      return await written
    }
    try {
      for (let answered = 0; answered < limit; answered++) {
        let response: Uint8Array
        let last = answered + 1 === limit
        try {
          silentTimer.refresh()
          waiting = true
          const request = (await lp.read({ signal: readSignal }).finally(() => { waiting = false })).subarray()
          consumed += varintLength(request.length) + request.length
          response = allowed(op, peer)
            ? await answerRegistryRequest(init.registry, op, request, log)
            : encodeError(RegistryErrorCode.RATE_LIMITED, `Too many ${op} requests from you; wait a minute and try again`)
        } catch (error) {
          const name = errorName(error)
          // The client closed its side after its last request: done.
          if (answered > 0 && name === END_OF_STREAM_ERROR) break
          if (!LENGTH_ERRORS.has(name)) {
            // Silent, closed, cut off, or past MAX_BUFFERED_REQUEST_BYTES: nobody waits for an answer, or it is not worth one.
            log.debug('registry stream dropped', { op, peer, answered, error })
            stream.abort(error instanceof Error ? error : new Error(String(error)))
            return
          }
          // The oversize frame was not read, so nothing after it can be: answer it and end the stream.
          response = encodeError(RegistryErrorCode.MALFORMED, `A registry request is at most ${MAX_REGISTRY_REQUEST_BYTES} bytes`)
          last = true
        }
        unsent.push(response)
        unsentBytes += response.length
        if (last) break
        if (received > consumed && unsentBytes < MAX_UNSENT_ANSWER_BYTES) {
          // More requests are here: answer them first (a frame not yet whole is waited for no longer than this turn).
          scheduled ??= setImmediate(() => { scheduled = undefined; void flush() })
        } else if (!await flush()) {
          return // a client that does not read its answers gets no more (RESPONSE_TIMEOUT_MS)
        }
      }
      if (!await flush()) return
      await deliver(op, peer, stream, async (signal) => { await stream.close({ signal }) })
    } finally {
      clearTimeout(silentTimer)
      stopping.removeEventListener('abort', onShutdown)
      stream.removeEventListener('message', countReceived)
      if (scheduled !== undefined) clearImmediate(scheduled)
    }
  }

  /**
   * Runs one write (an answer, or the close after the last); a client that
   * does not take it within RESPONSE_TIMEOUT_MS is cut off. The deadline is a
   * timer cleared when the write is done, not AbortSignal.timeout/any: Node
   * keeps such a signal that has listeners alive until it fires, with the
   * stream its listeners hold, so every stream pinned a few KB for 30 s
   * (test/reliability/fuzz-registry.test.ts).
   */
  async function deliver (op: RegistryOp, peer: string, stream: Stream, write: (signal: AbortSignal) => Promise<void>): Promise<boolean> {
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort(new DOMException(`The answer was not taken within ${RESPONSE_TIMEOUT_MS} ms`, 'TimeoutError')) }, RESPONSE_TIMEOUT_MS)
    const stopping = shutdown.signal
    const onShutdown = (): void => { controller.abort(stopping.reason) }
    if (stopping.aborted) onShutdown()
    else stopping.addEventListener('abort', onShutdown, { once: true })
    try {
      await write(controller.signal)
      return true
    } catch (error) {
      log.debug('registry answer not delivered', { op, peer, error })
      stream.abort(error instanceof Error ? error : new Error(String(error)))
      return false
    } finally {
      clearTimeout(timer)
      stopping.removeEventListener('abort', onShutdown)
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
