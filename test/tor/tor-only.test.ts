/**
 * Tor-only mode (node/tor/tor-only.ts), proven on a real node in its own
 * process: its SOCKS port is the real `microsocks`, its control port a real
 * `tor` started offline (DisableNetwork 1), which gives it a real onion
 * service. While it bootstraps, is dialed, walks the DHT and exchanges
 * messages, the node opens no socket but to the SOCKS port, the control
 * port and its own loopback listener (read from /proc, and recorded by a
 * guard in the process that also blocks anything else), and no address it
 * announces, that identify teaches its peers, or that the DHT hands out,
 * names an IP.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString as peerIdFrom } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nodeInitOf, resolveConfig } from '../../node/config.js'
import { createKomradeNode } from '../../node/komrade-node.js'
import { createNetwork, type Network, type NetworkInit } from '../../node/network.js'
import { isOnionAddress, torOnlyGater } from '../../node/tor/tor-only.js'
import { cleanup as cleanupNodes, startNode, waitFor } from '../node/cluster.js'
import type { NetworkAttempt } from './network-guard.js'
import {
  freePort, requireMicrosocks, socketsOf, startMicrosocks, startRecordingRelay, type Microsocks, type ProcessSocket, type RecordingRelay
} from './socks-helpers.js'
import { requireTor, startTor, type TorProcess } from './tor-process.js'

const SCRIPT = join(import.meta.dirname, 'tor-only-node.ts')
const GUARD = join(import.meta.dirname, 'network-guard.ts')
const ONION_ID = 'vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd'

/** An address names an IP (v4 or v6) or a DNS name: anything but an onion. */
const namesAnIp = (address: string): boolean => /\/(ip4|ip6|dns|dns4|dns6|dnsaddr)\//.test(address)

