/**
 * The offline map's arithmetic (client/web/src/map-geometry.ts), without a
 * browser: the world-atlas land outline decodes into rings of real
 * coordinates, no edge of its path jumps across the map at the
 * antimeridian, distances agree with the protocol's haversine (the filter
 * the browser computes is the node's), and typed positions are parsed or
 * refused with a sentence.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import {
  distanceKm, graticuleStep, multiplesWithin, parseLatLon, ringsPath, topologyRings, type Topology
} from '../../client/web/src/map-geometry.js'
import * as protocol from '../../protocol/index.js'

const land = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('world-atlas/land-110m.json'), 'utf8')) as Topology

describe('the offline map', () => {
  it('decodes the Natural Earth land outline into lon/lat rings', () => {
    const rings = topologyRings(land, 'land')
    expect(rings.length).toBeGreaterThan(100)
    const points = rings.flat()
    expect(points.length).toBeGreaterThan(4000)
    for (const [lon, lat] of points) {
      expect(Math.abs(lon)).toBeLessThanOrEqual(180 + 1e-9)
      expect(Math.abs(lat)).toBeLessThanOrEqual(90)
    }
    // A known place on land's edge: the decoded outline passes near Cape Town's coast (within 1°).
    expect(points.some(([lon, lat]) => Math.abs(lon - 18.4) < 1 && Math.abs(lat + 34.1) < 1)).toBe(true)
  })

  it('draws no edge across the whole map at the antimeridian', () => {
    const path = ringsPath(topologyRings(land, 'land'))
    let widest = 0
    for (const subpath of path.split('M').filter((p) => p !== '')) {
      const xs = subpath.replace('Z', '').split('L').map((pair) => Number(pair.split(' ')[0]))
      for (let i = 1; i < xs.length; i++) widest = Math.max(widest, Math.abs(xs[i]! - xs[i - 1]!))
    }
    // Plane units are degrees: the longest honest coast edge of the 1:110m outline is a few degrees; a seam jump would be ~360.
    expect(widest).toBeGreaterThan(1)
    expect(widest).toBeLessThan(60)
  })

  it('measures distances as the protocol does', () => {
    const berlin = { lat: 52.52, lon: 13.405 }
    const paris = { lat: 48.8566, lon: 2.3522 }
    expect(distanceKm(berlin, paris)).toBeCloseTo(protocol.distanceKm(berlin, paris), 6)
    expect(distanceKm(berlin, paris)).toBeGreaterThan(870)
    expect(distanceKm(berlin, paris)).toBeLessThan(885)
    expect(distanceKm(berlin, berlin)).toBe(0)
    // Across the antimeridian: short, not half the Earth.
    expect(distanceKm({ lat: 0, lon: 179.5 }, { lat: 0, lon: -179.5 })).toBeLessThan(112)
  })

  it('parses a typed position, or says what is wrong', () => {
    expect(parseLatLon('52.52, 13.405')).toEqual({ lat: 52.52, lon: 13.405 })
    expect(parseLatLon(' -33.86 151.21 ')).toEqual({ lat: -33.86, lon: 151.21 })
    expect(parseLatLon('north')).toMatch(/latitude, longitude/)
    expect(parseLatLon('91, 0')).toMatch(/latitude 91 is out of range/)
    expect(parseLatLon('0, 181')).toMatch(/longitude 181 is out of range/)
  })

  it('spaces the graticule to a few lines across the view', () => {
    expect(graticuleStep(360)).toBe(30)
    expect(graticuleStep(45)).toBe(10)
    expect(graticuleStep(0.5)).toBe(0.1)
    expect(multiplesWithin(-25, 25, 10)).toEqual([-20, -10, 0, 10, 20])
  })
})
