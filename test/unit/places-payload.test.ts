/**
 * Places payloads (SPEC §15.9, §15.10): a post's location, map pins, events
 * and RSVPs. Layouts byte by byte, every limit at its edge and one past it on
 * both the encoder and the decoder (hand-built bytes for the decoder), every
 * refusal reason, fast-check round trips and fuzz showing the decoders throw
 * nothing but PostFormatError. RSVPs: only the host's key opens one, any
 * changed byte or another event id fails, and the signature binds the
 * responder (answers sealed by hand from the SPEC text).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createIdentity, decodeEvent, decodePin, decodePost, encodeEvent, encodePin, encodePost, nativeCrypto, nobleCrypto, openRsvp,
  rsvpEventId, sealRsvp, PostFormatError, EVENT_ID_LENGTH, GEOHASH_ALPHABET, MAX_EVENT_DESCRIPTION_CHARS, MAX_EVENT_PAYLOAD_LENGTH,
  MAX_EVENT_PLACE_CHARS, MAX_EVENT_TITLE_BYTES, MAX_EVENT_TITLE_CHARS, MAX_PIN_GEOHASH, MAX_PIN_NOTE_CHARS, MAX_PIN_PAYLOAD_LENGTH,
  MAX_POST_CERTIFICATE_LENGTH, MAX_POST_GEOHASH, MAX_POST_IMAGE_BYTES, MAX_POST_PARTS, MAX_POST_PAYLOAD_LENGTH, MAX_POST_TEXT_CHARS,
  MAX_RSVP_LENGTH, PIN_KINDS, POST_BODY_CAPACITY, RSVP_CHOICES, RSVP_LABEL,
  type CryptoProvider, type EventPayload, type Identity, type PinPayload, type PostFormatReason
} from '../../protocol/index.js'
import { EVENT_CHANNEL_LABEL, eventChannelKey } from '../../protocol/event-payload.js'
import { createHmac } from 'node:crypto'

const native = nativeCrypto()
const noble = nobleCrypto()
const enc = new TextEncoder()
const EMOJI = '\u{1F600}' // one code point, four UTF-8 bytes
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)

function u16 (n: number): number[] { return [n >> 8, n & 0xff] }
function u32 (n: number): number[] { return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff] }
function u64 (n: number): number[] { return [...u32(Math.floor(n / 2 ** 32)), ...u32(n >>> 0)] }
function ascii (s: string): number[] { return [...enc.encode(s)] }

function reasonOf (fn: () => unknown): PostFormatReason | 'no error' | string {
  try {
    fn()
    return 'no error'
  } catch (error) {
    if (error instanceof PostFormatError) return error.reason
    return `${(error as Error).name}: ${(error as Error).message}`
  }
}

/** Every strict prefix of `whole` is refused with one of `reasons`, and one more byte is refused as trailing. */
function expectTruncationsAndTrailing (whole: Uint8Array, decode: (b: Uint8Array) => unknown, reasons: string[] = ['truncated']): void {
  for (let n = 0; n < whole.length; n++) expect(reasons, `prefix of ${n} bytes`).toContain(reasonOf(() => decode(whole.subarray(0, n))))
  expect(reasonOf(() => decode(Uint8Array.from([...whole, 0])))).toBe('trailing-bytes')
}

describe('post location (flag bit 1)', () => {
  const image = { mime: 'image/png' as const, bytes: Uint8Array.of(7, 8) }

  it('round trips at every length 1..6, with and without image and certificate', () => {
    for (let length = 1; length <= MAX_POST_GEOHASH; length++) {
      const location = 'u4pruydqqvj'.slice(0, length)
      for (const post of [{ text: 'here', location }, { text: '', image, location }, { text: 'x', image, certificate: Uint8Array.of(1), location }]) {
        expect(decodePost(encodePost(post))).toEqual(post)
      }
    }
    expect(decodePost(encodePost({ text: 'nowhere' }))).not.toHaveProperty('location')
  })

  it('the layout: flags bit 1, and the geohash last, after the image or after the text', () => {
    expect([...encodePost({ text: 'hi', location: 'u4p' })]).toEqual([1, 2, 0, 0, 0, 2, ...ascii('hi'), 3, ...ascii('u4p')])
    expect([...encodePost({ text: 'hi', image: { mime: 'image/gif', bytes: Uint8Array.of(5) }, location: 'ezs42' })]).toEqual([
      1, 3, 0, 0, 0, 2, ...ascii('hi'), 9, ...ascii('image/gif'), 0, 0, 0, 1, 5, 5, ...ascii('ezs42')
    ])
  })

  it('the longest post with a location still fits the part bound', () => {
    const longest = encodePost({
      certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH), text: EMOJI.repeat(MAX_POST_TEXT_CHARS),
      image: { mime: 'image/jpeg', bytes: new Uint8Array(MAX_POST_IMAGE_BYTES) }, location: 'zzzzzz'
    })
    expect(longest.length).toBe(MAX_POST_PAYLOAD_LENGTH)
    expect(Math.ceil(longest.length / POST_BODY_CAPACITY)).toBeLessThanOrEqual(MAX_POST_PARTS)
  })

  it('the encoder refuses a location that is not 1..6 lower-case geohash characters', () => {
    for (const bad of ['', 'u4pruy0', 'U4P', 'u4a', 'u4 ', 'ö']) {
      expect(reasonOf(() => encodePost({ text: 'x', location: bad })), JSON.stringify(bad)).toBe('bad-geohash')
    }
    expect(reasonOf(() => encodePost({ text: 'x', location: 5 as unknown as string }))).toMatch(/^TypeError/)
    expect(reasonOf(() => encodePost({ text: '', location: 'u4p' }))).toBe('empty')
  })

  it('the decoder refuses bad lengths, characters, a cut location and bytes after it', () => {
    const post = (geohash: number[]): Uint8Array => Uint8Array.from([1, 2, 0, 0, 0, 1, 0x78, ...geohash])
    expect(decodePost(post([6, ...ascii('u4pruy')])).location).toBe('u4pruy')
    expect(reasonOf(() => decodePost(post([0])))).toBe('bad-geohash')
    expect(reasonOf(() => decodePost(post([7, ...ascii('u4pruyd')])))).toBe('bad-geohash')
    for (const c of ['a', 'i', 'l', 'o', 'A', ' ', '\u0000']) expect(reasonOf(() => decodePost(post([2, 0x75, c.charCodeAt(0)])))).toBe('bad-geohash')
    expect(reasonOf(() => decodePost(post([2, 0x75, 0xf5])))).toBe('bad-geohash')
    expect(reasonOf(() => decodePost(post([]))))
      .toBe('truncated')
    expect(reasonOf(() => decodePost(post([3, ...ascii('u4')])))).toBe('truncated')
    expect(reasonOf(() => decodePost(post([2, ...ascii('u4'), 0])))).toBe('trailing-bytes')
    expect(reasonOf(() => decodePost(Uint8Array.from([1, 2, 0, 0, 0, 0, 3, ...ascii('u4p')])))).toBe('empty')
  })
})

