/**
 * `komrade operator`: run a community's Operator, export its log, audit a
 * log. The Operator keeps its own data directory (default
 * `~/.komrade-operator`): its identity there is the one the network pins,
 * so it must never be a person's own node directory.
 *
 * Exit codes: 0 success (a clean audit), 1 failure (an audit with problems),
 * 2 usage error.
 */
import { stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { auditLog, createOperator, exportLog, REGISTRY_DIR, RegistryInUseError, type AuditReport } from '../../bootstrap/index.js'
import { ConfigError, resolveConfig } from '../../node/config.js'
import { createLogger } from '../../node/logger.js'
import { acquireDataLock, DataDirLockedError } from '../../node/store/data-lock.js'
import { decodePublicIdentity, DEFAULT_REGISTRATION_WORK_TRIALS, fingerprint, fromHex, MAX_WORK_TRIALS, nativeCrypto } from '../../protocol/index.js'
import { EXIT_FAILURE, EXIT_USAGE } from './exit-codes.js'

export const OPERATOR_USAGE = `komrade operator: run your community's Operator (name registry and bootstrap node)

Usage:
  komrade operator [options]                         run the Operator until Ctrl-C / SIGTERM
  komrade operator export --out FILE [--data-dir DIR] write the log (the Operator must be stopped)
  komrade operator audit FILE --operator HEX [--json]  check an exported log offline; exit 1 on problems
  komrade operator audit FILE --no-signatures [--json]  the same without the Operator's key: only the log's
                                                     own consistency (signatures NOT checked)

Options of the Operator:
  --data-dir DIR      its data directory (default: $KOMRADE_OPERATOR_DATA_DIR, else ~/.komrade-operator);
                      identity.key there is the Operator identity networks pin: back it up
  --listen ADDRS      libp2p listen multiaddrs, comma-separated (default /ip4/127.0.0.1/tcp/0)
  --announce ADDRS    addresses to announce instead (a public IP or DNS name)
  --bootstrap ADDRS   other bootstrap peers (another Operator)
  --network NAME      network name (default komrade)
  --discovery-only    no name registry: only a bootstrap and DHT node
  --tor-control ADDR  run as a Tor onion service through tor's control port (127.0.0.1:9051 or
                      unix:/run/tor/control; KOMRADE_TOR_CONTROL); onion.key there: back it up
  --tor-socks ADDR    tor's SOCKS port, to reach onion bootstrap peers (KOMRADE_TOR_SOCKS)
  --tor-only          every connection through tor; announce the onion address alone (KOMRADE_TOR_ONLY)
  --work-trials N     proof of work a registration needs, in expected hash trials
                      (default ${DEFAULT_REGISTRATION_WORK_TRIALS}, about 0.4 s on one core)
  --log-level LEVEL   debug, info, warn, error (default info)
  --log-format FMT    json, text, auto (default auto: JSON off a TTY)
  --json              print the startup line (and audit reports) as JSON

Examples:
  komrade operator --listen /ip4/0.0.0.0/tcp/4001 --announce /dns4/komrade.example.org/tcp/4001
  komrade operator export --data-dir /srv/komrade-operator --out registry.log
  komrade operator audit registry.log --operator 3f2a...(128 hex)

Nodes of the network then start with the line the Operator prints:
  komrade start --operator <identity> --bootstrap <address>`

const RUN_OPTIONS = new Set(['data-dir', 'listen', 'announce', 'bootstrap', 'network', 'discovery-only', 'work-trials', 'log-level', 'log-format', 'json', 'tor-control', 'tor-socks', 'tor-only'])
const EXPORT_OPTIONS = new Set(['data-dir', 'out'])
const AUDIT_OPTIONS = new Set(['operator', 'no-signatures', 'json'])
/** Environment variable overriding the Operator's default data directory. */
export const OPERATOR_DATA_DIR_ENV = 'KOMRADE_OPERATOR_DATA_DIR'

/** The Operator's data directory: explicit, else $KOMRADE_OPERATOR_DATA_DIR, else ~/.komrade-operator. */
export function resolveOperatorDataDir (explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined && explicit !== '') return resolve(explicit)
  const fromEnv = env[OPERATOR_DATA_DIR_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv)
  return join(homedir(), '.komrade-operator')
}

type Flags = Record<string, string | boolean | undefined>

function usageError (message: string): number {
  process.stderr.write(`komrade operator: ${message}\n\n${OPERATOR_USAGE}\n`)
  return EXIT_USAGE
}

