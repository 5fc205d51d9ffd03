/**
 * The log side of a node's groups (SPEC §15.11): folding a group's ops and
 * bringing the node in line with the state (membership, epoch secrets, send
 * chains, the ring, the anonymous channels, welcomes owed, rekeys due),
 * sealing our own envelopes on our chain or the anonymous channel, and
 * publishing our ops. node-groups.ts builds the API and the incoming side
 * on it. Everything that changes state runs in delivery's turn; its writes
 * go into the step's one batch and its events after the commit.
 */
import {
  anonymousChannelKey, circleChainFromJSON, circleChainToJSON, createIdentity, createRekeyOp, createWorldTagMatcher, decodeGroupOp,
  decodePublicIdentity, encodePublicIdentity, encodeWelcome, FIRST_CONTACT_BODY_CAPACITY, foldGroup, fromHex, KIND_GROUP_OP,
  KIND_GROUP_WELCOME, MAX_GROUP_OP_LENGTH, MAX_WELCOME_OPS, memberChainHandoff, memberSendChain, opHeads, openRekeySecret,
  sealChannelPost, sealCirclePost, toHex, type CryptoProvider, type GroupOp, type Identity, type SealedPost
} from '../../protocol/index.js'
import type { QueuedSend } from '../delivery.js'
import type { LocalOp } from '../local-state.js'
import type { Logger } from '../logger.js'
import { MAX_GROUP_OPS_PER_AUTHOR, MAX_GROUP_OPS_PER_AUTHOR_PER_DAY, MAX_REKEY_ATTEMPTS, OP_BUDGET_CLOCK_SKEW_MS } from './collectives-constants.js'
import { GroupOpBudgetError, NotAGroupMemberError, UnknownGroupError } from './errors.js'
import { keys, type GroupStore, type LiveGroup } from './group-store.js'
import { groupInfo } from './group-views.js'
import type { NodeGroupsParts } from './node-groups.js'

type Group = LiveGroup

const DAY_MS = 86_400_000

/** The writes and the after-commit work of one step, and the tags its ring started watching. */
export interface Step {
  ops: LocalOp[]
  after: Array<() => void>
  newTags: Uint8Array[]
}

/** What the log side needs from node-groups.ts. */
export interface GroupSyncContext {
  crypto: CryptoProvider
  log: Logger
  /** Lifetime of ops, welcomes and votes. */
  ttlMinutes: number
  /** Rekey delay per rank. */
  rekeyStaggerMs: number
  /** The groups in memory, by id. */
  groups: Map<string, Group>
  /** The running node's parts and store; throws NodeNotRunningError when stopped. */
  started(): { parts: NodeGroupsParts, store: GroupStore }
  /** The same, or undefined when stopped (timers). */
  running(): { parts: NodeGroupsParts, store: GroupStore } | undefined
  ownId(): string
  /** True while the node re-derives its groups at start. */
  loading(): boolean
  emit(type: 'group', detail: unknown): void
  /** After a fold that admitted a vote key: votes waiting for it may count now. */
  onAdmitted?(g: Group): void
  /** After every full fold (tests count them). */
  onFold?(): void
}

