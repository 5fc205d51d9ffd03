/**
 * The local control API: HTTP JSON under `/api`, the event WebSocket at
 * `/api/events`, and the web UI's files everywhere else, on 127.0.0.1 only.
 *
 * Every request passes the same gate, in this order:
 * 1. `Host` must be 127.0.0.1:PORT or localhost:PORT (421): a page on
 *    another site whose DNS name was rebound to 127.0.0.1 is refused.
 * 2. An `Origin`, when present, must be this server's own (403): other
 *    sites' pages cannot drive the API, and no CORS header ever lets them
 *    read an answer.
 * 3. `/api/*` needs the token (`Authorization: Bearer`) or a session
 *    cookie (401); a token in the query string is not looked at.
 * 4. Requests that change state must be JSON (415), at most 2 MiB (413).
 *
 * Images (a post's, an avatar) are sent as their bytes under a policy of
 * their own: they come from strangers, so nothing in them may run.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { KomradeNode } from '../../node/komrade-node.js'
import { silentLogger, type Logger } from '../../node/logger.js'
import { createApiAuth, type ApiAuth, type ApiAuthOptions } from './auth.js'
import { KomradeApiError } from './errors.js'
import { createEventHub, type EventHub, type EventHubInit } from './events.js'
import { isJsonContentType, MAX_BODY_BYTES, readJsonBody, securityHeaders, sendBytes, sendError, sendJson } from './http-io.js'
import { apiErrorOf } from './node-errors.js'
import { matchRoute, type Route, type RouteServices } from './router.js'
import { contactRoutes } from './routes/contacts.js'
import { messageRoutes } from './routes/messages.js'
import { nameRoutes } from './routes/names.js'
import { nodeInfoRoutes } from './routes/node-info.js'
import { sessionRoutes } from './routes/session.js'
import { circleRoutes, profileRoutes } from './routes/profiles.js'
import { postRoutes } from './routes/posts.js'
import { eventRoutes } from './routes/events.js'
import { groupRoutes } from './routes/groups.js'
import { pinRoutes } from './routes/pins.js'
import { defaultWebRoot, serveStatic } from './static-files.js'

/** The only interface the API listens on: it controls the node, so it never leaves this machine. */
export const API_HOST = '127.0.0.1'
/** Path of the event WebSocket. */
export const EVENTS_PATH = '/api/events'
/** Prefix of the session cookie; the port is appended, because browsers share cookies across ports of one host. */
export const SESSION_COOKIE_PREFIX = 'komrade_session'
/** In-flight requests get this long to finish when the server stops; then their connections are cut. */
const STOP_GRACE_MS = 1000
/**
 * A client gets this long to send a request's headers: a local browser or
 * CLI sends them at once; one that trickles them in holds a connection for
 * nothing (slowloris).
 */
export const HEADERS_TIMEOUT_MS = 10_000
/**
 * ... and this long to send the whole request, body included (2 MiB over
 * loopback takes milliseconds). It covers receiving only: a long answer (the
 * proof of work of POST /api/register) is not cut by it, and an upgraded
 * event socket is no longer a request.
 */
export const REQUEST_TIMEOUT_MS = 30_000
/** Largest request head: ours are a few hundred bytes, cookies of other apps on 127.0.0.1 add some. */
export const MAX_HEADER_BYTES = 16 * 1024
/**
 * Open connections at most, event sockets included (MAX_EVENT_CLIENTS of
 * them): a few windows and scripts need tens; this bounds the file
 * descriptors and memory a runaway local program can take from the node.
 */
export const MAX_CONNECTIONS = 256
/** How often sessions unused for SESSION_IDLE_MS are ended (and their sockets closed). */
export const SESSION_SWEEP_INTERVAL_MS = 60_000

const ROUTES: readonly Route[] = [
  ...sessionRoutes, ...nodeInfoRoutes, ...nameRoutes, ...contactRoutes, ...messageRoutes, ...postRoutes, ...profileRoutes, ...circleRoutes,
  ...groupRoutes, ...eventRoutes, ...pinRoutes
]

/** The request's URL; a path starting with `//` stays a path (`new URL('//x', base)` would read a host). */
function requestUrl (req: IncomingMessage, host: string): URL {
  const target = req.url ?? '/'
  try {
    return target.startsWith('/') ? new URL(`http://${host}${target}`) : new URL(target)
  } catch {
    throw new KomradeApiError('bad_request', `The request target ${JSON.stringify(target)} is not a path`)
  }
}

