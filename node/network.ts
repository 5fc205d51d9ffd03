/**
 * The network layer of a node: a libp2p 3 host (TCP and, when configured,
 * Tor's SOCKS port, see node/tor/; Noise, yamux) that floods envelopes
 * over one gossipsub topic (and, with an Operator
 * configured, the Operator's signed tree heads over a second), finds peers
 * through bootstrap, kad-dht under the network's own protocol id and, when
 * asked, mDNS.
 *
 * Nothing here opens envelopes or stores them: every envelope from the
 * network goes through `init.validate` (the node's checks) before gossipsub
 * forwards it, and every accepted one is handed to `init.onEnvelope`.
 * The numbers and their reasons live in network-constants.ts.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { gossipsub, StrictNoSign, TopicValidatorResult, type GossipSub, type GossipsubMessage } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { KEEP_ALIVE } from '@libp2p/interface'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { randomBytes } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { checkEnvelope, envelopeId, nativeCrypto, TREE_HEAD_LENGTH, type EnvelopeRejection } from '../protocol/index.js'
import {
  DECODE_RPC_LIMITS, DEFAULT_LISTEN, DEFAULT_NETWORK_NAME, DEFAULT_TARGET_PEERS, INBOUND_CONNECTION_THRESHOLD,
  MAX_INBOUND_RPC_BYTES, MDNS_SERVICE_TAG, DISCOVERY_WALK_INTERVAL_MS, DISCOVERY_WALK_MAX_INTERVAL_MS, DISCOVERY_WALK_TIMEOUT_MS, NETWORK_NAME_PATTERN, REDIAL_BACKOFF_MS, SCORE_THRESHOLDS, USER_AGENT,
  dhtProtocol, envelopeTopic, peerScoreParams, treeHeadTopic
} from './network-constants.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { ComponentLogger, Libp2p, Listener, Logger, PeerId, PeerInfo, PrivateKey } from '@libp2p/interface'
import { torNetworkOptions, type NetworkTorInit } from './tor/tor-only.js'

/** What the node's validation says about an envelope from the network. */
export type EnvelopeVerdictForGossip = 'accept' | 'reject' | 'ignore'

/** Options of {@link createNetwork}. */
export interface NetworkInit {
  /** The node's libp2p key (its PeerId). @default a fresh Ed25519 key */
  privateKey?: PrivateKey
  /** Multiaddrs to listen on. @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** Multiaddrs to announce instead of the listen addresses (e.g. an onion address). */
  announce?: string[]
  /** Bootstrap peers: multiaddrs ending in `/p2p/<peer id>`; kept connected (keep-alive). */
  bootstrap?: string[]
  /** Discover peers on the LAN with mDNS. @default false */
  mdns?: boolean
  /**
   * Name of the network: the gossip topic is `/komrade/<name>/envelopes/1`
   * and the DHT speaks `/komrade/<name>/kad/1.0.0`. Lowercase letters,
   * digits and dashes, at most 32. @default 'komrade'
   */
  networkName?: string
  /**
   * Share private and loopback addresses through the DHT (kad-dht's
   * `passthroughMapper`). Needed on a LAN and in local tests; a node on the
   * public network should turn it off. @default true (for now)
   */
  allowPrivateAddresses?: boolean
  /**
   * The node's validation of an envelope from the network (checkEnvelope
   * plus "already stored?"). `from` is the peer that relayed it, not its
   * author (there is none on the wire). 'reject' lowers the peer's score;
   * 'ignore' drops the envelope without blame. A thrown error counts as
   * 'ignore'. Must be quick: gossipsub waits for it before forwarding.
   */
  validate: (envelope: Uint8Array, from: PeerId) => Promise<EnvelopeVerdictForGossip>
  /** Called once for every envelope from the network that `validate` accepted. */
  onEnvelope: (envelope: Uint8Array, from: PeerId) => void
  /**
   * Tree-head gossip (SPEC §13.9), for a node with an Operator configured:
   * the topic `/komrade/<name>/tree-heads/1` is allowed and subscribed.
   * Without it, that topic is dropped unread like any other.
   */
  treeHeads?: TreeHeadGossipInit
  /** Discovered peers are dialed until this many are connected. @default 8 */
  targetPeers?: number
  /**
   * Tor's SOCKS port: `/onion3` addresses are dialed through it; with
   * `onlyTor`, every address is, the node listens on loopback only and
   * announces only its onion address (node/tor/tor-only.ts). @default none
   */
  tor?: NetworkTorInit
  /** Logger for libp2p and this layer (`komrade:network`). @default libp2p's debug logger */
  logger?: ComponentLogger
}

