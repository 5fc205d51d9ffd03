/**
 * `komrade profile` (show ours or someone's, set ours) and `komrade circle`
 * (who reads our circle posts: list, add, remove). A display name and a bio
 * come from their owner and are not verified by anyone: they are printed
 * escaped, and the registered name (checked) is shown beside them.
 */
import type { KomradeClient } from '../api/client.js'
import { KomradeApiError } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import {
  codePoints, imageSizeLabel, imageTypeWord, MAX_AVATAR_BYTES, MAX_BIO_CHARS, MAX_DISPLAY_NAME_BYTES, MAX_DISPLAY_NAME_CHARS, MAX_PROFILES_PER_REQUEST,
  utf8Length
} from '../api/post-content.js'
import type { ApiCircleMember, ApiProfile } from '../api/types.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { findContact } from './contacts.js'
import { EXIT_OK } from './exit-codes.js'
import { CommandError, reportFailure } from './failures.js'
import { readImageFile } from './posts.js'
import { MESSAGE_INDENT, printable, writeFields, writeJson, writeLine } from './terminal.js'

export const PROFILE_HELP = `komrade profile: your profile, or someone else's

Usage:
  komrade profile [show] [--json]                 your profile
  komrade profile show NAME|ID [--json]           the profile of a name, a contact or an id
  komrade profile set --display-name X [--bio Y] [--avatar FILE | --no-avatar] [--to world|circle]

A profile is a display name (up to ${MAX_DISPLAY_NAME_CHARS} characters), a bio (up to ${MAX_BIO_CHARS}) and an avatar (an
image of at most 32 KiB: JPEG, PNG, WebP or GIF, told by its content). Set to the world, every node
can read it; set to your circle, only those you added. Your node republishes it while it runs; a
newer one replaces the old one everywhere. Display names are chosen by their owners: the registered
name shown beside one is the name the Operator verified. With set, what you leave out is kept from
your current profile: the bio, the avatar and who sees it; --bio "" and --no-avatar clear them.

Options:
${DATA_DIR_HELP}
  --display-name X with set: the name people see (required; at most ${MAX_DISPLAY_NAME_CHARS} characters and ${MAX_DISPLAY_NAME_BYTES} bytes)
  --bio Y          with set: a few words about you (kept unless given; --bio "" clears it)
  --avatar FILE    with set: a small picture (at most 32 KiB; kept unless given)
  --no-avatar      with set: remove your avatar
  --to AUDIENCE    with set: world or circle (kept unless given; world for a first profile)
  --json           print the profile as JSON

Examples:
  komrade profile
  komrade profile set --display-name "Ada L." --bio "engines and poems" --avatar ada.png
  komrade profile set --display-name "Ada Lovelace" --no-avatar
  komrade profile show grace --json`

export const CIRCLE_HELP = `komrade circle: those who read your circle posts

Usage:
  komrade circle [list] [--json]        the members of your circle
  komrade circle add CONTACT [--json]   add a contact (name, id, invite code or hex identity)
  komrade circle remove NAME|ID         remove a member

Adding hands them your circle's key (over your pairwise session), so they read your circle posts,
earlier ones still stored included. Removing one gives your circle a new key that they do not get:
they read nothing you post afterwards.

Options:
${DATA_DIR_HELP}
  --json           machine-readable output (list, add)

Examples:
  komrade circle add grace
  komrade circle list
  komrade circle remove grace`

/** Every profile the node holds, a page at a time (only to match an id prefix). */
async function * allProfiles (client: KomradeClient): AsyncGenerator<ApiProfile> {
  let after: string | undefined
  for (;;) {
    const page = await client.profiles({ limit: MAX_PROFILES_PER_REQUEST, ...(after === undefined ? {} : { after }) })
    yield * page
    if (page.length < MAX_PROFILES_PER_REQUEST) return
    after = page[page.length - 1]!.author
  }
}

/**
 * The author id a NAME|ID means: an id, a contact's name, or, among the
 * profiles this node holds (read a page at a time, never asked of the
 * Operator), a registered name or a unique id prefix.
 */
async function authorOf (client: KomradeClient, query: string): Promise<string> {
  const wanted = query.trim().toLowerCase()
  if (/^[0-9a-f]{64}$/.test(wanted)) return wanted
  const contact = findContact(await client.contacts(), wanted)
  if (contact !== undefined) return contact.id
  const prefix = /^[0-9a-f]{8,}$/.test(wanted)
  const matches: string[] = []
  for await (const profile of allProfiles(client)) {
    if (profile.authorName === wanted) return profile.author
    if (prefix && profile.author.startsWith(wanted)) matches.push(profile.author)
  }
  if (matches.length > 1) throw new CommandError(`"${printable(query)}" is the start of ${matches.length} ids; give more of it`)
  if (matches[0] !== undefined) return matches[0]
  throw new CommandError(`No profile of "${printable(query)}" has reached this node: they may show it to their circle only, or not have set one`)
}

