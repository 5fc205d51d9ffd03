/**
 * `/komrade/resync/1.0.0` between real libp2p nodes on 127.0.0.1 (tcp, noise,
 * yamux, identify, ping). Stores are in-memory maps of real envelopes made
 * with protocol/ (`sealCover`); `receiveEnvelope` checks size, version and
 * expiry but not proof of work, so thousands of envelopes cost no mining.
 *
 *  - after a sync both sides hold the union, and a second sync moves nothing;
 *  - a node missing 2,000 envelopes (an outage, and a scattered loss) gets
 *    them all with frame bytes <= 1.1 x the missing bytes + 64 KiB, counted
 *    on the stream independently of the report;
 *  - hostile initiators (garbage frames, oversized frames, frames out of
 *    order, invalid envelopes) are cut off and the honest node keeps working;
 *  - hostile responders (garbage replies, invalid or unrequested envelopes)
 *    make syncWith fail with ResyncAbortedError.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, describe, expect, it } from 'vitest'
import {
  CLOCK_SKEW_MINUTES, DEFAULT_TTL_MINUTES, ENVELOPE_SIZE, ENVELOPE_VERSION, MAX_TTL_MINUTES, envelopeExpiryMinute, envelopeId,
  minuteOf, nativeCrypto, sealCover, toHex
} from '../../protocol/index.js'
import { compareItems, createReconciler, type ReconcileItem } from '../../node/resync/reconcile.js'
import {
  createResync, MAX_REJECTED_ENVELOPES, RESYNC_PROTOCOL, type Resync, type ResyncAbortedError, type ResyncInit
} from '../../node/resync/resync-protocol.js'

const crypto = nativeCrypto()
const started: Libp2p[] = []
afterAll(async () => { await Promise.all(started.map(async (node) => await node.stop())) })

async function startLibp2p (): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() }
  })
  started.push(node)
  return node
}

/** An envelope published `ageMinutes` ago with the given TTL (expiry in the future). */
function envelope (ageMinutes: number, ttlMinutes: number): Uint8Array {
  return sealCover(crypto, minuteOf(Date.now()) - ageMinutes + ttlMinutes)
}

/** Envelopes published over the last two days, oldest first: most with the default TTL, some shorter or longer. */
function history (n: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const age = Math.floor((n - i) * (DEFAULT_TTL_MINUTES - 10) / n)
    const ttl = Math.random() < 0.8 ? DEFAULT_TTL_MINUTES : age + 10 + Math.floor(Math.random() * (MAX_TTL_MINUTES - age - 10))
    out.push(envelope(age, ttl))
  }
  return out
}

interface Peer {
  libp2p: Libp2p
  store: Map<string, Uint8Array>
  resync: Resync
  aborts: ResyncAbortedError[]
  rejected: number
}

/** A node with an in-memory store and the resync service running. */
async function startPeer (envelopes: Uint8Array[], init: Partial<ResyncInit> = {}): Promise<Peer> {
  const libp2p = await startLibp2p()
  const store = new Map(envelopes.map((e) => [toHex(envelopeId(crypto, e)), e]))
  const peer: Peer = { libp2p, store, aborts: [], rejected: 0, resync: undefined as unknown as Resync }
  peer.resync = createResync({
    libp2p,
    snapshot: async () => [...store.values()]
      .map((e): ReconcileItem => ({ expiryMinute: envelopeExpiryMinute(e), id: envelopeId(crypto, e) }))
      .sort(compareItems),
    getEnvelopes: async (ids) => ids.map((id) => store.get(toHex(id))),
    receiveEnvelope: async (e) => {
      const now = minuteOf(Date.now())
      const expiry = e.length === ENVELOPE_SIZE ? envelopeExpiryMinute(e) : 0
      if (e.length !== ENVELOPE_SIZE || e[0] !== ENVELOPE_VERSION || expiry < now - CLOCK_SKEW_MINUTES ||
        expiry > now + MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES) {
        peer.rejected++
        return 'rejected'
      }
      const id = toHex(envelopeId(crypto, e))
      if (store.has(id)) return 'duplicate'
      store.set(id, e)
      return 'accepted'
    },
    onAbort: (_peer, error) => { peer.aborts.push(error) },
    ...init
  })
  await peer.resync.start()
  return peer
}

const ids = (peer: Peer): string[] => [...peer.store.keys()].sort()

/** Lets `from` dial `to` by peer id (no discovery in these tests). */
async function introduce (from: Libp2p, to: Libp2p): Promise<PeerId> {
  await from.peerStore.merge(to.peerId, { multiaddrs: to.getMultiaddrs() })
  return to.peerId
}

