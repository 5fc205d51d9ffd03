/**
 * Hostile peers for reliability scenario 3 (spam.test.ts), in a process of
 * their own so that their CPU is theirs, as a real attacker's would be:
 * `node --import tsx spam-helpers.ts '<SpamInit JSON>'`.
 *
 * Each peer is a plain libp2p node running stock gossipsub (StrictNoSign,
 * our topic, no validator, a random message id so its own seen cache never
 * holds anything back), as in test/node/hostile-peer.test.ts. It dials every
 * honest address, waits to see them subscribed, prints `{ ready }`, and on a
 * `go` line on stdin floods for `durationMs`:
 *
 * - role `valid`: envelopes with proof of work at the network's minimum
 *   target (SPEC §5: a TTL charged as 0 minutes, WORK_BASE_TRIALS expected
 *   trials; expiry = now + CLOCK_SKEW_MINUTES, solved against that time),
 *   mined here as fast as one thread can, published as soon as each is solved;
 * - role `invalid`: envelopes that fail checkEnvelope in every way it checks
 *   (wrong size, unknown version, expired, too far, insufficient work),
 *   published as fast as the event loop allows.
 *
 * At the end it prints `{ done, ... }` (counts, the ids of the valid
 * envelopes, the CPU seconds spent mining them) and exits.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { createInterface } from 'node:readline'
import {
  checkEnvelope, CLOCK_SKEW_MINUTES, envelopeId, MAX_TTL_MINUTES, MINUTE_MS, minuteOf, nativeCrypto, NONCE_OFFSET, sealCover,
  solveWork, toHex, VERSION_OFFSET
} from '../../protocol/index.js'

/** The spammer process's options (argv[2], JSON). */
export interface SpamInit {
  role: 'valid' | 'invalid'
  /** Hostile peers in this process. */
  peers: number
  /** Honest nodes' addresses (with /p2p/), each dialed by every peer. */
  honest: string[]
  topic: string
  durationMs: number
}

/** The last line the spammer prints. */
export interface SpamReport {
  done: true
  role: SpamInit['role']
  peerIds: string[]
  /** Envelopes handed to gossipsub (each publish reaches every honest node it is connected to). */
  published: number
  /** Publishes that threw (backpressure, closed streams). */
  publishErrors: number
  /** Valid role: ids (hex) of the envelopes mined and published. */
  validIds: string[]
  /** Invalid role: ids (hex) of a sample of the invalid envelopes published (at most 2,000). */
  invalidSample: string[]
  /** CPU seconds (user + system, this thread) spent in solveWork. */
  mintCpuSeconds: number
  /** Wall seconds of the flood. */
  floodSeconds: number
  /** CPU seconds the whole spammer process used during the flood (all threads): what the machine gave it. */
  processCpuSeconds: number
}

const crypto = nativeCrypto()
/** Publishes in flight at once. */
const MAX_OUTSTANDING = 256
/** Invalid envelopes each peer publishes between turns of the event loop. */
const INVALID_BURST = 16

/** CPU time of this thread only (Node >= 23.9), else of the process: the mining cost without the GC and I/O threads. */
const threadCpu = (previous?: NodeJS.CpuUsage): NodeJS.CpuUsage =>
  (process as { threadCpuUsage?: (previous?: NodeJS.CpuUsage) => NodeJS.CpuUsage }).threadCpuUsage?.(previous) ?? process.cpuUsage(previous)

/** A minimum-work envelope: its TTL is charged as 0 minutes, so WORK_BASE_TRIALS expected trials. */
function mintMinimum (): Uint8Array {
  const now = Date.now()
  const expiryMinute = minuteOf(now) + CLOCK_SKEW_MINUTES
  // Solved against the time the verifier's skew allowance starts from: target workTarget(0).
  return solveWork(crypto, sealCover(crypto, expiryMinute), { now: now + CLOCK_SKEW_MINUTES * MINUTE_MS })
}

/**
 * Invalid envelopes of each kind checkEnvelope refuses, in turn. Sealed once
 * per kind; each one sent gets a fresh random nonce (a new id, so no seen
 * cache drops it, and still invalid: the nonce is not what these fail on,
 * and a random nonce fails the work check 16,383 times in 16,384).
 */
