/**
 * Invite codes (SPEC §13.7) and the RFC 4648 base32 under them: round trips,
 * letter case and separators, the checksum catching typos, bounds, and
 * hostile codes that must be refused with RegistryFormatError.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeBase32, encodeBase32 } from '../../protocol/base32.js'
import {
  createIdentity, decodeInvite, encodeInvite, isInviteCode, nativeCrypto, nobleCrypto, publicIdentityOf,
  RegistryFormatError, type Invite
} from '../../protocol/index.js'

const native = nativeCrypto()
const noble = nobleCrypto()
const alice = publicIdentityOf(createIdentity(native))
const ADDRESSES = ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA', '/dns4/komrade.example/tcp/443/wss']
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const PREFIX = 'KOMRADE1-'

/** An invite code for raw body bytes: the checksum is right whatever the body says. */
function codeFor (body: Uint8Array): string {
  return PREFIX + encodeBase32(Uint8Array.of(...body, ...native.sha256(body).subarray(0, 4)))
}

function body (fields: { version?: number, name?: Uint8Array, addresses?: Uint8Array[], count?: number }): Uint8Array {
  const name = fields.name ?? new Uint8Array(0)
  const addresses = fields.addresses ?? []
  const parts = [fields.version ?? 1, ...alice.signingKey, ...alice.sealingKey, name.length, ...name, fields.count ?? addresses.length]
  for (const address of addresses) parts.push(address.length >> 8, address.length & 0xff, ...address)
  return Uint8Array.from(parts)
}

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('base32', () => {
  it('matches the RFC 4648 §10 vectors, without padding', () => {
    const vectors: Array<[string, string]> = [['', ''], ['f', 'MY'], ['fo', 'MZXQ'], ['foo', 'MZXW6'], ['foob', 'MZXW6YQ'], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI']]
    for (const [plain, encoded] of vectors) {
      expect(encodeBase32(ascii(plain))).toBe(encoded)
      expect(decodeBase32(encoded)).toEqual(ascii(plain))
      expect(decodeBase32(encoded.toLowerCase())).toEqual(ascii(plain))
    }
  })

  it('round trips any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const text = encodeBase32(bytes)
      expect(text).toMatch(/^[A-Z2-7]*$/)
      expect(decodeBase32(text)).toEqual(bytes)
    }))
  })

  it('refuses characters outside the alphabet, impossible lengths and non-zero leftover bits', () => {
    for (const bad of ['MZXW0', 'MZXW1', 'MZXW8', 'MZ=W6', 'MZXW\u00e9']) expect(() => decodeBase32(bad)).toThrow(TypeError)
    for (const bad of ['M', 'MZX', 'MZXW6YTBO']) expect(() => decodeBase32(bad)).toThrow(RangeError)
    expect(() => decodeBase32('MZ')).toThrow(RangeError) // "f" is MY: Z sets a leftover bit
  })
})

