/**
 * The keyring of one local identity: its contacts, their sessions, pending
 * handshakes, and the tag index that makes screening O(1) for everyone it
 * already talks to. Sealing and screening both move session state forward;
 * persist {@link Keyring.toJSON} after every call that reports a change.
 */
import { assertBytes, assertInteger, fromHex, plainBytes, toHex, wipe } from './bytes.js'
import {
  CLOCK_SKEW_MINUTES, DEFAULT_TTL_MINUTES, KIND_HANDSHAKE, KIND_MESSAGE, MAX_PENDING_HANDSHAKES, MAX_SESSIONS_PER_CONTACT,
  MAX_TTL_MINUTES, MESSAGE_ID_LENGTH, SALT_LENGTH, TAG_LENGTH, TAG_OFFSET, FIRST_CONTACT_BODY_CAPACITY, SESSION_BODY_CAPACITY
} from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { envelopeAad, envelopeFields, envelopeWithHeader, expiryFor, freshEphemeral, setSealedBody } from './envelope.js'
import { KeyFormatError, MessageTooLargeError } from './errors.js'
import {
  handshakeKey, openAccept, openFirstContact, sealAccept, sealFirstContact, type AcceptOffer, type PendingHandshake
} from './handshake.js'
import { identityId, publicIdentityOf, type Identity, type PublicIdentity } from './identity.js'
import { decodeInner, encodeInner, type InnerMessage } from './inner.js'
import { splitPayload } from './parts.js'
import {
  consumeReceiveKey, nextSendKey, sessionEnvelopeKeys, sessionFromJSON, sessionToJSON,
  type ReceiveKey, type SessionJSON, type SessionState
} from './session.js'

/** An envelope this keyring opened. */
export interface OpenedEnvelope {
  /** How it was recognised: a stranger's first contact, the answer to ours, or a session tag. */
  readonly via: 'first-contact' | 'accept' | 'session'
  /** The sender (known from the session, or proven by signature for first contact). */
  readonly from: PublicIdentity
  /** {@link identityId} of the sender. */
  readonly contactId: string
  readonly message: InnerMessage
  /** For first contact: pass it to {@link Keyring.accept} to answer and start a session. */
  readonly offer?: AcceptOffer
  /**
   * Tags this envelope made the keyring start watching (the window moved, or
   * an accept started a session). Envelopes stored earlier may carry one of
   * them: look these tags up among stored envelopes and screen what you find
   * with {@link Keyring.screenByTag} (SPEC §4.4).
   */
  readonly newTags: readonly Uint8Array[]
  /** Shorthand for `newTags.length > 0`. */
  readonly windowGrew: boolean
}

/** Options for sealing a payload. */
export interface SealOptions {
  /** Inner kind. @default KIND_MESSAGE */
  kind?: number
  /** Lifetime in minutes, 1..MAX_TTL_MINUTES. @default DEFAULT_TTL_MINUTES (2 days) */
  ttlMinutes?: number
  /** Sender's clock, unix ms. @default Date.now() */
  now?: number
  /** Message id (16 bytes). @default random */
  messageId?: Uint8Array
}

/** Envelopes ready for proof of work. */
export interface SealedPayload {
  readonly messageId: Uint8Array
  readonly envelopes: Uint8Array[]
  /** True when no session existed yet and this is a first-contact envelope. */
  readonly firstContact: boolean
}

/** A contact as the keyring sees it. */
export interface ContactSummary {
  readonly id: string
  readonly identity: PublicIdentity
  readonly sessions: number
  readonly pendingHandshakes: number
}

