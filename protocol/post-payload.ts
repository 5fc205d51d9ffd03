/**
 * The payloads of the social layer (SPEC §14.6): a post, a profile, and a
 * circle's chain handed to a member. Integers are big-endian; every limit is
 * a named constant; character limits count Unicode code points.
 *
 * Post (KIND_POST):
 *   version 1 (u8) || flags (u8, bit 0 = image, bit 1 = location) || certLen (u16) || certificate ||
 *   textLen (u16) || text (UTF-8) || [mimeLen (u8) || mime (ASCII) || imageLen (u32) || image] ||
 *   [geohashLen (u8, 1..MAX_POST_GEOHASH) || geohash (ASCII)]
 * Profile (KIND_PROFILE):
 *   version 1 || flags (bit 0 = avatar) || certLen (u16) || certificate || nameLen (u8) ||
 *   display name || bioLen (u16) || bio || [mimeLen || mime || avatarLen (u32) || avatar]
 * Circle key (KIND_CIRCLE_KEY), 53 bytes:
 *   version 1 || circleId (16) || index (u32) || chainKey (32)
 *
 * Decoders are total: they return a value or throw PostFormatError naming the
 * rule broken, whatever the bytes. The field readers and writers are exported
 * (not from index.ts) for the other payloads of the same family: pins and
 * events (pin-payload.ts, event-payload.ts).
 */
import {
  assertBytes, assertInteger, plainBytes, readUint16BE, readUint32BE, readUint64BE, writeUint16BE, writeUint32BE, writeUint64BE
} from './bytes.js'
import {
  CIRCLE_ID_LENGTH, CIRCLE_KEY_LENGTH, MAX_AVATAR_BYTES, MAX_BIO_BYTES, MAX_BIO_CHARS, MAX_DISPLAY_NAME_BYTES,
  MAX_DISPLAY_NAME_CHARS, MAX_POST_CERTIFICATE_LENGTH, MAX_POST_GEOHASH, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_BYTES, MAX_POST_TEXT_CHARS,
  POST_IMAGE_MIMES
} from './constants.js'
import { PostFormatError, type PostFormatReason } from './errors.js'
import { GEOHASH_ALPHABET, isGeohash } from './geohash.js'

/** The only payload version this code speaks. */
const PAYLOAD_VERSION = 0x01
/** Flag bit 0: an image (post) or avatar (profile) follows. */
const FLAG_IMAGE = 0x01
/** Flag bit 1 of a post: a location (geohash) follows, last. */
const FLAG_LOCATION = 0x02
/** A timestamp field (u64 on the wire) stays below 2^53, as the inner plaintext's does (SPEC §3). */
const MAX_TIME_MS = 2 ** 53 - 1
/** A u32 index of a circle chain. */
const MAX_CIRCLE_INDEX = 0xffff_ffff

/** An image type a post or avatar may carry. */
export type PostImageMime = typeof POST_IMAGE_MIMES[number]

/** An image as a payload carries it. */
export interface PostImageData {
  readonly mime: PostImageMime
  readonly bytes: Uint8Array
}

/** A decoded post. */
export interface PostPayload {
  /** The author's registry certificate (registry-records.ts), not checked here; receivers require it on world posts. */
  readonly certificate?: Uint8Array
  /** Up to MAX_POST_TEXT_CHARS code points; may be empty when there is an image. */
  readonly text: string
  readonly image?: PostImageData
  /**
   * Where the post was written, coarsely: a geohash of 1 to MAX_POST_GEOHASH
   * lower-case characters (6: a cell of about 1.2 × 0.6 km). Its length is the
   * author's choice of how much to reveal (SPEC §15.10).
   */
  readonly location?: string
}

/** A decoded profile. */
export interface ProfilePayload {
  /** As for posts: required by receivers on world profiles. */
  readonly certificate?: Uint8Array
  /** Up to MAX_DISPLAY_NAME_CHARS code points (and MAX_DISPLAY_NAME_BYTES bytes); may be empty. */
  readonly displayName: string
  /** Up to MAX_BIO_CHARS code points; may be empty. */
  readonly bio: string
  readonly avatar?: PostImageData
}

/** A circle's chain at one index, as handed to a member (SPEC §14.4). Holds a secret. */
export interface CircleKeyPayload {
  /** 16 bytes naming the epoch. */
  readonly circleId: Uint8Array
  /** Index of `chainKey` in the chain, u32. */
  readonly index: number
  /** 32 bytes: the chain key of step `index`. */
  readonly chainKey: Uint8Array
}

