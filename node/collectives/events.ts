/**
 * Events on a node (SPEC §15.9): `node.events`, the `event` and `rsvp`
 * events, as a collectives plugin (plugin.ts) taking kinds 0x34 and 0x35.
 *
 * Hosting makes three things per event: a host key that signs every
 * revision (our identity, or a one-time key kept here for an anonymous
 * host), an X25519 key answers are sealed to (per event, so answers die with
 * it), and a channel key. The event goes to its audience (the world, a group,
 * or contacts pairwise); every later revision goes to the audience AND the
 * event's channel (one batch), which the host, those who answered and those
 * invited by a known sender follow until the event is over. The channel is
 * keyed by `eventChannelKey` (derived from the payload's `channelKey`, event
 * id and host key), so no host can make it alias a group's or another
 * event's channel. Answers travel on the channel, sealed to the host, each
 * signed by a fresh one-time key: only the host learns who answered.
 *
 * Incoming revisions count only when signed by the event's host key and
 * when they keep the channel key of revision 0; a higher revision replaces
 * the one held, equal revisions converge on the payload with the smaller
 * SHA-256. Events are (eventId, hostKey): a copy of an id under another host
 * key is held as another event (API id: event id + host key), so it cannot
 * shut the real one out. Stores and bounds: event-store.ts.
 */
import {
  createIdentity, decodeEvent, decodeGeohash, encodeEvent, encodeGeohash, encodePublicIdentity, fromHex, geohashErrorKm, identityFromSecrets,
  isGeohash, KIND_EVENT, KIND_RSVP, MAX_PIN_GEOHASH, MAX_TTL_MINUTES, MINUTE_MS, openRsvp, RSVP_CHOICES, rsvpEventId, sealRsvp, toHex, decodePublicIdentity,
  type EventPayload, type Identity
} from '../../protocol/index.js'
import { eventChannelKey } from '../../protocol/event-payload.js'
import { NodeNotRunningError } from '../errors.js'
import type { StateChange } from '../local-state.js'
import { POST_CLOCK_SKEW_MS } from '../node-constants.js'
import { NoNameError } from '../social/errors.js'
import { timestampRefusal } from '../social/incoming.js'
import { NotTheEventHostError, UnknownEventError } from './errors.js'
import { openEventStore, type EventStore, type EventStoreLimits, type StoredAudience, type StoredEvent } from './event-store.js'
import type { CollectivesContext, CollectivesPluginFactory, IncomingItem, PublishItem } from './plugin.js'
import type { EventChanges, EventInfo, EventInput, EventsApi, LocationInput, RsvpChoice, RsvpInfo } from './types.js'

/** An event without a set end counts as over this long after its start. */
export const DEFAULT_EVENT_LENGTH_MS = 6 * 60 * MINUTE_MS
/** Shortest lifetime of an event's envelopes (one that is about to end still reaches people). */
export const MIN_EVENT_TTL_MINUTES = 10
/** A hosted event whose envelopes expire before it is over is published again this long before they do. */
export const REPUBLISH_MARGIN_MS = 24 * 60 * MINUTE_MS
/** Geohash length of a place given as a point: a block. */
export const DEFAULT_EVENT_PRECISION = 7
/** Our own events (and their answers) stay this long after they are over, for the host to look back. */
export const KEEP_OWN_EVENTS_MS = MAX_TTL_MINUTES * MINUTE_MS
/** Contacts one event is sent to pairwise, at most (each costs a pairwise message per revision). */
export const MAX_EVENT_INVITEES = 256
/**
 * An invitation is followed on its own only if the event is over within this
 * (review N3): a channel followed costs an HMAC per screened envelope and one
 * of MAX_EVENT_CHANNELS slots until the event is over, and the inviter picks
 * when that is. Answering (a user action) follows whatever the end.
 */
export const MAX_INVITATION_FOLLOW_AHEAD_MS = 60 * 24 * 60 * MINUTE_MS