/** Runs `komrade operator ...` with the arguments after `operator`. */
export async function operatorCommand (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        listen: { type: 'string' },
        announce: { type: 'string' },
        bootstrap: { type: 'string' },
        network: { type: 'string' },
        'discovery-only': { type: 'boolean' },
        'tor-control': { type: 'string' },
        'tor-socks': { type: 'string' },
        'tor-only': { type: 'boolean' },
        'work-trials': { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        out: { type: 'string' },
        operator: { type: 'string' },
        'no-signatures': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (error) {
    return usageError((error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    process.stdout.write(OPERATOR_USAGE + '\n')
    return 0
  }
  const [sub, ...rest] = positionals
  const allowed = sub === 'export' ? EXPORT_OPTIONS : sub === 'audit' ? AUDIT_OPTIONS : RUN_OPTIONS
  const stray = Object.keys(values).find((key) => values[key as keyof typeof values] !== undefined && !allowed.has(key))
  if (stray !== undefined) return usageError(`--${stray} does not apply to ${sub === undefined ? 'running the Operator' : sub}`)
  try {
    switch (sub) {
      case undefined:
        return await run(values)
      case 'export':
        if (rest.length > 0) return usageError(`unexpected argument "${rest[0]}"`)
        if (typeof values.out !== 'string') return usageError('export needs --out FILE')
        return await exportCommand(resolveOperatorDataDir(values['data-dir']), values.out)
      case 'audit':
        if (rest.length !== 1) return usageError('audit needs exactly one FILE')
        if (values.operator !== undefined && values['no-signatures'] === true) return usageError('give --operator HEX or --no-signatures, not both')
        return await auditCommand(rest[0]!, values.operator, values['no-signatures'] === true, values.json)
      default:
        return usageError(`unknown subcommand "${sub}"`)
    }
  } catch (error) {
    if (error instanceof DataDirLockedError || error instanceof ConfigError || error instanceof RegistryInUseError) {
      process.stderr.write(`komrade operator: ${error.message}\n`)
      return EXIT_FAILURE
    }
    process.stderr.write(`komrade operator: ${(error as Error).name}: ${(error as Error).message}\n`)
    return EXIT_FAILURE
  }
}

function parseWorkTrials (raw: string | boolean | undefined): number | undefined {
  if (raw === undefined) return undefined
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_WORK_TRIALS) {
    throw new ConfigError(`Bad value for --work-trials: ${JSON.stringify(raw)} (expected an integer from 1 to ${MAX_WORK_TRIALS})`)
  }
  return value
}

/** The addresses to give nodes: public ones when there are any, else all (a LAN or a test). */
function addressesForNodes (addresses: string[]): string[] {
  const isLocal = (address: string): boolean => /\/ip4\/(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)|\/ip6\/(::1|fe80|fc|fd)/.test(address)
  const publicOnes = addresses.filter((address) => !isLocal(address))
  return publicOnes.length > 0 ? publicOnes : addresses
}

/** Runs the Operator until SIGINT or SIGTERM. */
async function run (values: Flags): Promise<number> {
  const dataDir = resolveOperatorDataDir(values['data-dir'] as string | undefined)
  const workTrials = parseWorkTrials(values['work-trials'] ?? process.env.KOMRADE_OPERATOR_WORK_TRIALS)
  const config = await resolveConfig({
    flags: {
      dataDir,
      listen: values.listen,
      announce: values.announce,
      bootstrap: values.bootstrap,
      networkName: values.network,
      torControl: values['tor-control'],
      torSocks: values['tor-socks'],
      torOnly: values['tor-only'],
      logLevel: values['log-level'],
      logFormat: values['log-format']
    }
  })
  const logger = createLogger({
    level: config.logLevel,
    ...(config.logFormat === 'auto' ? {} : { json: config.logFormat === 'json' })
  })
  const operator = createOperator({
    dataDir,
    listen: config.listen,
    ...(config.announce.length > 0 ? { announce: config.announce } : {}),
    bootstrap: config.bootstrap,
    networkName: config.networkName,
    registry: values['discovery-only'] !== true,
    ...(workTrials === undefined ? {} : { workTrials }),
    quotaBytes: config.quotaMiB * 1024 * 1024,
    ...(config.workThreads === undefined ? {} : { workThreads: config.workThreads }),
    ...(config.torControl === undefined && config.torSocks === undefined
      ? {}
      : {
          tor: {
            ...(config.torControl === undefined ? {} : { control: config.torControl }),
            ...(config.torSocks === undefined ? {} : { socks: config.torSocks }),
            ...(config.torOnly ? { onlyTor: true } : {})
          }
        }),
    logger
  })
  await operator.start()
  const status = operator.node.status()
  const forNodes = addressesForNodes(operator.addresses)
  const registry = operator.registry
  const nodeFlags = registry === undefined
    ? `--bootstrap ${forNodes.join(',')}`
    : `--operator ${operator.identity} --bootstrap ${forNodes.join(',')}`
  const fields = {
    identity: operator.identity,
    fingerprint: fingerprint(nativeCrypto(), decodePublicIdentity(fromHex(operator.identity))),
    peerId: status.peerId,
    addresses: operator.addresses.join(' '),
    registry: registry === undefined ? 'none (discovery only)' : `${registry.size} entries, ${registry.info().workTrials} work trials`,
    dataDir,
    nodeFlags: `${config.networkName === 'komrade' ? '' : `--network ${config.networkName} `}${nodeFlags}`
  }
  if (values.json === true) {
    process.stdout.write(JSON.stringify({ ...fields, addresses: operator.addresses, registry: registry === undefined ? null : { entries: registry.size, workTrials: registry.info().workTrials } }) + '\n')
  } else {
    process.stdout.write('Komrade Operator running (Ctrl-C to stop)\n')
    for (const [key, value] of Object.entries(fields)) if (key !== 'nodeFlags') process.stdout.write(`  ${key.padEnd(15)} ${value}\n`)
    process.stdout.write(`Nodes of this network start with:\n  komrade start ${fields.nodeFlags}\n`)
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('stopping', { signal })
      resolve()
    }
    process.once('SIGINT', () => { stop('SIGINT') })
    process.once('SIGTERM', () => { stop('SIGTERM') })
  })
  await operator.stop()
  logger.info('stopped')
  return 0
}

