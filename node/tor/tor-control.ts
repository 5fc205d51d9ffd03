/**
 * A minimal client of Tor's control port (Tor's control-spec.txt): it
 * authenticates (SAFECOOKIE, COOKIE, a password, or none when tor asks for
 * none) and adds and removes onion services. Nothing else: the node needs no
 * events, no configuration changes and no circuits.
 *
 * Every read is bounded (control-wire.ts), every command has a time limit
 * and an AbortSignal, and each failure is a typed error whose message says
 * what to do.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import {
  createControlConnection, openControlSocket, parseKeywords, TorControlError, TorControlUnreachableError,
  type ControlConnection, type ControlEndpoint, type TorReply
} from './control-wire.js'
import {
  CONTROL_COMMAND_TIMEOUT_MS, CONTROL_CONNECT_TIMEOUT_MS, MIN_TOR_VERSION, ONION_SERVICE_ID_PATTERN,
  SAFECOOKIE_CLIENT_KEY, SAFECOOKIE_SERVER_KEY, TOR_COOKIE_BYTES
} from './onion-constants.js'

export { TorControlError, TorControlUnreachableError, type ControlEndpoint, type ReplyLine, type TorReply } from './control-wire.js'

/** Tor refused our credentials, or we have none it accepts. */
export class TorControlAuthError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TorControlAuthError'
  }
}

/** The tor behind the control port cannot host v3 onion services over the control port. */
export class TorTooOldError extends Error {
  constructor (readonly version: string) {
    super(`Tor ${version} is too old: onion services need Tor ${MIN_TOR_VERSION.join('.')} or newer; upgrade tor (apt-get install tor)`)
    this.name = 'TorTooOldError'
  }
}

/** Options of {@link connectTorControl}. */
export interface TorControlInit {
  /**
   * The control port: `host:port` on loopback (`127.0.0.1:9051`), a bare
   * port, or `unix:/path/to/socket`.
   */
  control: string
  /** The control password (tor's HashedControlPassword). @default cookie authentication */
  password?: string
  /** @default CONTROL_CONNECT_TIMEOUT_MS (10 s) */
  connectTimeoutMs?: number
  /** @default CONTROL_COMMAND_TIMEOUT_MS (30 s) */
  commandTimeoutMs?: number
}

/** The key of an onion service: a new one, or one tor handed out before (`ED25519-V3:<base64>`). */
export type OnionKey = { type: 'new' } | { type: 'saved', key: string }

/** Options of {@link TorControl.addOnion}. */
export interface AddOnionInit {
  key: OnionKey
  /** The onion port and where tor forwards it (`127.0.0.1:<port>`). */
  ports: ReadonlyArray<{ virtualPort: number, target: string }>
  /** ADD_ONION flags (e.g. `DiscardPK`). */
  flags?: readonly string[]
  signal?: AbortSignal
}

/** What ADD_ONION returns: the 56-character service id and, for a new key, the key to keep. */
export interface AddOnionResult {
  readonly serviceId: string
  readonly privateKey?: string
}

/** An authenticated control connection; see {@link connectTorControl}. */
export interface TorControl {
  /** Tor's version as it reported it. */
  readonly torVersion: string
  /** Sends one command line. Throws TorControlError for a reply that is not 2xx. */
  command(line: string, options?: { signal?: AbortSignal }): Promise<TorReply>
  /**
   * Adds an onion service that lives as long as this connection (no
   * `Detach`): if the node dies, tor removes it. Throws TorControlError
   * (code 550 for a key tor already serves), TorTooOldError.
   */
  addOnion(init: AddOnionInit): Promise<AddOnionResult>
  /** Removes an onion service this connection added; one tor no longer knows counts as removed. */
  delOnion(serviceId: string, options?: { signal?: AbortSignal }): Promise<void>
  /** Resolves when the connection closes, whoever closed it. */
  readonly closed: Promise<void>
  /** Sends QUIT and closes the connection. */
  close(): Promise<void>
}

