/**
 * Geohashes and distances (SPEC §15.10): published vectors, the grid's
 * corners (poles, antimeridian), refusals of out-of-range input, and
 * fast-check properties: a point lies in the cell of its hash, a cell's
 * centre encodes back to its hash, a shorter hash is a prefix.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeGeohash, distanceKm, encodeGeohash, geohashErrorKm, isGeohash, withinKm, EARTH_MEAN_RADIUS_KM, GEOHASH_ALPHABET,
  MAX_GEOHASH_LENGTH, MAX_PIN_GEOHASH, MAX_POST_GEOHASH
} from '../../protocol/index.js'

const latitude = fc.double({ min: -90, max: 90, noNaN: true })
const longitude = fc.double({ min: -180, max: 180, noNaN: true })
const geohash = fc.string({ unit: fc.constantFrom(...GEOHASH_ALPHABET), minLength: 1, maxLength: MAX_GEOHASH_LENGTH })

describe('geohash vectors', () => {
  it('decodes the published examples to their points', () => {
    // Wikipedia's example: u4pruydqqvj is 57.64911, 10.40744 (Jutland).
    const jutland = decodeGeohash('u4pruydqqvj')
    expect(jutland.lat).toBeCloseTo(57.64911, 5)
    expect(jutland.lon).toBeCloseTo(10.40744, 5)
    // ezs42: 13 longitude bits and 12 latitude bits, so both half-extents are 180 / 2^13.
    expect(decodeGeohash('ezs42')).toEqual({ lat: 42.60498046875, lon: -5.60302734375, latErr: 180 / 2 ** 13, lonErr: 360 / 2 ** 14 })
    expect(decodeGeohash('ezs42').lat).toBeCloseTo(42.605, 3)
    expect(decodeGeohash('ezs42').lon).toBeCloseTo(-5.603, 3)
  })

  it('encodes the published points to their hashes', () => {
    expect(encodeGeohash(57.64911, 10.40744, 11)).toBe('u4pruydqqvj')
    expect(encodeGeohash(42.6, -5.6, 5)).toBe('ezs42')
    expect(encodeGeohash(0, 0, 1)).toBe('s') // a point on the lower edges belongs to the upper cells
    expect(encodeGeohash(-0.000001, -0.000001, 1)).toBe('7')
  })

  it('the corners of the grid: poles and the antimeridian', () => {
    expect(encodeGeohash(90, 180, 6)).toBe('zzzzzz')
    expect(encodeGeohash(-90, -180, 6)).toBe('000000')
    expect(encodeGeohash(90, -180, 2)).toBe('bp')
    expect(encodeGeohash(-90, 180, 2)).toBe('pb')
    expect(decodeGeohash('zzzzzz').lat).toBeLessThan(90)
    expect(decodeGeohash('zzzzzz').lat + decodeGeohash('zzzzzz').latErr).toBe(90)
    expect(decodeGeohash('000000').lon - decodeGeohash('000000').lonErr).toBe(-180)
    // The two sides of the antimeridian are far apart in the grid, close on the globe.
    const east = encodeGeohash(0, 179.999, 9)
    const west = encodeGeohash(0, -179.999, 9)
    expect(east[0]).toBe('x')
    expect(west[0]).toBe('8')
    expect(distanceKm(decodeGeohash(east), decodeGeohash(west))).toBeLessThan(0.25)
  })

  it('cell sizes by length: what a hash of each length reveals', () => {
    // 6 characters (the post limit): 15 latitude bits and 15 longitude bits.
    const post = decodeGeohash(encodeGeohash(0, 0, MAX_POST_GEOHASH))
    expect(post.latErr * 2).toBe(180 / 2 ** 15)
    expect(post.lonErr * 2).toBe(360 / 2 ** 15)
    const postKm = geohashErrorKm(encodeGeohash(0, 0, MAX_POST_GEOHASH))
    expect(postKm.latErrKm * 2).toBeCloseTo(0.61, 2)
    expect(postKm.lonErrKm * 2).toBeCloseTo(1.22, 2)
    // 9 characters (the pin limit): about 4.8 m by 4.8 m at the equator.
    const pinKm = geohashErrorKm(encodeGeohash(0, 0, MAX_PIN_GEOHASH))
    expect(pinKm.latErrKm * 2 * 1000).toBeCloseTo(4.77, 1)
    expect(pinKm.lonErrKm * 2 * 1000).toBeCloseTo(4.77, 1)
    // Cells narrow towards the poles: at 60° a cell is half as wide.
    expect(geohashErrorKm(encodeGeohash(60, 0, 6)).lonErrKm).toBeCloseTo(postKm.lonErrKm / 2, 1)
  })
})

describe('geohash refusals', () => {
  it('latitude, longitude and precision out of range, NaN and infinities are RangeError', () => {
    for (const [lat, lon] of [[90.000001, 0], [-90.5, 0], [0, 180.000001], [0, -181], [Number.NaN, 0], [0, Number.NaN],
      [Infinity, 0], [0, -Infinity]] as const) {
      expect(() => encodeGeohash(lat, lon, 5), `${lat}, ${lon}`).toThrow(RangeError)
    }
    for (const precision of [0, 13, 1.5, -1, Number.NaN]) expect(() => encodeGeohash(0, 0, precision)).toThrow(RangeError)
    expect(() => encodeGeohash('1' as unknown as number, 0, 5)).toThrow(TypeError)
  })

  it('decode refuses what is not 1..12 lower-case alphabet characters', () => {
    for (const bad of ['', 'a', 'i', 'l', 'o', 'U4PRU', 'u4pr ', 'u4pruydqqvj00', 'é', '\u0000']) {
      expect(() => decodeGeohash(bad), JSON.stringify(bad)).toThrow(RangeError)
      expect(isGeohash(bad)).toBe(false)
    }
    expect(() => decodeGeohash(7 as unknown as string)).toThrow(TypeError)
    expect(isGeohash('u4pruydqqvj0')).toBe(true)
    expect(isGeohash('u4pruyd', 6)).toBe(false)
    expect(isGeohash('u4pruy', 6)).toBe(true)
    expect(isGeohash(null)).toBe(false)
  })

  it('distance and withinKm refuse bad points and radii', () => {
    expect(() => distanceKm({ lat: 91, lon: 0 }, { lat: 0, lon: 0 })).toThrow(RangeError)
    expect(() => distanceKm({ lat: 0, lon: 0 }, { lat: 0, lon: Number.NaN })).toThrow(RangeError)
    expect(() => distanceKm(null as unknown as { lat: number, lon: number }, { lat: 0, lon: 0 })).toThrow(TypeError)
    for (const km of [-1, Number.NaN, Infinity]) expect(() => withinKm({ lat: 0, lon: 0 }, 's', km)).toThrow(RangeError)
    expect(() => withinKm({ lat: 0, lon: 0 }, 'S', 1)).toThrow(RangeError)
  })
})

describe('distances', () => {
  it('haversine on the mean Earth radius', () => {
    expect(EARTH_MEAN_RADIUS_KM).toBe(6371.0088)
    expect(distanceKm({ lat: 0, lon: 0 }, { lat: 0, lon: 1 })).toBeCloseTo(111.19508, 4)
    expect(distanceKm({ lat: 48.8566, lon: 2.3522 }, { lat: 51.5074, lon: -0.1278 })).toBeCloseTo(343.5565, 3) // Paris - London
    expect(distanceKm({ lat: 90, lon: 0 }, { lat: -90, lon: 0 })).toBeCloseTo(Math.PI * EARTH_MEAN_RADIUS_KM, 6)
    expect(distanceKm({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBeCloseTo(Math.PI * EARTH_MEAN_RADIUS_KM, 6)
    expect(distanceKm({ lat: 90, lon: 10 }, { lat: 90, lon: -170 })).toBeCloseTo(0, 9) // one pole, any longitude
    expect(distanceKm({ lat: 0, lon: 179.5 }, { lat: 0, lon: -179.5 })).toBeCloseTo(111.19508, 4) // across the antimeridian
  })

  it('withinKm uses the cell centre', () => {
    const here = { lat: 57.64911, lon: 10.40744 }
    expect(withinKm(here, 'u4pruydqqvj', 0.001)).toBe(true)
    // One degree of latitude north: about 111 km.
    const north = encodeGeohash(58.64911, 10.40744, 9)
    expect(withinKm(here, north, 110)).toBe(false)
    expect(withinKm(here, north, 112)).toBe(true)
    // A coarse cell counts where its centre is, even when the point is inside the cell.
    const coarse = encodeGeohash(here.lat, here.lon, 2)
    const centre = decodeGeohash(coarse)
    const toCentre = distanceKm(here, centre)
    expect(toCentre).toBeGreaterThan(50)
    expect(withinKm(here, coarse, toCentre - 1)).toBe(false)
    expect(withinKm(here, coarse, toCentre + 1)).toBe(true)
    expect(withinKm({ lat: 0, lon: 179.99 }, encodeGeohash(0, -179.99, 9), 5)).toBe(true)
  })
})

describe('geohash properties', () => {
  it('a point lies in the cell of its hash, and a shorter hash is a prefix', () => {
    fc.assert(fc.property(latitude, longitude, fc.integer({ min: 1, max: MAX_GEOHASH_LENGTH }), (lat, lon, precision) => {
      const hash = encodeGeohash(lat, lon, precision)
      expect(hash.length).toBe(precision)
      expect(isGeohash(hash)).toBe(true)
      const cell = decodeGeohash(hash)
      expect(Math.abs(lat - cell.lat)).toBeLessThanOrEqual(cell.latErr)
      expect(Math.abs(lon - cell.lon)).toBeLessThanOrEqual(cell.lonErr)
      expect(encodeGeohash(lat, lon, MAX_GEOHASH_LENGTH).startsWith(hash)).toBe(true)
    }), { numRuns: 1000 })
  })

  it('a cell centre encodes back to its hash', () => {
    fc.assert(fc.property(geohash, (hash) => {
      const cell = decodeGeohash(hash)
      expect(encodeGeohash(cell.lat, cell.lon, hash.length)).toBe(hash)
    }), { numRuns: 1000 })
  })

  it('distance is symmetric, non-negative, at most half the circumference', () => {
    fc.assert(fc.property(latitude, longitude, latitude, longitude, (lat1, lon1, lat2, lon2) => {
      const a = { lat: lat1, lon: lon1 }
      const b = { lat: lat2, lon: lon2 }
      const d = distanceKm(a, b)
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThanOrEqual(Math.PI * EARTH_MEAN_RADIUS_KM + 1e-6)
      expect(distanceKm(b, a)).toBeCloseTo(d, 6)
    }), { numRuns: 500 })
  })
})
