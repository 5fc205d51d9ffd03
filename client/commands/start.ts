/**
 * `komrade start`: the daemon, the node and its control API in one process
 * (client/daemon.ts), until SIGINT or SIGTERM. An encrypted identity is
 * unlocked here: --passphrase-file, KOMRADE_PASSPHRASE, or a prompt on a
 * terminal.
 */
import { join } from 'node:path'
import { resolveConfig } from '../../node/config.js'
import { IDENTITY_FILE, isIdentityFileEncrypted, NoIdentityError, PassphraseRequiredError } from '../../node/identity-file.js'
import { runDaemon } from '../daemon.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand } from './arguments.js'
import { SETTINGS_HELP, SETTINGS_OPTIONS, settingsFlags } from './daemon-settings.js'
import { EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { PASSPHRASE_ENV, passphraseWithoutPrompt, readPassphrase } from './passphrase.js'

export const START_HELP = `komrade start: run the node and its control API (the daemon) until Ctrl-C or SIGTERM

Usage:
  komrade start [--data-dir DIR] [--json] [--rotate-token] [--passphrase-file FILE] [settings]

Creates an identity when there is none. Prints the node's facts, the API address and a one-time
sign-in link for the web UI (http://127.0.0.1:PORT/#login=…, valid 10 minutes). The CLI finds the
node through DATA_DIR/api.json and DATA_DIR/api.token. Logs go to stderr (JSON lines off a terminal).

Options:
${DATA_DIR_HELP}
  --json                print the startup facts as one JSON line
  --rotate-token        write a new API token first (scripts holding the old one stop working)
  --passphrase-file F   passphrase of an encrypted identity (else $${PASSPHRASE_ENV}, else asked on a terminal);
                        with no identity yet, the new one is encrypted with it

${SETTINGS_HELP}

Examples:
  komrade start
  komrade start --api-port 7718 --data-dir ~/.komrade-work
  komrade start --listen /ip4/0.0.0.0/tcp/4001 --bootstrap /ip4/203.0.113.7/tcp/4001/p2p/12D3Koo...
  komrade start --operator 3f2a…(128 hex) --bootstrap /dns4/komrade.example.org/tcp/4001/p2p/12D3Koo...
  komrade start --tor-socks 127.0.0.1:9150 --bootstrap /onion3/…(56 chars):4001/p2p/12D3Koo...   (Tor Browser running)
  komrade start --tor-only --tor-socks 127.0.0.1:9050 --tor-control 127.0.0.1:9051 --bootstrap /onion3/…
  KOMRADE_DATA_DIR=/srv/komrade komrade start --passphrase-file /run/secrets/komrade-passphrase`

/** `komrade start`. */
export async function startCommand (argv: string[]): Promise<number> {
  const parsed = parseCommand({
    name: 'komrade start',
    help: START_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, ...SETTINGS_OPTIONS, 'rotate-token': { type: 'boolean' }, 'passphrase-file': { type: 'string' } }
  }, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const dataDir = dataDirOf(values)
  try {
    const config = await resolveConfig({ flags: settingsFlags(values) })
    let passphrase: string | undefined
    try {
      passphrase = await unlockPassphrase(config.dataDir, values['passphrase-file'])
    } finally {
      // Read once, then gone: the node's worker threads and anything it spawns inherit the environment.
      delete process.env[PASSPHRASE_ENV]
    }
    const stop = new AbortController()
    const onSignal = (): void => { stop.abort() }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    await runDaemon(config, {
      signal: stop.signal,
      rotateToken: values['rotate-token'] === true,
      json: values.json === true,
      ...(passphrase === undefined ? {} : { nodeInit: { passphrase } })
    })
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade start', dataDir })
  }
}

/** The passphrase to start with: needed for an encrypted identity; used for a new one when given. */
async function unlockPassphrase (dataDir: string, file: string | undefined): Promise<string | undefined> {
  const sources = file === undefined ? {} : { file }
  let encrypted: boolean
  try {
    encrypted = await isIdentityFileEncrypted(dataDir)
  } catch (error) {
    if (!(error instanceof NoIdentityError)) throw error
    // No identity yet: one given without asking encrypts the new one; nobody is prompted for it.
    return await passphraseWithoutPrompt(sources)
  }
  if (!encrypted) return undefined
  const passphrase = await readPassphrase(sources, { confirm: false, what: 'of the identity' })
  if (passphrase === undefined) throw new PassphraseRequiredError(join(dataDir, IDENTITY_FILE))
  return passphrase
}
