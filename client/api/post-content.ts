/**
 * What a post and a profile may carry (SPEC §14), as the API, the CLI and
 * the web UI check it before the node does: text lengths, image sizes, the
 * image types told by their first bytes (never by a file name), and base64
 * for images in JSON bodies. No Node imports: the browser bundle imports
 * this file.
 */

/** Characters (Unicode code points) of a post's text. */
export const MAX_POST_TEXT_CHARS = 1000
/** Bytes of a post's image: a few envelopes' worth of parts (the web UI shrinks bigger pictures first). */
export const MAX_POST_IMAGE_BYTES = 256 * 1024
/** Bytes of an avatar: it travels with every publication of the profile. */
export const MAX_AVATAR_BYTES = 32 * 1024
/** Characters of a profile's display name. */
export const MAX_DISPLAY_NAME_CHARS = 64
/** Bytes of a display name in UTF-8: the protocol gives its length one byte (64 emoji are 256 bytes, too many). */
export const MAX_DISPLAY_NAME_BYTES = 255
/** Characters of a profile's bio. */
export const MAX_BIO_CHARS = 500
/** A post's lifetime in days: 1 to 7, 2 unless the author says. */
export const MIN_POST_DAYS = 1
export const MAX_POST_DAYS = 7
export const DEFAULT_POST_DAYS = 2
/** A post's lifetime in minutes instead of days (ephemeral posts, tests): up to 7 days. */
export const MAX_POST_TTL_MINUTES = 7 * 24 * 60

/** The image types a post or an avatar may be. */
export type ImageType = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif'

/** Every accepted image type. */
export const IMAGE_TYPES: readonly ImageType[] = ['image/jpeg', 'image/png', 'image/webp', 'image/gif']

/** True when `mime` is one of {@link IMAGE_TYPES}. */
export function isImageType (mime: unknown): mime is ImageType {
  return typeof mime === 'string' && (IMAGE_TYPES as readonly string[]).includes(mime)
}

function startsWith (bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  if (bytes.length < at + prefix.length) return false
  return prefix.every((byte, i) => bytes[at + i] === byte)
}

const ascii = (text: string): number[] => [...text].map((char) => char.charCodeAt(0))

/**
 * The type of an image from its first bytes (its "magic number"): JPEG
 * `FF D8 FF`, PNG's 8-byte signature, `GIF87a`/`GIF89a`, WebP's
 * `RIFF....WEBP`. Undefined for anything else. A file's name says nothing.
 */
export function imageTypeOf (bytes: Uint8Array): ImageType | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'image/gif'
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp'
  return undefined
}

/** The short word for an image type: `jpeg`, `png`, `webp`, `gif`. */
export function imageTypeWord (mime: string): string {
  return mime.replace(/^image\//, '')
}

/** Characters of a text as the limits count them: Unicode code points (an emoji is one, not two). */
export function codePoints (text: string): number {
  let count = 0
  for (const _ of text) count++
  return count
}

/** Bytes of a text in UTF-8. */
export function utf8Length (text: string): number {
  return new TextEncoder().encode(text).byteLength
}

/** Profiles one request names or lists at most (`GET /api/profiles?authors=…`, `?limit=`): a page of a feed has at most 100 authors. */
export const MAX_PROFILES_PER_REQUEST = 100

/** Bytes per chunk handed to String.fromCharCode (its arguments are bounded). */
const BASE64_CHUNK = 0x8000

/** Standard padded base64 of `bytes` (btoa: Node and browsers alike). */
export function toBase64 (bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += BASE64_CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + BASE64_CHUNK))
  return btoa(binary)
}

/** Standard padded base64, nothing else (no line breaks, no URL alphabet). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Decodes standard padded base64; undefined when `text` is not exactly that. */
export function fromBase64 (text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** Bytes as "123 KiB" (whole KiB from 1 KiB up), as feeds show an image's size. */
export function imageSizeLabel (bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${Math.round(bytes / 1024)} KiB`
}
