/**
 * The client side of SOCKS5 towards Tor: connect to the proxy, run the
 * handshake with per-peer isolation credentials, and turn every way it can
 * fail into a typed error (node/tor/errors.ts).
 *
 * The handshake is the `socks` package's; it takes no AbortSignal, so the
 * socket to the proxy is ours (`existing_socket`) and abort or the deadline
 * destroys it. The proxy's answer bytes are read beside it, because `socks`
 * reports Tor's extended onion reply codes (0xF0-0xF7) as "undefined".
 */
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { AbortError, TimeoutError } from '@libp2p/interface'
import { SocksClient } from 'socks'
import { OnionUnreachableError, SocksRefusedError, SocksUnreachableError, TorNotRunningError } from './errors.js'

/**
 * Longest wait for the proxy to connect us (SOCKS handshake included).
 * Tor gives up on a stream after its SocksTimeout, 120 s by default, and
 * answers; this is only the backstop for a proxy that never answers.
 * libp2p's per-address dial timeout (see tor-only.ts) usually ends a dial first.
 */
export const SOCKS_HANDSHAKE_TIMEOUT_MS = 125_000

/** A SOCKS5 proxy endpoint. */
export interface HostPort {
  host: string
  port: number
}

/** Where the proxy is asked to connect: a host (IP, DNS name or `<id>.onion`) and a port. */
export interface SocksTarget extends HostPort {
  onion: boolean
}

/**
 * Parses `host:port` (IPv6 in brackets: `[::1]:9050`). Throws RangeError
 * naming `name` for anything else.
 */
export function parseHostPort (value: string, name: string): HostPort {
  const match = typeof value === 'string' ? /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value.trim()) : null
  const port = match === null ? NaN : Number(match[3])
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`"${name}" expected host:port, e.g. 127.0.0.1:9050 (Tor Browser: 127.0.0.1:9150), got ${JSON.stringify(value)}`)
  }
  return { host: match[1] ?? match[2]!, port }
}

/** The SOCKS username and password that keep connections to one peer on their own Tor circuits. */
export interface IsolationCredentials {
  userId: string
  password: string
}

/**
 * The credentials for `key` (a peer id, else the target address): an HMAC
 * under `secret`, so equal keys get equal credentials within one process
 * and nothing about the peer is readable from them.
 */
export function isolationCredentials (secret: Uint8Array, key: string): IsolationCredentials {
  const digest = createHmac('sha256', secret).update(key).digest('hex')
  return { userId: `komrade-${digest.slice(0, 32)}`, password: digest.slice(32) }
}

/** How a failed SOCKS request reads to the caller: the proxy refused it, or could not reach the target. */
export interface SocksFailure {
  kind: 'refused' | 'unreachable'
  reason: string
  replyCode?: number
}

/**
 * SOCKS5 reply codes (RFC 1928 §6) and Tor's extended onion codes
 * (tor's doc/spec socks-extensions, "ExtendedErrors"), with what they mean
 * here: `refused` is about the request or the proxy, `unreachable` about
 * the target.
 */
export const SOCKS5_REPLIES: Readonly<Record<number, SocksFailure>> = {
  0x01: { kind: 'unreachable', reason: 'general failure', replyCode: 0x01 },
  0x02: { kind: 'refused', reason: 'connection not allowed by its rules', replyCode: 0x02 },
  0x03: { kind: 'unreachable', reason: 'network unreachable', replyCode: 0x03 },
  0x04: { kind: 'unreachable', reason: 'host unreachable', replyCode: 0x04 },
  0x05: { kind: 'unreachable', reason: 'connection refused', replyCode: 0x05 },
  0x06: { kind: 'unreachable', reason: 'timed out', replyCode: 0x06 },
  0x07: { kind: 'refused', reason: 'command not supported', replyCode: 0x07 },
  0x08: { kind: 'refused', reason: 'address type not supported', replyCode: 0x08 },
  0xF0: { kind: 'unreachable', reason: 'onion service descriptor not found: the service is offline or gone', replyCode: 0xF0 },
  0xF1: { kind: 'unreachable', reason: 'onion service descriptor invalid', replyCode: 0xF1 },
  0xF2: { kind: 'unreachable', reason: 'onion service introduction failed', replyCode: 0xF2 },
  0xF3: { kind: 'unreachable', reason: 'onion service rendezvous failed', replyCode: 0xF3 },
  0xF4: { kind: 'unreachable', reason: 'onion service needs client authorization', replyCode: 0xF4 },
  0xF5: { kind: 'unreachable', reason: 'onion service refused our client authorization', replyCode: 0xF5 },
  0xF6: { kind: 'unreachable', reason: 'invalid onion address', replyCode: 0xF6 },
  0xF7: { kind: 'unreachable', reason: 'onion service introduction timed out', replyCode: 0xF7 }
}

const SOCKS_VERSION = 0x05
const METHOD_NO_AUTH = 0x00
const METHOD_USER_PASS = 0x02
const METHOD_NONE_ACCEPTABLE = 0xFF

/**
 * Reads what the proxy answered during a failed handshake: the method
 * choice (2 bytes), the RFC 1929 authentication status when it chose
 * username/password (2 bytes), then the reply header (version, code).
 * Undefined when it had not answered the connect request yet.
 */
