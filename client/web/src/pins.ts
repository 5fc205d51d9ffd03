/**
 * The Map screen: the pins this node holds on the offline map (map.ts) or
 * as a list, the reader's own position, a "within R km" filter, and a form
 * to place a pin.
 *
 * The reader's position (position.ts, shared with the feeds) is typed in by hand or read from the device when
 * they ask (navigator.geolocation), rounded to about 100 m (what the
 * filter needs), and kept in this browser only: for this tab's session
 * (sessionStorage), or on this device (localStorage) when they tick
 * "Remember", and forgotten on Sign out. It is never sent to the node or
 * anywhere. The node is asked for every pin it holds, and the distances
 * and the filters (distance, group) are computed here.
 *
 * Live updates redraw only what changed: list items by key, ages in place,
 * status lines only when their sentence changes.
 */
import type { ApiPin, ApiPinKind } from '../../api/collectives-types.js'
import { PIN_KINDS } from '../../api/collectives-types.js'
import {
  DEFAULT_PIN_PRECISION, DEFAULT_PIN_TTL_MINUTES, MAX_PIN_NOTE_CHARS
} from '../../api/collectives-content.js'
import { codePoints } from '../../api/post-content.js'
import type { AppContext, Screen } from './app.js'
import { radio } from './composer.js'
import { h, hiddenText, uniqueId } from './dom.js'
import { FOCUS_KEY, keyedList } from './keyed-list.js'
import { errorSentence, isApiError } from './format.js'
import { createWorldMap } from './map.js'
import { parseLatLon, type LatLon } from './map-geometry.js'
import {
  devicePosition, forgetStoredPosition, keepPosition, keepWithin, positionRemembered, storedPosition, storedWithin
} from './position.js'
import { ageText, distanceText, pinAudience, pinAuthor, pinDistance, PIN_STYLES, pinStyle } from './pin-view.js'
import { timeLeft } from './post-view.js'

/** How often expired pins leave the screen, and ages are redrawn. */
const REFRESH_MS = 30_000

/** Geohash precisions the form offers, with the size of their cells. */
const PRECISIONS: ReadonlyArray<{ value: number, label: string }> = [
  { value: 4, label: 'About 20 km (a city)' },
  { value: 5, label: 'About 5 km (a district)' },
  { value: 6, label: 'About 1 km (a neighbourhood)' },
  { value: 7, label: 'About 150 m (a street)' },
  { value: 8, label: 'About 40 m (a building)' },
  { value: 9, label: 'About 5 m (a spot)' }
]

/** Lifetimes the form offers, minutes. */
const LIFETIMES: ReadonlyArray<{ value: number, label: string }> = [
  { value: 10, label: '10 minutes' },
  { value: 60, label: '1 hour' },
  { value: 6 * 60, label: '6 hours' },
  { value: 24 * 60, label: '1 day' },
  { value: 3 * 24 * 60, label: '3 days' },
  { value: 7 * 24 * 60, label: '7 days' }
]

/** The reader's position lives in position.ts (shared with the feeds); these stay importable from here. */
export { forgetStoredPosition, storedPosition } from './position.js'

/** A small picture of a kind's marker (decoration: the kind's name is beside it). */
function kindIcon (kind: ApiPinKind): SVGSVGElement {
  const style = PIN_STYLES[kind]
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', '-12 -12 24 24')
  svg.setAttribute('class', `pin-icon pin-${kind}`)
  svg.setAttribute('aria-hidden', 'true')
  const shape = document.createElementNS(ns, 'path')
  shape.setAttribute('d', style.shape)
  shape.setAttribute('class', 'pin-shape')
  const letter = document.createElementNS(ns, 'text')
  letter.setAttribute('class', 'pin-letter')
  letter.setAttribute('text-anchor', 'middle')
  letter.setAttribute('dominant-baseline', 'central')
  letter.setAttribute('y', kind === 'danger' ? '2' : '0.5')
  letter.textContent = style.letter
  svg.append(shape, letter)
  return svg
}

