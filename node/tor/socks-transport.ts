/**
 * A libp2p 3 transport that dials through Tor's SOCKS5 port.
 *
 * Beside `tcp()` it dials `/onion3/<56 chars>:<port>` addresses and nothing
 * else. In tor-only mode (`onlyTor`) it replaces `tcp()`: it dials every
 * address through the proxy (an IP or DNS name is then reached from Tor's
 * side, never from this machine) and keeps the node's one TCP listener, on
 * loopback only, which the onion service forwards to.
 *
 * Each remote peer gets its own SOCKS username and password, derived from
 * its peer id and a secret of this process: Tor (IsolateSOCKSAuth, on by
 * default) then builds separate circuits per peer, so one exit or relay
 * cannot link our connections to different peers. A proxy that is not Tor
 * sees only opaque strings. The handshake and its errors: socks-handshake.ts.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { serviceCapabilities, transportSymbol, TimeoutError } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { isolationCredentials, openSocksSocket, parseHostPort, SOCKS_HANDSHAKE_TIMEOUT_MS, type HostPort, type SocksTarget } from './socks-handshake.js'
import type { Socket } from 'node:net'
import type {
  ComponentLogger, Connection, CreateListenerOptions, DialTransportOptions, Listener, Logger, Transport
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * A connection with no traffic for this long is closed (as @libp2p/tcp does,
 * 2 minutes there). Five here: the relaxed connection monitor pings every
 * minute over Tor (tor-only.ts), gossipsub's heartbeat is per second.
 */
export const SOCKS_INACTIVITY_TIMEOUT_MS = 5 * 60_000

/** Options of {@link socksTransport}. */
export interface SocksTransportInit {
  /** Tor's SOCKS5 port, `host:port` (`[v6]:port` for IPv6), e.g. `127.0.0.1:9050`. */
  proxy: string
  /**
   * Tor-only mode: dial every TCP, DNS and onion address through the proxy,
   * and listen (on loopback addresses only). Otherwise only `/onion3`
   * addresses are dialed here and `tcp()` listens. @default false
   */
  onlyTor?: boolean
  /** See {@link SOCKS_HANDSHAKE_TIMEOUT_MS}. @default 125_000 */
  handshakeTimeoutMs?: number
  /** See {@link SOCKS_INACTIVITY_TIMEOUT_MS}. @default 300_000 */
  inactivityTimeoutMs?: number
}

/** What the transport needs from libp2p. */
export interface SocksTransportComponents {
  logger: ComponentLogger
}

/** Length of a v3 onion service id (base32 of key, checksum, version). */
const ONION_V3_ID_LENGTH = 56

/**
 * What the proxy must connect to for `address`, or undefined when this
 * transport cannot dial it: `/onion3/<id>:<port>`, or `/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>`,
 * each optionally followed by `/p2p/<peer id>`.
 */
export function socksTargetOf (address: Multiaddr): SocksTarget | undefined {
  const components = address.getComponents()
  if (components.at(-1)?.name === 'p2p') components.pop()
  const [first, second] = components
  if (first?.value === undefined) return undefined
  if (first.name === 'onion3' && components.length === 1) {
    const [id, port] = first.value.split(':')
    if (id?.length !== ONION_V3_ID_LENGTH || port === undefined) return undefined
    return { host: `${id}.onion`, port: Number(port), onion: true }
  }
  if (components.length === 2 && second?.name === 'tcp' && second.value !== undefined && ['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(first.name)) {
    return { host: first.value, port: Number(second.value), onion: false }
  }
  return undefined
}

/** A loopback TCP address (127.0.0.0/8 or ::1): all that tor-only mode listens on. */
export function isLoopbackTcp (address: Multiaddr): boolean {
  const components = address.getComponents()
  if (components.at(-1)?.name === 'p2p') components.pop()
  const [ip, port] = components
  if (components.length !== 2 || port?.name !== 'tcp' || ip?.value === undefined) return false
  return (ip.name === 'ip4' && ip.value.startsWith('127.')) || (ip.name === 'ip6' && (ip.value === '::1' || ip.value === '0:0:0:0:0:0:0:1'))
}

/** The bytes AbstractMultiaddrConnection hands to sendData. */
type SendBuffer = Parameters<AbstractMultiaddrConnection['sendData']>[0]

/** A socket through the proxy as a libp2p MultiaddrConnection; modelled on @libp2p/tcp's socket-to-conn. */
class SocksMultiaddrConnection extends AbstractMultiaddrConnection {
  constructor (private readonly socket: Socket, remoteAddr: Multiaddr, log: Logger, inactivityTimeout: number) {
    super({ remoteAddr, direction: 'outbound', log, inactivityTimeout })
    socket.on('data', (chunk: Buffer) => { this.onData(chunk) })
    socket.on('error', (err) => { this.log('socket error - %e', err); this.abort(err) })
    socket.setTimeout(inactivityTimeout)
    socket.once('timeout', () => { this.abort(new TimeoutError('The connection through Tor was idle too long')) })
    // allowHalfOpen is off: after 'end' Node answers with FIN and 'close' follows.
    socket.once('end', () => { this.onTransportClosed() })
    socket.once('close', (hadError) => {
      if (hadError) this.abort(new Error('The connection through Tor broke'))
      else this.onTransportClosed()
    })
    socket.on('drain', () => { this.safeDispatchEvent('drain') })
  }

  sendData (data: SendBuffer): { sentBytes: number, canSendMore: boolean } {
    let sentBytes = 0
    let canSendMore = true
    for (const chunk of data) {
      sentBytes += chunk.byteLength
      canSendMore = this.socket.write(chunk)
      if (!canSendMore) break
    }
    return { sentBytes, canSendMore }
  }

  async sendClose (options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.socket.destroyed) return
    const closed = once(this.socket, 'close', options.signal === undefined ? {} : { signal: options.signal })
    this.socket.destroySoon()
    await closed
  }

  sendReset (): void {
    if (this.socket.writableEnded) this.socket.destroy()
    else this.socket.resetAndDestroy()
  }

  sendPause (): void { this.socket.pause() }
  sendResume (): void { this.socket.resume() }
}

