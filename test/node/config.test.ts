/** Daemon configuration: precedence and validation. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { nodeInitOf, resolveConfig } from '../../node/config.js'

describe('resolveConfig', () => {
  let dataDir: string
  beforeEach(async () => { dataDir = await mkdtemp(join(tmpdir(), 'komrade-config-')) })
  afterEach(async () => { await rm(dataDir, { recursive: true, force: true }) })

  it('takes flags over KOMRADE_* over config.json over defaults, key by key', async () => {
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ quotaMiB: 64, mdns: true, networkName: 'fromfile', autoDeleteAfterMs: '7d' }))
    const config = await resolveConfig({
      flags: { dataDir, quotaMiB: '32' },
      env: { KOMRADE_QUOTA_MIB: '48', KOMRADE_NETWORK: 'fromenv' }
    })
    expect(config.quotaMiB).toBe(32) // flag
    expect(config.networkName).toBe('fromenv') // env over file
    expect(config.mdns).toBe(true) // file over default
    expect(config.autoDeleteAfterMs).toBe(7 * 86_400_000)
    expect(config.logLevel).toBe('info') // default
    expect(nodeInitOf(config)).toMatchObject({ dataDir, quotaBytes: 32 * 1024 * 1024, networkName: 'fromenv', mdns: true })
  })

  it('finds the data directory from the flag, then KOMRADE_DATA_DIR', async () => {
    expect((await resolveConfig({ env: { KOMRADE_DATA_DIR: dataDir } })).dataDir).toBe(dataDir)
    expect((await resolveConfig({ flags: { dataDir }, env: { KOMRADE_DATA_DIR: '/nonexistent' } })).dataDir).toBe(dataDir)
  })

  it.each([
    [{ flags: { quotaMiB: '-1' } }, '--quota-mib'],
    [{ env: { KOMRADE_MDNS: 'maybe' } }, 'KOMRADE_MDNS'],
    [{ env: { KOMRADE_LOG_LEVEL: 'loud' } }, 'KOMRADE_LOG_LEVEL'],
    [{ env: { KOMRADE_AUTO_DELETE: 'soon' } }, 'KOMRADE_AUTO_DELETE']
  ])('refuses %j with a ConfigError naming %s', async (sources, source) => {
    await expect(resolveConfig({ ...sources, flags: { dataDir, ...(sources as { flags?: object }).flags } }))
      .rejects.toMatchObject({ name: 'ConfigError', message: expect.stringContaining(source) as unknown })
  })

  it('refuses unknown settings and malformed files', async () => {
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ quota: 1 }))
    await expect(resolveConfig({ flags: { dataDir } })).rejects.toMatchObject({ name: 'ConfigError' })
    await writeFile(join(dataDir, 'config.json'), '{ not json')
    await expect(resolveConfig({ flags: { dataDir } })).rejects.toMatchObject({ name: 'ConfigError' })
  })
})
