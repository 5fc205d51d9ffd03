/**
 * `komrade post` and `komrade feed`. A post's image is read from a file
 * whose type is told by its first bytes, never by its name, and one over
 * 256 KiB is refused before anything is sent (the web UI shrinks pictures;
 * the CLI leaves that to the person). The feed is printed through
 * printable(): posts come from strangers, and none may drive the terminal.
 *
 * A post may carry a coarse place (`--near`: the node cuts the point to a
 * geohash cell before sealing). `komrade feed --near … --within …` filters
 * here, in this process: the reader's position is never sent, not even to
 * the node, which hands over the feed as it is.
 */
import { open } from 'node:fs/promises'
import { decodeGeohash, distanceKm } from '../../protocol/geohash.js'
import type { KomradeClient } from '../api/client.js'
import { DEFAULT_POST_PRECISION, MAX_POST_GEOHASH, MAX_WITHIN_KM } from '../api/collectives-content.js'
import { connectToDaemon } from '../api/discover.js'
import {
  codePoints, imageSizeLabel, imageTypeOf, imageTypeWord, MAX_POST_DAYS, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_CHARS, MIN_POST_DAYS, type ImageType
} from '../api/post-content.js'
import type { ApiEvent, ApiFeedName, ApiPost, ApiProfile } from '../api/types.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { EXIT_NO_NODE, EXIT_OK } from './exit-codes.js'
import { CommandError, reportFailure } from './failures.js'
import { parseLatLonOption } from './places.js'
import { formatTime, MESSAGE_INDENT, printable, writeJson, writeLine } from './terminal.js'

export const POST_HELP = `komrade post: post to the world or to your trusted circle

Usage:
  komrade post TEXT… [--image FILE] [--to world|circle] [--days N] [--near LAT,LON [--precision N]]
                     [--data-dir DIR] [--json]
  komrade post --image FILE [TEXT…]

A post holds up to ${MAX_POST_TEXT_CHARS} characters and/or one image of at most 256 KiB (JPEG, PNG,
WebP or GIF, told by the file's content). The CLI does not shrink pictures: make a large one smaller
first, or post it from the web UI, which does. A post to the world is public speech that every node
can read, and needs a registered name (komrade register NAME); a post to your circle is read only
by those you added (komrade circle add NAME). It disappears from every node after N days.
With --near, the post carries a coarse area around the point (a geohash of --precision characters,
sealed inside the post: only its readers learn it); the exact point never leaves your node.

Options:
${DATA_DIR_HELP}
  --image FILE     attach an image (at most 256 KiB)
  --to AUDIENCE    world (default) or circle
  --days N         how long the post lives, ${MIN_POST_DAYS} to ${MAX_POST_DAYS} days (default 2)
  --near LAT,LON   attach a coarse area around this point (decimal degrees)
  --precision N    with --near: the area's size as geohash characters, 1 to ${MAX_POST_GEOHASH}:
                   4 about 20 km, 5 about 5 km (default), 6 about 1 km
  --json           print the post as JSON: { id, author, audience, text, hasImage, sentAt, expiresAt, location?, … }

Examples:
  komrade post "hello, world"
  komrade post "for my friends only" --to circle --days 1
  komrade post "the view today" --image view.jpg
  komrade post "the market is open" --near 52.52,13.405
  komrade post "snow in the city" --near 52.52,13.405 --precision 4`

