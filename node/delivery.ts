/**
 * Delivery: what happens to an envelope between the network and the inbox,
 * and to a message between `send` and the network.
 *
 * Incoming (gossip or resync): validated, screened once with the keyring,
 * and stored. When it opens, the keyring state, the inbox entry (or the
 * stored part of a multi-part payload) and any answer it calls for (an accept
 * for a first contact, a receipt for a message) are committed in one batch
 * before the envelope is stored: a crash in between loses nothing, because an
 * envelope that is not stored comes back through resync and is screened then.
 *
 * Outgoing: sealed and committed with the keyring state (outbox entry), then
 * proof of work in the worker pool, committed solved, and handed to
 * `publish`: cover traffic (cover-traffic.ts) stores it (so resync spreads
 * it) and floods it at its next slot, not before. Until then it lives only
 * in the outbox, which a restart resumes: a crash loses nothing.
 * An envelope that reached no peer stays queued; the next successful publish
 * or resync with a peer marks it sent. A receipt marks it delivered.
 *
 * The social layer (node/social/) plugs in through {@link DeliverySocial}:
 * screening also tries the circle chains handed to us and the world tag
 * (SPEC §14); a post part that opens is committed, with the ring's state and
 * the feed, in the same one batch; a circle key goes to the ring, never to
 * the inbox, and only from a known sender (someone the user added or wrote
 * to): a stranger's is dropped, and its first contact not answered. Posts
 * and circle keys leave through {@link Delivery.queue}, the same outbox and
 * pump as messages.
 *
 * The collectives (node/collectives/) plug in beside it through
 * {@link DeliveryCollectives}: group chain and salted channel envelopes, the
 * world's events and pins, and the pairwise kinds that are theirs (join
 * requests, welcomes, invitations) go there, reassembled the same way, never
 * to the inbox.
 */
import {
  checkEnvelope, decodeReceipt, encodeReceipt, envelopeId, fromHex, identityId, KIND_CIRCLE_KEY, KIND_HANDSHAKE, KIND_MESSAGE,
  KIND_RECEIPT, toHex, type CircleScreenResult, type CryptoProvider, type InnerMessage, type Keyring, type PublicIdentity, type Screener,
  type ScreenResult, type WorldScreenResult, type GroupScreenResult, type ChannelScreenResult, encodePublicIdentity, envelopeExpiryMinute, minuteOf, MAX_RECEIPT_IDS
} from '../protocol/index.js'
import { jsonSublevel, type LocalState, type InboxMessage, type LocalOp, type LocalSublevel, type OutboxMessage, type StateChange } from './local-state.js'
import type { Logger } from './logger.js'
import type { WorkPool } from './work-pool.js'

/** Stored envelopes read at once by a store pass ({@link Delivery.rescreenMatching}). */
const RESCREEN_BATCH = 256
/** How long receipts wait to be coalesced into one envelope per contact. */
const RECEIPT_DELAY_MS = 250

/** What the social layer does with what screening opened (node/social/incoming.ts). */
export interface DeliverySocial {
  /**
   * A post envelope (world or circle) opened. `payload` is the whole payload
   * once this part completed it, else undefined (the part is already in
   * `change`). Adds the feed's writes and the ring's state to `change`; what
   * must wait for the commit (events) goes to `after`.
   */
  absorbPost(result: CircleScreenResult | WorldScreenResult, payload: Uint8Array | undefined, change: StateChange, after: Array<() => void>): Promise<void>
  /**
   * True when circle keys from `contactId` are taken: someone the user added
   * or wrote to (node/social/known-senders.ts). A contact that exists only
   * because we answered its first contact is not one.
   */
  knownSender(contactId: string): boolean
  /**
   * A whole KIND_CIRCLE_KEY payload from a known sender. Adds the ring's
   * state to `change`; returns the tags the ring started watching (stored
   * envelopes are re-screened with them).
   */
  absorbCircleKey(from: PublicIdentity, body: Uint8Array, sentAt: number, change: StateChange): Uint8Array[]
}

/** A post-like envelope the collectives take: a group chain's, a salted channel's, or a world one of their kinds. */
export type CollectivesScreenResult = GroupScreenResult | ChannelScreenResult | WorldScreenResult

