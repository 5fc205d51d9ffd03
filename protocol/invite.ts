/**
 * Invite codes (SPEC §13.7): everything needed to write to someone and reach
 * them, in one line that can be pasted, read out or put in a QR code, with
 * no Operator involved. `KOMRADE1-` then uppercase base32 (no padding) of:
 *
 * | bytes | field |
 * |-------|-------|
 * | 1     | version 0x01 |
 * | 64    | public identity: Ed25519 key, X25519 key |
 * | 1     | n, the name's length: 0 (no name) or 3..32 |
 * | n     | name, as registered |
 * | 1     | a, the number of addresses, at most 8 |
 * | a × (2 + m) | each address: u16 length m (1..512), UTF-8 multiaddr |
 * | 4     | checksum: SHA-256 of all the bytes before it, first 4 bytes |
 *
 * The name is a hint: it is only what the inviter says they are called. A
 * node that wants it verified looks it up.
 */
import { assertBytes, concatBytes, equalBytes, utf8, writeUint16BE } from './bytes.js'
import { decodeBase32, encodeBase32 } from './base32.js'
import { MAX_INVITE_ADDRESS_BYTES, MAX_INVITE_ADDRESSES } from './constants.js'
import type { CryptoProvider } from './crypto-provider.js'
import { decodePublicIdentity, encodePublicIdentity, PUBLIC_IDENTITY_LENGTH, type PublicIdentity } from './identity.js'
import { BadNameError, nameFromBytes, nameToBytes, normalizeNameSyntax } from './names.js'
import { RegistryFormatError } from './registry-errors.js'
import { readerOf } from './registry-reader.js'

/** What an invite code carries. */
export interface Invite {
  identity: PublicIdentity
  /** The name the inviter registered, if any (unverified until looked up). */
  name?: string
  /** Multiaddrs where the inviter's node, or a node near it, can be dialled. */
  addresses: string[]
}

const INVITE_PREFIX = 'KOMRADE1-'
/** Any `KOMRADE<digits>-`: lets a code from another version get a message that says so. */
const ANY_VERSION_PREFIX = /^KOMRADE(\d+)-/i
const INVITE_VERSION = 0x01
const CHECKSUM_LENGTH = 4
/** Spaces, line breaks and dashes that people and layouts add; ignored after the prefix. */
const SEPARATORS = /[\s-]+/g
/** An address is a multiaddr string: starts with "/", no spaces or control characters. */
const ADDRESS_PATTERN = /^\/[^\s\p{Cc}]*$/u
const addressDecoder = new TextDecoder('utf-8', { fatal: true })

/** The invite code for `invite`: `KOMRADE1-` then uppercase base32. */
export function encodeInvite (invite: Invite, crypto: CryptoProvider): string {
  assertBytes(invite.identity.signingKey, 'identity.signingKey', 32)
  assertBytes(invite.identity.sealingKey, 'identity.sealingKey', 32)
  const name = invite.name === undefined || invite.name === '' ? new Uint8Array(0) : nameToBytes(normalizeNameSyntax(invite.name))
  if (!Array.isArray(invite.addresses) || invite.addresses.length > MAX_INVITE_ADDRESSES) {
    throw new RangeError(`"addresses" expected an array of at most ${MAX_INVITE_ADDRESSES} multiaddrs`)
  }
  const addresses = invite.addresses.map((address, i) => {
    if (typeof address !== 'string' || !ADDRESS_PATTERN.test(address)) {
      throw new TypeError(`"addresses[${i}]" expected a multiaddr string starting with "/", got ${JSON.stringify(address)}`)
    }
    const bytes = utf8(address)
    if (bytes.length > MAX_INVITE_ADDRESS_BYTES) throw new RangeError(`"addresses[${i}]" expected at most ${MAX_INVITE_ADDRESS_BYTES} bytes, got ${bytes.length}`)
    const length = new Uint8Array(2)
    writeUint16BE(length, 0, bytes.length)
    return concatBytes(length, bytes)
  })
  const body = concatBytes(
    Uint8Array.of(INVITE_VERSION), encodePublicIdentity(invite.identity), Uint8Array.of(name.length), name,
    Uint8Array.of(addresses.length), ...addresses
  )
  return INVITE_PREFIX + encodeBase32(concatBytes(body, checksum(crypto, body)))
}

