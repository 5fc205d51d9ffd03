/**
 * The clear errors that need no registry: no node running (exit 3, also
 * with a stale api.json), bad config values (named with their source), an
 * encrypted identity without or with a wrong passphrase, a passphrase file,
 * and usage errors (exit 2). Every message says what to do.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isIdentityFileEncrypted } from '../../node/identity-file.js'
import { cleanupProcesses, onTerminal, runKomrade, startDaemon, tempDir, until } from './cli-process.js'

afterAll(cleanupProcesses)

describe('clear errors', () => {
  it('no node running: exit 3 and the command to start one, also past a stale api.json', async () => {
    const dataDir = await tempDir()
    const results = await Promise.all([
      runKomrade(['status', '--data-dir', dataDir, '--json']),
      runKomrade(['inbox', '--data-dir', dataDir]),
      runKomrade(['contacts', 'list', '--data-dir', dataDir]),
      runKomrade(['send', 'grace', 'hi', '--data-dir', dataDir]),
      runKomrade(['chat', 'grace', '--data-dir', dataDir])
    ])
    for (const result of results) {
      expect(result.code).toBe(3)
      expect(result.stderr).toContain(`komrade start --data-dir ${dataDir}`)
      expect(result.stdout).toBe('')
    }
    // A daemon killed with SIGKILL leaves api.json behind: its pid is gone (a pid far beyond pid_max).
    await writeFile(join(dataDir, 'api.json'), JSON.stringify({ url: 'http://127.0.0.1:9', pid: 99_999_999 }))
    await writeFile(join(dataDir, 'api.token'), 'a'.repeat(64))
    const stale = await runKomrade(['status', '--data-dir', dataDir])
    expect(stale.code).toBe(3)
    expect(stale.stderr).toContain('is gone')
  })

  it('a bad config value names the setting and where it came from', async () => {
    const dataDir = await tempDir()
    const fromEnv = await runKomrade(['config', 'show', '--data-dir', dataDir], { env: { KOMRADE_QUOTA_MIB: 'lots' } })
    expect(fromEnv.code).toBe(1)
    expect(fromEnv.stderr).toContain('KOMRADE_QUOTA_MIB')
    expect(fromEnv.stderr).toContain('positive integer')
    const fromFlag = await runKomrade(['start', '--data-dir', dataDir, '--api-port', '99999'])
    expect(fromFlag.code).toBe(1)
    expect(fromFlag.stderr).toContain('--api-port')
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ apiPort: 'high' }))
    const fromFile = await runKomrade(['config', 'show', '--data-dir', dataDir, '--json'])
    expect(fromFile.code).toBe(1)
    expect(fromFile.stderr).toContain('"apiPort"')
    expect(fromFile.stderr).toContain('config.json')
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ apiPort: 7800, mdns: true }))
    const shown = await runKomrade(['config', 'show', '--data-dir', dataDir])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/apiPort\s+7800\s+config file .*config\.json/)
    expect(shown.stdout).toMatch(/listen\s+\/ip4\/127\.0\.0\.1\/tcp\/0\s+default/)
  })

  it('an encrypted identity needs its passphrase: none, a wrong one, then the right one from a file', async () => {
    const dataDir = await tempDir()
    const noTerminal = await runKomrade(['init', '--passphrase', '--data-dir', dataDir])
    expect(noTerminal.code).toBe(1)
    expect(noTerminal.stderr).toContain('KOMRADE_PASSPHRASE')
    const file = join(dataDir, 'passphrase.txt')
    await writeFile(file, 'right one\n')
    expect((await runKomrade(['init', '--passphrase-file', file, '--data-dir', dataDir])).code).toBe(0)
    const [missing, wrong, offline] = await Promise.all([
      runKomrade(['start', '--data-dir', dataDir, '--api-port', '0']),
      runKomrade(['start', '--data-dir', dataDir, '--api-port', '0'], { env: { KOMRADE_PASSPHRASE: 'wrong one' } }),
      runKomrade(['whoami', '--data-dir', dataDir, '--passphrase-file', file, '--json'])
    ])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('protected by a passphrase')
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('The passphrase does not open')
    expect(JSON.parse(offline.stdout)).toMatchObject({ running: false })
    const { run, facts } = await startDaemon(dataDir, ['--passphrase-file', file])
    expect(facts.fingerprint).toBe((JSON.parse(offline.stdout) as { fingerprint: string }).fingerprint)
    run.child.kill('SIGTERM')
    expect(await run.exited).toBe(0)
  })

  it('init --passphrase asks twice on a terminal, echoes nothing, and refuses two that differ', async () => {
    const dataDir = join(await tempDir(), 'data')
    const differ = onTerminal(['init', '--passphrase', '--data-dir', dataDir])
    await until('the first question', () => differ.screen.includes('Passphrase for the new identity: '))
    differ.type('one secret\r')
    await until('the second question', () => differ.screen.includes('The same passphrase again: '))
    differ.type('another secret\r')
    expect(await differ.exited).toBe(1)
    expect(differ.screen).toContain('The two passphrases differ')

    const terminal = onTerminal(['init', '--passphrase', '--data-dir', dataDir])
    await until('the first question', () => terminal.screen.includes('Passphrase for the new identity: '))
    terminal.type('typed secret\r')
    await until('the second question', () => terminal.screen.includes('The same passphrase again: '))
    terminal.type('typed secret\r')
    expect(await terminal.exited).toBe(0)
    expect(terminal.screen).not.toContain('typed secret')
    expect(terminal.screen).toContain('encrypted')
    expect(await isIdentityFileEncrypted(dataDir)).toBe(true)
    const unlocked = await runKomrade(['whoami', '--data-dir', dataDir, '--json'], { env: { KOMRADE_PASSPHRASE: 'typed secret' } })
    expect(unlocked.code, unlocked.stderr).toBe(0)
  })

  it('usage errors exit 2 with the command\'s help on stderr', async () => {
    const results = await Promise.all([
      runKomrade(['send']),
      runKomrade(['contacts', 'frobnicate']),
      runKomrade(['chat']),
      runKomrade(['status', 'extra']),
      runKomrade(['inbox', '--limit', 'many']),
      runKomrade(['register', 'ada', '--no-such-flag']),
      runKomrade([])
    ])
    for (const result of results) {
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('Usage:')
    }
  })
})
