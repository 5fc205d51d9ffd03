/**
 * Registry records (SPEC §13.3, §13.4): registration and rotation requests,
 * their proof of work, the Operator's stateless checks, log entries,
 * certificates and signed tree heads.
 *
 * The check order is cross-checked against a reference written here from the
 * SPEC tables alone (offsets, labels, node:crypto for SHA-256 and Ed25519):
 * every single-bit change of a valid request must get the code the reference
 * gives.
 */
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  BadNameError, checkRegistrationRequest, createIdentity, createRegistration, createRotation, decodeCertificate,
  decodeLogEntry, decodeRegistrationRequest, decodeTreeHead, encodeLogEntry, hasRegistrationWork, nativeCrypto, registrationWorkValue,
  nobleCrypto, RegistryErrorCode, RegistryFormatError, REGISTRATION_CLOCK_SKEW_MS, RESERVED_NAMES, signCertificate,
  signTreeHead, TREE_HEAD_LENGTH, verifyCertificate, verifyRequestSignature, verifyRotationSignature, verifyTreeHead,
  type CryptoProvider, type Identity, type TreeHead
} from '../../protocol/index.js'

const native = nativeCrypto()
const noble = nobleCrypto()
const NOW = 1_800_000_000_000
const WORK = 64
const check = { now: NOW, workTrials: WORK }
const TWO_POW_53 = 2 ** 53

// ---------------------------------------------------------------------------
// Reference, from the SPEC tables only

const label = (text: string): Buffer => Buffer.from(text, 'ascii')
const sha256 = (...parts: Uint8Array[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest()
const u64 = (bytes: Uint8Array, offset: number): bigint => Buffer.from(bytes).readBigUInt64BE(offset)

function ed25519Verifies (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]), format: 'der', type: 'spki' })
    return nodeVerify(null, message, key, signature)
  } catch {
    return false
  }
}

function referenceHasWork (bytes: Uint8Array, trials: number): boolean {
  const n = bytes[2]!
  const digest = sha256(label('komrade/registry/v1/work'), bytes.subarray(0, 83 + n))
  const value = sha256(bytes.subarray(83 + n, 91 + n), digest).readBigUInt64BE(0)
  return value < (1n << 64n) / BigInt(trials)
}

/** The code SPEC §13.3 gives a request, or 0 for accepted. */
function referenceCode (bytes: Uint8Array, now: number, trials: number): number {
  const { MALFORMED, BAD_NAME, NAME_RESERVED, STALE, INSUFFICIENT_WORK, BAD_SIGNATURE } = RegistryErrorCode
  if (bytes.length < 3 || bytes[0] !== 1 || (bytes[1] !== 1 && bytes[1] !== 2)) return MALFORMED
  const n = bytes[2]!
  if (bytes.length !== (bytes[1] === 1 ? 155 : 219) + n) return MALFORMED
  const time = u64(bytes, 67 + n)
  const previousIndex = u64(bytes, 75 + n)
  if (time >= BigInt(TWO_POW_53) || previousIndex >= BigInt(TWO_POW_53)) return MALFORMED
  if (bytes[1] === 1 && previousIndex !== 0n) return MALFORMED
  const name = Buffer.from(bytes.subarray(3, 3 + n)).toString('latin1')
  if (!/^[a-z0-9_]{3,32}$/.test(name)) return BAD_NAME
  if (bytes[1] === 1 && RESERVED_NAMES.has(name)) return NAME_RESERVED
  if (Math.abs(now - Number(time)) > 600_000) return STALE
  if (!referenceHasWork(bytes, trials)) return INSUFFICIENT_WORK
  const signed = bytes.subarray(0, 91 + n)
  if (!ed25519Verifies(bytes.subarray(3 + n, 35 + n), Buffer.concat([label('komrade/registry/v1/request'), signed]), bytes.subarray(91 + n, 155 + n))) return BAD_SIGNATURE
  return 0
}

