/**
 * The event WebSocket `/api/events` against real nodes and servers: the same
 * gate as HTTP (token or cookie, Origin, Host), `hello` first, the node's
 * peer and sync events, and the limits that keep a daemon's memory bounded:
 * a client that stops reading is dropped, one that stops answering pings too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { SESSION_IDLE_MS } from '../../client/api/auth.js'
import { createKomradeClient, KomradeApiError } from '../../client/api/client.js'
import { MAX_EVENT_CLIENTS } from '../../client/api/events.js'
import { createApiServer } from '../../client/api/server.js'
import type { ApiEvent } from '../../client/api/types.js'
import type { ReceivedMessage } from '../../node/komrade-node.js'
import { connect, startNode, waitFor } from '../node/cluster.js'
import { cleanupApi, makeWebRoot, nextEvent, rawWebSocket, startApiNode, type ApiNode } from './api-helpers.js'

let alice: ApiNode

beforeAll(async () => { alice = await startApiNode() })
afterAll(async () => { await cleanupApi() })

/** Opens a `ws` client and resolves with the handshake's outcome. */
async function handshake (url: string, headers: Record<string, string>): Promise<{ status: number, socket?: WebSocket }> {
  const socket = new WebSocket(url, { headers })
  return await new Promise((resolve, reject) => {
    socket.once('open', () => { resolve({ status: 101, socket }) })
    socket.once('unexpected-response', (_request, response) => { resolve({ status: response.statusCode ?? 0 }); socket.terminate() })
    socket.once('error', reject)
  })
}

