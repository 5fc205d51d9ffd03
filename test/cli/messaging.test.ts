/**
 * The CLI end to end against real daemons: two `komrade start` processes
 * (one with a plain identity from `init`, one encrypted with a passphrase)
 * and an Operator on 127.0.0.1; register, lookup, contacts, send, inbox,
 * chat driven through stdin, status and config show, the clear errors a
 * running node gives (name taken, unknown name, oversize message, wrong
 * token), and a clean stop.
 */
import { open, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import { isIdentityFileEncrypted } from '../../node/identity-file.js'
import { TEST_WORK_TRIALS } from '../bootstrap/registry-helpers.js'
import { cleanupProcesses, komrade, onTerminal, runKomrade, startDaemon, tempDir, until, type KomradeRun } from './cli-process.js'

let operator: Operator
let adaDir: string
let graceDir: string
let ada: KomradeRun
let grace: KomradeRun
const GRACE_PASS = { KOMRADE_PASSPHRASE: 'grace has a long passphrase' }

beforeAll(async () => {
  operator = createOperator({ dataDir: await tempDir('komrade-cli-operator-'), listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1 })
  await operator.start()
  const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))!
  const network = ['--operator', operator.identity, '--bootstrap', address]
  adaDir = join(await tempDir(), 'ada')
  graceDir = join(await tempDir(), 'grace')
  const [plain, encrypted] = await Promise.all([
    runKomrade(['init', '--data-dir', adaDir, '--json']),
    runKomrade(['init', '--passphrase', '--data-dir', graceDir, '--json'], { env: GRACE_PASS })
  ])
  expect(plain.code).toBe(0)
  expect(JSON.parse(plain.stdout)).toMatchObject({ encrypted: false })
  expect(encrypted.code, encrypted.stderr).toBe(0)
  expect(JSON.parse(encrypted.stdout)).toMatchObject({ encrypted: true })
  expect(await isIdentityFileEncrypted(graceDir)).toBe(true)
  // Without its passphrase the encrypted identity does not start, and says how to give it.
  const locked = await runKomrade(['start', '--data-dir', graceDir, '--api-port', '0', ...network])
  expect(locked.code).toBe(1)
  expect(locked.stderr).toContain('KOMRADE_PASSPHRASE')
  const started = await Promise.all([startDaemon(adaDir, network), startDaemon(graceDir, network, { env: GRACE_PASS })])
  ada = started[0].run
  grace = started[1].run
  expect(started[1].facts.web).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#login=/)
}, 120_000)

afterAll(async () => {
  await cleanupProcesses()
  await operator?.stop()
})

