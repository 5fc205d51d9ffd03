/**
 * `komrade status`: the running node's peers, gossip mesh, store, proof of
 * work, last resync and registry head. `--watch` then follows the node's
 * events (peer counts, resyncs), one line each, until Ctrl-C.
 */
import type { ApiEvent, ApiStatus } from '../api/types.js'
import { connectToDaemon } from '../api/discover.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand } from './arguments.js'
import { EXIT_NO_NODE, EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { formatBytes, formatTime, printable, writeFields, writeJson, writeLine } from './terminal.js'

export const STATUS_HELP = `komrade status: what the running node is doing

Usage:
  komrade status [--data-dir DIR] [--json] [--watch]

Shows peers and gossip mesh size, the envelope store, proof of work in progress, the last resync
with a peer, and the name registry's head (with the count of split-view evidence: anything above
0 means the Operator showed two different logs).

Options:
${DATA_DIR_HELP}
  --json           print the status as one JSON object (with --watch: then one JSON event per line)
  --watch          keep following peer changes and resyncs until Ctrl-C

Examples:
  komrade status
  komrade status --json | jq .peers
  komrade status --watch`

function short (text: string, length = 16): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`
}

/** The status as lines for a person. */
export function writeStatus (stream: NodeJS.WritableStream, status: ApiStatus): void {
  const registry = status.registry
  writeFields(stream, `Komrade node ${status.running ? 'running' : 'stopping'}`, {
    name: status.name === undefined ? '(none registered)' : printable(status.name),
    fingerprint: status.fingerprint,
    peers: `${status.peers} connected, ${status.meshPeers} in the gossip mesh`,
    addresses: status.addresses.join(' '),
    store: `${status.store.count} envelopes, ${formatBytes(status.store.bytes)} of ${formatBytes(status.store.quotaBytes)}` +
      (status.store.lastError === undefined ? '' : ` (last error: ${status.store.lastError})`),
    'proof of work': status.workPending === 0 ? 'idle' : `${status.workPending} envelopes waiting or in progress`,
    'last sync': status.lastSync === undefined
      ? 'none yet'
      : `${formatTime(status.lastSync.at)} with ${short(status.lastSync.peer)} (received ${status.lastSync.received}, sent ${status.lastSync.sent})`,
    registry: registry === undefined
      ? 'no Operator configured (names unavailable)'
      : `${registry.head === undefined ? 'no tree head yet' : `${registry.head.size} names, head of ${formatTime(registry.head.timestamp)}`}` +
        `; Operator ${short(registry.operator)}` +
        (registry.splitViews > 0 ? `; WARNING: ${registry.splitViews} split-view evidence (the Operator showed two logs)` : '')
  })
}

/** One line per followed event; undefined for events status does not show. */
function eventLine (event: ApiEvent): string | undefined {
  switch (event.type) {
    case 'peers': return `${formatTime(Date.now())} peers: ${event.peers} connected, ${event.meshPeers} in the gossip mesh`
    case 'sync':
      if (event.phase === 'start') return `${formatTime(Date.now())} resync with ${short(event.peer)} started`
      if (event.phase === 'failed') return `${formatTime(Date.now())} resync with ${short(event.peer)} failed (retried later)`
      return `${formatTime(Date.now())} resync with ${short(event.peer)} done: received ${event.received ?? 0}, sent ${event.sent ?? 0}`
    case 'split-view': return `${formatTime(Date.now())} WARNING: the Operator showed two different logs (evidence kept)`
    case 'key-change': return `${formatTime(Date.now())} the name ${printable(event.name)} moved to new keys (a rotation signed by the old ones)`
    default: return undefined
  }
}

/** `komrade status`. */
export async function statusCommand (argv: string[]): Promise<number> {
  const parsed = parseCommand({
    name: 'komrade status',
    help: STATUS_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, watch: { type: 'boolean' } }
  }, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const dataDir = dataDirOf(values)
  try {
    const client = await connectToDaemon(dataDir)
    const status = await client.status()
    if (values.json === true) writeJson(process.stdout, status)
    else writeStatus(process.stdout, status)
    if (values.watch !== true) return EXIT_OK
    const stop = new AbortController()
    const onSignal = (): void => { stop.abort() }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      for await (const event of client.events({ signal: stop.signal })) {
        if (event.type === 'hello') continue
        if (values.json === true) {
          if (event.type !== 'message' && event.type !== 'outbox') writeJson(process.stdout, event)
        } else {
          const line = eventLine(event)
          if (line !== undefined) writeLine(process.stdout, line)
        }
      }
    } catch (error) {
      if (!stop.signal.aborted) throw error
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    if (stop.signal.aborted) return EXIT_OK
    // Like chat: a script following the node learns that it is gone (3), not that all went well.
    writeLine(process.stderr, 'komrade status: the node stopped; start it again with komrade start')
    return EXIT_NO_NODE
  } catch (error) {
    return reportFailure(error, { command: 'komrade status', dataDir })
  }
}
