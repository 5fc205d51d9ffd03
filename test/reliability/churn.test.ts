/**
 * Reliability scenario 1, churn (issue 7).
 *
 * Load: 20 node processes on 127.0.0.1 in a ring of 8 peers each (offsets
 * 1, 2, 5, 7), cover traffic off, 1 message a second (and its receipt) from random running
 * nodes to random nodes (running or not), TTL 10 minutes. Faults: every
 * period, 20% of the nodes (4) are stopped gracefully, and restarted half a
 * period later (they redial their ring neighbours on their new port).
 * Sizes at scale 1 (CI): a 10 s period, 4 periods (40 s of churn). The
 * issue's full size (30 s for 3 minutes) is scale 3:
 * `KOMRADE_RELIABILITY_SCALE=3 npx vitest run test/reliability/churn.test.ts`
 * (period 10 s x scale up to 30 s, 3 + scale periods, 20 nodes up to scale
 * 3 and 20 x scale / 3 beyond).
 *
 * Pass criterion: every message a node reported queued is received by its
 * recipient exactly once (counted at the application level, `message`
 * events over all of the recipient's lives; every node came back well within
 * the TTL); and the stores converge within one resync period (30 s, set
 * short for the test) after churn and traffic stop: at that moment each
 * node's store count equals its final count, and every node's final
 * envelope set (read from its LevelDB after a graceful stop) is the same.
 */
import { afterAll, expect, it } from 'vitest'
import {
  allQueued, pick, randomInt, reporter, ringEdges, ringNeighbours, SCALE, scaled, sleep, startCluster, until,
  type Cluster, type NodeProcess
} from './harness.js'

const NODES = Math.max(20, Math.round(20 * SCALE / 3))
const CHURN = Math.round(NODES * 0.2)
const PERIOD_MS = Math.min(30_000, scaled(10_000))
const PERIODS = 3 + Math.round(SCALE)
/**
 * Short, so that "one resync period" fits the test (the default is 5
 * minutes), yet long enough for the last receipts to be sealed and flooded
 * on a machine shared with other test files (10 s was not, there).
 */
const RESYNC_INTERVAL_MS = 30_000
const MESSAGES_PER_SECOND = 1
const TTL_MINUTES = 10
/** Gossip mesh peers every node must have before traffic starts (gossipsub's Dlo). */
const MIN_MESH_PEERS = 4
/** A message still missing this long after traffic stopped is lost. */
const DELIVERY_TIMEOUT_MS = 60_000

const log = reporter('churn')
let cluster: Cluster | undefined

afterAll(async () => { await cluster?.close() })