/** Builds a request from raw fields, with valid work and signatures (so one field at a time can be wrong). */
function forgeRequest (fields: {
  type?: number, version?: number, name: Uint8Array | string, signer: Identity, time?: number, previousIndex?: bigint,
  current?: Identity, trials?: number
}): Uint8Array {
  const name = typeof fields.name === 'string' ? Buffer.from(fields.name, 'latin1') : fields.name
  const type = fields.type ?? 1
  const n = name.length
  const bytes = new Uint8Array((type === 2 ? 219 : 155) + n)
  const view = Buffer.from(bytes.buffer)
  bytes[0] = fields.version ?? 1
  bytes[1] = type
  bytes[2] = n
  bytes.set(name, 3)
  bytes.set(fields.signer.signingKey, 3 + n)
  bytes.set(fields.signer.sealingKey, 35 + n)
  view.writeBigUInt64BE(BigInt(fields.time ?? NOW), 67 + n)
  view.writeBigUInt64BE(fields.previousIndex ?? 0n, 75 + n)
  for (let nonce = 0n; ; nonce++) {
    view.writeBigUInt64BE(nonce, 83 + n)
    if (referenceHasWork(bytes, fields.trials ?? WORK)) break
  }
  const signed = bytes.slice(0, 91 + n)
  bytes.set(native.ed25519Sign(fields.signer.signingSeed, Buffer.concat([label('komrade/registry/v1/request'), signed])), 91 + n)
  if (type === 2) {
    bytes.set(native.ed25519Sign((fields.current ?? fields.signer).signingSeed, Buffer.concat([label('komrade/registry/v1/rotate'), signed])), 155 + n)
  }
  return bytes
}

function flipBit (bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice()
  out[bit >> 3] = out[bit >> 3]! ^ (1 << (bit & 7))
  return out
}

function codeOf (crypto: CryptoProvider, bytes: Uint8Array, options = check): number {
  const verdict = checkRegistrationRequest(crypto, bytes, options)
  return verdict.ok ? 0 : verdict.code
}

const alice = createIdentity(native)
const aliceNext = createIdentity(native)
const mallory = createIdentity(native)

// ---------------------------------------------------------------------------

