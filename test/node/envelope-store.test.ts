/**
 * The envelope store on a real LevelDB in a temp dir: put/get/dedupe, the
 * tag and expiry indexes, prune, quota eviction, a full disk (a real 1 MiB
 * tmpfs when mount is permitted), and atomicity under SIGKILL.
 */
import { execFileSync, spawn } from 'node:child_process'
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createEnvelopeStore, type EnvelopeDb, type EnvelopeStore, type ReconcileItem
} from '../../node/store/envelope-store.js'
import { compareItems } from '../../node/resync/reconcile.js'
import {
  envelopeFields, envelopeId, MINUTE_MS, minuteOf, nativeCrypto, sealCover, TAG_LENGTH, TAG_OFFSET, toHex
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const NOW = Date.now()
const NOW_MINUTE = minuteOf(NOW)
const VIEW = { keyEncoding: 'view', valueEncoding: 'view' } as const
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-store-'))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

interface Opened { level: Level<Uint8Array, Uint8Array>, envelopes: EnvelopeDb, store: EnvelopeStore, close: () => Promise<void> }

async function openStore (dir: string, quotaBytes?: number): Promise<Opened> {
  const level = new Level<Uint8Array, Uint8Array>(dir, VIEW)
  await level.open()
  const envelopes = level.sublevel<Uint8Array, Uint8Array>('envelopes', VIEW)
  const store = await createEnvelopeStore({ db: envelopes, crypto, ...(quotaBytes === undefined ? {} : { quotaBytes }) })
    .catch(async (error: unknown) => { await level.close(); throw error })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await store.close()
    await level.close()
  }
  cleanups.push(close)
  return { level, envelopes, store, close }
}

function cover (expiryMinute: number, tag?: Uint8Array): Uint8Array {
  const envelope = sealCover(crypto, expiryMinute)
  if (tag !== undefined) envelope.set(tag, TAG_OFFSET)
  return envelope
}

const hexIds = (list: readonly { id: Uint8Array }[] | readonly Uint8Array[]): string[] =>
  list.map(x => toHex(x instanceof Uint8Array ? envelopeId(crypto, x) : x.id)).sort()

/**
 * Reads the three sublevels raw and checks they describe the same envelopes:
 * every envelope has its expiry and tag entries and every index entry its
 * envelope. Returns the expiry index in order.
 */
async function checkConsistency (envelopes: EnvelopeDb): Promise<ReconcileItem[]> {
  const byId = await envelopes.sublevel<Uint8Array, Uint8Array>('id', VIEW).iterator().all()
  const byExpiry = await envelopes.sublevel<Uint8Array, Uint8Array>('exp', VIEW).iterator().all()
  const byTag = await envelopes.sublevel<Uint8Array, Uint8Array>('tag', VIEW).keys().all()
  const expected = { exp: new Set<string>(), tag: new Set<string>() }
  for (const [id, envelope] of byId) {
    expect(toHex(envelopeId(crypto, envelope))).toBe(toHex(id))
    const { expiryMinute, tag } = envelopeFields(envelope)
    const expiry = new Uint8Array(4)
    new DataView(expiry.buffer).setUint32(0, expiryMinute)
    expected.exp.add(toHex(expiry) + toHex(id) + ':' + toHex(tag))
    expected.tag.add(toHex(tag) + toHex(id))
  }
  expect(new Set(byExpiry.map(([k, v]) => toHex(k) + ':' + toHex(v)))).toEqual(expected.exp)
  expect(new Set(byTag.map(k => toHex(k)))).toEqual(expected.tag)
  expect(byExpiry).toHaveLength(byId.length)
  expect(byTag).toHaveLength(byId.length)
  return byExpiry.map(([k]) => ({ expiryMinute: new DataView(k.buffer, k.byteOffset).getUint32(0), id: new Uint8Array(k.subarray(4)) }))
}

function expectSorted (items: readonly ReconcileItem[]): void {
  for (let i = 1; i < items.length; i++) expect(compareItems(items[i - 1]!, items[i]!)).toBeLessThan(0)
}

