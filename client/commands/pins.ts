/**
 * `komrade pin add|list`: map pins (police, danger, help, info, other) for
 * the world or a group, named or anonymous, living 10 minutes to 7 days;
 * listed nearest first from a point when one is given. A note comes from
 * whoever placed the pin: it is printed through printable().
 */
import { connectToDaemon } from '../api/discover.js'
import {
  DEFAULT_PIN_PRECISION, DEFAULT_PIN_TTL_MINUTES, groupReference, MAX_PIN_GEOHASH, MAX_PIN_NOTE_CHARS, MAX_PIN_TTL_MINUTES, MAX_WITHIN_KM,
  MIN_PIN_TTL_MINUTES
} from '../api/collectives-content.js'
import { PIN_KINDS, type ApiPin, type ApiPinKind } from '../api/collectives-types.js'
import { codePoints } from '../api/post-content.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { parseLatLonOption, relativeTime, SHOWN_ID_CHARS } from './places.js'
import { printable, writeJson, writeLine } from './terminal.js'

export const PIN_HELP = `komrade pin: map pins, for the world or a group

Usage:
  komrade pin add KIND NOTE… --at LAT,LON [--precision N] [--hours H] [--to world|group:NAME] [--anonymous] [--json]
  komrade pin list [--near LAT,LON [--within KM]] [--group NAME] [--json]

KIND is one of ${PIN_KINDS.join(', ')}. A pin's place is sent as a geohash area, not the exact
point: --precision is its number of characters (1 to ${MAX_PIN_GEOHASH}; ${DEFAULT_PIN_PRECISION}, the default, is about
150 m; 5 about 5 km). A pin disappears from every node after --hours (1/6 to 168; default
${DEFAULT_PIN_TTL_MINUTES / 60}). An anonymous pin is signed with one-time keys: your name is not attached. With --near,
pins are listed nearest first with their distance (from the centre of their area), and --within
keeps those closer than KM; the point stays on this computer (your node filters locally).

Options:
${DATA_DIR_HELP}
  --at LAT,LON     with add: where (decimal degrees, such as 52.52,13.405)
  --precision N    with add: geohash characters, 1 to ${MAX_PIN_GEOHASH} (default ${DEFAULT_PIN_PRECISION})
  --hours H        with add: lifetime in hours (default ${DEFAULT_PIN_TTL_MINUTES / 60})
  --to AUDIENCE    with add: world (default) or group:NAME
  --anonymous      with add: without your name
  --near LAT,LON   with list: sort by distance from this point
  --within KM      with list: only pins closer than KM to --near
  --group NAME     with list: only the pins of this group
  --json           machine-readable output

Examples:
  komrade pin add police "checkpoint on the bridge" --at 52.5163,13.3777 --hours 2 --anonymous
  komrade pin add help "water and first aid here" --at 52.52,13.405 --to group:neighbours
  komrade pin list --near 52.52,13.405 --within 5
  komrade pin list --json`

const OPTION_USES: Readonly<Record<string, 'add' | 'list'>> = {
  at: 'add', precision: 'add', hours: 'add', to: 'add', anonymous: 'add', near: 'list', within: 'list', group: 'list'
}

function pinLine (pin: ApiPin): string {
  const who = pin.mine ? 'you' : pin.author === undefined ? 'anonymous' : printable(pin.author.name ?? `[${pin.author.id.slice(0, 8)}]`)
  const distance = pin.distanceKm === undefined ? '' : `${pin.distanceKm < 10 ? pin.distanceKm.toFixed(1) : Math.round(pin.distanceKm)} km  `
  const audience = pin.audience === 'world' ? 'world' : `@${printable(pin.audience.group)}`
  return `${pin.kind.toUpperCase().padEnd(7)} ${distance}${printable(pin.note)}  [${pin.geohash}; ${pin.lat.toFixed(4)},${pin.lon.toFixed(4)}; by ${who}, ${audience}; ` +
    `placed ${relativeTime(pin.sentAt)}, expires ${relativeTime(pin.expiresAt)}] #${pin.id.slice(0, SHOWN_ID_CHARS)}`
}

