/**
 * Reliability scenario 6: the store's quota is hit, then the disk is full.
 *
 * Setup: two real nodes in this process on 127.0.0.1. B's data directory is
 * a real size-limited filesystem, a tmpfs mounted for this test (the test
 * runs as root; without the right to mount it is skipped and says so): its
 * LevelDB gets ENOSPC from the kernel, nothing is simulated inside the
 * node. B's envelope store quota is QUOTA_ENVELOPES envelopes.
 *
 * Load (x KOMRADE_RELIABILITY_SCALE): A sends MESSAGES messages to B and
 * floods COVERS cover envelopes with scattered expiries (proof of work
 * done), which push B's store past its quota; then the tmpfs is filled to
 * the last byte and A sends MESSAGES more messages and COVERS/4 more covers.
 *
 * Pass criterion:
 *  - quota: B's store holds exactly its quota's worth, status().store.evicted
 *    counts the evictions, and every cover envelope it no longer holds sorts
 *    before every envelope it keeps in (expiry, id) order: soonest-expiring first;
 *  - full disk: B keeps running (status answers, running: true, no crash,
 *    no unhandled rejection), status().store.lastError says the write failed,
 *    and the inbox it had still reads back whole;
 *  - after space is freed and B restarts: all 2 x MESSAGES messages are in
 *    its inbox exactly once (those that arrived during the full disk come
 *    back through resync from A), and the store opens clean.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, open, rm, statfs, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, describe, expect, it } from 'vitest'
import { compareItems, type ReconcileItem } from '../../node/resync/reconcile.js'
import { createEnvelopeStore } from '../../node/store/envelope-store.js'
import { envelopeExpiryMinute, envelopeId, minuteOf, nativeCrypto, sealCover, solveWork, toHex } from '../../protocol/index.js'
import { cleanup, connect, startNode, waitFor, type TestNode } from '../node/cluster.js'
import { SCALE } from './harness.js'

const crypto = nativeCrypto()
const QUOTA_ENVELOPES = 40
/** Bytes one envelope counts against the quota under the node's `envelopes` sublevel (EnvelopeStoreStats.bytes). */
const ENVELOPE_QUOTA_BYTES = 2227
const MESSAGES = Math.round(5 * SCALE)
const COVERS = Math.round(120 * SCALE)
/** Big enough for the identity, LevelDB's first files and a few write-ahead logs; small enough to fill in a blink. */
const TMPFS_BYTES = 16 * 1024 * 1024

function tryMount (dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' })
    return undefined
  } catch (error) {
    return (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error)
  }
}

const mountPoint = await mkdtemp(join(tmpdir(), 'komrade-fulldisk-'))
const mountRefusal = tryMount(mountPoint)
if (mountRefusal !== undefined) console.warn(`[scenario 6] skipped: cannot mount a tmpfs here (${mountRefusal}); run as root`)

afterAll(async () => {
  await cleanup()
  if (mountRefusal === undefined) execFileSync('umount', ['-l', mountPoint])
  await rm(mountPoint, { recursive: true, force: true })
})

/** A cover envelope expiring `ttlMinutes` from now, with its proof of work. */
function mintCover (ttlMinutes: number): Uint8Array {
  return solveWork(crypto, sealCover(crypto, minuteOf(Date.now()) + ttlMinutes))
}

/** Writes zeros to `path` until the filesystem refuses (ENOSPC), with ever smaller writes down to one byte. */
async function fillDisk (path: string): Promise<number> {
  const file = await open(path, 'w')
  let written = 0
  try {
    for (let chunk = 1024 * 1024; chunk >= 1; chunk = Math.floor(chunk / 4)) {
      const zeros = new Uint8Array(chunk)
      for (;;) {
        try {
          await file.write(zeros)
          written += chunk
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
          break
        }
      }
    }
  } finally {
    await file.close().catch(() => {})
  }
  return written
}

