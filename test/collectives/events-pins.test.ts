/**
 * Events and map pins across real nodes on 127.0.0.1, with a real Operator
 * (SPEC §15.9, §15.10). Four nodes in a ring: Alice (registered name, founder
 * of the group "stewards"), Carol (a member), Bob and Dave (neither).
 *
 * 1. A world event reaches every node, named; Bob's and Dave's answers reach
 *    Alice only (Dave follows the channel too, and cannot read Bob's); an
 *    update reaches them all.
 * 2. An anonymous world event shows no identity on any node; Bob answers,
 *    Alice (its host) reads the answer; her update reaches Bob.
 * 3. An event for chosen contacts reaches only Bob; a group event only
 *    Carol (both arrive as envelopes every node holds).
 * 4. Hostile, from a raw peer: a "revision" of Alice's event signed by
 *    another key, and an answer whose signature is forged, are dropped
 *    everywhere; an honest answer made the same way is taken.
 * 5. Pins: a named world pin reaches Bob with Alice's name; Carol's
 *    anonymous group pin reaches Alice without a name, and not Bob; the
 *    within-R-km filter keeps a near pin and drops a far one; once expired
 *    (the clock moved 11 minutes on), they are gone.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { EventInfo, PinInfo, RsvpInfo } from '../../node/collectives/types.js'
import type { KomradeNode } from '../../node/komrade-node.js'
import {
  CHANNEL_KINDS, createIdentity, createWorldTagMatcher, decodeEvent, openMatchedChannelEnvelope, encodeEvent, KIND_EVENT, KIND_RSVP, openWorldEnvelope, sealChannelPost, sealRsvp, solveWork, worldKey,
  type EventPayload, type Identity
} from '../../protocol/index.js'
import { eventChannelKey } from '../../protocol/event-payload.js'
import { idOf, startRawPeer, startStoreProbe, type RawPeer, type StoreProbe } from '../social/social-cluster.js'
import { cleanupSocial, crypto, join, joinRing, startMember, startOperator, TTL, waitFor } from './collectives-cluster.js'

const WORLD = worldKey(crypto, 'komrade')
const HOUR = 3_600_000
const QUIET_MS = 1_500

let alice: KomradeNode, bob: KomradeNode, carol: KomradeNode, dave: KomradeNode
let all: KomradeNode[]
let probe: StoreProbe
let raw: RawPeer
const rsvpsSeen = new Map<KomradeNode, RsvpInfo[]>()
const eventsSeen = new Map<KomradeNode, EventInfo[]>()

beforeAll(async () => {
  const op = await startOperator()
  const tests = await Promise.all([0, 1, 2, 3].map(async () => await startMember(op)))
  ;[alice, bob, carol, dave] = tests.map((t) => t.node) as [KomradeNode, KomradeNode, KomradeNode, KomradeNode]
  all = [alice, bob, carol, dave]
  await joinRing(all)
  for (const node of all) {
    rsvpsSeen.set(node, [])
    eventsSeen.set(node, [])
    node.addEventListener('rsvp', (e) => { rsvpsSeen.get(node)!.push((e as CustomEvent<RsvpInfo>).detail) })
    node.addEventListener('event', (e) => { eventsSeen.get(node)!.push((e as CustomEvent<EventInfo>).detail) })
  }
  await alice.register('alice')
  await alice.groups.create('stewards')
  await join(carol, alice, 'stewards')
  probe = await startStoreProbe()
  raw = await startRawPeer(alice)
}, 60_000)

afterAll(async () => {
  vi.useRealTimers()
  await cleanupSocial()
})

const quiet = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, QUIET_MS)) }

async function eventAt (node: KomradeNode, id: string, check: (e: EventInfo) => boolean = () => true): Promise<EventInfo> {
  let found: EventInfo | undefined
  await waitFor(`event ${id} at a node`, async () => {
    const e = await node.events.get(id)
    if (e !== undefined && check(e)) found = e
    return found !== undefined
  }, 30_000)
  return found!
}

/** The payload of Alice's world event `id`, as any world reader can open it from a node's store. */
async function worldEventPayload (node: KomradeNode, id: string): Promise<EventPayload> {
  for (const envelope of (await probe.envelopes(node)).values()) {
    const opened = openWorldEnvelope(crypto, WORLD, envelope)
    if (opened?.message.kind !== KIND_EVENT || opened.message.partCount !== 1) continue
    const payload = decodeEvent(opened.message.body)
    if (Buffer.from(payload.eventId).toString('hex') === id) return payload
  }
  throw new Error(`no world envelope of event ${id}`)
}

/** Publishes hand-made envelopes from the raw peer (with their proof of work); resolves once every node stored them. */
async function publishRaw (envelopes: Uint8Array[]): Promise<void> {
  const solved = envelopes.map((envelope) => solveWork(crypto, envelope))
  for (const envelope of solved) await raw.publish(envelope)
  const ids = solved.map(idOf)
  for (const node of all) await waitFor('the raw envelopes stored', async () => { const held = await probe.held(node); return ids.every((id) => held.has(id)) }, 30_000)
}

