/**
 * Messages: send (to a name, a contact id or a hex identity), one
 * conversation in both directions, the inbox and the outbox.
 */
import type { KomradeNode } from '../../../node/komrade-node.js'
import { FIRST_CONTACT_BODY_CAPACITY, isInviteCode, MAX_PAYLOAD_LENGTH, normalizeName, PUBLIC_IDENTITY_HEX_PATTERN } from '../../../protocol/index.js'
import { KomradeApiError } from '../errors.js'
import { contactId, integerParam, isContactId, MAX_PERSON_REFERENCE_LENGTH, stringField, type Route } from '../router.js'
import { apiReceived, apiSent } from '../shapes.js'
import type { ApiConversationMessage } from '../types.js'

/** Messages per conversation page. */
const DEFAULT_PAGE = 50
const MAX_PAGE = 1000

/**
 * The hex public identity to send to. A name already held by a contact is
 * used as it is; a new name (or an invite code) is added as a contact first,
 * which looks it up and verifies it, so the conversation carries the name.
 */
async function recipientIdentity (node: KomradeNode, to: string, signal: AbortSignal): Promise<string> {
  if (PUBLIC_IDENTITY_HEX_PATTERN.test(to)) return to.toLowerCase()
  if (isContactId(to)) {
    const contact = node.contacts.list().find((c) => c.id === to.toLowerCase())
    if (contact === undefined) {
      throw new KomradeApiError('unknown_contact', `There is no contact with id ${to}; send to a name or a hex public identity (128 hex) instead`)
    }
    return contact.identity
  }
  if (isInviteCode(to)) return (await node.contacts.add(to, { signal })).identity
  const name = normalizeName(to)
  const known = node.contacts.list().find((c) => c.name === name)
  return known?.identity ?? (await node.contacts.add(name, { signal })).identity
}

export const messageRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/messages',
    async handle ({ body, services, signal }) {
      const input = await body()
      const to = stringField(input, 'to', MAX_PERSON_REFERENCE_LENGTH)
      const text = input.text
      if (typeof text !== 'string' || text === '') throw new KomradeApiError('bad_request', 'The field "text" is required and must be a non-empty string')
      const bytes = Buffer.byteLength(text)
      if (bytes > MAX_PAYLOAD_LENGTH) {
        throw new KomradeApiError('message_too_large', `A message holds at most ${MAX_PAYLOAD_LENGTH} bytes (1 MiB) of UTF-8 text, this one has ${bytes}; shorten it or split it`)
      }
      const identity = await recipientIdentity(services.node, to, signal)
      // Checked here as well as by the node: the node's keyring notes a new contact before it measures the message.
      const sessions = services.node.contacts.list().find((c) => c.identity === identity)?.sessions ?? 0
      if (sessions === 0 && bytes > FIRST_CONTACT_BODY_CAPACITY) {
        throw new KomradeApiError('message_too_large', `The first message to a new contact carries at most ${FIRST_CONTACT_BODY_CAPACITY} bytes, ` +
          `this one has ${bytes}; send a short one first and the rest once they answer`)
      }
      return { body: apiSent(await services.node.send(identity, text, { signal })) }
    }
  },
  {
    method: 'GET',
    path: '/api/messages',
    async handle ({ query, services }) {
      const peer = contactId(query.get('with') ?? '', 'with')
      const limit = integerParam(query, 'limit', 1, MAX_PAGE) ?? DEFAULT_PAGE
      const before = integerParam(query, 'before', 0, Number.MAX_SAFE_INTEGER) ?? Number.POSITIVE_INFINITY
      const incoming: ApiConversationMessage[] = (await services.node.inbox())
        .filter((m) => m.from === peer)
        .map((m) => ({ id: m.id, direction: 'in', text: m.text, at: m.receivedAt }))
      const outgoing: ApiConversationMessage[] = (await services.node.outbox())
        .filter((m) => m.to === peer)
        .map((m) => {
          const sent = apiSent(m)
          return { id: sent.id, direction: 'out', text: sent.text, at: sent.createdAt, state: sent.state, ...(sent.deliveredAt === undefined ? {} : { deliveredAt: sent.deliveredAt }) }
        })
      // Our clock on both sides (received at, written at): the sender's clock may be wrong.
      const messages = [...incoming, ...outgoing]
        .filter((m) => m.at < before)
        .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))
        .slice(-limit)
      return { body: { messages } }
    }
  },
  { method: 'GET', path: '/api/inbox', handle: async ({ services }) => ({ body: (await services.node.inbox()).map(apiReceived) }) },
  { method: 'GET', path: '/api/outbox', handle: async ({ services }) => ({ body: (await services.node.outbox()).map(apiSent) }) }
]