/** B's stored (expiry, id) items, read from its LevelDB with the node stopped. */
async function storedItems (dataDir: string): Promise<readonly ReconcileItem[]> {
  const db = new Level<Uint8Array, Uint8Array>(join(dataDir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    const store = await createEnvelopeStore({ db: db.sublevel<Uint8Array, Uint8Array>('envelopes', { keyEncoding: 'view', valueEncoding: 'view' }), crypto, quotaBytes: Number.MAX_SAFE_INTEGER })
    return store.items()
  } finally {
    await db.close()
  }
}

describe.skipIf(mountRefusal !== undefined)('a node whose quota is hit and whose disk fills up', () => {
  it('evicts soonest-expiring first, reports the full disk, keeps running and loses no inbox message', async () => {
    const startedAt = Date.now()
    const quotaBytes = QUOTA_ENVELOPES * ENVELOPE_QUOTA_BYTES
    const bDir = join(mountPoint, 'b')
    const a = await startNode()
    let b: TestNode = await startNode({ dataDir: bDir, quotaBytes })
    expect(b.node.status().store.quotaBytes).toBe(quotaBytes)
    await connect(a.node, b.node)
    await waitFor('A and B meshed', () => a.node.status().meshPeers === 1 && b.node.status().meshPeers === 1)

    const texts = (n: number, phase: string): string[] => Array.from({ length: n }, (_, i) => `${phase} message ${i}`)
    const inboxTexts = async (): Promise<string[]> => (await b.node.inbox()).map((m) => m.text)

    // Phase 1: the quota. The messages go after the covers, on the same link: once B has them, it has taken every cover.
    const covers = Array.from({ length: COVERS }, () => mintCover(10 + Math.floor(Math.random() * 50)))
    for (const cover of covers) await a.node.network.publish(cover)
    const coverIds = new Map(covers.map((c) => [toHex(envelopeId(crypto, c)), c]))
    const before = texts(MESSAGES, 'before')
    for (const text of before) await a.node.send(b.node.publicIdentity, text)
    await waitFor('B has the first messages', async () => (await inboxTexts()).length === MESSAGES, 60_000)
      .catch(async (error: unknown) => {
        console.log('DEBUG', JSON.stringify({ b: b.node.status(), a: a.node.status(), inbox: await inboxTexts(), outbox: (await a.node.outbox()).map((m) => m.state) }))
        throw error
      })
    const quotaStatus = b.node.status().store
    expect(quotaStatus.count).toBe(QUOTA_ENVELOPES)
    expect(quotaStatus.evicted).toBeGreaterThan(0)
    const afterQuota = quotaStatus
    expect(afterQuota.bytes).toBeLessThanOrEqual(quotaBytes)
    expect(afterQuota.lastError).toBeUndefined()

    // Phase 2: the disk is full.
    const filler = join(mountPoint, 'filler')
    const filled = await fillDisk(filler)
    expect((await statfs(mountPoint)).bavail).toBe(0)
    const during = texts(MESSAGES, 'during')
    for (const text of during) await a.node.send(b.node.publicIdentity, text)
    for (let i = 0; i < COVERS / 4; i++) await a.node.network.publish(mintCover(30 + Math.floor(Math.random() * 50)))
    await waitFor('B reports the failed write', () => b.node.status().store.lastError !== undefined, 60_000)
    const fullStatus = b.node.status()
    expect(fullStatus.running).toBe(true)
    expect(fullStatus.store.lastError).toMatch(/space|ENOSPC|IO error/i)
    expect(fullStatus.peers).toBe(1)
    expect(await inboxTexts()).toEqual(expect.arrayContaining(before)) // what it had reads back whole
    const duringBeforeRestart = (await inboxTexts()).filter((text) => text.startsWith('during')).length
    // A has handed every message to the network (B's gossip took them, whatever B's disk did with them).
    await waitFor('A sent everything', async () => (await a.node.outbox()).every((m) => m.state !== 'working' && m.state !== 'queued'), 60_000)

    // Phase 3: space freed, B restarted (the store refuses writes until reopened, by design).
    await unlink(filler)
    await b.node.stop()
    const kept = await storedItems(bDir)
    b = await startNode({ dataDir: bDir, quotaBytes })
    expect(b.node.status().store.lastError).toBeUndefined()
    await connect(a.node, b.node) // the dialing side resyncs at once
    await waitFor('every message in B\'s inbox', async () => (await inboxTexts()).length >= 2 * MESSAGES, 60_000)
    const inbox = await inboxTexts()
    expect([...inbox].sort()).toEqual([...before, ...during].sort()) // each exactly once
    expect(new Set((await b.node.inbox()).map((m) => m.id)).size).toBe(2 * MESSAGES)

    // Soonest-expiring first: every phase-1 cover B no longer holds sorts before everything it kept then.
    const keptIds = new Set(kept.map((item) => toHex(item.id)))
    const firstKept = kept[0]!
    const gone = [...coverIds].filter(([id]) => !keptIds.has(id))
      .map(([, c]): ReconcileItem => ({ expiryMinute: envelopeExpiryMinute(c), id: envelopeId(crypto, c) }))
    expect(gone.length).toBeGreaterThanOrEqual(COVERS - QUOTA_ENVELOPES)
    for (const item of gone) expect(compareItems(item, firstKept)).toBeLessThan(0)
    expect(kept.length).toBeLessThanOrEqual(QUOTA_ENVELOPES)

    console.log(`[scenario 6] quota ${QUOTA_ENVELOPES} envelopes: ${afterQuota.evicted} evicted, ${gone.length} covers gone, all earlier than the ${kept.length} kept; ` +
      `disk filled with ${(filled / 1024 / 1024).toFixed(1)} MiB, lastError "${fullStatus.store.lastError}"; ` +
      `${2 * MESSAGES} of ${2 * MESSAGES} messages in the inbox after restart (${duringBeforeRestart} of the ${MESSAGES} sent during the full disk had been taken in before it); wall ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
  }, 180_000)
})