describe('the event WebSocket', () => {
  it('needs the token or a session cookie, and refuses foreign Origins and Hosts', async () => {
    const url = `ws://127.0.0.1:${alice.server.port}/api/events`
    expect((await handshake(url, {})).status).toBe(401)
    expect((await handshake(url, { authorization: `Bearer ${'1'.repeat(64)}` })).status).toBe(401)
    expect((await handshake(`${url}?token=${alice.token}`, {})).status).toBe(401)
    expect((await handshake(url, { authorization: `Bearer ${alice.token}`, origin: 'http://evil.example' })).status).toBe(403)
    expect((await handshake(url, { authorization: `Bearer ${alice.token}`, host: 'evil.example' })).status).toBe(421)
    expect((await handshake(`ws://127.0.0.1:${alice.server.port}/api/other`, { authorization: `Bearer ${alice.token}` })).status).toBe(404)

    const withToken = await handshake(url, { authorization: `Bearer ${alice.token}`, origin: `http://127.0.0.1:${alice.server.port}` })
    expect(withToken.status).toBe(101)
    withToken.socket!.close()

    // A browser's way: sign in, then the cookie opens the socket.
    const login = await fetch(`${alice.server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: alice.server.createLoginCode() })
    })
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!
    const withCookie = await handshake(url, { cookie })
    expect(withCookie.status).toBe(101)
    withCookie.socket!.close()
  })

  it('closes the event sockets of a session that signs out, and only those', async () => {
    const url = `ws://127.0.0.1:${alice.server.port}/api/events`
    const signIn = async (): Promise<string> => {
      const login = await fetch(`${alice.server.url}/api/session`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: alice.token })
      })
      return login.headers.get('set-cookie')!.split(';')[0]!
    }
    const [leaving, staying] = [await signIn(), await signIn()]
    const [leavingSocket, stayingSocket, tokenSocket] = await Promise.all([
      handshake(url, { cookie: leaving }), handshake(url, { cookie: staying }), handshake(url, { authorization: `Bearer ${alice.token}` })
    ])
    const closed = new Promise<{ code: number, reason: string }>((resolve) => {
      leavingSocket.socket!.once('close', (code, reason) => { resolve({ code, reason: reason.toString() }) })
    })
    const logout = await fetch(`${alice.server.url}/api/session`, { method: 'DELETE', headers: { cookie: leaving } })
    expect(logout.status).toBe(204)
    expect(await closed).toEqual({ code: 4401, reason: 'signed out' })
    // The other session and the token's socket still get events.
    const stillThere = Promise.all([stayingSocket.socket!, tokenSocket.socket!].map(async (socket) => await new Promise<unknown>((resolve) => {
      socket.on('message', (data: Buffer) => { const event = JSON.parse(data.toString()) as ApiEvent; if (event.type === 'peers') resolve(event) })
    })))
    alice.node.dispatchEvent(new CustomEvent('peers', { detail: { peers: 7, meshPeers: 6 } }))
    expect(await stillThere).toEqual([{ type: 'peers', peers: 7, meshPeers: 6 }, { type: 'peers', peers: 7, meshPeers: 6 }])
    stayingSocket.socket!.close()
    tokenSocket.socket!.close()
  })

  it('closes the event sockets of a session left unused for 12 hours, and refuses its cookie', async () => {
    let now = Date.now()
    const server = createApiServer({
      node: alice.node, token: alice.token, webRoot: await makeWebRoot(), sessions: { now: () => now, sweepIntervalMs: 20 }
    })
    await server.start()
    try {
      const login = await fetch(`${server.url}/api/session`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: alice.token })
      })
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!
      const { socket } = await handshake(`ws://127.0.0.1:${server.port}/api/events`, { cookie })
      const closed = new Promise<{ code: number, reason: string }>((resolve) => {
        socket!.once('close', (code, reason) => { resolve({ code, reason: reason.toString() }) })
      })
      now += SESSION_IDLE_MS
      expect(await closed).toEqual({ code: 4401, reason: 'session expired' })
      expect((await fetch(`${server.url}/api/status`, { headers: { cookie } })).status).toBe(401)
    } finally {
      await server.stop()
    }
  })

  it('sends hello with the status first; the typed client explains a refused socket', async () => {
    const events = alice.client.events()[Symbol.asyncIterator]()
    const { value: hello } = await events.next()
    expect(hello).toMatchObject({ type: 'hello', status: { apiVersion: 1, id: alice.node.status().id, running: true } })
    await events.return!()

    const stranger = createKomradeClient({ url: alice.server.url, token: 'c'.repeat(64) })
    const refused = await stranger.events()[Symbol.asyncIterator]().next().catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(KomradeApiError)
    expect(refused).toMatchObject({ code: 'unauthorized' })
  })

  it('reports peer counts and the phases of a resync', async () => {
    const controller = new AbortController()
    const events = alice.client.events({ signal: controller.signal })[Symbol.asyncIterator]()
    await nextEvent(events, (e) => e.type === 'hello', 'hello')
    const { node: carol } = await startNode()
    // An envelope for the resync to move: once its proof of work is done, it waits in carol's store.
    await carol.send(alice.node.publicIdentity, 'stored at carol, synced to alice')
    await waitFor('the envelope solved', async () => (await carol.outbox())[0]?.state === 'queued')
    await connect(alice.node, carol) // alice dials: alice runs the resync
    // The resync starts as the connection opens; the peer count follows a moment later (debounced), and the
    // gossip mesh at a heartbeat after that (carol grafted): wait for all three.
    const seen: ApiEvent[] = []
    const carolPeer = carol.network.peerId.toString()
    const syncEnd = (e: ApiEvent): boolean => e.type === 'sync' && e.peer === carolPeer && e.phase !== 'start'
    const peersUp = (e: ApiEvent): boolean => e.type === 'peers' && e.peers >= 1 && e.meshPeers >= 1
    while (!(seen.some(syncEnd) && seen.some(peersUp))) seen.push(await nextEvent(events, () => true, 'the resync and the peer count'))
    const syncs = seen.filter((e): e is Extract<ApiEvent, { type: 'sync' }> => e.type === 'sync' && e.peer === carolPeer)
    expect(syncs.map((e) => e.phase)).toEqual(['start', 'done'])
    expect(syncs[1]!.received).toBeGreaterThanOrEqual(1) // carol's envelope
    expect(typeof syncs[1]!.sent).toBe('number')
    const peers = seen.find(peersUp) as Extract<ApiEvent, { type: 'peers' }>
    expect(peers.meshPeers).toBeLessThanOrEqual(peers.peers) // the mesh is made of connected peers
    // Every count reported is a change from the one before (no repeats).
    const counts = seen.filter((e) => e.type === 'peers').map((e) => JSON.stringify(e))
    expect(counts.every((count, i) => i === 0 || count !== counts[i - 1])).toBe(true)
    controller.abort()
    expect(await events.next()).toEqual({ value: undefined, done: true })
  })

  it('drops a client that stops reading, and keeps serving one that reads', async () => {
    // A second server on the same node, with a small buffer limit.
    const server = createApiServer({ node: alice.node, token: alice.token, webRoot: await makeWebRoot(), events: { maxClientBufferBytes: 64 * 1024 } })
    await server.start()
    try {
      const slow = await rawWebSocket(server, { authorization: `Bearer ${alice.token}` })
      expect(slow.status).toBe(101)
      slow.socket.pause() // reads nothing more: the kernel's buffers fill, then the server's

      const reader = createKomradeClient({ url: server.url, token: alice.token }).events()[Symbol.asyncIterator]()
      await nextEvent(reader, (e) => e.type === 'hello', 'hello')
      // Events big enough to fill socket buffers quickly, dispatched on the node as its delivery does (real
      // messages this size would take minutes of proof of work). One at a time, each read by the healthy client.
      const text = 'x'.repeat(1024 * 1024)
      const count = 40 // 40 MiB: far beyond what loopback socket buffers hold (a few MiB each way)
      for (let i = 0; i < count; i++) {
        const detail: ReceivedMessage = {
          id: `big-${i}`, from: 'f'.repeat(64), fromIdentity: 'f'.repeat(128), kind: 1, body: new Uint8Array(0), text, sentAt: 0, receivedAt: 0
        }
        alice.node.dispatchEvent(new CustomEvent('message', { detail }))
        const event = await nextEvent(reader, (e) => e.type === 'message' && e.message.id.startsWith('big-'), 'a big message event')
        expect(event).toMatchObject({ message: { id: `big-${i}` } })
      }
      // Now read what reached the slow client: if it had not been dropped, all of it would arrive and the socket stay open.
      let received = 0
      const everything = new Promise<'everything'>((resolve) => {
        slow.socket.on('data', (chunk: Buffer) => { received += chunk.length; if (received >= count * text.length) resolve('everything') })
      })
      slow.socket.resume()
      expect(await Promise.race([slow.closed.then(() => 'closed'), everything])).toBe('closed')
      expect(received).toBeLessThan(count * text.length)
      await reader.return!()
    } finally {
      await server.stop()
    }
  })

  it('refuses an event client beyond the limit with 503 too_many_clients', async () => {
    const server = createApiServer({ node: alice.node, token: alice.token, webRoot: await makeWebRoot() })
    await server.start()
    try {
      const url = `ws://127.0.0.1:${server.port}/api/events`
      const open = await Promise.all(Array.from({ length: MAX_EVENT_CLIENTS }, async () => await handshake(url, { authorization: `Bearer ${alice.token}` })))
      expect(open.map((client) => client.status)).toEqual(Array(MAX_EVENT_CLIENTS).fill(101))
      const refused = await rawWebSocket(server, { authorization: `Bearer ${alice.token}` })
      expect(refused.status).toBe(503)
      await refused.closed
      expect(refused.head).toContain('"code":"too_many_clients"')
      for (const client of open) client.socket!.close()
    } finally {
      await server.stop()
    }
  })

  it('drops a client that does not answer pings', async () => {
    const server = createApiServer({ node: alice.node, token: alice.token, webRoot: await makeWebRoot(), events: { pingIntervalMs: 50 } })
    await server.start()
    try {
      const silent = await rawWebSocket(server, { authorization: `Bearer ${alice.token}` })
      expect(silent.status).toBe(101)
      const answering = createKomradeClient({ url: server.url, token: alice.token }).events()[Symbol.asyncIterator]()
      await nextEvent(answering, (e) => e.type === 'hello', 'hello')
      await silent.closed // never answered a ping: cut off
      // The client that answers pings (ws and undici do, by the protocol) is still there.
      alice.node.dispatchEvent(new CustomEvent('peers', { detail: { peers: 99, meshPeers: 98 } }))
      expect(await nextEvent(answering, (e) => e.type === 'peers', 'the peers event')).toEqual({ type: 'peers', peers: 99, meshPeers: 98 })
      await answering.return!()
    } finally {
      await server.stop()
    }
  })
})
