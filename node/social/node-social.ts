/**
 * The social layer of a node (SPEC §14): `node.social` and the `post` and
 * `profile` events.
 *
 * Outgoing: a post is checked, encoded, sealed (world: under the public
 * world key with our name certificate; circle: on our circle's chain), and
 * queued through delivery's outbox and pump (proof of work, cover slot,
 * store, flood) in the same batch as our own copy in the feeds and the
 * chain's next state. Circle keys go to members as pairwise messages of kind
 * KIND_CIRCLE_KEY through the same outbox, never shown in `outbox()`.
 *
 * Incoming (incoming.ts, called by delivery): a post part is stored under
 * its author until the post is whole, then decoded, its certificate checked,
 * and put in the feeds in the batch that also moves the chain; then the
 * event. A circle key from a known sender (known-senders.ts: someone the
 * user added or wrote to) adds the author's chain to the ring; delivery
 * re-screens stored envelopes with its tags (SPEC §4.4).
 *
 * Removing a contact (`contacts.remove`, through {@link NodeSocial.contactRemoved})
 * forgets them as a sender, drops the chains they handed us, and removes
 * them from our circle, which rotates the chain as `circle.remove` does.
 */
import type { Level } from 'level'
import {
  circleChainFromJSON, circleHandoff, decodePublicIdentity, encodePost, encodeProfile, encodePublicIdentity, fromHex, identityId,
  KIND_CIRCLE_KEY, KIND_POST, KIND_PROFILE, MAX_TTL_MINUTES, sealCirclePost, sealWorldPost, toHex, worldKey as deriveWorldKey,
  type CircleRing, type CryptoProvider, type Identity, type PostImageData, type PostImageMime, type PublicIdentity
} from '../../protocol/index.js'
import type { Delivery, DeliverySocial } from '../delivery.js'
import { NodeNotRunningError } from '../errors.js'
import type { Json, LocalOp } from '../local-state.js'
import type { Logger } from '../logger.js'
import { PROFILE_REPUBLISH_MS, PROFILE_TTL_MINUTES } from '../node-constants.js'
import { openCircleState, type CircleState, type OwnCircleJSON } from './circle-state.js'
import { NoNameError, NotACircleMemberError, NoWorldFeedError } from './errors.js'
import { openFeedStore, postIdOf, postOf, profileOf, storedImage, type FeedStore, type StoredPost, type StoredProfile } from './feed-store.js'
import { createIncoming, expiresAtOf } from './incoming.js'
import { openKnownSenders, type KnownSenders } from './known-senders.js'
import { livePosts } from './live-posts.js'
import { checkPostInput, checkProfileInput } from './post-input.js'
import type { Audience, CircleMember, SocialApi } from './types.js'

/** What the social layer needs from the node, given when it is created. */
export interface NodeSocialInit {
  crypto: CryptoProvider
  logger: Logger
  networkName: string
  /** Where `post` and `profile` are dispatched (and `stop` is heard): the node. */
  events: EventTarget
  /** Read and write the world feed. @default true */
  worldFeed: boolean
  /** The pinned Operator's signing key: certificates are checked under it. Without it there is no world feed. */
  operatorKey?: Uint8Array
}

/** What the started node lends the social layer. */
export interface NodeSocialParts {
  identity: Identity
  db: Level<string, Json>
  /** Our registered name and its certificate, from the names cache; undefined when we have none. */
  ownCertificate(): Promise<{ name: string, certificate: Uint8Array } | undefined>
  /** The name the registry confirmed for a contact. */
  contactName(contactId: string): string | undefined
  /** `contacts.add`: resolves and adds a contact. */
  addContact(contact: string, options: { signal?: AbortSignal }): Promise<{ id: string, identity: string, name?: string }>
  /** Ids of the keyring's contacts: the known senders of a data directory that has none recorded yet (known-senders.ts). */
  contactIds(): string[]
}

/** What the screener gets from the social layer. */
export interface SocialScreening {
  circles: CircleRing
  worldKey?: Uint8Array
  worldFeed: boolean
}

