/**
 * `node.events` as a library (node/collectives/events.ts), over a stand-in
 * collectives context with a real LevelDB, real channel set and real crypto:
 * what hosting refuses (before anything is published); where each kind of
 * host publishes what, with which key; updates on the channel AND to the
 * audience; which incoming revisions count (host key only, higher revision,
 * smaller hash on a tie); answers that only the host opens, the latest per
 * responder, forged and future ones dropped; the bound on others' events;
 * expiry; the store and the followed channels across a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { openChannelSet, type ChannelSet } from '../../node/collectives/channels.js'
import { UnknownGroupError } from '../../node/collectives/errors.js'
import { createNodeEventsWith } from '../../node/collectives/events.js'
import type { CollectivesContext, CollectivesPlugin, IncomingItem, PublishItem, PublishOptions, PublishTarget } from '../../node/collectives/plugin.js'
import { NoWorldFeedError } from '../../node/social/errors.js'
import type { EventInfo, EventsApi, RsvpInfo } from '../../node/collectives/types.js'
import { openLocalDb, type Json, type LocalOp } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import {
  createIdentity, decodeEvent, encodeEvent, encodePublicIdentity, identityId, KIND_EVENT, KIND_RSVP, KIND_VOTE, nativeCrypto, sealChannelPost, sealRsvp, toHex,
  type EventPayload, type Identity, type PublicIdentity, type SaltedChannel
} from '../../protocol/index.js'
import { eventChannelKey } from '../../protocol/event-payload.js'

const crypto = nativeCrypto()
const GROUP = { id: 'a'.repeat(64), name: 'crew' }
const FAKE_CERTIFICATE = new Uint8Array([1, 2, 3, 4])
const MINUTE = 60_000
const HOUR = 60 * MINUTE

interface Published { target: PublishTarget, kind: number, payload: Uint8Array, author: Identity, ttlMinutes: number }

const dirs: string[] = []
const dbs: Array<Level<string, Json>> = []
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close().catch(() => {})
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function applyOps (ops: readonly LocalOp[]): Promise<void> {
  for (const op of ops) {
    if (op.type === 'put') await op.sublevel.put(op.key, op.value)
    else await op.sublevel.del(op.key)
  }
}

interface EventsNode {
  plugin: CollectivesPlugin<EventsApi>
  api: EventsApi
  published: Published[]
  direct: Array<{ to: string[], payload: Uint8Array }>
  emitted: { event: EventInfo[], rsvp: RsvpInfo[] }
  channels: ChannelSet
  identity: Identity
  dir: string
  db: Level<string, Json>
  /** Items per publishAll batch. */
  batches: number[]
  /** Known senders (add to make one known). */
  known: Set<string>
}

/** An events plugin over a stand-in context; `contacts` are what `addContact` resolves; `certified` names certificate holders. */
async function eventsNode (options: {
  dir?: string, named?: string, identity?: Identity, maxEventsOfOthers?: number,
  contacts?: Map<string, Identity>, certified?: Map<string, string>, noWorld?: boolean, known?: Set<string>,
  onAdded?: (channel: SaltedChannel) => void, maxRsvpsPerEvent?: number
} = {}): Promise<EventsNode> {
  const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'komrade-events-'))
  if (options.dir === undefined) dirs.push(dir)
  const db = await openLocalDb(dir)
  dbs.push(db)
  const channels = await openChannelSet(db, options.onAdded === undefined ? {} : { onAdded: options.onAdded })
  const identity = options.identity ?? createIdentity(crypto)
  const batches: number[] = []
  const known = options.known ?? new Set<string>()
  const published: Published[] = []
  const direct: EventsNode['direct'] = []
  const emitted: EventsNode['emitted'] = { event: [], rsvp: [] }
  const contacts = options.contacts ?? new Map<string, Identity>()
  const delivery = {
    async queue (build: () => { ops?: LocalOp[] }, committed?: () => void) {
      await applyOps(build().ops ?? [])
      committed?.()
      return []
    }
  }
  const context = {
    crypto, log: silentLogger(),
    identity: () => identity, db: () => db, delivery: () => delivery, channels: () => channels,
    ownCertificate: async () => options.named === undefined ? undefined : { name: options.named, certificate: FAKE_CERTIFICATE },
    contactName: () => undefined,
    async addContact (contact: string) {
      const found = contacts.get(contact)
      if (found === undefined) throw Object.assign(new Error(`no ${contact}`), { name: 'NameNotFoundError' })
      return { id: identityId(found), identity: toHex(encodePublicIdentity(found)) }
    },
    memberGroup: (group: string) => { if (group !== 'crew' && group !== GROUP.id) throw new UnknownGroupError(group); return GROUP },
    async publish (target: PublishTarget, kind: number, payload: Uint8Array, o: PublishOptions) {
      return (await context.publishAll([{ target, kind, payload }], o))[0]
    },
    /** As the node's: all items in one batch (or none: a world item on a node without a world feed throws first). */
    async publishAll (items: PublishItem[], o: PublishOptions) {
      if (options.noWorld === true && items.some((i) => 'target' in i && i.target.type === 'world')) throw new NoWorldFeedError('disabled')
      const out: Array<{ messageId: string, expiresAt: number }> = []
      for (const item of items) {
        if ('to' in item) { direct.push({ to: item.to.map((p) => identityId(p)), payload: item.payload }); continue }
        published.push({ target: item.target, kind: item.kind, payload: item.payload, author: item.author ?? o.author ?? identity, ttlMinutes: o.ttlMinutes })
        out.push({ messageId: toHex(crypto.randomBytes(16)), expiresAt: Date.now() + o.ttlMinutes * MINUTE })
      }
      const prepared = o.prepare?.(out)
      batches.push(items.length)
      await applyOps([...(o.ops ?? []), ...(prepared?.ops ?? [])])
      o.committed?.()
      prepared?.committed?.()
      return out
    },
    knownSender: (id: string) => known.has(id),
    emit: (type: 'event' | 'rsvp', detail: never) => { emitted[type].push(detail) },
    certifiedName: (certificate: Uint8Array | undefined, author: PublicIdentity) =>
      certificate !== undefined && toHex(certificate) === toHex(FAKE_CERTIFICATE) ? options.certified?.get(identityId(author)) : undefined
  } as unknown as CollectivesContext
  const plugin = createNodeEventsWith({
    ...(options.maxEventsOfOthers === undefined ? {} : { maxEventsOfOthers: options.maxEventsOfOthers }),
    ...(options.maxRsvpsPerEvent === undefined ? {} : { maxRsvpsPerEvent: options.maxRsvpsPerEvent })
  })(context)
  await plugin.open()
  return { plugin, api: plugin.api, published, direct, emitted, channels, identity, dir, db, batches, known }
}

