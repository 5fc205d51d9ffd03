/**
 * Reading request bodies and writing answers for the API server: JSON in
 * (checked type, bounded size), JSON out, errors in the API's one shape,
 * and the headers every answer carries.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { KomradeApiError } from './errors.js'

/**
 * Largest request body: a message may hold 1 MiB of text, which JSON
 * escaping can grow; twice that leaves room for it and refuses the absurd.
 */
export const MAX_BODY_BYTES = 2 * 1024 * 1024

/**
 * Headers on every answer. The CSP keeps the UI to its own origin (scripts,
 * styles, fetches and the event socket; images also from `blob:`, the
 * previews of pictures the page itself shrank); no framing (clickjacking); no
 * sniffing; no Referer sent to other sites. No CORS header is ever sent:
 * other origins cannot read answers.
 */
export function securityHeaders (host: string): Record<string, string> {
  return {
    'content-security-policy': `default-src 'self'; connect-src 'self' ws://${host}; img-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY'
  }
}

/** Sends a JSON answer (or 204 with no body when `body` is undefined). */
export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) return
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  res.setHeader('cache-control', 'no-store')
  if (body === undefined) {
    res.writeHead(status === 200 ? 204 : status).end()
    return
  }
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text)
}

/** Sends an error in the API's shape. */
export function sendError (res: ServerResponse, error: KomradeApiError, headers: Record<string, string | string[]> = {}): void {
  sendJson(res, error.status, error.toJSON(), headers)
}

/** True for `application/json`, with or without parameters (`; charset=utf-8`). */
export function isJsonContentType (header: string | undefined): boolean {
  return header !== undefined && /^application\/json\s*(;|$)/i.test(header.trim())
}

/** The request carries a body (a length, or chunked). */
export function hasBody (req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
}

/**
 * Reads the body as JSON: it must be declared `application/json` (a form or
 * `text/plain` post from another site is refused before it is read), be at
 * most `limit` bytes, and parse. An empty body reads as `undefined`.
 */
export async function readJsonBody (req: IncomingMessage, limit = MAX_BODY_BYTES, tooLargeMessage?: string): Promise<unknown> {
  if (!hasBody(req)) return undefined
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new KomradeApiError('unsupported_media_type', `Send the request body as JSON with "Content-Type: application/json" (got ${JSON.stringify(req.headers['content-type'] ?? 'none')})`)
  }
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) throw tooLarge(limit, tooLargeMessage)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw tooLarge(limit, tooLargeMessage)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new KomradeApiError('bad_json', `The request body is not valid JSON (${(error as Error).message}); send a JSON object`)
  }
}

function tooLarge (limit: number, message?: string): KomradeApiError {
  return new KomradeApiError('body_too_large', message ?? `The request body is larger than ${limit / (1024 * 1024)} MiB; a message holds at most 1 MiB of text`)
}

/**
 * The policy of an image answer. An image comes from a stranger: were it
 * opened as a page of its own (a crafted SVG, HTML in disguise), nothing in
 * it may run, load or submit anything (`default-src 'none'`, `sandbox`).
 */
export const IMAGE_SECURITY_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/** Sends bytes as they are (an image), with their type; `nosniff` (set on every answer) keeps browsers from guessing another one. */
export function sendBytes (res: ServerResponse, status: number, data: Uint8Array, contentType: string, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) return
  res.setHeader('cache-control', 'no-store')
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  res.writeHead(status, { 'content-type': contentType, 'content-length': data.byteLength }).end(data)
}