/** Options of {@link createApiServer}. */
export interface ApiServerInit {
  /** The running node the API controls. */
  node: KomradeNode
  /** The API token (see `loadOrCreateToken`). */
  token: string
  /** TCP port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number
  /** Directory of the built web UI. @default the package's dist/web */
  webRoot?: string
  /** What GET /api/config shows: the daemon's resolved configuration. @default {} */
  config?: Readonly<Record<string, unknown>>
  /** Largest request body in bytes. @default MAX_BODY_BYTES (2 MiB) */
  maxBodyBytes?: number
  /** Limits of the event stream (tests make them small). */
  events?: Pick<EventHubInit, 'maxClientBufferBytes' | 'pingIntervalMs'>
  /** Session expiry (tests move the clock and sweep often). @default SESSION_IDLE_MS, swept every SESSION_SWEEP_INTERVAL_MS */
  sessions?: Pick<ApiAuthOptions, 'now' | 'sessionIdleMs'> & { sweepIntervalMs?: number }
  /** @default silent */
  logger?: Logger
}

/** A running API server. */
export interface ApiServer {
  /** `http://127.0.0.1:PORT` (after start). */
  readonly url: string
  /** The port it listens on (after start). */
  readonly port: number
  /** Listens on 127.0.0.1. Throws (EADDRINUSE...) when the port cannot be had. */
  start(): Promise<void>
  /** Closes every client and stops listening; sessions end. */
  stop(): Promise<void>
  /** A one-time login code, valid for 10 minutes. */
  createLoginCode(): string
  /** The UI's sign-in link for a new login code: `http://127.0.0.1:PORT/#login=CODE` (a fragment: never sent to a server or a log). */
  loginUrl(): string
}

