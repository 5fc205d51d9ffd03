/**
 * `createKomradeNode`: the node every device runs, as a library. It owns a
 * data directory (identity, LevelDB with envelopes and local records, libp2p
 * key), joins the network, floods and stores envelopes, resyncs with peers,
 * screens everything for its identity, and keeps an inbox and an outbox.
 */
import { mkdir, open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import {
  checkEnvelope, createKeyring, createScreener, decodeInvite, decodePublicIdentity, encodePublicIdentity, envelopeId, fingerprint,
  fromHex, identityId, KIND_MESSAGE, KIND_RECEIPT, KIND_REGISTRY_REQUEST, KIND_REGISTRY_RESPONSE, minuteOf, nativeCrypto, PUBLIC_IDENTITY_HEX_PATTERN,
  publicIdentityOf, toHex,
  type CryptoProvider, type Identity, type Keyring, type PublicIdentity
} from '../protocol/index.js'
import { coverSettings, createCoverTraffic, type CoverStatus, type CoverTraffic, type CoverTrafficInit } from './cover-traffic.js'
import { createDelivery, type Delivery } from './delivery.js'
import { IdentityExistsError, NoIdentityError, createIdentityFile, readIdentityFile } from './identity-file.js'
import { localState, openLocalDb, type InboxMessage, type LocalState, type OutboxMessage } from './local-state.js'
import { silentLogger, type Logger } from './logger.js'
import { NodeNotRunningError } from './errors.js'
import { liveEvents } from './live-events.js'
import { createNetwork, type Network } from './network.js'
import { treeHeadTopic } from './network-constants.js'
import type { KeyChange, NameRecord } from './registry/name-service.js'
import { createNodeNames, REGISTRY_KINDS } from './registry/node-api.js'
import type { OperatorConfig, RegistryStatus } from './registry/node-registry.js'
import type { HeadOutcome, SplitViewEvidence } from './registry/tree-heads.js'
import { createResync, type Resync } from './resync/resync-protocol.js'
import { createNodeSocial, SOCIAL_KINDS } from './social/node-social.js'
import type { SocialApi } from './social/types.js'
import { COLLECTIVES_KINDS, createNodeCollectives, registerCollectivesTesting, type CollectivesInit } from './collectives/node-collectives.js'
import { createNodeEvents } from './collectives/events.js'
import { createNodePins } from './collectives/pins.js'
import type { EventsApi, GroupsApi, PinsApi } from './collectives/types.js'
import { acquireDataLock, type DataLock } from './store/data-lock.js'
import { createEnvelopeStore, type EnvelopeStore } from './store/envelope-store.js'
import { createWorkPool, type WorkPool } from './work-pool.js'
import { ONION_KEY_FILE } from './tor/onion-constants.js'
import { startOnionService, type OnionService } from './tor/onion-service.js'
import { networkTorOf } from './tor/tor-only.js'
import { parseControlEndpoint } from './tor/tor-control.js'
import { DEFAULT_LISTEN } from './network-constants.js'
import {
  DEFAULT_QUOTA_BYTES, PEER_KEY_FILE, PEERS_EVENT_DEBOUNCE_MS, SUBSCRIPTION_PUMP_DELAY_MS, PRUNE_INTERVAL_MS, RESYNC_INTERVAL_MS, RETRY_INTERVAL_MS
} from './node-constants.js'

/** A node method was called before `start()` finished or after `stop()`. */

/** Options of {@link createKomradeNode}. */
export interface KomradeNodeInit {
  /** Data directory: identity, database, libp2p key. Created if missing. */
  dataDir: string
  /** libp2p listen addresses. @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** Addresses to announce instead of the listening ones. */
  announce?: string[]
  /** Bootstrap peers (multiaddrs ending in /p2p/<id>), e.g. an Operator. @default [] */
  bootstrap?: string[]
  /** Find peers on the LAN with mDNS. @default false */
  mdns?: boolean
  /** Network name: the gossip topic and DHT prefix derive from it. @default 'komrade' */
  networkName?: string
  /** Skip first-contact screening: only contacts with a session reach us (SPEC §8). @default false */
  contactsOnly?: boolean
  /** Answer first contacts from people not yet in the contacts (start a session). @default true */
  acceptStrangers?: boolean
  /** Delete local messages (inbox and outbox) older than this many ms. @default never */
  autoDeleteAfterMs?: number
  /** Disk quota of the envelope store in bytes. @default 512 MiB */
  quotaBytes?: number
  /** Proof-of-work threads. @default cores - 1 */
  workThreads?: number
  /** Interval between resyncs with each connected peer. @default 5 minutes */
  resyncIntervalMs?: number
  /**
   * The Operator this node trusts for names (SPEC §13): its public identity
   * (128 hex) pins the key that signs certificates and tree heads, and its
   * addresses are where the registry is asked. Without it, contacts are
   * added by identity or invite code only. An Operator's own node sets its
   * own identity here. @default none
   */
  operator?: OperatorConfig
  /**
   * Passphrase of an encrypted identity file (and of the one created when
   * there is none yet, which is then encrypted). @default none
   */
  passphrase?: string
  /**
   * Tor. With `control`, the node runs an onion service through tor's
   * control port, forwarding to its loopback listener, and announces
   * `/onion3/<id>:<port>`; the key stays in `<dataDir>/onion.key`, so the
   * address is the same at every start. @default none
   */
  tor?: {
    /**
     * Tor's SOCKS port (`127.0.0.1:9050`; Tor Browser `127.0.0.1:9150`): `/onion3`
     * addresses are dialed through it, each peer on its own circuits.
     */
    socks?: string
    /**
     * Tor-only mode (needs `socks`): every connection goes through Tor, the
     * node listens on loopback only, announces only its onion address, and
     * no mDNS. @default false
     */
    onlyTor?: boolean
    /** Tor's control port: `127.0.0.1:9051` or `unix:/run/tor/control` (cookie authentication unless `controlPassword`). */
    control?: string
    /** Tor's control password (its HashedControlPassword). @default cookie authentication */
    controlPassword?: string
    /** The port of the onion address. @default 4001 */
    onionPort?: number
  }
  /**
   * Cover traffic (node/cover-traffic.ts): the node emits an envelope at
   * each slot of a Poisson process, real if one is waiting, else cover, so
   * an observer cannot tell when its user writes. Real envelopes wait for
   * the next slot (60 s on average at the default rate). `false` publishes
   * at once. @default { ratePerHour: 60 }
   */
  cover?: CoverTrafficInit | false
  /**
   * Read and write the world feed (SPEC §14): screening tries the world tag
   * (one HMAC per envelope). `false` skips it; world envelopes are still
   * stored and forwarded. A node without an `operator` has no world feed
   * either: it could not check the names world posts carry. @default true
   */
  worldFeed?: boolean
  /** Groups, votes, events and pins (SPEC §15): lifetimes of their internal traffic and rekey pacing. @default {} */
  collectives?: CollectivesInit
  /** Crypto provider. @default nativeCrypto() */
  crypto?: CryptoProvider
  /** Logger. @default silent */
  logger?: Logger
}

/** A received message. */
export interface ReceivedMessage {
  readonly id: string
  /** Contact id (hex Ed25519 key) of the sender. */
  readonly from: string
  /** Hex public identity of the sender: pass it to `send` to answer. */
  readonly fromIdentity: string
  readonly kind: number
  readonly body: Uint8Array
  /** The body as UTF-8 text. */
  readonly text: string
  readonly sentAt: number
  readonly receivedAt: number
}

/** A message we sent and its delivery state: working (proof of work) -> queued/sent -> delivered. */
export interface SentMessage {
  readonly id: string
  readonly to: string
  readonly state: OutboxMessage['state']
  readonly createdAt: number
  readonly deliveredAt?: number
  readonly body: Uint8Array
}

/** A contact. */
export interface Contact {
  readonly id: string
  readonly identity: string
  readonly fingerprint: string
  readonly sessions: number
  /** The registered name the registry confirmed for these keys, if any. */
  readonly name?: string
}

/** What `status()` reports. */
export interface NodeStatus {
  readonly running: boolean
  readonly id: string
  readonly fingerprint: string
  readonly peerId: string
  readonly addresses: string[]
  readonly peers: number
  readonly meshPeers: number
  readonly store: ReturnType<EnvelopeStore['stats']>
  /** Envelopes waiting for, or in, proof of work. */
  readonly workPending: number
  readonly lastSync?: { peer: string, at: number, received: number, sent: number }
  /** The name registry, when an Operator is configured. */
  readonly registry?: RegistryStatus
  /** Cover traffic: its settings, envelopes emitted today (real and cover, not told apart), real ones waiting for a slot. */
  readonly cover: CoverStatus
  /** Tor, when configured. */
  readonly tor?: {
    /** The onion address others dial (`/onion3/<id>:<port>/p2p/<peer id>`), when the node runs an onion service. */
    readonly onion?: string
    /** True while tor serves the onion address (false while tor restarts). */
    readonly onionPublished?: boolean
  }
}

/** Detail of a `sync` event: a resync with one peer starting, done (with its counts) or failed. */
export interface SyncProgress {
  readonly peer: string
  readonly phase: 'start' | 'done' | 'failed'
  /** Envelopes received from the peer (phase 'done'). */
  readonly received?: number
  /** Envelopes sent to the peer (phase 'done'). */
  readonly sent?: number
}

/** Detail of a `peers` event: the connected and mesh peer counts, after either changed. */
export interface PeerCounts {
  readonly peers: number
  readonly meshPeers: number
}

/** Kinds `outbox()` and the `outbox` event show: not receipts, registry messages, posts or circle keys (the node's own traffic). */
function isApplicationMessage (kind: number): boolean {
  return kind !== KIND_RECEIPT && !REGISTRY_KINDS.has(kind) && !SOCIAL_KINDS.has(kind) && !COLLECTIVES_KINDS.has(kind)
}

/** The inner kinds `send` accepts: application messages, and the registry's (for an Operator's answers). */
const SENDABLE_KINDS: ReadonlySet<number> = new Set([KIND_MESSAGE, KIND_REGISTRY_REQUEST, KIND_REGISTRY_RESPONSE])

/**
 * The node. Events: `message` (detail: ReceivedMessage), `outbox` (detail:
 * SentMessage; the messages `outbox()` lists, not receipts), `key-change`
 * (detail: KeyChange), `split-view` (detail: SplitViewEvidence), `sync`
 * (detail: SyncProgress), `peers` (detail: PeerCounts; debounced), `post`
 * (detail: Post; every post a feed gains, ours included), `profile` (detail:
 * Profile; a newer profile replaced an older one), and on an Operator's node
 * `registry-request` (detail: ReceivedMessage of kind KIND_REGISTRY_REQUEST).
 */
export interface KomradeNode extends EventTarget {
  /** Opens the data directory (refusing one another node holds), joins the network. */
  start(options?: { signal?: AbortSignal }): Promise<void>
  /** Stops gracefully: finishes the step in progress, closes the network and the database. */
  stop(): Promise<void>
  /** This device's public identity (after start). */
  readonly identity: PublicIdentity
  /** Hex public identity to hand to others (after start). */
  readonly publicIdentity: string
  /**
   * Seals and queues a message; resolves when it is safely in the outbox.
   * `kind` is KIND_MESSAGE (the default) or one of the registry kinds
   * (KIND_REGISTRY_REQUEST/RESPONSE, for an Operator's answers); anything
   * else is a RangeError.
   */
  send(to: string | PublicIdentity, body: string | Uint8Array, options?: { signal?: AbortSignal, ttlMinutes?: number, kind?: number }): Promise<SentMessage>
  /** Live incoming messages, until `signal` aborts or the node stops. */
  messages(options?: { signal?: AbortSignal }): AsyncIterableIterator<ReceivedMessage>
  /** Messages received so far, oldest first; with `kind`, only those of that kind (the registry's included). */
  inbox(options?: { kind?: number }): Promise<ReceivedMessage[]>
  /** Messages sent (not receipts), oldest first. */
  outbox(): Promise<SentMessage[]>
  /** Deletes messages from the inbox and the outbox by id; returns how many were deleted. */
  deleteMessages(ids: string[]): Promise<number>
  readonly contacts: {
    /**
     * Adds a contact by its hex public identity (128 hex characters), an
     * invite code (its addresses are dialed) or a registered name (looked up
     * and verified; needs an Operator).
     */
    add(contact: string | PublicIdentity, options?: { signal?: AbortSignal }): Promise<Contact>
    list(): Contact[]
    /**
     * Removes a contact: its sessions, and on the social side (SPEC §14.4)
     * its standing as a known sender, the circle chains it handed us, and its
     * place in our circle (the chain rotates, as `social.circle.remove`).
     * True when anything was removed.
     */
    remove(id: string): Promise<boolean>
  }
  /**
   * Registers a name for this node's identity with the Operator, directly or
   * through the flood (for a node that cannot reach it). Resolves with the
   * verified record. Throws BadNameError, RegistryRejectedError (its `code`
   * says why, e.g. NAME_TAKEN), RegistryUnavailableError,
   * RegistryVerificationError, NoOperatorError.
   */
  register(name: string, options?: { signal?: AbortSignal, via?: 'direct' | 'flood', onProgress?: (trials: number, expected: number) => void }): Promise<NameRecord>
  /**
   * Looks a name up and verifies the answer; answers from the cache
   * (`fromCache: true`) when the Operator cannot be reached. Throws
   * BadNameError, NameNotFoundError, RegistryUnavailableError,
   * RegistryVerificationError, NoOperatorError.
   */
  lookup(name: string, options?: { signal?: AbortSignal, cacheOnly?: boolean }): Promise<NameRecord>
  /** An invite code (`KOMRADE1-…`) with this node's identity, registered name and addresses. */
  invite(): string
  /**
   * Checks a signed tree head (113 bytes) under the pinned key, adopts it
   * when consistent and gossips it; an Operator announces its heads with it.
   * Throws RegistryVerificationError, NoOperatorError.
   */
  offerTreeHead(head: Uint8Array): Promise<HeadOutcome>
  status(): NodeStatus
  /** Resyncs with every connected peer now. */
  syncNow(options?: { signal?: AbortSignal }): Promise<void>
  /** Posts to the world and to the trusted circle, feeds, profiles (SPEC §14; node/social/). */
  readonly social: SocialApi
  /**
   * Groups: founded under a registered name, joined by vouching, governed by
   * vote, with posts and anonymous votes on them (SPEC §15; node/collectives/).
   * Events `group`, `group-post`, `vote`.
   */
  readonly groups: GroupsApi
  /** Events and their answers (SPEC §15.9). Events `event`, `rsvp`. */
  readonly events: EventsApi
  /** Map pins (SPEC §15.10). Event `pin`. */
  readonly pins: PinsApi
  /** The libp2p node (for embedding and tests). */
  readonly network: Network
}

// The registry's event details and results, part of the node's API.
export type { KeyChange, NameRecord, SplitViewEvidence }

function toReceived (message: InboxMessage): ReceivedMessage {
  const body = new Uint8Array(Buffer.from(message.body, 'base64'))
  return {
    id: message.id, from: message.from, fromIdentity: message.fromIdentity, kind: message.kind, body,
    text: new TextDecoder().decode(body), sentAt: message.sentAt, receivedAt: message.receivedAt
  }
}

function toSent (message: OutboxMessage): SentMessage {
  return {
    id: message.id, to: message.to, state: message.state, createdAt: message.createdAt,
    ...(message.deliveredAt === undefined ? {} : { deliveredAt: message.deliveredAt }),
    body: new Uint8Array(Buffer.from(message.body, 'base64'))
  }
}

async function loadOrCreatePeerKey (dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, PEER_KEY_FILE)
  try {
    return privateKeyFromProtobuf(new Uint8Array(await readFile(path)))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const key = await generateKeyPair('Ed25519')
  const handle = await open(path, 'wx', 0o600)
  try {
    await handle.writeFile(privateKeyToProtobuf(key))
    await handle.sync()
  } finally {
    await handle.close()
  }
  return key
}

async function loadOrCreateIdentity (crypto: CryptoProvider, dataDir: string, passphrase: string | undefined): Promise<Identity> {
  const options = passphrase === undefined ? {} : { passphrase }
  try {
    return await readIdentityFile(crypto, dataDir, options)
  } catch (error) {
    if (!(error instanceof NoIdentityError)) throw error
  }
  try {
    return await createIdentityFile(crypto, dataDir, options)
  } catch (error) {
    if (error instanceof IdentityExistsError) return await readIdentityFile(crypto, dataDir, options) // created concurrently
    throw error
  }
}

/** Checks the onion-service part of the `tor` option (RangeError naming the field). */
function checkTorOptions (tor: KomradeNodeInit['tor']): void {
  if (tor?.control === undefined) return
  parseControlEndpoint(tor.control)
  if (tor.onionPort !== undefined && (!Number.isInteger(tor.onionPort) || tor.onionPort < 1 || tor.onionPort > 65535)) {
    throw new RangeError(`"tor.onionPort" expected a port from 1 to 65535, got ${String(tor.onionPort)}`)
  }
  if (tor.controlPassword !== undefined && typeof tor.controlPassword !== 'string') throw new TypeError('"tor.controlPassword" expected a string')
}

/** Creates a node over a data directory. Call `start()` to run it. */
export function createKomradeNode (init: KomradeNodeInit): KomradeNode {
  const crypto = init.crypto ?? nativeCrypto()
  const logger = init.logger ?? silentLogger()
  const events = new EventTarget()
  const timers: NodeJS.Timeout[] = []
  const stopController = new AbortController()
  let running = false
  /** Set first thing in stop(): no envelope is taken in from then on (the intake stops before the rest). */
  let stopping = false
  let identity: Identity | undefined
  let keyring: Keyring | undefined
  let lock: DataLock | undefined
  let db: Awaited<ReturnType<typeof openLocalDb>> | undefined
  let state: LocalState | undefined
  let store: EnvelopeStore | undefined
  let pool: WorkPool | undefined
  let network: Network | undefined
  let resync: Resync | undefined
  let delivery: Delivery | undefined
  let cover: CoverTraffic | undefined
  let onion: OnionService | undefined
  checkTorOptions(init.tor) // now, not after the network is up
  let lastSync: NodeStatus['lastSync']
  const networkName = init.networkName ?? 'komrade'
  // Names, invites and registry messages (node/registry/node-api.ts); checks the `operator` option now.
  const names = createNodeNames({ crypto, logger, networkName, events, ...(init.operator === undefined ? {} : { operator: init.operator }) })
  // Feeds, circle and profiles (node/social/); the pinned Operator key checks the names world posts carry.
  const social = createNodeSocial({
    crypto, logger, networkName, events, worldFeed: init.worldFeed ?? true,
    ...(init.operator === undefined ? {} : { operatorKey: decodePublicIdentity(fromHex(init.operator.identity)).signingKey })
  })
  // Groups, votes, events, pins (node/collectives/): they plug into delivery beside the social layer.
  const collectives = createNodeCollectives({
    crypto, logger, events, ...(init.collectives ?? {}), createEvents: createNodeEvents, createPins: createNodePins,
    ...(init.operator === undefined ? {} : { operatorKey: decodePublicIdentity(fromHex(init.operator.identity)).signingKey })
  })
  const coverInit = coverSettings(init.cover ?? {}) // checked now: a bad value fails here, not halfway through start()
  const networkTor = networkTorOf(init.tor) // likewise

  function need<T> (value: T | undefined): T {
    if (value === undefined || !running) throw new NodeNotRunningError()
    return value
  }

  /** The identity stays known after stop, so a stopped node can still say who it is. */
  function loadedIdentity (): Identity {
    if (identity === undefined) throw new NodeNotRunningError()
    return identity
  }

  function contactOf (summary: { id: string, identity: PublicIdentity, sessions: number }): Contact {
    const name = names.contactName(summary.id)
    return {
      id: summary.id,
      identity: toHex(encodePublicIdentity(summary.identity)),
      fingerprint: fingerprint(crypto, summary.identity),
      sessions: summary.sessions,
      ...(name === undefined ? {} : { name })
    }
  }

  async function addContactKeys (peer: PublicIdentity): Promise<void> {
    const ring = need(keyring)
    ring.addContact(peer)
    await need(state).commit({ keyring: { identityId: ring.id, state: ring.toJSON() } })
  }

  /**
   * Adding and removing contacts take turns: a remove that ran between an
   * add's steps left the add without its contact (a TypeError, a 500 from
   * the API; test/reliability/fuzz-api.test.ts found it).
   */
  let contactTurn: Promise<unknown> = Promise.resolve()
  function contactChange<T> (step: () => Promise<T>): Promise<T> {
    const run = contactTurn.then(step, step)
    contactTurn = run.catch(() => {})
    return run
  }

  /** Our registered name and its certificate, from the names cache (no network): what world posts carry. */
  async function ownNameCertificate (): Promise<{ name: string, certificate: Uint8Array } | undefined> {
    // Our own name is the one our invite carries (the names part keeps it).
    const name = decodeInvite(names.invite(need(identity), []), crypto).name
    if (name === undefined) return undefined
    const record = await names.lookup(name, { cacheOnly: true }).catch(() => undefined)
    if (record === undefined || record.identity !== toHex(encodePublicIdentity(need(identity)))) return undefined
    return { name: record.name, certificate: fromHex(record.certificate) }
  }

  /** Drops registry messages left from a previous run that no one here will read (answers nobody waits for any more). */
  async function dropStaleRegistryMessages (): Promise<void> {
    const stale = (await need(state).inbox()).filter((m) => names.isStale(m.kind))
    if (stale.length > 0) await need(state).commit({ removeInbox: stale.map((m) => ({ from: m.from, id: m.id })) })
  }

  /** A contact by id, hex identity, name or @name (the collectives' `via`, `candidate`, `remove`); undefined when none. */
  function findContact (contact: string): PublicIdentity | undefined {
    const ring = keyring
    if (ring === undefined || typeof contact !== 'string') return undefined
    const lower = contact.toLowerCase()
    if (/^[0-9a-f]{64}$/.test(lower)) return ring.contact(lower)?.identity
    if (PUBLIC_IDENTITY_HEX_PATTERN.test(lower)) return ring.contact(lower.slice(0, 64))?.identity
    const name = lower.startsWith('@') ? lower.slice(1) : lower
    return ring.contacts().find((c) => names.contactName(c.id) === name)?.identity
  }

  function parseIdentity (to: string | PublicIdentity): PublicIdentity {
    if (typeof to !== 'string') return to
    if (!PUBLIC_IDENTITY_HEX_PATTERN.test(to)) {
      throw new TypeError('"to" expected a public identity: 128 hex characters (see `komrade whoami`)')
    }
    return decodePublicIdentity(fromHex(to))
  }

  /**
   * Resyncs run one at a time, and a peer already queued is not queued twice.
   * A node back from an outage connects to several peers at once; syncing
   * with all of them together fetched every missed envelope once per peer
   * (18x the missed bytes with 8 peers, npm run bench -- network). In turn,
   * each sync starts from what the previous ones brought.
   */
  let syncChain: Promise<void> = Promise.resolve()
  const queuedSyncs = new Map<string, Promise<void>>()

  function requestSync (peer: PeerId, signal?: AbortSignal): Promise<void> {
    const key = peer.toString()
    const queued = queuedSyncs.get(key)
    if (queued !== undefined) return queued
    const run = syncChain.then(async () => {
      queuedSyncs.delete(key)
      if (running) await syncWith(peer, signal)
    })
    queuedSyncs.set(key, run)
    syncChain = run
    return run
  }

  function syncEvent (detail: SyncProgress): void {
    events.dispatchEvent(new CustomEvent('sync', { detail }))
  }

  async function syncWith (peer: PeerId, signal?: AbortSignal): Promise<void> {
    syncEvent({ peer: peer.toString(), phase: 'start' })
    try {
      const report = await need(resync).syncWith(peer, { signal: signal ?? stopController.signal })
      lastSync = { peer: peer.toString(), at: Date.now(), received: report.received, sent: report.sent }
      // Only a complete sync proves the peer now holds everything we hold (a capped one may not).
      if (report.complete) await need(delivery).markSyncedWithPeer()
      logger.debug('resync done', { peer: peer.toString(), ...report })
      syncEvent({ peer: peer.toString(), phase: 'done', received: report.received, sent: report.sent })
    } catch (error) {
      logger.debug('resync failed', { peer: peer.toString(), error })
      syncEvent({ peer: peer.toString(), phase: 'failed' })
    }
  }

  /**
   * Emits 'peers' when the connected or mesh peer count changed. Connections
   * come and go in bursts and the mesh changes at gossipsub's heartbeat, so a
   * check runs shortly after either, and reports only a real change.
   */
  function watchPeerCounts (net: Network): void {
    let last: PeerCounts | undefined
    let checkSoon: NodeJS.Timeout | undefined
    const check = (): void => {
      checkSoon ??= setTimeout(() => {
        checkSoon = undefined
        if (!running) return
        const { peers, meshPeers } = net.status()
        if (last?.peers === peers && last.meshPeers === meshPeers) return
        last = { peers, meshPeers }
        events.dispatchEvent(new CustomEvent('peers', { detail: last }))
      }, PEERS_EVENT_DEBOUNCE_MS)
      checkSoon.unref()
    }
    net.libp2p.addEventListener('peer:connect', check)
    net.libp2p.addEventListener('peer:disconnect', check)
    net.libp2p.services.pubsub.addEventListener('gossipsub:heartbeat', check)
  }

  /**
   * Asks tor for the node's onion service (the saved key, or a new one saved
   * to onion.key) forwarding to the listener, and announces its address.
   */
  async function startOnion (net: Network, tor: NonNullable<KomradeNodeInit['tor']>, signal: AbortSignal | undefined): Promise<void> {
    const target = net.onionTarget()
    if (target === undefined) {
      throw new Error('The node has no TCP listener for tor to forward its onion service to: listen on loopback (--listen /ip4/127.0.0.1/tcp/0)')
    }
    onion = await startOnionService({
      control: tor.control!,
      keyFile: join(init.dataDir, ONION_KEY_FILE),
      target,
      logger: logger.child('tor'),
      ...(tor.controlPassword === undefined ? {} : { password: tor.controlPassword }),
      ...(tor.onionPort === undefined ? {} : { virtualPort: tor.onionPort })
    }, signal === undefined ? {} : { signal })
    await net.announceOnion(onion.multiaddr)
  }

  async function housekeeping (): Promise<void> {
    const now = Date.now()
    await need(store).prune(now)
    need(keyring).prune(now)
    await need(state).pruneParts(minuteOf(now))
    await social.housekeeping(now)
    await collectives.housekeeping(now)
    if (init.autoDeleteAfterMs !== undefined) {
      const cutoff = now - init.autoDeleteAfterMs
      const old = (await need(state).inbox()).filter((m) => m.receivedAt < cutoff)
      const oldSent = (await need(state).outbox()).filter((m) => m.createdAt < cutoff && (m.state === 'sent' || m.state === 'delivered'))
      await need(state).commit({ removeInbox: old.map((m) => ({ from: m.from, id: m.id })), removeOutbox: oldSent.map((m) => m.id) })
    }
  }

  const api = {
    async start (options: { signal?: AbortSignal } = {}) {
      if (running) return
      await mkdir(init.dataDir, { recursive: true, mode: 0o700 })
      lock = await acquireDataLock(init.dataDir)
      try {
        options.signal?.throwIfAborted()
        identity = await loadOrCreateIdentity(crypto, init.dataDir, init.passphrase)
        db = await openLocalDb(join(init.dataDir, 'db'))
        state = localState(db)
        const saved = await state.loadKeyring(identityId(identity))
        keyring = createKeyring({ crypto, identity, ...(saved === undefined ? {} : { state: saved }) })
        const screening = await social.open({
          identity, db,
          ownCertificate: ownNameCertificate,
          contactName: (id) => names.contactName(id),
          addContact: async (contact, options) => await node.contacts.add(contact, options),
          contactIds: () => (keyring?.contacts() ?? []).map((c) => c.id)
        })
        const collectivesScreening = await collectives.open({
          identity, db,
          ...(screening.worldKey === undefined ? {} : { worldKey: screening.worldKey }),
          registerName: async (name, groupIdentity, options) => await names.register(name, { ...options, identity: groupIdentity }),
          lookupName: async (name, options) => decodePublicIdentity(fromHex((await names.lookup(name, options)).identity)),
          findContact: (contact) => findContact(contact),
          hasSession: (contactId) => keyring?.hasSession(contactId) ?? false,
          contactName: (id) => names.contactName(id),
          ownCertificate: ownNameCertificate,
          addContact: async (contact, options) => await node.contacts.add(contact, options)
        })
        const screener = createScreener({ keyrings: [keyring], contactsOnly: init.contactsOnly ?? false, crypto, ...screening, ...collectivesScreening })
        store = await createEnvelopeStore({
          db: db.sublevel<Uint8Array, Uint8Array>('envelopes', { keyEncoding: 'view', valueEncoding: 'view' }),
          crypto,
          quotaBytes: init.quotaBytes ?? DEFAULT_QUOTA_BYTES
        })
        pool = createWorkPool(init.workThreads === undefined ? {} : { threads: init.workThreads })
        const envelopeStore = store
        network = await createNetwork({
          privateKey: await loadOrCreatePeerKey(init.dataDir),
          listen: init.listen ?? DEFAULT_LISTEN,
          ...(init.announce === undefined ? {} : { announce: init.announce }),
          bootstrap: init.bootstrap ?? [],
          mdns: init.mdns ?? false,
          networkName,
          ...(networkTor === undefined ? {} : { tor: networkTor }),
          validate: async (envelope) => {
            if (!checkEnvelope(crypto, envelope).valid) return 'reject'
            return (await envelopeStore.has(envelopeId(crypto, envelope))) ? 'ignore' : 'accept'
          },
          onEnvelope: (envelope) => {
            // Stopping: intake first (not `running`, still false while start() runs). Not stored, so resync brings it back.
            if (stopping) return
            // A failure here (a full disk, say) is logged and reported in status; the envelope comes back through resync.
            delivery?.ingest(envelope, { validated: true }).catch((error: unknown) => { logger.warn('could not take an envelope in', { error }) })
          },
          ...(names.treeHeads === undefined ? {} : { treeHeads: names.treeHeads })
        })
        const net = network
        const scheduler = cover = createCoverTraffic(coverInit, {
          crypto, pool, logger,
          // Stored at the slot, then flooded: resync hands out nothing the node has not emitted yet.
          emit: async (envelope) => {
            await envelopeStore.put(envelope)
            return await net.publish(envelope)
          }
        })
        delivery = createDelivery({
          crypto, keyring, screener, state, store, pool, logger,
          publish: async (envelope, options) => await scheduler.publish(envelope, options),
          acceptStrangers: init.acceptStrangers ?? true,
          social: social.hooks,
          collectives: collectives.hooks,
          onMessage: (message) => {
            // Registry messages are the node's business, not the application's: never shown as chat.
            if (REGISTRY_KINDS.has(message.kind)) names.route(toReceived(message))
            else events.dispatchEvent(new CustomEvent('message', { detail: toReceived(message) }))
          },
          onOutboxChange: (message) => {
            // Receipts, registry messages, posts and circle keys are the node's own traffic: outbox() does not list them either.
            if (isApplicationMessage(message.kind)) events.dispatchEvent(new CustomEvent('outbox', { detail: toSent(message) }))
          }
        })
        const engine = delivery
        social.attach(engine)
        await collectives.attach(engine)
        resync = createResync({
          libp2p: network.libp2p,
          snapshot: async () => envelopeStore.items(),
          getEnvelopes: async (ids) => await envelopeStore.getMany(ids),
          // 'deferred' (stopping): not stored, so it comes back at the next sync; not the peer's fault.
          receiveEnvelope: async (envelope) => {
            const result = await engine.ingest(envelope)
            return result === 'deferred' ? 'duplicate' : result
          }
        })
        await names.open({
          identity, db, libp2p: net.libp2p,
          publishTreeHead: async (head) => await net.publishTreeHead(head),
          sendMessage: async (to, body, kind, ttlMinutes) => (await engine.send(to, body, { kind, ttlMinutes })).id,
          deleteMessages: async (ids) => await node.deleteMessages(ids),
          addContact: addContactKeys,
          forgetSessions: async (peer, options) => {
            const ring = need(keyring)
            ring.removeContact(identityId(peer))
            if (options.keepContact) ring.addContact(peer)
            await need(state).commit({ keyring: { identityId: ring.id, state: ring.toJSON() } })
          },
          contactIdentity: (contactId) => keyring?.contact(contactId)?.identity
        })
        await resync.start()
        await network.start()
        if (init.tor?.control !== undefined) await startOnion(network, init.tor, options.signal)
        running = true
        scheduler.start()
        watchPeerCounts(net)
        // The dialing side starts the resync of a new connection; one sync moves envelopes both ways.
        network.libp2p.addEventListener('connection:open', (event) => {
          if (event.detail.direction === 'outbound') void requestSync(event.detail.remotePeer)
        })
        // A peer joining our topic is the moment queued envelopes can reach someone: retry then, not at the
        // next tick. Debounced: pump() reads the whole outbox, and many peers subscribe at once after a start.
        let pumpSoon: NodeJS.Timeout | undefined
        const headTopic = treeHeadTopic(networkName)
        network.libp2p.services.pubsub.addEventListener('subscription-change', (event) => {
          if (event.detail.subscriptions.some((s) => s.topic === headTopic && s.subscribe)) names.peerJoined()
          pumpSoon ??= setTimeout(() => {
            pumpSoon = undefined
            // The node may be stopping meanwhile (its database closing): a failed retry is retried by the timer.
            if (running) delivery?.pump().catch((error: unknown) => { logger.debug('outbox retry failed', { error }) })
          }, SUBSCRIPTION_PUMP_DELAY_MS)
          pumpSoon.unref()
        })
        timers.push(setInterval(() => {
          for (const peer of net.libp2p.getPeers()) void requestSync(peer)
        }, init.resyncIntervalMs ?? RESYNC_INTERVAL_MS))
        timers.push(setInterval(() => { engine.pump().catch((error: unknown) => { logger.debug('outbox retry failed', { error }) }) }, RETRY_INTERVAL_MS))
        timers.push(setInterval(() => { void housekeeping().catch((error) => logger.warn('housekeeping failed', { error })) }, PRUNE_INTERVAL_MS))
        for (const timer of timers) timer.unref()
        await delivery.resume()
        await housekeeping()
        await dropStaleRegistryMessages()
        await delivery.pump()
        names.start()
        logger.info('node started', { id: identityId(identity), peerId: network.peerId.toString(), addresses: network.status().addresses })
      } catch (error) {
        await node.stop()
        throw error
      }
    },

    async stop () {
      // Intake first: gossip is ignored, resync stops, queued ingests are deferred. What they carried is not stored,
      // so resync brings it back at the next start; waiting for a backlog that grows meanwhile could take minutes.
      stopping = true
      delivery?.close()
      running = false
      stopController.abort()
      for (const timer of timers.splice(0)) clearInterval(timer)
      names.stop()
      events.dispatchEvent(new Event('stop'))
      await resync?.stop().catch(() => {})
      // Envelopes waiting for a slot stay in the outbox for the next start.
      await cover?.stop().catch(() => {})
      await delivery?.idle().catch(() => {})
      // The onion service first (DEL_ONION): nothing new comes in through tor while the network closes.
      await onion?.stop().catch(() => {})
      await network?.stop().catch(() => {})
      await pool?.close().catch(() => {})
      // Only now: an envelope still being absorbed commits its feed and chain writes together.
      social.close()
      collectives.close()
      await store?.close().catch(() => {})
      await db?.close().catch(() => {})
      await lock?.release().catch(() => {})
      delivery = undefined; cover = undefined; resync = undefined; onion = undefined; network = undefined; pool = undefined; store = undefined; db = undefined; lock = undefined
      stopping = false // a stopped node can start again
    },

    get identity () { return publicIdentityOf(loadedIdentity()) },
    get publicIdentity () {
      const id = loadedIdentity()
      return toHex(new Uint8Array([...id.signingKey, ...id.sealingKey]))
    },
    get network () { return need(network) },
    social: social.api,
    groups: collectives.groups,
    events: collectives.events,
    pins: collectives.pins,

    async send (to: string | PublicIdentity, body: string | Uint8Array, options: { signal?: AbortSignal, ttlMinutes?: number, kind?: number } = {}) {
      options.signal?.throwIfAborted()
      const kind = options.kind ?? KIND_MESSAGE
      if (!SENDABLE_KINDS.has(kind)) {
        throw new RangeError(`"kind" expected KIND_MESSAGE (${KIND_MESSAGE}) or a registry kind (${KIND_REGISTRY_REQUEST}, ${KIND_REGISTRY_RESPONSE}), got ${String(kind)}`)
      }
      const recipient = parseIdentity(to)
      const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body
      need(delivery)
      // Someone we write to is someone we know: their circle keys are taken (node/social/known-senders.ts).
      if (kind === KIND_MESSAGE) await social.senderKnown(identityId(recipient))
      const entry = await need(delivery).send(recipient, bytes, { kind, ...(options.ttlMinutes === undefined ? {} : { ttlMinutes: options.ttlMinutes }) })
      return toSent(entry)
    },

    messages (options: { signal?: AbortSignal } = {}) {
      return liveEvents<ReceivedMessage>(events, 'message', options)
    },

    async inbox (options: { kind?: number } = {}) {
      const all = await need(state).inbox()
      const wanted = options.kind === undefined ? all.filter((m) => !REGISTRY_KINDS.has(m.kind)) : all.filter((m) => m.kind === options.kind)
      return wanted.map(toReceived)
    },
    async outbox () { return (await need(state).outbox()).filter((m) => isApplicationMessage(m.kind)).map(toSent) },

    async deleteMessages (ids: string[]) {
      if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw new TypeError('"ids" expected an array of message ids')
      const wanted = new Set(ids)
      const inbox = (await need(state).inbox()).filter((m) => wanted.has(m.id))
      if (inbox.length > 0) await need(state).commit({ removeInbox: inbox.map((m) => ({ from: m.from, id: m.id })) })
      return inbox.length + await need(delivery).deleteOutbox(ids)
    },

    contacts: {
      async add (contact: string | PublicIdentity, options: { signal?: AbortSignal } = {}) {
        const resolved = await names.resolveContact(contact, options) // the network part, outside the turn
        return await contactChange(async () => {
          await social.senderKnown(identityId(resolved.identity))
          await addContactKeys(resolved.identity)
          await names.contactAdded(resolved)
          return contactOf(need(keyring).contact(identityId(resolved.identity))!)
        })
      },
      list () { return need(keyring).contacts().map(contactOf) },
      /** Also forgets them as a sender, drops the circle chains they handed us, and removes them from our circle (rotating it). */
      async remove (id: string) {
        return await contactChange(async () => {
          const ring = need(keyring)
          const removed = ring.removeContact(id)
          if (removed) await need(state).commit({ keyring: { identityId: ring.id, state: ring.toJSON() } })
          if (removed) await names.contactRemoved(id)
          const socialRemoved = typeof id === 'string' && await social.contactRemoved(id)
          return removed || socialRemoved
        })
      }
    },

    async register (name: string, options: { signal?: AbortSignal, via?: 'direct' | 'flood', onProgress?: (trials: number, expected: number) => void } = {}) {
      need(network)
      return await names.register(name, options)
    },

    async lookup (name: string, options: { signal?: AbortSignal, cacheOnly?: boolean } = {}) {
      need(network)
      return await names.lookup(name, options)
    },

    invite () { return names.invite(need(identity), need(network).status().addresses) },

    async offerTreeHead (head: Uint8Array) {
      need(network)
      return await names.offerTreeHead(head)
    },

    status () {
      const net = need(network)
      const netStatus = net.status()
      const registry = names.status()
      return {
        running,
        id: identityId(need(identity)),
        fingerprint: fingerprint(crypto, need(identity)),
        peerId: net.peerId.toString(),
        addresses: netStatus.addresses,
        peers: netStatus.peers,
        meshPeers: netStatus.meshPeers,
        store: need(store).stats(),
        workPending: need(pool).pending,
        cover: need(cover).status(),
        ...(lastSync === undefined ? {} : { lastSync }),
        ...(registry === undefined ? {} : { registry }),
        ...(init.tor === undefined
          ? {}
          : { tor: { ...(netStatus.onion === undefined ? {} : { onion: netStatus.onion }), ...(onion === undefined ? {} : { onionPublished: onion.published }) } })
      }
    },

    async syncNow (options: { signal?: AbortSignal } = {}) {
      await Promise.all(need(network).libp2p.getPeers().map(async (peer) => { await requestSync(peer, options.signal) }))
      await need(delivery).idle()
    }
  }
  // defineProperties, not Object.assign: the getters must stay getters.
  const node = Object.defineProperties(events, Object.getOwnPropertyDescriptors(api)) as unknown as KomradeNode
  registerCollectivesTesting(node, collectives.testing)
  return node
}
