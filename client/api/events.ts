/**
 * The live event stream, WebSocket `/api/events`: the node's events as JSON
 * frames to every connected client, `hello` (with the status) first.
 *
 * A client that does not read fast enough is dropped, never buffered for
 * without bound: the daemon's memory must not depend on a stalled browser
 * tab. Pings find dead connections (a laptop that slept, a killed process).
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import type { KomradeNode, PeerCounts, ReceivedMessage, SentMessage, SyncProgress } from '../../node/komrade-node.js'
import type { KeyChange, SplitViewEvidence } from '../../node/komrade-node.js'
import type { Logger } from '../../node/logger.js'
import type { Post, Profile } from '../../node/social/types.js'
import type { EventInfo, GroupInfo, GroupPost, PinInfo, RsvpInfo, VoteEvent } from '../../node/collectives/types.js'
import { apiEvent, apiGroupInfo, apiGroupPost, apiPin, apiRsvp, apiVoteEvent } from './collectives-shapes.js'
import { apiPost, apiProfile, apiReceived, apiSent, apiStatus } from './shapes.js'
import type { ApiEvent } from './types.js'

/**
 * Bytes queued for one client (beyond what its socket took) before it is
 * dropped: a few of the largest events (a 1 MiB message is about 1 MiB of
 * JSON, more with escapes).
 */
export const MAX_CLIENT_BUFFER_BYTES = 8 * 1024 * 1024
/** Ping every client this often; one that has not answered the previous ping by then is gone. */
export const PING_INTERVAL_MS = 30_000
/** Clients at most: a person has a few windows and a CLI or two. */
export const MAX_EVENT_CLIENTS = 64
/** Clients send nothing; a frame larger than this from one is an abuse and closes it. */
const MAX_INBOUND_FRAME_BYTES = 1024
/**
 * Close code for a client whose session ended (signed out, idle, evicted):
 * 4000–4999 is for applications (RFC 6455 §7.4.2); 4401 reads as HTTP 401.
 * A client then asks a plain request, gets 401, and signs in again.
 */
export const CLOSE_SESSION_ENDED = 4401

/** Options of {@link createEventHub}. */
export interface EventHubInit {
  node: KomradeNode
  logger: Logger
  /** @default MAX_CLIENT_BUFFER_BYTES */
  maxClientBufferBytes?: number
  /** @default PING_INTERVAL_MS */
  pingIntervalMs?: number
}

/** The WebSocket side of the API server. */
export interface EventHub {
  /**
   * Takes over an authenticated upgrade request for `/api/events`.
   * `principal` is who it came from (a session id, or 'token'): see `ApiAuth.authorize`.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, principal: string): void
  /** Closes the sockets opened with session `id` (4401): its events are no longer theirs to see. */
  endSession(id: string, reason: string): void
  /** Sends an event to every client. */
  broadcast(event: ApiEvent): void
  /** Connected clients. */
  readonly clients: number
  /** True when no more clients may connect. */
  readonly full: boolean
  /** Closes every client (1001 going away) and stops listening to the node. */
  close(): Promise<void>
}

