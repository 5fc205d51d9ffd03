/**
 * The reader's own position, kept in this browser and nowhere else: the
 * Map screen, the composer's "Add my area" and the feeds' "Near me" filters
 * share it. It is typed in by hand or read from the device when the reader
 * asks (navigator.geolocation), rounded to POSITION_DECIMALS, and kept for
 * this tab's session (sessionStorage), or on this device (localStorage)
 * when they tick "Remember" on the Map screen; Sign out forgets it.
 *
 * Nothing here sends it anywhere. Distances and filters are computed in the
 * browser; only the composer's "Add my area" sends a point, and then to the
 * reader's own node, which cuts it to a geohash cell before sealing the post.
 */
import { h, uniqueId } from './dom.js'
import { distanceKm, isLatLon, parseLatLon, type LatLon } from './map-geometry.js'

/** Storage keys: the reader's position and the Map's radius stay in this browser. */
const POSITION_KEY = 'komrade.map.position'
const WITHIN_KEY = 'komrade.map.withinKm'
/**
 * Decimals of a degree the position is kept to: 3 is about 110 m of
 * latitude, finer than the smallest radius worth filtering by and coarse
 * enough not to name a house.
 */
const POSITION_DECIMALS = 3

/** Listeners told when the position is set or forgotten (a screen that shows distances redraws). */
const listeners = new Set<(position: LatLon | undefined) => void>()

/** A point rounded to POSITION_DECIMALS. */
export function roundedPosition (point: LatLon): LatLon {
  const factor = 10 ** POSITION_DECIMALS
  return { lat: Math.round(point.lat * factor) / factor, lon: Math.round(point.lon * factor) / factor }
}

/** The storages that may hold the position: this device's, then this session's. */
function storages (): Storage[] {
  const found: Storage[] = []
  try { found.push(localStorage) } catch {}
  try { found.push(sessionStorage) } catch {}
  return found
}

/** Whether the position is remembered on this device (localStorage) rather than for the session. */
export function positionRemembered (): boolean {
  try { return localStorage.getItem(POSITION_KEY) !== null } catch { return false }
}

/** The stored position, if any (anything else in the key is ignored). */
export function storedPosition (): LatLon | undefined {
  for (const storage of storages()) {
    try {
      const value = JSON.parse(storage.getItem(POSITION_KEY) ?? 'null') as unknown
      if (value !== null && typeof value === 'object' && isLatLon(value as { lat: unknown, lon: unknown })) return roundedPosition(value as LatLon)
    } catch {}
  }
  return undefined
}

/** Keeps `key` in this device's storage when `remember`, else in this session's only. */
function store (key: string, value: string | undefined, remember: boolean): void {
  for (const storage of storages()) {
    try { storage.removeItem(key) } catch {}
  }
  if (value === undefined) return
  try { (remember ? localStorage : sessionStorage).setItem(key, value) } catch {}
}

/**
 * Keeps `point` (rounded) as the reader's position, on this device when
 * `remember` (by default: where it was kept before), and tells the
 * listeners. Returns the rounded point.
 */
export function keepPosition (point: LatLon, remember: boolean = positionRemembered()): LatLon {
  const position = roundedPosition(point)
  store(POSITION_KEY, JSON.stringify(position), remember)
  for (const listener of listeners) listener(position)
  return position
}

/** Forgets the reader's position and the Map's radius in both storages (Sign out and "Forget my position" call it). */
export function forgetStoredPosition (): void {
  store(POSITION_KEY, undefined, false)
  store(WITHIN_KEY, undefined, false)
  for (const listener of listeners) listener(undefined)
}

/** Calls `listener` whenever the position is set or forgotten; returns the way to stop. */
export function onPositionChange (listener: (position: LatLon | undefined) => void): () => void {
  listeners.add(listener)
  return () => { listeners.delete(listener) }
}

/** The Map screen's radius, km, if one is kept. */
export function storedWithin (): number | undefined {
  for (const storage of storages()) {
    try {
      const value = Number(storage.getItem(WITHIN_KEY) ?? '')
      if (value > 0 && Number.isFinite(value)) return value
    } catch {}
  }
  return undefined
}

/** Keeps the Map screen's radius beside the position (undefined forgets it). */
export function keepWithin (km: number | undefined, remember: boolean): void {
  store(WITHIN_KEY, km === undefined ? undefined : String(km), remember)
}

/** Asks the device for its location (the browser asks the reader first); rejects with a sentence saying what to do. */
export async function devicePosition (): Promise<LatLon> {
  if (!('geolocation' in navigator)) throw new Error('This browser cannot tell its location; type your position instead.')
  return await new Promise((resolve, reject) => {
    navigator.geolocation.getCurrentPosition((found) => { resolve({ lat: found.coords.latitude, lon: found.coords.longitude }) }, (failure) => {
      reject(new Error(failure.code === failure.PERMISSION_DENIED
        ? 'The browser was not allowed to tell the location; type your position instead.'
        : 'The device could not find its location; type your position instead.'))
    }, { enableHighAccuracy: false, timeout: 20_000, maximumAge: 60_000 })
  })
}

/** A distance in words: "850 m", "3.2 km", "120 km". */
export function distanceText (km: number): string {
  if (km < 1) return `${Math.max(10, Math.round(km * 100) * 10)} m`
  if (km < 10) return `${km.toFixed(1)} km`
  return `${Math.round(km)} km`
}

