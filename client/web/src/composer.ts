/**
 * Writing a post: text with a character counter, a picture shrunk in the
 * browser (with its preview), who may read it, how long it lives, and,
 * when the author asks ("Add my area"), a coarse area around the position
 * kept in this browser (position.ts). Only the centre of the area's
 * geohash cell is sent, never the position itself.
 * Nothing typed is lost on an error: the form keeps it and says what to do.
 */
import type { ApiPost } from '../../api/types.js'
import { codePoints, DEFAULT_POST_DAYS, MAX_POST_DAYS, MAX_POST_TEXT_CHARS, MIN_POST_DAYS } from '../../api/post-content.js'
import type { AppContext } from './app.js'
import { h, replaceChildren, uniqueId } from './dom.js'
import { errorSentence, formatBytes } from './format.js'
import { POST_IMAGE_LIMITS, shrinkImage, type ShrunkImage } from './image-shrink.js'
import { decodeGeohash, encodeGeohash, geohashErrorKm } from '../../../protocol/geohash.js'
import { DEFAULT_POST_PRECISION } from '../../api/collectives-content.js'
import type { LatLon } from './map-geometry.js'
import { areaText, onPositionChange, positionAsker, storedPosition } from './position.js'

/** The area sizes a post may carry (geohash characters; SPEC §14.6 allows 1 to 6). */
const AREA_PRECISIONS: ReadonlyArray<{ value: number, label: string }> = [
  { value: 3, label: 'About 150 km (a region)' },
  { value: 4, label: 'About 20 km (a city)' },
  { value: 5, label: 'About 5 km (a district)' },
  { value: 6, label: 'About 1 km (a neighbourhood)' }
]

/**
 * The area a post carries from `position`: the centre of its geohash cell
 * of `precision` characters (what is sent: the node cuts it to the same
 * cell) and the cell's larger half-extent, km.
 */
export function postArea (position: LatLon, precision: number): { centre: LatLon, errKm: number, geohash: string } {
  const geohash = encodeGeohash(position.lat, position.lon, precision)
  const cell = decodeGeohash(geohash)
  const { latErrKm, lonErrKm } = geohashErrorKm(geohash)
  return { centre: { lat: cell.lat, lon: cell.lon }, errKm: Math.max(latErrKm, lonErrKm), geohash }
}

/** Where the composer starts unfolded (the layout's own breakpoint). */
const WIDE_SCREEN = '(min-width: 48rem)'

/**
 * What was typed and chosen but not posted yet. The feed's tabs are links
 * that remount the screen, composer included: the draft outlives it, so
 * switching from World to Home loses nothing.
 */
interface Draft {
  text: string
  audience: 'world' | 'circle'
  days: string
  picture?: { image: ShrunkImage, fileSize: number }
  /** Geohash characters of the area to attach, when the author added it. */
  area?: number
  open: boolean
}
let draft: Draft | undefined

/** A radio button with its label. */
export function radio (name: string, value: string, text: string, checked: boolean): HTMLElement {
  const input = h('input', { type: 'radio', name, value, id: uniqueId(`${name}-${value}`), checked })
  return h('div', { class: 'choice' }, input, h('label', { for: input.id }, text))
}

