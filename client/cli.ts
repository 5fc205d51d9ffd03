#!/usr/bin/env node
/**
 * The `komrade` command: a dispatcher to one module per command group in
 * client/commands/. `start` runs the daemon (node + control API); the other
 * commands talk to it through the API, found by the data directory's
 * api.json and api.token. Exit codes: client/commands/exit-codes.ts.
 */
import { EXIT_CODES_HELP, EXIT_OK, EXIT_USAGE } from './commands/exit-codes.js'

const VERSION = '0.1.0'

type Runner = (argv: string[]) => Promise<number>

/**
 * Every command: its line in the overview and its module, loaded only when
 * run (a client command then starts without loading libp2p or LevelDB).
 */
const COMMANDS: Record<string, { usage: string, load: () => Promise<Runner> }> = {
  demo: { usage: 'demo                      a small network on this machine, to try things out', load: async () => (await import('./demo.js')).demoCommand },
  init: { usage: 'init [--passphrase]       create this device\'s identity (optionally encrypted)', load: async () => (await import('./commands/identity.js')).initCommand },
  start: { usage: 'start [settings]          run the node and its control API / web UI (the daemon)', load: async () => (await import('./commands/start.js')).startCommand },
  status: { usage: 'status [--watch]          peers, mesh, store, resync, registry head', load: async () => (await import('./commands/status.js')).statusCommand },
  whoami: { usage: 'whoami                    your name, fingerprint and invite code', load: async () => (await import('./commands/identity.js')).whoamiCommand },
  register: { usage: 'register NAME             register a name with the network\'s Operator', load: async () => (await import('./commands/names.js')).registerCommand },
  lookup: { usage: 'lookup NAME               look a name up (verified)', load: async () => (await import('./commands/names.js')).lookupCommand },
  contacts: { usage: 'contacts add|list|verify|remove   manage contacts, compare fingerprints', load: async () => (await import('./commands/contacts.js')).contactsCommand },
  send: { usage: 'send NAME TEXT            send a message (TEXT or stdin)', load: async () => (await import('./commands/messages.js')).sendCommand },
  inbox: { usage: 'inbox                     messages received', load: async () => (await import('./commands/messages.js')).inboxCommand },
  chat: { usage: 'chat NAME                 talk live: incoming messages, a prompt, receipts', load: async () => (await import('./commands/chat.js')).chatCommand },
  post: { usage: 'post TEXT [--image FILE]   post to the world or (--to circle) to your trusted circle', load: async () => (await import('./commands/posts.js')).postCommand },
  feed: { usage: 'feed [world|home]         read a feed (--follow: live, until Ctrl-C)', load: async () => (await import('./commands/posts.js')).feedCommand },
  group: { usage: 'group create|join|vouch|…  groups that grow by vouching: members, votes, a feed', load: async () => (await import('./commands/groups.js')).groupCommand },
  event: { usage: 'event host|list|rsvp|…    events for the world, a group or contacts, and who comes', load: async () => (await import('./commands/events.js')).eventCommand },
  pin: { usage: 'pin add|list              map pins: police, danger, help, info (nearest first)', load: async () => (await import('./commands/pins.js')).pinCommand },
  profile: { usage: 'profile [show|set]        your profile, or someone else\'s', load: async () => (await import('./commands/profile.js')).profileCommand },
  circle: { usage: 'circle [list|add|remove]  who reads your circle posts', load: async () => (await import('./commands/profile.js')).circleCommand },
  config: { usage: 'config show               the settings start would use, and where each comes from', load: async () => (await import('./commands/config.js')).configCommand },
  operator: { usage: 'operator [...]            run a community\'s Operator (name registry, bootstrap)', load: async () => (await import('./commands/operator.js')).operatorCommand }
}

const USAGE = `komrade: a peer-to-peer dust-cloud messenger

Usage: komrade COMMAND [options]     (komrade COMMAND --help for its options and examples)

Commands:
${Object.values(COMMANDS).map((command) => `  komrade ${command.usage}`).join('\n')}
  komrade --help | --version

Options of every command that works on a node:
  --data-dir DIR   data directory (default: $KOMRADE_DATA_DIR, else ~/.komrade)
  --json           machine-readable output (status, whoami, contacts list, inbox, lookup, feed, profile, circle, config show,
                   group, event, pin)

Getting started:
  komrade demo                          see a network working, with two web UI links
  komrade start                         run your node (prints a web UI sign-in link)
  komrade register ada                  in another terminal: claim a name
  komrade contacts add grace            add someone by name or invite code
  komrade chat grace                    talk
  komrade post "hello, world"           post to the world (needs a registered name)
  komrade feed --follow                 read the world feed, live

Output is plain text off a terminal or with NO_COLOR set: no colours, no progress redraws.

${EXIT_CODES_HELP}`

async function main (argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) {
    process.stderr.write(USAGE + '\n')
    return EXIT_USAGE
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    // `komrade help send` is `komrade send --help`.
    const topic = rest[0] === undefined ? undefined : COMMANDS[rest[0]]
    if (topic !== undefined) return await (await topic.load())(['--help'])
    process.stdout.write(USAGE + '\n')
    return EXIT_OK
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`komrade ${VERSION}\n`)
    return EXIT_OK
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined
  if (command === undefined) {
    process.stderr.write(`komrade: unknown command "${first}"\n\n${USAGE}\n`)
    return EXIT_USAGE
  }
  return await (await command.load())(rest)
}

const exitCode = await main(process.argv.slice(2))
process.exitCode = exitCode
// A command is done when main returns: a closing event socket or a paused stdin must not keep the
// process waiting. Exit once what was written is flushed (pipes are asynchronous on some systems).
process.stdout.write('', () => { process.stderr.write('', () => { process.exit(exitCode) }) })
