/**
 * The identity file of a data directory: the 65-byte secret identity of
 * SPEC §9, written once with mode 0600 and never overwritten.
 *
 * With a passphrase the file is encrypted at rest: scrypt stretches the
 * passphrase into a key, XChaCha20-Poly1305 seals the identity. The file
 * then starts with a magic, so a plain file (whose first byte is the
 * identity's format byte 0x01) and an encrypted one are told apart:
 *
 *   magic "KOMRADE-KEY" (11) | version 1 (1) | log2 N (1) | r (1) | p (1) |
 *   salt (16) | nonce (24) | ciphertext of the 65-byte identity + tag (81)
 *
 * Everything before the ciphertext is the AEAD's associated data: a header
 * altered to weaker scrypt parameters fails like a wrong passphrase.
 */
import { scrypt as scryptCallback, randomBytes } from 'node:crypto'
import { mkdir, open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import {
  createIdentity, decodeIdentity, encodeIdentity, type CryptoProvider, type Identity
} from '../protocol/index.js'

/** File name of the identity inside the data directory. */
export const IDENTITY_FILE = 'identity.key'

/** First bytes of an encrypted identity file. A plain one starts with 0x01, which no magic does. */
const ENCRYPTED_MAGIC = new TextEncoder().encode('KOMRADE-KEY')
const ENCRYPTED_VERSION = 1
/**
 * scrypt cost: N = 2^17, r = 8, p = 1 (RFC 7914's interactive-login
 * suggestion raised one step; about 0.3 s and 128 MiB here), paid once per
 * start of the node.
 */
export const DEFAULT_SCRYPT_LOG_N = 17
const SCRYPT_R = 8
const SCRYPT_P = 1
/**
 * Most memory scrypt may take (node:crypto's `maxmem`): the header of the
 * file says how much scrypt needs (128 · N · r bytes), and a file someone
 * altered must not make the node allocate gigabytes before the passphrase
 * check fails. Twice the default's 128 MiB.
 */
export const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
/**
 * log2 N accepted, in a file and for a new one: below 14 is too weak to be
 * ours; above 17 needs 256 MiB or more at r = 8 (scrypt takes a little more
 * than 128 · N · r), past {@link MAX_SCRYPT_MEMORY}.
 */
const MIN_SCRYPT_LOG_N = 14
const MAX_SCRYPT_LOG_N = 17
/** p is parallel work on the same memory: more only costs time, and 4 is far beyond what we write. */
const MAX_SCRYPT_P = 4
const SALT_BYTES = 16
const NONCE_BYTES = 24
const KEY_BYTES = 32
const HEADER_BYTES = ENCRYPTED_MAGIC.length + 4 + SALT_BYTES + NONCE_BYTES
const TAG_BYTES = 16

/** Raised when `init` finds an identity already there. */
export class IdentityExistsError extends Error {
  constructor (readonly path: string) {
    super(`An identity already exists at ${path}; refusing to overwrite it (move it away first if you really mean to start over)`)
    this.name = 'IdentityExistsError'
  }
}

/** Raised when there is no identity yet. */
export class NoIdentityError extends Error {
  constructor (readonly path: string) {
    super(`No identity at ${path}; run \`komrade init\` first`)
    this.name = 'NoIdentityError'
  }
}

/** The identity file is encrypted and no passphrase was given. */
export class PassphraseRequiredError extends Error {
  constructor (readonly path: string) {
    super(`The identity at ${path} is protected by a passphrase; give it in KOMRADE_PASSPHRASE, ` +
      'with --passphrase-file FILE, or run the command on a terminal to be asked for it')
    this.name = 'PassphraseRequiredError'
  }
}

/** The passphrase does not open the identity file (or the file was altered). */
export class WrongPassphraseError extends Error {
  constructor (readonly path: string) {
    super(`The passphrase does not open the identity at ${path}; check it and try again ` +
      '(if it is right, the file was altered: restore it from your backup)')
    this.name = 'WrongPassphraseError'
  }
}

/** The identity file is neither a plain nor an encrypted identity this version knows. */
export class BadIdentityFileError extends Error {
  constructor (readonly path: string, reason: string) {
    super(`${path} is not a usable identity file: ${reason}; restore it from your backup`)
    this.name = 'BadIdentityFileError'
  }
}

/** Options of {@link createIdentityFile}. */
export interface IdentityFileInit {
  /** Encrypt the file with this passphrase. @default none: a plain file */
  passphrase?: string
  /** scrypt cost as log2 N, 14 to 17 (tests use less than the default). @default DEFAULT_SCRYPT_LOG_N (17) */
  scryptLogN?: number
}

async function deriveKey (passphrase: string, salt: Uint8Array, logN: number, r: number, p: number): Promise<Uint8Array> {
  const N = 2 ** logN
  return await new Promise((resolve, reject) => {
    // The parameters were checked; maxmem is the last guard (node:crypto's own default, 32 MiB, is below our cost).
    scryptCallback(passphrase.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: MAX_SCRYPT_MEMORY }, (error, key) => {
      if (error !== null) reject(error)
      else resolve(new Uint8Array(key))
    })
  })
}

