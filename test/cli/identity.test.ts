/** The `komrade` command, run as a real process on a real data directory. */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { decodeIdentity, fingerprint, identityId, nativeCrypto } from '../../protocol/index.js'

const run = promisify(execFile)
const CLI = join(import.meta.dirname, '../../client/cli.ts')

interface Result { code: number, stdout: string, stderr: string }

async function komrade (args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number, stdout: string, stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

describe('komrade init / whoami', () => {
  let dataDir: string
  beforeEach(async () => { dataDir = join(await mkdtemp(join(tmpdir(), 'komrade-cli-')), 'data') })
  afterEach(async () => { await rm(join(dataDir, '..'), { recursive: true, force: true }) })

  it('creates a private identity once, and whoami reports it', async () => {
    const created = await komrade(['init', '--data-dir', dataDir, '--json'])
    expect(created.code).toBe(0)
    const info = JSON.parse(created.stdout) as { id: string, fingerprint: string }
    const file = join(dataDir, 'identity.key')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700)
    const identity = decodeIdentity(nativeCrypto(), new Uint8Array(await readFile(file)))
    expect(info.id).toBe(identityId(identity))
    expect(info.fingerprint).toBe(fingerprint(nativeCrypto(), identity))

    const again = await komrade(['init'], { KOMRADE_DATA_DIR: dataDir })
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('already exists')
    expect(decodeIdentity(nativeCrypto(), new Uint8Array(await readFile(file))).signingKey).toEqual(identity.signingKey)

    const whoami = await komrade(['whoami', '--json'], { KOMRADE_DATA_DIR: dataDir })
    expect(JSON.parse(whoami.stdout)).toMatchObject({ id: info.id, fingerprint: info.fingerprint })
  })

  it('tells the user to run init when there is no identity', async () => {
    const result = await komrade(['whoami', '--data-dir', dataDir])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('komrade init')
  })

  it('answers usage errors with exit code 2 and help with 0', async () => {
    expect((await komrade(['frobnicate'])).code).toBe(2)
    expect((await komrade(['whoami', '--no-such-flag'])).code).toBe(2)
    const help = await komrade(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('komrade init')
  })
})