export const FEED_HELP = `komrade feed: read the world feed or your home feed

Usage:
  komrade feed [world|home] [--limit N] [--before CURSOR] [--follow] [--near LAT,LON [--within KM]]
               [--data-dir DIR] [--json]

world: every post to the world (yours included). home: posts of those whose circle you are in,
and your own posts. Shows the newest N posts (default 20, at most 100), oldest of them first; when
there are older ones, the last line gives the command that shows them. An image shows as
[image: 123 KiB jpeg] (the web UI displays it). With --follow, new posts are printed as they
arrive, until Ctrl-C. With --near, each post that carries an area shows how far its centre is
from your point; with --within too, only those posts within KM are shown (posts without an area
are left out). The filter runs here, in this command: your point is sent to no one, not even your
node. It filters the N posts of the page, so a page may show fewer.

Options:
${DATA_DIR_HELP}
  --limit N        how many posts (1 to 100, default 20)
  --before CURSOR  the page older than the one that printed CURSOR
  --follow         keep printing new posts as they arrive, until Ctrl-C
  --near LAT,LON   your point (decimal degrees): show each post's distance from it
  --within KM      with --near: only posts whose area's centre is at most KM away
  --json           print the page as JSON { posts: [...], next? } (newest first); with --follow,
                   one JSON post per line, as they come. --within filters the JSON too.

Examples:
  komrade feed
  komrade feed home --limit 50
  komrade feed world --follow
  komrade feed world --near 52.52,13.405 --within 10
  komrade feed home --limit 100 --near 48.857,2.352 --within 25 --follow
  komrade feed --json | jq -r '.posts[].text'`

/** Posts per page unless --limit says (the API's default). */
const DEFAULT_LIMIT = 20
const MAX_LIMIT = 100

/**
 * Reads an image file of at most `maxBytes`, its type from its first
 * bytes. A larger file is refused by its size before it is read whole.
 */