/** The transport; private, see {@link socksTransport}. */
class SocksTransport implements Transport {
  readonly [transportSymbol] = true as const
  readonly [Symbol.toStringTag] = '@komrade/socks'
  readonly [serviceCapabilities] = ['@libp2p/transport']
  private readonly proxy: HostPort
  private readonly onlyTor: boolean
  private readonly handshakeTimeoutMs: number
  private readonly inactivityTimeoutMs: number
  private readonly log: Logger
  /** Per process: credentials differ between runs, so nothing links circuits across restarts. */
  private readonly isolationSecret = randomBytes(32)
  /** Inbound connections: @libp2p/tcp's listener, tor-only mode only. */
  private readonly listenerTransport: Transport | undefined

  constructor (components: SocksTransportComponents, init: SocksTransportInit) {
    this.proxy = parseHostPort(init.proxy, 'proxy')
    this.onlyTor = init.onlyTor === true
    this.handshakeTimeoutMs = init.handshakeTimeoutMs ?? SOCKS_HANDSHAKE_TIMEOUT_MS
    this.inactivityTimeoutMs = init.inactivityTimeoutMs ?? SOCKS_INACTIVITY_TIMEOUT_MS
    this.log = components.logger.forComponent('komrade:tor:socks')
    this.listenerTransport = this.onlyTor ? tcp({ inboundSocketInactivityTimeout: this.inactivityTimeoutMs })(components) : undefined
  }

  async dial (address: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    const target = socksTargetOf(address)
    if (target === undefined) throw new RangeError(`This transport cannot dial ${address.toString()}`)
    const peer = address.getComponents().findLast((component) => component.name === 'p2p')?.value
    const credentials = isolationCredentials(this.isolationSecret, peer ?? `${target.host}:${target.port}`)
    this.log('dialing %a through the SOCKS proxy', address)
    const socket = await openSocksSocket({
      proxy: this.proxy, target, credentials, address: address.toString(), signal: options.signal, timeoutMs: this.handshakeTimeoutMs
    })
    const connection = new SocksMultiaddrConnection(socket, address, this.log.newScope('connection'), this.inactivityTimeoutMs)
    try {
      return await options.upgrader.upgradeOutbound(connection, options)
    } catch (err) {
      connection.abort(err as Error)
      throw err
    }
  }

  createListener (options: CreateListenerOptions): Listener {
    if (this.listenerTransport === undefined) throw new TypeError('The SOCKS transport listens only in tor-only mode; tcp() listens otherwise')
    return this.listenerTransport.createListener(options)
  }

  listenFilter (addresses: Multiaddr[]): Multiaddr[] {
    return this.onlyTor ? addresses.filter(isLoopbackTcp) : []
  }

  dialFilter (addresses: Multiaddr[]): Multiaddr[] {
    return addresses.filter((address) => {
      const target = socksTargetOf(address)
      return target !== undefined && (this.onlyTor || target.onion)
    })
  }
}

/**
 * The SOCKS5 transport, for `transports` in createLibp2p. Throws
 * RangeError for a bad `proxy`.
 */
export function socksTransport (init: SocksTransportInit): (components: SocksTransportComponents) => Transport {
  parseHostPort(init.proxy, 'proxy')
  return (components) => new SocksTransport(components, init)
}