/** Creates the API server for a running node. Call `start()` to listen. */
export function createApiServer (init: ApiServerInit): ApiServer {
  const logger = init.logger ?? silentLogger()
  const webRoot = init.webRoot ?? defaultWebRoot()
  const maxBodyBytes = init.maxBodyBytes ?? MAX_BODY_BYTES
  let stopping = new AbortController()
  let server: Server | undefined
  let hub: EventHub | undefined
  let sweeper: NodeJS.Timeout | undefined
  let port = 0
  const auth: ApiAuth = createApiAuth(init.token, {
    ...init.sessions,
    // A session that ends takes its event sockets with it: they must not keep showing messages to a signed-out window.
    onSessionEnd: (id, reason) => { hub?.endSession(id, reason) }
  })

  const ownHosts = (): Set<string> => new Set([`127.0.0.1:${port}`, `localhost:${port}`])
  const cookieName = (): string => `${SESSION_COOKIE_PREFIX}_${port}`

  /** Steps 1 and 2 of the gate; returns the checked host. */
  function checkHostAndOrigin (req: IncomingMessage): string {
    const host = (req.headers.host ?? '').toLowerCase()
    if (!ownHosts().has(host)) {
      throw new KomradeApiError('bad_host', `This API answers only to 127.0.0.1:${port} or localhost:${port}, not ${JSON.stringify(req.headers.host ?? '')}; use the address \`komrade start\` printed`)
    }
    const origin = req.headers.origin
    if (origin !== undefined && origin !== `http://${host}`) {
      throw new KomradeApiError('forbidden_origin', `Requests from ${JSON.stringify(origin)} are refused: only pages served by this node (http://${host}) may use its API`)
    }
    return host
  }

  function services (): RouteServices {
    return { node: init.node, auth, events: hub!, config: init.config ?? {}, cookieName: cookieName(), url: api.url }
  }

  async function handleApi (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET'
    const match = matchRoute(ROUTES, method, url.pathname)
    if (match?.route.public !== true && auth.authorize(req.headers, cookieName()) === undefined) {
      throw new KomradeApiError('unauthorized')
    }
    if (match === undefined) {
      throw new KomradeApiError('not_found', `There is no API route ${method} ${url.pathname}; check the method and the path`)
    }
    if ((method === 'POST' || method === 'PUT' || method === 'PATCH') && !isJsonContentType(req.headers['content-type'])) {
      throw new KomradeApiError('unsupported_media_type', `Send ${method} requests as JSON with "Content-Type: application/json" (got ${JSON.stringify(req.headers['content-type'] ?? 'none')})`)
    }
    const request = new AbortController()
    res.once('close', () => { if (!res.writableFinished) request.abort() })
    const result = await match.route.handle({
      services: services(),
      params: match.params,
      query: url.searchParams,
      headers: req.headers,
      signal: AbortSignal.any([request.signal, stopping.signal]),
      async body () {
        const limit = match.route.bodyLimit
        const value = limit === undefined ? await readJsonBody(req, maxBodyBytes) : await readJsonBody(req, limit.bytes, limit.tooLarge)
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw new KomradeApiError('bad_request', 'The request body must be a JSON object')
        }
        return value as Record<string, unknown>
      }
    })
    if (result.bytes !== undefined) sendBytes(res, result.status ?? 200, result.bytes.data, result.bytes.contentType, result.headers)
    else sendJson(res, result.status ?? 200, result.body, result.headers)
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const host = checkHostAndOrigin(req)
      for (const [name, value] of Object.entries(securityHeaders(host))) res.setHeader(name, value)
      const url = requestUrl(req, host)
      const method = req.method ?? 'GET'
      if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
        await handleApi(req, res, url)
      } else if (method === 'GET' || method === 'HEAD') {
        await serveStatic(webRoot, url.pathname, method, res)
      } else {
        // A CORS preflight (OPTIONS) too: it gets no CORS headers, so the browser never sends the real request.
        throw new KomradeApiError('not_found', `There is nothing to ${method} at ${url.pathname}`)
      }
    } catch (caught) {
      const error = apiErrorOf(caught, logger)
      const headers: Record<string, string> = {}
      if (error.code === 'unauthorized') headers['www-authenticate'] = 'Bearer realm="komrade"'
      // After a refused body, the rest of it is not read: the connection closes rather than drain it.
      if (error.code === 'body_too_large') headers.connection = 'close'
      if (res.headersSent) res.destroy()
      else sendError(res, error, headers)
    } finally {
      logger.debug('api request', { method: req.method, path: (req.url ?? '').split('?')[0], status: res.statusCode })
    }
  }

  /** Refuses an upgrade with a plain HTTP answer. */
  function refuseUpgrade (socket: Duplex, error: KomradeApiError): void {
    const body = JSON.stringify(error.toJSON())
    socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }

  function handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (error) => { logger.debug('upgrade socket error', { error }) })
    try {
      const host = checkHostAndOrigin(req)
      const url = requestUrl(req, host)
      if (url.pathname !== EVENTS_PATH) throw new KomradeApiError('not_found', `WebSockets are served at ${EVENTS_PATH} only`)
      const principal = auth.authorize(req.headers, cookieName())
      if (principal === undefined) throw new KomradeApiError('unauthorized')
      if (hub!.full) throw new KomradeApiError('too_many_clients')
      hub!.accept(req, socket, head, principal)
    } catch (caught) {
      refuseUpgrade(socket, apiErrorOf(caught, logger))
    }
  }

  const api: ApiServer = {
    get url () { return `http://${API_HOST}:${port}` },
    get port () { return port },

    async start () {
      if (server !== undefined) return
      stopping = new AbortController()
      // The hub exists before the first request can arrive.
      const events = createEventHub({ node: init.node, logger, ...init.events })
      hub = events
      const created = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => { void handle(req, res) })
      created.maxConnections = MAX_CONNECTIONS
      created.on('upgrade', handleUpgrade)
      created.on('clientError', (error, socket) => {
        logger.debug('bad HTTP from a client', { error })
        if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      })
      try {
        await new Promise<void>((resolve, reject) => {
          created.once('error', reject)
          created.listen({ host: API_HOST, port: init.port ?? 0, exclusive: true }, () => {
            created.off('error', reject)
            resolve()
          })
        })
      } catch (error) {
        await events.close()
        hub = undefined
        throw error
      }
      server = created
      port = (created.address() as { port: number }).port
      sweeper = setInterval(() => { auth.expireIdleSessions() }, init.sessions?.sweepIntervalMs ?? SESSION_SWEEP_INTERVAL_MS)
      sweeper.unref()
      logger.info('control API listening', { url: api.url })
    },

    async stop () {
      const running = server
      if (running === undefined) return
      server = undefined
      clearInterval(sweeper)
      stopping.abort()
      await hub?.close()
      const closed = new Promise<void>((resolve) => { running.close(() => { resolve() }) })
      running.closeIdleConnections()
      const cutoff = setTimeout(() => { running.closeAllConnections() }, STOP_GRACE_MS)
      await closed
      clearTimeout(cutoff)
    },

    createLoginCode: () => auth.createLoginCode(),
    loginUrl: () => `${api.url}/#login=${auth.createLoginCode()}`
  }
  return api
}
