#!/usr/bin/env node
/**
 * The `komrade` command: the local identity and the daemon. Messaging
 * commands (send, inbox, chat...) talk to a running daemon through the
 * control API, which arrives with the client layer.
 *
 * Exit codes: 0 success, 1 failure (the message says what to do), 2 usage error.
 */
import { parseArgs } from 'node:util'
import { IdentityExistsError, NoIdentityError, createIdentityFile, readIdentityFile } from '../node/identity-file.js'
import { resolveDataDir } from '../node/data-dir.js'
import { ConfigError, nodeInitOf, resolveConfig } from '../node/config.js'
import { createKomradeNode } from '../node/komrade-node.js'
import { createLogger } from '../node/logger.js'
import { DataDirLockedError } from '../node/store/data-lock.js'
import { operatorCommand } from './operator-command.js'
import { encodePublicIdentity, fingerprint, identityId, nativeCrypto, toHex, type Identity } from '../protocol/index.js'

const USAGE = `komrade: a peer-to-peer dust-cloud messenger

Usage:
  komrade init [--data-dir DIR] [--json]     create this device's identity
  komrade whoami [--data-dir DIR] [--json]   show id, fingerprint and public keys
  komrade start [options]                    run the node (creates an identity if there is none)
  komrade operator [...]                     run a community's Operator; see komrade operator --help
  komrade --help | --version

Options:
  --data-dir DIR   data directory (default: $KOMRADE_DATA_DIR, else ~/.komrade)
  --json           machine-readable output

Options of start (flags > KOMRADE_* environment > DATA_DIR/config.json > defaults):
  --listen ADDRS          libp2p listen multiaddrs, comma-separated   KOMRADE_LISTEN (default /ip4/127.0.0.1/tcp/0)
  --announce ADDRS        addresses to announce instead              KOMRADE_ANNOUNCE
  --bootstrap ADDRS       bootstrap peers (/ip4/../tcp/../p2p/..)     KOMRADE_BOOTSTRAP
  --operator HEX          the network's Operator (128 hex, pinned)   KOMRADE_OPERATOR
  --operator-addresses A  where to reach it (default: the bootstrap) KOMRADE_OPERATOR_ADDRESSES
  --mdns                  find peers on the LAN                      KOMRADE_MDNS
  --network NAME          network name (topic, DHT prefix)           KOMRADE_NETWORK (default komrade)
  --contacts-only         only contacts with a session can reach you KOMRADE_CONTACTS_ONLY
  --refuse-strangers      do not answer first contacts               KOMRADE_ACCEPT_STRANGERS=false
  --auto-delete DURATION  delete local messages after e.g. 30d       KOMRADE_AUTO_DELETE
  --quota-mib N           envelope store quota in MiB                KOMRADE_QUOTA_MIB (default 512)
  --work-threads N        proof-of-work threads                      KOMRADE_WORK_THREADS
  --log-level LEVEL       debug, info, warn, error                   KOMRADE_LOG_LEVEL (default info)
  --log-format FORMAT     json, text, auto                           KOMRADE_LOG_FORMAT (default auto: JSON off a TTY)

Examples:
  komrade init
  komrade whoami --json
  komrade start --listen /ip4/0.0.0.0/tcp/4001 --bootstrap /ip4/203.0.113.7/tcp/4001/p2p/12D3Koo...
  KOMRADE_DATA_DIR=/srv/komrade komrade start

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

type StartFlags = Record<string, string | boolean | undefined>

/** Runs the daemon until SIGINT or SIGTERM. */
async function start (values: StartFlags): Promise<number> {
  const config = await resolveConfig({
    flags: {
      dataDir: values['data-dir'],
      listen: values.listen,
      announce: values.announce,
      bootstrap: values.bootstrap,
      operator: values.operator,
      operatorAddresses: values['operator-addresses'],
      mdns: values.mdns,
      networkName: values.network,
      contactsOnly: values['contacts-only'],
      acceptStrangers: values['refuse-strangers'] === true ? false : undefined,
      autoDeleteAfterMs: values['auto-delete'],
      quotaMiB: values['quota-mib'],
      workThreads: values['work-threads'],
      logLevel: values['log-level'],
      logFormat: values['log-format']
    }
  })
  const logger = createLogger({
    level: config.logLevel,
    ...(config.logFormat === 'auto' ? {} : { json: config.logFormat === 'json' })
  })
  const node = createKomradeNode({ ...nodeInitOf(config), logger })
  await node.start()
  const status = node.status()
  print(values.json === true, {
    id: status.id,
    fingerprint: status.fingerprint,
    publicIdentity: node.publicIdentity,
    peerId: status.peerId,
    addresses: status.addresses.join(' '),
    dataDir: config.dataDir
  }, 'Komrade node running (Ctrl-C to stop)')
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('stopping', { signal })
      resolve()
    }
    process.once('SIGINT', () => { stop('SIGINT') })
    process.once('SIGTERM', () => { stop('SIGTERM') })
  })
  await node.stop()
  logger.info('stopped')
  return 0
}

async function main (argv: string[]): Promise<number> {
  // The Operator has its own options and data directory: client/operator-command.ts.
  if (argv[0] === 'operator') return await operatorCommand(argv.slice(1))
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        listen: { type: 'string' },
        announce: { type: 'string' },
        bootstrap: { type: 'string' },
        operator: { type: 'string' },
        'operator-addresses': { type: 'string' },
        mdns: { type: 'boolean' },
        network: { type: 'string' },
        'contacts-only': { type: 'boolean' },
        'refuse-strangers': { type: 'boolean' },
        'auto-delete': { type: 'string' },
        'quota-mib': { type: 'string' },
        'work-threads': { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
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
      case 'start':
        return await start(values)
      default:
        process.stderr.write(`komrade: unknown command "${command}"\n\n${USAGE}\n`)
        return EXIT_USAGE
    }
  } catch (error) {
    if (error instanceof IdentityExistsError || error instanceof NoIdentityError || error instanceof DataDirLockedError || error instanceof ConfigError) {
      process.stderr.write(`komrade ${command}: ${error.message}\n`)
      return EXIT_FAILURE
    }
    process.stderr.write(`komrade ${command}: ${(error as Error).name}: ${(error as Error).message}\n`)
    return EXIT_FAILURE
  }
}

process.exitCode = await main(process.argv.slice(2))
