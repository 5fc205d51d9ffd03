/**
 * Post places through the control API (real nodes on 127.0.0.1 with their
 * network's Operator): POST /api/posts takes `location` { lat, lon,
 * precision? }; the post's shape carries the geohash cell and its centre
 * at the author's node and at a reader's, in the feed, by id and in the
 * live event; a bad place is a bad_request naming the field, with nothing
 * posted. Feeds take no position: the filter is the reader's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiEvent, ApiPost } from '../../client/api/types.js'
import { decodeGeohash, encodeGeohash } from '../../protocol/index.js'
import { connect } from '../node/cluster.js'
import { cleanupOperators, startOperator } from '../node/registry-operators.js'
import { bearer, cleanupApi, expectApiError, nextEvent, raw, startApiNode, type ApiNode } from './api-helpers.js'

const TTL = 10
const JSON_TYPE = { 'content-type': 'application/json' }
const POINT = { lat: 48.85837, lon: 2.294481 }

let alice: ApiNode
let bob: ApiNode

beforeAll(async () => {
  const { config, address } = await startOperator()
  ;[alice, bob] = await Promise.all([
    startApiNode({ operator: config, bootstrap: [address] }),
    startApiNode({ operator: config, bootstrap: [address] })
  ])
  await connect(alice.node, bob.node)
  await alice.client.register('alice_place')
}, 60_000)

afterAll(async () => {
  await cleanupApi()
  await cleanupOperators()
})

describe('POST /api/posts with a location', () => {
  it('refuses a bad place with bad_request naming the field, and posts nothing', async () => {
    const bad: Array<[unknown, string]> = [
      [{ lat: 91, lon: 0 }, 'location.lat'],
      [{ lat: 0, lon: 200 }, 'location.lon'],
      [{ lat: 0, lon: 0, precision: 7 }, 'location.precision'],
      [{ lat: 0, lon: 0, precision: 'fine' }, 'location.precision'],
      ['u09tu', 'location'],
      [[48, 2], 'location']
    ]
    for (const [location, field] of bad) {
      const answer = await raw(alice.server, {
        method: 'POST', path: '/api/posts', headers: { ...bearer(alice), ...JSON_TYPE }, body: JSON.stringify({ text: 'x', location, ttlMinutes: TTL })
      })
      expectApiError(answer, 400, 'bad_request')
      expect(answer.json().error.message).toContain(`"${field}"`)
    }
    expect((await alice.client.feed('world')).posts).toEqual([])
  })

  it('carries the cell, as its centre and size, to the author\'s and a reader\'s feeds and events', async () => {
    const events = bob.client.events()[Symbol.asyncIterator]()
    await nextEvent(events, (e) => e.type === 'hello', 'hello')
    const post = await alice.client.post({ text: 'by the tower', location: { ...POINT, precision: 6 }, ttlMinutes: TTL })
    const geohash = encodeGeohash(POINT.lat, POINT.lon, 6)
    const cell = decodeGeohash(geohash)
    expect(post.location).toEqual({ geohash, lat: cell.lat, lon: cell.lon, errKm: expect.any(Number) as unknown })
    expect(post.location!.errKm).toBeGreaterThan(0.3)
    expect(post.location!.errKm).toBeLessThan(0.7)

    const event = await nextEvent(events, (e: ApiEvent) => e.type === 'post' && e.post.id === post.id, 'the post at bob') as Extract<ApiEvent, { type: 'post' }>
    expect(event.post.location).toEqual(post.location)
    const byId: ApiPost = await bob.client.getPost(post.id)
    expect(byId.location).toEqual(post.location)
    expect((await bob.client.feed('world')).posts.find((p) => p.id === post.id)?.location).toEqual(post.location)
    await events.return?.()

    // The default area is 5 characters; a post without a place has no `location` key at all.
    const coarse = await alice.client.post({ text: 'somewhere in Paris', location: POINT, ttlMinutes: TTL })
    expect(coarse.location?.geohash).toBe(geohash.slice(0, 5))
    const plain = await alice.client.post({ text: 'nowhere in particular', ttlMinutes: TTL })
    expect('location' in plain).toBe(false)
  })
})