async function waitFor (what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Counts the bytes of every resync stream `node` opens, on the stream itself. */
function countStreamBytes (node: Libp2p): { in: number, out: number } {
  const counted = { in: 0, out: 0 }
  const dial = node.dialProtocol.bind(node)
  node.dialProtocol = async (...args: Parameters<Libp2p['dialProtocol']>) => {
    const stream = await dial(...args)
    stream.addEventListener('message', (event) => { counted.in += event.data.byteLength })
    const send = stream.send.bind(stream)
    stream.send = (data) => { counted.out += data.byteLength; return send(data) }
    return stream
  }
  return counted
}

describe('resync between two nodes', () => {
  it('leaves both sides with the union; a second sync moves nothing', async () => {
    const common = history(1_000)
    const onlyA = history(300)
    const onlyB = history(500)
    const a = await startPeer([...common, ...onlyA])
    const b = await startPeer([...common, ...onlyB])
    const report = await a.resync.syncWith(await introduce(a.libp2p, b.libp2p))
    expect(report).toMatchObject({ have: 300, need: 500, sent: 300, received: 500, rejected: 0, complete: true })
    expect(ids(a)).toEqual(ids(b))
    expect(a.store.size).toBe(1_800)
    const again = await b.resync.syncWith(await introduce(b.libp2p, a.libp2p))
    expect(again).toMatchObject({ rounds: 1, have: 0, need: 0, sent: 0, received: 0 })
    expect(again.bytesIn + again.bytesOut).toBeLessThan(1_024)
    expect(a.aborts.length + b.aborts.length).toBe(0)
  })

  it('a node missing 2,000 envelopes gets them all in <= 1.1 x their bytes + 64 KiB', async () => {
    const all = history(6_000)
    const scattered = new Set<number>()
    while (scattered.size < 2_000) scattered.add(Math.floor(Math.random() * all.length))
    const lines: string[] = []
    for (const [shape, kept] of [
      // An outage: the node missed the 2,000 most recent envelopes (interleaved in expiry order by their TTLs).
      ['outage', all.slice(0, 4_000)],
      ['scattered', all.filter((_, i) => !scattered.has(i))]
    ] as const) {
      const a = await startPeer([...kept])
      const b = await startPeer(all)
      const wire = countStreamBytes(a.libp2p)
      const report = await a.resync.syncWith(await introduce(a.libp2p, b.libp2p))
      expect(report).toMatchObject({ need: 2_000, received: 2_000, have: 0, rejected: 0, complete: true })
      expect(ids(a)).toEqual(ids(b))
      expect(wire).toEqual({ in: report.bytesIn, out: report.bytesOut })
      const missingBytes = 2_000 * ENVELOPE_SIZE
      const total = wire.in + wire.out
      expect(total).toBeLessThanOrEqual(1.1 * missingBytes + 65_536)
      lines.push(`${shape}: ${total} frame bytes for ${missingBytes} missing (${(total / missingBytes).toFixed(4)}x), ` +
        `reconciliation ${report.reconcileBytes} bytes in ${report.rounds} rounds`)
    }
    console.log('resync of 2,000 missing envelopes out of 6,000:\n  ' + lines.join('\n  '))
  })
})

/** Opens a resync stream from a raw node and returns its framed reader/writer. */
async function rawStream (from: Libp2p, to: Libp2p): Promise<{ stream: Stream, lp: ReturnType<typeof lpStream<Stream>> }> {
  const stream = await from.dialProtocol(to.getMultiaddrs()[0] as Parameters<Libp2p['dialProtocol']>[0], RESYNC_PROTOCOL)
  return { stream, lp: lpStream(stream, { maxDataLength: 1 << 20 }) }
}

/** The honest side must close the stream on us: a read fails, and not because we gave up waiting. */
async function expectCutOff (lp: ReturnType<typeof lpStream<Stream>>): Promise<void> {
  const error = await lp.read({ signal: AbortSignal.timeout(15_000) }).then(() => undefined, (e: Error) => e)
  expect(error).toBeInstanceOf(Error)
  expect(['AbortError', 'TimeoutError']).not.toContain(error?.name)
}

const frame = (type: number, ...parts: Uint8Array[]): Uint8Array => Uint8Array.from([type, ...parts.flatMap((p) => [...p])])

describe('hostile peers', () => {
  it('an initiator sending garbage, oversized, out-of-order frames or invalid envelopes is cut off', async () => {
    const honest = await startPeer(history(200), { timeoutMs: 20_000 })
    const hostile = await startLibp2p()
    const cases: Array<[string, (lp: ReturnType<typeof lpStream<Stream>>) => Promise<void>]> = [
      ['malformed-frame', async (lp) => { await lp.write(frame(0x7f, new Uint8Array([1, 2, 3]))) }],
      ['malformed-frame', async (lp) => { await lp.write(frame(0x01, crypto.randomBytes(500))) }],
      ['protocol-violation', async (lp) => { await lp.write(frame(0x02, sealCover(crypto, minuteOf(Date.now()) + 60))) }],
      ['oversized-frame', async (lp) => { await lp.write(new Uint8Array(70_000)) }],
      ['malformed-frame', async (lp) => { await lp.write(new Uint8Array(0)) }],
      ['too-many-rejected', async (lp) => {
        await lp.write(frame(0x01, createReconciler([]).initiate()))
        await lp.read()
        const junk = Array.from({ length: MAX_REJECTED_ENVELOPES + 2 }, () => crypto.randomBytes(ENVELOPE_SIZE).fill(0x02, 0, 1))
        await lp.write(frame(0x02, ...junk))
      }]
    ]
    for (const [reason, attack] of cases) {
      const before = honest.aborts.length
      const { lp } = await rawStream(hostile, honest.libp2p)
      await attack(lp)
      await expectCutOff(lp)
      await waitFor(`the honest node to report ${reason}`, () => honest.aborts.length > before)
      expect(honest.aborts.at(-1)).toMatchObject({ name: 'ResyncAbortedError', reason })
    }
    expect(honest.rejected).toBe(MAX_REJECTED_ENVELOPES + 1)
    // A peer that opens a sync and falls silent is dropped when the frame wait runs out.
    const patient = await startPeer([], { timeoutMs: 1_000 })
    const { lp: silent } = await rawStream(hostile, patient.libp2p)
    await expectCutOff(silent)
    await waitFor('the silent peer to be dropped', () => patient.aborts.length === 1)
    expect(patient.aborts[0]).toMatchObject({ name: 'ResyncAbortedError', reason: 'timeout' })
    // The honest node still syncs with honest peers.
    const other = await startPeer(history(50))
    await other.resync.syncWith(await introduce(other.libp2p, honest.libp2p))
    expect(ids(other)).toEqual(ids(honest))
    expect(honest.store.size).toBe(250)
  })

  it('a responder sending garbage, invalid or unrequested envelopes fails the sync with ResyncAbortedError', async () => {
    // A short overall timeout turns a hang into a failure with reason 'timeout'.
    const honest = await startPeer(history(100), { timeoutMs: 20_000 })
    const valid = history(40)

    // Garbage in answer to reconciliation.
    const garbage = await startLibp2p()
    await garbage.handle(RESYNC_PROTOCOL, async (stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(frame(0x01, crypto.randomBytes(300)))
    })
    await expect(honest.resync.syncWith(await introduce(honest.libp2p, garbage))).rejects.toMatchObject({ name: 'ResyncAbortedError', reason: 'malformed-frame' })

    // A real resync service whose store holds envelopes the honest validator rejects.
    const invalid = valid.map((e) => { const copy = e.slice(); copy[0] = 0x02; return copy })
    const liar = await startPeer(invalid, { receiveEnvelope: async () => 'accepted' })
    const failure = await honest.resync.syncWith(await introduce(honest.libp2p, liar.libp2p)).then(() => undefined, (e: ResyncAbortedError) => e)
    expect(failure).toMatchObject({ name: 'ResyncAbortedError', reason: 'too-many-rejected' })
    expect(failure?.report).toMatchObject({ rejected: MAX_REJECTED_ENVELOPES + 1, need: invalid.length })

    // Reconciles honestly over one envelope, then answers the request with another one.
    const swapper = await startLibp2p()
    const offered = valid.slice(0, 1)
    await swapper.handle(RESYNC_PROTOCOL, async (stream) => {
      const lp = lpStream(stream)
      const reconciler = createReconciler(offered.map((e) => ({ expiryMinute: envelopeExpiryMinute(e), id: envelopeId(crypto, e) })))
      for (;;) {
        const message = (await lp.read()).subarray()
        if (message[0] === 0x01) await lp.write(frame(0x01, reconciler.reconcile(message.subarray(1)).reply as Uint8Array))
        else if (message[0] === 0x02) await lp.write(frame(0x03))
        else if (message[0] === 0x04) { await lp.write(frame(0x05, valid[1] as Uint8Array)); return }
      }
    })
    await expect(honest.resync.syncWith(await introduce(honest.libp2p, swapper))).rejects.toMatchObject({ name: 'ResyncAbortedError', reason: 'protocol-violation' })

    const reasons = honest.aborts.map((e) => e.reason)
    expect(reasons).toEqual(['malformed-frame', 'too-many-rejected', 'protocol-violation'])
    expect(honest.store.size).toBe(100) // nothing invalid or unrequested was stored
    const other = await startPeer(valid)
    const report = await honest.resync.syncWith(await introduce(honest.libp2p, other.libp2p))
    expect(report).toMatchObject({ have: 100, need: 40 })
    expect(ids(other)).toEqual(ids(honest))
  })
})

