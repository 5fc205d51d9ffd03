/**
 * One node of the network benchmark, in its own process: a Komrade node
 * (`createKomradeNode`) or a raw gossipsub node (network-raw.ts), driven by
 * the parent over the IPC channel (commands in network-ipc.ts). Exits when
 * the parent goes away, so no worker outlives a crashed benchmark.
 *
 * Times are ms since the parent's epoch on the monotonic clock
 * (`process.hrtime`), which every process on the machine shares.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult, type GossipsubMessage, type TopicValidatorFn } from '@libp2p/gossipsub'
import { checkEnvelope, ENVELOPE_SIZE, envelopeId, minuteOf, nativeCrypto, sealCover, solveWork } from '../../protocol/index.js'
import { createKomradeNode, type KomradeNode, type KomradeNodeInit, type ReceivedMessage } from '../../node/komrade-node.js'
import { openLocalDb } from '../../node/local-state.js'
import { createEnvelopeStore } from '../../node/store/envelope-store.js'
import type { Logger } from '../../node/logger.js'
import { countWireBytes, RAW_TOPIC, startRawNode, type RawNode } from './network-raw.js'
import type { CommandName, Commands, Reply, Request, SyncRecord, WorkerMode, WireBytes } from './network-ipc.js'

/** Bytes 13..29 of a payload (the cover envelope's random salt; random in raw payloads) name it across processes. */
const KEY_OFFSET = 13
const KEY_LENGTH = 16
/** How often `restart` checks the store and inbox counts: finer than any time it reports. */
const RESTART_POLL_MS = 10
/** Concurrent puts while filling a store: the store serializes them; this only keeps its queue fed. */
const FILL_CHUNK = 512
/** Warnings and errors from the node echoed to stderr, per worker (the rest are counted). */
const MAX_ECHOED_LOG_LINES = 5

const crypto = nativeCrypto()
const wire = countWireBytes()
let epoch = process.hrtime.bigint()
let mode: WorkerMode = 'komrade'
let dataDir = ''
let resyncIntervalMs = 0
let syncValidator = false
/** Cover traffic of the Komrade node: off unless the parent asks (the cover benchmark). */
let cover: KomradeNodeInit['cover'] = false
let komrade: KomradeNode | undefined
let raw: RawNode | undefined
const queue: Uint8Array[] = []
let arrivals: Array<[string, number]> = []
let messages: Array<[string, number]> = []
let syncs: SyncRecord[] = []
let validations: number[] = []
let echoed = 0

function now (): number {
  return Number(process.hrtime.bigint() - epoch) / 1e6
}