describe('registration requests', () => {
  it('createRegistration writes the SPEC layout, and both providers accept it', async () => {
    const bytes = await createRegistration(native, alice, 'Alice', { now: NOW, workTrials: WORK })
    expect(bytes.length).toBe(155 + 5)
    expect(referenceCode(bytes, NOW, WORK)).toBe(0)
    const request = decodeRegistrationRequest(bytes)
    expect(request).toMatchObject({ type: 'register', name: 'alice', time: NOW, previousIndex: 0 })
    expect(request.signingKey).toEqual(alice.signingKey)
    expect(request.sealingKey).toEqual(alice.sealingKey)
    expect(request.previousSignature).toBeUndefined()
    expect(request.bytes).toEqual(bytes)
    for (const crypto of [native, noble]) {
      const verdict = checkRegistrationRequest(crypto, bytes, check)
      expect(verdict.ok).toBe(true)
      expect(hasRegistrationWork(crypto, bytes, WORK)).toBe(true)
    }
  })

  it('the noble provider creates requests the native one accepts', async () => {
    const bytes = await createRegistration(noble, alice, 'noble_made', { now: NOW, workTrials: 16 })
    expect(codeOf(native, bytes, { now: NOW, workTrials: 16 })).toBe(0)
  })

  it('createRotation is signed by the new key and by the current one', async () => {
    const bytes = await createRotation(native, alice, aliceNext, 'alice', 7, { now: NOW, workTrials: WORK })
    expect(bytes.length).toBe(219 + 5)
    const request = decodeRegistrationRequest(bytes)
    expect(request).toMatchObject({ type: 'rotate', name: 'alice', previousIndex: 7, time: NOW })
    expect(request.signingKey).toEqual(aliceNext.signingKey)
    expect(request.previousSignature).toHaveLength(64)
    const signed = Buffer.concat([label('komrade/registry/v1/rotate'), bytes.subarray(0, 91 + 5)])
    expect(ed25519Verifies(alice.signingKey, signed, bytes.subarray(155 + 5))).toBe(true)
    for (const crypto of [native, noble]) {
      expect(checkRegistrationRequest(crypto, bytes, check).ok).toBe(true)
      expect(verifyRotationSignature(crypto, request, alice.signingKey)).toBe(true)
      expect(verifyRotationSignature(crypto, request, aliceNext.signingKey)).toBe(false)
      expect(verifyRotationSignature(crypto, request, mallory.signingKey)).toBe(false)
    }
    // Index 0 is a real entry (the first in the log), so a rotation may name it.
    const first = await createRotation(native, alice, aliceNext, 'alice', 0, { now: NOW, workTrials: WORK })
    expect(decodeRegistrationRequest(first).previousIndex).toBe(0)
  })

  it('a rotation forged by someone without the current key fails verifyRotationSignature only', () => {
    const bytes = forgeRequest({ type: 2, name: 'alice', signer: mallory, current: mallory, previousIndex: 3n })
    const verdict = checkRegistrationRequest(native, bytes, check)
    expect(verdict.ok).toBe(true) // stateless checks pass: the new key signed
    if (verdict.ok) expect(verifyRotationSignature(native, verdict.request, alice.signingKey)).toBe(false)
  })

  it('verifyRotationSignature is false for a register request', async () => {
    const bytes = await createRegistration(native, alice, 'alice', { now: NOW, workTrials: WORK })
    expect(verifyRotationSignature(native, decodeRegistrationRequest(bytes), alice.signingKey)).toBe(false)
  })

  it('a reserved name can be rotated (it was registered before it was reserved) but not registered', async () => {
    await expect(createRegistration(native, alice, 'admin', { now: NOW, workTrials: WORK })).rejects.toBeInstanceOf(BadNameError)
    const rotation = await createRotation(native, alice, aliceNext, 'admin', 2, { now: NOW, workTrials: WORK })
    expect(codeOf(native, rotation)).toBe(0)
    expect(codeOf(native, forgeRequest({ name: 'admin', signer: alice }))).toBe(RegistryErrorCode.NAME_RESERVED)
  })

  it('refuses bad names and bad options before doing any work', async () => {
    for (const name of ['al', '\u0430lice', 'ali ce', 'x'.repeat(33)]) {
      await expect(createRegistration(native, alice, name, { now: NOW })).rejects.toBeInstanceOf(BadNameError)
      await expect(createRotation(native, alice, aliceNext, name, 1, { now: NOW })).rejects.toBeInstanceOf(BadNameError)
    }
    await expect(createRegistration(native, alice, 'alice', { workTrials: 0 })).rejects.toBeInstanceOf(RangeError)
    await expect(createRegistration(native, alice, 'alice', { workTrials: 2 ** 32 })).rejects.toBeInstanceOf(RangeError)
    await expect(createRegistration(native, alice, 'alice', { now: -1 })).rejects.toBeInstanceOf(RangeError)
    await expect(createRotation(native, alice, aliceNext, 'alice', -1)).rejects.toBeInstanceOf(RangeError)
    await expect(createRotation(native, alice, aliceNext, 'alice', TWO_POW_53)).rejects.toBeInstanceOf(RangeError)
  })

  it('uses the clock when no time is given', async () => {
    const before = Date.now()
    const request = decodeRegistrationRequest(await createRegistration(native, alice, 'alice', { workTrials: 16 }))
    expect(request.time).toBeGreaterThanOrEqual(before)
    expect(request.time).toBeLessThanOrEqual(Date.now())
  })
})

