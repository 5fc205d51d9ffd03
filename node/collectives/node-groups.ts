/**
 * Groups on a node (SPEC §15): `node.groups`, the `group`, `group-post` and
 * `vote` events, and what delivery hands over for groups (ops and posts on
 * member chains, votes on anonymous channels, join requests and welcomes).
 *
 * The log side (fold, reconcile, sealing, welcomes, rekeys) is in
 * group-sync.ts, what comes from others (join requests, posts, votes,
 * welcomes) in group-incoming.ts, posts and votes as stored in
 * group-content.ts, the public shapes in
 * group-views.ts, the stored records in group-store.ts. Every step that
 * changes state runs in delivery's turn: incoming ones in `ingest`, ours
 * through `delivery.queue`, their writes in one batch, events after it.
 */
import {
  createFoundOp, createGroupOp, createIdentity, identityFromSecrets, createJoinRequest, createVote, decodeGroupOp, decodeJoinRequest,
  decodeVote, encodePost, encodePublicIdentity, foldGroup, fromHex, identityId, KIND_GROUP_OP, KIND_GROUP_WELCOME,
  KIND_JOIN_REQUEST, KIND_POST, KIND_VOTE, normalizeName, checkConstitution, toHex, voteKeyPair,
  type CryptoProvider, type GroupOp, type GroupRings, type GroupState, type Identity, type PublicIdentity,
  type SealedPost
} from '../../protocol/index.js'
import type { CollectivesDirect, Delivery } from '../delivery.js'
import { NodeNotRunningError } from '../errors.js'
import type { LocalOp, StateChange } from '../local-state.js'
import type { Logger } from '../logger.js'
import { expiresAtOf } from '../social/incoming.js'
import { checkPostInput } from '../social/post-input.js'
import type { ChannelSet } from './channels.js'
import { WELCOME_RETRY_MS } from './collectives-constants.js'
import {
  AlreadyAGroupMemberError, AlreadyVotedError, NoJoinRequestError, NotAContactError, NotAGroupMemberError, NotAMemberError,
  ProposalClosedError, UnknownGroupError, UnknownGroupPostError
} from './errors.js'
import { createGroupContent } from './group-content.js'
import { createGroupIncoming } from './group-incoming.js'
import { createGroupSync, type Step } from './group-sync.js'
import { keys, openGroupStore, padded, type GroupRecord, type GroupStore, type LiveGroup, type StoredGroupPost } from './group-store.js'
import { groupInfo, groupView, locationOf, proposalInfo } from './group-views.js'
import type { GroupFeedPage, GroupPost, GroupsApi, JoinRequestInfo } from './types.js'

/** What the groups need from the node, given when it is created. */
export interface NodeGroupsInit {
  crypto: CryptoProvider
  logger: Logger
  /** Where `group`, `group-post` and `vote` are dispatched: the node. */
  events: EventTarget
  /** Lifetime of ops, requests, welcomes and votes. */
  ttlMinutes: number
  /** Rekey delay per rank. */
  rekeyStaggerMs: number
  /** The pinned Operator key: names in group posts' certificates are checked under it. */
  operatorKey?: Uint8Array
}

/** What the started node lends the groups. */
export interface NodeGroupsParts {
  identity: Identity
  db: Parameters<typeof openGroupStore>[0]
  delivery: Delivery
  channels: ChannelSet
  /** Registers `name` with the group's keys (the node's registry client). */
  registerName(name: string, identity: Identity, options: { signal?: AbortSignal }): Promise<unknown>
  /** The keys a name is registered to (verified lookup). */
  lookupName(name: string, options: { signal?: AbortSignal }): Promise<PublicIdentity>
  /** A contact by id, hex identity, name or @name; undefined when it is none. */
  findContact(contact: string): PublicIdentity | undefined
  hasSession(contactId: string): boolean
  contactName(contactId: string): string | undefined
  ownCertificate(): Promise<{ name: string, certificate: Uint8Array } | undefined>
}

type Group = LiveGroup


/** What the groups hand back to the dispatcher for a payload a plugin takes (events, pins). */
export interface GroupPayloadSource {
  readonly group: { readonly id: string, readonly name: string }
  readonly epoch?: number
}