/** The tree-head topic's hooks; see {@link NetworkInit.treeHeads}. */
export interface TreeHeadGossipInit {
  /**
   * True when `head` (113 bytes, length already checked) is a version-1 head
   * signed by the pinned Operator key. False means Reject: the relaying
   * peer's score drops. Must be quick and must not throw.
   */
  verify: (head: Uint8Array) => boolean
  /** Called once for every head `verify` accepted. */
  onTreeHead: (head: Uint8Array, from: PeerId) => void
}

/** The libp2p services a network runs. */
export interface NetworkServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
}

/** A snapshot of the network, for status displays. */
export interface NetworkStatus {
  /** Connected peers. */
  peers: number
  /** Peers in our gossipsub mesh for the envelope topic. */
  meshPeers: number
  /** Connected peers subscribed to the envelope topic. */
  topicPeers: number
  /** Our multiaddrs, with `/p2p/<peer id>`. */
  addresses: string[]
  /** The onion address we announce (`/onion3/<id>:<port>/p2p/<peer id>`), once {@link Network.announceOnion} set it. */
  onion?: string
}

/** A running (or startable) network host; see {@link createNetwork}. */
export interface Network {
  readonly libp2p: Libp2p<NetworkServices>
  readonly peerId: PeerId
  /** The gossip topic envelopes travel on. */
  readonly topic: string
  /** The tree-head topic, when `treeHeads` was given. */
  readonly treeHeadTopic?: string
  /** Starts listening, discovery and gossip. */
  start(): Promise<void>
  /** Stops everything; pending dials are aborted. */
  stop(): Promise<void>
  /**
   * Floods an envelope to the network. Returns how many peers it was sent
   * to; 0 means nobody could take it now (retry later, or leave it to resync).
   * Throws InvalidEnvelopeError for an envelope peers would reject, and
   * NetworkNotStartedError before start().
   */
  publish(envelope: Uint8Array, options?: { signal?: AbortSignal }): Promise<{ recipients: number }>
  /**
   * Gossips a signed tree head (113 bytes). Returns how many peers it went
   * to; the same head again within gossipsub's seen TTL (2 minutes) goes to
   * nobody. Throws TypeError without `treeHeads`, RangeError for a wrong
   * length, NetworkNotStartedError before start().
   */
  publishTreeHead(head: Uint8Array, options?: { signal?: AbortSignal }): Promise<{ recipients: number }>
  status(): NetworkStatus
  /**
   * Where tor should forward our onion service: `host:port` of a TCP
   * listener reachable from this machine (loopback preferred; `0.0.0.0`
   * becomes 127.0.0.1). Undefined before start or without a TCP listener.
   */
  onionTarget(): string | undefined
  /**
   * Announces `address` (`/onion3/<56 chars>:<port>`) besides our other
   * addresses (identify, the peer store, the DHT) and pushes it to connected
   * peers; undefined withdraws it. Throws RangeError for anything else.
   */
  announceOnion(address: string | undefined): Promise<void>
  /** Gossipsub's score of a peer (0 for unknown peers; negative means misbehaving). */
  peerScore(peer: PeerId): number
}

/** The envelope given to publish() would be rejected by every peer. */
export class InvalidEnvelopeError extends Error {
  constructor (readonly reason: EnvelopeRejection) {
    super(`This envelope would be rejected by peers (${reason}); seal and solve a new one`)
    this.name = 'InvalidEnvelopeError'
  }
}

