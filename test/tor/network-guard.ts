/**
 * Preloaded (`--import`) into a node process under test: records every TCP
 * connect, DNS query and UDP socket the process attempts, and blocks all of
 * them but TCP connects to a loopback IP literal, so a leak shows up in the
 * record instead of on the network. Read the record from
 * `globalThis.__networkAttempts`.
 */
import dgram from 'node:dgram'
import dns from 'node:dns'
import dnsPromises from 'node:dns/promises'
import { syncBuiltinESMExports } from 'node:module'
import net from 'node:net'

/** One attempt: a TCP connect (`host:port` or a unix path), a DNS call, or a UDP socket. */
export interface NetworkAttempt {
  kind: 'tcp' | 'dns' | 'udp'
  target: string
  allowed: boolean
}

const attempts: NetworkAttempt[] = []
;(globalThis as { __networkAttempts?: NetworkAttempt[] }).__networkAttempts = attempts

const isLoopbackLiteral = (host: string): boolean => /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1'

type ConnectArgs = Parameters<net.Socket['connect']>
const originalConnect = net.Socket.prototype.connect as (this: net.Socket, ...args: unknown[]) => net.Socket
net.Socket.prototype.connect = function guardedConnect (this: net.Socket, ...args: unknown[]): net.Socket {
  // net.connect() passes its normalized arguments as one array: [options, callback].
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]
  let host: string | undefined
  let port: unknown
  let path: string | undefined
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string, port?: unknown, path?: string }
    ;({ host, port, path } = options)
  } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
    path = first
  } else {
    port = first
    host = typeof args[1] === 'string' ? args[1] : undefined
  }
  if (path !== undefined) {
    attempts.push({ kind: 'tcp', target: path, allowed: true })
    return originalConnect.apply(this, args)
  }
  const target = `${host ?? 'localhost'}:${String(port)}`
  const allowed = host !== undefined && isLoopbackLiteral(host)
  attempts.push({ kind: 'tcp', target, allowed })
  if (allowed) return originalConnect.apply(this, args as ConnectArgs)
  process.nextTick(() => { this.destroy(new Error(`blocked by the test's network guard: ${target} is not a loopback address`)) })
  return this
} as net.Socket['connect']

function blockDns (owner: Record<string, unknown>, names: string[], label: string): void {
  for (const name of names) {
    if (typeof owner[name] !== 'function') continue
    const original = owner[name] as (...args: unknown[]) => unknown
    owner[name] = (...args: unknown[]) => {
      // Node looks up IP literals too (server.listen('127.0.0.1')); those are answered without a query.
      if (name === 'lookup' && typeof args[0] === 'string' && net.isIP(args[0]) !== 0) return original.apply(owner, args)
      attempts.push({ kind: 'dns', target: `${label}.${name}(${String(args[0])})`, allowed: false })
      throw new Error(`blocked by the test's network guard: DNS ${name}(${String(args[0])})`)
    }
  }
}
const DNS_CALLS = ['lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveTxt', 'resolveSrv', 'resolveNs', 'reverse']
blockDns(dns as unknown as Record<string, unknown>, DNS_CALLS, 'dns')
blockDns(dnsPromises as unknown as Record<string, unknown>, DNS_CALLS, 'dns/promises')
blockDns(dns.Resolver.prototype as unknown as Record<string, unknown>, DNS_CALLS, 'dns.Resolver')
blockDns(dnsPromises.Resolver.prototype as unknown as Record<string, unknown>, DNS_CALLS, 'dns/promises.Resolver')

const originalCreateSocket = dgram.createSocket
;(dgram as { createSocket: unknown }).createSocket = (...args: Parameters<typeof originalCreateSocket>) => {
  attempts.push({ kind: 'udp', target: JSON.stringify(args[0]), allowed: false })
  throw new Error('blocked by the test\'s network guard: UDP socket')
}
// Named ESM imports of node:dns and node:dgram (`import { lookup } from 'node:dns'`) see the patched functions too.
syncBuiltinESMExports()
