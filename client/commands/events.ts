/**
 * `komrade event …`: hosting an event (for the world, a group or chosen
 * contacts; anonymously with one-time keys), listing and showing events,
 * updating, cancelling, inviting, and answering (going, maybe, no). The
 * host alone reads who answered. Text from others goes through printable().
 */
import type { KomradeClient } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import {
  DEFAULT_PIN_PRECISION, groupReference, MAX_EVENT_DESCRIPTION_CHARS, MAX_EVENT_PLACE_CHARS, MAX_EVENT_TITLE_CHARS, MAX_RSVP_NOTE_CHARS
} from '../api/collectives-content.js'
import type { ApiEventAudience, ApiEventChanges, ApiEventInfo, ApiRsvpChoice } from '../api/collectives-types.js'
import { codePoints } from '../api/post-content.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { parseLatLonOption, parseTimeOption, relativeTime, resolveId, SHOWN_ID_CHARS } from './places.js'
import { formatTime, MESSAGE_INDENT, printable, writeFields, writeJson, writeLine } from './terminal.js'

export const EVENT_HELP = `komrade event: events for the world, a group or chosen contacts, and who comes

Usage:
  komrade event host TITLE… --at TIME [--until TIME] [--place TEXT] [--description TEXT] [--near LAT,LON]
                     [--to world|group:NAME|contacts:A,B] [--anonymous]
  komrade event list [--json]
  komrade event show ID [--json]
  komrade event update ID [--title TEXT] [--at TIME] [--until TIME] [--place TEXT] [--description TEXT] [--near LAT,LON]
  komrade event cancel ID
  komrade event invite ID CONTACT…
  komrade event rsvp ID going|maybe|no [--note TEXT]

TIME is ISO 8601, local time unless it names a zone: 2026-12-01T18:00, 2026-12-01T17:00Z; a date
alone (2026-12-01) is local midnight. An impossible date or time (2026-02-31, 25:00) is refused. An event
for the world or a group may be hosted anonymously (--anonymous: one-time keys, no name attached);
one for chosen contacts comes from you. Answers are sealed to the host: only the host reads who
answered (komrade event show ID). An update or a cancellation reaches the same people. ID is the
event's id, or its first characters as list shows them.

Options:
${DATA_DIR_HELP}
  --at TIME           when it starts
  --until TIME        when it ends (optional)
  --place TEXT        where, in words (at most ${MAX_EVENT_PLACE_CHARS} characters)
  --description TEXT  what it is about (at most ${MAX_EVENT_DESCRIPTION_CHARS} characters)
  --near LAT,LON      where, on the map (sent as an area of about 150 m)
  --to AUDIENCE       world (default), group:NAME, or contacts:NAME,NAME
  --anonymous         host without your name (world or group only)
  --title TEXT        with update: a new title (at most ${MAX_EVENT_TITLE_CHARS} characters)
  --note TEXT         with rsvp: a few words to the host (at most ${MAX_RSVP_NOTE_CHARS} characters)
  --json              machine-readable output

Examples:
  komrade event host "Street cleanup" --at 2026-12-05T10:00 --place "Corner of Elm and 5th" --to group:neighbours
  komrade event host "Open assembly" --at 2026-12-10T19:00 --near 52.52,13.40 --anonymous
  komrade event list
  komrade event rsvp 5c0d1e going --note "bringing gloves"
  komrade event invite 5c0d1e grace ada
  komrade event host "Reading group" --at 2026-12-03T19:00 --until 2026-12-03T21:00 --to contacts:ada,grace
  komrade event show 5c0d1e
  komrade event update 5c0d1e --at 2026-12-05T11:00 --place "Corner of Elm and 6th"
  komrade event cancel 5c0d1e`

const SUBCOMMANDS = ['host', 'list', 'show', 'update', 'cancel', 'invite', 'rsvp'] as const
type Subcommand = typeof SUBCOMMANDS[number]

const ARITY: Readonly<Record<Subcommand, readonly [number, number, string]>> = {
  host: [1, Infinity, 'TITLE'], list: [0, 0, ''], show: [1, 1, 'ID'], update: [1, 1, 'ID'], cancel: [1, 1, 'ID'],
  invite: [2, Infinity, 'ID and CONTACT'], rsvp: [2, 2, 'ID and going|maybe|no']
}

const OPTION_USES: Readonly<Record<string, readonly Subcommand[]>> = {
  at: ['host', 'update'], until: ['host', 'update'], place: ['host', 'update'], description: ['host', 'update'], near: ['host', 'update'],
  to: ['host'], anonymous: ['host'], title: ['update'], note: ['rsvp']
}

const RSVP_WORDS: Readonly<Record<string, ApiRsvpChoice>> = { going: 'going', maybe: 'maybe', no: 'not-going', 'not-going': 'not-going' }