function checkPassphrase (passphrase: unknown): asserts passphrase is string {
  if (typeof passphrase !== 'string') throw new TypeError(`"passphrase" expected a string, got ${typeof passphrase}`)
  if (passphrase === '') throw new RangeError('"passphrase" must not be empty')
}

/** Encrypts a secret identity's bytes with a passphrase (the encrypted file format). */
export async function encryptIdentityBytes (plain: Uint8Array, passphrase: string, options: { scryptLogN?: number } = {}): Promise<Uint8Array> {
  checkPassphrase(passphrase)
  const logN = options.scryptLogN ?? DEFAULT_SCRYPT_LOG_N
  if (!Number.isInteger(logN) || logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N) {
    throw new RangeError(`"scryptLogN" expected an integer from ${MIN_SCRYPT_LOG_N} to ${MAX_SCRYPT_LOG_N}, got ${logN}`)
  }
  const salt = new Uint8Array(randomBytes(SALT_BYTES))
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES))
  const header = new Uint8Array(HEADER_BYTES)
  header.set(ENCRYPTED_MAGIC, 0)
  let at = ENCRYPTED_MAGIC.length
  header[at++] = ENCRYPTED_VERSION
  header[at++] = logN
  header[at++] = SCRYPT_R
  header[at++] = SCRYPT_P
  header.set(salt, at)
  header.set(nonce, at + SALT_BYTES)
  const key = await deriveKey(passphrase, salt, logN, SCRYPT_R, SCRYPT_P)
  const sealed = xchacha20poly1305(key, nonce, header).encrypt(plain)
  key.fill(0)
  const out = new Uint8Array(HEADER_BYTES + sealed.length)
  out.set(header, 0)
  out.set(sealed, HEADER_BYTES)
  return out
}

/** Whether file bytes are an encrypted identity (by the magic). */
export function isEncryptedIdentity (bytes: Uint8Array): boolean {
  return bytes.length >= ENCRYPTED_MAGIC.length && ENCRYPTED_MAGIC.every((byte, i) => bytes[i] === byte)
}