export function handshakeFailure (answer: Uint8Array): SocksFailure | undefined {
  if (answer.length === 0) return undefined
  if (answer[0] !== SOCKS_VERSION) return { kind: 'refused', reason: 'it does not speak SOCKS5' }
  if (answer.length < 2) return undefined
  const method = answer[1]
  if (method === METHOD_NONE_ACCEPTABLE) return { kind: 'refused', reason: 'it accepts neither no authentication nor a username and password' }
  if (method !== METHOD_NO_AUTH && method !== METHOD_USER_PASS) return { kind: 'refused', reason: `it chose an unknown authentication method ${String(method)}` }
  let offset = 2
  if (method === METHOD_USER_PASS) {
    if (answer.length < 4) return undefined
    if (answer[3] !== 0) return { kind: 'refused', reason: 'it rejected the per-peer isolation username and password' }
    offset = 4
  }
  if (answer.length < offset + 2) return undefined
  if (answer[offset] !== SOCKS_VERSION) return { kind: 'refused', reason: 'it does not speak SOCKS5' }
  const code = answer[offset + 1]!
  return SOCKS5_REPLIES[code] ?? { kind: 'unreachable', reason: `unknown reply code 0x${code.toString(16)}`, replyCode: code }
}

/**
 * Why a handshake failed: the proxy's answer says so, else silence before
 * the method choice means the proxy is not answering SOCKS at all, and
 * silence after it means the target could not be reached (Tor answers the
 * greeting at once; reaching an onion is what takes time).
 */
function failureOf (answer: Uint8Array, timedOut: boolean, timeoutMs: number): SocksFailure {
  const failure = handshakeFailure(answer)
  if (failure !== undefined) return failure
  const seconds = Math.round(timeoutMs / 1000)
  if (answer.length < 2) {
    return { kind: 'refused', reason: timedOut ? `no SOCKS answer within ${seconds} s` : 'it closed the connection without a SOCKS answer' }
  }
  return { kind: 'unreachable', reason: timedOut ? `no answer within ${seconds} s` : 'the proxy closed the connection before answering the connect request' }
}

/** The typed error for a failure; `address` is the multiaddr dialed. */
function failureError (failure: SocksFailure, proxy: string, address: string, target: SocksTarget, cause: unknown): Error {
  if (failure.kind === 'refused') return new SocksRefusedError(proxy, failure.reason, failure.replyCode, { cause })
  return target.onion
    ? new OnionUnreachableError(address, failure.reason, failure.replyCode, { cause })
    : new SocksUnreachableError(address, failure.reason, failure.replyCode, { cause })
}

/** Options of {@link openSocksSocket}. */
export interface OpenSocksSocketOptions {
  proxy: HostPort
  target: SocksTarget
  credentials: IsolationCredentials
  /** The multiaddr dialed, for error messages. */
  address: string
  signal: AbortSignal
  timeoutMs: number
}

/**
 * Connects to `target` through the SOCKS5 proxy and resolves with the
 * socket, paused, ready to carry the connection. Throws
 * TorNotRunningError, SocksRefusedError, OnionUnreachableError,
 * SocksUnreachableError, or AbortError when `signal` aborts first.
 */
export async function openSocksSocket (options: OpenSocksSocketOptions): Promise<Socket> {
  const { proxy, target, signal } = options
  const proxyName = proxy.host.includes(':') ? `[${proxy.host}]:${proxy.port}` : `${proxy.host}:${proxy.port}`
  signal.throwIfAborted()
  const deadline = AbortSignal.timeout(options.timeoutMs)
  const socket = connect({ host: proxy.host, port: proxy.port, noDelay: true, keepAlive: true })
  const stop = (): void => { socket.destroy() }
  signal.addEventListener('abort', stop, { once: true })
  deadline.addEventListener('abort', stop, { once: true })
  const answer: Buffer[] = []
  const record = (chunk: Buffer): void => { answer.push(chunk) }
  try {
    try {
      // With a signal: a socket destroyed before connecting emits no 'error'.
      await once(socket, 'connect', { signal: AbortSignal.any([signal, deadline]) })
    } catch (err) {
      if (signal.aborted) throw new AbortError('The dial through Tor was aborted')
      if (deadline.aborted) throw new TorNotRunningError(proxyName, { cause: new TimeoutError(`no answer within ${options.timeoutMs} ms`) })
      throw new TorNotRunningError(proxyName, { cause: err })
    }
    socket.on('data', record)
    try {
      await SocksClient.createConnection({
        command: 'connect',
        proxy: { host: proxy.host, port: proxy.port, type: 5, userId: options.credentials.userId, password: options.credentials.password },
        destination: { host: target.host, port: target.port },
        // Ours ends it first (destroying the socket); this one must never fire.
        timeout: options.timeoutMs * 2,
        existing_socket: socket
      })
    } catch (err) {
      if (signal.aborted) throw new AbortError('The dial through Tor was aborted')
      throw failureError(failureOf(Buffer.concat(answer), deadline.aborted, options.timeoutMs), proxyName, options.address, target, err)
    } finally {
      socket.off('data', record)
    }
    return socket
  } catch (err) {
    socket.destroy()
    throw err
  } finally {
    signal.removeEventListener('abort', stop)
    deadline.removeEventListener('abort', stop)
  }
}