/**
 * Parses a control endpoint. Only loopback and Unix sockets: the control
 * port hands over tor itself, and a password crosses it in the clear.
 */
export function parseControlEndpoint (value: string): ControlEndpoint {
  if (typeof value !== 'string') throw new TypeError('"control" expected a string such as 127.0.0.1:9051 or unix:/run/tor/control')
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length)
    if (!path.startsWith('/')) throw new RangeError(`"control" expected unix:/absolute/path, got ${JSON.stringify(value)}`)
    return { path }
  }
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value)
  const port = match === null ? NaN : Number(match[3])
  // [v6]:port, host:port, or a bare port on 127.0.0.1.
  const host = match === null ? '' : (match[1] !== undefined && match[1] !== '' ? match[1] : match[2] !== undefined && match[2] !== '' ? match[2] : '127.0.0.1')
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`"control" expected host:port (e.g. 127.0.0.1:9051) or unix:/path, got ${JSON.stringify(value)}`)
  }
  if (!isLoopbackHost(host)) {
    throw new RangeError(`"control" must be on this machine (127.0.0.1, ::1, localhost or a unix socket), got ${JSON.stringify(value)}: the control port gives full control of tor`)
  }
  return { host, port }
}

function isLoopbackHost (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1'
  return false
}

function describe (endpoint: ControlEndpoint): string {
  return 'path' in endpoint ? `unix:${endpoint.path}` : `${endpoint.host}:${endpoint.port}`
}

/**
 * Connects to tor's control port and authenticates: with `password` when
 * given, else SAFECOOKIE, COOKIE, or no authentication, as tor offers.
 * Throws TorControlUnreachableError, TorControlAuthError, TorTooOldError.
 */
export async function connectTorControl (init: TorControlInit, options: { signal?: AbortSignal } = {}): Promise<TorControl> {
  const endpoint = parseControlEndpoint(init.control)
  if (init.password !== undefined && typeof init.password !== 'string') throw new TypeError('"password" expected a string')
  const where = describe(endpoint)
  const socket = await openControlSocket(endpoint, where, init.connectTimeoutMs ?? CONTROL_CONNECT_TIMEOUT_MS, options.signal)
  const connection = createControlConnection(socket, where, init.commandTimeoutMs ?? CONTROL_COMMAND_TIMEOUT_MS)
  try {
    const info = await protocolInfo(connection, options.signal)
    if (compareVersions(info.version, MIN_TOR_VERSION) < 0) throw new TorTooOldError(info.version)
    await authenticate(connection, info, init.password, where, options.signal)
    return {
      torVersion: info.version,
      command: connection.command,
      closed: connection.closed,
      async addOnion (add) { return await addOnion(connection, add, info.version) },
      async delOnion (serviceId, commandOptions = {}) {
        if (!ONION_SERVICE_ID_PATTERN.test(serviceId)) throw new RangeError(`"serviceId" expected 56 characters of a-z and 2-7, got ${JSON.stringify(serviceId)}`)
        try {
          await connection.command(`DEL_ONION ${serviceId}`, commandOptions)
        } catch (error) {
          // 552: tor does not know it (already gone, e.g. tor restarted): what we wanted.
          if (!(error instanceof TorControlError && error.code === 552)) throw error
        }
      },
      async close () { await connection.close() }
    }
  } catch (error) {
    socket.destroy()
    throw error
  }
}

interface ProtocolInfo {
  methods: Set<string>
  cookieFile?: string
  version: string
}

async function protocolInfo (connection: ControlConnection, signal: AbortSignal | undefined): Promise<ProtocolInfo> {
  const reply = await connection.command('PROTOCOLINFO 1', signal === undefined ? {} : { signal })
  const info: ProtocolInfo = { methods: new Set(), version: '0.0.0' }
  for (const { text } of reply.lines) {
    const { positional, keywords } = parseKeywords(text)
    if (positional[0] === 'AUTH') {
      for (const method of (keywords.get('METHODS') ?? '').split(',')) if (method !== '') info.methods.add(method)
      const cookieFile = keywords.get('COOKIEFILE')
      if (cookieFile !== undefined) info.cookieFile = cookieFile
    } else if (positional[0] === 'VERSION') {
      info.version = keywords.get('Tor') ?? info.version
    }
  }
  return info
}