const encoder = new TextEncoder()
// ignoreBOM: a leading U+FEFF is text like any other and must survive the round trip.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Unicode code points in `text` (the unit of every character limit). */
export function codePointLength (text: string): number {
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    count++
  }
  return count
}

/** Throws PostFormatError with `reason`. */
export function fail (reason: PostFormatReason, message: string): never {
  throw new PostFormatError(message, reason)
}

/** UTF-8 of a field, checked against its limits; a lone surrogate cannot be encoded faithfully and is refused. */
export function encodeText (text: string, field: string, maxChars: number, maxBytes: number, reason: PostFormatReason): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`"${field}" expected a string, got ${typeof text}`)
  if (!text.isWellFormed()) fail('not-utf8', `The ${field} holds a lone surrogate, which UTF-8 cannot carry`)
  const chars = codePointLength(text)
  if (chars > maxChars) fail(reason, `The ${field} is at most ${maxChars} characters, got ${chars}`)
  const bytes = encoder.encode(text)
  if (bytes.length > maxBytes) fail(reason, `The ${field} is at most ${maxBytes} bytes of UTF-8, got ${bytes.length}`)
  return bytes
}

/** The certificate bytes to write (empty when absent), checked against MAX_POST_CERTIFICATE_LENGTH. */
export function checkCertificate (certificate: Uint8Array | undefined): Uint8Array {
  if (certificate === undefined) return new Uint8Array(0)
  assertBytes(certificate, 'certificate')
  if (certificate.length > MAX_POST_CERTIFICATE_LENGTH) {
    fail('certificate-too-long', `A certificate is at most ${MAX_POST_CERTIFICATE_LENGTH} bytes, got ${certificate.length}`)
  }
  return certificate
}

function checkImage (image: PostImageData | undefined, field: string, maxBytes: number, tooLarge: PostFormatReason): void {
  if (image === undefined) return
  if (!(POST_IMAGE_MIMES as readonly string[]).includes(image.mime)) {
    fail('unknown-mime', `The ${field} must be one of ${POST_IMAGE_MIMES.join(', ')}, got ${String(image.mime).slice(0, 40)}`)
  }
  assertBytes(image.bytes, `${field}.bytes`)
  if (image.bytes.length === 0) fail('empty-image', `The ${field} is empty`)
  if (image.bytes.length > maxBytes) fail(tooLarge, `The ${field} is at most ${maxBytes} bytes, got ${image.bytes.length}`)
}

/**
 * A certificate that a flag announces (pins, events): undefined when absent,
 * else 1 to MAX_POST_CERTIFICATE_LENGTH bytes. Empty is refused so that a
 * payload has one wire form: "no certificate" is the flag unset.
 */
export function checkFlaggedCertificate (certificate: Uint8Array | undefined): Uint8Array | undefined {
  if (certificate === undefined) return undefined
  checkCertificate(certificate)
  if (certificate.length === 0) fail('empty-certificate', 'A certificate, when present, is not empty')
  return certificate
}

/**
 * A geohash field's ASCII bytes, checked: 1 to `maxLength` characters of the
 * geohash alphabet, lower case (the one wire form, so equal places are equal bytes).
 */
export function encodeGeohashField (geohash: string, field: string, maxLength: number): Uint8Array {
  if (typeof geohash !== 'string') throw new TypeError(`"${field}" expected a string, got ${typeof geohash}`)
  if (!isGeohash(geohash, maxLength)) {
    fail('bad-geohash', `The ${field} must be a geohash of 1 to ${maxLength} characters of ${GEOHASH_ALPHABET}, got ${JSON.stringify(String(geohash).slice(0, 20))}`)
  }
  return encoder.encode(geohash)
}

/** Throws PostFormatError('bad-time') unless `value` is a whole number of ms in [0, 2^53). */
export function checkTime (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_TIME_MS) {
    fail('bad-time', `The ${field} must be whole milliseconds in [0, 2^53), got ${String(value)}`)
  }
  return value
}