describe('registration work', () => {
  it('meets exactly the setting it was solved for, by the SPEC formula', async () => {
    for (const trials of [16, 64, 256]) {
      const bytes = await createRegistration(native, alice, 'alice', { now: NOW, workTrials: trials })
      expect(hasRegistrationWork(native, bytes, trials)).toBe(true)
      expect(referenceHasWork(bytes, trials)).toBe(true)
      // The same nonce against a far higher setting: holds with probability trials / 2^32.
      expect(hasRegistrationWork(native, bytes, 0xffff_ffff)).toBe(referenceHasWork(bytes, 0xffff_ffff))
    }
  })

  it('hasRegistrationWork agrees with the reference on random nonces', async () => {
    const bytes = await createRegistration(native, alice, 'alice', { now: NOW, workTrials: 16 })
    const n = bytes[2]!
    let enough = 0
    for (let i = 0; i < 400; i++) {
      const changed = bytes.slice()
      changed.set(native.randomBytes(8), 83 + n)
      const has = hasRegistrationWork(native, changed, 16)
      expect(has).toBe(referenceHasWork(changed, 16))
      // The value itself, as the reference computes it (the audit reports the weakest one).
      const reference = sha256(changed.subarray(83 + n, 91 + n), sha256(label('komrade/registry/v1/work'), changed.subarray(0, 83 + n))).readBigUInt64BE(0)
      expect(registrationWorkValue(native, changed)).toBe(reference)
      if (has) enough++
    }
    // About 1 in 16 random nonces is enough: 25 expected of 400 (this bound is 5 standard deviations wide).
    expect(enough).toBeGreaterThan(2)
    expect(enough).toBeLessThan(50)
  })

  it('takes about workTrials trials on average, reported through onProgress', async () => {
    let total = 0
    const runs = 100
    for (let i = 0; i < runs; i++) {
      const reports: number[] = []
      await createRegistration(native, alice, 'alice', { now: NOW, workTrials: 32, onProgress: (t) => reports.push(t) })
      expect(reports.length).toBeGreaterThan(0)
      expect([...reports].sort((a, b) => a - b)).toEqual(reports)
      total += reports.at(-1)!
    }
    // Geometric with mean 32: the mean of 100 runs is 32 +- 3.2; the bounds are 5 standard deviations.
    expect(total / runs).toBeGreaterThan(16)
    expect(total / runs).toBeLessThan(48)
  })

  it('stops with an AbortError, at once when the signal has already fired', async () => {
    const fired = AbortSignal.abort()
    await expect(createRegistration(native, alice, 'alice', { signal: fired, workTrials: 16 })).rejects.toMatchObject({ name: 'AbortError' })
    await expect(createRotation(native, alice, aliceNext, 'alice', 1, { signal: fired, workTrials: 16 })).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('yields to the event loop while solving, so a timer can abort it', async () => {
    const controller = new AbortController()
    let slices = 0
    const timer = setTimeout(() => controller.abort(), 0)
    // 2^32 - 1 expected trials: hours of work unless the timer gets to run.
    const solving = createRegistration(native, alice, 'alice', {
      workTrials: 0xffff_ffff, signal: controller.signal, onProgress: () => { slices++ }
    })
    await expect(solving).rejects.toMatchObject({ name: 'AbortError' })
    clearTimeout(timer)
    expect(slices).toBeGreaterThan(0)
  })
})

describe('checkRegistrationRequest', () => {
  const valid = forgeRequest({ name: 'alice', signer: alice })
  const validRotate = forgeRequest({ type: 2, name: 'alice', signer: aliceNext, current: alice, previousIndex: 12n })
  const { MALFORMED, BAD_NAME, NAME_RESERVED, STALE, INSUFFICIENT_WORK, BAD_SIGNATURE } = RegistryErrorCode

  it('the forged fixtures are valid (reference and implementation agree)', () => {
    for (const bytes of [valid, validRotate]) {
      expect(referenceCode(bytes, NOW, WORK)).toBe(0)
      expect(codeOf(native, bytes)).toBe(0)
      expect(codeOf(noble, bytes)).toBe(0)
    }
    // The rotate signature made from the SPEC label verifies, with both providers.
    for (const crypto of [native, noble]) expect(verifyRotationSignature(crypto, decodeRegistrationRequest(validRotate), alice.signingKey)).toBe(true)
  })

  it.each([
    ['not bytes', 'hello' as unknown as Uint8Array],
    ['empty', new Uint8Array(0)],
    ['two bytes', Uint8Array.of(1, 1)],
    ['one byte short', valid.subarray(0, valid.length - 1)],
    ['one byte extra', Uint8Array.of(...valid, 0)],
    ['a register as long as a rotate', Uint8Array.of(...valid, ...new Uint8Array(64))],
    ['a rotate cut to a register', validRotate.subarray(0, validRotate.length - 64)],
    ['version 0', forgeRequest({ version: 0, name: 'alice', signer: alice })],
    ['version 2', forgeRequest({ version: 2, name: 'alice', signer: alice })],
    ['type 0', forgeRequest({ type: 0, name: 'alice', signer: alice })],
    ['type 3', forgeRequest({ type: 3, name: 'alice', signer: alice })],
    ['a register with a previous index', forgeRequest({ name: 'alice', signer: alice, previousIndex: 1n })],
    ['a time of 2^53', forgeRequest({ name: 'alice', signer: alice, time: TWO_POW_53 })],
    ['a previous index of 2^53', forgeRequest({ type: 2, name: 'alice', signer: alice, previousIndex: BigInt(TWO_POW_53) })],
    ['a previous index of 2^64 - 1', forgeRequest({ type: 2, name: 'alice', signer: alice, previousIndex: (1n << 64n) - 1n })],
    ['a bad version and a bad name', forgeRequest({ version: 9, name: 'A-', signer: alice })]
  ])('MALFORMED: %s', (_label, bytes) => {
    const verdict = checkRegistrationRequest(native, bytes, check)
    expect(verdict.ok).toBe(false)
    if (!verdict.ok) {
      expect(verdict.code).toBe(MALFORMED)
      expect(verdict.message.length).toBeGreaterThan(10)
    }
  })

  it('accepts the largest safe integers as time and previous index', () => {
    const max = Number.MAX_SAFE_INTEGER
    const bytes = forgeRequest({ type: 2, name: 'alice', signer: alice, time: max, previousIndex: BigInt(max) })
    expect(codeOf(native, bytes, { now: max, workTrials: WORK })).toBe(0)
    expect(decodeRegistrationRequest(bytes)).toMatchObject({ time: max, previousIndex: max })
  })

  it.each([
    ['uppercase (names are sent normalised)', 'Alice'],
    ['two characters', 'al'],
    ['33 characters', 'a'.repeat(33)],
    ['no name', ''],
    ['a dash', 'al-ice'],
    ['a NUL byte', 'ali\u0000ce'],
    ['Cyrillic a in UTF-8', new Uint8Array([0xd0, 0xb0, 0x6c, 0x69, 0x63, 0x65])],
    ['a byte above 0x7f', new Uint8Array([0x61, 0x6c, 0xe9, 0x63, 0x65])],
    ['255 characters', 'a'.repeat(255)]
  ])('BAD_NAME: %s', (_label, name) => {
    const bytes = forgeRequest({ name, signer: alice })
    expect(referenceCode(bytes, NOW, WORK)).toBe(BAD_NAME)
    expect(codeOf(native, bytes)).toBe(BAD_NAME)
    expect(() => decodeRegistrationRequest(bytes)).toThrow(BadNameError)
  })

  it('NAME_RESERVED for a register of a reserved name; BAD_NAME comes first', () => {
    expect(codeOf(native, forgeRequest({ name: 'admin', signer: alice }))).toBe(NAME_RESERVED)
    expect(codeOf(native, forgeRequest({ name: 'no_reply', signer: alice }))).toBe(NAME_RESERVED)
    expect(codeOf(native, forgeRequest({ name: 'Admin', signer: alice }))).toBe(BAD_NAME)
    expect(codeOf(native, forgeRequest({ name: 'admin', signer: alice, time: 0 }))).toBe(NAME_RESERVED) // before the clock
    const verdict = checkRegistrationRequest(native, forgeRequest({ name: 'root', signer: alice }), check)
    expect(verdict).toEqual({ ok: false, code: NAME_RESERVED, message: '"root" is reserved; choose another name' })
  })

  it('STALE outside ±10 minutes of the Operator\'s clock, with a message about the clock', () => {
    expect(codeOf(native, valid, { now: NOW + REGISTRATION_CLOCK_SKEW_MS, workTrials: WORK })).toBe(0)
    expect(codeOf(native, valid, { now: NOW - REGISTRATION_CLOCK_SKEW_MS, workTrials: WORK })).toBe(0)
    for (const now of [NOW + REGISTRATION_CLOCK_SKEW_MS + 1, NOW - REGISTRATION_CLOCK_SKEW_MS - 1, 0, Number.MAX_SAFE_INTEGER]) {
      const verdict = checkRegistrationRequest(native, valid, { now, workTrials: WORK })
      expect(verdict.ok).toBe(false)
      if (!verdict.ok) {
        expect(verdict.code).toBe(STALE)
        expect(verdict.message).toContain('check the clock')
      }
    }
    // A name error is reported before the clock.
    expect(codeOf(native, forgeRequest({ name: 'a-b', signer: alice, time: 0 }))).toBe(BAD_NAME)
  })

  it('INSUFFICIENT_WORK says how many trials the Operator asks; the clock is checked before', () => {
    let lacking = valid
    for (let i = 0; referenceHasWork(lacking, WORK); i++) lacking = flipBit(valid, (83 + 5) * 8 + (i % 64))
    const verdict = checkRegistrationRequest(native, lacking, check)
    expect(verdict).toMatchObject({ ok: false, code: INSUFFICIENT_WORK })
    if (!verdict.ok) expect(verdict.message).toContain(`${WORK} trials`)
    // The valid request against a setting it was not solved for.
    if (!referenceHasWork(valid, 0xffff_ffff)) expect(codeOf(native, valid, { now: NOW, workTrials: 0xffff_ffff })).toBe(INSUFFICIENT_WORK)
    expect(codeOf(native, lacking, { now: NOW + REGISTRATION_CLOCK_SKEW_MS + 1, workTrials: WORK })).toBe(STALE)
  })

  it('BAD_SIGNATURE when the new key did not sign', () => {
    const signature = 91 + 5
    expect(codeOf(native, flipBit(valid, signature * 8))).toBe(BAD_SIGNATURE)
    expect(codeOf(native, flipBit(valid, (signature + 63) * 8 + 7))).toBe(BAD_SIGNATURE)
    // Keys of one identity, signed by another: work is valid, the signature is not.
    const resolved = forgeRequest({ name: 'alice', signer: { ...mallory, signingSeed: alice.signingSeed } })
    expect(codeOf(native, resolved)).toBe(BAD_SIGNATURE)
    expect(codeOf(noble, resolved)).toBe(BAD_SIGNATURE)
    // The check a node makes on every certificate it is shown (SPEC §13.8 rule 4).
    expect(verifyRequestSignature(native, decodeRegistrationRequest(valid))).toBe(true)
    expect(verifyRequestSignature(native, decodeRegistrationRequest(resolved))).toBe(false)
  })

  it('gives the reference\'s code for every single-bit change of a register and a rotate request', () => {
    for (const original of [valid, validRotate]) {
      const seen = new Set<number>()
      for (let bit = 0; bit < original.length * 8; bit++) {
        const changed = flipBit(original, bit)
        const expected = referenceCode(changed, NOW, WORK)
        expect(codeOf(native, changed), `bit ${bit}`).toBe(expected)
        seen.add(expected)
        // The current key's signature covers every byte before the signatures.
        if (original === validRotate && expected === 0) {
          const request = decodeRegistrationRequest(changed)
          expect(verifyRotationSignature(native, request, alice.signingKey)).toBe(bit >= (155 + 5) * 8 ? false : bit >= (91 + 5) * 8)
        }
      }
      // Every kind of failure shows up somewhere: the sweep is not vacuous.
      for (const code of [MALFORMED, BAD_NAME, STALE, INSUFFICIENT_WORK, BAD_SIGNATURE]) expect(seen).toContain(code)
      if (original === validRotate) expect(seen).toContain(0) // bits of the previous signature
    }
  })

  it('the noble provider agrees on a sample of changed requests', () => {
    for (let bit = 0; bit < validRotate.length * 8; bit += 37) {
      const changed = flipBit(validRotate, bit)
      expect(codeOf(noble, changed), `bit ${bit}`).toBe(codeOf(native, changed))
    }
  })

  it('throws on bad options (a caller\'s bug, not the peer\'s)', () => {
    expect(() => checkRegistrationRequest(native, valid, { now: NOW, workTrials: 0 })).toThrow(RangeError)
    expect(() => checkRegistrationRequest(native, valid, { now: Number.NaN, workTrials: WORK })).toThrow(TypeError)
  })
})

// ---------------------------------------------------------------------------

describe('log entries', () => {
  const request = forgeRequest({ name: 'alice', signer: alice })

  it('encode and decode, at the SPEC offsets', () => {
    const entry = encodeLogEntry(41, NOW + 5, request)
    expect(entry.length).toBe(19 + request.length)
    expect(entry[0]).toBe(1)
    expect(u64(entry, 1)).toBe(41n)
    expect(u64(entry, 9)).toBe(BigInt(NOW + 5))
    expect(Buffer.from(entry).readUInt16BE(17)).toBe(request.length)
    expect(entry.subarray(19)).toEqual(request)
    const decoded = decodeLogEntry(entry)
    expect(decoded).toMatchObject({ index: 41, timestamp: NOW + 5 })
    expect(decoded.request.name).toBe('alice')
    expect(decoded.bytes).toEqual(entry)
  })

  it('refuses to encode a request that does not decode, or a bad index', () => {
    expect(() => encodeLogEntry(0, NOW, request.subarray(1))).toThrow(RegistryFormatError)
    expect(() => encodeLogEntry(-1, NOW, request)).toThrow(RangeError)
    expect(() => encodeLogEntry(TWO_POW_53, NOW, request)).toThrow(RangeError)
    expect(() => encodeLogEntry(1.5, NOW, request)).toThrow(TypeError)
  })

  it('decoding refuses every truncation, extra bytes, another version, a wrong length field', () => {
    const entry = encodeLogEntry(3, NOW, request)
    for (let length = 0; length < entry.length; length++) expect(() => decodeLogEntry(entry.subarray(0, length))).toThrow(RegistryFormatError)
    expect(() => decodeLogEntry(Uint8Array.of(...entry, 0))).toThrow(RegistryFormatError)
    const v2 = entry.slice()
    v2[0] = 2
    expect(() => decodeLogEntry(v2)).toThrow(RegistryFormatError)
    const longer = entry.slice()
    Buffer.from(longer.buffer).writeUInt16BE(request.length + 1, 17)
    expect(() => decodeLogEntry(longer)).toThrow(/ends inside its request/)
    const unsafe = entry.slice()
    unsafe[1] = 0x00
    unsafe[2] = 0x20 // index 2^53
    expect(() => decodeLogEntry(unsafe)).toThrow(RegistryFormatError)
    const badName = encodeLogEntry(3, NOW, request).slice()
    badName[19 + 3] = 0x41 // 'A'
    expect(() => decodeLogEntry(badName)).toThrow(RegistryFormatError)
  })

  it('keeps reading an entry whose name was reserved later', () => {
    const entry = encodeLogEntry(0, NOW, forgeRequest({ type: 2, name: 'admin', signer: alice }))
    expect(decodeLogEntry(entry).request.name).toBe('admin')
  })
})

describe('certificates', () => {
  const operator = createIdentity(native)
  const entry = encodeLogEntry(9, NOW, forgeRequest({ name: 'alice', signer: alice }))

  it('signed by the Operator over the label and the entry, verified by both providers', () => {
    const bytes = signCertificate(native, operator, entry)
    expect(bytes.length).toBe(entry.length + 64)
    expect(bytes.subarray(0, entry.length)).toEqual(entry)
    expect(ed25519Verifies(operator.signingKey, Buffer.concat([label('komrade/registry/v1/certificate'), entry]), bytes.subarray(entry.length))).toBe(true)
    const certificate = decodeCertificate(bytes)
    expect(certificate.entry.index).toBe(9)
    expect(certificate.entry.request.name).toBe('alice')
    expect(certificate.bytes).toEqual(bytes)
    for (const crypto of [native, noble]) {
      expect(verifyCertificate(crypto, operator.signingKey, certificate)).toBe(true)
      expect(verifyCertificate(crypto, mallory.signingKey, certificate)).toBe(false)
    }
    expect(decodeCertificate(signCertificate(noble, operator, entry)).signature).toEqual(certificate.signature) // Ed25519 is deterministic
  })

  it('every changed bit fails to decode or fails to verify', () => {
    const bytes = signCertificate(native, operator, entry)
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const changed = flipBit(bytes, bit)
      let certificate
      try {
        certificate = decodeCertificate(changed)
      } catch (error) {
        expect(error instanceof RegistryFormatError || error instanceof BadNameError).toBe(true)
        continue
      }
      expect(verifyCertificate(native, operator.signingKey, certificate), `bit ${bit}`).toBe(false)
    }
  })

  it('decoders copy: a Buffer (whose slice is a view) changed afterwards does not change what was decoded', () => {
    const bytes = signCertificate(native, operator, entry)
    const buffer = Buffer.from(bytes)
    const certificate = decodeCertificate(buffer)
    const request = decodeRegistrationRequest(Buffer.from(entry.subarray(19)))
    buffer.fill(0)
    expect(certificate.bytes).toEqual(bytes)
    expect(certificate.signature).toEqual(bytes.subarray(entry.length))
    expect(certificate.entry.bytes).toEqual(entry)
    expect(certificate.entry.request.signingKey).toEqual(alice.signingKey)
    expect(Object.getPrototypeOf(certificate.signature)).toBe(Uint8Array.prototype)
    expect(request.bytes).toEqual(entry.subarray(19))
  })

  it('refuses to sign what is not an entry, and to decode what is too short', () => {
    expect(() => signCertificate(native, operator, entry.subarray(1))).toThrow(RegistryFormatError)
    expect(() => decodeCertificate(new Uint8Array(82))).toThrow(RegistryFormatError)
    expect(() => decodeCertificate(entry)).toThrow(RegistryFormatError) // no signature
  })
})

describe('signed tree heads', () => {
  const operator = createIdentity(native)
  const root = native.sha256(new Uint8Array(0))

  it('are 113 bytes at the SPEC offsets, signed over the label and bytes [0, 49)', () => {
    const head = signTreeHead(native, operator, { size: 1234, timestamp: NOW, root })
    expect(head.bytes.length).toBe(TREE_HEAD_LENGTH)
    expect(head.bytes[0]).toBe(1)
    expect(u64(head.bytes, 1)).toBe(1234n)
    expect(u64(head.bytes, 9)).toBe(BigInt(NOW))
    expect(head.bytes.subarray(17, 49)).toEqual(root)
    expect(head.bytes.subarray(49)).toEqual(head.signature)
    expect(ed25519Verifies(operator.signingKey, Buffer.concat([label('komrade/registry/v1/tree-head'), head.bytes.subarray(0, 49)]), head.signature)).toBe(true)
    const decoded = decodeTreeHead(head.bytes)
    expect(decoded).toEqual(head)
    for (const crypto of [native, noble]) {
      expect(verifyTreeHead(crypto, operator.signingKey, decoded)).toBe(true)
      expect(verifyTreeHead(crypto, mallory.signingKey, decoded)).toBe(false)
    }
  })

  it('every changed bit fails to decode or to verify', () => {
    const head = signTreeHead(native, operator, { size: 7, timestamp: NOW, root })
    for (let bit = 0; bit < TREE_HEAD_LENGTH * 8; bit++) {
      let decoded: TreeHead
      try {
        decoded = decodeTreeHead(flipBit(head.bytes, bit))
      } catch (error) {
        expect(error).toBeInstanceOf(RegistryFormatError)
        continue
      }
      expect(verifyTreeHead(native, operator.signingKey, decoded), `bit ${bit}`).toBe(false)
    }
  })

  it('verifies the fields, so a head changed after decoding fails, and never throws on a malformed one', () => {
    const head = signTreeHead(native, operator, { size: 7, timestamp: NOW, root })
    expect(verifyTreeHead(native, operator.signingKey, { ...head, size: 8 })).toBe(false)
    expect(verifyTreeHead(native, operator.signingKey, { ...head, root: new Uint8Array(32) })).toBe(false)
    expect(verifyTreeHead(native, operator.signingKey, { ...head, size: -1 })).toBe(false)
    expect(verifyTreeHead(native, operator.signingKey, { ...head, root: new Uint8Array(31) })).toBe(false)
    expect(verifyTreeHead(native, operator.signingKey, { ...head, signature: new Uint8Array(3) })).toBe(false)
  })

  it('decoding refuses another length, another version and sizes of 2^53 or more', () => {
    const head = signTreeHead(native, operator, { size: 0, timestamp: 0, root })
    expect(() => decodeTreeHead(head.bytes.subarray(1))).toThrow(RegistryFormatError)
    expect(() => decodeTreeHead(Uint8Array.of(...head.bytes, 0))).toThrow(RegistryFormatError)
    for (const [offset, value] of [[0, 0], [0, 2], [1, 0x80], [2, 0x20], [9, 0xff]] as const) {
      const changed = head.bytes.slice()
      changed[offset] = value
      expect(() => decodeTreeHead(changed)).toThrow(RegistryFormatError)
    }
    expect(() => signTreeHead(native, operator, { size: TWO_POW_53, timestamp: 0, root })).toThrow(RangeError)
    expect(() => signTreeHead(native, operator, { size: 1, timestamp: 0, root: root.subarray(1) })).toThrow(RangeError)
  })
})
