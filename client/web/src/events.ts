/**
 * The Events screen: events we host or received, soonest first, each with
 * its time, place, host (or "anonymous host"), and our answer (Going,
 * Maybe, Not going: pressed buttons); the host sees the answers, can cancel
 * and invite contacts. A form hosts a new one for the world, a group or
 * chosen contacts, named or anonymous. Titles, places and descriptions come
 * from their hosts: they go in as text.
 */
import type { ApiContact } from '../../api/types.js'
import type { ApiEventAudience, ApiEventChanges, ApiEventInfo, ApiRsvpChoice } from '../../api/collectives-types.js'
import {
  DEFAULT_PIN_PRECISION, MAX_EVENT_DESCRIPTION_CHARS, MAX_EVENT_PLACE_CHARS, MAX_EVENT_TITLE_CHARS, MAX_RSVP_NOTE_CHARS
} from '../../api/collectives-content.js'
import type { AppContext, Screen } from './app.js'
import { radio } from './composer.js'
import { h, hiddenText, replaceChildren, uniqueId } from './dom.js'
import { displayName, errorSentence, isApiError, longTime } from './format.js'
import { parseLatLon } from './map-geometry.js'
import { isolated } from './post-view.js'
import { FOCUS_KEY, keyedList } from './keyed-list.js'

const RSVP_LABELS: Readonly<Record<ApiRsvpChoice, string>> = { going: 'Going', maybe: 'Maybe', 'not-going': 'Not going' }
const RSVP_CHOICES: readonly ApiRsvpChoice[] = ['going', 'maybe', 'not-going']

/** Where an event was published, in words. */
function audienceText (audience: ApiEventInfo['audience']): string {
  if (audience === 'world') return 'the world'
  if (audience === 'invited') return 'you, invited'
  if ('group' in audience) return `group @${audience.group}`
  return `${audience.contacts.length} ${audience.contacts.length === 1 ? 'contact' : 'contacts'}`
}

/** A datetime-local value as unix ms (local time), or undefined when empty or invalid. */
function localTime (value: string): number | undefined {
  if (value === '') return undefined
  const ms = new Date(value).getTime()
  return Number.isFinite(ms) ? ms : undefined
}

/** Unix ms as a datetime-local value (local time, to the minute). */
function localInput (ms: number): string {
  const d = new Date(ms)
  const two = (n: number): string => String(n).padStart(2, '0')
  return `${String(d.getFullYear()).padStart(4, '0')}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`
}