function writeProfile (profile: ApiProfile, heading: string): void {
  writeFields(process.stdout, heading, {
    'display name': printable(profile.displayName),
    name: profile.authorName === undefined ? 'none registered' : printable(profile.authorName),
    bio: profile.bio === '' ? undefined : printable(profile.bio, { indent: MESSAGE_INDENT + '         ' }),
    avatar: profile.avatar === undefined ? (profile.hasAvatar ? 'yes' : 'none') : `${imageSizeLabel(profile.avatar.size)} ${printable(imageTypeWord(profile.avatar.mime))}`,
    'shown to': profile.audience === 'world' ? 'the world' : 'their circle',
    updated: new Date(profile.updatedAt).toISOString(),
    id: profile.author
  })
}

/** `komrade profile …`. */
export async function profileCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade profile',
    help: PROFILE_HELP,
    options: {
      ...COMMON_OPTIONS, ...JSON_OPTION,
      'display-name': { type: 'string' }, bio: { type: 'string' }, avatar: { type: 'string' }, 'no-avatar': { type: 'boolean' }, to: { type: 'string' }
    },
    positionals: { min: 0, max: 2, names: 'show or set' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [sub = 'show', target] } = parsed
  if (sub !== 'show' && sub !== 'set') return usageError(spec.name, spec.help, `unknown subcommand "${sub}"`)
  const setOptions = (['display-name', 'bio', 'avatar', 'no-avatar', 'to'] as const).filter((name) => values[name] !== undefined)
  if (sub === 'show' && setOptions.length > 0) return usageError('komrade profile show', spec.help, `--${setOptions[0]!} goes with set`)
  if (sub === 'set' && target !== undefined) return usageError('komrade profile set', spec.help, `unexpected argument "${target}"`)
  const dataDir = dataDirOf(values)
  const command = `komrade profile ${sub}`
  try {
    if (sub === 'set') return await setProfile(values, dataDir, spec.help)
    const client = await connectToDaemon(dataDir)
    if (target === undefined) {
      let profile: ApiProfile | undefined
      try {
        profile = await client.profile()
      } catch (error) {
        if (!(error instanceof KomradeApiError && error.code === 'unknown_profile')) throw error
      }
      if (values.json === true) writeJson(process.stdout, profile ?? null)
      else if (profile === undefined) writeLine(process.stdout, 'You have no profile yet; set one: komrade profile set --display-name NAME')
      else writeProfile(profile, 'Your profile')
      return EXIT_OK
    }
    const profile = await client.profileOf(await authorOf(client, target))
    if (values.json === true) writeJson(process.stdout, profile)
    else writeProfile(profile, `Profile of ${printable(profile.authorName ?? target)}`)
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command, dataDir, ...(target === undefined ? {} : { name: target }) })
  }
}

/** Our current profile, or undefined when none is set yet. */
async function currentProfile (client: KomradeClient): Promise<ApiProfile | undefined> {
  try {
    return await client.profile()
  } catch (error) {
    if (error instanceof KomradeApiError && error.code === 'unknown_profile') return undefined
    throw error
  }
}

/**
 * `komrade profile set`. A profile is published whole, so what is not
 * given is kept from the current one (bio, avatar, audience); `--bio ""`
 * and `--no-avatar` clear them.
 */
async function setProfile (
  values: { 'display-name'?: string, bio?: string, avatar?: string, 'no-avatar'?: boolean, to?: string, json?: boolean }, dataDir: string, help: string
): Promise<number> {
  const displayName = values['display-name']?.trim()
  if (displayName === undefined || displayName === '') return usageError('komrade profile set', help, 'missing --display-name')
  if (values.to !== undefined && values.to !== 'world' && values.to !== 'circle') return usageError('komrade profile set', help, `--to expected world or circle, got "${values.to}"`)
  if (values.avatar !== undefined && values['no-avatar'] === true) return usageError('komrade profile set', help, '--avatar and --no-avatar do not go together')
  if (codePoints(displayName) > MAX_DISPLAY_NAME_CHARS) {
    throw new CommandError(`The display name has ${codePoints(displayName)} characters; it holds at most ${MAX_DISPLAY_NAME_CHARS}`)
  }
  if (utf8Length(displayName) > MAX_DISPLAY_NAME_BYTES) {
    throw new CommandError(`The display name takes ${utf8Length(displayName)} bytes of UTF-8 (emoji take 4 each); it holds at most ${MAX_DISPLAY_NAME_BYTES}: shorten it`)
  }
  if (values.bio !== undefined && codePoints(values.bio) > MAX_BIO_CHARS) {
    throw new CommandError(`The bio has ${codePoints(values.bio)} characters; it holds at most ${MAX_BIO_CHARS}`)
  }
  const newAvatar = values.avatar === undefined ? undefined : await readImageFile(values.avatar, MAX_AVATAR_BYTES, 'an avatar')
  const client = await connectToDaemon(dataDir)
  const current = await currentProfile(client)
  // Kept unless given: the current avatar's bytes come back from its route.
  const avatar = newAvatar ?? (values['no-avatar'] === true || current?.hasAvatar !== true ? undefined : await keptAvatar(client, current.author))
  const bio = values.bio ?? current?.bio
  const audience = values.to === 'circle' || values.to === 'world' ? values.to : current?.audience ?? 'world'
  const profile = await client.setProfile({
    displayName,
    ...(bio === undefined ? {} : { bio }),
    ...(avatar === undefined ? {} : { avatar }),
    audience
  })
  if (values.json === true) writeJson(process.stdout, profile)
  else writeProfile(profile, `Profile set, shown to ${profile.audience === 'world' ? 'the world' : 'your circle'}`)
  return EXIT_OK
}

