/**
 * Routes of the API: a method, a path pattern (`/api/contacts/:id`) and a
 * handler that gets its checked inputs and returns what to answer. Handlers
 * never touch the response; the server writes it.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { KomradeNode } from '../../node/komrade-node.js'
import type { ApiAuth } from './auth.js'
import { KomradeApiError } from './errors.js'
import type { EventHub } from './events.js'

/** What a handler may use besides the request. */
export interface RouteServices {
  readonly node: KomradeNode
  readonly auth: ApiAuth
  readonly events: EventHub
  /** The daemon's resolved configuration, for GET /api/config. */
  readonly config: Readonly<Record<string, unknown>>
  /** Name of this server's session cookie. */
  readonly cookieName: string
  /** This server's address, `http://127.0.0.1:PORT`. */
  readonly url: string
}

/** One request as a handler sees it. */
export interface RouteContext {
  readonly services: RouteServices
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
  readonly headers: IncomingHttpHeaders
  /** Aborts when the client goes away: long work (a registration) stops with it. */
  readonly signal: AbortSignal
  /** The JSON body; must be an object (bad_request otherwise). */
  body(): Promise<Record<string, unknown>>
}

/** What to answer: `body` undefined means 204; `bytes` instead of `body` sends them as they are (an image). */
export interface RouteResult {
  readonly status?: number
  readonly body?: unknown
  /** Bytes to send with their `Content-Type` instead of JSON (the route sets the headers that make them safe). */
  readonly bytes?: { readonly data: Uint8Array, readonly contentType: string }
  readonly headers?: Record<string, string | string[]>
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  readonly path: string
  /** Open without the token (signing in, signing out). @default false */
  readonly public?: boolean
  /**
   * This route's own body limit, and what to say when a body passes it, in
   * place of the server's (2 MiB, sized for a 1 MiB message): a post with
   * its image needs far less. @default the server's
   */
  readonly bodyLimit?: { readonly bytes: number, readonly tooLarge: string }
  handle(context: RouteContext): Promise<RouteResult>
}

/** The route for a method and path, with its parameters decoded. */
export function matchRoute (routes: readonly Route[], method: string, pathname: string): { route: Route, params: Record<string, string> } | undefined {
  const parts = pathname.split('/')
  for (const route of routes) {
    if (route.method !== method) continue
    const pattern = route.path.split('/')
    if (pattern.length !== parts.length) continue
    const params: Record<string, string> = {}
    let matches = true
    for (let i = 0; i < pattern.length && matches; i++) {
      const want = pattern[i]!
      const got = parts[i]!
      if (want.startsWith(':')) {
        if (got === '') matches = false
        else params[want.slice(1)] = decodeSegment(got)
      } else {
        matches = want === got
      }
    }
    if (matches) return { route, params }
  }
  return undefined
}

function decodeSegment (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new KomradeApiError('bad_request', `The path segment ${JSON.stringify(segment)} is not valid percent-encoding`)
  }
}

/** A required string field of a body, trimmed, at most `max` characters. */
export function stringField (body: Record<string, unknown>, name: string, max: number): string {
  const value = body[name]
  if (typeof value !== 'string' || value.trim() === '') {
    throw new KomradeApiError('bad_request', `The field "${name}" is required and must be a non-empty string`)
  }
  if (value.length > max) throw new KomradeApiError('bad_request', `The field "${name}" is at most ${max} characters`)
  return value.trim()
}

/**
 * Longest way of naming someone (a name, a contact id, a hex identity, an
 * invite code), as `POST /api/contacts` and `POST /api/messages` take it: an
 * invite code with its most addresses is about 2,000 characters; the rest is
 * room for the spaces and line breaks of a pasted one.
 */
export const MAX_PERSON_REFERENCE_LENGTH = 8192

/** A contact id: the hex Ed25519 key of the contact, 64 hex characters (either case). */
export function isContactId (value: string): boolean {
  return /^[0-9a-fA-F]{64}$/.test(value)
}

/** A hex contact id (64 hex characters), lowercased. */
export function contactId (value: string, name: string): string {
  if (!isContactId(value)) throw new KomradeApiError('bad_request', `"${name}" expected a contact id: 64 hex characters`)
  return value.toLowerCase()
}

/** An optional non-negative integer query parameter within [min, max]. */
export function integerParam (query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name)
  if (raw === null) return undefined
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new KomradeApiError('bad_request', `The query parameter "${name}" must be an integer from ${min} to ${max}`)
  }
  return value
}
