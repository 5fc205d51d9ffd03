/**
 * The names part of the node's API (SPEC §13): contacts added by name or
 * invite code, `register`, `lookup`, `invite`, `offerTreeHead`, the
 * tree-head topic, and the routing of registry messages (kinds 0x10 and
 * 0x11) that reach the node through the flood. komrade-node.ts forwards to
 * it. Without an Operator configured, invites and identities still work and
 * the name operations throw NoOperatorError.
 */
import { NodeNotRunningError } from '../errors.js'
import type { Libp2p } from '@libp2p/interface'
import {
  decodePublicIdentity, encodeInvite, encodePublicIdentity, fromHex, identityId, KIND_REGISTRY_REQUEST, KIND_REGISTRY_RESPONSE, publicIdentityOf, toHex,
  type CryptoProvider, type Identity, type PublicIdentity
} from '../../protocol/index.js'
import { dialInviteAddresses, inviteAddresses, parseContactInput } from '../contact-input.js'
import type { ReceivedMessage } from '../komrade-node.js'
import type { Logger } from '../logger.js'
import type { NameRecord } from './name-service.js'
import {
  checkOperatorConfig, isOperatorTreeHead, needRegistry, openNodeRegistry, type NodeRegistry, type NodeRegistryInit, type OperatorConfig,
  type RegistryStatus
} from './node-registry.js'
import type { HeadOutcome } from './tree-heads.js'

/** Kinds the node routes itself: never in `inbox()` or `messages()` unless asked for by kind. */
export const REGISTRY_KINDS: ReadonlySet<number> = new Set([KIND_REGISTRY_REQUEST, KIND_REGISTRY_RESPONSE])

type Options = { signal?: AbortSignal }

/** Options of {@link createNodeNames}. */
export interface NodeNamesInit {
  crypto: CryptoProvider
  logger: Logger
  networkName: string
  /** The node's `operator` option, checked here (TypeError naming the field). */
  operator?: OperatorConfig
  /** Where 'key-change', 'split-view' and (on an Operator's node) 'registry-request' are dispatched: the node. */
  events: EventTarget
}

/** What the running node lends the names part when it starts: its database, host, keyring and outbox. */
export type NodeNamesParts = Pick<NodeRegistryInit,
  'identity' | 'db' | 'publishTreeHead' | 'sendMessage' | 'deleteMessages' | 'addContact' | 'forgetSessions' | 'contactIdentity'> & {
  libp2p: Libp2p
}

/** A contact to add, resolved: its keys, and the name the registry confirmed for them. */
export interface ResolvedContact {
  readonly identity: PublicIdentity
  readonly name?: string
}

/** The names part of a node; see {@link createNodeNames}. */
export interface NodeNames {
  /** The tree-head topic's validator and handler for the network; undefined without an Operator. */
  readonly treeHeads: { verify(head: Uint8Array): boolean, onTreeHead(head: Uint8Array): void } | undefined
  /** Opens the registry side (with an Operator configured) over the started node's parts. */
  open(parts: NodeNamesParts): Promise<void>
  /** Starts the gossip and refresh timers. */
  start(): void
  stop(): void
  /** A peer subscribed to the tree-head topic. */
  peerJoined(): void
  /** A registry message from the flood: to the name service, to the Operator ('registry-request'), or deleted. */
  route(message: ReceivedMessage): void
  /** True for a stored registry message nobody here will read (an answer from a previous run). */
  isStale(kind: number): boolean
  /** The registered name of a contact, if the registry confirmed one. */
  contactName(contactId: string): string | undefined
  /** Resolves what `contacts.add` was given: a hex identity, an invite (its addresses dialed, its name confirmed) or a name. */
  resolveContact(input: string | PublicIdentity, options?: Options): Promise<ResolvedContact>
  /** The contact was added: remember its confirmed name. */
  contactAdded(contact: ResolvedContact): Promise<void>
  /** The contact was removed: forget its name. */
  contactRemoved(contactId: string): Promise<void>
  /** Registers `name` for our identity, or for `identity` (a group's keys, node/collectives/). */
  register(name: string, options?: Options & { via?: 'direct' | 'flood', onProgress?: (trials: number, expected: number) => void, identity?: Identity }): Promise<NameRecord>
  lookup(name: string, options?: Options & { cacheOnly?: boolean }): Promise<NameRecord>
  /** An invite code with `identity`, our registered name if any, and the dialable ones of `addresses`. */
  invite(identity: Identity, addresses: string[]): string
  offerTreeHead(head: Uint8Array): Promise<HeadOutcome>
  /** The registry part of `status()`; undefined without an Operator. */
  status(): RegistryStatus | undefined
}