/** publish() was called before start() or after stop(). */
export class NetworkNotStartedError extends Error {
  constructor () {
    super('The network is not running; call start() first')
    this.name = 'NetworkNotStartedError'
  }
}

/** Gossipsub methods this layer uses that 17.1's exported interface leaves out. */
interface GossipSubExtras {
  getMeshPeers(topic: string): string[]
  getScore(peerId: string): number
}

const VERDICTS: Readonly<Record<EnvelopeVerdictForGossip, TopicValidatorResult>> = {
  accept: TopicValidatorResult.Accept,
  reject: TopicValidatorResult.Reject,
  ignore: TopicValidatorResult.Ignore
}

/**
 * Creates the network host of a node, stopped: call `start()`.
 * Throws TypeError or RangeError (naming the option) for bad options.
 */
export async function createNetwork (init: NetworkInit): Promise<Network> {
  const networkName = init.networkName ?? DEFAULT_NETWORK_NAME
  const targetPeers = init.targetPeers ?? DEFAULT_TARGET_PEERS
  checkInit(init, networkName, targetPeers)
  const topic = envelopeTopic(networkName)
  const headTopic = init.treeHeads === undefined ? undefined : treeHeadTopic(networkName)
  const crypto = nativeCrypto()

  const peerDiscovery = []
  // @libp2p/bootstrap drops /onion3 entries (its matcher knows no onion): those are seeded at start instead.
  const onionBootstrap = (init.bootstrap ?? []).filter(isOnionEntry).map(onionPeer)
  const ipBootstrap = (init.bootstrap ?? []).filter((address) => !isOnionEntry(address))
  if (ipBootstrap.length > 0) {
    // A tag starting with KEEP_ALIVE makes libp2p redial the peer when it drops.
    peerDiscovery.push(bootstrap({ list: ipBootstrap, tagName: BOOTSTRAP_TAG }))
  }
  if (init.mdns === true) peerDiscovery.push(mdns({ serviceTag: MDNS_SERVICE_TAG }))
  const tor = init.tor === undefined
    ? undefined
    : torNetworkOptions(init.tor, { listen: init.listen ?? DEFAULT_LISTEN, announce: init.announce ?? [], mdns: init.mdns === true })

  /** The onion address tor serves for us (see announceOnion), with /p2p; read by announceFilter. */
  let onionAddress: Multiaddr | undefined
  const libp2p = await createLibp2p<NetworkServices>({
    start: false,
    privateKey: init.privateKey ?? await generateKeyPair('Ed25519'),
    nodeInfo: { userAgent: USER_AGENT },
    addresses: {
      listen: init.listen ?? DEFAULT_LISTEN,
      announce: init.announce ?? [],
      // Called on every read of our addresses (identify, peer store, DHT): the onion address joins them once tor
      // serves it, first, so lists cut short (an invite keeps 8) keep it.
      announceFilter: (addresses) => {
        const all = onionAddress === undefined ? addresses : [onionAddress, ...addresses]
        return tor?.announceFilter === undefined ? all : tor.announceFilter(all) // tor-only: the onion address alone
      }
    },
    // Tor-only: the SOCKS transport alone (tcp() beside it would dial IPs directly).
    transports: tor === undefined ? [tcp()] : tor.onlyTor ? [tor.transport] : [tcp(), tor.transport],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD, ...tor?.connectionManager },
    ...(tor === undefined ? {} : { connectionMonitor: tor.connectionMonitor }),
    ...(tor?.connectionGater === undefined ? {} : { connectionGater: tor.connectionGater }),
    peerDiscovery,
    ...(init.logger !== undefined ? { logger: init.logger } : {}),
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        // No author, seqno or signature on the wire: nothing names the publisher.
        globalSignaturePolicy: StrictNoSign,
        // The message id is the envelope id (SPEC §2), so duplicates are caught by content. A tree
        // head is not an envelope: its id is the SHA-256 of its bytes.
        msgIdFn: (message) => message.topic === headTopic ? crypto.sha256(message.data) : envelopeId(crypto, message.data),
        // Publishing with no peers is normal (a fresh node): report 0, do not throw.
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        // Subscriptions to and messages on any other topic are dropped unread.
        allowedTopics: headTopic === undefined ? [topic] : [topic, headTopic],
        maxInboundDataLength: MAX_INBOUND_RPC_BYTES,
        decodeRpcLimits: { ...DECODE_RPC_LIMITS },
        scoreParams: peerScoreParams(topic, headTopic),
        scoreThresholds: { ...SCORE_THRESHOLDS },
        // Floodsub peers cannot be scored like mesh peers; we speak meshsub only.
        fallbackToFloodsub: false,
        // One frame, and one envelope, at a time per peer: a flooding peer
        // waits for our validator instead of piling up concurrent validations.
        awaitRpcHandler: true,
        awaitRpcMessageHandler: true
      }),
      dht: kadDHT({
        protocol: dhtProtocol(networkName),
        // Answer queries from the start; the default waits to learn it has a public address.
        clientMode: false,
        peerInfoMapper: tor?.peerInfoMapper ?? (init.allowPrivateAddresses === false ? removePrivateAddressesMapper : passthroughMapper)
      })
    }
  })

  const log = (init.logger ?? libp2p.logger).forComponent('komrade:network')
  // The actual listeners (with their real ports), for the onion service to forward to.
  const listeners = new Set<Listener>()
  libp2p.addEventListener('transport:listening', (event) => { listeners.add(event.detail) })
  libp2p.addEventListener('transport:close', (event) => { listeners.delete(event.detail) })
  const pubsub = libp2p.services.pubsub
  const extras = pubsub as unknown as GossipSub & GossipSubExtras
  if (typeof extras.getMeshPeers !== 'function' || typeof extras.getScore !== 'function') {
    throw new TypeError('This @libp2p/gossipsub has no getMeshPeers/getScore; the network layer needs 17.1')
  }

  pubsub.topicValidators.set(topic, async (from, message) => {
    try {
      const verdict = await init.validate(message.data, from)
      return VERDICTS[verdict] ?? TopicValidatorResult.Ignore
    } catch (err) {
      log.error('validator failed, ignoring the envelope - %e', err)
      return TopicValidatorResult.Ignore
    }
  })
  const treeHeads = init.treeHeads
  if (headTopic !== undefined && treeHeads !== undefined) {
    pubsub.topicValidators.set(headTopic, (_from, message) => {
      try {
        return message.data.length === TREE_HEAD_LENGTH && treeHeads.verify(message.data) ? TopicValidatorResult.Accept : TopicValidatorResult.Reject
      } catch (err) {
        log.error('tree-head validator failed, ignoring the head - %e', err)
        return TopicValidatorResult.Ignore
      }
    })
  }
  pubsub.addEventListener('gossipsub:message', (event: CustomEvent<GossipsubMessage>) => {
    const { msg, propagationSource } = event.detail
    try {
      if (msg.topic === topic) init.onEnvelope(msg.data, propagationSource)
      else if (msg.topic === headTopic) treeHeads?.onTreeHead(msg.data, propagationSource)
    } catch (err) {
      log.error('message handler failed - %e', err)
    }
  })

  const dialer = createDialer(libp2p, targetPeers, log)
  let running = false

  return {
    libp2p,
    peerId: libp2p.peerId,
    topic,
    ...(headTopic === undefined ? {} : { treeHeadTopic: headTopic }),
    async start () {
      if (running) return
      await libp2p.start()
      pubsub.subscribe(topic)
      if (headTopic !== undefined) pubsub.subscribe(headTopic)
      dialer.start()
      running = true
      await seedOnionBootstrap(libp2p, onionBootstrap, log)
      log('started as %p on %s', libp2p.peerId, topic)
    },
    async stop () {
      if (!running) return
      running = false
      dialer.stop()
      await libp2p.stop()
      log('stopped')
    },
    async publish (envelope, options = {}) {
      options.signal?.throwIfAborted()
      const verdict = checkEnvelope(crypto, envelope)
      if (!verdict.valid) throw new InvalidEnvelopeError(verdict.reason)
      if (!running) throw new NetworkNotStartedError()
      // Gossipsub marks a published id as seen even when it reached nobody,
      // and then answers a retry within its seen TTL (2 min) with 0 again.
      // With no topic peer at all, do not hand it over yet.
      if (pubsub.getSubscribers(topic).length === 0) return { recipients: 0 }
      const result = await pubsub.publish(topic, envelope)
      return { recipients: result.recipients.length }
    },
    async publishTreeHead (head, options = {}) {
      options.signal?.throwIfAborted()
      if (headTopic === undefined) throw new TypeError('This network has no tree-head topic; create it with "treeHeads"')
      if (!(head instanceof Uint8Array) || head.length !== TREE_HEAD_LENGTH) {
        throw new RangeError(`"head" expected ${TREE_HEAD_LENGTH} bytes, got ${head instanceof Uint8Array ? head.length : typeof head}`)
      }
      if (!running) throw new NetworkNotStartedError()
      if (pubsub.getSubscribers(headTopic).length === 0) return { recipients: 0 }
      const result = await pubsub.publish(headTopic, head)
      return { recipients: result.recipients.length }
    },
    status () {
      return {
        peers: libp2p.getPeers().length,
        meshPeers: extras.getMeshPeers(topic).length,
        topicPeers: pubsub.getSubscribers(topic).length,
        addresses: libp2p.getMultiaddrs().map((address) => address.toString()),
        ...(onionAddress === undefined ? {} : { onion: onionAddress.toString() })
      }
    },
    onionTarget () {
      return loopbackTarget([...listeners].flatMap((listener) => listener.getAddrs()))
    },
    async announceOnion (address) {
      if (address !== undefined && !isOnionAddress(address)) {
        throw new RangeError(`"address" expected /onion3/<56 characters>:<port>, got ${JSON.stringify(address)}`)
      }
      onionAddress = address === undefined ? undefined : multiaddr(address).encapsulate(`/p2p/${libp2p.peerId.toString()}`)
      // Our own peer record changing is what makes identify push the new addresses to connected peers.
      if (running) await libp2p.peerStore.patch(libp2p.peerId, { multiaddrs: libp2p.getMultiaddrs() })
      log('announcing onion address %s', onionAddress?.toString() ?? 'none')
    },
    peerScore (peer) {
      return extras.getScore(peer.toString())
    }
  }
}

