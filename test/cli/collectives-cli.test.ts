/**
 * `komrade group`, `event` and `pin` end to end against two real daemons
 * (`komrade start`) and their network's Operator on 127.0.0.1: help and
 * usage errors (exit 2); a group founded by one, joined by the other through
 * her as a contact (request, vouch, welcome), a post with a coarse place in
 * the other's feed (text and --json, escaped), a proposal passed by the
 * other's vote (ids typed by their first characters), an anonymous vote
 * refused while the group is too small, leaving; pins and events; strict
 * ISO times.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import type { ApiEventInfo, ApiGroupFeedPage, ApiGroupInfo, ApiGroupView, ApiJoinRequest, ApiPin } from '../../client/api/collectives-types.js'
import { parseTimeOption } from '../../client/commands/places.js'
import { TEST_WORK_TRIALS } from '../bootstrap/registry-helpers.js'
import { cleanupProcesses, runKomrade, startDaemon, tempDir, until } from './cli-process.js'

/** What crosses the network between the daemons (a join request, a welcome, gossip). */
const NETWORK_MS = 90_000

let operator: Operator
let adaDir: string
let graceDir: string

/** `komrade ARGS --data-dir DIR --json`, parsed; fails the test on a non-zero exit. */
async function json<T> (dir: string, args: string[]): Promise<T> {
  const result = await runKomrade([...args, '--data-dir', dir, '--json'])
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0)
  return JSON.parse(result.stdout) as T
}

beforeAll(async () => {
  operator = createOperator({ dataDir: await tempDir('komrade-cli-operator-'), listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1 })
  await operator.start()
  const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))!
  const network = ['--operator', operator.identity, '--bootstrap', address]
  adaDir = join(await tempDir(), 'ada')
  graceDir = join(await tempDir(), 'grace')
  await Promise.all([startDaemon(adaDir, network), startDaemon(graceDir, network)])
  const [ada, grace] = await Promise.all([runKomrade(['register', 'ada_crew', '--data-dir', adaDir]), runKomrade(['register', 'grace_crew', '--data-dir', graceDir])])
  expect(ada.code, ada.stderr).toBe(0)
  expect(grace.code, grace.stderr).toBe(0)
}, 120_000)

afterAll(async () => {
  await cleanupProcesses()
  await operator?.stop()
})

