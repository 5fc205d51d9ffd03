/**
 * The offline map: an SVG of the world's land (Natural Earth 1:110m, from
 * the `world-atlas` package, bundled: no tile server, no request to anyone
 * but our own origin), a graticule, the pins as markers, and the reader's
 * own position with the circle of the "within R km" filter.
 *
 * Equirectangular: x is longitude and y latitude, both linear, so one
 * transform places the land and the markers alike, and the view is a centre
 * and a zoom. Markers are drawn in screen pixels (they keep their size as
 * the map zooms); the land scales with its strokes kept thin
 * (non-scaling-stroke).
 *
 * Operable without a pointer: the map frame takes the arrow keys (pan) and
 * + / − / 0 (zoom, reset), the buttons above it do the same, and the pins
 * are buttons behind one Tab stop (a roving tabindex): the arrow keys move
 * from pin to pin, west to east, Home and End to the first and last,
 * Escape back to the map; Enter or Space shows a pin's details. A pin
 * focused outside the view brings the view to it.
 *
 * The page stays scrollable over the map: the wheel zooms only with Ctrl
 * (or ⌘) or once the map has focus, and a vertical swipe scrolls the page
 * until the map is tapped (CSS `touch-action`).
 *
 * Live updates (pins arriving, the 30 s refresh) add and remove markers
 * without moving the others, so a focused marker keeps focus; the details
 * of the selected pin are redrawn only when what they show changed.
 */
import type { ApiPin } from '../../api/collectives-types.js'
import { h, hiddenText, replaceChildren, uniqueId } from './dom.js'
import { graticuleStep, KM_PER_DEGREE, multiplesWithin, ringsPath, topologyRings, type LatLon, type Topology } from './map-geometry.js'
import { PIN_STYLES, pinDetails, pinStyle, pinSummary } from './pin-view.js'

/** Zoom 1 shows the whole world; each step of the buttons doubles it. 1024: a view about 40 km wide on a laptop. */
export const MIN_ZOOM = 1
export const MAX_ZOOM = 1024
/** Zoom a pin is shown at when asked for ("Show on map"). */
const PIN_ZOOM = 64
/** Share of the view an arrow key moves it by. */
const PAN_STEP = 0.2
/** How far (px) a press may move and still be a click that picks a point, not a drag. */
const PICK_SLOP_PX = 4
/** Width assumed until the frame has been measured (px). */
const DEFAULT_WIDTH = 800
/** The map is twice as wide as high: the whole world at zoom 1, equirectangular. */
const ASPECT = 2

const SVG_NS = 'http://www.w3.org/2000/svg'

/** An SVG element with attributes. */
function s<K extends keyof SVGElementTagNameMap> (tag: K, attributes: Record<string, string | number> = {}, ...children: Array<SVGElement | string>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value))
  for (const child of children) element.append(child)
  return element
}

/** The land's path, decoded once per page (the outline is some 55 KB of TopoJSON, loaded as its own chunk). */
let landPath: Promise<string> | undefined
async function loadLand (): Promise<string> {
  landPath ??= import('world-atlas/land-110m.json').then((module) => ringsPath(topologyRings(module.default as unknown as Topology, 'land')))
  landPath.catch(() => { landPath = undefined })
  return await landPath
}

/** The view: what the centre of the map shows, and how far in. */
interface View {
  lat: number
  lon: number
  zoom: number
}

/** Options of {@link createWorldMap}. */
export interface WorldMapInit {
  /** Accessible name of the map. @default 'Map' */
  label?: string
  /** A pin was activated (click, Enter, Space); the map shows its details itself. */
  onSelect?(pin: ApiPin): void
  /** A click (or tap) on the map away from the pins, without dragging: the point under it. */
  onPick?(point: LatLon): void
}

/** A mounted map. */
export interface WorldMap {
  readonly element: HTMLElement
  /** The pins to show (already filtered by the caller). */
  setPins(pins: readonly ApiPin[]): void
  /** The reader's position, and the radius of the filter around it (km), if any. */
  setPosition(position: LatLon | undefined, withinKm?: number): void
  /** Centres the map on a pin, zoomed in, and focuses its marker. */
  showPin(id: string): void
  /** Centres the map on a point. */
  centreOn(point: LatLon, zoom?: number): void
  /** The point at the centre of the view (the keyboard's way to pick a point: move the map to it). */
  centre(): LatLon
  dispose(): void
}

