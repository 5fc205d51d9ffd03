/**
 * Reliability scenario 2, crash durability (issue 7).
 *
 * Load: a victim node process and 3 peer processes on 127.0.0.1, all
 * connected, cover traffic off, resync every second (so kills land in
 * resyncs too): the peers send the victim 6 messages a second in all,
 * without pause (while it is down they wait in the peers' stores and come
 * back through resync), and the victim sends 5 a second to random peers
 * while it runs. Faults: the victim is SIGKILLed 50 times (x scale), each
 * time 0.3 to 1.8 s after it came up, and restarted on the same data
 * directory. Alongside, an Operator registry process registering names 16
 * at a time is SIGKILLed 50 times (x scale), reusing
 * test/bootstrap/registry-crash-child.ts.
 *
 * Pass criterion: every restart starts without repair; after each restart
 * the outbox holds every message the victim had reported queued and the
 * inbox every message it had reported received; at the end every message
 * either side queued is received by the other exactly once (a `message`
 * event, or in the inbox: a kill between the inbox commit and its event
 * leaves none; never two events), which shows the victim's sessions
 * survived every kill (what it sealed in any life opens at its peers, and
 * what they sealed opens at the victim); one more exchange after the last
 * restart goes both ways; and no node process died by itself. The registry keeps every name it
 * acknowledged, and its log audits clean.
 *
 * `KOMRADE_RELIABILITY_SCALE=5 npx vitest run test/reliability/crash.test.ts` for 250 kills of each.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { auditLog, exportLog, openRegistry } from '../../bootstrap/index.js'
import { createIdentity, encodeIdentity, toHex } from '../../protocol/index.js'
import { crypto, removeTempDirs, tempDir } from '../bootstrap/registry-helpers.js'
import { randomInt, reporter, scaled, sleep, startCluster, until, type Cluster, type NodeProcess } from './harness.js'

const KILLS = scaled(50)
const REGISTRY_KILLS = scaled(50)
const PEERS = 3
/** Short, so that resyncs are running at many of the kills (the default is 5 minutes). */
const RESYNC_INTERVAL_MS = 1_000
const PEER_MESSAGES_PER_SECOND = 2
const VICTIM_MESSAGES_PER_SECOND = 5
const TTL_MINUTES = 10
/** The victim lives this long after it is up (and has dialed its peers), plus up to KILL_SPREAD_MS at random. */
const KILL_AFTER_MS = 300
const KILL_SPREAD_MS = 1_500
/** "Receiving" at a kill: a message arrived this recently. */
const RECEIVING_WINDOW_MS = 200
const DELIVERY_TIMEOUT_MS = 90_000
const REGISTRY_CHILD = join(import.meta.dirname, '..', 'bootstrap', 'registry-crash-child.ts')

const log = reporter('crash')
let cluster: Cluster | undefined

afterAll(async () => {
  await cluster?.close()
  await removeTempDirs()
})

