/**
 * `komrade contacts add|list|verify|remove`. A contact is named on the
 * command line by its registered name, its contact id (or a unique prefix of
 * at least 8 hex characters), or its hex public identity.
 */
import type { KomradeClient } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import type { ApiContact } from '../api/types.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.js'
import { CommandError, reportFailure } from './failures.js'
import { printable, writeFields, writeJson, writeLine } from './terminal.js'

export const CONTACTS_HELP = `komrade contacts: the people this node can write to and recognise

Usage:
  komrade contacts add NAME|INVITE|IDENTITY   add by registered name, invite code (KOMRADE1-…) or hex identity
  komrade contacts list [--json]              list contacts
  komrade contacts verify NAME [--fingerprint "XXXX XXXX …"]
                                              compare fingerprints with the other person (exit 1 on mismatch)
  komrade contacts remove NAME                forget a contact

Options:
${DATA_DIR_HELP}
  --json           machine-readable output (list, add, verify)
  --fingerprint F  with verify: the fingerprint the other person read out to you; checked against theirs

A name is looked up in the Operator's registry and checked against its key; an invite code carries
the keys themselves. Verifying compares the keys out of band (in person, on a call): it is what
protects you from an Operator that lies.

Examples:
  komrade contacts add grace
  komrade contacts add KOMRADE1-…
  komrade contacts list --json
  komrade contacts verify grace
  komrade contacts verify grace --fingerprint "q3vm 7hxk 2b4d aa7p mc3e 9t2w"
  komrade contacts remove grace`

/** Finds a contact by name, id, unique id prefix or hex identity; CommandError when none (or several) match. */
export function findContact (contacts: ApiContact[], query: string): ApiContact | undefined {
  const wanted = query.trim().toLowerCase()
  const exact = contacts.find((c) => c.name === wanted || c.id === wanted || c.identity === wanted)
  if (exact !== undefined) return exact
  if (!/^[0-9a-f]{8,}$/.test(wanted)) return undefined
  const matches = contacts.filter((c) => c.id.startsWith(wanted))
  if (matches.length > 1) throw new CommandError(`"${query}" is the start of ${matches.length} contact ids; give more of it`)
  return matches[0]
}

/**
 * The contact named `query`, or a CommandError that says how to add it. A
 * registered name also finds a contact known by its keys only (one who wrote
 * first): the name is looked up and matched by identity.
 */
export async function needContact (client: KomradeClient, query: string): Promise<ApiContact> {
  const contacts = await client.contacts()
  const found = findContact(contacts, query)
  if (found !== undefined) return found
  if (/^[A-Za-z0-9_]{3,32}$/.test(query)) {
    const record = await client.lookup(query).catch(() => undefined)
    const byKeys = record === undefined ? undefined : contacts.find((c) => c.identity === record.identity)
    if (byKeys !== undefined) return byKeys
  }
  throw new CommandError(`"${query}" is not one of your contacts; add it with komrade contacts add ${query}`)
}

/** How a contact is called on screen (its name escaped: names come from the network). */
export function contactLabel (contact: Pick<ApiContact, 'name' | 'fingerprint'>): string {
  return contact.name === undefined ? `[${contact.fingerprint.slice(0, 9)}]` : printable(contact.name)
}

/** Fingerprints compared as people read them: case, spaces and dashes do not matter. */
export function sameFingerprint (a: string, b: string): boolean {
  const norm = (text: string): string => text.toLowerCase().replace(/[\s-]/g, '')
  return norm(a) === norm(b)
}

