/**
 * The Events screen: events we host or received, soonest first, each with
 * its time, place, host (or "anonymous host"), and our answer (Going,
 * Maybe, Not going: pressed buttons); the host sees the answers, can cancel
 * and invite contacts. A form hosts a new one for the world, a group or
 * chosen contacts, named or anonymous. Titles, places and descriptions come
 * from their hosts: they go in as text.
 */
import type { ApiContact } from '../../api/types.js'
import type { ApiEventAudience, ApiEventInfo, ApiRsvpChoice } from '../../api/collectives-types.js'
import {
  DEFAULT_PIN_PRECISION, MAX_EVENT_DESCRIPTION_CHARS, MAX_EVENT_PLACE_CHARS, MAX_EVENT_TITLE_CHARS
} from '../../api/collectives-content.js'
import type { AppContext, Screen } from './app.js'
import { radio } from './composer.js'
import { h, hiddenText, replaceChildren, uniqueId } from './dom.js'
import { displayName, errorSentence, isApiError, longTime } from './format.js'
import { parseLatLon } from './map-geometry.js'
import { isolated } from './post-view.js'

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

/** The Events screen (`param` is unused for now: every event is on one page). */
export function eventsScreen (ctx: AppContext, _param?: string): Screen {
  const disposers: Array<() => void> = []
  const heading = h('h2', { tabindex: -1 }, 'Events')
  const list = h('ul', { class: 'plain event-list', 'aria-label': 'Events' })
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  let contacts: ApiContact[] = []
  const events = new Map<string, ApiEventInfo>()

  function eventItem (event: ApiEventInfo): HTMLLIElement {
    const errorLine = h('p', { class: 'error', role: 'alert' })
    const titleId = uniqueId('event-title')
    const answer = (choice: ApiRsvpChoice): void => {
      ctx.client.rsvp(event.id, choice).then((updated) => {
        receive(updated)
        ctx.announce(`You answered ${RSVP_LABELS[choice]}.`)
        item.querySelector<HTMLButtonElement>(`button[data-choice="${choice}"]`)?.focus()
      }, (error: unknown) => { errorLine.textContent = errorSentence(error) })
    }
    const rsvpButtons = event.mine || event.cancelled
      ? null
      : h('div', { class: 'actions', role: 'group', 'aria-label': 'Your answer' }, RSVP_CHOICES.map((choice) =>
        h('button', { type: 'button', class: 'toggle', 'data-choice': choice, 'aria-pressed': String(event.myRsvp === choice), onclick: () => { answer(choice) } }, RSVP_LABELS[choice])))
    const hostTools = event.mine && !event.cancelled ? hostControls(event, errorLine) : null
    const item = h('li', { class: 'card event', 'data-id': event.id },
      h('article', { 'aria-labelledby': titleId },
        h('h3', { id: titleId, dir: 'auto' }, event.cancelled ? 'Cancelled: ' : '', isolated(event.title)),
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
    const invitee = h('select', { id: uniqueId('invite') }, contacts.map((c) => h('option', { value: c.id }, displayName(c))))
    const invite = h('button', { type: 'button', class: 'quiet', disabled: contacts.length === 0 }, 'Invite', hiddenText(' this contact'))
    invite.addEventListener('click', () => {
      ctx.client.inviteToEvent(event.id, [invitee.value]).then(() => { ctx.announce('Invitation sent.') }, (error: unknown) => { errorLine.textContent = errorSentence(error) })
    })
    const confirmCancel = h('button', { type: 'button', class: 'danger', hidden: true }, 'Yes, cancel it')
    const cancel = h('button', { type: 'button', class: 'quiet danger', onclick: () => { confirmCancel.hidden = false; confirmCancel.focus() } }, 'Cancel the event')
    confirmCancel.addEventListener('click', () => {
      ctx.client.cancelEvent(event.id).then(receive, (error: unknown) => { errorLine.textContent = errorSentence(error) })
    })
    return h('div', { class: 'actions host-tools' },
      h('div', { class: 'field' }, h('label', { for: invitee.id }, 'Invite a contact'), h('div', { class: 'inline-field' }, invitee, invite)),
      cancel, confirmCancel)
  }

  function render (): void {
    const sorted = [...events.values()].sort((a, b) => Number(a.cancelled) - Number(b.cancelled) || a.startsAt - b.startsAt)
    replaceChildren(list, sorted.map(eventItem))
    status.hidden = sorted.length > 0
    status.textContent = sorted.length === 0 ? 'No events yet: host one, or wait for invitations.' : ''
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
    const group = h('input', { id: uniqueId('event-group'), type: 'text', autocomplete: 'off', spellcheck: 'false' })
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
      h('div', { class: 'field' }, h('label', { for: group.id }, 'Group name (for a group)'), group),
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
      render()
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
        if (group.value.trim() === '') { formError.textContent = 'Name the group.'; group.focus(); return }
        audience = { group: group.value.trim() }
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