describe('invite codes', () => {
  it('round trip with a name and addresses, with both providers', () => {
    const invite: Invite = { identity: alice, name: 'alice', addresses: ADDRESSES }
    const code = encodeInvite(invite, native)
    expect(code.startsWith(PREFIX)).toBe(true)
    expect(encodeInvite(invite, noble)).toBe(code)
    // Only characters of the QR alphanumeric mode.
    expect(code).toMatch(/^[0-9A-Z $%*+\-./:]+$/)
    for (const crypto of [native, noble]) expect(decodeInvite(code, crypto)).toEqual(invite)
  })

  it('without a name and without addresses: the smallest code', () => {
    const code = encodeInvite({ identity: alice, addresses: [] }, native)
    expect(code.length).toBe(PREFIX.length + Math.ceil(71 * 8 / 5))
    expect(decodeInvite(code, native)).toEqual({ identity: alice, addresses: [] })
    expect(decodeInvite(encodeInvite({ identity: alice, name: '', addresses: [] }, native), native)).toEqual({ identity: alice, addresses: [] })
  })

  it('normalises the name when encoding and refuses a bad one', () => {
    expect(decodeInvite(encodeInvite({ identity: alice, name: 'Alice', addresses: [] }, native), native).name).toBe('alice')
    expect(() => encodeInvite({ identity: alice, name: '\u0430lice', addresses: [] }, native)).toThrow(/U\+0430/)
  })

  it('reads any letter case, with spaces, dashes and line breaks after the prefix', () => {
    const invite: Invite = { identity: alice, name: 'alice', addresses: ADDRESSES.slice(0, 1) }
    const code = encodeInvite(invite, native)
    const payload = code.slice(PREFIX.length)
    expect(decodeInvite(code.toLowerCase(), native)).toEqual(invite)
    expect(decodeInvite(`  ${PREFIX}${payload.match(/.{1,4}/g)!.join(' ')}\n`, native)).toEqual(invite)
    expect(decodeInvite(`komrade1-${payload.match(/.{1,5}/g)!.join('-')}`, native)).toEqual(invite)
    expect(decodeInvite(`${PREFIX}${payload.match(/.{1,40}/g)!.join('\r\n')}`, native)).toEqual(invite)
  })

  it('the checksum catches every single-character typo, deletion and swap', () => {
    const invite: Invite = { identity: alice, name: 'bob', addresses: ADDRESSES.slice(1) }
    const code = encodeInvite(invite, native)
    let checked = 0
    for (let i = PREFIX.length; i < code.length; i++) {
      for (const replacement of ALPHABET) {
        if (replacement === code[i]) continue
        expect(() => decodeInvite(code.slice(0, i) + replacement + code.slice(i + 1), native), `position ${i} -> ${replacement}`).toThrow(RegistryFormatError)
        checked++
      }
      expect(() => decodeInvite(code.slice(0, i) + code.slice(i + 1), native)).toThrow(RegistryFormatError)
      if (i + 1 < code.length && code[i] !== code[i + 1]) {
        expect(() => decodeInvite(code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2), native)).toThrow(RegistryFormatError)
      }
    }
    expect(checked).toBe((code.length - PREFIX.length) * 31)
    expect(() => decodeInvite(code.slice(0, 60), native)).toThrow(/part of it is missing|damaged/)
  })

  it('a typo gets a message that says what to do', () => {
    const code = encodeInvite({ identity: alice, addresses: [] }, native)
    const typo = code.slice(0, 20) + (code[20] === 'A' ? 'B' : 'A') + code.slice(21)
    expect(() => decodeInvite(typo, native)).toThrow(/does not check out.*Copy it again/)
    expect(() => decodeInvite(code.slice(0, 20) + '0' + code.slice(21), native)).toThrow(/"0" at position .* not a base32 character/)
  })

  it('carries at most 8 addresses of at most 512 bytes', () => {
    const eight = Array.from({ length: 8 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4001`)
    expect(decodeInvite(encodeInvite({ identity: alice, addresses: eight }, native), native).addresses).toEqual(eight)
    expect(() => encodeInvite({ identity: alice, addresses: [...eight, '/ip4/10.0.0.9/tcp/1'] }, native)).toThrow(RangeError)
    expect(() => decodeInvite(codeFor(body({ addresses: [...eight, '/ip4/10.0.0.9/tcp/1'].map(ascii) })), native)).toThrow(/at most 8 addresses/)
    const long = '/dns4/' + 'a'.repeat(506)
    expect(decodeInvite(encodeInvite({ identity: alice, addresses: [long] }, native), native).addresses).toEqual([long])
    expect(() => encodeInvite({ identity: alice, addresses: [long + 'a'] }, native)).toThrow(RangeError)
    expect(() => decodeInvite(codeFor(body({ addresses: [ascii(long + 'a')] })), native)).toThrow(/at most 512 bytes/)
  })

  it('refuses addresses that are not multiaddr strings', () => {
    for (const address of ['', 'ip4/1.2.3.4', '/ip4/1.2.3.4 /tcp/1', '/ip4/1.2.3.4\n']) {
      expect(() => encodeInvite({ identity: alice, addresses: [address] }, native)).toThrow(TypeError)
    }
    expect(() => decodeInvite(codeFor(body({ addresses: [ascii('http://x')] })), native)).toThrow(/not a multiaddr/)
    expect(() => decodeInvite(codeFor(body({ addresses: [Uint8Array.of(0x2f, 0xff, 0xfe)] })), native)).toThrow(/UTF-8/)
    const unicode = '/dns4/\u043a\u043e\u043c\u0440\u0430\u0434.example/tcp/443/wss'
    expect(decodeInvite(encodeInvite({ identity: alice, addresses: [unicode] }, native), native).addresses).toEqual([unicode])
  })

  it('refuses a wrong prefix, another version, a bad name, extra or missing bytes', () => {
    const code = encodeInvite({ identity: alice, addresses: [] }, native)
    const payload = code.slice(PREFIX.length)
    expect(() => decodeInvite(`hello ${code}`, native)).toThrow(/starts with "KOMRADE1-"/)
    expect(() => decodeInvite(`KOMRADE1${payload}`, native)).toThrow(/starts with "KOMRADE1-"/)
    expect(() => decodeInvite(`KOMRAD1-${payload}`, native)).toThrow(/starts with "KOMRADE1-"/)
    expect(() => decodeInvite(`KOMRADE2-${payload}`, native)).toThrow(/version 2 invite code/)
    expect(() => decodeInvite(`KOMRADE01-${payload}`, native)).toThrow(/version 01 invite code/)
    expect(() => decodeInvite(codeFor(body({ version: 2 })), native)).toThrow(/holds version 2/)
    expect(() => decodeInvite(codeFor(body({ name: ascii('Al') })), native)).toThrow(/invalid name/)
    expect(() => decodeInvite(codeFor(Uint8Array.of(...body({}), 0)), native)).toThrow(/unexpected bytes/)
    expect(() => decodeInvite(codeFor(body({ count: 1 })), native)).toThrow(/ends inside/)
    expect(() => decodeInvite('', native)).toThrow(RegistryFormatError)
    expect(() => decodeInvite(PREFIX, native)).toThrow(RegistryFormatError)
    expect(() => decodeInvite(42 as unknown as string, native)).toThrow(TypeError)
  })

  it('isInviteCode looks at the prefix only', () => {
    const code = encodeInvite({ identity: alice, addresses: [] }, native)
    expect(isInviteCode(code)).toBe(true)
    expect(isInviteCode(` ${code.toLowerCase()} `)).toBe(true)
    expect(isInviteCode('KOMRADE2-AAAA')).toBe(true) // so the user hears "newer version", not "no such name"
    expect(isInviteCode('alice')).toBe(false)
    expect(isInviteCode('a'.repeat(128))).toBe(false)
    expect(isInviteCode(undefined as unknown as string)).toBe(false)
  })

  it('round trips any invite, and decodes hostile text to RegistryFormatError only', () => {
    const nameArb = fc.option(fc.string({ unit: fc.constantFrom(...'abcxyz019_'), minLength: 3, maxLength: 32 }), { nil: undefined })
    const addressArb = fc.string({ unit: fc.constantFrom(...'abc/:.0129\u00e9\u043a'), maxLength: 60 }).map((s) => '/' + s)
    fc.assert(fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), nameArb, fc.array(addressArb, { maxLength: 8 }), (keys, name, addresses) => {
      const invite: Invite = { identity: { signingKey: keys.slice(0, 32), sealingKey: keys.slice(32) }, addresses, ...(name !== undefined ? { name } : {}) }
      expect(decodeInvite(encodeInvite(invite, native), native)).toEqual(invite)
    }), { numRuns: 300 })
    const hostile = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: fc.constantFrom(...ALPHABET, ' ', '-', 'a', '0'), maxLength: 300 }).map((s) => PREFIX + s),
      fc.uint8Array({ maxLength: 200 }).map(codeFor) // checksum right, contents random
    )
    fc.assert(fc.property(hostile, (text) => {
      try {
        decodeInvite(text, native)
      } catch (error) {
        expect(error).toBeInstanceOf(RegistryFormatError)
      }
    }), { numRuns: 2000 })
  })
})
