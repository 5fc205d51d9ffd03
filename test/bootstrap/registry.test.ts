/**
 * The registry on a real LevelDB: registrations and their proofs, every
 * refusal (with the log untouched after it), group commit, rotations,
 * consistency between heads, reopening, and a disk that refuses a write.
 */
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { openRegistry, OperatorKeyMismatchError, RegistryCorruptError, type Registry } from '../../bootstrap/index.js'
import { indexKey, openRegistryDb } from '../../bootstrap/registry-store.js'
import {
  createIdentity, createRegistration, createRotation, decodeCertificate, RegistryErrorCode, verifyConsistency,
  verifyTreeHead, type Identity, type RegistryErrorCode as Code
} from '../../protocol/index.js'
import { craftRequest, crypto, expectProven, removeTempDirs, tempDir, TEST_WORK_TRIALS } from './registry-helpers.js'

const MINUTE = 60_000

let dir: string
let operator: Identity
let clock: number
let registry: Registry

async function open (): Promise<Registry> {
  return await openRegistry({ dbPath: join(dir, 'registry'), crypto, operator, workTrials: TEST_WORK_TRIALS, now: () => clock })
}

async function register (identity: Identity, name: string, options: { now?: number } = {}) {
  return await registry.register(await createRegistration(crypto, identity, name, { workTrials: TEST_WORK_TRIALS, now: options.now ?? clock }))
}

/** Registers and expects success: returns the entry's index. */
async function registered (identity: Identity, name: string): Promise<number> {
  const answer = await register(identity, name)
  if (!answer.ok) throw new Error(`registering ${name} failed: ${answer.message}`)
  return expectProven(operator, answer.value).entry.index
}

/** Expects `request` to be refused with `code`, and the log unchanged. */
async function expectRefused (request: Uint8Array, code: Code): Promise<void> {
  const before = registry.head()
  const answer = await registry.register(request)
  expect(answer.ok ? 'OK' : answer.code).toBe(code)
  expect(registry.size).toBe(before.size)
  expect(registry.head().root).toEqual(before.root)
}

beforeEach(async () => {
  dir = await tempDir()
  operator = createIdentity(crypto)
  clock = Date.UTC(2025, 0, 1)
  registry = await open()
})

afterEach(async () => {
  vi.restoreAllMocks()
  await registry.close()
  await removeTempDirs()
})

