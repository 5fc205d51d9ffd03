/**
 * How a map pin is shown, on the map and in the list alike: its kind as a
 * colour AND a shape AND a letter (never colour alone: a reader who does
 * not tell red from green still tells a triangle from a circle), its note
 * (untrusted text, always as text), how long ago it was placed, when it
 * expires, and how far it is from the reader's position.
 */
import type { ApiPin, ApiPinKind } from '../../api/collectives-types.js'
import type { LatLon } from './map-geometry.js'
import { h } from './dom.js'
import { longTime } from './format.js'
import { distanceKm } from './map-geometry.js'
import { timeLeft } from './post-view.js'

/** What tells each kind apart. */
export interface PinStyle {
  /** The word for the kind. */
  readonly label: string
  /** The letter drawn inside the marker. */
  readonly letter: string
  /** The marker's outline, a path around (0, 0) about 20 px across. */
  readonly shape: string
  /** The shape's name, said in the legend. */
  readonly shapeName: string
}

/** The hexagon of `other`: six corners at radius 10. */
const HEXAGON = `M${[0, 1, 2, 3, 4, 5].map((i) => {
  const angle = Math.PI / 6 + i * Math.PI / 3
  return `${(10 * Math.cos(angle)).toFixed(2)} ${(10 * Math.sin(angle)).toFixed(2)}`
}).join('L')}Z`

export const PIN_STYLES: Readonly<Record<ApiPinKind, PinStyle>> = {
  police: { label: 'Police', letter: 'P', shape: 'M-8.5 -8.5H8.5V8.5H-8.5Z', shapeName: 'square' },
  danger: { label: 'Danger', letter: '!', shape: 'M0 -11L10.5 8H-10.5Z', shapeName: 'triangle' },
  help: { label: 'Help needed', letter: '+', shape: 'M-9.5 0A9.5 9.5 0 1 0 9.5 0A9.5 9.5 0 1 0 -9.5 0Z', shapeName: 'circle' },
  info: { label: 'Information', letter: 'i', shape: 'M0 -11L11 0L0 11L-11 0Z', shapeName: 'diamond' },
  other: { label: 'Other', letter: '?', shape: HEXAGON, shapeName: 'hexagon' }
}

/** The style of `kind` (an unknown kind from a newer node shows as `other`). */
export function pinStyle (kind: string): PinStyle {
  return Object.hasOwn(PIN_STYLES, kind) ? PIN_STYLES[kind as ApiPinKind] : PIN_STYLES.other
}

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago". */
export function ageText (at: number, now = Date.now()): string {
  const minutes = Math.max(0, Math.round((now - at) / 60_000))
  if (minutes < 1) return 'just now'
  if (minutes < 90) return minutes === 1 ? '1 minute ago' : `${minutes} minutes ago`
  const hours = Math.round(minutes / 60)
  if (hours < 36) return `${hours} hours ago`
  return `${Math.round(hours / 24)} days ago`
}

/** "350 m", "3.2 km", "12 km". */
export function distanceText (km: number): string {
  if (km < 1) return `${Math.max(10, Math.round(km * 100) * 10)} m`
  if (km < 10) return `${km.toFixed(1)} km`
  return `${Math.round(km)} km`
}

/** The pin's distance from `position`, km, from its cell's centre; undefined without a position. */
export function pinDistance (pin: ApiPin, position: LatLon | undefined): number | undefined {
  return position === undefined ? undefined : distanceKm(position, pin)
}

/** Who placed it: "you", a name, the start of an id, or "someone anonymous". */
export function pinAuthor (pin: ApiPin): string {
  if (pin.mine) return 'you'
  if (pin.author === undefined) return 'someone anonymous'
  return pin.author.name ?? `someone ${pin.author.id.slice(0, 8)}`
}

/** Where it was posted: the world, or a group. */
export function pinAudience (pin: ApiPin): string {
  return pin.audience === 'world' ? 'the world' : `group ${pin.audience.group}`
}

/**
 * The pin in one sentence, for a marker's accessible name and the list:
 * kind, note, distance, age, expiry. `now` and `position` as shown.
 */
export function pinSummary (pin: ApiPin, position: LatLon | undefined, now = Date.now()): string {
  const distance = pinDistance(pin, position)
  return [
    `${pinStyle(pin.kind).label}: ${pin.note === '' ? '(no note)' : pin.note}`,
    distance === undefined ? undefined : `${distanceText(distance)} away`,
    `placed ${ageText(pin.sentAt, now)}`,
    timeLeft(pin.expiresAt, now)
  ].filter((part) => part !== undefined).join('. ')
}

/** A pin's details, as the map shows them when it is chosen: kind, note, who, when, until when, where, how far. */
export function pinDetails (pin: ApiPin, position: LatLon | undefined): HTMLElement[] {
  const style = pinStyle(pin.kind)
  const distance = pinDistance(pin, position)
  const time = (at: number, text: string): HTMLElement => h('time', { datetime: new Date(at).toISOString(), title: longTime(at) }, text)
  return [
    h('h3', null, `${style.label} (${style.shapeName}, “${style.letter}”)`),
    h('p', { class: 'post-text', dir: 'auto' }, pin.note === '' ? '(no note)' : pin.note),
    h('dl', { class: 'facts' },
      h('dt', null, 'Placed'), h('dd', null, time(pin.sentAt, ageText(pin.sentAt)), ' by ', h('bdi', null, pinAuthor(pin)), ', to ', h('bdi', null, pinAudience(pin))),
      h('dt', null, 'Expires'), h('dd', null, time(pin.expiresAt, timeLeft(pin.expiresAt))),
      h('dt', null, 'Where'), h('dd', null, `${pin.lat.toFixed(4)}, ${pin.lon.toFixed(4)} (area ${pin.geohash}${pin.latErrKm === undefined ? '' : `, ±${distanceText(pin.latErrKm)}`})`),
      distance === undefined ? null : [h('dt', null, 'From you'), h('dd', null, distanceText(distance))])
  ]
}
