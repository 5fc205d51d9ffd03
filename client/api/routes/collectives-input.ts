/**
 * Checks shared by the collectives' routes (groups, events, pins): the
 * group in a path, constitutions, places (a geohash or a point), bounded
 * texts, choices. Every refusal is a 400 that names the field and says
 * what it takes.
 */
import type { KomradeNode } from '../../../node/komrade-node.js'
import type { EventsApi, GroupsApi, LocationInput, PinsApi } from '../../../node/collectives/types.js'
import { groupReference, isGeohashText, MAX_GROUP_MEMBERS } from '../collectives-content.js'
import { KomradeApiError } from '../errors.js'
import { codePoints } from '../post-content.js'
import type { ConstitutionInput } from '../collectives-content.js'

/** The node's collectives APIs (one place to reach them from the routes). */
export const groupsOf = (node: KomradeNode): GroupsApi => node.groups
export const eventsOf = (node: KomradeNode): EventsApi => node.events
export const pinsOf = (node: KomradeNode): PinsApi => node.pins

/** A body field's value as a plain object (not null, not an array). */
function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The group of a path (`:group`): a name, `@name` or a group id. */
export function groupParam (value: string, name = 'group'): string {
  const group = groupReference(value)
  if (group === undefined) {
    throw new KomradeApiError('bad_request', `"${name}" expected a group name (3 to 32 of a-z, 0-9 and _, @ allowed before it) or a group id (64 hex characters), got ${JSON.stringify(value.slice(0, 80))}`)
  }
  return group
}

/** A hex id of `length` characters in a path or a body, lower-cased. */
export function hexId (value: unknown, name: string, length: number, what: string): string {
  if (typeof value !== 'string' || !new RegExp(`^[0-9a-fA-F]{${length}}$`).test(value)) {
    throw new KomradeApiError('bad_request', `"${name}" expected ${what}: ${length} hex characters`)
  }
  return value.toLowerCase()
}

/** An optional string field of at most `max` code points (empty allowed unless `required`). */
export function textField (body: Record<string, unknown>, name: string, max: number, options: { required?: boolean, trim?: boolean } = {}): string | undefined {
  const value = body[name]
  if (value === undefined && options.required !== true) return undefined
  if (typeof value !== 'string') throw new KomradeApiError('bad_request', `The field "${name}" ${options.required === true ? 'is required and ' : ''}must be a string`)
  const text = options.trim === true ? value.trim() : value
  if (options.required === true && text.trim() === '') throw new KomradeApiError('bad_request', `The field "${name}" is required and must not be empty`)
  if (codePoints(text) > max) throw new KomradeApiError('bad_request', `The field "${name}" holds at most ${max} characters; this one has ${codePoints(text)}: shorten it`)
  return text
}

/** An optional whole number field within [min, max]. */
export function wholeField (body: Record<string, unknown>, name: string, min: number, max: number, label = name): number | undefined {
  const value = body[name]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new KomradeApiError('bad_request', `The field "${label}" must be a whole number from ${min} to ${max}`)
  }
  return value
}

/** An optional boolean field. */
export function booleanField (body: Record<string, unknown>, name: string): boolean | undefined {
  const value = body[name]
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') throw new KomradeApiError('bad_request', `The field "${name}" must be true or false`)
  return value
}

/** A field that must be one of `choices`. */
export function choiceField<T extends string> (body: Record<string, unknown>, name: string, choices: readonly T[]): T {
  const value = body[name]
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new KomradeApiError('bad_request', `The field "${name}" must be ${choices.map((c) => `"${c}"`).join(' or ')}`)
  }
  return value as T
}

/** A latitude and a longitude, in range. */
export function latLonFields (body: Record<string, unknown>, prefix = ''): { lat: number, lon: number } {
  const lat = body.lat
  const lon = body.lon
  if (typeof lat !== 'number' || !Number.isFinite(lat) || lat < -90 || lat > 90) {
    throw new KomradeApiError('bad_request', `The field "${prefix}lat" must be a latitude in degrees, from -90 to 90`)
  }
  if (typeof lon !== 'number' || !Number.isFinite(lon) || lon < -180 || lon > 180) {
    throw new KomradeApiError('bad_request', `The field "${prefix}lon" must be a longitude in degrees, from -180 to 180`)
  }
  return { lat, lon }
}