describe.concurrent('SIGKILL durability', () => {
  it(`a node loses nothing it acknowledged across ${KILLS} SIGKILLs mid-traffic`, async () => {
    const started = performance.now()
    cluster = await startCluster({ count: 1 + PEERS, resyncIntervalMs: RESYNC_INTERVAL_MS, prefix: 'komrade-crash-' })
    const [victim, ...peers] = cluster.nodes as [NodeProcess, ...NodeProcess[]]
    await cluster.connect(peers.flatMap((p, i) => [[victim.index, p.index] as const, ...peers.slice(i + 1).map((q) => [p.index, q.index] as const)]))
    await cluster.waitForMeshes(PEERS)
    const victimIdentity = victim.info.publicIdentity

    // First contacts both ways, so that sessions exist before the first kill.
    await Promise.all(peers.map(async (p) => {
      await victim.send(p.info.publicIdentity, `hello ${p.index}`, TTL_MINUTES)
      await p.send(victimIdentity, `hello from ${p.index}`, TTL_MINUTES)
    }))
    await until('the first contacts', () => [...victim.queued.values()].every((m) => peers[cluster!.indexOf(m.to) - 1]!.received.has(m.id)) &&
      peers.every((p) => [...p.queued.keys()].every((id) => victim.received.has(id))), 60_000)
    log(`4 nodes up, sessions open in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    let trafficOn = true
    const sends: Array<Promise<unknown>> = []
    let refused = 0
    const peerErrors: string[] = []
    const fromPeers = (async () => {
      for (let n = 0; trafficOn; n++) {
        const peer = peers[n % PEERS]!
        sends.push(peer.send(victimIdentity, `to victim ${n}`, TTL_MINUTES).catch((error: Error) => { peerErrors.push(error.message) }))
        await sleep(1000 / (PEER_MESSAGES_PER_SECOND * PEERS))
      }
    })()
    const fromVictim = (async () => {
      for (let n = 0; trafficOn; n++) {
        // A send cut by the kill is not acknowledged: only those that resolved count.
        if (victim.running) sends.push(victim.send(peers[randomInt(PEERS)]!.info.publicIdentity, `from victim ${n}`, TTL_MINUTES).catch(() => { refused++ }))
        await sleep(1000 / VICTIM_MESSAGES_PER_SECOND)
      }
    })()

    const atKill = { sending: 0, receiving: 0, resyncing: 0 }
    const lostAfterRestart: string[] = []
    let restarts = 0
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        await sleep(KILL_AFTER_MS + Math.random() * KILL_SPREAD_MS)
        if (victim.sendsInFlight > 0) atKill.sending++
        if (performance.now() - victim.lastReceivedAt < RECEIVING_WINDOW_MS) atKill.receiving++
        if (victim.syncsInFlight > 0) atKill.resyncing++
        await victim.kill()
        const acknowledgedOut = [...victim.queued.keys()]
        const acknowledgedIn = [...victim.received.keys()]
        // Restarted without repair: a start that fails fails the test.
        await victim.spawn()
        restarts++
        const outbox = new Set((await victim.request<{ messages: Array<{ id: string }> }>('outbox')).messages.map((m) => m.id))
        const inbox = new Set((await victim.request<{ messages: Array<{ id: string }> }>('inbox')).messages.map((m) => m.id))
        lostAfterRestart.push(...acknowledgedOut.filter((id) => !outbox.has(id)).map((id) => `outbox ${id} (kill ${kill})`))
        lostAfterRestart.push(...acknowledgedIn.filter((id) => !inbox.has(id)).map((id) => `inbox ${id} (kill ${kill})`))
        await cluster.connect(peers.map((p) => [victim.index, p.index] as const))
        if ((kill + 1) % 10 === 0) log(`${kill + 1} kills after ${((performance.now() - started) / 1000).toFixed(1)} s`)
      }
    } finally {
      trafficOn = false
      await Promise.all([fromPeers, fromVictim])
      await Promise.all(sends)
    }
    log(`${restarts} kills and restarts in ${((performance.now() - started) / 1000).toFixed(1)} s; at the kills: ${atKill.sending} sending, ${atKill.receiving} receiving (a message in the last ${RECEIVING_WINDOW_MS} ms), ${atKill.resyncing} resyncing; ${refused} sends cut by a kill`)

    // After the last restart: one more message each way on every session.
    await Promise.all(peers.map(async (p) => {
      await victim.send(p.info.publicIdentity, `after the kills to ${p.index}`, TTL_MINUTES)
      await p.send(victimIdentity, `after the kills from ${p.index}`, TTL_MINUTES)
    }))
    const toPeers = [...victim.queued.values()]
    const toVictim = peers.flatMap((p) => [...p.queued.values()])
    // Received: a `message` event, or in the inbox (a kill between the inbox commit and the event leaves no event).
    const inboxes = new Map<NodeProcess, Set<string>>()
    const has = (node: NodeProcess, id: string): boolean => node.received.has(id) || inboxes.get(node)?.has(id) === true
    const missing = (): string[] => [
      ...toPeers.filter((m) => !has(cluster!.nodes[cluster!.indexOf(m.to)]!, m.id)).map((m) => `to peer: ${m.text}`),
      ...toVictim.filter((m) => !has(victim, m.id)).map((m) => `to victim: ${m.text}`)
    ]
    await until('every acknowledged message at its recipient', () => missing().length === 0, DELIVERY_TIMEOUT_MS).catch(() => {})
    for (const node of cluster.nodes) inboxes.set(node, new Set((await node.request<{ messages: Array<{ id: string }> }>('inbox')).messages.map((m) => m.id)))
    const lost = missing()
    const withoutEvent = toVictim.filter((m) => !victim.received.has(m.id) && inboxes.get(victim)!.has(m.id)).length
    const duplicates = [
      ...toPeers.filter((m) => (cluster!.nodes[cluster!.indexOf(m.to)]!.received.get(m.id) ?? 0) > 1),
      ...toVictim.filter((m) => (victim.received.get(m.id) ?? 0) > 1)
    ].map((m) => m.text)
    log(`messages: ${toPeers.length} from the victim, ${toVictim.length} to it; ${lost.length} lost, ${duplicates.length} duplicated, ${withoutEvent} in the inbox without an event (killed between commit and event), ${lostAfterRestart.length} acknowledged entries missing after a restart; wall time ${((performance.now() - started) / 1000).toFixed(1)} s`)

    expect(cluster.nodes.flatMap((n) => n.unexpectedExits), 'node processes that died by themselves').toEqual([])
    expect(peerErrors, 'sends refused by a peer').toEqual([])
    expect(restarts).toBe(KILLS)
    expect(toPeers.length).toBeGreaterThan(KILLS)
    expect(toVictim.length).toBeGreaterThan(KILLS)
    expect(lostAfterRestart, 'acknowledged entries missing after a restart').toEqual([])
    expect(lost, 'acknowledged messages never received').toEqual([])
    expect(duplicates, 'messages received more than once').toEqual([])
  }, 900_000)

  it(`an Operator registry keeps every acknowledged name across ${REGISTRY_KILLS} SIGKILLs`, async () => {
    const started = performance.now()
    const dir = await tempDir('komrade-registry-kills-')
    const dbPath = join(dir, 'registry')
    const operator = createIdentity(crypto)
    const acked = new Set<string>()
    const refused: string[] = []
    for (let round = 0; round < REGISTRY_KILLS; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', REGISTRY_CHILD, dbPath, toHex(encodeIdentity(operator)), `round${round}_`], { stdio: ['ignore', 'pipe', 'inherit'] })
      const events: Array<{ ready?: boolean, acked?: string, refused?: string }> = []
      createInterface({ input: child.stdout }).on('line', (line) => { events.push(JSON.parse(line) as typeof events[number]) })
      const exited = new Promise((resolve) => child.once('exit', resolve))
      try {
        // Opened without repair, then killed at a random moment once registrations flow.
        await until(`registry round ${round} to acknowledge a name`, () => events.some((e) => e.acked !== undefined) || child.exitCode !== null, 60_000)
        expect(child.exitCode, `registry round ${round} exited by itself`).toBe(null)
        await sleep(Math.random() * 700)
      } finally {
        child.kill('SIGKILL')
        await exited
      }
      for (const event of events) {
        if (event.acked !== undefined) acked.add(event.acked)
        if (event.refused !== undefined) refused.push(event.refused)
      }
    }

    const registry = await openRegistry({ dbPath, crypto, operator, workTrials: 16 })
    try {
      const lost: string[] = []
      for (const name of acked) if (!(await registry.lookup(name, 0)).ok) lost.push(name)
      const file = join(dir, 'log.export')
      await exportLog(registry, file)
      const report = await auditLog(file, { operator: toHex(operator.signingKey) })
      log(`registry: ${REGISTRY_KILLS} kills, ${acked.size} names acknowledged, ${registry.size} entries, ${lost.length} lost, audit problems ${report.problems.length}; wall time ${((performance.now() - started) / 1000).toFixed(1)} s`)
      expect(refused, 'no fresh name should be refused').toEqual([])
      expect(acked.size).toBeGreaterThan(REGISTRY_KILLS)
      expect(lost, 'acknowledged names lost').toEqual([])
      expect(registry.size).toBeGreaterThanOrEqual(acked.size)
      expect(report.problems).toEqual([])
      expect(report.headMatches).toBe(true)
      expect(report.names).toBe(registry.size)
    } finally {
      await registry.close()
    }
  }, 900_000)
})
