/**
 * `komrade group …`: founding a group, asking to join one through a member,
 * vouching for those who ask, proposals and votes, leaving, and the group's
 * feed with its anonymous up and down votes. Everything that comes from
 * the network (names, notes, posts) is printed through printable().
 */
import type { KomradeClient } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import { constitutionText, groupReference, MAX_GROUP_NOTE_CHARS } from '../api/collectives-content.js'
import type { ApiConstitution, ApiGroupPost, ApiGroupView, ApiProposal } from '../api/collectives-types.js'
import { codePoints, imageSizeLabel, MAX_POST_DAYS, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_CHARS, MIN_POST_DAYS } from '../api/post-content.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { EXIT_OK } from './exit-codes.js'
import { CommandError, reportFailure } from './failures.js'
import { MIN_ID_PREFIX, parseLatLonOption, resolveId, SHOWN_ID_CHARS } from './places.js'
import { distanceToGeohash, nearFilterOption, passesNear, placeLabel, readImageFile, type NearFilter } from './posts.js'
import { formatTime, MESSAGE_INDENT, printable, writeFields, writeJson, writeLine } from './terminal.js'

export const GROUP_HELP = `komrade group: groups that grow by vouching and decide by vote

Usage:
  komrade group create NAME [--quorum N | --quorum-percent P --quorum-min N]
  komrade group join NAME --via CONTACT [--note TEXT]
  komrade group requests [NAME]                 join requests sent to you, to vouch for
  komrade group vouch NAME CANDIDATE            vouch for someone who asked to join through you
  komrade group propose NAME (--quorum N | --quorum-percent P --quorum-min N | --remove MEMBER) [--reason TEXT]
  komrade group vote NAME PROPOSAL yes|no
  komrade group leave NAME
  komrade group list [--json]
  komrade group show NAME [--json]
  komrade group post NAME TEXT… [--image FILE] [--near LAT,LON] [--days N]
  komrade group feed NAME [--limit N] [--before CURSOR] [--near LAT,LON [--within KM]] [--json]
  komrade group upvote|downvote NAME POST

A group has its own registered name (founding one registers it with the Operator, like
komrade register). Someone joins by asking a member they know (--via: one of your contacts who is a
member); members vouch, and once enough have (the group's rule: a fixed number, or a share of the
members with a floor) the newcomer receives the group's keys. Rules change, and members are
removed, by a majority of the members. Votes on posts are anonymous (ring signatures): the count is
public, who voted is not; a group must have admitted at least 16 members for them. You vote once
per post: voting the other way is refused (every node would count two votes from one key as none). NAME is the group's name, @name, or its id; PROPOSAL and POST the ids (or
their first characters) that show and feed print.

Options:
${DATA_DIR_HELP}
  --quorum N          vouches a newcomer needs (1 to 255; default 1)
  --quorum-percent P  or: this share of the members' vouches (1 to 100) …
  --quorum-min N      … and at least N (1 to 255)
  --via CONTACT       with join: the member who receives your request (name or contact id)
  --note TEXT         with join: a few words for the members (at most ${MAX_GROUP_NOTE_CHARS} characters)
  --remove MEMBER     with propose: remove this member (name or id)
  --reason TEXT       with propose: why (at most ${MAX_GROUP_NOTE_CHARS} characters)
  --image FILE        with post: attach an image (at most 256 KiB)
  --near LAT,LON      with post: a coarse place (sent as an area of about 5 km); with feed: your
                      point, to show each placed post's distance (computed here, sent to no one)
  --within KM         with feed and --near: only posts whose area's centre is at most KM away
  --days N            with post: how long it lives, ${MIN_POST_DAYS} to ${MAX_POST_DAYS} days (default 2)
  --limit N           with feed: how many posts (1 to 100, default 20)
  --before CURSOR     with feed: the page older than the one that printed CURSOR
  --json              machine-readable output

Examples:
  komrade group create neighbours --quorum-percent 20 --quorum-min 2
  komrade group join neighbours --via ada --note "I live on the third floor"
  komrade group requests
  komrade group vouch neighbours grace
  komrade group propose neighbours --quorum 3 --reason "we are many now"
  komrade group vote neighbours 3f2a9c yes
  komrade group post neighbours "water is back on" --near 52.52,13.40
  komrade group feed neighbours
  komrade group feed neighbours --near 52.52,13.40 --within 5
  komrade group upvote neighbours 9b1c44e0a2f1
  komrade group downvote neighbours 9b1c44e0a2f1
  komrade group propose neighbours --remove grace --reason "moved away"
  komrade group show neighbours
  komrade group leave neighbours`