/** The groups part of a node; see the file comment. */
export interface NodeGroups {
  readonly api: GroupsApi
  /** Every group's ring, for the screener. */
  readonly rings: GroupRings
  open(parts: NodeGroupsParts): Promise<void>
  close(): void
  /** A group chain envelope: ring state, then ops and posts (other kinds return the group for the plugins). */
  absorbChain(groupId: string, authorId: string, kind: number, payload: Uint8Array | undefined, meta: PayloadMeta, change: StateChange, after: Array<() => void>): Promise<Uint8Array[]>
  /** A group anonymous channel payload of kind 0x33, from the channel of `epoch` (absent: the current epoch). */
  absorbVote(groupId: string, payload: Uint8Array, expiresAt: number, change: StateChange, after: Array<() => void>, epoch?: number): Promise<void>
  /** A pairwise join request or welcome. */
  absorbDirect(message: CollectivesDirect, change: StateChange, after: Array<() => void>): Promise<Uint8Array[]>
  /** The group a plugin payload belongs to (undefined when unknown). */
  groupRef(groupId: string): { id: string, name: string } | undefined
  /** A group we are a member of (name, @name or id). */
  memberGroup(group: string): { id: string, name: string }
  /** Seals a payload on our chain of `groupId`, or anonymously on its channel (one-time `author`). */
  seal(groupId: string, kind: number, payload: Uint8Array, ttlMinutes: number, anonymous: boolean, author?: Identity): { sealed: SealedPost, ops: LocalOp[] }
  /** Deletes expired posts and their votes. */
  housekeeping(now: number): Promise<void>
  /** Test hooks: raw publication (a hostile member) and a join request as if received. */
  readonly testing: {
    /** Seals raw bytes on our chain (an op also goes into our log, as a relayed op would) or the anonymous channel. */
    publishRaw(group: string, kind: number, payload: Uint8Array, anonymous: boolean): Promise<void>
    receiveJoinRequest(bytes: Uint8Array, from: PublicIdentity): Promise<void>
    /** A vote as if it came on the group's anonymous channel of `epoch` (default: the current one). */
    receiveVote(group: string, bytes: Uint8Array, options?: { epoch?: number, expiresAt?: number }): Promise<void>
    /** A group post as if it came on `author`'s chain. */
    receivePost(group: string, author: PublicIdentity, payload: Uint8Array, meta: { messageId: string, sentAt: number, expiresAt: number }): Promise<void>
    /** A pairwise welcome as if it came from `from`. */
    receiveWelcome(bytes: Uint8Array, from: PublicIdentity): Promise<void>
    housekeeping(now: number): Promise<void>
    /** Resolves once the re-checks of waiting votes started so far are done. */
    settled(): Promise<void>
    /** Work done so far: full folds, vote verifications, welcomes opened. */
    counters(): { folds: number, voteVerifications: number, welcomesOpened: number }
    /** Whose chains the group's ring holds. */
    ringAuthors(group: string): string[]
    state(group: string): GroupState
  }
}

/** Author, timing and envelope facts of an incoming payload. */
export interface PayloadMeta {
  readonly author: PublicIdentity
  readonly sentAt: number
  readonly messageId: string
  readonly expiresAt: number
}

const HEX64 = /^[0-9a-f]{64}$/
const POST_ID = /^[0-9a-f]{96}$/
const DEFAULT_FEED_LIMIT = 20
const MAX_FEED_LIMIT = 100

