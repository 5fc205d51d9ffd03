/**
 * The collectives context the events and pins plugins publish through
 * (node/collectives/node-collectives.ts), over a real LevelDB and a stand-in
 * delivery that records each queued batch:
 * - a world item on a node without a world feed is a NoWorldFeedError (the
 *   API maps it to `no_world_feed`, client review F1), before anything is
 *   queued;
 * - `publishAll` seals every item and queues them, pairwise sends and the
 *   writes `prepare` makes with the drawn message ids, in ONE batch;
 * - `knownSender` is the delivery's (the social layer's known senders).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Delivery, QueuedSend } from '../../node/delivery.js'
import { createNodeCollectives } from '../../node/collectives/node-collectives.js'
import { createNodeEvents } from '../../node/collectives/events.js'
import { createNodePins } from '../../node/collectives/pins.js'
import { openLocalDb, type Json, type LocalOp } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import { createIdentity, KIND_EVENT, KIND_PIN, nativeCrypto, worldKey, type PublicIdentity } from '../../protocol/index.js'

const crypto = nativeCrypto()
const dirs: string[] = []
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => {})
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function applyOps (ops: readonly LocalOp[]): Promise<void> {
  for (const op of ops) {
    if (op.type === 'put') await op.sublevel.put(op.key, op.value)
    else await op.sublevel.del(op.key)
  }
}

async function collectivesNode (options: { world: boolean, operator?: boolean, known?: Set<string> }) {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-collectives-context-'))
  dirs.push(dir)
  const db = await openLocalDb(dir)
  closers.push(async () => { await db.close() })
  const collectives = createNodeCollectives({
    crypto, logger: silentLogger(), events: new EventTarget(), createEvents: createNodeEvents, createPins: createNodePins,
    ...(options.operator === true ? { operatorKey: crypto.randomBytes(32) } : {})
  })
  const batches: QueuedSend[] = []
  const delivery = {
    async queue (build: () => QueuedSend | Promise<QueuedSend>, committed?: () => void) {
      const planned = await build()
      batches.push(planned)
      await applyOps(planned.ops ?? [])
      committed?.()
      return []
    },
    rescreenMatching: async () => 0,
    knownSender: (id: string) => options.known?.has(id) === true
  } as unknown as Delivery
  const identity = createIdentity(crypto)
  const screening = await collectives.open({
    identity, db: db as never, ...(options.world ? { worldKey: worldKey(crypto, 'komrade') } : {}),
    registerName: async () => { throw new Error('not here') }, lookupName: async () => { throw new Error('not here') },
    findContact: () => undefined, hasSession: () => false, contactName: () => undefined, ownCertificate: async () => undefined,
    addContact: async () => { throw new Error('not here') }
  } as never)
  await collectives.attach(delivery)
  closers.unshift(async () => { collectives.close() })
  return { collectives, batches, identity, screening, db: db as unknown as import('level').Level<string, Json> }
}

describe('the collectives context', () => {
  it('answers a world item on a node without a world feed with NoWorldFeedError, queueing nothing', async () => {
    for (const operator of [false, true]) {
      const { collectives, batches } = await collectivesNode({ world: false, operator })
      await expect(collectives.pins.add({ kind: 'info', note: 'x', lat: 1, lon: 1, audience: 'world', anonymous: true }))
        .rejects.toMatchObject({ name: 'NoWorldFeedError', message: operator ? expect.stringMatching(/worldFeed: false/) : expect.stringMatching(/Operator/) })
      await expect(collectives.events.host({ title: 't', startsAt: Date.now() + 3_600_000, audience: 'world', anonymous: true }))
        .rejects.toMatchObject({ name: 'NoWorldFeedError' })
      expect(batches.filter((b) => (b.sealed ?? []).length > 0)).toEqual([])
      expect(await collectives.events.list()).toEqual([])
    }
  })

  it('seals every item of publishAll into one batch with the writes prepare makes from the drawn message ids', async () => {
    const { collectives, batches } = await collectivesNode({ world: true })
    const pin = await collectives.pins.add({ kind: 'info', note: 'here', lat: 1, lon: 1, audience: 'world', anonymous: true })
    expect(batches).toHaveLength(1)
    const [batch] = batches
    expect(batch!.sealed!.map((s) => s.kind)).toEqual([KIND_PIN])
    // Our pin's record is in that batch, under the id made of the sealed message id.
    expect(pin.id.startsWith(Buffer.from(batch!.sealed![0]!.messageId).toString('hex'))).toBe(true)
    expect(batch!.ops!.some((op) => op.type === 'put' && op.key === pin.id)).toBe(true)
  })

  it('tells the plugins who is a known sender, as delivery (the social layer) says', async () => {
    const friend = createIdentity(crypto)
    const stranger = createIdentity(crypto)
    const friendId = Buffer.from(friend.signingKey).toString('hex')
    const { collectives, screening } = await collectivesNode({ world: true, known: new Set([friendId]) })
    const { encodeEvent } = await import('../../protocol/index.js')
    for (const host of [friend, stranger]) {
      const payload = encodeEvent({
        eventId: crypto.randomBytes(16), revision: 0, hostKey: host.signingKey, hostX: host.sealingKey, channelKey: crypto.randomBytes(32),
        startsAt: Date.now() + 3_600_000, endsAt: 0, title: 'invite', place: '', description: '', cancelled: false
      })
      const after: Array<() => void> = []
      const change: { ops?: LocalOp[] } = {}
      await collectives.hooks.absorbDirect({
        from: host as PublicIdentity, fromId: Buffer.from(host.signingKey).toString('hex'), kind: KIND_EVENT, payload, sentAt: Date.now(), messageId: '00'.repeat(16)
      }, change as never, after)
      await applyOps(change.ops ?? [])
      for (const step of after) step()
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
    const events = await collectives.events.list()
    expect(events).toHaveLength(2)
    // Only the friend's invitation is followed: the stranger's was held but its channel not followed.
    const friendsEvent = events.find((e) => e.host?.id === friendId)!
    expect([...screening.channels.channels()].map((c) => c.owner.id)).toEqual([friendsEvent.id])
  })
})