/** The tag of bootstrap peers; starting with KEEP_ALIVE, libp2p redials them when they drop. */
const BOOTSTRAP_TAG = `${KEEP_ALIVE}-bootstrap`
/** @libp2p/bootstrap's tag value, kept for the onion peers we seed ourselves. */
const BOOTSTRAP_TAG_VALUE = 50

function isOnionEntry (address: string): boolean {
  try {
    return multiaddr(address).getComponents().some((component) => component.name === 'onion3')
  } catch {
    return false
  }
}

/** An /onion3 bootstrap entry, which must name its peer (`/p2p/<id>`) like every bootstrap entry. */
function onionPeer (address: string): { id: PeerId, address: Multiaddr } {
  const parsed = multiaddr(address)
  const id = parsed.getComponents().findLast((component) => component.name === 'p2p')?.value
  if (id === undefined) throw new RangeError(`"bootstrap" entry ${JSON.stringify(address)} expected to end in /p2p/<peer id>`)
  return { id: peerIdFromString(id), address: parsed }
}

/**
 * Does for /onion3 bootstrap peers what @libp2p/bootstrap does for the
 * others: stores the address with the keep-alive bootstrap tag (libp2p then
 * redials the peer whenever it drops) and dials it once now. The dial runs
 * in the background: through Tor it takes seconds, or fails while tor has
 * no circuits yet, and the keep-alive redial covers that.
 */
