/**
 * Two nodes end to end, each driven only through its own API server:
 * contacts (by invite code and by hex identity) with matching safety
 * numbers, a message out through one API arriving as an event on the other,
 * its delivery state coming back, conversations, inbox and outbox, and the
 * errors a person meets (too large, unknown contact, no Operator).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIdentity, encodePublicIdentity, nativeCrypto, toHex } from '../../protocol/index.js'
import type { ApiContact, ApiEvent } from '../../client/api/types.js'
import { bearer, cleanupApi, expectApiError, nextEvent, raw, startApiNode, type ApiNode } from './api-helpers.js'

let alice: ApiNode
let bob: ApiNode

beforeAll(async () => {
  alice = await startApiNode()
  bob = await startApiNode({ bootstrap: alice.node.status().addresses })
})
afterAll(async () => { await cleanupApi() })

/** Keeps every event an iterator yields in `seen`. */
function recorded (events: AsyncIterator<ApiEvent>, seen: ApiEvent[]): AsyncIterator<ApiEvent> {
  return {
    async next () {
      const result = await events.next()
      if (result.done !== true) seen.push(result.value)
      return result
    },
    return: async () => await events.return!()
  }
}

const json = (node: ApiNode): Record<string, string> => ({ ...bearer(node), 'content-type': 'application/json' })

