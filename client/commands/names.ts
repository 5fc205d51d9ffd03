/**
 * `komrade register NAME` and `komrade lookup NAME`: names in the
 * Operator's registry. Registering costs proof of work: on a terminal its
 * progress is drawn from the node's `work` events while the request runs.
 */
import type { ApiNameRecord } from '../api/types.js'
import type { KomradeClient } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { createProgress, isFancy, printable, writeFields, writeJson } from './terminal.js'

export const REGISTER_HELP = `komrade register: register a name for this node with the network's Operator

Usage:
  komrade register NAME [--flood] [--data-dir DIR] [--json]

A name is 3 to 32 of a-z, 0-9 and _ (capitals are lowered). Registering costs a little proof of
work (shown on a terminal). The node checks the Operator's certificate and log proofs.

Options:
${DATA_DIR_HELP}
  --flood          send the registration through the network instead of to the Operator directly
                   (for a node that cannot reach the Operator)
  --json           print the verified record as JSON

Examples:
  komrade register ada
  komrade register ada --flood --json`

export const LOOKUP_HELP = `komrade lookup: look a name up in the registry, checked against the Operator's key

Usage:
  komrade lookup NAME [--data-dir DIR] [--json]

Options:
${DATA_DIR_HELP}
  --json           print the record as JSON: { name, identity, fingerprint, index, registeredAt, certificate, fromCache }

Examples:
  komrade lookup grace
  komrade lookup grace --json | jq -r .fingerprint`

function writeRecord (heading: string, record: ApiNameRecord): void {
  writeFields(process.stdout, heading, {
    name: printable(record.name),
    fingerprint: record.fingerprint,
    identity: record.identity,
    registered: new Date(record.registeredAt).toISOString(),
    'log entry': record.index,
    ...(record.fromCache ? { note: 'from this node\'s cache: the Operator could not be reached' } : {})
  })
}

/** Draws proof-of-work progress from the `work` events on a terminal, until `signal` aborts. */
async function showWork (client: KomradeClient, signal: AbortSignal): Promise<void> {
  if (!isFancy(process.stderr)) return
  const progress = createProgress(process.stderr)
  progress.update('Proof of work…')
  try {
    for await (const event of client.events({ signal })) {
      if (event.type !== 'work') continue
      const share = event.expected > 0 ? Math.min(99, Math.floor(100 * event.trials / event.expected)) : 0
      progress.update(`Proof of work: about ${share}% (${event.trials} of ~${event.expected} hash trials)`)
    }
  } catch {
    // The events stream ends with the command; the result is what matters.
  } finally {
    progress.done()
  }
}

/** `komrade register NAME`. */
export async function registerCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade register',
    help: REGISTER_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, flood: { type: 'boolean' } },
    positionals: { min: 1, max: 1, names: 'NAME' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [name] } = parsed
  if (name === undefined || name === '') return usageError(spec.name, spec.help, 'missing NAME')
  const dataDir = dataDirOf(values)
  try {
    const client = await connectToDaemon(dataDir)
    const stopProgress = new AbortController()
    const progress = showWork(client, stopProgress.signal)
    let record: ApiNameRecord
    try {
      record = await client.register(name, values.flood === true ? { via: 'flood' } : {})
    } finally {
      stopProgress.abort()
      await progress
    }
    if (values.json === true) writeJson(process.stdout, record)
    else writeRecord(`Registered "${printable(record.name)}": others can now add you with komrade contacts add ${printable(record.name)}`, record)
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade register', dataDir, name })
  }
}

/** `komrade lookup NAME`. */
export async function lookupCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade lookup',
    help: LOOKUP_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION },
    positionals: { min: 1, max: 1, names: 'NAME' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [name] } = parsed
  const dataDir = dataDirOf(values)
  try {
    const record = await (await connectToDaemon(dataDir)).lookup(name!)
    if (values.json === true) writeJson(process.stdout, record)
    else writeRecord(`"${printable(record.name)}" is registered`, record)
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade lookup', dataDir, ...(name === undefined ? {} : { name }) })
  }
}