async function seedOnionBootstrap (libp2p: Libp2p, peers: ReadonlyArray<{ id: PeerId, address: Multiaddr }>, log: Logger): Promise<void> {
  for (const { id, address } of peers) {
    if (id.equals(libp2p.peerId)) continue
    await libp2p.peerStore.merge(id, { multiaddrs: [address], tags: { [BOOTSTRAP_TAG]: { value: BOOTSTRAP_TAG_VALUE } } })
    libp2p.dial(id).catch((err: unknown) => { log('could not dial onion bootstrap peer %p - %e', id, err) })
  }
}

/** A bare onion address: `/onion3/<56 characters>:<port>`, nothing before or after it. */
function isOnionAddress (address: string): boolean {
  try {
    const components = multiaddr(address).getComponents()
    return components.length === 1 && components[0]!.name === 'onion3'
  } catch {
    return false
  }
}

/**
 * Picks the `host:port` tor forwards to among our listeners' addresses: a
 * loopback TCP address, else the loopback of a wildcard one, else any IP
 * TCP address (tor forwards to it on this machine).
 */
function loopbackTarget (addresses: Multiaddr[]): string | undefined {
  const candidates: Array<{ host: string, port: string, rank: number }> = []
  for (const address of addresses) {
    const components = address.getComponents()
    const ip = components[0]
    const tcp = components[1]
    if (ip === undefined || tcp?.name !== 'tcp' || tcp.value === undefined || ip.value === undefined) continue
    if (ip.name === 'ip4') {
      const host = ip.value === '0.0.0.0' ? '127.0.0.1' : ip.value
      candidates.push({ host, port: tcp.value, rank: host.startsWith('127.') ? 0 : 2 })
    } else if (ip.name === 'ip6') {
      const host = ip.value === '::' ? '::1' : ip.value
      candidates.push({ host: `[${host}]`, port: tcp.value, rank: host === '::1' ? 1 : 2 })
    }
  }
  const best = candidates.sort((a, b) => a.rank - b.rank)[0]
  return best === undefined ? undefined : `${best.host}:${best.port}`
}

