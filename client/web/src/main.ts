/**
 * Entry point of the web UI served by the node at `/`: sign in (from the
 * one-time link or the token), then the application. The typed client talks
 * to the same origin; the browser sends the session cookie by itself.
 */
import { createKomradeClient } from '../../api/client.js'
import { startApp } from './app.js'
import { h, replaceChildren } from './dom.js'
import { errorSentence, isUnauthorized } from './format.js'
import { showSignIn, signInFromFragment } from './sign-in.js'

const root = document.getElementById('app')!
const client = createKomradeClient({ url: location.origin })

function signIn (message?: string): void {
  showSignIn({ client, root, ...(message === undefined ? {} : { message }), onSignedIn: () => { void enter() } })
}

/** Checks the session; opens the application, the sign-in screen, or says the node is not answering. */
async function enter (message?: string): Promise<void> {
  try {
    await client.status()
  } catch (error) {
    if (isUnauthorized(error)) {
      signIn(message)
      return
    }
    const retry = h('button', { type: 'button', onclick: () => { void enter(message) } }, 'Try again')
    replaceChildren(root, h('main', { id: 'main', class: 'narrow' },
      h('h1', null, 'Komrade'), h('p', { role: 'alert', class: 'error' }, errorSentence(error)), retry))
    return
  }
  startApp({ client, root, onSignedOut: (reason) => { signIn(reason) } })
}

// A used or expired link still lets in a browser that already has a session; otherwise its sentence is shown.
await enter(await signInFromFragment(client))
