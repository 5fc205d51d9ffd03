/**
 * Reliability scenario 3: spam.
 *
 * Setup: four honest nodes exchanging messages: three real node processes
 * (harness.ts) and one in this process (H0, whose gossipsub scores the test
 * reads), fully connected on 127.0.0.1. Five hostile peers (spam-helpers.ts:
 * stock gossipsub, no validator) in two processes of their own, each peer
 * connected to all four honest nodes:
 * - 2 "valid" peers mine envelopes at the network's minimum target (TTL
 *   charged as 0 minutes: WORK_BASE_TRIALS = 16,384 expected trials) on one
 *   core, publishing each as soon as it is solved;
 * - 3 "invalid" peers publish envelopes that fail checkEnvelope in each of
 *   its ways (wrong size, unknown version, expired, too far, insufficient
 *   work) as fast as their event loop allows.
 * Load (x KOMRADE_RELIABILITY_SCALE): FLOOD_SECONDS of flood, during which
 * each honest node sends ROUNDS messages to each other honest node.
 *
 * Pass criterion:
 *  - honest delivery >= 99% (each message counted once, at its recipient);
 *  - no invalid envelope is stored by any honest node;
 *  - at H0, every invalid sender's gossipsub score is below
 *    SCORE_THRESHOLDS.graylistThreshold (-80), every valid sender's above it;
 *  - honest memory stays bounded: the RSS of each honest process never
 *    exceeds its pre-flood RSS by more than MEMORY_BOUND_BYTES. Why it holds:
 *    what spam can make a node keep is (a) the store, on disk under its
 *    quota, with ~150 bytes of index in memory per envelope (here at most
 *    the spammer's few thousand); (b) gossipsub's message cache (mcacheLength
 *    5 heartbeats of envelopes: the last ~5 s of valid traffic, 2 KiB each)
 *    and seen cache (ids of the last 2 minutes, ~100 bytes each); (c) the
 *    validation queue, one frame of at most MAX_INBOUND_RPC_BYTES per peer
 *    stream being read. Invalid envelopes are never stored, and once a sender is
 *    graylisted its frames are dropped unvalidated. None of this grows with
 *    the flood's length beyond the valid rate, which proof of work caps.
 *  - reported: the spammer's cost per accepted envelope, in CPU seconds of
 *    proof of work (measured with the mining thread's CPU clock).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { envelopeTopic, SCORE_THRESHOLDS } from '../../node/network-constants.js'
import type { ReceivedMessage } from '../../node/komrade-node.js'
import { WORK_BASE_TRIALS } from '../../protocol/index.js'
import { cleanup as cleanupInProcess, startNode, type TestNode } from '../node/cluster.js'
import { reporter, scaled, sleep, startCluster, until, type Cluster } from './harness.js'
import { rssOf } from './observe-helpers.js'
import type { SpamInit, SpamReport } from './spam-helpers.js'

const FLOOD_SECONDS = scaled(20)
const ROUNDS = scaled(3)
const MESSAGE_TTL_MINUTES = 10
/** See the header: the store index, gossipsub's caches and the frames being read, with room for V8's own heap growth. */
const MEMORY_BOUND_BYTES = 128 * 1024 * 1024
const SPAMMER = join(import.meta.dirname, 'spam-helpers.ts')
const log = reporter('spam')