describe('pin codec', () => {
  const certificate = Uint8Array.of(9, 9, 9)

  it('round trips every kind, with and without certificate, every geohash length', () => {
    for (const kind of PIN_KINDS) {
      for (let length = 1; length <= MAX_PIN_GEOHASH; length++) {
        const pin: PinPayload = { kind, geohash: 'u4pruydqqvj'.slice(0, length), note: `${kind} ${EMOJI}` }
        expect(decodePin(encodePin(pin))).toEqual(pin)
        expect(decodePin(encodePin({ ...pin, certificate }))).toEqual({ ...pin, certificate })
      }
    }
    expect(decodePin(encodePin({ kind: 'info', geohash: 's', note: '' }))).toEqual({ kind: 'info', geohash: 's', note: '' })
  })

  it('the layout is the one in SPEC §15.10', () => {
    expect([...encodePin({ kind: 'police', geohash: 'ezs42', note: 'hi' })]).toEqual([1, 0, 1, 5, ...ascii('ezs42'), 0, 2, ...ascii('hi')])
    expect([...encodePin({ kind: 'other', geohash: 'u', note: '', certificate: Uint8Array.of(7) })]).toEqual([1, 1, 5, 1, ...ascii('u'), 0, 0, 0, 1, 7])
    expect(PIN_KINDS.map((kind) => encodePin({ kind, geohash: 'u', note: '' })[2])).toEqual([1, 2, 3, 4, 5])
  })

  it('the longest pin fits one envelope', () => {
    const longest = encodePin({
      kind: 'danger', geohash: 'zzzzzzzzz', note: EMOJI.repeat(MAX_PIN_NOTE_CHARS), certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH)
    })
    expect(longest.length).toBe(MAX_PIN_PAYLOAD_LENGTH)
    expect(MAX_PIN_PAYLOAD_LENGTH).toBe(1471)
    expect(MAX_PIN_PAYLOAD_LENGTH).toBeLessThanOrEqual(POST_BODY_CAPACITY)
  })

  it('encoder refusals', () => {
    const ok: PinPayload = { kind: 'help', geohash: 'u4pruydqq', note: 'n' }
    expect(reasonOf(() => encodePin({ ...ok, kind: 'fire' as 'help' }))).toBe('unknown-pin-kind')
    for (const geohash of ['', 'u4pruydqqv', 'U4P', 'u4a']) expect(reasonOf(() => encodePin({ ...ok, geohash }))).toBe('bad-geohash')
    expect(decodePin(encodePin({ ...ok, note: EMOJI.repeat(MAX_PIN_NOTE_CHARS) })).note).toBe(EMOJI.repeat(MAX_PIN_NOTE_CHARS))
    expect(reasonOf(() => encodePin({ ...ok, note: 'a'.repeat(MAX_PIN_NOTE_CHARS + 1) }))).toBe('note-too-long')
    expect(reasonOf(() => encodePin({ ...ok, note: 'a\uD800' }))).toBe('not-utf8')
    expect(reasonOf(() => encodePin({ ...ok, certificate: new Uint8Array(0) }))).toBe('empty-certificate')
    expect(reasonOf(() => encodePin({ ...ok, certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH + 1) }))).toBe('certificate-too-long')
  })

  /** A pin laid out by hand (no rule checked). */
  function rawPin (f: { version?: number, flags?: number, kind?: number, geohash?: number[], note?: number[], cert?: number[] }): Uint8Array {
    const geohash = f.geohash ?? [1, ...ascii('u')]
    const note = f.note ?? []
    const tail = f.cert === undefined ? [] : [...u16(f.cert.length), ...f.cert]
    return Uint8Array.from([f.version ?? 1, f.flags ?? (f.cert === undefined ? 0 : 1), f.kind ?? 1, ...geohash, ...u16(note.length), ...note, ...tail])
  }

  it('decoder refusals, one per rule', () => {
    expect(decodePin(rawPin({ cert: [1] }))).toEqual({ kind: 'police', geohash: 'u', note: '', certificate: Uint8Array.of(1) })
    expect(reasonOf(() => decodePin(rawPin({ version: 2 })))).toBe('unknown-version')
    expect(reasonOf(() => decodePin(rawPin({ flags: 2 })))).toBe('unknown-flags')
    expect(reasonOf(() => decodePin(rawPin({ flags: 0x80 })))).toBe('unknown-flags')
    for (const kind of [0, 6, 255]) expect(reasonOf(() => decodePin(rawPin({ kind })))).toBe('unknown-pin-kind')
    expect(reasonOf(() => decodePin(rawPin({ geohash: [0] })))).toBe('bad-geohash')
    expect(reasonOf(() => decodePin(rawPin({ geohash: [10, ...ascii('u4pruydqqv')] })))).toBe('bad-geohash')
    expect(decodePin(rawPin({ geohash: [9, ...ascii('u4pruydqq')] })).geohash).toBe('u4pruydqq')
    expect(reasonOf(() => decodePin(rawPin({ geohash: [2, ...ascii('uL')] })))).toBe('bad-geohash')
    expect(reasonOf(() => decodePin(rawPin({ note: ascii('a'.repeat(MAX_PIN_NOTE_CHARS + 1)) })))).toBe('note-too-long')
    expect(reasonOf(() => decodePin(rawPin({ note: new Array(4 * MAX_PIN_NOTE_CHARS + 1).fill(0x61) })))).toBe('note-too-long')
    expect(reasonOf(() => decodePin(rawPin({ note: [0xc0, 0xaf] })))).toBe('not-utf8')
    expect(reasonOf(() => decodePin(rawPin({ cert: [] })))).toBe('empty-certificate')
    expect(reasonOf(() => decodePin(rawPin({ cert: new Array(MAX_POST_CERTIFICATE_LENGTH + 1).fill(1) })))).toBe('certificate-too-long')
    expect(reasonOf(() => decodePin(rawPin({ flags: 0, cert: [1] })))).toBe('trailing-bytes')
    expectTruncationsAndTrailing(encodePin({ kind: 'help', geohash: 'u4p', note: 'n', certificate: Uint8Array.of(1, 2) }), decodePin)
  })
})