/** Creates the names part of a node; throws TypeError for a malformed `operator` option. */
export function createNodeNames (init: NodeNamesInit): NodeNames {
  const { crypto, logger, events } = init
  const operator = init.operator === undefined ? undefined : checkOperatorConfig(init.operator)
  let registry: NodeRegistry | undefined
  let parts: NodeNamesParts | undefined

  function started (): NodeNamesParts {
    if (parts === undefined) throw new NodeNotRunningError()
    return parts
  }

  return {
    treeHeads: operator === undefined
      ? undefined
      : {
          verify: (head) => isOperatorTreeHead(crypto, operator.identity.signingKey, head),
          onTreeHead: (head) => { registry?.receiveHead(head) }
        },

    async open (given) {
      parts = given
      if (operator === undefined) return
      registry = await openNodeRegistry({
        ...given, crypto, logger, operator: operator.identity, addresses: operator.addresses, networkName: init.networkName,
        onKeyChange: (change) => events.dispatchEvent(new CustomEvent('key-change', { detail: change })),
        onSplitView: (evidence) => events.dispatchEvent(new CustomEvent('split-view', { detail: evidence }))
      })
    },

    start () { registry?.start() },

    stop () {
      registry?.stop()
      registry = undefined
      parts = undefined
    },

    peerJoined () { registry?.peerJoined() },

    route (message) {
      if (message.kind === KIND_REGISTRY_RESPONSE && registry !== undefined) {
        registry.onRegistryResponse({ id: message.id, from: message.from, body: message.body })
      } else if (message.kind === KIND_REGISTRY_REQUEST && registry?.isOperator === true) {
        events.dispatchEvent(new CustomEvent('registry-request', { detail: message }))
      } else {
        void parts?.deleteMessages([message.id]).catch(() => {}) // nobody here reads it
      }
    },

    isStale: (kind) => kind === KIND_REGISTRY_RESPONSE || (kind === KIND_REGISTRY_REQUEST && registry?.isOperator !== true),

    contactName: (contactId) => registry?.names.contactName(contactId),

    async resolveContact (contact, options = {}) {
      const input = parseContactInput(contact, crypto)
      if (input.kind === 'identity') return { identity: input.identity }
      if (input.kind === 'name') {
        const record = await needRegistry(registry).names.lookup(input.name, options)
        return { identity: decodePublicIdentity(fromHex(record.identity)), name: record.name }
      }
      const identity = input.invite.identity
      dialInviteAddresses(started().libp2p, input.invite.addresses, logger)
      // The invite's name is what the inviter says; it is attached once the registry confirms it.
      if (input.invite.name === undefined || registry === undefined) return { identity }
      const record = await registry.names.lookup(input.invite.name, options).catch((error: unknown) => {
        logger.debug('could not confirm the name in an invite', { error })
        return undefined
      })
      if (record !== undefined && record.identity === toHex(encodePublicIdentity(identity))) return { identity, name: record.name }
      if (record !== undefined) logger.warn('the name in an invite belongs to other keys; the contact was added without it', { name: record.name })
      return { identity }
    },

    async contactAdded (contact) {
      if (contact.name !== undefined) await registry?.names.setContactName(identityId(contact.identity), contact.name)
    },

    async contactRemoved (contactId) {
      if (registry?.names.contactName(contactId) !== undefined) await registry.names.setContactName(contactId, undefined)
    },

    async register (name, options = {}) {
      started()
      return await needRegistry(registry).names.register(name, options)
    },

    async lookup (name, options = {}) {
      started()
      return await needRegistry(registry).names.lookup(name, options)
    },

    invite (identity, addresses) {
      const name = registry?.names.ownName()
      return encodeInvite({ identity: publicIdentityOf(identity), ...(name === undefined ? {} : { name }), addresses: inviteAddresses(addresses) }, crypto)
    },

    async offerTreeHead (head) {
      started()
      return await needRegistry(registry).offerTreeHead(head)
    },

    status: () => registry?.status()
  }
}