/**
 * An event's id in the API: its event id (32 hex) for the first event held
 * under that id, else event id + host key (96 hex): events are (eventId,
 * hostKey) (SPEC §15.9), and a copy of an id under another key is another
 * event, held beside the first.
 */
const EVENT_ID = /^[0-9a-f]{32}(?:[0-9a-f]{64})?$/
/** The 16-byte event id (hex) of a record's id. */
const eventIdOf = (id: string): string => id.slice(0, 32)

/** When an event is over: its end, or its start plus the default length. */
export const overAtOf = (e: Pick<EventPayload, 'startsAt' | 'endsAt'>): number => e.endsAt > 0 ? e.endsAt : e.startsAt + DEFAULT_EVENT_LENGTH_MS

/** Envelope lifetime for an event (or an answer to it) over at `overAt`: until then, within what an envelope may live. */
export function eventTtlMinutes (overAt: number, now: number): number {
  return Math.min(MAX_TTL_MINUTES, Math.max(MIN_EVENT_TTL_MINUTES, Math.ceil((overAt - now) / MINUTE_MS)))
}

function checkTime (value: unknown, name: string): number {
  if (typeof value !== 'number') throw new TypeError(`"${name}" expected unix ms, got ${typeof value}`)
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`"${name}" expected whole unix ms, got ${value}`)
  return value
}

function checkText (value: unknown, name: string): string {
  if (value === undefined) return ''
  if (typeof value !== 'string') throw new TypeError(`"${name}" expected a string, got ${typeof value}`)
  return value
}

/** A place as a geohash of at most 9 characters (SPEC §15.10). */
function geohashOf (location: LocationInput): string {
  if (typeof location === 'string') {
    if (!isGeohash(location, MAX_PIN_GEOHASH)) throw new RangeError(`"location" expected a geohash of 1 to ${MAX_PIN_GEOHASH} lower-case characters`)
    return location
  }
  if (typeof location !== 'object' || location === null) throw new TypeError('"location" expected a geohash or { lat, lon, precision? }')
  const precision = location.precision ?? DEFAULT_EVENT_PRECISION
  if (!Number.isInteger(precision) || precision < 1 || precision > MAX_PIN_GEOHASH) {
    throw new RangeError(`"location.precision" expected a whole number from 1 to ${MAX_PIN_GEOHASH}, got ${String(precision)}`)
  }
  return encodeGeohash(location.lat, location.lon, precision)
}

/** The fields of a revision that `changes` may set, checked. */
function applyChanges (base: EventPayload, changes: EventChanges): EventPayload {
  if (typeof changes !== 'object' || changes === null) throw new TypeError('"changes" expected an object')
  const startsAt = changes.startsAt === undefined ? base.startsAt : checkTime(changes.startsAt, 'startsAt')
  const endsAt = changes.endsAt === undefined ? base.endsAt : checkTime(changes.endsAt, 'endsAt')
  const location = changes.location === undefined ? base.location : geohashOf(changes.location)
  const { location: _, ...rest } = base
  return {
    ...rest, startsAt, endsAt,
    title: changes.title === undefined ? base.title : checkText(changes.title, 'title'),
    place: changes.place === undefined ? base.place : checkText(changes.place, 'place'),
    description: changes.description === undefined ? base.description : checkText(changes.description, 'description'),
    ...(location === undefined ? {} : { location })
  }
}

function audienceInfo (audience: StoredAudience): EventInfo['audience'] {
  if (typeof audience === 'string') return audience
  return 'group' in audience ? { group: audience.group.name } : { contacts: [...audience.contacts] }
}

const rsvpInfo = (context: CollectivesContext, r: { eventId: string, responder: string, choice: RsvpChoice, note: string, answeredAt: number, receivedAt: number }): RsvpInfo => {
  const name = context.contactName(r.responder)
  return { eventId: r.eventId, responder: r.responder, ...(name === undefined ? {} : { responderName: name }), choice: r.choice, note: r.note, answeredAt: r.answeredAt, receivedAt: r.receivedAt }
}

