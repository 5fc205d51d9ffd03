/** Test helpers for the registry: temp directories, hand-made requests, proof checks. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { concatBytes, utf8, writeUint64BE } from '../../protocol/bytes.js'
import {
  decodeCertificate, hasRegistrationWork, merkleLeafHash, nativeCrypto, verifyCertificate, verifyInclusion, verifyTreeHead,
  type Identity, type TreeHead
} from '../../protocol/index.js'

export const crypto = nativeCrypto()
/** Small work for fast tests; the registry checks it exactly like the default. */
export const TEST_WORK_TRIALS = 64

const dirs: string[] = []

/** A fresh temp directory, removed by {@link removeTempDirs}. */
export async function tempDir (prefix = 'komrade-registry-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

export async function removeTempDirs (): Promise<void> {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
}

/** What a hand-made request holds; anything the real encoder would refuse can be given here. */
export interface CraftedRequest {
  /** The name's bytes as sent (may be invalid). */
  name: string | Uint8Array
  identity: Identity
  time: number
  type?: 1 | 2
  previousIndex?: number
  /** Solve for this many trials. @default TEST_WORK_TRIALS */
  workTrials?: number
  /** Instead pick a nonce that does NOT meet this many trials. */
  failWork?: number
  /** Rotate: the current key that signs the rotation. */
  current?: Identity
}

/** A request laid out as SPEC §13.3 says, whatever its fields: for requests the real encoder refuses to make. */
export function craftRequest (spec: CraftedRequest): Uint8Array {
  const name = typeof spec.name === 'string' ? utf8(spec.name) : spec.name
  const n = name.length
  const type = spec.type ?? 1
  const bytes = new Uint8Array(155 + n + (type === 2 ? 64 : 0))
  bytes[0] = 1
  bytes[1] = type
  bytes[2] = n
  bytes.set(name, 3)
  bytes.set(spec.identity.signingKey, 3 + n)
  bytes.set(spec.identity.sealingKey, 35 + n)
  writeUint64BE(bytes, 67 + n, spec.time)
  writeUint64BE(bytes, 75 + n, spec.previousIndex ?? 0)
  for (let nonce = 0; ; nonce++) {
    writeUint64BE(bytes, 83 + n, nonce)
    const meets = (trials: number): boolean => hasRegistrationWork(crypto, bytes, trials)
    if (spec.failWork !== undefined ? !meets(spec.failWork) : meets(spec.workTrials ?? TEST_WORK_TRIALS)) break
  }
  const signed = bytes.subarray(0, 91 + n)
  bytes.set(crypto.ed25519Sign(spec.identity.signingSeed, concatBytes(utf8('komrade/registry/v1/request'), signed)), 91 + n)
  if (type === 2) {
    const current = spec.current ?? spec.identity
    bytes.set(crypto.ed25519Sign(current.signingSeed, concatBytes(utf8('komrade/registry/v1/rotate'), signed)), 155 + n)
  }
  return bytes
}

/** Asserts the certificate, the head and the inclusion proof all verify under `operator`, and returns the certificate. */
export function expectProven (operator: Identity, proven: { certificate: Uint8Array, head: TreeHead, inclusion: Uint8Array[] }) {
  const certificate = decodeCertificate(proven.certificate)
  expect(verifyCertificate(crypto, operator.signingKey, certificate)).toBe(true)
  expect(verifyTreeHead(crypto, operator.signingKey, proven.head)).toBe(true)
  const leaf = merkleLeafHash(crypto, certificate.entry.bytes)
  expect(verifyInclusion(crypto, leaf, certificate.entry.index, proven.head.size, proven.inclusion, proven.head.root)).toBe(true)
  return certificate
}