/** Offers a payload to the plugin as delivery would, and commits what it wrote. */
async function receive (node: EventsNode, item: Partial<IncomingItem> & { payload: Uint8Array, author: PublicIdentity }): Promise<void> {
  const change: { ops?: LocalOp[] } = {}
  const after: Array<() => void> = []
  const now = Date.now()
  await node.plugin.absorb({
    source: { type: 'world' }, kind: KIND_EVENT, authorId: identityId(item.author), sentAt: now, messageId: toHex(crypto.randomBytes(16)),
    expiresAt: now + HOUR, ...item
  }, change, after)
  await applyOps(change.ops ?? [])
  for (const step of after) step()
  await new Promise((resolve) => setImmediate(resolve)) // the channel follow after the commit
}

/** Hands a node's publication to another node as it would arrive. */
async function deliver (from: Published, to: EventsNode, source: IncomingItem['source']): Promise<void> {
  await receive(to, { payload: from.payload, author: from.author, kind: from.kind, source })
}

/** An event as another host would make it. */
function eventBy (host: Identity, changes: Partial<EventPayload> = {}): EventPayload {
  return {
    eventId: crypto.randomBytes(16), revision: 0, hostKey: host.signingKey, hostX: createIdentity(crypto).sealingKey, channelKey: crypto.randomBytes(32),
    startsAt: Date.now() + HOUR, endsAt: 0, title: 'picnic', place: 'the park', description: '', cancelled: false, ...changes
  }
}

const soon = (): number => Date.now() + HOUR

