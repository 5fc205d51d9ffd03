/**
 * Map pins (KIND_PIN, SPEC §15.10): "police here", "danger", "help needed" at
 * a place given as a geohash, with a short note. A pin lives as long as the
 * envelope that carries it (10 minutes to 7 days, chosen by the node); the
 * payload itself holds no time. Named pins carry the author's certificate;
 * anonymous ones (signed by a one-time key) carry none.
 *
 *   version 1 (u8) || flags (u8, bit 0 = certificate) || pinKind (u8, 1..5) ||
 *   geohashLen (u8, 1..MAX_PIN_GEOHASH) || geohash (ASCII) || noteLen (u16) || note (UTF-8) ||
 *   [certLen (u16, 1..MAX_POST_CERTIFICATE_LENGTH) || certificate]
 *
 * The longest pin (MAX_PIN_PAYLOAD_LENGTH, 1,471 bytes) fits one envelope's
 * body (POST_BODY_CAPACITY, 1,787): a pin is never split into parts.
 * The decoder is total: a value, or PostFormatError naming the rule broken.
 */
import { MAX_PIN_GEOHASH, MAX_PIN_NOTE_CHARS, MAX_POST_CERTIFICATE_LENGTH } from './constants.js'
import {
  checkFlaggedCertificate, checkInput, encodeGeohashField, encodeText, fail, readFlaggedCertificate, readGeohashField, readText, Reader, Writer
} from './post-payload.js'

const PIN_VERSION = 0x01
/** Flag bit 0: a certificate follows, last. */
const FLAG_CERTIFICATE = 0x01
/** UTF-8 takes at most 4 bytes per code point. */
const MAX_PIN_NOTE_BYTES = 4 * MAX_PIN_NOTE_CHARS

/** What a pin warns of or asks for, in wire order (kind byte = index + 1). */
export const PIN_KINDS = ['police', 'danger', 'help', 'info', 'other'] as const
/** What a pin warns of or asks for. */
export type PinKind = typeof PIN_KINDS[number]

/** The longest pin payload: every field at its limit. */
export const MAX_PIN_PAYLOAD_LENGTH = 1 + 1 + 1 + 1 + MAX_PIN_GEOHASH + 2 + MAX_PIN_NOTE_BYTES + 2 + MAX_POST_CERTIFICATE_LENGTH // 1,471

/** A decoded pin. */
export interface PinPayload {
  readonly kind: PinKind
  /** 1 to MAX_PIN_GEOHASH lower-case geohash characters: the place, as precisely as the author chose. */
  readonly geohash: string
  /** Up to MAX_PIN_NOTE_CHARS code points; may be empty. */
  readonly note: string
  /** The author's registry certificate (1 to MAX_POST_CERTIFICATE_LENGTH bytes), absent on anonymous pins; not checked here. */
  readonly certificate?: Uint8Array
}

/** Encodes a pin. Throws PostFormatError naming the rule broken (TypeError for a wrong type). */
export function encodePin (pin: PinPayload): Uint8Array {
  const kindIndex = PIN_KINDS.indexOf(pin.kind)
  if (kindIndex === -1) fail('unknown-pin-kind', `A pin kind is one of ${PIN_KINDS.join(', ')}, got ${String(pin.kind).slice(0, 20)}`)
  const geohash = encodeGeohashField(pin.geohash, 'geohash', MAX_PIN_GEOHASH)
  const note = encodeText(pin.note, 'note', MAX_PIN_NOTE_CHARS, MAX_PIN_NOTE_BYTES, 'note-too-long')
  const certificate = checkFlaggedCertificate(pin.certificate)
  const writer = new Writer(4 + geohash.length + 2 + note.length + (certificate === undefined ? 0 : 2 + certificate.length))
  writer.u8(PIN_VERSION)
  writer.u8(certificate === undefined ? 0 : FLAG_CERTIFICATE)
  writer.u8(kindIndex + 1)
  writer.u8(geohash.length)
  writer.bytes(geohash)
  writer.u16(note.length)
  writer.bytes(note)
  if (certificate !== undefined) {
    writer.u16(certificate.length)
    writer.bytes(certificate)
  }
  return writer.finish()
}

/** Decodes a pin payload. Throws PostFormatError (only) on anything malformed. */
export function decodePin (bytes: Uint8Array): PinPayload {
  const reader = new Reader(checkInput(bytes, 'A pin'), 'a pin')
  const version = reader.u8('version')
  if (version !== PIN_VERSION) fail('unknown-version', `Unknown pin version ${version}; this code speaks version ${PIN_VERSION}`)
  const flags = reader.u8('flags')
  if ((flags & ~FLAG_CERTIFICATE) !== 0) fail('unknown-flags', `Unknown pin flags 0x${flags.toString(16)}`)
  const kindByte = reader.u8('kind')
  const kind = PIN_KINDS[kindByte - 1]
  if (kind === undefined) fail('unknown-pin-kind', `Unknown pin kind ${kindByte}`)
  const geohash = readGeohashField(reader, reader.u8('geohash length'), 'geohash', MAX_PIN_GEOHASH)
  const note = readText(reader, reader.u16('note length'), 'note', MAX_PIN_NOTE_CHARS, MAX_PIN_NOTE_BYTES, 'note-too-long')
  const certificate = (flags & FLAG_CERTIFICATE) !== 0 ? readFlaggedCertificate(reader) : undefined
  reader.finish()
  return { kind, geohash, note, ...(certificate === undefined ? {} : { certificate }) }
}