/** The audience of --to, or a usage message. */
function audienceOption (value: string | undefined): { audience: ApiEventAudience } | { error: string } {
  if (value === undefined || value === 'world') return { audience: 'world' }
  if (value.startsWith('group:')) {
    const group = groupReference(value.slice('group:'.length))
    return group === undefined ? { error: `--to group:NAME expected a group name, got "${value}"` } : { audience: { group } }
  }
  if (value.startsWith('contacts:')) {
    const contacts = value.slice('contacts:'.length).split(',').map((c) => c.trim()).filter((c) => c !== '')
    return contacts.length === 0 ? { error: '--to contacts: expected at least one contact, such as contacts:ada,grace' } : { audience: { contacts } }
  }
  return { error: `--to expected world, group:NAME or contacts:A,B, got "${value}"` }
}

function audienceLabel (audience: ApiEventInfo['audience']): string {
  if (audience === 'world' || audience === 'invited') return audience
  if ('group' in audience) return `group @${printable(audience.group)}`
  return `${audience.contacts.length} contacts`
}

/** The event an ID argument names (a whole id or a prefix of the listed ones). */
async function eventIdOf (client: KomradeClient, query: string): Promise<string> {
  const wanted = query.toLowerCase()
  if (/^(?:[0-9a-f]{32}|[0-9a-f]{96})$/.test(wanted)) return wanted // an event id, or id + host key (a second host's event)
  return resolveId((await client.listEvents()).map((e) => e.id), wanted, 'an event', 'komrade event list')
}

function eventLine (event: ApiEventInfo): string {
  const host = event.mine ? 'you' : event.host === undefined ? 'anonymous' : printable(event.host.name ?? `[${event.host.id.slice(0, 8)}]`)
  const answer = event.myRsvp === undefined ? '' : `  you: ${event.myRsvp}`
  const answers = event.rsvps === undefined ? '' : `  ${event.rsvps.filter((r) => r.choice === 'going').length} going`
  return `${event.id.slice(0, SHOWN_ID_CHARS)}  ${formatTime(event.startsAt)} (${relativeTime(event.startsAt)})  ${event.cancelled ? 'CANCELLED ' : ''}${printable(event.title)}` +
    `  [host ${host}, ${audienceLabel(event.audience)}]${answer}${answers}`
}

function showEvent (event: ApiEventInfo): void {
  writeFields(process.stdout, `${event.cancelled ? 'CANCELLED: ' : ''}${printable(event.title)}`, {
    id: event.id,
    starts: `${new Date(event.startsAt).toISOString()} (${relativeTime(event.startsAt)})`,
    ends: event.endsAt === undefined ? undefined : new Date(event.endsAt).toISOString(),
    place: event.place === '' ? undefined : printable(event.place),
    area: event.location === undefined ? undefined : `${event.location.geohash} (${event.location.lat.toFixed(4)}, ${event.location.lon.toFixed(4)})`,
    host: event.mine ? 'you' : event.host === undefined ? 'anonymous' : printable(event.host.name ?? event.host.id),
    for: audienceLabel(event.audience),
    revision: event.revision,
    'your answer': event.myRsvp
  })
  if (event.description !== '') writeLine(process.stdout, `${MESSAGE_INDENT}${printable(event.description, { indent: MESSAGE_INDENT })}`)
  if (event.rsvps !== undefined) {
    writeLine(process.stdout, event.rsvps.length === 0 ? 'Answers: none yet' : 'Answers:')
    for (const r of event.rsvps) {
      writeLine(process.stdout, `  ${printable(r.responderName ?? `[${r.responder.slice(0, 8)}]`)}: ${r.choice}${r.note === '' ? '' : ` (${printable(r.note)})`}  ${formatTime(r.answeredAt)}`)
    }
  }
}

