/**
 * The social payload codecs (SPEC §14.6): post, profile, circle key. Every
 * limit at its edge and one past it, on both the encoder and the decoder
 * (the decoder gets hand-built bytes, since the encoder refuses to write
 * them); truncations and trailing bytes; and fast-check fuzz showing the
 * decoders never throw anything but PostFormatError.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  codePointLength, decodeCircleKey, decodePost, decodeProfile, encodeCircleKey, encodePost, encodeProfile, PostFormatError,
  CIRCLE_KEY_LENGTH, MAX_AVATAR_BYTES, MAX_BIO_CHARS, MAX_DISPLAY_NAME_BYTES, MAX_DISPLAY_NAME_CHARS, MAX_POST_CERTIFICATE_LENGTH,
  MAX_POST_IMAGE_BYTES, MAX_POST_PARTS, MAX_POST_PAYLOAD_LENGTH, MAX_POST_TEXT_CHARS, MAX_PROFILE_PAYLOAD_LENGTH, POST_BODY_CAPACITY,
  POST_IMAGE_MIMES, type PostFormatReason, type PostPayload, type ProfilePayload
} from '../../protocol/index.js'

const enc = new TextEncoder()

function u16 (n: number): number[] { return [n >> 8, n & 0xff] }
function u32 (n: number): number[] { return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff] }

/** Raw post bytes, laid out by hand from SPEC §14.6 (no limit checked). */
function rawPost (fields: { version?: number, flags?: number, cert?: Uint8Array, text?: Uint8Array, mime?: string, image?: Uint8Array, tail?: number[] }): Uint8Array {
  const cert = fields.cert ?? new Uint8Array(0)
  const text = fields.text ?? new Uint8Array(0)
  const bytes = [fields.version ?? 1, fields.flags ?? (fields.image === undefined ? 0 : 1), ...u16(cert.length), ...cert, ...u16(text.length), ...text]
  if (fields.image !== undefined) {
    const mime = enc.encode(fields.mime ?? 'image/png')
    bytes.push(mime.length, ...mime, ...u32(fields.image.length))
    const out = new Uint8Array(bytes.length + fields.image.length + (fields.tail?.length ?? 0))
    out.set(bytes)
    out.set(fields.image, bytes.length)
    out.set(fields.tail ?? [], bytes.length + fields.image.length)
    return out
  }
  return Uint8Array.from([...bytes, ...(fields.tail ?? [])])
}

/** Raw profile bytes, laid out by hand. */
function rawProfile (fields: { name?: Uint8Array, bio?: Uint8Array, mime?: string, avatar?: Uint8Array, cert?: Uint8Array }): Uint8Array {
  const cert = fields.cert ?? new Uint8Array(0)
  const name = fields.name ?? new Uint8Array(0)
  const bio = fields.bio ?? new Uint8Array(0)
  const bytes = [1, fields.avatar === undefined ? 0 : 1, ...u16(cert.length), ...cert, name.length, ...name, ...u16(bio.length), ...bio]
  if (fields.avatar !== undefined) {
    const mime = enc.encode(fields.mime ?? 'image/webp')
    bytes.push(mime.length, ...mime, ...u32(fields.avatar.length), ...fields.avatar)
  }
  return Uint8Array.from(bytes)
}

function reasonOf (fn: () => unknown): PostFormatReason | 'no error' | string {
  try {
    fn()
    return 'no error'
  } catch (error) {
    if (error instanceof PostFormatError) return error.reason
    return `${(error as Error).name}: ${(error as Error).message}`
  }
}

const EMOJI = '\u{1F600}' // one code point, two UTF-16 units, four UTF-8 bytes