/** Creates the hub and subscribes it to the node's events. */
export function createEventHub (init: EventHubInit): EventHub {
  const { node, logger } = init
  const maxBuffer = init.maxClientBufferBytes ?? MAX_CLIENT_BUFFER_BYTES
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INBOUND_FRAME_BYTES, perMessageDeflate: false, clientTracking: true })
  const awaitingPong = new WeakSet<WebSocket>()
  const principals = new WeakMap<WebSocket, string>()

  function send (ws: WebSocket, frame: string): void {
    if (ws.readyState !== WebSocket.OPEN) return
    // A frame always fits an empty queue (a 1 MiB message is one frame); a queue that has not drained gets no more than the limit.
    if (ws.bufferedAmount > 0 && ws.bufferedAmount + Buffer.byteLength(frame) > maxBuffer) {
      logger.warn('dropped an event client that does not keep up', { buffered: ws.bufferedAmount })
      ws.terminate() // close() would queue its frame behind everything the client is not reading
      return
    }
    ws.send(frame)
  }

  function broadcast (event: ApiEvent): void {
    if (wss.clients.size === 0) return
    const frame = JSON.stringify(event)
    for (const ws of wss.clients) send(ws, frame)
  }

  const listeners: Array<[string, (event: Event) => void]> = [
    ['message', (e) => { broadcast({ type: 'message', message: apiReceived(detail<ReceivedMessage>(e)) }) }],
    ['outbox', (e) => { broadcast({ type: 'outbox', message: apiSent(detail<SentMessage>(e)) }) }],
    ['peers', (e) => { broadcast({ type: 'peers', ...detail<PeerCounts>(e) }) }],
    ['sync', (e) => { broadcast({ type: 'sync', ...detail<SyncProgress>(e) }) }],
    ['key-change', (e) => { broadcast({ type: 'key-change', ...detail<KeyChange>(e) }) }],
    ['split-view', (e) => { broadcast({ type: 'split-view', ...detail<SplitViewEvidence>(e) }) }],
    // Without the image's or avatar's bytes: a client fetches them from their routes when it shows them.
    ['post', (e) => { broadcast({ type: 'post', post: apiPost(detail<Post>(e)) }) }],
    ['profile', (e) => { broadcast({ type: 'profile', profile: apiProfile(detail<Profile>(e)) }) }],
    // The collectives (SPEC §15); group posts without their images' bytes, as posts.
    ['group', (e) => { broadcast({ type: 'group', group: apiGroupInfo(detail<GroupInfo>(e)) }) }],
    ['group-post', (e) => { broadcast({ type: 'group-post', post: apiGroupPost(detail<GroupPost>(e)) }) }],
    ['vote', (e) => { broadcast({ type: 'vote', ...apiVoteEvent(detail<VoteEvent>(e)) }) }],
    ['event', (e) => { broadcast({ type: 'event', event: apiEvent(detail<EventInfo>(e)) }) }],
    ['rsvp', (e) => { broadcast({ type: 'rsvp', rsvp: apiRsvp(detail<RsvpInfo>(e)) }) }],
    ['pin', (e) => { broadcast({ type: 'pin', pin: apiPin(detail<PinInfo>(e)) }) }]
  ]
  for (const [type, listener] of listeners) node.addEventListener(type, listener)

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (awaitingPong.has(ws)) {
        logger.debug('dropped an event client that stopped answering pings')
        ws.terminate()
        continue
      }
      awaitingPong.add(ws)
      ws.ping()
    }
  }, init.pingIntervalMs ?? PING_INTERVAL_MS)
  pinger.unref()

  return {
    accept (req, socket, head, principal) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        principals.set(ws, principal)
        ws.on('pong', () => { awaitingPong.delete(ws) })
        ws.on('error', (error) => { logger.debug('event client error', { error }) })
        // The hello is sent before this callback returns: no node event can come before it.
        let hello: ApiEvent
        try {
          hello = { type: 'hello', status: apiStatus(node) }
        } catch (error) {
          logger.debug('no status for a new event client', { error })
          ws.close(1011, 'the node is not running')
          return
        }
        send(ws, JSON.stringify(hello))
      })
    },
    endSession (id, reason) {
      for (const ws of wss.clients) {
        if (principals.get(ws) === id) ws.close(CLOSE_SESSION_ENDED, reason)
      }
    },
    broadcast,
    get clients () { return wss.clients.size },
    get full () { return wss.clients.size >= MAX_EVENT_CLIENTS },
    async close () {
      clearInterval(pinger)
      for (const [type, listener] of listeners) node.removeEventListener(type, listener)
      for (const ws of wss.clients) ws.close(1001, 'the node is stopping')
      // A client that does not answer the close handshake is cut off after a moment.
      const cutoff = setTimeout(() => { for (const ws of wss.clients) ws.terminate() }, 1000)
      await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
      clearTimeout(cutoff)
    }
  }
}

function detail<T> (event: Event): T {
  return (event as CustomEvent<T>).detail
}