const DEFAULT_LIMIT = 20
const MAX_LIMIT = 100
const SUBCOMMANDS = ['create', 'join', 'requests', 'vouch', 'propose', 'vote', 'leave', 'list', 'show', 'post', 'feed', 'upvote', 'downvote'] as const
type Subcommand = typeof SUBCOMMANDS[number]

/** Positional arguments each subcommand takes after its name: [min, max]. */
const ARITY: Readonly<Record<Subcommand, readonly [number, number, string]>> = {
  create: [1, 1, 'NAME'], join: [1, 1, 'NAME'], requests: [0, 1, 'NAME'], vouch: [2, 2, 'NAME and CANDIDATE'],
  propose: [1, 1, 'NAME'], vote: [3, 3, 'NAME, PROPOSAL and yes|no'], leave: [1, 1, 'NAME'], list: [0, 0, ''], show: [1, 1, 'NAME'],
  post: [1, Infinity, 'NAME and TEXT'], feed: [1, 1, 'NAME'], upvote: [2, 2, 'NAME and POST'], downvote: [2, 2, 'NAME and POST']
}

/** Options and the subcommands they go with. */
const OPTION_USES: Readonly<Record<string, readonly Subcommand[]>> = {
  quorum: ['create', 'propose'], 'quorum-percent': ['create', 'propose'], 'quorum-min': ['create', 'propose'],
  via: ['join'], note: ['join'], remove: ['propose'], reason: ['propose'], image: ['post'], near: ['post', 'feed'], days: ['post'],
  limit: ['feed'], before: ['feed'], within: ['feed']
}

/** A whole number option within [min, max], or a usage message. */
function wholeOption (value: string | undefined, name: string, min: number, max: number): number | string | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  return /^\d+$/.test(value) && n >= min && n <= max ? n : `--${name} expected a whole number from ${min} to ${max}, got "${value}"`
}

/** The constitution of --quorum or --quorum-percent/--quorum-min; undefined when none given; a usage message when wrong. */
function constitutionOption (values: { quorum?: string, 'quorum-percent'?: string, 'quorum-min'?: string }): ApiConstitution | string | undefined {
  const fixed = wholeOption(values.quorum, 'quorum', 1, 255)
  const percent = wholeOption(values['quorum-percent'], 'quorum-percent', 1, 100)
  const min = wholeOption(values['quorum-min'], 'quorum-min', 1, 255)
  for (const value of [fixed, percent, min]) if (typeof value === 'string') return value
  if (fixed !== undefined && (percent !== undefined || min !== undefined)) return '--quorum is a fixed number; it does not go with --quorum-percent or --quorum-min'
  if (fixed !== undefined) return { type: 'fixed', n: fixed as number }
  if (percent === undefined && min === undefined) return undefined
  if (percent === undefined) return '--quorum-min goes with --quorum-percent'
  return { type: 'growing', percent: percent as number, min: (min as number | undefined) ?? 1 }
}

/** Whether `text` can be an id as listings print it: hex, at least MIN_ID_PREFIX characters. */
function isIdText (text: string): boolean {
  return new RegExp(`^[0-9a-fA-F]{${MIN_ID_PREFIX},}$`).test(text.trim())
}

/** A member's or a candidate's label: their name, else the start of their id. */
function personLabel (id: string, name?: string, me = false): string {
  if (me) return 'you'
  return name === undefined ? `[${id.slice(0, 8)}]` : printable(name)
}