/** The keyring of one identity. */
export interface Keyring {
  readonly identity: PublicIdentity
  readonly id: string
  /** Adds a contact known by its keys (from an invite, a registry lookup). */
  addContact(peer: PublicIdentity): void
  /** Forgets a contact and all its session state. */
  removeContact(contactId: string): boolean
  contacts(): ContactSummary[]
  contact(contactId: string): ContactSummary | undefined
  hasSession(contactId: string): boolean
  /**
   * Seals `payload` for `to`: on the preferred session if there is one (split
   * into parts if needed), otherwise as one first-contact envelope (at most
   * FIRST_CONTACT_BODY_CAPACITY bytes). Adds `to` as a contact.
   */
  seal(to: PublicIdentity, payload: Uint8Array, options?: SealOptions): SealedPayload
  /** Answers a first contact: adds the sender, starts the session, returns the accept envelope. */
  accept(offer: AcceptOffer, payload?: Uint8Array, options?: SealOptions): SealedPayload
  /** Screens by tag only: O(1), no public-key operation. Never throws. */
  screenByTag(envelope: Uint8Array): OpenedEnvelope | undefined
  /** Tries the envelope as a first contact to this identity: one X25519. Never throws. */
  screenFirstContact(envelope: Uint8Array, options?: { now?: number }): OpenedEnvelope | undefined
  /** Drops pending handshakes and replay records that have expired. */
  prune(now?: number): void
  /** Number of tags currently watched (for status and benchmarks). */
  readonly watchedTags: number
  /** Serialisable state (holds secrets). The identity itself is not included. */
  toJSON(): KeyringJSON
}

/** Stored form of a keyring. */
export interface KeyringJSON {
  version: 1
  contacts: Array<{
    signingKey: string
    sealingKey: string
    sessions: SessionJSON[]
    pending: PendingJSON[]
  }>
  /** First-contact ephemeral keys already opened, with their expiry minute: replay guard. */
  seenFirstContacts: Array<[ephemeral: string, expiryMinute: number]>
}

interface PendingJSON {
  ephemeralSecret: string
  ephemeralWire: string
  sharedSecret: string
  salt: string
  acceptTag: string
  startedAt: number
  expiryMinute: number
}

/** Options of {@link createKeyring}. */
export interface KeyringInit {
  crypto: CryptoProvider
  identity: Identity
  /** State from an earlier {@link Keyring.toJSON}. */
  state?: KeyringJSON
}

interface ContactRecord {
  identity: PublicIdentity
  sessions: SessionState[] // most preferred first
  pending: PendingHandshake[] // oldest first
}

type TagTarget =
  | { type: 'session', contactId: string, session: SessionState, index: number }
  | { type: 'accept', contactId: string, pending: PendingHandshake }

/** Map key of a 16-byte tag: 8 UTF-16 code units (a bijection, cheaper than hex). */
function tagKey (tag: Uint8Array): string {
  return String.fromCharCode(
    (tag[0] as number) << 8 | (tag[1] as number), (tag[2] as number) << 8 | (tag[3] as number),
    (tag[4] as number) << 8 | (tag[5] as number), (tag[6] as number) << 8 | (tag[7] as number),
    (tag[8] as number) << 8 | (tag[9] as number), (tag[10] as number) << 8 | (tag[11] as number),
    (tag[12] as number) << 8 | (tag[13] as number), (tag[14] as number) << 8 | (tag[15] as number))
}

