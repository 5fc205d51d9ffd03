/**
 * Places and times on the command line, shared by `komrade group`, `event`
 * and `pin`: `LAT,LON` points, ISO times, and resolving a short id prefix
 * a person typed (the 12 characters a listing shows) to the full id.
 */
import { CommandError } from './failures.js'
import { printable } from './terminal.js'

/** Characters of an id the listings show; a prefix of at least MIN_ID_PREFIX is accepted back. */
export const SHOWN_ID_CHARS = 12
export const MIN_ID_PREFIX = 6

/** `LAT,LON` in decimal degrees ("52.52,13.405"; spaces allowed after the comma), or undefined. */
export function parseLatLonOption (text: string): { lat: number, lon: number } | undefined {
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text)
  if (match === null) return undefined
  const point = { lat: Number(match[1]), lon: Number(match[2]) }
  return Math.abs(point.lat) <= 90 && Math.abs(point.lon) <= 180 ? point : undefined
}

/** An ISO 8601 time ("2026-12-01T18:00", local time unless it names a zone: "…Z", "…+01:00") as unix ms, or undefined. */
export function parseTimeOption (text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return undefined
  const ms = Date.parse(text.trim().replace(' ', 'T'))
  return Number.isFinite(ms) ? ms : undefined
}

/**
 * The one id among `ids` that `query` names: the whole id, or a unique
 * prefix of at least MIN_ID_PREFIX characters. CommandError otherwise,
 * saying what `what` is and where to see them.
 */
export function resolveId (ids: readonly string[], query: string, what: string, where: string): string {
  const wanted = query.trim().toLowerCase()
  if (ids.includes(wanted)) return wanted
  if (!/^[0-9a-f]+$/.test(wanted) || wanted.length < MIN_ID_PREFIX) {
    throw new CommandError(`"${printable(query)}" is not ${what} id: give the id (or its first ${MIN_ID_PREFIX} or more characters) as ${where} shows it`)
  }
  const matches = ids.filter((id) => id.startsWith(wanted))
  if (matches.length > 1) throw new CommandError(`"${printable(query)}" is the start of ${matches.length} ${what} ids; give more of it`)
  if (matches[0] === undefined) throw new CommandError(`No ${what} id starts with "${printable(query)}"; see ${where}`)
  return matches[0]
}

/** A duration until `at` in words: "in 3 hours", "2 days ago". */
export function relativeTime (at: number, now = Date.now()): string {
  const minutes = Math.round((at - now) / 60_000)
  const size = Math.abs(minutes)
  const words = size < 90 ? `${size} minute${size === 1 ? '' : 's'}` : size < 36 * 60 ? `${Math.round(size / 60)} hours` : `${Math.round(size / 1440)} days`
  return minutes >= 0 ? `in ${words}` : `${words} ago`
}
