/**
 * Who may use the API: whoever can read the token file (bitcoind's cookie
 * idea: file permissions are the access control), and browsers that signed
 * in with that token or a one-time login code and hold a session cookie.
 * Sessions and codes live in memory: they end when the daemon stops, when
 * the browser signs out, and after {@link SESSION_IDLE_MS} unused.
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
/** Sessions kept at most; the least recently used ends first. A person has a few browsers, not hundreds. */
export const MAX_SESSIONS = 64
/**
 * A session unused this long ends: a browser sends the cookie to every port
 * of 127.0.0.1 (cookies ignore ports), so one left behind in a profile, or
 * read by another local web app, must not stay good for as long as the
 * daemon runs. 12 hours covers a working day with the UI open.
 */
export const SESSION_IDLE_MS = 12 * 60 * 60_000
/** Who {@link ApiAuth.authorize} found for a request carrying the token (session ids are never this). */
export const TOKEN_PRINCIPAL = 'token'
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

/** Why a session ended (also the close reason its event sockets get). */
export type SessionEndReason = 'signed out' | 'session expired' | 'too many sessions'

/** Options of {@link createApiAuth}. */
export interface ApiAuthOptions {
  /** The clock (tests of expiry move it). @default Date.now */
  now?: () => number
  /** @default SESSION_IDLE_MS */
  sessionIdleMs?: number
  /** Called once for every session that ends, however it ends (the event hub closes its sockets). */
  onSessionEnd?: (id: string, reason: SessionEndReason) => void
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
  /** True for a live session; using it keeps it alive for another {@link SESSION_IDLE_MS}. */
  useSession(id: string): boolean
  /** Ends a session (signing out); unknown ids are ignored. */
  endSession(id: string): void
  /** Ends every session unused for {@link SESSION_IDLE_MS} (the server calls this now and then). */
  expireIdleSessions(): void
  /**
   * Who sent the request: {@link TOKEN_PRINCIPAL} for the token
   * (`Authorization: Bearer`), the session id for a live session cookie named
   * `cookieName` (which counts as a use of it), undefined for anyone else.
   */
  authorize(headers: IncomingHttpHeaders, cookieName: string): string | undefined
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

/** The auth state of an API server holding `token`. */
export function createApiAuth (token: string, options: ApiAuthOptions = {}): ApiAuth {
  if (!TOKEN_PATTERN.test(token)) throw new TypeError('"token" expected 64 hex characters')
  const now = options.now ?? Date.now
  const idleMs = options.sessionIdleMs ?? SESSION_IDLE_MS
  const codes = new Map<string, number>() // code -> expiry; Map keeps insertion order: oldest first
  const sessions = new Map<string, number>() // id -> last use; re-inserted on use: least recently used first
  const newSecret = (): string => randomBytes(SECRET_BYTES).toString('base64url')

  function end (id: string, reason: SessionEndReason): void {
    if (!sessions.delete(id)) return
    options.onSessionEnd?.(id, reason)
  }

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
      auth.expireIdleSessions()
      while (sessions.size >= MAX_SESSIONS) end(sessions.keys().next().value!, 'too many sessions')
      const id = newSecret()
      sessions.set(id, now())
      return id
    },
    useSession (id) {
      const lastUse = sessions.get(id)
      if (lastUse === undefined) return false
      if (now() - lastUse >= idleMs) {
        end(id, 'session expired')
        return false
      }
      sessions.delete(id)
      sessions.set(id, now())
      return true
    },
    endSession (id) { end(id, 'signed out') },
    expireIdleSessions () {
      // Least recently used first: the first one still fresh ends the sweep.
      for (const [id, lastUse] of sessions) {
        if (now() - lastUse < idleMs) break
        end(id, 'session expired')
      }
    },
    authorize (headers, cookieName) {
      const bearer = bearerToken(headers)
      if (bearer !== undefined) return auth.isToken(bearer) ? TOKEN_PRINCIPAL : undefined
      const session = cookieValue(headers, cookieName)
      return session !== undefined && auth.useSession(session) ? session : undefined
    }
  }
  return auth
}