/** A whole pairwise payload of one of the collectives' kinds. */
export interface CollectivesDirect {
  readonly from: PublicIdentity
  readonly fromId: string
  readonly kind: number
  readonly payload: Uint8Array
  /** Sender's clock, unix ms. */
  readonly sentAt: number
  /** Hex of the message id. */
  readonly messageId: string
}

/** What the collectives do with what screening opened (node/collectives/). */
export interface DeliveryCollectives {
  /** World kinds that are theirs (events, pins); the rest of the world goes to the social layer. */
  readonly worldKinds: ReadonlySet<number>
  /** Pairwise kinds that are theirs (join request, welcome, invitation): never in the inbox. */
  readonly directKinds: ReadonlySet<number>
  /**
   * An envelope opened on a group chain, a salted channel, or the world with
   * one of {@link worldKinds}. `payload` is the whole payload once this part
   * completed it (parts are reassembled per author id). Adds its writes (the
   * ring's state too) to `change`, events to `after`; returns tags to
   * re-screen stored envelopes with (a new epoch's chains).
   */
  absorb(result: CollectivesScreenResult, payload: Uint8Array | undefined, change: StateChange, after: Array<() => void>): Promise<Uint8Array[]>
  /** A whole pairwise payload of one of {@link directKinds}; same contract. */
  absorbDirect(message: CollectivesDirect, change: StateChange, after: Array<() => void>): Promise<Uint8Array[]>
}

/** What one {@link Delivery.queue} step puts in the outbox, in one batch. */
export interface QueuedSend {
  /** Pairwise messages, sealed with the keyring (circle keys). */
  direct?: Array<{ to: PublicIdentity, body: Uint8Array, kind: number, ttlMinutes?: number }>
  /** Envelopes sealed already (posts, profiles); `to` labels the outbox entry ('world', 'circle'). */
  sealed?: Array<{ to: string, kind: number, messageId: Uint8Array, envelopes: Uint8Array[] }>
  /** Other writes of the same step (the circle's chain, our own post in the feed). */
  ops?: LocalOp[]
}

/** Result of offering an envelope to the node: 'deferred' when the node was stopping (not stored; resync brings it back). */
export type IngestResult = 'accepted' | 'duplicate' | 'rejected' | 'deferred'

