/**
 * The libp2p settings of a node over Tor, and the rules of tor-only mode.
 *
 * With Tor's SOCKS port configured, the SOCKS transport dials `/onion3`
 * addresses beside `tcp()`, and the timeouts allow for Tor's latency.
 *
 * Tor-only mode goes further: no socket leaves this machine except through
 * Tor. The SOCKS transport replaces `tcp()` (the first transport that
 * matches an address dials it, so `tcp()` beside it would dial IPs
 * directly) and listens on loopback only; a connection gater lets only
 * onion addresses be dialed or stored (and loopback ones, which name this
 * machine: the proxy connects to them locally, and Tor refuses them); the
 * node announces only its onion address, so identify and the DHT carry no
 * IP; kad-dht hands out only onion addresses; no mDNS and no DNS resolvers
 * (a `/dnsaddr` lookup would leave this machine outside Tor).
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { isLoopbackTcp, socksTargetOf, socksTransport, type SocksTransportComponents } from './socks-transport.js'
import type { ConnectionGater, PeerInfo, Transport } from '@libp2p/interface'
import type { ConnectionManagerInit, ConnectionMonitorInit } from 'libp2p'

/** Tor options of the network layer (node/network.ts). */
export interface NetworkTorInit {
  /** Tor's SOCKS5 port, `host:port`: 127.0.0.1:9050 for the tor daemon, 127.0.0.1:9150 for Tor Browser. */
  socks: string
  /**
   * Tor-only mode: every connection goes through Tor, the node listens on
   * loopback only and announces only its onion address. @default false
   */
  onlyTor?: boolean
}

/**
 * One address of a peer, dialed through Tor. A new onion circuit takes a
 * few seconds, a slow one a minute; libp2p's default (6 s) would give up on
 * most. Tor itself gives up after its SocksTimeout (120 s).
 */
export const TOR_ADDRESS_DIAL_TIMEOUT_MS = 90_000
/** A whole dial when the caller gives no signal (libp2p default 10 s): one slow address, and a second try. */
export const TOR_DIAL_TIMEOUT_MS = 150_000
/** An inbound connection's Noise and yamux handshakes cross two Tor circuits (libp2p default 10 s). */
export const TOR_UPGRADE_TIMEOUT_MS = 60_000
/** Protocol negotiation on a new stream, one round trip over Tor (libp2p default 10 s). */
export const TOR_PROTOCOL_NEGOTIATION_TIMEOUT_MS = 30_000

/**
 * The connection monitor pings every connection and closes those that do
 * not answer in time (defaults: every 10 s, adaptive timeout from 5 s).
 * Over Tor a round trip takes 0.5 to several seconds, and a circuit stalls
 * now and then: ping once a minute and wait at least 30 s.
 */
export const TOR_CONNECTION_MONITOR: Readonly<ConnectionMonitorInit> = {
  pingInterval: 60_000,
  pingTimeout: { minTimeout: 30_000, maxTimeout: 120_000 }
}

/** A `/onion3/<id>:<port>` address, with or without `/p2p/<peer id>`. */
export function isOnionAddress (address: Multiaddr): boolean {
  return socksTargetOf(address)?.onion === true
}

/** What tor-only mode may dial and remember: onion addresses, and loopback ones (the proxy reaches those locally). */
export function isTorOnlyDialable (address: Multiaddr): boolean {
  return isOnionAddress(address) || isLoopbackTcp(address)
}

/**
 * The connection gater of tor-only mode: no dial to an address outside
 * Tor's onion space (a gossiped IP, a DNS name), and such addresses are
 * not even stored for a peer, so nothing redials them later. libp2p calls
 * `filterMultiaddrForPeer` unbound (peer store `addressFilter`): the methods
 * use no `this`.
 */
export function torOnlyGater (): ConnectionGater {
  return {
    denyDialMultiaddr: (address) => !isTorOnlyDialable(address),
    filterMultiaddrForPeer: (_peer, address) => isTorOnlyDialable(address)
  }
}

/** kad-dht `peerInfoMapper` of tor-only mode: a peer's onion addresses only (loopback ones mean nothing elsewhere). */
export function onionOnlyPeerInfo (peer: PeerInfo): PeerInfo {
  return { ...peer, multiaddrs: peer.multiaddrs.filter(isOnionAddress) }
}

/** The announce filter of tor-only mode: our onion address only, whatever we listen on. */
export function onionOnlyAddresses (addresses: Multiaddr[]): Multiaddr[] {
  return addresses.filter(isOnionAddress)
}

