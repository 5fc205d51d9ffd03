/**
 * Export and offline audit: a clean log audits clean (from the running
 * registry and from its closed database, byte for byte the same file); any
 * altered byte, a dropped entry, and logs that a misbehaving Operator signed
 * (a name registered twice, a rotation from a stale entry or by the wrong
 * key, a replay) are each reported.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auditLog, exportLog, openRegistry, RegistryInUseError, type Registry } from '../../bootstrap/index.js'
import { concatBytes, utf8, writeUint32BE } from '../../protocol/bytes.js'
import {
  createIdentity, createMerkleTree, createRegistration, createRotation, encodeLogEntry, merkleLeafHash, signCertificate,
  signTreeHead, toHex, type Identity
} from '../../protocol/index.js'
import { crypto, removeTempDirs, tempDir, TEST_WORK_TRIALS } from './registry-helpers.js'

const MAGIC_LENGTH = 'KOMRADE-LOG-1\n'.length

let dir: string
let operator: Identity
let registry: Registry
let exported: Uint8Array
/** Offsets of each record's length prefix in `exported`. */
let offsets: number[]

function recordOffsets (file: Uint8Array): number[] {
  const out: number[] = []
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength)
  for (let offset = MAGIC_LENGTH; offset < file.length; offset += 4 + view.getUint32(offset)) out.push(offset)
  return out
}

async function audit (bytes: Uint8Array, key: string | undefined = toHex(operator.signingKey)) {
  const file = join(dir, `audit-${Math.random().toString(36).slice(2)}.log`)
  await writeFile(file, bytes)
  return await auditLog(file, key === undefined ? {} : { operator: key })
}

beforeAll(async () => {
  dir = await tempDir('komrade-audit-')
  operator = createIdentity(crypto)
  registry = await openRegistry({ dbPath: join(dir, 'registry'), crypto, operator, workTrials: TEST_WORK_TRIALS })
  const options = { workTrials: TEST_WORK_TRIALS }
  const keys = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
  for (const [i, name] of ['ada', 'bea', 'cy', 'dee', 'eve'].map((n, i) => [i, `${n}_log`] as const)) {
    const answer = await registry.register(await createRegistration(crypto, i === 1 ? keys[0]! : createIdentity(crypto), name, options))
    if (!answer.ok) throw new Error(answer.message)
  }
  const rotated = await registry.register(await createRotation(crypto, keys[0]!, keys[1]!, 'bea_log', 1, options))
  if (!rotated.ok) throw new Error(rotated.message)
  const again = await registry.register(await createRotation(crypto, keys[1]!, keys[2]!, 'bea_log', 5, options))
  if (!again.ok) throw new Error(again.message)
  const file = join(dir, 'clean.log')
  await exportLog(registry, file)
  exported = new Uint8Array(await readFile(file))
  offsets = recordOffsets(exported)
})

afterAll(async () => {
  await registry.close()
  await removeTempDirs()
})

describe('a clean log', () => {
  it('audits clean, with its counts, root and weakest work', async () => {
    const report = await audit(exported)
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ entries: 7, names: 5, rotations: 2, headSize: 7, headMatches: true, signaturesChecked: true })
    expect(report.root).toBe(toHex(registry.head().root))
    expect(report.minWorkTrials).toBeGreaterThanOrEqual(TEST_WORK_TRIALS)
    // The Operator's 128-hex public identity works as well as its signing key.
    const byIdentity = await audit(exported, toHex(concatBytes(operator.signingKey, operator.sealingKey)))
    expect(byIdentity.problems).toEqual([])
  })

  it('is the same file exported from the closed database, which a running registry holds', async () => {
    const fromPath = join(dir, 'from-path.log')
    await expect(exportLog(join(dir, 'registry'), fromPath)).rejects.toThrow(RegistryInUseError)
    await registry.close()
    const result = await exportLog(join(dir, 'registry'), fromPath)
    expect(result.entries).toBe(7)
    expect(result.unsignedEntries).toBe(0)
    expect(new Uint8Array(await readFile(fromPath))).toEqual(exported)
    registry = await openRegistry({ dbPath: join(dir, 'registry'), crypto, operator, workTrials: TEST_WORK_TRIALS })
  })

  it('reports a wrong Operator key on every signature', async () => {
    const report = await audit(exported, toHex(createIdentity(crypto).signingKey))
    expect(report.problems.filter((p) => p.problem.includes('certificate signature'))).toHaveLength(7)
    expect(report.problems.some((p) => p.index === null && p.problem.includes('tree head'))).toBe(true)
  })
})