describe('envelope store', () => {
  it('stores, reads back and dedupes; refuses malformed input with typed errors', async () => {
    const { store } = await openStore(await tempDir())
    const envelope = cover(NOW_MINUTE + 60)
    const first = await store.put(envelope)
    expect(first).toEqual({ id: envelopeId(crypto, envelope), added: true, evicted: 0 })
    expect(await store.put(envelope.slice())).toMatchObject({ added: false, reason: 'duplicate' })
    expect(await store.get(first.id)).toEqual(envelope)
    expect(await store.has(first.id)).toBe(true)
    const unknown = new Uint8Array(32)
    expect(await store.has(unknown)).toBe(false)
    expect(await store.get(unknown)).toBeUndefined()
    expect(await store.getMany([unknown, first.id])).toEqual([undefined, envelope])
    expect(store.stats()).toMatchObject({ count: 1, evicted: 0, pruned: 0 })
    expect(store.stats().bytes).toBeGreaterThan(2048)

    await expect(store.put(envelope.subarray(1))).rejects.toMatchObject({ name: 'EnvelopeFormatError' })
    await expect(store.put(new Uint8Array(4096))).rejects.toMatchObject({ name: 'EnvelopeFormatError' })
    await expect(store.get(new Uint8Array(31))).rejects.toBeInstanceOf(RangeError)
    expect(await store.put(cover(NOW_MINUTE - 6))).toMatchObject({ added: false, reason: 'expired' })
    expect(store.stats().count).toBe(1)

    // Concurrent puts, duplicates among them, are decided one at a time.
    const batch = Array.from({ length: 20 }, (_, i) => cover(NOW_MINUTE + 100 + (i % 5)))
    const results = await Promise.all([...batch, ...batch].map(async e => await store.put(e)))
    expect(results.filter(r => r.added)).toHaveLength(20)
    expect(store.stats().count).toBe(21)

    await store.close()
    await expect(store.put(cover(NOW_MINUTE + 60))).rejects.toMatchObject({ name: 'StoreClosedError' })
  })

  it('finds stored envelopes by tag, and forgets them once deleted', async () => {
    const { store, envelopes } = await openStore(await tempDir())
    const tagA = crypto.randomBytes(TAG_LENGTH)
    const tagB = tagA.slice()
    tagB[TAG_LENGTH - 1] = (tagB[TAG_LENGTH - 1]! + 1) & 0xff // a neighbour in key order
    const withA = [cover(NOW_MINUTE + 10, tagA), cover(NOW_MINUTE + 3000, tagA), cover(NOW_MINUTE + 20, tagA)]
    const withB = [cover(NOW_MINUTE + 30, tagB)]
    for (const e of [...withA, ...withB, cover(NOW_MINUTE + 40)]) await store.put(e)
    expect(hexIds(await store.withTag(tagA))).toEqual(hexIds(withA))
    expect(hexIds(await store.withTag(tagB))).toEqual(hexIds(withB))
    expect(await store.withTag(new Uint8Array(TAG_LENGTH))).toEqual([])
    await expect(store.withTag(new Uint8Array(8))).rejects.toBeInstanceOf(RangeError)

    expect(await store.prune(NOW + 16 * MINUTE_MS)).toBe(1) // only the +10 one is past expiry + skew
    expect(hexIds(await store.withTag(tagA))).toEqual(hexIds([withA[1]!, withA[2]!]))
    await checkConsistency(envelopes)
  })

  it('keeps items() sorted, as snapshots, and identical after reopening', async () => {
    const dir = await tempDir()
    const first = await openStore(dir)
    const put: Uint8Array[] = []
    for (let i = 0; i < 300; i++) {
      const e = cover(NOW_MINUTE + Math.floor(Math.random() * 40)) // many share a minute: ids break ties
      put.push(e)
      await first.store.put(e)
    }
    const items = first.store.items()
    expect(items).toHaveLength(300)
    expectSorted(items)
    expect(hexIds(items)).toEqual(hexIds(put))
    expect(await checkConsistency(first.envelopes)).toEqual(items)
    await first.store.put(cover(NOW_MINUTE))
    expect(items).toHaveLength(300) // the snapshot did not move
    const after = first.store.items()
    expect(after).toHaveLength(301)
    await first.close()

    const again = await openStore(dir)
    expect(again.store.items()).toEqual(after)
    expect(again.store.stats().count).toBe(301)
  })

  it('prunes by expiry in batches, through the expiry index', async () => {
    const { store, envelopes } = await openStore(await tempDir())
    const early = NOW - 60 * MINUTE_MS // the store accepted them back then
    const expired: Uint8Array[] = []
    const kept: Uint8Array[] = []
    for (let i = 0; i < 2300; i++) { // more than two prune batches
      const e = cover(NOW_MINUTE - 50 + (i % 45)) // minutes -50 .. -6: all below now - 5
      expired.push(e)
      await store.put(e, { now: early })
    }
    for (const minute of [NOW_MINUTE - 5, NOW_MINUTE - 4, NOW_MINUTE + 1, NOW_MINUTE + 100]) {
      const e = cover(minute)
      kept.push(e)
      await store.put(e, { now: early })
    }
    expect(await store.prune(NOW)).toBe(expired.length)
    expect(hexIds(store.items())).toEqual(hexIds(kept))
    expect(await store.get(envelopeId(crypto, expired[0]!))).toBeUndefined()
    expect(store.stats()).toMatchObject({ count: kept.length, pruned: expired.length })
    expect(await store.prune(NOW)).toBe(0)
    expect(await checkConsistency(envelopes)).toEqual(store.items())

    const controller = new AbortController()
    controller.abort()
    await expect(store.prune(NOW, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('evicts the soonest-expiring envelopes for the quota, and refuses a newcomer that would go first', async () => {
    const dir = await tempDir()
    const probe = await openStore(await tempDir())
    await probe.store.put(cover(NOW_MINUTE + 1))
    const perEnvelope = probe.store.stats().bytes
    await probe.close()

    await expect(openStore(dir, perEnvelope - 1)).rejects.toBeInstanceOf(RangeError) // not even one envelope
    const { store, envelopes, close } = await openStore(dir, perEnvelope * 10 + Math.floor(perEnvelope / 2))
    const minutes = [50, 20, 90, 10, 70, 30, 60, 40, 80, 100].map(m => NOW_MINUTE + m)
    const stored = new Map(minutes.map(m => [m, cover(m)]))
    for (const e of stored.values()) expect((await store.put(e)).evicted).toBe(0)
    expect(store.stats().count).toBe(10)

    const late = cover(NOW_MINUTE + 200)
    expect(await store.put(late)).toMatchObject({ added: true, evicted: 1 })
    expect(await store.has(envelopeId(crypto, stored.get(NOW_MINUTE + 10)!))).toBe(false)
    expect(await store.put(cover(NOW_MINUTE + 25))).toMatchObject({ added: true, evicted: 1 })
    expect(await store.has(envelopeId(crypto, stored.get(NOW_MINUTE + 20)!))).toBe(false)
    expect(await store.put(cover(NOW_MINUTE + 5))).toMatchObject({ added: false, evicted: 0, reason: 'quota' })
    expect(store.items().map(i => i.expiryMinute - NOW_MINUTE)).toEqual([25, 30, 40, 50, 60, 70, 80, 90, 100, 200])
    expect(store.stats()).toMatchObject({ count: 10, evicted: 2 })
    expect(store.stats().bytes).toBeLessThanOrEqual(store.stats().quotaBytes)
    expect(await checkConsistency(envelopes)).toEqual(store.items())
    await close()

    // Reopened with a smaller quota: it shrinks at once, soonest first.
    const smaller = await openStore(dir, perEnvelope * 4)
    expect(smaller.store.items().map(i => i.expiryMinute - NOW_MINUTE)).toEqual([80, 90, 100, 200])
    expect(await checkConsistency(smaller.envelopes)).toEqual(smaller.store.items())
  })

  it('survives a full disk: put rejects with StoreWriteError and memory matches the disk', async (context) => {
    const mountPoint = await tempDir()
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'pipe' })
    } catch (error) {
      // Mounting needs root (CI runs as root); elsewhere this test cannot make a disk fill up for real.
      context.skip(`cannot mount a small tmpfs to fill up (${String((error as Error).message).split('\n')[0]})`)
    }
    cleanups.push(async () => { execFileSync('umount', ['-l', mountPoint]) })
    const dir = join(mountPoint, 'db')
    const { store, close } = await openStore(dir)
    let failure: unknown
    let before: readonly ReconcileItem[] = []
    for (let i = 0; i < 2000 && failure === undefined; i++) {
      before = store.items()
      try {
        await store.put(cover(NOW_MINUTE + 60 + (i % 500)))
      } catch (error) {
        failure = error
      }
    }
    expect(failure).toMatchObject({ name: 'StoreWriteError' })
    expect((failure as Error).cause).toBeInstanceOf(Error)
    expect(store.items()).toEqual(before)
    expect(store.stats().count).toBe(before.length)
    expect(store.stats().lastError).toMatch(/space|IO error/i)
    expect(await store.get(before[0]!.id)).toBeInstanceOf(Uint8Array) // reads still work

    // Space comes back, but LevelDB's log lost its place: writes stay refused until reopen.
    execFileSync('mount', ['-o', 'remount,size=4m', mountPoint])
    await expect(store.put(cover(NOW_MINUTE + 70))).rejects.toMatchObject({ name: 'StoreWriteError' })
    await expect(store.prune(NOW + 10_000 * MINUTE_MS)).rejects.toMatchObject({ name: 'StoreWriteError' })
    expect(store.items()).toEqual(before)
    await close()

    const reopened = await openStore(dir)
    expect(reopened.store.items()).toEqual(before)
    expect(await checkConsistency(reopened.envelopes)).toEqual(before)
    expect(await reopened.store.put(cover(NOW_MINUTE + 70))).toMatchObject({ added: true })
  })

  it('keeps index and envelopes in agreement across SIGKILLs at random points', async () => {
    const dir = await tempDir()
    const script = join(await tempDir(), 'writer.mts')
    const url = (path: string): string => pathToFileURL(fileURLToPath(new URL(path, import.meta.url))).href
    await writeFile(script, `
      import { Level } from ${JSON.stringify(pathToFileURL(createRequire(import.meta.url).resolve('level')).href)}
      import { createEnvelopeStore } from ${JSON.stringify(url('../../node/store/envelope-store.ts'))}
      import { minuteOf, nativeCrypto, sealCover, toHex } from ${JSON.stringify(url('../../protocol/index.ts'))}
      const [dir, quota, prune] = process.argv.slice(2)
      const view = { keyEncoding: 'view', valueEncoding: 'view' }
      const db = new Level(dir, view)
      await db.open()
      const crypto = nativeCrypto()
      const store = await createEnvelopeStore({ db: db.sublevel('envelopes', view), crypto, quotaBytes: Number(quota) })
      const now = Date.now()
      for (;;) {
        const batch = Array.from({ length: 8 }, () => sealCover(crypto, minuteOf(now) - 20 + Math.floor(Math.random() * 60)))
        for (const r of await Promise.all(batch.map(e => store.put(e, { now: now - 3600000 })))) {
          if (r.added) process.stdout.write('ack ' + toHex(r.id) + '\\n')
        }
        if (prune === 'prune' && Math.random() < 0.2) await store.prune(now)
      }
    `)
    const KILLS = 12
    for (let run = 0; run < KILLS; run++) {
      // Even runs: a tight quota and pruning, so batches also delete. Odd runs:
      // no deletes, so every acknowledged put must have survived the kill.
      const deleting = run % 2 === 0
      const acked = await runAndKill(script, [dir, String(deleting ? 300 * 2200 : 1 << 30), deleting ? 'prune' : 'keep'],
        1 + Math.floor(Math.random() * 250), Math.floor(Math.random() * 20))
      const { store, envelopes, close } = await openStore(dir, 1 << 30)
      const onDisk = await checkConsistency(envelopes)
      expect(store.items()).toEqual(onDisk)
      if (!deleting) {
        const present = new Set(onDisk.map(i => toHex(i.id)))
        for (const id of acked) expect(present.has(id)).toBe(true)
      }
      await close()
    }
  })
})

/** Runs the writer until it acknowledged `afterAcks` puts, waits `extraMs`, SIGKILLs it; returns the acknowledged ids. */
async function runAndKill (script: string, args: string[], afterAcks: number, extraMs: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const acked: string[] = []
  let pending = ''
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
  let armed = false
  const killed = new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`writer stalled: ${stderr}`)) }, 30_000)
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n')
      pending = lines.pop() ?? '' // an unterminated line is not an acknowledgement
      for (const line of lines) if (line.startsWith('ack ')) acked.push(line.slice(4))
      if (acked.length >= afterAcks && !armed) {
        armed = true
        clearTimeout(guard)
        setTimeout(() => { child.kill('SIGKILL'); resolve() }, extraMs)
      }
    })
    child.once('exit', code => { if (code !== null) reject(new Error(`writer exited with ${code}: ${stderr}`)) })
  })
  await killed
  await exited
  return acked
}
