/**
 * Post places (SPEC §14.6) in the social layer: a world post with a
 * location reaches another real node (127.0.0.1, a real Operator) carrying
 * only the geohash cell, shown as the cell's centre; a circle post keeps
 * its place in our own feed across a restart; bad places are refused
 * before anything is sealed or queued; a post stored before places
 * existed still loads.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeGeohash, encodeGeohash } from '../../protocol/index.js'
import { jsonSublevel, openLocalDb } from '../../node/local-state.js'
import { openFeedStore, postLocationOf } from '../../node/social/feed-store.js'
import { checkPostInput, DEFAULT_POST_LOCATION_PRECISION } from '../../node/social/post-input.js'
import type { Post, PostInput } from '../../node/social/types.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'
import { cleanupOperators, startOperator } from './registry-operators.js'

const TTL_MINUTES = 10
/** Berlin, Alexanderplatz: the author's exact point, which must not travel. */
const POINT = { lat: 52.521918, lon: 13.413215 }

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
})

describe('checking a post place', () => {
  it('cuts a point to a geohash of the precision (5 by default)', () => {
    expect(DEFAULT_POST_LOCATION_PRECISION).toBe(5)
    expect(checkPostInput({ text: 'x', location: POINT }).location).toBe(encodeGeohash(POINT.lat, POINT.lon, 5))
    expect(checkPostInput({ text: 'x', location: { ...POINT, precision: 6 } }).location).toBe('u33dc1')
    expect(checkPostInput({ text: 'x', location: { ...POINT, precision: 1 } }).location).toBe('u')
    expect(checkPostInput({ text: 'x' }).location).toBeUndefined()
  })

  it.each([
    [{ lat: 91, lon: 0 }, 'RangeError', 'location.lat'],
    [{ lat: Number.NaN, lon: 0 }, 'RangeError', 'location.lat'],
    [{ lat: 0, lon: -180.5 }, 'RangeError', 'location.lon'],
    [{ lat: 0, lon: 0, precision: 7 }, 'RangeError', 'location.precision'],
    [{ lat: 0, lon: 0, precision: 0 }, 'RangeError', 'location.precision'],
    [{ lat: 0, lon: 0, precision: 2.5 }, 'RangeError', 'location.precision'],
    [{ lat: '52', lon: 0 }, 'TypeError', 'location.lat'],
    ['u33dc', 'TypeError', 'location']
  ])('refuses %j with a %s naming %s', (location, name, field) => {
    const attempt = (): unknown => checkPostInput({ text: 'x', location } as unknown as PostInput)
    expect(attempt).toThrowError(expect.objectContaining({ name, message: expect.stringContaining(`"${field}"`) as unknown }) as unknown as Error)
  })

  it('shows a geohash as its cell centre and size; ignores what is not one', () => {
    const place = postLocationOf('u33dc')!
    const cell = decodeGeohash('u33dc')
    expect(place).toMatchObject({ geohash: 'u33dc', lat: cell.lat, lon: cell.lon })
    // A 5-character cell is about 4.9 km by 4.9 km at the equator, narrower east-west at 52° N: half of it is about 2.4 km.
    expect(place.errKm).toBeGreaterThan(2.3)
    expect(place.errKm).toBeLessThan(2.5)
    expect(postLocationOf(undefined)).toBeUndefined()
    expect(postLocationOf('u33dc1x')).toBeUndefined() // longer than a post may carry
    expect(postLocationOf('AB')).toBeUndefined()
  })
})

describe('posts with a place between nodes', () => {
  it('a world post arrives with the cell centre, never the point; bad places publish nothing', async () => {
    const op = await startOperator()
    const { node: alice } = await startNode({ operator: op.config, bootstrap: [op.address] })
    const { node: bob } = await startNode({ operator: op.config })
    await connect(bob, alice)
    await alice.register('alice')
    await waitFor('mesh', () => bob.status().meshPeers > 0 && alice.status().meshPeers > 0)

    // Refused at the boundary: nothing sealed, queued or stored.
    await expect(alice.social.post({ text: 'too far north', location: { lat: 95, lon: 0 }, ttlMinutes: TTL_MINUTES })).rejects.toMatchObject({ name: 'RangeError' })
    await expect(alice.social.post({ text: 'too fine', location: { ...POINT, precision: 9 }, ttlMinutes: TTL_MINUTES })).rejects.toMatchObject({ name: 'RangeError' })
    expect(alice.status().workPending).toBe(0)
    expect((await alice.social.feed('world')).posts).toEqual([])

    const arrived: Post[] = []
    bob.addEventListener('post', (event) => { arrived.push((event as CustomEvent<Post>).detail) })
    const post = await alice.social.post({ text: 'the market is open', location: POINT, ttlMinutes: TTL_MINUTES })
    const geohash = encodeGeohash(POINT.lat, POINT.lon, 5)
    const cell = decodeGeohash(geohash)
    expect(post.location).toMatchObject({ geohash, lat: cell.lat, lon: cell.lon })
    expect((await alice.social.getPost(post.id))?.location?.geohash).toBe(geohash)

    await waitFor('bob to read the post', async () => (await bob.social.feed('world')).posts.length === 1, 15_000)
    const got = await bob.social.getPost(post.id)
    expect(got).toMatchObject({ text: 'the market is open', mine: false, location: { geohash, lat: cell.lat, lon: cell.lon } })
    expect(got!.location!.errKm).toBeCloseTo(post.location!.errKm, 9)
    // The centre of the cell, not the author's point.
    expect(got!.location!.lat).not.toBe(POINT.lat)
    expect(arrived.map((p) => p.location?.geohash)).toEqual([geohash])
    // A post without a place has none.
    const plain = await alice.social.post({ text: 'no place', ttlMinutes: TTL_MINUTES })
    expect(plain.location).toBeUndefined()
  })

  it('a circle post keeps its place in our feed across a restart; a post stored without one still loads', async () => {
    const { node, dataDir, init } = await startNode()
    const post = await node.social.post({ text: 'to my circle', audience: 'circle', location: { ...POINT, precision: 4 }, ttlMinutes: TTL_MINUTES })
    expect(post.location?.geohash).toBe('u33d')
    await node.stop()

    // A post as an older version stored it: no `location` field at all.
    const db = await openLocalDb(join(dataDir, 'db'))
    const posts = jsonSublevel(db, 'social-posts')
    const stored = (await posts.get(post.id)) as Record<string, unknown>
    expect(stored.location).toBe('u33d') // the geohash is what is kept, never the point
    const { location: _, ...old } = stored
    const oldId = `${'ab'.repeat(16)}${post.author}`
    await posts.put(oldId, { ...old, id: oldId, sentAt: post.sentAt - 1 } as never)
    await jsonSublevel(db, 'social-feed').put(`home!${String(post.sentAt - 1).padStart(16, '0')}!${oldId}`, {})
    const feeds = await openFeedStore(db)
    expect((await feeds.get(oldId))?.location).toBeUndefined()
    await db.close()

    const { node: again } = await startNode({ ...init, dataDir })
    const home = (await again.social.feed('home')).posts
    expect(home.map((p) => [p.id, p.location?.geohash])).toEqual([[post.id, 'u33d'], [oldId, undefined]])
  })
})
