/**
 * The identity file of a data directory: the 65-byte secret identity of
 * SPEC §9, written once with mode 0600 and never overwritten.
 * (Encryption at rest with a passphrase comes with the node daemon.)
 */
import { mkdir, open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createIdentity, decodeIdentity, encodeIdentity, type CryptoProvider, type Identity
} from '../protocol/index.js'

/** File name of the identity inside the data directory. */
export const IDENTITY_FILE = 'identity.key'

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

/** Creates a new identity in `dataDir` (mode 0700 directory, 0600 file). Never overwrites. */
export async function createIdentityFile (crypto: CryptoProvider, dataDir: string): Promise<Identity> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, IDENTITY_FILE)
  const identity = createIdentity(crypto)
  let handle
  try {
    handle = await open(path, 'wx', 0o600) // 'wx': fail if it exists, atomically
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new IdentityExistsError(path)
    throw cause
  }
  try {
    await handle.writeFile(encodeIdentity(identity))
    await handle.sync()
  } finally {
    await handle.close()
  }
  return identity
}

/** Reads the identity of `dataDir`. */
export async function readIdentityFile (crypto: CryptoProvider, dataDir: string): Promise<Identity> {
  const path = join(dataDir, IDENTITY_FILE)
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(path))
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') throw new NoIdentityError(path)
    throw cause
  }
  return decodeIdentity(crypto, bytes)
}
