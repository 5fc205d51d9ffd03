/**
 * `komrade demo`: a small Komrade cloud on 127.0.0.1 in one process, to
 * show a newcomer the network working: an Operator (with a light proof of
 * work) and five nodes in temporary data directories, all bootstrapped to
 * it. Two of them, ada and grace, register their names, add each other and
 * exchange a few messages (delivered, receipts back); each gets the control
 * API and web UI, whose one-time sign-in links are printed. Ctrl-C (or
 * SIGTERM) stops everything and deletes the temporary directories.
 *
 * ada's and grace's data directories also get api.json and api.token, as
 * under `komrade start`, so the CLI works against them (`--data-dir`).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOperator, type Operator } from '../bootstrap/index.js'
import { createKomradeNode, type KomradeNode, type SentMessage } from '../node/komrade-node.js'
import { silentLogger } from '../node/logger.js'
import { startControlApi } from './api/control-api.js'
import type { ApiServer } from './api/server.js'
import { COMMON_OPTIONS, JSON_OPTION, parseCommand, usageError } from './commands/arguments.js'
import { EXIT_FAILURE, EXIT_OK } from './commands/exit-codes.js'
import { writeJson, writeLine } from './commands/terminal.js'

export const DEMO_HELP = `komrade demo: a small Komrade network on this machine, to try things out

Usage:
  komrade demo [--nodes N] [--json]

Starts an Operator and N nodes (default 5, at least 5) on 127.0.0.1 in temporary directories.
Two of them register the names ada and grace and exchange a few messages. It prints a web UI
sign-in link for each (one-time links, valid 10 minutes) and commands to try, then runs until
Ctrl-C, which stops everything and deletes the temporary directories. Nothing leaves this machine.

Options:
  --nodes N        how many nodes besides the Operator (default 5)
  --json           print one JSON line when ready: { links: { ada, grace }, dataDirs, root, operator }

Examples:
  komrade demo
  komrade demo --nodes 8
  komrade demo --json | jq -r .links.ada`

/** Proof of work of a registration in the demo: trivial, so start-up stays quick (a real Operator uses 262,144). */
const DEMO_WORK_TRIALS = 256
const MIN_NODES = 5
const DEFAULT_NODES = 5
/** Messages of the opening conversation: [sender, text]. */
const CONVERSATION: ReadonlyArray<readonly ['ada' | 'grace', string]> = [
  ['ada', 'Hi Grace! This came through the dust cloud: every node got an envelope, only you could open it.'],
  ['grace', 'Hi Ada! Got it. And my node sent a receipt back, so yours shows it as delivered.'],
  ['ada', 'Nice. Try the web UI: type something here and it shows up on my side.'],
  ['grace', 'Or from a terminal: komrade chat ada --data-dir <my data directory>.']
]
/** How long the opening conversation may take before the demo gives up (proof of work on 2 cores, loopback). */
const CONVERSATION_TIMEOUT_MS = 120_000
const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

interface Person {
  name: 'ada' | 'grace'
  node: KomradeNode
  dataDir: string
  server?: ApiServer
}

/** Everything the demo started, stopped in reverse and deleted once. */
function createCleanup (root: string): { add(step: () => Promise<void>): void, run(): Promise<void> } {
  const steps: Array<() => Promise<void>> = []
  let running: Promise<void> | undefined
  return {
    add (step) { steps.push(step) },
    async run () {
      running ??= (async () => {
        for (const step of steps.splice(0).reverse()) await step().catch(() => {})
        await rm(root, { recursive: true, force: true })
      })()
      await running
    }
  }
}

