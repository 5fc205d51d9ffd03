/**
 * Checks what `post` and `setProfile` are given, at the boundary, before
 * anything is sealed or written: a TypeError for a wrong type, a RangeError
 * for a wrong size, each naming the field and saying the limit.
 */
import {
  codePointLength, encodeGeohash, MAX_AVATAR_BYTES, MAX_POST_GEOHASH, MAX_BIO_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_CHARS, MAX_TTL_MINUTES,
  POST_IMAGE_MIMES, type PostImageData, type PostImageMime
} from '../../protocol/index.js'
import type { Audience, PostImage, PostInput, PostLocationInput, ProfileInput } from './types.js'

/** Lifetime of a post when neither `days` nor `ttlMinutes` is given: 2 days (SPEC §14). */
export const DEFAULT_POST_DAYS = 2
/** Longest lifetime in days (SPEC §14: 1 to 7). */
export const MAX_POST_DAYS = 7

/**
 * Geohash characters of a post's place when the author does not say: 5, a
 * cell of about 4.9 × 4.9 km (less wide towards the poles), a district
 * rather than a street (SPEC §14.6).
 */
export const DEFAULT_POST_LOCATION_PRECISION = 5

/** A post input that passed the checks. */
export interface CheckedPost {
  readonly text: string
  readonly image?: PostImageData
  readonly audience: Audience
  readonly ttlMinutes: number
  /** The place as a geohash of 1 to MAX_POST_GEOHASH characters. */
  readonly location?: string
}

/** A profile input that passed the checks. */
export interface CheckedProfile {
  readonly displayName: string
  readonly bio: string
  readonly avatar?: PostImageData
  readonly audience: Audience
}

function checkAudience (audience: unknown): Audience {
  if (audience === undefined) return 'world'
  if (audience !== 'world' && audience !== 'circle') throw new TypeError(`"audience" expected 'world' or 'circle', got ${JSON.stringify(audience)}`)
  return audience
}

function checkText (value: unknown, field: string, maxChars: number): string {
  if (value === undefined) return ''
  if (typeof value !== 'string') throw new TypeError(`"${field}" expected a string`)
  const length = codePointLength(value)
  if (length > maxChars) throw new RangeError(`"${field}" is at most ${maxChars} characters, got ${length}`)
  return value
}

function checkImage (image: PostImage | undefined, field: string, maxBytes: number): PostImageData | undefined {
  if (image === undefined) return undefined
  if (image === null || typeof image !== 'object') throw new TypeError(`"${field}" expected { mime, bytes }`)
  if (!(POST_IMAGE_MIMES as readonly string[]).includes(image.mime)) {
    throw new TypeError(`"${field}.mime" expected one of ${POST_IMAGE_MIMES.join(', ')}, got ${JSON.stringify(image.mime)}`)
  }
  if (!(image.bytes instanceof Uint8Array)) throw new TypeError(`"${field}.bytes" expected a Uint8Array`)
  if (image.bytes.length === 0) throw new RangeError(`"${field}.bytes" is empty`)
  if (image.bytes.length > maxBytes) {
    throw new RangeError(`"${field}" is at most ${maxBytes} bytes (${maxBytes / 1024} KiB), got ${image.bytes.length}: shrink it first`)
  }
  return { mime: image.mime as PostImageMime, bytes: image.bytes }
}

function checkLifetime (input: PostInput): number {
  if (input.days !== undefined && input.ttlMinutes !== undefined) throw new TypeError('Give "days" or "ttlMinutes", not both')
  if (input.ttlMinutes !== undefined) {
    if (!Number.isInteger(input.ttlMinutes) || input.ttlMinutes < 1 || input.ttlMinutes > MAX_TTL_MINUTES) {
      throw new RangeError(`"ttlMinutes" expected a whole number from 1 to ${MAX_TTL_MINUTES}, got ${String(input.ttlMinutes)}`)
    }
    return input.ttlMinutes
  }
  const days = input.days ?? DEFAULT_POST_DAYS
  if (!Number.isInteger(days) || days < 1 || days > MAX_POST_DAYS) {
    throw new RangeError(`"days" expected a whole number from 1 to ${MAX_POST_DAYS}, got ${String(days)}`)
  }
  return days * 24 * 60
}

function checkDegrees (value: unknown, field: string, limit: number): number {
  if (typeof value !== 'number') throw new TypeError(`"${field}" expected a number of degrees, got ${typeof value}`)
  // NaN fails both comparisons, so it lands here too.
  if (!(value >= -limit && value <= limit)) throw new RangeError(`"${field}" expected degrees from -${limit} to ${limit}, got ${value}`)
  return value
}

/** The geohash a {@link PostLocationInput} is cut to, or undefined when there is none. */
function checkLocation (location: PostLocationInput | undefined): string | undefined {
  if (location === undefined) return undefined
  if (location === null || typeof location !== 'object') throw new TypeError('"location" expected { lat, lon, precision? }')
  const lat = checkDegrees(location.lat, 'location.lat', 90)
  const lon = checkDegrees(location.lon, 'location.lon', 180)
  const precision = location.precision ?? DEFAULT_POST_LOCATION_PRECISION
  if (typeof precision !== 'number') throw new TypeError(`"location.precision" expected a number, got ${typeof precision}`)
  if (!Number.isInteger(precision) || precision < 1 || precision > MAX_POST_GEOHASH) {
    throw new RangeError(`"location.precision" expected a whole number of geohash characters from 1 to ${MAX_POST_GEOHASH}, got ${precision}`)
  }
  return encodeGeohash(lat, lon, precision)
}

/** Checks a {@link PostInput}; throws TypeError or RangeError naming the field. */
export function checkPostInput (input: PostInput): CheckedPost {
  if (input === null || typeof input !== 'object') throw new TypeError('"post" expected { text?, image?, audience?, days?, location? }')
  const text = checkText(input.text, 'text', MAX_POST_TEXT_CHARS)
  const image = checkImage(input.image, 'image', MAX_POST_IMAGE_BYTES)
  if (text === '' && image === undefined) throw new RangeError('A post needs text or an image')
  const location = checkLocation(input.location)
  return {
    text, ...(image === undefined ? {} : { image }), audience: checkAudience(input.audience), ttlMinutes: checkLifetime(input),
    ...(location === undefined ? {} : { location })
  }
}

/** Checks a {@link ProfileInput}; throws TypeError or RangeError naming the field. */
export function checkProfileInput (input: ProfileInput): CheckedProfile {
  if (input === null || typeof input !== 'object') throw new TypeError('"profile" expected { displayName, bio?, avatar?, audience? }')
  if (typeof input.displayName !== 'string') throw new TypeError('"displayName" expected a string')
  const displayName = checkText(input.displayName, 'displayName', MAX_DISPLAY_NAME_CHARS)
  const bio = checkText(input.bio, 'bio', MAX_BIO_CHARS)
  const avatar = checkImage(input.avatar, 'avatar', MAX_AVATAR_BYTES)
  return { displayName, bio, ...(avatar === undefined ? {} : { avatar }), audience: checkAudience(input.audience) }
}
