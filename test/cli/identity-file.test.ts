/**
 * The identity file format: plain, or encrypted with a passphrase (scrypt +
 * XChaCha20-Poly1305 behind a magic). Round trips, a wrong passphrase, a
 * missing one, altered bytes anywhere in the file, and plain files still read.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  BadIdentityFileError, createIdentityFile, decryptIdentityBytes, encryptIdentityBytes, IDENTITY_FILE, isIdentityFileEncrypted,
  PassphraseRequiredError, readIdentityFile, WrongPassphraseError
} from '../../node/identity-file.js'
import { createKomradeNode } from '../../node/komrade-node.js'
import { createIdentity, encodeIdentity, nativeCrypto } from '../../protocol/index.js'

const crypto = nativeCrypto()
/** Cheaper scrypt for most cases (one step above the least accepted); one case below uses the default cost. */
const FAST = { scryptLogN: 15 }
const dirs: string[] = []

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-idfile-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

describe('the identity file', () => {
  it('round-trips an encrypted identity at the default cost, mode 0600, and needs the passphrase', async () => {
    const dir = await tempDir()
    const created = await createIdentityFile(crypto, dir, { passphrase: 'correct horse battery staple' })
    const path = join(dir, IDENTITY_FILE)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const bytes = new Uint8Array(await readFile(path))
    expect(new TextDecoder().decode(bytes.subarray(0, 11))).toBe('KOMRADE-KEY')
    expect(bytes[12]).toBe(17) // log2 N
    expect(await isIdentityFileEncrypted(dir)).toBe(true)
    // No secret byte in the clear.
    expect(Buffer.from(bytes).includes(Buffer.from(created.signingSeed))).toBe(false)
    const read = await readIdentityFile(crypto, dir, { passphrase: 'correct horse battery staple' })
    expect(read.signingSeed).toEqual(created.signingSeed)
    expect(read.sealingSecret).toEqual(created.sealingSecret)
    await expect(readIdentityFile(crypto, dir)).rejects.toThrow(PassphraseRequiredError)
    await expect(readIdentityFile(crypto, dir)).rejects.toThrow(/KOMRADE_PASSPHRASE/)
    await expect(readIdentityFile(crypto, dir, { passphrase: 'Correct horse battery staple' })).rejects.toThrow(WrongPassphraseError)
  })

  it('fails like a wrong passphrase on any altered byte of the header or the ciphertext', async () => {
    const plain = encodeIdentity(createIdentity(crypto))
    const sealed = await encryptIdentityBytes(plain, 'pass', FAST)
    expect(await decryptIdentityBytes(sealed, 'pass')).toEqual(plain)
    // Past the magic, the version and the scrypt parameters: salt, nonce, ciphertext and tag.
    for (const offset of [15, 30, 40, 60, 80, sealed.length - 1]) {
      const altered = sealed.slice()
      altered[offset]! ^= 0x01
      await expect(decryptIdentityBytes(altered, 'pass'), `offset ${offset}`).rejects.toThrow(WrongPassphraseError)
    }
    // Parameters still within the limits, but not the ones written: the header is authenticated.
    const weaker = sealed.slice()
    weaker[12] = 14
    await expect(decryptIdentityBytes(weaker, 'pass')).rejects.toThrow(WrongPassphraseError)
    const moreParallel = sealed.slice()
    moreParallel[14] = 2
    await expect(decryptIdentityBytes(moreParallel, 'pass')).rejects.toThrow(WrongPassphraseError)
    const newer = sealed.slice()
    newer[11] = 2
    await expect(decryptIdentityBytes(newer, 'pass')).rejects.toThrow(/newer than this komrade knows/)
    const absurd = sealed.slice()
    absurd[12] = 40
    await expect(decryptIdentityBytes(absurd, 'pass')).rejects.toThrow(BadIdentityFileError)
    await expect(decryptIdentityBytes(sealed.subarray(0, 60), 'pass')).rejects.toThrow(/too short/)
  })

  it('refuses scrypt parameters beyond the limits before running scrypt (no header makes it allocate gigabytes)', async () => {
    const sealed = await encryptIdentityBytes(encodeIdentity(createIdentity(crypto)), 'pass', FAST)
    const header = (logN: number, r: number, p: number): Uint8Array => {
      const altered = sealed.slice()
      altered.set([logN, r, p], 12)
      return altered
    }
    // 128 · 2^20 · 32 bytes: 4 GiB, what the old limits let a file ask for.
    for (const [logN, r, p, why] of [
      [20, 32, 16, /block size r is 32/], [15, 32, 1, /block size r is 32/], [15, 1, 1, /block size r is 1/], [15, 8, 5, /parallelism p is 5/],
      [15, 8, 0, /parallelism p is 0/], [18, 8, 1, /log2 N is 18/], [13, 8, 1, /log2 N is 13/], [255, 8, 1, /log2 N is 255/]
    ] as const) {
      const refused = await decryptIdentityBytes(header(logN, r, p), 'pass').catch((error: unknown) => error)
      expect(refused, `log2 N ${logN}, r ${r}, p ${p}`).toBeInstanceOf(BadIdentityFileError)
      expect((refused as Error).message).toMatch(why)
    }
    await expect(encryptIdentityBytes(encodeIdentity(createIdentity(crypto)), 'x', { scryptLogN: 18 })).rejects.toThrow(/scryptLogN/)
  })

  it('reads plain files as before, ignoring a passphrase, and refuses empty passphrases', async () => {
    const dir = await tempDir()
    const created = await createIdentityFile(crypto, dir)
    expect(await isIdentityFileEncrypted(dir)).toBe(false)
    expect((await readIdentityFile(crypto, dir)).signingSeed).toEqual(created.signingSeed)
    expect((await readIdentityFile(crypto, dir, { passphrase: 'whatever' })).signingSeed).toEqual(created.signingSeed)
    await expect(createIdentityFile(crypto, await tempDir(), { passphrase: '' })).rejects.toThrow(RangeError)
    await expect(encryptIdentityBytes(encodeIdentity(created), 'x', { scryptLogN: 5 })).rejects.toThrow(/scryptLogN/)
  })

  it('an altered magic makes the file unreadable rather than silently plain', async () => {
    const dir = await tempDir()
    await createIdentityFile(crypto, dir, { passphrase: 'pass', ...FAST })
    const path = join(dir, IDENTITY_FILE)
    const bytes = new Uint8Array(await readFile(path))
    bytes[0] = 0x4c
    await writeFile(path, bytes)
    await expect(readIdentityFile(crypto, dir, { passphrase: 'pass' })).rejects.toThrow()
  })

  it('a node starts on an encrypted identity with its passphrase, and not without it', async () => {
    const dir = await tempDir()
    const created = await createIdentityFile(crypto, dir, { passphrase: 'node pass', ...FAST })
    const locked = createKomradeNode({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1 })
    await expect(locked.start()).rejects.toThrow(PassphraseRequiredError)
    const node = createKomradeNode({ dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, passphrase: 'node pass' })
    await node.start()
    try {
      expect(node.identity.signingKey).toEqual(created.signingKey)
    } finally {
      await node.stop()
    }
    // A node with a passphrase and no identity yet creates an encrypted one.
    const fresh = await tempDir()
    const second = createKomradeNode({ dataDir: fresh, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, passphrase: 'fresh pass' })
    await second.start()
    await second.stop()
    expect(await isIdentityFileEncrypted(fresh)).toBe(true)
  })
})
