/**
 * The incoming side of the social layer: what delivery hands over once
 * screening opened a post envelope (world or circle) or a circle key
 * (node/delivery.ts, {@link DeliverySocial}).
 *
 * A whole post is decoded, its certificate checked (a world post must carry
 * one the pinned Operator signed for the author's keys: that is what bounds
 * who writes to everyone), and its feed writes join the batch that moved the
 * chain; the event waits for the commit. A malformed payload from a key
 * holder is dropped, never thrown.
 */
import {
  decodeCertificate, decodePost, decodeProfile, encodePublicIdentity, identityId, KIND_POST, KIND_PROFILE, MAX_TTL_MINUTES, MINUTE_MS, toHex,
  verifyCertificate, type CryptoProvider, type PublicIdentity
} from '../../protocol/index.js'
import type { DeliverySocial } from '../delivery.js'
import type { Logger } from '../logger.js'
import { POST_CLOCK_SKEW_MS } from '../node-constants.js'
import { entryIdentity } from '../registry/verify.js'
import type { CircleState } from './circle-state.js'
import { postIdOf, postOf, profileOf, storedImage, type FeedStore, type StoredPost, type StoredProfile } from './feed-store.js'
import type { KnownSenders } from './known-senders.js'
import type { NodeSocialParts } from './node-social.js'
import type { Audience } from './types.js'

/** The end of an envelope's expiry minute: it lives until then (envelope.ts `expiryFor`). */
export const expiresAtOf = (expiryMinute: number): number => (expiryMinute + 1) * MINUTE_MS

/**
 * Why a post or profile is refused for its author's timestamp (SPEC §14.7),
 * or undefined: from the future beyond the clock skew, or written longer
 * before its expiry than the longest lifetime (plus the skew) allows. The
 * second rule makes the per-day bound count: without it an author could
 * date each post on another past day, each with a fresh day's allowance.
 */
export function timestampRefusal (timestamp: number, expiresAt: number, now: number): 'future' | 'backdated' | undefined {
  if (timestamp > now + POST_CLOCK_SKEW_MS) return 'future'
  if (timestamp < expiresAt - MAX_TTL_MINUTES * MINUTE_MS - POST_CLOCK_SKEW_MS) return 'backdated'
  return undefined
}

/** What the incoming side needs. */
export interface IncomingComponents {
  crypto: CryptoProvider
  log: Logger
  /** The pinned Operator's signing key; without it no certificate checks out (and there is no world feed). */
  operatorKey?: Uint8Array
  emit(type: 'post' | 'profile', detail: unknown): void
  /** The open social layer, or undefined while the node is stopped. */
  opened(): { parts: NodeSocialParts, feeds: FeedStore, circle: CircleState, knownSenders: KnownSenders, ownId: string } | undefined
}

/** The registered name a certificate proves for `author` under `operatorKey`, or undefined (none, not the Operator's, other keys). */
export function certifiedName (crypto: CryptoProvider, operatorKey: Uint8Array | undefined, certificate: Uint8Array | undefined, author: PublicIdentity): string | undefined {
  if (certificate === undefined || operatorKey === undefined) return undefined
  try {
    const decoded = decodeCertificate(certificate)
    if (!verifyCertificate(crypto, operatorKey, decoded)) return undefined
    if (toHex(encodePublicIdentity(entryIdentity(decoded))) !== toHex(encodePublicIdentity(author))) return undefined
    return decoded.entry.request.name
  } catch {
    return undefined
  }
}

/** Creates delivery's hooks into the social layer. */
export function createIncoming (components: IncomingComponents): DeliverySocial {
  const { crypto, log, emit } = components
  const nameOf = (certificate: Uint8Array | undefined, author: PublicIdentity): string | undefined =>
    certifiedName(crypto, components.operatorKey, certificate, author)

  return {
    async absorbPost (result, payload, change, after) {
      const o = components.opened()
      if (o === undefined) return
      const ops = change.ops ??= []
      // The ring moved (a key used, the window slid): its state goes with what the key opened.
      if (result.type === 'circle') ops.push(...o.circle.ringOps(result.opened.authorId))
      if (payload === undefined) return
      const { author, authorId, message, expiryMinute } = result.opened
      if (authorId === o.ownId) return
      const now = Date.now()
      const audience: Audience = result.type === 'world' ? 'world' : 'circle'
      const expiresAt = expiresAtOf(expiryMinute)
      const refusal = timestampRefusal(message.timestamp, expiresAt, now)
      if (refusal !== undefined) {
        log.debug('a post was dropped for its timestamp', { author: authorId, why: refusal })
        return
      }
      const authorIdentity = toHex(encodePublicIdentity(author))
      try {
        if (message.kind === KIND_POST) {
          const post = decodePost(payload)
          const authorName = nameOf(post.certificate, author) ?? (audience === 'circle' ? o.parts.contactName(authorId) : undefined)
          // A world post must prove its author's name (SPEC §14): that is what bounds who can write to everyone.
          if (audience === 'world' && nameOf(post.certificate, author) === undefined) {
            log.debug('a world post without a valid certificate was dropped', { author: authorId })
            return
          }
          const image = storedImage(post.image)
          const stored: StoredPost = {
            id: postIdOf(toHex(message.messageId), authorId), author: authorId, authorIdentity, ...(authorName === undefined ? {} : { authorName }),
            audience, text: post.text, ...(image === undefined ? {} : { image }),
            sentAt: message.timestamp, receivedAt: now, expiresAt, mine: false, ...(post.location === undefined ? {} : { location: post.location })
          }
          const prepared = await o.feeds.prepareInsert(stored, now)
          if (typeof prepared === 'string') {
            log.debug('a post was not kept', { author: authorId, why: prepared })
            return
          }
          ops.push(...prepared.ops)
          after.push(() => { prepared.committed(); emit('post', postOf(stored)) })
        } else if (message.kind === KIND_PROFILE) {
          const profile = decodeProfile(payload)
          const certified = nameOf(profile.certificate, author)
          if (audience === 'world' && certified === undefined) return
          const authorName = certified ?? (audience === 'circle' ? o.parts.contactName(authorId) : undefined)
          const avatar = storedImage(profile.avatar)
          const stored: StoredProfile = {
            author: authorId, authorIdentity, ...(authorName === undefined ? {} : { authorName }),
            displayName: profile.displayName, bio: profile.bio, ...(avatar === undefined ? {} : { avatar }),
            audience, updatedAt: message.timestamp, expiresAt
          }
          const prepared = await o.feeds.prepareProfile(stored)
          if (prepared === undefined) return
          ops.push(...prepared.ops)
          after.push(() => { prepared.committed(); emit('profile', profileOf(stored)) })
        }
      } catch (error) {
        // A signed but malformed payload: its author's bug or malice; nothing is kept.
        log.debug('a malformed post was dropped', { author: authorId, error })
      }
    },

    knownSender (contactId) {
      return components.opened()?.knownSenders.has(contactId) ?? false
    },

    absorbCircleKey (from, body, sentAt, change) {
      const o = components.opened()
      if (o === undefined) return []
      // Only from those the user added or wrote to (known-senders.ts); delivery checks it first, this is the second lock.
      if (!o.knownSenders.has(identityId(from))) return []
      const added = o.circle.ring.addChain(from, body, sentAt)
      if (added === undefined) {
        log.debug('a circle key was refused', { from: identityId(from) })
        return []
      }
      ;(change.ops ??= []).push(...o.circle.ringOps(identityId(from)))
      return added.newTags
    }
  }
}