describe('contacts through the API', () => {
  let bobOnAlice: ApiContact

  it('adds by invite code and by hex identity, and both sides read the same safety number', async () => {
    const aliceIdentity = await alice.client.identity()
    const bobIdentity = await bob.client.identity()
    const aliceOnBob = await bob.client.addContact(aliceIdentity.invite)
    expect(aliceOnBob).toEqual({ id: aliceIdentity.id, identity: aliceIdentity.publicIdentity, fingerprint: aliceIdentity.fingerprint, sessions: 0 })
    bobOnAlice = await alice.client.addContact(bobIdentity.publicIdentity)
    expect(bobOnAlice.id).toBe(bobIdentity.id)
    expect(await alice.client.contacts()).toEqual([bobOnAlice])

    const onAlice = await alice.client.contact(bobOnAlice.id)
    const onBob = await bob.client.contact(aliceOnBob.id)
    expect(onAlice.safetyNumber).toBe(onBob.safetyNumber)
    expect(onAlice.safetyNumber).toContain(aliceIdentity.fingerprint)
    expect(onAlice.safetyNumber).toContain(bobIdentity.fingerprint)
    // Upper-case ids work too: they are hex.
    expect((await alice.client.contact(bobOnAlice.id.toUpperCase())).id).toBe(bobOnAlice.id)
  })

  it('answers unknown and malformed contacts clearly', async () => {
    const unknown = 'ab'.repeat(32)
    expectApiError(await raw(alice.server, { path: `/api/contacts/${unknown}`, headers: bearer(alice) }), 404, 'unknown_contact')
    expectApiError(await raw(alice.server, { method: 'DELETE', path: `/api/contacts/${unknown}`, headers: bearer(alice) }), 404, 'unknown_contact')
    expectApiError(await raw(alice.server, { path: '/api/contacts/not-hex', headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { path: '/api/contacts/%ZZ', headers: bearer(alice) }), 400, 'bad_request')
    // A damaged invite code: the node's own sentence comes through.
    const damaged = await raw(alice.server, { method: 'POST', path: '/api/contacts', headers: json(alice), body: JSON.stringify({ contact: 'KOMRADE1-AAAA' }) })
    expectApiError(damaged, 400, 'bad_request')
    expect(damaged.json().error.message).toContain('invite code')
    // Something that is no name, no invite and no identity.
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/contacts', headers: json(alice), body: JSON.stringify({ contact: 'no!' }) }), 400, 'bad_name')
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/contacts', headers: json(alice), body: JSON.stringify({ contacts: 'x' }) }), 400, 'bad_request')
  })

  it('needs an Operator for names', async () => {
    await expect(alice.client.addContact('somebody')).rejects.toMatchObject({ code: 'no_operator', status: 409 })
    await expect(alice.client.lookup('somebody')).rejects.toMatchObject({ code: 'no_operator', status: 409 })
    await expect(alice.client.register('somebody')).rejects.toMatchObject({ code: 'no_operator', status: 409 })
    await expect(alice.client.send('somebody', 'hi')).rejects.toMatchObject({ code: 'no_operator', status: 409 })
    const badVia = await raw(alice.server, { method: 'POST', path: '/api/register', headers: json(alice), body: JSON.stringify({ name: 'alice', via: 'pigeon' }) })
    expectApiError(badVia, 400, 'bad_request')
  })
})

describe('messages through two API servers', () => {
  it('delivers a message as an event on the other side, and its delivery state back', async () => {
    const aliceEvents = alice.client.events()[Symbol.asyncIterator]()
    const bobSeen: ApiEvent[] = []
    const bobEvents = recorded(bob.client.events()[Symbol.asyncIterator](), bobSeen)
    await nextEvent(aliceEvents, (e) => e.type === 'hello', 'alice hello')
    await nextEvent(bobEvents, (e) => e.type === 'hello', 'bob hello')

    const bobId = (await bob.client.identity()).id
    const sent = await alice.client.send(bobId, 'hello Bob, from the API')
    expect(sent).toMatchObject({ to: bobId, text: 'hello Bob, from the API' })
    expect(['working', 'queued', 'sent']).toContain(sent.state)

    const received = await nextEvent(bobEvents, (e): e is Extract<ApiEvent, { type: 'message' }> => e.type === 'message', 'the message at bob')
    expect(received.message).toMatchObject({ id: sent.id, from: alice.node.status().id, fromIdentity: alice.node.publicIdentity, text: 'hello Bob, from the API', kind: 1 })
    const delivered = await nextEvent(aliceEvents, (e) => e.type === 'outbox' && e.message.id === sent.id && e.message.state === 'delivered', 'delivered at alice')
    expect(delivered).toMatchObject({ type: 'outbox', message: { id: sent.id, text: 'hello Bob, from the API', state: 'delivered' } })

    // Bob answers by hex identity (what a stranger's message gives him).
    const answer = await bob.client.send(received.message.fromIdentity, 'hi Alice ✓')
    const back = await nextEvent(aliceEvents, (e): e is Extract<ApiEvent, { type: 'message' }> => e.type === 'message', 'the answer at alice')
    expect(back.message).toMatchObject({ id: answer.id, text: 'hi Alice ✓' })
    await nextEvent(bobEvents, (e) => e.type === 'outbox' && e.message.id === answer.id && e.message.state === 'delivered', 'delivered at bob')

    // The conversation, both directions, newest last; paging by limit and before.
    const conversation = await alice.client.conversation(bobId)
    expect(conversation.map((m) => [m.direction, m.text])).toEqual([['out', 'hello Bob, from the API'], ['in', 'hi Alice ✓']])
    expect(conversation[0]).toMatchObject({ id: sent.id, state: 'delivered' })
    expect(conversation[0]!.deliveredAt).toBeGreaterThanOrEqual(conversation[0]!.at)
    expect(conversation[1]!.state).toBeUndefined()
    expect(await alice.client.conversation(bobId, { limit: 1 })).toEqual([conversation[1]])
    expect(await alice.client.conversation(bobId, { before: conversation[1]!.at })).toEqual([conversation[0]])
    expect(await bob.client.conversation(alice.node.status().id)).toMatchObject([{ direction: 'in', id: sent.id }, { direction: 'out', id: answer.id, state: 'delivered' }])
    expect(await alice.client.conversation('cd'.repeat(32))).toEqual([])

    // Inbox and outbox as JSON: text, no bytes.
    const inbox = await bob.client.inbox()
    expect(inbox).toEqual([received.message])
    expect(Object.keys(inbox[0]!)).not.toContain('body')
    const outbox = await alice.client.outbox()
    expect(outbox).toEqual([{ ...sent, state: 'delivered', deliveredAt: outbox[0]!.deliveredAt }])
    expect(Object.keys(outbox[0]!)).not.toContain('body')
    // Bob's receipts are the node's own traffic: no outbox event named one.
    const bobOutbox = new Set((await bob.client.outbox()).map((m) => m.id))
    const outboxEvents = bobSeen.filter((e) => e.type === 'outbox')
    expect(outboxEvents.length).toBeGreaterThan(0)
    expect(outboxEvents.filter((e) => !bobOutbox.has(e.message.id))).toEqual([])
    await aliceEvents.return!()
    await bobEvents.return!()
  })

  it('checks conversation queries', async () => {
    for (const query of ['', '?with=bob', '?with=' + 'a'.repeat(64) + '&limit=0', '?with=' + 'a'.repeat(64) + '&limit=abc', '?with=' + 'a'.repeat(64) + '&before=-1']) {
      expectApiError(await raw(alice.server, { path: `/api/messages${query}`, headers: bearer(alice) }), 400, 'bad_request')
    }
  })

  it('refuses oversize messages with message_too_large, and unknown contacts with unknown_contact', async () => {
    const bobId = bob.node.status().id
    // Over the node's 1 MiB limit (the body itself is under the 2 MiB request limit).
    const tooLong = await raw(alice.server, { method: 'POST', path: '/api/messages', headers: json(alice), body: JSON.stringify({ to: bobId, text: 'é'.repeat(600_000) }) })
    expectApiError(tooLong, 413, 'message_too_large')
    // A first message to someone new must fit one envelope.
    const stranger = toHex(encodePublicIdentity(createIdentity(nativeCrypto())))
    const firstContact = await raw(alice.server, { method: 'POST', path: '/api/messages', headers: json(alice), body: JSON.stringify({ to: stranger, text: 'x'.repeat(5000) }) })
    expectApiError(firstContact, 413, 'message_too_large')
    expect(firstContact.json().error.message).toContain('first message')
    await expect(alice.client.send('ef'.repeat(32), 'hi')).rejects.toMatchObject({ code: 'unknown_contact', status: 404 })
    // Nothing was queued by the refusals.
    expect((await alice.client.outbox()).every((m) => m.to === bobId)).toBe(true)
  })

  it('removes a contact', async () => {
    const bobId = bob.node.status().id
    await alice.client.removeContact(bobId)
    expect(await alice.client.contacts()).toEqual([])
    await expect(alice.client.contact(bobId)).rejects.toMatchObject({ code: 'unknown_contact' })
  })
})
