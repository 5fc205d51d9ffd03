/**
 * Geohashes (G. Niemeyer's public-domain scheme): a place as a short base32
 * string naming a cell of the latitude/longitude grid. Each character adds 5
 * bits, alternately halving longitude and latitude (longitude first), so a
 * shorter hash is a coarser cell that contains every longer one. Posts, pins
 * and events carry a place this way (SPEC §15.10): the length of the hash is
 * how much the author chose to reveal.
 *
 * Distances are great-circle (haversine) distances on a sphere of the mean
 * Earth radius; a "within R km" filter uses the centre of the cell.
 */

/** The 32 characters of a geohash, in value order (no a, i, l, o). */
export const GEOHASH_ALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz'
/** Longest geohash handled: 60 bits, a cell of about 3.7 × 1.9 cm, finer than any GPS fix. */
export const MAX_GEOHASH_LENGTH = 12
/** Mean Earth radius (IUGG, (2a + b) / 3 of WGS 84), in km. */
export const EARTH_MEAN_RADIUS_KM = 6371.0088

const BITS_PER_CHAR = 5
const KM_PER_DEGREE = Math.PI * EARTH_MEAN_RADIUS_KM / 180

/** A point in degrees: latitude in [-90, 90], longitude in [-180, 180]. */
export interface LatLon {
  readonly lat: number
  readonly lon: number
}

/** A decoded geohash: the centre of its cell and the half-extents of the cell, in degrees. */
export interface GeohashCell extends LatLon {
  /** Half the cell's height: the true latitude is within `lat ± latErr`. */
  readonly latErr: number
  /** Half the cell's width: the true longitude is within `lon ± lonErr`. */
  readonly lonErr: number
}

/** Value of each alphabet character by char code; -1 for anything else (upper case included: the wire form is lower case). */
const CHAR_VALUES: Int8Array = (() => {
  const values = new Int8Array(128).fill(-1)
  for (let i = 0; i < GEOHASH_ALPHABET.length; i++) values[GEOHASH_ALPHABET.charCodeAt(i)] = i
  return values
})()

/** True when `value` is a geohash of 1 to `maxLength` lower-case alphabet characters. */
export function isGeohash (value: unknown, maxLength: number = MAX_GEOHASH_LENGTH): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) return false
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code >= 128 || CHAR_VALUES[code] === -1) return false
  }
  return true
}

function assertCoordinate (value: unknown, name: string, limit: number): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`"${name}" expected a number, got ${typeof value}`)
  // NaN fails both comparisons, so it lands here too.
  if (!(value >= -limit && value <= limit)) throw new RangeError(`"${name}" expected degrees in [-${limit}, ${limit}], got ${value}`)
}

function assertPoint (point: LatLon, name: string): void {
  if (typeof point !== 'object' || point === null) throw new TypeError(`"${name}" expected {lat, lon}, got ${point === null ? 'null' : typeof point}`)
  assertCoordinate(point.lat, `${name}.lat`, 90)
  assertCoordinate(point.lon, `${name}.lon`, 180)
}

/**
 * The geohash of `precision` characters (1..12) whose cell holds (lat, lon).
 * A point on a cell's lower edge belongs to that cell; the upper edges of the
 * grid (lat 90, lon 180) belong to the last cells. Throws RangeError for a
 * coordinate out of range or NaN, or a precision out of range.
 */