async function authenticate (connection: ControlConnection, info: ProtocolInfo, password: string | undefined, where: string, signal: AbortSignal | undefined): Promise<void> {
  const options = signal === undefined ? {} : { signal }
  const offered = [...info.methods].join(', ') || 'none'
  let line: string
  if (password !== undefined) {
    if (!info.methods.has('HASHEDPASSWORD')) {
      throw new TorControlAuthError(`Tor at ${where} takes no control password (it offers ${offered}): remove the password, or set HashedControlPassword in its torrc`)
    }
    line = `AUTHENTICATE ${Buffer.from(password, 'utf8').toString('hex')}`
  } else if (info.methods.has('SAFECOOKIE') || info.methods.has('COOKIE')) {
    const cookie = await readCookie(info.cookieFile, where)
    line = info.methods.has('SAFECOOKIE') ? await safeCookieLine(connection, cookie, where, options) : `AUTHENTICATE ${cookie.toString('hex')}`
  } else if (info.methods.has('NULL')) {
    line = 'AUTHENTICATE'
  } else {
    throw new TorControlAuthError(`Tor at ${where} wants a control password (it offers ${offered}): give it (KOMRADE_TOR_CONTROL_PASSWORD), or set "CookieAuthentication 1" in its torrc`)
  }
  try {
    await connection.command(line, options)
  } catch (error) {
    if (error instanceof TorControlError && error.code === 515) {
      throw new TorControlAuthError(password !== undefined
        ? `Tor at ${where} refused the control password: check it against the one hashed into HashedControlPassword (tor --hash-password)`
        : `Tor at ${where} refused its own cookie: is another tor writing ${info.cookieFile ?? 'the cookie file'}?`)
    }
    throw error
  }
}

