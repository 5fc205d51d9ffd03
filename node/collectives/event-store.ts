/**
 * The events a node keeps (SPEC §15.9), ours and others', in three
 * sublevels:
 *
 * - `collectives-events`: `<id>` → the record (no payload): who hosts,
 *   how it reached us, revision, when it expires and is over, whether we
 *   follow its channel, our answer; for ours, the host secrets. All records
 *   are in memory too (small, and bounded for others' events);
 * - `collectives-event-payloads`: `<id>` → the payload of the revision
 *   held (up to 9.5 kB, read only when shown);
 * - `collectives-event-rsvps`: `<id>!<responder id>` → the latest
 *   answer of each responder, for our own events.
 *
 * Records are keyed by their API id: the event id (32 hex) for the first
 * event held under it, event id + host key (96 hex) for another host key's
 * event under the same id (SPEC §15.9: an event is (eventId, hostKey), and
 * a copy of an id cannot shut out the event it copies). Others' events are
 * bounded:
 * past {@link MAX_EVENTS_OF_OTHERS} the soonest-expiring goes, preferring
 * those whose channel we do not follow (invitations and answered events
 * stay longest). Writes come back as ops for the caller's batch; memory
 * follows in `committed`.
 */
import type { Level } from 'level'
import { jsonSublevel, type Json, type LocalOp } from '../local-state.js'
import type { RsvpChoice } from './types.js'

/** Events of others kept at most (about 1 kB of record in memory each, up to 9.5 kB of payload on disk). */
export const MAX_EVENTS_OF_OTHERS = 10_000
/**
 * Distinct responders kept per event of ours: a flood of one-time responders
 * cannot fill the disk. Anyone holding the event can answer, so a flood can
 * fill it: past it, newcomers are refused (answers held stay), except known
 * responders, who take the place of unknown ones (review N12).
 */
export const MAX_RSVPS_PER_EVENT = 2_000

/** What only the host keeps. */
export interface HostSecrets {
  /** Hex seed of the one-time Ed25519 host key (anonymous host only; a named host signs with its identity). */
  readonly hostSeed?: string
  /** Hex X25519 secret RSVPs are sealed to (per event). */
  readonly hostXSecret: string
  readonly anonymous: boolean
  /** Contacts the event was sent to pairwise (audience and later invitations): updates go to them too. */
  readonly invitees: ReadonlyArray<{ readonly id: string, readonly identity: string }>
}

/** How an event reached us, or (ours) where we published it. */
export type StoredAudience = 'world' | 'invited' | { readonly group: { readonly id: string, readonly name: string } } | { readonly contacts: readonly string[] }

/** An event as stored, without its payload. */
export interface StoredEvent {
  /** Its id: the event id (32 hex), or event id + host key (96 hex) when another host's event held that id first. */
  readonly id: string
  /** Hex of the key that signs every revision. */
  readonly hostKey: string
  readonly revision: number
  /** Hex SHA-256 of the payload held: equal revisions converge on the smaller (SPEC §15.9). */
  readonly hash: string
  readonly audience: StoredAudience
  /** Absent for an anonymous host. */
  readonly host?: { readonly id: string, readonly name?: string }
  readonly mine: boolean
  /** Our clock when this revision arrived or was made. */
  readonly updatedAt: number
  /** Others': the expiry of the newest envelope of this revision. Ours: of our last publication. */
  readonly expiresAt: number
  /** When the event is over (its end, or its start plus a default length): channels are let go then. */
  readonly overAt: number
  /** We follow its channel (ours, invited, answered). */
  readonly following: boolean
  readonly myRsvp?: { readonly choice: RsvpChoice, readonly at: number }
  readonly hosting?: HostSecrets
}

/** An answer to one of our events, as stored. */
export interface StoredRsvp {
  readonly eventId: string
  readonly responder: string
  readonly responderIdentity: string
  readonly choice: RsvpChoice
  readonly note: string
  readonly answeredAt: number
  readonly receivedAt: number
}

/** Writes of one step, and what to do once they are committed. */
export interface PreparedEvents {
  readonly ops: LocalOp[]
  committed(): void
}

/** The event store; see the file comment. */
export interface EventStore {
  get(id: string): StoredEvent | undefined
  all(): StoredEvent[]
  payload(id: string): Promise<Uint8Array | undefined>
  /**
   * The writes that put `record` (and `payload`, when it changed); for a new
   * event of others past the bound, also those that drop the one to evict,
   * or 'full' when the newcomer would be the one.
   */
  preparePut(record: StoredEvent, payload?: Uint8Array): PreparedEvents & { evicted?: StoredEvent } | 'full'
  /** The writes that forget an event, its payload and its answers. */
  prepareDelete(id: string): Promise<PreparedEvents>
  /** The answers to one of our events. */
  rsvps(id: string): Promise<StoredRsvp[]>
  /**
   * The writes that keep `rsvp` if it is the responder's latest, or why not.
   * Past `maxRsvpsPerEvent` responders a new one is refused ('full'), unless
   * `isKnown` says it is known and some answer held is not: then the latest
   * unknown answer makes room.
   */
  prepareRsvp(rsvp: StoredRsvp, isKnown?: (responderId: string) => boolean): Promise<PreparedEvents | 'older' | 'full'>
}