describe('limits are what SPEC §14.6 says', () => {
  it('sizes of the longest payloads and the part bound', () => {
    expect(POST_BODY_CAPACITY).toBe(1787)
    expect(MAX_POST_CERTIFICATE_LENGTH).toBe(334)
    expect(MAX_POST_PAYLOAD_LENGTH).toBe(266_506)
    expect(MAX_PROFILE_PAYLOAD_LENGTH).toBe(35_379)
    expect(MAX_POST_PARTS).toBe(150)
    expect(CIRCLE_KEY_LENGTH).toBe(53)
  })

  it('the longest possible post and profile encode to exactly the stated lengths', () => {
    const post = encodePost({
      certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH), text: EMOJI.repeat(MAX_POST_TEXT_CHARS),
      image: { mime: 'image/jpeg', bytes: new Uint8Array(MAX_POST_IMAGE_BYTES) }, location: 'zzzzzz'
    })
    expect(post.length).toBe(MAX_POST_PAYLOAD_LENGTH)
    // The longest name: 64 code points and 255 bytes (63 four-byte characters and one of three bytes).
    const profile = encodeProfile({
      certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH), displayName: EMOJI.repeat(63) + '€',
      bio: EMOJI.repeat(MAX_BIO_CHARS), avatar: { mime: 'image/webp', bytes: new Uint8Array(MAX_AVATAR_BYTES) }
    })
    expect(profile.length).toBe(MAX_PROFILE_PAYLOAD_LENGTH)
  })
})

