/**
 * The registry side of a node with an Operator configured: the cache, the
 * view of the log, the client and the name service put together, plus the
 * tree-head gossip (publish our latest head when it changes and every 10
 * minutes; check every head that arrives) and the hourly re-lookup of
 * contacts' names.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import {
  decodePublicIdentity, decodeTreeHead, encodePublicIdentity, fromHex, identityId, PUBLIC_IDENTITY_HEX_PATTERN, toHex, verifyTreeHead,
  type CryptoProvider, type Identity, type PublicIdentity
} from '../../protocol/index.js'
import type { Logger } from '../logger.js'
import { NoOperatorError } from './errors.js'
import { openNameCache } from './name-cache.js'
import { createNameService, type KeyChange, type NameService, type RegistryMessage } from './name-service.js'
import { createRegistryClient } from './registry-client.js'
import { createTreeHeads, type HeadOutcome, type SplitViewEvidence, type TreeHeads } from './tree-heads.js'
import { verifyHeadBytes } from './verify.js'

/** Publish our latest head this often even when it did not change, so newcomers and partitions compare notes. */
export const TREE_HEAD_GOSSIP_INTERVAL_MS = 10 * 60_000
/** Look up every contact's name again this often, to notice key changes. */
export const NAME_REFRESH_INTERVAL_MS = 60 * 60_000
/** Wait after a peer joins the tree-head topic before offering it our head: a burst of joins costs one publish. */
const HEAD_PUBLISH_DELAY_MS = 200

/** The Operator a node trusts, as configured. */
export interface OperatorConfig {
  /** The Operator's public identity, 128 hex characters. */
  identity: string
  /** Its multiaddrs, ending in /p2p/<peer id>. */
  addresses: string[]
}

/** The registry part of `status()`. */
export interface RegistryStatus {
  /** Hex public identity of the pinned Operator. */
  readonly operator: string
  /** The latest verified tree head. */
  readonly head?: { readonly size: number, readonly timestamp: number, readonly root: string }
  /** Pieces of split-view evidence kept. */
  readonly splitViews: number
}

/** What the node hands to {@link openNodeRegistry}. */
export interface NodeRegistryInit {
  crypto: CryptoProvider
  identity: Identity
  operator: PublicIdentity
  addresses: string[]
  networkName: string
  /** The node's database; the registry keeps its records in the sublevel 'registry'. */
  db: Parameters<typeof openNameCache>[0]
  libp2p: Libp2p
  logger: Logger
  publishTreeHead(head: Uint8Array): Promise<{ recipients: number }>
  sendMessage(to: PublicIdentity, body: Uint8Array, kind: number, ttlMinutes: number): Promise<string>
  deleteMessages(ids: string[]): Promise<number>
  addContact(identity: PublicIdentity): Promise<void>
  forgetSessions(peer: PublicIdentity, options: { keepContact: boolean }): Promise<void>
  contactIdentity(contactId: string): PublicIdentity | undefined
  onKeyChange(change: KeyChange): void
  onSplitView(evidence: SplitViewEvidence): void
}

/** The registry side of a running node. */
export interface NodeRegistry {
  readonly names: NameService
  readonly heads: TreeHeads
  /** True when this node's identity is the Operator's: its own heads need no proof. */
  readonly isOperator: boolean
  /** Starts the gossip and refresh timers, and publishes the head we hold. */
  start(): void
  stop(): void
  /** A head from the gossip topic (already verified by the topic validator). */
  receiveHead(bytes: Uint8Array): void
  /** A head handed in by the embedder (the Operator announcing its own). Throws RegistryVerificationError. */
  offerTreeHead(bytes: Uint8Array): Promise<HeadOutcome>
  /** A peer joined the tree-head topic: let it hear our head soon. */
  peerJoined(): void
  onRegistryResponse(message: RegistryMessage): void
  status(): RegistryStatus
}

/**
 * Checks the `operator` option at the boundary: a 128-hex identity and an
 * array of multiaddrs. Throws TypeError naming the field.
 */
export function checkOperatorConfig (config: OperatorConfig): { identity: PublicIdentity, addresses: string[] } {
  if (config === null || typeof config !== 'object') throw new TypeError('"operator" expected { identity, addresses }')
  if (typeof config.identity !== 'string' || !PUBLIC_IDENTITY_HEX_PATTERN.test(config.identity)) {
    throw new TypeError('"operator.identity" expected the Operator\'s public identity: 128 hex characters')
  }
  const addresses = config.addresses ?? []
  if (!Array.isArray(addresses)) throw new TypeError('"operator.addresses" expected an array of multiaddrs')
  for (const [i, address] of addresses.entries()) {
    try {
      if (typeof address !== 'string') throw new TypeError('not a string')
      multiaddr(address)
    } catch {
      throw new TypeError(`"operator.addresses[${i}]" expected a multiaddr such as /ip4/203.0.113.7/tcp/4001/p2p/12D3Koo…, got ${JSON.stringify(address)}`)
    }
  }
  return { identity: decodePublicIdentity(fromHex(config.identity)), addresses: [...addresses] }
}

