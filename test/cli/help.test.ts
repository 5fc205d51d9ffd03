/** `--help` of every command: exit 0, usage and an example on stdout, plain text (nothing for a terminal only). */
import { describe, expect, it } from 'vitest'
import { runKomrade } from './cli-process.js'

const COMMANDS = ['demo', 'init', 'start', 'status', 'whoami', 'register', 'lookup', 'contacts', 'send', 'inbox', 'chat', 'config', 'operator']

describe('help', () => {
  it('every command explains itself with examples', async () => {
    const results = await Promise.all(COMMANDS.map(async (command) => ({ command, result: await runKomrade([command, '--help']) })))
    for (const { command, result } of results) {
      expect(result.code, command).toBe(0)
      expect(result.stdout, command).toContain('Usage:')
      expect(result.stdout, command).toMatch(new RegExp(`Examples:\\n  komrade ${command}`))
      expect(result.stdout, command).not.toMatch(/[\x1b\r]/)
      expect(result.stderr, command).toBe('')
    }
  })

  it('the overview lists every command and the exit codes; `help COMMAND` is COMMAND --help', async () => {
    const [overview, viaHelp, version] = await Promise.all([runKomrade(['--help']), runKomrade(['help', 'chat']), runKomrade(['--version'])])
    expect(overview.code).toBe(0)
    for (const command of COMMANDS) expect(overview.stdout).toContain(`komrade ${command}`)
    expect(overview.stdout).toMatch(/Exit codes:\n {2}0 {2}success\n {2}1 {2}failure.*\n {2}2 {2}usage error.*\n {2}3 {2}no node running/)
    expect(viaHelp.stdout).toContain('komrade chat: talk with a contact')
    expect(version.stdout).toMatch(/^komrade \d+\.\d+\.\d+\n$/)
  })
})