describe('post codec', () => {
  const image = { mime: 'image/png' as const, bytes: Uint8Array.of(0x89, 0x50, 0x4e, 0x47) }

  it('round trips text only, image only, both, with and without certificate', () => {
    const cases: PostPayload[] = [
      { text: 'hello' },
      { text: '', image },
      { text: 'caption', image, certificate: Uint8Array.of(1, 2, 3) },
      { text: '\uFEFFleading BOM survives', certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH).fill(7) }
    ]
    for (const post of cases) expect(decodePost(encodePost(post))).toEqual(post)
    for (const mime of POST_IMAGE_MIMES) expect(decodePost(encodePost({ text: '', image: { mime, bytes: Uint8Array.of(1) } })).image?.mime).toBe(mime)
  })

  it('the layout is the one in SPEC §14.6', () => {
    expect([...encodePost({ text: 'hi', certificate: Uint8Array.of(9), image: { mime: 'image/gif', bytes: Uint8Array.of(5) } })]).toEqual([
      1, 1, 0, 1, 9, 0, 2, 0x68, 0x69, 9, ...enc.encode('image/gif'), 0, 0, 0, 1, 5
    ])
  })

  it('text: 1,000 code points pass, 1,001 fail, counted in code points not UTF-16 units', () => {
    for (const unit of ['a', 'é', '€', EMOJI]) {
      expect(decodePost(encodePost({ text: unit.repeat(MAX_POST_TEXT_CHARS) })).text).toBe(unit.repeat(MAX_POST_TEXT_CHARS))
      expect(reasonOf(() => encodePost({ text: unit.repeat(MAX_POST_TEXT_CHARS + 1) }))).toBe('text-too-long')
      expect(reasonOf(() => decodePost(rawPost({ text: enc.encode(unit.repeat(MAX_POST_TEXT_CHARS + 1)) })))).toBe('text-too-long')
    }
    expect(codePointLength(EMOJI.repeat(3) + 'a')).toBe(4)
    expect(codePointLength('\uD800x')).toBe(2) // a lone surrogate counts as one
  })

  it('image: 262,144 bytes pass, 262,145 fail; an empty image fails; unknown types fail', () => {
    const edge = new Uint8Array(MAX_POST_IMAGE_BYTES)
    expect(decodePost(encodePost({ text: '', image: { mime: 'image/jpeg', bytes: edge } })).image?.bytes.length).toBe(MAX_POST_IMAGE_BYTES)
    const over = new Uint8Array(MAX_POST_IMAGE_BYTES + 1)
    expect(reasonOf(() => encodePost({ text: '', image: { mime: 'image/jpeg', bytes: over } }))).toBe('image-too-large')
    expect(reasonOf(() => decodePost(rawPost({ image: over })))).toBe('image-too-large')
    expect(reasonOf(() => encodePost({ text: 'x', image: { mime: 'image/png', bytes: new Uint8Array(0) } }))).toBe('empty-image')
    expect(reasonOf(() => decodePost(rawPost({ text: enc.encode('x'), image: new Uint8Array(0) })))).toBe('empty-image')
    for (const mime of ['image/svg+xml', 'IMAGE/PNG', 'image/png ', 'text/html', '']) {
      expect(reasonOf(() => encodePost({ text: 'x', image: { mime: mime as 'image/png', bytes: Uint8Array.of(1) } }))).toBe('unknown-mime')
      expect(reasonOf(() => decodePost(rawPost({ text: enc.encode('x'), mime, image: Uint8Array.of(1) })))).toBe('unknown-mime')
    }
  })

  it('certificate: 334 bytes pass, 335 fail', () => {
    expect(decodePost(encodePost({ text: 'x', certificate: new Uint8Array(MAX_POST_CERTIFICATE_LENGTH) })).certificate?.length).toBe(334)
    const over = new Uint8Array(MAX_POST_CERTIFICATE_LENGTH + 1)
    expect(reasonOf(() => encodePost({ text: 'x', certificate: over }))).toBe('certificate-too-long')
    expect(reasonOf(() => decodePost(rawPost({ text: enc.encode('x'), cert: over })))).toBe('certificate-too-long')
  })

  it('a post with neither text nor image is refused', () => {
    expect(reasonOf(() => encodePost({ text: '' }))).toBe('empty')
    expect(reasonOf(() => decodePost(rawPost({})))).toBe('empty')
  })

  it('version, flags, UTF-8, lone surrogates', () => {
    expect(reasonOf(() => decodePost(rawPost({ version: 2, text: enc.encode('x') })))).toBe('unknown-version')
    // Flag bit 1 announces a location (SPEC §15.10, test/unit/places-payload.test.ts): without one the post is cut short.
    expect(reasonOf(() => decodePost(rawPost({ flags: 2, text: enc.encode('x') })))).toBe('truncated')
    expect(reasonOf(() => decodePost(rawPost({ flags: 4, text: enc.encode('x') })))).toBe('unknown-flags')
    expect(reasonOf(() => decodeProfile(Uint8Array.from([1, 2, 0, 0, 0, 0, 0])))).toBe('unknown-flags')
    expect(reasonOf(() => decodePost(rawPost({ flags: 0x80, text: enc.encode('x') })))).toBe('unknown-flags')
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80]]) {
      expect(reasonOf(() => decodePost(rawPost({ text: Uint8Array.from(bad) })))).toBe('not-utf8')
    }
    expect(reasonOf(() => encodePost({ text: 'a\uD800b' }))).toBe('not-utf8')
    expect(reasonOf(() => encodePost({ text: 7 as unknown as string }))).toMatch(/^TypeError/)
  })

  it('every truncation of a valid post is refused as truncated (or empty), and trailing bytes are refused', () => {
    const whole = encodePost({ text: 'hello', certificate: Uint8Array.of(1, 2), image: { mime: 'image/webp', bytes: Uint8Array.of(1, 2, 3) } })
    for (let n = 0; n < whole.length; n++) {
      expect(['truncated', 'empty'], `prefix of ${n} bytes`).toContain(reasonOf(() => decodePost(whole.subarray(0, n))))
    }
    for (const tail of [[0], [1, 2, 3]]) {
      const longer = Uint8Array.from([...whole, ...tail])
      expect(reasonOf(() => decodePost(longer))).toBe('trailing-bytes')
    }
    expect(reasonOf(() => decodePost(rawPost({ text: enc.encode('x'), tail: [0] })))).toBe('trailing-bytes')
  })

  it('the decoder works on a Buffer view into a larger buffer', () => {
    const bytes = encodePost({ text: 'in a buffer' })
    const backing = Buffer.alloc(bytes.length + 10)
    backing.set(bytes, 5)
    expect(decodePost(backing.subarray(5, 5 + bytes.length)).text).toBe('in a buffer')
  })
})