/** "≈ 5 km area": the size of a place's cell, from its larger half-extent. */
export function areaText (errKm: number): string {
  return `≈ ${distanceText(2 * errKm)} area`
}

/** "≈ 5 km area, 3.2 km from you" (without the distance when the reader's position is unknown). */
export function placeText (place: LatLon & { errKm: number }, from: LatLon | undefined): string {
  return from === undefined ? areaText(place.errKm) : `${areaText(place.errKm)}, ${distanceText(distanceKm(from, place))} from you`
}

/**
 * A small form that asks for the reader's position when none is kept:
 * typed, or from this device on request. `onSet` gets the rounded point,
 * already kept (for this session, unless the reader chose to remember it).
 */
export function positionAsker (purpose: string, onSet: (position: LatLon) => void): { element: HTMLElement, focus: () => void } {
  const input = h('input', { id: uniqueId('ask-position'), type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '52.52, 13.405' })
  const hint = h('p', { id: uniqueId('ask-position-hint'), class: 'hint' },
    `${purpose} Latitude, longitude; rounded to about 100 m and kept only in this browser for this session (the Map screen can remember it).`)
  input.setAttribute('aria-describedby', hint.id)
  const error = h('p', { class: 'error', role: 'alert' })
  const set = (point: LatLon): void => {
    error.textContent = ''
    input.removeAttribute('aria-invalid')
    onSet(keepPosition(point))
  }
  const setButton = h('button', { type: 'button', onclick: () => {
    const parsed = parseLatLon(input.value)
    if (typeof parsed === 'string') { error.textContent = parsed; input.setAttribute('aria-invalid', 'true'); input.focus(); return }
    set(parsed)
  } }, 'Set my position')
  // Enter in the field sets it (the asker may sit inside another form: it must not submit that one).
  input.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return
    event.preventDefault()
    setButton.click()
  })
  const device = h('button', { type: 'button', class: 'quiet', onclick: () => {
    error.textContent = ''
    devicePosition().then(set, (failure: unknown) => { error.textContent = (failure as Error).message })
  } }, 'Use this device\'s location')
  const element = h('div', { class: 'position-asker' },
    h('div', { class: 'field' }, h('label', { for: input.id }, 'Your position'), h('div', { class: 'inline-field' }, input, setButton), hint),
    h('div', { class: 'actions' }, device), error)
  return { element, focus: () => { input.focus() } }
}

/** A "Near me: within R km" filter's state: off, or the reader's point and radius. */
export type NearFilterState = { readonly point: LatLon, readonly km: number } | undefined

/** Radius the filter starts with, km: a town and its surroundings. */
const DEFAULT_NEAR_KM = 10
/** The radius chosen last, for the session's other feeds (kept in memory only). */
let lastNearKm = DEFAULT_NEAR_KM

/**
 * The "Near me: within R km" control of a feed: a checkbox, the radius,
 * and, when no position is kept yet, the asker. `onChange` gets the new
 * state; `current()` reads it. Everything stays in the browser.
 */
export function nearFilterControl (what: string, onChange: (state: NearFilterState) => void): { element: HTMLElement, current: () => NearFilterState, dispose: () => void } {
  const toggle = h('input', { id: uniqueId('near-me'), type: 'checkbox', class: 'near-toggle' })
  const km = h('input', { id: uniqueId('near-km'), type: 'number', min: '0.1', step: 'any', inputmode: 'decimal', class: 'narrow-input near-km', value: String(lastNearKm) })
  const hint = h('p', { id: uniqueId('near-hint'), class: 'hint' },
    `Shows only ${what} whose author gave an area with its centre this close to your position. Computed in this browser: your position is sent to no one.`)
  km.setAttribute('aria-describedby', hint.id)
  const status = h('p', { class: 'hint near-status', role: 'status' })
  const asker = positionAsker('The filter needs your position.', () => { refresh(); changed() })
  asker.element.hidden = true

  function current (): NearFilterState {
    const point = storedPosition()
    const radius = Number(km.value)
    if (!toggle.checked || point === undefined || !(radius > 0) || !Number.isFinite(radius)) return undefined
    return { point, km: radius }
  }
  function refresh (): void {
    const point = storedPosition()
    asker.element.hidden = !toggle.checked || point !== undefined
    const text = !toggle.checked ? '' : point === undefined ? 'Set your position to filter.' : `From your position ${point.lat.toFixed(3)}, ${point.lon.toFixed(3)}.`
    if (status.textContent !== text) status.textContent = text
  }
  function changed (): void { onChange(current()) }
  toggle.addEventListener('change', () => {
    refresh()
    changed()
    if (toggle.checked && storedPosition() === undefined) asker.focus()
  })
  km.addEventListener('input', () => {
    const radius = Number(km.value)
    if (radius > 0 && Number.isFinite(radius)) lastNearKm = radius
    changed()
  })
  const stop = onPositionChange(() => { refresh(); changed() })
  const element = h('div', { class: 'near-filter', role: 'group', 'aria-label': `Filter ${what} by distance` },
    h('div', { class: 'near-row' },
      h('div', { class: 'choice' }, toggle, h('label', { for: toggle.id }, 'Near me')),
      h('label', { for: km.id }, 'within', h('span', { class: 'visually-hidden' }, ' (km)')), km, h('span', { 'aria-hidden': 'true' }, 'km')),
    hint, status, asker.element)
  refresh()
  return { element, current, dispose: stop }
}
