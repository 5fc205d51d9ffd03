/**
 * The arithmetic of the offline map, free of the DOM: the world's land
 * decoded from TopoJSON (the `world-atlas` package's Natural Earth outline,
 * bundled with the UI, so no tile server is ever asked), the
 * equirectangular projection the map draws in, great-circle distances
 * (haversine) for the "within R km" filter, the graticule's spacing, and a
 * typed-in position. Distances are computed here, in the browser: the
 * reader's position never leaves it.
 */

/** Mean Earth radius, km (IUGG), the one geohash distance tables use too. */
export const EARTH_RADIUS_KM = 6371.0088

/** A point on Earth, degrees. */
export interface LatLon {
  readonly lat: number
  readonly lon: number
}

/** The parts of a TopoJSON topology the map reads (TopoJSON spec §2: quantized, delta-encoded arcs). */
export interface Topology {
  readonly type: 'Topology'
  readonly transform?: { readonly scale: readonly [number, number], readonly translate: readonly [number, number] }
  readonly arcs: ReadonlyArray<ReadonlyArray<readonly [number, number]>>
  readonly objects: Record<string, TopologyObject>
}

/** A geometry of a topology: polygons are lists of rings, rings lists of arc indexes (~i: arc i reversed). */
export type TopologyObject =
  | { readonly type: 'GeometryCollection', readonly geometries: readonly TopologyObject[] }
  | { readonly type: 'Polygon', readonly arcs: ReadonlyArray<readonly number[]> }
  | { readonly type: 'MultiPolygon', readonly arcs: ReadonlyArray<ReadonlyArray<readonly number[]>> }
  | { readonly type: string }

/** A closed ring of points as [lon, lat]. */
export type Ring = Array<[number, number]>

/**
 * The rings of every polygon of `object` in `topology`, as lon/lat points.
 * Arcs are decoded once (delta-decoded, then scaled by the transform); a
 * ring joins its arcs, dropping the point each arc shares with the previous.
 */
export function topologyRings (topology: Topology, object: string): Ring[] {
  const [sx, sy] = topology.transform?.scale ?? [1, 1]
  const [tx, ty] = topology.transform?.translate ?? [0, 0]
  const quantized = topology.transform !== undefined
  const arcs = topology.arcs.map((arc) => {
    let x = 0
    let y = 0
    return arc.map(([dx, dy]): [number, number] => {
      if (!quantized) return [dx, dy]
      x += dx
      y += dy
      return [x * sx + tx, y * sy + ty]
    })
  })
  const ring = (indexes: readonly number[]): Ring => {
    const points: Ring = []
    for (const index of indexes) {
      const arc = index < 0 ? [...(arcs[~index] ?? [])].reverse() : arcs[index] ?? []
      points.push(...(points.length === 0 ? arc : arc.slice(1)))
    }
    return points
  }
  const rings: Ring[] = []
  const visit = (geometry: TopologyObject | undefined): void => {
    if (geometry === undefined) return
    if (geometry.type === 'GeometryCollection' && 'geometries' in geometry) for (const child of geometry.geometries) visit(child)
    else if (geometry.type === 'Polygon' && 'arcs' in geometry) for (const r of geometry.arcs as ReadonlyArray<readonly number[]>) rings.push(ring(r))
    else if (geometry.type === 'MultiPolygon' && 'arcs' in geometry) {
      for (const polygon of geometry.arcs as ReadonlyArray<ReadonlyArray<readonly number[]>>) for (const r of polygon) rings.push(ring(r))
    }
  }
  visit(topology.objects[object])
  return rings
}

/**
 * A ring's longitudes made continuous: a step of more than 180° is the
 * same step the short way round the antimeridian (Natural Earth leaves a
 * few rings across it: Fiji, Chukotka, Wrangel Island). The result may
 * leave [-180, 180] by a few degrees; {@link ringsPath} draws such a ring
 * twice, once shifted by 360°, so both sides of the map show their part.
 */
function unwrapped (ring: Ring): Ring {
  const out: Ring = []
  let offset = 0
  let previous: number | undefined
  for (const [lon, lat] of ring) {
    if (previous !== undefined) {
      const step = lon + offset - previous
      if (step > 180) offset -= 360
      else if (step < -180) offset += 360
    }
    previous = lon + offset
    out.push([previous, lat])
  }
  return out
}

/**
 * An SVG path of `rings` in the map's unit plane: x = lon + 180 (0..360),
 * y = 90 - lat (0..180), so one unit is one degree and the map scales it by
 * one transform. Coordinates are rounded to 0.01° (about 1 km), far finer
 * than the 1:110m outline itself. Fill it with `evenodd`: holes are rings too.
 */
export function ringsPath (rings: readonly Ring[]): string {
  const parts: string[] = []
  const subpath = (ring: Ring, shift: number): string => `M${ring.map(([lon, lat]) => `${round(lon + shift + 180)} ${round(90 - lat)}`).join('L')}Z`
  for (const ring of rings) {
    if (ring.length < 3) continue
    const continuous = unwrapped(ring)
    const lons = continuous.map(([lon]) => lon)
    parts.push(subpath(continuous, 0))
    if (Math.min(...lons) < -180) parts.push(subpath(continuous, 360))
    if (Math.max(...lons) > 180) parts.push(subpath(continuous, -360))
  }
  return parts.join('')
}

function round (value: number): number {
  return Math.round(value * 100) / 100
}

/** Great-circle distance between two points, km (the haversine formula). */
export function distanceKm (a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLon = (b.lon - a.lon) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)))
}

/** True for a latitude and longitude in range. */
export function isLatLon (value: { lat: unknown, lon: unknown }): value is LatLon {
  return typeof value.lat === 'number' && typeof value.lon === 'number' && Number.isFinite(value.lat) && Number.isFinite(value.lon) &&
    Math.abs(value.lat) <= 90 && Math.abs(value.lon) <= 180
}

/**
 * A position typed by hand: "lat, lon" in decimal degrees ("52.52, 13.405"),
 * a comma or spaces between them. A sentence saying what is wrong otherwise.
 */
export function parseLatLon (text: string): LatLon | string {
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*(?:,\s*|\s+)(-?\d+(?:\.\d+)?)\s*$/.exec(text)
  if (match === null) return 'Write the position as latitude, longitude in decimal degrees, such as 52.52, 13.405.'
  const point = { lat: Number(match[1]), lon: Number(match[2]) }
  if (Math.abs(point.lat) > 90) return `The latitude ${match[1]!} is out of range: it is between -90 and 90 (write latitude first).`
  if (Math.abs(point.lon) > 180) return `The longitude ${match[2]!} is out of range: it is between -180 and 180.`
  return point
}

/** Graticule spacings, degrees: the map picks the widest that still draws a few lines across the view. */
const GRATICULE_STEPS = [30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01]

/** The graticule spacing for a view `spanDegrees` wide: at least four lines across. */
export function graticuleStep (spanDegrees: number): number {
  return GRATICULE_STEPS.find((step) => spanDegrees / step >= 4) ?? GRATICULE_STEPS[GRATICULE_STEPS.length - 1]!
}

/** The multiples of `step` within [from, to]. */
export function multiplesWithin (from: number, to: number, step: number): number[] {
  const values: number[] = []
  for (let i = Math.ceil(from / step); i * step <= to + 1e-9; i++) values.push(Number((i * step).toFixed(6)))
  return values
}

/** The km per degree of latitude (and of longitude at the equator). */
export const KM_PER_DEGREE = (Math.PI / 180) * EARTH_RADIUS_KM