/** The composer (a fold holding the form); `onPosted` gets each post once it is queued. */
export function composer (ctx: AppContext, onPosted: (post: ApiPost) => void): { element: HTMLElement, dispose: () => void } {
  const summary = h('summary', { class: 'composer-summary' }, 'Write a post')
  const textarea = h('textarea', { id: uniqueId('post-text'), name: 'text', rows: 3, autocomplete: 'off' })
  const counter = h('p', { id: uniqueId('counter'), class: 'hint counter' })
  textarea.setAttribute('aria-describedby', counter.id)

  const fileInput = h('input', { id: uniqueId('picture'), type: 'file', accept: 'image/*', class: 'file' })
  const pictureHint = h('p', { id: uniqueId('picture-hint'), class: 'hint' },
    'Pictures are shrunk here to at most 256 KiB and re-encoded as JPEG, without location or camera data.')
  fileInput.setAttribute('aria-describedby', pictureHint.id)
  const preview = h('div', { class: 'preview-box', hidden: true })
  const pictureStatus = h('p', { role: 'status', class: 'hint' })

  const days = h('select', { id: uniqueId('days'), name: 'days' })
  for (let d = MIN_POST_DAYS; d <= MAX_POST_DAYS; d++) {
    days.append(h('option', { value: d, selected: d === DEFAULT_POST_DAYS }, d === 1 ? '1 day' : `${d} days`))
  }
  const audienceName = uniqueId('audience')
  const audience = h('fieldset', { class: 'choices' },
    h('legend', null, 'Who can read it'),
    radio(audienceName, 'world', 'Everyone (the world)', true),
    radio(audienceName, 'circle', 'My circle only', false))

  // The area: off until the author asks; their position comes from this browser, or is asked for here.
  let areaPrecision: number | undefined
  const addArea = h('button', { type: 'button', class: 'quiet add-area', 'aria-expanded': 'false', onclick: () => { toggleArea() } }, 'Add my area')
  const areaSize = h('select', { id: uniqueId('area-size') }, AREA_PRECISIONS.map((p) => h('option', { value: p.value, selected: p.value === DEFAULT_POST_PRECISION }, p.label)))
  const areaStatus = h('p', { id: uniqueId('area-status'), class: 'hint area-status', role: 'status' })
  areaSize.setAttribute('aria-describedby', areaStatus.id)
  const areaSizeField = h('div', { class: 'field', hidden: true }, h('label', { for: areaSize.id }, 'Area size'), areaSize)
  const areaAsker = positionAsker('The area is cut from your position.', () => { showArea(); areaSize.focus() })
  areaAsker.element.hidden = true
  const areaBox = h('div', { class: 'field area-box' }, addArea, areaSizeField, areaAsker.element, areaStatus)
  areaSize.addEventListener('change', () => { if (areaPrecision !== undefined) { areaPrecision = Number(areaSize.value); showArea() } })

  /** Shows what the post will carry, or why it carries nothing yet. */
  function showArea (): void {
    const position = storedPosition()
    const on = areaPrecision !== undefined
    addArea.textContent = on ? 'Remove my area' : 'Add my area'
    addArea.setAttribute('aria-expanded', String(on))
    areaSizeField.hidden = !on || position === undefined
    areaAsker.element.hidden = !on || position !== undefined
    if (!on) { areaStatus.textContent = ''; return }
    if (position === undefined) { areaStatus.textContent = 'Set your position to add your area.'; return }
    const area = postArea(position, areaPrecision!)
    areaStatus.textContent = `The post will carry an area (${areaText(area.errKm)}) around your position; only the area is sent, never your position.`
  }

  function toggleArea (): void {
    areaPrecision = areaPrecision === undefined ? Number(areaSize.value) : undefined
    showArea()
    if (areaPrecision !== undefined && storedPosition() === undefined) areaAsker.focus()
  }

  const button = h('button', { type: 'submit' }, 'Post')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { 'aria-label': 'Write a post' },
    h('div', { class: 'field' }, h('label', { for: textarea.id }, 'Text'), textarea, counter),
    h('div', { class: 'field' }, h('label', { for: fileInput.id }, 'Picture (optional)'), fileInput, pictureHint, pictureStatus, preview),
    h('div', { class: 'compose-options' }, audience, h('div', { class: 'field' }, h('label', { for: days.id }, 'Lifetime'), days)),
    areaBox,
    button, errorBox)

  let picture: ShrunkImage | undefined
  let pictureFileSize = 0
  let previewUrl: string | undefined
  let shrinking: Promise<void> = Promise.resolve()
  /** Counts pictures chosen: a shrink that finishes after another picture was chosen is dropped. */
  let choice = 0
  let posting = false

  function updateCounter (): void {
    const used = codePoints(textarea.value)
    counter.textContent = `${used} of ${MAX_POST_TEXT_CHARS} characters`
    counter.classList.toggle('error', used > MAX_POST_TEXT_CHARS)
    textarea.setAttribute('aria-invalid', String(used > MAX_POST_TEXT_CHARS))
  }

  function clearPicture (): void {
    picture = undefined
    if (previewUrl !== undefined) URL.revokeObjectURL(previewUrl)
    previewUrl = undefined
    preview.hidden = true
    replaceChildren(preview)
    pictureStatus.textContent = ''
  }

  function showPicture (shrunk: ShrunkImage, fileSize: number): void {
    picture = shrunk
    pictureFileSize = fileSize
    previewUrl = URL.createObjectURL(shrunk.blob)
    const remove = h('button', { type: 'button', class: 'quiet', onclick: () => { clearPicture(); fileInput.value = ''; fileInput.focus() } }, 'Remove picture')
    replaceChildren(preview, h('img', { src: previewUrl, alt: 'Preview of the picture to post', class: 'preview-image' }), remove)
    preview.hidden = false
    pictureStatus.textContent = `Ready: ${formatBytes(shrunk.blob.size)}, ${shrunk.width} × ${shrunk.height} pixels (from ${formatBytes(fileSize)}).`
  }

  async function choosePicture (file: File, mine: number): Promise<void> {
    pictureStatus.textContent = `Shrinking ${file.name}…`
    try {
      const shrunk = await shrinkImage(file, POST_IMAGE_LIMITS)
      if (mine !== choice) return // another picture was chosen meanwhile: that one counts
      showPicture(shrunk, file.size)
    } catch (error) {
      if (mine !== choice) return
      fileInput.value = ''
      pictureStatus.textContent = ''
      errorBox.textContent = errorSentence(error)
    }
  }

  fileInput.addEventListener('change', () => {
    errorBox.textContent = ''
    choice += 1
    clearPicture()
    const file = fileInput.files?.[0]
    if (file === undefined) return
    shrinking = choosePicture(file, choice)
  })
  textarea.addEventListener('input', updateCounter)

  async function post (): Promise<void> {
    if (posting) return
    await shrinking
    const text = textarea.value
    errorBox.textContent = ''
    if (text.trim() === '' && picture === undefined) { errorBox.textContent = 'Write something or choose a picture first.'; textarea.focus(); return }
    if (codePoints(text) > MAX_POST_TEXT_CHARS) { errorBox.textContent = `A post holds at most ${MAX_POST_TEXT_CHARS} characters; shorten it.`; textarea.focus(); return }
    const position = storedPosition()
    if (areaPrecision !== undefined && position === undefined) { errorBox.textContent = 'Set your position to add your area, or remove the area.'; areaAsker.focus(); return }
    const area = areaPrecision === undefined || position === undefined ? undefined : postArea(position, areaPrecision)
    posting = true
    // Disabling the focused button sends focus to <body>: it comes back once the post is done.
    const hadFocus = document.activeElement === button
    button.disabled = true
    form.setAttribute('aria-busy', 'true')
    button.textContent = 'Posting…'
    try {
      const chosen = form.querySelector<HTMLInputElement>(`input[name="${audienceName}"]:checked`)?.value === 'circle' ? 'circle' : 'world'
      const posted = await ctx.client.post({
        ...(text.trim() === '' ? {} : { text }),
        ...(picture === undefined ? {} : { image: { mime: picture.mime, bytes: new Uint8Array(await picture.blob.arrayBuffer()) } }),
        audience: chosen,
        days: Number(days.value),
        ...(area === undefined ? {} : { location: { ...area.centre, precision: areaPrecision! } })
      })
      textarea.value = ''
      fileInput.value = ''
      clearPicture()
      areaPrecision = undefined
      showArea()
      updateCounter()
      ctx.announce(chosen === 'world' ? 'Posted to the world.' : 'Posted to your circle.')
      onPosted(posted)
    } catch (error) {
      errorBox.textContent = errorSentence(error) // text and picture stay: nothing is lost
    } finally {
      posting = false
      button.disabled = false
      button.textContent = 'Post'
      form.removeAttribute('aria-busy')
      if (hadFocus && button.isConnected) button.focus()
    }
  }

  form.addEventListener('submit', (event) => { event.preventDefault(); void post() })

  // Open on a wide screen; folded on a phone, where it would push the posts below the first screen (unless a draft waits in it).
  const element = h('details', { class: 'card composer-card', open: window.matchMedia(WIDE_SCREEN).matches || draft?.open === true }, summary, form)
  if (draft !== undefined) {
    textarea.value = draft.text
    days.value = draft.days
    const chosen = form.querySelector<HTMLInputElement>(`input[name="${audienceName}"][value="${draft.audience}"]`)
    if (chosen !== null) chosen.checked = true
    if (draft.picture !== undefined) showPicture(draft.picture.image, draft.picture.fileSize)
    if (draft.area !== undefined) { areaPrecision = draft.area; areaSize.value = String(draft.area) }
    draft = undefined
  }
  updateCounter()
  showArea()
  // The position may be set or forgotten elsewhere (the feed's filter, the Map screen): the area line follows.
  const stopFollowing = onPositionChange(() => { showArea() })

  /** Keeps what was typed and chosen for the next composer (see Draft), and frees the preview. */
  function dispose (): void {
    choice += 1 // a shrink still running is dropped
    stopFollowing()
    const audienceChosen = form.querySelector<HTMLInputElement>(`input[name="${audienceName}"]:checked`)?.value === 'circle' ? 'circle' : 'world'
    draft = textarea.value === '' && picture === undefined
      ? undefined
      : {
          text: textarea.value, audience: audienceChosen, days: days.value, ...(picture === undefined ? {} : { picture: { image: picture, fileSize: pictureFileSize } }),
          ...(areaPrecision === undefined ? {} : { area: areaPrecision }), open: element.open
        }
    clearPicture()
  }
  return { element, dispose }
}
