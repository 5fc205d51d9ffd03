/**
 * Test helpers for the SOCKS path: the real Debian `microsocks` on a free
 * loopback port, a recording relay in front of a proxy (to read the SOCKS
 * handshake a client sends), and a process's own TCP/UDP sockets read from
 * /proc. Everything binds 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { access, constants, readdir, readFile, readlink } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { freePort } from './tor-process.js'

/** Where Debian's package puts the binary. */
export const MICROSOCKS_BINARY = '/usr/bin/microsocks'

/** Tries before giving up on finding a port microsocks can bind (another process may take a free port first). */
const PORT_ATTEMPTS = 5
/** How long microsocks may take to accept connections. */
const STARTUP_TIMEOUT_MS = 10_000

/** Fails the test with what to install when microsocks is missing. */
export async function requireMicrosocks (): Promise<void> {
  try {
    await access(MICROSOCKS_BINARY, constants.X_OK)
  } catch {
    throw new Error(`${MICROSOCKS_BINARY} not found: these tests need a real SOCKS5 server. Install it with: apt-get install tor microsocks`)
  }
}

export { freePort }

/** A running microsocks. */
export interface Microsocks {
  readonly port: number
  /** `127.0.0.1:<port>`, for `tor.socks`. */
  readonly address: string
  readonly pid: number
  /** Targets it connected clients to (`host:port`), from its log. */
  connectedTo(): string[]
  /** Its log so far. */
  log(): string
  stop(): Promise<void>
}

/** Starts microsocks on 127.0.0.1; with `user` and `password` it demands exactly those (RFC 1929). */
export async function startMicrosocks (options: { user?: string, password?: string } = {}): Promise<Microsocks> {
  await requireMicrosocks()
  let lastError: unknown
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort()
    const auth = options.user === undefined ? [] : ['-u', options.user, '-P', options.password ?? '']
    const child = spawn(MICROSOCKS_BINARY, ['-i', '127.0.0.1', '-p', String(port), ...auth], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    child.stdout.on('data', (chunk: Buffer) => { log += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString() })
    try {
      await waitUntilAccepting(port, child)
    } catch (error) {
      lastError = error
      child.kill('SIGKILL')
      continue
    }
    return {
      port,
      address: `127.0.0.1:${port}`,
      pid: child.pid!,
      connectedTo: () => [...log.matchAll(/connected to (\S+)/g)].map((match) => match[1]!),
      log: () => log,
      stop: async () => { await stopChild(child) }
    }
  }
  throw new Error(`microsocks did not start: ${String(lastError)}`)
}