function invalidEnvelopes (): (n: number) => Uint8Array {
  const now = Date.now()
  const unknownVersion = sealCover(crypto, minuteOf(now) + 10)
  unknownVersion[VERSION_OFFSET] = 0x7f
  const bases = [
    unknownVersion,
    sealCover(crypto, minuteOf(now) - CLOCK_SKEW_MINUTES - 10), // expired
    sealCover(crypto, minuteOf(now) + MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES + 10), // too far
    sealCover(crypto, minuteOf(now) + 10) // insufficient work
  ]
  return (n) => {
    if (n % 5 === 4) return crypto.randomBytes(1 + (n % 4000) + (n % 4000 >= 2047 ? 1 : 0)) // wrong size, never 2048
    const envelope = bases[n % 5]!.slice()
    envelope.set(crypto.randomBytes(8), NONCE_OFFSET)
    return envelope
  }
}

async function startPeer (topic: string): Promise<Libp2p<{ pubsub: GossipSub }>> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: StrictNoSign, allowPublishToZeroTopicPeers: true, msgIdFn: () => crypto.randomBytes(32) })
    }
  })
  node.services.pubsub.subscribe(topic)
  return node
}

async function main (): Promise<void> {
  const init = JSON.parse(process.argv[2]!) as SpamInit
  const say = (line: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(line) + '\n') }
  const peers = await Promise.all(Array.from({ length: init.peers }, async () => await startPeer(init.topic)))
  for (const peer of peers) {
    for (const address of init.honest) await peer.dial(multiaddr(address))
  }
  const deadline = Date.now() + 60_000
  while (!peers.every((p) => p.services.pubsub.getSubscribers(init.topic).length >= init.honest.length)) {
    if (Date.now() > deadline) throw new Error('the honest nodes never showed up on the topic')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  say({ ready: true, peerIds: peers.map((p) => p.peerId.toString()) })
  const lines = createInterface({ input: process.stdin })
  await new Promise<void>((resolve) => { lines.once('line', () => { resolve() }) })

  const report: SpamReport = {
    done: true, role: init.role, peerIds: peers.map((p) => p.peerId.toString()), published: 0, publishErrors: 0,
    validIds: [], invalidSample: [], mintCpuSeconds: 0, floodSeconds: 0, processCpuSeconds: 0
  }
  const started = performance.now()
  const processCpu = process.cpuUsage()
  const end = Date.now() + init.durationMs
  // Publishes are not awaited one by one (an attacker does not wait for the victim to read): at most
  // MAX_OUTSTANDING in flight, so that this process's own memory stays bounded.
  const inFlight = new Set<Promise<void>>()
  const publish = async (peer: Libp2p<{ pubsub: GossipSub }>, envelope: Uint8Array): Promise<void> => {
    while (inFlight.size >= MAX_OUTSTANDING) await Promise.race(inFlight)
    const sent = peer.services.pubsub.publish(init.topic, envelope).then(() => { report.published++ }, () => { report.publishErrors++ })
      .finally(() => { inFlight.delete(sent) })
    inFlight.add(sent)
  }
  if (init.role === 'valid') {
    for (let n = 0; Date.now() < end; n++) {
      const cpu = threadCpu()
      const envelope = mintMinimum()
      const spent = threadCpu(cpu)
      report.mintCpuSeconds += (spent.user + spent.system) / 1e6
      if (!checkEnvelope(crypto, envelope).valid) throw new Error('a minted envelope is not valid')
      report.validIds.push(toHex(envelopeId(crypto, envelope)))
      await publish(peers[n % peers.length]!, envelope)
      if (n % 4 === 3) await new Promise((resolve) => setImmediate(resolve)) // let the sockets write
    }
  } else {
    const invalidEnvelope = invalidEnvelopes()
    let n = 0
    while (Date.now() < end) {
      // A burst per peer, then a turn of the event loop for the sockets.
      await Promise.all(peers.map(async (peer) => {
        for (let i = 0; i < INVALID_BURST; i++) {
          let envelope = invalidEnvelope(n++)
          if (envelope.length === 2048 && checkEnvelope(crypto, envelope).valid) envelope = crypto.randomBytes(100) // 1 in 16,384
          if (report.invalidSample.length < 2000 && envelope.length === 2048) report.invalidSample.push(toHex(envelopeId(crypto, envelope)))
          await publish(peer, envelope)
        }
      }))
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  await Promise.all(inFlight)
  report.floodSeconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(processCpu)
  report.processCpuSeconds = (used.user + used.system) / 1e6
  say(report as unknown as Record<string, unknown>)
  await Promise.all(peers.map(async (p) => { await p.stop() }))
  process.exit(0)
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(`spammer failed: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(1)
  })
}