/** What the network layer asks for in tor-only mode, checked by {@link torNetworkOptions}. */
export interface TorNetworkChecks {
  listen: string[]
  announce: string[]
  mdns: boolean
}

/** The libp2p options a network over Tor uses (see node/network.ts). */
export interface TorNetworkOptions {
  /** Replaces `[tcp()]` in tor-only mode; to add beside `tcp()` otherwise. */
  transport: (components: SocksTransportComponents) => Transport
  onlyTor: boolean
  connectionManager: ConnectionManagerInit
  connectionMonitor: ConnectionMonitorInit
  /** Tor-only mode only. */
  connectionGater?: ConnectionGater
  /** Tor-only mode only: applied last to the addresses we announce. */
  announceFilter?: (addresses: Multiaddr[]) => Multiaddr[]
  /** Tor-only mode only: kad-dht's peerInfoMapper. */
  peerInfoMapper?: (peer: PeerInfo) => PeerInfo
}

/**
 * Checks the Tor options (and, in tor-only mode, that `listen` is loopback,
 * `announce` onion-only and mDNS off) and returns the libp2p options.
 * Throws TypeError or RangeError naming the option.
 */
export function torNetworkOptions (tor: NetworkTorInit, checks: TorNetworkChecks): TorNetworkOptions {
  if (tor === null || typeof tor !== 'object') throw new TypeError('"tor" expected { socks, onlyTor? }')
  if (typeof tor.socks !== 'string') throw new TypeError('"tor.socks" expected Tor\'s SOCKS port as host:port, e.g. 127.0.0.1:9050')
  const onlyTor = tor.onlyTor === true
  const transport = socksTransport({ proxy: tor.socks, onlyTor }) // checks tor.socks
  const timeouts: ConnectionManagerInit = {
    addressDialTimeout: TOR_ADDRESS_DIAL_TIMEOUT_MS,
    dialTimeout: TOR_DIAL_TIMEOUT_MS,
    inboundUpgradeTimeout: TOR_UPGRADE_TIMEOUT_MS,
    inboundStreamProtocolNegotiationTimeout: TOR_PROTOCOL_NEGOTIATION_TIMEOUT_MS,
    outboundStreamProtocolNegotiationTimeout: TOR_PROTOCOL_NEGOTIATION_TIMEOUT_MS
  }
  if (!onlyTor) return { transport, onlyTor, connectionManager: timeouts, connectionMonitor: { ...TOR_CONNECTION_MONITOR } }
  checkTorOnly(checks)
  return {
    transport,
    onlyTor,
    // No resolvers: libp2p resolves /dnsaddr before the gater sees the address, with this machine's DNS.
    connectionManager: { ...timeouts, resolvers: {} },
    connectionMonitor: { ...TOR_CONNECTION_MONITOR },
    connectionGater: torOnlyGater(),
    announceFilter: onionOnlyAddresses,
    peerInfoMapper: onionOnlyPeerInfo
  }
}

function checkTorOnly (checks: TorNetworkChecks): void {
  if (checks.mdns) throw new RangeError('"mdns" must be off in tor-only mode: it announces this machine on the LAN')
  for (const address of checks.listen) {
    if (!isLoopbackTcp(parse(address, 'listen'))) {
      throw new RangeError(`"listen" in tor-only mode expected loopback TCP addresses only (e.g. /ip4/127.0.0.1/tcp/0; the onion service forwards to it), got ${JSON.stringify(address)}`)
    }
  }
  for (const address of checks.announce) {
    if (!isOnionAddress(parse(address, 'announce'))) {
      throw new RangeError(`"announce" in tor-only mode expected /onion3/<56 characters>:<port> addresses only, got ${JSON.stringify(address)}`)
    }
  }
}

function parse (address: string, name: string): Multiaddr {
  try {
    return multiaddr(address)
  } catch {
    throw new RangeError(`"${name}" expected multiaddrs, got ${JSON.stringify(address)}`)
  }
}

/**
 * The network's Tor options from a node's `tor` option (which also holds
 * the control port, node/tor/onion-service.ts): none without `socks`.
 * Throws RangeError for `onlyTor` without `socks`.
 */
export function networkTorOf (tor: { socks?: string, onlyTor?: boolean } | undefined): NetworkTorInit | undefined {
  if (tor?.onlyTor === true && tor.socks === undefined) {
    throw new RangeError('"tor.onlyTor" needs "tor.socks": Tor\'s SOCKS port, e.g. 127.0.0.1:9050 (Tor Browser: 127.0.0.1:9150)')
  }
  if (tor?.socks === undefined) return undefined
  return { socks: tor.socks, ...(tor.onlyTor === true ? { onlyTor: true } : {}) }
}