async function exportCommand (dataDir: string, out: string): Promise<number> {
  const registryDir = join(dataDir, REGISTRY_DIR)
  try {
    await stat(registryDir)
  } catch {
    process.stderr.write(`komrade operator export: no registry in ${dataDir}; is this an Operator's data directory (--data-dir)?\n`)
    return EXIT_FAILURE
  }
  // A running Operator's node holds this lock: its message names the process, unlike LevelDB's LOCK error.
  const lock = await acquireDataLock(dataDir)
  try {
    const result = await exportLog(registryDir, resolve(out))
    process.stdout.write(`Exported ${result.entries} entries and the tree head that signs them to ${resolve(out)}\n`)
    if (result.unsignedEntries > 0) {
      process.stdout.write(`  (${result.unsignedEntries} newer entries have no saved head yet: start the Operator once and export again to include them)\n`)
    }
    return 0
  } finally {
    await lock.release()
  }
}

/** Audits `file`. Without the Operator's key a log is never called clean (exit 1) unless `--no-signatures` says that is meant. */
async function auditCommand (file: string, operator: string | boolean | undefined, noSignatures: boolean, json: boolean | undefined): Promise<number> {
  const report = await auditLog(resolve(file), typeof operator === 'string' ? { operator } : {})
  if (json === true) {
    process.stdout.write(JSON.stringify(report) + '\n')
  } else {
    printReport(file, report)
  }
  if (!report.signaturesChecked && !noSignatures) {
    process.stderr.write('komrade operator audit: signatures not checked: pass --operator HEX (the identity your network pins), ' +
      'or --no-signatures to check only the log\'s own consistency\n')
    return EXIT_FAILURE
  }
  return report.problems.length === 0 ? 0 : EXIT_FAILURE
}

function printReport (file: string, report: AuditReport): void {
  const verdict = report.problems.length === 0 ? 'clean' : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`
  process.stdout.write(`Audit of ${file}: ${verdict}\n`)
  process.stdout.write(`  entries         ${report.entries} (${report.names} names, ${report.rotations} rotations)\n`)
  process.stdout.write(`  root            ${report.root}\n`)
  process.stdout.write(`  signed head     size ${report.headSize}, ${report.headMatches ? 'matches the entries' : 'DOES NOT match the entries'}\n`)
  process.stdout.write(`  signatures      ${report.signaturesChecked ? 'checked against the Operator key' : 'not checked: pass --operator <identity> to check them'}\n`)
  if (report.minWorkTrials !== null) process.stdout.write(`  weakest work    ${report.minWorkTrials} trials\n`)
  for (const { index, problem } of report.problems) process.stdout.write(`  ${index === null ? 'file' : `entry ${index}`}: ${problem}\n`)
}
