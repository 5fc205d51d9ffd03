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

/**
 * An ISO 8601 time as unix ms, or undefined: "2026-12-01T18:00" (local time
 * unless it names a zone: "…Z", "…+01:00"), or a date alone, "2026-12-01",
 * which is local midnight (ECMAScript would read it as UTC). Impossible
 * dates and times (2026-02-31, 24:30, a zone of +25:00) are refused, not
 * rolled over into the next month or day.
 */
export function parseTimeOption (text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?(Z|([+-])(\d{2}):?(\d{2}))?)?$/.exec(text.trim())
  if (match === null) return undefined
  const [, y, mo, d, hh = '0', mi = '0', ss = '0', frac = '', zone, sign, zh = '0', zm = '0'] = match
  const [year, month, day, hour, minute, second, ms] = [y, mo, d, hh, mi, ss, frac.padEnd(3, '0')].map(Number) as [number, number, number, number, number, number, number]
  // Day 0 of the next month is the last day of this one (in UTC, of a year that is not a leap year).
  const daysInMonth = month === 2 ? (isLeapYear(year) ? 29 : 28) : new Date(Date.UTC(2001, month, 0)).getUTCDate()
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || Number(zh) > 23 || Number(zm) > 59) return undefined
  let at: number
  if (zone === undefined) {
    const local = new Date(year, month - 1, day, hour, minute, second, ms)
    local.setFullYear(year) // years 0-99 would otherwise mean 1900-1999
    at = local.getTime()
  } else {
    const offset = sign === undefined ? 0 : (sign === '+' ? 1 : -1) * (Number(zh) * 60 + Number(zm)) * 60_000
    const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms))
    utc.setUTCFullYear(year)
    at = utc.getTime() - offset
  }
  return Number.isFinite(at) ? at : undefined
}

function isLeapYear (year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
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