/** `komrade pin …`. */
export async function pinCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade pin',
    help: PIN_HELP,
    options: {
      ...COMMON_OPTIONS, ...JSON_OPTION,
      at: { type: 'string' }, precision: { type: 'string' }, hours: { type: 'string' }, to: { type: 'string' }, anonymous: { type: 'boolean' },
      near: { type: 'string' }, within: { type: 'string' }, group: { type: 'string' }
    },
    positionals: { min: 1, max: Infinity, names: 'a subcommand: add or list' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const [sub, ...args] = parsed.positionals as [string, ...string[]]
  if (sub !== 'add' && sub !== 'list') return usageError(spec.name, spec.help, `unknown subcommand "${sub}"`)
  const name = `komrade pin ${sub}`
  for (const [option, use] of Object.entries(OPTION_USES)) {
    if ((values as Record<string, unknown>)[option] !== undefined && use !== sub) return usageError(name, spec.help, `--${option} goes with ${use}`)
  }
  const json = values.json === true
  const dataDir = dataDirOf(values)
  if (sub === 'list') {
    if (args.length > 0) return usageError(name, spec.help, `unexpected argument "${args[0]!}"`)
    const near = values.near === undefined ? undefined : parseLatLonOption(values.near)
    if (values.near !== undefined && near === undefined) return usageError(name, spec.help, `--near expected LAT,LON in decimal degrees, got "${values.near}"`)
    const within = values.within === undefined ? undefined : Number(values.within)
    if (within !== undefined && !(within > 0 && within <= MAX_WITHIN_KM)) return usageError(name, spec.help, `--within expected a distance in km above 0, got "${values.within!}"`)
    if (within !== undefined && near === undefined) return usageError(name, spec.help, '--within needs --near LAT,LON: the point to measure from')
    const group = values.group === undefined ? undefined : groupReference(values.group)
    if (values.group !== undefined && group === undefined) return usageError(name, spec.help, `--group expected a group name, got "${values.group}"`)
    try {
      const client = await connectToDaemon(dataDir)
      const pins = await client.pins({ ...(near === undefined ? {} : { near }), ...(within === undefined ? {} : { withinKm: within }), ...(group === undefined ? {} : { group }) })
      if (json) { writeJson(process.stdout, pins); return EXIT_OK } // a bare list, like event list and group list
      if (pins.length === 0) { writeLine(process.stdout, within === undefined ? 'No pins.' : `No pins within ${within} km.`); return EXIT_OK }
      for (const pin of pins) writeLine(process.stdout, pinLine(pin))
      return EXIT_OK
    } catch (error) {
      return reportFailure(error, { command: name, dataDir })
    }
  }
  const [kind, ...noteWords] = args
  if (kind === undefined) return usageError(name, spec.help, `missing KIND (${PIN_KINDS.join(', ')})`)
  if (!(PIN_KINDS as readonly string[]).includes(kind)) return usageError(name, spec.help, `KIND is one of ${PIN_KINDS.join(', ')}, not "${kind}"`)
  const note = noteWords.join(' ')
  if (codePoints(note) > MAX_PIN_NOTE_CHARS) return usageError(name, spec.help, `the note holds at most ${MAX_PIN_NOTE_CHARS} characters; this one has ${codePoints(note)}`)
  if (values.at === undefined) return usageError(name, spec.help, 'missing --at LAT,LON: where the pin goes')
  const at = parseLatLonOption(values.at)
  if (at === undefined) return usageError(name, spec.help, `--at expected LAT,LON in decimal degrees, such as 52.52,13.405, got "${values.at}"`)
  const precision = values.precision === undefined ? DEFAULT_PIN_PRECISION : Number(values.precision)
  if (!Number.isSafeInteger(precision) || precision < 1 || precision > MAX_PIN_GEOHASH) return usageError(name, spec.help, `--precision expected a whole number from 1 to ${MAX_PIN_GEOHASH}`)
  const ttlMinutes = values.hours === undefined ? DEFAULT_PIN_TTL_MINUTES : Math.round(Number(values.hours) * 60)
  if (!(ttlMinutes >= MIN_PIN_TTL_MINUTES && ttlMinutes <= MAX_PIN_TTL_MINUTES)) {
    return usageError(name, spec.help, `--hours expected a number of hours from ${MIN_PIN_TTL_MINUTES / 60} to ${MAX_PIN_TTL_MINUTES / 60}, got "${values.hours!}"`)
  }
  let audience: 'world' | { group: string } = 'world'
  if (values.to !== undefined && values.to !== 'world') {
    const group = values.to.startsWith('group:') ? groupReference(values.to.slice('group:'.length)) : undefined
    if (group === undefined) return usageError(name, spec.help, `--to expected world or group:NAME, got "${values.to}"`)
    audience = { group }
  }
  try {
    const client = await connectToDaemon(dataDir)
    const pin = await client.addPin({ kind: kind as ApiPinKind, note, lat: at.lat, lon: at.lon, precision, ttlMinutes, audience, ...(values.anonymous === true ? { anonymous: true } : {}) })
    if (json) writeJson(process.stdout, pin)
    else writeLine(process.stdout, `Placed a ${pin.kind} pin at ${pin.geohash} (${pin.lat.toFixed(4)}, ${pin.lon.toFixed(4)}) for ${pin.audience === 'world' ? 'the world' : `@${pin.audience.group}`}${values.anonymous === true ? ', anonymously' : ''}; it expires ${relativeTime(pin.expiresAt)}`)
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: name, dataDir })
  }
}
