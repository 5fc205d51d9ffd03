/**
 * Reliability scenario 5c: bad input at the local control API (client/api/*):
 * HTTP requests and WebSocket frames.
 *
 * Inputs: INPUTS_PER_DOOR (100,000 x KOMRADE_RELIABILITY_SCALE) generated
 * with fast-check from one printed seed: requests to every route the API
 * serves (every `Route[]` exported from client/api/routes/, so routes added
 * later are fuzzed too) and to made-up paths, with path parameters, query
 * strings and JSON bodies valid-shaped (real field names; contact ids, hex
 * identities, the node's own invite code and API token, numbers at their
 * limits) or not (any JSON value, wrong types, odd Unicode, oversize). The
 * split (real HTTP here runs at about 1,000 requests/s on 2 busy cores):
 *  - HANDLER_INPUTS requests into the real route handlers of a real node,
 *    through the API's own router (matchRoute) and error mapping (apiErrorOf),
 *    as the server calls them;
 *  - HTTP_INPUTS requests over real HTTP (keep-alive) to a real API server,
 *    plus RAW_HTTP_INPUTS byte strings that are not valid HTTP at all;
 *  - WS_INPUTS frames over real event WebSockets (text, binary, ping, close,
 *    fragments, reserved bits, unmasked, bad opcodes, oversize, cut short).
 *
 * Pass criterion: every request is answered with a status below 500 and the
 * API's error shape when it is an error (an `internal` error means a handler
 * threw something unexpected); every bad WebSocket frame closes only its own
 * socket, and good ones are ignored (clients send nothing); no hang (each
 * request answered within REQUEST_TIMEOUT_MS); the heap after a full GC
 * grows by less than HEAP_BOUND_BYTES; and afterwards the API still answers
 * GET /api/status and a new event socket still gets its hello.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readdir } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { createApiAuth } from '../../client/api/auth.js'
import { KomradeApiError } from '../../client/api/errors.js'
import { createEventHub } from '../../client/api/events.js'
import { apiErrorOf } from '../../client/api/node-errors.js'
import { matchRoute, type Route, type RouteServices } from '../../client/api/router.js'
import type { Logger } from '../../node/logger.js'
import { bearer, cleanupApi, rawWebSocket, startApiNode } from '../client/api-helpers.js'
import { FUZZ_SEED, generateInChunks, heapAfterGc, INPUTS_PER_DOOR, pool } from './fuzz-helpers.js'
import { SCALE } from './harness.js'

const HTTP_INPUTS = Math.round(4_000 * SCALE)
const RAW_HTTP_INPUTS = Math.round(500 * SCALE)
const WS_INPUTS = Math.round(3_000 * SCALE)
const HANDLER_INPUTS = INPUTS_PER_DOOR - HTTP_INPUTS - RAW_HTTP_INPUTS - WS_INPUTS
const REQUEST_TIMEOUT_MS = 30_000
const HEAP_BOUND_BYTES = 48 * 1024 * 1024
/** Body fields the routes read, and a few they do not. */
const FIELDS = ['to', 'text', 'contact', 'name', 'code', 'token', 'audience', 'image', 'avatar', 'caption', 'body', 'bio', 'displayName', 'feed', 'ids', 'limit', 'x']
const QUERY_NAMES = ['with', 'limit', 'before', 'after', 'feed', 'cursor', 'since', 'x']

afterAll(cleanupApi)

/** Every Route exported by the modules of client/api/routes/. */
async function allRoutes (): Promise<Route[]> {
  const dir = join(import.meta.dirname, '../../client/api/routes')
  const routes: Route[] = []
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort()) {
    const module = await import(join(dir, file)) as Record<string, unknown>
    for (const value of Object.values(module)) {
      if (Array.isArray(value) && value.every((r) => typeof r === 'object' && r !== null && 'method' in r && 'path' in r && 'handle' in r)) routes.push(...value as Route[])
    }
  }
  return routes
}

interface FuzzRequest {
  method: string
  path: string
  query: string
  body: unknown
}

