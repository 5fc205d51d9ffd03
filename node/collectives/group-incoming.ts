/**
 * What reaches a node's groups from others (SPEC §15.6, §15.8, §15.11):
 * join requests, group posts, anonymous votes (and the re-check of votes
 * that wait for their post or a key's admission) and welcomes. Each check
 * that costs little comes before one that costs much: a vote is verified
 * only once it could count, and never twice; a welcome is decoded only from
 * a sender we expect one from. Everything runs in delivery's turn and puts
 * its writes into the step's batch; node-groups.ts calls it.
 */
import {
  decodeGroupOp, decodeJoinRequest, decodePost, decodeVote, decodeWelcome, encodePublicIdentity, fromHex, openWelcome, toHex, verifyVote,
  voteKeyPair, type CryptoProvider, type DecodedVote
} from '../../protocol/index.js'
import type { Logger } from '../logger.js'
import { certifiedName, timestampRefusal } from '../social/incoming.js'
import {
  MAX_PENDING_REQUESTS_PER_GROUP, MAX_STRANGER_REQUESTS_PER_GROUP, MAX_WELCOME_BYTES, MAX_WELCOME_FAILURES, MAX_WELCOME_SENDER_OPS_CHECKED,
  VOTE_RECHECK_BATCH
} from './collectives-constants.js'
import type { GroupContent } from './group-content.js'
import { keys, type GroupStore, type LiveGroup, type StoredGroupPost, type StoredRequest, type StoredVote } from './group-store.js'
import type { GroupSync, Step } from './group-sync.js'
import { groupInfo } from './group-views.js'
import type { NodeGroupsParts, PayloadMeta } from './node-groups.js'

type Group = LiveGroup

/** What the incoming side needs from node-groups.ts. */
export interface GroupIncomingContext {
  crypto: CryptoProvider
  log: Logger
  /** The pinned Operator key: names in group posts' certificates are checked under it. */
  operatorKey?: Uint8Array
  groups: Map<string, Group>
  started(): { parts: NodeGroupsParts, store: GroupStore }
  ownId(): string
  emit(type: 'group' | 'group-post' | 'vote', detail: unknown): void
  /** Work counted for tests: vote verifications, welcomes opened. */
  counters: { voteVerifications: number, welcomesOpened: number }
  sync: GroupSync
  content: GroupContent
}

