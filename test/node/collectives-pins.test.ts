/**
 * `node.pins` as a library (node/collectives/pins.ts), over a stand-in
 * collectives context with a real LevelDB and real crypto: what `add`
 * refuses (before anything is published) and what it publishes (the
 * geohash at the chosen precision, a one-time key and no certificate when
 * anonymous, our certificate on a named world pin); which incoming pins are
 * kept and how they are named; the local "within R km" filter; the bound on
 * others' pins; expiry; and the store across a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { openChannelSet } from '../../node/collectives/channels.js'
import { UnknownGroupError } from '../../node/collectives/errors.js'
import { createNodePinsWith } from '../../node/collectives/pins.js'
import type { CollectivesContext, CollectivesPlugin, IncomingItem, PublishItem, PublishOptions, PublishTarget } from '../../node/collectives/plugin.js'
import { NoWorldFeedError } from '../../node/social/errors.js'
import type { PinInfo, PinsApi } from '../../node/collectives/types.js'
import { openLocalDb, type Json, type LocalOp } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import {
  createIdentity, decodePin, encodeGeohash, encodePin, identityId, KIND_PIN, nativeCrypto, toHex, type Identity, type PublicIdentity
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const GROUP = { id: 'a'.repeat(64), name: 'crew' }
/** A stand-in certificate: the stand-in checker names its holder when these exact bytes come with that holder's keys. */
const FAKE_CERTIFICATE = new Uint8Array([1, 2, 3, 4])
const MINUTE = 60_000

interface Published { target: PublishTarget, kind: number, payload: Uint8Array, author: Identity, ttlMinutes: number }

const dirs: string[] = []
const dbs: Array<Level<string, Json>> = []
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close().catch(() => {})
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function applyOps (ops: readonly LocalOp[]): Promise<void> {
  for (const op of ops) {
    if (op.type === 'put') await op.sublevel.put(op.key, op.value)
    else await op.sublevel.del(op.key)
  }
}

/** A pins plugin over a stand-in context: what it publishes and emits is recorded; certificates named by `certified`. */
async function pinsNode (options: {
  dir?: string, named?: string, maxPinsOfOthers?: number, identity?: Identity, certified?: Map<string, string>, noWorld?: boolean, known?: Set<string>
} = {}) {
  const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'komrade-pins-'))
  if (options.dir === undefined) dirs.push(dir)
  const db = await openLocalDb(dir)
  dbs.push(db)
  const channels = await openChannelSet(db)
  const identity = options.identity ?? createIdentity(crypto)
  const batches: number[] = []
  let queued = 0
  const published: Published[] = []
  const emitted: PinInfo[] = []
  const certified = options.certified ?? new Map<string, string>()
  const delivery = {
    async queue (build: () => { ops?: LocalOp[] }, committed?: () => void) {
      queued++
      await applyOps(build().ops ?? [])
      committed?.()
      return []
    }
  }
  const context = {
    crypto, log: silentLogger(),
    identity: () => identity, db: () => db, delivery: () => delivery, channels: () => channels,
    ownCertificate: async () => options.named === undefined ? undefined : { name: options.named, certificate: FAKE_CERTIFICATE },
    contactName: (id: string) => id === 'c'.repeat(64) ? 'carol' : undefined,
    addContact: async () => { throw new Error('not in these tests') },
    memberGroup: (group: string) => { if (group !== 'crew' && group !== GROUP.id) throw new UnknownGroupError(group); return GROUP },
    async publish (target: PublishTarget, kind: number, payload: Uint8Array, o: PublishOptions) {
      return (await context.publishAll([{ target, kind, payload }], o))[0]
    },
    /** As the node's: all items in one batch (or none: a world item on a node without a world feed throws first). */
    async publishAll (items: PublishItem[], o: PublishOptions) {
      if (options.noWorld === true && items.some((i) => 'target' in i && i.target.type === 'world')) throw new NoWorldFeedError('disabled')
      const out: Array<{ messageId: string, expiresAt: number }> = []
      for (const item of items) {
        if ('to' in item) { throw new Error('no pairwise pins'); continue }
        published.push({ target: item.target, kind: item.kind, payload: item.payload, author: item.author ?? o.author ?? identity, ttlMinutes: o.ttlMinutes })
        out.push({ messageId: toHex(crypto.randomBytes(16)), expiresAt: Date.now() + o.ttlMinutes * MINUTE })
      }
      const prepared = o.prepare?.(out)
      batches.push(items.length)
      await applyOps([...(o.ops ?? []), ...(prepared?.ops ?? [])])
      o.committed?.()
      prepared?.committed?.()
      return out
    },
    knownSender: (id: string) => options.known?.has(id) === true,
    emit: (type: string, detail: unknown) => { if (type === 'pin') emitted.push(detail as PinInfo) },
    certifiedName: (certificate: Uint8Array | undefined, author: PublicIdentity) =>
      certificate !== undefined && toHex(certificate) === toHex(FAKE_CERTIFICATE) ? certified.get(identityId(author)) : undefined
  } as unknown as CollectivesContext
  const plugin = createNodePinsWith(options.maxPinsOfOthers === undefined ? {} : { maxPinsOfOthers: options.maxPinsOfOthers })(context)
  await plugin.open()
  return { plugin, api: plugin.api, published, emitted, dir, db, identity, batches, queued: () => queued }
}

