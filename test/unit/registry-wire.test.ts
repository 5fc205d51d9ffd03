/**
 * The registry's frames (SPEC §13.5): protocol ids, every request and
 * response encoder with its decoder, error frames, bounds (proof hashes,
 * entries, message and frame sizes), and fuzzing: whatever bytes a peer
 * sends, a decoder returns or throws RegistryFormatError / BadNameError,
 * and what it accepts re-encodes to the same bytes.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BadNameError, createIdentity, createMerkleTree, createRegistration, decodeConsistencyRequest, decodeEntriesRequest,
  decodeEntriesResponse, decodeInfoResponse, decodeLookupRequest, decodeLookupResponse, decodeProofResponse,
  decodeRegisterResponse, encodeConsistencyRequest, encodeEntriesRequest, encodeEntriesResponse, encodeError,
  encodeInfoResponse, encodeLogEntry, encodeLookupRequest, encodeLookupResponse, encodeProofResponse,
  encodeRegisterResponse, MAX_REGISTRY_RESPONSE_BYTES, merkleLeafHash, nativeCrypto, nobleCrypto, publicIdentityOf,
  registryErrorName, registryProtocol, RegistryErrorCode, RegistryFormatError, signCertificate, signTreeHead,
  verifyCertificate, verifyConsistency, verifyInclusion, verifyTreeHead,
  type RegistryResponse
} from '../../protocol/index.js'

const native = nativeCrypto()
const NOW = 1_800_000_000_000
const operator = createIdentity(native)
const hash = (i: number): Uint8Array => native.sha256(Uint8Array.of(i))

// A log of 12 entries, with a real Merkle tree, certificates and heads.
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj']
const tree = createMerkleTree(native)
const certificates: Uint8Array[] = []
for (const [index, name] of NAMES.entries()) {
  const request = await createRegistration(native, createIdentity(native), name, { now: NOW, workTrials: 16 })
  const entry = encodeLogEntry(index, NOW + index, request)
  tree.append(merkleLeafHash(native, entry))
  certificates.push(signCertificate(native, operator, entry))
}
const headAt = (size: number): Uint8Array => signTreeHead(native, operator, { size, timestamp: NOW + 100, root: tree.root(size) }).bytes
const head = headAt(NAMES.length)

function unwrap<T> (response: RegistryResponse<T>): T {
  if (!response.ok) throw new Error(`expected OK, got ${response.code}: ${response.message}`)
  return response.value
}

// Valid frames of every kind, with their decoder and the re-encoding of what it returns.
interface Codec { name: string, frame: Uint8Array, decode: (bytes: Uint8Array) => unknown, reencode: (value: any) => Uint8Array | undefined }
const responseCodecs: Codec[] = [
  {
    name: 'info',
    frame: encodeInfoResponse({ operator: publicIdentityOf(operator), workTrials: 262_144, head }),
    decode: decodeInfoResponse,
    reencode: (v) => encodeInfoResponse({ operator: v.operator, workTrials: v.workTrials, head: v.head.bytes })
  },
  {
    name: 'register',
    frame: encodeRegisterResponse({ certificate: certificates[5]!, head, inclusion: tree.inclusionProof(5) }),
    decode: decodeRegisterResponse,
    reencode: (v) => encodeRegisterResponse({ certificate: v.certificate.bytes, head: v.head.bytes, inclusion: v.inclusion })
  },
  {
    name: 'lookup',
    frame: encodeLookupResponse({ certificate: certificates[2]!, head, inclusion: tree.inclusionProof(2), consistency: tree.consistencyProof(5) }),
    decode: decodeLookupResponse,
    reencode: (v) => encodeLookupResponse({ certificate: v.certificate.bytes, head: v.head.bytes, inclusion: v.inclusion, consistency: v.consistency })
  },
  {
    name: 'consistency',
    frame: encodeProofResponse(tree.consistencyProof(3)),
    decode: decodeProofResponse,
    reencode: (v) => encodeProofResponse(v)
  },
  {
    name: 'entries',
    frame: encodeEntriesResponse(certificates.slice(0, 3)),
    decode: decodeEntriesResponse,
    reencode: (v) => encodeEntriesResponse(v.map((c: { bytes: Uint8Array }) => c.bytes))
  }
]
const requestCodecs: Codec[] = [
  {
    name: 'lookup request',
    frame: encodeLookupRequest('alice', 5),
    decode: decodeLookupRequest,
    reencode: (v) => encodeLookupRequest(v.name, v.knownSize)
  },
  {
    name: 'consistency request',
    frame: encodeConsistencyRequest(3, 12),
    decode: decodeConsistencyRequest,
    reencode: (v) => (v.from >= 1 && v.to >= v.from ? encodeConsistencyRequest(v.from, v.to) : undefined)
  },
  {
    name: 'entries request',
    frame: encodeEntriesRequest(0, 256),
    decode: decodeEntriesRequest,
    reencode: (v) => (v.count >= 1 && v.count <= 256 ? encodeEntriesRequest(v.start, v.count) : undefined)
  }
]
const allCodecs = [...responseCodecs, ...requestCodecs]

describe('registryProtocol', () => {
  it('is /komrade/<network>/registry/<op>/1.0.0', () => {
    expect(registryProtocol('komrade', 'info')).toBe('/komrade/komrade/registry/info/1.0.0')
    expect(registryProtocol('my-town-2', 'entries')).toBe('/komrade/my-town-2/registry/entries/1.0.0')
  })

  it.each(['', 'Komrade', 'a/b', '-town', 'x'.repeat(33), 'caf\u00e9'])('refuses the network name %j', (network) => {
    expect(() => registryProtocol(network, 'info')).toThrow(TypeError)
  })

  it('refuses an unknown op', () => {
    expect(() => registryProtocol('komrade', 'delete' as 'info')).toThrow(TypeError)
  })
})

describe('response frames', () => {
  it('info round trip', () => {
    const info = unwrap(decodeInfoResponse(responseCodecs[0]!.frame))
    expect(info.operator.signingKey).toEqual(operator.signingKey)
    expect(info.operator.sealingKey).toEqual(operator.sealingKey)
    expect(info.workTrials).toBe(262_144)
    expect(info.head.bytes).toEqual(head)
    expect(responseCodecs[0]!.frame.length).toBe(1 + 64 + 4 + 113)
  })

  it('a register response verifies end to end: certificate, head, inclusion', () => {
    const proven = unwrap(decodeRegisterResponse(responseCodecs[1]!.frame))
    for (const crypto of [native, nobleCrypto()]) {
      expect(verifyCertificate(crypto, operator.signingKey, proven.certificate)).toBe(true)
      expect(verifyTreeHead(crypto, operator.signingKey, proven.head)).toBe(true)
      const leaf = merkleLeafHash(crypto, proven.certificate.entry.bytes)
      expect(verifyInclusion(crypto, leaf, proven.certificate.entry.index, proven.head.size, proven.inclusion, proven.head.root)).toBe(true)
    }
    expect(proven.certificate.entry.request.name).toBe('frank')
  })

  it('a lookup response carries a consistency proof from the size the asker knew', () => {
    const result = unwrap(decodeLookupResponse(responseCodecs[2]!.frame))
    expect(result.certificate.entry.request.name).toBe('carol')
    expect(verifyInclusion(native, merkleLeafHash(native, result.certificate.entry.bytes), 2, result.head.size, result.inclusion, result.head.root)).toBe(true)
    expect(verifyConsistency(native, 5, result.head.size, tree.root(5), result.head.root, result.consistency)).toBe(true)
    // An empty consistency proof (the asker knew no head) is a count byte of 0.
    const none = encodeLookupResponse({ certificate: certificates[0]!, head, inclusion: tree.inclusionProof(0), consistency: [] })
    expect(none.at(-1)).toBe(0)
    expect(unwrap(decodeLookupResponse(none)).consistency).toEqual([])
  })

  it('proof and entries round trips', () => {
    expect(unwrap(decodeProofResponse(encodeProofResponse([])))).toEqual([])
    expect(unwrap(decodeProofResponse(responseCodecs[3]!.frame))).toEqual(tree.consistencyProof(3))
    const all = Array.from({ length: 256 }, (_, i) => certificates[i % certificates.length]!)
    const frame = encodeEntriesResponse(all)
    expect(frame.length).toBeLessThan(MAX_REGISTRY_RESPONSE_BYTES)
    const decoded = unwrap(decodeEntriesResponse(frame))
    expect(decoded.map((c) => c.bytes)).toEqual(all)
    expect(unwrap(decodeEntriesResponse(encodeEntriesResponse([])))).toEqual([])
  })

  it('every OK frame re-encodes from what it decodes to', () => {
    for (const codec of responseCodecs) expect(codec.reencode(unwrap(codec.decode(codec.frame) as RegistryResponse<unknown>)), codec.name).toEqual(codec.frame)
    for (const codec of requestCodecs) expect(codec.reencode(codec.decode(codec.frame)), codec.name).toEqual(codec.frame)
  })

  it('every truncation and every extra byte of an OK frame is RegistryFormatError', () => {
    for (const codec of allCodecs) {
      for (let length = 0; length < codec.frame.length; length++) {
        if (length === 0 && requestCodecs.includes(codec)) continue // an empty request is checked below
        expect(() => codec.decode(codec.frame.subarray(0, length)), `${codec.name} cut to ${length}`).toThrow(RegistryFormatError)
      }
      expect(() => codec.decode(Uint8Array.of(...codec.frame, 0)), `${codec.name} + 1 byte`).toThrow(RegistryFormatError)
    }
    for (const codec of requestCodecs) expect(() => codec.decode(new Uint8Array(0))).toThrow(RegistryFormatError)
  })

  it('refuses proofs of more than 64 hashes and more than 256 entries', () => {
    const proof65 = Uint8Array.of(0, 65, ...new Uint8Array(65 * 32))
    expect(() => decodeProofResponse(proof65)).toThrow(/at most 64 hashes/)
    const proof64 = Uint8Array.of(0, 64, ...new Uint8Array(64 * 32))
    expect(unwrap(decodeProofResponse(proof64))).toHaveLength(64)
    const entries257 = Uint8Array.of(0, 0x01, 0x01)
    expect(() => decodeEntriesResponse(entries257)).toThrow(/at most 256 certificates/)
    expect(() => encodeProofResponse(Array.from({ length: 65 }, (_, i) => hash(i)))).toThrow(RangeError)
    expect(() => encodeEntriesResponse(Array.from({ length: 257 }, () => certificates[0]!))).toThrow(RangeError)
    expect(() => encodeProofResponse([hash(1).subarray(1)])).toThrow(RangeError)
  })

  it('refuses a frame over 256 KiB, an empty one, a zero work setting, a certificate that does not decode', () => {
    const big = new Uint8Array(MAX_REGISTRY_RESPONSE_BYTES + 1)
    expect(() => decodeEntriesResponse(big)).toThrow(RegistryFormatError)
    expect(() => decodeInfoResponse(new Uint8Array(0))).toThrow(/empty/)
    const zeroWork = responseCodecs[0]!.frame.slice()
    zeroWork.set([0, 0, 0, 0], 65)
    expect(() => decodeInfoResponse(zeroWork)).toThrow(/work setting of 0/)
    expect(() => encodeInfoResponse({ operator, workTrials: 0, head })).toThrow(RangeError)
    const badCertificate = responseCodecs[1]!.frame.slice()
    badCertificate[3] = 9 // the entry's version byte
    expect(() => decodeRegisterResponse(badCertificate)).toThrow(RegistryFormatError)
    expect(() => encodeRegisterResponse({ certificate: certificates[0]!.subarray(1), head, inclusion: [] })).toThrow(RegistryFormatError)
    expect(() => encodeRegisterResponse({ certificate: certificates[0]!, head: head.subarray(1), inclusion: [] })).toThrow(RegistryFormatError)
  })
})

describe('error frames', () => {
  it('every code round trips through every response decoder', () => {
    for (const code of Object.values(RegistryErrorCode)) {
      const frame = encodeError(code, `refused: ${registryErrorName(code)}`)
      expect(frame[0]).toBe(code)
      for (const codec of responseCodecs) {
        expect(codec.decode(frame)).toEqual({ ok: false, code, message: `refused: ${registryErrorName(code)}` })
      }
    }
    expect(registryErrorName(RegistryErrorCode.NAME_TAKEN)).toBe('NAME_TAKEN')
  })

  it('the codes are the SPEC bytes', () => {
    expect(RegistryErrorCode).toEqual({
      MALFORMED: 1, BAD_NAME: 2, NAME_RESERVED: 3, NAME_TAKEN: 4, BAD_SIGNATURE: 5, INSUFFICIENT_WORK: 6, STALE: 7,
      REPLAYED: 8, NOT_FOUND: 9, RATE_LIMITED: 10, NO_REGISTRY: 11, BAD_RANGE: 12, UNAVAILABLE: 13
    })
  })

  it('an unknown code becomes MALFORMED with a message that says so and keeps the Operator\'s words', () => {
    const frame = Uint8Array.of(200, ...new TextEncoder().encode('slow down'))
    const response = decodeLookupResponse(frame)
    expect(response).toMatchObject({ ok: false, code: RegistryErrorCode.MALFORMED })
    if (!response.ok) expect(response.message).toBe('The Operator answered with error code 200, which this version does not know: slow down')
  })

  it('messages are cut to 512 bytes of UTF-8 between characters; a longer one from a peer is malformed', () => {
    const long = encodeError(RegistryErrorCode.UNAVAILABLE, '\u00e9'.repeat(300)) // 600 bytes
    expect(long.length).toBe(1 + 512)
    expect(unwrapError(decodeProofResponse(long)).message).toBe('\u00e9'.repeat(256))
    const odd = encodeError(RegistryErrorCode.UNAVAILABLE, 'x' + '\u20ac'.repeat(200)) // 1 + 600 bytes; cut inside a 3-byte character
    expect(odd.length).toBe(1 + 511)
    expect(unwrapError(decodeProofResponse(odd)).message).toBe('x' + '\u20ac'.repeat(170))
    expect(() => decodeProofResponse(Uint8Array.of(7, ...new Uint8Array(513).fill(0x61)))).toThrow(RegistryFormatError)
    expect(unwrapError(decodeProofResponse(Uint8Array.of(7, 0xff, 0x61))).message).toBe('\ufffda') // bad UTF-8 is shown, not thrown
  })

  it('encodeError refuses a code that is not one', () => {
    expect(() => encodeError(0 as RegistryErrorCode, 'ok?')).toThrow(RangeError)
    expect(() => encodeError(14 as RegistryErrorCode, 'new')).toThrow(RangeError)
  })
})

function unwrapError<T> (response: RegistryResponse<T>): { code: number, message: string } {
  if (response.ok) throw new Error('expected an error frame')
  return response
}

describe('request frames', () => {
  it('lookup: n || name || knownSize; the name is normalised when encoding, checked when decoding', () => {
    const frame = encodeLookupRequest('Alice', 0)
    expect(frame).toEqual(Uint8Array.of(5, ...new TextEncoder().encode('alice'), 0, 0, 0, 0, 0, 0, 0, 0))
    expect(decodeLookupRequest(frame)).toEqual({ name: 'alice', knownSize: 0 })
    expect(decodeLookupRequest(encodeLookupRequest('admin', Number.MAX_SAFE_INTEGER))).toEqual({ name: 'admin', knownSize: Number.MAX_SAFE_INTEGER })
    expect(() => encodeLookupRequest('\u0430lice', 0)).toThrow(BadNameError)
    const upper = frame.slice()
    upper[1] = 0x41
    expect(() => decodeLookupRequest(upper)).toThrow(BadNameError)
    const unsafe = frame.slice()
    unsafe[6] = 0x00
    unsafe[7] = 0x20
    expect(() => decodeLookupRequest(unsafe)).toThrow(/2\^53/)
    expect(() => decodeLookupRequest(new Uint8Array(1025))).toThrow(RegistryFormatError)
  })

  it('consistency: the encoder wants 0 < from <= to; the decoder leaves ranges to the registry', () => {
    expect(decodeConsistencyRequest(encodeConsistencyRequest(1, 1))).toEqual({ from: 1, to: 1 })
    expect(() => encodeConsistencyRequest(0, 5)).toThrow(RangeError)
    expect(() => encodeConsistencyRequest(6, 5)).toThrow(RangeError)
    expect(decodeConsistencyRequest(new Uint8Array(16))).toEqual({ from: 0, to: 0 }) // BAD_RANGE is the registry's answer
  })

  it('entries: start || count, count 1 to 256 when encoding', () => {
    expect(decodeEntriesRequest(encodeEntriesRequest(Number.MAX_SAFE_INTEGER, 1))).toEqual({ start: Number.MAX_SAFE_INTEGER, count: 1 })
    expect(() => encodeEntriesRequest(0, 0)).toThrow(RangeError)
    expect(() => encodeEntriesRequest(0, 257)).toThrow(RangeError)
    expect(decodeEntriesRequest(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff))).toEqual({ start: 0, count: 65_535 })
  })
})

describe('fuzzing the decoders', () => {
  const refusals = (error: unknown): boolean => error instanceof RegistryFormatError || error instanceof BadNameError
  const outcomes = { refused: 0, errorFrames: 0, reencoded: 0 }

  function decodeOrRefuse (codec: Codec, bytes: Uint8Array): void {
    let value: unknown
    try {
      value = codec.decode(bytes)
    } catch (error) {
      if (!refusals(error)) throw error
      outcomes.refused++
      return
    }
    const response = value as { ok?: boolean, value?: unknown }
    const isResponse = responseCodecs.includes(codec)
    if (isResponse && response.ok === false) {
      outcomes.errorFrames++
      return
    }
    const again = codec.reencode(isResponse ? response.value : value)
    if (again !== undefined) {
      expect(again).toEqual(bytes) // what a decoder accepts is canonical
      outcomes.reencoded++
    }
  }

  it('random bytes: decoders return or refuse, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), fc.integer({ min: 0, max: allCodecs.length - 1 }), (bytes, which) => {
      decodeOrRefuse(allCodecs[which]!, bytes)
    }), { numRuns: 3000 })
  })

  it('valid frames with bytes changed, cut or inserted', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) })
    )
    fc.assert(fc.property(fc.integer({ min: 0, max: allCodecs.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, mutations) => {
      const codec = allCodecs[which]!
      let bytes = codec.frame.slice()
      for (const m of mutations) {
        const at = bytes.length === 0 ? 0 : m.at % bytes.length
        if (m.kind === 'set' && bytes.length > 0) bytes[at] = m.value
        else if (m.kind === 'cut') bytes = bytes.slice(0, at)
        else if (m.kind === 'insert') bytes = Uint8Array.of(...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at))
      }
      decodeOrRefuse(codec, bytes)
    }), { numRuns: 3000 })
    // Each path was taken many times: the properties above were not checked on nothing.
    expect(outcomes.refused).toBeGreaterThan(500)
    expect(outcomes.errorFrames).toBeGreaterThan(100)
    expect(outcomes.reencoded).toBeGreaterThan(100)
  })
})