/** Writes fields in order into one buffer. */
export class Writer {
  private readonly out: Uint8Array
  private offset = 0
  constructor (length: number) { this.out = new Uint8Array(length) }
  u8 (value: number): void { this.out[this.offset++] = value }
  u16 (value: number): void { writeUint16BE(this.out, this.offset, value); this.offset += 2 }
  u32 (value: number): void { writeUint32BE(this.out, this.offset, value); this.offset += 4 }
  u64 (value: number): void { writeUint64BE(this.out, this.offset, value); this.offset += 8 }
  bytes (value: Uint8Array): void { this.out.set(value, this.offset); this.offset += value.length }
  finish (): Uint8Array {
    // Every encoder sizes its buffer exactly; a mismatch is a bug here, not bad input.
    if (this.offset !== this.out.length) throw new Error(`Encoder wrote ${this.offset} of ${this.out.length} bytes`)
    return this.out
  }
}

function imageTrailerLength (image: PostImageData | undefined): number {
  return image === undefined ? 0 : 1 + image.mime.length + 4 + image.bytes.length
}

function writeImage (writer: Writer, image: PostImageData | undefined): void {
  if (image === undefined) return
  writer.u8(image.mime.length)
  writer.bytes(encoder.encode(image.mime))
  writer.u32(image.bytes.length)
  writer.bytes(image.bytes)
}

/** Encodes a post. Throws PostFormatError naming the limit broken (TypeError for a wrong type). */
export function encodePost (post: PostPayload): Uint8Array {
  const certificate = checkCertificate(post.certificate)
  const text = encodeText(post.text, 'text', MAX_POST_TEXT_CHARS, MAX_POST_TEXT_BYTES, 'text-too-long')
  checkImage(post.image, 'image', MAX_POST_IMAGE_BYTES, 'image-too-large')
  const location = post.location === undefined ? undefined : encodeGeohashField(post.location, 'location', MAX_POST_GEOHASH)
  if (text.length === 0 && post.image === undefined) fail('empty', 'A post needs text or an image')
  const writer = new Writer(1 + 1 + 2 + certificate.length + 2 + text.length + imageTrailerLength(post.image) +
    (location === undefined ? 0 : 1 + location.length))
  writer.u8(PAYLOAD_VERSION)
  writer.u8((post.image === undefined ? 0 : FLAG_IMAGE) | (location === undefined ? 0 : FLAG_LOCATION))
  writer.u16(certificate.length)
  writer.bytes(certificate)
  writer.u16(text.length)
  writer.bytes(text)
  writeImage(writer, post.image)
  if (location !== undefined) {
    writer.u8(location.length)
    writer.bytes(location)
  }
  return writer.finish()
}

/** Encodes a profile. Throws PostFormatError naming the limit broken (TypeError for a wrong type). */
export function encodeProfile (profile: ProfilePayload): Uint8Array {
  const certificate = checkCertificate(profile.certificate)
  const name = encodeText(profile.displayName, 'display name', MAX_DISPLAY_NAME_CHARS, MAX_DISPLAY_NAME_BYTES, 'name-too-long')
  const bio = encodeText(profile.bio, 'bio', MAX_BIO_CHARS, MAX_BIO_BYTES, 'bio-too-long')
  checkImage(profile.avatar, 'avatar', MAX_AVATAR_BYTES, 'avatar-too-large')
  const writer = new Writer(1 + 1 + 2 + certificate.length + 1 + name.length + 2 + bio.length + imageTrailerLength(profile.avatar))
  writer.u8(PAYLOAD_VERSION)
  writer.u8(profile.avatar === undefined ? 0 : FLAG_IMAGE)
  writer.u16(certificate.length)
  writer.bytes(certificate)
  writer.u8(name.length)
  writer.bytes(name)
  writer.u16(bio.length)
  writer.bytes(bio)
  writeImage(writer, profile.avatar)
  return writer.finish()
}

/** Encodes a circle key: exactly CIRCLE_KEY_LENGTH (53) bytes. */
export function encodeCircleKey (key: CircleKeyPayload): Uint8Array {
  assertBytes(key.circleId, 'circleId', CIRCLE_ID_LENGTH)
  assertInteger(key.index, 'index', 0, MAX_CIRCLE_INDEX)
  assertBytes(key.chainKey, 'chainKey', 32)
  const writer = new Writer(CIRCLE_KEY_LENGTH)
  writer.u8(PAYLOAD_VERSION)
  writer.bytes(key.circleId)
  writer.u32(key.index)
  writer.bytes(key.chainKey)
  return writer.finish()
}

