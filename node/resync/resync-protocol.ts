/**
 * Resync over libp2p: `/komrade/resync/1.0.0`, one stream per sync. The
 * initiator reconciles the two envelope sets (reconcile.ts), then pushes the
 * envelopes the responder lacks and requests the ones it needs, in bounded,
 * pipelined batches. Frames, their order and the bounds are in protocol/SPEC.md §11.
 *
 * Nothing the peer sends is trusted: every frame is size-checked, every
 * envelope goes through `receiveEnvelope`, envelopes we did not request are a
 * protocol violation, and any breach aborts the stream with a
 * ResyncAbortedError.
 */
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { BUFFER_ERROR, LENGTH_ERRORS } from '../frames.js'
import type { ComponentLogger, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'
import { ENVELOPE_SIZE, envelopeId, nativeCrypto, type CryptoProvider } from '../../protocol/index.js'
import {
  createReconciler, ReconcileProtocolError, ID_LENGTH, MAX_FRAME_SIZE_LIMIT, MIN_FRAME_SIZE_LIMIT, type ReconcileItem
} from './reconcile.js'

/** The stream protocol id. */
export const RESYNC_PROTOCOL = '/komrade/resync/1.0.0'
/** Largest frame payload by default: one reconciliation message of 64 KiB, or 31 envelopes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_536
/**
 * Reconciliation round trips per sync. A clustered gap of 10,000 envelopes
 * takes about 12, scattered differences about one per 70 KiB exchanged, an
 * empty node against 100,000 envelopes about 50 (ids are 32 bytes, 2,000 a frame).
 */
export const DEFAULT_MAX_ROUNDS = 512
/** Envelopes moved per sync in each direction: 100 MiB; the rest waits for the next sync. */
export const DEFAULT_MAX_ENVELOPES_PER_SYNC = 50_000
/** A whole sync, 20 MB or more over Tor included. */
export const DEFAULT_TIMEOUT_MS = 10 * 60_000
/** Responder sessions at once: each holds a snapshot of the store (about 70 bytes an envelope). */
export const DEFAULT_MAX_INBOUND_SYNCS = 4
/** Envelopes `receiveEnvelope` may reject from one peer in one sync before we cut it off. */
export const MAX_REJECTED_ENVELOPES = 3
/** Batches in flight: hides the round trip (4 x 64 KiB) while bounding what the peer buffers. */
export const PIPELINE_DEPTH = 4
/** Inbound syncs per connection: the peer's sync, plus one overlapping it (on connect and periodic). */
export const MAX_INBOUND_SYNCS_PER_CONNECTION = 2
/**
 * Longest wait for the next frame. A 64 KiB frame crosses Tor in seconds; a
 * peer silent this long is holding a session (and its snapshot) for nothing.
 */
export const FRAME_IDLE_TIMEOUT_MS = 60_000

const FRAME_RECONCILE = 0x01
const FRAME_PUSH = 0x02
const FRAME_ACK = 0x03
const FRAME_REQUEST = 0x04
const FRAME_ENVELOPES = 0x05
const FRAME_DONE = 0x06

/** What `receiveEnvelope` decided. */
export type EnvelopeVerdictKind = 'accepted' | 'duplicate' | 'rejected'

/** Options and dependencies of {@link createResync}. */
export interface ResyncInit {
  libp2p: Libp2p
  /** The local envelope keys, sorted by (expiry, id). Taken once per sync. */
  snapshot(): Promise<readonly ReconcileItem[]>
  /** The envelopes with these ids, `undefined` for any no longer held. */
  getEnvelopes(ids: Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  /** Validates, stores and screens one envelope from `from`. */
  receiveEnvelope(envelope: Uint8Array, from: PeerId): Promise<EnvelopeVerdictKind>
  /** Called when a sync with `peer` is cut off for its behaviour (not for local cancellation). */
  onAbort?(peer: PeerId, error: ResyncAbortedError): void
  /** Computes envelope ids. @default nativeCrypto() */
  crypto?: CryptoProvider
  /** @default libp2p.logger */
  logger?: ComponentLogger
  /** @default 512 ({@link DEFAULT_MAX_ROUNDS}) */
  maxRounds?: number
  /** @default 50,000 ({@link DEFAULT_MAX_ENVELOPES_PER_SYNC}) */
  maxEnvelopesPerSync?: number
  /** @default 600,000 ({@link DEFAULT_TIMEOUT_MS}) */
  timeoutMs?: number
  /** Largest frame sent or accepted; peers must use the same value. @default 65,536 */
  maxMessageBytes?: number
  /** @default 4 ({@link DEFAULT_MAX_INBOUND_SYNCS}) */
  maxInboundSyncs?: number
}

/** The outcome of one sync, seen from the initiator. */
export interface SyncReport {
  /** Reconciliation round trips. */
  rounds: number
  /** Ids we had that the peer lacked. */
  have: number
  /** Ids the peer had that we lacked. */
  need: number
  /** Envelopes pushed to the peer. */
  sent: number
  /** Envelopes received (whatever `receiveEnvelope` said). */
  received: number
  /** Received envelopes that `receiveEnvelope` rejected. */
  rejected: number
  /** Frame bytes in and out, length prefixes included (not Noise or yamux overhead). */
  bytesIn: number
  bytesOut: number
  /** Frame bytes of the reconciliation rounds alone, both directions. */
  reconcileBytes: number
  durationMs: number
  /** False when maxRounds or maxEnvelopesPerSync cut the sync short; the next one continues. */
  complete: boolean
}

/** The resync service. */
export interface Resync {
  /** Registers the stream handler. */
  start(): Promise<void>
  /** Unregisters it and aborts the syncs in progress. */
  stop(): Promise<void>
  /** Reconciles with `peer` and exchanges the difference. Throws ResyncAbortedError if the peer misbehaves. */
  syncWith(peer: PeerId, options?: { signal?: AbortSignal }): Promise<SyncReport>
}

/** Why a sync was cut off. */
export type ResyncAbortReason =
  | 'malformed-frame' | 'oversized-frame' | 'protocol-violation' | 'too-many-rounds' | 'too-many-envelopes'
  | 'too-many-rejected' | 'timeout' | 'aborted' | 'stream-closed' | 'busy'

/** A sync was cut off; `reason` says why. The peer is not trusted after this. */
export class ResyncAbortedError extends Error {
  /** On the initiator: what the sync had done when it was cut off. */
  report?: SyncReport
  constructor (message: string, readonly reason: ResyncAbortReason, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ResyncAbortedError'
  }
}

/** Reasons that blame the peer (reported through `onAbort`); the others are ours or the network's. */
const PEER_FAULTS = new Set<ResyncAbortReason>([
  'malformed-frame', 'oversized-frame', 'protocol-violation', 'too-many-rounds', 'too-many-envelopes', 'too-many-rejected', 'timeout'
])

/** A frame over its bound: its length, or the bytes buffered before it was read. */
const OVERSIZE_ERRORS = new Set([...LENGTH_ERRORS, BUFFER_ERROR])

function varintLength (n: number): number {
  let length = 1
  while (n >= 128) { n = Math.floor(n / 128); length++ }
  return length
}

function checkCount (value: number | undefined, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = value ?? fallback
  if (!Number.isInteger(n)) throw new TypeError(`"${name}" expected an integer, got ${String(n)}`)
  if (n < min || n > max) throw new RangeError(`"${name}" expected an integer in [${min}, ${max}], got ${n}`)
  return n
}

/**
 * A sync's signal: aborted by its deadline or by any of `parents`, and
 * released by `dispose()`. Not AbortSignal.timeout/any: Node keeps a timeout
 * signal that has listeners (and a composite of one) alive until it fires,
 * with everything its listeners hold (the stream and its buffers), so every
 * sync, however short, would pin tens of KB for the whole timeout (10
 * minutes): a peer opening syncs in a loop grew our heap without bound
 * (test/reliability/fuzz-resync.test.ts).
 */
interface Deadline {
  readonly signal: AbortSignal
  /** True once the deadline itself (not a parent) aborted the signal. */
  readonly expired: boolean
  /** Clears the timer and the listeners on the parents. */
  dispose(): void
}

function deadline (ms: number, parents: readonly AbortSignal[], what: string): Deadline {
  const controller = new AbortController()
  let expired = false
  const timer = setTimeout(() => { expired = true; controller.abort(new DOMException(what, 'TimeoutError')) }, ms)
  timer.unref()
  const onParent = (event: Event): void => { controller.abort((event.target as AbortSignal).reason) }
  for (const parent of parents) {
    if (parent.aborted) controller.abort(parent.reason)
    else parent.addEventListener('abort', onParent, { once: true })
  }
  return {
    signal: controller.signal,
    get expired () { return expired },
    dispose () {
      clearTimeout(timer)
      for (const parent of parents) parent.removeEventListener('abort', onParent)
    }
  }
}

/** Length-prefixed frames `type || body` with byte counts and error mapping. */
class Channel {
  bytesIn = 0
  bytesOut = 0
  private readonly lp: LengthPrefixedStream<Stream>
  constructor (stream: Stream, readonly maxMessageBytes: number, private readonly signal: AbortSignal,
    private readonly timeout: Deadline, private readonly timeoutMs: number) {
    this.lp = lpStream(stream, { maxDataLength: maxMessageBytes, maxBufferSize: maxMessageBytes * (PIPELINE_DEPTH + 2) })
  }

  async send (type: number, ...parts: Uint8Array[]): Promise<void> {
    const frame = new Uint8Array(1 + parts.reduce((sum, part) => sum + part.length, 0))
    frame[0] = type
    let offset = 1
    for (const part of parts) { frame.set(part, offset); offset += part.length }
    this.bytesOut += frame.length + varintLength(frame.length)
    try {
      await this.lp.write(frame, { signal: this.signal })
    } catch (error) {
      throw this.mapError(error)
    }
  }

  async receive (): Promise<{ type: number, body: Uint8Array }> {
    let frame: Uint8Array
    const idle = deadline(Math.min(FRAME_IDLE_TIMEOUT_MS, this.timeoutMs), [this.signal], 'No frame in time')
    try {
      frame = (await this.lp.read({ signal: idle.signal })).subarray()
    } catch (error) {
      throw this.mapError(error, idle.expired)
    } finally {
      idle.dispose()
    }
    this.bytesIn += frame.length + varintLength(frame.length)
    if (frame.length === 0) throw new ResyncAbortedError('Empty frame', 'malformed-frame')
    return { type: frame[0] as number, body: frame.subarray(1) }
  }

  private mapError (error: unknown, idleExpired = false): Error {
    if (error instanceof ResyncAbortedError) return error
    if (this.timeout.expired || idleExpired) return new ResyncAbortedError('The sync took too long', 'timeout', { cause: error })
    if (this.signal.aborted) return new ResyncAbortedError('The sync was cancelled', 'aborted', { cause: error })
    const name = (error as Error | undefined)?.name ?? ''
    if (OVERSIZE_ERRORS.has(name)) return new ResyncAbortedError('The peer sent an oversized frame', 'oversized-frame', { cause: error })
    return new ResyncAbortedError('The stream closed before the sync finished', 'stream-closed', { cause: error })
  }
}

/** Splits `body` into envelopes; a length that is not a whole number of them is malformed. */
function envelopesOf (body: Uint8Array): Uint8Array[] {
  if (body.length % ENVELOPE_SIZE !== 0) throw new ResyncAbortedError('Envelope frame is not a whole number of envelopes', 'malformed-frame')
  const out: Uint8Array[] = []
  for (let offset = 0; offset < body.length; offset += ENVELOPE_SIZE) out.push(body.slice(offset, offset + ENVELOPE_SIZE))
  return out
}

const keyOf = (id: Uint8Array): string => String.fromCharCode(...id)

/** Creates the resync service. Call `start()` to answer peers; `syncWith` works either way. */
export function createResync (init: ResyncInit): Resync {
  const { libp2p } = init
  const crypto = init.crypto ?? nativeCrypto()
  const log: Logger = (init.logger ?? libp2p.logger).forComponent('komrade:resync')
  const maxRounds = checkCount(init.maxRounds, 'maxRounds', DEFAULT_MAX_ROUNDS, 1)
  const maxEnvelopes = checkCount(init.maxEnvelopesPerSync, 'maxEnvelopesPerSync', DEFAULT_MAX_ENVELOPES_PER_SYNC, 1)
  const timeoutMs = checkCount(init.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS, 1)
  // One byte of each frame is its type; the rest may carry a whole reconciliation message.
  const maxMessageBytes = checkCount(init.maxMessageBytes, 'maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES,
    MIN_FRAME_SIZE_LIMIT + 1, MAX_FRAME_SIZE_LIMIT + 1)
  const maxInbound = checkCount(init.maxInboundSyncs, 'maxInboundSyncs', DEFAULT_MAX_INBOUND_SYNCS, 1)
  /** Envelopes per batch: a full ENVELOPES answer must fit one frame. */
  const batchSize = Math.floor((maxMessageBytes - 1) / ENVELOPE_SIZE)
  let shutdown = new AbortController()
  const sessions = new Set<Promise<void>>()

  /**
   * Feeds received envelopes to the store; too many rejections cut the peer
   * off. Stops between envelopes once `signal` aborts: a stopping node must
   * not wait for a batch (up to 31 screenings and commits) to be taken in;
   * what it did not take comes back at the next sync.
   */
  async function receive (envelopes: Uint8Array[], peer: PeerId, report: { received: number, rejected: number }, signal: AbortSignal): Promise<void> {
    for (const envelope of envelopes) {
      signal.throwIfAborted()
      report.received++
      if (await init.receiveEnvelope(envelope, peer) === 'rejected' && ++report.rejected > MAX_REJECTED_ENVELOPES) {
        throw new ResyncAbortedError(`The peer sent more than ${MAX_REJECTED_ENVELOPES} invalid envelopes`, 'too-many-rejected')
      }
    }
  }

  function fail (error: unknown, stream: Stream | undefined, peer: PeerId, report?: SyncReport): never {
    const mapped = error instanceof ReconcileProtocolError
      ? new ResyncAbortedError('The peer sent a malformed reconciliation message', 'malformed-frame', { cause: error })
      : error
    stream?.abort(mapped instanceof Error ? mapped : new Error(String(mapped)))
    if (mapped instanceof ResyncAbortedError && report !== undefined) mapped.report = report
    if (mapped instanceof ResyncAbortedError && PEER_FAULTS.has(mapped.reason)) {
      log('sync with %p cut off: %s', peer, mapped.reason)
      init.onAbort?.(peer, mapped)
    }
    throw mapped
  }

  async function syncWith (peer: PeerId, options: { signal?: AbortSignal } = {}): Promise<SyncReport> {
    const startedAt = Date.now()
    const timeout = deadline(timeoutMs, [shutdown.signal, ...(options.signal === undefined ? [] : [options.signal])], 'The sync took too long')
    const signal = timeout.signal
    const report: SyncReport = {
      rounds: 0, have: 0, need: 0, sent: 0, received: 0, rejected: 0, bytesIn: 0, bytesOut: 0, reconcileBytes: 0, durationMs: 0, complete: true
    }
    let stream: Stream | undefined
    let channel: Channel | undefined
    try {
      signal.throwIfAborted()
      const reconciler = createReconciler(await init.snapshot(), { frameSizeLimit: maxMessageBytes - 1 })
      stream = await libp2p.dialProtocol(peer, RESYNC_PROTOCOL, { signal })
      const ch = channel = new Channel(stream, maxMessageBytes, signal, timeout, timeoutMs)
      const have: Uint8Array[] = []
      const need: Uint8Array[] = []
      let message: Uint8Array | undefined = reconciler.initiate()
      while (message !== undefined) {
        // Past these bounds more reconciling cannot move more envelopes in this sync (and a lying
        // peer cannot grow our lists without end).
        if (report.rounds >= maxRounds || have.length + need.length > 2 * maxEnvelopes) { report.complete = false; break }
        await ch.send(FRAME_RECONCILE, message)
        report.rounds++
        const { type, body } = await ch.receive()
        if (type !== FRAME_RECONCILE) throw new ResyncAbortedError('Expected a reconciliation frame', 'protocol-violation')
        const result = reconciler.reconcile(body)
        have.push(...result.have)
        need.push(...result.need)
        message = result.reply
      }
      report.reconcileBytes = ch.bytesIn + ch.bytesOut
      report.have = have.length
      report.need = need.length
      if (have.length > maxEnvelopes || need.length > maxEnvelopes) report.complete = false

      // Exchange: pushes and requests in batches, at most PIPELINE_DEPTH answers outstanding.
      const pending: Array<Set<string> | 'ack'> = []
      const settle = async (): Promise<void> => {
        const expected = pending.shift()
        const { type, body } = await ch.receive()
        if (expected === 'ack') {
          if (type !== FRAME_ACK || body.length !== 0) throw new ResyncAbortedError('Expected an acknowledgement', 'protocol-violation')
          return
        }
        if (type !== FRAME_ENVELOPES) throw new ResyncAbortedError('Expected envelopes', 'protocol-violation')
        const envelopes = envelopesOf(body)
        for (const envelope of envelopes) {
          // Only what we asked for, each once: anything else is pushed at us.
          if (expected?.delete(keyOf(envelopeId(crypto, envelope))) !== true) {
            throw new ResyncAbortedError('The peer sent an envelope we did not request', 'protocol-violation')
          }
        }
        await receive(envelopes, peer, report, signal)
      }
      const submit = async (type: number, parts: Uint8Array[], expected: Set<string> | 'ack'): Promise<void> => {
        while (pending.length >= PIPELINE_DEPTH) await settle()
        pending.push(expected)
        await ch.send(type, ...parts)
      }
      const toPush = have.slice(0, maxEnvelopes)
      for (let i = 0; i < toPush.length; i += batchSize) {
        const envelopes = (await init.getEnvelopes(toPush.slice(i, i + batchSize)))
          .filter((e): e is Uint8Array => e instanceof Uint8Array && e.length === ENVELOPE_SIZE)
        if (envelopes.length === 0) continue
        await submit(FRAME_PUSH, envelopes, 'ack')
        report.sent += envelopes.length
      }
      const toRequest = need.slice(0, maxEnvelopes)
      for (let i = 0; i < toRequest.length; i += batchSize) {
        const ids = toRequest.slice(i, i + batchSize)
        await submit(FRAME_REQUEST, ids, new Set(ids.map(keyOf)))
      }
      while (pending.length > 0) await settle()
      await ch.send(FRAME_DONE)
      await stream.close({ signal })
    } catch (error) {
      const cancelled = error instanceof ResyncAbortedError || !signal.aborted
        ? error
        : timeout.expired
          ? new ResyncAbortedError('The sync took too long', 'timeout', { cause: error })
          : new ResyncAbortedError('The sync was cancelled', 'aborted', { cause: error })
      fail(cancelled, stream, peer, finish())
    } finally {
      timeout.dispose()
    }
    return finish()

    function finish (): SyncReport {
      report.bytesIn = channel?.bytesIn ?? 0
      report.bytesOut = channel?.bytesOut ?? 0
      report.durationMs = Date.now() - startedAt
      return report
    }
  }

  /** Answers one sync opened by `peer`. */
  async function respond (stream: Stream, peer: PeerId): Promise<void> {
    const timeout = deadline(timeoutMs, [shutdown.signal], 'The sync took too long')
    const signal = timeout.signal
    const ch = new Channel(stream, maxMessageBytes, signal, timeout, timeoutMs)
    const counts = { received: 0, rejected: 0 }
    let reconciler: ReturnType<typeof createReconciler> | undefined
    let rounds = 0
    let served = 0
    let exchanging = false
    try {
      for (;;) {
        const { type, body } = await ch.receive()
        if (type === FRAME_RECONCILE) {
          if (exchanging) throw new ResyncAbortedError('Reconciliation after the exchange began', 'protocol-violation')
          if (++rounds > maxRounds) throw new ResyncAbortedError(`More than ${maxRounds} reconciliation rounds`, 'too-many-rounds')
          reconciler ??= createReconciler(await init.snapshot(), { frameSizeLimit: maxMessageBytes - 1 })
          await ch.send(FRAME_RECONCILE, reconciler.reconcile(body).reply as Uint8Array)
          continue
        }
        if (type !== FRAME_PUSH && type !== FRAME_REQUEST && type !== FRAME_DONE) {
          throw new ResyncAbortedError(`Unexpected frame type ${type}`, 'malformed-frame')
        }
        if (reconciler === undefined) throw new ResyncAbortedError('A sync starts with reconciliation', 'protocol-violation')
        exchanging = true
        if (type === FRAME_PUSH) {
          const envelopes = envelopesOf(body)
          if (envelopes.length === 0 || counts.received + envelopes.length > maxEnvelopes) {
            throw new ResyncAbortedError('The peer pushed too many envelopes', 'too-many-envelopes')
          }
          await receive(envelopes, peer, counts, signal)
          await ch.send(FRAME_ACK)
        } else if (type === FRAME_REQUEST) {
          const n = body.length / ID_LENGTH
          if (!Number.isInteger(n) || n === 0 || n > batchSize) throw new ResyncAbortedError('Malformed request', 'malformed-frame')
          if ((served += n) > maxEnvelopes) throw new ResyncAbortedError('The peer requested too many envelopes', 'too-many-envelopes')
          const ids: Uint8Array[] = []
          for (let i = 0; i < n; i++) ids.push(body.slice(i * ID_LENGTH, (i + 1) * ID_LENGTH))
          const envelopes = (await init.getEnvelopes(ids)).filter((e): e is Uint8Array => e instanceof Uint8Array && e.length === ENVELOPE_SIZE)
          await ch.send(FRAME_ENVELOPES, ...envelopes)
        } else {
          if (body.length !== 0) throw new ResyncAbortedError('Malformed end of sync', 'malformed-frame')
          await stream.close({ signal })
          return
        }
      }
    } catch (error) {
      fail(error, stream, peer)
    } finally {
      timeout.dispose()
    }
  }

  let active = 0
  return {
    async start () {
      if (shutdown.signal.aborted) shutdown = new AbortController()
      await libp2p.handle(RESYNC_PROTOCOL, (stream, connection) => {
        if (active >= maxInbound) {
          stream.abort(new ResyncAbortedError('Too many syncs at once; try later', 'busy'))
          return
        }
        active++
        const session = respond(stream, connection.remotePeer)
          .catch((error: unknown) => { log.trace('inbound sync from %p failed: %e', connection.remotePeer, error) })
          .finally(() => { active--; sessions.delete(session) })
        sessions.add(session)
      }, { maxInboundStreams: MAX_INBOUND_SYNCS_PER_CONNECTION })
    },
    async stop () {
      await libp2p.unhandle(RESYNC_PROTOCOL)
      shutdown.abort()
      await Promise.allSettled([...sessions])
    },
    syncWith
  }
}
