/**
 * How events and pins (node/collectives/events.ts, pins.ts) plug into the
 * collectives: by inner kind. Delivery hands the collectives every envelope
 * of a group chain, of a salted channel and of the world's collectives kinds,
 * and every pairwise payload of their kinds; node-collectives.ts passes each
 * whole payload to the plugin that claims its kind, with where it came from.
 * A plugin publishes through {@link CollectivesContext}: the world, a group
 * (on our member chain, or anonymously on the group's anonymous channel), a
 * salted channel it follows, or a pairwise message.
 */
import type { Level } from 'level'
import type { ChannelOwner, CryptoProvider, Identity, PublicIdentity } from '../../protocol/index.js'
import type { Delivery } from '../delivery.js'
import type { Json, LocalOp, StateChange } from '../local-state.js'
import type { Logger } from '../logger.js'
import type { ChannelSet } from './channels.js'
import type { CollectivesEventMap, GroupRef } from './types.js'

/** Where an incoming collectives payload came from. */
export type IncomingSource =
  /** A world envelope (anyone; signed by `author`, who may be a one-time key). */
  | { readonly type: 'world' }
  /** A member's group chain: `author` is that member (a named item). */
  | { readonly type: 'group-chain', readonly group: GroupRef }
  /** A group's anonymous channel: `author` is a one-time key, but only members hold the channel key. */
  | { readonly type: 'group-anonymous', readonly group: GroupRef, readonly epoch: number }
  /** A salted channel the node follows (an event's). */
  | { readonly type: 'channel', readonly owner: ChannelOwner }
  /** A pairwise message from a contact (or a first contact): `author` is the sender. */
  | { readonly type: 'direct' }

/** A whole payload of a plugin's kind. */
export interface IncomingItem {
  readonly source: IncomingSource
  readonly kind: number
  readonly payload: Uint8Array
  /** The signer of the envelope (sender of a pairwise message). */
  readonly author: PublicIdentity
  readonly authorId: string
  /** The author's clock, unix ms. */
  readonly sentAt: number
  /** Hex of the message id. */
  readonly messageId: string
  /** The envelope's expiry, unix ms (absent for pairwise messages). */
  readonly expiresAt?: number
}

/** Where and how a plugin publishes a payload. */
export type PublishTarget =
  | { readonly type: 'world', readonly anonymous?: boolean }
  /** A group we are a member of (name, @name or id): on our chain, or anonymously on its anonymous channel. */
  | { readonly type: 'group', readonly group: string, readonly anonymous?: boolean }
  /** A salted channel keyed `key` (an event's), signed by `author` (a one-time key, or the event's host key). */
  | { readonly type: 'channel', readonly key: Uint8Array }

/** One payload of a {@link CollectivesContext.publishAll}: sealed for `target`, or sent pairwise to `to`. */
export type PublishItem =
  | { readonly target: PublishTarget, readonly kind: number, readonly payload: Uint8Array, readonly author?: Identity }
  | { readonly to: readonly PublicIdentity[], readonly kind: number, readonly payload: Uint8Array }

/** Where a sealed payload went: its message id (hex) and the expiry of its envelopes (unix ms). */
export interface Published {
  readonly messageId: string
  readonly expiresAt: number
}

/** Options of {@link CollectivesContext.publish} and {@link CollectivesContext.publishAll}. */
export interface PublishOptions {
  readonly ttlMinutes: number
  /** Signs sealed items that name no author of their own (default: our identity). */
  readonly author?: Identity
  /** Other writes of the same batch. */
  readonly ops?: LocalOp[]
  /** Runs right after the commit. */
  readonly committed?: () => void
  /** More writes of the batch, made once the message ids are drawn (inside delivery's turn). */
  readonly prepare?: (published: readonly Published[]) => { ops: LocalOp[], committed?: () => void }
  readonly signal?: AbortSignal
}

/** What plugins get from the node. */
export interface CollectivesContext {
  readonly crypto: CryptoProvider
  readonly log: Logger
  /** This node's identity (sign named items with it). */
  identity(): Identity
  /** The node's database (a plugin keeps its own sublevels, e.g. `collectives-events`). */
  db(): Level<string, Json>
  delivery(): Delivery
  /** The salted channels the node follows: `add(owner, key)` / `remove(owner)` (event channels persist). */
  channels(): ChannelSet
  /** Our registered name and its certificate, when we have one. */
  ownCertificate(): Promise<{ name: string, certificate: Uint8Array } | undefined>
  /** The registered name of a contact, if confirmed. */
  contactName(contactId: string): string | undefined
  /**
   * The name a certificate proves for `author` under the pinned Operator key
   * (node/social/incoming.ts `certifiedName`); undefined when there is no
   * certificate, no Operator, or it does not check out for these keys.
   */
  certifiedName(certificate: Uint8Array | undefined, author: PublicIdentity): string | undefined
  /** `contacts.add`: resolves and adds a contact (id, identity, name or invite). */
  addContact(contact: string, options?: { signal?: AbortSignal }): Promise<{ id: string, identity: string, name?: string }>
  /** A group we are a member of, by name, @name or id; throws UnknownGroupError / NotAGroupMemberError. */
  memberGroup(group: string): GroupRef
  /**
   * True when `contactId` is a known sender (node/social/known-senders.ts):
   * someone the user added or wrote to, not merely someone whose first
   * contact was answered. Invitations from these are followed on their own.
   */
  knownSender(contactId: string): boolean
  /**
   * Seals `payload` (kind `kind`) for `target` and queues it through the
   * outbox in one batch with `ops`; `author` signs it (default: our identity;
   * for anonymous items pass a fresh one-time identity per payload).
   * Resolves once committed; `committed` runs right after the commit.
   * Throws NoWorldFeedError for the world on a node without a world feed.
   */
  publish(target: PublishTarget, kind: number, payload: Uint8Array, options: PublishOptions): Promise<Published>
  /**
   * Seals every item (each for its target, signed by its `author`) and queues
   * them all, with `options.ops` and what `options.prepare` adds, in ONE
   * batch: a crash leaves all of them or none (one revision of an event goes
   * to its channel, its audience and its invitees together). `prepare` gets
   * the message ids drawn while sealing, in the order of `items` (pairwise
   * sends have none), so a record that names its message id is written with
   * it. Resolves once committed, with the message id of each sealed item.
   */
  publishAll(items: readonly PublishItem[], options: PublishOptions): Promise<Published[]>
  emit<K extends keyof CollectivesEventMap>(type: K, detail: CollectivesEventMap[K]): void
}

/** A plugin: claims kinds, absorbs their payloads, and exposes its API. */
export interface CollectivesPlugin<Api> {
  readonly api: Api
  /** Inner kinds it takes (0x34 and 0x35 for events, 0x36 for pins). */
  readonly kinds: ReadonlySet<number>
  /** Opens its stores when the node starts (the context's db() and channels() are ready). */
  open(): Promise<void>
  /**
   * A whole payload of one of its kinds. Put writes into `change.ops` (one
   * batch with what opened it) and events into `after` (run after the commit).
   * Never throw on hostile bytes: drop them.
   */
  absorb(item: IncomingItem, change: StateChange, after: Array<() => void>): Promise<void>
  /** Periodic cleanup (expired items), outside delivery's turn. */
  housekeeping?(now: number): Promise<void>
  close(): void
}

/** Makes a plugin over the context (events.ts exports `createNodeEvents`, pins.ts `createNodePins`, of this type). */
export type CollectivesPluginFactory<Api> = (context: CollectivesContext) => CollectivesPlugin<Api>