function proposalLine (proposal: ApiProposal, view: ApiGroupView): string {
  const target = view.members.find((m) => m.id === proposal.target)
  const what = proposal.kind === 'amend' && proposal.constitution !== undefined
    ? `new rule: ${constitutionText(proposal.constitution)}`
    : `remove ${personLabel(proposal.target ?? '', target?.name, target?.me === true)}`
  const reason = proposal.reason === '' ? '' : ` (${printable(proposal.reason)})`
  const mine = proposal.myVote === undefined ? '' : `, you voted ${proposal.myVote}`
  return `${proposal.id.slice(0, SHOWN_ID_CHARS)}  ${proposal.status.padEnd(8)} ${proposal.yes} yes / ${proposal.no} no of ${proposal.electorate}${mine}: ${what}${reason}`
}

/** A group post as the terminal shows it: time, author, text, image, place (and its distance from `near`), votes, short id. */
export function formatGroupPost (post: ApiGroupPost, near?: NearFilter): string {
  const who = post.mine ? 'you' : post.authorName === undefined ? `[${post.author.slice(0, 8)}]` : printable(post.authorName)
  const extras = [
    post.image === undefined ? (post.hasImage ? '[image]' : '') : `[image: ${imageSizeLabel(post.image.size)}]`,
    post.location === undefined ? '' : placeLabel(post.location, undefined, near === undefined ? undefined : distanceToGeohash(near, post.location)),
    `[▲${post.votes.up} ▼${post.votes.down}${post.votes.mine === undefined ? '' : `, you ${post.votes.mine}`}${post.votes.doubleVoters.length === 0 ? '' : `, ${post.votes.doubleVoters.length} double`}]`,
    `#${post.id.slice(0, SHOWN_ID_CHARS)}`
  ].filter((part) => part !== '').join(' ')
  const text = post.text === '' ? '' : printable(post.text, { indent: MESSAGE_INDENT })
  return `${formatTime(post.sentAt)}  ${who}: ${text}${text === '' ? '' : `\n${MESSAGE_INDENT}`}${extras}`
}