/** The avatar we have now, to publish again; undefined if it is gone meanwhile. */
async function keptAvatar (client: KomradeClient, author: string): Promise<{ mime: string, bytes: Uint8Array } | undefined> {
  try {
    return await client.avatar(author)
  } catch (error) {
    if (error instanceof KomradeApiError && error.code === 'unknown_profile') return undefined
    throw error
  }
}

/** How a member is called: their name, or the start of their id. */
function memberLabel (member: ApiCircleMember): string {
  return member.name === undefined ? `[${member.id.slice(0, 8)}]` : printable(member.name)
}

/** The member a NAME|ID names: exact name or id, or a unique id prefix of 8+ hex. */
function findMember (members: ApiCircleMember[], query: string): ApiCircleMember {
  const wanted = query.trim().toLowerCase()
  const exact = members.find((m) => m.name === wanted || m.id === wanted || m.identity === wanted)
  if (exact !== undefined) return exact
  const matches = /^[0-9a-f]{8,}$/.test(wanted) ? members.filter((m) => m.id.startsWith(wanted)) : []
  if (matches.length > 1) throw new CommandError(`"${printable(query)}" is the start of ${matches.length} member ids; give more of it`)
  if (matches[0] !== undefined) return matches[0]
  throw new CommandError(`"${printable(query)}" is not in your circle; list it with komrade circle list`)
}

/** `komrade circle …`. */
export async function circleCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade circle',
    help: CIRCLE_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION },
    positionals: { min: 0, max: 2, names: 'list, add or remove' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [sub = 'list', target] } = parsed
  if (sub !== 'list' && sub !== 'add' && sub !== 'remove') return usageError(spec.name, spec.help, `unknown subcommand "${sub}"`)
  if (sub !== 'list' && target === undefined) return usageError(`komrade circle ${sub}`, spec.help, sub === 'add' ? 'missing CONTACT' : 'missing NAME|ID')
  if (sub === 'list' && target !== undefined) return usageError('komrade circle list', spec.help, `unexpected argument "${target}"`)
  const dataDir = dataDirOf(values)
  const command = `komrade circle ${sub}`
  try {
    const client = await connectToDaemon(dataDir)
    switch (sub) {
      case 'add': {
        // A contact already known is named by its id: no lookup needed.
        const known = findContact(await client.contacts(), target!)
        const member = await client.addToCircle(known?.id ?? target!)
        if (values.json === true) writeJson(process.stdout, member)
        else writeLine(process.stdout, `Added ${memberLabel(member)} to your circle: they read your circle posts from now on (id ${member.id})`)
        return EXIT_OK
      }
      case 'remove': {
        const member = findMember(await client.circle(), target!)
        await client.removeFromCircle(member.id)
        writeLine(process.stdout, `Removed ${memberLabel(member)} from your circle; your circle has a new key, and they read nothing you post from now on`)
        return EXIT_OK
      }
      default: {
        const members = await client.circle()
        if (values.json === true) { writeJson(process.stdout, members); return EXIT_OK }
        if (members.length === 0) {
          writeLine(process.stdout, 'Your circle is empty; add someone with komrade circle add NAME')
          return EXIT_OK
        }
        const width = Math.max(4, ...members.map((m) => memberLabel(m).length)) + 2
        writeLine(process.stdout, `${'NAME'.padEnd(width)}${'ADDED'.padEnd(22)}ID`)
        for (const m of members) writeLine(process.stdout, `${memberLabel(m).padEnd(width)}${new Date(m.addedAt).toISOString().slice(0, 19).replace('T', ' ').padEnd(22)}${m.id}`)
        return EXIT_OK
      }
    }
  } catch (error) {
    return reportFailure(error, { command, dataDir, ...(target === undefined ? {} : { name: target }) })
  }
}