function requestArbitrary (routes: Route[], facts: { identity: string, contactId: string, invite: string, token: string }): fc.Arbitrary<FuzzRequest> {
  const hex = (n: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: n / 2, maxLength: n / 2 }).map((b) => Buffer.from(b).toString('hex'))
  // The node's own identity is the one valid recipient here: rare, because each accepted send queues real proof of work.
  const text = fc.oneof(
    { weight: 40, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 })) },
    { weight: 10, arbitrary: fc.constantFrom('', ' ', '\u0000', '\ud800', '../../etc/passwd', 'alice', 'KOMRADE1-', '%00', 'world', 'circle') },
    { weight: 10, arbitrary: fc.oneof(hex(64), hex(126).map((h) => `${h}zz`), hex(130)) },
    { weight: 8, arbitrary: fc.constantFrom(facts.contactId, facts.invite, facts.token, facts.invite.slice(0, 40), facts.identity.slice(0, 100)) },
    { weight: 1, arbitrary: fc.constant(facts.identity) }
  )
  const value: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 6, arbitrary: text },
    { weight: 1, arbitrary: fc.constantFrom('a'.repeat(9000), 'é'.repeat(70_000), 'data:image/png;base64,' + 'A'.repeat(3000)) },
    { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 2 ** 53, Number.MAX_SAFE_INTEGER + 2)) },
    { weight: 1, arbitrary: fc.oneof(fc.boolean(), fc.constant(null)) },
    { weight: 1, arbitrary: fc.array(text, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), text, { maxKeys: 3 }) }
  )
  const body = fc.oneof(
    { weight: 6, arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 4 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constant(undefined) }
  )
  const segment = fc.oneof(
    { weight: 4, arbitrary: text.map((t) => t.isWellFormed() ? encodeURIComponent(t) : '%ED%A0%80') },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%C0%AF', '', '..', '%2e%2e', 'x'.repeat(3000), 'y'.repeat(20_000)) }
  )
  const routed = fc.tuple(fc.constantFrom(...routes), fc.array(segment, { minLength: 4, maxLength: 4 })).map(([route, params]) => ({
    method: route.method,
    path: route.path.split('/').map((part, i) => part.startsWith(':') ? params[i % 4]! : part).join('/')
  }))
  const madeUp = fc.tuple(fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'), fc.array(segment, { minLength: 0, maxLength: 4 }))
    .map(([method, parts]) => ({ method, path: ['/api', ...parts].join('/') }))
  const query = fc.dictionary(fc.constantFrom(...QUERY_NAMES), fc.oneof(text, fc.nat().map(String), fc.constantFrom('-1', '1e3', '99999999999999999999', '')), { maxKeys: 3 })
    .map((q) => new URLSearchParams(q as Record<string, string>).toString())
  return fc.record({ target: fc.oneof({ weight: 5, arbitrary: routed }, { weight: 1, arbitrary: madeUp }), query, body })
    .map(({ target, query: q, body: b }) => ({ method: target.method, path: target.path, query: q, body: b }))
}

/** A logger that keeps what was logged as an error. */
function recordingLogger (errors: string[]): Logger {
  const logger: Logger = {
    debug () {}, info () {}, warn () {},
    error (message, fields) { errors.push(`${message} ${JSON.stringify(fields, (_k, v: unknown) => v instanceof Error ? v.stack : v)}`) },
    child: () => logger
  }
  return logger
}

/** One WebSocket frame from a client: masked unless `unmasked`, any opcode, any flags. */
function wsFrame (f: { fin: boolean, rsv: number, opcode: number, payload: Uint8Array, unmasked: boolean, cut: number }): Buffer {
  const length = f.payload.length
  const head = [((f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode) & 0xff]
  const mask = f.unmasked ? 0 : 0x80
  if (length < 126) head.push(mask | length)
  else if (length < 65536) head.push(mask | 126, length >> 8, length & 0xff)
  else head.push(mask | 127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff)
  const key = f.unmasked ? Buffer.alloc(0) : randomBytes(4)
  const payload = Buffer.from(f.payload)
  if (!f.unmasked) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!
  const frame = Buffer.concat([Buffer.from(head), key, payload])
  return f.cut > 0 ? frame.subarray(0, Math.max(1, frame.length - f.cut)) : frame
}

const wsFrameArbitrary = fc.record({
  fin: fc.boolean().map((b) => b || Math.random() < 0.7),
  rsv: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) }),
  opcode: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0x1, 0x2, 0x9, 0xa, 0x0) }, { weight: 1, arbitrary: fc.constantFrom(0x8, 0x3, 0x7, 0xb, 0xf) }),
  payload: fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 200 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 5000 }) }),
  unmasked: fc.boolean().map((b) => b && Math.random() < 0.1),
  cut: fc.oneof({ weight: 19, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 10 }) })
})

