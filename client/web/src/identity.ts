/**
 * Your identity: fingerprint and invite code (with a copy button), and
 * registering a name, whose proof of work reports its progress as `work`
 * events on the WebSocket.
 */
import type { ApiIdentity } from '../../api/types.js'
import type { AppContext, Screen } from './app.js'
import { h, replaceChildren, uniqueId } from './dom.js'
import { errorSentence } from './format.js'

/** Copies `text`; falls back to selecting it (then Ctrl+C) where the clipboard is refused. */
async function copy (text: string, source: HTMLTextAreaElement): Promise<string> {
  try {
    await navigator.clipboard.writeText(text)
    return 'Copied the invite code.'
  } catch {
    source.focus()
    source.select()
    return 'The browser did not allow copying: the code is selected, press Ctrl+C (or ⌘C).'
  }
}

function inviteSection (me: ApiIdentity): HTMLElement {
  const heading = h('h3', { id: uniqueId('invite') }, 'Invite code')
  const code = h('textarea', { id: uniqueId('invite-code'), readonly: true, rows: 4, class: 'code', spellcheck: 'false' })
  code.value = me.invite
  const result = h('p', { role: 'status', class: 'success' })
  const button = h('button', {
    type: 'button',
    onclick: () => { void copy(me.invite, code).then((text) => { result.textContent = text }) }
  }, 'Copy invite code')
  return h('section', { class: 'card', 'aria-labelledby': heading.id }, heading,
    h('p', null, 'Give this code to people who want to write to you: it carries your keys, your name and how to reach your node. ' +
      'They paste it on their Contacts screen.'),
    h('label', { for: code.id }, 'Your invite code'), code, button, result)
}

function registerSection (ctx: AppContext, onRegistered: (name: string) => void): { element: HTMLElement, dispose: () => void } {
  const heading = h('h3', { id: uniqueId('register') }, 'Register a name')
  const input = h('input', { id: uniqueId('name'), name: 'name', type: 'text', required: true, autocomplete: 'username', autocapitalize: 'off', spellcheck: 'false' })
  const hint = h('p', { id: uniqueId('hint'), class: 'hint' },
    '3 to 32 characters: a to z, 0 to 9 and _. The Operator of your network keeps names unique; registering costs a few seconds of proof of work.')
  input.setAttribute('aria-describedby', hint.id)
  const button = h('button', { type: 'submit' }, 'Register')
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Proof of work' })
  const progressText = h('p', { role: 'status' })
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { class: 'card', 'aria-labelledby': heading.id }, heading,
    h('div', { class: 'field' }, h('label', { for: input.id }, 'Name'), input, hint),
    button, progress, progressText, errorBox)
  let lastTrials = 0

  const unsubscribe = ctx.live.on('work', (event) => {
    if (event.op !== 'register' || progress.hidden) return
    // Trials to expect is an average: the real count may pass it, so the bar stops short of full.
    progress.max = event.expected
    progress.value = Math.min(event.trials, event.expected * 0.99)
    // Said on the first report, then at most every quarter, so a screen reader is not flooded.
    const quarter = (trials: number): number => Math.floor(trials / event.expected * 4)
    if (lastTrials === 0 || quarter(event.trials) !== quarter(lastTrials)) {
      progressText.textContent = `Proof of work: ${event.trials.toLocaleString()} of about ${event.expected.toLocaleString()} tries.`
    }
    lastTrials = event.trials
  })

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = input.value.trim()
    if (name === '') return
    button.disabled = true
    form.setAttribute('aria-busy', 'true')
    errorBox.textContent = ''
    progress.hidden = false
    progress.removeAttribute('value') // indeterminate until the first work event
    lastTrials = 0
    progressText.textContent = 'Working out the proof of work…'
    ctx.client.register(name).then((record) => {
      unsubscribe()
      onRegistered(record.name)
    }, (error: unknown) => {
      progressText.textContent = ''
      errorBox.textContent = errorSentence(error)
    }).finally(() => {
      button.disabled = false
      form.removeAttribute('aria-busy')
      progress.hidden = true
    })
  })
  return { element: form, dispose: unsubscribe }
}

/** The identity screen. */
export function identityScreen (ctx: AppContext): Screen {
  const heading = h('h2', { tabindex: -1 }, 'Your identity')
  const body = h('div', null, h('p', { role: 'status' }, 'Loading…'))
  const errorBox = h('p', { class: 'error', role: 'alert' })
  let register: HTMLElement | undefined
  let registerForm: ReturnType<typeof registerSection> | undefined
  let registeredNow: string | undefined

  async function load (fresh: boolean): Promise<void> {
    try {
      const [me, status] = await Promise.all([ctx.identity({ fresh }), ctx.client.status()])
      const registered = me.name !== undefined
      if (!registered && status.registry === undefined) {
        // Names need an Operator: say so instead of offering a form that can only fail.
        register = h('p', { class: 'card' }, 'This node has no Operator configured, so it cannot register a name. ' +
          'People add you with your invite code; to use names, start the node with --operator (see komrade start --help).')
      } else if (registered) {
        // The form goes; what it did stays said.
        register = registeredNow === undefined
          ? undefined
          : h('p', { class: 'card success' }, `Registered ${registeredNow}. Others can now add you by that name.`)
      } else {
        registerForm ??= registerSection(ctx, (name) => {
          registeredNow = name
          ctx.announce(`Registered ${name}. Others can now add you by that name.`)
          void load(true)
        })
        register = registerForm.element
      }
      replaceChildren(body,
        h('dl', { class: 'facts' },
          h('dt', null, 'Name'), h('dd', null, registered ? me.name : 'None registered'),
          h('dt', null, 'Fingerprint'), h('dd', { class: 'fingerprint' }, me.fingerprint),
          h('dt', null, 'Id'), h('dd', { class: 'code' }, me.id)),
        h('p', { class: 'hint' }, 'Your contacts compare this fingerprint with the one their device shows for you.'),
        h('p', null, h('a', { href: '#/profile' }, 'Your profile'), ': the display name, bio and avatar people see by your posts.'),
        inviteSection(me),
        register)
    } catch (error) {
      errorBox.textContent = errorSentence(error)
    }
  }
  void load(false)
  return {
    title: 'Your identity',
    element: h('section', { class: 'pane page' }, heading, errorBox, body),
    focus: heading,
    dispose () { registerForm?.dispose() }
  }
}
