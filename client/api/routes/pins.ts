/**
 * Map pins (DESIGN §7, SPEC §15.10): placing one (police, danger, help,
 * info, other) for the world or a group, named or anonymous, for 10 minutes
 * to 7 days; and the pins this node holds, filtered on the node by group and
 * distance when asked. The web UI never asks with a position: it filters in
 * the browser, so the reader's position stays there.
 */
import type { PinInput, PinKind } from '../../../node/collectives/types.js'
import { apiPin } from '../collectives-shapes.js'
import { PIN_KINDS } from '../collectives-types.js'
import {
  DEFAULT_PIN_PRECISION, DEFAULT_PIN_TTL_MINUTES, MAX_PIN_GEOHASH, MAX_PIN_NOTE_CHARS, MAX_PIN_TTL_MINUTES, MAX_WITHIN_KM, MIN_PIN_TTL_MINUTES
} from '../collectives-content.js'
import { KomradeApiError } from '../errors.js'
import type { Route } from '../router.js'
import { booleanField, choiceField, groupParam, latLonFields, nodeCall, pinsOf, textField, wholeField } from './collectives-input.js'

/** `near=lat,lon` of a query. */
function nearParam (raw: string): { lat: number, lon: number } {
  const match = /^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(raw.replace(/\s+/g, ''))
  const point = match === null ? undefined : { lat: Number(match[1]), lon: Number(match[2]) }
  if (point === undefined || Math.abs(point.lat) > 90 || Math.abs(point.lon) > 180) {
    throw new KomradeApiError('bad_request', 'The query parameter "near" must be LAT,LON in decimal degrees (latitude -90 to 90, longitude -180 to 180), such as near=52.52,13.405')
  }
  return point
}

/** `withinKm=R` of a query: a distance above 0, at most half the Earth's circumference. */
function withinParam (raw: string): number {
  const km = /^\d+(?:\.\d+)?$/.test(raw) ? Number(raw) : NaN
  if (!(km > 0 && km <= MAX_WITHIN_KM)) throw new KomradeApiError('bad_request', `The query parameter "withinKm" must be a distance in km above 0 and at most ${MAX_WITHIN_KM}`)
  return km
}

/** The checked body of POST /api/pins. */
function pinInput (body: Record<string, unknown>): PinInput {
  const kind = choiceField<PinKind>(body, 'kind', PIN_KINDS)
  const note = textField(body, 'note', MAX_PIN_NOTE_CHARS) ?? ''
  const { lat, lon } = latLonFields(body)
  const precision = wholeField(body, 'precision', 1, MAX_PIN_GEOHASH) ?? DEFAULT_PIN_PRECISION
  const ttlMinutes = wholeField(body, 'ttlMinutes', MIN_PIN_TTL_MINUTES, MAX_PIN_TTL_MINUTES) ?? DEFAULT_PIN_TTL_MINUTES
  const audienceRaw = body.audience ?? 'world'
  let audience: PinInput['audience']
  if (audienceRaw === 'world') audience = 'world'
  else if (audienceRaw !== null && typeof audienceRaw === 'object' && !Array.isArray(audienceRaw) && typeof (audienceRaw as { group?: unknown }).group === 'string') {
    audience = { group: groupParam((audienceRaw as { group: string }).group, 'audience.group') }
  } else {
    throw new KomradeApiError('bad_request', 'The field "audience" must be "world" or { "group": NAME }')
  }
  const anonymous = booleanField(body, 'anonymous')
  return { kind, note, lat, lon, precision, ttlMinutes, audience, ...(anonymous === undefined ? {} : { anonymous }) }
}

export const pinRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/pins',
    async handle ({ query, services }) {
      const near = query.get('near')
      const within = query.get('withinKm')
      const group = query.get('group')
      if (within !== null && near === null) throw new KomradeApiError('bad_request', 'The query parameter "withinKm" needs "near" (the point to measure from)')
      const options = {
        ...(near === null ? {} : { near: nearParam(near) }),
        ...(within === null ? {} : { withinKm: withinParam(within) }),
        ...(group === null ? {} : { group: groupParam(group) })
      }
      return { body: { pins: (await nodeCall(async () => await pinsOf(services.node).list(options))).map(apiPin) } }
    }
  },
  {
    method: 'POST',
    path: '/api/pins',
    async handle ({ body, services, signal }) {
      const input = pinInput(await body())
      return { body: apiPin(await nodeCall(async () => await pinsOf(services.node).add(input, { signal }))) }
    }
  }
]
