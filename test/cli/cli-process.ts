/**
 * Test helpers: `komrade` as real processes (through tsx, on the pinned
 * Node), daemons on 127.0.0.1 with `--api-port 0`, temp data directories.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const CLI = join(import.meta.dirname, '../../client/cli.ts')

/** A running (or finished) `komrade` process. */
export interface KomradeRun {
  child: ChildProcess
  stdout: string
  stderr: string
  exited: Promise<number | null>
}

/** Options of {@link komrade}. */
export interface RunOptions {
  env?: Record<string, string | undefined>
  /** 'pipe' keeps stdin open for the test to write; a number is a file descriptor; default: no input. */
  stdin?: 'pipe' | 'ignore' | number
}

const running = new Set<KomradeRun>()

/**
 * Environment of every run: no terminal-only behaviour leaks in from the one running the tests.
 * Cover traffic off (a test sets KOMRADE_COVER to turn it on): each message would wait about a minute for its slot.
 */
const BASE_ENV: Record<string, string | undefined> = { KOMRADE_PASSPHRASE: undefined, KOMRADE_DATA_DIR: undefined, NO_COLOR: undefined, KOMRADE_COVER: 'false' }

/** Starts `komrade ARGS` as a process. */
export function komrade (args: string[], options: RunOptions = {}): KomradeRun {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...process.env, ...BASE_ENV, ...options.env })) if (value !== undefined) env[key] = value
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] })
  const run: KomradeRun = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.once('exit', (code) => { running.delete(run); resolve(code) })) }
  child.stdout!.on('data', (chunk: Buffer) => { run.stdout += chunk.toString() })
  child.stderr!.on('data', (chunk: Buffer) => { run.stderr += chunk.toString() })
  running.add(run)
  return run
}

/** Runs `komrade ARGS` to its end. */
export async function runKomrade (args: string[], options: RunOptions = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const run = komrade(args, options)
  // 'close', not 'exit': 'exit' can come before the pipes are read to their end (a clean-clone CI run
  // under load got an empty stderr from a process that had written its usage error).
  const closed = new Promise<void>((resolve) => run.child.once('close', () => { resolve() }))
  const code = await run.exited
  await closed
  return { code, stdout: run.stdout, stderr: run.stderr }
}

/** Polls `check` until true; fails with `what` after `timeoutMs`. */
export async function until (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** What `komrade start --json` prints first. */
export interface DaemonFacts {
  id: string
  fingerprint: string
  publicIdentity: string
  addresses: string
  api: string
  web: string
  dataDir: string
}

/** Starts `komrade start --json --api-port 0` on loopback and waits for its facts line. */
export async function startDaemon (dataDir: string, args: string[] = [], options: RunOptions = {}): Promise<{ run: KomradeRun, facts: DaemonFacts }> {
  const run = komrade(['start', '--data-dir', dataDir, '--json', '--api-port', '0', '--work-threads', '1', ...args], options)
  await until(`the daemon on ${dataDir}`, () => run.stdout.includes('\n') || run.child.exitCode !== null)
  if (!run.stdout.includes('\n')) throw new Error(`komrade start failed: ${run.stderr}`)
  return { run, facts: JSON.parse(run.stdout.split('\n')[0]!) as DaemonFacts }
}

const dirs: string[] = []

/** A fresh temp directory, removed by {@link cleanupProcesses}. */
export async function tempDir (prefix = 'komrade-cli-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

/** Kills what is still running and removes the temp directories. */
export async function cleanupProcesses (): Promise<void> {
  for (const run of running) run.child.kill('SIGKILL')
  await Promise.all([...running].map(async (run) => await run.exited))
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
}

/** `komrade ARGS` on a pseudo-terminal (util-linux script(1)): what a person at a terminal sees. */
export interface TerminalRun {
  /** Everything written to the terminal so far. */
  readonly screen: string
  /** Types into the terminal ("\r" is Enter, "\x04" Ctrl-D). */
  type(text: string): void
  exited: Promise<number | null>
  kill(): void
}

/** Starts `komrade ARGS` on a pseudo-terminal. */
export function onTerminal (args: string[], env: Record<string, string> = {}): TerminalRun {
  const command = [process.execPath, '--import', 'tsx', CLI, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ')
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...BASE_ENV, TERM: 'xterm', ...env } as Record<string, string> })
  let screen = ''
  child.stdout.on('data', (chunk: Buffer) => { screen += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
  return {
    get screen () { return screen },
    type (text) { child.stdin.write(text) },
    exited,
    kill () { child.kill('SIGKILL') }
  }
}