export function encodeGeohash (lat: number, lon: number, precision: number): string {
  assertCoordinate(lat, 'lat', 90)
  assertCoordinate(lon, 'lon', 180)
  if (!Number.isInteger(precision) || precision < 1 || precision > MAX_GEOHASH_LENGTH) {
    throw new RangeError(`"precision" expected an integer in [1, ${MAX_GEOHASH_LENGTH}], got ${precision}`)
  }
  let latMin = -90
  let latMax = 90
  let lonMin = -180
  let lonMax = 180
  let evenBit = true // bits alternate, longitude first
  let hash = ''
  for (let c = 0; c < precision; c++) {
    let value = 0
    for (let b = 0; b < BITS_PER_CHAR; b++) {
      // Halving a binary fraction of 180 or 360 is exact, so the cell edges are exact too.
      if (evenBit) {
        const mid = (lonMin + lonMax) / 2
        if (lon >= mid) { value = value * 2 + 1; lonMin = mid } else { value *= 2; lonMax = mid }
      } else {
        const mid = (latMin + latMax) / 2
        if (lat >= mid) { value = value * 2 + 1; latMin = mid } else { value *= 2; latMax = mid }
      }
      evenBit = !evenBit
    }
    hash += GEOHASH_ALPHABET[value]
  }
  return hash
}

/**
 * The cell a geohash names: its centre and half-extents. Throws TypeError for
 * a non-string, RangeError for anything but 1..12 lower-case alphabet characters.
 */
export function decodeGeohash (hash: string): GeohashCell {
  if (typeof hash !== 'string') throw new TypeError(`"hash" expected a string, got ${typeof hash}`)
  if (!isGeohash(hash)) {
    throw new RangeError(`"hash" expected 1 to ${MAX_GEOHASH_LENGTH} characters of ${GEOHASH_ALPHABET}, got ${JSON.stringify(String(hash).slice(0, 20))}`)
  }
  let latMin = -90
  let latMax = 90
  let lonMin = -180
  let lonMax = 180
  let evenBit = true
  for (let c = 0; c < hash.length; c++) {
    const value = CHAR_VALUES[hash.charCodeAt(c)] as number
    for (let b = BITS_PER_CHAR - 1; b >= 0; b--) {
      const bit = (value >> b) & 1
      if (evenBit) {
        const mid = (lonMin + lonMax) / 2
        if (bit === 1) lonMin = mid; else lonMax = mid
      } else {
        const mid = (latMin + latMax) / 2
        if (bit === 1) latMin = mid; else latMax = mid
      }
      evenBit = !evenBit
    }
  }
  return { lat: (latMin + latMax) / 2, lon: (lonMin + lonMax) / 2, latErr: (latMax - latMin) / 2, lonErr: (lonMax - lonMin) / 2 }
}

/**
 * Half-extents of a geohash's cell in km: north-south, and east-west at the
 * cell's centre latitude (cells narrow towards the poles). What a hash of this
 * length reveals about the place: it is somewhere within these bounds.
 */
export function geohashErrorKm (hash: string): { latErrKm: number, lonErrKm: number } {
  const cell = decodeGeohash(hash)
  return { latErrKm: cell.latErr * KM_PER_DEGREE, lonErrKm: cell.lonErr * KM_PER_DEGREE * Math.cos(cell.lat * Math.PI / 180) }
}

/** Great-circle distance in km between two points (haversine, sphere of EARTH_MEAN_RADIUS_KM). */
export function distanceKm (a: LatLon, b: LatLon): number {
  assertPoint(a, 'a')
  assertPoint(b, 'b')
  const toRadians = Math.PI / 180
  const dLat = (b.lat - a.lat) * toRadians
  const dLon = (b.lon - a.lon) * toRadians
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * toRadians) * Math.cos(b.lat * toRadians) * Math.sin(dLon / 2) ** 2
  // Rounding can push h a hair above 1 for antipodal points; asin would give NaN.
  return 2 * EARTH_MEAN_RADIUS_KM * Math.asin(Math.sqrt(Math.min(1, h)))
}

/**
 * True when the centre of `geohash`'s cell is at most `km` from `center`.
 * The centre, not the nearest edge: a coarse cell counts as where its centre
 * is, so the answer does not depend on how much the author revealed beyond it.
 */
export function withinKm (center: LatLon, geohash: string, km: number): boolean {
  if (typeof km !== 'number' || !Number.isFinite(km) || km < 0) throw new RangeError(`"km" expected a finite distance >= 0, got ${km}`)
  return distanceKm(center, decodeGeohash(geohash)) <= km
}