/** Creates the map (its land loads in the background; pins show meanwhile). */
export function createWorldMap (init: WorldMapInit = {}): WorldMap {
  const view: View = { lat: 0, lon: 0, zoom: MIN_ZOOM }
  let width = DEFAULT_WIDTH
  let pins: readonly ApiPin[] = []
  let position: LatLon | undefined
  let withinKm: number | undefined
  let selected: string | undefined
  const markers = new Map<string, SVGGElement>()

  const ocean = s('rect', { class: 'map-ocean', x: 0, y: 0, width: '100%', height: '100%' })
  const land = s('path', { class: 'map-land', 'fill-rule': 'evenodd', 'vector-effect': 'non-scaling-stroke', d: '' })
  const landGroup = s('g', {}, land)
  const graticule = s('path', { class: 'map-graticule', d: '' })
  const radius = s('ellipse', { class: 'map-radius', rx: 0, ry: 0 })
  const me = s('g', { class: 'map-me', role: 'img', 'aria-label': 'You are here' },
    s('circle', { r: 11, class: 'map-me-ring' }), s('circle', { r: 5, class: 'map-me-dot' }))
  const pinLayer = s('g', { class: 'map-pins' })
  // A group, not an image: an image's children are presentational, and the pins in it are buttons.
  const svg = s('svg', { class: 'map-svg', role: 'group', 'data-land': 'loading' }, ocean, landGroup, graticule, radius, me, pinLayer)

  const hint = h('p', { id: uniqueId('map-hint'), class: 'hint' },
    'Drag or use the arrow keys to move the map, + and − to zoom (or Ctrl and the wheel), 0 to see the whole world. Tab goes on to the pins: the arrow keys move between them.')
  const frame = h('div', {
    class: 'map-frame',
    tabindex: 0,
    role: 'group',
    'aria-roledescription': 'map',
    'aria-label': init.label ?? 'Map',
    'aria-describedby': hint.id
  })
  frame.append(svg)
  const landStatus = h('p', { class: 'hint', role: 'status' }, 'Loading the world outline…')
  // Not a live region: a redraw would read the whole pin again. The short status line says what was selected.
  const details = h('section', { class: 'map-details card', 'aria-label': 'The selected pin', hidden: true })
  const detailsStatus = h('p', { class: 'visually-hidden', role: 'status' })
  /** What the details show now (pin data, position, minute), to redraw them only when it changes. */
  let detailsShown = ''

  const zoomIn = h('button', { type: 'button', class: 'quiet', onclick: () => { zoomBy(2) } }, '+', hiddenText(' Zoom in'))
  const zoomOut = h('button', { type: 'button', class: 'quiet', onclick: () => { zoomBy(0.5) } }, '−', hiddenText(' Zoom out'))
  zoomIn.setAttribute('aria-label', 'Zoom in')
  zoomOut.setAttribute('aria-label', 'Zoom out')
  const reset = h('button', { type: 'button', class: 'quiet', onclick: () => { setView({ lat: 0, lon: 0, zoom: MIN_ZOOM }) } }, 'Whole world')
  const toMe = h('button', { type: 'button', class: 'quiet', hidden: true, onclick: () => { if (position !== undefined) centreOn(position, Math.max(view.zoom, 32)) } }, 'Centre on my position')
  const zoomLevel = h('span', { class: 'hint map-zoom', 'aria-live': 'polite' })
  const toolbar = h('div', { class: 'map-toolbar actions', role: 'toolbar', 'aria-label': 'Map view' }, zoomIn, zoomOut, reset, toMe, zoomLevel)

  const attribution = h('p', { class: 'hint small' }, 'Land outline: Natural Earth (public domain), drawn here without any map server.')
  const element = h('div', { class: 'world-map' }, toolbar, frame, hint, landStatus, detailsStatus, details, attribution)
  /** The pins in Tab and arrow-key order: west to east, then north to south. */
  let ordered: ApiPin[] = []
  /** The pin whose marker holds the one Tab stop of the pins. */
  let current: string | undefined

  /** Pixels per degree at the current zoom. */
  function scale (): number {
    return view.zoom * width / 360
  }

  function height (): number {
    return width / ASPECT
  }

  /** Screen position of a point in the current view. */
  function project (point: LatLon): { x: number, y: number } {
    const k = scale()
    return { x: width / 2 + (point.lon - view.lon) * k, y: height() / 2 - (point.lat - view.lat) * k }
  }

  /** Keeps the view on the world: the map never shows beyond its edges. */
  function clamp (): void {
    view.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom))
    const halfLon = 180 / view.zoom
    const halfLat = 90 / view.zoom
    view.lon = Math.min(180 - halfLon, Math.max(-180 + halfLon, view.lon))
    view.lat = Math.min(90 - halfLat, Math.max(-90 + halfLat, view.lat))
  }

  function setView (next: View): void {
    Object.assign(view, next)
    render()
  }

  /** Zooms by `factor` keeping the point under (x, y) (default: the centre) where it is. */
  function zoomBy (factor: number, x = width / 2, y = height() / 2): void {
    const k = scale()
    const pointLon = view.lon + (x - width / 2) / k
    const pointLat = view.lat - (y - height() / 2) / k
    const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor))
    const k2 = zoom * width / 360
    setView({ zoom, lon: pointLon - (x - width / 2) / k2, lat: pointLat + (y - height() / 2) / k2 })
  }

  function panBy (dxPixels: number, dyPixels: number): void {
    const k = scale()
    setView({ zoom: view.zoom, lon: view.lon + dxPixels / k, lat: view.lat - dyPixels / k })
  }

  function centreOn (point: LatLon, zoom = view.zoom): void {
    setView({ lat: point.lat, lon: point.lon, zoom })
  }

  function render (): void {
    clamp()
    const w = width
    const hgt = height()
    const k = scale()
    svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`)
    svg.setAttribute('width', String(w))
    svg.setAttribute('height', String(hgt))
    // The land is drawn in a plane of degrees (x = lon + 180, y = 90 - lat): one transform places it.
    landGroup.setAttribute('transform', `translate(${w / 2 - (view.lon + 180) * k} ${hgt / 2 - (90 - view.lat) * k}) scale(${k})`)

    const west = view.lon - w / 2 / k
    const east = view.lon + w / 2 / k
    const south = view.lat - hgt / 2 / k
    const north = view.lat + hgt / 2 / k
    const step = graticuleStep(east - west)
    const lines: string[] = []
    for (const lon of multiplesWithin(west, east, step)) {
      const x = project({ lat: 0, lon }).x.toFixed(1)
      lines.push(`M${x} 0V${hgt}`)
    }
    for (const lat of multiplesWithin(south, north, step)) {
      const y = project({ lat, lon: 0 }).y.toFixed(1)
      lines.push(`M0 ${y}H${w}`)
    }
    graticule.setAttribute('d', lines.join(''))

    if (position === undefined) {
      me.setAttribute('visibility', 'hidden')
      radius.setAttribute('visibility', 'hidden')
    } else {
      const at = project(position)
      me.setAttribute('visibility', 'visible')
      me.setAttribute('transform', `translate(${at.x.toFixed(1)} ${at.y.toFixed(1)})`)
      if (withinKm === undefined) radius.setAttribute('visibility', 'hidden')
      else {
        // An ellipse in degrees: a degree of longitude shrinks with the cosine of the latitude.
        const ry = withinKm / KM_PER_DEGREE * k
        const rx = ry / Math.max(0.01, Math.cos(position.lat * Math.PI / 180))
        radius.setAttribute('visibility', 'visible')
        radius.setAttribute('cx', at.x.toFixed(1))
        radius.setAttribute('cy', at.y.toFixed(1))
        radius.setAttribute('rx', Math.min(rx, 1e6).toFixed(1))
        radius.setAttribute('ry', Math.min(ry, 1e6).toFixed(1))
      }
    }
    for (const pin of pins) {
      const marker = markers.get(pin.id)
      if (marker === undefined) continue
      const at = project(pin)
      marker.setAttribute('transform', `translate(${at.x.toFixed(1)} ${at.y.toFixed(1)})`)
    }
    zoomLevel.textContent = `Zoom ${view.zoom >= 10 ? Math.round(view.zoom) : Number(view.zoom.toFixed(1))}×`
    zoomIn.disabled = view.zoom >= MAX_ZOOM
    zoomOut.disabled = view.zoom <= MIN_ZOOM
  }

  function markerFor (pin: ApiPin): SVGGElement {
    const style = pinStyle(pin.kind)
    const marker = s('g', { class: `pin-marker pin-${Object.hasOwn(PIN_STYLES, pin.kind) ? pin.kind : 'other'}`, role: 'button', tabindex: -1, 'data-pin': pin.id },
      s('path', { class: 'pin-shape', d: style.shape }),
      s('text', { class: 'pin-letter', 'text-anchor': 'middle', 'dominant-baseline': 'central', y: pin.kind === 'danger' ? 2 : 0.5, 'aria-hidden': 'true' }, style.letter))
    marker.addEventListener('click', () => { select(pin.id) })
    marker.addEventListener('keydown', (event) => {
      const at = ordered.findIndex((p) => p.id === pin.id)
      let next: ApiPin | undefined
      switch (event.key) {
        case 'Enter': case ' ': select(pin.id); break
        case 'ArrowRight': case 'ArrowDown': next = ordered[Math.min(ordered.length - 1, at + 1)]; break
        case 'ArrowLeft': case 'ArrowUp': next = ordered[Math.max(0, at - 1)]; break
        case 'Home': next = ordered[0]; break
        case 'End': next = ordered[ordered.length - 1]; break
        case 'Escape': frame.focus(); break
        default: return
      }
      // The frame's own keys (pan, zoom) are for the map, not for a pin.
      event.preventDefault()
      event.stopPropagation()
      if (next !== undefined) focusPin(next.id)
    })
    marker.addEventListener('focus', () => { makeCurrent(pin.id) })
    // A pin reached with Tab outside the view brings the view to it.
    marker.addEventListener('focus', () => {
      const current = pins.find((p) => p.id === pin.id)
      if (current === undefined) return
      const at = project(current)
      if (at.x < 0 || at.x > width || at.y < 0 || at.y > height()) centreOn(current)
    })
    return marker
  }

  /** Gives the pins' one Tab stop to `id` (or to the first pin when it is gone). */
  function makeCurrent (id: string | undefined): void {
    current = id !== undefined && markers.has(id) ? id : ordered[0]?.id
    for (const [pinId, marker] of markers) {
      const tabindex = pinId === current ? '0' : '-1'
      if (marker.getAttribute('tabindex') !== tabindex) marker.setAttribute('tabindex', tabindex)
    }
  }

  function focusPin (id: string): void {
    makeCurrent(id)
    markers.get(id)?.focus()
  }

  function labelMarkers (): void {
    const now = Date.now()
    for (const pin of pins) {
      const marker = markers.get(pin.id)
      const label = pinSummary(pin, position, now)
      // Only a changed label is set: a screen reader may read a focused element's new name again.
      if (marker !== undefined && marker.getAttribute('aria-label') !== label) marker.setAttribute('aria-label', label)
    }
  }

  function showDetails (): void {
    const pin = pins.find((p) => p.id === selected)
    if (pin === undefined) {
      details.hidden = true
      detailsShown = ''
      replaceChildren(details)
      return
    }
    const drawn = JSON.stringify([pin, position, Math.floor(Date.now() / 60_000)])
    if (drawn === detailsShown) return
    detailsShown = drawn
    const hadFocus = details.contains(document.activeElement)
    const close = h('button', { type: 'button', class: 'quiet', onclick: () => { const id = selected; select(undefined); if (id !== undefined) focusPin(id) } }, 'Close', hiddenText(' the pin\'s details'))
    replaceChildren(details, pinDetails(pin, position), close)
    details.hidden = false
    if (hadFocus) close.focus()
  }

  function select (id: string | undefined): void {
    selected = id
    for (const [pinId, marker] of markers) marker.classList.toggle('selected', pinId === id)
    showDetails()
    const chosen = pins.find((p) => p.id === id)
    detailsStatus.textContent = chosen === undefined ? '' : `Showing the details of: ${pinSummary(chosen, position)}`
    const pin = pins.find((p) => p.id === id)
    if (pin !== undefined) init.onSelect?.(pin)
  }

  // Keys on the frame (and on the pins in it, which it contains).
  frame.addEventListener('keydown', (event) => {
    const step = Math.min(width, height()) * PAN_STEP
    switch (event.key) {
      case 'ArrowLeft': panBy(-step, 0); break
      case 'ArrowRight': panBy(step, 0); break
      case 'ArrowUp': panBy(0, -step); break
      case 'ArrowDown': panBy(0, step); break
      case '+': case '=': zoomBy(2); break
      case '-': case '_': case '−': zoomBy(0.5); break
      case '0': setView({ lat: 0, lon: 0, zoom: MIN_ZOOM }); break
      default: return
    }
    event.preventDefault()
  })

  // The wheel zooms around the pointer, with Ctrl (or ⌘) or once the map has focus; otherwise it scrolls the page.
  frame.addEventListener('wheel', (event) => {
    if (!event.ctrlKey && !event.metaKey && !frame.contains(document.activeElement)) return
    event.preventDefault()
    const box = svg.getBoundingClientRect()
    const factor = Math.exp(-Math.max(-200, Math.min(200, event.deltaY)) * 0.0025)
    zoomBy(factor, (event.clientX - box.left) * width / box.width, (event.clientY - box.top) * height() / box.height)
  }, { passive: false })

  // Dragging pans (a press on a pin is that pin's click, not a drag); a press that hardly moves picks a point.
  let drag: { id: number, x: number, y: number, startX: number, startY: number } | undefined
  frame.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 || (event.target as Element).closest('.pin-marker') !== null) return
    drag = { id: event.pointerId, x: event.clientX, y: event.clientY, startX: event.clientX, startY: event.clientY }
    frame.setPointerCapture(event.pointerId)
    frame.classList.add('dragging')
  })
  frame.addEventListener('pointermove', (event) => {
    if (drag === undefined || event.pointerId !== drag.id) return
    const box = svg.getBoundingClientRect()
    const ratio = box.width === 0 ? 1 : width / box.width
    panBy(-(event.clientX - drag.x) * ratio, -(event.clientY - drag.y) * ratio)
    drag.x = event.clientX
    drag.y = event.clientY
  })
  const endDrag = (event: PointerEvent): void => {
    if (drag === undefined || event.pointerId !== drag.id) return
    const moved = Math.hypot(event.clientX - drag.startX, event.clientY - drag.startY)
    drag = undefined
    frame.classList.remove('dragging')
    if (event.type !== 'pointerup' || moved > PICK_SLOP_PX || init.onPick === undefined) return
    const box = svg.getBoundingClientRect()
    if (box.width === 0) return
    const k = scale()
    const x = (event.clientX - box.left) * width / box.width
    const y = (event.clientY - box.top) * height() / box.height
    init.onPick({ lat: view.lat - (y - height() / 2) / k, lon: view.lon + (x - width / 2) / k })
  }
  frame.addEventListener('pointerup', endDrag)
  frame.addEventListener('pointercancel', endDrag)

  // The map is as wide as its frame; its height follows (2:1).
  const resizer = new ResizeObserver(() => {
    const measured = frame.clientWidth
    if (measured > 0 && Math.abs(measured - width) >= 1) {
      width = measured
      render()
    }
  })
  resizer.observe(frame)

  let disposed = false
  void loadLand().then((d) => {
    if (disposed) return
    land.setAttribute('d', d)
    svg.setAttribute('data-land', 'ready')
    landStatus.remove()
  }, () => {
    svg.setAttribute('data-land', 'failed')
    landStatus.textContent = 'The world outline could not be loaded (reload the page); the pins are shown on the grid.'
  })
  render()

  return {
    element,
    setPins (next) {
      pins = next
      const keep = new Set(next.map((pin) => pin.id))
      const hadFocus = [...markers.values()].some((marker) => marker === document.activeElement)
      for (const [id, marker] of markers) {
        if (keep.has(id)) continue
        marker.remove()
        markers.delete(id)
      }
      // New markers are appended; the others stay where they are (moving a focused one would blur it).
      for (const pin of next) {
        if (markers.has(pin.id)) continue
        const marker = markerFor(pin)
        markers.set(pin.id, marker)
        pinLayer.append(marker)
      }
      ordered = [...next].sort((a, b) => a.lon - b.lon || b.lat - a.lat)
      makeCurrent(current)
      if (selected !== undefined && !keep.has(selected)) select(undefined)
      // The focused marker expired: focus goes to the pin that now holds the Tab stop, else to the map.
      if (hadFocus && !pinLayer.contains(document.activeElement)) {
        if (current !== undefined) focusPin(current)
        else frame.focus()
      }
      labelMarkers()
      showDetails()
      render()
    },
    setPosition (next, km) {
      position = next
      withinKm = next === undefined ? undefined : km
      toMe.hidden = next === undefined
      labelMarkers()
      showDetails()
      render()
    },
    showPin (id) {
      const pin = pins.find((p) => p.id === id)
      if (pin === undefined) return
      centreOn(pin, Math.max(view.zoom, PIN_ZOOM))
      select(id)
      focusPin(id)
    },
    centreOn,
    centre: () => ({ lat: view.lat, lon: view.lon }),
    dispose () {
      disposed = true
      resizer.disconnect()
    }
  }
}
