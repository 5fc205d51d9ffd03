/**
 * The SOCKS5 transport (node/tor/socks-transport.ts) against the real
 * Debian `microsocks`: two nodes on loopback connect through it and
 * exchange messages; each peer gets its own isolation credentials; a closed
 * SOCKS port, a proxy that refuses, a proxy that is not SOCKS and a target
 * that cannot be reached each give their typed error. Tor itself cannot
 * serve here: with DisableNetwork 1 it opens no SOCKS port (test/tor/tor-process.ts).
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createNetwork, type Network, type NetworkInit } from '../../node/network.js'
import { handshakeFailure, isolationCredentials, openSocksSocket, parseHostPort, SOCKS5_REPLIES } from '../../node/tor/socks-handshake.js'
import { socksTargetOf } from '../../node/tor/socks-transport.js'
import { cleanup as cleanupNodes, startNode, waitFor } from '../node/cluster.js'
import {
  freePort, localPortsOf, requireMicrosocks, socksCredentials, startMicrosocks, startRecordingRelay, type Microsocks, type RecordingRelay
} from './socks-helpers.js'

/** A syntactically valid v3 onion id (nobody serves it; it is never dialed through a proxy that could resolve it). */
const ONION_ID = 'vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd'
const TTL = { ttlMinutes: 10 }

const cleanups: Array<() => Promise<void>> = []
async function cleanup (): Promise<void> {
  await cleanupNodes()
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => {})
}

async function microsocks (options: { user?: string, password?: string } = {}): Promise<Microsocks> {
  const proxy = await startMicrosocks(options)
  cleanups.push(proxy.stop)
  return proxy
}

async function relay (targetPort: number): Promise<RecordingRelay> {
  const started = await startRecordingRelay(targetPort)
  cleanups.push(started.close)
  return started
}

/** A started network layer that accepts everything (these tests are about connections, not envelopes). */
async function network (init: Partial<NetworkInit> = {}): Promise<Network> {
  const net = await createNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], validate: async () => 'accept', onEnvelope: () => {}, ...init })
  cleanups.push(async () => { await net.stop() })
  await net.start()
  return net
}