/** Newest first-contact timestamp wins; ties go to the smaller id. Both sides compute the same order. */
function preferSessions (a: SessionState, b: SessionState): number {
  if (a.startedAt !== b.startedAt) return b.startedAt - a.startedAt
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

function checkTtl (ttlMinutes: number): number {
  assertInteger(ttlMinutes, 'ttlMinutes', 1, MAX_TTL_MINUTES)
  return ttlMinutes
}

/** Creates the keyring of `identity`, restoring `state` if given. */
export function createKeyring (init: KeyringInit): Keyring {
  const { crypto, identity } = init
  const contacts = new Map<string, ContactRecord>()
  const tags = new Map<string, TagTarget>()
  const seenFirstContacts = new Map<string, number>()

  function watchSessionKeys (contactId: string, session: SessionState, keys: Iterable<ReceiveKey>): void {
    for (const key of keys) tags.set(tagKey(key.tag), { type: 'session', contactId, session, index: key.index })
  }

  function unwatchKeys (keys: Iterable<ReceiveKey>): void {
    for (const key of keys) tags.delete(tagKey(key.tag))
  }

  function addSession (contactId: string, record: ContactRecord, session: SessionState): void {
    record.sessions.push(session)
    record.sessions.sort(preferSessions)
    watchSessionKeys(contactId, session, session.receiveKeys.values())
    while (record.sessions.length > MAX_SESSIONS_PER_CONTACT) {
      const dropped = record.sessions.pop()!
      unwatchKeys(dropped.receiveKeys.values())
    }
  }

  function addPending (contactId: string, record: ContactRecord, pending: PendingHandshake): void {
    record.pending.push(pending)
    tags.set(tagKey(pending.acceptTag), { type: 'accept', contactId, pending })
    while (record.pending.length > MAX_PENDING_HANDSHAKES) dropPending(record, record.pending[0]!)
  }

  function dropPending (record: ContactRecord, pending: PendingHandshake): void {
    record.pending = record.pending.filter((p) => p !== pending)
    tags.delete(tagKey(pending.acceptTag))
    wipe(pending.ephemeralSecret, pending.sharedSecret)
  }

  function ensureContact (peer: PublicIdentity): [string, ContactRecord] {
    assertBytes(peer.signingKey, 'signingKey', 32)
    assertBytes(peer.sealingKey, 'sealingKey', 32)
    const id = identityId(peer)
    let record = contacts.get(id)
    if (record === undefined) {
      record = { identity: publicIdentityOf(peer), sessions: [], pending: [] }
      contacts.set(id, record)
    }
    return [id, record]
  }

  function summary (id: string, record: ContactRecord): ContactSummary {
    return { id, identity: record.identity, sessions: record.sessions.length, pendingHandshakes: record.pending.length }
  }

  function innerFor (options: SealOptions, messageId: Uint8Array, body: Uint8Array, partIndex: number, partCount: number, now: number): InnerMessage {
    return { kind: options.kind ?? KIND_MESSAGE, timestamp: now, messageId, partIndex, partCount, body }
  }

  function sealOnSession (session: SessionState, inner: InnerMessage, expiryMinute: number): Uint8Array {
    const step = nextSendKey(crypto, session)
    const salt = crypto.randomBytes(SALT_LENGTH)
    const ephemeral = freshEphemeral(crypto)
    wipe(ephemeral.secretKey) // only its public half is needed: it makes this envelope look like a first contact
    const envelope = envelopeWithHeader({ expiryMinute, salt, ephemeral: ephemeral.wire, tag: step.tag })
    const keys = sessionEnvelopeKeys(crypto, step.messageKey, salt)
    const plain = encodeInner(inner)
    setSealedBody(envelope, crypto.aeadSeal(keys.key, keys.nonce, plain, envelopeAad(envelope)))
    wipe(step.messageKey, keys.key, plain)
    return envelope
  }

  function restore (state: KeyringJSON): void {
    if (state?.version !== 1 || !Array.isArray(state.contacts) || !Array.isArray(state.seenFirstContacts)) {
      throw new KeyFormatError('Stored keyring is not version 1')
    }
    for (const stored of state.contacts) {
      const peer = { signingKey: fromHex(stored.signingKey, 'signingKey', 32), sealingKey: fromHex(stored.sealingKey, 'sealingKey', 32) }
      const [id, record] = ensureContact(peer)
      for (const session of stored.sessions) addSession(id, record, sessionFromJSON(session))
      for (const p of stored.pending) {
        addPending(id, record, {
          peer,
          ephemeralSecret: fromHex(p.ephemeralSecret, 'ephemeralSecret', 32),
          ephemeralWire: fromHex(p.ephemeralWire, 'ephemeralWire', 32),
          sharedSecret: fromHex(p.sharedSecret, 'sharedSecret', 32),
          salt: fromHex(p.salt, 'salt', SALT_LENGTH),
          acceptTag: fromHex(p.acceptTag, 'acceptTag', 16),
          startedAt: p.startedAt,
          expiryMinute: p.expiryMinute
        })
      }
    }
    for (const [key, expiry] of state.seenFirstContacts) seenFirstContacts.set(key, expiry)
  }

  if (init.state !== undefined) {
    try {
      restore(init.state)
    } catch (cause) {
      if (cause instanceof KeyFormatError) throw cause
      throw new KeyFormatError(`Stored keyring is malformed: ${(cause as Error).message}`, { cause })
    }
  }

  const keyring: Keyring = {
    identity: publicIdentityOf(identity),
    id: identityId(identity),

    addContact (peer) { ensureContact(peer) },

    removeContact (contactId) {
      const record = contacts.get(contactId)
      if (record === undefined) return false
      for (const session of record.sessions) unwatchKeys(session.receiveKeys.values())
      for (const pending of [...record.pending]) dropPending(record, pending)
      contacts.delete(contactId)
      return true
    },

    contacts: () => [...contacts].map(([id, record]) => summary(id, record)),

    contact (contactId) {
      const record = contacts.get(contactId)
      return record === undefined ? undefined : summary(contactId, record)
    },

    hasSession: (contactId) => (contacts.get(contactId)?.sessions.length ?? 0) > 0,

    seal (to, payload, options = {}) {
      assertBytes(payload, 'payload')
      const now = options.now ?? Date.now()
      const expiryMinute = expiryFor(now, checkTtl(options.ttlMinutes ?? DEFAULT_TTL_MINUTES))
      const messageId = options.messageId ?? crypto.randomBytes(MESSAGE_ID_LENGTH)
      assertBytes(messageId, 'messageId', MESSAGE_ID_LENGTH)
      // A refused message must leave no trace: check the size before `to` becomes a contact.
      assertBytes(to.signingKey, 'signingKey', 32)
      const session = contacts.get(identityId(to))?.sessions[0]
      if (session === undefined && payload.length > FIRST_CONTACT_BODY_CAPACITY) {
        throw new MessageTooLargeError(`The first message to a new contact carries at most ${FIRST_CONTACT_BODY_CAPACITY} bytes, ` +
          `got ${payload.length}; send a short one first and the rest once they answer`)
      }
      const [id, record] = ensureContact(to)
      if (session !== undefined) {
        const bodies = splitPayload(payload, SESSION_BODY_CAPACITY)
        const envelopes = bodies.map((body, i) => sealOnSession(session, innerFor(options, messageId, body, i, bodies.length, now), expiryMinute))
        return { messageId, envelopes, firstContact: false }
      }
      const { envelope, pending } = sealFirstContact(crypto, {
        from: identity, to, message: innerFor(options, messageId, payload, 0, 1, now), expiryMinute
      })
      addPending(id, record, pending)
      return { messageId, envelopes: [envelope], firstContact: true }
    },

    accept (offer, payload = new Uint8Array(0), options = {}) {
      const now = options.now ?? Date.now()
      const expiryMinute = expiryFor(now, checkTtl(options.ttlMinutes ?? DEFAULT_TTL_MINUTES))
      const messageId = options.messageId ?? crypto.randomBytes(MESSAGE_ID_LENGTH)
      if (payload.length > SESSION_BODY_CAPACITY) {
        throw new MessageTooLargeError(`An accept carries at most ${SESSION_BODY_CAPACITY} bytes, got ${payload.length}`)
      }
      const kind = options.kind ?? (payload.length === 0 ? KIND_HANDSHAKE : KIND_MESSAGE)
      const [id, record] = ensureContact(offer.peer)
      const { envelope, session } = sealAccept(crypto, {
        identity, offer, expiryMinute,
        message: { kind, timestamp: now, messageId, partIndex: 0, partCount: 1, body: payload }
      })
      addSession(id, record, session)
      return { messageId, envelopes: [envelope], firstContact: false }
    },

    screenByTag (input) {
      try {
        const envelope = plainBytes(input)
        const target = tags.get(tagKey(envelope.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH)))
        if (target === undefined) return undefined
        const fields = envelopeFields(envelope)
        const record = contacts.get(target.contactId)
        if (record === undefined) return undefined
        if (target.type === 'accept') {
          const opened = openAccept(crypto, identity, target.pending, envelope)
          if (opened === undefined) return undefined
          dropPending(record, target.pending)
          addSession(target.contactId, record, opened.session)
          const newTags = [...opened.session.receiveKeys.values()].map((k) => k.tag.slice())
          return { via: 'accept', from: record.identity, contactId: target.contactId, message: opened.message, newTags, windowGrew: true }
        }
        const { session, index } = target
        const key = session.receiveKeys.get(index)
        if (key === undefined) return undefined
        const keys = sessionEnvelopeKeys(crypto, key.messageKey, fields.salt)
        const plain = crypto.aeadOpen(keys.key, keys.nonce, fields.sealedBody, envelopeAad(envelope))
        wipe(keys.key)
        if (plain === undefined) return undefined
        const decoded = decodeInner(plain, false)
        if (decoded === undefined) return undefined
        const { message } = decoded
        const change = consumeReceiveKey(crypto, session, index, message.partIndex, message.partCount)
        unwatchKeys(change.removed)
        watchSessionKeys(target.contactId, session, change.added)
        const newTags = change.added.map((k) => k.tag.slice())
        return { via: 'session', from: record.identity, contactId: target.contactId, message, newTags, windowGrew: newTags.length > 0 }
      } catch {
        return undefined // hostile input never escapes as an exception
      }
    },

    screenFirstContact (input, options = {}) {
      try {
        const envelope = plainBytes(input)
        const opened = openFirstContact(crypto, identity, envelope)
        if (opened === undefined) return undefined
        const key = handshakeKey(opened.offer.ephemeralWire)
        if (seenFirstContacts.has(key)) return undefined // a replay (same envelope, new nonce)
        seenFirstContacts.set(key, opened.offer.expiryMinute)
        keyring.prune(options.now)
        return {
          via: 'first-contact', from: opened.sender, contactId: identityId(opened.sender), message: opened.message,
          offer: opened.offer, newTags: [], windowGrew: false
        }
      } catch {
        return undefined
      }
    },

    prune (now = Date.now()) {
      const nowMinute = Math.floor(now / 60_000)
      // Validation refuses envelopes expired for longer than the clock skew, so older replays cannot arrive.
      for (const [key, expiry] of seenFirstContacts) if (expiry < nowMinute - 2 * CLOCK_SKEW_MINUTES) seenFirstContacts.delete(key)
      for (const record of contacts.values()) {
        // The answer may be sealed just before the first contact expires and live up to MAX_TTL itself.
        for (const pending of [...record.pending]) {
          if (pending.expiryMinute + MAX_TTL_MINUTES < nowMinute) dropPending(record, pending)
        }
      }
    },

    get watchedTags () { return tags.size },

    toJSON () {
      return {
        version: 1,
        contacts: [...contacts.values()].map((record) => ({
          signingKey: toHex(record.identity.signingKey),
          sealingKey: toHex(record.identity.sealingKey),
          sessions: record.sessions.map(sessionToJSON),
          pending: record.pending.map((p) => ({
            ephemeralSecret: toHex(p.ephemeralSecret),
            ephemeralWire: toHex(p.ephemeralWire),
            sharedSecret: toHex(p.sharedSecret),
            salt: toHex(p.salt),
            acceptTag: toHex(p.acceptTag),
            startedAt: p.startedAt,
            expiryMinute: p.expiryMinute
          }))
        })),
        seenFirstContacts: [...seenFirstContacts]
      }
    }
  }
  return keyring
}