describe('events and pins across nodes', () => {
  it('a world event reaches everyone; answers reach the host only; an update reaches all', async () => {
    const hosted = await alice.events.host({ title: 'street assembly', startsAt: Date.now() + HOUR, place: 'square', audience: 'world' })
    for (const node of [bob, carol, dave]) {
      expect(await eventAt(node, hosted.id)).toMatchObject({ title: 'street assembly', audience: 'world', mine: false, host: { id: alice.status().id, name: 'alice' } })
    }
    await bob.events.rsvp(hosted.id, 'going', 'bringing chairs')
    await dave.events.rsvp(hosted.id, 'maybe')
    await waitFor('both answers at the host', async () => (await alice.events.get(hosted.id))!.rsvps!.length === 2, 30_000)
    const answers = (await alice.events.get(hosted.id))!.rsvps!
    expect(answers.map((r) => [r.responder, r.choice, r.note]).sort()).toEqual([
      [bob.status().id, 'going', 'bringing chairs'], [dave.status().id, 'maybe', '']
    ].sort())
    const updated = await alice.events.update(hosted.id, { place: 'the park' })
    for (const node of [bob, carol, dave]) await eventAt(node, hosted.id, (e) => e.revision === 1 && e.place === 'the park')
    // Dave follows the channel and held Bob's answer there: he could not read it; nobody but Alice saw an answer.
    expect((await dave.events.get(hosted.id))!).toMatchObject({ myRsvp: 'maybe', revision: updated.revision })
    expect((await dave.events.get(hosted.id))!.rsvps).toBeUndefined()
    for (const node of [bob, carol, dave]) expect(rsvpsSeen.get(node)).toEqual([])
    expect(rsvpsSeen.get(alice)!.map((r) => r.responder).sort()).toEqual([bob.status().id, dave.status().id].sort())
  })

  it('an anonymous host shows no identity anywhere, reads the answers, and its update reaches who answered', async () => {
    const hosted = await alice.events.host({ title: 'quiet gathering', startsAt: Date.now() + HOUR, audience: 'world', anonymous: true })
    expect(hosted.host).toBeUndefined()
    for (const node of [bob, carol, dave]) {
      const seen = await eventAt(node, hosted.id)
      expect(seen.host).toBeUndefined()
      expect(JSON.stringify(seen)).not.toContain(alice.status().id)
      expect(JSON.stringify(seen)).not.toContain('alice')
    }
    const payload = await worldEventPayload(bob, hosted.id)
    expect(Buffer.from(payload.hostKey).toString('hex')).not.toBe(alice.status().id)
    expect(payload.certificate).toBeUndefined()
    await bob.events.rsvp(hosted.id, 'going')
    await waitFor('the answer at the anonymous host', async () => (await alice.events.get(hosted.id))!.rsvps!.length === 1, 30_000)
    expect((await alice.events.get(hosted.id))!.rsvps![0]!.responder).toBe(bob.status().id)
    await alice.events.update(hosted.id, { title: 'quiet gathering, moved' })
    const moved = await eventAt(bob, hosted.id, (e) => e.revision === 1)
    expect(moved).toMatchObject({ title: 'quiet gathering, moved', myRsvp: 'going' })
    expect(moved.host).toBeUndefined()
    // The update also travelled on the event's channel, which Bob follows since he answered: signed by the one-time host key.
    const channelRevisions = async (): Promise<Array<ReturnType<typeof openMatchedChannelEnvelope>>> => [...(await probe.envelopes(bob)).values()]
      .filter((envelope) => createWorldTagMatcher(eventChannelKey(crypto, payload))(envelope))
      .map((envelope) => openMatchedChannelEnvelope(crypto, eventChannelKey(crypto, payload), envelope, CHANNEL_KINDS.event))
      .filter((opened) => opened?.message.kind === KIND_EVENT)
    await waitFor('the update on the channel, in Bob\'s store', async () => (await channelRevisions()).length > 0, 30_000)
    const onChannel = await channelRevisions()
    expect(onChannel).toHaveLength(1)
    expect(decodeEvent(onChannel[0]!.message.body)).toMatchObject({ revision: 1, title: 'quiet gathering, moved' })
    expect(onChannel[0]!.author.signingKey).toEqual(payload.hostKey)
  })

  it('an invitation reaches only the invited; a group event only the members', async () => {
    await bob.contacts.add(alice.publicIdentity)
    const invitation = await alice.events.host({ title: 'small dinner', startsAt: Date.now() + HOUR, audience: { contacts: [bob.publicIdentity] } })
    expect(await eventAt(bob, invitation.id)).toMatchObject({ title: 'small dinner', audience: 'invited', host: { id: alice.status().id } })
    const group = await alice.events.host({ title: 'stewards meet', startsAt: Date.now() + HOUR, audience: { group: 'stewards' } })
    expect(await eventAt(carol, group.id)).toMatchObject({ title: 'stewards meet', audience: { group: 'stewards' }, host: { id: alice.status().id } })
    await quiet()
    for (const node of [carol, dave]) expect(await node.events.get(invitation.id)).toBeUndefined()
    for (const node of [bob, dave]) expect(await node.events.get(group.id)).toBeUndefined()
    expect(eventsSeen.get(dave)!.some((e) => e.id === invitation.id || e.id === group.id)).toBe(false)
  })

  it('drops a revision signed by another key and a forged answer; takes an honest answer sent the same way', async () => {
    const hosted = await alice.events.host({ title: 'watched event', startsAt: Date.now() + HOUR, audience: 'world' })
    await eventAt(bob, hosted.id)
    const e = await worldEventPayload(alice, hosted.id)
    const mallory = createIdentity(crypto)
    const hijack = encodeEvent({ ...e, revision: e.revision + 7, title: 'cancelled, go home', certificate: undefined })
    const seal = (author: Identity, kind: number, payload: Uint8Array, channelKey: Uint8Array, channel: 'world' | 'event'): Uint8Array[] =>
      sealChannelPost(crypto, { author, kind, payload, ttlMinutes: TTL, channel, channelKey }).envelopes
    const frank = createIdentity(crypto)
    const forger = createIdentity(crypto)
    const forgingCrypto = { ...crypto, ed25519Sign: (_seed: Uint8Array, message: Uint8Array) => crypto.ed25519Sign(forger.signingSeed, message) }
    const forged = sealRsvp(forgingCrypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: frank, choice: 'going' })
    await publishRaw([
      ...seal(mallory, KIND_EVENT, hijack, WORLD, 'world'),
      ...seal(createIdentity(crypto), KIND_RSVP, forged, eventChannelKey(crypto, e), 'event')
    ])
    const eve = createIdentity(crypto)
    const honest = sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: eve, choice: 'maybe', note: 'from afar' })
    await publishRaw(seal(createIdentity(crypto), KIND_RSVP, honest, eventChannelKey(crypto, e), 'event'))
    await waitFor('the honest answer at the host', async () => (await alice.events.get(hosted.id))!.rsvps!.length > 0, 30_000)
    const answers = (await alice.events.get(hosted.id))!.rsvps!
    expect(answers.map((r) => r.responder)).toEqual([Buffer.from(eve.signingKey).toString('hex')])
    for (const node of all) expect(await node.events.get(hosted.id)).toMatchObject({ title: 'watched event', revision: 0 })
  })

  it('pins: named world and anonymous group pins arrive as they should; the distance filter is local; expired pins go', async () => {
    const here = { lat: 52.5219, lon: 13.4132 }
    const named = await alice.pins.add({ kind: 'danger', note: 'broken glass', lat: here.lat + 0.005, lon: here.lon, audience: 'world', ttlMinutes: TTL })
    const far = await alice.pins.add({ kind: 'info', note: 'far away', lat: 48.8566, lon: 2.3522, audience: 'world', ttlMinutes: TTL })
    const masked = await carol.pins.add({ kind: 'police', note: 'checkpoint', lat: here.lat, lon: here.lon, precision: 8, audience: { group: 'stewards' }, anonymous: true, ttlMinutes: TTL })
    expect(masked.author).toBeUndefined()
    await waitFor('both world pins at Bob', async () => (await bob.pins.list()).length === 2, 30_000)
    const atBob = new Map((await bob.pins.list()).map((p): [string, PinInfo] => [p.note, p]))
    expect(atBob.get('broken glass')).toMatchObject({ id: named.id, kind: 'danger', geohash: named.geohash, author: { id: alice.status().id, name: 'alice' }, mine: false, audience: 'world' })
    expect(atBob.get('far away')!.id).toBe(far.id)
    await waitFor('the group pin at Alice', async () => (await alice.pins.list({ group: 'stewards' })).length === 1, 30_000)
    const atAlice = (await alice.pins.list({ group: 'stewards' }))[0]!
    expect(atAlice).toMatchObject({ id: masked.id, note: 'checkpoint', kind: 'police', audience: { group: 'stewards' }, mine: false })
    expect(atAlice.author).toBeUndefined()
    expect(JSON.stringify(atAlice)).not.toContain(carol.status().id)
    // Within 2 km of "here": the near pin, not the one in Paris.
    const near = await bob.pins.list({ near: here, withinKm: 2 })
    expect(near.map((p) => p.note)).toEqual(['broken glass'])
    expect(near[0]!.distanceKm!).toBeLessThan(1)
    await quiet()
    expect((await bob.pins.list()).map((p) => p.note).sort()).toEqual(['broken glass', 'far away'])
    expect(await dave.pins.list({ group: 'stewards' })).toEqual([])

    // Eleven minutes on: every 10-minute pin has expired, on every node.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 11 * 60_000 })
    for (const node of all) expect(await node.pins.list()).toEqual([])
    vi.useRealTimers()
  })
})