/** What delivery needs from the rest of the node. */
export interface DeliveryComponents {
  crypto: CryptoProvider
  keyring: Keyring
  screener: Screener
  state: LocalState
  store: {
    has(id: Uint8Array): Promise<boolean>
    put(envelope: Uint8Array): Promise<unknown>
    withTag(tag: Uint8Array): Promise<Uint8Array[]>
    /** Every stored envelope's id (a snapshot) and a bulk read: the scan of {@link Delivery.rescreenMatching}. */
    items?(): ReadonlyArray<{ readonly id: Uint8Array }>
    getMany?(ids: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  }
  pool: WorkPool
  /**
   * Stores and floods one envelope, at its cover-traffic slot (or at once).
   * Rejects with AbortError when `signal` aborts before that: not sent.
   */
  publish(envelope: Uint8Array, options?: { signal?: AbortSignal }): Promise<{ recipients: number }>
  logger: Logger
  /** Answer first contacts from strangers (start a session). */
  acceptStrangers: boolean
  onMessage(message: InboxMessage): void
  onOutboxChange(message: OutboxMessage): void
  /** The social layer; without it, circle and world results are ignored. */
  social?: DeliverySocial
  /** The collectives; without them, group and channel results and their pairwise kinds are ignored. */
  collectives?: DeliveryCollectives
}

/** The delivery engine. */
export interface Delivery {
  /** Offers an envelope from the network. `validated` skips the checks the gossip validator already ran. */
  ingest(envelope: Uint8Array, options?: { validated?: boolean }): Promise<IngestResult>
  /** Seals and queues a payload; resolves once it is committed to the outbox. */
  send(to: PublicIdentity, body: Uint8Array, options?: { kind?: number, ttlMinutes?: number }): Promise<OutboxMessage>
  /**
   * Runs `build` in the engine's turn (nothing else seals or screens
   * meanwhile), seals its direct messages, commits every outbox entry, the
   * keyring and `ops` in one batch, calls `committed`, then works and
   * publishes the envelopes. If `build` throws, nothing is written.
   */
  queue(build: () => QueuedSend | Promise<QueuedSend>, committed?: () => void): Promise<OutboxMessage[]>
  /** Solves, stores and publishes whatever the outbox still holds (after a restart, or to retry). */
  pump(): Promise<void>
  /** Finishes the re-screens a crash interrupted (SPEC §4.4); call once at start. */
  resume(): Promise<void>
  /**
   * Screens again, with every step, the stored envelopes `select` picks: a
   * salted channel whose key arrived after its envelopes (a group's new
   * epoch, an event channel followed), which no tag index can find. Reads
   * the whole store (in batches); returns how many were picked. At most one
   * such pass runs at a time: calls made while one runs share the next
   * pass (one read of the store for all of them).
   */
  rescreenMatching(select: (envelope: Uint8Array) => boolean, options?: { signal?: AbortSignal }): Promise<number>
  /**
   * True when `contactId` is a known sender of the social layer (someone the
   * user added or wrote to, node/social/known-senders.ts); false without a
   * social layer. The collectives follow invitations from these only.
   */
  knownSender(contactId: string): boolean
  /** Marks every solved, stored outbox envelope as having reached a peer (after a complete resync). */
  markSyncedWithPeer(): Promise<void>
  /** Removes outbox entries (their envelopes may already be out); returns how many existed. */
  deleteOutbox(ids: string[]): Promise<number>
  /** Waits for the work in flight, but not for envelopes waiting for a cover-traffic slot (minutes away). */
  idle(): Promise<void>
  /**
   * Stops intake (the node is stopping): an ingest whose turn comes after
   * this returns 'deferred' without screening. Its envelope is not stored,
   * so resync brings it back at the next start. {@link idle} then waits for
   * the one screening in progress, not for a backlog.
   */
  close(): void
}

/** Creates the delivery engine over the node's components. */
export function createDelivery (components: DeliveryComponents): Delivery {
  const { crypto, keyring, screener, state, store, pool, logger } = components
  const log = logger.child('delivery')
  let serial: Promise<unknown> = Promise.resolve()
  const inFlight = new Set<Promise<unknown>>()
  const pumping = new Set<string>()
  /** Outbox entries being pumped: receipts update the same object the pump will commit. */
  const live = new Map<string, OutboxMessage>()
  /** Entries deleted while being pumped: the pump must not write them back. */
  const deleted = new Set<string>()
  /** Cancels an entry's wait for a slot when it is deleted. */
  const cancels = new Map<string, AbortController>()
  /** Pumps waiting in `publish` for a slot, and idle() callers to wake when one starts waiting. */
  let parked = 0
  const parkWaiters = new Set<() => void>()
  /** Set by close(): ingests still queued for their turn are not screened. */
  let closed = false
  /** Tags whose stored envelopes are still to be screened (see rescreenStored); opened on first use. */
  let rescreenSublevel: LocalSublevel | undefined
  const rescreenLog = (): LocalSublevel => (rescreenSublevel ??= jsonSublevel(state.db, 'rescreen'))

  /** Runs keyring-mutating steps one at a time: the keyring and its stored state never diverge. */
  function exclusive<T> (step: () => Promise<T>): Promise<T> {
    const run = serial.then(step, step)
    serial = run.catch(() => {})
    return run
  }

  function track<T> (promise: Promise<T>): Promise<T> {
    inFlight.add(promise)
    void promise.finally(() => inFlight.delete(promise)).catch(() => {})
    return promise
  }

  function outboxEntry (to: PublicIdentity | string, sealed: { messageId: Uint8Array, envelopes: Uint8Array[] }, kind: number, body: Uint8Array, now: number): OutboxMessage {
    return {
      id: toHex(sealed.messageId),
      to: typeof to === 'string' ? to : identityId(to),
      toIdentity: typeof to === 'string' ? '' : toHex(encodePublicIdentity(to)),
      kind,
      body: Buffer.from(body).toString('base64'),
      createdAt: now,
      state: 'working',
      envelopes: sealed.envelopes.map(toHex),
      solved: sealed.envelopes.map(() => false),
      published: sealed.envelopes.map(() => false),
      expiryMinute: envelopeExpiryMinute(sealed.envelopes[0]!)
    }
  }

  /**
   * Receipts are coalesced per contact for a moment: a burst of messages (a
   * resync after a day offline) is acknowledged by one envelope of up to 119
   * ids instead of one proof of work per message. A receipt lost to a crash
   * in that moment leaves the sender at "sent"; the message itself is safe.
   */
  const receipts = new Map<string, { to: PublicIdentity, ids: Uint8Array[] }>()
  let receiptTimer: NodeJS.Timeout | undefined

  function queueReceipt (to: PublicIdentity, messageId: Uint8Array): void {
    const key = identityId(to)
    const pending = receipts.get(key) ?? { to, ids: [] }
    pending.ids.push(messageId)
    receipts.set(key, pending)
    receiptTimer ??= setTimeout(() => { void track(flushReceipts()) }, RECEIPT_DELAY_MS)
  }

  async function flushReceipts (): Promise<void> {
    receiptTimer = undefined
    const batches = [...receipts.values()]
    receipts.clear()
    for (const { to, ids } of batches) {
      for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
        await api.send(to, encodeReceipt(ids.slice(i, i + MAX_RECEIPT_IDS)), { kind: KIND_RECEIPT }).catch((error: unknown) => {
          log.warn('could not queue a receipt', { error })
        })
      }
    }
  }