/** The Events screen (`param` is unused for now: every event is on one page). */
export function eventsScreen (ctx: AppContext, _param?: string): Screen {
  const disposers: Array<() => void> = []
  const heading = h('h2', { tabindex: -1 }, 'Events')
  const list = h('ul', { class: 'plain event-list', 'aria-label': 'Events' })
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  let contacts: ApiContact[] = []
  const events = new Map<string, ApiEventInfo>()

  // Items are redrawn by key: a live answer or update redraws its own event only, and focus stays where it was.
  const drawn = keyedList(list, (event: ApiEventInfo) => event.id, eventItem, (event) => JSON.stringify(event))

  /** Focuses the control keyed `key` in the event's (new) item, else its heading. */
  function focusIn (id: string, key: string): void {
    const item = drawn.element(id)
    const target = item?.querySelector<HTMLElement>(`[${FOCUS_KEY}="${key}"]`) ?? item?.querySelector<HTMLElement>('[data-focus-fallback]')
    target?.focus()
  }

  function eventItem (event: ApiEventInfo): HTMLLIElement {
    const errorLine = h('p', { class: 'error', role: 'alert' })
    const titleId = uniqueId('event-title')
    const note = h('input', { id: uniqueId('rsvp-note'), type: 'text', maxlength: MAX_RSVP_NOTE_CHARS, autocomplete: 'off', [FOCUS_KEY]: 'rsvp-note' })
    const answer = (choice: ApiRsvpChoice): void => {
      errorLine.textContent = ''
      ctx.client.rsvp(event.id, choice, note.value.trim() === '' ? undefined : note.value.trim()).then((updated) => {
        receive(updated)
        ctx.announce(`You answered ${RSVP_LABELS[choice]}.`)
        focusIn(event.id, `rsvp-${choice}`)
      }, (error: unknown) => { errorLine.textContent = errorSentence(error) })
    }
    const rsvpButtons = event.mine || event.cancelled
      ? null
      : [
          h('div', { class: 'actions', role: 'group', 'aria-label': 'Your answer' }, RSVP_CHOICES.map((choice) =>
            h('button', { type: 'button', class: 'toggle', 'data-choice': choice, [FOCUS_KEY]: `rsvp-${choice}`, 'aria-pressed': String(event.myRsvp === choice), onclick: () => { answer(choice) } },
              h('span', { class: 'pressed-mark', 'aria-hidden': 'true' }, '✓ '), RSVP_LABELS[choice]))),
          h('div', { class: 'field' }, h('label', { for: note.id }, 'A note to the host with your answer (optional)'), note)
        ]
    const hostTools = event.mine && !event.cancelled ? hostControls(event, errorLine) : null
    const item = h('li', { class: 'card event', 'data-id': event.id },
      h('article', { 'aria-labelledby': titleId },
        h('h3', { id: titleId, dir: 'auto', tabindex: -1, 'data-focus-fallback': true }, event.cancelled ? 'Cancelled: ' : '', isolated(event.title)),
        h('p', null,
          h('time', { datetime: new Date(event.startsAt).toISOString() }, longTime(event.startsAt)),
          event.endsAt === undefined ? '' : [' – ', h('time', { datetime: new Date(event.endsAt).toISOString() }, longTime(event.endsAt))]),
        event.place === '' ? null : h('p', null, 'Where: ', isolated(event.place), event.location === undefined ? '' : ` (area ${event.location.geohash})`),
        event.description === '' ? null : h('p', { class: 'post-text', dir: 'auto' }, event.description),
        h('p', { class: 'hint' }, 'Host: ', event.mine ? 'you' : event.host === undefined ? 'anonymous' : isolated(event.host.name ?? `someone ${event.host.id.slice(0, 8)}`),
          ` · for ${audienceText(event.audience)}`, event.revision > 0 ? ` · updated (revision ${event.revision})` : ''),
        rsvpButtons,
        event.mine ? answersList(event) : null,
        hostTools,
        errorLine))
    return item
  }

  function answersList (event: ApiEventInfo): HTMLElement {
    const rsvps = event.rsvps ?? []
    const counts = RSVP_CHOICES.map((choice) => `${rsvps.filter((r) => r.choice === choice).length} ${RSVP_LABELS[choice].toLowerCase()}`).join(', ')
    return h('section', { class: 'rsvps', 'aria-label': 'Answers' },
      h('p', null, h('strong', null, 'Answers: '), rsvps.length === 0 ? 'none yet' : counts),
      rsvps.length === 0 ? null : h('ul', { class: 'plain' }, rsvps.map((r) => h('li', null,
        isolated(r.responderName ?? `someone ${r.responder.slice(0, 8)}`), `: ${RSVP_LABELS[r.choice]}`, r.note === '' ? '' : [' – ', h('bdi', null, r.note)]))))
  }

  function hostControls (event: ApiEventInfo, errorLine: HTMLElement): HTMLElement {
    const invitee = h('select', { id: uniqueId('invite'), [FOCUS_KEY]: 'invitee' }, contacts.map((c) => h('option', { value: c.id }, displayName(c))))
    const invite = h('button', { type: 'button', class: 'quiet', disabled: contacts.length === 0, [FOCUS_KEY]: 'invite' }, 'Invite', hiddenText(' this contact'))
    invite.addEventListener('click', () => {
      ctx.client.inviteToEvent(event.id, [invitee.value]).then(() => { ctx.announce('Invitation sent.') }, (error: unknown) => { errorLine.textContent = errorSentence(error) })
    })
    const confirmCancel = h('button', { type: 'button', class: 'danger', hidden: true, [FOCUS_KEY]: 'confirm-cancel' }, 'Yes, cancel it')
    const cancel = h('button', { type: 'button', class: 'quiet danger', [FOCUS_KEY]: 'cancel', onclick: () => { confirmCancel.hidden = false; confirmCancel.focus() } }, 'Cancel the event')
    confirmCancel.addEventListener('click', () => {
      ctx.client.cancelEvent(event.id).then((cancelled) => {
        receive(cancelled)
        ctx.announce(`${cancelled.title} is cancelled.`)
        focusIn(event.id, 'none') // its heading: the host tools are gone
      }, (error: unknown) => { errorLine.textContent = errorSentence(error) })
    })
    return h('div', { class: 'host-tools' },
      h('div', { class: 'actions' },
        h('div', { class: 'field' }, h('label', { for: invitee.id }, 'Invite a contact'), h('div', { class: 'inline-field' }, invitee, invite)),
        cancel, confirmCancel),
      editForm(event, errorLine))
  }

  /** "Edit the event": its fields, filled in; only the changed ones are sent. */
  function editForm (event: ApiEventInfo, errorLine: HTMLElement): HTMLElement {
    const field = (key: string, label: string, control: HTMLInputElement | HTMLTextAreaElement): HTMLElement => {
      control.id = uniqueId(`edit-${key}`)
      control.setAttribute(FOCUS_KEY, `edit-${key}`)
      return h('div', { class: 'field' }, h('label', { for: control.id }, label), control)
    }
    const title = h('input', { type: 'text', maxlength: MAX_EVENT_TITLE_CHARS, autocomplete: 'off', value: event.title })
    const starts = h('input', { type: 'datetime-local', value: localInput(event.startsAt) })
    const ends = h('input', { type: 'datetime-local', value: event.endsAt === undefined ? '' : localInput(event.endsAt) })
    const place = h('input', { type: 'text', maxlength: MAX_EVENT_PLACE_CHARS, autocomplete: 'off', value: event.place })
    const description = h('textarea', { rows: 3, maxlength: MAX_EVENT_DESCRIPTION_CHARS }, event.description)
    const save = h('button', { type: 'submit', [FOCUS_KEY]: 'edit-save' }, 'Save the changes')
    const form = h('form', { 'aria-label': 'Edit the event' },
      field('title', 'Title', title),
      h('div', { class: 'compose-options' }, field('starts', 'Starts', starts), field('ends', 'Ends (optional)', ends)),
      field('place', 'Place', place), field('description', 'Description', description), save)
    form.addEventListener('submit', (submitted) => {
      submitted.preventDefault()
      errorLine.textContent = ''
      const startsAt = localTime(starts.value)
      const endsAt = localTime(ends.value)
      if (title.value.trim() === '') { errorLine.textContent = 'Give the event a title.'; title.focus(); return }
      if (startsAt === undefined) { errorLine.textContent = 'Say when it starts.'; starts.focus(); return }
      if (endsAt !== undefined && endsAt < startsAt) { errorLine.textContent = 'It cannot end before it starts.'; ends.focus(); return }
      const changes: ApiEventChanges = {
        ...(title.value.trim() === event.title ? {} : { title: title.value.trim() }),
        ...(starts.value === localInput(event.startsAt) ? {} : { startsAt }),
        ...(endsAt === undefined || ends.value === (event.endsAt === undefined ? '' : localInput(event.endsAt)) ? {} : { endsAt }),
        ...(place.value === event.place ? {} : { place: place.value.trim() }),
        ...(description.value === event.description ? {} : { description: description.value })
      }
      if (Object.keys(changes).length === 0) { errorLine.textContent = 'Nothing changed.'; return }
      save.disabled = true
      ctx.client.updateEvent(event.id, changes).then((updated) => {
        receive(updated)
        ctx.announce(`${updated.title} is updated; those it reached get the new version.`)
        const item = drawn.element(event.id)
        const details = item?.querySelector('details.edit-event')
        if (details instanceof HTMLDetailsElement) details.open = false
        focusIn(event.id, 'edit-summary')
      }, (error: unknown) => { save.disabled = false; errorLine.textContent = errorSentence(error) })
    })
    return h('details', { class: 'edit-event' }, h('summary', { [FOCUS_KEY]: 'edit-summary' }, 'Edit the event'), form)
  }

  function render (force = false): void {
    const sorted = [...events.values()].sort((a, b) => Number(a.cancelled) - Number(b.cancelled) || a.startsAt - b.startsAt)
    drawn.update(sorted, force)
    status.hidden = sorted.length > 0
    const text = sorted.length === 0 ? 'No events yet: host one, or wait for invitations.' : ''
    if (status.textContent !== text) status.textContent = text // an unchanged status is not announced again
  }

  function receive (event: ApiEventInfo): void {
    const known = events.get(event.id)
    if (known !== undefined && known.revision > event.revision) return
    events.set(event.id, event)
    render()
  }

  async function load (): Promise<void> {
    try {
      const all = await ctx.client.listEvents()
      events.clear()
      for (const event of all) events.set(event.id, event)
      render()
      errorBox.textContent = ''
    } catch (error) {
      status.hidden = true
      errorBox.textContent = isApiError(error, 'not_available') ? 'This node does not run events yet.' : errorSentence(error)
    }
  }

  const form = hostForm()

  function hostForm (): HTMLElement {
    const title = h('input', { id: uniqueId('event-title-input'), type: 'text', maxlength: MAX_EVENT_TITLE_CHARS, autocomplete: 'off' })
    const starts = h('input', { id: uniqueId('event-starts'), type: 'datetime-local' })
    const ends = h('input', { id: uniqueId('event-ends'), type: 'datetime-local' })
    const place = h('input', { id: uniqueId('event-place'), type: 'text', maxlength: MAX_EVENT_PLACE_CHARS, autocomplete: 'off' })
    const where = h('input', { id: uniqueId('event-where'), type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '52.52, 13.405' })
    const description = h('textarea', { id: uniqueId('event-description'), rows: 3, maxlength: MAX_EVENT_DESCRIPTION_CHARS })
    const audienceName = uniqueId('event-audience')
    const group = h('select', { id: uniqueId('event-group') }, h('option', { value: '' }, 'Loading your groups…'))
    const invitees = h('fieldset', { class: 'choices' }, h('legend', null, 'Contacts to invite'))
    const anonymous = h('input', { id: uniqueId('event-anonymous'), type: 'checkbox' })
    const button = h('button', { type: 'submit' }, 'Host the event')
    const formError = h('p', { class: 'error', role: 'alert' })
    const element = h('form', { 'aria-label': 'Host an event' },
      h('div', { class: 'field' }, h('label', { for: title.id }, 'Title'), title),
      h('div', { class: 'compose-options' },
        h('div', { class: 'field' }, h('label', { for: starts.id }, 'Starts'), starts),
        h('div', { class: 'field' }, h('label', { for: ends.id }, 'Ends (optional)'), ends)),
      h('div', { class: 'field' }, h('label', { for: place.id }, 'Place (optional)'), place),
      h('div', { class: 'field' }, h('label', { for: where.id }, 'On the map (latitude, longitude; optional)'), where),
      h('div', { class: 'field' }, h('label', { for: description.id }, 'Description (optional)'), description),
      h('fieldset', { class: 'choices' }, h('legend', null, 'Who is it for'),
        radio(audienceName, 'world', 'Everyone (the world)', true),
        radio(audienceName, 'group', 'A group', false),
        radio(audienceName, 'contacts', 'Chosen contacts', false)),
      h('div', { class: 'field' }, h('label', { for: group.id }, 'Group (for a group)'), group),
      invitees,
      h('div', { class: 'choice' }, anonymous, h('label', { for: anonymous.id }, 'Host anonymously (not for chosen contacts: they get it from you)')),
      button, formError)
    void ctx.client.contacts().then((found) => {
      contacts = found
      if (found.length === 0) invitees.append(h('p', { class: 'hint' }, 'No contacts yet.'))
      for (const contact of found) {
        const box = h('input', { type: 'checkbox', id: uniqueId('invitee'), value: contact.id })
        invitees.append(h('div', { class: 'choice' }, box, h('label', { for: box.id }, displayName(contact))))
      }
      render(true) // the host tools' contact lists
    }, () => {})
    // Groups we are a member of, as audiences (as the pin form offers them).
    void ctx.client.groups().then((groups) => {
      const mine = groups.filter((g) => g.membership === 'member')
      replaceChildren(group, mine.length === 0 ? h('option', { value: '' }, 'You are in no group yet') : mine.map((g) => h('option', { value: g.name }, `@${g.name}`)))
    }, () => {})
    element.addEventListener('submit', (event) => {
      event.preventDefault()
      formError.textContent = ''
      const startsAt = localTime(starts.value)
      const endsAt = localTime(ends.value)
      if (title.value.trim() === '') { formError.textContent = 'Give the event a title.'; title.focus(); return }
      if (startsAt === undefined) { formError.textContent = 'Say when it starts.'; starts.focus(); return }
      if (endsAt !== undefined && endsAt < startsAt) { formError.textContent = 'It cannot end before it starts.'; ends.focus(); return }
      const point = where.value.trim() === '' ? undefined : parseLatLon(where.value)
      if (typeof point === 'string') { formError.textContent = point; where.focus(); return }
      const chosen = element.querySelector<HTMLInputElement>(`input[name="${audienceName}"]:checked`)?.value
      let audience: ApiEventAudience = 'world'
      if (chosen === 'group') {
        if (group.value === '') { formError.textContent = 'Choose a group you are a member of.'; group.focus(); return }
        audience = { group: group.value }
      } else if (chosen === 'contacts') {
        const picked = [...invitees.querySelectorAll<HTMLInputElement>('input:checked')].map((box) => box.value)
        if (picked.length === 0) { formError.textContent = 'Choose at least one contact.'; return }
        if (anonymous.checked) { formError.textContent = 'An event for chosen contacts comes from you: it cannot be anonymous.'; return }
        audience = { contacts: picked }
      }
      button.disabled = true
      ctx.client.hostEvent({
        title: title.value.trim(),
        startsAt,
        ...(endsAt === undefined ? {} : { endsAt }),
        ...(place.value.trim() === '' ? {} : { place: place.value.trim() }),
        ...(description.value.trim() === '' ? {} : { description: description.value }),
        ...(point === undefined ? {} : { location: { ...point, precision: DEFAULT_PIN_PRECISION } }),
        audience,
        anonymous: anonymous.checked
      }).then((hosted) => {
        receive(hosted)
        title.value = ''
        description.value = ''
        ctx.announce(`Event hosted: ${hosted.title}.`)
      }, (error: unknown) => { formError.textContent = errorSentence(error) }).finally(() => { button.disabled = false })
    })
    return h('details', { class: 'card' }, h('summary', { class: 'composer-summary' }, 'Host an event'), element)
  }

  disposers.push(ctx.live.on('event', (event) => { receive(event.event) }))
  disposers.push(ctx.live.on('rsvp', (event) => {
    const known = events.get(event.rsvp.eventId)
    if (known === undefined || !known.mine) return
    // The host's list of answers: the newest answer per responder.
    const rsvps = [...(known.rsvps ?? []).filter((r) => r.responder !== event.rsvp.responder), event.rsvp]
    events.set(known.id, { ...known, rsvps })
    render()
    ctx.announce(`New answer to ${known.title}: ${RSVP_LABELS[event.rsvp.choice]}.`)
  }))
  disposers.push(ctx.live.on('hello', () => { void load() }))
  void load()

  const element = h('section', { class: 'page events' }, heading, form, status, errorBox, list)
  return { title: 'Events', element, focus: heading, dispose: () => { for (const d of disposers) d() } }
}
