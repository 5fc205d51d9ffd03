/** Test helpers for the node's registry side: real Operators in temp directories on 127.0.0.1. */
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOperator, type Operator, type OperatorInit } from '../../bootstrap/index.js'
import { createIdentityFile, readIdentityFile } from '../../node/identity-file.js'
import type { KomradeNode } from '../../node/komrade-node.js'
import { treeHeadTopic } from '../../node/network-constants.js'
import { createRegistration, createRotation, nativeCrypto, type Identity } from '../../protocol/index.js'
import { waitFor } from './cluster.js'

export const crypto = nativeCrypto()
/** Small proof of work for registrations: tests measure behaviour, not cost. */
export const TEST_WORK_TRIALS = 64
/** Short-lived messages need little proof of work (SPEC §5). */
export const TTL = { ttlMinutes: 10 }

/** A started Operator, and the node option that pins it. */
export interface TestOperator {
  operator: Operator
  dataDir: string
  address: string
  config: { identity: string, addresses: string[] }
}

const cleanups: Array<() => Promise<void>> = []

/** A fresh temp directory, removed by {@link cleanupOperators}. */
export async function tempDir (prefix = 'komrade-registry-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Starts an Operator (small work, no rate limits) in `dataDir` or a fresh directory. */
export async function startOperator (init: Partial<OperatorInit> = {}): Promise<TestOperator> {
  const dataDir = init.dataDir ?? await tempDir('komrade-operator-')
  const operator = createOperator({ listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, rateLimits: false, workThreads: 1, ...init, dataDir })
  await operator.start()
  cleanups.push(async () => { await operator.stop() })
  const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error('the Operator has no loopback address')
  return { operator, dataDir, address, config: { identity: operator.identity, addresses: [address] } }
}

/**
 * Two data directories holding the SAME Operator identity: two instances of
 * one Operator that can keep different logs (a dishonest Operator).
 */
export async function twinOperatorDirs (): Promise<[string, string]> {
  const first = await tempDir('komrade-operator-')
  const second = await tempDir('komrade-operator-')
  await createIdentityFile(crypto, first)
  await copyFile(join(first, 'identity.key'), join(second, 'identity.key'))
  return [first, second]
}

/** Registers `name` for `identity` straight into an Operator's registry. */
export async function registerDirectly (operator: Operator, identity: Identity, name: string): Promise<number> {
  const answer = await operator.registry!.register(await createRegistration(crypto, identity, name, { workTrials: TEST_WORK_TRIALS }))
  if (!answer.ok) throw new Error(`registering ${name} failed: ${answer.message}`)
  return answer.value.head.size - 1
}

/** Moves `name` from `current` to `next` in an Operator's registry (a rotation signed by both keys). */
export async function rotateDirectly (operator: Operator, current: Identity, next: Identity, name: string, previousIndex: number): Promise<number> {
  const request = await createRotation(crypto, current, next, name, previousIndex, { workTrials: TEST_WORK_TRIALS })
  const answer = await operator.registry!.register(request)
  if (!answer.ok) throw new Error(`rotating ${name} failed: ${answer.message}`)
  return answer.value.head.size - 1
}

/** A node's secret identity, read from its data directory. */
export async function identityOf (dataDir: string): Promise<Identity> {
  return await readIdentityFile(crypto, dataDir)
}

/** Waits until `a` sees `b` subscribed to the tree-head topic. */
export async function waitForHeadTopic (a: KomradeNode, b: KomradeNode): Promise<void> {
  const topic = treeHeadTopic('komrade')
  await waitFor('a peer on the tree-head topic', () =>
    a.network.libp2p.services.pubsub.getSubscribers(topic).some((peer) => peer.equals(b.network.peerId)))
}

/** Stops every Operator and removes every directory made here (last made, first cleaned). */
export async function cleanupOperators (): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => {})
}
