/**
 * Post places on the command line against a real daemon (`komrade start`)
 * and its network's Operator on 127.0.0.1: `komrade post --near` sends an
 * area; `komrade feed --near --within` (and `komrade group feed`, the
 * same) keeps the near post, drops the far one and the placeless one, and
 * prints the distance, all computed in the command's own process.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import type { ApiFeedPage, ApiPost } from '../../client/api/types.js'
import { TEST_WORK_TRIALS } from '../bootstrap/registry-helpers.js'
import { cleanupProcesses, runKomrade, startDaemon, tempDir } from './cli-process.js'

let operator: Operator
let dir: string

/** Berlin (the reader), Potsdam (about 27 km away), Paris (about 880 km away). */
const BERLIN = '52.52,13.405'
const POTSDAM = '52.39,13.06'
const PARIS = '48.857,2.352'

async function ok (args: string[]): Promise<string> {
  const result = await runKomrade([...args, '--data-dir', dir])
  expect(result.code, result.stderr).toBe(0)
  return result.stdout
}

beforeAll(async () => {
  operator = createOperator({ dataDir: await tempDir('komrade-cli-operator-'), listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1 })
  await operator.start()
  const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))!
  dir = join(await tempDir(), 'ada')
  await startDaemon(dir, ['--operator', operator.identity, '--bootstrap', address])
  await ok(['register', 'ada_place'])
}, 60_000)

afterAll(async () => {
  await cleanupProcesses()
  await operator?.stop()
})

describe('post places on the command line', () => {
  it('refuse bad --near, --precision and --within with exit 2', async () => {
    const usage = await Promise.all([
      ['post', 'x', '--near', '91,0'], ['post', 'x', '--near', 'berlin'], ['post', 'x', '--near', BERLIN, '--precision', '7'],
      ['post', 'x', '--precision', '5'], ['feed', '--within', '5'], ['feed', '--near', BERLIN, '--within', '-1'],
      ['group', 'feed', 'near_test', '--within', '5']
    ].map(async (args) => ({ args, result: await runKomrade([...args, '--data-dir', dir]) })))
    for (const { args, result } of usage) expect(result.code, args.join(' ')).toBe(2)
    const help = await runKomrade(['feed', '--help'])
    expect(help.stdout).toContain('komrade feed world --near 52.52,13.405 --within 10')
    expect((await runKomrade(['post', '--help'])).stdout).toContain('--precision N')
  })

  it('komrade feed --near --within keeps the near post, drops the far one, and prints the distance', async () => {
    const posted = await ok(['post', 'the market in Potsdam is open', '--near', POTSDAM])
    expect(posted).toMatch(/^Posted to the world, near u33\w\w \(an area of about 4\.\d km\)/)
    const far = JSON.parse(await ok(['post', 'bonjour de Paris', '--near', PARIS, '--precision', '4', '--json'])) as ApiPost
    expect(far.location?.geohash).toHaveLength(4)
    await ok(['post', 'no place at all'])

    const near = await ok(['feed', 'world', '--near', BERLIN, '--within', '40'])
    expect(near).toContain('the market in Potsdam is open')
    expect(near).toMatch(/\[near u33\w\w, ≈4\.\d km area, 2\d\.\d km from you\]|\[near u33\w\w, ≈4\.\d km area, 2\d km from you\]/)
    expect(near).not.toContain('bonjour de Paris')
    expect(near).not.toContain('no place at all')

    // --near alone shows every post, with distances where there is a place.
    const all = await ok(['feed', 'world', '--near', BERLIN])
    expect(all).toContain('no place at all')
    expect(all).toMatch(/bonjour de Paris\n\s+\[near u09\w, ≈\d+ km area, 8\d\d km from you\]/)

    const json = JSON.parse(await ok(['feed', 'world', '--near', BERLIN, '--within', '1000', '--json'])) as ApiFeedPage
    expect(json.posts.map((p) => p.text).sort()).toEqual(['bonjour de Paris', 'the market in Potsdam is open'])
    expect(await ok(['feed', 'world', '--near', BERLIN, '--within', '5'])).toMatch(/None of these 3 posts is within 5 km/)
  })

  it('komrade group feed --near --within filters the same way', async () => {
    await ok(['group', 'create', 'near_test'])
    await ok(['group', 'post', 'near_test', 'water is back on in Potsdam', '--near', POTSDAM])
    await ok(['group', 'post', 'near_test', 'strike in Paris', '--near', PARIS])
    const out = await ok(['group', 'feed', 'near_test', '--near', BERLIN, '--within', '40'])
    expect(out).toContain('water is back on in Potsdam')
    expect(out).toMatch(/\[near u33\w\w, 2\d(\.\d)? km from you\]/)
    expect(out).not.toContain('strike in Paris')
  })
})
