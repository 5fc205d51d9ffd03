/**
 * Helpers for the collectives' cross-node tests: real nodes on 127.0.0.1
 * pinning a real Operator (group names are registered), with short-lived
 * internal traffic (little proof of work) and a fast rekey; joining a group
 * the way people do (add the member as a contact, ask through them, the
 * member vouches); comparing the folded states of several nodes.
 */
import type { KomradeNode } from '../../node/komrade-node.js'
import { collectivesTesting } from '../../node/collectives/node-collectives.js'
import { readIdentityFile } from '../../node/identity-file.js'
import { groupStateToJSON, type Identity } from '../../protocol/index.js'
import { startNode, waitFor, type TestNode } from '../node/cluster.js'
import { cleanupSocial, crypto, joinRing, startOperator, type TestOperator } from '../social/social-cluster.js'

export { cleanupSocial, crypto, joinRing, startOperator, waitFor }

/** Lifetime of posts and of the collectives' internal traffic in these tests. */
export const TTL = 10

/** Starts a node pinning `op`, with the collectives' test settings. */
export async function startMember (op: TestOperator, init: Parameters<typeof startNode>[0] = {}): Promise<TestNode> {
  return await startNode({ operator: op.config, collectives: { ttlMinutes: TTL, rekeyStaggerMs: 300 }, ...init })
}

/** The identity (with secrets) of a test node, read from its data directory: what a hostile user of that node holds. */
export async function identityOf (test: TestNode): Promise<Identity> {
  return await readIdentityFile(crypto, test.dataDir)
}

/** The canonical JSON of a node's folded state of `group`. */
export function stateOf (node: KomradeNode, group: string): string {
  return JSON.stringify(groupStateToJSON(collectivesTesting(node).state(group)))
}

/** Waits until every node's folded state of `group` is the same; returns it. */
export async function converged (nodes: KomradeNode[], group: string, timeoutMs = 60_000): Promise<string> {
  let last = ''
  let states: string[] = []
  try {
    await waitFor(`${nodes.length} nodes to fold the same state of ${group}`, () => {
      states = nodes.map((node) => { try { return stateOf(node, group) } catch { return '' } })
      last = states[0]!
      return last !== '' && states.every((s) => s === last)
    }, timeoutMs)
  } catch (error) {
    // Say where they differ: a failure report that shows it is worth more than a timeout.
    const parsed = states.map((s) => (s === '' ? {} : JSON.parse(s) as Record<string, unknown>))
    const differing = Object.keys(parsed[0] ?? {}).filter((key) => parsed.some((p) => JSON.stringify(p[key]) !== JSON.stringify(parsed[0]![key])))
    throw new Error(`${(error as Error).message}; fields that differ: ${differing.map((k) => `${k}: ${parsed.map((p) => JSON.stringify(p[k])).join(' | ')}`).join('; ')}`)
  }
  return last
}

/**
 * `candidate` joins `group` through `via` (a member): it adds `via` as a
 * contact and asks; `via` vouches once the request arrives. Resolves when
 * the candidate is a member in its own view (its welcome arrived).
 */
export async function join (candidate: KomradeNode, via: KomradeNode, group: string, note = 'let me in'): Promise<void> {
  await candidate.contacts.add(via.publicIdentity)
  const asked = await candidate.groups.requestJoin(group, { via: via.status().id, note })
  if (asked.membership !== 'pending') throw new Error(`expected a pending request, got ${asked.membership}`)
  await waitFor(`${group}: the request at the member`, async () => (await via.groups.requests(group)).some((r) => r.candidate === candidate.status().id), 60_000)
  await via.groups.vouch(group, candidate.status().id)
  await waitFor(`${group}: the welcome at the candidate`, async () => (await candidate.groups.get(group))?.membership === 'member', 60_000)
}

/** Waits until `node`'s feed of `group` holds a post with this text; returns it. */
export async function postSeen (node: KomradeNode, group: string, text: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${group}: "${text}" in a feed`, async () => (await node.groups.feed(group, { limit: 100 })).posts.some((p) => p.text === text), timeoutMs)
}

/** The texts of a node's group feed, newest first. */
export async function feedTexts (node: KomradeNode, group: string): Promise<string[]> {
  return (await node.groups.feed(group, { limit: 100 })).posts.map((p) => p.text)
}