  /**
   * Adds a part to those stored for (`scope`, message id): returns the whole
   * payload when this part completes it (their records deleted in `change`),
   * else undefined (this part stored in `change`).
   */
  async function collectPart (scope: string, message: InnerMessage, change: StateChange, expiryMinute?: number): Promise<Uint8Array | undefined> {
    if (message.partCount === 1) return message.body
    const id = toHex(message.messageId)
    const held = await state.parts(scope, id)
    const byIndex = new Map(held.filter((p) => p.count === message.partCount && p.kind === message.kind).map((p) => [p.index, p]))
    byIndex.set(message.partIndex, {
      index: message.partIndex, count: message.partCount, kind: message.kind, body: Buffer.from(message.body).toString('base64'),
      receivedAt: Date.now(), ...(expiryMinute === undefined ? {} : { expiryMinute })
    })
    if (byIndex.size < message.partCount) {
      change.part = { from: scope, id, part: byIndex.get(message.partIndex)! }
      return undefined
    }
    change.removeParts = { from: scope, id, count: message.partCount }
    return Buffer.concat([...byIndex.values()].sort((a, b) => a.index - b.index).map((p) => Buffer.from(p.body, 'base64')))
  }

  /** Turns an opened envelope into state changes; returns tags to re-screen stored envelopes with (a circle key's, a welcome's). */
  async function absorb (result: ScreenResult, change: StateChange, after: Array<() => void>): Promise<Uint8Array[]> {
    const { opened } = result
    const message = opened.message
    const id = toHex(message.messageId)
    // Circle keys only from known senders: a stranger's is dropped whole (not in the inbox, and its first contact not answered).
    const circleKeyRefused = message.kind === KIND_CIRCLE_KEY && components.social?.knownSender(opened.contactId) !== true
    if (circleKeyRefused) {
      log.debug('a circle key from someone not known was dropped', { from: opened.contactId })
      return []
    }
    const payload = await collectPart(opened.contactId, message, change)

    if (opened.via === 'first-contact' && components.acceptStrangers && opened.offer !== undefined) {
      // The accept doubles as the receipt of the first message.
      const now = Date.now()
      const sealed = keyring.accept(opened.offer, encodeReceipt([message.messageId]), { kind: KIND_RECEIPT, now })
      const entry = outboxEntry(opened.from, sealed, KIND_RECEIPT, new Uint8Array(0), now)
      ;(change.outbox ??= []).push(entry)
      after.push(() => { void track(pumpEntry(entry)) })
    }

    if (payload === undefined) return []
    if (message.kind === KIND_CIRCLE_KEY) {
      // From a known sender (checked above): to the ring, never to the inbox.
      return components.social!.absorbCircleKey(opened.from, payload, message.timestamp, change)
    }
    if (message.kind === KIND_RECEIPT) {
      for (const acknowledged of decodeReceipt(payload) ?? []) {
        const ackId = toHex(acknowledged)
        const entry = live.get(ackId) ?? (change.outbox ?? []).find((o) => o.id === ackId) ?? await state.getOutbox(ackId)
        if (entry === undefined || deleted.has(ackId) || entry.to !== opened.contactId || entry.state === 'delivered') continue
        entry.state = 'delivered'
        entry.deliveredAt = Date.now()
        if (!(change.outbox ?? []).includes(entry)) (change.outbox ??= []).push(entry)
        after.push(() => { components.onOutboxChange(entry) })
      }
      return []
    }
    if (message.kind === KIND_HANDSHAKE) return []
    if (components.collectives?.directKinds.has(message.kind) === true) {
      // The collectives' own traffic: to them, never to the inbox.
      return await components.collectives.absorbDirect({
        from: opened.from, fromId: opened.contactId, kind: message.kind, payload, sentAt: message.timestamp, messageId: id
      }, change, after)
    }
    if (await state.hasInbox(opened.contactId, id)) return [] // a duplicate payload (resent, or from another session)
    const inbox: InboxMessage = {
      id,
      from: opened.contactId,
      fromIdentity: toHex(encodePublicIdentity(opened.from)),
      kind: message.kind,
      body: Buffer.from(payload).toString('base64'),
      sentAt: message.timestamp,
      receivedAt: Date.now(),
      via: opened.via
    }
    ;(change.inbox ??= []).push(inbox)
    after.push(() => { components.onMessage(inbox) })
    if (message.kind === KIND_MESSAGE && opened.via !== 'first-contact') {
      after.push(() => { queueReceipt(opened.from, message.messageId) })
    }
    return []
  }