function keyOf (payload: Uint8Array): string {
  return Buffer.from(payload.buffer, payload.byteOffset + KEY_OFFSET, KEY_LENGTH).toString('hex')
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** A node logger that keeps the resync reports (`resync done` / `resync failed`) and echoes a few warnings. */
function captureLogger (): Logger {
  const logger: Logger = {
    debug (message, fields = {}) {
      if (message === 'resync done') {
        syncs.push({ ...(fields as Partial<SyncRecord>), peer: String(fields.peer), at: now(), ok: true })
      } else if (message === 'resync failed') {
        const error = fields.error as { name?: string, reason?: string, message?: string } | undefined
        syncs.push({ peer: String(fields.peer), at: now(), ok: false, error: `${error?.name ?? 'Error'}${error?.reason === undefined ? '' : ` (${error.reason})`}` })
      }
    },
    info () {},
    warn (message, fields) { echo('warn', message, fields) },
    error (message, fields) { echo('error', message, fields) },
    child: () => logger
  }
  return logger
}

function echo (level: string, message: string, fields?: Record<string, unknown>): void {
  if (echoed++ >= MAX_ECHOED_LOG_LINES) return
  const error = fields?.error instanceof Error ? `${fields.error.name}: ${fields.error.message}` : ''
  process.stderr.write(`[network-worker ${process.pid}] ${level}: ${message} ${error}\n`)
}

function recordArrival (event: CustomEvent<GossipsubMessage>): void {
  const data = event.detail.msg.data
  if (data.length === ENVELOPE_SIZE) arrivals.push([keyOf(data), now()])
}

async function startKomrade (): Promise<KomradeNode> {
  const node = createKomradeNode({
    dataDir,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    workThreads: 1,
    resyncIntervalMs,
    cover,
    logger: captureLogger()
  })
  await node.start()
  const pubsub = node.network.libp2p.services.pubsub
  // Registered after the node's own listener: fires as the envelope reaches the node's onEnvelope.
  pubsub.addEventListener('gossipsub:message', recordArrival)
  // Times the node's gossip validator (checkEnvelope + store lookup) as gossipsub sees it, waits included.
  const validator = syncValidator ? synchronousValidator(pubsub) : pubsub.topicValidators.get(node.network.topic)
  if (validator !== undefined) {
    pubsub.topicValidators.set(node.network.topic, async (peer, message) => {
      const started = now()
      try {
        return await validator(peer, message)
      } finally {
        validations.push(now() - started)
      }
    })
  }
  node.addEventListener('message', (event) => {
    messages.push([(event as CustomEvent<ReceivedMessage>).detail.text, now()])
  })
  return node
}

/**
 * The diagnostic validator: the node's checks with the "already stored?"
 * lookup answered from memory (the ids this node accepted from gossip), so
 * a hop never waits on LevelDB's thread pool. Same verdicts here, where no
 * envelope comes back after gossipsub's seen-cache forgot it.
 */
function synchronousValidator (pubsub: KomradeNode['network']['libp2p']['services']['pubsub']): TopicValidatorFn {
  const accepted = new Set<string>()
  pubsub.addEventListener('gossipsub:message', (event) => { accepted.add(Buffer.from(envelopeId(crypto, event.detail.msg.data)).toString('hex')) })
  return (_peer, message) => {
    if (!checkEnvelope(crypto, message.data).valid) return TopicValidatorResult.Reject
    return accepted.has(Buffer.from(envelopeId(crypto, message.data)).toString('hex')) ? TopicValidatorResult.Ignore : TopicValidatorResult.Accept
  }
}

function loopbackAddress (addresses: string[]): string {
  const address = addresses.find((a) => a.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error('the node has no 127.0.0.1 address')
  return address
}

function needKomrade (): KomradeNode {
  if (komrade === undefined) throw new Error('no Komrade node running in this worker')
  return komrade
}

async function dialAll (addresses: string[]): Promise<{ failed: string[], firstError?: string }> {
  const libp2p: { dial: RawNode['dial'] } = mode === 'raw' ? raw! : needKomrade().network.libp2p
  const results = await Promise.allSettled(addresses.map(async (a) => await libp2p.dial(multiaddr(a))))
  const failed = addresses.filter((_, i) => results[i]!.status === 'rejected')
  const reason = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined)?.reason as Error | undefined
  return { failed, ...(reason === undefined ? {} : { firstError: `${reason.name}: ${reason.message}` }) }
}

const handlers: { [C in CommandName]: (args: Commands[C][0]) => Promise<Commands[C][1]> } = {
  async start (args) {
    epoch = BigInt(args.epoch)
    mode = args.mode
    dataDir = args.dataDir
    resyncIntervalMs = args.resyncIntervalMs
    syncValidator = args.syncValidator === true
    cover = args.cover ?? false
    if (mode === 'raw') {
      raw = await startRawNode()
      raw.services.pubsub.addEventListener('gossipsub:message', recordArrival)
      return { peerId: raw.peerId.toString(), address: loopbackAddress(raw.getMultiaddrs().map(String)) }
    }
    komrade = await startKomrade()
    return { peerId: komrade.status().peerId, address: loopbackAddress(komrade.status().addresses), publicIdentity: komrade.publicIdentity }
  },

  async dial (args) {
    return await dialAll(args.addresses)
  },

  async status () {
    const rss = process.memoryUsage().rss
    const usage = process.cpuUsage()
    const cpuMs = (usage.user + usage.system) / 1000
    if (raw !== undefined) {
      const pubsub = raw.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }
      return { running: true, peers: raw.getPeers().length, meshPeers: pubsub.getMeshPeers(RAW_TOPIC).length, storeCount: 0, rss, cpuMs }
    }
    if (komrade === undefined) return { running: false, peers: 0, meshPeers: 0, storeCount: 0, rss, cpuMs }
    const status = komrade.status()
    return { running: true, peers: status.peers, meshPeers: status.meshPeers, storeCount: status.store.count, rss, cpuMs, coverEmitted: status.cover.emittedToday }
  },

  async peers () {
    const libp2p = mode === 'raw' ? raw : komrade?.network.libp2p
    return { peers: (libp2p?.getPeers() ?? []).map(String) }
  },

  async solve (args) {
    const started = performance.now()
    const solveNow = Date.now()
    const expiry = minuteOf(solveNow) + args.ttlMinutes
    const out = new Uint8Array(args.count * ENVELOPE_SIZE)
    for (let i = 0; i < args.count; i++) out.set(solveWork(crypto, sealCover(crypto, expiry), { now: solveNow }), i * ENVELOPE_SIZE)
    await writeFile(args.file, out)
    return { count: args.count, ms: performance.now() - started }
  },

  async load (args) {
    for (const file of args.files) {
      const bytes = new Uint8Array(await readFile(file))
      for (let offset = 0; offset < bytes.length; offset += ENVELOPE_SIZE) queue.push(bytes.subarray(offset, offset + ENVELOPE_SIZE))
    }
    return { queued: queue.length }
  },

  async publish (args) {
    const sent: Array<[string, number]> = []
    let zeroRecipients = 0
    let failed = 0
    let firstError: string | undefined
    const startedAt = performance.now()
    const interval = 1000 / args.rate
    for (let i = 0; i < args.count; i++) {
      const wait = startedAt + i * interval - performance.now()
      if (wait >= 1) await sleep(wait) // behind schedule: publish at once and catch up
      const payload = mode === 'raw' ? new Uint8Array(randomBytes(ENVELOPE_SIZE)) : queue.shift()
      if (payload === undefined) throw new Error('the publish queue ran dry: solve more envelopes first')
      const at = now()
      try {
        const recipients = mode === 'raw'
          ? (await raw!.services.pubsub.publish(RAW_TOPIC, payload)).recipients.length
          : (await needKomrade().network.publish(payload)).recipients
        if (recipients === 0) zeroRecipients++
      } catch (error) {
        failed++
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error)
      }
      sent.push([keyOf(payload), at])
    }
    return { sent, zeroRecipients, failed, ...(firstError === undefined ? {} : { firstError }) }
  },

  async arrivals () {
    const taken = arrivals
    arrivals = []
    return { arrivals: taken }
  },

  async wire () {
    return wire()
  },

  async validations () {
    const taken = validations
    validations = []
    return { ms: taken }
  },

  async send (args) {
    const at = now()
    await needKomrade().send(args.to, args.text, { ttlMinutes: args.ttlMinutes })
    return { at }
  },

  async messages () {
    const taken = messages
    messages = []
    return { messages: taken }
  },

  async outbox () {
    return { states: (await needKomrade().outbox()).map((m) => m.state) }
  },

  async syncs () {
    const taken = syncs
    syncs = []
    return { syncs: taken }
  },

  async stopNode () {
    if (komrade === undefined) return { stopped: false }
    await komrade.stop()
    komrade = undefined
    return { stopped: true }
  },

  async restart (args) {
    if (komrade !== undefined) throw new Error('the node is still running')
    messages = []
    const wireBefore: WireBytes = wire()
    const started = now()
    komrade = await startKomrade()
    const startMs = now() - started
    await dialAll(args.addresses)
    let storeMs: number | undefined
    let inboxMs: number | undefined
    while (now() - started < args.timeoutMs) {
      if (storeMs === undefined && komrade.status().store.count >= args.storeTarget) storeMs = now() - started
      if (inboxMs === undefined && messages.length >= args.inboxTarget) inboxMs = now() - started
      if (storeMs !== undefined && inboxMs !== undefined) break
      await sleep(RESTART_POLL_MS)
    }
    return {
      startMs,
      ...(storeMs === undefined ? {} : { storeMs }),
      ...(inboxMs === undefined ? {} : { inboxMs }),
      storeCount: komrade.status().store.count,
      inboxCount: messages.length,
      wireBefore,
      wireAfter: wire()
    }
  },

  async fill (args) {
    const started = performance.now()
    await mkdir(args.dataDir, { recursive: true, mode: 0o700 })
    const db = await openLocalDb(join(args.dataDir, 'db'))
    try {
      // The same sublevel and encodings as createKomradeNode's store.
      const store = await createEnvelopeStore({
        db: db.sublevel<Uint8Array, Uint8Array>('envelopes', { keyEncoding: 'view', valueEncoding: 'view' }),
        crypto
      })
      const given: Uint8Array[] = []
      for (const file of args.files ?? []) {
        const bytes = new Uint8Array(await readFile(file))
        for (let offset = 0; offset < bytes.length; offset += ENVELOPE_SIZE) given.push(bytes.subarray(offset, offset + ENVELOPE_SIZE))
      }
      const total = args.files === undefined ? args.count : given.length
      const expiry = minuteOf(Date.now()) + args.ttlMinutes
      for (let done = 0; done < total; done += FILL_CHUNK) {
        const batch = args.files === undefined
          ? Array.from({ length: Math.min(FILL_CHUNK, total - done) }, () => sealCover(crypto, expiry))
          : given.slice(done, done + FILL_CHUNK)
        const results = await Promise.all(batch.map(async (envelope) => await store.put(envelope)))
        if (results.some((r) => !r.added)) throw new Error('fill: the store refused an envelope')
      }
      const count = store.stats().count
      await store.close()
      return { count, ms: performance.now() - started }
    } finally {
      await db.close()
    }
  },

  async memory () {
    const gc = (globalThis as { gc?: () => void }).gc
    for (let i = 0; i < 3; i++) { gc?.(); await sleep(50) }
    const usage = process.memoryUsage()
    // Linux splits RSS into anonymous memory and mapped files (LevelDB maps its table files).
    const status = await readFile('/proc/self/status', 'utf8').catch(() => '')
    const kib = (field: string): number | undefined => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
      return match === null ? undefined : Number(match[1]) * 1024
    }
    const rssAnon = kib('RssAnon')
    const rssFile = kib('RssFile')
    return {
      rss: usage.rss, heapTotal: usage.heapTotal, heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers,
      ...(rssAnon === undefined ? {} : { rssAnon }), ...(rssFile === undefined ? {} : { rssFile })
    }
  }
}

async function shutdown (): Promise<void> {
  await komrade?.stop().catch(() => {})
  try { await raw?.stop() } catch {}
  process.exit(0)
}

process.on('message', (raw: unknown) => {
  const request = raw as Request | { id: number, cmd: 'exit' }
  if (request.cmd === 'exit') { void shutdown(); return }
  const handler = handlers[request.cmd] as (args: unknown) => Promise<unknown>
  handler(request.args).then(
    (result) => { process.send?.({ id: request.id, ok: true, result } satisfies Reply) },
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error))
      process.send?.({ id: request.id, ok: false, error: { name: e.name, message: e.message } } satisfies Reply)
    }
  )
})
// The parent died or closed the channel: leave at once (nothing here is worth keeping).
process.on('disconnect', () => { process.exit(0) })
process.send?.({ ready: true })
