/**
 * Expiry removes posts everywhere. Four nodes in a ring on 127.0.0.1 and an
 * Operator; the author posts to the world and to its circle with a lifetime
 * of one minute, and a control post that lives 30 minutes. Proves: every
 * node shows the short posts (the member the circle one), then none does
 * (no feed, no getPost) once they expire, while the control stays. A fifth
 * node, also in the circle, joins after expiry: resync still hands it the
 * expired envelopes (inside the clock-skew allowance), and it never shows
 * them, not even as a `post` event. Last, the short posts' envelopes leave
 * every node's store (the resync probe no longer finds them) once the
 * 5-minute clock-skew allowance of SPEC §7 is past, while the control's stay.
 *
 * Time: all nodes run in this process, so the test moves their shared clock
 * (`Date` only; timers stay real) past expiry and past the allowance instead
 * of waiting; about 2 minutes. KOMRADE_SOCIAL_REAL_TIME=1 waits on the wall
 * clock instead (about 8 minutes).
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import type { KomradeNode } from '../../node/komrade-node.js'
import type { Post } from '../../node/social/types.js'
import { CLOCK_SKEW_MINUTES, envelopeExpiryMinute, minuteOf } from '../../protocol/index.js'
import {
  addToCircle, cleanupSocial, connect, idOf, inFeed, isSubset, recordEvents, startOperator, startRing, startSocialNode, startStoreProbe, unseen, waitFor
} from './social-cluster.js'

afterEach(cleanupSocial)

/** Enough for the envelopes to pass expiry (1 minute), the clock-skew allowance (5) and a prune interval (1), with room. */
const PRUNE_WAIT_MS = 11 * 60_000
/** KOMRADE_SOCIAL_REAL_TIME=1 waits for time on the wall clock (about 8 minutes) instead of moving the clock. */
const REAL_TIME = process.env.KOMRADE_SOCIAL_REAL_TIME === '1'

/**
 * Lets the time run to `when` (unix ms). Every node of this test runs in this
 * process and reads the same `Date`, so by default the clock is moved forward
 * at once for all of them, as if the minutes had passed (timers stay real: each
 * node's housekeeping still runs on its own minute interval, and what it sees
 * is the later time). With KOMRADE_SOCIAL_REAL_TIME=1 the test waits instead.
 */
async function letTimePass (when: number): Promise<void> {
  if (REAL_TIME) await waitFor('the time to pass', () => Date.now() >= when, when - Date.now() + 60_000)
  else if (when > Date.now()) vi.setSystemTime(when)
}

beforeEach(() => { if (!REAL_TIME) vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true }) })
afterEach(() => { vi.useRealTimers() })