/** `komrade event …`. */
export async function eventCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade event',
    help: EVENT_HELP,
    options: {
      ...COMMON_OPTIONS, ...JSON_OPTION,
      at: { type: 'string' }, until: { type: 'string' }, place: { type: 'string' }, description: { type: 'string' }, near: { type: 'string' },
      to: { type: 'string' }, anonymous: { type: 'boolean' }, title: { type: 'string' }, note: { type: 'string' }
    },
    positionals: { min: 1, max: Infinity, names: `a subcommand: ${SUBCOMMANDS.join(', ')}` }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const [sub, ...args] = parsed.positionals as [string, ...string[]]
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) return usageError(spec.name, spec.help, `unknown subcommand "${sub}"`)
  const command = sub as Subcommand
  const name = `komrade event ${command}`
  const [min, max, what] = ARITY[command]
  if (args.length < min) return usageError(name, spec.help, `missing ${what}`)
  if (args.length > max) return usageError(name, spec.help, `unexpected argument "${args[max]!}"`)
  for (const [option, uses] of Object.entries(OPTION_USES)) {
    if ((values as Record<string, unknown>)[option] !== undefined && !uses.includes(command)) return usageError(name, spec.help, `--${option} goes with ${uses.join(' or ')}`)
  }
  const startsAt = values.at === undefined ? undefined : parseTimeOption(values.at)
  if (values.at !== undefined && startsAt === undefined) return usageError(name, spec.help, `--at expected an ISO time such as 2026-12-01T18:00, got "${values.at}"`)
  if (command === 'host' && startsAt === undefined) return usageError(name, spec.help, 'missing --at TIME: when the event starts')
  const endsAt = values.until === undefined ? undefined : parseTimeOption(values.until)
  if (values.until !== undefined && endsAt === undefined) return usageError(name, spec.help, `--until expected an ISO time such as 2026-12-01T20:00, got "${values.until}"`)
  if (startsAt !== undefined && endsAt !== undefined && endsAt < startsAt) return usageError(name, spec.help, '--until is before --at')
  const near = values.near === undefined ? undefined : parseLatLonOption(values.near)
  if (values.near !== undefined && near === undefined) return usageError(name, spec.help, `--near expected LAT,LON in decimal degrees, such as 52.52,13.405, got "${values.near}"`)
  const chosen = audienceOption(values.to)
  if ('error' in chosen) return usageError(name, spec.help, chosen.error)
  const { audience } = chosen
  if (values.anonymous === true && typeof audience === 'object' && 'contacts' in audience) {
    return usageError(name, spec.help, '--anonymous does not go with --to contacts:…: contacts get the event from you')
  }
  const title = command === 'host' ? args.join(' ') : values.title
  const limits: Array<[string, string | undefined, number]> = [
    ['title', title, MAX_EVENT_TITLE_CHARS], ['place', values.place, MAX_EVENT_PLACE_CHARS],
    ['description', values.description, MAX_EVENT_DESCRIPTION_CHARS], ['note', values.note, MAX_RSVP_NOTE_CHARS]
  ]
  for (const [field, text, limit] of limits) {
    if (text !== undefined && codePoints(text) > limit) return usageError(name, spec.help, `the ${field} holds at most ${limit} characters`)
  }
  if (command === 'rsvp' && !Object.hasOwn(RSVP_WORDS, args[1]!)) return usageError(name, spec.help, `the answer is going, maybe or no, not "${args[1]!}"`)
  const fields: ApiEventChanges = {
    ...(title === undefined ? {} : { title }),
    ...(startsAt === undefined ? {} : { startsAt }),
    ...(endsAt === undefined ? {} : { endsAt }),
    ...(values.place === undefined ? {} : { place: values.place }),
    ...(values.description === undefined ? {} : { description: values.description }),
    ...(near === undefined ? {} : { location: { ...near, precision: DEFAULT_PIN_PRECISION } })
  }
  if (command === 'update' && Object.keys(fields).length === 0) return usageError(name, spec.help, 'update needs something to change: --title, --at, --until, --place, --description or --near')
  const json = values.json === true
  const dataDir = dataDirOf(values)
  try {
    const client = await connectToDaemon(dataDir)
    const print = (event: ApiEventInfo, sentence: string): void => {
      if (json) writeJson(process.stdout, event)
      else writeLine(process.stdout, sentence)
    }
    switch (command) {
      case 'host': {
        const event = await client.hostEvent({ ...fields, title: title!, startsAt: startsAt!, audience, ...(values.anonymous === true ? { anonymous: true } : {}) })
        print(event, `Hosted "${printable(event.title)}" (id ${event.id.slice(0, SHOWN_ID_CHARS)}) for ${audienceLabel(event.audience)}${values.anonymous === true ? ', anonymously' : ''}`)
        return EXIT_OK
      }
      case 'list': {
        const events = (await client.listEvents()).sort((a, b) => a.startsAt - b.startsAt)
        if (json) { writeJson(process.stdout, events); return EXIT_OK }
        if (events.length === 0) { writeLine(process.stdout, 'No events yet: komrade event host TITLE --at TIME'); return EXIT_OK }
        for (const event of events) writeLine(process.stdout, eventLine(event))
        return EXIT_OK
      }
      case 'show': {
        const event = await client.event(await eventIdOf(client, args[0]!))
        if (json) writeJson(process.stdout, event)
        else showEvent(event)
        return EXIT_OK
      }
      case 'update': {
        const event = await client.updateEvent(await eventIdOf(client, args[0]!), fields)
        print(event, `Updated "${printable(event.title)}" (revision ${event.revision}); those it reached get the new one`)
        return EXIT_OK
      }
      case 'cancel': {
        const event = await client.cancelEvent(await eventIdOf(client, args[0]!))
        print(event, `Cancelled "${printable(event.title)}"; those it reached are told`)
        return EXIT_OK
      }
      case 'invite': {
        const event = await client.inviteToEvent(await eventIdOf(client, args[0]!), args.slice(1))
        print(event, `Invited ${args.slice(1).map((c) => printable(c)).join(', ')} to "${printable(event.title)}"`)
        return EXIT_OK
      }
      default: {
        const choice = RSVP_WORDS[args[1]!]!
        const event = await client.rsvp(await eventIdOf(client, args[0]!), choice, values.note)
        print(event, `Answered ${args[1]!} to "${printable(event.title)}"; only its host reads it`)
        return EXIT_OK
      }
    }
  } catch (error) {
    return reportFailure(error, { command: name, dataDir })
  }
}
