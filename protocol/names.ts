/**
 * Registry names (SPEC §13.2): `[a-z0-9_]`, 3 to 32 characters. Only ASCII
 * A-Z is folded to lowercase; every other character outside the set is
 * refused, never mapped. So a name has one spelling, and no lookalike from
 * another script (Cyrillic "а", Greek "ο", fullwidth "ａ"), no invisible
 * character and no combining mark can pass for a registered name.
 */
import { MAX_NAME_LENGTH, MIN_NAME_LENGTH } from './constants.js'
import { KomradeProtocolError } from './errors.js'

/** Why a name was refused: wrong length, a character outside `[a-z0-9_]`, or a reserved name. */
export type BadNameReason = 'length' | 'charset' | 'reserved'

/** A name breaks the rules of SPEC §13.2. The message says which rule, for the user. */
export class BadNameError extends KomradeProtocolError {
  constructor (message: string, readonly reason: BadNameReason) {
    super(message)
    this.name = 'BadNameError'
  }
}

/**
 * Names nobody can register: they would pass for the Operator, the project or
 * a service (SPEC §13.2). A registry policy, checked when a name is
 * registered; records already in a log are read whatever this list says.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'operator', 'operators', 'komrade', 'komrades', 'admin', 'administrator', 'root', 'system', 'support',
  'help', 'moderator', 'mod', 'mods', 'staff', 'official', 'security', 'abuse', 'postmaster', 'webmaster',
  'hostmaster', 'info', 'contact', 'world', 'everyone', 'all', 'null', 'undefined', 'anonymous', 'nobody',
  'registry', 'bootstrap', 'notifications', 'noreply', 'no_reply'
])

const CODE_A = 0x61
const CODE_Z = 0x7a
const CODE_UPPER_A = 0x41
const CODE_UPPER_Z = 0x5a
const CODE_0 = 0x30
const CODE_9 = 0x39
const CODE_UNDERSCORE = 0x5f
const ASCII_CASE_BIT = 0x20
/** Characters worth quoting in a message; others (spaces, controls, joiners, marks) are only named by code point. */
const VISIBLE = /^[\p{L}\p{N}\p{P}\p{S}]$/u
const SPACE = /^\p{White_Space}$/u
const COMBINING_MARK = /^\p{M}$/u

function isNameCode (code: number): boolean {
  return (code >= CODE_A && code <= CODE_Z) || (code >= CODE_0 && code <= CODE_9) || code === CODE_UNDERSCORE
}

function describeCharacter (character: string): string {
  const codePoint = `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`
  if (VISIBLE.test(character)) return `"${character}" (${codePoint})`
  if (SPACE.test(character)) return `the space ${codePoint}`
  if (COMBINING_MARK.test(character)) return `the combining mark ${codePoint}`
  return `the invisible character ${codePoint}`
}

/**
 * The name's one spelling, checking length and characters but not the
 * reserved list: what a lookup, an invite or a log record needs.
 * Throws BadNameError ('length' or 'charset').
 */
export function normalizeNameSyntax (input: string): string {
  if (typeof input !== 'string') throw new TypeError(`"name" expected a string, got ${input === null ? 'null' : typeof input}`)
  let name = ''
  for (const character of input) {
    let code = character.codePointAt(0)!
    if (code >= CODE_UPPER_A && code <= CODE_UPPER_Z) code |= ASCII_CASE_BIT
    if (!isNameCode(code)) {
      throw new BadNameError(`names use only a-z, 0-9 and _; ${describeCharacter(character)} is not allowed`, 'charset')
    }
    name += String.fromCharCode(code)
  }
  if (name.length < MIN_NAME_LENGTH || name.length > MAX_NAME_LENGTH) {
    throw new BadNameError(`names are ${MIN_NAME_LENGTH} to ${MAX_NAME_LENGTH} characters, got ${name.length}`, 'length')
  }
  return name
}

/**
 * The name a user typed, in the one spelling the registry uses: ASCII A-Z
 * lowercased, nothing else changed. Throws BadNameError when it is the wrong
 * length, holds any other character (the message names it and its code
 * point), or is reserved.
 */
export function normalizeName (input: string): string {
  const name = normalizeNameSyntax(input)
  if (RESERVED_NAMES.has(name)) throw new BadNameError(`"${name}" is reserved; choose another name`, 'reserved')
  return name
}

/**
 * Reads a name carried as bytes in a request or record. The bytes must
 * already be the one spelling: ASCII `[a-z0-9_]`, 3 to 32 of them. Uppercase
 * is refused here (a signer normalises before signing). Throws BadNameError
 * ('length' or 'charset'); the reserved list is the caller's business.
 */
export function nameFromBytes (bytes: Uint8Array): string {
  let name = ''
  for (const byte of bytes) {
    if (!isNameCode(byte)) {
      const shown = byte >= CODE_UPPER_A && byte <= CODE_UPPER_Z
        ? `"${String.fromCharCode(byte)}" (uppercase; names are sent lowercased)`
        : byte >= 0x20 && byte < 0x7f ? `"${String.fromCharCode(byte)}"` : `the byte 0x${byte.toString(16).padStart(2, '0')}`
      throw new BadNameError(`names use only a-z, 0-9 and _; ${shown} is not allowed`, 'charset')
    }
    name += String.fromCharCode(byte)
  }
  if (name.length < MIN_NAME_LENGTH || name.length > MAX_NAME_LENGTH) {
    throw new BadNameError(`names are ${MIN_NAME_LENGTH} to ${MAX_NAME_LENGTH} characters, got ${name.length}`, 'length')
  }
  return name
}

/** The ASCII bytes of a name already normalised (every character below 0x80). */
export function nameToBytes (name: string): Uint8Array {
  const bytes = new Uint8Array(name.length)
  for (let i = 0; i < name.length; i++) bytes[i] = name.charCodeAt(i)
  return bytes
}