/** Reads fields in order; every read checks the bytes are there. */
export class Reader {
  private offset = 0
  constructor (private readonly input: Uint8Array, private readonly what: string) {}
  private need (length: number, field: string): void {
    if (this.offset + length > this.input.length) fail('truncated', `${this.what} ends inside its ${field}`)
  }
  u8 (field: string): number { this.need(1, field); return this.input[this.offset++] as number }
  u16 (field: string): number { this.need(2, field); const v = readUint16BE(this.input, this.offset); this.offset += 2; return v }
  u32 (field: string): number { this.need(4, field); const v = readUint32BE(this.input, this.offset); this.offset += 4; return v }
  /** A u64 time in ms; PostFormatError('bad-time') at 2^53 or more, which a JavaScript number cannot hold exactly. */
  time (field: string): number {
    this.need(8, field)
    const high = readUint32BE(this.input, this.offset)
    if (high >= 0x20_0000) fail('bad-time', `The ${field} is 2^53 ms or more`)
    const v = readUint64BE(this.input, this.offset)
    this.offset += 8
    return v
  }
  bytes (length: number, field: string): Uint8Array {
    this.need(length, field)
    const out = this.input.slice(this.offset, this.offset + length)
    this.offset += length
    return out
  }
  finish (): void {
    if (this.offset !== this.input.length) fail('trailing-bytes', `${this.input.length - this.offset} bytes follow the end of ${this.what}`)
  }
}

function readHeader (reader: Reader, what: string, knownFlags: number): { flags: number, certificate?: Uint8Array } {
  const version = reader.u8('version')
  if (version !== PAYLOAD_VERSION) fail('unknown-version', `Unknown ${what} version ${version}; this code speaks version ${PAYLOAD_VERSION}`)
  const flags = reader.u8('flags')
  if ((flags & ~knownFlags) !== 0) fail('unknown-flags', `Unknown ${what} flags 0x${flags.toString(16)}`)
  const certLength = reader.u16('certificate length')
  if (certLength > MAX_POST_CERTIFICATE_LENGTH) {
    fail('certificate-too-long', `A certificate is at most ${MAX_POST_CERTIFICATE_LENGTH} bytes, got ${certLength}`)
  }
  const certificate = reader.bytes(certLength, 'certificate')
  return certLength === 0 ? { flags } : { flags, certificate }
}

/** Reads `length` bytes of UTF-8 text and checks its limits (bytes before reading, code points after). */
export function readText (reader: Reader, length: number, field: string, maxChars: number, maxBytes: number, reason: PostFormatReason): string {
  if (length > maxBytes) fail(reason, `The ${field} is at most ${maxBytes} bytes of UTF-8, got ${length}`)
  const bytes = reader.bytes(length, field)
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    fail('not-utf8', `The ${field} is not valid UTF-8`)
  }
  const chars = codePointLength(text)
  if (chars > maxChars) fail(reason, `The ${field} is at most ${maxChars} characters, got ${chars}`)
  return text
}

function readImage (reader: Reader, field: string, maxBytes: number, tooLarge: PostFormatReason): PostImageData {
  const mimeLength = reader.u8('mime length')
  const mimeBytes = reader.bytes(mimeLength, 'mime')
  // Only the listed ASCII strings are accepted, so comparing char codes byte by byte is exact.
  const mime = POST_IMAGE_MIMES.find((m) => m.length === mimeBytes.length && [...m].every((c, i) => c.charCodeAt(0) === mimeBytes[i]))
  if (mime === undefined) fail('unknown-mime', `The ${field} type must be one of ${POST_IMAGE_MIMES.join(', ')}`)
  const length = reader.u32(`${field} length`)
  if (length === 0) fail('empty-image', `The ${field} is empty`)
  if (length > maxBytes) fail(tooLarge, `The ${field} is at most ${maxBytes} bytes, got ${length}`)
  return { mime, bytes: reader.bytes(length, field) }
}

/** Reads `certLen (u16) || certificate` where a flag said one follows: 1 to MAX_POST_CERTIFICATE_LENGTH bytes. */
export function readFlaggedCertificate (reader: Reader): Uint8Array {
  const length = reader.u16('certificate length')
  if (length === 0) fail('empty-certificate', 'The flags say a certificate follows, but it is empty')
  if (length > MAX_POST_CERTIFICATE_LENGTH) {
    fail('certificate-too-long', `A certificate is at most ${MAX_POST_CERTIFICATE_LENGTH} bytes, got ${length}`)
  }
  return reader.bytes(length, 'certificate')
}

