/**
 * Who may use the API: whoever can read the token file (bitcoind's cookie
 * idea: file permissions are the access control), and browsers that signed
 * in with that token or a one-time login code and hold a session cookie.
 * Sessions and codes live in memory: they end when the daemon stops.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { IncomingHttpHeaders } from 'node:http'
import { API_TOKEN_FILE } from './discover.js'

/** 32 random bytes: far beyond guessing. */
export const TOKEN_BYTES = 32
/** A login code is printed in a terminal and pasted into a browser soon after: 10 minutes is plenty. */
export const LOGIN_CODE_TTL_MS = 10 * 60_000
/** Unused codes kept at most; the oldest is dropped first (each start prints one, a few more are made by hand). */
export const MAX_LOGIN_CODES = 32
/** Sessions kept at most; the oldest ends first. A person has a few browsers, not hundreds. */
export const MAX_SESSIONS = 64
/** Random bytes of a login code and of a session id. */
const SECRET_BYTES = 16
const TOKEN_PATTERN = /^[0-9a-f]{64}$/

/** A token file that cannot be used. */
export class TokenFileError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TokenFileError'
  }
}

async function writePrivateFile (path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  const handle = await open(temporary, 'w', 0o600)
  try {
    await handle.chmod(0o600) // a leftover temporary file may have had another mode
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temporary, path) // atomic: a reader sees the old token or the new one, never half
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}

/**
 * The token of `dataDir`'s API: read from api.token, or made (and written
 * 0600) when missing or when `rotate` is set. A file others can read is
 * narrowed to 0600.
 */
export async function loadOrCreateToken (dataDir: string, options: { rotate?: boolean } = {}): Promise<string> {
  const path = join(dataDir, API_TOKEN_FILE)
  if (options.rotate !== true) {
    let text: string | undefined
    try {
      text = (await readFile(path, 'utf8')).trim()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    if (text !== undefined) {
      if (!TOKEN_PATTERN.test(text)) {
        throw new TokenFileError(`${path} does not hold an API token (64 hex characters); delete it, or start with --rotate-token to write a new one`)
      }
      if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
      return text
    }
  }
  const token = randomBytes(TOKEN_BYTES).toString('hex')
  await writePrivateFile(path, token + '\n')
  return token
}

/** Writes `value` as JSON to `path`, mode 0600, atomically. */
export async function writePrivateJson (path: string, value: unknown): Promise<void> {
  await writePrivateFile(path, JSON.stringify(value) + '\n')
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function sameSecret (a: string, b: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(a), digest(b))
}

/** The secrets of one API server. */
export interface ApiAuth {
  /** A new one-time login code, valid for {@link LOGIN_CODE_TTL_MS}. */
  createLoginCode(): string
  /** True once for a valid, unexpired code; the code is spent either way it was found. */
  redeemLoginCode(code: string): boolean
  /** True for the API token. */
  isToken(candidate: string): boolean
  /** A new session id (the cookie's value). */
  createSession(): string
  isSession(id: string): boolean
  endSession(id: string): void
  /** True when the headers carry the token (`Authorization: Bearer`) or a live session cookie named `cookieName`. */
  isAuthorized(headers: IncomingHttpHeaders, cookieName: string): boolean
}

/** Reads one cookie from a Cookie header. */
export function cookieValue (headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** The bearer token of an Authorization header, if it has one. */
export function bearerToken (headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')
  return match?.[1]
}

/** The auth state of an API server holding `token`. `now` is for tests of expiry. */
export function createApiAuth (token: string, now: () => number = Date.now): ApiAuth {
  if (!TOKEN_PATTERN.test(token)) throw new TypeError('"token" expected 64 hex characters')
  const codes = new Map<string, number>() // code -> expiry; Map keeps insertion order: oldest first
  const sessions = new Set<string>()
  const newSecret = (): string => randomBytes(SECRET_BYTES).toString('base64url')

  const auth: ApiAuth = {
    createLoginCode () {
      for (const [code, expiry] of codes) if (expiry <= now()) codes.delete(code)
      while (codes.size >= MAX_LOGIN_CODES) codes.delete(codes.keys().next().value!)
      const code = newSecret()
      codes.set(code, now() + LOGIN_CODE_TTL_MS)
      return code
    },
    redeemLoginCode (code) {
      const expiry = codes.get(code)
      if (expiry === undefined) return false
      codes.delete(code)
      return expiry > now()
    },
    isToken: (candidate) => sameSecret(candidate, token),
    createSession () {
      while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.values().next().value!)
      const id = newSecret()
      sessions.add(id)
      return id
    },
    isSession: (id) => sessions.has(id),
    endSession (id) { sessions.delete(id) },
    isAuthorized (headers, cookieName) {
      const bearer = bearerToken(headers)
      if (bearer !== undefined) return auth.isToken(bearer)
      const session = cookieValue(headers, cookieName)
      return session !== undefined && sessions.has(session)
    }
  }
  return auth
}