describe('event codec', () => {
  const base: EventPayload = {
    eventId: new Uint8Array(EVENT_ID_LENGTH).fill(0xe1), revision: 3, hostKey: new Uint8Array(32).fill(0xa1),
    hostX: new Uint8Array(32).fill(0xa2), channelKey: new Uint8Array(32).fill(0xa3), startsAt: NOW, endsAt: NOW + 3_600_000,
    title: 'Assembly', place: 'The square', description: 'Bring water.', cancelled: false
  }

  it('round trips: named with location, anonymous without, cancelled, open-ended', () => {
    const cases: EventPayload[] = [
      base,
      { ...base, location: 'u4pruydqq', certificate: Uint8Array.of(1, 2, 3) },
      { ...base, location: 'u', cancelled: true },
      { ...base, endsAt: 0, place: '', description: '' },
      { ...base, startsAt: 0, endsAt: 0, revision: 0xffff_ffff },
      { ...base, startsAt: 2 ** 53 - 1, endsAt: 2 ** 53 - 1 },
      { ...base, endsAt: base.startsAt }
    ]
    for (const event of cases) expect(decodeEvent(encodeEvent(event))).toEqual(event)
  })

  it('the layout is the one in SPEC §15.9', () => {
    const bytes = encodeEvent({ ...base, title: 'T', place: 'P', description: 'D', location: 'ezs42', certificate: Uint8Array.of(7), cancelled: true })
    expect([...bytes]).toEqual([
      1, 0b111, ...base.eventId, ...u32(3), ...base.hostKey, ...base.hostX, ...base.channelKey, ...u64(base.startsAt), ...u64(base.endsAt),
      1, ...ascii('T'), ...u16(1), ...ascii('P'), ...u16(1), ...ascii('D'), 5, ...ascii('ezs42'), ...u16(1), 7
    ])
    expect(encodeEvent(base)[1]).toBe(0)
  })

  it('the longest event is MAX_EVENT_PAYLOAD_LENGTH bytes', () => {
    const longest = encodeEvent({
      ...base, title: EMOJI.repeat(63) + '€', place: EMOJI.repeat(MAX_EVENT_PLACE_CHARS), description: EMOJI.repeat(MAX_EVENT_DESCRIPTION_CHARS),
      location: 'zzzzzzzzz', certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH)
    })
    expect(longest.length).toBe(MAX_EVENT_PAYLOAD_LENGTH)
    expect(MAX_EVENT_PAYLOAD_LENGTH).toBe(9540)
  })

  it('title: 1..100 code points and at most 255 bytes; place and description limits', () => {
    expect(decodeEvent(encodeEvent({ ...base, title: 'é'.repeat(MAX_EVENT_TITLE_CHARS) })).title).toBe('é'.repeat(MAX_EVENT_TITLE_CHARS))
    expect(reasonOf(() => encodeEvent({ ...base, title: 'a'.repeat(MAX_EVENT_TITLE_CHARS + 1) }))).toBe('title-too-long')
    expect(enc.encode(EMOJI.repeat(63) + '€').length).toBe(MAX_EVENT_TITLE_BYTES)
    expect(reasonOf(() => encodeEvent({ ...base, title: EMOJI.repeat(64) }))).toBe('title-too-long') // 64 code points, 256 bytes
    expect(reasonOf(() => encodeEvent({ ...base, title: '' }))).toBe('empty')
    expect(reasonOf(() => encodeEvent({ ...base, place: 'p'.repeat(MAX_EVENT_PLACE_CHARS + 1) }))).toBe('place-too-long')
    expect(decodeEvent(encodeEvent({ ...base, place: EMOJI.repeat(MAX_EVENT_PLACE_CHARS) })).place).toBe(EMOJI.repeat(MAX_EVENT_PLACE_CHARS))
    expect(reasonOf(() => encodeEvent({ ...base, description: 'd'.repeat(MAX_EVENT_DESCRIPTION_CHARS + 1) }))).toBe('description-too-long')
    expect(reasonOf(() => encodeEvent({ ...base, description: '\uDC00' }))).toBe('not-utf8')
  })

  it('times: u64 below 2^53, an end at or after the start or none', () => {
    expect(reasonOf(() => encodeEvent({ ...base, endsAt: base.startsAt - 1 }))).toBe('bad-time')
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) {
      expect(reasonOf(() => encodeEvent({ ...base, startsAt: bad, endsAt: 0 })), String(bad)).toBe('bad-time')
      expect(reasonOf(() => encodeEvent({ ...base, endsAt: bad })), String(bad)).toBe('bad-time')
    }
    expect(reasonOf(() => encodeEvent({ ...base, startsAt: '1' as unknown as number }))).toBe('bad-time')
  })

  it('other encoder refusals', () => {
    expect(reasonOf(() => encodeEvent({ ...base, location: 'u4pruydqqv' }))).toBe('bad-geohash')
    expect(reasonOf(() => encodeEvent({ ...base, location: '' }))).toBe('bad-geohash')
    expect(reasonOf(() => encodeEvent({ ...base, certificate: new Uint8Array(0) }))).toBe('empty-certificate')
    expect(reasonOf(() => encodeEvent({ ...base, certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH + 1) }))).toBe('certificate-too-long')
    expect(() => encodeEvent({ ...base, eventId: new Uint8Array(15) })).toThrow(RangeError)
    for (const key of ['hostKey', 'hostX', 'channelKey'] as const) expect(() => encodeEvent({ ...base, [key]: new Uint8Array(31) })).toThrow(RangeError)
    expect(() => encodeEvent({ ...base, revision: 2 ** 32 })).toThrow(RangeError)
    expect(() => encodeEvent({ ...base, revision: -1 })).toThrow(RangeError)
    expect(() => encodeEvent({ ...base, cancelled: 1 as unknown as boolean })).toThrow(TypeError)
  })

  /** An event laid out by hand. */
  function rawEvent (f: { flags?: number, version?: number, startsAt?: number[], endsAt?: number[], title?: number[], place?: number[], description?: number[], tail?: number[] }): Uint8Array {
    const title = f.title ?? ascii('T')
    const place = f.place ?? []
    const description = f.description ?? []
    return Uint8Array.from([
      f.version ?? 1, f.flags ?? 0, ...base.eventId, ...u32(1), ...base.hostKey, ...base.hostX, ...base.channelKey,
      ...(f.startsAt ?? u64(10)), ...(f.endsAt ?? u64(0)), title.length, ...title, ...u16(place.length), ...place,
      ...u16(description.length), ...description, ...(f.tail ?? [])
    ])
  }

  it('decoder refusals, one per rule', () => {
    expect(decodeEvent(rawEvent({})).title).toBe('T')
    expect(reasonOf(() => decodeEvent(rawEvent({ version: 0 })))).toBe('unknown-version')
    expect(reasonOf(() => decodeEvent(rawEvent({ flags: 8 })))).toBe('unknown-flags')
    expect(reasonOf(() => decodeEvent(rawEvent({ startsAt: [0, 0x20, 0, 0, 0, 0, 0, 0] })))).toBe('bad-time') // 2^53
    expect(decodeEvent(rawEvent({ startsAt: [0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] })).startsAt).toBe(2 ** 53 - 1)
    expect(reasonOf(() => decodeEvent(rawEvent({ endsAt: [0xff, 0, 0, 0, 0, 0, 0, 0] })))).toBe('bad-time')
    expect(reasonOf(() => decodeEvent(rawEvent({ startsAt: u64(10), endsAt: u64(9) })))).toBe('bad-time')
    expect(decodeEvent(rawEvent({ startsAt: u64(10), endsAt: u64(10) })).endsAt).toBe(10)
    expect(reasonOf(() => decodeEvent(rawEvent({ title: [] })))).toBe('empty')
    expect(reasonOf(() => decodeEvent(rawEvent({ title: ascii('t'.repeat(MAX_EVENT_TITLE_CHARS + 1)) })))).toBe('title-too-long')
    expect(reasonOf(() => decodeEvent(rawEvent({ title: [0xff] })))).toBe('not-utf8')
    expect(reasonOf(() => decodeEvent(rawEvent({ place: ascii('p'.repeat(MAX_EVENT_PLACE_CHARS + 1)) })))).toBe('place-too-long')
    expect(reasonOf(() => decodeEvent(rawEvent({ place: new Array(4 * MAX_EVENT_PLACE_CHARS + 1).fill(0x70) })))).toBe('place-too-long')
    expect(reasonOf(() => decodeEvent(rawEvent({ description: ascii('d'.repeat(MAX_EVENT_DESCRIPTION_CHARS + 1)) })))).toBe('description-too-long')
    expect(reasonOf(() => decodeEvent(rawEvent({ flags: 2, tail: [0] })))).toBe('bad-geohash')
    expect(reasonOf(() => decodeEvent(rawEvent({ flags: 2, tail: [10, ...ascii('u4pruydqqv')] })))).toBe('bad-geohash')
    expect(reasonOf(() => decodeEvent(rawEvent({ flags: 2, tail: [1, ...ascii('o')] })))).toBe('bad-geohash')
    expect(decodeEvent(rawEvent({ flags: 3, tail: [1, ...ascii('u'), 0, 1, 5] }))).toMatchObject({ location: 'u', certificate: Uint8Array.of(5) })
    expect(reasonOf(() => decodeEvent(rawEvent({ flags: 1, tail: [0, 0] })))).toBe('empty-certificate')
    expect(reasonOf(() => decodeEvent(rawEvent({ flags: 1, tail: [...u16(MAX_POST_CERTIFICATE_LENGTH + 1)] })))).toBe('certificate-too-long')
    expect(decodeEvent(rawEvent({ flags: 4 })).cancelled).toBe(true)
    expectTruncationsAndTrailing(encodeEvent({ ...base, location: 'u4p', certificate: Uint8Array.of(1) }), decodeEvent)
  })
})