describe('an altered log', () => {
  it('reports a changed byte in an entry', async () => {
    const altered = exported.slice()
    altered[offsets[2]! + 4 + 19 + 10]! ^= 0x01 // entry 2, inside the request's signing key
    const report = await audit(altered)
    expect(report.headMatches).toBe(false)
    expect(report.problems.map((p) => p.index)).toContain(2)
    // Without the Operator's key the root still gives it away.
    expect((await audit(altered, undefined)).headMatches).toBe(false)
  })

  it('reports a changed byte of a signature', async () => {
    const altered = exported.slice()
    altered[offsets[4]! - 1]! ^= 0x40 // the last byte of certificate 3: its signature
    const report = await audit(altered)
    expect(report.problems).toEqual([{ index: 3, problem: expect.stringContaining('certificate signature') }])
    expect(report.headMatches).toBe(true) // the signature is not part of the leaf
  })

  it('reports a dropped entry', async () => {
    const dropped = concatBytes(exported.subarray(0, offsets[3]), exported.subarray(offsets[4]))
    const report = await audit(dropped)
    expect(report.entries).toBe(6)
    expect(report.problems.some((p) => p.index === 3 && p.problem.includes('index 4'))).toBe(true)
    expect(report.problems.some((p) => p.index === null && p.problem.includes('covers 7'))).toBe(true)
  })

  it('reports any single changed byte anywhere', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: exported.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, mask) => {
      const altered = exported.slice()
      altered[at]! ^= mask
      const report = await audit(altered)
      expect(report.problems.length).toBeGreaterThan(0)
    }), { numRuns: 60 })
  })
})

/** A log file as a (misbehaving) Operator would sign it: whatever requests, in order. */
function signedLog (requests: Uint8Array[]): Uint8Array {
  const tree = createMerkleTree(crypto)
  const records: Uint8Array[] = [utf8('KOMRADE-LOG-1\n')]
  const framed = (bytes: Uint8Array): Uint8Array => {
    const out = new Uint8Array(4 + bytes.length)
    writeUint32BE(out, 0, bytes.length)
    out.set(bytes, 4)
    return out
  }
  const now = Date.now()
  requests.forEach((request, index) => {
    const entry = encodeLogEntry(index, now, request)
    tree.append(merkleLeafHash(crypto, entry))
    records.push(framed(signCertificate(crypto, operator, entry)))
  })
  records.push(framed(signTreeHead(crypto, operator, { size: tree.size, timestamp: now, root: tree.root() }).bytes))
  return concatBytes(...records)
}

describe('a log the Operator signed but should not have', () => {
  it('reports a second registration, a stale or forged rotation, a replay and a request out of its time window', async () => {
    const options = { workTrials: TEST_WORK_TRIALS }
    const [a, b, c] = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const first = await createRegistration(crypto, a, 'fox_log', options)
    const requests = [
      first, // 0
      await createRegistration(crypto, b, 'fox_log', options), // 1: taken
      await createRotation(crypto, b, c, 'fox_log', 0, options), // 2: stale: the log made entry 1 the latest
      await createRotation(crypto, c, b, 'gus_log', 0, options), // 3: unregistered name
      first, // 4: replay
      await createRegistration(crypto, c, 'hal_log', { ...options, now: Date.now() - 3_600_000 }), // 5: signed an hour before the append
      await createRotation(crypto, b, a, 'hal_log', 5, options) // 6: not signed by hal's current key (c)
    ]
    const report = await audit(signedLog(requests))
    expect(report.headMatches).toBe(true)
    const at = (index: number): string => report.problems.filter((p) => p.index === index).map((p) => p.problem).join(' | ')
    expect(at(0)).toBe('')
    expect(at(1)).toContain('again')
    expect(at(2)).toContain('latest entry is 1')
    expect(at(3)).toContain('not registered')
    expect(at(4)).toContain('replays the request of entry 0')
    expect(at(5)).toContain('STALE')
    expect(at(6)).toContain('not signed by its current key')
  })

  it('reports a file that is not an export, or is cut short', async () => {
    expect((await audit(utf8('hello'))).problems[0]!.problem).toContain('not a Komrade log export')
    const cut = await audit(exported.subarray(0, exported.length - 50))
    expect(cut.problems.some((p) => p.problem.includes('truncated'))).toBe(true)
  })
})
