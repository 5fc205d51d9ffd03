/**
 * Events (DESIGN §7, SPEC §15.9): hosting one for the world, a group or
 * chosen contacts (anonymously, with one-time keys, unless it goes to
 * contacts), updating and cancelling it, inviting contacts, and answering.
 * Times are unix milliseconds, as everywhere in this API.
 */
import type { EventAudience, EventChanges, EventInput, RsvpChoice } from '../../../node/collectives/types.js'
import { apiEvent } from '../collectives-shapes.js'
import {
  MAX_EVENT_CONTACTS, MAX_EVENT_DESCRIPTION_CHARS, MAX_EVENT_PLACE_CHARS, MAX_EVENT_TITLE_CHARS, MAX_PIN_GEOHASH, MAX_RSVP_NOTE_CHARS
} from '../collectives-content.js'
import { KomradeApiError } from '../errors.js'
import { MAX_PERSON_REFERENCE_LENGTH, type Route } from '../router.js'
import { booleanField, choiceField, eventsOf, groupParam, hexId, locationField, nodeCall, textField } from './collectives-input.js'

/** The latest time accepted: year 9999 (a u64 of ms holds far more; no event is that far). */
const MAX_TIME_MS = 253_402_300_799_000

/**
 * An event id: 32 hex (the event's own id), or 96 (the id and its host key, for a second host's event
 * under an id another host used first; node/collectives/events.ts).
 */
function eventId (value: string | undefined): string {
  return typeof value === 'string' && value.length === 96 ? hexId(value, 'id', 96, 'an event id') : hexId(value, 'id', 32, 'an event id')
}

/** An optional time field in unix milliseconds. */
function timeField (body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_TIME_MS) {
    throw new KomradeApiError('bad_request', `The field "${name}" must be a time in unix milliseconds (such as ${Date.UTC(2030, 0, 1)})`)
  }
  return value
}

/** A list of contacts (names, contact ids, hex identities): 1 to MAX_EVENT_CONTACTS. */
function contactsValue (value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_EVENT_CONTACTS) {
    throw new KomradeApiError('bad_request', `The field "${name}" must be a list of 1 to ${MAX_EVENT_CONTACTS} contacts (names or contact ids)`)
  }
  return value.map((contact, i) => {
    if (typeof contact !== 'string' || contact.trim() === '' || contact.length > MAX_PERSON_REFERENCE_LENGTH) {
      throw new KomradeApiError('bad_request', `The field "${name}[${i}]" must be a contact: a name or a contact id`)
    }
    return contact.trim()
  })
}

/** The audience: "world", { group } or { contacts: [...] }. */
function audienceValue (value: unknown): EventAudience {
  if (value === 'world') return 'world'
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const { group, contacts } = value as Record<string, unknown>
    if (typeof group === 'string' && contacts === undefined) return { group: groupParam(group, 'audience.group') }
    if (contacts !== undefined && group === undefined) return { contacts: contactsValue(contacts, 'audience.contacts') }
  }
  throw new KomradeApiError('bad_request', 'The field "audience" must be "world", { "group": NAME } or { "contacts": [NAME, …] }')
}

/** The fields an event and an update share; `required` for hosting. */
function eventFields (body: Record<string, unknown>, required: boolean): EventChanges {
  const title = textField(body, 'title', MAX_EVENT_TITLE_CHARS, { required, trim: true })
  if (title !== undefined && title === '') throw new KomradeApiError('bad_request', 'The field "title" must not be empty')
  const startsAt = timeField(body, 'startsAt')
  if (required && startsAt === undefined) throw new KomradeApiError('bad_request', 'The field "startsAt" is required: the start in unix milliseconds')
  const endsAt = timeField(body, 'endsAt')
  if (startsAt !== undefined && endsAt !== undefined && endsAt < startsAt) throw new KomradeApiError('bad_request', 'The field "endsAt" must not be before "startsAt"')
  const place = textField(body, 'place', MAX_EVENT_PLACE_CHARS)
  const description = textField(body, 'description', MAX_EVENT_DESCRIPTION_CHARS)
  const location = locationField(body, 'location', MAX_PIN_GEOHASH)
  return {
    ...(title === undefined ? {} : { title }),
    ...(startsAt === undefined ? {} : { startsAt }),
    ...(endsAt === undefined ? {} : { endsAt }),
    ...(place === undefined ? {} : { place }),
    ...(description === undefined ? {} : { description }),
    ...(location === undefined ? {} : { location })
  }
}

/** The checked body of POST /api/events. */
function eventInput (body: Record<string, unknown>): EventInput {
  const fields = eventFields(body, true)
  const audience = audienceValue(body.audience ?? 'world')
  const anonymous = booleanField(body, 'anonymous')
  if (anonymous === true && typeof audience === 'object' && 'contacts' in audience) {
    throw new KomradeApiError('bad_request', 'An event for chosen contacts reaches them in your own conversations, so it cannot be anonymous: set "anonymous" to false, or host it for the world or a group')
  }
  return { ...fields, title: fields.title!, startsAt: fields.startsAt!, audience, ...(anonymous === undefined ? {} : { anonymous }) }
}

const RSVP_CHOICES: readonly RsvpChoice[] = ['going', 'maybe', 'not-going']

export const eventRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/events',
    async handle ({ services }) {
      return { body: (await eventsOf(services.node).list()).map(apiEvent) }
    }
  },
  {
    method: 'POST',
    path: '/api/events',
    async handle ({ body, services, signal }) {
      const input = eventInput(await body())
      return { body: apiEvent(await nodeCall(async () => await eventsOf(services.node).host(input, { signal }))) }
    }
  },
  {
    method: 'GET',
    path: '/api/events/:id',
    async handle ({ params, services }) {
      const id = eventId(params.id)
      const event = await eventsOf(services.node).get(id)
      if (event === undefined) throw new KomradeApiError('unknown_event', `No event ${id} is known to this node`)
      return { body: apiEvent(event) }
    }
  },
  {
    method: 'PATCH',
    path: '/api/events/:id',
    async handle ({ params, body, services, signal }) {
      const id = eventId(params.id)
      const changes = eventFields(await body(), false)
      if (Object.keys(changes).length === 0) {
        throw new KomradeApiError('bad_request', 'Name at least one field to change: "title", "startsAt", "endsAt", "place", "description" or "location"')
      }
      return { body: apiEvent(await nodeCall(async () => await eventsOf(services.node).update(id, changes, { signal }))) }
    }
  },
  {
    method: 'POST',
    path: '/api/events/:id/cancel',
    async handle ({ params, services, signal }) {
      const id = eventId(params.id)
      return { body: apiEvent(await nodeCall(async () => await eventsOf(services.node).cancel(id, { signal }))) }
    }
  },
  {
    method: 'POST',
    path: '/api/events/:id/invite',
    async handle ({ params, body, services, signal }) {
      const id = eventId(params.id)
      const contacts = contactsValue((await body()).contacts, 'contacts')
      return { body: apiEvent(await nodeCall(async () => await eventsOf(services.node).invite(id, contacts, { signal }))) }
    }
  },
  {
    method: 'POST',
    path: '/api/events/:id/rsvp',
    async handle ({ params, body, services, signal }) {
      const id = eventId(params.id)
      const input = await body()
      const choice = choiceField(input, 'choice', RSVP_CHOICES)
      const note = textField(input, 'note', MAX_RSVP_NOTE_CHARS)
      return { body: apiEvent(await nodeCall(async () => await eventsOf(services.node).rsvp(id, choice, note === '' ? undefined : note, { signal }))) }
    }
  }
]
