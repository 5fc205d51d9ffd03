/**
 * The Operator a community runs (`komrade operator`): a Komrade node like any
 * other (kad-dht server, bootstrap address, relay of the flood) whose
 * identity signs the name registry. It
 *
 * - serves the registry protocol (registry-protocol.ts) on its node's libp2p;
 * - answers registrations sent through the flood (a message of kind
 *   KIND_REGISTRY_REQUEST to its identity) with a KIND_REGISTRY_RESPONSE;
 * - hands each new signed tree head to its node, which gossips it.
 *
 * A flood registration makes its sender a contact of the Operator's node
 * (the first contact is accepted, and the answer sealed on that session).
 * Once answered (or dropped), the contact is removed again, unless the node
 * held it when the Operator started: the keyring does not grow with every
 * registrant. Registrants forget the Operator's session too
 * (node/registry/name-service.ts), so the next request is a first contact.
 *
 * The data directory is a node's (identity.key, db/, node.lock) plus
 * `registry/`, the registry's own LevelDB. The node's data lock covers both.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  decodeCertificate, decodeRegistrationRequest, encodePublicIdentity, encodeRegisterResponse, KIND_REGISTRY_REQUEST, KIND_REGISTRY_RESPONSE, nativeCrypto,
  RegistryErrorCode, toHex, type CryptoProvider, type Identity
} from '../protocol/index.js'
import { equalBytes } from '../protocol/bytes.js'
import { IdentityExistsError, NoIdentityError, createIdentityFile, readIdentityFile } from '../node/identity-file.js'
import { createKomradeNode, type KomradeNode, type KomradeNodeInit, type ReceivedMessage } from '../node/komrade-node.js'
import { silentLogger, type Logger } from '../node/logger.js'
import { HEAD_OFFER_INTERVAL_MS, OPERATOR_AUTO_DELETE_MS, REGISTRY_DIR, type RateLimits } from './constants.js'
import { createTokenBucket, type TokenBucket } from './rate-limit.js'
import { answerRegistryRequest, createRegistryService, resolveRateLimits, type RegistryService } from './registry-protocol.js'
import { openRegistry, type Registry } from './registry.js'

/** Options of {@link createOperator}. */
export interface OperatorInit {
  /** Data directory: the Operator's identity (identity.key), its node's database, `registry/`. Created if missing. */
  dataDir: string
  /** libp2p listen addresses. @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** Addresses to announce instead of the listening ones (a public IP, a DNS name, an onion). */
  announce?: string[]
  /** Other bootstrap peers (e.g. a second Operator). @default [] */
  bootstrap?: string[]
  /** Network name: topics, DHT and registry protocol ids derive from it. @default 'komrade' */
  networkName?: string
  /** Keep the name registry; `false` runs discovery only (every registry op answers NO_REGISTRY). @default true */
  registry?: boolean
  /** Expected hash trials of a registration (SPEC §13.3). @default 262,144 */
  workTrials?: number
  /** Rate limits; `false` turns them off (benchmarks). @default DEFAULT_RATE_LIMITS */
  rateLimits?: Partial<RateLimits> | false
  /** @default silent */
  logger?: Logger
  /** Envelope store quota of the node, bytes. @default the node's (512 MiB) */
  quotaBytes?: number
  /** Proof-of-work threads of the node (for its answers). @default the node's */
  workThreads?: number
  /**
   * Tor, as for a node: with `control`, the Operator is an onion service
   * (its key in `<dataDir>/onion.key`) and announces its /onion3 address,
   * which nodes pin in their bootstrap and Operator addresses. @default none
   */
  tor?: KomradeNodeInit['tor']
  /** @default nativeCrypto() */
  crypto?: CryptoProvider
}

/** A running (or startable) Operator. */
export interface Operator {
  /** Opens the data directory (refusing one a node already holds), starts the node, the registry and its service. */
  start(options?: { signal?: AbortSignal }): Promise<void>
  /** Stops the service, finishes the registrations in progress, closes the registry and the node. */
  stop(): Promise<void>
  /** The Operator's node (after start). */
  readonly node: KomradeNode
  /** The registry (after start; undefined when discovery only). */
  readonly registry?: Registry
  /** The Operator's public identity, 128 hex: what networks pin (after start). */
  readonly identity: string
  /** The node's addresses, with `/p2p/<peer id>`: what nodes use as bootstrap (after start). */
  readonly addresses: string[]
}

/** Message ids remembered so a request seen both live and in the inbox is answered once. */
const MAX_REMEMBERED_REQUESTS = 10_000

