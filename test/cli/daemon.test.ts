/** `komrade start` as a real daemon process: output, logs, the data-directory lock, signals, bad config. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const CLI = join(import.meta.dirname, '../../client/cli.ts')

interface Daemon {
  child: ChildProcess
  stdout: string
  stderr: string
  exited: Promise<number | null>
}

function komrade (args: string[], env: Record<string, string> = {}): Daemon {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const daemon: Daemon = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.once('exit', (code) => { resolve(code) })) }
  child.stdout!.on('data', (chunk: Buffer) => { daemon.stdout += chunk.toString() })
  child.stderr!.on('data', (chunk: Buffer) => { daemon.stderr += chunk.toString() })
  return daemon
}

async function until (what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('komrade start', () => {
  let dataDir: string
  const running: Daemon[] = []
  beforeEach(async () => { dataDir = await mkdtemp(join(tmpdir(), 'komrade-daemon-')) })
  afterEach(async () => {
    for (const daemon of running.splice(0)) daemon.child.kill('SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
  })

  it('runs a node, refuses a second one on the same data directory, and stops cleanly on SIGTERM', async () => {
    const first = komrade(['start', '--data-dir', dataDir, '--json', '--api-port', '0'])
    running.push(first)
    await until('the startup line', () => first.stdout.includes('\n'))
    const info = JSON.parse(first.stdout.split('\n')[0]!) as Record<string, string>
    expect(info.publicIdentity).toMatch(/^[0-9a-f]{128}$/)
    expect(info.addresses).toContain('/ip4/127.0.0.1/tcp/')
    // Logs are JSON lines when stderr is not a terminal.
    const logLine = first.stderr.split('\n').find((line) => line.includes('node started'))
    expect(JSON.parse(logLine!)).toMatchObject({ level: 'info', component: 'komrade', message: 'node started' })

    const second = komrade(['start', '--data-dir', dataDir, '--api-port', '0'])
    running.push(second)
    expect(await second.exited).toBe(1)
    expect(second.stderr).toContain(`pid ${first.child.pid}`)

    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect(first.stderr).toContain('stopped')
  }, 90_000)

  it('names the bad setting and where it came from', async () => {
    const fromEnv = komrade(['start', '--data-dir', dataDir], { KOMRADE_QUOTA_MIB: 'lots' })
    expect(await fromEnv.exited).toBe(1)
    expect(fromEnv.stderr).toContain('KOMRADE_QUOTA_MIB')
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ mdns: 'sometimes' }))
    const fromFile = komrade(['start', '--data-dir', dataDir])
    expect(await fromFile.exited).toBe(1)
    expect(fromFile.stderr).toContain('"mdns"')
    expect(fromFile.stderr).toContain('config.json')
  }, 60_000)
})