  /**
   * Screens, commits and stores one envelope; inside `exclusive`. A stored
   * envelope re-screened (`storeIt` false) is tried by tag only: pairwise and
   * circle tags, never the world or first contact again.
   */
  async function screenAndStore (envelope: Uint8Array, storeIt: boolean, everyStep = storeIt): Promise<void> {
    const result = everyStep ? screener.screenAny(envelope) : screener.screenAnyByTag(envelope)
    const newTags: Uint8Array[] = []
    if (result !== undefined) {
      const change: StateChange = {}
      const after: Array<() => void> = []
      if (result.type === 'direct') {
        newTags.push(...result.opened.newTags, ...await absorb(result, change, after))
        change.keyring = { identityId: keyring.id, state: keyring.toJSON() }
        log.debug('opened', { via: result.opened.via, from: result.opened.contactId, kind: result.opened.message.kind })
      } else if (result.type === 'group' || result.type === 'channel' ||
        (result.type === 'world' && components.collectives?.worldKinds.has(result.opened.message.kind) === true)) {
        if (components.collectives !== undefined) {
          if (result.type === 'group') newTags.push(...result.opened.newTags)
          const payload = await collectPart(result.opened.authorId, result.opened.message, change, result.opened.expiryMinute)
          newTags.push(...await components.collectives.absorb(result, payload, change, after))
          log.debug('opened a collectives envelope', { type: result.type, from: result.opened.authorId, kind: result.opened.message.kind })
        }
      } else if (components.social !== undefined) {
        if (result.type === 'circle') newTags.push(...result.opened.newTags)
        const payload = await collectPart(result.opened.authorId, result.opened.message, change, result.opened.expiryMinute)
        await components.social.absorbPost(result, payload, change, after)
        log.debug('opened a post', { type: result.type, from: result.opened.authorId, kind: result.opened.message.kind })
      }
      for (const tag of newTags) (change.ops ??= []).push({ type: 'put', sublevel: rescreenLog(), key: toHex(tag), value: {} })
      await state.commit(change)
      for (const step of after) step()
    }
    if (storeIt) await store.put(envelope)
    await rescreenStored(newTags)
  }

  /**
   * Tags the keyring or the circle ring started watching may match envelopes
   * stored earlier (SPEC §4.4). The tags were logged in the commit that
   * started watching them and are struck off only once their envelopes were
   * screened: a crash in between leaves them logged, and {@link Delivery.resume}
   * screens them at the next start (else such an envelope, stored and so never
   * sent again by resync, would stay unread for good). Screening one twice is
   * harmless: its key was used up the first time.
   */
  async function rescreenStored (tags: readonly Uint8Array[]): Promise<void> {
    if (tags.length === 0) return
    for (const tag of tags) {
      for (const stored of await store.withTag(tag)) await screenAndStore(stored, false)
    }
    await state.commit({ ops: tags.map((tag) => ({ type: 'del', sublevel: rescreenLog(), key: toHex(tag) })) })
  }

  /** Hands an envelope to `publish`, counted as parked while it waits for its slot. */
  async function publishAtSlot (envelope: Uint8Array, signal: AbortSignal): Promise<{ recipients: number }> {
    parked++
    for (const wake of parkWaiters) wake()
    try {
      return await components.publish(envelope, { signal })
    } finally {
      parked--
    }
  }

