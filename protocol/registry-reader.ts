/**
 * A cursor over registry bytes from the network or a store. Every read checks
 * that the bytes are there, and `finish` that nothing is left over, so each
 * decoder validates lengths exactly and fails with a RegistryFormatError that
 * names the record and the field.
 */
import { plainBytes, readUint16BE, readUint32BE } from './bytes.js'
import { RegistryFormatError } from './registry-errors.js'

/** Bits above 2^53 in the high 32-bit half of a u64: a field with any of them set is not a safe integer. */
const UNSAFE_HIGH_BITS = 0xffe0_0000

/** Reads the fields of one record or frame in order; see {@link readerOf}. */
export interface ByteReader {
  /** Bytes not read yet. */
  readonly remaining: number
  u8 (field: string): number
  u16 (field: string): number
  u32 (field: string): number
  /** A u64 that must be a safe integer (below 2^53). */
  u64 (field: string): number
  /** A copy of the next `length` bytes. */
  bytes (length: number, field: string): Uint8Array
  /** Throws unless every byte was read. */
  finish (): void
}

/** A reader over `bytes`; `what` names the record in messages ("a tree head"). */
export function readerOf (bytes: Uint8Array, what: string): ByteReader {
  const input = plainBytes(bytes)
  let offset = 0
  const need = (length: number, field: string): number => {
    if (input.length - offset < length) {
      throw new RegistryFormatError(`${capitalise(what)} ends inside its ${field}: ${length} bytes needed at offset ${offset}, ${input.length - offset} left`)
    }
    const at = offset
    offset += length
    return at
  }
  return {
    get remaining () { return input.length - offset },
    u8: (field) => input[need(1, field)] as number,
    u16: (field) => readUint16BE(input, need(2, field)),
    u32: (field) => readUint32BE(input, need(4, field)),
    u64 (field) {
      const at = need(8, field)
      const high = readUint32BE(input, at)
      if ((high & UNSAFE_HIGH_BITS) !== 0) {
        throw new RegistryFormatError(`${capitalise(what)} has a ${field} of 2^53 or more; this code reads integers up to 2^53 - 1`)
      }
      return high * 0x1_0000_0000 + readUint32BE(input, at + 4)
    },
    bytes (length, field) {
      const at = need(length, field)
      return input.slice(at, at + length)
    },
    finish () {
      if (offset !== input.length) {
        throw new RegistryFormatError(`${capitalise(what)} has ${input.length - offset} unexpected bytes after its last field`)
      }
    }
  }
}

/** `text` with its first character in upper case: field descriptions open error messages. */
export function capitalise (text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}