/** True when `bytes` is a version-1 tree head signed by `operatorKey`; never throws. For the gossip validator. */
export function isOperatorTreeHead (crypto: CryptoProvider, operatorKey: Uint8Array, bytes: Uint8Array): boolean {
  try {
    return verifyTreeHead(crypto, operatorKey, decodeTreeHead(bytes))
  } catch {
    return false
  }
}

/** Opens the registry side of a node: reads the cache, builds the client. */
export async function openNodeRegistry (init: NodeRegistryInit): Promise<NodeRegistry> {
  const { crypto, logger } = init
  const log = logger.child('registry')
  const operatorKey = init.operator.signingKey
  const cache = openNameCache(init.db)
  const client = createRegistryClient({
    libp2p: init.libp2p, networkName: init.networkName, operator: init.operator, addresses: init.addresses, crypto
  })
  const timers: NodeJS.Timeout[] = []
  let publishSoon: NodeJS.Timeout | undefined
  let running = false
  /** Aborted at stop: a refresh of the contacts' names in progress ends there, its lookups with it. */
  let stopping = new AbortController()

  function publishLatest (): void {
    const latest = heads.latest()
    if (latest === undefined || !running) return
    init.publishTreeHead(latest.bytes).catch((error: unknown) => { log.debug('could not gossip our tree head', { error }) })
  }

  const heads = createTreeHeads({
    crypto, operatorKey, cache, logger: log,
    fetchConsistency: async (from, to) => await client.consistency(from, to),
    onAdopted: () => { publishLatest() },
    onSplitView: (evidence) => {
      init.onSplitView(evidence)
      // Pass the contradiction on: a peer that was shown only one of the two heads (say, by gossip
      // from us before our own lookup's answer) learns of the other and keeps the evidence too.
      if (!running) return
      for (const head of evidence.heads) {
        init.publishTreeHead(fromHex(head)).catch((error: unknown) => { log.debug('could not gossip a split-view head', { error }) })
      }
    }
  })
  await heads.load()
  const names = createNameService({
    crypto, identity: init.identity, operator: init.operator, client, heads, cache, logger,
    sendMessage: init.sendMessage, deleteMessages: init.deleteMessages, addContact: init.addContact,
    forgetSessions: init.forgetSessions, contactIdentity: init.contactIdentity, onKeyChange: init.onKeyChange
  })
  await names.load()
  const isOperator = identityId(init.identity) === identityId(init.operator)

  return {
    names,
    heads,
    isOperator,
    start () {
      running = true
      if (stopping.signal.aborted) stopping = new AbortController()
      const signal = stopping.signal
      timers.push(setInterval(publishLatest, TREE_HEAD_GOSSIP_INTERVAL_MS))
      timers.push(setInterval(() => { void names.refreshContacts({ signal }) }, NAME_REFRESH_INTERVAL_MS))
      for (const timer of timers) timer.unref()
      publishLatest()
      if (!isOperator) void names.refreshContacts({ signal })
    },
    stop () {
      running = false
      stopping.abort()
      for (const timer of timers.splice(0)) clearInterval(timer)
      clearTimeout(publishSoon)
    },
    receiveHead (bytes) {
      let head
      try {
        head = verifyHeadBytes(crypto, operatorKey, bytes)
      } catch (error) {
        log.debug('dropped a gossiped tree head', { error })
        return
      }
      heads.offer(head).catch((error: unknown) => { log.warn('could not check a gossiped tree head', { error }) })
    },
    async offerTreeHead (bytes) {
      return await heads.offer(verifyHeadBytes(crypto, operatorKey, bytes), { own: isOperator })
    },
    peerJoined () {
      if (!running || publishSoon !== undefined) return
      publishSoon = setTimeout(() => { publishSoon = undefined; publishLatest() }, HEAD_PUBLISH_DELAY_MS)
      publishSoon.unref()
    },
    onRegistryResponse (message) { names.onRegistryResponse(message) },
    status () {
      const latest = heads.latest()
      return {
        operator: toHex(encodePublicIdentity(init.operator)),
        ...(latest === undefined ? {} : { head: { size: latest.size, timestamp: latest.timestamp, root: toHex(latest.root) } }),
        splitViews: heads.evidence().length
      }
    }
  }
}

/** The registry of a node, or NoOperatorError when it has none. */
export function needRegistry (registry: NodeRegistry | undefined): NodeRegistry {
  if (registry === undefined) throw new NoOperatorError()
  return registry
}
