/**
 * Byte helpers and boundary checks. Every external input is checked here with
 * an error that names the argument, as noble does:
 * `"salt" expected Uint8Array of length 24, got length=8`.
 */

/** Throws TypeError unless `value` is a Uint8Array; RangeError unless its length fits. */
export function assertBytes (value: unknown, name: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`"${name}" expected Uint8Array, got ${value === null ? 'null' : typeof value}`)
  }
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`"${name}" expected Uint8Array of length ${length}, got length=${value.length}`)
  }
}

/** Throws unless `value` is an integer in [min, max]. */
export function assertInteger (value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`"${name}" expected an integer, got ${typeof value === 'number' ? value : typeof value}`)
  }
  if (value < min || value > max) {
    throw new RangeError(`"${name}" expected an integer in [${min}, ${max}], got ${value}`)
  }
}

/** Concatenates byte arrays into a new one. */
export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** Constant-time equality for secrets of equal, public length. */
export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

const HEX_DIGITS = '0123456789abcdef'

/** Lowercase hex of `bytes`. */
export function toHex (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number
    out += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!
  }
  return out
}

/** Parses lowercase or uppercase hex; throws TypeError naming `name` on bad input. */
export function fromHex (hex: string, name = 'hex', length?: number): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`"${name}" expected an even-length hex string`)
  }
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  if (length !== undefined && out.length !== length) {
    throw new RangeError(`"${name}" expected ${length} bytes of hex, got ${out.length}`)
  }
  return out
}

const encoder = new TextEncoder()

/** UTF-8 bytes of a string (used for the ASCII domain-separation labels). */
export function utf8 (text: string): Uint8Array {
  return encoder.encode(text)
}

/** Writes `value` (0 <= value < 2^32) big-endian at `offset`. */
export function writeUint32BE (out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 24) & 0xff
  out[offset + 1] = (value >>> 16) & 0xff
  out[offset + 2] = (value >>> 8) & 0xff
  out[offset + 3] = value & 0xff
}

/** Reads an unsigned 32-bit big-endian integer at `offset`. */
export function readUint32BE (bytes: Uint8Array, offset: number): number {
  return (((bytes[offset] as number) << 24) >>> 0) + ((bytes[offset + 1] as number) << 16) +
    ((bytes[offset + 2] as number) << 8) + (bytes[offset + 3] as number)
}

/** Writes an unsigned 16-bit big-endian integer at `offset`. */
export function writeUint16BE (out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 8) & 0xff
  out[offset + 1] = value & 0xff
}

/** Reads an unsigned 16-bit big-endian integer at `offset`. */
export function readUint16BE (bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] as number) << 8) + (bytes[offset + 1] as number)
}

/** Writes a non-negative safe integer as 8 bytes big-endian at `offset`. */
export function writeUint64BE (out: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / 0x1_0000_0000)
  writeUint32BE(out, offset, high)
  writeUint32BE(out, offset + 4, value >>> 0)
}

/** Reads 8 bytes big-endian as a number; exact below 2^53, which every caller's field stays under. */
export function readUint64BE (bytes: Uint8Array, offset: number): number {
  const high = readUint32BE(bytes, offset)
  const low = readUint32BE(bytes, offset + 4)
  return high * 0x1_0000_0000 + low
}

/**
 * A plain Uint8Array view of `bytes` (no copy). Node's Buffer overrides
 * `slice()` to return a view instead of a copy; inputs from the network are
 * often Buffers, so entry points take this view and `slice()` copies again.
 */
export function plainBytes (bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Zeroes a secret in place once it is no longer needed. */
export function wipe (...secrets: Uint8Array[]): void {
  for (const secret of secrets) secret.fill(0)
}
