#!/usr/bin/env node
/**
 * The `komrade` command. This first version manages the local identity; the
 * daemon (`start`), messaging and the Operator commands arrive with the node,
 * Operator and client layers.
 *
 * Exit codes: 0 success, 1 failure (the message says what to do), 2 usage error.
 */
import { parseArgs } from 'node:util'
import { IdentityExistsError, NoIdentityError, createIdentityFile, readIdentityFile } from '../node/identity-file.js'
import { resolveDataDir } from '../node/data-dir.js'
import { encodePublicIdentity, fingerprint, identityId, nativeCrypto, toHex, type Identity } from '../protocol/index.js'

const USAGE = `komrade: a peer-to-peer dust-cloud messenger

Usage:
  komrade init [--data-dir DIR] [--json]     create this device's identity
  komrade whoami [--data-dir DIR] [--json]   show id, fingerprint and public keys
  komrade --help | --version

Options:
  --data-dir DIR   data directory (default: $KOMRADE_DATA_DIR, else ~/.komrade)
  --json           machine-readable output

Examples:
  komrade init
  komrade whoami --json
  KOMRADE_DATA_DIR=/srv/komrade komrade whoami

Exit codes: 0 success, 1 failure, 2 usage error.`

const EXIT_FAILURE = 1
const EXIT_USAGE = 2

function describe (identity: Identity): Record<string, string> {
  const crypto = nativeCrypto()
  return {
    id: identityId(identity),
    fingerprint: fingerprint(crypto, identity),
    publicIdentity: toHex(encodePublicIdentity(identity))
  }
}

function print (json: boolean, fields: Record<string, string>, heading: string): void {
  if (json) {
    process.stdout.write(JSON.stringify(fields) + '\n')
    return
  }
  process.stdout.write(`${heading}\n`)
  for (const [key, value] of Object.entries(fields)) process.stdout.write(`  ${key.padEnd(15)} ${value}\n`)
}

async function main (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', default: false }
      }
    })
  } catch (error) {
    process.stderr.write(`komrade: ${(error as Error).message}\n\n${USAGE}\n`)
    return EXIT_USAGE
  }
  const { values, positionals } = parsed
  if (values.version) {
    process.stdout.write('komrade 0.1.0\n')
    return 0
  }
  const [command, ...rest] = positionals
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE + '\n')
    return command === undefined && !values.help ? EXIT_USAGE : 0
  }
  if (rest.length > 0) {
    process.stderr.write(`komrade ${command}: unexpected argument "${rest[0]}"\n`)
    return EXIT_USAGE
  }
  const dataDir = resolveDataDir(values['data-dir'])
  const crypto = nativeCrypto()
  try {
    switch (command) {
      case 'init':
        print(values.json, { ...describe(await createIdentityFile(crypto, dataDir)), dataDir }, `Created a new identity in ${dataDir}`)
        return 0
      case 'whoami':
        print(values.json, describe(await readIdentityFile(crypto, dataDir)), 'This device')
        return 0
      default:
        process.stderr.write(`komrade: unknown command "${command}"\n\n${USAGE}\n`)
        return EXIT_USAGE
    }
  } catch (error) {
    if (error instanceof IdentityExistsError || error instanceof NoIdentityError) {
      process.stderr.write(`komrade ${command}: ${error.message}\n`)
      return EXIT_FAILURE
    }
    process.stderr.write(`komrade ${command}: ${(error as Error).name}: ${(error as Error).message}\n`)
    return EXIT_FAILURE
  }
}

process.exitCode = await main(process.argv.slice(2))