async function until (what: string, check: () => boolean | Promise<boolean>, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + CONVERSATION_TIMEOUT_MS
  while (!await check()) {
    signal.throwIfAborted()
    if (Date.now() > deadline) throw new Error(`The demo network did not get ${what} in ${CONVERSATION_TIMEOUT_MS / 1000} s; the machine may be very busy`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** `komrade demo`. */
export async function demoCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade demo',
    help: DEMO_HELP,
    options: { help: COMMON_OPTIONS.help, ...JSON_OPTION, nodes: { type: 'string' } }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const count = values.nodes === undefined ? DEFAULT_NODES : Number(values.nodes)
  if (!Number.isSafeInteger(count) || count < MIN_NODES || count > 50) {
    return usageError(spec.name, spec.help, `--nodes expected a number from ${MIN_NODES} to 50, got "${values.nodes!}"`)
  }
  const json = values.json === true
  const say = (line: string): void => { writeLine(process.stderr, line) }

  const root = await mkdtemp(join(tmpdir(), 'komrade-demo-'))
  const cleanup = createCleanup(root)
  const interrupted = new AbortController()
  const stopRequested = new Promise<string>((resolve) => {
    // Kept for the whole run: a second Ctrl-C while cleaning up must not kill the process and leave the directories behind.
    const onSignal = (signal: string): void => {
      if (interrupted.signal.aborted) { say(`${signal} again: still stopping and deleting ${root}…`); return }
      interrupted.abort()
      resolve(signal)
    }
    process.on('SIGINT', () => { onSignal('SIGINT') })
    process.on('SIGTERM', () => { onSignal('SIGTERM') })
  })
  try {
    say(`Starting an Operator and ${count} nodes on 127.0.0.1 (data in ${root})…`)
    const operatorDir = join(root, 'operator')
    const operator: Operator = createOperator({ dataDir: operatorDir, listen: LOOPBACK, workTrials: DEMO_WORK_TRIALS, workThreads: 1, logger: silentLogger() })
    await operator.start()
    cleanup.add(async () => { await operator.stop() })
    const address = operator.addresses.find((a) => a.includes('/127.0.0.1/')) ?? operator.addresses[0]!
    const pinned = { identity: operator.identity, addresses: [address] }

    const names = ['ada', 'grace', ...Array.from({ length: count - 2 }, (_, i) => `node-${i + 3}`)]
    const nodes = await Promise.all(names.map(async (name) => {
      const dataDir = join(root, name)
      // No cover traffic: everything is on this machine, and a message would wait a minute for its slot.
      const node = createKomradeNode({ dataDir, listen: LOOPBACK, bootstrap: [address], operator: pinned, workThreads: 1, cover: false, logger: silentLogger() })
      await node.start({ signal: interrupted.signal })
      cleanup.add(async () => { await node.stop() })
      return { name, node, dataDir }
    }))
    const [ada, grace] = nodes.slice(0, 2).map((n) => ({ ...n, name: n.name as Person['name'] })) as [Person, Person]

    say('Registering the names ada and grace with the Operator (proof of work, certificate, log proofs)…')
    await Promise.all([ada.node.register('ada', { signal: interrupted.signal }), grace.node.register('grace', { signal: interrupted.signal })])
    await ada.node.contacts.add('grace', { signal: interrupted.signal })
    await grace.node.contacts.add('ada', { signal: interrupted.signal })

    for (const person of [ada, grace]) {
      const api = await startControlApi({ node: person.node, dataDir: person.dataDir, port: 0, config: { dataDir: person.dataDir, demo: true }, logger: silentLogger() })
      person.server = api.server
      cleanup.add(api.stop)
    }

    say('Opening a conversation between ada and grace…')
    const sent: SentMessage[] = []
    const delivered = new Set<string>()
    for (const person of [ada, grace]) {
      person.node.addEventListener('outbox', (event) => {
        const update = (event as CustomEvent<SentMessage>).detail
        if (update.state === 'delivered') delivered.add(update.id)
      })
    }
    for (const [from, text] of CONVERSATION) {
      const [sender, receiver] = from === 'ada' ? [ada, grace] : [grace, ada]
      sent.push(await sender.node.send(receiver.node.publicIdentity, text, { signal: interrupted.signal }))
      await until(`${receiver.name}'s copy of a message`, async () => (await receiver.node.inbox()).some((m) => m.text === text), interrupted.signal)
    }
    await until('every receipt', () => sent.every((m) => delivered.has(m.id)), interrupted.signal)

    const links = { ada: ada.server!.loginUrl(), grace: grace.server!.loginUrl() }
    if (json) {
      writeJson(process.stdout, {
        links,
        urls: { ada: ada.server!.url, grace: grace.server!.url },
        dataDirs: Object.fromEntries(nodes.map((n) => [n.name, n.dataDir])),
        root,
        operator: operator.identity,
        operatorAddress: address
      })
    } else {
      writeLine(process.stdout, `Komrade demo: an Operator and ${count} nodes are running on 127.0.0.1; ada and grace have exchanged ${CONVERSATION.length} messages.`)
      writeLine(process.stdout, '')
      writeLine(process.stdout, 'Open the web UI (each link signs in once, for the next 10 minutes; use two browser windows):')
      writeLine(process.stdout, `  ada    ${links.ada}`)
      writeLine(process.stdout, `  grace  ${links.grace}`)
      writeLine(process.stdout, '')
      writeLine(process.stdout, 'Things to try:')
      writeLine(process.stdout, '  - write to grace as ada in one window; watch it arrive in the other, then turn to "delivered"')
      writeLine(process.stdout, '  - compare fingerprints under Contacts: both sides show the same safety number')
      writeLine(process.stdout, '  - from another terminal, the same nodes through the CLI:')
      writeLine(process.stdout, `      komrade chat grace --data-dir ${ada.dataDir}`)
      writeLine(process.stdout, `      komrade status --data-dir ${grace.dataDir}`)
      writeLine(process.stdout, `      komrade contacts verify ada --data-dir ${grace.dataDir}`)
      writeLine(process.stdout, '')
      writeLine(process.stdout, 'Ctrl-C stops everything and deletes the temporary directories.')
    }
    const signal = await stopRequested
    say(`${signal}: stopping the demo and deleting ${root}…`)
    await cleanup.run()
    say('Stopped.')
    return EXIT_OK
  } catch (error) {
    await cleanup.run()
    if (interrupted.signal.aborted) {
      say('Stopped before the demo was ready; everything was deleted.')
      return EXIT_OK
    }
    process.stderr.write(`komrade demo: ${error instanceof Error ? error.message : String(error)}\n`)
    return EXIT_FAILURE
  }
}