/** The tor-only node in its child process. */
interface Child {
  process: ChildProcess
  events: Array<Record<string, unknown>>
  send(command: Record<string, unknown>): void
  next(what: string, match: (event: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
}

function spawnChild (config: Record<string, unknown>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', GUARD, SCRIPT, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const events: Array<Record<string, unknown>> = []
  createInterface({ input: child.stdout! }).on('line', (line) => { events.push(JSON.parse(line) as Record<string, unknown>) })
  return {
    process: child,
    events,
    send: (command) => { child.stdin!.write(JSON.stringify(command) + '\n') },
    async next (what, match) {
      await waitFor(what, () => events.some(match) || child.exitCode !== null, 60_000)
      const event = events.find(match)
      if (event === undefined) throw new Error(`the tor-only node exited (${String(child.exitCode)}) before ${what}`)
      return event
    }
  }
}

describe('a tor-only node in its own process', () => {
  let proxy: Microsocks
  /** In front of microsocks: records each CONNECT request, and passes on only those for loopback targets. */
  let relay: RecordingRelay
  let tor: TorProcess
  let child: Child | undefined
  let dataDir: string
  /** Every socket of the child seen by the sampler, and whether it was allowed. */
  const seen: Array<ProcessSocket & { allowedAs: string }> = []
  let sampling = false

  beforeAll(async () => {
    await requireTor()
    await requireMicrosocks()
    proxy = await startMicrosocks()
    relay = await startRecordingRelay(proxy.port, (host) => host.startsWith('127.'))
    tor = await startTor()
    dataDir = await mkdtemp(join(tmpdir(), 'komrade-tor-only-'))
  })

  afterAll(async () => {
    sampling = false
    if (child !== undefined && child.process.exitCode === null) {
      const exited = new Promise((resolve) => child!.process.once('exit', resolve))
      child.process.stdin!.end()
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
      child.process.kill('SIGKILL')
    }
    await cleanupNodes()
    await tor?.stop()
    await relay?.close()
    await proxy?.stop()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('opens sockets only to Tor\'s ports and its own listener, and announces nothing but its onion address', async () => {
    const bob = await startNode()
    const carol = await startNode()
    const bobAddress = bob.node.status().addresses.find((a) => a.includes('/127.0.0.1/'))!
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    child = spawnChild({
      dataDir,
      socks: relay.address,
      control: tor.control,
      // Bob on loopback (reached through the proxy), and entries tor-only mode must never dial or resolve.
      bootstrap: [bobAddress, `/ip4/192.0.2.1/tcp/4001/p2p/${stranger}`, `/dnsaddr/bootstrap.example.org/p2p/${stranger}`]
    })
    const ready = await child.next('the node to start', (e) => e.ready === true)
    const alice = { peerId: ready.peerId as string, identity: ready.publicIdentity as string, listener: ready.listener as string }
    const listenPort = Number(alice.listener.split(':').at(-1))
    expect(alice.listener).toMatch(/^127\.0\.0\.1:\d+$/)

    // Sample the child's sockets for the rest of the test.
    sampling = true
    const sampler = (async () => {
      while (sampling) {
        for (const socket of await socketsOf(child!.process.pid!)) seen.push({ ...socket, allowedAs: classify(socket, listenPort) })
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    })()

    // Announced: the onion address tor gave it, and nothing else.
    const onion = ready.onion as string
    expect(isOnionAddress(multiaddr(onion))).toBe(true)
    expect(ready.addresses).toEqual([onion])

    // Alice reaches Bob through the proxy (bootstrap); Carol dials Alice's listener directly (inbound, as tor would).
    await waitFor('alice to connect to bob', () => bob.node.network.libp2p.getConnections().some((c) => c.remotePeer.toString() === alice.peerId))
    expect(relay.connections.map((c) => c.target)).toContain(`127.0.0.1:${bobAddress.split('/')[4]!}`)
    expect(proxy.connectedTo()).toContain(`127.0.0.1:${bobAddress.split('/')[4]!}`)
    await carol.node.network.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/${listenPort}/p2p/${alice.peerId}`))

    // Messages both ways.
    await waitFor('a gossip mesh', () => bob.node.status().meshPeers > 0)
    child.send({ send: { to: bob.node.publicIdentity, text: 'hello from tor-only' } })
    await waitFor('bob to receive', async () => (await bob.node.inbox()).some((m) => m.text === 'hello from tor-only'))
    await bob.node.send(alice.identity, 'hello back', { ttlMinutes: 10 })
    await child.next('alice to receive', (e) => (e.received as { text?: string } | undefined)?.text === 'hello back')

    // What identify taught Bob about Alice: the onion address alone.
    const learned = (await bob.node.network.libp2p.peerStore.get(peerIdFrom(alice.peerId))).addresses.map((a) => a.multiaddr.toString())
    expect(learned.length).toBeGreaterThan(0)
    expect(learned.every((a) => isOnionAddress(multiaddr(a)))).toBe(true)

    // What the DHT hands out about Alice: Dave knows only Bob and looks Alice up through Bob's DHT.
    const dave = await startNode()
    await dave.node.network.libp2p.dial(multiaddr(bobAddress))
    const found = await dave.node.network.libp2p.peerRouting.findPeer(peerIdFrom(alice.peerId), { signal: AbortSignal.timeout(30_000) })
    expect(found.multiaddrs.length).toBeGreaterThan(0)
    expect(found.multiaddrs.map(String).filter(namesAnIp)).toEqual([])

    // What Alice's own DHT hands out: Erin knows only Alice (dialed directly) and walks the DHT through her.
    // Alice knows Bob's, Carol's and Dave's loopback addresses; none may come out of her.
    const erin = await startNode()
    await erin.node.network.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/${listenPort}/p2p/${alice.peerId}`))
    await drain(erin.node.network.libp2p.services.dht.getClosestPeers(randomBytes(32), { signal: AbortSignal.timeout(30_000) }))
    await drain(erin.node.network.libp2p.services.dht.getClosestPeers(bob.node.network.peerId.toMultihash().bytes, { signal: AbortSignal.timeout(30_000) }))
    for (const peer of await erin.node.network.libp2p.peerStore.all()) {
      if (peer.id.toString() === alice.peerId || peer.id.equals(erin.node.network.peerId)) continue
      expect(peer.addresses.map((a) => a.multiaddr.toString()).filter(namesAnIp)).toEqual([])
    }

    // Dialed explicitly (as the registry client dials the Operator's addresses): refused, unresolved.
    for (const address of [`/ip4/192.0.2.1/tcp/4001/p2p/${stranger}`, `/dnsaddr/bootstrap.example.org/p2p/${stranger}`]) {
      child.send({ dial: address })
      const dialed = await child.next(`the dial to ${address}`, (e) => e.dialed === address)
      expect(dialed.error).toBeDefined()
    }

    child.send({ report: true })
    const report = (await child.next('the report', (e) => e.report !== undefined)).report as { attempts: NetworkAttempt[], status: { addresses: string[] } }
    sampling = false
    await sampler

    // The guard in the process: every connect went to loopback, no DNS, no UDP; and it did see the traffic.
    expect(report.attempts.filter((a) => !a.allowed)).toEqual([])
    const targets = new Set(report.attempts.map((a) => a.target))
    expect(targets).toContain(relay.address)
    expect(targets).toContain(tor.control)
    expect(report.status.addresses).toEqual([onion])

    // The kernel's view: only the allowed kinds of sockets, and each kind was seen.
    expect(seen.filter((s) => s.allowedAs === 'forbidden')).toEqual([])
    const kinds = new Set(seen.map((s) => s.allowedAs))
    for (const kind of ['listener', 'socks', 'control', 'inbound']) expect(kinds).toContain(kind)
    // The proxy was only ever asked for loopback targets (an IP through Tor would leave by an exit).
    expect(relay.connections.filter((c) => c.blocked).map((c) => c.target)).toEqual([])
    expect(relay.connections.every((c) => c.target === undefined || c.target.startsWith('127.'))).toBe(true)
  }, 120_000)

  function classify (socket: ProcessSocket, listenPort: number): string {
    if (socket.protocol.startsWith('udp')) return 'forbidden'
    const loopback = (address: string): boolean => address.startsWith('127.') || address === '::1'
    if (socket.state === 'LISTEN') return loopback(socket.localAddress) ? 'listener' : 'forbidden'
    if (!loopback(socket.remoteAddress)) return 'forbidden'
    if (socket.remotePort === relay.port) return 'socks'
    if (socket.remotePort === tor.controlPort) return 'control'
    if (socket.localPort === listenPort) return 'inbound'
    return 'forbidden'
  }
})

describe('tor-only rules in process', () => {
  const started: Network[] = []
  afterAll(async () => { for (const network of started) await network.stop() })

  async function network (init: Partial<NetworkInit>): Promise<Network> {
    const net = await createNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], validate: async () => 'accept', onEnvelope: () => {}, ...init })
    started.push(net)
    await net.start()
    return net
  }

  it('refuses to dial anything but onion and loopback addresses, before any socket opens', async () => {
    // Nothing listens on this SOCKS port: a dial the gater let through would fail with TorNotRunningError instead.
    const closedSocks = `127.0.0.1:${await freePort()}`
    const alice = await network({ tor: { socks: closedSocks, onlyTor: true } })
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    for (const address of [`/ip4/192.0.2.1/tcp/4001/p2p/${peer}`, `/ip6/2001:db8::1/tcp/4001/p2p/${peer}`, `/dns4/example.org/tcp/4001/p2p/${peer}`]) {
      await expect(alice.libp2p.dial(multiaddr(address))).rejects.toMatchObject({ name: 'DialDeniedError' })
    }
    await expect(alice.libp2p.dial(multiaddr(`/onion3/${ONION_ID}:4001/p2p/${peer}`))).rejects.toMatchObject({ name: 'TorNotRunningError' })
    await expect(alice.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${peer}`))).rejects.toMatchObject({ name: 'TorNotRunningError' })

    // Such addresses are not even stored for a peer (nothing redials them later); onion ones are.
    await alice.libp2p.peerStore.merge(peerIdFrom(peer), { multiaddrs: [multiaddr('/ip4/192.0.2.1/tcp/4001'), multiaddr(`/onion3/${ONION_ID}:4001`)] })
    expect((await alice.libp2p.peerStore.get(peerIdFrom(peer))).addresses.map((a) => a.multiaddr.toString())).toEqual([`/onion3/${ONION_ID}:4001`])
    // Listening on loopback only, and announcing nothing without an onion address.
    expect(alice.status().addresses).toEqual([])
    expect(alice.onionTarget()).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('the gater alone: onion and loopback pass, IPs and names do not', () => {
    const gater = torOnlyGater()
    const { denyDialMultiaddr, filterMultiaddrForPeer } = gater // libp2p calls them unbound
    expect(denyDialMultiaddr!(multiaddr(`/onion3/${ONION_ID}:4001`))).toBe(false)
    expect(denyDialMultiaddr!(multiaddr('/ip4/127.0.0.1/tcp/4001'))).toBe(false)
    expect(denyDialMultiaddr!(multiaddr('/ip4/10.0.0.1/tcp/4001'))).toBe(true)
    expect(denyDialMultiaddr!(multiaddr('/dns4/localhost/tcp/4001'))).toBe(true)
    expect(denyDialMultiaddr!(multiaddr('/ip4/127.0.0.1/udp/4001/quic-v1'))).toBe(true)
    expect(filterMultiaddrForPeer!(peerIdFrom('12D3KooWGzgZPqf6xAnuS5f3WqS4LD3vBaYkBNmvNkzDRe5kXzTw'), multiaddr('/ip4/10.0.0.1/tcp/4001'))).toBe(false)
  })

  it('rejects options that would expose the node, naming them', async () => {
    const tor = { socks: '127.0.0.1:9050', onlyTor: true }
    await expect(network({ tor, listen: ['/ip4/0.0.0.0/tcp/0'] })).rejects.toThrow(/"listen" in tor-only mode/)
    await expect(network({ tor, announce: ['/ip4/203.0.113.5/tcp/4001'] })).rejects.toThrow(/"announce" in tor-only mode/)
    await expect(network({ tor, mdns: true })).rejects.toThrow(/"mdns" must be off/)
    await expect(network({ tor: { socks: 'nine-oh-five-oh' } })).rejects.toThrow(/"proxy" expected host:port/)
    expect(() => createKomradeNode({ dataDir: '/nonexistent', tor: { onlyTor: true } })).toThrow(/"tor.onlyTor" needs "tor.socks"/)
  })

  it('takes --tor-socks, --tor-only and --tor-control through the configuration', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'komrade-tor-config-'))
    try {
      const config = await resolveConfig({ flags: { dataDir, torSocks: '127.0.0.1:9150', torOnly: true }, env: { KOMRADE_TOR_CONTROL: '127.0.0.1:9051' } })
      expect(nodeInitOf(config).tor).toEqual({ socks: '127.0.0.1:9150', onlyTor: true, control: '127.0.0.1:9051' })
      const fromEnv = await resolveConfig({ flags: { dataDir }, env: { KOMRADE_TOR_SOCKS: '127.0.0.1:9050', KOMRADE_TOR_ONLY: 'true' } })
      expect(nodeInitOf(fromEnv).tor).toEqual({ socks: '127.0.0.1:9050', onlyTor: true })
      expect(nodeInitOf(await resolveConfig({ flags: { dataDir }, env: {} })).tor).toBeUndefined()
      await expect(resolveConfig({ flags: { dataDir, torOnly: true }, env: {} })).rejects.toThrow(/--tor-only needs Tor's SOCKS port/)
      await expect(resolveConfig({ flags: { dataDir, torOnly: true, torSocks: '127.0.0.1:9050', mdns: true }, env: {} })).rejects.toMatchObject({ name: 'ConfigError' })
      await expect(resolveConfig({ flags: { dataDir, torOnly: true, torSocks: '127.0.0.1:9050', listen: '/ip4/0.0.0.0/tcp/4001' }, env: {} }))
        .rejects.toThrow(/--tor-only listens on loopback only/)
      await expect(resolveConfig({ flags: { dataDir, torSocks: '9050' }, env: {} })).rejects.toThrow(/--tor-socks/)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})

async function drain (iterable: AsyncIterable<unknown>): Promise<void> {
  try {
    for await (const _ of iterable) { /* the walk's side effect, the peer store, is what is checked */ }
  } catch {
    // A walk through a node that hands out no one ends without peers; that is the point.
  }
}
