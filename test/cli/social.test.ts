/**
 * The social commands end to end against two real daemons (`komrade
 * start`) and their network's Operator on 127.0.0.1: post (text, an image
 * told by its bytes, the refusals of a large or non-image file), feed
 * (both feeds, paging, --json, escaped text, an image line) and feed
 * --follow printing posts live until Ctrl-C (exit 3 when the node stops),
 * profile set/show, and the circle (add, a circle post in the member's
 * home feed, list, remove).
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import type { ApiFeedPage, ApiPost, ApiProfile } from '../../client/api/types.js'
import { TEST_WORK_TRIALS } from '../bootstrap/registry-helpers.js'
import { cleanupProcesses, komrade, runKomrade, startDaemon, tempDir, until, type KomradeRun } from './cli-process.js'

let operator: Operator
let adaDir: string
let graceDir: string
let files: string
let graceDaemon: KomradeRun

/** Waits until `dir`'s `feed` (as JSON) holds a post matching `match`; returns it. */
async function waitForPost (dir: string, feed: 'world' | 'home', match: (post: ApiPost) => boolean, what: string): Promise<ApiPost> {
  let found: ApiPost | undefined
  await until(what, async () => {
    const result = await runKomrade(['feed', feed, '--json', '--limit', '100', '--data-dir', dir])
    if (result.code !== 0) throw new Error(`komrade feed failed: ${result.stderr}`)
    found = (JSON.parse(result.stdout) as ApiFeedPage).posts.find(match)
    return found !== undefined
  }, 60_000)
  return found!
}