export async function readImageFile (path: string, maxBytes: number, what: string): Promise<{ mime: ImageType, bytes: Uint8Array }> {
  let file
  try {
    file = await open(path, 'r')
  } catch (error) {
    throw new CommandError(`Cannot read the image ${printable(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  try {
    const stats = await file.stat()
    if (!stats.isFile()) throw new CommandError(`${printable(path)} is not a file; give the path of an image file`)
    const { size } = stats
    if (size > maxBytes) {
      throw new CommandError(`The image ${printable(path)} has ${imageSizeLabel(size)} (${size} bytes), more than the ${imageSizeLabel(maxBytes)} ${what} may carry; ` +
        'shrink it first (fewer pixels, a lower JPEG quality), or post it from the web UI, which shrinks pictures itself')
    }
    const bytes = new Uint8Array(size)
    const { bytesRead } = await file.read(bytes, 0, size, 0)
    const mime = imageTypeOf(bytes.subarray(0, bytesRead))
    if (mime === undefined) throw new CommandError(`${printable(path)} is not a JPEG, PNG, WebP or GIF image (judged by its content, not its name)`)
    return { mime, bytes: bytes.subarray(0, bytesRead) }
  } finally {
    await file.close()
  }
}

/** A reader's point and radius from `--near LAT,LON [--within KM]`: kept in this process, sent to no one. */
export interface NearFilter {
  readonly point: { lat: number, lon: number }
  /** Absent: distances are shown, nothing is left out. */
  readonly withinKm?: number
}

/**
 * The `--near`/`--within` options as a filter, undefined when neither is
 * given, or a usage message.
 */
export function nearFilterOption (near: string | undefined, within: string | undefined): NearFilter | undefined | string {
  if (near === undefined && within === undefined) return undefined
  if (near === undefined) return '--within needs --near LAT,LON: the point to measure from'
  const point = parseLatLonOption(near)
  if (point === undefined) return `--near expected LAT,LON in decimal degrees, such as 52.52,13.405, got "${near}"`
  if (within === undefined) return { point }
  const km = Number(within)
  if (within.trim() === '' || !(km > 0 && km <= MAX_WITHIN_KM)) return `--within expected a distance in km above 0 and at most ${MAX_WITHIN_KM}, got "${within}"`
  return { point, withinKm: km }
}

/** Km from the filter's point to the centre of a geohash cell; undefined for no geohash. */
export function distanceToGeohash (filter: NearFilter, geohash: string | undefined): number | undefined {
  if (geohash === undefined) return undefined
  try {
    return distanceKm(filter.point, decodeGeohash(geohash))
  } catch {
    return undefined // not a geohash: the node checks them, so only a bug lands here; such a post counts as placeless
  }
}

/** Whether a post with this distance (undefined: no place) passes the filter: with a radius, only placed posts within it. */
export function passesNear (filter: NearFilter | undefined, distance: number | undefined): boolean {
  if (filter?.withinKm === undefined) return true
  return distance !== undefined && distance <= filter.withinKm
}

/** "3.2 km", "850 m", "120 km": a distance as the terminal shows it. */
export function distanceLabel (km: number): string {
  if (km < 1) return `${Math.max(10, Math.round(km * 100) * 10)} m`
  if (km < 10) return `${km.toFixed(1)} km`
  return `${Math.round(km)} km`
}

/** "[near u33dc, ≈5 km area, 3.2 km from you]": a post's place on the terminal. */
export function placeLabel (geohash: string, errKm: number | undefined, distance: number | undefined): string {
  const size = errKm === undefined ? '' : `, ≈${distanceLabel(2 * errKm)} area`
  return `[near ${printable(geohash)}${size}${distance === undefined ? '' : `, ${distanceLabel(distance)} from you`}]`
}

/** An audience option: world (default) or circle. */
function audienceOf (value: string | undefined): 'world' | 'circle' | undefined {
  if (value === undefined || value === 'world' || value === 'circle') return value ?? 'world'
  return undefined
}

/** How an author is called: "you", their verified name, or the start of their id; with their display name when they set one. */
export function authorLabel (post: Pick<ApiPost, 'author' | 'authorName' | 'mine'>, profiles: ReadonlyMap<string, ApiProfile>): string {
  if (post.mine) return 'you'
  const who = post.authorName === undefined ? `[${post.author.slice(0, 8)}]` : printable(post.authorName)
  // A display name may be empty or blank (the protocol allows it): then there is none to show.
  const display = profiles.get(post.author)?.displayName.trim()
  return display === undefined || display === '' || display === post.authorName ? who : `${who} (${printable(display)})`
}

/** A post as the terminal shows it: time, author, audience, then its text, image and place, lines indented; `near` adds the distance. */
export function formatPost (post: ApiPost, profiles: ReadonlyMap<string, ApiProfile>, near?: NearFilter): string {
  const head = `${formatTime(post.sentAt)}  ${authorLabel(post, profiles)} [${post.audience}]:`
  const picture = post.image === undefined ? (post.hasImage ? '[image]' : '') : `[image: ${imageSizeLabel(post.image.size)} ${printable(imageTypeWord(post.image.mime))}]`
  const place = post.location === undefined
    ? ''
    : placeLabel(post.location.geohash, post.location.errKm, near === undefined ? undefined : distanceKm(near.point, post.location))
  const image = [picture, place].filter((part) => part !== '').join(' ')
  const text = post.text === '' ? '' : printable(post.text, { indent: MESSAGE_INDENT })
  if (text === '') return `${head} ${image}`
  return image === '' ? `${head} ${text}` : `${head} ${text}\n${MESSAGE_INDENT}${image}`
}

/** `komrade post TEXT…`. */
export async function postCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade post',
    help: POST_HELP,
    options: {
      ...COMMON_OPTIONS, ...JSON_OPTION, image: { type: 'string' }, to: { type: 'string' }, days: { type: 'string' },
      near: { type: 'string' }, precision: { type: 'string' }
    },
    positionals: { min: 0, max: Infinity, names: 'TEXT' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals } = parsed
  const audience = audienceOf(values.to)
  if (audience === undefined) return usageError(spec.name, spec.help, `--to expected world or circle, got "${values.to!}"`)
  const days = values.days === undefined ? undefined : Number(values.days)
  if (days !== undefined && (!Number.isSafeInteger(days) || days < MIN_POST_DAYS || days > MAX_POST_DAYS)) {
    return usageError(spec.name, spec.help, `--days expected a whole number from ${MIN_POST_DAYS} to ${MAX_POST_DAYS}, got "${values.days!}"`)
  }
  const near = values.near === undefined ? undefined : parseLatLonOption(values.near)
  if (values.near !== undefined && near === undefined) return usageError(spec.name, spec.help, `--near expected LAT,LON in decimal degrees, such as 52.52,13.405, got "${values.near}"`)
  const precision = values.precision === undefined ? DEFAULT_POST_PRECISION : Number(values.precision)
  if (values.precision !== undefined && near === undefined) return usageError(spec.name, spec.help, '--precision goes with --near LAT,LON')
  if (!Number.isSafeInteger(precision) || precision < 1 || precision > MAX_POST_GEOHASH) {
    return usageError(spec.name, spec.help, `--precision expected a whole number of geohash characters from 1 to ${MAX_POST_GEOHASH}, got "${values.precision!}"`)
  }
  const text = positionals.join(' ')
  if (text.trim() === '' && values.image === undefined) return usageError(spec.name, spec.help, 'missing TEXT (or --image FILE)')
  const dataDir = dataDirOf(values)
  try {
    if (codePoints(text) > MAX_POST_TEXT_CHARS) {
      throw new CommandError(`The post has ${codePoints(text)} characters; a post holds at most ${MAX_POST_TEXT_CHARS}: shorten it`)
    }
    const image = values.image === undefined ? undefined : await readImageFile(values.image, MAX_POST_IMAGE_BYTES, 'a post')
    const client = await connectToDaemon(dataDir)
    const post = await client.post({
      ...(text === '' ? {} : { text }),
      ...(image === undefined ? {} : { image }),
      audience,
      ...(days === undefined ? {} : { days }),
      ...(near === undefined ? {} : { location: { ...near, precision } })
    })
    if (values.json === true) writeJson(process.stdout, post)
    else {
      const reach = audience === 'world' ? 'the world' : 'your circle'
      const lifetime = Math.max(1, Math.round((post.expiresAt - post.sentAt) / 86_400_000))
      const place = post.location === undefined ? '' : `, near ${printable(post.location.geohash)} (an area of about ${distanceLabel(2 * post.location.errKm)})`
      writeLine(process.stdout, `Posted to ${reach}${place}; it lives ${lifetime} day${lifetime === 1 ? '' : 's'} (id ${post.id})`)
    }
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade post', dataDir })
  }
}

/** True when a live post belongs to `feed` (SPEC §14 decision 9). */
export function inFeed (post: ApiPost, feed: ApiFeedName): boolean {
  return feed === 'world' ? post.audience === 'world' : post.audience === 'circle' || post.mine
}

/**
 * The profiles of the authors of `posts` (not ours: we are "you"), by
 * author, for display names; none when they cannot be had. Only these
 * authors' are asked for, never every profile the node holds.
 */
async function profilesOfAuthors (client: KomradeClient, posts: readonly ApiPost[]): Promise<Map<string, ApiProfile>> {
  const authors = [...new Set(posts.filter((post) => !post.mine).map((post) => post.author))]
  const profiles = authors.length === 0 ? [] : await client.profiles({ authors }).catch(() => [])
  return new Map(profiles.map((profile) => [profile.author, profile]))
}

/** `komrade feed [world|home]`. */
export async function feedCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade feed',
    help: FEED_HELP,
    options: {
      ...COMMON_OPTIONS, ...JSON_OPTION, limit: { type: 'string' }, before: { type: 'string' }, follow: { type: 'boolean' },
      near: { type: 'string' }, within: { type: 'string' }
    },
    positionals: { min: 0, max: 1, names: 'FEED' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [feedArg] } = parsed
  const feed = feedArg ?? 'world'
  if (feed !== 'world' && feed !== 'home') return usageError(spec.name, spec.help, `the feed is world or home, not "${feed}"`)
  const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) return usageError(spec.name, spec.help, `--limit expected a whole number from 1 to ${MAX_LIMIT}, got "${values.limit!}"`)
  if (values.follow === true && values.before !== undefined) return usageError(spec.name, spec.help, '--follow shows the newest posts; it does not go with --before')
  const near = nearFilterOption(values.near, values.within)
  if (typeof near === 'string') return usageError(spec.name, spec.help, near)
  const dataDir = dataDirOf(values)
  try {
    const client = await connectToDaemon(dataDir)
    if (values.follow === true) return await follow(client, feed, limit, values.json === true, near)
    const fetched = await client.feed(feed, { limit, ...(values.before === undefined ? {} : { before: values.before }) })
    const page = { ...fetched, posts: fetched.posts.filter((post) => keptNear(post, near)) }
    if (values.json === true) { writeJson(process.stdout, page); return EXIT_OK }
    const profiles = await profilesOfAuthors(client, page.posts)
    if (page.posts.length === 0) {
      writeLine(process.stdout, near?.withinKm !== undefined && fetched.posts.length > 0
        ? `None of these ${fetched.posts.length} posts is within ${near.withinKm} km.`
        : values.before === undefined ? `No posts in the ${feed} feed yet.` : 'No older posts.')
    }
    for (const post of [...page.posts].reverse()) writeLine(process.stdout, formatPost(post, profiles, near))
    const nearArgs = near === undefined ? '' : ` --near ${near.point.lat},${near.point.lon}${near.withinKm === undefined ? '' : ` --within ${near.withinKm}`}`
    if (page.next !== undefined) writeLine(process.stdout, `Older posts: komrade feed ${feed} --before ${page.next}${nearArgs}`)
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade feed', dataDir })
  }
}

/** Whether a post passes `--near`/`--within` (always, without a radius). */
function keptNear (post: ApiPost, near: NearFilter | undefined): boolean {
  return passesNear(near, near === undefined || post.location === undefined ? undefined : distanceKm(near.point, post.location))
}

/** The newest page, then new posts as they arrive, until Ctrl-C (exit 0) or the node stops (exit 3). */
async function follow (client: KomradeClient, feed: ApiFeedName, limit: number, json: boolean, near: NearFilter | undefined): Promise<number> {
  const stop = new AbortController()
  const shown = new Set<string>()
  const profiles = new Map<string, ApiProfile>()
  /** Authors whose profile was asked for (found or not): asked once each. */
  const asked = new Set<string>()
  const print = (post: ApiPost): void => {
    if (shown.has(post.id) || !keptNear(post, near)) return
    shown.add(post.id)
    if (json) writeJson(process.stdout, post)
    else writeLine(process.stdout, formatPost(post, profiles, near))
  }
  /** Fetches the profiles of the posts' authors not asked for yet (text output only: JSON has no names to add). */
  const learnAuthors = async (posts: readonly ApiPost[]): Promise<void> => {
    if (json) return
    const fresh = posts.filter((post) => !post.mine && !asked.has(post.author))
    for (const post of fresh) asked.add(post.author)
    for (const [author, profile] of await profilesOfAuthors(client, fresh)) if (!profiles.has(author)) profiles.set(author, profile)
  }
  // Live events are handled one after another, in order: a post waits for its author's profile.
  let handling: Promise<void> = Promise.resolve()
  const handle = (event: ApiEvent): void => {
    handling = handling.then(async () => {
      if (event.type === 'post' && inFeed(event.post, feed)) {
        await learnAuthors([event.post])
        print(event.post)
      } else if (event.type === 'profile') {
        asked.add(event.profile.author)
        profiles.set(event.profile.author, event.profile)
      }
    })
  }
  // Events first, so nothing that arrives while the page loads is lost (duplicates are skipped by id).
  const iterator = client.events({ signal: stop.signal })[Symbol.asyncIterator]()
  const early: ApiEvent[] = []
  let nodeStopped = false
  let pageShown = false
  await iterator.next() // 'hello': the socket is open before the page is read
  const listening = (async () => {
    try {
      for (;;) {
        const next = await iterator.next()
        if (next.done === true) break
        if (pageShown) handle(next.value)
        else early.push(next.value)
      }
    } catch {}
    if (!stop.signal.aborted) nodeStopped = true
  })()
  try {
    const page = await client.feed(feed, { limit })
    await learnAuthors(page.posts)
    for (const post of [...page.posts].reverse()) print(post)
    for (const event of early.splice(0)) handle(event)
    pageShown = true
    // On stderr, so stdout stays the posts (and a script can wait for this line to know the feed listens).
    process.stderr.write(`Following the ${feed} feed; new posts appear as they arrive. Ctrl-C stops.\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => { resolve() })
      process.once('SIGTERM', () => { resolve() })
      void listening.then(() => { resolve() })
    })
  } finally {
    stop.abort()
    await iterator.return?.()
    await listening
    await handling
  }
  if (nodeStopped) {
    process.stderr.write('komrade feed: the node stopped; start it again with komrade start\n')
    return EXIT_NO_NODE
  }
  return EXIT_OK
}
