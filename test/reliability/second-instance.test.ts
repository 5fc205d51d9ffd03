/**
 * Reliability scenario 7: a second instance on a data directory that a
 * running daemon holds.
 *
 * Load: one real `komrade start` daemon (its own process, loopback, API on a
 * free port) that has sent and received a message, so its directory holds
 * an identity, LevelDB, api.json, api.token and node.lock. Against it, three
 * second `komrade start` processes (text output, --json, --rotate-token) and
 * the library (`createKomradeNode().start()` in this process).
 *
 * Pass criterion: each second instance fails with a sentence naming the
 * running process (its pid and the directory), a non-zero exit code and no
 * startup facts on stdout; the library throws DataDirLockedError naming the
 * daemon's pid; and nothing was written: every file and directory under the
 * data directory has the same size, mtime and SHA-256 before and after. The
 * daemon is SIGSTOPped while the second instances run, so any change could
 * only come from them (the lock check reads the holder's liveness with
 * kill(pid, 0), which a stopped process answers). Afterwards the daemon
 * still answers `komrade status`, and once it is SIGKILLed the lock is
 * stale and a new daemon takes the directory over.
 *
 * (test/node/data-lock.test.ts covers the lock itself: races, stale locks,
 * other hosts; test/cli/daemon.test.ts the plain refusal. This adds the
 * "nothing written" proof, the other output modes and the library path
 * against a real daemon process.)
 */
import { afterAll, describe, expect, it } from 'vitest'
import { createKomradeNode } from '../../node/komrade-node.js'
import { cleanupProcesses, komrade, runKomrade, startDaemon, tempDir } from '../cli/cli-process.js'
import { snapshotTree } from './observe-helpers.js'

afterAll(cleanupProcesses)

describe('a second instance on a held data directory', () => {
  it('is refused with the holder named, a non-zero exit, and nothing written', async () => {
    const startedAt = Date.now()
    const dataDir = await tempDir('komrade-second-')
    const { run: daemon, facts } = await startDaemon(dataDir)
    const pid = daemon.child.pid!
    // Give the directory the usual contents: a message (to itself) in the outbox and the store.
    const sent = await runKomrade(['send', facts.publicIdentity, 'hello me', '--data-dir', dataDir, '--json'])
    expect(sent.code, sent.stderr).toBe(0)

    daemon.child.kill('SIGSTOP')
    const attempts: Array<{ args: string[], code: number | null, stdout: string, stderr: string }> = []
    let before: Awaited<ReturnType<typeof snapshotTree>>
    let after: Awaited<ReturnType<typeof snapshotTree>>
    let libraryError: unknown
    try {
      before = await snapshotTree(dataDir)
      for (const extra of [[], ['--json'], ['--rotate-token']]) {
        const args = ['start', '--data-dir', dataDir, '--api-port', '0', ...extra]
        attempts.push({ args, ...await runKomrade(args) })
      }
      libraryError = await createKomradeNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, cover: false })
        .start().then(() => undefined, (error: unknown) => error)
      after = await snapshotTree(dataDir)
    } finally {
      daemon.child.kill('SIGCONT')
    }

    for (const attempt of attempts) {
      expect(attempt.code, attempt.args.join(' ')).not.toBe(0)
      expect(attempt.code).not.toBeNull() // it exited on its own, not by a signal
      expect(attempt.stderr).toContain(`pid ${pid}`)
      expect(attempt.stderr).toContain(dataDir)
      expect(attempt.stderr).toMatch(/Stop that node first/)
      expect(attempt.stdout).toBe('') // no startup facts, no sign-in link
    }
    expect(libraryError).toMatchObject({ name: 'DataDirLockedError', holder: { pid } })
    expect((libraryError as Error).message).toContain(`pid ${pid}`)
    expect(Object.keys(before).length).toBeGreaterThan(10) // identity, db/*, api.json, api.token, node.lock...
    expect(before['node.lock']).toBeDefined()
    expect(before['api.token']).toBeDefined()
    expect(after).toEqual(before)

    // The daemon was not disturbed: it answers with its own identity.
    const status = await runKomrade(['status', '--data-dir', dataDir, '--json'])
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, id: facts.id })

    // A killed holder leaves a stale lock: the next daemon takes it over.
    daemon.child.kill('SIGKILL')
    await daemon.exited
    const next = komrade(['start', '--data-dir', dataDir, '--json', '--api-port', '0', '--work-threads', '1'])
    const nextFacts = await new Promise<string>((resolve, reject) => {
      next.child.stdout!.on('data', () => { if (next.stdout.includes('\n')) resolve(next.stdout) })
      void next.exited.then((code) => { reject(new Error(`the next daemon exited with ${code}: ${next.stderr}`)) })
    })
    expect(JSON.parse(nextFacts.split('\n')[0]!)).toMatchObject({ publicIdentity: facts.publicIdentity })
    console.log(`[scenario 7] "${attempts[0]!.stderr.trim()}" (exit ${attempts[0]!.code})`)
    console.log(`[scenario 7] ${attempts.length} CLI second instances + 1 library start refused; ` +
      `${Object.keys(before).length} entries unchanged; wall ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
  }, 120_000)
})
