/**
 * Map pins on a node (SPEC §15.10): `node.pins` and the `pin` event, as a
 * collectives plugin (plugin.ts) taking kind 0x36.
 *
 * A pin is a kind, a note and a geohash cell; it lives as long as its
 * envelope. It goes to the world or to a group, named (signed by our
 * identity; a world pin carries our certificate, checked by readers as a
 * post's) or anonymous (a one-time key per pin, no certificate; in a group,
 * on its anonymous channel). Every pin of our feeds reaches us; "within R
 * km" is computed here, from the cell centre, so asking tells nobody where
 * we are.
 */
import {
  decodeGeohash, decodePin, distanceKm, encodeGeohash, encodePin, geohashErrorKm, KIND_PIN, MAX_PIN_GEOHASH, MAX_TTL_MINUTES,
  PIN_KINDS, createIdentity, type PublicIdentity
} from '../../protocol/index.js'
import { NodeNotRunningError } from '../errors.js'
import { NoNameError } from '../social/errors.js'
import { timestampRefusal } from '../social/incoming.js'
import type { CollectivesPlugin, CollectivesPluginFactory, IncomingItem } from './plugin.js'
import { openPinStore, type PinStore, type PinStoreLimits, type StoredPin } from './pin-store.js'
import type { PinInfo, PinInput, PinsApi } from './types.js'

/** Geohash length of a pin given as a point: a block (~150 m), enough to find the place, not the doorway. */
export const DEFAULT_PIN_PRECISION = 7
/** Shortest pin lifetime: a pin is about a place now. */
export const MIN_PIN_TTL_MINUTES = 10
/** Longest pin lifetime: the longest an envelope lives. */
export const MAX_PIN_TTL_MINUTES = MAX_TTL_MINUTES
/** Default pin lifetime: an afternoon's warning. */
export const DEFAULT_PIN_TTL_MINUTES = 6 * 60

/** True when `group` (name, @name or id) names this stored group. */
function sameGroup (group: string, stored: { readonly id: string, readonly name: string }): boolean {
  const wanted = group.toLowerCase().replace(/^@/, '')
  return wanted === stored.id || wanted === stored.name.toLowerCase()
}

function pinInfo (pin: StoredPin, near?: { lat: number, lon: number }): PinInfo {
  const cell = decodeGeohash(pin.geohash)
  return {
    id: pin.id, kind: pin.kind, note: pin.note, geohash: pin.geohash, lat: cell.lat, lon: cell.lon, latErrKm: geohashErrorKm(pin.geohash).latErrKm,
    expiresAt: pin.expiresAt, sentAt: pin.sentAt,
    audience: pin.audience === 'world' ? 'world' : { group: pin.audience.group.name },
    ...(pin.author === undefined ? {} : { author: { ...pin.author } }),
    mine: pin.mine,
    ...(near === undefined ? {} : { distanceKm: distanceKm(near, cell) })
  }
}

function checkInteger (value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`"${name}" expected a number, got ${typeof value}`)
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`"${name}" expected a whole number from ${min} to ${max}, got ${value}`)
  return value
}

function checkAudience (audience: unknown): 'world' | { group: string } {
  if (audience === 'world') return 'world'
  if (typeof audience === 'object' && audience !== null && typeof (audience as { group?: unknown }).group === 'string') {
    return { group: (audience as { group: string }).group }
  }
  throw new TypeError('"audience" expected \'world\' or { group }')
}

