/**
 * The README's walkthrough "two nodes on one machine" is real: its shell
 * block runs as written (an Operator, two daemons, register, contacts add,
 * send, inbox, verify, chat, stop), with `npx komrade` run from the sources.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import { CLI } from './cli-process.js'

const root = join(import.meta.dirname, '../..')
/** The README to read; the walkthrough block follows this marker. */
const README = join(root, 'README.md')

it('the README walkthrough runs as written and ends in a delivered conversation', async () => {
  const readme = await readFile(README, 'utf8')
  const match = /<!-- example: cli-walkthrough[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme)
  expect(match, 'README.md has no walkthrough: a ```sh block after <!-- example: cli-walkthrough -->').not.toBeNull()
  // `npx komrade` runs the sources; on a failing step the trap stops whatever the block started.
  // Job control (set -m) gives each background job its own process group, as in a terminal: `kill %1` then stops the
  // job's node too, not only the shell function around it.
  const script = [
    'set -e -m',
    'trap \'for job in $(jobs -p); do kill -- -$job; done 2>/dev/null || true\' EXIT',
    `npx () { if [ "$1" = komrade ]; then shift; "${process.execPath}" --import tsx "${CLI}" "$@"; else command npx "$@"; fi; }`,
    match![1]!
  ].join('\n')
  // HOME inside the repository, so the proof-of-work workers (run from the sources) find tsx from the walkthrough's directory.
  const home = await mkdtemp(join(root, 'test/.readme-cli-'))
  try {
    const running = promisify(execFile)('bash', ['-c', script], {
      timeout: 150_000,
      // Cover traffic off: at its default rate the message and its receipt each wait about a minute for a slot.
      env: { ...process.env, HOME: home, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, KOMRADE_DATA_DIR: '', KOMRADE_PASSPHRASE: '', KOMRADE_COVER: 'false' }
    })
    running.child.stdin!.end() // nobody types: `komrade chat` reads the end of its input and leaves
    const { stdout } = await running
    expect(stdout).toContain('Registered "grace"')
    expect(stdout).toMatch(/Sent to grace: delivered/)
    expect(stdout).toMatch(/\d\d:\d\d {2}\S.*: hello from ada/)
    expect(stdout).toContain('safety number')
    expect(stdout).toMatch(/web: http:\/\/127\.0\.0\.1:7802\/#login=/)
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}, 180_000)
