/**
 * Reliability helpers: a data directory as a comparable value (every file's
 * path, size, mtime and SHA-256), so a test can show that an operation wrote
 * nothing at all, and the RSS of another process, read from /proc.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'

/** One entry of a directory tree. */
export interface TreeEntry {
  kind: 'file' | 'dir'
  size: number
  /** Modification time, ms (sub-millisecond precision kept). */
  mtimeMs: number
  /** SHA-256 of the content (files only). */
  sha256?: string
}

/** Every file and directory under `root`, keyed by path relative to it. */
export async function snapshotTree (root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {}
  async function walk (dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      const info = await stat(path)
      const key = relative(root, path)
      if (entry.isDirectory()) {
        out[key] = { kind: 'dir', size: 0, mtimeMs: info.mtimeMs }
        await walk(path)
      } else {
        out[key] = { kind: 'file', size: info.size, mtimeMs: info.mtimeMs, sha256: createHash('sha256').update(await readFile(path)).digest('hex') }
      }
    }
  }
  const top = await stat(root)
  out['.'] = { kind: 'dir', size: 0, mtimeMs: top.mtimeMs }
  await walk(root)
  return out
}

/** Resident set size of process `pid` in bytes (Linux /proc), or undefined when it is gone. */
export async function rssOf (pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  } catch {
    return undefined
  }
}