/** The pins plugin over `context`, with store bounds (tests lower them). */
export function createNodePinsWith (limits: PinStoreLimits = {}): CollectivesPluginFactory<PinsApi> {
  return (context) => {
    const { crypto, log } = context
    let store: PinStore | undefined

    function opened (): PinStore {
      if (store === undefined) throw new NodeNotRunningError()
      return store
    }

    const api: PinsApi = {
      async add (input: PinInput, options = {}) {
        if (typeof input !== 'object' || input === null) throw new TypeError('"input" expected a pin')
        if (!(PIN_KINDS as readonly string[]).includes(input.kind)) throw new RangeError(`"kind" expected one of ${PIN_KINDS.join(', ')}`)
        if (typeof input.note !== 'string') throw new TypeError('"note" expected a string')
        const precision = checkInteger(input.precision ?? DEFAULT_PIN_PRECISION, 'precision', 1, MAX_PIN_GEOHASH)
        const ttlMinutes = checkInteger(input.ttlMinutes ?? DEFAULT_PIN_TTL_MINUTES, 'ttlMinutes', MIN_PIN_TTL_MINUTES, MAX_PIN_TTL_MINUTES)
        const audience = checkAudience(input.audience)
        const anonymous = input.anonymous ?? false
        if (typeof anonymous !== 'boolean') throw new TypeError('"anonymous" expected a boolean')
        const geohash = encodeGeohash(input.lat, input.lon, precision)
        const group = audience === 'world' ? undefined : context.memberGroup(audience.group)
        const pins = opened()
        options.signal?.throwIfAborted()

        // A named world pin proves its author's name, as a world post does; a group's members know each other.
        const own = anonymous ? undefined : await context.ownCertificate()
        if (!anonymous && audience === 'world' && own === undefined) throw new NoNameError()
        const payload = encodePin({ kind: input.kind, geohash, note: input.note, ...(own === undefined ? {} : { certificate: own.certificate }) })
        const identity = context.identity()
        const author = anonymous ? createIdentity(crypto) : identity
        const now = Date.now()
        const target = group === undefined ? { type: 'world' as const, anonymous } : { type: 'group' as const, group: group.id, anonymous }
        let stored: StoredPin | undefined
        // Our copy is written in the batch that queues the pin, once sealing drew its message id (the pin id).
        await context.publish(target, KIND_PIN, payload, {
          ttlMinutes, author, ...(options.signal === undefined ? {} : { signal: options.signal }),
          prepare: ([published]) => {
            stored = {
              id: `${published!.messageId}${toId(author)}`, kind: input.kind, note: input.note, geohash, sentAt: now, receivedAt: now, expiresAt: published!.expiresAt,
              audience: group === undefined ? 'world' : { group: { id: group.id, name: group.name } },
              ...(anonymous ? {} : { author: { id: toId(identity), ...(own === undefined ? {} : { name: own.name }) } }),
              mine: true
            }
            const prepared = pins.prepareInsert(stored, now)
            return typeof prepared === 'string' ? { ops: [] } : prepared
          }
        })
        const info = pinInfo(stored!)
        context.emit('pin', info)
        return info
      },

      async list (options = {}) {
        const { near, withinKm, group } = options
        if (near !== undefined) {
          if (typeof near !== 'object' || near === null) throw new TypeError('"near" expected { lat, lon }')
          encodeGeohash(near.lat, near.lon, 1) // checks both coordinates (RangeError / TypeError)
        }
        if (withinKm !== undefined) {
          if (near === undefined) throw new RangeError('"withinKm" needs "near": the point to measure from')
          if (typeof withinKm !== 'number' || !Number.isFinite(withinKm) || withinKm < 0) {
            throw new RangeError(`"withinKm" expected a finite distance >= 0, got ${String(withinKm)}`)
          }
        }
        if (group !== undefined && typeof group !== 'string') throw new TypeError('"group" expected a group name, @name or id')
        const pins = opened().live(Date.now())
          .filter((p) => group === undefined || (p.audience !== 'world' && sameGroup(group, p.audience.group)))
          .map((p) => pinInfo(p, near))
          .filter((p) => withinKm === undefined || p.distanceKm! <= withinKm)
        return near === undefined
          ? pins.sort((a, b) => b.sentAt - a.sentAt || (a.id < b.id ? -1 : 1))
          : pins.sort((a, b) => a.distanceKm! - b.distanceKm! || (a.id < b.id ? -1 : 1))
      }
    }

    async function absorb (item: IncomingItem, change: Parameters<CollectivesPlugin<PinsApi>['absorb']>[1], after: Array<() => void>): Promise<void> {
      if (item.kind !== KIND_PIN || store === undefined) return
      const { source } = item
      // Pins travel in the world and in groups only (SPEC §15.10).
      if (source.type !== 'world' && source.type !== 'group-chain' && source.type !== 'group-anonymous') return
      if (item.expiresAt === undefined || item.authorId === toId(context.identity())) return
      const now = Date.now()
      const refusal = timestampRefusal(item.sentAt, item.expiresAt, now)
      if (refusal !== undefined) {
        log.debug('a pin was dropped for its timestamp', { why: refusal })
        return
      }
      let pin
      try {
        pin = decodePin(item.payload)
      } catch (error) {
        log.debug('a malformed pin was dropped', { error })
        return
      }
      let author: StoredPin['author']
      const name = context.certifiedName(pin.certificate, item.author)
      if (pin.certificate !== undefined && name === undefined && source.type === 'world') {
        // In the world a certificate is the only thing that names an author: one that does not check out
        // is a lie about who wrote it, and the pin goes, as a world post would (SPEC §15.10).
        log.debug('a world pin with a certificate that does not check out was dropped')
        return
      }
      if (name !== undefined) author = { id: item.authorId, name }
      if (source.type === 'group-chain') {
        const name = author?.name ?? context.contactName(item.authorId)
        author = { id: item.authorId, ...(name === undefined ? {} : { name }) }
      }
      const stored: StoredPin = {
        id: `${item.messageId}${item.authorId}`, kind: pin.kind, note: pin.note, geohash: pin.geohash, sentAt: item.sentAt, receivedAt: now,
        expiresAt: item.expiresAt, audience: source.type === 'world' ? 'world' : { group: { id: source.group.id, name: source.group.name } },
        ...(author === undefined ? {} : { author }), mine: false
      }
      const prepared = store.prepareInsert(stored, now)
      if (typeof prepared === 'string') {
        log.debug('a pin was not kept', { why: prepared })
        return
      }
      ;(change.ops ??= []).push(...prepared.ops)
      after.push(() => { prepared.committed(); context.emit('pin', pinInfo(stored)) })
    }

    return {
      api,
      kinds: new Set([KIND_PIN]),
      async open () { store = await openPinStore(context.db(), limits) },
      absorb,
      async housekeeping (now) {
        const pins = store
        if (pins === undefined) return
        const prepared = pins.prepareHousekeeping(now)
        if (prepared.removed === 0) return
        await context.delivery().queue(() => ({ ops: prepared.ops }), () => { prepared.committed() })
      },
      close () { store = undefined }
    }
  }
}

const toId = (identity: PublicIdentity): string => Buffer.from(identity.signingKey).toString('hex')

/** The pins plugin (`node.pins`), with the default bounds. */
export const createNodePins: CollectivesPluginFactory<PinsApi> = createNodePinsWith()