describe('collectives commands', () => {
  it('explain themselves, and refuse bad usage with exit 2 before asking the node', async () => {
    const helps = await Promise.all(['group', 'event', 'pin'].map(async (command) => ({ command, result: await runKomrade([command, '--help']) })))
    for (const { command, result } of helps) {
      expect(result.code, command).toBe(0)
      expect(result.stdout, command).toContain('Usage:')
      expect(result.stdout, command).toMatch(new RegExp(`Examples:\\n  komrade ${command}`))
      expect(result.stdout, command).not.toMatch(/[\x1b\r]/)
    }
    // Every subcommand has an example.
    const [groupHelp, eventHelp] = [helps[0]!.result.stdout, helps[1]!.result.stdout]
    for (const example of ['komrade group leave ', 'komrade group show ', 'komrade group downvote ', 'komrade group propose neighbours --remove ']) expect(groupHelp).toContain(example)
    for (const example of ['komrade event update ', 'komrade event show ', '--to contacts:', '--until ']) expect(eventHelp.split('Examples:')[1]).toContain(example)
    const overview = await runKomrade(['--help'])
    for (const command of ['group', 'event', 'pin']) expect(overview.stdout).toContain(`komrade ${command}`)
    const usage: Array<[string[], string]> = [
      [['group'], 'missing a subcommand'],
      [['group', 'dance', 'crew'], 'unknown subcommand "dance"'],
      [['group', 'create'], 'missing NAME'],
      [['group', 'create', 'crew', '--quorum', '0'], '--quorum expected a whole number from 1 to 255'],
      [['group', 'create', 'crew', '--quorum', '2', '--quorum-percent', '20'], 'does not go with'],
      [['group', 'join', 'crew'], 'missing --via CONTACT'],
      [['group', 'propose', 'crew'], 'propose takes one of'],
      [['group', 'vote', 'crew', 'abcdef', 'perhaps'], 'the vote is yes or no'],
      [['group', 'post', 'crew', 'hi', '--near', 'north'], '--near expected LAT,LON'],
      [['group', 'feed', 'crew', '--via', 'ada'], '--via goes with join'],
      [['event', 'host', 'Assembly'], 'missing --at TIME'],
      [['event', 'host', 'Assembly', '--at', 'tomorrow'], '--at expected an ISO time'],
      [['event', 'host', 'Assembly', '--at', '2026-12-01T18:00', '--until', '2026-12-01T17:00'], '--until is before --at'],
      [['event', 'host', 'Assembly', '--at', '2026-12-01T18:00', '--to', 'contacts:ada', '--anonymous'], '--anonymous does not go with'],
      [['event', 'rsvp', 'abcdef', 'yes'], 'the answer is going, maybe or no'],
      // Words an object literal inherits are no answers either.
      [['event', 'rsvp', 'abcdef', 'constructor'], 'the answer is going, maybe or no'],
      [['event', 'rsvp', 'abcdef', '__proto__'], 'the answer is going, maybe or no'],
      [['event', 'rsvp', 'abcdef', 'toString'], 'the answer is going, maybe or no'],
      // Impossible dates are refused, not rolled into March.
      [['event', 'host', 'Assembly', '--at', '2026-02-31T18:00'], '--at expected an ISO time'],
      [['event', 'host', 'Assembly', '--at', '2026-12-01T25:00'], '--at expected an ISO time'],
      // Malformed group names and ids are usage errors too, before the daemon is asked (it runs: it would say exit 1).
      [['group', 'show', 'No_Spaces!'], 'is not a group name'],
      [['group', 'vote', 'crew', 'zz!', 'yes'], 'PROPOSAL expected a proposal id'],
      [['group', 'upvote', 'crew', 'nothex'], 'POST expected a post id'],
      [['event', 'update', 'abcdef'], 'update needs something to change'],
      [['pin', 'add', 'police', 'checkpoint'], 'missing --at LAT,LON'],
      [['pin', 'add', 'ufo', 'lights', '--at', '1,2'], 'KIND is one of police, danger, help, info, other'],
      [['pin', 'add', 'police', 'x', '--at', '91,0'], '--at expected LAT,LON'],
      [['pin', 'add', 'police', 'x', '--at', '1,2', '--hours', '0.05'], '--hours expected'],
      [['pin', 'list', '--within', '5'], '--within needs --near'],
      [['pin', 'list', '--at', '1,2'], '--at goes with add']
    ]
    const results = await Promise.all(usage.map(async ([args]) => await runKomrade([...args, '--data-dir', adaDir])))
    results.forEach((result, i) => {
      const [args, message] = usage[i]!
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2)
      expect(result.stderr, args.join(' ')).toContain(message)
      expect(result.stderr, args.join(' ')).toContain('Usage:')
    })
  })

  it('found a group, join it through a contact, post with a place, decide by vote, and leave', async () => {
    const created = await runKomrade(['group', 'create', 'crew_cli', '--quorum', '2', '--data-dir', adaDir])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toMatch(/^Founded @crew_cli \(id [0-9a-f]{64}\); newcomers need 2 vouches\./)

    // Grace asks through Ada; Ada sees the request and vouches by the id's first characters.
    expect((await runKomrade(['contacts', 'add', 'ada_crew', '--data-dir', graceDir])).code).toBe(0)
    const joined = await runKomrade(['group', 'join', '@crew_cli', '--via', 'ada_crew', '--note', 'hello \x1b[31mcrew', '--data-dir', graceDir])
    expect(joined.code, joined.stderr).toBe(0)
    expect(joined.stdout).toContain('Asked to join @crew_cli through ada_crew')
    let request: ApiJoinRequest | undefined
    await until('the join request at ada', async () => {
      request = (await json<ApiJoinRequest[]>(adaDir, ['group', 'requests']))[0]
      return request !== undefined
    }, NETWORK_MS)
    const listed = await runKomrade(['group', 'requests', '--data-dir', adaDir])
    expect(listed.stdout).toContain(`@crew_cli`)
    expect(listed.stdout).toContain('hello \\u{1b}[31mcrew') // the note, escaped
    expect(listed.stdout).not.toContain('\x1b')
    const vouched = await runKomrade(['group', 'vouch', 'crew_cli', request!.candidate.slice(0, 10), '--data-dir', adaDir])
    expect(vouched.code, vouched.stderr).toBe(0)
    expect(vouched.stdout).toContain('is now a member of @crew_cli')
    await until('grace welcomed', async () => (await json<ApiGroupInfo[]>(graceDir, ['group', 'list'])).some((g) => g.name === 'crew_cli' && g.membership === 'member'), NETWORK_MS)
    const list = await runKomrade(['group', 'list', '--data-dir', graceDir])
    expect(list.stdout).toMatch(/GROUP\s+STATUS\s+MEMBERS\s+QUORUM\s+REQUESTS\s+PROPOSALS\n@crew_cli\s+member\s+2\s+2\s+0\s+0\n/)

    // A post with a coarse place: in Grace's feed as text (place, tally, short id) and as JSON.
    const posted = await runKomrade(['group', 'post', 'crew_cli', 'meet', 'at', 'the', 'mill', '--near', '57.64911,10.40744', '--data-dir', adaDir])
    expect(posted.code, posted.stderr).toBe(0)
    let page: ApiGroupFeedPage | undefined
    await until('the post at grace', async () => {
      page = await json<ApiGroupFeedPage>(graceDir, ['group', 'feed', 'crew_cli'])
      return page.posts.length > 0
    }, NETWORK_MS)
    expect(page!.posts[0]).toMatchObject({ text: 'meet at the mill', location: 'u4pru', authorName: 'ada_crew', mine: false, votes: { up: 0, down: 0 } })
    const feed = await runKomrade(['group', 'feed', 'crew_cli', '--data-dir', graceDir])
    expect(feed.stdout).toContain(`ada_crew: meet at the mill\n       [near u4pru] [▲0 ▼0] #${page!.posts[0]!.id.slice(0, 12)}`)

    // A proposal by Ada, passed by Grace's vote given by the proposal id's first characters.
    const proposed = await runKomrade(['group', 'propose', 'crew_cli', '--quorum', '1', '--reason', 'easier', '--data-dir', adaDir])
    expect(proposed.code, proposed.stderr).toBe(0)
    const proposalPrefix = /id ([0-9a-f]{12})/.exec(proposed.stdout)![1]!
    await until('the proposal at grace', async () => (await json<ApiGroupView>(graceDir, ['group', 'show', 'crew_cli'])).proposals.length === 1, NETWORK_MS)
    const voted = await runKomrade(['group', 'vote', 'crew_cli', proposalPrefix.slice(0, 8), 'yes', '--data-dir', graceDir])
    expect(voted.code, voted.stderr).toBe(0)
    expect(voted.stdout).toBe('Voted yes: 2 yes, 0 no of 2; the proposal is passed\n')
    const shown = await runKomrade(['group', 'show', 'crew_cli', '--data-dir', graceDir])
    expect(shown.stdout).toMatch(/rule\s+1 vouch/)
    expect(shown.stdout).toContain(`${proposalPrefix}  passed   2 yes / 0 no of 2, you voted yes: new rule: 1 vouch (easier)`)
    expect(shown.stdout).toMatch(/Members:\n {2}(you|ada_crew|\[[0-9a-f]{8}\]) {2}[0-9a-f]{64}\n/)

    // Anonymous votes need 16 admitted members: the node's refusal, as a sentence, exit 1.
    const upvote = await runKomrade(['group', 'upvote', 'crew_cli', page!.posts[0]!.id.slice(0, 12), '--data-dir', graceDir])
    expect(upvote.code).toBe(1)
    expect(upvote.stderr).toMatch(/^komrade group upvote: .*16/)
    const unknown = await runKomrade(['group', 'show', 'nowhere_crew', '--data-dir', graceDir])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('No group "nowhere_crew"')

    const left = await runKomrade(['group', 'leave', 'crew_cli', '--data-dir', graceDir])
    expect(left.code, left.stderr).toBe(0)
    expect(left.stdout).toContain('Left @crew_cli')
    const after = await runKomrade(['group', 'post', 'crew_cli', 'still here?', '--data-dir', graceDir])
    expect(after.code).toBe(1)
    expect(after.stderr).toContain('not a member of "crew_cli"')
  })

  it('places a pin and lists it nearest first, filtered by distance', async () => {
    const added = await runKomrade(['pin', 'add', 'danger', 'broken', 'glass', '--at', '52.5163,13.3777', '--hours', '1', '--anonymous', '--data-dir', adaDir])
    expect(added.code, added.stderr).toBe(0)
    expect(added.stdout).toMatch(/^Placed a danger pin at [0-9b-hjkmnp-z]{7} \(52\.51\d\d, 13\.37\d\d\) for the world, anonymously; it expires in (5\d|6[01]) minutes\n$/)
    await runKomrade(['pin', 'add', 'info', 'far away', '--at', '-33.86,151.21', '--hours', '1', '--data-dir', adaDir])
    // A bare list, like event list --json and group list --json.
    const near = await json<ApiPin[]>(adaDir, ['pin', 'list', '--near', '52.52,13.405', '--within', '10'])
    expect(near.map((p) => p.note)).toEqual(['broken glass'])
    await until('the pin at grace', async () => (await json<ApiPin[]>(graceDir, ['pin', 'list'])).some((p) => p.note === 'broken glass'), NETWORK_MS)
    const text = await runKomrade(['pin', 'list', '--near', '52.52,13.405', '--data-dir', graceDir])
    expect(text.stdout.split('\n')[0]).toMatch(/^DANGER {2}\d\.\d km {2}broken glass {2}\[/)
  })

  it('hosts an event; the other answers; the host reads the answer', async () => {
    const hosted = await json<ApiEventInfo>(adaDir, ['event', 'host', 'Mill', 'cleanup', '--at', '2030-05-01T10:00Z', '--place', 'The old mill'])
    expect(hosted).toMatchObject({ title: 'Mill cleanup', startsAt: Date.UTC(2030, 4, 1, 10), place: 'The old mill', mine: true })
    await until('the event at grace', async () => (await json<ApiEventInfo[]>(graceDir, ['event', 'list'])).some((e) => e.id === hosted.id), NETWORK_MS)
    const answered = await runKomrade(['event', 'rsvp', hosted.id.slice(0, 8), 'going', '--note', 'with gloves', '--data-dir', graceDir])
    expect(answered.code, answered.stderr).toBe(0)
    await until('the answer at ada', async () => ((await json<ApiEventInfo>(adaDir, ['event', 'show', hosted.id])).rsvps ?? []).length === 1, NETWORK_MS)
    const shown = await runKomrade(['event', 'show', hosted.id.slice(0, 8), '--data-dir', adaDir])
    expect(shown.stdout).toMatch(/Answers:\n {2}.+: going \(with gloves\)/)
  })

  it('reads ISO times strictly: a date alone is local midnight, impossible dates are refused', () => {
    const zone = process.env.TZ
    process.env.TZ = 'America/New_York'
    try {
      expect(parseTimeOption('2026-12-01')).toBe(Date.UTC(2026, 11, 1, 5))
      expect(parseTimeOption('2026-12-01T18:00')).toBe(Date.UTC(2026, 11, 1, 23))
      expect(parseTimeOption('2026-12-01T17:00Z')).toBe(Date.UTC(2026, 11, 1, 17))
      expect(parseTimeOption('2026-12-01T17:00+01:00')).toBe(Date.UTC(2026, 11, 1, 16))
      expect(parseTimeOption('2024-02-29')).toBe(Date.UTC(2024, 1, 29, 5))
      for (const bad of ['2026-02-31', '2025-02-29', '2026-04-31', '2026-13-01', '2026-12-01T24:00', '2026-12-01T18:60', '2026-12-01T18:00+25:00', 'tomorrow']) {
        expect(parseTimeOption(bad), bad).toBeUndefined()
      }
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })
})
