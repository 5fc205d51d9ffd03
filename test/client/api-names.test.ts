/**
 * Names through the API, with a real Operator (small proof of work) and two
 * nodes on 127.0.0.1: registering with progress on the event stream, name
 * errors (taken, bad, unknown), lookups, and sending to a name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import type { ApiEvent } from '../../client/api/types.js'
import { removeTempDirs, tempDir } from '../bootstrap/registry-helpers.js'
import { bearer, cleanupApi, expectApiError, nextEvent, raw, startApiNode, type ApiNode } from './api-helpers.js'

/** Small work for fast tests; the Operator checks it exactly like the default. */
const WORK_TRIALS = 16

let operator: Operator
let alice: ApiNode
let bob: ApiNode

beforeAll(async () => {
  operator = createOperator({ dataDir: await tempDir('komrade-operator-'), listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: WORK_TRIALS, workThreads: 1 })
  await operator.start()
  const pinned = { identity: operator.identity, addresses: operator.addresses }
  alice = await startApiNode({ bootstrap: operator.addresses, operator: pinned })
  bob = await startApiNode({ bootstrap: operator.addresses, operator: pinned })
})

afterAll(async () => {
  await cleanupApi()
  await operator.stop()
  await removeTempDirs()
})

describe('names through the API', () => {
  it('registers with proof-of-work progress on the event stream, and shows the name', async () => {
    const events = alice.client.events()[Symbol.asyncIterator]()
    await nextEvent(events, (e) => e.type === 'hello', 'hello')
    const record = await alice.client.register('Alice')
    expect(record).toMatchObject({ name: 'alice', identity: alice.node.publicIdentity, fromCache: false })
    expect(record.certificate).toMatch(/^[0-9a-f]+$/)
    const work = await nextEvent(events, (e): e is Extract<ApiEvent, { type: 'work' }> => e.type === 'work', 'a work event')
    expect(work).toMatchObject({ type: 'work', op: 'register', expected: WORK_TRIALS })
    expect(work.trials).toBeGreaterThan(0)
    await events.return!()

    expect((await alice.client.status()).name).toBe('alice')
    expect((await alice.client.identity()).name).toBe('alice')
  })

  it('answers name_taken, bad_name and unknown_name', async () => {
    await expect(bob.client.register('alice')).rejects.toMatchObject({ code: 'name_taken', status: 409 })
    await expect(bob.client.register('al')).rejects.toMatchObject({ code: 'bad_name', status: 400 })
    await expect(bob.client.register('admin')).rejects.toMatchObject({ code: 'bad_name', status: 400 })
    await expect(bob.client.lookup('nobody_here')).rejects.toMatchObject({ code: 'unknown_name', status: 404 })
    await expect(bob.client.addContact('nobody_here')).rejects.toMatchObject({ code: 'unknown_name', status: 404 })
    await expect(bob.client.send('nobody_here', 'hello?')).rejects.toMatchObject({ code: 'unknown_name', status: 404 })
    const badLookup = await raw(bob.server, { path: '/api/names/no%20such%20name', headers: bearer(bob) })
    expectApiError(badLookup, 400, 'bad_name')
    const missingName = await raw(bob.server, { method: 'POST', path: '/api/register', headers: { ...bearer(bob), 'content-type': 'application/json' }, body: '{}' })
    expectApiError(missingName, 400, 'bad_request')
  })

  it('looks names up, and sends to a name (the contact then carries it)', async () => {
    const record = await bob.client.lookup('ALICE')
    expect(record).toMatchObject({ name: 'alice', identity: alice.node.publicIdentity })

    const aliceEvents = alice.client.events()[Symbol.asyncIterator]()
    await nextEvent(aliceEvents, (e) => e.type === 'hello', 'hello')
    const sent = await bob.client.send('alice', 'hello alice, by name')
    const contacts = await bob.client.contacts()
    expect(contacts).toMatchObject([{ name: 'alice', identity: alice.node.publicIdentity }])
    const received = await nextEvent(aliceEvents, (e): e is Extract<ApiEvent, { type: 'message' }> => e.type === 'message', 'the message at alice')
    expect(received.message).toMatchObject({ id: sent.id, text: 'hello alice, by name', fromIdentity: bob.node.publicIdentity })
    await aliceEvents.return!()
    // The second time, the contact's name is used: no new contact.
    await bob.client.send('alice', 'again')
    expect(await bob.client.contacts()).toHaveLength(1)
  })
})
