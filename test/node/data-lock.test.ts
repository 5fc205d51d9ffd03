/**
 * The data-directory lock: a second node (same process or another) fails
 * with DataDirLockedError naming the holder; stale locks are taken over,
 * also when several processes race for one.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { acquireDataLock, DATA_LOCK_FILE, type DataLock } from '../../node/store/data-lock.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'komrade-lock-'))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function acquire (dir: string): Promise<DataLock> {
  const lock = await acquireDataLock(dir)
  cleanups.push(async () => { await lock.release() })
  return lock
}

const lockedError = (pid: number): unknown => expect.objectContaining({
  name: 'DataDirLockedError',
  holder: expect.objectContaining({ pid }),
  message: expect.stringContaining(`pid ${pid}`)
})

interface Holder { child: ChildProcessWithoutNullStreams, ready: Promise<void>, outcome: Promise<string> }

/**
 * A child process that takes the lock of `dir`, prints `won` or the error
 * name, and then waits to be killed. With `onCue` it first prints `ready` and
 * waits for a line on stdin, so several can be started at the same moment.
 */
async function startHolder (dir: string, onCue = false): Promise<Holder> {
  const scriptDir = await tempDir()
  const script = join(scriptDir, 'holder.mts')
  const lockModule = pathToFileURL(fileURLToPath(new URL('../../node/store/data-lock.ts', import.meta.url))).href
  await writeFile(script, `
    import { acquireDataLock } from ${JSON.stringify(lockModule)}
    if (process.argv[3] === 'cue') {
      process.stdout.write('ready\\n')
      await new Promise(resolve => process.stdin.once('data', resolve))
    }
    try {
      await acquireDataLock(process.argv[2])
      process.stdout.write('won\\n')
    } catch (error) {
      process.stdout.write(error.name + '\\n')
    }
    setInterval(() => {}, 60_000)
  `)
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir, onCue ? 'cue' : 'now'])
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const lines: string[] = []
  const waiters: Array<() => void> = []
  let pending = ''
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split('\n')
    pending = parts.pop() ?? ''
    lines.push(...parts)
    for (const wake of waiters.splice(0)) wake()
  })
  const nextLine = async (skip: string): Promise<string> => await new Promise((resolve, reject) => {
    const check = (): void => {
      const line = lines.find(l => l !== skip)
      if (line !== undefined) resolve(line)
      else waiters.push(check)
    }
    child.once('exit', code => { reject(new Error(`holder exited with ${code}: ${stderr}`)) })
    check()
  })
  const ready = onCue ? nextLine('').then(() => {}) : Promise.resolve()
  return { child, ready, outcome: nextLine('ready') }
}

async function kill (child: ChildProcessWithoutNullStreams): Promise<void> {
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

/** The pid of a process that has already exited. */
async function deadPid (): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'process.exit(0)'])
  await new Promise(resolve => child.once('exit', resolve))
  const pid = child.pid!
  expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' })) // precondition
  return pid
}

async function writeLock (dir: string, content: object | string): Promise<void> {
  await writeFile(join(dir, DATA_LOCK_FILE), typeof content === 'string' ? content : JSON.stringify(content))
}

describe('data-directory lock', () => {
  it('refuses a second acquire in the same process, and allows it again after release', async () => {
    const dir = await tempDir()
    const lock = await acquireDataLock(dir)
    const written = JSON.parse(await readFile(join(dir, DATA_LOCK_FILE), 'utf8')) as Record<string, unknown>
    expect(written).toMatchObject({ pid: process.pid, hostname: hostname(), startedAt: lock.info.startedAt })
    await expect(acquireDataLock(dir)).rejects.toEqual(lockedError(process.pid))
    await lock.release()
    await lock.release() // twice is harmless
    await expect(readFile(join(dir, DATA_LOCK_FILE))).rejects.toMatchObject({ code: 'ENOENT' })
    await acquire(dir)
  })

  it('refuses while another process holds the lock, and takes it over once that process is killed', async () => {
    const dir = await tempDir()
    const holder = await startHolder(dir)
    expect(await holder.outcome).toBe('won')
    const refused = await acquireDataLock(dir).catch((error: unknown) => error)
    expect(refused).toEqual(lockedError(holder.child.pid!))
    expect((refused as Error).message).toContain(dir) // says which directory
    await kill(holder.child)
    const lock = await acquire(dir)
    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({ pid: process.pid, nonce: lock.info.nonce })
  })

  it('makes another process fail with DataDirLockedError while this one holds the lock', async () => {
    const dir = await tempDir()
    await acquire(dir)
    const other = await startHolder(dir)
    expect(await other.outcome).toBe('DataDirLockedError')
  })

  it('takes over stale locks: a finished process, an earlier process with our pid, an unwritten old file', async () => {
    const dir = await tempDir()
    const stale = { pid: await deadPid(), startedAt: new Date(0).toISOString(), hostname: hostname(), nonce: 'x' }
    await writeLock(dir, stale)
    let lock = await acquireDataLock(dir)
    expect(lock.info.pid).toBe(process.pid)
    await lock.release()

    await writeLock(dir, { ...stale, pid: process.pid }) // our pid, but not our lock
    lock = await acquireDataLock(dir)
    await lock.release()

    await writeLock(dir, '')
    const old = new Date(Date.now() - 60_000)
    await utimes(join(dir, DATA_LOCK_FILE), old, old)
    lock = await acquire(dir)
    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({ nonce: lock.info.nonce })
  })

  it('treats a lock from another host as live, and never releases a lock that is no longer its own', async () => {
    const dir = await tempDir()
    await writeLock(dir, { pid: await deadPid(), startedAt: new Date().toISOString(), hostname: 'elsewhere.example', nonce: 'y' })
    const refused = await acquireDataLock(dir).catch((error: unknown) => error)
    expect(refused).toMatchObject({ name: 'DataDirLockedError', holder: { hostname: 'elsewhere.example' } })
    expect((refused as Error).message).toContain('elsewhere.example')

    await rm(join(dir, DATA_LOCK_FILE))
    const lock = await acquireDataLock(dir)
    const replaced = { pid: 1, startedAt: new Date().toISOString(), hostname: hostname(), nonce: 'z' }
    await writeLock(dir, replaced) // someone removed ours and took it
    await lock.release()
    expect(JSON.parse(await readFile(join(dir, DATA_LOCK_FILE), 'utf8'))).toEqual(replaced)
  })

  it('lets exactly one of several racing processes take over a stale lock', async () => {
    const dir = await tempDir()
    for (let round = 0; round < 3; round++) { // each round is a fresh race; a naive takeover loses some of them
      await writeLock(dir, { pid: await deadPid(), startedAt: new Date(0).toISOString(), hostname: hostname(), nonce: 'w' })
      const racers = await Promise.all(Array.from({ length: 4 }, async () => await startHolder(dir, true)))
      await Promise.all(racers.map(async r => await r.ready))
      for (const r of racers) r.child.stdin.write('go\n') // all four start within a few milliseconds
      const outcomes = await Promise.all(racers.map(async r => await r.outcome))
      expect(outcomes.filter(o => o === 'won')).toHaveLength(1)
      expect(outcomes.filter(o => o === 'DataDirLockedError')).toHaveLength(3)
      const winner = racers[outcomes.indexOf('won')]!
      expect(JSON.parse(await readFile(join(dir, DATA_LOCK_FILE), 'utf8'))).toMatchObject({ pid: winner.child.pid })
      for (const r of racers) await kill(r.child)
    }
  })

  it('stops on an aborted signal', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(acquireDataLock(await tempDir(), { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' })
  })
})
