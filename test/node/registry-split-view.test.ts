/**
 * A dishonest Operator: two instances holding the SAME identity but
 * different logs, each showing its own to one node. The nodes gossip the
 * heads they were shown and find the split view: two signed heads that
 * cannot both be true. The evidence is kept durably and reported.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createKomradeNode, RegistryVerificationError, type KomradeNode, type SplitViewEvidence } from '../../node/index.js'
import { createIdentity, decodeTreeHead, fromHex, verifyConsistency, verifyTreeHead } from '../../protocol/index.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'
import {
  cleanupOperators, crypto, registerDirectly, startOperator, twinOperatorDirs, waitForHeadTopic, type TestOperator
} from './registry-operators.js'

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
})

/** Records the 'split-view' events of a node. */
function evidenceOf (node: KomradeNode): SplitViewEvidence[] {
  const seen: SplitViewEvidence[] = []
  node.addEventListener('split-view', (event) => { seen.push((event as CustomEvent<SplitViewEvidence>).detail) })
  return seen
}

/** Two Operator instances with one identity, and a node pinned to each, gossiping with each other. */
async function forkedNetwork (): Promise<{ ops: [TestOperator, TestOperator], x: Awaited<ReturnType<typeof startNode>>, y: Awaited<ReturnType<typeof startNode>> }> {
  const [dir1, dir2] = await twinOperatorDirs()
  const op1 = await startOperator({ dataDir: dir1 })
  const op2 = await startOperator({ dataDir: dir2 })
  expect(op1.operator.identity).toBe(op2.operator.identity)
  const x = await startNode({ operator: op1.config })
  const y = await startNode({ operator: op2.config })
  await connect(x.node, y.node)
  await waitForHeadTopic(x.node, y.node)
  await waitForHeadTopic(y.node, x.node)
  return { ops: [op1, op2], x, y }
}

/** Checks a piece of evidence on its own: both heads signed by the Operator, and what they contradict. */
function checkEvidence (evidence: SplitViewEvidence, operatorIdentity: string): void {
  const key = fromHex(operatorIdentity).subarray(0, 32)
  const [a, b] = evidence.heads.map((hex) => decodeTreeHead(fromHex(hex)))
  expect(verifyTreeHead(crypto, key, a!)).toBe(true)
  expect(verifyTreeHead(crypto, key, b!)).toBe(true)
  if (evidence.kind === 'same-size') {
    expect(a!.size).toBe(b!.size)
    expect(a!.root).not.toEqual(b!.root)
  } else {
    expect(a!.size).not.toBe(b!.size)
  }
}

describe('split view', () => {
  it('two nodes shown different logs of one size find it, keep the evidence, and still hold it after a restart', async () => {
    const { ops: [op1, op2], x, y } = await forkedNetwork()
    // "mallory" is key A in one log and key B in the other: one size, two roots.
    await registerDirectly(op1.operator, createIdentity(crypto), 'mallory')
    await registerDirectly(op2.operator, createIdentity(crypto), 'mallory')
    const xEvidence = evidenceOf(x.node)
    const yEvidence = evidenceOf(y.node)

    // Whichever looks up second may already hold the other's head: its lookup is refused then.
    const lookups = await Promise.allSettled([x.node.lookup('mallory'), y.node.lookup('mallory')])
    for (const result of lookups) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(RegistryVerificationError)
    }
    // The second node may learn the other log's head only by relay, from the other Operator's
    // gossip through the first node: several gossip heartbeats, slow on a loaded machine.
    await waitFor('both nodes to find the split view', () =>
      (x.node.status().registry?.splitViews ?? 0) > 0 && (y.node.status().registry?.splitViews ?? 0) > 0, 75_000)
    for (const evidence of [...xEvidence, ...yEvidence]) {
      expect(evidence.kind).toBe('same-size')
      checkEvidence(evidence, op1.operator.identity)
    }
    expect(xEvidence.length + yEvidence.length).toBeGreaterThanOrEqual(2)

    // The evidence is on disk: a restarted node still reports it.
    const splitViews = x.node.status().registry!.splitViews
    await x.node.stop()
    const again = createKomradeNode({ ...x.init })
    await again.start()
    try {
      expect(again.status().registry?.splitViews).toBe(splitViews)
      // And it keeps refusing the other view's head.
      // (x's own evidence names the other view's head second: heads are [ours, theirs].)
      await expect(again.offerTreeHead(fromHex(xEvidence[0]!.heads[1]!))).resolves.toBe('split-view')
    } finally {
      await again.stop()
    }
  })

  it('a head the Operator cannot prove consistent with a smaller one it signed is evidence too', async () => {
    const { ops: [op1, op2], x, y } = await forkedNetwork()
    // One log holds "mallory"; the other "mallory" with other keys and then "eve": sizes 1 and 2.
    await registerDirectly(op1.operator, createIdentity(crypto), 'mallory')
    await registerDirectly(op2.operator, createIdentity(crypto), 'mallory')
    await registerDirectly(op2.operator, createIdentity(crypto), 'eve')
    const xEvidence = evidenceOf(x.node)
    const yEvidence = evidenceOf(y.node)

    await Promise.allSettled([x.node.lookup('mallory'), y.node.lookup('eve')])
    // The second node may learn the other log's head only by relay, from the other Operator's
    // gossip through the first node: several gossip heartbeats, slow on a loaded machine.
    await waitFor('both nodes to find the split view', () =>
      (x.node.status().registry?.splitViews ?? 0) > 0 && (y.node.status().registry?.splitViews ?? 0) > 0, 75_000)
    const all = [...xEvidence, ...yEvidence]
    expect(all.length).toBeGreaterThanOrEqual(2)
    for (const evidence of all) {
      expect(evidence.kind).toBe('inconsistent')
      checkEvidence(evidence, op1.operator.identity)
      // Anyone can check: the honest proof from the bigger log does not connect the two heads.
      const [a, b] = evidence.heads.map((hex) => decodeTreeHead(fromHex(hex)))
      const [small, big] = a!.size < b!.size ? [a!, b!] : [b!, a!]
      const proof = op2.operator.registry!.consistency(small.size, big.size)
      expect(proof.ok && verifyConsistency(crypto, small.size, big.size, small.root, big.root, proof.value)).toBe(false)
    }
  })

  it('an honest Operator\'s growing log is adopted from gossip with a consistency proof, never as evidence', async () => {
    const op = await startOperator()
    const { node: x } = await startNode({ operator: op.config })
    const { node: y } = await startNode({ operator: op.config })
    await connect(x, y)
    await waitForHeadTopic(x, y)
    await registerDirectly(op.operator, createIdentity(crypto), 'first')
    await x.lookup('first')
    for (const name of ['second', 'third', 'fourth']) await registerDirectly(op.operator, createIdentity(crypto), name)
    await y.lookup('fourth')
    // Y gossips its head of size 4; X proves it extends its head of size 1 and adopts it.
    await waitFor('x to adopt the bigger head', () => x.status().registry?.head?.size === 4)
    expect(x.status().registry?.head?.root).toBe(y.status().registry?.head?.root)
    expect(x.status().registry?.splitViews).toBe(0)
    expect(y.status().registry?.splitViews).toBe(0)
  })
})
