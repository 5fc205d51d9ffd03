/**
 * Test helper: the real Debian `tor`, started offline. Every tor a test
 * starts goes through here, and every one runs with `DisableNetwork 1`: it
 * answers its control port (ADD_ONION works offline) and connects nowhere.
 * Note that with DisableNetwork tor opens no SOCKS listener either: the
 * SOCKS port written in its torrc stays closed (a dial to it is refused).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { access, constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where Debian's package puts the binary. */
export const TOR_BINARY = '/usr/sbin/tor'

/** How long tor may take to open its control port (it is usually well under a second). */
const STARTUP_TIMEOUT_MS = 30_000
/** How long tor may take to exit on SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000
/** Lines of tor's log kept for error messages. */
const LOG_LINES_KEPT = 200

/** A running offline tor. */
export interface TorProcess {
  /** `127.0.0.1:<port>` of the control port. */
  readonly control: string
  /** `unix:<path>` of a control socket as well (Debian's own tor has /run/tor/control). */
  readonly controlSocket: string
  readonly controlPort: number
  /** `127.0.0.1:<port>` written as SocksPort (closed while DisableNetwork is set). */
  readonly socks: string
  readonly socksPort: number
  /** The cookie file tor writes (CookieAuthentication 1). */
  readonly cookieFile: string
  /** tor's DataDirectory. */
  readonly dataDir: string
  readonly pid: number
  /** What tor has logged so far (notice level, last lines). */
  log(): string
  /** Stops tor (SIGTERM, then SIGKILL) and removes its temp directory. */
  stop(): Promise<void>
}

/** Options of {@link startTor}. */
export interface StartTorOptions {
  /** Also accept this control password (written as HashedControlPassword). @default none */
  controlPassword?: string
  /** Cookie authentication. @default true */
  cookieAuthentication?: boolean
  /** A fixed control port (to restart tor where a client expects it). @default one the kernel picks */
  controlPort?: number
}

/** Fails the test with what to install when tor is missing. */
export async function requireTor (): Promise<void> {
  try {
    await access(TOR_BINARY, constants.X_OK)
  } catch {
    throw new Error(`${TOR_BINARY} not found: these tests need the real Tor. Install it with: apt-get install tor microsocks`)
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('could not get a free port')
  return address.port
}

/**
 * Tor's HashedControlPassword for `password`: "16:" + hex(salt, 0x60) +
 * hex(SHA-1 over salt+password repeated to 65,536 bytes): OpenPGP's
 * iterated and salted S2K (RFC 4880 §3.7.1.3) with the count byte 0x60.
 */
export function hashControlPassword (password: string): string {
  const salt = randomBytes(8)
  const countByte = 0x60
  const count = (16 + (countByte & 15)) << ((countByte >> 4) + 6)
  const block = Buffer.concat([salt, Buffer.from(password, 'utf8')])
  const hash = createHash('sha1')
  let left = count
  while (left > 0) {
    const take = Math.min(left, block.length)
    hash.update(block.subarray(0, take))
    left -= take
  }
  return `16:${Buffer.concat([salt, Buffer.from([countByte]), hash.digest()]).toString('hex').toUpperCase()}`
}

/** Starts an offline tor (DisableNetwork 1) in a temp directory and waits for its control port. */
export async function startTor (options: StartTorOptions = {}): Promise<TorProcess> {
  await requireTor()
  const dir = await mkdtemp(join(tmpdir(), 'komrade-tor-'))
  const dataDir = join(dir, 'data')
  const cookieFile = join(dir, 'control_auth_cookie')
  const portFile = join(dir, 'control-port')
  const socksPort = await freePort()
  const torrc = [
    // Never remove this line: a test's tor must connect nowhere.
    'DisableNetwork 1',
    `DataDirectory ${dataDir}`,
    `SocksPort 127.0.0.1:${socksPort}`,
    // By default a port the kernel picks, written to a file: no race with other tests for a "free" port.
    `ControlPort 127.0.0.1:${options.controlPort ?? 'auto'}`,
    `ControlPortWriteToFile ${portFile}`,
    `ControlSocket ${join(dir, 'control')}`,
    `CookieAuthentication ${options.cookieAuthentication === false ? 0 : 1}`,
    `CookieAuthFile ${cookieFile}`,
    ...(options.controlPassword === undefined ? [] : [`HashedControlPassword ${hashControlPassword(options.controlPassword)}`]),
    // tor exits by itself if the test process dies without stopping it.
    `__OwningControllerProcess ${process.pid}`,
    'AvoidDiskWrites 1',
    'Log notice stderr'
  ].join('\n') + '\n'
  const torrcPath = join(dir, 'torrc')
  await writeFile(torrcPath, torrc, { mode: 0o600 })
  const emptyDefaults = join(dir, 'torrc-defaults')
  await writeFile(emptyDefaults, '', { mode: 0o600 })

  // --defaults-torrc: nothing from /etc/tor may add a listener or turn the network on.
  const child = spawn(TOR_BINARY, ['--defaults-torrc', emptyDefaults, '-f', torrcPath], { stdio: ['ignore', 'ignore', 'pipe'] })
  const lines: string[] = []
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    lines.push(...chunk.split('\n').filter((line) => line !== ''))
    if (lines.length > LOG_LINES_KEPT) lines.splice(0, lines.length - LOG_LINES_KEPT)
  })
  let exited: { code: number | null, signal: NodeJS.Signals | null } | undefined
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => { exited = { code, signal }; resolve() })
  })
  const log = (): string => lines.join('\n')

  const stop = async (): Promise<void> => {
    await stopChild(child, exit, () => exited !== undefined)
    await rm(dir, { recursive: true, force: true })
  }

  try {
    const controlPort = await waitForControlPort(portFile, cookieFile, options.cookieAuthentication !== false, () => exited, log)
    return {
      control: `127.0.0.1:${controlPort}`,
      controlSocket: `unix:${join(dir, 'control')}`,
      controlPort,
      socks: `127.0.0.1:${socksPort}`,
      socksPort,
      cookieFile,
      dataDir,
      pid: child.pid!,
      log,
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}

async function waitForControlPort (
  portFile: string, cookieFile: string, cookie: boolean,
  exited: () => { code: number | null, signal: NodeJS.Signals | null } | undefined, log: () => string
): Promise<number> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  for (;;) {
    const gone = exited()
    if (gone !== undefined) throw new Error(`tor exited during start-up (code ${String(gone.code)}, signal ${String(gone.signal)}):\n${log()}`)
    const port = await readPortFile(portFile)
    if (port !== undefined && (!cookie || await exists(cookieFile)) && await accepts(port)) return port
    if (Date.now() > deadline) throw new Error(`tor did not open its control port within ${STARTUP_TIMEOUT_MS} ms:\n${log()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** ControlPortWriteToFile writes `PORT=127.0.0.1:<port>`. */
async function readPortFile (path: string): Promise<number | undefined> {
  try {
    const match = /PORT=127\.0\.0\.1:(\d+)/.exec(await readFile(path, 'utf8'))
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

async function stopChild (child: ChildProcess, exit: Promise<void>, hasExited: () => boolean): Promise<void> {
  if (hasExited()) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => { if (!hasExited()) child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
  await exit
  clearTimeout(timer)
}
