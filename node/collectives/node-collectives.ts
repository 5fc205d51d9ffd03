/**
 * The collectives of a node (SPEC §15): groups (node-groups.ts), and the
 * plugins that claim kinds (events, pins: plugin.ts). This file is the
 * dispatcher: it owns the salted channel set, gives the screener the
 * groups' rings and the channels, and turns what delivery hands over
 * ({@link DeliveryCollectives}) into calls to the groups or to the plugin of
 * the payload's kind, with where it came from.
 */
import {
  CHANNEL_KINDS, KIND_EVENT, KIND_GROUP_OP, KIND_GROUP_WELCOME, KIND_JOIN_REQUEST, KIND_PIN, KIND_POST, KIND_RSVP, KIND_VOTE,
  sealChannelPost, toHex, type CryptoProvider, type GroupRings, type Identity, type SaltedChannels
} from '../../protocol/index.js'
import type { Delivery, DeliveryCollectives, QueuedSend } from '../delivery.js'
import { NodeNotRunningError } from '../errors.js'
import type { Json, LocalOp } from '../local-state.js'
import type { Logger } from '../logger.js'
import { NoWorldFeedError } from '../social/errors.js'
import { certifiedName, expiresAtOf } from '../social/incoming.js'
import { openChannelSet, type ChannelSet } from './channels.js'
import { DEFAULT_GROUP_TTL_MINUTES, REKEY_STAGGER_MS } from './collectives-constants.js'
import { createNodeGroups, type NodeGroups, type NodeGroupsParts } from './node-groups.js'
import type { CollectivesContext, CollectivesPlugin, CollectivesPluginFactory, IncomingItem, Published } from './plugin.js'
import type { CollectivesEventMap, EventsApi, GroupsApi, PinsApi } from './types.js'
import type { Level } from 'level'

/** Options of the collectives (the node's `collectives` option). */
export interface CollectivesInit {
  /** Lifetime of group ops, join requests, welcomes and votes, minutes. @default 10,080 (7 days) */
  ttlMinutes?: number
  /** Rekey delay per rank among the remaining members, ms. @default 20,000 */
  rekeyStaggerMs?: number
}

/** What the collectives need at creation. */
export interface NodeCollectivesInit extends CollectivesInit {
  crypto: CryptoProvider
  logger: Logger
  events: EventTarget
  operatorKey?: Uint8Array
  /** events.ts `createNodeEvents`, when present. */
  createEvents?: CollectivesPluginFactory<EventsApi>
  /** pins.ts `createNodePins`, when present. */
  createPins?: CollectivesPluginFactory<PinsApi>
}

/** What the started node lends the collectives. */
export interface NodeCollectivesParts extends Omit<NodeGroupsParts, 'channels' | 'delivery'> {
  db: Level<string, Json>
  /** The world key (when the node has a world feed). */
  worldKey?: Uint8Array
  addContact(contact: string, options?: { signal?: AbortSignal }): Promise<{ id: string, identity: string, name?: string }>
}

/** What the screener gets from the collectives. */
export interface CollectivesScreening {
  groups: GroupRings
  channels: SaltedChannels
}

/** The collectives of a node. */
export interface NodeCollectives {
  readonly groups: GroupsApi
  readonly events: EventsApi
  readonly pins: PinsApi
  readonly hooks: DeliveryCollectives
  /** Opens stores and plugins; returns what the screener needs. */
  open(parts: NodeCollectivesParts): Promise<CollectivesScreening>
  /** The delivery engine (after open): groups and plugins publish through it, and open their state in its turn. */
  attach(delivery: Delivery): Promise<void>
  housekeeping(now?: number): Promise<void>
  close(): void
  /** Test hooks (hostile members, key-only candidates); not part of the public API. */
  readonly testing: NodeGroups['testing']
}

/** Kinds of the collectives' own traffic: never in `inbox()`, `outbox()` or `message` events. */
export const COLLECTIVES_KINDS: ReadonlySet<number> = new Set([KIND_GROUP_OP, KIND_JOIN_REQUEST, KIND_GROUP_WELCOME, KIND_VOTE, KIND_EVENT, KIND_RSVP, KIND_PIN])

/** An API whose every method says the feature is not in this build yet. */
function unavailable<T extends object> (what: string): T {
  return new Proxy({}, {
    get: (_, property) => typeof property === 'string'
      ? async () => {
        const error = new Error(`${what} are not available in this build yet (node/collectives/${what}.ts)`)
        error.name = 'NotAvailableError'
        throw error
      }
      : undefined
  }) as T
}