describe('event channel key (SPEC §15.9)', () => {
  const event = { eventId: new Uint8Array(EVENT_ID_LENGTH).fill(0xe1), hostKey: new Uint8Array(32).fill(0xa1), channelKey: new Uint8Array(32).fill(0xa3) }

  it('is HMAC-SHA256(channelKey, "komrade/v1/event/channel" || eventId || hostKey), the same under both providers', () => {
    // Reference: node:crypto, not the provider under test.
    const reference = createHmac('sha256', event.channelKey).update(Buffer.concat([Buffer.from(EVENT_CHANNEL_LABEL), event.eventId, event.hostKey])).digest('hex')
    expect(EVENT_CHANNEL_LABEL).toBe('komrade/v1/event/channel')
    expect(Buffer.from(eventChannelKey(native, event)).toString('hex')).toBe(reference)
    expect(Buffer.from(eventChannelKey(noble, event)).toString('hex')).toBe(reference)
  })

  it('differs from the channelKey it comes from, and with each of eventId, hostKey and channelKey', () => {
    const hex = (e: typeof event): string => Buffer.from(eventChannelKey(native, e)).toString('hex')
    const seen = new Set([
      hex(event), Buffer.from(event.channelKey).toString('hex'),
      hex({ ...event, eventId: new Uint8Array(EVENT_ID_LENGTH).fill(0xe2) }),
      hex({ ...event, hostKey: new Uint8Array(32).fill(0xb1) }),
      hex({ ...event, channelKey: new Uint8Array(32).fill(0xb3) })
    ])
    expect(seen.size).toBe(5)
  })

  it('refuses keys and ids of the wrong size', () => {
    expect(() => eventChannelKey(native, { ...event, eventId: new Uint8Array(15) })).toThrow(RangeError)
    expect(() => eventChannelKey(native, { ...event, hostKey: new Uint8Array(31) })).toThrow(RangeError)
    expect(() => eventChannelKey(native, { ...event, channelKey: new Uint8Array(33) })).toThrow(RangeError)
  })
})

