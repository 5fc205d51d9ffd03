/**
 * One node per data directory. Before the node opens LevelDB it takes
 * `node.lock`, a file created exclusively (`open(path, 'wx')`) that names the
 * holder: { pid, startedAt, hostname }. A second node finds it and stops with
 * a sentence naming the running one. LevelDB's own LOCK still guards the
 * database; this lock exists for the friendly message, and for the parts of
 * the data directory that are not in LevelDB.
 *
 * A lock whose process is gone (killed, crashed) is stale and is taken over.
 * Two nodes starting at once both see the stale lock, so the takeover runs
 * under a second exclusive file (`node.lock.takeover`): inside it the lock is
 * read again and removed only if it is still the stale one, then created
 * with 'wx' again (a third process may still win that create, and then this
 * one reports the winner).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** File name of the lock inside the data directory. */
export const DATA_LOCK_FILE = 'node.lock'
const TAKEOVER_SUFFIX = '.takeover'
/**
 * A lock file with no parseable content is being written by its creator
 * (create and write are two steps); after this long it is left over from a
 * crash between them, or from a full disk, and counts as stale.
 */
const UNWRITTEN_LOCK_GRACE_MS = 5_000
/** A takeover file older than this belongs to a process that died mid-takeover (it takes milliseconds). */
const STALE_TAKEOVER_MS = 10_000
/** Pause between attempts while another process is writing or taking over. */
const RETRY_DELAY_MS = 50
/** Attempts before giving up; at RETRY_DELAY_MS this covers both grace periods. */
const MAX_ATTEMPTS = 300

/** What the lock file says about its holder. */
export interface DataLockInfo {
  readonly pid: number
  /** ISO 8601 time the holder took the lock. */
  readonly startedAt: string
  readonly hostname: string
  /** Random, so a release never deletes a lock that another process re-created. */
  readonly nonce: string
}

/** A held data-directory lock. */
export interface DataLock {
  readonly path: string
  readonly info: DataLockInfo
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): Promise<void>
}

/** Another live node holds the data directory. */
export class DataDirLockedError extends Error {
  readonly holder: Omit<DataLockInfo, 'nonce'>
  constructor (readonly dataDir: string, readonly lockPath: string, holder: DataLockInfo) {
    const otherHost = holder.hostname !== hostname()
    const who = `pid ${holder.pid}${otherHost ? ` on host ${holder.hostname}` : ''}, started ${holder.startedAt}`
    super(`Another komrade node (${who}) is using the data directory ${dataDir}. ` +
      'Stop that node first, or start this one with a different data directory. ' +
      `If no such node is running, delete ${lockPath}`)
    this.name = 'DataDirLockedError'
    this.holder = { pid: holder.pid, startedAt: holder.startedAt, hostname: holder.hostname }
  }
}

/**
 * Locks this process holds or is taking, by path. A second acquire in the
 * same process fails at once, and a lock file naming our own pid but not our
 * nonce is told apart as stale (left by an earlier process that had the same
 * pid: containers restart with the same pids).
 */
const ownLocks = new Map<string, DataLockInfo>()

/** Takes the lock of `dataDir` (creating the directory, mode 0700), or throws DataDirLockedError. */
export async function acquireDataLock (dataDir: string, options: { signal?: AbortSignal } = {}): Promise<DataLock> {
  const dir = resolve(dataDir)
  const path = join(dir, DATA_LOCK_FILE)
  const ours = ownLocks.get(path)
  if (ours !== undefined) throw new DataDirLockedError(dir, path, ours)
  const info: DataLockInfo = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    hostname: hostname(),
    nonce: randomBytes(16).toString('hex')
  }
  ownLocks.set(path, info)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      options.signal?.throwIfAborted()
      if (await tryCreate(path, info)) return heldLock(path, info)
      const found = await readLock(path)
      if (found === 'missing') continue // released in between: try again at once
      if (found === 'unwritten') {
        if (await ageMs(path) < UNWRITTEN_LOCK_GRACE_MS) { await sleep(RETRY_DELAY_MS); continue }
      } else if (isLive(path, found)) {
        throw new DataDirLockedError(dir, path, found)
      }
      await takeOverStale(path, found)
    }
    throw new Error(`Could not take ${path}: other processes kept changing it; try again`)
  } catch (cause) {
    ownLocks.delete(path)
    throw cause
  }
}

/** Creates the lock with 'wx' (atomic: fails if it exists). False if it exists. */
async function tryCreate (path: string, info: DataLockInfo): Promise<boolean> {
  let handle
  try {
    handle = await open(path, 'wx', 0o600)
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw cause
  }
  try {
    await handle.writeFile(JSON.stringify(info))
    await handle.sync()
  } catch (cause) {
    await handle.close().catch(() => {})
    await unlink(path).catch(() => {}) // a half-written lock would block the next start for the grace period
    throw cause
  }
  await handle.close()
  return true
}

type ReadResult = DataLockInfo | 'missing' | 'unwritten'

async function readLock (path: string): Promise<ReadResult> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return 'missing'
    throw cause
  }
  try {
    const parsed = JSON.parse(text) as Partial<DataLockInfo>
    if (Number.isSafeInteger(parsed.pid) && typeof parsed.startedAt === 'string' && typeof parsed.hostname === 'string') {
      return { pid: parsed.pid!, startedAt: parsed.startedAt, hostname: parsed.hostname, nonce: String(parsed.nonce ?? '') }
    }
  } catch {}
  return 'unwritten'
}

/** Whether the holder still runs. A holder on another host cannot be checked, so it counts as live. */
function isLive (path: string, holder: DataLockInfo): boolean {
  if (holder.hostname !== hostname()) return true
  if (holder.pid === process.pid) return ownLocks.get(path)?.nonce === holder.nonce
  try {
    process.kill(holder.pid, 0) // signal 0: checks existence, sends nothing
    return true
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by another user
  }
}

/** Removes `stale` under the takeover file, if the lock still is `stale`. */
async function takeOverStale (path: string, stale: ReadResult): Promise<void> {
  const guard = path + TAKEOVER_SUFFIX
  let handle
  try {
    handle = await open(guard, 'wx', 0o600)
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause
    if (await ageMs(guard) > STALE_TAKEOVER_MS) await unlink(guard).catch(() => {})
    else await sleep(RETRY_DELAY_MS)
    return // the caller tries again from the start
  }
  try {
    const now = await readLock(path)
    // An unwritten file may now be a fresh lock mid-write (its creator just
    // took over too): only an old one is still the stale one.
    const stillStale = now === 'unwritten' ? await ageMs(path) >= UNWRITTEN_LOCK_GRACE_MS : sameHolder(now, stale)
    if (stillStale) await unlink(path).catch(() => {})
  } finally {
    await handle.close()
    await unlink(guard).catch(() => {})
  }
}

function sameHolder (a: ReadResult, b: ReadResult): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b
  return a.pid === b.pid && a.startedAt === b.startedAt && a.nonce === b.nonce && a.hostname === b.hostname
}

async function ageMs (path: string): Promise<number> {
  try {
    return Date.now() - (await stat(path)).mtimeMs
  } catch {
    return 0 // gone: the next attempt will see it
  }
}

function heldLock (path: string, info: DataLockInfo): DataLock {
  let released = false
  return {
    path,
    info,
    async release () {
      if (released) return
      released = true
      try {
        const now = await readLock(path)
        if (typeof now !== 'string' && now.nonce === info.nonce) await unlink(path).catch(() => {})
      } finally {
        ownLocks.delete(path)
      }
    }
  }
}