it('a post that lives one minute leaves every feed and every store; a longer one stays', async () => {
  const started = performance.now() // wall time: Date is moved forward below
  const op = await startOperator()
  const nodes = await startRing(op, 4)
  const [author, member, ...others] = nodes as [KomradeNode, KomradeNode, ...KomradeNode[]]
  await author.register('shortlived')
  // A fifth node, also in the circle, joins only after the short posts expired.
  const { node: late } = await startSocialNode(op)
  const lateEvents = recordEvents(late)
  await addToCircle(author, member)
  await addToCircle(author, late)
  // The member reads a first circle post, and the author's work is done: the chain handoffs are out before we
  // watch what the author publishes.
  const warmUp = await author.social.post({ text: 'warm-up', audience: 'circle', ttlMinutes: 10 })
  await waitFor('the member to read the warm-up', async () => (await inFeed(member, 'home', warmUp.id)).length === 1, 60_000)
  await waitFor('the author\'s work to finish', () => author.status().workPending === 0, 60_000)
  const probe = await startStoreProbe()

  // What the author floods for each post (the node's embedding API: its network's publish).
  const published = vi.spyOn(author.network, 'publish')
  const knownBefore = await probe.held(author)
  const shown = async (node: KomradeNode, post: Post, feed: 'world' | 'home'): Promise<boolean> => (await inFeed(node, feed, post.id)).length === 1
  const everyone = [author, member, ...others]

  // Post just after a minute starts: a one-minute post then lives close to two minutes (its expiry minute runs out),
  // time enough for every node to show it before it goes.
  await letTimePass(Math.ceil(Date.now() / 60_000) * 60_000 + 200)
  const world = await author.social.post({ text: 'gone in a minute', audience: 'world', ttlMinutes: 1 })
  const circle = await author.social.post({ text: 'circle, gone in a minute', audience: 'circle', ttlMinutes: 1 })
  const control = await author.social.post({ text: 'still here', audience: 'world', ttlMinutes: 30 })
  expect(world.expiresAt - world.sentAt).toBeLessThanOrEqual(2 * 60_000)
  expect(world.expiresAt).toBeGreaterThan(world.sentAt)

  // Each node shows them before expiry (the check below must not pass on posts that never arrived).
  await waitFor('every node to show the short world post', async () => {
    for (const node of everyone) if (!await shown(node, world, 'world')) return false
    return await shown(member, circle, 'home') && await shown(author, circle, 'home')
  }, 50_000)
  expect(Date.now()).toBeLessThan(world.expiresAt) // else the test proves nothing: it ran too slowly to see them live
  await waitFor('every node to show the control', async () => {
    for (const node of everyone) if (!await shown(node, control, 'world')) return false
    return true
  }, 60_000)

  // The author's new envelopes, told apart by their expiry minute (a post's expiresAt is the end of that minute).
  const fresh = new Map(published.mock.calls.map(([envelope]) => [idOf(envelope), envelope] as const).filter(([id]) => !knownBefore.has(id)))
  published.mockRestore()
  const expiringWith = (post: Post): string[] =>
    [...fresh].filter(([, e]) => envelopeExpiryMinute(e) === minuteOf(post.expiresAt) - 1).map(([id]) => id)
  const shortIds = [...new Set([...expiringWith(world), ...expiringWith(circle)])]
  const controlIds = expiringWith(control)
  expect(shortIds).toHaveLength(2) // two one-envelope text posts
  expect(controlIds).toHaveLength(1)
  for (const node of everyone) {
    const held = await probe.held(node)
    expect([...fresh.keys()].every((id) => held.has(id))).toBe(true)
  }

  await letTimePass(Math.max(world.expiresAt, circle.expiresAt) + 1_000)
  await waitFor('the short posts to leave every feed', async () => {
    for (const node of everyone) if (!await unseen(node, world.id) || !await unseen(node, circle.id)) return false
    return true
  }, 3 * 60_000)
  for (const node of everyone) expect(await shown(node, control, 'world')).toBe(true)
  console.log(`expiry: feeds empty after ${Math.round(performance.now() - started)} ms of wall time`)

  // The late node joins now: resync still hands it the expired envelopes (within the clock-skew allowance), and it
  // must not show them, not even for a moment (no 'post' event); it shows the control and the warm-up.
  await connect(late, others[0]!)
  await waitFor('the late node to take everything in', async () => isSubset(new Set(fresh.keys()), await probe.held(late)), 60_000)
  await waitFor('the late node to show the control and the warm-up', async () =>
    await shown(late, control, 'world') && (await inFeed(late, 'home', warmUp.id)).length === 1, 60_000)
  expect(await unseen(late, world.id)).toBe(true)
  expect(await unseen(late, circle.id)).toBe(true)
  expect(lateEvents.posts.map((p) => p.id).sort()).toEqual([control.id, warmUp.id].sort())
  everyone.push(late)

  // Past the clock-skew allowance: every node's next housekeeping (at most a minute away) prunes them.
  await letTimePass((minuteOf(Math.max(world.expiresAt, circle.expiresAt)) + CLOCK_SKEW_MINUTES + 1) * 60_000 + 1_000)
  await waitFor('the short posts\' envelopes to leave every store', async () => {
    for (const node of everyone) {
      const held = await probe.held(node)
      if (shortIds.some((id) => held.has(id))) return false
    }
    return true
  }, PRUNE_WAIT_MS)
  for (const node of everyone) {
    const held = await probe.held(node)
    expect(controlIds.every((id) => held.has(id))).toBe(true)
  }
  for (const node of everyone) expect(await shown(node, control, 'world')).toBe(true)
  console.log(`expiry: stores pruned after ${Math.round(performance.now() - started)} ms of wall time`)
}, 16 * 60_000)