/** Creates the incoming side over the context. */
export function createGroupIncoming (ctx: GroupIncomingContext) {
  const { crypto, log } = ctx
  /** Re-checks of waiting votes under way. */
  const background = new Set<Promise<void>>()
  /** Welcomes for a pending group that failed to open, from senders other than the contact we asked through. */
  const welcomeFailures = new Map<string, number>()

  /** A join request for a group we are a member of (pairwise, or a test's). */
  async function takeJoinRequest (bytes: Uint8Array, fromId: string, step: Step): Promise<void> {
    const { store: s } = ctx.started()
    let request
    try {
      request = decodeJoinRequest(crypto, bytes)
    } catch (error) {
      log.debug('a malformed join request was dropped', { from: fromId, error })
      return
    }
    // The candidate asks for itself: a request passed on by someone else is not taken.
    if (request.candidateId !== fromId) return
    const g = ctx.groups.get(toHex(request.groupId))
    if (g === undefined || g.record.membership !== 'member' || g.state.members.has(request.candidateId)) return
    // Strangers' requests have a bounded share, and never push out a contact's (or a request we vouched for).
    const isContact = (id: string): boolean => ctx.started().parts.findContact(id) !== undefined
    const stranger = !isContact(request.candidateId)
    if (!g.requests.has(request.candidateId)) {
      const strangers = [...g.requests.values()].filter((r) => !r.vouched && !isContact(r.candidate)).sort((a, b) => a.receivedAt - b.receivedAt)
      let evict: StoredRequest | undefined
      if (stranger && strangers.length >= MAX_STRANGER_REQUESTS_PER_GROUP) evict = strangers[0]
      else if (g.requests.size >= MAX_PENDING_REQUESTS_PER_GROUP) {
        evict = strangers[0] ?? (stranger ? undefined : [...g.requests.values()].filter((r) => !r.vouched).sort((a, b) => a.receivedAt - b.receivedAt)[0])
        if (evict === undefined) return
      }
      if (evict !== undefined) {
        g.requests.delete(evict.candidate)
        step.ops.push(s.del(keys.request(g.record.id, evict.candidate)))
      }
    }
    const stored: StoredRequest = { group: g.record.id, candidate: request.candidateId, bytes: toHex(request.bytes), receivedAt: Date.now(), vouched: false }
    g.requests.set(request.candidateId, stored)
    step.ops.push(s.put(keys.request(g.record.id, request.candidateId), stored))
    const detail = groupInfo(g)
    step.after.push(() => { ctx.emit('group', detail) })
  }

  /** A group post on `authorId`'s chain: kept (with its feed and expiry entries), then votes that waited for it are looked at. */
  async function takePost (g: Group, authorId: string, payload: Uint8Array, meta: PayloadMeta, step: Step): Promise<void> {
    const p = ctx.started().parts
    if (authorId === ctx.ownId()) return
    const refusal = timestampRefusal(meta.sentAt, meta.expiresAt, Date.now())
    if (refusal !== undefined) return
    try {
      const post = decodePost(payload)
      const certified = certifiedName(crypto, ctx.operatorKey, post.certificate, meta.author)
      const authorName = certified ?? p.contactName(authorId)
      const stored: StoredGroupPost = {
        id: `${meta.messageId}${authorId}`, group: g.record.id, author: authorId, authorIdentity: toHex(encodePublicIdentity(meta.author)),
        ...(authorName === undefined ? {} : { authorName }), text: post.text,
        ...(post.image === undefined ? {} : { image: { mime: post.image.mime, bytes: Buffer.from(post.image.bytes).toString('base64') } }),
        ...(post.location === undefined ? {} : { location: post.location }),
        sentAt: meta.sentAt, receivedAt: Date.now(), expiresAt: meta.expiresAt, mine: false
      }
      const postOps = await ctx.content.preparePost(g, stored)
      if (postOps === undefined) return
      step.ops.push(...postOps)
      step.after.push(() => { void ctx.content.postOf(stored).then((post) => { ctx.emit('group-post', post) }, () => {}) })
      if (g.pendingVotes > 0) step.after.push(() => { promoteVotes(g, `pvote!${g.record.id}!${stored.id}!`) })
    } catch (error) {
      log.debug('a malformed group post was dropped', { group: g.record.id, author: authorId, error })
    }
  }

  /**
   * An anonymous vote from the channel of `epoch` (SPEC §15.8). The cheap
   * checks come first (its group, its expiry, held already, a vote that
   * failed before, its post held, its ring keys admitted and members then);
   * only then the ring signature. A vote whose post or ring key the node
   * does not hold yet waits (bounded), and is looked at again when they come.
   */
  async function takeVote (g: Group, payload: Uint8Array, expiresAt: number, epoch: number | undefined, step: Step, fromPending = false): Promise<'stored' | 'pending' | 'dropped'> {
    let vote: DecodedVote
    try {
      vote = decodeVote(payload)
    } catch {
      return 'dropped'
    }
    const gid = g.record.id
    if (toHex(vote.groupId) !== gid || expiresAt <= Date.now()) return 'dropped'
    const e = epoch ?? g.state.epoch
    const hash = toHex(crypto.sha256(vote.bytes))
    const standing = await ctx.content.voteStanding(g, vote, e, hash, fromPending)
    if (standing === 'wait') {
      if (!fromPending) step.ops.push(...(await ctx.content.preparePendingVote(g, vote, expiresAt, e, hash) ?? []))
      return 'pending'
    }
    if (standing !== 'ok') return 'dropped'
    ctx.counters.voteVerifications++
    if (!verifyVote(vote, g.state.everAdmittedVoteKeys)) {
      ctx.content.rememberFailed(g, hash)
      log.debug('a vote that does not verify was dropped', { group: gid })
      return 'dropped'
    }
    const ops = await ctx.content.prepareVote(g, vote, expiresAt, e)
    if (ops === undefined) return 'dropped'
    step.ops.push(...ops)
    const postId = toHex(vote.postId)
    step.after.push(() => {
      void ctx.content.tallyOf(gid, postId).then((tally) => { ctx.emit('vote', { group: { id: gid, name: g.record.name }, postId, tally }) }, () => {})
    })
    return 'stored'
  }

  /** Looks again at the waiting votes under `prefix`, a few per turn of delivery (a burst does not hold the turn). */
  function promoteVotes (g: Group, prefix: string): void {
    const run = (async () => {
      const { parts: p, store: s } = ctx.started()
      const waiting = await s.range<StoredVote>(prefix)
      for (let i = 0; i < waiting.length; i += VOTE_RECHECK_BATCH) {
        const chunk = waiting.slice(i, i + VOTE_RECHECK_BATCH)
        let after: Array<() => void> = []
        await p.delivery.queue(async () => {
          const step: Step = { ops: [], after: [], newTags: [] }
          for (const [key, stored] of chunk) {
            if (ctx.groups.get(g.record.id) !== g || await s.get(key) === undefined) continue // gone, expired or taken meanwhile
            const outcome = await takeVote(g, fromHex(stored.bytes), stored.expiresAt, stored.epoch, step, true)
            if (outcome === 'pending') continue
            step.ops.push(s.del(key), s.del(keys.voteExpiry(stored.expiresAt, 'pvote', g.record.id, key.slice(`pvote!${g.record.id}!`.length))))
            g.pendingVotes--
          }
          after = step.after
          return { ops: step.ops }
        }, () => { for (const fn of after) fn() })
      }
    })().catch((error: unknown) => { log.debug('could not look at waiting votes again', { error }) })
    background.add(run)
    void run.finally(() => background.delete(run))
  }

  /**
   * A welcome (SPEC §15.6). The sender first: for a group we asked to join,
   * the contact we asked through (others get a few tries per group); for a
   * group we belong to, a member of our fold, with our genesis. Then its
   * size, then it is opened for that one group.
   */
  async function takeWelcome (payload: Uint8Array, fromId: string, step: Step): Promise<void> {
    if (payload.length > MAX_WELCOME_BYTES) {
      log.info('a welcome too long to open was dropped', { from: fromId, bytes: payload.length })
      return
    }
    const me = ctx.started().parts.identity
    let welcome: ReturnType<typeof decodeWelcome>
    try {
      // Parsed only (no op decoded, no signature checked): its genesis and its ops' headers.
      welcome = decodeWelcome(payload)
    } catch {
      return
    }
    const genesis = toHex(welcome.genesis)
    /** True when the welcome holds a vouch for us signed by the sender (one signature checked per op whose header names the sender, a few at most). */
    const vouchedBySender = (gid: string): boolean => {
      let checked = 0
      for (const op of welcome.ops) {
        if (op.length < 66 || toHex(op.subarray(2, 34)) !== gid || toHex(op.subarray(34, 66)) !== fromId) continue
        if (++checked > MAX_WELCOME_SENDER_OPS_CHECKED) return false
        try {
          const decoded = decodeGroupOp(crypto, op)
          if (decoded.type === 'vouch' && decoded.request.candidateId === ctx.ownId()) return true
        } catch {}
      }
      return false
    }
    const tries = [...ctx.groups.values()].filter((c) => {
      if (c.record.membership === 'member') return c.state.members.has(fromId) && c.record.genesis === genesis
      if (c.record.membership !== 'pending' || c.record.request === undefined) return false
      if (c.record.via === fromId) return true
      // Another member who vouched for us (the contact we asked may be away): a few tries per group.
      return (welcomeFailures.get(c.record.id) ?? 0) < MAX_WELCOME_FAILURES && vouchedBySender(c.record.id)
    })
    if (tries.length === 0) {
      log.info('a welcome from a sender we did not ask, or for no group of ours, was dropped', { from: fromId })
      return
    }
    let g: Group | undefined
    let opened: ReturnType<typeof openWelcome> | undefined
    for (const candidate of tries) {
      try {
        ctx.counters.welcomesOpened++
        opened = openWelcome(crypto, payload, { groupId: candidate.record.id, me, voteKey: voteKeyPair(me.signingSeed, fromHex(candidate.record.id)).publicKey })
        g = candidate
        break
      } catch (error) {
        if (candidate.record.membership === 'pending' && candidate.record.via !== fromId) welcomeFailures.set(candidate.record.id, (welcomeFailures.get(candidate.record.id) ?? 0) + 1)
        log.debug('a welcome did not open for a group', { group: candidate.record.id, from: fromId, why: (error as { reason?: string }).reason })
      }
    }
    if (g === undefined || opened === undefined) {
      log.info('a welcome for no group we asked to join was dropped', { from: fromId })
      return
    }
    const gid = g.record.id
    if (!opened.state.members.has(fromId)) return // a welcome comes from a member
    if (g.record.membership === 'pending') {
      g.record.membership = 'member'
      g.record.name = opened.state.name
      g.record.genesis = opened.genesis
      g.record.secrets = { [String(opened.epoch)]: { op: opened.state.rekeys.get(opened.epoch) ?? '', secret: toHex(opened.epochSecret) } }
      if (opened.previousEpochSecret !== undefined) {
        g.record.secrets[String(opened.epoch - 1)] = { op: opened.state.rekeys.get(opened.epoch - 1) ?? '', secret: toHex(opened.previousEpochSecret) }
      }
      delete g.record.request
      g.record.joinedAt = Date.now()
      welcomeFailures.delete(gid)
      log.info('welcomed into a group', { group: gid, epoch: opened.epoch })
      ctx.sync.addOps(g, opened.ops, step, { budget: false })
    } else {
      ctx.sync.addOps(g, opened.ops, step)
    }
    ctx.sync.fold(g)
    ctx.sync.prune(g, step)
    const reconciled = await ctx.sync.reconcile(g)
    step.ops.push(...reconciled.ops)
    step.after.push(...reconciled.after)
    step.newTags.push(...reconciled.newTags)
  }

  /** Resolves once the re-checks of waiting votes started so far are done. */
  async function settled (): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve))
    while (background.size > 0) await Promise.all([...background])
  }

  return { takeJoinRequest, takePost, takeVote, promoteVotes, takeWelcome, settled }
}

/** The incoming side of a node's groups. */
export type GroupIncoming = ReturnType<typeof createGroupIncoming>