/** `komrade contacts …`. */
export async function contactsCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade contacts',
    help: CONTACTS_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, fingerprint: { type: 'string' } },
    positionals: { min: 1, max: 2, names: 'a subcommand: add, list, verify or remove' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [sub, target] } = parsed
  const needsTarget = sub === 'add' || sub === 'verify' || sub === 'remove'
  if (sub !== 'list' && !needsTarget) return usageError(spec.name, spec.help, `unknown subcommand "${sub!}"`)
  if (needsTarget && target === undefined) return usageError(`komrade contacts ${sub}`, spec.help, 'missing NAME')
  if (!needsTarget && target !== undefined) return usageError('komrade contacts list', spec.help, `unexpected argument "${target}"`)
  if (values.fingerprint !== undefined && sub !== 'verify') return usageError(`komrade contacts ${sub}`, spec.help, '--fingerprint goes with verify')
  const dataDir = dataDirOf(values)
  const command = `komrade contacts ${sub}`
  try {
    const client = await connectToDaemon(dataDir)
    switch (sub) {
      case 'add': {
        const contact = await client.addContact(target!)
        if (values.json === true) writeJson(process.stdout, contact)
        else {
          const handle = printable(contact.name ?? contact.id.slice(0, 12))
          writeFields(process.stdout, `Added ${contactLabel(contact)}`, { name: contact.name === undefined ? undefined : printable(contact.name), fingerprint: contact.fingerprint, id: contact.id })
          writeLine(process.stdout, `Compare fingerprints with them (komrade contacts verify ${handle}), then: komrade chat ${handle}`)
        }
        return EXIT_OK
      }
      case 'list': {
        const contacts = await client.contacts()
        if (values.json === true) { writeJson(process.stdout, contacts); return EXIT_OK }
        if (contacts.length === 0) {
          writeLine(process.stdout, 'No contacts yet; add one with komrade contacts add NAME|INVITE')
          return EXIT_OK
        }
        const width = Math.max(4, ...contacts.map((c) => contactLabel(c).length)) + 2
        writeLine(process.stdout, `${'NAME'.padEnd(width)}${'FINGERPRINT'.padEnd(31)}${'SESSIONS'.padEnd(10)}ID`)
        for (const c of contacts) writeLine(process.stdout, `${contactLabel(c).padEnd(width)}${c.fingerprint.padEnd(31)}${String(c.sessions).padEnd(10)}${c.id}`)
        return EXIT_OK
      }
      case 'verify':
        return await verify(client, target!, values.fingerprint, values.json === true)
      default: {
        const contact = await needContact(client, target!)
        await client.removeContact(contact.id)
        writeLine(process.stdout, `Removed ${contactLabel(contact)} from your contacts`)
        return EXIT_OK
      }
    }
  } catch (error) {
    return reportFailure(error, { command, dataDir, ...(target === undefined ? {} : { name: target }) })
  }
}

async function verify (client: KomradeClient, query: string, spoken: string | undefined, json: boolean): Promise<number> {
  const contact = await needContact(client, query)
  const [detail, me] = await Promise.all([client.contact(contact.id), client.identity()])
  const label = printable(contact.name ?? query) // a contact known by keys only is called what the user called it
  const match = spoken === undefined ? undefined : sameFingerprint(spoken, detail.fingerprint)
  if (json) {
    writeJson(process.stdout, { contact: label, theirs: detail.fingerprint, yours: me.fingerprint, safetyNumber: detail.safetyNumber, ...(match === undefined ? {} : { match }) })
    return match === false ? EXIT_FAILURE : EXIT_OK
  }
  writeFields(process.stdout, `Fingerprints of you and ${label}`, {
    yours: me.fingerprint,
    [`${label}'s`]: detail.fingerprint,
    'safety number': detail.safetyNumber
  })
  if (match === undefined) {
    writeLine(process.stdout, `Compare them with ${label} in person or on a call (not by message): read yours aloud and`)
    writeLine(process.stdout, `have them check it under "yours" on their side; then run komrade contacts verify ${query} --fingerprint "…"`)
    writeLine(process.stdout, 'with the fingerprint they read out to you. The safety number is the same on both sides.')
    return EXIT_OK
  }
  if (match) {
    writeLine(process.stdout, `Match: the keys you hold for ${label} are the ones ${label} has.`)
    return EXIT_OK
  }
  writeLine(process.stdout, `MISMATCH: ${label} read out "${spoken!}", but the keys you hold have "${detail.fingerprint}".`)
  writeLine(process.stdout, `Do not trust this contact yet: the name or invite may have led to someone else's keys. Check again, then ` +
    `remove it (komrade contacts remove ${query}) and add ${label} from an invite code they hand you in person.`)
  return EXIT_FAILURE
}
