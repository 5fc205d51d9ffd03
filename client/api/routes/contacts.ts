/** Contacts: list, add (by name, invite code or hex identity), show with the safety number, remove. */
import { KomradeApiError } from '../errors.js'
import { contactId, MAX_PERSON_REFERENCE_LENGTH, stringField, type Route } from '../router.js'
import { apiContact, safetyNumber } from '../shapes.js'

function unknownContact (id: string): KomradeApiError {
  return new KomradeApiError('unknown_contact', `There is no contact with id ${id}; list them with GET /api/contacts (\`komrade contacts list\`)`)
}

export const contactRoutes: Route[] = [
  { method: 'GET', path: '/api/contacts', handle: async ({ services }) => ({ body: services.node.contacts.list().map(apiContact) }) },
  {
    method: 'POST',
    path: '/api/contacts',
    async handle ({ body, services, signal }) {
      const contact = stringField(await body(), 'contact', MAX_PERSON_REFERENCE_LENGTH)
      return { body: apiContact(await services.node.contacts.add(contact, { signal })) }
    }
  },
  {
    method: 'GET',
    path: '/api/contacts/:id',
    async handle ({ params, services }) {
      const id = contactId(params.id!, 'id')
      const contact = services.node.contacts.list().find((c) => c.id === id)
      if (contact === undefined) throw unknownContact(id)
      return { body: { ...apiContact(contact), safetyNumber: safetyNumber(services.node.status().fingerprint, contact.fingerprint) } }
    }
  },
  {
    method: 'DELETE',
    path: '/api/contacts/:id',
    async handle ({ params, services }) {
      const id = contactId(params.id!, 'id')
      if (!(await services.node.contacts.remove(id))) throw unknownContact(id)
      return { status: 204 }
    }
  }
]
