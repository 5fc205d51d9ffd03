/**
 * The node's objects as the API shows them: bodies as text (never bytes),
 * and only fields the API promises, so nothing internal leaks by accident.
 */
import type { Contact, KomradeNode, NameRecord, ReceivedMessage, SentMessage } from '../../node/komrade-node.js'
import type { CircleMember, Post, PostImage, Profile } from '../../node/social/types.js'
import { decodeInvite, nativeCrypto } from '../../protocol/index.js'
import {
  API_VERSION, type ApiCircleMember, type ApiContact, type ApiIdentity, type ApiImageInfo, type ApiNameRecord, type ApiPost, type ApiProfile,
  type ApiReceivedMessage, type ApiSentMessage, type ApiStatus
} from './types.js'

const crypto = nativeCrypto()
const utf8 = new TextDecoder()

export function apiReceived (message: ReceivedMessage): ApiReceivedMessage {
  return {
    id: message.id, from: message.from, fromIdentity: message.fromIdentity, kind: message.kind,
    text: message.text, sentAt: message.sentAt, receivedAt: message.receivedAt
  }
}

export function apiSent (message: SentMessage): ApiSentMessage {
  return {
    id: message.id, to: message.to, state: message.state, createdAt: message.createdAt,
    ...(message.deliveredAt === undefined ? {} : { deliveredAt: message.deliveredAt }),
    text: utf8.decode(message.body)
  }
}

export function apiContact (contact: Contact): ApiContact {
  return {
    id: contact.id, identity: contact.identity, fingerprint: contact.fingerprint, sessions: contact.sessions,
    ...(contact.name === undefined ? {} : { name: contact.name })
  }
}

export function apiNameRecord (record: NameRecord): ApiNameRecord {
  return {
    name: record.name, identity: record.identity, fingerprint: record.fingerprint, index: record.index,
    registeredAt: record.registeredAt, certificate: record.certificate, fromCache: record.fromCache
  }
}

/** Our registered name: the one our invite carries (the node puts its confirmed name there). */
export function ownName (invite: string): string | undefined {
  return decodeInvite(invite, crypto).name
}

export function apiStatus (node: KomradeNode): ApiStatus {
  const status = node.status()
  const name = ownName(node.invite())
  return {
    apiVersion: API_VERSION,
    running: status.running,
    id: status.id,
    fingerprint: status.fingerprint,
    peerId: status.peerId,
    addresses: status.addresses,
    peers: status.peers,
    meshPeers: status.meshPeers,
    store: status.store,
    workPending: status.workPending,
    ...(status.lastSync === undefined ? {} : { lastSync: status.lastSync }),
    ...(status.registry === undefined ? {} : { registry: status.registry }),
    ...(name === undefined ? {} : { name })
  }
}

export function apiIdentity (node: KomradeNode): ApiIdentity {
  const status = node.status()
  const invite = node.invite()
  const name = ownName(invite)
  return {
    id: status.id, fingerprint: status.fingerprint, publicIdentity: node.publicIdentity,
    ...(name === undefined ? {} : { name }),
    invite
  }
}

/** Both fingerprints in sorted order: the same string on both sides of a conversation. */
export function safetyNumber (ours: string, theirs: string): string {
  return [ours, theirs].sort().join(' / ')
}

function imageInfo (image: PostImage): ApiImageInfo {
  return { mime: image.mime, size: image.bytes.byteLength }
}

/** A post without its image's bytes: those have their own route, and never ride in JSON or an event. */
export function apiPost (post: Post): ApiPost {
  return {
    id: post.id, author: post.author, authorIdentity: post.authorIdentity,
    ...(post.authorName === undefined ? {} : { authorName: post.authorName }),
    audience: post.audience, text: post.text,
    hasImage: post.image !== undefined,
    ...(post.image === undefined ? {} : { image: imageInfo(post.image) }),
    sentAt: post.sentAt, receivedAt: post.receivedAt, expiresAt: post.expiresAt, mine: post.mine,
    ...(post.location === undefined
      ? {}
      : { location: { geohash: post.location.geohash, lat: post.location.lat, lon: post.location.lon, errKm: post.location.errKm } })
  }
}

/** A profile without its avatar's bytes (`GET /api/profiles/:author/avatar`). */
export function apiProfile (profile: Profile): ApiProfile {
  return {
    author: profile.author, authorIdentity: profile.authorIdentity,
    ...(profile.authorName === undefined ? {} : { authorName: profile.authorName }),
    displayName: profile.displayName, bio: profile.bio,
    hasAvatar: profile.avatar !== undefined,
    ...(profile.avatar === undefined ? {} : { avatar: imageInfo(profile.avatar) }),
    audience: profile.audience, updatedAt: profile.updatedAt
  }
}

export function apiCircleMember (member: CircleMember): ApiCircleMember {
  return { id: member.id, identity: member.identity, ...(member.name === undefined ? {} : { name: member.name }), addedAt: member.addedAt }
}