  async function pumpEntry (initial: OutboxMessage): Promise<void> {
    if (pumping.has(initial.id)) return
    pumping.add(initial.id)
    const entry = live.get(initial.id) ?? initial
    live.set(entry.id, entry)
    const cancel = new AbortController()
    cancels.set(entry.id, cancel)
    try {
      for (let i = 0; i < entry.envelopes.length; i++) {
        if (!entry.solved[i]) {
          const solved = await pool.solve(fromHex(entry.envelopes[i]!))
          entry.envelopes[i] = toHex(solved)
          entry.solved[i] = true
          if (deleted.has(entry.id)) return
          // Durable before it goes anywhere; `publish` stores it at its slot (stored earlier, resync would hand it out first).
          await state.commit({ outbox: [entry] })
        }
        if (!entry.published[i]) {
          const { recipients } = await publishAtSlot(fromHex(entry.envelopes[i]!), cancel.signal)
          if (recipients > 0) {
            entry.published[i] = true
            // Parts of a long message go a slot apart: keep the progress, or a restart would spend slots on them again.
            if (i < entry.envelopes.length - 1 && !deleted.has(entry.id)) await state.commit({ outbox: [entry] })
          }
        }
      }
      if (entry.state === 'working' || entry.state === 'queued') {
        entry.state = entry.published.every(Boolean) ? 'sent' : 'queued'
      }
      if (deleted.has(entry.id)) return
      await state.commit({ outbox: [entry] })
      components.onOutboxChange(entry)
    } catch (error) {
      // AbortError: deleted, or the node is stopping; the outbox resumes it at the next start.
      if ((error as Error).name === 'AbortError') log.debug('outbox entry set aside', { id: initial.id })
      else log.warn('outbox entry could not be sent yet', { id: initial.id, error })
    } finally {
      pumping.delete(initial.id)
      live.delete(initial.id)
      deleted.delete(initial.id)
      cancels.delete(initial.id)
    }
  }

  /**
   * Store passes (SPEC §14.5): at most one runs at a time; matchers that
   * arrive while one runs wait and share the next, so a burst of new channel
   * keys (a revision, a rekey, a welcome) costs one read of the store, not
   * one each.
   */
  interface PassRequest {
    readonly select: (envelope: Uint8Array) => boolean
    readonly signal?: AbortSignal
    readonly resolve: (picked: number) => void
    readonly reject: (error: unknown) => void
    picked: number
  }
  let passWaiting: PassRequest[] = []
  let passRunning = false

  async function runPasses (): Promise<void> {
    passRunning = true
    try {
      while (passWaiting.length > 0 && !closed) {
        let requests = passWaiting
        passWaiting = []
        try {
          const ids = store.items!().map((item) => item.id)
          for (let i = 0; i < ids.length && requests.length > 0; i += RESCREEN_BATCH) {
            for (const request of requests.filter((r) => r.signal?.aborted === true)) request.reject(request.signal!.reason)
            requests = requests.filter((r) => r.signal?.aborted !== true)
            if (closed) break
            const envelopes = await store.getMany!(ids.slice(i, i + RESCREEN_BATCH))
            for (const envelope of envelopes) {
              if (envelope === undefined) continue
              let chosen = false
              for (const request of requests) {
                let hit = false
                try { hit = request.select(envelope) } catch {}
                if (hit) { request.picked++; chosen = true }
              }
              if (!chosen) continue
              // Every step (the channel matches first: no first-contact work); not stored again, it is stored.
              await track(exclusive(async () => { if (!closed) await screenAndStore(envelope, false, true) }))
            }
          }
          for (const request of requests) request.resolve(request.picked)
        } catch (error) {
          for (const request of requests) request.reject(error)
        }
      }
      // Stopping: whoever still waits gets nothing picked (the node is going away).
      for (const request of passWaiting.splice(0)) request.resolve(0)
    } finally {
      passRunning = false
    }
  }

