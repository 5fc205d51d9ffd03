/**
 * Test helpers for the control API: real nodes with real API servers on
 * 127.0.0.1, a raw HTTP client that can send what a browser or an attacker
 * would (any Host, any Origin, any body), and a small built "web UI".
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { KomradeNodeInit } from '../../node/komrade-node.js'
import { loadOrCreateToken } from '../../client/api/auth.js'
import { createKomradeClient, type KomradeClient } from '../../client/api/client.js'
import { createApiServer, type ApiServer, type ApiServerInit } from '../../client/api/server.js'
import type { ApiEvent } from '../../client/api/types.js'
import { cleanup as cleanupNodes, startNode, type TestNode } from '../node/cluster.js'

/** A node with its API server and a typed client holding the token. */
export interface ApiNode extends TestNode {
  server: ApiServer
  token: string
  client: KomradeClient
}

const cleanups: Array<() => Promise<void>> = []

/** A tiny stand-in for the built UI (the real one comes from `npm run build`; the browser tests use that). */
export async function makeWebRoot (): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'komrade-web-'))
  cleanups.push(async () => { await rm(root, { recursive: true, force: true }) })
  await mkdir(join(root, 'assets'))
  await writeFile(join(root, 'index.html'), '<!doctype html><title>Komrade</title><script type="module" src="/assets/app.js"></script>')
  await writeFile(join(root, 'assets', 'app.js'), 'console.log("komrade")')
  await writeFile(join(root, 'assets', 'app.css'), 'body { margin: 0 }')
  await writeFile(join(root, 'assets', 'icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  await writeFile(join(root, '.secret'), 'dotfiles are never served')
  return root
}

/** Starts a node (loopback, temp dir) and an API server for it on a free port. */
export async function startApiNode (
  init: Partial<KomradeNodeInit> = {}, server: Partial<Omit<ApiServerInit, 'node' | 'token'>> = {}
): Promise<ApiNode> {
  const testNode = await startNode(init)
  const token = await loadOrCreateToken(testNode.dataDir)
  const api = createApiServer({ node: testNode.node, token, port: 0, webRoot: server.webRoot ?? await makeWebRoot(), ...server })
  await api.start()
  cleanups.push(async () => { await api.stop() })
  return { ...testNode, server: api, token, client: createKomradeClient({ url: api.url, token }) }
}

/** Stops every server, node and directory made here. */
export async function cleanupApi (): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => {})
  await cleanupNodes()
}

/** An answer to a raw request. */
export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => any
}

/** Every raw answer seen by this test file: checked for CORS headers at the end. */
export const rawResponses: RawResponse[] = []

/**
 * A request exactly as given: `Host` defaults to the server's own, nothing
 * else is added. `body` as a string or Buffer is sent as is.
 */
export async function raw (server: ApiServer, options: {
  method?: string
  path: string
  headers?: Record<string, string>
  body?: string | Buffer
}): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: server.port,
      method: options.method ?? 'GET',
      path: options.path,
      headers: { host: `127.0.0.1:${server.port}`, ...options.headers },
      setHost: false
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const response = { status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }
        rawResponses.push(response)
        resolve(response)
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Authorization header for `node`. */
export function bearer (node: ApiNode): Record<string, string> {
  return { authorization: `Bearer ${node.token}` }
}

/** Expects the API's error shape with `code` and `status`, and a sentence for a person. */
export function expectApiError (response: RawResponse, status: number, code: string): void {
  expect(response.status, response.text).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  const body = response.json()
  expect(body.error.code).toBe(code)
  expect(body.error.message).toMatch(/\w+ \w+/)
}

/** Reads events from a typed client's stream until `match` returns true; returns the matching event. */
export async function nextEvent<T extends ApiEvent> (
  events: AsyncIterator<ApiEvent>, match: (event: ApiEvent) => event is T, what: string
): Promise<T>
export async function nextEvent (events: AsyncIterator<ApiEvent>, match: (event: ApiEvent) => boolean, what: string): Promise<ApiEvent>
export async function nextEvent (events: AsyncIterator<ApiEvent>, match: (event: ApiEvent) => boolean, what: string): Promise<ApiEvent> {
  for (;;) {
    const { value, done } = await events.next()
    if (done === true) throw new Error(`the event stream ended before ${what}`)
    if (match(value)) return value
  }
}

/** A WebSocket opened by hand on a plain TCP socket: a client that can stop reading, or never answer pings. */
export interface RawSocket {
  socket: Socket
  /** The HTTP status of the handshake answer (101 when upgraded). */
  status: number
  /** The first bytes of the answer (its head, and the body of a refusal when it came in the same chunk). */
  head: string
  /** Resolves when the server closed or cut the connection. */
  closed: Promise<void>
}

export async function rawWebSocket (server: ApiServer, headers: Record<string, string>): Promise<RawSocket> {
  const socket = connect({ host: '127.0.0.1', port: server.port })
  const closed = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  socket.on('error', () => {})
  await once(socket, 'connect')
  const lines = [
    'GET /api/events HTTP/1.1', `Host: 127.0.0.1:${server.port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)
  ]
  socket.write(lines.join('\r\n') + '\r\n\r\n')
  let head = ''
  while (!head.includes('\r\n')) {
    const [chunk] = await once(socket, 'data') as [Buffer]
    head += chunk.toString('latin1')
  }
  return { socket, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head, closed }
}