async function loadOrCreateIdentity (crypto: CryptoProvider, dataDir: string): Promise<Identity> {
  try {
    return await readIdentityFile(crypto, dataDir)
  } catch (error) {
    if (!(error instanceof NoIdentityError)) throw error
  }
  try {
    return await createIdentityFile(crypto, dataDir)
  } catch (error) {
    if (error instanceof IdentityExistsError) return await readIdentityFile(crypto, dataDir)
    throw error
  }
}

/** Creates an Operator over a data directory. Call `start()` to run it. */
export function createOperator (init: OperatorInit): Operator {
  const crypto = init.crypto ?? nativeCrypto()
  const log = init.logger ?? silentLogger()
  const networkName = init.networkName ?? 'komrade'
  const keepsRegistry = init.registry !== false
  const limits = resolveRateLimits(init.rateLimits)
  let node: KomradeNode | undefined
  let registry: Registry | undefined
  let service: RegistryService | undefined
  let identityHex: string | undefined
  let floodBucket: TokenBucket | undefined
  let headTimer: NodeJS.Timeout | undefined
  let offeredSize = -1
  let running = false
  const floodTasks = new Set<Promise<void>>()
  const seenRequests = new Set<string>()
  /** Contacts the node held at start (not senders of requests left unanswered): never removed here. */
  let keptContacts = new Set<string>()
  /** Flood requests being handled, by sender: its contact goes once the last one is done. */
  const handling = new Map<string, number>()

  function need<T> (value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`The Operator has no ${what} yet; call start() first`)
    return value
  }

  /** Hands the current head to the node when the log grew since the last one (an empty log has nothing to announce). */
  async function offerHead (): Promise<void> {
    if (registry === undefined || node === undefined || !running || registry.size === offeredSize || registry.size === 0) return
    const head = registry.head()
    offeredSize = head.size
    await node.offerTreeHead(head.bytes).catch((error: unknown) => { log.warn('could not gossip the tree head', { error, size: head.size }) })
  }

  /**
   * The answer to a registration through the flood: the `register` op's. A
   * request already in the log (the sender retried, or we crashed before
   * answering) is answered with its certificate when it is the name's
   * latest entry: the flood has no other way to hand it back.
   */
  async function floodAnswer (body: Uint8Array): Promise<Uint8Array> {
    const answer = await answerRegistryRequest(registry, 'register', body, log)
    if (registry === undefined || answer[0] !== RegistryErrorCode.REPLAYED) return answer
    const found = await registry.lookup(decodeRegistrationRequest(body).name, 0) // it decoded once already: it is in the log
    if (!found.ok) return answer
    const { certificate, head, inclusion } = found.value
    if (!equalBytes(decodeCertificate(certificate).entry.request.bytes, body)) return answer
    return encodeRegisterResponse({ certificate, head: head.bytes, inclusion })
  }

  /** The node hands registration requests over as `registry-request` events (kind checked again here). */
  function onRequest (event: Event): void {
    const message = (event as CustomEvent<ReceivedMessage>).detail
    if (message.kind === KIND_REGISTRY_REQUEST) handleFloodRequest(message)
  }

  function handleFloodRequest (message: ReceivedMessage): void {
    const current = node
    if (seenRequests.has(message.id) || !running || current === undefined) return
    seenRequests.add(message.id)
    if (seenRequests.size > MAX_REMEMBERED_REQUESTS) seenRequests.delete(seenRequests.values().next().value!)
    handling.set(message.from, (handling.get(message.from) ?? 0) + 1)
    let done = false
    const task = (async () => {
      if (floodBucket?.take() === false) {
        // Answering costs an envelope's proof of work: past the limit the request is dropped, and the sender retries.
        log.warn('flood registration dropped: over the rate limit', { from: message.from })
      } else {
        const response = await floodAnswer(message.body)
        try {
          await current.send(message.fromIdentity, response, { kind: KIND_REGISTRY_RESPONSE })
        } catch (error) {
          // Left in the inbox, and the sender's session kept: answered on it at the next start.
          log.warn('could not answer a flood registration', { error, from: message.from })
          return
        }
        log.info('flood registration answered', { from: message.from, status: response[0] })
      }
      done = true
      await current.deleteMessages([message.id]).catch((error: unknown) => { log.warn('could not delete a registration request', { error }) })
    })().catch((error: unknown) => { log.error('flood registration failed', { error }) })
      .finally(async () => {
        await forgetRegistrant(current, message.from, done)
        floodTasks.delete(task)
      })
    floodTasks.add(task)
  }

  /**
   * One request of `contactId` handled: once none is left, the contact its
   * first contact made goes (the answer is sealed and queued already). Kept
   * when the node held it at start, or when a request could not be answered
   * (its answer needs the session, at the next start).
   */
  async function forgetRegistrant (current: KomradeNode, contactId: string, answered: boolean): Promise<void> {
    const left = (handling.get(contactId) ?? 1) - 1
    if (!answered) keptContacts.add(contactId)
    if (left > 0) {
      handling.set(contactId, left)
      return
    }
    handling.delete(contactId)
    if (keptContacts.has(contactId)) return
    await current.contacts.remove(contactId).catch((error: unknown) => { log.warn('could not forget a flood registrant', { error, from: contactId }) })
  }

  const operator = {
    async start (options: { signal?: AbortSignal } = {}) {
      if (running) return
      await mkdir(init.dataDir, { recursive: true, mode: 0o700 })
      const identity = await loadOrCreateIdentity(crypto, init.dataDir)
      identityHex = toHex(encodePublicIdentity(identity))
      options.signal?.throwIfAborted()
      const nodeInit: KomradeNodeInit & { operator?: { identity: string, addresses: string[] } } = {
        dataDir: init.dataDir,
        crypto,
        logger: log,
        networkName,
        autoDeleteAfterMs: OPERATOR_AUTO_DELETE_MS,
        // No cover traffic: the Operator is a known public server, so its timing hides no one, and its
        // answers to flood registrations must not queue a minute each behind cover slots.
        cover: false,
        ...(init.listen === undefined ? {} : { listen: init.listen }),
        ...(init.announce === undefined ? {} : { announce: init.announce }),
        ...(init.bootstrap === undefined ? {} : { bootstrap: init.bootstrap }),
        ...(init.quotaBytes === undefined ? {} : { quotaBytes: init.quotaBytes }),
        ...(init.workThreads === undefined ? {} : { workThreads: init.workThreads }),
        ...(init.tor === undefined ? {} : { tor: init.tor }),
        // The node relays (and checks) this Operator's heads like any node pinning it.
        ...(keepsRegistry ? { operator: { identity: identityHex, addresses: [] } } : {})
      }
      node = createKomradeNode(nodeInit)
      await node.start(options)
      try {
        if (keepsRegistry) {
          registry = await openRegistry({
            dbPath: join(init.dataDir, REGISTRY_DIR),
            crypto,
            operator: identity,
            ...(init.workTrials === undefined ? {} : { workTrials: init.workTrials }),
            logger: log.child('registry')
          })
        }
        service = createRegistryService({
          libp2p: node.network.libp2p,
          ...(registry === undefined ? {} : { registry }),
          networkName,
          rateLimits: limits,
          logger: log.child('registry-protocol')
        })
        await service.start()
        floodBucket = limits === false ? undefined : createTokenBucket(limits.flood)
        running = true
        const contactsAtStart = node.contacts.list().map((contact) => contact.id)
        node.addEventListener('registry-request', onRequest)
        // Requests that arrived while we were down, or that we took but did not answer before a crash.
        const waiting = await node.inbox({ kind: KIND_REGISTRY_REQUEST })
        const waitingSenders = new Set(waiting.map((message) => message.from))
        keptContacts = new Set(contactsAtStart.filter((id) => !waitingSenders.has(id)))
        for (const message of waiting) handleFloodRequest(message)
        offeredSize = -1
        void offerHead()
        headTimer = setInterval(() => { void offerHead() }, HEAD_OFFER_INTERVAL_MS)
        headTimer.unref()
        log.info('operator started', {
          identity: identityHex, registry: registry === undefined ? 'none (discovery only)' : { entries: registry.size, workTrials: registry.info().workTrials }
        })
      } catch (error) {
        await operator.stop()
        throw error
      }
    },

    async stop () {
      running = false
      if (headTimer !== undefined) clearInterval(headTimer)
      headTimer = undefined
      node?.removeEventListener('registry-request', onRequest)
      await service?.stop().catch((error: unknown) => { log.warn('registry service did not stop cleanly', { error }) })
      await Promise.allSettled([...floodTasks])
      await registry?.close().catch((error: unknown) => { log.error('registry did not close cleanly', { error }) })
      await node?.stop()
      service = undefined
      registry = undefined
    },

    get node () { return need(node, 'node') },
    get registry () { return registry },
    get identity () { return need(identityHex, 'identity') },
    get addresses () { return need(node, 'node').status().addresses }
  }
  return operator
}