describe('two daemons and the CLI', () => {
  it('registers names, refuses a taken one and an unknown one, and adds contacts', async () => {
    // ada registers at a terminal (progress drawn, then cleared); grace through a pipe (no progress at all).
    const adaTerminal = onTerminal(['register', 'ada', '--data-dir', adaDir])
    const [adaCode, graceName] = await Promise.all([adaTerminal.exited, runKomrade(['register', 'grace', '--data-dir', graceDir])])
    expect(adaCode, adaTerminal.screen).toBe(0)
    expect(adaTerminal.screen).toContain('\r\x1b[2KProof of work')
    expect(adaTerminal.screen).toContain('Registered "ada"')
    expect(graceName.code, graceName.stderr).toBe(0)
    expect(graceName.stdout).toContain('Registered "grace"')
    // No progress drawing off a terminal: stderr stays empty.
    expect(graceName.stderr).toBe('')

    const [taken, unknown, lookup] = await Promise.all([
      runKomrade(['register', 'ada', '--data-dir', graceDir]),
      runKomrade(['contacts', 'add', 'nobody_here', '--data-dir', adaDir]),
      runKomrade(['lookup', 'grace', '--data-dir', adaDir, '--json'])
    ])
    expect(taken.code).toBe(1)
    expect(taken.stderr).toContain('"ada" is already registered')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('No one has registered "nobody_here"')
    expect(JSON.parse(lookup.stdout)).toMatchObject({ name: 'grace' })

    const [added, addedBack] = await Promise.all([
      runKomrade(['contacts', 'add', 'grace', '--data-dir', adaDir, '--json']),
      runKomrade(['contacts', 'add', 'ada', '--data-dir', graceDir])
    ])
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({ name: 'grace', fingerprint: JSON.parse(lookup.stdout).fingerprint })
    expect(addedBack.stdout).toContain('Added ada')
    const list = await runKomrade(['contacts', 'list', '--data-dir', adaDir, '--json'])
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((c) => c.name)).toEqual(['grace'])
  })

  it('verifies fingerprints: both sides see the same safety number, and a wrong one read out fails', async () => {
    const [fromAda, fromGrace, whoGrace] = await Promise.all([
      runKomrade(['contacts', 'verify', 'grace', '--data-dir', adaDir, '--json']),
      runKomrade(['contacts', 'verify', 'ada', '--data-dir', graceDir]),
      runKomrade(['whoami', '--data-dir', graceDir, '--json'])
    ])
    const verdict = JSON.parse(fromAda.stdout) as { theirs: string, yours: string, safetyNumber: string }
    const grace = JSON.parse(whoGrace.stdout) as { fingerprint: string, name: string, invite: string, running: boolean }
    expect(grace).toMatchObject({ name: 'grace', running: true })
    expect(grace.invite).toMatch(/^KOMRADE1-/)
    expect(verdict.theirs).toBe(grace.fingerprint)
    expect(fromGrace.stdout).toContain(verdict.safetyNumber)
    expect(fromGrace.stdout).toContain('in person or on a call')
    const [match, mismatch] = await Promise.all([
      runKomrade(['contacts', 'verify', 'grace', '--fingerprint', grace.fingerprint.toUpperCase(), '--data-dir', adaDir]),
      runKomrade(['contacts', 'verify', 'grace', '--fingerprint', 'aaaa bbbb cccc dddd eeee ffff', '--data-dir', adaDir])
    ])
    expect(match.code).toBe(0)
    expect(match.stdout).toContain('Match')
    expect(mismatch.code).toBe(1)
    expect(mismatch.stdout).toContain('MISMATCH')
  })

  it('sends, reads the inbox, chats through stdin with receipts, and refuses an oversize message', async () => {
    const sent = await runKomrade(['send', 'grace', 'first', 'words', '--wait', '--data-dir', adaDir, '--json'])
    expect(sent.code, sent.stderr).toBe(0)
    expect(JSON.parse(sent.stdout)).toMatchObject({ state: 'delivered', text: 'first words' })
    const inbox = await runKomrade(['inbox', '--data-dir', graceDir, '--json'])
    const received = JSON.parse(inbox.stdout) as Array<{ text: string }>
    expect(received.map((m) => m.text)).toEqual(['first words'])

    // grace chats with stdin open; ada pipes two lines in and waits for their receipts.
    const graceChat = komrade(['chat', 'ada', '--data-dir', graceDir], { stdin: 'pipe' })
    await until('grace\'s chat listening', () => graceChat.stderr.includes('Chatting with ada'))
    expect(graceChat.stdout).toContain('ada: first words') // the history
    const adaChat = komrade(['chat', 'grace', '--history', '0', '--data-dir', adaDir], { stdin: 'pipe' })
    adaChat.child.stdin!.end('hello grace\nhow are you?\n')
    expect(await adaChat.exited).toBe(0)
    expect(adaChat.stdout).toMatch(/\d\d:\d\d you: hello grace\n/)
    expect(adaChat.stdout).toMatch(/\d\d:\d\d delivered: hello grace\n/)
    expect(adaChat.stdout).toMatch(/\d\d:\d\d delivered: how are you\?\n/)
    await until('grace seeing both lines live', () => graceChat.stdout.includes('ada: how are you?'))
    expect(graceChat.stdout).toMatch(/\d\d:\d\d ada: hello grace\n/)
    graceChat.child.stdin!.end('fine, thanks\n')
    expect(await graceChat.exited).toBe(0)
    expect(graceChat.stdout).toContain('delivered: fine, thanks')
    // Piped: plain lines only, no escape sequences or carriage returns.
    for (const text of [adaChat.stdout, graceChat.stdout, adaChat.stderr, graceChat.stderr]) expect(text).not.toMatch(/[\x1b\r]/)
    const adaInbox = await runKomrade(['inbox', '--from', 'grace', '--data-dir', adaDir])
    expect(adaInbox.stdout).toMatch(/grace: fine, thanks/)

    // A file over 1 MiB piped to send is refused before anything is sent.
    const big = join(adaDir, 'big.txt')
    await writeFile(big, 'x'.repeat(1024 * 1024 + 100))
    const file = await open(big, 'r')
    try {
      const oversize = await runKomrade(['send', 'grace', '--data-dir', adaDir], { stdin: file.fd })
      expect(oversize.code).toBe(1)
      expect(oversize.stderr).toContain('too large')
    } finally {
      await file.close()
    }
  })

  it('chats on a terminal (a pseudo-terminal from script(1)): a prompt, check-marked receipts, Ctrl-D leaves', async () => {
    const terminal = onTerminal(['chat', 'grace', '--history', '0', '--data-dir', adaDir])
    try {
      await until('the prompt', () => terminal.screen.includes('> '))
      terminal.type('typed on a terminal\r')
      await until('the check-marked receipt', () => terminal.screen.includes('✓ delivered: typed on a terminal'))
      terminal.type('\x04') // Ctrl-D
      expect(await terminal.exited).toBe(0)
    } finally {
      terminal.kill()
    }
    expect(terminal.screen).toContain('Enter sends; Ctrl-D or Ctrl-C leaves')
  })

  it('shows a stranger\'s escape sequences and bidi overrides as visible text, never to the terminal', async () => {
    // A window title, a cleared screen, a right-to-left override; then a line break with a forged "you:" line after it.
    const hostile = 'hi\x1b]0;PWNED\x07\x1b[2J\u202e\x9b31m\r\n12:00 you: forged'
    const graceChat = komrade(['chat', 'ada', '--history', '0', '--data-dir', graceDir], { stdin: 'pipe' })
    await until('grace\'s chat listening', () => graceChat.stderr.includes('Chatting with ada'))
    const sent = await runKomrade(['send', 'grace', hostile, '--wait', '--data-dir', adaDir])
    expect(sent.code, sent.stderr).toBe(0)
    await until('the live line', () => graceChat.stdout.includes('PWNED'))
    graceChat.child.stdin!.end()
    expect(await graceChat.exited).toBe(0)
    const [inbox, history] = await Promise.all([
      runKomrade(['inbox', '--from', 'ada', '--limit', '1', '--data-dir', graceDir]),
      runKomrade(['chat', 'ada', '--history', '1', '--data-dir', graceDir])
    ])
    expect(history.code, history.stderr).toBe(0)
    for (const [what, output] of [['inbox', inbox.stdout], ['live chat', graceChat.stdout], ['chat history', history.stdout]] as const) {
      expect(output, what).toContain('PWNED')
      expect(output, what).not.toMatch(/[\x1b\x07\r\x9b\u202e]/)
      expect(output, what).toContain('\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{202e}')
      // The line after the break is indented: it cannot pass for a line of its own.
      expect(output, what).not.toMatch(/^12:00 you: forged/m)
      expect(output, what).toMatch(/^ +12:00 you: forged/m)
    }
  })

  it('reports status and configuration, and names a wrong token', async () => {
    const [status, text, config] = await Promise.all([
      runKomrade(['status', '--data-dir', adaDir, '--json']),
      runKomrade(['status', '--data-dir', adaDir]),
      runKomrade(['config', 'show', '--data-dir', adaDir, '--json'], { env: { KOMRADE_QUOTA_MIB: '64' } })
    ])
    const parsed = JSON.parse(status.stdout) as { apiVersion: number, name: string, peers: number, registry: { operator: string } }
    expect(parsed).toMatchObject({ apiVersion: 1, name: 'ada', registry: { operator: operator.identity } })
    expect(parsed.peers).toBeGreaterThan(0)
    expect(text.stdout).toContain('peers')
    expect(text.stdout).not.toMatch(/[\x1b\r]/)
    const settings = JSON.parse(config.stdout) as Record<string, { value: unknown, source: string, from: string }>
    expect(settings.quotaMiB).toEqual({ value: 64, source: 'env', from: 'KOMRADE_QUOTA_MIB' })
    expect(settings.dataDir).toMatchObject({ value: adaDir, source: 'flag' })
    expect(settings.networkName).toMatchObject({ value: 'komrade', source: 'default' })

    const tokenFile = join(adaDir, 'api.token')
    const token = await readFile(tokenFile, 'utf8')
    await writeFile(tokenFile, 'f'.repeat(64) + '\n')
    try {
      const refused = await runKomrade(['status', '--data-dir', adaDir])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain('refused the token')
    } finally {
      await writeFile(tokenFile, token)
    }
  })

  it('stops cleanly on SIGTERM and removes api.json; then commands say no node runs (exit 3)', async () => {
    const watching = komrade(['status', '--watch', '--data-dir', graceDir])
    await until('status --watch following', () => watching.stdout.includes('peers'))
    grace.child.kill('SIGTERM')
    expect(await grace.exited).toBe(0)
    // Following the node's events, status --watch says the node stopped, like chat: exit 3.
    expect(await watching.exited).toBe(3)
    expect(watching.stderr).toContain('komrade start')
    await expect(stat(join(graceDir, 'api.json'))).rejects.toThrow()
    const [status, send] = await Promise.all([
      runKomrade(['status', '--data-dir', graceDir]),
      runKomrade(['send', 'ada', 'hi', '--data-dir', graceDir])
    ])
    expect(status.code).toBe(3)
    expect(status.stderr).toContain('komrade start')
    expect(send.code).toBe(3)
    // whoami still answers offline, from the encrypted identity file with the passphrase.
    const offline = await runKomrade(['whoami', '--data-dir', graceDir, '--json'], { env: GRACE_PASS })
    expect(JSON.parse(offline.stdout)).toMatchObject({ running: false })
    ada.child.kill('SIGINT')
    expect(await ada.exited).toBe(0)
  })
})