describe('events as a library', () => {
  it('refuses bad input before publishing or following anything, with typed errors', async () => {
    const { api, published, direct, channels } = await eventsNode()
    const base = { title: 'assembly', startsAt: soon(), audience: 'world' as const, anonymous: true }
    await expect(api.host({ ...base, title: '' })).rejects.toMatchObject({ name: 'PostFormatError', reason: 'empty' })
    await expect(api.host({ ...base, title: 'x'.repeat(101) })).rejects.toMatchObject({ name: 'PostFormatError', reason: 'title-too-long' })
    await expect(api.host({ ...base, description: 'x'.repeat(2001) })).rejects.toMatchObject({ name: 'PostFormatError', reason: 'description-too-long' })
    await expect(api.host({ ...base, endsAt: base.startsAt - 1 })).rejects.toMatchObject({ name: 'PostFormatError', reason: 'bad-time' })
    await expect(api.host({ ...base, startsAt: Date.now() - 7 * HOUR })).rejects.toThrow(RangeError) // over already
    await expect(api.host({ ...base, startsAt: 1.5 })).rejects.toThrow(RangeError)
    await expect(api.host({ ...base, location: 'u4pruydqqv' })).rejects.toThrow(RangeError) // 10 characters
    await expect(api.host({ ...base, location: { lat: 0, lon: 0, precision: 0 } })).rejects.toThrow(RangeError)
    await expect(api.host({ ...base, audience: { contacts: ['bob'] } })).rejects.toThrow(RangeError) // anonymous invitations
    await expect(api.host({ ...base, audience: { contacts: [] }, anonymous: false })).rejects.toThrow(RangeError)
    await expect(api.host({ ...base, audience: { group: 'strangers' } })).rejects.toMatchObject({ name: 'UnknownGroupError' })
    await expect(api.host({ ...base, anonymous: false })).rejects.toMatchObject({ name: 'NoNameError' })
    await expect(api.update('0'.repeat(32), { title: 'x' })).rejects.toMatchObject({ name: 'UnknownEventError' })
    await expect(api.rsvp('nope', 'going')).rejects.toThrow(TypeError)
    await expect(api.get('NOPE')).rejects.toThrow(TypeError)
    expect(published).toEqual([])
    expect(direct).toEqual([])
    expect(channels.list()).toEqual([])
    expect(await api.list()).toEqual([])
  })

  it('keeps nothing of an event it could not publish', async () => {
    const { api, channels } = await eventsNode({ noWorld: true })
    await expect(api.host({ title: 'nowhere', startsAt: soon(), audience: 'world', anonymous: true })).rejects.toThrow('no world feed')
    await new Promise((resolve) => setImmediate(resolve))
    expect(channels.list()).toEqual([])
    expect(await api.list()).toEqual([])
  })

  it('hosts named and anonymous events where asked, with the right keys, and updates them on the channel and to the audience', async () => {
    const bob = createIdentity(crypto)
    const host = await eventsNode({ named: 'alice', contacts: new Map([['bob', bob], ['carol', createIdentity(crypto)]]) })
    const world = await host.api.host({ title: 'open assembly', startsAt: soon(), location: { lat: 57.64911, lon: 10.40744 }, audience: 'world' })
    expect(world).toMatchObject({ revision: 0, title: 'open assembly', mine: true, audience: 'world', cancelled: false, host: { id: identityId(host.identity), name: 'alice' }, rsvps: [] })
    expect(world.location).toMatchObject({ geohash: 'u4pruyd' })
    expect(host.published).toHaveLength(1) // a new event goes to its audience only
    const first = host.published[0]!
    const payload = decodeEvent(first.payload)
    expect(first.target).toEqual({ type: 'world', anonymous: false })
    expect(identityId(first.author)).toBe(identityId(host.identity))
    expect(toHex(payload.hostKey)).toBe(identityId(host.identity))
    expect(toHex(payload.hostX)).not.toBe(toHex(host.identity.sealingKey)) // per-event answer key
    expect(payload.certificate).toEqual(FAKE_CERTIFICATE)
    expect(host.channels.has({ type: 'event', id: world.id })).toBe(true)

    const hidden = await host.api.host({ title: 'quiet meeting', startsAt: soon(), audience: { group: 'crew' }, anonymous: true })
    expect(hidden.host).toBeUndefined()
    const anonymous = host.published[1]!
    const anonymousPayload = decodeEvent(anonymous.payload)
    expect(anonymous.target).toEqual({ type: 'group', group: GROUP.id, anonymous: true })
    expect(identityId(anonymous.author)).not.toBe(identityId(host.identity))
    expect(toHex(anonymousPayload.hostKey)).toBe(identityId(anonymous.author))
    expect(anonymousPayload.certificate).toBeUndefined()

    // An update: a new revision, signed by the same one-time key, on the channel and to the group.
    const updated = await host.api.update(hidden.id, { place: 'back room' })
    expect(updated).toMatchObject({ revision: 1, place: 'back room', title: 'quiet meeting' })
    const [onChannel, toGroup] = host.published.slice(2)
    expect(onChannel!.target).toEqual({ type: 'channel', key: eventChannelKey(crypto, anonymousPayload) }) // the derived key, not the payload's
    expect(toGroup!.target).toEqual({ type: 'group', group: GROUP.id, anonymous: true })
    expect(identityId(onChannel!.author)).toBe(identityId(anonymous.author))
    expect(identityId(toGroup!.author)).toBe(identityId(anonymous.author))
    const cancelled = await host.api.cancel(hidden.id)
    expect(cancelled).toMatchObject({ revision: 2, cancelled: true })
    expect(decodeEvent(host.published.at(-1)!.payload)).toMatchObject({ revision: 2, cancelled: true })
    await expect(host.api.invite(hidden.id, ['bob'])).rejects.toThrow(RangeError)

    // Chosen contacts: pairwise, then more invited later; updates go to all of them.
    const party = await host.api.host({ title: 'party', startsAt: soon(), audience: { contacts: ['bob'] } })
    expect(party.audience).toEqual({ contacts: [identityId(bob)] })
    expect(host.direct.map((d) => d.to)).toEqual([[identityId(bob)]])
    await host.api.invite(party.id, ['carol', 'bob'])
    expect(host.direct).toHaveLength(2)
    expect(host.direct[1]!.to).toHaveLength(1) // carol only: bob has it
    expect((await host.api.get(party.id))!.audience).toEqual({ contacts: [identityId(bob), host.direct[1]!.to[0]] })
    await host.api.update(party.id, { title: 'party!' })
    expect(host.direct[2]!.to).toHaveLength(2)
    expect(decodeEvent(host.direct[2]!.payload).revision).toBe(1)
    expect((await host.api.list()).map((e) => e.title)).toEqual(expect.arrayContaining(['open assembly', 'quiet meeting', 'party!']))
    expect(host.emitted.event.length).toBeGreaterThanOrEqual(5)
  })

  it('takes revisions signed by the host key only, the higher replacing the lower, ties to the smaller hash', async () => {
    const alice = createIdentity(crypto)
    const mallory = createIdentity(crypto)
    const node = await eventsNode({ certified: new Map([[identityId(alice), 'alice']]) })
    const e0 = eventBy(alice, { certificate: FAKE_CERTIFICATE })
    const id = toHex(e0.eventId)
    await receive(node, { payload: encodeEvent(e0), author: alice })
    expect(await node.api.get(id)).toMatchObject({ title: 'picnic', revision: 0, host: { id: identityId(alice), name: 'alice' }, audience: 'world', mine: false })
    // Mallory re-signs a "revision" of Alice's event: not the host key.
    // (without a certificate: only the host key check stands between it and the event)
    await receive(node, { payload: encodeEvent({ ...e0, revision: 5, title: 'cancelled, go home', certificate: undefined }), author: mallory })
    // Mallory's own event under Alice's id (his key as host) is another event: held beside hers, under id + his key.
    await receive(node, { payload: encodeEvent({ ...e0, hostKey: mallory.signingKey, revision: 9, certificate: undefined }), author: mallory })
    expect(await node.api.get(id)).toMatchObject({ title: 'picnic', revision: 0 })
    expect(await node.api.get(id + identityId(mallory))).toMatchObject({ revision: 9 })
    expect((await node.api.get(id + identityId(mallory)))!.host).toBeUndefined()
    await receive(node, { payload: encodeEvent({ ...e0, revision: 2, title: 'picnic at noon' }), author: alice })
    await receive(node, { payload: encodeEvent({ ...e0, revision: 1, title: 'older' }), author: alice })
    expect(await node.api.get(id)).toMatchObject({ title: 'picnic at noon', revision: 2 })
    // In the world, a certificate that does not name the signer drops the event; on a member's chain it only names nobody.
    const lying = eventBy(mallory, { certificate: FAKE_CERTIFICATE })
    await receive(node, { payload: encodeEvent(lying), author: mallory })
    expect(await node.api.get(toHex(lying.eventId))).toBeUndefined()
    await receive(node, { payload: encodeEvent(lying), author: mallory, source: { type: 'group-chain', group: GROUP } })
    expect(await node.api.get(toHex(lying.eventId))).toMatchObject({ host: { id: identityId(mallory) }, audience: { group: 'crew' } })
    expect((await node.api.get(toHex(lying.eventId)))!.host!.name).toBeUndefined()
    // A revision on the channel of an event we do not hold is not taken.
    const other = eventBy(alice)
    await receive(node, { payload: encodeEvent(other), author: alice, source: { type: 'channel', owner: { type: 'event', id: toHex(other.eventId) } } })
    expect(await node.api.get(toHex(other.eventId))).toBeUndefined()

    // Two payloads of one revision reach two nodes in opposite orders: both keep the one with the smaller hash.
    const a = encodeEvent({ ...e0, revision: 3, title: 'version a' })
    const b = encodeEvent({ ...e0, revision: 3, title: 'version b' })
    const smaller = toHex(crypto.sha256(a)) < toHex(crypto.sha256(b)) ? 'version a' : 'version b'
    const other1 = await eventsNode({ certified: new Map([[identityId(alice), 'alice']]) })
    for (const payload of [a, b]) await receive(node, { payload, author: alice })
    await receive(other1, { payload: encodeEvent(e0), author: alice })
    for (const payload of [b, a]) await receive(other1, { payload, author: alice })
    expect((await node.api.get(id))!.title).toBe(smaller)
    expect((await other1.api.get(id))!.title).toBe(smaller)
    expect(node.channels.list()).toEqual([]) // a world event: not followed until we answer
  })

  it('takes invitations from their host only, and follows their channel', async () => {
    const alice = createIdentity(crypto)
    const node = await eventsNode({ known: new Set([identityId(alice)]) })
    const invitation = eventBy(alice)
    await receive(node, { payload: encodeEvent(invitation), author: createIdentity(crypto), source: { type: 'direct' }, expiresAt: undefined })
    expect(await node.api.list()).toEqual([])
    await receive(node, { payload: encodeEvent(invitation), author: alice, source: { type: 'direct' }, expiresAt: undefined })
    const info = await node.api.get(toHex(invitation.eventId))
    expect(info).toMatchObject({ audience: 'invited', host: { id: identityId(alice) } })
    expect(node.channels.has({ type: 'event', id: info!.id })).toBe(true)
    // Its update on the channel is taken.
    await receive(node, { payload: encodeEvent({ ...invitation, revision: 1, title: 'moved' }), author: alice, source: { type: 'channel', owner: { type: 'event', id: info!.id } } })
    expect(await node.api.get(info!.id)).toMatchObject({ title: 'moved', revision: 1, audience: 'invited' })
  })

  it('lets only the host read answers: the latest per responder, forged and future ones dropped', async () => {
    const host = await eventsNode({ named: 'alice' })
    const hosted = await host.api.host({ title: 'meeting', startsAt: soon(), audience: 'world' })
    const certified = new Map([[identityId(host.identity), 'alice']])
    const attendee = await eventsNode({ certified })
    const bystander = await eventsNode({ certified })
    for (const node of [attendee, bystander]) await deliver(host.published[0]!, node, { type: 'world' })
    const channel = { type: 'channel' as const, owner: { type: 'event' as const, id: hosted.id } }

    const answered = await attendee.api.rsvp(hosted.id, 'going', 'bringing soup')
    expect(answered.myRsvp).toBe('going')
    expect(attendee.channels.has({ type: 'event', id: hosted.id })).toBe(true)
    const rsvp = attendee.published[0]!
    expect(rsvp.kind).toBe(KIND_RSVP)
    expect(rsvp.target).toEqual({ type: 'channel', key: eventChannelKey(crypto, decodeEvent(host.published[0]!.payload)) })
    expect(identityId(rsvp.author)).not.toBe(identityId(attendee.identity)) // a one-time key signs the envelope
    for (const node of [host, bystander]) await deliver(rsvp, node, channel)
    const seen = await host.api.get(hosted.id)
    expect(seen!.rsvps).toEqual([expect.objectContaining({ eventId: hosted.id, responder: identityId(attendee.identity), choice: 'going', note: 'bringing soup' })])
    expect(host.emitted.rsvp).toHaveLength(1)
    expect((await bystander.api.get(hosted.id))!.rsvps).toBeUndefined()
    expect(bystander.emitted.rsvp).toEqual([])

    const e = decodeEvent(host.published[0]!.payload)
    const send = async (body: Uint8Array): Promise<void> => { await receive(host, { payload: body, author: createIdentity(crypto), kind: KIND_RSVP, source: channel }) }
    // An older answer does not undo a newer one; a newer one changes the mind.
    await send(sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: attendee.identity, choice: 'not-going', now: Date.now() - MINUTE }))
    expect((await host.api.get(hosted.id))!.rsvps!.map((r) => r.choice)).toEqual(['going'])
    await send(sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: attendee.identity, choice: 'maybe', now: Date.now() + 1 }))
    expect((await host.api.get(hosted.id))!.rsvps!.map((r) => r.choice)).toEqual(['maybe'])
    // From more than 5 minutes ahead: refused.
    const eve = createIdentity(crypto)
    await send(sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: eve, choice: 'going', now: Date.now() + 6 * MINUTE }))
    // Signed by another key than the responder it names (a forgery in eve's name): dropped.
    const forger = createIdentity(crypto)
    const forgingCrypto = { ...crypto, ed25519Sign: (_seed: Uint8Array, message: Uint8Array) => crypto.ed25519Sign(forger.signingSeed, message) }
    await send(sealRsvp(forgingCrypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: eve, choice: 'going' }))
    // Sealed to another key: unreadable, dropped.
    await send(sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: createIdentity(crypto).sealingKey, responder: eve, choice: 'going' }))
    expect((await host.api.get(hosted.id))!.rsvps!.map((r) => r.responder)).toEqual([identityId(attendee.identity)])
    // The same answer, honest, is taken: the drops above were for what they were. It counts by the event id
    // it names even when another event's channel (sharing the key) was the one that matched it.
    await receive(host, {
      payload: sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: eve, choice: 'going' }), author: createIdentity(crypto), kind: KIND_RSVP,
      source: { type: 'channel', owner: { type: 'event', id: 'f'.repeat(32) } }
    })
    expect((await host.api.get(hosted.id))!.rsvps).toHaveLength(2)
  })

  it('publishes an event more than a week ahead again, same bytes, before its envelopes expire', async () => {
    const host = await eventsNode({ named: 'alice' })
    const DAY = 24 * HOUR
    const hosted = await host.api.host({ title: 'far ahead', startsAt: Date.now() + 10 * DAY, audience: 'world' })
    expect(host.published).toHaveLength(1)
    expect(host.published[0]!.ttlMinutes).toBe(7 * 24 * 60) // the longest an envelope lives
    await host.plugin.housekeeping!(Date.now() + 5 * DAY) // two days left: not yet
    expect(host.published).toHaveLength(1)
    await host.plugin.housekeeping!(Date.now() + 6.5 * DAY)
    expect(host.published.map((p) => p.target.type)).toEqual(['world', 'channel', 'world'])
    expect(host.published[2]!.payload).toEqual(host.published[0]!.payload)
    // A reader holding those bytes keeps its copy longer, and tells nobody (no new event).
    const reader = await eventsNode({ certified: new Map([[identityId(host.identity), 'alice']]) })
    await deliver(host.published[0]!, reader, { type: 'world' })
    expect(reader.emitted.event).toHaveLength(1)
    await receive(reader, { payload: host.published[2]!.payload, author: host.identity, expiresAt: Date.now() + 7 * DAY })
    expect(reader.emitted.event).toHaveLength(1)
    await reader.plugin.housekeeping!(Date.now() + 2 * HOUR) // past the first copy's hour, within the second's week
    expect((await reader.api.get(hosted.id))!.title).toBe('far ahead')
  })

  it('bounds the events of others, keeping followed ones longest', async () => {
    const alice = createIdentity(crypto)
    const node = await eventsNode({ maxEventsOfOthers: 2, known: new Set([identityId(alice)]) })
    const now = Date.now()
    const invited = eventBy(alice)
    await receive(node, { payload: encodeEvent(invited), author: alice, source: { type: 'direct' }, expiresAt: undefined })
    const short = eventBy(alice, { title: 'short' })
    await receive(node, { payload: encodeEvent(short), author: alice, expiresAt: now + 20 * MINUTE })
    const long = eventBy(alice, { title: 'long' })
    await receive(node, { payload: encodeEvent(long), author: alice, expiresAt: now + 3 * HOUR })
    // The unfollowed, soonest-expiring one went; the invitation stays though it expires sooner than "long".
    expect((await node.api.list()).map((e) => e.title).sort()).toEqual(['long', 'picnic'])
    const shorter = eventBy(alice, { title: 'shorter' })
    await receive(node, { payload: encodeEvent(shorter), author: alice, expiresAt: now + 10 * MINUTE })
    expect((await node.api.list()).map((e) => e.title).sort()).toEqual(['long', 'picnic'])
  })

  it('forgets expired events and lets their channels go; keeps ours, answers and channels across a restart', async () => {
    const alice = createIdentity(crypto)
    const first = await eventsNode({ named: 'me', known: new Set([identityId(alice)]) })
    const hosted = await first.api.host({ title: 'ours', startsAt: soon(), audience: 'world' })
    const attendee = await eventsNode({ certified: new Map([[identityId(first.identity), 'me']]) })
    await deliver(first.published[0]!, attendee, { type: 'world' })
    await attendee.api.rsvp(hosted.id, 'maybe')
    await deliver(attendee.published[0]!, first, { type: 'channel', owner: { type: 'event', id: hosted.id } })
    const fleeting = eventBy(alice, { title: 'fleeting' })
    await receive(first, { payload: encodeEvent(fleeting), author: alice, source: { type: 'direct' }, expiresAt: undefined })
    expect(first.channels.has({ type: 'event', id: toHex(fleeting.eventId) })).toBe(true)
    const before = await first.api.get(hosted.id)
    first.plugin.close()
    await first.db.close()

    const second = await eventsNode({ dir: first.dir, identity: first.identity, known: new Set([identityId(alice)]) })
    expect(await second.api.get(hosted.id)).toEqual(before)
    expect(second.channels.has({ type: 'event', id: hosted.id })).toBe(true)
    // Two hours on, both are still ahead (an hour from now, six hours long): nothing goes.
    await second.plugin.housekeeping!(Date.now() + 2 * HOUR)
    expect((await second.api.list()).map((e) => e.title).sort()).toEqual(['fleeting', 'ours'])
    expect(second.channels.list()).toHaveLength(2)
    // Past the end of both: the invitation (and its channel) are gone; ours stays, over, and lets its channel go.
    await second.plugin.housekeeping!(Date.now() + 8 * HOUR)
    expect(second.channels.list()).toEqual([])
    expect(await second.api.get(toHex(fleeting.eventId))).toBeUndefined()
    expect((await second.api.get(hosted.id))!.rsvps).toHaveLength(1)
    // A week after it is over, ours goes too.
    await second.plugin.housekeeping!(Date.now() + 8 * 24 * HOUR)
    expect(await second.api.get(hosted.id)).toBeUndefined()
  })
})