describe('profile codec', () => {
  it('round trips', () => {
    const cases: ProfilePayload[] = [
      { displayName: '', bio: '' },
      { displayName: 'Ada', bio: 'Counts.', avatar: { mime: 'image/gif', bytes: Uint8Array.of(1) }, certificate: Uint8Array.of(4) },
      { displayName: 'x'.repeat(MAX_DISPLAY_NAME_CHARS), bio: 'é'.repeat(MAX_BIO_CHARS) }
    ]
    for (const profile of cases) expect(decodeProfile(encodeProfile(profile))).toEqual(profile)
  })

  it('display name: 64 code points pass, 65 fail; 255 bytes pass, 256 fail (64 four-byte characters)', () => {
    expect(reasonOf(() => encodeProfile({ displayName: 'é'.repeat(MAX_DISPLAY_NAME_CHARS + 1), bio: '' }))).toBe('name-too-long')
    expect(reasonOf(() => decodeProfile(rawProfile({ name: enc.encode('é'.repeat(MAX_DISPLAY_NAME_CHARS + 1)) })))).toBe('name-too-long')
    const fits = EMOJI.repeat(63) + 'a' // 64 code points, 253 bytes
    expect(decodeProfile(encodeProfile({ displayName: fits, bio: '' })).displayName).toBe(fits)
    // 255 bytes within 64 code points: 63 emoji (252) + one 3-byte character (€) = 255 bytes, 64 code points.
    const at255 = EMOJI.repeat(63) + '€'
    expect(enc.encode(at255).length).toBe(MAX_DISPLAY_NAME_BYTES)
    expect(decodeProfile(encodeProfile({ displayName: at255, bio: '' })).displayName).toBe(at255)
    // 256 bytes within 64 code points: 64 emoji.
    const at256 = EMOJI.repeat(64)
    expect(codePointLength(at256)).toBe(MAX_DISPLAY_NAME_CHARS)
    expect(reasonOf(() => encodeProfile({ displayName: at256, bio: '' }))).toBe('name-too-long')
  })

  it('bio: 500 code points pass, 501 fail', () => {
    expect(decodeProfile(encodeProfile({ displayName: 'a', bio: EMOJI.repeat(MAX_BIO_CHARS) })).bio).toBe(EMOJI.repeat(MAX_BIO_CHARS))
    expect(reasonOf(() => encodeProfile({ displayName: 'a', bio: 'b'.repeat(MAX_BIO_CHARS + 1) }))).toBe('bio-too-long')
    expect(reasonOf(() => decodeProfile(rawProfile({ bio: enc.encode('b'.repeat(MAX_BIO_CHARS + 1)) })))).toBe('bio-too-long')
  })

  it('avatar: 32,768 bytes pass, 32,769 fail', () => {
    const edge = new Uint8Array(MAX_AVATAR_BYTES)
    expect(decodeProfile(encodeProfile({ displayName: 'a', bio: '', avatar: { mime: 'image/png', bytes: edge } })).avatar?.bytes.length).toBe(MAX_AVATAR_BYTES)
    const over = new Uint8Array(MAX_AVATAR_BYTES + 1)
    expect(reasonOf(() => encodeProfile({ displayName: 'a', bio: '', avatar: { mime: 'image/png', bytes: over } }))).toBe('avatar-too-large')
    expect(reasonOf(() => decodeProfile(rawProfile({ avatar: over })))).toBe('avatar-too-large')
  })

  it('every truncation is refused, trailing bytes are refused', () => {
    const whole = encodeProfile({ displayName: 'Ada', bio: 'bio', certificate: Uint8Array.of(1), avatar: { mime: 'image/png', bytes: Uint8Array.of(1, 2) } })
    for (let n = 0; n < whole.length; n++) expect(reasonOf(() => decodeProfile(whole.subarray(0, n))), `prefix ${n}`).toBe('truncated')
    expect(reasonOf(() => decodeProfile(Uint8Array.from([...whole, 0])))).toBe('trailing-bytes')
  })
})