/** Offers a pin to the plugin as delivery would, and commits what it wrote. */
async function receive (plugin: CollectivesPlugin<PinsApi>, item: Partial<IncomingItem> & { payload: Uint8Array, author: PublicIdentity }): Promise<void> {
  const change: { ops?: LocalOp[] } = {}
  const after: Array<() => void> = []
  const now = Date.now()
  await plugin.absorb({
    source: { type: 'world' }, kind: KIND_PIN, authorId: identityId(item.author), sentAt: now, messageId: toHex(crypto.randomBytes(16)),
    expiresAt: now + 60 * MINUTE, ...item
  }, change, after)
  await applyOps(change.ops ?? [])
  for (const step of after) step()
}

const pin = (geohash: string, note = '', certificate?: Uint8Array): Uint8Array =>
  encodePin({ kind: 'danger', geohash, note, ...(certificate === undefined ? {} : { certificate }) })

describe('pins as a library', () => {
  it('refuses bad input before publishing anything, with typed errors', async () => {
    const { api, published } = await pinsNode()
    const base = { kind: 'police' as const, note: 'kettle here', lat: 52.52, lon: 13.405, audience: 'world' as const, anonymous: true }
    await expect(api.add({ ...base, kind: 'cops' as 'police' })).rejects.toThrow(RangeError)
    await expect(api.add({ ...base, note: 'x'.repeat(281) })).rejects.toMatchObject({ name: 'PostFormatError', reason: 'note-too-long' })
    await expect(api.add({ ...base, lat: 91 })).rejects.toThrow(RangeError)
    await expect(api.add({ ...base, lon: Number.NaN })).rejects.toThrow(RangeError)
    await expect(api.add({ ...base, precision: 10 })).rejects.toThrow(RangeError)
    await expect(api.add({ ...base, ttlMinutes: 9 })).rejects.toThrow(RangeError)
    await expect(api.add({ ...base, ttlMinutes: 10_081 })).rejects.toThrow(RangeError)
    await expect(api.add({ ...base, audience: 'everyone' as 'world' })).rejects.toThrow(TypeError)
    await expect(api.add({ ...base, audience: { group: 'strangers' } })).rejects.toMatchObject({ name: 'UnknownGroupError' })
    // A named world pin needs a registered name to prove (we have none here).
    await expect(api.add({ ...base, anonymous: false })).rejects.toMatchObject({ name: 'NoNameError' })
    await expect(api.list({ withinKm: 3 })).rejects.toThrow(RangeError)
    await expect(api.list({ near: { lat: 100, lon: 0 } })).rejects.toThrow(RangeError)
    expect(published).toEqual([])
    expect(await api.list()).toEqual([])
  })

  it('publishes named and anonymous pins as chosen: precision, lifetime, key, certificate', async () => {
    const { api, published, emitted, identity } = await pinsNode({ named: 'alice' })
    const named = await api.add({ kind: 'help', note: 'first aid', lat: 57.64911, lon: 10.40744, audience: 'world' })
    expect(named).toMatchObject({ kind: 'help', note: 'first aid', geohash: 'u4pruyd', audience: 'world', mine: true, author: { id: identityId(identity), name: 'alice' } })
    expect(published[0]!.target).toEqual({ type: 'world', anonymous: false })
    expect(published[0]!.ttlMinutes).toBe(360)
    expect(identityId(published[0]!.author)).toBe(identityId(identity))
    expect(decodePin(published[0]!.payload)).toMatchObject({ kind: 'help', geohash: 'u4pruyd', certificate: FAKE_CERTIFICATE })

    const anonymous = await api.add({ kind: 'police', note: '', lat: 57.64911, lon: 10.40744, precision: 9, ttlMinutes: 10, audience: { group: 'crew' }, anonymous: true })
    expect(anonymous.author).toBeUndefined()
    expect(anonymous).toMatchObject({ geohash: 'u4pruydqq', audience: { group: 'crew' }, mine: true })
    expect(published[1]!.target).toEqual({ type: 'group', group: GROUP.id, anonymous: true })
    expect(published[1]!.ttlMinutes).toBe(10)
    expect(identityId(published[1]!.author)).not.toBe(identityId(identity))
    expect(decodePin(published[1]!.payload).certificate).toBeUndefined()
    // Each anonymous pin gets its own key.
    await api.add({ kind: 'info', note: 'again', lat: 0, lon: 0, audience: 'world', anonymous: true })
    expect(identityId(published[2]!.author)).not.toBe(identityId(published[1]!.author))
    expect(emitted.map((p) => p.note)).toEqual(['first aid', '', 'again'])
    expect((await api.list()).map((p) => p.note).sort()).toEqual(['', 'again', 'first aid'])
  })

  it('keeps incoming pins named only as far as they prove, and drops the rest', async () => {
    const alice = createIdentity(crypto)
    const mallory = createIdentity(crypto)
    const { plugin, api, emitted } = await pinsNode({ certified: new Map([[identityId(alice), 'alice']]) })
    await receive(plugin, { payload: pin('u4pruyd', 'named', FAKE_CERTIFICATE), author: alice })
    // A certificate that does not name its signer is a forged name: dropped.
    await receive(plugin, { payload: pin('u4pruyd', 'forged name', FAKE_CERTIFICATE), author: mallory })
    await receive(plugin, { payload: pin('u4pruyd', 'anonymous'), author: createIdentity(crypto) })
    await receive(plugin, { payload: pin('u4pruyd', 'from the future'), author: createIdentity(crypto), sentAt: Date.now() + 10 * MINUTE })
    await receive(plugin, { payload: pin('u4pruyd', 'pairwise'), author: alice, source: { type: 'direct' } })
    await receive(plugin, { payload: new Uint8Array([1, 9, 9]), author: alice })
    const carol = { ...createIdentity(crypto), signingKey: fromHexBytes('c'.repeat(64)) }
    await receive(plugin, { payload: pin('u4pruyd', 'member'), author: carol, source: { type: 'group-chain', group: GROUP } })
    await receive(plugin, { payload: pin('u4pruyd', 'masked member'), author: createIdentity(crypto), source: { type: 'group-anonymous', group: GROUP, epoch: 0 } })
    const byNote = new Map((await api.list()).map((p) => [p.note, p]))
    expect([...byNote.keys()].sort()).toEqual(['anonymous', 'masked member', 'member', 'named'])
    expect(byNote.get('named')!.author).toEqual({ id: identityId(alice), name: 'alice' })
    expect(byNote.get('anonymous')!.author).toBeUndefined()
    expect(byNote.get('member')).toMatchObject({ author: { id: 'c'.repeat(64), name: 'carol' }, audience: { group: 'crew' } })
    expect(byNote.get('masked member')!.author).toBeUndefined()
    expect(emitted).toHaveLength(4)
    // The same envelope twice is one pin.
    const again = { payload: pin('u4pruyd', 'twice'), author: alice, messageId: 'f'.repeat(32) }
    await receive(plugin, again)
    await receive(plugin, again)
    expect((await api.list()).filter((p) => p.note === 'twice')).toHaveLength(1)
  })

  it('filters by distance locally, from the cell centre, nearest first', async () => {
    const { plugin, api } = await pinsNode()
    const author = createIdentity(crypto)
    // Berlin Alexanderplatz, a coarser cell ~1.5 km north, and Potsdam (~27 km).
    const here = { lat: 52.5219, lon: 13.4132 }
    await receive(plugin, { payload: pin(encodeGeohash(here.lat, here.lon, 7), 'alex'), author })
    await receive(plugin, { payload: pin(encodeGeohash(here.lat + 0.0135, here.lon, 6), 'near'), author })
    await receive(plugin, { payload: pin(encodeGeohash(52.3906, 13.0645, 5), 'potsdam'), author })
    const within = await api.list({ near: here, withinKm: 3 })
    expect(within.map((p) => p.note)).toEqual(['alex', 'near'])
    expect(within[0]!.distanceKm!).toBeLessThan(within[1]!.distanceKm!)
    expect(within[1]!.distanceKm!).toBeLessThanOrEqual(3)
    const all = await api.list({ near: here })
    expect(all.map((p) => p.note)).toEqual(['alex', 'near', 'potsdam'])
    expect(all[2]!.distanceKm!).toBeGreaterThan(20)
    expect((await api.list({ near: here, withinKm: 0.01 })).map((p) => p.note)).toEqual([])
  })

  it('bounds the pins of others: the soonest-expiring goes; ours do not count', async () => {
    const { plugin, api } = await pinsNode({ maxPinsOfOthers: 2, named: 'me' })
    const author = createIdentity(crypto)
    const now = Date.now()
    await api.add({ kind: 'info', note: 'mine', lat: 1, lon: 1, audience: 'world', ttlMinutes: 10 })
    await receive(plugin, { payload: pin('s00', 'thirty'), author, expiresAt: now + 30 * MINUTE })
    await receive(plugin, { payload: pin('s00', 'sixty'), author, expiresAt: now + 60 * MINUTE })
    await receive(plugin, { payload: pin('s00', 'ninety'), author, expiresAt: now + 90 * MINUTE })
    expect((await api.list()).map((p) => p.note).sort()).toEqual(['mine', 'ninety', 'sixty'])
    // A newcomer that would expire before everything held is the one refused.
    await receive(plugin, { payload: pin('s00', 'twenty'), author, expiresAt: now + 20 * MINUTE })
    expect((await api.list()).map((p) => p.note).sort()).toEqual(['mine', 'ninety', 'sixty'])
  })

  it('hides expired pins, deletes them in housekeeping, and keeps the rest across a restart', async () => {
    const first = await pinsNode({ named: 'me' })
    const author = createIdentity(crypto)
    const now = Date.now()
    await first.api.add({ kind: 'other', note: 'ours', lat: 10, lon: 10, audience: 'world', ttlMinutes: 10 })
    await receive(first.plugin, { payload: pin('s00', 'short'), author, expiresAt: now + 400 })
    await receive(first.plugin, { payload: pin('s00', 'long'), author, expiresAt: now + 60 * MINUTE })
    expect((await first.api.list()).map((p) => p.note).sort()).toEqual(['long', 'ours', 'short'])
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect((await first.api.list()).map((p) => p.note).sort()).toEqual(['long', 'ours'])
    await first.plugin.housekeeping!(Date.now())
    const kept = await first.api.list()
    first.plugin.close()
    await first.db.close()

    const second = await pinsNode({ dir: first.dir, identity: first.identity })
    expect(await second.api.list()).toEqual(kept)
    // Housekeeping deleted the expired pin from disk, not only from view: at a later time only "long" and "ours" were there to expire.
    await second.plugin.housekeeping!(now + 11 * MINUTE)
    second.plugin.close()
    await second.db.close()
    const third = await pinsNode({ dir: first.dir, identity: first.identity })
    expect((await third.api.list()).map((p) => p.note)).toEqual(['long'])
  })

  it('writes our pin in the batch that publishes it, under the message id sealing drew; no world feed is NoWorldFeedError', async () => {
    const node = await pinsNode({ named: 'alice' })
    const pin = await node.api.add({ kind: 'help', note: 'water here', lat: 1, lon: 2, audience: 'world', anonymous: true })
    expect(node.batches).toEqual([1])
    expect(node.queued()).toBe(0) // no second commit for our copy
    expect((await node.api.list()).map((p) => p.id)).toEqual([pin.id])
    node.plugin.close()
    await node.db.close()
    const again = await pinsNode({ dir: node.dir, identity: node.identity })
    expect((await again.api.list()).map((p) => p.id)).toEqual([pin.id])
    const noWorld = await pinsNode({ noWorld: true })
    await expect(noWorld.api.add({ kind: 'help', note: 'x', lat: 1, lon: 2, audience: 'world', anonymous: true })).rejects.toMatchObject({ name: 'NoWorldFeedError' })
    expect(await noWorld.api.list()).toEqual([])
  })
})

function fromHexBytes (hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}