let cluster: Cluster | undefined
const spammers: ChildProcess[] = []
afterAll(async () => {
  for (const child of spammers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await cluster?.close()
  await cleanupInProcess()
})

interface Spammer {
  ready: Promise<{ peerIds: string[] }>
  done: Promise<SpamReport>
  go(): void
}

function startSpammer (init: SpamInit): Spammer {
  const child = spawn(process.execPath, ['--import', 'tsx', SPAMMER, JSON.stringify(init)], { stdio: ['pipe', 'pipe', 'inherit'] })
  spammers.push(child)
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try { lines.push(JSON.parse(line) as Record<string, unknown>) } catch { return }
    for (const wake of waiters.splice(0)) wake()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const lineWith = async (key: string): Promise<Record<string, unknown>> => await new Promise((resolve, reject) => {
    const check = (): void => {
      const found = lines.find((l) => key in l)
      if (found !== undefined) resolve(found)
      else waiters.push(check)
    }
    void exited.then((code) => { reject(new Error(`the ${init.role} spammer exited with ${code} before "${key}"`)) })
    check()
  })
  return {
    ready: lineWith('ready') as Promise<{ peerIds: string[] }>,
    done: lineWith('done') as unknown as Promise<SpamReport>,
    go: () => { child.stdin!.write('go\n') }
  }
}

describe('five hostile peers flooding four honest nodes', () => {
  it('keeps honest delivery >= 99%, memory bounded, graylists the invalid senders, and makes valid spam cost', async () => {
    const startedAt = Date.now()
    // Honest nodes: three processes and H0 here, all connected.
    cluster = await startCluster({ count: 3, resyncIntervalMs: 15_000, prefix: 'komrade-spam-' })
    const h0: TestNode = await startNode({ resyncIntervalMs: 15_000 })
    await cluster.connect([[0, 1], [1, 2], [2, 0]])
    for (const n of cluster.nodes) await h0.node.network.libp2p.dial(multiaddr(n.info.address))
    await cluster.waitForMeshes(3)
    await until('H0 meshed', () => h0.node.status().meshPeers === 3, 30_000)

    const h0Received = new Map<string, number>()
    h0.node.addEventListener('message', (event) => {
      const id = (event as CustomEvent<ReceivedMessage>).detail.id
      h0Received.set(id, (h0Received.get(id) ?? 0) + 1)
    })
    const h0Address = h0.node.status().addresses.find((a) => a.includes('/127.0.0.1/'))!
    const honest = [...cluster.nodes.map((n) => n.info.address), h0Address]
    const topic = envelopeTopic('komrade')
    const valid = startSpammer({ role: 'valid', peers: 2, honest, topic, durationMs: FLOOD_SECONDS * 1000 })
    const invalid = startSpammer({ role: 'invalid', peers: 3, honest, topic, durationMs: FLOOD_SECONDS * 1000 })
    const [validPeers, invalidPeers] = await Promise.all([valid.ready, invalid.ready])

    // Memory of the honest processes, sampled before and through the flood.
    const pids = cluster.nodes.map((n) => n.info.pid)
    const baseline = await Promise.all(pids.map(async (pid) => (await rssOf(pid))!))
    const peak = [...baseline]
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const now = await Promise.all(pids.map(async (pid) => await rssOf(pid) ?? 0))
        now.forEach((rss, i) => { peak[i] = Math.max(peak[i]!, rss) })
        await sleep(250)
      }
    })()

    // The flood, and honest messages through it.
    valid.go()
    invalid.go()
    const identities = [...cluster.nodes.map((n) => n.info.publicIdentity), h0.node.publicIdentity]
    const sent: Array<{ id: string, to: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(FLOOD_SECONDS * 1000 / (ROUNDS + 1))
      await Promise.all(identities.map(async (_, from) => {
        for (let to = 0; to < identities.length; to++) {
          if (to === from) continue
          const text = `round ${round} from ${from} to ${to}`
          const id = from < 3
            ? await cluster!.nodes[from]!.send(identities[to]!, text, MESSAGE_TTL_MINUTES)
            : (await h0.node.send(identities[to]!, text, { ttlMinutes: MESSAGE_TTL_MINUTES })).id
          sent.push({ id, to })
        }
      }))
    }
    const [validReport, invalidReport] = await Promise.all([valid.done, invalid.done])
    const receivedAt = (to: number): Map<string, number> => to < 3 ? cluster!.nodes[to]!.received : h0Received
    const deliveredCount = (): number => sent.filter(({ id, to }) => receivedAt(to).has(id)).length
    await until(`honest delivery (${deliveredCount()} of ${sent.length})`, () => deliveredCount() === sent.length, 60_000)
      .catch(() => { /* judged below: >= 99% */ })
    sampling = false
    await sampler
    const delivered = deliveredCount()
    const duplicates = sent.filter(({ id, to }) => (receivedAt(to).get(id) ?? 0) > 1).length

    // Scores at H0.
    const score = (id: string): number => h0.node.network.peerScore(peerIdFromString(id))
    const invalidScores = invalidPeers.peerIds.map(score)
    const validScores = validPeers.peerIds.map(score)

    // What the honest processes stored (read from LevelDB with each node stopped).
    const stored = await Promise.all(cluster.nodes.map(async (n) => {
      await n.stop()
      return new Set((await n.request<{ ids: string[] }>('storedIds')).ids)
    }))
    const accepted = validReport.validIds.filter((id) => stored.some((s) => s.has(id))).length
    const invalidStored = invalidReport.invalidSample.filter((id) => stored.some((s) => s.has(id))).length
    const growth = peak.map((p, i) => p - baseline[i]!)
    const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
    const costPerAccepted = validReport.mintCpuSeconds / Math.max(1, accepted)

    log(`flood ${FLOOD_SECONDS} s: valid peers minted and published ${validReport.published} (${(validReport.published / validReport.floodSeconds).toFixed(1)}/s, ` +
      `${validReport.mintCpuSeconds.toFixed(1)} CPU s of work), invalid peers published ${invalidReport.published} ` +
      `(${(invalidReport.published / invalidReport.floodSeconds).toFixed(0)}/s, ${invalidReport.publishErrors} publish errors); ` +
      `the spammer processes got ${validReport.processCpuSeconds.toFixed(1)} and ${invalidReport.processCpuSeconds.toFixed(1)} CPU s of the machine in ${FLOOD_SECONDS} s`)
    log(`honest delivery ${delivered}/${sent.length} (${(100 * delivered / sent.length).toFixed(1)}%), ${duplicates} duplicates`)
    log(`scores at H0: invalid senders ${invalidScores.map((s) => s.toFixed(0)).join(', ')}; valid senders ${validScores.map((s) => s.toFixed(1)).join(', ')}`)
    log(`honest RSS before -> peak: ${baseline.map((b, i) => `${mib(b)} -> ${mib(peak[i]!)} MiB`).join('; ')} (bound +${mib(MEMORY_BOUND_BYTES)} MiB)`)
    log(`valid spam accepted by the honest network: ${accepted} of ${validReport.validIds.length}; cost ${(costPerAccepted * 1000).toFixed(1)} ms CPU ` +
      `per accepted envelope (${WORK_BASE_TRIALS} expected trials each); invalid stored: ${invalidStored} of ${invalidReport.invalidSample.length} sampled`)
    log(`wall ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)

    expect(delivered / sent.length).toBeGreaterThanOrEqual(0.99)
    expect(duplicates).toBe(0)
    expect(invalidReport.published).toBeGreaterThan(500) // the flood happened (thousands on an idle machine)
    expect(validReport.published).toBeGreaterThan(5)
    expect(invalidStored).toBe(0)
    expect(invalidReport.invalidSample.length).toBeGreaterThan(100)
    for (const s of invalidScores) expect(s).toBeLessThan(SCORE_THRESHOLDS.graylistThreshold)
    for (const s of validScores) expect(s).toBeGreaterThan(SCORE_THRESHOLDS.graylistThreshold)
    for (const g of growth) expect(g).toBeLessThanOrEqual(MEMORY_BOUND_BYTES)
    expect(accepted).toBeGreaterThan(0)
    expect(costPerAccepted).toBeGreaterThan(0)
  }, 240_000)
})