/** The Map screen. */
export function pinsScreen (ctx: AppContext): Screen {
  const disposers: Array<() => void> = []
  const heading = h('h2', { tabindex: -1 }, 'Map')
  let pins: ApiPin[] = []
  let position = storedPosition()
  let withinKm = storedWithin()
  let view: 'map' | 'list' = 'map'
  /** Which pins to show: 'all', 'world', or 'group:NAME'. */
  let audienceFilter = 'all'

  // A click on the map puts its point in the pin form (when the form is open).
  const map = createWorldMap({ label: 'Map of pins', onPick: (point) => { form.pick(point) } })
  disposers.push(map.dispose)

  // Position: typed, or from the device on request; kept in this browser only.
  const positionInput = h('input', { id: uniqueId('position'), type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '52.52, 13.405' })
  const positionHint = h('p', { id: uniqueId('position-hint'), class: 'hint' },
    'Latitude, longitude. Rounded to about 100 m and kept only in this browser, for this session (or on this device if you tick Remember); forgotten when you sign out. Never sent to your node or to anyone: distances are computed here.')
  positionInput.setAttribute('aria-describedby', positionHint.id)
  const remember = h('input', { id: uniqueId('position-remember'), type: 'checkbox', checked: positionRemembered() })
  remember.addEventListener('change', () => {
    if (position !== undefined) keepPosition(position, remember.checked)
    if (withinKm !== undefined) keepWithin(withinKm, remember.checked)
    ctx.announce(remember.checked ? 'Your position is remembered on this device until you sign out.' : 'Your position is kept for this session only.')
  })
  const positionStatus = h('p', { role: 'status', class: 'hint' })
  const positionError = h('p', { class: 'error', role: 'alert' })
  const locate = h('button', { type: 'button', class: 'quiet', onclick: () => { useDeviceLocation() } }, 'Use this device\'s location')
  const forget = h('button', { type: 'button', class: 'quiet', onclick: () => { setPosition(undefined); positionInput.focus() } }, 'Forget my position')
  const positionForm = h('form', { class: 'position-form', 'aria-label': 'Set your position' },
    h('div', { class: 'field' }, h('label', { for: positionInput.id }, 'Your position'), h('div', { class: 'inline-field' }, positionInput, h('button', { type: 'submit' }, 'Set')), positionHint),
    h('div', { class: 'choice' }, remember, h('label', { for: remember.id }, 'Remember my position on this device (until I sign out)')),
    h('div', { class: 'actions' }, locate, forget),
    positionStatus, positionError)
  positionForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const parsed = parseLatLon(positionInput.value)
    if (typeof parsed === 'string') {
      positionError.textContent = parsed
      positionInput.setAttribute('aria-invalid', 'true')
      positionInput.focus()
      return
    }
    setPosition(parsed)
  })

  // The filter.
  const withinInput = h('input', { id: uniqueId('within'), type: 'number', min: '0.1', step: 'any', inputmode: 'decimal', class: 'narrow-input' })
  const withinHint = h('p', { id: uniqueId('within-hint'), class: 'hint' }, 'Only pins whose area\'s centre is this close to your position. Empty: every pin.')
  withinInput.setAttribute('aria-describedby', withinHint.id)
  withinInput.addEventListener('input', () => {
    const value = Number(withinInput.value)
    withinKm = withinInput.value.trim() !== '' && value > 0 && Number.isFinite(value) ? value : undefined
    keepWithin(withinKm, remember.checked)
    update()
  })
  const filterBox = h('div', { class: 'field' }, h('label', { for: withinInput.id }, 'Within (km)'), withinInput, withinHint)
  // Whose pins: all, the world's, or one group's.
  const audienceSelect = h('select', { id: uniqueId('pin-filter-audience') },
    h('option', { value: 'all' }, 'All pins'), h('option', { value: 'world' }, 'The world\'s pins'))
  audienceSelect.addEventListener('change', () => { audienceFilter = audienceSelect.value; update() })
  const audienceBox = h('div', { class: 'field' }, h('label', { for: audienceSelect.id }, 'Show'), audienceSelect)

  // Map or list.
  const mapButton = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'true', onclick: () => { setView('map') } }, 'Map')
  const listButton = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', onclick: () => { setView('list') } }, 'List')
  const viewToggle = h('div', { class: 'actions view-toggle', role: 'group', 'aria-label': 'Show pins as' }, mapButton, listButton)
  const count = h('p', { role: 'status', class: 'hint' }, 'Loading…')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const list = h('ol', { class: 'pin-list', 'aria-label': 'Pins' })
  const drawnList = keyedList(list, (pin: ApiPin) => pin.id, listItem, (pin) => JSON.stringify([pin, position]))
  const listSection = h('section', { class: 'pin-list-section', hidden: true, 'aria-label': 'Pins as a list' }, list)
  const mapSection = h('section', { class: 'pin-map-section', 'aria-label': 'Pins on the map' }, map.element)

  // Legend: every kind's shape, letter and name.
  const legend = h('ul', { class: 'pin-legend plain', 'aria-label': 'Kinds of pin' },
    PIN_KINDS.map((kind) => h('li', null, kindIcon(kind), ` ${PIN_STYLES[kind].label} (${PIN_STYLES[kind].shapeName})`)))

  const form = pinForm()

  function setPosition (next: LatLon | undefined): void {
    position = next
    positionError.textContent = ''
    positionInput.removeAttribute('aria-invalid')
    if (next === undefined) {
      forgetStoredPosition()
      withinKm = undefined
      withinInput.value = ''
      positionInput.value = ''
      ctx.announce('Your position is forgotten.')
    } else {
      position = keepPosition(next, remember.checked)
      positionInput.value = `${position.lat}, ${position.lon}`
      map.centreOn(position, 32)
    }
    update()
  }

  function useDeviceLocation (): void {
    positionError.textContent = ''
    positionStatus.textContent = 'Asking this device for its location…'
    devicePosition().then((found) => {
      setPosition(found)
      ctx.announce('Your position is set from this device.')
    }, (failure: unknown) => {
      positionStatus.textContent = ''
      positionError.textContent = (failure as Error).message
    })
  }

  function setView (next: 'map' | 'list'): void {
    view = next
    mapButton.setAttribute('aria-pressed', String(next === 'map'))
    listButton.setAttribute('aria-pressed', String(next === 'list'))
    mapSection.hidden = next !== 'map'
    listSection.hidden = next !== 'list'
  }

  /** The pins to show: unexpired, and within the radius when a position and a radius are set. */
  function visiblePins (now = Date.now()): ApiPin[] {
    const live = pins.filter((pin) => pin.expiresAt > now && (audienceFilter === 'all' ||
      (audienceFilter === 'world' ? pin.audience === 'world' : typeof pin.audience === 'object' && `group:${pin.audience.group}` === audienceFilter)))
    const filtered = position === undefined || withinKm === undefined ? live : live.filter((pin) => pinDistance(pin, position)! <= withinKm!)
    return position === undefined
      ? filtered.sort((a, b) => b.sentAt - a.sentAt)
      : filtered.sort((a, b) => pinDistance(a, position)! - pinDistance(b, position)!)
  }

  function listItem (pin: ApiPin): HTMLLIElement {
    const style = pinStyle(pin.kind)
    const distance = pinDistance(pin, position)
    const show = h('button', { type: 'button', class: 'quiet', [FOCUS_KEY]: 'show', onclick: () => { setView('map'); map.showPin(pin.id) } }, 'Show on map', hiddenText(`: ${style.label}, ${pin.note}`))
    return h('li', { class: 'pin-item', 'data-pin': pin.id },
      h('article', { 'aria-label': `${style.label}${distance === undefined ? '' : `, ${distanceText(distance)} away`}` },
        h('p', { class: 'pin-kind' }, kindIcon(pin.kind), ` ${style.label}`, distance === undefined ? null : h('span', { class: 'pin-distance' }, ` · ${distanceText(distance)} away`)),
        h('p', { class: 'post-text', dir: 'auto' }, pin.note === '' ? '(no note)' : pin.note),
        h('p', { class: 'post-meta' }, 'Placed ', h('span', { class: 'pin-age' }, ageText(pin.sentAt)), ' by ', h('bdi', null, pinAuthor(pin)), ', to ', h('bdi', null, pinAudience(pin)),
          ' · ', h('span', { class: 'pin-left' }, timeLeft(pin.expiresAt))),
        show))
  }

  /** Sets a status line's sentence only when it changed: an unchanged one is not announced again. */
  function say (line: HTMLElement, text: string): void {
    if (line.textContent !== text) line.textContent = text
  }

  function update (): void {
    const now = Date.now()
    const shown = visiblePins(now)
    const total = pins.filter((pin) => pin.expiresAt > now).length
    map.setPins(shown)
    map.setPosition(position, withinKm)
    drawnList.update(shown)
    // Ages and times left move on in place (the items stay, and so does focus).
    for (const pin of shown) {
      const item = drawnList.element(pin.id)
      if (item === undefined) continue
      say(item.querySelector<HTMLElement>('.pin-age')!, ageText(pin.sentAt, now))
      say(item.querySelector<HTMLElement>('.pin-left')!, timeLeft(pin.expiresAt))
    }
    withinInput.disabled = position === undefined
    if (withinKm !== undefined && withinInput.value === '') withinInput.value = String(withinKm)
    forget.hidden = position === undefined
    say(positionStatus, position === undefined
      ? 'No position set: pins are not filtered by distance.'
      : `Your position: ${position.lat.toFixed(3)}, ${position.lon.toFixed(3)} (in this browser only).`)
    const filtering = position !== undefined && withinKm !== undefined
    const whose = audienceFilter === 'all' ? '' : audienceFilter === 'world' ? ' for the world' : ` of @${audienceFilter.slice('group:'.length)}`
    say(count, total === 0
      ? 'No pins yet. Pins placed by others appear here as they arrive.'
      : filtering
        ? `Showing ${shown.length} of ${total} pins: those${whose} within ${withinKm} km of your position.`
        : audienceFilter !== 'all'
          ? `Showing ${shown.length} of ${total} pins: those${whose}${position === undefined ? ', newest first' : ', nearest first'}.`
          : `Showing all ${total} pins${position === undefined ? ', newest first' : ', nearest first'}.`)
  }

  async function load (): Promise<void> {
    try {
      pins = await ctx.client.pins()
      errorBox.textContent = ''
    } catch (error) {
      errorBox.textContent = isApiError(error, 'not_available') ? 'This node does not keep map pins yet.' : errorSentence(error)
    }
    update()
  }

  function receive (pin: ApiPin): void {
    pins = [...pins.filter((p) => p.id !== pin.id), pin]
    update()
    if (!pin.mine) ctx.announce(`New pin: ${pinStyle(pin.kind).label}${position === undefined ? '' : `, ${distanceText(pinDistance(pin, position)!)} away`}.`)
  }

  /** The form that places a pin; `pick` fills its place from the map. */
  function pinForm (): { element: HTMLElement, pick: (point: LatLon) => void } {
    const kindName = uniqueId('pin-kind')
    const kinds = h('fieldset', { class: 'choices' }, h('legend', null, 'Kind'),
      PIN_KINDS.map((kind, i) => radio(kindName, kind, PIN_STYLES[kind].label, i === 0)))
    const note = h('textarea', { id: uniqueId('pin-note'), rows: 2, autocomplete: 'off' })
    const counter = h('p', { id: uniqueId('pin-counter'), class: 'hint' })
    note.setAttribute('aria-describedby', counter.id)
    const updateCounter = (): void => { counter.textContent = `${codePoints(note.value)} of ${MAX_PIN_NOTE_CHARS} characters` }
    note.addEventListener('input', updateCounter)
    updateCounter()
    const where = h('input', { id: uniqueId('pin-where'), type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '52.52, 13.405' })
    const whereHint = h('p', { id: uniqueId('pin-where-hint'), class: 'hint' }, 'Latitude, longitude of the pin (or click the map while this form is open): this is sent, cut to the area below.')
    where.setAttribute('aria-describedby', whereHint.id)
    const setWhere = (point: LatLon): void => { where.value = `${Number(point.lat.toFixed(6))}, ${Number(point.lon.toFixed(6))}` }
    const here = h('button', { type: 'button', class: 'quiet', onclick: () => { if (position !== undefined) setWhere(position) } }, 'Use my position')
    const centre = h('button', { type: 'button', class: 'quiet', onclick: () => { setWhere(map.centre()) } }, 'Use the map\'s centre')
    const precision = h('select', { id: uniqueId('pin-precision') }, PRECISIONS.map((p) => h('option', { value: p.value, selected: p.value === DEFAULT_PIN_PRECISION }, p.label)))
    const lifetime = h('select', { id: uniqueId('pin-lifetime') }, LIFETIMES.map((l) => h('option', { value: l.value, selected: l.value === DEFAULT_PIN_TTL_MINUTES }, l.label)))
    const audience = h('select', { id: uniqueId('pin-audience') }, h('option', { value: 'world' }, 'Everyone (the world)'))
    const anonymous = h('input', { id: uniqueId('pin-anonymous'), type: 'checkbox' })
    const button = h('button', { type: 'submit' }, 'Place pin')
    const formError = h('p', { class: 'error', role: 'alert' })
    const element = h('form', { 'aria-label': 'Place a pin' },
      kinds,
      h('div', { class: 'field' }, h('label', { for: note.id }, 'Note'), note, counter),
      h('div', { class: 'field' }, h('label', { for: where.id }, 'Where'), where, h('div', { class: 'actions' }, here, centre), whereHint),
      h('div', { class: 'compose-options' },
        h('div', { class: 'field' }, h('label', { for: precision.id }, 'Area'), precision),
        h('div', { class: 'field' }, h('label', { for: lifetime.id }, 'Lifetime'), lifetime),
        h('div', { class: 'field' }, h('label', { for: audience.id }, 'Who sees it'), audience)),
      h('div', { class: 'choice' }, anonymous, h('label', { for: anonymous.id }, 'Anonymous (one-time keys: your name is not attached)')),
      button, formError)

    // Groups we are a member of, as audiences (none when the node has no groups).
    void ctx.client.groups().then((groups) => {
      for (const group of groups.filter((g) => g.membership === 'member')) {
        audience.append(h('option', { value: `group:${group.name}` }, `Group @${group.name}`))
        audienceSelect.append(h('option', { value: `group:${group.name}` }, `Pins of @${group.name}`))
      }
    }, () => {})

    element.addEventListener('submit', (event) => {
      event.preventDefault()
      void (async () => {
        formError.textContent = ''
        const point = parseLatLon(where.value)
        if (typeof point === 'string') { formError.textContent = point; where.focus(); return }
        if (codePoints(note.value) > MAX_PIN_NOTE_CHARS) { formError.textContent = `A note holds at most ${MAX_PIN_NOTE_CHARS} characters; shorten it.`; note.focus(); return }
        const kind = element.querySelector<HTMLInputElement>(`input[name="${kindName}"]:checked`)?.value as ApiPinKind | undefined ?? 'other'
        const hadFocus = document.activeElement === button
        button.disabled = true
        try {
          const placed = await ctx.client.addPin({
            kind,
            note: note.value,
            lat: point.lat,
            lon: point.lon,
            precision: Number(precision.value),
            ttlMinutes: Number(lifetime.value),
            audience: audience.value.startsWith('group:') ? { group: audience.value.slice('group:'.length) } : 'world',
            anonymous: anonymous.checked
          })
          note.value = ''
          updateCounter()
          receive(placed)
          ctx.announce(`Pin placed: ${pinStyle(placed.kind).label}.`)
        } catch (error) {
          formError.textContent = errorSentence(error)
        } finally {
          button.disabled = false
          if (hadFocus) button.focus()
        }
      })()
    })
    const fold = h('details', { class: 'card' }, h('summary', { class: 'composer-summary' }, 'Place a pin'), element)
    return {
      element: fold,
      pick (point) {
        if (!fold.open) return
        setWhere(point)
        ctx.announce(`Pin place set to ${point.lat.toFixed(4)}, ${point.lon.toFixed(4)}.`)
      }
    }
  }

  disposers.push(ctx.live.on('pin', (event) => { receive(event.pin) }))
  disposers.push(ctx.live.on('hello', () => { void load() }))
  const timer = setInterval(() => { update() }, REFRESH_MS)
  disposers.push(() => { clearInterval(timer) })

  if (position !== undefined) {
    positionInput.value = `${position.lat}, ${position.lon}`
    map.centreOn(position, 32)
  }
  if (withinKm !== undefined) withinInput.value = String(withinKm)
  setView(view)
  update()
  void load()

  // The map first; where the reader is and how far to look right under it.
  const element = h('section', { class: 'page map-page' },
    heading, viewToggle, count, errorBox, mapSection, listSection,
    h('div', { class: 'card' }, positionForm, filterBox, audienceBox),
    legend, form.element)
  return {
    title: 'Map',
    element,
    focus: heading,
    dispose () { for (const dispose of disposers) dispose() }
  }
}