/**
 * An optional place: a geohash of 1 to `maxPrecision` characters, or
 * `{ lat, lon, precision? }` (precision 1 to `maxPrecision`).
 */
export function locationField (body: Record<string, unknown>, name: string, maxPrecision: number): LocationInput | undefined {
  const value = body[name]
  if (value === undefined) return undefined
  if (typeof value === 'string') {
    const hash = value.toLowerCase()
    if (!isGeohashText(hash, maxPrecision)) {
      throw new KomradeApiError('bad_request', `The field "${name}" must be a geohash of 1 to ${maxPrecision} characters (0-9 and b-z without i, l, o), or { "lat", "lon", "precision"? }`)
    }
    return hash
  }
  if (!isObject(value)) throw new KomradeApiError('bad_request', `The field "${name}" must be a geohash or { "lat", "lon", "precision"? }`)
  const point = latLonFields(value, `${name}.`)
  const precision = value.precision
  if (precision !== undefined && (typeof precision !== 'number' || !Number.isSafeInteger(precision) || precision < 1 || precision > maxPrecision)) {
    throw new KomradeApiError('bad_request', `The field "${name}.precision" must be a whole number from 1 to ${maxPrecision} (geohash characters)`)
  }
  return precision === undefined ? point : { ...point, precision }
}

/** A constitution: `{ type: 'fixed', n }` or `{ type: 'growing', percent, min }`. */
export function constitutionValue (value: unknown, name: string): ConstitutionInput {
  if (!isObject(value)) throw new KomradeApiError('bad_request', `The field "${name}" must be { "type": "fixed", "n" } or { "type": "growing", "percent", "min" }`)
  if (value.type === 'fixed') {
    const n = wholeField(value, 'n', 1, MAX_GROUP_MEMBERS - 1, `${name}.n`)
    if (n === undefined) throw new KomradeApiError('bad_request', `The field "${name}.n" is required: the vouches a candidate needs, 1 to 255`)
    return { type: 'fixed', n }
  }
  if (value.type === 'growing') {
    const percent = wholeField(value, 'percent', 1, 100, `${name}.percent`)
    const min = wholeField(value, 'min', 1, MAX_GROUP_MEMBERS - 1, `${name}.min`)
    if (percent === undefined) throw new KomradeApiError('bad_request', `The field "${name}.percent" is required: the share of members whose vouches a candidate needs, 1 to 100`)
    if (min === undefined) throw new KomradeApiError('bad_request', `The field "${name}.min" is required: the fewest vouches a candidate needs, 1 to 255`)
    return { type: 'growing', percent, min }
  }
  throw new KomradeApiError('bad_request', `The field "${name}.type" must be "fixed" or "growing"`)
}

/**
 * The node's refusals that are plain RangeErrors without the argument's
 * name in front (node/collectives/events.ts, channels.ts): sentences
 * written for people about the caller's input. Only these pass; every
 * other RangeError is a bug and stays `internal`.
 */
const NODE_REFUSALS: readonly RegExp[] = [
  /^The event (would be )?(is )?over already/,
  /^An? (anonymous )?event (for chosen contacts )?(cannot|goes to at most)/,
  /^A node follows at most \d+ (salted|event) channels/
]

/**
 * Whether `error` is one of the node's argument errors: a TypeError or a
 * RangeError whose message starts with the quoted argument's name (the
 * node's convention: `"limit" expected 1 to 100`), or one of its known
 * refusals. An engine RangeError ("Maximum call stack size exceeded",
 * "Invalid array length", typed-array offsets) is none of these.
 */
export function isNodeArgumentError (error: unknown): error is TypeError | RangeError {
  if (!(error instanceof RangeError) && !(error instanceof TypeError)) return false
  if (/^"[\w.]+"/.test(error.message)) return true
  return error instanceof RangeError && NODE_REFUSALS.some((refusal) => refusal.test(error.message))
}

/**
 * Runs a node call and turns the node's argument errors (see
 * {@link isNodeArgumentError}) into a 400: the routes check first, so these
 * are limits the routes do not know of. Anything else goes on to
 * apiErrorOf, which logs it and answers `internal`.
 */
export async function nodeCall<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    if (isNodeArgumentError(error)) throw new KomradeApiError('bad_request', error.message)
    throw error
  }
}
