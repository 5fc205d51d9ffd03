/**
 * Signing in. The one-time link `komrade start` prints carries a login code
 * in the URL fragment (never sent to a server or written to a log); it is
 * exchanged for an HttpOnly session cookie and then removed from the address
 * bar and history. Without one, the person pastes the token from
 * `<data dir>/api.token`. The token itself is never stored by the page.
 */
import type { KomradeClient } from '../../api/client.js'
import { h, replaceChildren, uniqueId } from './dom.js'
import { errorSentence } from './format.js'

const LOGIN_FRAGMENT = /^#login=([^&]+)/

/**
 * Takes a login code out of the URL fragment (removing it with
 * `history.replaceState`, so a reload or the history cannot reuse it) and
 * exchanges it for a session. Resolves undefined when there was none or it
 * worked, else the sentence to show.
 */
export async function signInFromFragment (client: KomradeClient): Promise<string | undefined> {
  const match = LOGIN_FRAGMENT.exec(location.hash)
  if (match === null) return undefined
  history.replaceState(null, '', location.pathname + location.search)
  try {
    await client.login({ code: decodeURIComponent(match[1]!) })
    return undefined
  } catch (error) {
    return errorSentence(error)
  }
}

/** Options of {@link showSignIn}. */
export interface SignInInit {
  client: KomradeClient
  root: HTMLElement
  /** Shown above the form: why the person is asked to sign in (again). */
  message?: string
  onSignedIn(): void
}

/** The sign-in screen: paste the token. */
export function showSignIn (init: SignInInit): void {
  const input = h('input', {
    id: uniqueId('token'), name: 'token', type: 'password', required: true,
    autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false'
  })
  const hint = h('p', { id: uniqueId('hint'), class: 'hint' },
    'The token is in the file api.token in your data directory (by default ~/.komrade/api.token). ' +
    'Or open the one-time link `komrade start` printed: it signs you in by itself.')
  input.setAttribute('aria-describedby', hint.id)
  const errorBox = h('p', { class: 'error', role: 'alert' }, init.message ?? '')
  const button = h('button', { type: 'submit' }, 'Sign in')
  const heading = h('h2', { id: uniqueId('sign-in') }, 'Sign in')
  const form = h('form', { class: 'card sign-in', 'aria-labelledby': heading.id },
    heading,
    h('p', null, 'This page controls your own Komrade node. Only someone with its access token may use it.'),
    h('div', { class: 'field' }, h('label', { for: input.id }, 'Access token'), input, hint),
    button, errorBox)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const token = input.value.trim()
    if (token === '') return
    button.disabled = true
    form.setAttribute('aria-busy', 'true')
    errorBox.textContent = ''
    init.client.login({ token }).then(() => { init.onSignedIn() }, (error: unknown) => {
      errorBox.textContent = errorSentence(error)
      input.select()
    }).finally(() => {
      button.disabled = false
      form.removeAttribute('aria-busy')
    })
  })
  document.title = 'Sign in · Komrade'
  replaceChildren(init.root,
    h('header', { class: 'top' }, h('div', { class: 'brand' }, h('h1', null, 'Komrade'))),
    h('main', { id: 'main', class: 'narrow' }, form))
  input.focus()
}