describe('registration and lookup', () => {
  it('registers a name and proves it, in the answer and in a lookup', async () => {
    const alice = createIdentity(crypto)
    const answer = await register(alice, 'alice')
    expect(answer.ok).toBe(true)
    if (!answer.ok) return
    const certificate = expectProven(operator, answer.value)
    expect(certificate.entry.index).toBe(0)
    expect(certificate.entry.timestamp).toBe(clock)
    expect(certificate.entry.request.name).toBe('alice')
    expect(certificate.entry.request.signingKey).toEqual(alice.signingKey)
    expect(registry.size).toBe(1)

    await registered(createIdentity(crypto), 'bob')
    // Lookups normalise ASCII case, and prove the entry in the current head (size 2 now).
    const lookup = await registry.lookup('ALICE', 0)
    expect(lookup.ok).toBe(true)
    if (!lookup.ok) return
    expect(lookup.value.head.size).toBe(2)
    expect(expectProven(operator, lookup.value).bytes).toEqual(certificate.bytes)
    expect(lookup.value.consistency).toEqual([])

    const info = registry.info()
    expect(info.operator.signingKey).toEqual(operator.signingKey)
    expect(info.workTrials).toBe(TEST_WORK_TRIALS)
    expect(verifyTreeHead(crypto, operator.signingKey, info.head)).toBe(true)
  })

  it('refuses a name taken, in any ASCII case', async () => {
    await registered(createIdentity(crypto), 'alice')
    await expectRefused(await createRegistration(crypto, createIdentity(crypto), 'alice', { workTrials: TEST_WORK_TRIALS, now: clock }), RegistryErrorCode.NAME_TAKEN)
    await expectRefused(await createRegistration(crypto, createIdentity(crypto), 'Alice', { workTrials: TEST_WORK_TRIALS, now: clock }), RegistryErrorCode.NAME_TAKEN)
  })

  it('refuses bad and reserved names in requests and lookups', async () => {
    const someone = createIdentity(crypto)
    const crafted = (name: string | Uint8Array): Uint8Array => craftRequest({ name, identity: someone, time: clock })
    await expectRefused(crafted('ab'), RegistryErrorCode.BAD_NAME) // too short
    await expectRefused(crafted('a'.repeat(33)), RegistryErrorCode.BAD_NAME) // too long
    await expectRefused(crafted('al-ice'), RegistryErrorCode.BAD_NAME) // charset
    await expectRefused(crafted('Alice'), RegistryErrorCode.BAD_NAME) // a request carries the lowercase spelling
    await expectRefused(crafted('\u0430lice'), RegistryErrorCode.BAD_NAME) // Cyrillic а, a lookalike
    await expectRefused(crafted('ａlice'), RegistryErrorCode.BAD_NAME) // fullwidth
    await expectRefused(crafted('admin'), RegistryErrorCode.NAME_RESERVED)
    await expectRefused(crafted('no_reply'), RegistryErrorCode.NAME_RESERVED)

    const code = async (name: string): Promise<number | 'OK'> => {
      const answer = await registry.lookup(name, 0)
      return answer.ok ? 'OK' : answer.code
    }
    expect(await code('\u0430lice')).toBe(RegistryErrorCode.BAD_NAME)
    expect(await code('ab')).toBe(RegistryErrorCode.BAD_NAME)
    expect(await code('x'.repeat(33))).toBe(RegistryErrorCode.BAD_NAME)
    expect(await code('admin')).toBe(RegistryErrorCode.NAME_RESERVED)
    expect(await code('nobody_yet')).toBe(RegistryErrorCode.NOT_FOUND)
  })

  it('refuses bad signatures, replays, too little work, a stale clock and malformed bytes', async () => {
    const carol = createIdentity(crypto)
    const request = await createRegistration(crypto, carol, 'carol', { workTrials: TEST_WORK_TRIALS, now: clock })
    const forged = request.slice()
    forged[forged.length - 1]! ^= 0x01
    await expectRefused(forged, RegistryErrorCode.BAD_SIGNATURE)
    // Keys that did not sign: the request names carol's keys, another key signed.
    const mallory = createIdentity(crypto)
    const stolen = craftRequest({ name: 'carol', identity: carol, time: clock })
    stolen.set(crypto.ed25519Sign(mallory.signingSeed, new Uint8Array(8)), stolen.length - 64)
    await expectRefused(stolen, RegistryErrorCode.BAD_SIGNATURE)

    await expectRefused(craftRequest({ name: 'carol', identity: carol, time: clock, failWork: TEST_WORK_TRIALS }), RegistryErrorCode.INSUFFICIENT_WORK)
    await expectRefused(await createRegistration(crypto, carol, 'carol', { workTrials: TEST_WORK_TRIALS, now: clock - 11 * MINUTE }), RegistryErrorCode.STALE)
    await expectRefused(await createRegistration(crypto, carol, 'carol', { workTrials: TEST_WORK_TRIALS, now: clock + 11 * MINUTE }), RegistryErrorCode.STALE)
    await expectRefused(new Uint8Array(10), RegistryErrorCode.MALFORMED)
    await expectRefused(request.subarray(0, request.length - 1), RegistryErrorCode.MALFORMED)

    // Within the window either way is fine; then the very same bytes again are a replay.
    const late = await createRegistration(crypto, carol, 'carol', { workTrials: TEST_WORK_TRIALS, now: clock + 9 * MINUTE })
    expect((await registry.register(late)).ok).toBe(true)
    await expectRefused(late, RegistryErrorCode.REPLAYED)
  })

  it('decides registrations of one name in one group commit in arrival order: the first wins', async () => {
    const options = { workTrials: TEST_WORK_TRIALS, now: clock }
    const requests = [
      await createRegistration(crypto, createIdentity(crypto), 'dora', options),
      await createRegistration(crypto, createIdentity(crypto), 'dora', options)
    ]
    const batches = vi.spyOn(Level.prototype, 'batch')
    const [first, second] = await Promise.all(requests.map(async (request) => await registry.register(request)))
    expect(first!.ok).toBe(true)
    expect(second!.ok ? 'OK' : second!.code).toBe(RegistryErrorCode.NAME_TAKEN)
    const synced = batches.mock.calls.filter((call) => ((call as unknown[])[1] as { sync?: boolean } | undefined)?.sync === true)
    expect(synced).toHaveLength(1)
    expect(registry.size).toBe(1)
  })
})