/** Decrypts the encrypted file format; `path` names the file in errors. */
export async function decryptIdentityBytes (bytes: Uint8Array, passphrase: string, path = IDENTITY_FILE): Promise<Uint8Array> {
  checkPassphrase(passphrase)
  if (!isEncryptedIdentity(bytes)) throw new BadIdentityFileError(path, 'it does not start with the encrypted-identity magic')
  let at = ENCRYPTED_MAGIC.length
  const version = bytes[at++]
  if (version !== ENCRYPTED_VERSION) throw new BadIdentityFileError(path, `its format version ${String(version)} is newer than this komrade knows (${ENCRYPTED_VERSION}); update komrade`)
  if (bytes.length <= HEADER_BYTES + TAG_BYTES) throw new BadIdentityFileError(path, `it is too short (${bytes.length} bytes)`)
  const logN = bytes[at++]!
  const r = bytes[at++]!
  const p = bytes[at++]!
  // Checked before scrypt runs: an altered header must fail at once, not after allocating what it asks for.
  if (r !== SCRYPT_R) throw new BadIdentityFileError(path, `its scrypt block size r is ${r}, and komrade writes only r = ${SCRYPT_R} (the file was altered)`)
  if (p < 1 || p > MAX_SCRYPT_P) throw new BadIdentityFileError(path, `its scrypt parallelism p is ${p}, outside 1 to ${MAX_SCRYPT_P} (the file was altered)`)
  if (logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N) {
    throw new BadIdentityFileError(path, `its scrypt cost log2 N is ${logN}, outside ${MIN_SCRYPT_LOG_N} to ${MAX_SCRYPT_LOG_N} ` +
      `(more would need over ${MAX_SCRYPT_MEMORY / 1024 / 1024} MiB of memory)`)
  }
  const salt = bytes.subarray(at, at + SALT_BYTES)
  const nonce = bytes.subarray(at + SALT_BYTES, HEADER_BYTES)
  const key = await deriveKey(passphrase, salt, logN, r, p)
  try {
    return xchacha20poly1305(key, nonce, bytes.subarray(0, HEADER_BYTES)).decrypt(bytes.subarray(HEADER_BYTES))
  } catch {
    throw new WrongPassphraseError(path)
  } finally {
    key.fill(0)
  }
}

/**
 * Creates a new identity in `dataDir` (mode 0700 directory, 0600 file),
 * encrypted when a passphrase is given. Never overwrites.
 */
export async function createIdentityFile (crypto: CryptoProvider, dataDir: string, init: IdentityFileInit = {}): Promise<Identity> {
  if (init.passphrase !== undefined) checkPassphrase(init.passphrase)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, IDENTITY_FILE)
  const identity = createIdentity(crypto)
  // Encrypt before creating the file: a failure then leaves no half-written identity behind.
  const bytes = init.passphrase === undefined
    ? encodeIdentity(identity)
    : await encryptIdentityBytes(encodeIdentity(identity), init.passphrase, init.scryptLogN === undefined ? {} : { scryptLogN: init.scryptLogN })
  let handle
  try {
    handle = await open(path, 'wx', 0o600) // 'wx': fail if it exists, atomically
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new IdentityExistsError(path)
    throw cause
  }
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  return identity
}

async function readBytes (dataDir: string): Promise<{ path: string, bytes: Uint8Array }> {
  const path = join(dataDir, IDENTITY_FILE)
  try {
    return { path, bytes: new Uint8Array(await readFile(path)) }
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw new NoIdentityError(path)
    throw cause
  }
}

/** Whether the identity file of `dataDir` is encrypted (NoIdentityError when there is none). */
export async function isIdentityFileEncrypted (dataDir: string): Promise<boolean> {
  return isEncryptedIdentity((await readBytes(dataDir)).bytes)
}

/**
 * Reads the identity of `dataDir`. An encrypted file needs `passphrase`
 * (PassphraseRequiredError without, WrongPassphraseError when it does not
 * open it); a plain file ignores it.
 */
export async function readIdentityFile (crypto: CryptoProvider, dataDir: string, options: { passphrase?: string } = {}): Promise<Identity> {
  const { path, bytes } = await readBytes(dataDir)
  if (!isEncryptedIdentity(bytes)) return decodeIdentity(crypto, bytes)
  if (options.passphrase === undefined || options.passphrase === '') throw new PassphraseRequiredError(path)
  const plain = await decryptIdentityBytes(bytes, options.passphrase, path)
  try {
    return decodeIdentity(crypto, plain)
  } finally {
    plain.fill(0)
  }
}