/** Creates the log side over the context. */
export function createGroupSync (ctx: GroupSyncContext) {
  const { crypto, log } = ctx

  // --- Folding and reconciling -----------------------------------------------------------------

  /** Folds the whole log; notes which held ops wait for a parent, and each author's applied ops. */
  function fold (g: Group): void {
    const before = g.state.everAdmittedVoteKeys.size
    g.state = foldGroup(crypto, g.decoded.values(), { groupId: g.record.id, ...(g.record.genesis === undefined ? {} : { genesis: g.record.genesis }) })
    g.pending = new Set(g.state.pending)
    for (const { opId, reason } of g.state.ignored) if (reason === 'too-many-pending') g.pending.add(opId)
    g.appliedBy = new Map()
    for (const id of g.state.applied) {
      const author = g.decoded.get(id)?.authorId
      if (author !== undefined) g.appliedBy.set(author, (g.appliedBy.get(author) ?? 0) + 1)
    }
    ctx.onFold?.()
    if (g.state.everAdmittedVoteKeys.size > before) ctx.onAdmitted?.(g)
  }

  /** UTC day of an op's timestamp, clamped to [founding, now + 1 h]: dates outside count on the nearest day. */
  function dayOf (g: Group, timestamp: number, now: number): number {
    const found = g.decoded.get(g.state.foundId)?.timestamp ?? 0
    return Math.floor(Math.min(Math.max(timestamp, found), now + OP_BUDGET_CLOCK_SKEW_MS) / DAY_MS)
  }

  /**
   * Why a node does not accept one more op of `author` (SPEC §15.11): MAX_GROUP_OPS_PER_AUTHOR_PER_DAY held ops
   * of that day, or MAX_GROUP_OPS_PER_AUTHOR applied ones. A leave is always taken.
   */
  function budgetRefusal (g: Group, op: Pick<GroupOp, 'authorId' | 'timestamp' | 'type'>, now = Date.now()): 'per-day' | 'total' | undefined {
    if (op.type === 'leave' || op.type === 'found' || !g.state.founded) return undefined
    if ((g.appliedBy.get(op.authorId) ?? 0) >= MAX_GROUP_OPS_PER_AUTHOR) return 'total'
    const day = dayOf(g, op.timestamp, now)
    let count = 0
    for (const held of g.decoded.values()) {
      if (held.authorId === op.authorId && dayOf(g, held.timestamp, now) === day && ++count >= MAX_GROUP_OPS_PER_AUTHOR_PER_DAY) return 'per-day'
    }
    return undefined
  }

  function secretOf (g: Group, epoch: number): Uint8Array | undefined {
    const held = g.record.secrets[String(epoch)]
    return held === undefined ? undefined : fromHex(held.secret)
  }

  function recordOp (g: Group): LocalOp {
    g.record.updatedAt = Date.now()
    return ctx.started().store.put(keys.group(g.record.id), { ...g.record })
  }

  /** The ring's stored form of `authorId` (after a screening or a new chain moved it). */
  function ringOp (g: Group, authorId: string): LocalOp {
    const { store } = ctx.started()
    const record = g.ring.authorJSON(authorId)
    return record === undefined ? store.del(keys.ring(g.record.id, authorId)) : store.put(keys.ring(g.record.id, authorId), record)
  }

  /**
   * Brings the node in line with `g.state` (see the file comment). Returns
   * the writes (the group record last), what to do after the commit, and
   * the tags the ring started watching.
   */
  async function reconcile (g: Group): Promise<Step> {
    const { parts: p, store: s } = ctx.started()
    const step: Step = { ops: [], after: [], newTags: [] }
    const state = g.state
    const gid = g.record.id
    if (state.founded && state.name !== '') g.record.name = state.name
    for (const [id, m] of state.members) {
      g.record.identities[id] ??= toHex(encodePublicIdentity(m.identity))
      // Admitted: their join request has done its work.
      if (g.requests.delete(id)) step.ops.push(s.del(keys.request(gid, id)))
    }
    if (g.record.membership === 'member' && !state.members.has(ctx.ownId()) && state.founded) {
      g.record.membership = 'former'
      log.info('we are no longer a member of a group', { group: gid })
    }
    if (g.record.membership === 'member') {
      // The secret of each epoch we can read: the rekey entry sealed to us (or the one we hold).
      for (const epoch of [state.epoch, state.epoch - 1]) {
        if (epoch <= 0) continue
        const op = state.rekeys.get(epoch)
        const held = g.record.secrets[String(epoch)]
        if (op === undefined || held?.op === op) continue
        const secret = openRekeySecret(crypto, state, epoch, p.identity)
        if (secret === undefined) {
          if (epoch === state.epoch) log.warn('a rekey carries no secret we can open', { group: gid, epoch })
          continue
        }
        g.record.secrets[String(epoch)] = { op, secret: toHex(secret) }
      }
      for (const epoch of Object.keys(g.record.secrets)) {
        if (Number(epoch) < state.epoch - 1 || Number(epoch) > state.epoch) delete g.record.secrets[epoch]
      }
      const current = g.record.secrets[String(state.epoch)]
      if (current !== undefined && g.record.sends[`${state.epoch}:${current.op}`] === undefined) {
        g.record.sends[`${state.epoch}:${current.op}`] = {
          epoch: state.epoch, op: current.op, chain: circleChainToJSON(memberSendChain(crypto, fromHex(current.secret), p.identity.signingKey))
        }
      }
      for (const [key, send] of Object.entries(g.record.sends)) if (send.epoch < state.epoch - 1) delete g.record.sends[key]
      // The ring holds two epochs per member, by epoch number: fed with another secret for an epoch (a rekey lost, or was
      // undone), it is rebuilt, so it never holds a dead secret's chain in place of a live one's.
      const fed: Record<string, string> = {}
      for (const epoch of [state.epoch, state.epoch - 1]) {
        const held = g.record.secrets[String(epoch)]
        if (held !== undefined) fed[String(epoch)] = held.op
      }
      const rebuild = Object.entries(g.record.ringFed).some(([epoch, op]) => fed[epoch] !== undefined ? fed[epoch] !== op : Number(epoch) > state.epoch)
      g.record.ringFed = fed
      if (rebuild) {
        for (const author of g.ring.authors()) step.ops.push(s.del(keys.ring(gid, author)))
        g.ring = s.newRing()
      }
      // Every member's chain of the current epoch, and of the previous one every member it had (late envelopes).
      const seen = new Set([...(g.record.epochMembers[String(state.epoch)] ?? []), ...state.members.keys()])
      g.record.epochMembers[String(state.epoch)] = [...seen].sort()
      for (const epoch of Object.keys(g.record.epochMembers)) {
        if (Number(epoch) < state.epoch - 1 || Number(epoch) > state.epoch) delete g.record.epochMembers[epoch]
      }
      const previousAuthors = g.record.epochMembers[String(state.epoch - 1)] ?? Object.keys(g.record.identities)
      const changed = new Set<string>()
      // Authors of neither epoch leave the ring (it is bounded): removed members of older epochs.
      const wanted = new Set([...state.members.keys(), ...(state.epoch > 0 ? previousAuthors : [])])
      for (const author of g.ring.authors()) {
        if (!wanted.has(author) && g.ring.removeAuthor(author)) changed.add(author)
      }
      for (const epoch of [state.epoch, state.epoch - 1]) {
        const secret = secretOf(g, epoch)
        if (secret === undefined) continue
        const authors = epoch === state.epoch ? [...state.members.keys()] : previousAuthors
        for (const id of authors) {
          if (id === ctx.ownId()) continue
          const hex = g.record.identities[id]
          if (hex === undefined) continue
          const identity = decodePublicIdentity(fromHex(hex))
          const added = g.ring.addChain(identity, memberChainHandoff(crypto, secret, identity.signingKey), epoch)
          if (added !== undefined && added.newTags.length > 0) {
            step.newTags.push(...added.newTags)
            changed.add(id)
          }
        }
        const owner = { type: 'group' as const, id: gid, epoch }
        const key = anonymousChannelKey(crypto, secret)
        const followed = p.channels.list(owner)[0]
        if (followed === undefined || toHex(followed.key) !== toHex(key)) {
          try {
            await p.channels.add(owner, key, { persist: false })
          } catch (error) {
            // Another channel is followed with this key already: a member of two groups rekeyed one with the
            // other's secret. Following it twice would change nothing the screener can open; the rest of the
            // reconcile (ring, secrets, welcomes) must still happen, so skip this channel and say so.
            if (!(error instanceof RangeError)) throw error
            log.warn('group channel key already followed by another owner; not followed twice', { group: gid, epoch })
            continue
          }
          // Envelopes of this channel may have come before its key (votes of a new epoch, during a resync): look again.
          if (!ctx.loading() && !(g.record.channelScans ?? []).includes(epoch)) {
            g.record.channelScans = [...(g.record.channelScans ?? []), epoch]
            step.after.push(() => { scanChannel(g, epoch) })
          }
        }
      }
      for (const id of changed) step.ops.push(ringOp(g, id))
      for (const channel of p.channels.list({ type: 'group', id: gid })) {
        const epoch = channel.owner.epoch ?? -1
        if (epoch !== state.epoch && epoch !== state.epoch - 1) await p.channels.remove(channel.owner)
      }
      // Welcomes we owe: candidates we vouched for, now admitted.
      const owed = [...state.members.entries()]
        .filter(([id, m]) => id !== ctx.ownId() && (m.vouchers.includes(ctx.ownId()) || g.record.vouchedFor.includes(id)) && !g.record.welcomed.includes(`${id}:${m.since}`))
        .map(([id]) => id)
      if (owed.length > 0) step.after.push(() => { void sendWelcomes(g, owed).catch((error: unknown) => { log.warn('could not send a welcome', { error }) }) })
      step.after.push(() => { scheduleRekey(g) })
    } else {
      clearRekey(g)
      // No longer a member: the group's anonymous channels and members' chains are not ours to screen any more.
      for (const channel of p.channels.list({ type: 'group', id: gid })) await p.channels.remove(channel.owner)
      if (g.record.membership === 'former' && g.ring.authors().length > 0) {
        for (const author of g.ring.authors()) step.ops.push(s.del(keys.ring(gid, author)))
        g.ring = s.newRing()
        g.record.ringFed = {}
      }
    }
    step.ops.push(recordOp(g))
    const detail = groupInfo(g)
    step.after.push(() => { ctx.emit('group', detail) })
    return step
  }

  /** Forgets a held op (memory only; the caller deletes its record). */
  function forget (g: Group, id: string): void {
    g.ops.delete(id)
    g.decoded.delete(id)
    g.pending.delete(id)
  }

  /**
   * Makes room for one more op when the log holds MAX_WELCOME_OPS: the oldest op waiting for a parent goes,
   * a never-admitted author's first. False when no pending op may go (then the new one is refused).
   */
  function evictPending (g: Group, forAuthor: string, step: Step): boolean {
    const { store: s } = ctx.started()
    let victim: string | undefined
    for (const id of g.ops.keys()) {
      if (!g.pending.has(id)) continue
      const author = g.decoded.get(id)?.authorId ?? ''
      if (!g.state.voteKeys.has(author)) { victim = id; break }
      victim ??= id
    }
    if (victim === undefined) return false
    // A stranger's op does not push out an admitted author's.
    if (!g.state.voteKeys.has(forAuthor) && g.state.voteKeys.has(g.decoded.get(victim)?.authorId ?? '')) return false
    forget(g, victim)
    step.ops.push(s.del(keys.op(g.record.id, victim)))
    return true
  }

  /**
   * Adds ops to the log (those it does not hold, of this group, within the
   * bound and the authors' budgets). Returns whether any was new and whether
   * the state can have changed: ops waiting for a parent are only held (the
   * fold would leave them out), and a complete op of an author the group
   * never admitted, that nothing held waits for, is dropped unfolded (the
   * fold would ignore it and not keep it).
   */
  function addOps (g: Group, ops: Iterable<Uint8Array>, step: Step, options: { budget?: boolean } = {}): { added: boolean, refold: boolean } {
    const { store: s } = ctx.started()
    const now = Date.now()
    const fresh = new Map<string, { bytes: Uint8Array, op: GroupOp }>()
    for (const bytes of ops) {
      if (!(bytes instanceof Uint8Array) || bytes.length > MAX_GROUP_OP_LENGTH) continue
      const id = toHex(crypto.sha256(bytes))
      if (g.ops.has(id) || fresh.has(id)) continue
      let decoded: GroupOp
      try {
        decoded = decodeGroupOp(crypto, bytes)
      } catch {
        continue
      }
      // Only ops of this group: anyone's junk would fill the log otherwise.
      if (toHex(decoded.groupId) !== g.record.id) continue
      if (options.budget !== false) {
        const refusal = budgetRefusal(g, decoded, now)
        if (refusal !== undefined) {
          log.debug('an op past its author\'s budget was refused', { group: g.record.id, author: decoded.authorId, why: refusal })
          continue
        }
      }
      if (g.ops.size + fresh.size >= MAX_WELCOME_OPS && !evictPending(g, decoded.authorId, step)) {
        log.debug('a group log is full; an op was refused', { group: g.record.id })
        continue
      }
      fresh.set(id, { bytes: bytes.slice(), op: decoded })
      g.decoded.set(id, decoded)
    }
    if (fresh.size === 0) return { added: false, refold: false }
    // Which new ops have their whole past held: held ops are, but for the pending ones.
    const complete = new Map<string, boolean>()
    const isComplete = (id: string): boolean => {
      const stack = [id]
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!
        if (complete.has(top)) { stack.pop(); continue }
        let result: boolean | undefined = true
        for (const parent of g.decoded.get(top)!.parentIds) {
          if (!g.decoded.has(parent) || g.pending.has(parent) || complete.get(parent) === false) { result = false; break }
          if (fresh.has(parent) && !complete.has(parent)) { stack.push(parent); result = undefined }
        }
        if (result !== undefined) { complete.set(top, result); stack.pop() }
      }
      return complete.get(id)!
    }
    let refold = !g.state.founded
    const waitedFor = new Set<string>()
    for (const id of g.pending) for (const parent of g.decoded.get(id)?.parentIds ?? []) waitedFor.add(parent)
    for (const [id, { op }] of fresh) if (!isComplete(id)) for (const parent of op.parentIds) waitedFor.add(parent)
    for (const [id, { bytes, op }] of fresh) {
      if (!isComplete(id)) {
        g.pending.add(id)
      } else if (!refold && op.type !== 'found' && !g.state.voteKeys.has(op.authorId) && !waitedFor.has(id)) {
        // Ignored by any fold ('not-member' at every point: nobody admitted its author) and kept by none.
        g.decoded.delete(id)
        fresh.delete(id)
        continue
      } else {
        refold = true
      }
      g.ops.set(id, bytes)
      step.ops.push(s.put(keys.op(g.record.id, id), { b: Buffer.from(bytes).toString('base64') }))
    }
    return { added: fresh.size > 0, refold }
  }

  /**
   * Drops the ops the fold does not keep (strangers', other groups', rival
   * found ops, over-budget ones): they never count, and are neither stored,
   * relayed nor put in welcomes. Ops waiting for a parent stay: they count
   * once it arrives.
   */
  function prune (g: Group, step: Step): void {
    const { store: s } = ctx.started()
    for (const id of [...g.ops.keys()]) {
      if (g.state.keep.has(id) || g.pending.has(id)) continue
      forget(g, id)
      step.ops.push(s.del(keys.op(g.record.id, id)))
    }
  }

  async function applyOps (g: Group, ops: Iterable<Uint8Array>, options: { budget?: boolean } = {}): Promise<Step> {
    const step: Step = { ops: [], after: [], newTags: [] }
    const { refold } = addOps(g, ops, step, options)
    if (!refold) return step
    fold(g)
    prune(g, step)
    const reconciled = await reconcile(g)
    return { ops: [...step.ops, ...reconciled.ops], after: reconciled.after, newTags: reconciled.newTags }
  }

  // --- Sealing and queueing ---------------------------------------------------------------------

  function seal (groupId: string, kind: number, payload: Uint8Array, ttlMinutes: number, anonymous: boolean, author?: Identity): { sealed: SealedPost, ops: LocalOp[] } {
    const { parts: p } = ctx.started()
    const g = ctx.groups.get(groupId)
    if (g === undefined) throw new UnknownGroupError(groupId)
    if (g.record.membership !== 'member') throw new NotAGroupMemberError(g.record.name, g.record.membership === 'pending' ? 'pending' : 'former')
    if (anonymous) {
      const secret = secretOf(g, g.state.epoch)
      if (secret === undefined) throw new NotAGroupMemberError(g.record.name, 'former')
      // A one-time key per payload: the channel key says "a member", nothing says which.
      const sealed = sealChannelPost(crypto, {
        author: author ?? createIdentity(crypto), kind, payload, ttlMinutes, channel: 'group-anonymous', channelKey: anonymousChannelKey(crypto, secret)
      })
      return { sealed, ops: [] }
    }
    const held = g.record.secrets[String(g.state.epoch)]
    const sendKey = `${g.state.epoch}:${held?.op ?? ''}`
    const send = g.record.sends[sendKey]
    if (held === undefined || send === undefined) throw new NotAGroupMemberError(g.record.name, 'former')
    const chain = circleChainFromJSON(send.chain)
    const sealed = sealCirclePost(crypto, { author: author ?? p.identity, kind, payload, ttlMinutes, chain, channel: 'group' })
    g.record.sends[sendKey] = { ...send, chain: circleChainToJSON(chain) }
    return { sealed, ops: [recordOp(g)] }
  }

  /**
   * Runs `build` in delivery's turn; its step's after-work runs once
   * committed. When the build or the commit fails, `g` is read back from
   * disk (what the last committed step left): an op, a chain index or a
   * record change of the failed step does not linger in memory, where our
   * next op would cite an op nobody received.
   */
  async function queueStep (build: () => Promise<{ send: QueuedSend, step: Step }>, g?: Group): Promise<void> {
    const { parts: p } = ctx.started()
    let after: Array<() => void> = []
    try {
      await p.delivery.queue(async () => {
        const built = await build()
        after = built.step.after
        return { ...built.send, ops: [...(built.send.ops ?? []), ...built.step.ops] }
      }, () => { for (const fn of after) fn() })
    } catch (error) {
      if (g !== undefined && ctx.groups.get(g.record.id) === g) await restore(g).catch((e: unknown) => { log.warn('could not read a group back after a failed step', { error: e }) })
      throw error
    }
  }

  /** Puts `g` back to what is on disk (see queueStep), in delivery's turn. */
  async function restore (g: Group): Promise<void> {
    const { parts: p, store: s } = ctx.started()
    await p.delivery.queue(async () => {
      const loaded = await s.loadGroup(g.record.id)
      if (loaded === undefined) {
        ctx.groups.delete(g.record.id)
        return {}
      }
      const decoded = new Map<string, GroupOp>()
      for (const [id, bytes] of loaded.ops) {
        try { decoded.set(id, decodeGroupOp(crypto, bytes)) } catch { loaded.ops.delete(id) }
      }
      Object.assign(g, { record: loaded.record, ops: loaded.ops, decoded, ring: loaded.ring, requests: loaded.requests, posts: loaded.posts, votes: loaded.votes, pendingVotes: loaded.pendingVotes })
      fold(g)
      return {}
    })
  }

  /** Publishes our own op: on our chain, into our log, folded, in one batch. */
  async function publishOp (g: Group, makeOp: () => Uint8Array, extraOps: () => LocalOp[] = () => []): Promise<string> {
    let opId = ''
    await queueStep(async () => {
      const op = makeOp()
      opId = toHex(crypto.sha256(op))
      // Past our budget, other nodes would refuse it (SPEC §15.11): not sent.
      const refusal = budgetRefusal(g, decodeGroupOp(crypto, op))
      if (refusal !== undefined) throw new GroupOpBudgetError(g.record.name, refusal)
      const { sealed, ops } = seal(g.record.id, KIND_GROUP_OP, op, ctx.ttlMinutes, false)
      const step = await applyOps(g, [op])
      return { send: { sealed: [{ to: 'group', kind: KIND_GROUP_OP, messageId: sealed.messageId, envelopes: sealed.envelopes }], ops: [...ops, ...extraOps()] }, step }
    }, g)
    return opId
  }

  /** Where our next op goes in the log's DAG: after every head we folded (parents), one lamport above them. */
  const causal = (g: Group): { parents: Uint8Array[], lamport: number } => opHeads(g.state)

  // --- Welcomes and rekeys (after a commit, in a turn of their own) ------------------------------

  async function sendWelcomes (g: Group, candidates: string[]): Promise<void> {
    const { parts: p } = ctx.started()
    await queueStep(async () => {
      const step: Step = { ops: [], after: [], newTags: [] }
      const direct: NonNullable<QueuedSend['direct']> = []
      const current = secretOf(g, g.state.epoch)
      if (g.record.membership !== 'member' || current === undefined) return { send: {}, step }
      const previous = secretOf(g, g.state.epoch - 1)
      for (const id of candidates) {
        const member = g.state.members.get(id)
        const key = member === undefined ? '' : `${id}:${member.since}`
        if (member === undefined || g.record.welcomed.includes(key)) continue
        const body = encodeWelcome({
          genesis: g.record.genesis ?? g.state.foundId,
          epoch: g.state.epoch, epochSecret: current, ...(g.state.epoch > 0 && previous !== undefined ? { previousEpochSecret: previous } : {}),
          ops: [...g.ops.values()]
        })
        if (p.hasSession(id) || body.length <= FIRST_CONTACT_BODY_CAPACITY) {
          direct.push({ to: member.identity, body, kind: KIND_GROUP_WELCOME, ttlMinutes: ctx.ttlMinutes })
          g.record.welcomed.push(key)
          g.record.welcomeWaiting = g.record.welcomeWaiting.filter((w) => w !== id)
        } else if (!g.record.welcomeWaiting.includes(id)) {
          // Too long for a first contact: knock (an empty welcome opens a session), send it once the session is there.
          direct.push({ to: member.identity, body: new Uint8Array(0), kind: KIND_GROUP_WELCOME, ttlMinutes: ctx.ttlMinutes })
          g.record.welcomeWaiting.push(id)
        }
      }
      step.ops.push(recordOp(g))
      return { send: { direct }, step }
    })
  }

  /** Screens the stored envelopes of `epoch`'s anonymous channel again, then strikes the scan off the record. */
  function scanChannel (g: Group, epoch: number): void {
    const p = ctx.running()?.parts
    const secret = secretOf(g, epoch)
    const done = async (): Promise<void> => {
      const now = ctx.running()
      if (now === undefined || now.parts !== p) return
      // Struck off in a step of its own: the record is written whole, and only between steps is it what was committed.
      await now.parts.delivery.queue(async () => {
        g.record.channelScans = (g.record.channelScans ?? []).filter((e) => e !== epoch)
        return { ops: [recordOp(g)] }
      })
    }
    if (p === undefined || secret === undefined) { void done().catch(() => {}); return }
    void p.delivery.rescreenMatching(createWorldTagMatcher(anonymousChannelKey(crypto, secret)))
      .then(done, (error: unknown) => { log.debug('channel re-screen failed', { error }) })
  }

  function clearRekey (g: Group): void {
    if (g.rekeyTimer !== undefined) clearTimeout(g.rekeyTimer.timer)
    delete g.rekeyTimer
  }

  /**
   * The epoch a rekey of ours would open, or undefined: a removal or leave
   * left one pending, or the current epoch's rekey gave us no secret (a
   * hostile author's bad entry: any member may rekey, and this one must).
   */
  function rekeyTarget (g: Group): number | undefined {
    if (g.record.membership !== 'member' || !g.state.members.has(ctx.ownId())) return undefined
    if (g.state.rekeyPending !== undefined) return g.state.rekeyPending
    return secretOf(g, g.state.epoch) === undefined ? g.state.epoch + 1 : undefined
  }

  function scheduleRekey (g: Group): void {
    const pending = rekeyTarget(g)
    if (pending === undefined || ctx.running() === undefined) {
      clearRekey(g)
      return
    }
    if (g.rekeyTimer?.epoch === pending) return
    clearRekey(g)
    if ((g.rekeyAttempts?.get(pending) ?? 0) >= MAX_REKEY_ATTEMPTS) {
      log.warn('a rekey we published was refused again and again; waiting for another member', { group: g.record.id, epoch: pending })
      return
    }
    const rank = [...g.state.members.keys()].sort().indexOf(ctx.ownId())
    const timer = setTimeout(() => { void rekeyNow(g, pending).catch((error: unknown) => { log.warn('could not rekey', { error }) }) }, rank * ctx.rekeyStaggerMs)
    timer.unref()
    g.rekeyTimer = { epoch: pending, timer }
  }

  async function rekeyNow (g: Group, pending: number): Promise<void> {
    const { parts: p } = ctx.started()
    delete g.rekeyTimer
    await queueStep(async () => {
      if (rekeyTarget(g) !== pending) {
        return { send: {}, step: { ops: [], after: [], newTags: [] } }
      }
      if (budgetRefusal(g, { authorId: ctx.ownId(), timestamp: Date.now(), type: 'rekey' }) !== undefined) {
        log.warn('a rekey of ours would pass our op budget; waiting for another member', { group: g.record.id, epoch: pending })
        return { send: {}, step: { ops: [], after: [], newTags: [] } }
      }
      g.rekeyAttempts ??= new Map()
      g.rekeyAttempts.set(pending, (g.rekeyAttempts.get(pending) ?? 0) + 1)
      const { op, secret } = createRekeyOp(crypto, {
        author: p.identity, groupId: fromHex(g.record.id), ...causal(g), newEpoch: pending,
        members: [...g.state.members.values()].map((m) => m.identity)
      })
      // Sealed on the current (old) epoch's chain: every remaining member reads it; the new secret is in its entries.
      const { sealed, ops } = seal(g.record.id, KIND_GROUP_OP, op, ctx.ttlMinutes, false)
      const step = await applyOps(g, [op])
      log.info('rekeyed a group', { group: g.record.id, epoch: pending, won: g.record.secrets[String(pending)]?.secret === toHex(secret) })
      return { send: { sealed: [{ to: 'group', kind: KIND_GROUP_OP, messageId: sealed.messageId, envelopes: sealed.envelopes }], ops }, step }
    }, g)
  }

  function retryWelcomes (): void {
    const running = ctx.running()
    if (running === undefined) return
    for (const g of ctx.groups.values()) {
      const ready = g.record.welcomeWaiting.filter((id) => running.parts.hasSession(id))
      if (ready.length > 0) void sendWelcomes(g, ready).catch((error: unknown) => { log.debug('welcome retry failed', { error }) })
    }
  }

  return {
    fold, budgetRefusal, secretOf, recordOp, ringOp, reconcile, addOps, prune, applyOps, seal, queueStep, publishOp, causal,
    sendWelcomes, scanChannel, clearRekey, rekeyTarget, scheduleRekey, rekeyNow, retryWelcomes
  }
}

/** The log side of a node's groups. */
export type GroupSync = ReturnType<typeof createGroupSync>