describe('circle key codec', () => {
  const key = { circleId: new Uint8Array(16).fill(0xa1), index: 0xffff_ffff, chainKey: new Uint8Array(32).fill(0xb2) }

  it('round trips to exactly 53 bytes in the SPEC layout', () => {
    const bytes = encodeCircleKey(key)
    expect(bytes.length).toBe(53)
    expect([...bytes.subarray(0, 1)]).toEqual([1])
    expect([...bytes.subarray(17, 21)]).toEqual([0xff, 0xff, 0xff, 0xff])
    expect(decodeCircleKey(bytes)).toEqual(key)
  })

  it('wrong length, wrong version, bad fields', () => {
    const bytes = encodeCircleKey(key)
    expect(reasonOf(() => decodeCircleKey(bytes.subarray(0, 52)))).toBe('wrong-length')
    expect(reasonOf(() => decodeCircleKey(Uint8Array.from([...bytes, 0])))).toBe('wrong-length')
    expect(reasonOf(() => decodeCircleKey(Uint8Array.from([2, ...bytes.subarray(1)])))).toBe('unknown-version')
    expect(() => encodeCircleKey({ ...key, index: 2 ** 32 })).toThrow(RangeError)
    expect(() => encodeCircleKey({ ...key, chainKey: new Uint8Array(31) })).toThrow(RangeError)
  })
})

describe('fuzz: decoders are total', () => {
  const onlyTyped = (decode: (b: Uint8Array) => unknown) => (bytes: Uint8Array): boolean => {
    try {
      decode(bytes)
      return true
    } catch (error) {
      return error instanceof PostFormatError
    }
  }

  it('random bytes: only PostFormatError, never anything else', () => {
    for (const decode of [decodePost, decodeProfile, decodeCircleKey]) {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), onlyTyped(decode)), { numRuns: 2000 })
    }
  })

  it('mutations of valid payloads: only PostFormatError, and what decodes re-encodes to the same bytes', () => {
    const post = encodePost({ text: 'héllo 😀', certificate: Uint8Array.of(1, 2, 3), image: { mime: 'image/png', bytes: Uint8Array.of(1, 2) } })
    const profile = encodeProfile({ displayName: 'Zoë', bio: 'b', avatar: { mime: 'image/gif', bytes: Uint8Array.of(9) } })
    const cases: Array<[Uint8Array, (b: Uint8Array) => unknown, (v: never) => Uint8Array]> = [
      [post, decodePost, encodePost as (v: never) => Uint8Array],
      [profile, decodeProfile, encodeProfile as (v: never) => Uint8Array]
    ]
    for (const [valid, decode, encode] of cases) {
      fc.assert(fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -3, max: 3 }),
        (edits, resize) => {
          const bytes = new Uint8Array(Math.max(0, valid.length + resize))
          bytes.set(valid.subarray(0, bytes.length))
          for (const [at, value] of edits) if (bytes.length > 0) bytes[at % bytes.length] = value
          try {
            const decoded = decode(bytes)
            expect([...encode(decoded as never)]).toEqual([...bytes])
            return true
          } catch (error) {
            return error instanceof PostFormatError
          }
        }), { numRuns: 2000 })
    }
  })

  it('arbitrary posts and profiles within the limits round trip', () => {
    fc.assert(fc.property(
      fc.string({ unit: 'grapheme', maxLength: 200 }), fc.option(fc.uint8Array({ minLength: 1, maxLength: 50 }), { nil: undefined }),
      fc.option(fc.uint8Array({ maxLength: MAX_POST_CERTIFICATE_LENGTH }), { nil: undefined }), fc.constantFrom(...POST_IMAGE_MIMES),
      (text, imageBytes, certificate, mime) => {
        fc.pre(text.length > 0 || imageBytes !== undefined)
        const post: PostPayload = {
          text, ...(imageBytes === undefined ? {} : { image: { mime, bytes: imageBytes } }),
          ...(certificate === undefined || certificate.length === 0 ? {} : { certificate })
        }
        expect(decodePost(encodePost(post))).toEqual(post)
        const name = [...text].slice(0, 40).join('')
        const profile: ProfilePayload = { displayName: name, bio: text }
        expect(decodeProfile(encodeProfile(profile))).toEqual(profile)
      }), { numRuns: 300 })
  })
})