describe('RSVP sealing', () => {
  const host = createIdentity(native) // hostX = host.sealingKey, its secret opens
  const alice = createIdentity(native)
  const bob = createIdentity(native)
  const eventId = new Uint8Array(EVENT_ID_LENGTH).fill(0x42)
  const otherEvent = new Uint8Array(EVENT_ID_LENGTH).fill(0x43)

  function rsvpFrom (responder: Identity, init: { choice?: typeof RSVP_CHOICES[number], note?: string, id?: Uint8Array } = {}): Uint8Array {
    return sealRsvp(native, { eventId: init.id ?? eventId, hostKey: host.signingKey, hostX: host.sealingKey, responder, choice: init.choice ?? 'going', note: init.note ?? '', now: NOW })
  }

  /** Seals an answer by hand, from the SPEC text: ECIES to hostX, HKDF(salt eventId, info label), aad = the 49-byte header. */
  function sealAnswer (crypto: CryptoProvider, answer: Uint8Array, id: Uint8Array = eventId): Uint8Array {
    const ephemeral = crypto.x25519KeyPair()
    const okm = crypto.hkdfSha256(crypto.x25519(ephemeral.secretKey, host.sealingKey)!, id, enc.encode('komrade/v1/event/rsvp'), 44)
    const header = Uint8Array.from([1, ...id, ...ephemeral.publicKey])
    return Uint8Array.from([...header, ...crypto.aeadSeal(okm.subarray(0, 32), okm.subarray(32, 44), answer, header)])
  }

  /** An answer laid out by hand, signed by `signer` over label || eventId || hostKey || hostX || the answer before the signature. */
  function answerBytes (signer: Identity, f: { choice?: number, ed?: Uint8Array, x?: Uint8Array, time?: number[], note?: number[], signFor?: Uint8Array, signHost?: Uint8Array, signHostX?: Uint8Array, tail?: number[] } = {}): Uint8Array {
    const note = f.note ?? ascii('hi')
    const unsigned = Uint8Array.from([f.choice ?? 1, ...(f.ed ?? signer.signingKey), ...(f.x ?? signer.sealingKey), ...(f.time ?? u64(NOW)), ...u16(note.length), ...note])
    const signature = native.ed25519Sign(signer.signingSeed, Uint8Array.from([...enc.encode(RSVP_LABEL), ...(f.signFor ?? eventId), ...(f.signHost ?? host.signingKey), ...(f.signHostX ?? host.sealingKey), ...unsigned]))
    return Uint8Array.from([...unsigned, ...signature, ...(f.tail ?? [])])
  }

  it('round trips every choice, across crypto providers; the host learns who answered', () => {
    for (const choice of RSVP_CHOICES) {
      for (const [sealer, opener] of [[native, noble], [noble, native]] as const) {
        const body = sealRsvp(sealer, { eventId, hostKey: host.signingKey, hostX: host.sealingKey, responder: alice, choice, note: `${choice} ${EMOJI}`, now: NOW })
        const opened = openRsvp(opener, body, host.sealingSecret, undefined, host.signingKey)
        expect(opened).toEqual({
          eventId, choice, responder: { signingKey: alice.signingKey, sealingKey: alice.sealingKey }, timestamp: NOW, note: `${choice} ${EMOJI}`
        })
      }
    }
    const before = Date.now()
    const opened = openRsvp(native, sealRsvp(native, { eventId, hostKey: host.signingKey, hostX: host.sealingKey, responder: bob, choice: 'maybe' }), host.sealingSecret, undefined, host.signingKey)!
    expect(opened.timestamp).toBeGreaterThanOrEqual(before)
    expect(opened.note).toBe('')
  })

  it('the layout: version, event id, a fresh ephemeral key, then the sealed answer', () => {
    const a = rsvpFrom(alice, { note: 'hi' })
    const b = rsvpFrom(alice, { note: 'hi' })
    expect(a[0]).toBe(1)
    expect([...a.subarray(1, 17)]).toEqual([...eventId])
    expect(a.length).toBe(49 + 75 + 2 + 64 + 16)
    expect(Buffer.from(a.subarray(17, 49)).equals(Buffer.from(b.subarray(17, 49)))).toBe(false)
    expect(rsvpEventId(a)).toEqual(eventId)
    expect(rsvpEventId(a.subarray(0, 100))).toBeUndefined()
    // The SPEC's construction, sealed by hand, opens with openRsvp.
    expect(openRsvp(native, sealAnswer(noble, answerBytes(alice)), host.sealingSecret, undefined, host.signingKey)?.note).toBe('hi')
  })

  it('the longest RSVP fits one envelope', () => {
    const longest = rsvpFrom(alice, { note: EMOJI.repeat(MAX_PIN_NOTE_CHARS) })
    expect(longest.length).toBe(MAX_RSVP_LENGTH)
    expect(MAX_RSVP_LENGTH).toBe(1324)
    expect(MAX_RSVP_LENGTH).toBeLessThanOrEqual(POST_BODY_CAPACITY)
    expect(openRsvp(native, longest, host.sealingSecret, undefined, host.signingKey)?.note).toBe(EMOJI.repeat(MAX_PIN_NOTE_CHARS))
  })

  it('only the host key opens it', () => {
    const body = rsvpFrom(alice)
    expect(openRsvp(native, body, host.sealingSecret, undefined, host.signingKey)).toBeDefined()
    expect(openRsvp(native, body, alice.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, body, bob.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, body, native.randomBytes(32), undefined, host.signingKey)).toBeUndefined()
  })

  it('any changed byte fails, as does a cut or longer body', () => {
    const body = rsvpFrom(alice, { note: 'see you' })
    for (let i = 0; i < body.length; i++) {
      const tampered = Uint8Array.from(body)
      tampered[i]! ^= 1 << (i % 8)
      expect(openRsvp(native, tampered, host.sealingSecret, undefined, host.signingKey), `byte ${i}`).toBeUndefined()
    }
    expect(openRsvp(native, body.subarray(0, body.length - 1), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, Uint8Array.from([...body, 0]), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
  })

  it('another event id fails: moved under another id, or opened for another event', () => {
    const body = rsvpFrom(alice)
    const moved = Uint8Array.from(body)
    moved.set(otherEvent, 1)
    expect(openRsvp(native, moved, host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, body, host.sealingSecret, otherEvent, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, body, host.sealingSecret, eventId, host.signingKey)?.choice).toBe('going')
    // An answer signed for another event, sealed by hand under this one: the signature covers the event id.
    expect(openRsvp(native, sealAnswer(native, answerBytes(alice, { signFor: otherEvent })), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, sealAnswer(native, answerBytes(alice, { signFor: otherEvent }), otherEvent), host.sealingSecret, undefined, host.signingKey)?.eventId).toEqual(otherEvent)
  })

  it('the signature binds the host\'s keys: an answer cannot be shown as one to another host\'s event with the same id', () => {
    const body = rsvpFrom(alice)
    expect(openRsvp(native, body, host.sealingSecret, eventId, host.signingKey)?.choice).toBe('going')
    // The host (who can open it) claims it answers an event with the same id under another host key: refused.
    expect(openRsvp(native, body, host.sealingSecret, eventId, bob.signingKey)).toBeUndefined()
    // Answers signed for another hostKey or another hostX, sealed to this host: refused.
    expect(openRsvp(native, sealAnswer(native, answerBytes(alice, { signHost: bob.signingKey })), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, sealAnswer(native, answerBytes(alice, { signHostX: bob.sealingKey })), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, sealAnswer(native, answerBytes(alice)), host.sealingSecret, undefined, host.signingKey)?.note).toBe('hi')
    expect(() => openRsvp(native, body, host.sealingSecret, undefined, new Uint8Array(31))).toThrow(RangeError)
    expect(() => sealRsvp(native, { eventId, hostKey: new Uint8Array(31), hostX: host.sealingKey, responder: alice, choice: 'going' })).toThrow(RangeError)
  })

  it('the signature binds the responder: nobody answers in someone else\'s name', () => {
    expect(openRsvp(native, sealAnswer(native, answerBytes(alice)), host.sealingSecret, undefined, host.signingKey)?.responder.signingKey).toEqual(alice.signingKey)
    // Alice signs but names Bob: refused.
    expect(openRsvp(native, sealAnswer(native, answerBytes(alice, { ed: bob.signingKey })), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    // Bob's keys put in place of Alice's after she signed: refused (the keys are signed bytes).
    for (const [offset, key] of [[1, bob.signingKey], [33, bob.sealingKey]] as const) {
      const swapped = answerBytes(alice)
      swapped.set(key, offset)
      expect(openRsvp(native, sealAnswer(native, swapped), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    }
    // A signature by the right key over other content (choice changed after signing) is refused.
    const answer = answerBytes(alice)
    answer[0] = 3
    expect(openRsvp(native, sealAnswer(native, answer), host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
  })

  it('malformed answers under a valid seal are refused', () => {
    const open = (answer: Uint8Array): unknown => openRsvp(native, sealAnswer(native, answer), host.sealingSecret, undefined, host.signingKey)
    expect(open(answerBytes(alice, { choice: 3 }))).toMatchObject({ choice: 'not-going' })
    for (const choice of [0, 4, 255]) expect(open(answerBytes(alice, { choice }))).toBeUndefined()
    expect(open(answerBytes(alice, { time: [0, 0x20, 0, 0, 0, 0, 0, 0] }))).toBeUndefined()
    expect(open(answerBytes(alice, { note: ascii('n'.repeat(MAX_PIN_NOTE_CHARS + 1)) }))).toBeUndefined()
    expect(open(answerBytes(alice, { note: [0xed, 0xa0, 0x80] }))).toBeUndefined()
    expect(open(answerBytes(alice, { tail: [0] }))).toBeUndefined()
    expect(open(answerBytes(alice).subarray(0, 100))).toBeUndefined()
    expect(open(new Uint8Array(0))).toBeUndefined()
  })

  it('sealRsvp refusals', () => {
    const init = { eventId, hostKey: host.signingKey, hostX: host.sealingKey, responder: alice, choice: 'going' as const, now: NOW }
    expect(reasonOf(() => sealRsvp(native, { ...init, note: 'n'.repeat(MAX_PIN_NOTE_CHARS + 1) }))).toBe('note-too-long')
    expect(reasonOf(() => sealRsvp(native, { ...init, now: -1 }))).toBe('bad-time')
    expect(() => sealRsvp(native, { ...init, choice: 'yes' as 'going' })).toThrow(RangeError)
    expect(() => sealRsvp(native, { ...init, eventId: new Uint8Array(15) })).toThrow(RangeError)
    expect(() => sealRsvp(native, { ...init, hostX: new Uint8Array(31) })).toThrow(RangeError)
    expect(() => sealRsvp(native, { ...init, hostX: new Uint8Array(32) })).toThrow(/low-order/) // no shared secret
    expect(() => openRsvp(native, rsvpFrom(alice), new Uint8Array(31), undefined, host.signingKey)).toThrow(RangeError)
  })

  it('openRsvp never throws on hostile bytes', () => {
    const valid = rsvpFrom(alice, { note: 'x' })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1400 }), fc.boolean(), (bytes, keepHeader) => {
      const body = keepHeader && bytes.length > 49 ? Uint8Array.from([...valid.subarray(0, 49), ...bytes.subarray(49)]) : bytes
      expect(openRsvp(native, body, host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
      expect(openRsvp(noble, body, host.sealingSecret, eventId, host.signingKey)).toBeUndefined()
    }), { numRuns: 300 })
    // Low-order ephemeral keys and non-bytes.
    const lowOrder = Uint8Array.from(valid)
    lowOrder.fill(0, 17, 49)
    expect(openRsvp(native, lowOrder, host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
    expect(openRsvp(native, 'rsvp' as unknown as Uint8Array, host.sealingSecret, undefined, host.signingKey)).toBeUndefined()
  })
})

describe('fuzz: pin, event and located-post decoders are total and canonical', () => {
  const validEvent = encodeEvent({
    eventId: new Uint8Array(16).fill(1), revision: 2, hostKey: new Uint8Array(32).fill(2), hostX: new Uint8Array(32).fill(3),
    channelKey: new Uint8Array(32).fill(4), startsAt: NOW, endsAt: NOW + 1, title: 'Tîtle', place: 'P', description: 'D 😀',
    location: 'u4pru', certificate: Uint8Array.of(1, 2), cancelled: false
  })
  const cases: Array<[string, Uint8Array, (b: Uint8Array) => unknown, (v: never) => Uint8Array]> = [
    ['pin', encodePin({ kind: 'danger', geohash: 'u4pruydqq', note: 'nöte', certificate: Uint8Array.of(1, 2, 3) }), decodePin, encodePin as (v: never) => Uint8Array],
    ['event', validEvent, decodeEvent, encodeEvent as (v: never) => Uint8Array],
    ['post', encodePost({ text: 'héllo', image: { mime: 'image/png', bytes: Uint8Array.of(1) }, location: 'ezs42' }), decodePost, encodePost as (v: never) => Uint8Array]
  ]

  it('random bytes: only PostFormatError', () => {
    for (const [, , decode] of cases) {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          decode(bytes)
          return true
        } catch (error) {
          return error instanceof PostFormatError
        }
      }), { numRuns: 1500 })
    }
  })

  it('mutations of valid payloads: only PostFormatError, and what decodes re-encodes to the same bytes', () => {
    for (const [name, valid, decode, encode] of cases) {
      fc.assert(fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: -3, max: 3 }),
        (edits, resize) => {
          const bytes = new Uint8Array(Math.max(0, valid.length + resize))
          bytes.set(valid.subarray(0, bytes.length))
          for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value
          try {
            const decoded = decode(bytes)
            expect([...encode(decoded as never)], name).toEqual([...bytes])
            return true
          } catch (error) {
            return error instanceof PostFormatError
          }
        }), { numRuns: 1500 })
    }
  })

  const geohash = (max: number) => fc.string({ unit: fc.constantFrom(...GEOHASH_ALPHABET), minLength: 1, maxLength: max })
  const certificate = fc.option(fc.uint8Array({ minLength: 1, maxLength: MAX_POST_CERTIFICATE_LENGTH }), { nil: undefined })

  it('arbitrary pins, events and located posts within the limits round trip', () => {
    fc.assert(fc.property(fc.constantFrom(...PIN_KINDS), geohash(MAX_PIN_GEOHASH), fc.string({ unit: 'grapheme', maxLength: 70 }), certificate,
      (kind, hash, note, cert) => {
        const pin: PinPayload = { kind, geohash: hash, note, ...(cert === undefined ? {} : { certificate: cert }) }
        expect(decodePin(encodePin(pin))).toEqual(pin)
        const post = { text: note.length > 0 ? note : 'x', location: hash.slice(0, MAX_POST_GEOHASH) }
        expect(decodePost(encodePost(post))).toEqual(post)
      }), { numRuns: 300 })
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat({ max: 0xffff_ffff }), fc.uint8Array({ minLength: 96, maxLength: 96 }),
      fc.nat({ max: 2 ** 53 - 1 }), fc.option(fc.nat({ max: 2 ** 53 - 1 }), { nil: undefined }),
      fc.string({ unit: 'grapheme-composite', minLength: 1, maxLength: 40 }), fc.string({ maxLength: 100 }), fc.string({ unit: 'grapheme', maxLength: 300 }),
      fc.option(geohash(MAX_PIN_GEOHASH), { nil: undefined }), certificate, fc.boolean(),
      (eventId, revision, keys, startsAt, span, title, place, description, location, cert, cancelled) => {
        fc.pre([...title].length <= MAX_EVENT_TITLE_CHARS && enc.encode(title).length <= MAX_EVENT_TITLE_BYTES)
        const event: EventPayload = {
          eventId, revision, hostKey: keys.slice(0, 32), hostX: keys.slice(32, 64), channelKey: keys.slice(64),
          startsAt, endsAt: span === undefined ? 0 : Math.max(startsAt, span), title, place, description,
          ...(location === undefined ? {} : { location }), ...(cert === undefined ? {} : { certificate: cert }), cancelled
        }
        expect(decodeEvent(encodeEvent(event))).toEqual(event)
      }), { numRuns: 300 })
  })
})
