/**
 * Contacts: the list (name and fingerprint), adding one by name or invite
 * code, removing one, and the verify view that puts both fingerprints and
 * the safety number side by side for a comparison out of band.
 */
import type { ApiCircleMember, ApiContact } from '../../api/types.js'
import type { AppContext, Screen } from './app.js'
import { h, hiddenText, replaceChildren, uniqueId } from './dom.js'
import { displayName, errorSentence } from './format.js'

/** How a circle member is called: their registered name, or the start of their id. */
function memberName (member: ApiCircleMember): string {
  return member.name ?? `Someone ${member.id.slice(0, 8)}`
}

function field (labelText: string, input: HTMLInputElement, hint?: string): HTMLElement {
  const label = h('label', { for: input.id }, labelText)
  if (hint === undefined) return h('div', { class: 'field' }, label, input)
  const hintElement = h('p', { id: uniqueId('hint'), class: 'hint' }, hint)
  input.setAttribute('aria-describedby', hintElement.id)
  return h('div', { class: 'field' }, label, input, hintElement)
}

/** Confirms and removes a contact (and so from the circle too, the node's rule); resolves true when it was removed. */
async function removeContact (ctx: AppContext, contact: ApiContact, errorBox: HTMLElement, inCircle: boolean): Promise<boolean> {
  const circle = inCircle ? ' They are also removed from your circle, which gets a new key: they read nothing you post to it afterwards.' : ''
  if (!window.confirm(`Remove ${displayName(contact)} from your contacts?${circle} Their messages stay; you can add them again later.`)) return false
  try {
    await ctx.client.removeContact(contact.id)
    ctx.announce(`${displayName(contact)} was removed from your contacts.`)
    return true
  } catch (error) {
    errorBox.textContent = errorSentence(error)
    return false
  }
}