describe('the control API under 100,000 generated inputs', () => {
  it('answers every request with its error, closes only the sockets that misbehave, and keeps serving', async () => {
    const startedAt = Date.now()
    console.log(`[scenario 5c] seed ${FUZZ_SEED}: ${HANDLER_INPUTS} handler + ${HTTP_INPUTS} HTTP + ${RAW_HTTP_INPUTS} raw HTTP + ${WS_INPUTS} WebSocket frame inputs`)
    const api = await startApiNode()
    const node = api.node
    const routes = await allRoutes()
    expect(routes.length).toBeGreaterThan(10)
    const own = node.status().id
    const facts = { identity: node.publicIdentity, contactId: own, invite: node.invite(), token: api.token }
    const errors: string[] = []
    const logger = recordingLogger(errors)
    const arbitrary = requestArbitrary(routes, facts)

    // 1. The route handlers, as the server calls them.
    const auth = createApiAuth(api.token)
    const events = createEventHub({ node, logger })
    const services: RouteServices = { node, auth, events, config: {}, cookieName: 'komrade_session_0', url: api.server.url }
    const codes = new Map<string, number>()
    const heapBefore = heapAfterGc()
    const count = (code: string): void => { codes.set(code, (codes.get(code) ?? 0) + 1) }
    // Several at once, as a browser and a few scripts would: the handlers wait on LevelDB, not on the CPU.
    await pool(generateInChunks(arbitrary, HANDLER_INPUTS, FUZZ_SEED), 16, async ({ value: input, index }) => {
      const url = new URL(`http://127.0.0.1${input.path}?${input.query}`)
      try {
        const match = matchRoute(routes, input.method, url.pathname)
        if (match === undefined) throw new KomradeApiError('not_found')
        const result = await match.route.handle({
          services,
          params: match.params,
          query: url.searchParams,
          headers: { authorization: `Bearer ${api.token}` },
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          async body () {
            if (input.body === null || typeof input.body !== 'object' || Array.isArray(input.body)) throw new KomradeApiError('bad_request', 'The request body must be a JSON object')
            return input.body as Record<string, unknown>
          }
        })
        expect(result.status ?? 200).toBeLessThan(400)
        count('ok')
      } catch (caught) {
        const error = apiErrorOf(caught, logger)
        if (error.code === 'internal') throw new Error(`input ${index} (${input.method} ${input.path}?${input.query} ${JSON.stringify(input.body)?.slice(0, 200)}) failed inside: ${caught instanceof Error ? caught.stack : String(caught)}`, { cause: caught })
        count(error.code)
      }
    })
    await events.close()
    const handlerHeap = heapAfterGc()
    const handlerSeconds = (Date.now() - startedAt) / 1000

    // 2. Real HTTP, keep-alive.
    const agent = new Agent({ keepAlive: true, maxSockets: 8 })
    const httpStatuses = new Map<number, number>()
    let parserRefusals = 0
    const send = async (input: FuzzRequest): Promise<{ status: number, body: string }> => await new Promise((resolve, reject) => {
      const payload = input.body === undefined ? undefined : JSON.stringify(input.body)
      const req = request({
        host: '127.0.0.1', port: api.server.port, method: input.method, path: `${input.path}?${input.query}`, agent, setHost: false,
        // An explicit length: Node's client sends a GET or DELETE body unframed otherwise (no chunking for those methods).
        headers: {
          host: `127.0.0.1:${api.server.port}`, ...bearer(api),
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) })
        },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }) })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
    await pool(generateInChunks(arbitrary, HTTP_INPUTS, FUZZ_SEED + 1), 8, async ({ value: input, index }) => {
      const { status, body } = await send(input)
      if (status >= 500) throw new Error(`HTTP input ${index} (${input.method} ${input.path}) answered ${status}: ${body.slice(0, 300)}`)
      if (status >= 400 && input.method !== 'HEAD') {
        if (body === '') {
          // Refused by Node's HTTP parser before the API saw it (e.g. a request head over MAX_HEADER_BYTES): 400 or 431, no body.
          if (status !== 400 && status !== 431) throw new Error(`HTTP input ${index} (${input.method} ${input.path}) answered ${status} with no body`)
          parserRefusals++
        } else if (/^\/api(\/|$)/.test(new URL(input.path, 'http://127.0.0.1').pathname)) {
          expect(JSON.parse(body)).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } })
        } // else "/api/.." left the API: the web UI's files answered (404 "Not found")
      }
      httpStatuses.set(status, (httpStatuses.get(status) ?? 0) + 1)
    })
    agent.destroy()

    // Bytes that are not HTTP: each connection gets an answer (400) or is closed, never left hanging.
    const rawInputs = fc.sample(fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 400 }).map((b) => Buffer.from(b)),
      fc.string({ maxLength: 200 }).map((s) => Buffer.from(`GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:${api.server.port}\r\n${s}\r\n\r\n`)),
      fc.constantFrom('GET / HTTP/9.9\r\n\r\n', 'POST /api/messages HTTP/1.1\r\nContent-Length: -1\r\n\r\n', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`,
        'GET /api/status HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', '\r\n\r\n\r\n').map((s) => Buffer.from(s))
    ), { numRuns: RAW_HTTP_INPUTS, seed: FUZZ_SEED + 2 })
    let rawAnswered = 0
    await pool(rawInputs, 8, async (bytes) => {
      const socket = connect({ host: '127.0.0.1', port: api.server.port })
      socket.on('error', () => {})
      let answer = ''
      socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
      await once(socket, 'connect')
      socket.end(bytes)
      const closed = once(socket, 'close')
      const timer = setTimeout(() => { socket.destroy(new Error('hang')) }, REQUEST_TIMEOUT_MS)
      await closed
      clearTimeout(timer)
      if (answer.startsWith('HTTP/1.1 ')) {
        rawAnswered++
        expect(Number(answer.slice(9, 12))).toBeLessThan(500)
      }
    })

    // 3. WebSocket frames: each socket gets frames until the server closes it.
    const wsFrames = generateInChunks(wsFrameArbitrary, WS_INPUTS, FUZZ_SEED + 3)[Symbol.iterator]()
    let framesSent = 0
    let sockets = 0
    let closedByServer = 0
    for (let next = wsFrames.next(); next.done !== true;) {
      const ws = await rawWebSocket(api.server, bearer(api))
      expect(ws.status).toBe(101)
      sockets++
      let open = true
      void ws.closed.then(() => { open = false })
      while (open && next.done !== true) {
        ws.socket.write(wsFrame(next.value.value))
        framesSent++
        next = wsFrames.next()
        if (framesSent % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      // A short breather lets a close arrive; sockets still open are closed by us.
      await Promise.race([ws.closed, new Promise((resolve) => setTimeout(resolve, 20))])
      if (!open) closedByServer++
      ws.socket.destroy()
      await ws.closed
    }

    // Afterwards: the API answers, and a new event socket gets its hello.
    const status = await send({ method: 'GET', path: '/api/status', query: '', body: undefined })
    expect(status.status).toBe(200)
    expect(JSON.parse(status.body)).toMatchObject({ running: true })
    const events2 = api.client.events()[Symbol.asyncIterator]()
    const hello = await events2.next()
    expect(hello.value).toMatchObject({ type: 'hello' })
    await events2.return?.()
    const heapAfter = heapAfterGc()
    const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
    const stopStarted = Date.now()
    await api.server.stop()
    await node.stop() // with everything the fuzz left queued
    const stopSeconds = (Date.now() - stopStarted) / 1000

    console.log(`[scenario 5c] handlers: ${routes.length} routes, ${HANDLER_INPUTS} requests: ${JSON.stringify(Object.fromEntries([...codes].sort()))}; heap ${mib(heapBefore)} -> ${mib(handlerHeap)} MiB; ${handlerSeconds.toFixed(1)} s`)
    console.log(`[scenario 5c] HTTP: ${HTTP_INPUTS} requests ${JSON.stringify(Object.fromEntries(httpStatuses))} (${parserRefusals} refused by the HTTP parser); ${RAW_HTTP_INPUTS} raw byte strings, ${rawAnswered} answered, the rest closed`)
    console.log(`[scenario 5c] WebSocket: ${framesSent} frames over ${sockets} sockets, ${closedByServer} closed by the server for a bad frame; ` +
      `afterwards status 200 and a hello; heap -> ${mib(heapAfter)} MiB; stopped in ${stopSeconds.toFixed(1)} s; wall ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)

    expect(errors).toEqual([])
    expect([...codes.values()].reduce((a, b) => a + b, 0)).toBe(HANDLER_INPUTS)
    expect(codes.get('ok')).toBeGreaterThan(0)
    expect(codes.get('bad_request')).toBeGreaterThan(0)
    expect(framesSent).toBe(WS_INPUTS)
    expect(closedByServer).toBeGreaterThan(0)
    expect(handlerHeap - heapBefore).toBeLessThan(HEAP_BOUND_BYTES)
    expect(heapAfter - heapBefore).toBeLessThan(HEAP_BOUND_BYTES)
  }, 300_000)
})