/** The events plugin over `context`, with store bounds (tests lower them). */
export function createNodeEventsWith (limits: EventStoreLimits = {}): CollectivesPluginFactory<EventsApi> {
  return (context) => {
    const { crypto, log } = context
    let store: EventStore | undefined
    const ownId = (): string => toHex(context.identity().signingKey)
    const channelOf = (id: string): { type: 'event', id: string } => ({ type: 'event', id })

    function opened (): EventStore {
      if (store === undefined) throw new NodeNotRunningError()
      return store
    }

    async function payloadOf (record: StoredEvent): Promise<EventPayload> {
      const bytes = await opened().payload(record.id)
      if (bytes === undefined) throw new UnknownEventError(record.id)
      return decodeEvent(bytes)
    }

    async function infoOf (record: StoredEvent, payload?: EventPayload): Promise<EventInfo> {
      const e = payload ?? await payloadOf(record)
      const location = e.location === undefined
        ? undefined
        : { geohash: e.location, ...(({ lat, lon }) => ({ lat, lon }))(decodeGeohash(e.location)), latErrKm: geohashErrorKm(e.location).latErrKm }
      const rsvps = record.mine ? (await opened().rsvps(record.id)).map((r) => rsvpInfo(context, r)) : undefined
      return {
        id: record.id, revision: e.revision, title: e.title, startsAt: e.startsAt, ...(e.endsAt === 0 ? {} : { endsAt: e.endsAt }),
        place: e.place, description: e.description, ...(location === undefined ? {} : { location }), cancelled: e.cancelled,
        ...(record.host === undefined ? {} : { host: { ...record.host } }),
        audience: audienceInfo(record.audience), mine: record.mine,
        ...(record.myRsvp === undefined ? {} : { myRsvp: record.myRsvp.choice }),
        ...(rsvps === undefined ? {} : { rsvps }),
        updatedAt: record.updatedAt
      }
    }

    function needEvent (eventId: string): StoredEvent {
      if (typeof eventId !== 'string' || !EVENT_ID.test(eventId)) throw new TypeError('"eventId" expected 32 (or 96) lower-case hex characters')
      const record = opened().get(eventId)
      if (record === undefined) throw new UnknownEventError(eventId)
      return record
    }

    function needHosted (eventId: string): StoredEvent & { hosting: NonNullable<StoredEvent['hosting']> } {
      const record = needEvent(eventId)
      if (!record.mine || record.hosting === undefined) throw new NotTheEventHostError(eventId)
      return record as StoredEvent & { hosting: NonNullable<StoredEvent['hosting']> }
    }

    /** The key that signs our event's revisions. */
    function hostIdentityOf (record: StoredEvent): Identity {
      const hosting = record.hosting!
      return hosting.hostSeed === undefined
        ? context.identity()
        : identityFromSecrets(crypto, fromHex(hosting.hostSeed, 'hostSeed', 32), fromHex(hosting.hostXSecret, 'hostXSecret', 32))
    }

    /** Contacts by id, name or identity, as public identities (adding them as contacts where needed). */
    async function resolveContacts (contacts: unknown, signal?: AbortSignal): Promise<Array<{ id: string, identity: string }>> {
      if (!Array.isArray(contacts) || contacts.length === 0 || contacts.length > MAX_EVENT_INVITEES) {
        throw new RangeError(`"contacts" expected 1 to ${MAX_EVENT_INVITEES} contacts`)
      }
      const resolved: Array<{ id: string, identity: string }> = []
      for (const contact of contacts) {
        if (typeof contact !== 'string') throw new TypeError('"contacts" expected contact ids, names or identities')
        const added = await context.addContact(contact, signal === undefined ? {} : { signal })
        if (!resolved.some((r) => r.id === added.id)) resolved.push({ id: added.id, identity: added.identity })
      }
      return resolved
    }

    /** Follows the event's channel: keyed by the key derived from its payload (SPEC §15.9), never the raw `channelKey`. */
    async function follow (id: string, e: EventPayload): Promise<void> {
      await context.channels().add(channelOf(id), eventChannelKey(crypto, e))
    }

    function unfollowLater (id: string): void {
      void context.channels().remove(channelOf(id)).catch((error: unknown) => { log.warn('could not let an event channel go', { error }) })
    }

    /**
     * Publishes a revision of our event, in ONE batch with `ops` (our record):
     * to the channel (updates), to the audience, and pairwise to every
     * invitee. A crash leaves all of them or none: the audience cannot miss a
     * cancellation the record already shows.
     */
    async function publishRevision (record: StoredEvent, payload: Uint8Array, overAt: number, options: { channel: boolean, ops: StoredOps, signal?: AbortSignal }): Promise<void> {
      const hosting = record.hosting!
      const ttlMinutes = eventTtlMinutes(overAt, Date.now())
      const author = hostIdentityOf(record)
      const e = decodeEvent(payload)
      const items: PublishItem[] = []
      if (options.channel) items.push({ target: { type: 'channel', key: eventChannelKey(crypto, e) }, kind: KIND_EVENT, payload })
      const audience = record.audience
      if (audience === 'world') items.push({ target: { type: 'world', anonymous: hosting.anonymous }, kind: KIND_EVENT, payload })
      else if (typeof audience === 'object' && 'group' in audience) items.push({ target: { type: 'group', group: audience.group.id, anonymous: hosting.anonymous }, kind: KIND_EVENT, payload })
      if (hosting.invitees.length > 0) {
        items.push({ to: hosting.invitees.map((i) => decodePublicIdentity(fromHex(i.identity, 'identity', 64))), kind: KIND_EVENT, payload })
      }
      await context.publishAll(items, {
        ttlMinutes, author, ops: options.ops.ops, ...(options.ops.committed === undefined ? {} : { committed: options.ops.committed }),
        ...(options.signal === undefined ? {} : { signal: options.signal })
      })
    }

    /** Writes a new revision of our event (record and payload), publishes it, emits it. */
    async function revise (record: StoredEvent, next: EventPayload, signal?: AbortSignal, channel = true): Promise<EventInfo> {
      const payload = encodeEvent(next)
      const now = Date.now()
      const overAt = overAtOf(next)
      const updated: StoredEvent = {
        ...record, revision: next.revision, hash: toHex(crypto.sha256(payload)), updatedAt: now, overAt,
        expiresAt: now + eventTtlMinutes(overAt, now) * MINUTE_MS
      }
      const prepared = opened().preparePut(updated, payload)
      if (prepared === 'full') throw new Error('unreachable: our own events are not bounded')
      if (channel) await follow(record.id, next)
      await publishRevision(updated, payload, overAt, { channel, ops: prepared, ...(signal === undefined ? {} : { signal }) })
      const info = await infoOf(updated, next)
      context.emit('event', info)
      return info
    }

    const api: EventsApi = {
      async host (input: EventInput, options = {}) {
        if (typeof input !== 'object' || input === null) throw new TypeError('"input" expected an event')
        const anonymous = input.anonymous ?? false
        if (typeof anonymous !== 'boolean') throw new TypeError('"anonymous" expected a boolean')
        const audienceIn = input.audience
        let audience: StoredAudience
        let invitees: Array<{ id: string, identity: string }> = []
        if (audienceIn === 'world') {
          audience = 'world'
        } else if (typeof audienceIn === 'object' && audienceIn !== null && 'group' in audienceIn && typeof audienceIn.group === 'string') {
          const group = context.memberGroup(audienceIn.group)
          audience = { group: { id: group.id, name: group.name } }
        } else if (typeof audienceIn === 'object' && audienceIn !== null && 'contacts' in audienceIn) {
          // An invitation is a pairwise message from our identity: it cannot hide who sends it.
          if (anonymous) throw new RangeError('An event for chosen contacts cannot be anonymous: they see who invites them')
          invitees = await resolveContacts(audienceIn.contacts, options.signal)
          audience = { contacts: invitees.map((i) => i.id) }
        } else {
          throw new TypeError('"audience" expected \'world\', { group } or { contacts }')
        }
        const startsAt = checkTime(input.startsAt, 'startsAt')
        const endsAt = input.endsAt === undefined ? 0 : checkTime(input.endsAt, 'endsAt')
        const now = Date.now()
        if (overAtOf({ startsAt, endsAt }) <= now) throw new RangeError('The event is over already: "startsAt"/"endsAt" lie in the past')
        const location = input.location === undefined ? undefined : geohashOf(input.location)
        const own = anonymous ? undefined : await context.ownCertificate()
        if (!anonymous && audience === 'world' && own === undefined) throw new NoNameError()
        options.signal?.throwIfAborted()

        // Anonymous: a one-time identity is the host key and hostX. Named: our identity signs, hostX is per event.
        const hostKeys = createIdentity(crypto)
        const signer = anonymous ? hostKeys : context.identity()
        const payload: EventPayload = {
          eventId: crypto.randomBytes(16), revision: 0, hostKey: signer.signingKey, hostX: hostKeys.sealingKey, channelKey: crypto.randomBytes(32),
          startsAt, endsAt, title: checkText(input.title, 'title'), place: checkText(input.place, 'place'),
          description: checkText(input.description, 'description'), ...(location === undefined ? {} : { location }),
          ...(own === undefined ? {} : { certificate: own.certificate }), cancelled: false
        }
        encodeEvent(payload) // the texts' limits (PostFormatError) before anything is written
        const id = toHex(payload.eventId)
        const record: StoredEvent = {
          id, hostKey: toHex(signer.signingKey), revision: 0, hash: '', audience,
          ...(anonymous ? {} : { host: { id: ownId(), ...(own === undefined ? {} : { name: own.name }) } }),
          mine: true, updatedAt: now, expiresAt: now, overAt: overAtOf(payload), following: true,
          hosting: {
            ...(anonymous ? { hostSeed: toHex(hostKeys.signingSeed) } : {}), hostXSecret: toHex(hostKeys.sealingSecret), anonymous, invitees
          }
        }
        await follow(id, payload)
        try {
          // Nobody follows the channel of a new event yet: the first revision goes to the audience only.
          return await revise(record, payload, options.signal, false)
        } catch (error) {
          // Not published (no world feed, aborted...): nothing of it stays.
          if (opened().get(id) === undefined) unfollowLater(id)
          throw error
        }
      },

      async update (eventId, changes, options = {}) {
        const record = needHosted(eventId)
        const base = await payloadOf(record)
        const next = { ...applyChanges(base, changes), revision: base.revision + 1 }
        if (overAtOf(next) <= Date.now()) throw new RangeError('The event would be over already: "startsAt"/"endsAt" lie in the past')
        return await revise(record, next, options.signal)
      },

      async cancel (eventId, options = {}) {
        const record = needHosted(eventId)
        const base = await payloadOf(record)
        if (base.cancelled) return await infoOf(record, base)
        return await revise(record, { ...base, revision: base.revision + 1, cancelled: true }, options.signal)
      },

      async invite (eventId, contacts, options = {}) {
        const record = needHosted(eventId)
        if (record.hosting.anonymous) throw new RangeError('An anonymous event cannot be sent to contacts: they would see who invites them')
        const added = (await resolveContacts(contacts, options.signal)).filter((c) => !record.hosting.invitees.some((i) => i.id === c.id))
        if (record.hosting.invitees.length + added.length > MAX_EVENT_INVITEES) throw new RangeError(`An event goes to at most ${MAX_EVENT_INVITEES} contacts`)
        const payload = await opened().payload(record.id)
        if (payload === undefined || added.length === 0) return await infoOf(record)
        const invitees = [...record.hosting.invitees, ...added]
        // An event for chosen contacts is for all of them now; a world or group event keeps its audience.
        const audience = typeof record.audience === 'object' && 'contacts' in record.audience ? { contacts: invitees.map((i) => i.id) } : record.audience
        const updated: StoredEvent = { ...record, audience, hosting: { ...record.hosting, invitees } }
        const prepared = opened().preparePut(updated)
        if (prepared === 'full') throw new Error('unreachable: our own events are not bounded')
        // The record and the invitations in one batch.
        await context.publishAll([{ to: added.map((c) => decodePublicIdentity(fromHex(c.identity, 'identity', 64))), kind: KIND_EVENT, payload }], {
          ttlMinutes: eventTtlMinutes(record.overAt, Date.now()), ops: prepared.ops, committed: () => { prepared.committed() }
        })
        return await infoOf(updated)
      },

      async rsvp (eventId, choice, note = '', options = {}) {
        const record = needEvent(eventId)
        if (!(RSVP_CHOICES as readonly string[]).includes(choice)) throw new RangeError(`"choice" expected one of ${RSVP_CHOICES.join(', ')}`)
        if (typeof note !== 'string') throw new TypeError('"note" expected a string')
        const e = await payloadOf(record)
        const now = Date.now()
        const updated: StoredEvent = { ...record, myRsvp: { choice, at: now }, following: true }
        const prepared = opened().preparePut(updated)
        if (prepared === 'full') throw new Error('unreachable: the event is held')
        if (record.mine) {
          // Our own event: nothing to tell anyone.
          await context.delivery().queue(() => ({ ops: prepared.ops }), () => { prepared.committed() })
        } else {
          const body = sealRsvp(crypto, { eventId: e.eventId, hostKey: e.hostKey, hostX: e.hostX, responder: context.identity(), choice, note, now })
          await follow(record.id, e)
          // A fresh key signs the envelope: the channel's other readers learn that someone answered, not who.
          await context.publish({ type: 'channel', key: eventChannelKey(crypto, e) }, KIND_RSVP, body, {
            ttlMinutes: eventTtlMinutes(record.overAt, now), author: createIdentity(crypto), ops: prepared.ops, committed: () => { prepared.committed() },
            ...(options.signal === undefined ? {} : { signal: options.signal })
          })
        }
        return await infoOf(updated, e)
      },

      async list () {
        const now = Date.now()
        const records = opened().all().filter((r) => r.mine || r.expiresAt > now)
        const infos: EventInfo[] = []
        for (const record of records) {
          try {
            infos.push(await infoOf(record))
          } catch {
            // A record whose payload is gone (deleted meanwhile) is simply not listed.
          }
        }
        return infos.sort((a, b) => a.startsAt - b.startsAt || (a.id < b.id ? -1 : 1))
      },

      async get (eventId) {
        if (typeof eventId !== 'string' || !EVENT_ID.test(eventId)) throw new TypeError('"eventId" expected 32 (or 96) lower-case hex characters')
        const record = opened().get(eventId)
        if (record === undefined || (!record.mine && record.expiresAt <= Date.now())) return undefined
        return await infoOf(record)
      }
    }

    async function absorbEvent (item: IncomingItem, events: EventStore, change: StateChange, after: Array<() => void>): Promise<void> {
      const { source } = item
      let e: EventPayload
      try {
        e = decodeEvent(item.payload)
      } catch (error) {
        log.debug('a malformed event was dropped', { error })
        return
      }
      const hostKey = toHex(e.hostKey)
      // Only the host key signs revisions (SPEC §15.9): anyone else's copy or "update" is dropped.
      if (toHex(item.author.signingKey) !== hostKey) {
        log.debug('an event not signed by its host key was dropped')
        return
      }
      const now = Date.now()
      if (item.expiresAt === undefined ? item.sentAt > now + POST_CLOCK_SKEW_MS : timestampRefusal(item.sentAt, item.expiresAt, now) !== undefined) return
      const id = toHex(e.eventId)
      const name = context.certifiedName(e.certificate, item.author)
      if (e.certificate !== undefined && name === undefined && source.type === 'world') {
        // As a world post's (SPEC §15.9): in the world the certificate is all that names a host.
        log.debug('a world event whose certificate does not name its host was dropped')
        return
      }
      // Events are (eventId, hostKey): a copy of an id under another host key is another event, held beside the
      // first (review N11: it cannot shut the real one out). The first keeps the bare id.
      const first = events.get(id)
      const held = first?.hostKey === hostKey ? first : events.get(id + hostKey)
      if (held?.mine === true) return
      const key = held?.id ?? (first === undefined ? id : id + hostKey)
      // On a channel, only revisions of an event held (by its id in the payload, not by which channel matched:
      // the screener names only one owner).
      if (source.type === 'channel' && (held === undefined || source.owner.type !== 'event')) return
      const overAt = overAtOf(e)
      const expiresAt = item.expiresAt ?? now + eventTtlMinutes(overAt, now) * MINUTE_MS
      const hash = toHex(crypto.sha256(item.payload))
      const invited = source.type === 'direct'
      // Followed on its own only from a known sender, and only for an event over within the bound (review N3);
      // anyone else's invitation is held like a world event, and followed once the user answers it.
      const followInvitation = invited && context.knownSender(item.authorId) && overAt <= now + MAX_INVITATION_FOLLOW_AHEAD_MS
      let record: StoredEvent
      let payload: Uint8Array | undefined
      if (held !== undefined && (e.revision < held.revision || (e.revision === held.revision && hash > held.hash))) return
      if (held !== undefined && e.revision === held.revision && hash === held.hash) {
        // The same revision again (republished, or by another way): it may live longer, or make us follow.
        if (expiresAt <= held.expiresAt && (!followInvitation || held.following)) return
        record = { ...held, expiresAt: Math.max(expiresAt, held.expiresAt), following: held.following || followInvitation }
      } else {
        if (held !== undefined) {
          // The channel's key is fixed at revision 0 (review N3): a revision that changes it is refused, so a host
          // cannot make followers re-key (and search their store) at will.
          const before = await events.payload(held.id)
          if (before === undefined || toHex(decodeEvent(before).channelKey) !== toHex(e.channelKey)) {
            log.debug('a revision that changes the event channel key was dropped')
            return
          }
        }
        let host = held?.host
        if (source.type === 'group-chain' || source.type === 'direct') {
          const known = name ?? context.contactName(hostKey)
          host = { id: hostKey, ...(known === undefined ? {} : { name: known }) }
        } else if (name !== undefined) {
          host = { id: hostKey, name }
        }
        const audience: StoredAudience = held?.audience ??
          (source.type === 'world' ? 'world' : invited ? 'invited' : 'group' in source ? { group: { id: source.group.id, name: source.group.name } } : 'world')
        record = {
          id: key, hostKey, revision: e.revision, hash, audience, ...(host === undefined ? {} : { host }), mine: false, updatedAt: now, expiresAt, overAt,
          following: (held?.following ?? false) || followInvitation, ...(held?.myRsvp === undefined ? {} : { myRsvp: held.myRsvp })
        }
        payload = item.payload
      }
      const prepared = events.preparePut(record, payload)
      if (prepared === 'full') {
        log.debug('an event was not kept: the store is full of events that last longer')
        return
      }
      ;(change.ops ??= []).push(...prepared.ops)
      after.push(() => {
        prepared.committed()
        if (prepared.evicted?.following === true) unfollowLater(prepared.evicted.id)
        if (record.following && overAt > Date.now()) {
          void follow(key, e).catch((error: unknown) => { log.warn('could not follow an event channel', { error }) })
        }
        if (payload !== undefined) void infoOf(record, e).then((info) => { context.emit('event', info) }, () => {})
      })
    }

    async function absorbRsvp (item: IncomingItem, events: EventStore, change: StateChange, after: Array<() => void>): Promise<void> {
      const { source } = item
      if (source.type !== 'channel' || source.owner.type !== 'event') return
      // The event by the id the answer names (see absorbEvent for why not by the channel that matched).
      const eventId = rsvpEventId(item.payload)
      const record = eventId === undefined ? undefined : events.get(toHex(eventId))
      if (record?.hosting === undefined) return // not ours: sealed to someone else, unreadable here
      const rsvp = openRsvp(crypto, item.payload, fromHex(record.hosting.hostXSecret, 'hostXSecret', 32), fromHex(eventIdOf(record.id), 'eventId', 16), fromHex(record.hostKey, 'hostKey', 32))
      const now = Date.now()
      if (rsvp === undefined || rsvp.timestamp > now + POST_CLOCK_SKEW_MS) {
        log.debug('an answer that does not open, or comes from the future, was dropped')
        return
      }
      const stored = {
        eventId: record.id, responder: toHex(rsvp.responder.signingKey), responderIdentity: toHex(encodePublicIdentity(rsvp.responder)),
        choice: rsvp.choice, note: rsvp.note, answeredAt: rsvp.timestamp, receivedAt: now
      }
      // Known: someone the user added or wrote to, or whose registered name we confirmed.
      const prepared = await events.prepareRsvp(stored, (responder) => context.knownSender(responder) || context.contactName(responder) !== undefined)
      if (typeof prepared === 'string') return
      ;(change.ops ??= []).push(...prepared.ops)
      after.push(() => { context.emit('rsvp', rsvpInfo(context, stored)) })
    }

    return {
      api,
      kinds: new Set([KIND_EVENT, KIND_RSVP]),

      async open () {
        store = await openEventStore(context.db(), limits)
        const now = Date.now()
        const wanted = new Set(store.all().filter((r) => r.following && r.overAt > now).map((r) => r.id))
        // A channel a crash left behind (its record deleted or let go in a batch before the channel's own write):
        // nothing else would ever remove it, and it would hold one of the slots for good (review N15).
        for (const channel of context.channels().list({ type: 'event' })) {
          if (wanted.has(channel.owner.id)) continue
          try {
            await context.channels().remove(channel.owner)
          } catch (error) {
            log.warn('could not let an event channel go', { error })
          }
        }
        // A channel lost with a crash between the record and the channel set is followed again (with the key
        // its payload derives: one stored under another key is re-keyed).
        for (const id of wanted) {
          try {
            await follow(id, await payloadOf(store.get(id)!))
          } catch (error) {
            log.warn('could not follow an event channel', { error })
          }
        }
      },

      async absorb (item, change, after) {
        const events = store
        if (events === undefined) return
        if (item.kind === KIND_EVENT) await absorbEvent(item, events, change, after)
        else if (item.kind === KIND_RSVP) await absorbRsvp(item, events, change, after)
      },

      async housekeeping (now) {
        const events = store
        if (events === undefined) return
        for (const record of events.all()) {
          try {
            if (record.mine ? record.overAt + KEEP_OWN_EVENTS_MS <= now && record.expiresAt <= now : record.expiresAt <= now) {
              const prepared = await events.prepareDelete(record.id)
              await context.delivery().queue(() => ({ ops: prepared.ops }), () => { prepared.committed() })
              await context.channels().remove(channelOf(record.id))
            } else if (record.following && record.overAt <= now) {
              // Over: nothing more to hear on its channel.
              const prepared = events.preparePut({ ...record, following: false })
              if (prepared !== 'full') await context.delivery().queue(() => ({ ops: prepared.ops }), () => { prepared.committed() })
              await context.channels().remove(channelOf(record.id))
            } else if (record.mine && record.overAt > record.expiresAt && record.expiresAt - now < REPUBLISH_MARGIN_MS) {
              // Our event outlives its envelopes (more than a week ahead): publish the same revision again.
              const payload = await events.payload(record.id)
              if (payload === undefined) continue
              const updated = { ...record, expiresAt: now + eventTtlMinutes(record.overAt, now) * MINUTE_MS }
              const prepared = events.preparePut(updated)
              if (prepared !== 'full') await publishRevision(updated, payload, record.overAt, { channel: true, ops: prepared })
            }
          } catch (error) {
            log.warn('event housekeeping failed for one event', { error })
          }
        }
      },

      close () { store = undefined }
    }
  }
}

/** Writes of one step with their after-commit work. */
interface StoredOps {
  readonly ops: NonNullable<StateChange['ops']>
  readonly committed?: () => void
}

/** The events plugin (`node.events`), with the default bounds. */
export const createNodeEvents: CollectivesPluginFactory<EventsApi> = createNodeEventsWith()