it(`delivers exactly once and converges under ${CHURN}/${NODES} nodes churned every ${PERIOD_MS / 1000} s for ${PERIODS} periods`, async () => {
  const started = performance.now()
  cluster = await startCluster({ count: NODES, resyncIntervalMs: RESYNC_INTERVAL_MS, prefix: 'komrade-churn-' })
  const { nodes } = cluster
  await cluster.connect(ringEdges(NODES))
  await cluster.waitForMeshes(MIN_MESH_PEERS)
  log(`${NODES} nodes up and meshed in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  // Traffic: from a random running node to a random other node, paced; a send a stopping node refuses is not acknowledged.
  let trafficOn = true
  let refused = 0
  const sends: Array<Promise<unknown>> = []
  const traffic = (async () => {
    for (let n = 0; trafficOn; n++) {
      const senders = nodes.filter((node) => node.running)
      if (senders.length > 0) {
        const from = senders[randomInt(senders.length)]!
        const others = nodes.filter((node) => node !== from)
        const to = others[randomInt(others.length)]!
        sends.push(from.send(to.info.publicIdentity, `churn ${n} ${from.index}->${to.index}`, TTL_MINUTES).catch(() => { refused++ }))
      }
      await sleep(1000 / MESSAGES_PER_SECOND)
    }
  })()

  let churned = 0
  let dialsFailed = 0
  for (let period = 0; period < PERIODS; period++) {
    const periodStart = performance.now()
    const victims = pick(nodes.filter((node) => node.running), CHURN)
    await Promise.all(victims.map(async (node) => { await node.stop() }))
    churned += victims.length
    await sleep(Math.max(0, periodStart + PERIOD_MS / 2 - performance.now()))
    await Promise.all(victims.map(async (node) => { dialsFailed += await restart(cluster!, node) }))
    await sleep(Math.max(0, periodStart + PERIOD_MS - performance.now()))
  }
  trafficOn = false
  await traffic
  await Promise.all(sends)
  const churnEnded = performance.now()
  log(`churn over: ${churned} stops and restarts, ${allQueued(nodes).size} messages queued, ${refused} sends refused by stopping nodes, ${dialsFailed} redials of a ring neighbour failed`)

  // One resync period after churn and traffic stopped, the stores must hold their final sets.
  await sleep(Math.max(0, churnEnded + RESYNC_INTERVAL_MS - performance.now()))
  const countsAtDeadline = await Promise.all(nodes.map(async (n) => (await n.request<{ storeCount: number }>('status')).storeCount))

  const queued = allQueued(nodes)
  const recipientOf = (to: string): NodeProcess => nodes[cluster!.indexOf(to)]!
  const missing = (): string[] => [...queued.values()].filter((m) => !recipientOf(m.to).received.has(m.id)).map((m) => m.id)
  await until('every queued message at its recipient', () => missing().length === 0, DELIVERY_TIMEOUT_MS).catch(() => {})
  const lost = missing()
  const duplicates = [...queued.values()].filter((m) => (recipientOf(m.to).received.get(m.id) ?? 0) > 1)
  log(`delivery: ${queued.size - lost.length}/${queued.size} received, ${lost.length} lost, ${duplicates.length} delivered more than once`)

  await Promise.all(nodes.map(async (n) => { await n.stop() }))
  const sets = await Promise.all(nodes.map(async (n) => (await n.request<{ ids: string[] }>('storedIds')).ids))
  const reference = sets[0]!
  const differing = sets.map((set, i) => ({ i, set })).filter(({ set }) => set.join() !== reference.join()).map(({ i }) => i)
  const grewLate = countsAtDeadline.map((count, i) => ({ i, count })).filter(({ i, count }) => count !== sets[i]!.length)
  log(`stores: ${reference.length} envelopes at node 0, ${differing.length} nodes differ; one resync period after churn: ` +
    `${Math.min(...countsAtDeadline)}..${Math.max(...countsAtDeadline)} envelopes, ${grewLate.length} nodes changed later; wall time ${((performance.now() - started) / 1000).toFixed(1)} s`)

  expect(nodes.flatMap((n) => n.unexpectedExits), 'node processes that died by themselves').toEqual([])
  expect(queued.size).toBeGreaterThan(0)
  expect(churned).toBe(PERIODS * CHURN)
  expect(lost, 'messages never received').toEqual([])
  expect(duplicates.map((m) => m.id), 'messages received more than once').toEqual([])
  expect(reference.length).toBeGreaterThanOrEqual(queued.size)
  expect(differing, 'nodes whose envelope set differs from node 0').toEqual([])
  expect(grewLate, 'nodes whose store changed after one resync period').toEqual([])
}, 600_000)

/**
 * Starts a stopped node again and redials its ring neighbours (its port
 * changed; they cannot dial it). Returns the neighbours it could not reach
 * (one stopping meanwhile, or an overloaded machine); its dialer tops up
 * from the DHT as in real life.
 */
async function restart (cluster: Cluster, node: NodeProcess): Promise<number> {
  await node.start()
  const neighbours = ringNeighbours(node.index, cluster.nodes.length).filter((i) => cluster.nodes[i]!.running)
  const { failed } = await cluster.dial(node.index, neighbours)
  return failed.length
}