/** The social layer of a node; see the file comment. */
export interface NodeSocial {
  /** `node.social`; throws NodeNotRunningError while the node is stopped. */
  readonly api: SocialApi
  /** Opens the feeds and the circle state over the node's database. */
  open(parts: NodeSocialParts): Promise<SocialScreening>
  /** Delivery's hooks into the social layer. */
  readonly hooks: DeliverySocial
  /** The delivery engine posts leave through (after open). */
  attach(delivery: Delivery): void
  /** Deletes expired posts and profiles (in delivery's turn), republishes our profile when it gets old. */
  housekeeping(now?: number): Promise<void>
  /** The user added `contactId` (`contacts.add`) or sent them a message: circle keys from them are taken from now on. */
  senderKnown(contactId: string): Promise<void>
  /**
   * `contacts.remove`: forgets `contactId` as a sender, drops the chains
   * they handed us, and removes them from our circle (a new epoch for the
   * others). True when any of these changed something.
   */
  contactRemoved(contactId: string): Promise<boolean>
  close(): void
}

interface Opened {
  parts: NodeSocialParts
  feeds: FeedStore
  circle: CircleState
  knownSenders: KnownSenders
  ownId: string
  ownIdentityHex: string
  worldKey?: Uint8Array
  delivery?: Delivery
}

