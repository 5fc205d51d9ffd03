/**
 * `komrade operator` as real processes: it prints its identity, addresses
 * and the line nodes need, refuses an export while it runs, stops cleanly on
 * SIGTERM; then `export` and `audit` work on its data directory, and an
 * altered export fails the audit with exit code 1.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { openRegistry } from '../../bootstrap/index.js'
import { readIdentityFile } from '../../node/identity-file.js'
import { createIdentity, createRegistration } from '../../protocol/index.js'
import { crypto, removeTempDirs, tempDir, TEST_WORK_TRIALS } from './registry-helpers.js'

const CLI = join(import.meta.dirname, '../../client/cli.ts')

interface Run {
  child: ChildProcess
  stdout: string
  stderr: string
  exited: Promise<number | null>
}

const running: Run[] = []

function komrade (args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.once('exit', (code) => { resolve(code) })) }
  child.stdout!.on('data', (chunk: Buffer) => { run.stdout += chunk.toString() })
  child.stderr!.on('data', (chunk: Buffer) => { run.stderr += chunk.toString() })
  running.push(run)
  return run
}

async function until (what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

afterEach(async () => {
  for (const run of running.splice(0)) run.child.kill('SIGKILL')
  await removeTempDirs()
})

it('runs an Operator, exports its log once stopped, and audits it', async () => {
  const dataDir = await tempDir('komrade-operator-cli-')
  const operator = komrade(['operator', '--data-dir', dataDir, '--json', '--work-trials', String(TEST_WORK_TRIALS)])
  await until('the startup line', () => operator.stdout.includes('\n'))
  const info = JSON.parse(operator.stdout.split('\n')[0]!) as { identity: string, addresses: string[], nodeFlags: string, registry: { entries: number, workTrials: number } }
  expect(info.identity).toMatch(/^[0-9a-f]{128}$/)
  expect(info.addresses[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo/)
  expect(info.nodeFlags).toBe(`--operator ${info.identity} --bootstrap ${info.addresses.join(',')}`)
  expect(info.registry).toEqual({ entries: 0, workTrials: TEST_WORK_TRIALS })

  const early = komrade(['operator', 'export', '--data-dir', dataDir, '--out', join(dataDir, 'early.log')])
  expect(await early.exited).toBe(1)
  expect(early.stderr).toContain(`pid ${operator.child.pid}`)

  operator.child.kill('SIGTERM')
  expect(await operator.exited).toBe(0)
  expect(operator.stderr).toContain('"message":"stopped"')

  // A few names, written while the Operator is stopped (the same registry it keeps).
  const secret = await readIdentityFile(crypto, dataDir)
  const registry = await openRegistry({ dbPath: join(dataDir, 'registry'), crypto, operator: secret, workTrials: TEST_WORK_TRIALS })
  for (const name of ['cli_ann', 'cli_ben', 'cli_cat']) {
    const answer = await registry.register(await createRegistration(crypto, createIdentity(crypto), name, { workTrials: TEST_WORK_TRIALS }))
    expect(answer.ok).toBe(true)
  }
  await registry.close()

  const file = join(dataDir, 'registry.log')
  const exported = komrade(['operator', 'export', '--data-dir', dataDir, '--out', file])
  expect(await exported.exited).toBe(0)
  expect(exported.stdout).toContain('Exported 3 entries')

  const clean = komrade(['operator', 'audit', file, '--operator', info.identity, '--json'])
  expect(await clean.exited).toBe(0)
  expect(JSON.parse(clean.stdout)).toMatchObject({ entries: 3, names: 3, headMatches: true, signaturesChecked: true, problems: [] })
  // Without the key a log is not called clean, unless the caller says that is meant.
  const unchecked = komrade(['operator', 'audit', file])
  expect(await unchecked.exited).toBe(1)
  expect(unchecked.stderr).toContain('signatures not checked: pass --operator HEX')
  const consistencyOnly = komrade(['operator', 'audit', file, '--no-signatures', '--json'])
  expect(await consistencyOnly.exited).toBe(0)
  expect(JSON.parse(consistencyOnly.stdout)).toMatchObject({ entries: 3, signaturesChecked: false, problems: [] })

  const bytes = new Uint8Array(await readFile(file))
  bytes[60]! ^= 0x01 // inside entry 0
  await writeFile(file, bytes)
  const altered = komrade(['operator', 'audit', file, '--operator', info.identity])
  expect(await altered.exited).toBe(1)
  expect(altered.stdout).toContain('entry 0:')
  expect(altered.stdout).toContain('DOES NOT match')
}, 120_000)

it('explains itself and refuses bad usage', async () => {
  const help = komrade(['operator', '--help'])
  expect(await help.exited).toBe(0)
  expect(help.stdout).toContain('komrade operator audit FILE')
  expect(help.stdout).toContain('--no-signatures')
  expect(help.stdout).toContain('Examples:')
  const bad = komrade(['operator', 'export'])
  expect(await bad.exited).toBe(2)
  expect(bad.stderr).toContain('--out')
  const trials = komrade(['operator', '--data-dir', await tempDir(), '--work-trials', 'lots'])
  expect(await trials.exited).toBe(1)
  expect(trials.stderr).toContain('--work-trials')
}, 60_000)