/** Ada's own profile, as `komrade profile --json` prints it. */
async function ownProfile (): Promise<ApiProfile> {
  const result = await runKomrade(['profile', '--data-dir', adaDir, '--json'])
  expect(result.code, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as ApiProfile
}

/** Bytes that start like an image of `kind` (the CLI tells the type by them; nobody decodes them here). */
function imageBytes (kind: 'jpeg' | 'png', size: number): Buffer {
  const bytes = randomBytes(size)
  bytes.set(kind === 'jpeg' ? [0xff, 0xd8, 0xff, 0xe0] : [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return bytes
}

beforeAll(async () => {
  operator = createOperator({ dataDir: await tempDir('komrade-cli-operator-'), listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1 })
  await operator.start()
  const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))!
  const network = ['--operator', operator.identity, '--bootstrap', address]
  files = await tempDir('komrade-cli-files-')
  adaDir = join(await tempDir(), 'ada')
  graceDir = join(await tempDir(), 'grace')
  ;[, { run: graceDaemon }] = await Promise.all([startDaemon(adaDir, network), startDaemon(graceDir, network)])
  const [ada, grace] = await Promise.all([runKomrade(['register', 'ada_post', '--data-dir', adaDir]), runKomrade(['register', 'grace_post', '--data-dir', graceDir])])
  expect(ada.code, ada.stderr).toBe(0)
  expect(grace.code, grace.stderr).toBe(0)
}, 120_000)

afterAll(async () => {
  await cleanupProcesses()
  await operator?.stop()
})

describe('social commands', () => {
  it('explain themselves, and refuse bad usage with exit 2', async () => {
    const helps = await Promise.all(['post', 'feed', 'profile', 'circle'].map(async (command) => ({ command, result: await runKomrade([command, '--help']) })))
    for (const { command, result } of helps) {
      expect(result.code, command).toBe(0)
      expect(result.stdout, command).toContain('Usage:')
      expect(result.stdout, command).toMatch(new RegExp(`Examples:\\n  komrade ${command}`))
      expect(result.stdout, command).not.toMatch(/[\x1b\r]/)
    }
    const overview = await runKomrade(['--help'])
    for (const command of ['post', 'feed', 'profile', 'circle']) expect(overview.stdout).toContain(`komrade ${command}`)
    const usage = await Promise.all([
      runKomrade(['post', '--data-dir', adaDir]),
      runKomrade(['post', 'x', '--to', 'friends', '--data-dir', adaDir]),
      runKomrade(['post', 'x', '--days', '8', '--data-dir', adaDir]),
      runKomrade(['feed', 'everything', '--data-dir', adaDir]),
      runKomrade(['feed', '--limit', '0', '--data-dir', adaDir]),
      runKomrade(['feed', '--follow', '--before', 'abc', '--data-dir', adaDir]),
      runKomrade(['profile', 'set', '--data-dir', adaDir]),
      runKomrade(['profile', 'show', '--bio', 'x', '--data-dir', adaDir]),
      runKomrade(['circle', 'add', '--data-dir', adaDir]),
      runKomrade(['circle', 'join', 'x', '--data-dir', adaDir])
    ])
    for (const result of usage) {
      expect(result.code, result.stderr).toBe(2)
      expect(result.stderr).toContain('Usage:')
    }
    // No daemon: exit 3.
    const none = await runKomrade(['feed', '--data-dir', join(files, 'nowhere')])
    expect(none.code).toBe(3)
  })

  it('posts text and an image; the other daemon\'s feed shows them, escaped, with the image as a line', async () => {
    const posted = await runKomrade(['post', 'hello', 'from', 'the', 'CLI', '\x1b]0;owned\x07', '--days', '1', '--data-dir', adaDir, '--json'])
    expect(posted.code, posted.stderr).toBe(0)
    const post = JSON.parse(posted.stdout) as ApiPost
    expect(post).toMatchObject({ authorName: 'ada_post', audience: 'world', mine: true, hasImage: false })
    expect(post.expiresAt - post.sentAt).toBeGreaterThan(23 * 3600_000)

    // The image's type comes from its bytes: a JPEG named .png is posted as a JPEG.
    const picture = join(files, 'picture.png')
    await writeFile(picture, imageBytes('jpeg', 6 * 1024))
    const withImage = await runKomrade(['post', 'a picture', '--image', picture, '--days', '1', '--data-dir', adaDir])
    expect(withImage.code, withImage.stderr).toBe(0)
    expect(withImage.stdout).toMatch(/^Posted to the world; it lives 1 day \(id [0-9a-f]{96}\)\n$/)

    await waitForPost(graceDir, 'world', (p) => p.text === 'a picture', 'the image post at grace')
    const seen = await waitForPost(graceDir, 'world', (p) => p.id === post.id, 'the text post at grace')
    expect(seen).toMatchObject({ authorName: 'ada_post', mine: false })
    const feed = await runKomrade(['feed', 'world', '--data-dir', graceDir])
    expect(feed.code, feed.stderr).toBe(0)
    expect(feed.stdout).toContain('ada_post [world]: hello from the CLI \\u{1b}]0;owned\\u{7}')
    expect(feed.stdout).not.toContain('\x1b')
    expect(feed.stdout).toMatch(/ada_post \[world\]: a picture\n {7}\[image: 6 KiB jpeg\]/)
    // Oldest first on a terminal: the text post came before the picture.
    expect(feed.stdout.indexOf('hello from the CLI')).toBeLessThan(feed.stdout.indexOf('a picture'))
  })

  it('refuses an image over 256 KiB (saying to shrink it), a file that is no image, and a missing file', async () => {
    const big = join(files, 'big.jpg')
    await writeFile(big, imageBytes('jpeg', 256 * 1024 + 1))
    const notImage = join(files, 'notes.jpg')
    await writeFile(notImage, 'just some text, whatever the name says')
    const [tooBig, wrong, missing] = await Promise.all([
      runKomrade(['post', 'too big', '--image', big, '--data-dir', adaDir]),
      runKomrade(['post', '--image', notImage, '--data-dir', adaDir]),
      runKomrade(['post', '--image', join(files, 'nothing.jpg'), '--data-dir', adaDir])
    ])
    expect(tooBig.code).toBe(1)
    expect(tooBig.stderr).toContain('more than the 256 KiB a post may carry; shrink it first')
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('is not a JPEG, PNG, WebP or GIF image (judged by its content, not its name)')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('ENOENT')
    const feed = await runKomrade(['feed', '--json', '--limit', '100', '--data-dir', adaDir])
    expect((JSON.parse(feed.stdout) as ApiFeedPage).posts.some((p) => p.text === 'too big')).toBe(false)
  })

  it('pages a feed with --limit and --before', async () => {
    const first = await runKomrade(['feed', 'world', '--limit', '1', '--data-dir', adaDir])
    expect(first.code, first.stderr).toBe(0)
    const cursor = /Older posts: komrade feed world --before (\S+)\n$/.exec(first.stdout)?.[1]
    expect(cursor, first.stdout).toBeDefined()
    const older = await runKomrade(['feed', 'world', '--limit', '1', '--before', cursor!, '--data-dir', adaDir, '--json'])
    expect(older.code, older.stderr).toBe(0)
    const page = JSON.parse(older.stdout) as ApiFeedPage
    expect(page.posts).toHaveLength(1)
    expect(first.stdout).not.toContain(page.posts[0]!.text)
    const bad = await runKomrade(['feed', 'world', '--before', 'garbage', '--data-dir', adaDir])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('"next" cursor')
  })

  it('feed --follow prints new posts as they arrive, and leaves on Ctrl-C with exit 0', async () => {
    const following = komrade(['feed', 'world', '--follow', '--data-dir', graceDir])
    const asJson = komrade(['feed', 'world', '--follow', '--json', '--limit', '1', '--data-dir', graceDir])
    await until('the feeds following', () => following.stderr.includes('Following the world feed') && asJson.stderr.includes('Following the world feed'))
    const posted = await runKomrade(['post', 'live', 'one', '--days', '1', '--data-dir', adaDir])
    expect(posted.code, posted.stderr).toBe(0)
    await until('the live post printed', () => following.stdout.includes('ada_post [world]: live one'))
    await until('the live post as a JSON line', () => asJson.stdout.includes('"live one"'))
    // One post per line: the newest of the page, then the live one.
    const lines = asJson.stdout.trim().split('\n').map((line) => JSON.parse(line) as ApiPost)
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatchObject({ text: 'live one', authorName: 'ada_post', audience: 'world' })
    asJson.child.kill('SIGTERM')
    expect(await asJson.exited).toBe(0)
    // The page came first (oldest first), then the live post, each once.
    expect(following.stdout.indexOf('a picture')).toBeLessThan(following.stdout.indexOf('live one'))
    expect(following.stdout.split('live one').length).toBe(2)
    following.child.kill('SIGINT')
    expect(await following.exited).toBe(0)
  })

  it('sets a profile with an avatar, and the other daemon shows it by name', async () => {
    const avatar = join(files, 'avatar.bin')
    await writeFile(avatar, imageBytes('png', 1500))
    const set = await runKomrade(['profile', 'set', '--display-name', 'Ada P.', '--bio', 'posts from a terminal', '--avatar', avatar, '--data-dir', adaDir])
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout).toContain('Profile set, shown to the world')
    expect(set.stdout).toMatch(/avatar +1 KiB png/)
    const own = await runKomrade(['profile', '--data-dir', adaDir, '--json'])
    expect(JSON.parse(own.stdout)).toMatchObject({ displayName: 'Ada P.', bio: 'posts from a terminal', hasAvatar: true, authorName: 'ada_post' })
    await until('the profile at grace', async () => (await runKomrade(['profile', 'show', 'ada_post', '--data-dir', graceDir])).code === 0, 60_000)
    const shown = await runKomrade(['profile', 'show', 'ada_post', '--data-dir', graceDir])
    expect(shown.stdout).toMatch(/display name +Ada P\./)
    expect(shown.stdout).toMatch(/name +ada_post/)
    // Grace's feed names ada with her display name beside the verified name.
    expect((await runKomrade(['feed', '--data-dir', graceDir])).stdout).toContain('ada_post (Ada P.) [world]')

    const bigAvatar = join(files, 'big-avatar.png')
    await writeFile(bigAvatar, imageBytes('png', 32 * 1024 + 1))
    const refused = await runKomrade(['profile', 'set', '--display-name', 'Ada', '--avatar', bigAvatar, '--data-dir', adaDir])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('an avatar may carry; shrink it first')
    const nobody = await runKomrade(['profile', 'show', 'nobody_here', '--data-dir', graceDir])
    expect(nobody.code).toBe(1)
    expect(nobody.stderr).toContain('No profile of "nobody_here"')
    const none = await runKomrade(['profile', '--data-dir', graceDir, '--json'])
    expect(none.stdout.trim()).toBe('null')

    // 64 characters but 256 bytes of UTF-8: refused before anything is sent (the API would say profile_too_large).
    const emoji = await runKomrade(['profile', 'set', '--display-name', '😀'.repeat(64), '--data-dir', adaDir])
    expect(emoji.code).toBe(1)
    expect(emoji.stderr).toContain('256 bytes of UTF-8')
    expect(await ownProfile()).toMatchObject({ displayName: 'Ada P.' })
  })

  it('profile set keeps the bio, the avatar and the audience it is not given; --bio "" and --no-avatar clear them', async () => {
    const circle = await runKomrade(['profile', 'set', '--display-name', 'Ada P.', '--to', 'circle', '--data-dir', adaDir])
    expect(circle.code, circle.stderr).toBe(0)
    expect(await ownProfile()).toMatchObject({ displayName: 'Ada P.', bio: 'posts from a terminal', hasAvatar: true, avatar: { size: 1500 }, audience: 'circle' })
    const renamed = await runKomrade(['profile', 'set', '--display-name', 'Ada Lovelace', '--data-dir', adaDir])
    expect(renamed.code, renamed.stderr).toBe(0)
    expect(renamed.stdout).toContain('Profile set, shown to your circle')
    expect(await ownProfile()).toMatchObject({ displayName: 'Ada Lovelace', bio: 'posts from a terminal', hasAvatar: true, avatar: { size: 1500 }, audience: 'circle' })
    const cleared = await runKomrade(['profile', 'set', '--display-name', 'Ada Lovelace', '--bio', '', '--no-avatar', '--to', 'world', '--data-dir', adaDir])
    expect(cleared.code, cleared.stderr).toBe(0)
    const after = await ownProfile()
    expect(after).toMatchObject({ displayName: 'Ada Lovelace', bio: '', hasAvatar: false, audience: 'world' })
    const both = await runKomrade(['profile', 'set', '--display-name', 'Ada', '--avatar', 'x.png', '--no-avatar', '--data-dir', adaDir])
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('--avatar and --no-avatar do not go together')
    const help = await runKomrade(['profile', '--help'])
    expect(help.stdout).toContain('what you leave out is kept')
    expect(help.stdout).toContain('--no-avatar')
  })

  it('manages the circle: a member reads circle posts in the home feed; list and remove', async () => {
    // Grace takes circle keys only from those she added (known senders, SPEC §14.4).
    const known = await runKomrade(['contacts', 'add', 'ada_post', '--data-dir', graceDir])
    expect(known.code, known.stderr).toBe(0)
    const added = await runKomrade(['circle', 'add', 'grace_post', '--data-dir', adaDir])
    expect(added.code, added.stderr).toBe(0)
    expect(added.stdout).toContain('Added grace_post to your circle')
    const list = await runKomrade(['circle', 'list', '--data-dir', adaDir, '--json'])
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((m) => m.name)).toEqual(['grace_post'])
    expect((await runKomrade(['circle', '--data-dir', adaDir])).stdout).toMatch(/^NAME +ADDED +ID\ngrace_post /)

    const posted = await runKomrade(['post', 'only', 'for', 'my', 'circle', '--to', 'circle', '--days', '1', '--data-dir', adaDir, '--json'])
    expect(posted.code, posted.stderr).toBe(0)
    const id = (JSON.parse(posted.stdout) as ApiPost).id
    const seen = await waitForPost(graceDir, 'home', (p) => p.id === id, 'the circle post in grace\'s home feed')
    expect(seen).toMatchObject({ audience: 'circle', text: 'only for my circle' })
    const home = await runKomrade(['feed', 'home', '--data-dir', graceDir])
    expect(home.stdout).toContain('[circle]: only for my circle')
    const world = await runKomrade(['feed', 'world', '--json', '--limit', '100', '--data-dir', graceDir])
    expect((JSON.parse(world.stdout) as ApiFeedPage).posts.some((p) => p.id === id)).toBe(false)

    const removed = await runKomrade(['circle', 'remove', 'grace_post', '--data-dir', adaDir])
    expect(removed.code, removed.stderr).toBe(0)
    expect(removed.stdout).toContain('Removed grace_post from your circle')
    expect((await runKomrade(['circle', 'list', '--data-dir', adaDir])).stdout).toContain('Your circle is empty')
    const again = await runKomrade(['circle', 'remove', 'grace_post', '--data-dir', adaDir])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('is not in your circle')
  })

  it('feed --follow leaves with exit 3 when the node stops', async () => {
    const following = komrade(['feed', 'home', '--follow', '--data-dir', graceDir])
    await until('the feed following', () => following.stderr.includes('Following the home feed'))
    graceDaemon.child.kill('SIGTERM')
    expect(await following.exited).toBe(3)
    expect(following.stderr).toContain('the node stopped; start it again with komrade start')
  })
})