/** Creates the social layer; `open` it when the node starts. */
export function createNodeSocial (init: NodeSocialInit): NodeSocial {
  const { crypto, events } = init
  const log = init.logger.child('social')
  let opened: Opened | undefined

  function started (): Opened & { delivery: Delivery } {
    if (opened?.delivery === undefined) throw new NodeNotRunningError()
    return opened as Opened & { delivery: Delivery }
  }

  function worldKeyOrThrow (o: Opened): Uint8Array {
    if (o.worldKey !== undefined) return o.worldKey
    throw new NoWorldFeedError(init.operatorKey === undefined ? 'no-operator' : 'disabled')
  }

  /** The certificate a post or profile carries: mandatory for the world, shown when we have one for the circle. */
  async function certificateFor (o: Opened, audience: Audience): Promise<{ name: string, certificate: Uint8Array } | undefined> {
    if (audience === 'world') worldKeyOrThrow(o)
    const own = await o.parts.ownCertificate()
    if (own === undefined && audience === 'world') throw new NoNameError()
    return own
  }

  function emit (type: 'post' | 'profile', detail: unknown): void {
    events.dispatchEvent(new CustomEvent(type, { detail }))
  }

  /** Seals a post or profile payload for `audience` and queues it with `ops` and the chain's next state. */
  async function publish (o: Opened & { delivery: Delivery }, kind: number, payload: Uint8Array, audience: Audience, ttlMinutes: number, now: number,
    extra: (messageId: Uint8Array, expiresAt: number) => Promise<{ ops: LocalOp[], committed(): void }>): Promise<void> {
    let next: OwnCircleJSON | undefined
    let committed: (() => void) | undefined
    await o.delivery.queue(async () => {
      const base = { author: o.parts.identity, kind, payload, ttlMinutes, now }
      let sealed
      const ops = []
      if (audience === 'world') {
        sealed = sealWorldPost(crypto, { ...base, worldKey: worldKeyOrThrow(o) })
      } else {
        const chain = o.circle.chainCopy()
        sealed = sealCirclePost(crypto, { ...base, chain })
        next = o.circle.withChain(chain)
        ops.push(...o.circle.ownOps(next))
      }
      const more = await extra(sealed.messageId, expiresAtOf(sealed.expiryMinute))
      ops.push(...more.ops)
      committed = more.committed
      return { sealed: [{ to: audience, kind, messageId: sealed.messageId, envelopes: sealed.envelopes }], ops }
    }, () => {
      if (next !== undefined) o.circle.adopt(next)
      committed?.()
    })
  }

  async function publishProfile (o: Opened & { delivery: Delivery }, profile: Omit<StoredProfile, 'updatedAt' | 'author' | 'authorIdentity' | 'authorName'>): Promise<StoredProfile> {
    const own = await certificateFor(o, profile.audience)
    // The avatar was checked when it was set (post-input.ts): its mime is one of POST_IMAGE_MIMES.
    const avatar: PostImageData | undefined = profile.avatar === undefined
      ? undefined
      : { mime: profile.avatar.mime as PostImageMime, bytes: new Uint8Array(Buffer.from(profile.avatar.bytes, 'base64')) }
    const payload = encodeProfile({
      ...(own === undefined ? {} : { certificate: own.certificate }),
      displayName: profile.displayName, bio: profile.bio, ...(avatar === undefined ? {} : { avatar })
    })
    // Always a new `updatedAt`, a republication too: a profile's timestamp must be within a lifetime of its expiry (SPEC §14.7).
    const now = Date.now()
    const stored: StoredProfile = {
      author: o.ownId, authorIdentity: o.ownIdentityHex, ...(own === undefined ? {} : { authorName: own.name }),
      displayName: profile.displayName, bio: profile.bio, ...(profile.avatar === undefined ? {} : { avatar: profile.avatar }),
      audience: profile.audience, updatedAt: now
    }
    await publish(o, KIND_PROFILE, payload, profile.audience, PROFILE_TTL_MINUTES, now, async () => {
      const prepared = await o.feeds.prepareProfile(stored)
      return { ops: prepared?.ops ?? [], committed: () => { prepared?.committed(); emit('profile', profileOf(stored)) } }
    })
    return stored
  }

  const hooks = createIncoming({
    crypto, log, emit,
    ...(init.operatorKey === undefined ? {} : { operatorKey: init.operatorKey }),
    opened: () => opened === undefined
      ? undefined
      : { parts: opened.parts, feeds: opened.feeds, circle: opened.circle, knownSenders: opened.knownSenders, ownId: opened.ownId }
  })

  function memberIdentity (member: CircleMember): PublicIdentity {
    return decodePublicIdentity(fromHex(member.identity))
  }

  const api: SocialApi = {
    async post (input, options = {}) {
      options.signal?.throwIfAborted()
      const checked = checkPostInput(input)
      const o = started()
      const own = await certificateFor(o, checked.audience)
      const payload = encodePost({
        ...(own === undefined ? {} : { certificate: own.certificate }), text: checked.text, ...(checked.image === undefined ? {} : { image: checked.image }),
        // The geohash only: the point it was cut from is not sealed, stored or sent (SPEC §14.6).
        ...(checked.location === undefined ? {} : { location: checked.location })
      })
      options.signal?.throwIfAborted()
      const now = Date.now()
      let mine: StoredPost | undefined
      await publish(o, KIND_POST, payload, checked.audience, checked.ttlMinutes, now, async (messageId, expiresAt) => {
        const image = storedImage(checked.image)
        const post: StoredPost = {
          id: postIdOf(toHex(messageId), o.ownId), author: o.ownId, authorIdentity: o.ownIdentityHex, ...(own === undefined ? {} : { authorName: own.name }),
          audience: checked.audience, text: checked.text, ...(image === undefined ? {} : { image }),
          sentAt: now, receivedAt: now, expiresAt, mine: true, ...(checked.location === undefined ? {} : { location: checked.location })
        }
        mine = post
        const prepared = await o.feeds.prepareInsert(post, now)
        if (typeof prepared === 'string') throw new Error(`our own post could not be stored (${prepared})`)
        return { ops: prepared.ops, committed: () => { prepared.committed() } }
      })
      const post = postOf(mine!)
      emit('post', post)
      return post
    },

    async feed (name, options = {}) {
      return await started().feeds.feed(name, options)
    },

    async getPost (id) {
      return await started().feeds.get(id)
    },

    posts (options = {}) {
      started()
      return livePosts(events, options)
    },

    async setProfile (input, options = {}) {
      options.signal?.throwIfAborted()
      const checked = checkProfileInput(input)
      const o = started()
      const avatar = storedImage(checked.avatar)
      return profileOf(await publishProfile(o, {
        displayName: checked.displayName, bio: checked.bio, ...(avatar === undefined ? {} : { avatar }), audience: checked.audience
      }))
    },

    async profile (author) {
      const o = started()
      if (author !== undefined && typeof author !== 'string') throw new TypeError('"author" expected a contact id')
      return await o.feeds.profile(author ?? o.ownId)
    },

    async profiles () {
      return await started().feeds.profiles()
    },

    circle: {
      async list () {
        return [...started().circle.own().members]
      },

      async add (contact, options = {}) {
        const o = started()
        if (contact === o.ownIdentityHex || contact === o.ownId) throw new NotACircleMemberError('You are always in your own circle: add someone else')
        const added = await o.parts.addContact(contact, options)
        if (added.id === o.ownId) throw new NotACircleMemberError('You are always in your own circle: add someone else')
        let member: CircleMember | undefined
        let next: OwnCircleJSON | undefined
        await o.delivery.queue(() => {
          member = o.circle.own().members.find((m) => m.id === added.id)
          // The chain at its next step: the member reads what we post from now on.
          const body = circleHandoff(o.circle.chainCopy())
          if (member !== undefined) {
            // Already a member: hand the chain again (the first handoff may have expired unread). The member
            // holds this epoch already, or takes it now; a repeated epoch changes nothing there.
            return { direct: [{ to: memberIdentity(member), body, kind: KIND_CIRCLE_KEY, ttlMinutes: MAX_TTL_MINUTES }] }
          }
          member = { id: added.id, identity: added.identity, ...(added.name === undefined ? {} : { name: added.name }), addedAt: Date.now() }
          next = o.circle.withMember(member)
          return {
            direct: [{ to: memberIdentity(member), body, kind: KIND_CIRCLE_KEY, ttlMinutes: MAX_TTL_MINUTES }],
            ops: o.circle.ownOps(next)
          }
        }, () => { if (next !== undefined) o.circle.adopt(next) })
        return member!
      },

      async remove (id) {
        const o = started()
        if (typeof id !== 'string') throw new TypeError('"id" expected a contact id')
        let next: OwnCircleJSON | undefined
        await o.delivery.queue(() => {
          next = o.circle.withoutMember(id)
          if (next === undefined) return {}
          // A new epoch for those who stay; the removed member keeps only the old chain, which we never use again.
          const body = circleHandoff(circleChainFromJSON(next.chain))
          return {
            direct: next.members.map((member) => ({ to: memberIdentity(member), body, kind: KIND_CIRCLE_KEY, ttlMinutes: MAX_TTL_MINUTES })),
            ops: o.circle.ownOps(next)
          }
        }, () => { if (next !== undefined) o.circle.adopt(next) })
        return next !== undefined
      }
    }
  }

  return {
    api,
    hooks,

    async open (parts) {
      const feeds = await openFeedStore(parts.db)
      const circle = await openCircleState(parts.db, crypto)
      const knownSenders = await openKnownSenders(parts.db, () => parts.contactIds())
      const worldKey = init.operatorKey !== undefined && init.worldFeed ? deriveWorldKey(crypto, init.networkName) : undefined
      opened = {
        parts, feeds, circle, knownSenders, ownId: identityId(parts.identity), ownIdentityHex: toHex(encodePublicIdentity(parts.identity)),
        ...(worldKey === undefined ? {} : { worldKey })
      }
      return { circles: circle.ring, ...(worldKey === undefined ? {} : { worldKey }), worldFeed: worldKey !== undefined }
    },

    attach (delivery) {
      if (opened !== undefined) opened.delivery = delivery
    },

    async housekeeping (now = Date.now()) {
      const o = opened
      if (o?.delivery === undefined) return
      // In delivery's turn: an insert evicting a post, prepared meanwhile, would otherwise delete it with us and count it twice.
      let housekept: (() => void) | undefined
      await o.delivery.queue(async () => {
        const prepared = await o.feeds.prepareHousekeeping(now)
        housekept = prepared.committed
        return { ops: prepared.ops }
      }, () => { housekept?.() })
      const own = await o.feeds.ownProfile(o.ownId)
      if (own !== undefined && now - own.updatedAt > PROFILE_REPUBLISH_MS) {
        await publishProfile(o as Opened & { delivery: Delivery }, own).catch((error: unknown) => {
          log.warn('could not republish our profile', { error })
        })
      }
    },

    async senderKnown (contactId) {
      await opened?.knownSenders.add(contactId)
    },

    async contactRemoved (contactId) {
      const o = opened
      if (o?.delivery === undefined) return false
      const wasKnown = await o.knownSenders.remove(contactId)
      let hadChains = false
      // The ring is the screener's: changed in delivery's turn, with its write.
      await o.delivery.queue(() => {
        hadChains = o.circle.ring.removeAuthor(contactId)
        return { ops: hadChains ? o.circle.ringOps(contactId) : [] }
      })
      const wasMember = await api.circle.remove(contactId)
      return wasKnown || hadChains || wasMember
    },

    close () {
      opened = undefined
    }
  }
}

/** Kinds of the social layer's own traffic: never in `inbox()`, `outbox()` or `message` events. */
export const SOCIAL_KINDS: ReadonlySet<number> = new Set([KIND_POST, KIND_PROFILE, KIND_CIRCLE_KEY])