/** Bounds of the store (tests lower them). */
export interface EventStoreLimits {
  /** @default MAX_EVENTS_OF_OTHERS */
  maxEventsOfOthers?: number
  /** @default MAX_RSVPS_PER_EVENT */
  maxRsvpsPerEvent?: number
}

/** Opens the event store: reads every record (not the payloads) into memory. */
export async function openEventStore (db: Level<string, Json>, limits: EventStoreLimits = {}): Promise<EventStore> {
  const maxOthers = limits.maxEventsOfOthers ?? MAX_EVENTS_OF_OTHERS
  const maxRsvps = limits.maxRsvpsPerEvent ?? MAX_RSVPS_PER_EVENT
  const records = jsonSublevel(db, 'collectives-events')
  const payloads = jsonSublevel(db, 'collectives-event-payloads')
  const answers = jsonSublevel(db, 'collectives-event-rsvps')
  const events = new Map<string, StoredEvent>()
  for (const value of (await records.values().all()) as unknown as StoredEvent[]) {
    if (typeof value?.id === 'string' && typeof value.expiresAt === 'number') events.set(value.id, value)
  }
  let others = [...events.values()].filter((e) => !e.mine).length
  const rsvpRange = (id: string): { gt: string, lt: string } => ({ gt: `${id}!`, lt: `${id}!~` })

  /** The event of others to drop first: the soonest-expiring among those we do not follow, else among all. */
  function evictionCandidate (): StoredEvent | undefined {
    let best: StoredEvent | undefined
    for (const e of events.values()) {
      if (e.mine) continue
      if (best === undefined || (best.following && !e.following) || (best.following === e.following && e.expiresAt < best.expiresAt)) best = e
    }
    return best
  }

  function forget (id: string): void {
    const held = events.get(id)
    if (held !== undefined && events.delete(id) && !held.mine) others--
  }

  return {
    get: (id) => events.get(id),
    all: () => [...events.values()],

    async payload (id) {
      const stored = await payloads.get(id) as { bytes?: string } | undefined
      return typeof stored?.bytes === 'string' ? new Uint8Array(Buffer.from(stored.bytes, 'base64')) : undefined
    },

    preparePut (record, payload) {
      const ops: LocalOp[] = [{ type: 'put', sublevel: records, key: record.id, value: record as unknown as Json }]
      if (payload !== undefined) ops.push({ type: 'put', sublevel: payloads, key: record.id, value: { bytes: Buffer.from(payload).toString('base64') } })
      let evicted: StoredEvent | undefined
      if (!events.has(record.id) && !record.mine && others >= maxOthers) {
        evicted = evictionCandidate()
        // A followed event outranks one we only saw; between equals, the later expiry stays.
        const outranked = evicted === undefined || (evicted.following && !record.following) ||
          (evicted.following === record.following && record.expiresAt <= evicted.expiresAt)
        if (outranked) return 'full'
        evicted = evicted!
        ops.push({ type: 'del', sublevel: records, key: evicted.id }, { type: 'del', sublevel: payloads, key: evicted.id })
      }
      return {
        ops,
        ...(evicted === undefined ? {} : { evicted }),
        committed () {
          if (evicted !== undefined) forget(evicted.id)
          if (!events.has(record.id) && !record.mine) others++
          events.set(record.id, record)
        }
      }
    },

    async prepareDelete (id) {
      const keys = await answers.keys(rsvpRange(id)).all()
      return {
        ops: [
          { type: 'del', sublevel: records, key: id }, { type: 'del', sublevel: payloads, key: id },
          ...keys.map((key): LocalOp => ({ type: 'del', sublevel: answers, key }))
        ],
        committed: () => { forget(id) }
      }
    },

    async rsvps (id) {
      return (await answers.values(rsvpRange(id)).all()) as unknown as StoredRsvp[]
    },

    async prepareRsvp (rsvp, isKnown = () => false) {
      const key = `${rsvp.eventId}!${rsvp.responder}`
      const held = await answers.get(key) as StoredRsvp | undefined
      if (held !== undefined && held.answeredAt >= rsvp.answeredAt) return 'older'
      const put: LocalOp = { type: 'put', sublevel: answers, key, value: rsvp as unknown as Json }
      if (held !== undefined || (await answers.keys({ ...rsvpRange(rsvp.eventId), limit: maxRsvps }).all()).length < maxRsvps) {
        return { ops: [put], committed: () => {} }
      }
      // Full: a newcomer never pushes out an answer held, unless it is known (a contact, a name) and the one it
      // pushes out is not: the latest unknown answer goes, so a flood of one-time responders cannot keep known
      // people out, and cannot push out those who answered before it.
      if (!isKnown(rsvp.responder)) return 'full'
      let evict: StoredRsvp | undefined
      for (const answer of (await answers.values(rsvpRange(rsvp.eventId)).all()) as unknown as StoredRsvp[]) {
        if (!isKnown(answer.responder) && (evict === undefined || answer.receivedAt >= evict.receivedAt)) evict = answer
      }
      if (evict === undefined) return 'full'
      return { ops: [{ type: 'del', sublevel: answers, key: `${evict.eventId}!${evict.responder}` }, put], committed: () => {} }
    }
  }
}
