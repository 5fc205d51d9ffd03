/**
 * One Komrade node in its own process, for the reliability harness
 * (harness.ts): `createKomradeNode` on 127.0.0.1 with its own data
 * directory, driven by JSON lines on stdin and answering with JSON lines on
 * stdout. It generalises test/node/crash-node.ts: requests carry an `id`
 * and get `{ reply: id, ok, result | error }`; events are pushed as
 * `{ event, ... }`, each written once the fact it reports is durable:
 *
 * - `ready` (the node started: identities and address),
 * - `queued` (send() resolved: the message is committed to the outbox),
 * - `received` (a `message` event: emitted after the inbox commit),
 * - `sync` (a resync with a peer started, finished or failed).
 *
 * stdout is a pipe, and Node writes to pipes synchronously on Linux, so an
 * event the parent read was written before any SIGKILL that follows it.
 *
 * Arg: the options as JSON ({@link ChildInit}).
 */
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createKomradeNode, type KomradeNode, type ReceivedMessage, type SyncProgress } from '../../node/komrade-node.js'
import { openLocalDb } from '../../node/local-state.js'
import { createEnvelopeStore } from '../../node/store/envelope-store.js'
import { nativeCrypto, toHex } from '../../protocol/index.js'

/** The child's options (argv[2], JSON). */
export interface ChildInit {
  dataDir: string
  /** Resync with every connected peer this often. */
  resyncIntervalMs: number
  /** Start the node at once (default true); else wait for a `start` request. */
  autostart?: boolean
}

const init = JSON.parse(process.argv[2]!) as ChildInit
const crypto = nativeCrypto()
let node: KomradeNode | undefined

const say = (line: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(line) + '\n') }

function need (): KomradeNode {
  if (node === undefined) throw new Error('the node is stopped')
  return node
}

async function start (): Promise<Record<string, unknown>> {
  if (node !== undefined) throw new Error('the node is already running')
  const started = createKomradeNode({
    dataDir: init.dataDir,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    workThreads: 1,
    resyncIntervalMs: init.resyncIntervalMs,
    cover: false
  })
  started.addEventListener('message', (event) => {
    const message = (event as CustomEvent<ReceivedMessage>).detail
    say({ event: 'received', id: message.id, text: message.text, from: message.fromIdentity })
  })
  started.addEventListener('sync', (event) => {
    const { peer, phase } = (event as CustomEvent<SyncProgress>).detail
    say({ event: 'sync', peer, phase })
  })
  await started.start()
  node = started
  const status = started.status()
  const ready = {
    pid: process.pid,
    publicIdentity: started.publicIdentity,
    peerId: status.peerId,
    address: status.addresses.find((a) => a.includes('/127.0.0.1/')) ?? status.addresses[0]
  }
  say({ event: 'ready', ...ready })
  return ready
}

/** The ids (hex) of the envelopes stored in the data directory; the node must be stopped (LevelDB is single-process). */
async function storedIds (): Promise<string[]> {
  if (node !== undefined) throw new Error('stop the node before reading its store')
  const db = await openLocalDb(join(init.dataDir, 'db'))
  try {
    // The same sublevel and encodings as createKomradeNode's store.
    const store = await createEnvelopeStore({ db: db.sublevel<Uint8Array, Uint8Array>('envelopes', { keyEncoding: 'view', valueEncoding: 'view' }), crypto })
    try {
      return store.items().map((item) => toHex(item.id)).sort()
    } finally {
      await store.close()
    }
  } finally {
    await db.close()
  }
}

type Handler = (args: Record<string, unknown>) => Promise<unknown>

const handlers: Record<string, Handler> = {
  start,
  async stop () {
    const running = need()
    node = undefined
    await running.stop()
    return { stopped: true }
  },
  async dial (args) {
    const addresses = args.addresses as string[]
    const results = await Promise.allSettled(addresses.map(async (a) => await need().network.libp2p.dial(multiaddr(a))))
    return { failed: addresses.filter((_, i) => results[i]!.status === 'rejected') }
  },
  async send (args) {
    const sent = await need().send(args.to as string, args.text as string, { ttlMinutes: args.ttlMinutes as number })
    say({ event: 'queued', id: sent.id, to: args.to, text: args.text })
    return { id: sent.id }
  },
  async status () {
    const status = need().status()
    return { peers: status.peers, meshPeers: status.meshPeers, storeCount: status.store.count, workPending: status.workPending }
  },
  async peers () {
    const network = need().network
    const pubsub = network.libp2p.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }
    return { peers: network.libp2p.getPeers().map(String), mesh: pubsub.getMeshPeers(network.topic).map(String) }
  },
  async inbox () {
    return { messages: (await need().inbox()).map((m) => ({ id: m.id, text: m.text })) }
  },
  async outbox () {
    return { messages: (await need().outbox()).map((m) => ({ id: m.id, state: m.state })) }
  },
  async contacts () {
    return { contacts: need().contacts.list().map((c) => ({ identity: c.identity, sessions: c.sessions })) }
  },
  async syncNow () {
    await need().syncNow()
    return {}
  },
  storedIds: async () => ({ ids: await storedIds() }),
  async exit () {
    await node?.stop().catch(() => {})
    node = undefined
    setImmediate(() => process.exit(0))
    return {}
  }
}

// The parent went away: leave (a SIGKILL of the parent closes our stdin).
const lines = createInterface({ input: process.stdin })
lines.on('close', () => {
  const running = node
  if (running === undefined) process.exit(0)
  else void running.stop().catch(() => {}).finally(() => process.exit(0))
})
lines.on('line', (line) => {
  const request = JSON.parse(line) as { id: number, cmd: string, args?: Record<string, unknown> }
  const handler = handlers[request.cmd]
  const run = handler === undefined ? Promise.reject(new Error(`unknown command ${request.cmd}`)) : handler(request.args ?? {})
  run.then(
    (result) => { say({ reply: request.id, ok: true, result }) },
    (error: unknown) => { say({ reply: request.id, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }) }
  )
})
if (init.autostart !== false) {
  await start().catch((error: unknown) => {
    say({ event: 'failed', error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) })
    process.exit(1)
  })
}