function loopbackAddress (addresses: string[]): string {
  const address = addresses.find((a) => a.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error(`no loopback address among ${addresses.join(', ')}`)
  return address
}

const portOf = (address: string): number => Number(multiaddr(address).getComponents().find((c) => c.name === 'tcp')!.value)

beforeAll(requireMicrosocks)

describe('two nodes through microsocks', () => {
  afterEach(cleanup)

  it('connect through the proxy, not directly, and exchange messages both ways', async () => {
    const proxy = await microsocks()
    const { node: bob } = await startNode()
    const { node: alice } = await startNode({ tor: { socks: proxy.address, onlyTor: true } })
    const bobAddress = loopbackAddress(bob.status().addresses)

    const connection = await alice.network.libp2p.dial(multiaddr(bobAddress))
    expect(connection.remoteAddr.toString()).toBe(bobAddress)
    // The proxy made the connection to Bob's port...
    expect(proxy.connectedTo()).toContain(`127.0.0.1:${portOf(bobAddress)}`)
    // ...and Bob sees it coming from a socket of the microsocks process, not of this one (Alice's).
    await waitFor('bob to see the connection', () => bob.network.libp2p.getConnections(alice.network.peerId).length > 0)
    const [inbound] = bob.network.libp2p.getConnections(alice.network.peerId)
    const bobSeesPort = portOf(inbound!.remoteAddr.toString())
    expect(await localPortsOf(proxy.pid)).toContain(bobSeesPort)
    expect(await localPortsOf(process.pid)).not.toContain(bobSeesPort)

    await waitFor('a gossip mesh', () => alice.status().meshPeers > 0 && bob.status().meshPeers > 0)
    const sent = await alice.send(bob.publicIdentity, 'hello over socks', TTL)
    await waitFor('bob to receive', async () => (await bob.inbox()).length === 1)
    const [received] = await bob.inbox()
    expect(received!.text).toBe('hello over socks')
    await bob.send(received!.fromIdentity, 'and back', TTL)
    await waitFor('alice to receive', async () => (await alice.inbox()).length === 1)
    expect((await alice.inbox())[0]!.text).toBe('and back')
    await waitFor('delivered', async () => (await alice.outbox()).find((m) => m.id === sent.id)?.state === 'delivered')
    // Still one proxied connection: nothing went around the proxy meanwhile.
    expect(alice.network.libp2p.getConnections(bob.network.peerId).map((c) => c.remoteAddr.toString())).toEqual([bobAddress])
  })

  it('outside tor-only mode dials IP addresses directly and only onion addresses through SOCKS', async () => {
    const proxy = await microsocks()
    const bob = await network()
    const alice = await network({ tor: { socks: proxy.address } })
    await alice.libp2p.dial(multiaddr(loopbackAddress(bob.status().addresses)))
    expect(proxy.connectedTo()).toEqual([])

    // An onion address goes to the SOCKS transport: with nothing on the SOCKS port, that is TorNotRunningError.
    // (Through microsocks it would be a DNS lookup of the .onion name, which must not leave the machine.)
    const closed = await network({ tor: { socks: `127.0.0.1:${await freePort()}` } })
    await expect(closed.libp2p.dial(multiaddr(`/onion3/${ONION_ID}:4001/p2p/${bob.peerId.toString()}`)))
      .rejects.toMatchObject({ name: 'TorNotRunningError' })
  })
})

describe('isolation and errors', () => {
  afterEach(cleanup)

  it('gives each peer its own SOCKS credentials, the same ones on every dial to it', async () => {
    // microsocks with a password demands username/password authentication, so the client sends its
    // credentials (which it then refuses: only Tor takes any). The relay keeps what was sent.
    const proxy = await microsocks({ user: 'someone', password: 'secret' })
    const tap = await relay(proxy.port)
    const [bob, carol] = [await network(), await network()]
    const alice = await network({ tor: { socks: tap.address, onlyTor: true } })
    const dialTo = async (peer: Network): Promise<unknown> => await alice.libp2p.dial(multiaddr(loopbackAddress(peer.status().addresses))).catch((error: unknown) => error)

    expect(await dialTo(bob)).toMatchObject({ name: 'SocksRefusedError' })
    expect(await dialTo(carol)).toMatchObject({ name: 'SocksRefusedError' })
    expect(await dialTo(bob)).toMatchObject({ name: 'SocksRefusedError' })
    const [toBob, toCarol, toBobAgain] = tap.connections.map((c) => socksCredentials(c.fromClient))
    expect(tap.connections).toHaveLength(3)
    expect(toBob).toBeDefined()
    expect(toCarol).toBeDefined()
    expect(toBob).not.toEqual(toCarol)
    expect(toBobAgain).toEqual(toBob)
    // Opaque: nothing about the peer in them.
    for (const credentials of [toBob!, toCarol!]) {
      expect(`${credentials.user}${credentials.password}`).not.toContain(bob.peerId.toString())
      expect(`${credentials.user}${credentials.password}`).not.toContain(carol.peerId.toString())
    }
    expect(proxy.connectedTo()).toEqual([])
  })

  it('says Tor is not running when nothing answers on the SOCKS port', async () => {
    const bob = await network()
    const port = await freePort()
    const alice = await network({ tor: { socks: `127.0.0.1:${port}`, onlyTor: true } })
    const error = await alice.libp2p.dial(multiaddr(loopbackAddress(bob.status().addresses))).catch((e: unknown) => e as Error)
    expect(error).toMatchObject({ name: 'TorNotRunningError' })
    expect((error as Error).message).toContain(`127.0.0.1:${port}`)
  })

  it('says the proxy refused when it is not a SOCKS5 proxy (here: an HTTP server)', async () => {
    const bob = await network()
    const http = createHttpServer((_request, response) => { response.end() })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    cleanups.push(async () => { http.closeAllConnections(); await new Promise<void>((resolve) => http.close(() => resolve())) })
    const viaHttp = await network({ tor: { socks: `127.0.0.1:${(http.address() as { port: number }).port}`, onlyTor: true } })
    await expect(viaHttp.libp2p.dial(multiaddr(loopbackAddress(bob.status().addresses))))
      .rejects.toMatchObject({ name: 'SocksRefusedError', reason: 'it does not speak SOCKS5' })
  })

  it('says the target is unreachable, with the reply code, when the proxy cannot connect', async () => {
    const proxy = await microsocks()
    const bob = await network()
    const alice = await network({ tor: { socks: proxy.address, onlyTor: true } })
    const closedPort = await freePort()
    await expect(alice.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/${closedPort}/p2p/${bob.peerId.toString()}`)))
      .rejects.toMatchObject({ name: 'SocksUnreachableError', replyCode: 0x05 })
  })

  it('aborts a dial the proxy sits on: the signal destroys the socket', async () => {
    // A "proxy" that accepts and never answers.
    const held: Socket[] = []
    const controller = new AbortController()
    let proxySideClosed: Promise<unknown> | undefined
    const silent = createServer((socket) => {
      held.push(socket)
      proxySideClosed = new Promise((resolve) => socket.once('close', resolve))
      socket.once('data', () => { controller.abort() }) // the greeting arrived: the dial is waiting on us now
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    cleanups.push(async () => { for (const s of held) s.destroy(); await new Promise<void>((resolve) => silent.close(() => resolve())) })
    const port = (silent.address() as { port: number }).port
    const dial = openSocksSocket({
      proxy: { host: '127.0.0.1', port },
      target: { host: `${ONION_ID}.onion`, port: 4001, onion: true },
      credentials: isolationCredentials(new Uint8Array(32), 'peer'),
      address: `/onion3/${ONION_ID}:4001`,
      signal: controller.signal,
      timeoutMs: 600_000
    })
    await expect(dial).rejects.toMatchObject({ name: 'AbortError' })
    expect(held).toHaveLength(1)
    await proxySideClosed // the client's socket was destroyed, not left open
  })
})

describe('parsing and reply codes', () => {
  it('parses host:port and names the option when it cannot', () => {
    expect(parseHostPort('127.0.0.1:9050', 'socks')).toEqual({ host: '127.0.0.1', port: 9050 })
    expect(parseHostPort('[::1]:9150', 'socks')).toEqual({ host: '::1', port: 9150 })
    expect(parseHostPort('localhost:9050', 'socks')).toEqual({ host: 'localhost', port: 9050 })
    for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', ':9050', 'tor :9050', '::1:9050']) {
      expect(() => parseHostPort(bad, 'tor.socks')).toThrow(/"tor.socks" expected host:port/)
    }
  })

  it('maps multiaddrs to what the proxy is asked for', () => {
    const peer = '/p2p/12D3KooWGzgZPqf6xAnuS5f3WqS4LD3vBaYkBNmvNkzDRe5kXzTw'
    expect(socksTargetOf(multiaddr(`/onion3/${ONION_ID}:4001${peer}`))).toEqual({ host: `${ONION_ID}.onion`, port: 4001, onion: true })
    expect(socksTargetOf(multiaddr('/ip4/127.0.0.1/tcp/4001'))).toEqual({ host: '127.0.0.1', port: 4001, onion: false })
    expect(socksTargetOf(multiaddr(`/dns4/example.org/tcp/4001${peer}`))).toEqual({ host: 'example.org', port: 4001, onion: false })
    expect(socksTargetOf(multiaddr('/ip6/::1/tcp/4001'))).toEqual({ host: '::1', port: 4001, onion: false })
    expect(socksTargetOf(multiaddr('/ip4/127.0.0.1/udp/4001/quic-v1'))).toBeUndefined()
    expect(socksTargetOf(multiaddr('/ip4/127.0.0.1/tcp/4001/ws'))).toBeUndefined()
  })

  it('reads every reply code, Tor\'s onion codes included, from the proxy\'s answer', () => {
    // Method "no authentication", then the reply: 05 <code> 00 01 <ip> <port>.
    for (const [code, expected] of Object.entries(SOCKS5_REPLIES)) {
      const answer = Uint8Array.from([0x05, 0x00, 0x05, Number(code), 0x00, 0x01, 0, 0, 0, 0, 0, 0])
      expect(handshakeFailure(answer)).toEqual(expected)
    }
    // Username/password chosen and accepted, then "host unreachable".
    expect(handshakeFailure(Uint8Array.from([0x05, 0x02, 0x01, 0x00, 0x05, 0x04]))).toMatchObject({ kind: 'unreachable', replyCode: 0x04 })
    expect(handshakeFailure(Uint8Array.from([0x05, 0x02, 0x01, 0x01]))).toMatchObject({ kind: 'refused' })
    expect(handshakeFailure(Uint8Array.from([0x05, 0xFF]))).toMatchObject({ kind: 'refused' })
    expect(handshakeFailure(Uint8Array.from([0x48, 0x54, 0x54, 0x50]))).toMatchObject({ kind: 'refused', reason: 'it does not speak SOCKS5' })
    expect(handshakeFailure(Uint8Array.from([0x05, 0x00, 0x05, 0x42]))).toMatchObject({ kind: 'unreachable', replyCode: 0x42 })
    expect(handshakeFailure(Uint8Array.from([0x05, 0x00]))).toBeUndefined() // no reply to the connect request yet
    expect(SOCKS5_REPLIES[0xF0]).toMatchObject({ kind: 'unreachable' })
  })
})