describe('rotation', () => {
  it('moves a name to new keys, refusing wrong keys, stale indexes, replays and unknown names', async () => {
    const first = createIdentity(crypto)
    const second = createIdentity(crypto)
    const third = createIdentity(crypto)
    const stranger = createIdentity(crypto)
    const index = await registered(first, 'erin')
    await registered(createIdentity(crypto), 'frank') // another entry in between

    const options = { workTrials: TEST_WORK_TRIALS, now: clock }
    await expectRefused(await createRotation(crypto, stranger, second, 'erin', index, options), RegistryErrorCode.BAD_SIGNATURE)
    await expectRefused(await createRotation(crypto, first, second, 'erin', index + 1, options), RegistryErrorCode.STALE)
    await expectRefused(await createRotation(crypto, first, second, 'nobody_here', 0, options), RegistryErrorCode.NOT_FOUND)

    const rotation = await createRotation(crypto, first, second, 'erin', index, options)
    const rotated = await registry.register(rotation)
    expect(rotated.ok).toBe(true)
    if (!rotated.ok) return
    const certificate = expectProven(operator, rotated.value)
    expect(certificate.entry.request.type).toBe('rotate')

    await expectRefused(rotation, RegistryErrorCode.REPLAYED)
    // The old key can no longer rotate, and the old index is stale.
    await expectRefused(await createRotation(crypto, first, third, 'erin', certificate.entry.index, options), RegistryErrorCode.BAD_SIGNATURE)
    await expectRefused(await createRotation(crypto, second, third, 'erin', index, options), RegistryErrorCode.STALE)
    // A name cannot be registered again after a rotation either.
    await expectRefused(await createRegistration(crypto, third, 'erin', options), RegistryErrorCode.NAME_TAKEN)

    const lookup = await registry.lookup('erin', 0)
    expect(lookup.ok).toBe(true)
    if (!lookup.ok) return
    const latest = expectProven(operator, lookup.value)
    expect(latest.entry.index).toBe(certificate.entry.index)
    expect(latest.entry.request.signingKey).toEqual(second.signingKey)
    expect(latest.entry.request.sealingKey).toEqual(second.sealingKey)
  })

  it('decides a registration and its rotation in one batch', async () => {
    const first = createIdentity(crypto)
    const second = createIdentity(crypto)
    const options = { workTrials: TEST_WORK_TRIALS, now: clock }
    const registration = await createRegistration(crypto, first, 'gina', options)
    const rotation = await createRotation(crypto, first, second, 'gina', 0, options)
    const [a, b] = await Promise.all([registry.register(registration), registry.register(rotation)])
    expect(a.ok && b.ok).toBe(true)
    const lookup = await registry.lookup('gina', 0)
    expect(lookup.ok && decodeCertificate(lookup.value.certificate).entry.request.signingKey).toEqual(second.signingKey)
  })

  it('answers lookups of a name being rotated from the last committed entry, never NOT_FOUND', async () => {
    const options = { workTrials: TEST_WORK_TRIALS, now: clock }
    let current = createIdentity(crypto)
    let index = await registered(current, 'hana')
    const wrong: string[] = []
    let duringCommits = 0
    for (let round = 0; round < 30; round++) {
      const next = createIdentity(crypto)
      let settled = false
      const pending = registry.register(await createRotation(crypto, current, next, 'hana', index, options)).finally(() => { settled = true })
      // Look up between every turn of the event loop while the synced batch is being written.
      const seen: Array<number | string> = []
      while (!settled) {
        await new Promise((resolve) => setImmediate(resolve))
        if (settled) break
        duringCommits++
        const answer = await registry.lookup('hana', 0)
        seen.push(answer.ok ? decodeCertificate(answer.value.certificate).entry.index : `code ${answer.code}`)
      }
      const done = await pending
      if (!done.ok) throw new Error(`rotation ${round} failed: ${done.message}`)
      const rotated = decodeCertificate(done.value.certificate).entry.index
      // Before the answer: the entry it replaces, or (once in the tree) the rotation itself.
      wrong.push(...seen.filter((s) => s !== index && s !== rotated).map((s) => `round ${round}: ${String(s)}`))
      index = rotated
      current = next
    }
    expect(duringCommits).toBeGreaterThan(0)
    expect(wrong).toEqual([])
  })
})

