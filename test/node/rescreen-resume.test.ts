/**
 * A crash between the commit that starts watching new tags and the re-screen
 * of the stored envelopes carrying them (SPEC §4.4) loses nothing: the tags
 * are logged in that commit, and the next start's `resume()` screens their
 * envelopes. Before the log, such an envelope stayed stored and unread for
 * good: resync never sends a stored envelope again (found by
 * test/reliability/crash.test.ts, 23 of 1,877 messages to a node killed 50
 * times). The crash is simulated by a store whose tag lookup fails once,
 * then a new delivery engine over the same database, as a restart builds it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { createDelivery, type Delivery } from '../../node/delivery.js'
import { localState, openLocalDb } from '../../node/local-state.js'
import { silentLogger } from '../../node/logger.js'
import { createEnvelopeStore, type EnvelopeStore } from '../../node/store/envelope-store.js'
import type { WorkPool } from '../../node/work-pool.js'
import {
  createIdentity, createKeyring, createScreener, identityId, nativeCrypto, REORDER_WINDOW, solveWork, type Identity, type Keyring
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const dirs: string[] = []
afterEach(async () => { for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true }) })

function engine (keyring: Keyring, state: ReturnType<typeof localState>, store: Pick<EnvelopeStore, 'has' | 'put' | 'withTag'>): Delivery {
  return createDelivery({
    crypto, keyring, state, store, logger: silentLogger(), acceptStrangers: true,
    screener: createScreener({ keyrings: [keyring] }),
    pool: { solve: async (envelope: Uint8Array) => solveWork(crypto, envelope), pending: 0 } as unknown as WorkPool,
    publish: async () => ({ recipients: 1 }),
    onMessage: () => {},
    onOutboxChange: () => {}
  })
}

it('screens after a restart the stored envelopes whose re-screen a crash cut short', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-rescreen-'))
  dirs.push(dir)
  const alice: Identity = createIdentity(crypto)
  const bob: Identity = createIdentity(crypto)
  const aliceRing = createKeyring({ crypto, identity: alice })
  const bobRing = createKeyring({ crypto, identity: bob })
  // A session, in memory: Alice's first contact, Bob's accept.
  const first = aliceRing.seal(bob, text('hello'))
  aliceRing.screenByTag(bobRing.accept(bobRing.screenFirstContact(first.envelopes[0]!)!.offer!).envelopes[0]!)
  const ahead = REORDER_WINDOW + 3 // beyond Bob's window until an earlier message moves it
  const sealed = Array.from({ length: ahead + 1 }, (_, i) => solveWork(crypto, aliceRing.seal(bob, text(`message ${i}`), { ttlMinutes: 60 }).envelopes[0]!))

  let db = await openLocalDb(join(dir, 'db'))
  let state = localState(db)
  await state.commit({ keyring: { identityId: bobRing.id, state: bobRing.toJSON() } })
  let store = await createEnvelopeStore({ db: db.sublevel<Uint8Array, Uint8Array>('envelopes', { keyEncoding: 'view', valueEncoding: 'view' }), crypto })
  let crashOnTagLookup = true
  const crashing = {
    has: async (id: Uint8Array) => await store.has(id),
    put: async (envelope: Uint8Array) => await store.put(envelope),
    withTag: async (tag: Uint8Array) => {
      if (crashOnTagLookup) { crashOnTagLookup = false; throw new Error('simulated crash') }
      return await store.withTag(tag)
    }
  }
  const before = engine(bobRing, state, crashing)
  expect(await before.ingest(sealed[ahead]!)).toBe('accepted') // stored, not yet openable
  expect((await state.inbox()).map((m) => m.body)).toEqual([])
  // Message 3 moves the window over message `ahead`: the commit happens, then the "crash" in the re-screen.
  await expect(before.ingest(sealed[3]!)).rejects.toThrow('simulated crash')
  const texts = async (): Promise<string[]> => (await state.inbox()).map((m) => Buffer.from(m.body, 'base64').toString()).sort()
  expect(await texts()).toEqual(['message 3'])
  await before.idle()
  await store.close()
  await db.close()

  // The restart: everything from disk.
  db = await openLocalDb(join(dir, 'db'))
  state = localState(db)
  store = await createEnvelopeStore({ db: db.sublevel<Uint8Array, Uint8Array>('envelopes', { keyEncoding: 'view', valueEncoding: 'view' }), crypto })
  const restored = createKeyring({ crypto, identity: bob, state: (await state.loadKeyring(identityId(bob)))! })
  const after = engine(restored, state, store)
  expect(await texts()).toEqual(['message 3']) // not by itself: only resume() finds it
  await after.resume()
  expect(await texts()).toEqual(['message 3', `message ${ahead}`])
  await after.resume() // the log is empty now: nothing more, nothing twice
  expect(await texts()).toEqual(['message 3', `message ${ahead}`])
  await after.idle()
  await store.close()
  await db.close()
})