async function waitUntilAccepting (port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  while (true) {
    if (child.exitCode !== null) throw new Error(`microsocks exited with ${child.exitCode} (port ${port} taken?)`)
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { resolve(false) })
    })
    if (accepted) return
    if (Date.now() > deadline) throw new Error(`microsocks did not accept connections on ${port}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/** One connection through a {@link RecordingRelay}: what the client sent, and the target it asked for. */
export interface RelayedConnection {
  readonly fromClient: Buffer
  /** `host:port` of the SOCKS5 CONNECT request, once seen. */
  readonly target?: string
  /** The relay refused to pass the request on (see `allowTarget`). */
  readonly blocked: boolean
}

/** A TCP relay in front of a SOCKS5 proxy that keeps what each client sent, to read the SOCKS handshake. */
export interface RecordingRelay {
  readonly port: number
  readonly address: string
  readonly connections: RelayedConnection[]
  close(): Promise<void>
}

/**
 * Starts a relay on 127.0.0.1 forwarding every connection to 127.0.0.1:`targetPort`.
 * A CONNECT request for a target `allowTarget` refuses is not passed on:
 * the relay hangs up, so the proxy never reaches out to it.
 */
export async function startRecordingRelay (targetPort: number, allowTarget: (host: string, port: number) => boolean = () => true): Promise<RecordingRelay> {
  const connections: Array<{ fromClient: Buffer, target?: string, blocked: boolean }> = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const record: { fromClient: Buffer, target?: string, blocked: boolean } = { fromClient: Buffer.alloc(0), blocked: false }
    connections.push(record)
    const upstream = connect(targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => { sockets.delete(socket); client.destroy(); upstream.destroy() })
    }
    let forwarded = 0 // bytes of fromClient passed on
    let passthrough = false
    client.on('data', (chunk: Buffer) => {
      record.fromClient = Buffer.concat([record.fromClient, chunk])
      if (passthrough) { upstream.write(chunk); forwarded += chunk.length; return }
      const request = socksRequestAt(record.fromClient)
      if (request === undefined) {
        // Greeting and authentication go on at once (the client waits for their answers); the request is held.
        const upTo = handshakeBeforeRequest(record.fromClient)
        if (upTo > forwarded) { upstream.write(record.fromClient.subarray(forwarded, upTo)); forwarded = upTo }
        return
      }
      record.target = `${request.host}:${request.port}`
      if (!allowTarget(request.host, request.port)) { record.blocked = true; client.destroy(); return }
      passthrough = true
      upstream.write(record.fromClient.subarray(forwarded))
      forwarded = record.fromClient.length
    })
    upstream.on('data', (chunk: Buffer) => { client.write(chunk) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    address: `127.0.0.1:${port}`,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** Bytes of complete greeting (05 n methods) and RFC 1929 authentication (01 ulen user plen pass) at the start of `data`. */
function handshakeBeforeRequest (data: Buffer): number {
  if (data.length < 2 || data[0] !== 0x05 || data.length < 2 + data[1]!) return 0
  let offset = 2 + data[1]!
  if (data[offset] === 0x01) {
    const userLength = data[offset + 1]
    if (userLength === undefined) return offset
    const passwordLength = data[offset + 2 + userLength]
    if (passwordLength === undefined || data.length < offset + 3 + userLength + passwordLength) return offset
    offset += 3 + userLength + passwordLength
  }
  return offset
}

/** The CONNECT request (05 01 00 atyp addr port) after the handshake, once complete. */
function socksRequestAt (data: Buffer): { host: string, port: number } | undefined {
  const offset = handshakeBeforeRequest(data)
  if (offset === 0 || data[offset] !== 0x05 || data.length < offset + 5) return undefined
  const type = data[offset + 3]
  let host: string
  let end: number
  if (type === 0x01) { end = offset + 8; host = [...data.subarray(offset + 4, end)].join('.') }
  else if (type === 0x03) { const length = data[offset + 4]!; end = offset + 5 + length; host = data.subarray(offset + 5, end).toString() }
  else if (type === 0x04) {
    end = offset + 20
    const groups = []
    for (let i = offset + 4; i < end; i += 2) groups.push(data.readUInt16BE(i).toString(16))
    host = groups.join(':')
  } else return undefined
  if (data.length < end + 2) return undefined
  return { host, port: data.readUInt16BE(end) }
}

/**
 * The username and password of an RFC 1929 authentication in what a SOCKS5
 * client sent (greeting, then the authentication), or undefined if it sent none.
 */
export function socksCredentials (fromClient: Buffer): { user: string, password: string } | undefined {
  if (fromClient[0] !== 0x05) return undefined
  const auth = 2 + fromClient[1]!
  if (fromClient[auth] !== 0x01) return undefined
  const userLength = fromClient[auth + 1]!
  const user = fromClient.subarray(auth + 2, auth + 2 + userLength).toString()
  const passwordLength = fromClient[auth + 2 + userLength]!
  const password = fromClient.subarray(auth + 3 + userLength, auth + 3 + userLength + passwordLength).toString()
  return { user, password }
}

/** One socket of a process, from /proc/net. Ports are numbers, addresses as the kernel shows them, decoded. */
export interface ProcessSocket {
  protocol: 'tcp' | 'tcp6' | 'udp' | 'udp6'
  localAddress: string
  localPort: number
  remoteAddress: string
  remotePort: number
  /** TCP state: 'LISTEN', 'ESTABLISHED', … ('UDP' for UDP sockets). */
  state: string
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT',
  '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING'
}

/** The TCP and UDP sockets process `pid` holds open now (its fds matched to /proc/net by inode). */
export async function socketsOf (pid: number): Promise<ProcessSocket[]> {
  const inodes = new Set<string>()
  let fds: string[]
  try {
    fds = await readdir(`/proc/${pid}/fd`)
  } catch {
    return [] // the process is gone
  }
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match !== null) inodes.add(match[1]!)
  }
  const sockets: ProcessSocket[] = []
  for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    const table = await readFile(`/proc/${pid}/net/${protocol}`, 'utf8').catch(() => '')
    for (const line of table.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10 || !inodes.has(fields[9]!)) continue
      const [localAddress, localPort] = decodeEndpoint(fields[1]!)
      const [remoteAddress, remotePort] = decodeEndpoint(fields[2]!)
      sockets.push({
        protocol, localAddress, localPort, remoteAddress, remotePort,
        state: protocol.startsWith('udp') ? 'UDP' : TCP_STATES[fields[3]!] ?? fields[3]!
      })
    }
  }
  return sockets
}

/** `0100007F:1F90` -> ['127.0.0.1', 8080]; IPv6 as 32 hex in four little-endian words -> its text form (v4-mapped as a.b.c.d). */
function decodeEndpoint (field: string): [string, number] {
  const [hex, portHex] = field.split(':') as [string, string]
  const port = parseInt(portHex, 16)
  if (hex.length === 8) return [Buffer.from(hex, 'hex').reverse().join('.'), port]
  const bytes = Buffer.alloc(16)
  for (let word = 0; word < 4; word++) Buffer.from(hex.slice(word * 8, word * 8 + 8), 'hex').reverse().copy(bytes, word * 4)
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return [[...bytes.subarray(12)].join('.'), port]
  const groups = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  return [groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::'), port]
}

/** The local TCP ports process `pid` has open right now. */
export async function localPortsOf (pid: number): Promise<Set<number>> {
  return new Set((await socketsOf(pid)).map((socket) => socket.localPort))
}