/**
 * Reads an invite code, in any letter case, with any spaces, line breaks or
 * dashes after the prefix. Throws RegistryFormatError with a message for the
 * person holding the code: wrong prefix, a character that cannot be there,
 * a checksum that does not match (a typo), or contents out of bounds.
 */
export function decodeInvite (text: string, crypto: CryptoProvider): Invite {
  if (typeof text !== 'string') throw new TypeError(`"text" expected a string, got ${text === null ? 'null' : typeof text}`)
  const trimmed = text.trim()
  const prefix = ANY_VERSION_PREFIX.exec(trimmed)
  if (prefix === null) throw new RegistryFormatError(`An invite code starts with "${INVITE_PREFIX}"; this text does not`)
  if (prefix[0].toUpperCase() !== INVITE_PREFIX) {
    throw new RegistryFormatError(`This is a version ${prefix[1]} invite code; this version of Komrade reads version ${INVITE_VERSION} only`)
  }
  let bytes: Uint8Array
  try {
    bytes = decodeBase32(trimmed.slice(INVITE_PREFIX.length).replace(SEPARATORS, ''))
  } catch (error) {
    throw new RegistryFormatError(`The invite code is damaged: ${(error as Error).message}. Copy it again`, { cause: error })
  }
  const minimum = 1 + PUBLIC_IDENTITY_LENGTH + 1 + 1 + CHECKSUM_LENGTH
  if (bytes.length < minimum) throw new RegistryFormatError('The invite code is too short; part of it is missing. Copy it again')
  const body = bytes.subarray(0, bytes.length - CHECKSUM_LENGTH)
  if (!equalBytes(checksum(crypto, body), bytes.subarray(bytes.length - CHECKSUM_LENGTH))) {
    throw new RegistryFormatError('The invite code does not check out: a character is wrong, missing or extra. Copy it again or compare it with the original')
  }
  return readInvite(body)
}

/** True when `text` looks like an invite code (it has the prefix); {@link decodeInvite} says whether it is a good one. */
export function isInviteCode (text: string): boolean {
  return typeof text === 'string' && ANY_VERSION_PREFIX.test(text.trim())
}

function readInvite (body: Uint8Array): Invite {
  const reader = readerOf(body, 'the invite code')
  const version = reader.u8('version')
  if (version !== INVITE_VERSION) throw new RegistryFormatError(`The invite code holds version ${version}; this version of Komrade reads version ${INVITE_VERSION} only`)
  const identity = decodePublicIdentity(reader.bytes(PUBLIC_IDENTITY_LENGTH, 'identity'))
  const nameBytes = reader.bytes(reader.u8('name length'), 'name')
  let name: string | undefined
  try {
    name = nameBytes.length === 0 ? undefined : nameFromBytes(nameBytes)
  } catch (error) {
    if (error instanceof BadNameError) throw new RegistryFormatError(`The invite code holds an invalid name: ${error.message}`, { cause: error })
    throw error
  }
  const count = reader.u8('address count')
  if (count > MAX_INVITE_ADDRESSES) throw new RegistryFormatError(`An invite code carries at most ${MAX_INVITE_ADDRESSES} addresses, this one says ${count}`)
  const addresses: string[] = []
  for (let i = 0; i < count; i++) {
    const length = reader.u16('address length')
    if (length > MAX_INVITE_ADDRESS_BYTES) throw new RegistryFormatError(`An address in an invite code is at most ${MAX_INVITE_ADDRESS_BYTES} bytes, this one is ${length}`)
    addresses.push(readAddress(reader.bytes(length, 'address')))
  }
  reader.finish()
  return { identity, ...(name !== undefined ? { name } : {}), addresses }
}

function readAddress (bytes: Uint8Array): string {
  let address: string
  try {
    address = addressDecoder.decode(bytes)
  } catch (error) {
    throw new RegistryFormatError('An address in the invite code is not valid UTF-8', { cause: error })
  }
  if (!ADDRESS_PATTERN.test(address)) throw new RegistryFormatError(`An address in the invite code is not a multiaddr: ${JSON.stringify(address)}`)
  return address
}

function checksum (crypto: CryptoProvider, body: Uint8Array): Uint8Array {
  return crypto.sha256(body).subarray(0, CHECKSUM_LENGTH)
}