/** The post a POST argument names among the feed's newest pages (id or id prefix). */
async function postIdOf (client: KomradeClient, group: string, query: string): Promise<string> {
  const wanted = query.replace(/^#/, '').toLowerCase()
  if (/^[0-9a-f]{96}$/.test(wanted)) return wanted
  const ids: string[] = []
  let before: string | undefined
  for (let page = 0; page < 5; page++) {
    const feed = await client.groupFeed(group, { limit: MAX_LIMIT, ...(before === undefined ? {} : { before }) })
    ids.push(...feed.posts.map((p) => p.id))
    if (feed.next === undefined) break
    before = feed.next
  }
  return resolveId(ids, wanted, 'a post', `komrade group feed ${group}`)
}

/** `komrade group …`. */
export async function groupCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade group',
    help: GROUP_HELP,
    options: {
      ...COMMON_OPTIONS, ...JSON_OPTION,
      quorum: { type: 'string' }, 'quorum-percent': { type: 'string' }, 'quorum-min': { type: 'string' },
      via: { type: 'string' }, note: { type: 'string' }, remove: { type: 'string' }, reason: { type: 'string' },
      image: { type: 'string' }, near: { type: 'string' }, days: { type: 'string' }, limit: { type: 'string' }, before: { type: 'string' },
      within: { type: 'string' }
    },
    positionals: { min: 1, max: Infinity, names: `a subcommand: ${SUBCOMMANDS.join(', ')}` }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const [sub, ...args] = parsed.positionals as [string, ...string[]]
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) return usageError(spec.name, spec.help, `unknown subcommand "${sub}"`)
  const command = sub as Subcommand
  const name = `komrade group ${command}`
  const [min, max, what] = ARITY[command]
  if (args.length < min) return usageError(name, spec.help, `missing ${what}`)
  if (args.length > max) return usageError(name, spec.help, `unexpected argument "${args[max]!}"`)
  for (const [option, uses] of Object.entries(OPTION_USES)) {
    if ((values as Record<string, unknown>)[option] !== undefined && !uses.includes(command)) return usageError(name, spec.help, `--${option} goes with ${uses.join(' or ')}`)
  }
  const constitution = constitutionOption(values)
  if (typeof constitution === 'string') return usageError(name, spec.help, constitution)
  if (command === 'join' && values.via === undefined) return usageError(name, spec.help, 'missing --via CONTACT: the member who receives your request')
  if (command === 'propose' && (constitution === undefined) === (values.remove === undefined)) {
    return usageError(name, spec.help, 'propose takes one of --quorum N, --quorum-percent P [--quorum-min N], or --remove MEMBER')
  }
  if (command === 'vote' && args[2] !== 'yes' && args[2] !== 'no') return usageError(name, spec.help, `the vote is yes or no, not "${args[2]!}"`)
  const days = wholeOption(values.days, 'days', MIN_POST_DAYS, MAX_POST_DAYS)
  if (typeof days === 'string') return usageError(name, spec.help, days)
  const limit = wholeOption(values.limit, 'limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT
  if (typeof limit === 'string') return usageError(name, spec.help, limit)
  const near = values.near === undefined ? undefined : parseLatLonOption(values.near)
  if (values.near !== undefined && near === undefined) return usageError(name, spec.help, `--near expected LAT,LON in decimal degrees, such as 52.52,13.405, got "${values.near}"`)
  // In `feed`, --near is the reader's point: the filter runs here and the point is sent to no one.
  const nearFilter = command === 'feed' ? nearFilterOption(values.near, values.within) : undefined
  if (typeof nearFilter === 'string') return usageError(name, spec.help, nearFilter)
  for (const [option, text] of [['note', values.note], ['reason', values.reason]] as const) {
    if (text !== undefined && codePoints(text) > MAX_GROUP_NOTE_CHARS) return usageError(name, spec.help, `--${option} holds at most ${MAX_GROUP_NOTE_CHARS} characters`)
  }
  // The arguments' forms are checked before the node is asked: a malformed one is a usage error (exit 2).
  const group = args[0] === undefined ? undefined : groupReference(args[0])
  if (args[0] !== undefined && group === undefined) return usageError(name, spec.help, `"${printable(args[0])}" is not a group name (3 to 32 of a-z, 0-9 and _) or a group id`)
  if (command === 'vote' && !isIdText(args[1]!)) return usageError(name, spec.help, `PROPOSAL expected a proposal id or its first ${MIN_ID_PREFIX} or more hex characters, got "${printable(args[1]!)}"`)
  if ((command === 'upvote' || command === 'downvote') && !isIdText(args[1]!.replace(/^#/, ''))) {
    return usageError(name, spec.help, `POST expected a post id or its first ${MIN_ID_PREFIX} or more hex characters, got "${printable(args[1]!)}"`)
  }
  const json = values.json === true
  const dataDir = dataDirOf(values)
  try {
    const client = await connectToDaemon(dataDir)
    switch (command) {
      case 'create': {
        const info = await client.createGroup(group!, constitution === undefined ? {} : { constitution })
        if (json) writeJson(process.stdout, info)
        else writeLine(process.stdout, `Founded @${info.name} (id ${info.id}); newcomers need ${constitutionText(info.constitution)}. Others join with: komrade group join ${info.name} --via YOU`)
        return EXIT_OK
      }
      case 'join': {
        const info = await client.joinGroup(group!, { via: values.via!, ...(values.note === undefined ? {} : { note: values.note }) })
        if (json) writeJson(process.stdout, info)
        else writeLine(process.stdout, `Asked to join @${info.name} through ${printable(values.via!)}; you become a member once ${info.quorum} ${info.quorum === 1 ? 'member vouches' : 'members vouch'} (komrade group list shows it)`)
        return EXIT_OK
      }
      case 'requests': {
        const requests = await client.joinRequests(group)
        if (json) { writeJson(process.stdout, requests); return EXIT_OK }
        const waiting = requests.filter((r) => !r.vouched)
        if (waiting.length === 0) { writeLine(process.stdout, 'No join requests waiting for your vouch.'); return EXIT_OK }
        for (const r of waiting) {
          writeLine(process.stdout, `@${printable(r.group.name)}  ${personLabel(r.candidate, r.candidateName)} ${r.candidate}  ${formatTime(r.receivedAt)}` +
            (r.note === '' ? '' : `\n${MESSAGE_INDENT}${printable(r.note, { indent: MESSAGE_INDENT })}`))
        }
        writeLine(process.stdout, `Vouch with: komrade group vouch GROUP ${waiting[0]!.candidateName ?? waiting[0]!.candidate.slice(0, SHOWN_ID_CHARS)}`)
        return EXIT_OK
      }
      case 'vouch': {
        // A name or an id prefix as the requests listing shows it: matched against the requests received.
        const requests = await client.joinRequests(group)
        const query = args[1]!.toLowerCase()
        const byName = requests.find((r) => r.candidateName === query)
        const candidate = byName?.candidate ?? (/^[0-9a-f]{6,}$/.test(query) && requests.length > 0
          ? resolveId([...new Set(requests.map((r) => r.candidate))], query, 'a candidate', `komrade group requests ${group!}`)
          : args[1]!)
        const view = await client.vouch(group!, candidate)
        if (json) writeJson(process.stdout, view)
        else {
          const admitted = view.members.some((m) => m.id === candidate)
          const pending = view.candidates.find((c) => c.id === candidate)
          writeLine(process.stdout, admitted
            ? `Vouched: ${personLabel(candidate, byName?.candidateName)} is now a member of @${view.name}`
            : `Vouched for ${personLabel(candidate, byName?.candidateName)} in @${view.name}${pending === undefined ? '' : ` (${pending.vouchers.length} of ${view.quorum} vouches)`}`)
        }
        return EXIT_OK
      }
      case 'propose': {
        let proposal: { amend: ApiConstitution } | { remove: string }
        if (values.remove !== undefined) {
          const view = await client.group(group!)
          const wanted = values.remove.toLowerCase()
          const member = view.members.find((m) => m.name === wanted) ?? view.members.find((m) => m.id === resolveId(view.members.map((x) => x.id), wanted, 'a member', `komrade group show ${group!}`))
          proposal = { remove: member!.id }
        } else proposal = { amend: constitution! }
        const made = await client.propose(group!, proposal, values.reason)
        if (json) writeJson(process.stdout, made)
        else writeLine(process.stdout, `Proposed (id ${made.id.slice(0, SHOWN_ID_CHARS)}); it counts as your yes. Others vote with: komrade group vote ${group!} ${made.id.slice(0, SHOWN_ID_CHARS)} yes|no`)
        return EXIT_OK
      }
      case 'vote': {
        const view = await client.group(group!)
        const id = resolveId(view.proposals.map((p) => p.id), args[1]!, 'a proposal', `komrade group show ${group!}`)
        const proposal = await client.voteOnProposal(group!, id, args[2] as 'yes' | 'no')
        if (json) writeJson(process.stdout, proposal)
        else writeLine(process.stdout, `Voted ${args[2]!}: ${proposal.yes} yes, ${proposal.no} no of ${proposal.electorate}; the proposal is ${proposal.status}`)
        return EXIT_OK
      }
      case 'leave': {
        const info = await client.leaveGroup(group!)
        if (json) writeJson(process.stdout, info)
        else writeLine(process.stdout, `Left @${info.name}: the members get new keys, and you read nothing posted from now on`)
        return EXIT_OK
      }
      case 'list': {
        const groups = await client.groups()
        if (json) { writeJson(process.stdout, groups); return EXIT_OK }
        if (groups.length === 0) { writeLine(process.stdout, 'You are in no group yet: komrade group create NAME, or komrade group join NAME --via CONTACT'); return EXIT_OK }
        const width = Math.max(5, ...groups.map((g) => g.name.length + 1)) + 2
        writeLine(process.stdout, `${'GROUP'.padEnd(width)}${'STATUS'.padEnd(10)}${'MEMBERS'.padEnd(9)}${'QUORUM'.padEnd(8)}${'REQUESTS'.padEnd(10)}PROPOSALS`)
        for (const g of groups) {
          writeLine(process.stdout, `${`@${printable(g.name)}`.padEnd(width)}${g.membership.padEnd(10)}${String(g.memberCount).padEnd(9)}${String(g.quorum).padEnd(8)}${String(g.pendingRequests).padEnd(10)}${g.openProposals}`)
        }
        return EXIT_OK
      }
      case 'show': {
        const view = await client.group(group!)
        if (json) { writeJson(process.stdout, view); return EXIT_OK }
        writeFields(process.stdout, `@${printable(view.name)}`, {
          id: view.id, you: `${view.membership}${view.founder ? ' (founder)' : ''}`, members: view.memberCount,
          rule: constitutionText(view.constitution), 'vouches now': view.quorum,
          epoch: `${view.epoch}${view.rekeyPending === undefined ? '' : ' (new keys on the way)'}`, log: `${view.opCount} entries${view.ignoredOps === 0 ? '' : `, ${view.ignoredOps} without effect`}`
        })
        writeLine(process.stdout, 'Members:')
        for (const m of view.members) writeLine(process.stdout, `  ${personLabel(m.id, m.name, m.me)}  ${m.id}`)
        if (view.candidates.length > 0) {
          writeLine(process.stdout, 'Candidates:')
          for (const c of view.candidates) writeLine(process.stdout, `  ${personLabel(c.id, c.name)}  ${c.vouchers.length} of ${view.quorum} vouches  ${c.id}`)
        }
        writeLine(process.stdout, view.proposals.length === 0 ? 'Proposals: none' : 'Proposals:')
        for (const p of view.proposals) writeLine(process.stdout, `  ${proposalLine(p, view)}`)
        return EXIT_OK
      }
      case 'post': {
        const text = args.slice(1).join(' ')
        if (codePoints(text) > MAX_POST_TEXT_CHARS) throw new CommandError(`The post has ${codePoints(text)} characters; a post holds at most ${MAX_POST_TEXT_CHARS}: shorten it`)
        const image = values.image === undefined ? undefined : await readImageFile(values.image, MAX_POST_IMAGE_BYTES, 'a post')
        if (text.trim() === '' && image === undefined) throw new CommandError('A post needs some text, an image, or both')
        const post = await client.groupPost(group!, {
          ...(text === '' ? {} : { text }),
          ...(image === undefined ? {} : { image }),
          ...(near === undefined ? {} : { location: { ...near, precision: 5 } }),
          ...(days === undefined ? {} : { days: days as number })
        })
        if (json) writeJson(process.stdout, post)
        else writeLine(process.stdout, `Posted to @${post.group.name} (id ${post.id.slice(0, SHOWN_ID_CHARS)})`)
        return EXIT_OK
      }
      case 'feed': {
        const fetched = await client.groupFeed(group!, { limit: limit as number, ...(values.before === undefined ? {} : { before: values.before }) })
        const page = nearFilter === undefined ? fetched : { ...fetched, posts: fetched.posts.filter((post) => passesNear(nearFilter, distanceToGeohash(nearFilter, post.location))) }
        if (json) { writeJson(process.stdout, page); return EXIT_OK }
        if (page.posts.length === 0) {
          writeLine(process.stdout, nearFilter?.withinKm !== undefined && fetched.posts.length > 0
            ? `None of these ${fetched.posts.length} posts is within ${nearFilter.withinKm} km.`
            : values.before === undefined ? `No posts in @${group!} yet.` : 'No older posts.')
        }
        for (const post of [...page.posts].reverse()) writeLine(process.stdout, formatGroupPost(post, nearFilter))
        if (page.next !== undefined) writeLine(process.stdout, `Older posts: komrade group feed ${group!} --before ${page.next}`)
        return EXIT_OK
      }
      default: {
        const choice = command === 'upvote' ? 'up' : 'down'
        const id = await postIdOf(client, group!, args[1]!)
        const tally = await client.votePost(group!, id, choice)
        if (json) writeJson(process.stdout, tally)
        else writeLine(process.stdout, `Voted ${choice}, anonymously: ${tally.up} up, ${tally.down} down${tally.doubleVoters.length === 0 ? '' : ` (${tally.doubleVoters.length} double votes not counted)`}`)
        return EXIT_OK
      }
    }
  } catch (error) {
    return reportFailure(error, { command: name, dataDir })
  }
}