/** Creates the groups part; `open` it when the node starts. */
export function createNodeGroups (init: NodeGroupsInit): NodeGroups {
  const { crypto, events } = init
  const log = init.logger.child('groups')
  const groups = new Map<string, Group>()
  let parts: NodeGroupsParts | undefined
  let store: GroupStore | undefined
  let ownId = ''
  let welcomeTimer: NodeJS.Timeout | undefined
  /** True while open() re-derives the channels from stored secrets: nothing new to look for then. */
  let loading = false
  const counters = { folds: 0, voteVerifications: 0, welcomesOpened: 0 }

  function started (): { parts: NodeGroupsParts, store: GroupStore } {
    if (parts === undefined || store === undefined) throw new NodeNotRunningError()
    return { parts, store }
  }

  const emit = (type: 'group' | 'group-post' | 'vote', detail: unknown): void => { events.dispatchEvent(new CustomEvent(type, { detail })) }

  // --- Reading the state ----------------------------------------------------------------------

  function find (arg: string): Group | undefined {
    if (typeof arg !== 'string' || arg.length === 0) throw new TypeError('"group" expected a group name, @name or group id')
    const lower = arg.toLowerCase()
    if (HEX64.test(lower)) return groups.get(lower)
    let name: string
    try {
      name = normalizeName(arg.startsWith('@') ? arg.slice(1) : arg)
    } catch {
      return undefined
    }
    return [...groups.values()].find((g) => g.record.name === name)
  }

  function need (arg: string): Group {
    const g = find(arg)
    if (g === undefined) throw new UnknownGroupError(arg)
    return g
  }

  function needMember (arg: string): Group {
    const g = need(arg)
    if (g.record.membership !== 'member' || !g.state.members.has(ownId)) {
      throw new NotAGroupMemberError(arg, g.record.membership === 'member' ? 'former' : g.record.membership)
    }
    return g
  }

  const sync = createGroupSync({
    crypto, log, ttlMinutes: init.ttlMinutes, rekeyStaggerMs: init.rekeyStaggerMs, groups,
    started, running: () => (parts === undefined || store === undefined ? undefined : { parts, store }),
    ownId: () => ownId, loading: () => loading, emit,
    onAdmitted: (g) => {
      if (g.pendingVotes > 0 && !loading) setImmediate(() => { if (parts !== undefined) promoteVotes(g, `pvote!${g.record.id}!`) })
    },
    onFold: () => { counters.folds++ }
  })
  const { fold, reconcile, addOps, prune, applyOps, seal, queueStep, publishOp, causal, scanChannel, clearRekey, scheduleRekey, retryWelcomes, recordOp, ringOp } = sync

  const content = createGroupContent({
    store: () => started().store,
    identity: () => started().parts.identity,
    groupName: (id) => groups.get(id)?.record.name
  })
  const { postOf, preparePost, tallyOf, prepareVote } = content

  function newGroup (record: GroupRecord): Group {
    const g: Group = {
      record, ops: new Map(), decoded: new Map(), state: foldGroup(crypto, [], { groupId: record.id }), ring: started().store.newRing(), requests: new Map(),
      posts: 0, votes: 0, pending: new Set(), appliedBy: new Map(), pendingVotes: 0, failedVotes: new Set()
    }
    groups.set(record.id, g)
    return g
  }

  const emptyRecord = (id: string, name: string): GroupRecord => ({
    version: 1, id, name, membership: 'pending', founder: false, secrets: {}, sends: {}, ringFed: {}, identities: {}, epochMembers: {}, vouchedFor: [], welcomed: [], welcomeWaiting: [],
    updatedAt: Date.now()
  })

  /** Forgets a group we never finished founding (its registration failed). */
  async function dropGroup (g: Group): Promise<void> {
    const { parts: p, store: s } = started()
    await p.delivery.queue(async () => {
      groups.delete(g.record.id)
      return { ops: [s.del(keys.group(g.record.id)), ...[...g.ops.keys()].map((id) => s.del(keys.op(g.record.id, id)))] }
    })
  }

  const incoming = createGroupIncoming({
    crypto, log, ...(init.operatorKey === undefined ? {} : { operatorKey: init.operatorKey }), groups, started, ownId: () => ownId, emit, counters, sync, content
  })
  const { takeJoinRequest, takePost, takeVote, promoteVotes, takeWelcome } = incoming

  // --- The API ----------------------------------------------------------------------------------------

  const api: GroupsApi = {
    async create (name, options = {}) {
      const { parts: p } = started()
      options.signal?.throwIfAborted()
      if (typeof name !== 'string') throw new TypeError('"name" expected a string')
      const normalized = normalizeName(name.startsWith('@') ? name.slice(1) : name)
      if (options.constitution !== undefined) checkConstitution(options.constitution)
      const held = find(normalized)
      // A founding a crash or a failed registration interrupted (our keys, our found op, not published yet) goes on.
      const resuming = held !== undefined && held.record.founder && held.record.membership === 'pending' && held.record.groupSeed !== undefined && held.ops.size === 1
      if (held !== undefined && !resuming) throw new AlreadyAGroupMemberError(normalized)
      let g: Group
      let found: Uint8Array
      if (resuming) {
        g = held!
        found = [...g.ops.values()][0]!
      } else {
        const group = createIdentity(crypto)
        const gid = toHex(group.signingKey)
        // The found op draws epoch 0's secret and commits to it (its check): that secret is ours to keep.
        const made = createFoundOp(crypto, {
          founder: p.identity, group, name: normalized, founderVoteKey: voteKeyPair(p.identity.signingSeed, group.signingKey).publicKey,
          ...(options.constitution === undefined ? {} : { constitution: options.constitution })
        })
        found = made.op
        // The group's keys and found op are stored before the name is registered to them: a crash after the
        // registration cannot lose the keys a name points to (create() again finishes the founding).
        let made2: Group | undefined
        await queueStep(async () => {
          made2 = newGroup({
            ...emptyRecord(gid, normalized), founder: true, groupSeed: toHex(group.signingSeed),
            groupSealingSecret: toHex(group.sealingSecret!), genesis: toHex(crypto.sha256(found)), secrets: { 0: { op: '', secret: toHex(made.epochSecret) } }
          })
          const step: Step = { ops: [], after: [], newTags: [] }
          addOps(made2, [found], step)
          return { send: {}, step: { ...step, ops: [...step.ops, recordOp(made2)] } }
        })
        g = made2!
      }
      const groupIdentity = identityFromSecrets(crypto, fromHex(g.record.groupSeed!), fromHex(g.record.groupSealingSecret!))
      try {
        await p.registerName(normalized, groupIdentity, options)
      } catch (error) {
        // Registered to these keys already (a resumed founding): go on; anything else undoes the founding.
        const registered = await p.lookupName(normalized, options).catch(() => undefined)
        if (registered === undefined || toHex(registered.signingKey) !== g.record.id) {
          if (!resuming) await dropGroup(g)
          throw error
        }
      }
      await queueStep(async () => {
        g.record.membership = 'member'
        g.record.joinedAt = Date.now()
        fold(g)
        const step = await reconcile(g)
        const { sealed, ops } = seal(g.record.id, KIND_GROUP_OP, found, init.ttlMinutes, false)
        return { send: { sealed: [{ to: 'group', kind: KIND_GROUP_OP, messageId: sealed.messageId, envelopes: sealed.envelopes }], ops }, step }
      }, g)
      return groupInfo(g)
    },

    async requestJoin (groupArg, options) {
      const { parts: p } = started()
      if (options === null || typeof options !== 'object' || typeof options.via !== 'string') throw new TypeError('"via" expected a contact who is a member of the group')
      options.signal?.throwIfAborted()
      let g = find(groupArg)
      let gid: string
      let name: string
      if (g !== undefined) {
        if (g.record.membership === 'member') throw new AlreadyAGroupMemberError(g.record.name)
        gid = g.record.id
        name = g.record.name
      } else if (HEX64.test(groupArg.toLowerCase())) {
        gid = groupArg.toLowerCase()
        name = ''
      } else {
        name = normalizeName(groupArg.startsWith('@') ? groupArg.slice(1) : groupArg)
        gid = toHex((await p.lookupName(name, options)).signingKey)
        g = groups.get(gid)
        if (g?.record.membership === 'member') throw new AlreadyAGroupMemberError(name)
      }
      const via = p.findContact(options.via)
      if (via === undefined) throw new NotAContactError(options.via)
      const request = createJoinRequest(crypto, {
        identity: p.identity, groupId: fromHex(gid), voteKey: voteKeyPair(p.identity.signingSeed, fromHex(gid)).publicKey,
        ...(options.note === undefined ? {} : { note: options.note })
      })
      let target: Group | undefined
      await queueStep(async () => {
        target = groups.get(gid) ?? newGroup(emptyRecord(gid, name))
        target.record.membership = 'pending'
        target.record.request = toHex(request)
        target.record.via = identityId(via)
        target.record.requestedAt = Date.now()
        const detail = groupInfo(target)
        return {
          send: { direct: [{ to: via, body: request, kind: KIND_JOIN_REQUEST, ttlMinutes: init.ttlMinutes }] },
          step: { ops: [recordOp(target)], after: [() => { emit('group', detail) }], newTags: [] }
        }
      })
      return groupInfo(target!)
    },

    async requests (groupArg) {
      started()
      const selected = groupArg === undefined ? [...groups.values()] : [need(groupArg)]
      const out: JoinRequestInfo[] = []
      for (const g of selected) {
        for (const r of g.requests.values()) {
          if (g.state.members.has(r.candidate)) continue
          const request = decodeJoinRequest(crypto, fromHex(r.bytes))
          const candidateName = parts?.contactName(r.candidate)
          out.push({
            group: { id: g.record.id, name: g.record.name }, candidate: r.candidate, candidateIdentity: toHex(encodePublicIdentity(request.candidate)),
            ...(candidateName === undefined ? {} : { candidateName }), note: request.note, requestedAt: request.timestamp, receivedAt: r.receivedAt,
            vouched: r.vouched || (g.state.candidates.get(r.candidate)?.vouchers.includes(ownId) ?? false)
          })
        }
      }
      return out.sort((a, b) => a.receivedAt - b.receivedAt)
    },

    async vouch (groupArg, candidate, options = {}) {
      const { parts: p } = started()
      options.signal?.throwIfAborted()
      const g = needMember(groupArg)
      if (typeof candidate !== 'string') throw new TypeError('"candidate" expected a contact id, hex identity or name')
      let cid = candidate.toLowerCase()
      if (/^[0-9a-f]{128}$/.test(cid)) cid = cid.slice(0, 64)
      else if (!HEX64.test(cid)) {
        const contact = p.findContact(candidate)
        if (contact === undefined) throw new NoJoinRequestError(g.record.name, candidate)
        cid = identityId(contact)
      }
      if (g.state.members.has(cid)) throw new AlreadyAGroupMemberError(`${candidate} in ${g.record.name}`)
      const bytes = g.requests.get(cid)?.bytes ?? (g.state.candidates.get(cid) === undefined ? undefined : toHex(g.state.candidates.get(cid)!.request.bytes))
      if (bytes === undefined) throw new NoJoinRequestError(g.record.name, candidate)
      if (g.state.candidates.get(cid)?.vouchers.includes(ownId) === true) return groupView(g, ownId, (id) => parts?.contactName(id))
      const request = g.requests.get(cid)
      await publishOp(g, () => {
        const op = createGroupOp(crypto, { author: p.identity, groupId: fromHex(g.record.id), ...causal(g), op: { type: 'vouch', request: fromHex(bytes) } })
        // We welcome them once admitted (the record goes into this batch with the op).
        if (!g.record.vouchedFor.includes(cid)) g.record.vouchedFor.push(cid)
        if (request !== undefined) request.vouched = true
        return op
      }, () => request === undefined ? [] : [started().store.put(keys.request(g.record.id, cid), request)])
      return groupView(g, ownId, (id) => parts?.contactName(id))
    },

    async propose (groupArg, proposal, reason, options = {}) {
      const { parts: p } = started()
      options.signal?.throwIfAborted()
      const g = needMember(groupArg)
      if (proposal === null || typeof proposal !== 'object') throw new TypeError('"proposal" expected { amend: constitution } or { remove: memberId }')
      if (reason !== undefined && typeof reason !== 'string') throw new TypeError('"reason" expected a string')
      let op: { type: 'propose', amend?: typeof g.state.constitution, remove?: Uint8Array, reason?: string }
      if ('amend' in proposal && proposal.amend !== undefined) {
        op = { type: 'propose', amend: checkConstitution(proposal.amend), ...(reason === undefined ? {} : { reason }) }
      } else if ('remove' in proposal && typeof proposal.remove === 'string') {
        let target = proposal.remove.toLowerCase()
        if (!HEX64.test(target)) {
          const contact = p.findContact(proposal.remove)
          target = contact === undefined ? '' : identityId(contact)
        }
        if (!g.state.members.has(target)) throw new NotAMemberError(g.record.name, proposal.remove)
        op = { type: 'propose', remove: fromHex(target), ...(reason === undefined ? {} : { reason }) }
      } else {
        throw new TypeError('"proposal" expected { amend: constitution } or { remove: memberId }')
      }
      return await publishOp(g, () => createGroupOp(crypto, { author: p.identity, groupId: fromHex(g.record.id), ...causal(g), op }))
    },

    async vote (groupArg, proposalId, choice, options = {}) {
      const { parts: p } = started()
      options.signal?.throwIfAborted()
      const g = needMember(groupArg)
      if (choice !== 'yes' && choice !== 'no') throw new TypeError(`"choice" expected 'yes' or 'no', got ${JSON.stringify(choice)}`)
      const id = typeof proposalId === 'string' ? proposalId.toLowerCase() : ''
      const proposal = g.state.proposals.get(id)
      if (proposal === undefined) throw new ProposalClosedError(String(proposalId), 'unknown')
      if (proposal.status !== 'open') throw new ProposalClosedError(id, 'closed')
      if (proposal.yes.includes(ownId) || proposal.no.includes(ownId)) throw new ProposalClosedError(id, 'voted')
      if (!proposal.electorate.includes(ownId)) throw new ProposalClosedError(id, 'not-electorate')
      await publishOp(g, () => createGroupOp(crypto, { author: p.identity, groupId: fromHex(g.record.id), ...causal(g), op: { type: 'vote', proposalId: fromHex(id), choice } }))
      return proposalInfo(g.state.proposals.get(id)!, ownId)
    },

    async leave (groupArg, options = {}) {
      const { parts: p } = started()
      options.signal?.throwIfAborted()
      const g = needMember(groupArg)
      await publishOp(g, () => createGroupOp(crypto, { author: p.identity, groupId: fromHex(g.record.id), ...causal(g), op: { type: 'leave' } }))
      return groupInfo(g)
    },

    async list () {
      started()
      return [...groups.values()].map(groupInfo).sort((a, b) => a.name.localeCompare(b.name))
    },

    async get (groupArg) {
      started()
      const g = find(groupArg)
      return g === undefined ? undefined : groupView(g, ownId, (id) => parts?.contactName(id))
    },

    async post (groupArg, input, options = {}) {
      const { parts: p } = started()
      options.signal?.throwIfAborted()
      const g = needMember(groupArg)
      if (input === null || typeof input !== 'object') throw new TypeError('"post" expected { text?, image?, location?, days? }')
      const checked = checkPostInput({
        ...(input.text === undefined ? {} : { text: input.text }), ...(input.image === undefined ? {} : { image: input.image }),
        ...(input.days === undefined ? {} : { days: input.days }), ...(input.ttlMinutes === undefined ? {} : { ttlMinutes: input.ttlMinutes }), audience: 'circle'
      })
      const location = locationOf(input.location)
      const own = await p.ownCertificate()
      const payload = encodePost({
        ...(own === undefined ? {} : { certificate: own.certificate }), text: checked.text,
        ...(checked.image === undefined ? {} : { image: checked.image }), ...(location === undefined ? {} : { location })
      })
      const now = Date.now()
      let stored: StoredGroupPost | undefined
      await queueStep(async () => {
        const { sealed, ops } = seal(g.record.id, KIND_POST, payload, checked.ttlMinutes, false)
        stored = {
          id: `${toHex(sealed.messageId)}${ownId}`, group: g.record.id, author: ownId, authorIdentity: toHex(encodePublicIdentity(p.identity)),
          ...(own === undefined ? {} : { authorName: own.name }), text: checked.text,
          ...(checked.image === undefined ? {} : { image: { mime: checked.image.mime, bytes: Buffer.from(checked.image.bytes).toString('base64') } }),
          ...(location === undefined ? {} : { location }), sentAt: now, receivedAt: now, expiresAt: expiresAtOf(sealed.expiryMinute), mine: true
        }
        const postOps = await preparePost(g, stored) ?? []
        return {
          send: { sealed: [{ to: 'group', kind: KIND_POST, messageId: sealed.messageId, envelopes: sealed.envelopes }], ops: [...ops, ...postOps] },
          step: { ops: [], after: [], newTags: [] }
        }
      })
      const post = await postOf(stored!)
      emit('group-post', post)
      return post
    },

    async feed (groupArg, options = {}) {
      const { store: s } = started()
      const g = need(groupArg)
      const limit = options.limit ?? DEFAULT_FEED_LIMIT
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FEED_LIMIT) throw new RangeError(`"limit" expected 1 to ${MAX_FEED_LIMIT}, got ${String(limit)}`)
      const prefix = `feed!${g.record.id}!`
      if (options.before !== undefined && (typeof options.before !== 'string' || !options.before.startsWith(prefix))) {
        throw new RangeError('"before" expected the `next` of an earlier page of this group\'s feed')
      }
      const now = Date.now()
      const posts: GroupPost[] = []
      let next: string | undefined
      let cursor = options.before
      while (posts.length < limit) {
        const page = await s.range<{ expiresAt: number }>(prefix, { reverse: true, ...(cursor === undefined ? {} : { lt: cursor }), limit: limit - posts.length })
        if (page.length === 0) { next = undefined; break }
        for (const [key, value] of page) {
          cursor = key
          if (value.expiresAt <= now) continue
          const stored = await s.get<StoredGroupPost>(keys.post(g.record.id, key.slice(key.lastIndexOf('!') + 1)))
          if (stored !== undefined) posts.push(await postOf(stored))
        }
        next = cursor
      }
      if (next !== undefined && (await s.range(prefix, { reverse: true, lt: next, limit: 1 })).length === 0) next = undefined
      return { posts, ...(next === undefined ? {} : { next }) } satisfies GroupFeedPage
    },

    async votePost (groupArg, postId, choice, options = {}) {
      const { parts: p, store: s } = started()
      options.signal?.throwIfAborted()
      const g = needMember(groupArg)
      if (choice !== 'up' && choice !== 'down') throw new TypeError(`"choice" expected 'up' or 'down', got ${JSON.stringify(choice)}`)
      if (typeof postId !== 'string' || !POST_ID.test(postId.toLowerCase())) throw new TypeError('"postId" expected a group post id (96 hex characters)')
      const id = postId.toLowerCase()
      if (await s.get(keys.post(g.record.id, id)) === undefined) throw new UnknownGroupPostError(id)
      const before = await tallyOf(g.record.id, id)
      if (before.mine === choice) return before
      if (before.mine !== undefined) throw new AlreadyVotedError(id, before.mine)
      const body = createVote(crypto, {
        groupId: fromHex(g.record.id), postId: fromHex(id), choice, voterSeed: p.identity.signingSeed,
        // Drawn from the current members only: a ring key of someone who was no member in this epoch does not count (SPEC §15.8).
        candidates: [...g.state.members.values()].map((m) => m.voteKey)
      })
      const vote = decodeVote(body)
      await queueStep(async () => {
        const { sealed } = seal(g.record.id, KIND_VOTE, body, init.ttlMinutes, true)
        const ops = await prepareVote(g, vote, expiresAtOf(sealed.expiryMinute), g.state.epoch) ?? []
        ops.push(s.put(keys.myVote(g.record.id, id), { choice }))
        return { send: { sealed: [{ to: 'group', kind: KIND_VOTE, messageId: sealed.messageId, envelopes: sealed.envelopes }], ops }, step: { ops: [], after: [], newTags: [] } }
      })
      const tally = await tallyOf(g.record.id, id)
      emit('vote', { group: { id: g.record.id, name: g.record.name }, postId: id, tally })
      return tally
    },

    async tally (groupArg, postId) {
      started()
      const g = need(groupArg)
      if (typeof postId !== 'string' || !POST_ID.test(postId.toLowerCase())) throw new TypeError('"postId" expected a group post id (96 hex characters)')
      return await tallyOf(g.record.id, postId.toLowerCase())
    },

    async getPost (groupArg, postId) {
      const { store: s } = started()
      const g = need(groupArg)
      if (typeof postId !== 'string' || !POST_ID.test(postId.toLowerCase())) throw new TypeError('"postId" expected a group post id (96 hex characters)')
      const stored = await s.get<StoredGroupPost>(keys.post(g.record.id, postId.toLowerCase()))
      if (stored === undefined || stored.expiresAt <= Date.now()) return undefined
      return await postOf(stored)
    }
  }

  // --- Incoming -----------------------------------------------------------------------------------------

  const nodeGroups: NodeGroups = {
    api,

    rings: { rings: function * () { for (const [id, g] of groups) yield [id, g.ring] as const } },

    async open (given) {
      parts = given
      store = openGroupStore(given.db, crypto)
      ownId = identityId(given.identity)
      groups.clear()
      loading = true
      try {
        for (const loaded of await store.loadAll()) {
          const decoded = new Map<string, GroupOp>()
          for (const [id, bytes] of loaded.ops) {
            try { decoded.set(id, decodeGroupOp(crypto, bytes)) } catch { loaded.ops.delete(id) }
          }
          const g: Group = { ...loaded, decoded, state: foldGroup(crypto, [], { groupId: loaded.record.id }), pending: new Set(), appliedBy: new Map(), failedVotes: new Set() }
          groups.set(loaded.record.id, g)
          fold(g)
          // Channels are derived, not stored; the ring was restored with its windows. A reconcile also catches a rekey the last run did not finish.
          const step = await reconcile(g)
          await given.db.batch(step.ops as never)
          // What the last run owed and did not finish: welcomes, the rekey schedule.
          for (const fn of step.after) fn()
        }
      } finally {
        loading = false
      }
      // Channel scans a crash interrupted.
      for (const g of groups.values()) for (const epoch of g.record.channelScans ?? []) scanChannel(g, epoch)
      welcomeTimer = setInterval(retryWelcomes, WELCOME_RETRY_MS)
      welcomeTimer.unref()
      for (const g of groups.values()) scheduleRekey(g)
      // Votes that waited when the node stopped: their post or ring key may be here now.
      for (const g of groups.values()) if (g.pendingVotes > 0 && g.record.membership === 'member') promoteVotes(g, `pvote!${g.record.id}!`)
    },

    close () {
      for (const g of groups.values()) clearRekey(g)
      if (welcomeTimer !== undefined) clearInterval(welcomeTimer)
      welcomeTimer = undefined
      parts = undefined
      store = undefined
      groups.clear()
    },

    async absorbChain (groupId, authorId, kind, payload, meta, change, after) {
      const g = groups.get(groupId)
      if (g === undefined || parts === undefined) return []
      const ops = change.ops ??= []
      // The ring moved: its state goes with what the key opened.
      ops.push(ringOp(g, authorId))
      if (payload === undefined) return []
      if (kind === KIND_GROUP_OP) {
        // Anyone's op may be relayed by a member: the op's own signature and the fold decide.
        const step = await applyOps(g, [payload])
        ops.push(...step.ops)
        after.push(...step.after)
        return step.newTags
      }
      if (kind === KIND_POST) {
        const step: Step = { ops: [], after: [], newTags: [] }
        await takePost(g, authorId, payload, meta, step)
        ops.push(...step.ops)
        after.push(...step.after)
      }
      return []
    },

    async absorbVote (groupId, payload, expiresAt, change, after, epoch) {
      const g = groups.get(groupId)
      if (g === undefined || parts === undefined || g.record.membership !== 'member') return
      const step: Step = { ops: [], after: [], newTags: [] }
      await takeVote(g, payload, expiresAt, epoch, step)
      ;(change.ops ??= []).push(...step.ops)
      after.push(...step.after)
    },

    async absorbDirect (message, change, after) {
      if (parts === undefined) return []
      const step: Step = { ops: [], after: [], newTags: [] }
      if (message.kind === KIND_JOIN_REQUEST) {
        await takeJoinRequest(message.payload, message.fromId, step)
      } else if (message.kind === KIND_GROUP_WELCOME && message.payload.length > 0) {
        await takeWelcome(message.payload, message.fromId, step)
      }
      ;(change.ops ??= []).push(...step.ops)
      after.push(...step.after)
      return step.newTags
    },

    groupRef (groupId) {
      const g = groups.get(groupId)
      return g === undefined ? undefined : { id: g.record.id, name: g.record.name }
    },

    memberGroup (group) {
      const g = needMember(group)
      return { id: g.record.id, name: g.record.name }
    },

    seal,

    async housekeeping (now) {
      const { parts: p, store: s } = started()
      const expired = await s.range<Record<string, never>>('pexp!', { lt: `pexp!${padded(now)}` })
      // Votes by their own expiry: stored ones and those waiting for a post that never came.
      const expiredVotes = await s.range<Record<string, never>>('vexp!', { lt: `vexp!${padded(now)}` })
      if (expired.length === 0 && expiredVotes.length === 0) return
      await p.delivery.queue(async () => {
        const ops: LocalOp[] = []
        for (const [key] of expired) {
          const [, , gid, postId] = key.split('!') as [string, string, string, string]
          const stored = await s.get<StoredGroupPost>(keys.post(gid, postId))
          ops.push(s.del(key), s.del(keys.post(gid, postId)), s.del(keys.myVote(gid, postId)))
          if (stored !== undefined) ops.push(s.del(keys.feed(gid, stored.sentAt, postId)))
          const g = groups.get(gid)
          if (g !== undefined && stored !== undefined) g.posts--
          for (const [voteKey] of await s.range(`vote!${gid}!${postId}!`)) {
            ops.push(s.del(voteKey))
            if (g !== undefined) g.votes--
          }
        }
        for (const [key] of expiredVotes) {
          // vexp!<at>!<vote|pvote>!<gid>!<postId>!<keyImage>!<choice>[!<hash>]
          const [, , kind, gid, ...rest] = key.split('!') as [string, string, 'vote' | 'pvote', string, ...string[]]
          const record = `${kind}!${gid}!${rest.join('!')}`
          ops.push(s.del(key))
          if (await s.get(record) === undefined) continue
          ops.push(s.del(record))
          const g = groups.get(gid)
          if (g !== undefined) {
            if (kind === 'vote') g.votes--
            else g.pendingVotes--
          }
        }
        return { ops }
      })
    },

    testing: {
      async publishRaw (groupArg, kind, payload, anonymous) {
        const g = needMember(groupArg)
        await queueStep(async () => {
          const { sealed, ops } = seal(g.record.id, kind, payload, init.ttlMinutes, anonymous)
          // An op we publish is in our own log too (our chain is not in our ring: we never screen our own envelopes).
          const step = kind === KIND_GROUP_OP && !anonymous ? await applyOps(g, [payload]) : { ops: [], after: [], newTags: [] }
          // Likewise a vote we publish counts here too, if it would anywhere.
          if (kind === KIND_VOTE) await takeVote(g, payload, expiresAtOf(sealed.expiryMinute), undefined, step)
          return { send: { sealed: [{ to: 'group', kind, messageId: sealed.messageId, envelopes: sealed.envelopes }], ops }, step }
        }, g)
      },
      async receiveJoinRequest (bytes, from) {
        await queueStep(async () => {
          const step: Step = { ops: [], after: [], newTags: [] }
          await takeJoinRequest(bytes, identityId(from), step)
          return { send: {}, step }
        })
      },
      async receiveVote (groupArg, bytes, options = {}) {
        const g = needMember(groupArg)
        await queueStep(async () => {
          const step: Step = { ops: [], after: [], newTags: [] }
          await takeVote(g, bytes, options.expiresAt ?? Date.now() + init.ttlMinutes * 60_000, options.epoch, step)
          return { send: {}, step }
        })
      },
      async receivePost (groupArg, author, payload, meta) {
        const g = need(groupArg)
        await queueStep(async () => {
          const step: Step = { ops: [], after: [], newTags: [] }
          await takePost(g, identityId(author), payload, { ...meta, author }, step)
          return { send: {}, step }
        })
      },
      async receiveWelcome (bytes, from) {
        await queueStep(async () => {
          const step: Step = { ops: [], after: [], newTags: [] }
          await takeWelcome(bytes, identityId(from), step)
          return { send: {}, step }
        })
      },
      housekeeping: async (now) => { await nodeGroups.housekeeping(now) },
      async settled () {
        await incoming.settled()
      },
      counters: () => ({ ...counters }),
      ringAuthors: (groupArg) => [...need(groupArg).ring.authors()],
      state: (groupArg) => need(groupArg).state
    }
  }
  return nodeGroups
}