describe('events against hostile senders (node review N2, N3, N11, N12, N15, N16)', () => {
  it('follows an invitation only from a known sender and only if it is over within 60 days; a stranger cannot fill the channel slots', async () => {
    const friend = createIdentity(crypto)
    const node = await eventsNode({ named: 'me', known: new Set([identityId(friend)]) })
    // 64 strangers invite us to events, half of them ten years long (the review's PoC): held, not followed.
    for (let i = 0; i < 64; i++) {
      const stranger = createIdentity(crypto)
      const e = eventBy(stranger, { endsAt: i % 2 === 0 ? Date.now() + 2 * HOUR : Date.now() + 10 * 365 * 24 * HOUR })
      await receive(node, { payload: encodeEvent(e), author: stranger, source: { type: 'direct' }, expiresAt: undefined })
    }
    expect(node.channels.list({ type: 'event' })).toEqual([])
    expect((await node.api.list()).filter((e) => e.audience === 'invited')).toHaveLength(64)
    await node.api.host({ title: 'mine', startsAt: soon(), audience: { group: 'crew' } })
    // A friend's invitation is followed, unless it ends more than 60 days ahead.
    const near = eventBy(friend, { endsAt: Date.now() + 59 * 24 * HOUR })
    const far = eventBy(friend, { endsAt: Date.now() + 61 * 24 * HOUR })
    for (const e of [near, far]) await receive(node, { payload: encodeEvent(e), author: friend, source: { type: 'direct' }, expiresAt: undefined })
    expect(node.channels.has({ type: 'event', id: toHex(near.eventId) })).toBe(true)
    expect(node.channels.has({ type: 'event', id: toHex(far.eventId) })).toBe(false)
    // Answering a stranger's invitation (a user action) follows it.
    const [someInvitation] = (await node.api.list()).filter((e) => e.audience === 'invited' && e.host?.id !== identityId(friend))
    await node.api.rsvp(someInvitation!.id, 'maybe')
    expect(node.channels.has({ type: 'event', id: someInvitation!.id })).toBe(true)
  })

  it('refuses a revision that changes the channel key: one new channel, one store pass, whatever the revisions', async () => {
    const host = createIdentity(crypto)
    const added: SaltedChannel[] = []
    const node = await eventsNode({ known: new Set([identityId(host)]), onAdded: (c) => { added.push(c) } })
    const e = eventBy(host)
    await receive(node, { payload: encodeEvent(e), author: host, source: { type: 'direct' }, expiresAt: undefined })
    for (let r = 1; r <= 50; r++) {
      await receive(node, { payload: encodeEvent({ ...e, revision: r, channelKey: crypto.randomBytes(32) }), author: host, source: { type: 'direct' }, expiresAt: undefined })
    }
    expect(added).toHaveLength(1)
    expect((await node.api.get(toHex(e.eventId)))!.revision).toBe(0)
    // The same key: taken.
    await receive(node, { payload: encodeEvent({ ...e, revision: 51, title: 'moved' }), author: host, source: { type: 'direct' }, expiresAt: undefined })
    expect(await node.api.get(toHex(e.eventId))).toMatchObject({ revision: 51, title: 'moved' })
    expect(added).toHaveLength(1)
  })

  it('follows the derived channel key: an event whose channelKey is a group anonymous key does not alias the group channel', async () => {
    const host = createIdentity(crypto)
    const node = await eventsNode({ known: new Set([identityId(host)]) })
    const groupAnonKey = crypto.randomBytes(32)
    const e = eventBy(host, { channelKey: groupAnonKey })
    await receive(node, { payload: encodeEvent(e), author: host, source: { type: 'direct' }, expiresAt: undefined })
    const followed = node.channels.list({ type: 'event' })[0]!
    expect(toHex(followed.key)).toBe(toHex(eventChannelKey(crypto, e)))
    expect(toHex(followed.key)).not.toBe(toHex(groupAnonKey))
    // After a restart the event channel comes first; the group's channel is still added, and takes the group's envelopes.
    const reopened = await openChannelSet(node.db)
    await reopened.add({ type: 'group', id: 'a'.repeat(64), epoch: 3 }, groupAnonKey, { persist: false })
    const vote = sealChannelPost(crypto, { author: createIdentity(crypto), kind: KIND_VOTE, payload: new Uint8Array(10), ttlMinutes: 60, channel: 'group-anonymous', channelKey: groupAnonKey })
    expect([...reopened.channels()].filter((c) => c.matches(vote.envelopes[0]!)).map((c) => c.owner.type)).toEqual(['group'])
  })

  it('keys events by (eventId, hostKey): a copy of an id under another host key is another event and cannot shut the real one out', async () => {
    const alice = createIdentity(crypto)
    const mallory = createIdentity(crypto)
    const node = await eventsNode({ known: new Set([identityId(alice)]) })
    const real = eventBy(alice)
    const id = toHex(real.eventId)
    // Mallory saw the id (in a group post, say) and got his anonymous world copy in first: it keeps the bare id.
    await receive(node, { payload: encodeEvent({ ...real, hostKey: mallory.signingKey, title: 'fake' }), author: mallory })
    expect((await node.api.get(id))!.title).toBe('fake')
    // The real event, then its revisions (a cancellation), are held beside it, under id + host key.
    const realId = id + identityId(alice)
    await receive(node, { payload: encodeEvent(real), author: alice, source: { type: 'direct' }, expiresAt: undefined })
    expect(await node.api.get(realId)).toMatchObject({ id: realId, title: 'picnic', audience: 'invited', host: { id: identityId(alice) } })
    expect(node.channels.has({ type: 'event', id: realId })).toBe(true) // a known sender's invitation: followed
    await receive(node, { payload: encodeEvent({ ...real, revision: 1, cancelled: true }), author: alice, source: { type: 'channel', owner: { type: 'event', id: realId } } })
    expect((await node.api.get(realId))!.cancelled).toBe(true)
    // Mallory's revisions touch his copy only.
    await receive(node, { payload: encodeEvent({ ...real, hostKey: mallory.signingKey, revision: 9, title: 'fake, moved' }), author: mallory })
    expect(await node.api.get(id)).toMatchObject({ title: 'fake, moved', revision: 9 })
    expect(await node.api.get(realId)).toMatchObject({ title: 'picnic', revision: 1, cancelled: true })
    expect((await node.api.list()).map((e) => e.id).sort()).toEqual([id, realId].sort())
    // Answering the real one answers it, sealed to its host keys.
    await node.api.rsvp(realId, 'going')
    expect(node.published.at(-1)!.target).toEqual({ type: 'channel', key: eventChannelKey(crypto, real) })
  })

  it('bounds answers per event without letting newcomers push out those held, and keeps room for known responders', async () => {
    const host = await eventsNode({ named: 'alice', maxRsvpsPerEvent: 3 })
    const hosted = await host.api.host({ title: 'meeting', startsAt: soon(), audience: 'world' })
    const e = decodeEvent(host.published[0]!.payload)
    const channel = { type: 'channel' as const, owner: { type: 'event' as const, id: hosted.id } }
    const answer = async (responder: Identity): Promise<void> => {
      await receive(host, { payload: sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder, choice: 'going' }), author: createIdentity(crypto), kind: KIND_RSVP, source: channel })
    }
    const early = createIdentity(crypto)
    await answer(early)
    for (let i = 0; i < 5; i++) await answer(createIdentity(crypto)) // the flood: two get in, three are refused
    const responders = async (): Promise<string[]> => (await host.api.get(hosted.id))!.rsvps!.map((r) => r.responder)
    expect(await responders()).toHaveLength(3)
    expect(await responders()).toContain(identityId(early))
    // A known responder still gets in, in place of an unknown one; the early answer stays.
    const friend = createIdentity(crypto)
    host.known.add(identityId(friend))
    await answer(friend)
    expect(await responders()).toHaveLength(3)
    expect(await responders()).toEqual(expect.arrayContaining([identityId(early), identityId(friend)]))
  })

  it('lets go at start of an event channel a crash left behind without a record', async () => {
    const first = await eventsNode({ named: 'me' })
    const hosted = await first.api.host({ title: 'ours', startsAt: soon(), audience: 'world' })
    await first.channels.add({ type: 'event', id: 'e'.repeat(32) }, crypto.randomBytes(32)) // its record is gone
    first.plugin.close()
    await first.db.close()
    const second = await eventsNode({ dir: first.dir, identity: first.identity, named: 'me' })
    expect(second.channels.list({ type: 'event' }).map((c) => c.owner.id)).toEqual([hosted.id])
  })

  it('publishes a revision to the channel, the audience and the invitees in one batch with its record', async () => {
    const bob = createIdentity(crypto)
    const host = await eventsNode({ named: 'alice', contacts: new Map([['bob', bob]]) })
    const hosted = await host.api.host({ title: 'assembly', startsAt: soon(), audience: 'world' })
    await host.api.invite(hosted.id, ['bob'])
    expect(host.batches).toEqual([1, 1]) // the first revision (to the world); the invitation with the record
    await host.api.update(hosted.id, { title: 'assembly, moved' })
    expect(host.batches.at(-1)).toBe(3) // channel, world and Bob: one batch
    expect(host.published.slice(-2).map((p) => p.target.type)).toEqual(['channel', 'world'])
    expect(host.direct.at(-1)!.to).toEqual([identityId(bob)])
  })
})