/** The contacts screen. */
export function contactsScreen (ctx: AppContext): Screen {
  const heading = h('h2', { tabindex: -1 }, 'Contacts')
  const list = h('ul', { class: 'contact-list' })
  const listStatus = h('p', { class: 'hint', role: 'status' }, 'Loading…')
  const listError = h('p', { class: 'error', role: 'alert' })

  const input = h('input', {
    id: uniqueId('contact'), name: 'contact', type: 'text', required: true,
    autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false'
  })
  const addButton = h('button', { type: 'submit' }, 'Add contact')
  const addError = h('p', { class: 'error', role: 'alert' })
  const addResult = h('p', { class: 'success', role: 'status' })
  const addHeading = h('h3', { id: uniqueId('add') }, 'Add a contact')
  const form = h('form', { class: 'card', 'aria-labelledby': addHeading.id },
    addHeading,
    field('Name or invite code', input, 'A registered name (like alice), or an invite code starting with KOMRADE1-. People find theirs on their Identity screen.'),
    addButton, addError, addResult)

  const circleHeading = h('h3', { id: uniqueId('circle') }, 'Your circle')
  /** Members who are not (or no longer) contacts: they have no row in the contacts list, so they are listed here. */
  const outsiders = h('ul', { class: 'contact-list', 'aria-label': 'Circle members who are not contacts', hidden: true })
  const circleSummary = h('p', { role: 'status' })
  const circleError = h('p', { class: 'error', role: 'alert' })
  const circleSection = h('section', { class: 'card', 'aria-labelledby': circleHeading.id }, circleHeading,
    h('p', { class: 'hint' }, 'People in your circle read the posts you send to your circle. Removing someone gives your circle a new key: ' +
      'they read nothing you post afterwards. Add or remove people with the buttons in the list below; removing a contact removes them from your circle too.'),
    circleSummary, circleError, outsiders)
  let members = new Set<string>()

  function drawCircle (count: number): void {
    circleSummary.textContent = count === 0 ? 'Nobody is in your circle yet.' : count === 1 ? '1 person is in your circle.' : `${count} people are in your circle.`
  }

  /** Removes a member who is no contact, then redraws; focus goes to the next such member, else to the summary's section. */
  async function removeOutsider (member: ApiCircleMember, button: HTMLButtonElement): Promise<void> {
    circleError.textContent = ''
    button.disabled = true
    const name = memberName(member)
    try {
      await ctx.client.removeFromCircle(member.id)
      ctx.announce(`${name} was removed from your circle.`)
      await load()
      const next = outsiders.querySelector<HTMLElement>('button') ?? circleHeading
      if (next === circleHeading) circleHeading.setAttribute('tabindex', '-1')
      next.focus()
    } catch (error) {
      circleError.textContent = errorSentence(error)
      button.disabled = false
    }
  }

  function drawOutsiders (circle: ApiCircleMember[], contacts: ApiContact[]): void {
    const contactIds = new Set(contacts.map((c) => c.id))
    const others = circle.filter((m) => !contactIds.has(m.id))
    outsiders.hidden = others.length === 0
    replaceChildren(outsiders, others.map((member) => {
      const name = memberName(member)
      return h('li', { class: 'contact', 'data-member': member.id },
        h('div', { class: 'contact-who' },
          h('span', { class: 'contact-name' }, name),
          h('span', { class: 'hint' }, 'In your circle, not in your contacts')),
        h('div', { class: 'actions' },
          h('button', {
            type: 'button',
            class: 'quiet danger',
            onclick: (event: MouseEvent) => { void removeOutsider(member, event.currentTarget as HTMLButtonElement) }
          }, 'Remove from circle', hiddenText(` ${name}`))))
    }))
  }

  /** Adds a contact to the circle or removes them, then redraws. */
  async function toggleCircle (contact: ApiContact, inCircle: boolean, button: HTMLButtonElement): Promise<void> {
    circleError.textContent = ''
    button.disabled = true
    try {
      if (inCircle) {
        await ctx.client.removeFromCircle(contact.id)
        ctx.announce(`${displayName(contact)} was removed from your circle.`)
      } else {
        await ctx.client.addToCircle(contact.id)
        ctx.announce(`${displayName(contact)} was added to your circle.`)
      }
      await load()
      list.querySelector<HTMLElement>(`[data-id="${CSS.escape(contact.id)}"] .circle-toggle`)?.focus()
    } catch (error) {
      circleError.textContent = errorSentence(error)
      button.disabled = false
    }
  }

  function draw (contacts: ApiContact[]): void {
    listStatus.textContent = contacts.length === 0 ? 'No contacts yet: add one above.' : ''
    listStatus.hidden = contacts.length > 0
    const sorted = [...contacts].sort((a, b) => displayName(a).localeCompare(displayName(b)))
    replaceChildren(list, sorted.map((contact) => {
      const name = displayName(contact)
      return h('li', { class: 'contact', 'data-id': contact.id },
        h('div', { class: 'contact-who' },
          h('span', { class: 'contact-name' }, name),
          h('span', { class: 'fingerprint' }, hiddenText('Fingerprint: '), contact.fingerprint)),
        h('div', { class: 'actions' },
          h('a', { href: `#/conversations/${encodeURIComponent(contact.id)}` }, 'Message', hiddenText(` ${name}`)),
          h('a', { href: `#/contacts/${encodeURIComponent(contact.id)}` }, 'Verify', hiddenText(` ${name}`)),
          circleButton(contact, name),
          h('button', {
            type: 'button',
            class: 'quiet danger',
            onclick: () => { void removeContact(ctx, contact, listError, members.has(contact.id)).then((removed) => { if (removed) void load() }) }
          }, 'Remove', hiddenText(` ${name}`))))
    }))
  }

  function circleButton (contact: ApiContact, name: string): HTMLElement {
    const inCircle = members.has(contact.id)
    return h('button', {
      type: 'button',
      class: 'quiet circle-toggle',
      // Handing the circle's key to a new member takes a moment of proof of work: the button waits.
      onclick: (event: MouseEvent) => { void toggleCircle(contact, inCircle, event.currentTarget as HTMLButtonElement) }
    }, inCircle ? 'Remove from circle' : 'Add to circle', hiddenText(` ${name}`))
  }

  async function load (): Promise<void> {
    try {
      const [contacts, circle] = await Promise.all([ctx.client.contacts(), ctx.client.circle()])
      members = new Set(circle.map((m) => m.id))
      drawCircle(circle.length)
      drawOutsiders(circle, contacts)
      draw(contacts)
    } catch (error) {
      listError.textContent = errorSentence(error)
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const value = input.value.trim()
    if (value === '') return
    addButton.disabled = true
    form.setAttribute('aria-busy', 'true')
    addError.textContent = ''
    addResult.textContent = ''
    ctx.client.addContact(value).then(async (contact) => {
      input.value = ''
      addResult.textContent = `Added ${displayName(contact)}. Compare fingerprints with them before you trust the keys.`
      await load()
    }, (error: unknown) => {
      addError.textContent = errorSentence(error) // the input keeps what was typed
    }).finally(() => {
      addButton.disabled = false
      form.removeAttribute('aria-busy')
    })
  })

  const unsubscribe = ctx.live.on('hello', () => { void load() })
  void load()
  const listHeading = h('h3', { id: uniqueId('your-contacts') }, 'Your contacts')
  return {
    title: 'Contacts',
    element: h('section', { class: 'pane page' }, heading, form,
      circleSection,
      h('section', { 'aria-labelledby': listHeading.id }, listHeading, listStatus, listError, list)),
    focus: heading,
    dispose: unsubscribe
  }
}