/** Creates the collectives; `open` them when the node starts. */
export function createNodeCollectives (init: NodeCollectivesInit): NodeCollectives {
  const { crypto, events } = init
  const log = init.logger.child('collectives')
  const ttlMinutes = init.ttlMinutes ?? DEFAULT_GROUP_TTL_MINUTES
  const groups = createNodeGroups({
    crypto, logger: init.logger, events, ttlMinutes, rekeyStaggerMs: init.rekeyStaggerMs ?? REKEY_STAGGER_MS,
    ...(init.operatorKey === undefined ? {} : { operatorKey: init.operatorKey })
  })
  let parts: NodeCollectivesParts | undefined
  let channels: ChannelSet | undefined
  let delivery: Delivery | undefined
  /** Channels are empty until open: the screener holds this wrapper from the start. */
  const channelView: SaltedChannels = { channels: () => channels?.channels() ?? [] }

  const context: CollectivesContext = {
    crypto,
    log,
    identity: () => need(parts).identity,
    db: () => need(parts).db,
    delivery: () => need(delivery),
    channels: () => need(channels),
    ownCertificate: async () => await need(parts).ownCertificate(),
    contactName: (id) => parts?.contactName(id),
    certifiedName: (certificate, author) => certifiedName(crypto, init.operatorKey, certificate, author),
    addContact: async (contact, options) => await need(parts).addContact(contact, options),
    memberGroup: (group) => groups.memberGroup(group),
    knownSender: (contactId) => delivery?.knownSender(contactId) ?? false,
    async publish (target, kind, payload, options) {
      return (await context.publishAll([{ target, kind, payload }], options))[0]!
    },
    async publishAll (items, options) {
      const p = need(parts)
      options.signal?.throwIfAborted()
      const published: Published[] = []
      // Resolved before delivery's turn: a group we are not a member of fails here, with nothing sealed.
      const groupIds = items.map((item) => 'target' in item && item.target.type === 'group' ? groups.memberGroup(item.target.group).id : undefined)
      let committed: (() => void) | undefined
      await need(delivery).queue(() => {
        const sealedAll: NonNullable<QueuedSend['sealed']> = []
        const direct: NonNullable<QueuedSend['direct']> = []
        const ops: LocalOp[] = []
        published.length = 0
        items.forEach((item, index) => {
          if ('to' in item) {
            for (const to of item.to) direct.push({ to, body: item.payload, kind: item.kind, ttlMinutes: options.ttlMinutes })
            return
          }
          const { target, kind, payload } = item
          const author: Identity = item.author ?? options.author ?? p.identity
          let sealed
          if (target.type === 'world') {
            if (p.worldKey === undefined) throw new NoWorldFeedError(init.operatorKey === undefined ? 'no-operator' : 'disabled')
            sealed = sealChannelPost(crypto, { author, kind, payload, ttlMinutes: options.ttlMinutes, channel: 'world', channelKey: p.worldKey })
          } else if (target.type === 'group') {
            const made = groups.seal(groupIds[index]!, kind, payload, options.ttlMinutes, target.anonymous === true, item.author ?? options.author)
            sealed = made.sealed
            ops.push(...made.ops)
          } else {
            sealed = sealChannelPost(crypto, { author, kind, payload, ttlMinutes: options.ttlMinutes, channel: 'event', channelKey: target.key })
          }
          published.push({ messageId: toHex(sealed.messageId), expiresAt: expiresAtOf(sealed.expiryMinute) })
          sealedAll.push({ to: target.type, kind, messageId: sealed.messageId, envelopes: sealed.envelopes })
        })
        const prepared = options.prepare?.(published)
        committed = prepared?.committed
        return { sealed: sealedAll, direct, ops: [...ops, ...(options.ops ?? []), ...(prepared?.ops ?? [])] }
      }, () => { options.committed?.(); committed?.() })
      return published
    },
    emit<K extends keyof CollectivesEventMap> (type: K, detail: CollectivesEventMap[K]) {
      events.dispatchEvent(new CustomEvent(type, { detail }))
    }
  }

  const plugins: Array<CollectivesPlugin<unknown>> = []
  const eventsPlugin = init.createEvents?.(context)
  const pinsPlugin = init.createPins?.(context)
  if (eventsPlugin !== undefined) plugins.push(eventsPlugin)
  if (pinsPlugin !== undefined) plugins.push(pinsPlugin)
  const pluginFor = (kind: number): CollectivesPlugin<unknown> | undefined => plugins.find((p) => p.kinds.has(kind))

  function need<T> (value: T | undefined): T {
    if (value === undefined) throw new NodeNotRunningError()
    return value
  }

  const hooks: DeliveryCollectives = {
    worldKinds: new Set([KIND_EVENT, KIND_PIN]),
    directKinds: new Set([KIND_JOIN_REQUEST, KIND_GROUP_WELCOME, KIND_EVENT]),

    async absorb (result, payload, change, after) {
      const { opened } = result
      const kind = opened.message.kind
      const expiresAt = expiresAtOf(opened.expiryMinute)
      const meta = { author: opened.author, sentAt: opened.message.timestamp, messageId: toHex(opened.message.messageId), expiresAt }
      const item = (source: IncomingItem['source']): IncomingItem => ({
        source, kind, payload: payload!, author: opened.author, authorId: opened.authorId, sentAt: meta.sentAt, messageId: meta.messageId, expiresAt
      })
      let newTags: Uint8Array[] = []
      if (result.type === 'group') {
        newTags = await groups.absorbChain(result.groupId, opened.authorId, kind, payload, meta, change, after)
        const group = groups.groupRef(result.groupId)
        if (payload !== undefined && kind !== KIND_GROUP_OP && kind !== KIND_POST && group !== undefined) {
          await pluginFor(kind)?.absorb(item({ type: 'group-chain', group }), change, after)
        }
      } else if (payload === undefined) {
        return []
      } else if (result.type === 'channel' && result.owner.type === 'group') {
        const group = groups.groupRef(result.owner.id)
        if (group === undefined || !CHANNEL_KINDS['group-anonymous'].has(kind)) return []
        if (kind === KIND_VOTE) await groups.absorbVote(result.owner.id, payload, expiresAt, change, after, result.owner.epoch)
        else await pluginFor(kind)?.absorb(item({ type: 'group-anonymous', group, epoch: result.owner.epoch ?? 0 }), change, after)
      } else if (result.type === 'channel') {
        await pluginFor(kind)?.absorb(item({ type: 'channel', owner: result.owner }), change, after)
      } else {
        await pluginFor(kind)?.absorb(item({ type: 'world' }), change, after)
      }
      return newTags
    },

    async absorbDirect (message, change, after) {
      if (message.kind === KIND_JOIN_REQUEST || message.kind === KIND_GROUP_WELCOME) return await groups.absorbDirect(message, change, after)
      await pluginFor(message.kind)?.absorb({
        source: { type: 'direct' }, kind: message.kind, payload: message.payload, author: message.from, authorId: message.fromId,
        sentAt: message.sentAt, messageId: message.messageId
      }, change, after)
      return []
    }
  }

  return {
    groups: groups.api,
    events: (eventsPlugin?.api ?? unavailable<EventsApi>('events')),
    pins: (pinsPlugin?.api ?? unavailable<PinsApi>('pins')),
    hooks,
    testing: groups.testing,

    async open (given) {
      parts = given
      channels = await openChannelSet(given.db, {
        ...(given.worldKey === undefined ? {} : { worldKey: given.worldKey }),
        onAdded: (channel) => {
          // Salted tags cannot be looked up: its envelopes that came before it are found by a pass over the store
          // (delivery runs one at a time; keys added meanwhile share the next).
          void delivery?.rescreenMatching(channel.matches).catch((error: unknown) => { log.debug('channel re-screen failed', { error }) })
        }
      })
      return { groups: groups.rings, channels: channelView }
    },

    async attach (engine) {
      delivery = engine
      const p = need(parts)
      await groups.open({ ...p, delivery: engine, channels: need(channels) })
      for (const plugin of plugins) await plugin.open()
    },

    async housekeeping (now = Date.now()) {
      if (delivery === undefined) return
      await groups.housekeeping(now)
      for (const plugin of plugins) await plugin.housekeeping?.(now)
    },

    close () {
      groups.close()
      for (const plugin of plugins) plugin.close()
      parts = undefined
      channels = undefined
      delivery = undefined
    }
  }
}

const testingHooks = new WeakMap<object, NodeCollectives['testing']>()

/** Registers a node's test hooks (komrade-node.ts does, at creation). */
export function registerCollectivesTesting (node: object, hooks: NodeCollectives['testing']): void {
  testingHooks.set(node, hooks)
}

/**
 * Test hooks of a node's collectives: publish raw bytes on our chain or a
 * group's anonymous channel (what a hostile member's modified node does),
 * take a join request as if it came pairwise (key-only candidates), read
 * the folded state. Not part of the public API.
 */
export function collectivesTesting (node: object): NodeCollectives['testing'] {
  const hooks = testingHooks.get(node)
  if (hooks === undefined) throw new TypeError('not a Komrade node')
  return hooks
}