  const api: Delivery = {
    async ingest (envelope, options = {}) {
      if (options.validated !== true && !checkEnvelope(crypto, envelope).valid) return 'rejected'
      const id = envelopeId(crypto, envelope)
      if (await store.has(id)) return 'duplicate'
      if (closed) return 'deferred'
      return await track(exclusive(async () => {
        // Stopping: not screened, not stored; resync brings it back (an envelope is stored only once screened).
        if (closed) return 'deferred'
        // Gossip and resync can hand over the same envelope at once: check again in turn, so it is screened once.
        if (await store.has(id)) return 'duplicate'
        await screenAndStore(envelope, true)
        return 'accepted'
      }))
    },

    async send (to, body, options = {}) {
      return await exclusive(async () => {
        const now = Date.now()
        const kind = options.kind ?? KIND_MESSAGE
        const sealed = keyring.seal(to, body, { kind, now, ...(options.ttlMinutes === undefined ? {} : { ttlMinutes: options.ttlMinutes }) })
        const entry = outboxEntry(to, sealed, kind, body, now)
        await state.commit({ outbox: [entry], keyring: { identityId: keyring.id, state: keyring.toJSON() } })
        void track(pumpEntry(entry))
        return entry
      })
    },

    async queue (build, committed) {
      return await exclusive(async () => {
        const now = Date.now()
        const planned = await build()
        const entries: OutboxMessage[] = []
        for (const message of planned.direct ?? []) {
          const sealed = keyring.seal(message.to, message.body, { kind: message.kind, now, ...(message.ttlMinutes === undefined ? {} : { ttlMinutes: message.ttlMinutes }) })
          entries.push(outboxEntry(message.to, sealed, message.kind, message.body, now))
        }
        // The post itself is in the feed: the outbox keeps only its envelopes.
        for (const sealed of planned.sealed ?? []) entries.push(outboxEntry(sealed.to, sealed, sealed.kind, new Uint8Array(0), now))
        await state.commit({
          outbox: entries, ops: planned.ops ?? [],
          ...((planned.direct ?? []).length > 0 ? { keyring: { identityId: keyring.id, state: keyring.toJSON() } } : {})
        })
        committed?.()
        for (const entry of entries) void track(pumpEntry(entry))
        return entries
      })
    },

    async resume () {
      const logged = await rescreenLog().keys().all()
      if (logged.length === 0) return
      log.info('finishing re-screens interrupted by a crash', { tags: logged.length })
      await exclusive(async () => { await rescreenStored(logged.map((key) => fromHex(key))) })
    },

    async rescreenMatching (select, options = {}) {
      if (store.items === undefined || store.getMany === undefined) return 0
      options.signal?.throwIfAborted()
      return await new Promise<number>((resolve, reject) => {
        passWaiting.push({ select, resolve, reject, picked: 0, ...(options.signal === undefined ? {} : { signal: options.signal }) })
        // Not tracked as a whole (idle() does not wait for a pass): each screening it starts is.
        if (!passRunning) void runPasses()
      })
    },

    knownSender (contactId) {
      return components.social?.knownSender(contactId) === true
    },

    async pump () {
      const nowMinute = minuteOf(Date.now())
      const expired: string[] = []
      for (const entry of await state.outbox()) {
        if (entry.expiryMinute < nowMinute) expired.push(entry.id)
        else if (entry.state === 'working' || entry.state === 'queued') void track(pumpEntry(entry))
      }
      if (expired.length > 0) await state.commit({ removeOutbox: expired })
    },

    async markSyncedWithPeer () {
      for (const entry of await state.outbox()) {
        if (entry.state !== 'queued' || pumping.has(entry.id)) continue
        entry.published = entry.solved.slice()
        if (entry.published.every(Boolean)) entry.state = 'sent'
        await state.commit({ outbox: [entry] })
        components.onOutboxChange(entry)
      }
    },

    async deleteOutbox (ids) {
      const existing: string[] = []
      for (const id of new Set(ids)) {
        if (live.has(id) || await state.getOutbox(id) !== undefined) existing.push(id)
        if (pumping.has(id)) {
          deleted.add(id)
          cancels.get(id)?.abort() // not yet emitted: withdraw it from its slot
        }
      }
      if (existing.length > 0) await state.commit({ removeOutbox: existing })
      return existing.length
    },

    close () {
      closed = true
    },

    async idle () {
      if (receiptTimer !== undefined) {
        clearTimeout(receiptTimer)
        await track(flushReceipts())
      }
      // Every pump is tracked; those parked wait for a slot, which may be minutes away.
      while (inFlight.size > parked) {
        await new Promise<void>((resolve) => {
          const wake = (): void => { parkWaiters.delete(wake); resolve() }
          parkWaiters.add(wake)
          for (const promise of inFlight) promise.then(wake, wake)
        })
      }
      await serial
    }
  }
  return api
}
