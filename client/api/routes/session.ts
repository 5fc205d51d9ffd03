/**
 * Signing in and out: a browser trades a one-time login code (from the link
 * `komrade start` prints) or the token for a session cookie. HttpOnly (no
 * script reads it), SameSite=Strict (no other site's page sends it).
 */
import { KomradeApiError } from '../errors.js'
import { cookieValue } from '../auth.js'
import type { Route, RouteResult } from '../router.js'

/** Longest code or token accepted: both are far shorter; anything longer is not one. */
const MAX_SECRET_LENGTH = 256

function secretField (body: Record<string, unknown>, name: 'code' | 'token'): string | undefined {
  const value = body[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length > MAX_SECRET_LENGTH) {
    throw new KomradeApiError('bad_request', `The field "${name}" must be a string of at most ${MAX_SECRET_LENGTH} characters`)
  }
  return value.trim()
}

export const sessionRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/session',
    public: true,
    async handle ({ body, services }): Promise<RouteResult> {
      const input = await body()
      const code = secretField(input, 'code')
      const token = secretField(input, 'token')
      if ((code === undefined) === (token === undefined)) {
        throw new KomradeApiError('bad_request', 'Send either { "code": "<login code>" } or { "token": "<API token>" }')
      }
      if (code !== undefined && !services.auth.redeemLoginCode(code)) {
        throw new KomradeApiError('unauthorized', 'This sign-in link was used already or has expired (links last 10 minutes and work once); ' +
          'sign in with the token from api.token in the data directory, or run `komrade start` again for a new link')
      }
      if (token !== undefined && !services.auth.isToken(token)) {
        throw new KomradeApiError('unauthorized', 'This is not the API token; copy it again from api.token in the node\'s data directory')
      }
      const session = services.auth.createSession()
      return { status: 204, headers: { 'set-cookie': `${services.cookieName}=${session}; HttpOnly; SameSite=Strict; Path=/` } }
    }
  },
  {
    // A fresh sign-in link, for a browser on this machine (the one `komrade start` printed lasts 10 minutes).
    method: 'POST',
    path: '/api/session/code',
    async handle ({ services }): Promise<RouteResult> {
      const code = services.auth.createLoginCode()
      return { body: { code, url: `${services.url}/#login=${code}` } }
    }
  },
  {
    // Public: signing out always succeeds, whatever state the session was in.
    method: 'DELETE',
    path: '/api/session',
    public: true,
    async handle ({ headers, services }): Promise<RouteResult> {
      const session = cookieValue(headers, services.cookieName)
      if (session !== undefined) services.auth.endSession(session)
      return { status: 204, headers: { 'set-cookie': `${services.cookieName}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` } }
    }
  }
]