async function readCookie (path: string | undefined, where: string): Promise<Buffer> {
  if (path === undefined) throw new TorControlAuthError(`Tor at ${where} offers cookie authentication but names no cookie file: set CookieAuthFile in its torrc`)
  let cookie: Buffer
  try {
    cookie = await readFile(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const hint = code === 'EACCES'
      ? 'add this user to tor\'s group (Debian: adduser $USER debian-tor, with CookieAuthFileGroupReadable 1), or use a control password'
      : 'is tor running on this machine, as the control port says?'
    throw new TorControlAuthError(`Cannot read Tor's cookie file ${path} (${code ?? String(error)}): ${hint}`, { cause: error })
  }
  if (cookie.length !== TOR_COOKIE_BYTES) throw new TorControlAuthError(`Tor's cookie file ${path} holds ${cookie.length} bytes, not ${TOR_COOKIE_BYTES}: is it tor's control_auth_cookie?`)
  return cookie
}

/**
 * SAFECOOKIE: tor proves it knows the cookie before we prove it, so a
 * process squatting on the control port learns nothing it could replay.
 */
async function safeCookieLine (connection: ControlConnection, cookie: Buffer, where: string, options: { signal?: AbortSignal }): Promise<string> {
  const clientNonce = randomBytes(32)
  const reply = await connection.command(`AUTHCHALLENGE SAFECOOKIE ${clientNonce.toString('hex')}`, options)
  const { keywords } = parseKeywords(reply.lines[0]?.text ?? '')
  const serverHash = Buffer.from(keywords.get('SERVERHASH') ?? '', 'hex')
  const serverNonce = Buffer.from(keywords.get('SERVERNONCE') ?? '', 'hex')
  if (serverHash.length !== 32 || serverNonce.length !== 32) throw new TorControlError(`Tor at ${where} sent a malformed AUTHCHALLENGE reply`, reply.code)
  const message = Buffer.concat([cookie, clientNonce, serverNonce])
  const expected = createHmac('sha256', SAFECOOKIE_SERVER_KEY).update(message).digest()
  if (!timingSafeEqual(expected, serverHash)) {
    throw new TorControlAuthError(`The control port at ${where} does not know the cookie tor wrote: another program may be listening there`)
  }
  return `AUTHENTICATE ${createHmac('sha256', SAFECOOKIE_CLIENT_KEY).update(message).digest('hex')}`
}

/** Checks a key tor handed out: `ED25519-V3:` and the base64 of 64 bytes. */
export function isOnionKey (key: string): boolean {
  const match = /^ED25519-V3:([A-Za-z0-9+/]+={0,2})$/.exec(key)
  return match !== null && Buffer.from(match[1]!, 'base64').length === 64
}

async function addOnion (connection: ControlConnection, init: AddOnionInit, version: string): Promise<AddOnionResult> {
  if (init.key.type === 'saved' && !isOnionKey(init.key.key)) throw new RangeError('"key" expected ED25519-V3:<base64 of 64 bytes>, as ADD_ONION returned it')
  if (init.ports.length === 0) throw new RangeError('"ports" expected at least one port')
  const parts = ['ADD_ONION', init.key.type === 'new' ? 'NEW:ED25519-V3' : init.key.key]
  if (init.flags !== undefined && init.flags.length > 0) {
    if (!init.flags.every((flag) => /^[A-Za-z]+$/.test(flag))) throw new RangeError('"flags" expected ADD_ONION flag names')
    parts.push(`Flags=${init.flags.join(',')}`)
  }
  for (const { virtualPort, target } of init.ports) {
    if (!Number.isInteger(virtualPort) || virtualPort < 1 || virtualPort > 65535) throw new RangeError(`"virtualPort" expected 1 to 65535, got ${String(virtualPort)}`)
    if (!/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/.test(target)) throw new RangeError(`"target" expected host:port, got ${JSON.stringify(target)}`)
    parts.push(`Port=${virtualPort},${target}`)
  }
  let reply: TorReply
  try {
    reply = await connection.command(parts.join(' '), init.signal === undefined ? {} : { signal: init.signal })
  } catch (error) {
    // 512/513 naming the key type: a tor from before v3 services in ADD_ONION.
    if (error instanceof TorControlError && (error.code === 512 || error.code === 513) && /key type|ED25519/i.test(error.message)) throw new TorTooOldError(version)
    throw error
  }
  let serviceId: string | undefined
  let privateKey: string | undefined
  for (const { text } of reply.lines) {
    if (text.startsWith('ServiceID=')) serviceId = text.slice('ServiceID='.length)
    else if (text.startsWith('PrivateKey=')) privateKey = text.slice('PrivateKey='.length)
  }
  if (serviceId === undefined || !ONION_SERVICE_ID_PATTERN.test(serviceId)) {
    throw new TorControlError(`Tor answered ADD_ONION without a v3 service id (${JSON.stringify(serviceId ?? null)})`, reply.code)
  }
  if (init.key.type === 'new' && (privateKey === undefined || !isOnionKey(privateKey))) {
    throw new TorControlError('Tor answered ADD_ONION NEW without the ED25519-V3 key: without it the address cannot be kept', reply.code)
  }
  return { serviceId, ...(privateKey === undefined ? {} : { privateKey }) }
}

/** Compares dotted versions (`0.4.9.11`, `0.4.8.1-alpha`) numerically, part by part. */
export function compareVersions (version: string, minimum: readonly number[]): number {
  const parts = (/^(\d+(?:\.\d+)*)/.exec(version)?.[1] ?? '0').split('.').map(Number)
  for (let i = 0; i < minimum.length; i++) {
    const difference = (parts[i] ?? 0) - minimum[i]!
    if (difference !== 0) return difference
  }
  return 0
}