describe('heads and proofs', () => {
  it('proves every head consistent with every earlier one, and answers ranges', async () => {
    const heads = [registry.head()]
    for (let i = 0; i < 9; i++) {
      await registered(createIdentity(crypto), `name_${i}`)
      heads.push(registry.head())
    }
    for (const older of heads.slice(1)) {
      for (const newer of heads.filter((h) => h.size >= older.size)) {
        const proof = registry.consistency(older.size, newer.size)
        expect(proof.ok).toBe(true)
        if (!proof.ok) continue
        expect(verifyConsistency(crypto, older.size, newer.size, older.root, newer.root, proof.value)).toBe(true)
      }
    }
    // A lookup from a known size carries the consistency proof to the current head.
    const lookup = await registry.lookup('name_2', heads[3]!.size)
    expect(lookup.ok).toBe(true)
    if (lookup.ok) expect(verifyConsistency(crypto, 3, 9, heads[3]!.root, lookup.value.head.root, lookup.value.consistency)).toBe(true)

    const code = (answer: { ok: boolean, code?: number }): number | 'OK' => answer.ok ? 'OK' : answer.code!
    expect(code(registry.consistency(0, 3))).toBe(RegistryErrorCode.BAD_RANGE)
    expect(code(registry.consistency(4, 3))).toBe(RegistryErrorCode.BAD_RANGE)
    expect(code(registry.consistency(3, 10))).toBe(RegistryErrorCode.BAD_RANGE)
    expect(code(await registry.lookup('name_2', 10))).toBe(RegistryErrorCode.BAD_RANGE)
    expect(code(await registry.entries(0, 0))).toBe(RegistryErrorCode.BAD_RANGE)
    expect(code(await registry.entries(0, 257))).toBe(RegistryErrorCode.BAD_RANGE)
    expect(code(await registry.entries(10, 1))).toBe(RegistryErrorCode.BAD_RANGE)

    const all = await registry.entries(0, 256)
    expect(all.ok && all.value.map((c) => decodeCertificate(c).entry.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    const tail = await registry.entries(7, 5)
    expect(tail.ok && tail.value.length).toBe(2)
    const end = await registry.entries(9, 1)
    expect(end.ok && end.value.length).toBe(0)
  })

  it('signs a head again only when the size changed', async () => {
    const first = registry.head()
    clock += MINUTE
    expect(registry.head().bytes).toEqual(first.bytes)
    await registered(createIdentity(crypto), 'hank')
    const second = registry.head()
    expect(second.size).toBe(1)
    expect(second.timestamp).toBe(clock)
    clock += MINUTE
    expect(registry.head().bytes).toEqual(second.bytes)
  })
})

describe('durability', () => {
  it('reopens with the same size, root and head, and refuses another Operator key', async () => {
    for (const name of ['ivan', 'judy', 'kim']) await registered(createIdentity(crypto), name)
    const head = registry.head()
    await registry.close()
    registry = await open()
    expect(registry.size).toBe(3)
    expect(registry.head().bytes).toEqual(head.bytes)
    const lookup = await registry.lookup('judy', 0)
    expect(lookup.ok).toBe(true)
    if (lookup.ok) expectProven(operator, lookup.value)
    expect((await registry.register(await createRegistration(crypto, createIdentity(crypto), 'judy', { workTrials: TEST_WORK_TRIALS, now: clock }))).ok).toBe(false)
    await registry.close()

    await expect(openRegistry({ dbPath: join(dir, 'registry'), crypto, operator: createIdentity(crypto) })).rejects.toThrow(OperatorKeyMismatchError)
    registry = await open()
  })

  it('never signs a head older than its entries or its last head, even with the clock turned back', async () => {
    const empty = registry.head()
    clock += MINUTE
    await registered(createIdentity(crypto), 'lucy')
    const last = registry.head()
    await registry.close()
    // A crash lost the last head (it is saved without fsync): the database holds the empty log's.
    const parts = await openRegistryDb(join(dir, 'registry'))
    await parts.meta.put('head', empty.bytes)
    await parts.db.close()
    clock -= 60 * MINUTE
    registry = await open()
    expect(registry.head().size).toBe(1)
    expect(registry.head().timestamp).toBeGreaterThanOrEqual(last.timestamp)
    await registered(createIdentity(crypto), 'lola')
    expect(registry.head().timestamp).toBeGreaterThanOrEqual(last.timestamp)
  })

  it('refuses to open a database whose entries were altered or lost', async () => {
    for (const name of ['lena', 'mona']) await registered(createIdentity(crypto), name)
    await registry.close()
    const parts = await openRegistryDb(join(dir, 'registry'))
    const certificate = (await parts.certs.get(indexKey(1)))!
    const altered = certificate.slice()
    altered[altered.length - 65]! ^= 1 // the last byte of the entry (the Operator's signature follows it)
    await parts.certs.put(indexKey(1), altered)
    await parts.db.close()
    await expect(open()).rejects.toThrow(/no longer matches the tree head/)

    const again = await openRegistryDb(join(dir, 'registry'))
    await again.certs.put(indexKey(1), certificate)
    await again.certs.del(indexKey(0))
    await again.db.close()
    await expect(open()).rejects.toThrow(/missing entry 0/)

    const restore = await openRegistryDb(join(dir, 'registry'))
    await restore.certs.put(indexKey(0), (await restore.certs.get(indexKey(1)))!) // wrong bytes in slot 0
    await restore.db.close()
    await expect(open()).rejects.toThrow(RegistryCorruptError)
    registry = await openRegistry({ dbPath: join(dir, 'fresh'), crypto, operator, workTrials: TEST_WORK_TRIALS, now: () => clock })
  })

  it('answers UNAVAILABLE when the disk refuses a batch, appends nothing, and keeps serving', async () => {
    await registered(createIdentity(crypto), 'nora')
    const before = registry.head()
    const options = { workTrials: TEST_WORK_TRIALS, now: clock }
    const requests = [
      await createRegistration(crypto, createIdentity(crypto), 'olga', options),
      await createRegistration(crypto, createIdentity(crypto), 'olga', options)
    ]
    vi.spyOn(Level.prototype, 'batch').mockImplementationOnce(async function () { throw new Error('disk full') } as never)
    // Two registrations of one name in the failed batch: the second's NAME_TAKEN was against the first, which never happened.
    const [a, b] = await Promise.all(requests.map(async (request) => await registry.register(request)))
    expect(a!.ok ? 'OK' : a!.code).toBe(RegistryErrorCode.UNAVAILABLE)
    expect(b!.ok ? 'OK' : b!.code).toBe(RegistryErrorCode.UNAVAILABLE)
    expect(registry.size).toBe(before.size)
    expect(registry.head().bytes).toEqual(before.bytes)
    expect((await registry.lookup('nora', 0)).ok).toBe(true)
    expect((await registry.lookup('olga', 0)).ok).toBe(false)

    // The disk is back: the name is still free.
    await registered(createIdentity(crypto), 'olga')
    expect(registry.size).toBe(before.size + 1)
    await registry.close()
    registry = await open()
    expect(registry.size).toBe(before.size + 1)
    expect((await registry.lookup('olga', 0)).ok).toBe(true)
  })
})