/**
 * Reads a geohash field of `length` bytes: 1 to `maxLength` characters of the
 * alphabet, lower case; anything else is PostFormatError('bad-geohash').
 */
export function readGeohashField (reader: Reader, length: number, field: string, maxLength: number): string {
  if (length < 1 || length > maxLength) fail('bad-geohash', `The ${field} is 1 to ${maxLength} characters, got ${length}`)
  const bytes = reader.bytes(length, field)
  // Bytes of 128 and up become characters outside the alphabet, so isGeohash refuses them.
  const geohash = String.fromCharCode(...bytes)
  if (!isGeohash(geohash, maxLength)) fail('bad-geohash', `The ${field} holds a character outside ${GEOHASH_ALPHABET}`)
  return geohash
}

/** The input as a plain Uint8Array view; PostFormatError('truncated') for anything that is not bytes. */
export function checkInput (bytes: Uint8Array, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) fail('truncated', `${what} is not bytes`)
  return plainBytes(bytes)
}

/** Decodes a post payload. Throws PostFormatError (only) on anything malformed. */
export function decodePost (bytes: Uint8Array): PostPayload {
  const reader = new Reader(checkInput(bytes, 'A post'), 'a post')
  const header = readHeader(reader, 'post', FLAG_IMAGE | FLAG_LOCATION)
  const text = readText(reader, reader.u16('text length'), 'text', MAX_POST_TEXT_CHARS, MAX_POST_TEXT_BYTES, 'text-too-long')
  const image = (header.flags & FLAG_IMAGE) !== 0 ? readImage(reader, 'image', MAX_POST_IMAGE_BYTES, 'image-too-large') : undefined
  const location = (header.flags & FLAG_LOCATION) !== 0
    ? readGeohashField(reader, reader.u8('location length'), 'location', MAX_POST_GEOHASH)
    : undefined
  reader.finish()
  if (text.length === 0 && image === undefined) fail('empty', 'A post needs text or an image')
  return {
    ...(header.certificate === undefined ? {} : { certificate: header.certificate }),
    text,
    ...(image === undefined ? {} : { image }),
    ...(location === undefined ? {} : { location })
  }
}

/** Decodes a profile payload. Throws PostFormatError (only) on anything malformed. */
export function decodeProfile (bytes: Uint8Array): ProfilePayload {
  const reader = new Reader(checkInput(bytes, 'A profile'), 'a profile')
  const header = readHeader(reader, 'profile', FLAG_IMAGE)
  const displayName = readText(reader, reader.u8('display name length'), 'display name', MAX_DISPLAY_NAME_CHARS, MAX_DISPLAY_NAME_BYTES, 'name-too-long')
  const bio = readText(reader, reader.u16('bio length'), 'bio', MAX_BIO_CHARS, MAX_BIO_BYTES, 'bio-too-long')
  const avatar = (header.flags & FLAG_IMAGE) !== 0 ? readImage(reader, 'avatar', MAX_AVATAR_BYTES, 'avatar-too-large') : undefined
  reader.finish()
  return {
    ...(header.certificate === undefined ? {} : { certificate: header.certificate }),
    displayName,
    bio,
    ...(avatar === undefined ? {} : { avatar })
  }
}

/** Decodes a circle key. Throws PostFormatError (only) unless it is 53 bytes of version 1. */
export function decodeCircleKey (bytes: Uint8Array): CircleKeyPayload {
  const input = checkInput(bytes, 'A circle key')
  if (input.length !== CIRCLE_KEY_LENGTH) fail('wrong-length', `A circle key is ${CIRCLE_KEY_LENGTH} bytes, got ${input.length}`)
  const reader = new Reader(input, 'a circle key')
  const version = reader.u8('version')
  if (version !== PAYLOAD_VERSION) fail('unknown-version', `Unknown circle key version ${version}; this code speaks version ${PAYLOAD_VERSION}`)
  const circleId = reader.bytes(CIRCLE_ID_LENGTH, 'circle id')
  const index = reader.u32('index')
  const chainKey = reader.bytes(32, 'chain key')
  reader.finish()
  return { circleId, index, chainKey }
}
