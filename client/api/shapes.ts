/**
 * The node's objects as the API shows them: bodies as text (never bytes),
 * and only fields the API promises, so nothing internal leaks by accident.
 */
import type { Contact, KomradeNode, NameRecord, ReceivedMessage, SentMessage } from '../../node/komrade-node.js'
import { decodeInvite, nativeCrypto } from '../../protocol/index.js'
import {
  API_VERSION, type ApiContact, type ApiIdentity, type ApiNameRecord, type ApiReceivedMessage, type ApiSentMessage, type ApiStatus
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
