/**
 * `komrade init` and `komrade whoami`: this device's identity. whoami asks
 * the running node (which knows the registered name and can make an invite
 * code); with no node running it reads the identity file itself.
 */
import {
  createIdentityFile, isIdentityFileEncrypted, readIdentityFile
} from '../../node/identity-file.js'
import { encodePublicIdentity, fingerprint, identityId, nativeCrypto, toHex, type Identity } from '../../protocol/index.js'
import { KomradeApiError } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand } from './arguments.js'
import { EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { PASSPHRASE_ENV, PassphraseInputError, readPassphrase } from './passphrase.js'
import { printable, writeFields, writeJson } from './terminal.js'

export const INIT_HELP = `komrade init: create this device's identity (its keys) in the data directory

Usage:
  komrade init [--passphrase | --passphrase-file FILE] [--data-dir DIR] [--json]

Options:
${DATA_DIR_HELP}
  --passphrase          encrypt the identity file with a passphrase: asked twice on the terminal
                        (or taken from $${PASSPHRASE_ENV}); komrade start then needs it too
  --passphrase-file F   encrypt with the passphrase on the first line of F
  --json                print the result as JSON

Without --passphrase the file is plain (mode 0600), and $${PASSPHRASE_ENV} alone does not encrypt it.
komrade start creates an identity itself when there is none; init is for choosing a passphrase first.

Examples:
  komrade init
  komrade init --passphrase
  KOMRADE_PASSPHRASE='correct horse battery staple' komrade init --passphrase --data-dir ~/.komrade-work`

export const WHOAMI_HELP = `komrade whoami: this device's name, fingerprint and invite code

Usage:
  komrade whoami [--data-dir DIR] [--json]

Asks the running node; with none running, reads the identity file (the registered name and the
invite code then need a running node). An encrypted identity file asks for its passphrase.

Options:
${DATA_DIR_HELP}
  --passphrase-file F   passphrase of an encrypted identity (when no node runs)
  --json                print as JSON: { id, fingerprint, publicIdentity, name?, invite?, running }

Examples:
  komrade whoami
  komrade whoami --json | jq -r .invite`

function describe (identity: Identity): { id: string, fingerprint: string, publicIdentity: string } {
  const crypto = nativeCrypto()
  return { id: identityId(identity), fingerprint: fingerprint(crypto, identity), publicIdentity: toHex(encodePublicIdentity(identity)) }
}

/** `komrade init`. */
export async function initCommand (argv: string[]): Promise<number> {
  const parsed = parseCommand({
    name: 'komrade init',
    help: INIT_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, passphrase: { type: 'boolean' }, 'passphrase-file': { type: 'string' } }
  }, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const dataDir = dataDirOf(values)
  try {
    let passphrase: string | undefined
    if (values.passphrase === true || values['passphrase-file'] !== undefined) {
      passphrase = await readPassphrase({ ...(values['passphrase-file'] === undefined ? {} : { file: values['passphrase-file'] }) }, { confirm: true, what: 'for the new identity' })
      if (passphrase === undefined) {
        throw new PassphraseInputError(`--passphrase needs the passphrase: run on a terminal to be asked, or set ${PASSPHRASE_ENV}, or use --passphrase-file FILE`)
      }
    }
    const identity = await createIdentityFile(nativeCrypto(), dataDir, passphrase === undefined ? {} : { passphrase })
    const fields = { ...describe(identity), dataDir, encrypted: passphrase !== undefined }
    if (values.json === true) writeJson(process.stdout, fields)
    else {
      writeFields(process.stdout, `Created a new identity in ${dataDir}`, { ...fields, encrypted: fields.encrypted ? 'yes (the passphrase is needed to start the node)' : 'no' })
    }
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade init', dataDir })
  }
}

/** `komrade whoami`. */
export async function whoamiCommand (argv: string[]): Promise<number> {
  const parsed = parseCommand({
    name: 'komrade whoami',
    help: WHOAMI_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, 'passphrase-file': { type: 'string' } }
  }, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const dataDir = dataDirOf(values)
  try {
    let fields: { id: string, fingerprint: string, publicIdentity: string, name?: string, invite?: string, running: boolean }
    try {
      const client = await connectToDaemon(dataDir)
      const identity = await client.identity()
      fields = { id: identity.id, fingerprint: identity.fingerprint, publicIdentity: identity.publicIdentity, ...(identity.name === undefined ? {} : { name: identity.name }), invite: identity.invite, running: true }
    } catch (error) {
      if (!(error instanceof KomradeApiError && error.code === 'no_daemon')) throw error
      fields = { ...describe(await readOffline(dataDir, values['passphrase-file'])), running: false }
    }
    if (values.json === true) {
      writeJson(process.stdout, fields)
      return EXIT_OK
    }
    writeFields(process.stdout, fields.running ? 'This device' : 'This device (no node running)', {
      name: fields.name !== undefined ? printable(fields.name) : (fields.running ? '(none registered: komrade register NAME)' : '(ask a running node: komrade start)'),
      fingerprint: fields.fingerprint,
      id: fields.id,
      invite: fields.invite ?? '(needs a running node: komrade start)'
    })
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade whoami', dataDir })
  }
}

async function readOffline (dataDir: string, passphraseFile: string | undefined): Promise<Identity> {
  const crypto = nativeCrypto()
  if (!await isIdentityFileEncrypted(dataDir)) return await readIdentityFile(crypto, dataDir)
  const passphrase = await readPassphrase(passphraseFile === undefined ? {} : { file: passphraseFile }, { confirm: false, what: 'of the identity' })
  return await readIdentityFile(crypto, dataDir, passphrase === undefined ? {} : { passphrase })
}
