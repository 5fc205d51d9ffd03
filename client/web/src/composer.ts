/**
 * Writing a post: text with a character counter, a picture shrunk in the
 * browser (with its preview), who may read it, and how long it lives.
 * Nothing typed is lost on an error: the form keeps it and says what to do.
 */
import type { ApiPost } from '../../api/types.js'
import { codePoints, DEFAULT_POST_DAYS, MAX_POST_DAYS, MAX_POST_TEXT_CHARS, MIN_POST_DAYS } from '../../api/post-content.js'
import type { AppContext } from './app.js'
import { h, replaceChildren, uniqueId } from './dom.js'
import { errorSentence, formatBytes } from './format.js'
import { POST_IMAGE_LIMITS, shrinkImage, type ShrunkImage } from './image-shrink.js'

/** Where the composer starts unfolded (the layout's own breakpoint). */
const WIDE_SCREEN = '(min-width: 48rem)'

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

  const button = h('button', { type: 'submit' }, 'Post')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { 'aria-label': 'Write a post' },
    h('div', { class: 'field' }, h('label', { for: textarea.id }, 'Text'), textarea, counter),
    h('div', { class: 'field' }, h('label', { for: fileInput.id }, 'Picture (optional)'), fileInput, pictureHint, pictureStatus, preview),
    h('div', { class: 'compose-options' }, audience, h('div', { class: 'field' }, h('label', { for: days.id }, 'Lifetime'), days)),
    button, errorBox)

  let picture: ShrunkImage | undefined
  let previewUrl: string | undefined
  let shrinking: Promise<void> = Promise.resolve()
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

  async function choosePicture (file: File): Promise<void> {
    clearPicture()
    pictureStatus.textContent = `Shrinking ${file.name}…`
    try {
      const shrunk = await shrinkImage(file, POST_IMAGE_LIMITS)
      picture = shrunk
      previewUrl = URL.createObjectURL(shrunk.blob)
      const remove = h('button', { type: 'button', class: 'quiet', onclick: () => { clearPicture(); fileInput.value = ''; fileInput.focus() } }, 'Remove picture')
      replaceChildren(preview, h('img', { src: previewUrl, alt: 'Preview of the picture to post', class: 'preview-image' }), remove)
      preview.hidden = false
      pictureStatus.textContent = `Ready: ${formatBytes(shrunk.blob.size)}, ${shrunk.width} × ${shrunk.height} pixels (from ${formatBytes(file.size)}).`
    } catch (error) {
      fileInput.value = ''
      pictureStatus.textContent = ''
      errorBox.textContent = errorSentence(error)
    }
  }

  fileInput.addEventListener('change', () => {
    errorBox.textContent = ''
    const file = fileInput.files?.[0]
    if (file === undefined) { clearPicture(); return }
    shrinking = choosePicture(file)
  })
  textarea.addEventListener('input', updateCounter)

  async function post (): Promise<void> {
    if (posting) return
    await shrinking
    const text = textarea.value
    errorBox.textContent = ''
    if (text.trim() === '' && picture === undefined) { errorBox.textContent = 'Write something or choose a picture first.'; textarea.focus(); return }
    if (codePoints(text) > MAX_POST_TEXT_CHARS) { errorBox.textContent = `A post holds at most ${MAX_POST_TEXT_CHARS} characters; shorten it.`; textarea.focus(); return }
    posting = true
    button.disabled = true
    form.setAttribute('aria-busy', 'true')
    button.textContent = 'Posting…'
    try {
      const chosen = form.querySelector<HTMLInputElement>(`input[name="${audienceName}"]:checked`)?.value === 'circle' ? 'circle' : 'world'
      const posted = await ctx.client.post({
        ...(text.trim() === '' ? {} : { text }),
        ...(picture === undefined ? {} : { image: { mime: picture.mime, bytes: new Uint8Array(await picture.blob.arrayBuffer()) } }),
        audience: chosen,
        days: Number(days.value)
      })
      textarea.value = ''
      fileInput.value = ''
      clearPicture()
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
    }
  }

  form.addEventListener('submit', (event) => { event.preventDefault(); void post() })
  updateCounter()
  // Open on a wide screen; folded on a phone, where it would push the posts below the first screen.
  const element = h('details', { class: 'card composer-card', open: window.matchMedia(WIDE_SCREEN).matches }, summary, form)
  return { element, dispose: clearPicture }
}