function checkInit (init: NetworkInit, networkName: string, targetPeers: number): void {
  if (typeof init.validate !== 'function') throw new TypeError('"validate" expected a function')
  if (typeof init.onEnvelope !== 'function') throw new TypeError('"onEnvelope" expected a function')
  if (init.treeHeads !== undefined && (typeof init.treeHeads.verify !== 'function' || typeof init.treeHeads.onTreeHead !== 'function')) {
    throw new TypeError('"treeHeads" expected { verify, onTreeHead } functions')
  }
  if (typeof networkName !== 'string' || !NETWORK_NAME_PATTERN.test(networkName)) {
    throw new RangeError(`"networkName" expected 1 to 32 of a-z, 0-9 and "-" (not starting with "-"), got ${JSON.stringify(networkName)}`)
  }
  if (!Number.isSafeInteger(targetPeers) || targetPeers < 0) {
    throw new RangeError(`"targetPeers" expected a non-negative integer, got ${String(targetPeers)}`)
  }
}

interface Dialer {
  start(): void
  stop(): void
}

/**
 * libp2p 3 has no autodialer: dial discovered peers until `targetPeers` are
 * connected, and when a peer drops, top up from the peer store (skipping
 * peers that failed within REDIAL_BACKOFF_MS).
 */
function createDialer (libp2p: Libp2p, targetPeers: number, log: Logger): Dialer {
  const dialing = new Set<string>()
  const failedAt = new Map<string, number>()
  let controller: AbortController | undefined
  let toppingUp = false

  const wanted = (): number => targetPeers - libp2p.getPeers().length - dialing.size
  const dialable = (peer: PeerId): boolean => {
    const id = peer.toString()
    if (peer.equals(libp2p.peerId) || dialing.has(id) || libp2p.getConnections(peer).length > 0) return false
    return Date.now() - (failedAt.get(id) ?? -Infinity) >= REDIAL_BACKOFF_MS
  }

  const dial = (peer: PeerId): void => {
    const signal = controller?.signal
    if (signal === undefined || signal.aborted) return
    const id = peer.toString()
    dialing.add(id)
    libp2p.dial(peer, { signal })
      .then(() => {
        failedAt.delete(id)
        dialing.delete(id)
      }, (err: unknown) => {
        failedAt.set(id, Date.now())
        dialing.delete(id)
        log('dial %p failed - %e', peer, err)
        topUpSoon() // the slot is free again: try someone else (this peer is now backed off)
      })
  }

  const onDiscovery = (event: CustomEvent<PeerInfo>): void => {
    if (wanted() > 0 && dialable(event.detail.id)) dial(event.detail.id)
  }

  const topUp = async (): Promise<void> => {
    if (toppingUp || wanted() <= 0) return
    toppingUp = true
    try {
      const peers = await libp2p.peerStore.all({ filters: [(peer) => peer.addresses.length > 0 && dialable(peer.id)] })
      for (const peer of peers) {
        if (wanted() <= 0) break
        if (dialable(peer.id)) dial(peer.id)
      }
    } finally {
      toppingUp = false
    }
  }
  function topUpSoon (): void {
    if (controller === undefined || controller.signal.aborted) return
    topUp().catch((err: unknown) => { log.error('top-up failed - %e', err) })
  }
  const onDisconnect = (): void => {
    topUpSoon()
    if (walkDelay > DISCOVERY_WALK_INTERVAL_MS) { walkDelay = DISCOVERY_WALK_INTERVAL_MS; scheduleWalk() }
  }

  // Below target, look for more peers through the DHT (see DISCOVERY_WALK_INTERVAL_MS). A walk
  // that finds nobody new doubles the pause before the next one, up to DISCOVERY_WALK_MAX_INTERVAL_MS;
  // a lost peer brings it back to the start.
  let walkDelay = DISCOVERY_WALK_INTERVAL_MS
  let walkTimer: NodeJS.Timeout | undefined
  /** A walk is running: a timer set meanwhile (a lost peer reschedules) does not start a second one; the running walk schedules the next. */
  let walking = false
  const walk = async (): Promise<void> => {
    const signal = controller?.signal
    if (signal === undefined || signal.aborted || walking) return
    walking = true
    let dialed = 0
    try {
      if (wanted() > 0 && libp2p.getPeers().length > 0) {
        try {
          const options = { signal: AbortSignal.any([signal, AbortSignal.timeout(DISCOVERY_WALK_TIMEOUT_MS)]) }
          for await (const peer of libp2p.peerRouting.getClosestPeers(randomBytes(32), options)) {
            if (wanted() <= 0) break
            if (dialable(peer.id)) { dial(peer.id); dialed++ }
          }
        } catch (err) {
          if (!signal.aborted) log('discovery walk ended - %e', err)
        }
      }
    } finally {
      walking = false
    }
    walkDelay = dialed > 0 ? DISCOVERY_WALK_INTERVAL_MS : Math.min(walkDelay * 2, DISCOVERY_WALK_MAX_INTERVAL_MS)
    scheduleWalk()
  }
  function scheduleWalk (): void {
    if (controller === undefined || controller.signal.aborted) return
    clearTimeout(walkTimer)
    walkTimer = setTimeout(() => { void walk() }, walkDelay)
    walkTimer.unref()
  }

  return {
    start () {
      controller = new AbortController()
      libp2p.addEventListener('peer:discovery', onDiscovery)
      libp2p.addEventListener('peer:disconnect', onDisconnect)
      walkDelay = DISCOVERY_WALK_INTERVAL_MS
      scheduleWalk()
    },
    stop () {
      controller?.abort()
      clearTimeout(walkTimer)
      libp2p.removeEventListener('peer:discovery', onDiscovery)
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
    }
  }
}
