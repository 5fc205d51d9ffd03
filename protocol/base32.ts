/**
 * RFC 4648 §6 base32, uppercase, without padding: the alphabet of QR codes'
 * alphanumeric mode, and easy to read aloud (no 0/O or 1/I pairs to confuse,
 * since 0, 1, 8 and 9 are not in it).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const VALUES: ReadonlyMap<string, number> = new Map([...ALPHABET].flatMap((c, i) => [[c, i], [c.toLowerCase(), i]]))
/** Unpadded lengths modulo 8 that a whole number of bytes can give (RFC 4648 §6: 1, 3 or 6 cannot). */
const VALID_REMAINDERS: ReadonlySet<number> = new Set([0, 2, 4, 5, 7])

/** Uppercase base32 of `bytes`, no padding. */
export function encodeBase32 (bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff // keep only bits not yet written
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31]!
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31]!
  return out
}

/**
 * Bytes of unpadded base32, upper or lower case. Only the canonical encoding
 * is accepted: the bits left over after the last whole byte must be zero
 * (RFC 4648 §3.5), so every typo changes the bytes or is refused. Throws
 * TypeError naming the first character outside the alphabet, RangeError for
 * a length no byte string encodes to or non-zero leftover bits.
 */
export function decodeBase32 (text: string): Uint8Array {
  if (!VALID_REMAINDERS.has(text.length % 8)) {
    throw new RangeError(`${text.length} base32 characters cannot encode whole bytes; a character is missing or extra`)
  }
  const out = new Uint8Array(Math.floor(text.length * 5 / 8))
  let buffer = 0
  let bits = 0
  let index = 0
  for (let i = 0; i < text.length; i++) {
    const value = VALUES.get(text[i]!)
    if (value === undefined) throw new TypeError(`"${text[i]}" at position ${i + 1} is not a base32 character (A-Z, 2-7)`)
    buffer = ((buffer << 5) | value) & 0xfff
    bits += 5
    if (bits >= 8) {
      out[index++] = (buffer >>> (bits - 8)) & 0xff
      bits -= 8
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) throw new RangeError('the last base32 character is not one an encoder writes there')
  return out
}