/** Normalises a fingerprint for comparison: letters and digits only, upper case. */
function normaliseFingerprint (text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9]/g, '')
}

/** The verify view of one contact. */
export function verifyScreen (ctx: AppContext, contactId: string): Screen {
  const heading = h('h2', { tabindex: -1 }, 'Verify contact')
  const body = h('div', { class: 'verify' }, h('p', { role: 'status' }, 'Loading…'))
  const errorBox = h('p', { class: 'error', role: 'alert' })

  async function load (): Promise<void> {
    try {
      const [contact, me, circle] = await Promise.all([ctx.client.contact(contactId), ctx.identity(), ctx.client.circle().catch(() => [])])
      const inCircle = circle.some((m) => m.id === contact.id)
      const name = displayName(contact)
      heading.textContent = `Verify ${name}`
      document.title = `Verify ${name} · Komrade`
      const input = h('input', { id: uniqueId('their-fp'), type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false' })
      const result = h('p', { role: 'status', class: 'compare-result' })
      const compare = h('form', { class: 'card', 'aria-label': 'Compare a fingerprint' },
        field(`Fingerprint ${name} reads to you`, input, 'Spaces and case do not matter.'),
        h('button', { type: 'submit' }, 'Compare'), result)
      compare.addEventListener('submit', (event) => {
        event.preventDefault()
        const match = normaliseFingerprint(input.value) === normaliseFingerprint(contact.fingerprint)
        result.className = match ? 'compare-result success' : 'compare-result error'
        result.textContent = match
          ? `They match: these are ${name}'s keys.`
          : `They do not match. Do not trust these keys: someone may be in between. Check that you read the right screen, then ask ${name} again.`
      })
      replaceChildren(body,
        h('p', null, `Compare these with what ${name} sees on their own Identity screen, in person or over a call you trust. ` +
          'If they match, nobody stands between you.'),
        h('dl', { class: 'facts' },
          h('dt', null, 'Safety number'), h('dd', { class: 'fingerprint' }, contact.safetyNumber),
          h('dt', null, `${name}'s fingerprint`), h('dd', { class: 'fingerprint' }, contact.fingerprint),
          h('dt', null, 'Your fingerprint'), h('dd', { class: 'fingerprint' }, me.fingerprint)),
        compare,
        h('div', { class: 'actions' },
          h('a', { href: `#/conversations/${encodeURIComponent(contact.id)}` }, `Message ${name}`),
          h('button', {
            type: 'button',
            class: 'quiet danger',
            onclick: () => { void removeContact(ctx, contact, errorBox, inCircle).then((removed) => { if (removed) location.hash = '#/contacts' }) }
          }, `Remove ${name}`)))
    } catch (error) {
      replaceChildren(body, h('p', null, h('a', { href: '#/contacts' }, 'Back to contacts')))
      errorBox.textContent = errorSentence(error)
    }
  }
  void load()
  return {
    title: 'Verify contact',
    element: h('section', { class: 'pane page' }, h('a', { href: '#/contacts', class: 'back' }, h('span', { 'aria-hidden': 'true' }, '← '), 'All contacts'), heading, errorBox, body),
    focus: heading,
    dispose () {}
  }
}
