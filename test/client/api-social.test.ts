/**
 * The social routes of the control API against real nodes on 127.0.0.1
 * and their network's Operator: posting (text, an image as base64, the
 * audience, the lifetime), both feeds with paging, one post, a post's image
 * with the headers that keep an untrusted image from running anything,
 * profiles and avatars, the circle, the `post` and `profile` events (no
 * image bytes in them), every input error and node error as its API code,
 * and the token on every route.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiEvent, ApiPost, ApiProfile } from '../../client/api/types.js'
import {
  MAX_AVATAR_BYTES, MAX_BIO_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_CHARS, MAX_POST_TTL_MINUTES
} from '../../client/api/post-content.js'
import { apiErrorOf } from '../../client/api/node-errors.js'
import { silentLogger } from '../../node/logger.js'
import * as protocol from '../../protocol/index.js'
import { connect } from '../node/cluster.js'
import { cleanupOperators, startOperator } from '../node/registry-operators.js'
import { bearer, cleanupApi, expectApiError, nextEvent, raw, startApiNode, type ApiNode, type RawResponse } from './api-helpers.js'

/** Short lifetimes: little proof of work per part. */
const TTL = 10
const JSON_TYPE = { 'content-type': 'application/json' }

/** Bytes that start like a JPEG (the API checks the signature; nobody decodes them). */
function jpegLike (size: number): Buffer {
  const bytes = randomBytes(size)
  bytes.set([0xff, 0xd8, 0xff, 0xe0])
  return bytes
}

function pngLike (size: number): Buffer {
  const bytes = randomBytes(size)
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return bytes
}

let alice: ApiNode
let bob: ApiNode
/** Pins the Operator but has no name: no world posts. */
let carol: ApiNode
/** No Operator at all: no world feed. */
let dave: ApiNode

async function postRaw (node: ApiNode, body: unknown, path = '/api/posts', method = 'POST'): Promise<RawResponse> {
  return await raw(node.server, { method, path, headers: { ...bearer(node), ...JSON_TYPE }, body: typeof body === 'string' ? body : JSON.stringify(body) })
}

const isPost = (id: string) => (event: ApiEvent): event is Extract<ApiEvent, { type: 'post' }> => event.type === 'post' && event.post.id === id

beforeAll(async () => {
  const { config, address } = await startOperator()
  ;[alice, bob, carol, dave] = await Promise.all([
    startApiNode({ operator: config, bootstrap: [address] }),
    startApiNode({ operator: config, bootstrap: [address] }),
    startApiNode({ operator: config, bootstrap: [address] }),
    startApiNode({})
  ])
  await connect(alice.node, bob.node)
  await Promise.all([alice.client.register('alice_social'), bob.client.register('bob_social')])
}, 120_000)

afterAll(async () => {
  await cleanupApi()
  await cleanupOperators()
})

describe('social routes', () => {
  it('need the token, every one of them', async () => {
    const routes: Array<[string, string]> = [
      ['POST', '/api/posts'], ['GET', '/api/feed/world'], ['GET', '/api/feed/home'], ['GET', `/api/posts/${'a'.repeat(96)}`],
      ['GET', `/api/posts/${'a'.repeat(96)}/image`], ['GET', '/api/profile'], ['PUT', '/api/profile'], ['GET', '/api/profiles'],
      ['GET', `/api/profiles/${'b'.repeat(64)}`], ['GET', `/api/profiles/${'b'.repeat(64)}/avatar`], ['GET', '/api/circle'],
      ['POST', '/api/circle'], ['DELETE', `/api/circle/${'b'.repeat(64)}`]
    ]
    for (const [method, path] of routes) {
      const answer = await raw(alice.server, { method, path, headers: JSON_TYPE, body: method === 'GET' || method === 'DELETE' ? undefined : '{}' })
      expectApiError(answer, 401, 'unauthorized')
      const wrong = await raw(alice.server, { method, path, headers: { authorization: `Bearer ${'0'.repeat(64)}` } })
      expectApiError(wrong, 401, 'unauthorized')
    }
  })

  it('keeps its limits in step with the protocol', () => {
    expect(MAX_POST_TEXT_CHARS).toBe(protocol.MAX_POST_TEXT_CHARS)
    expect(MAX_POST_IMAGE_BYTES).toBe(protocol.MAX_POST_IMAGE_BYTES)
    expect(MAX_AVATAR_BYTES).toBe(protocol.MAX_AVATAR_BYTES)
    expect(MAX_DISPLAY_NAME_CHARS).toBe(protocol.MAX_DISPLAY_NAME_CHARS)
    expect(MAX_BIO_CHARS).toBe(protocol.MAX_BIO_CHARS)
    expect(MAX_POST_TTL_MINUTES).toBe(protocol.MAX_TTL_MINUTES)
  })

  it('posts text to the world: the post in both nodes\' world feeds, a live event at the other node, the author\'s home feed', async () => {
    const events = bob.client.events()[Symbol.asyncIterator]()
    await nextEvent(events, (e) => e.type === 'hello', 'hello')
    const post = await alice.client.post({ text: 'hello world, from the API', ttlMinutes: TTL })
    expect(post).toMatchObject({ author: alice.node.status().id, authorName: 'alice_social', audience: 'world', text: 'hello world, from the API', hasImage: false, mine: true })
    // Opaque, 96 hex: the message id, then the author's id.
    expect(post.id).toMatch(/^[0-9a-f]{96}$/)
    expect(post.id.slice(32)).toBe(alice.node.status().id)
    expect(post.expiresAt).toBeGreaterThan(post.sentAt)
    const arrived = await nextEvent(events, isPost(post.id), 'the post at bob')
    await events.return!()
    expect(arrived.post).toMatchObject({ id: post.id, authorName: 'alice_social', text: post.text, mine: false, hasImage: false })

    expect((await alice.client.feed('world')).posts.map((p) => p.id)).toContain(post.id)
    expect((await bob.client.feed('world')).posts.map((p) => p.id)).toContain(post.id)
    expect((await alice.client.feed('home')).posts.map((p) => p.id)).toContain(post.id)
    expect((await bob.client.feed('home')).posts.map((p) => p.id)).not.toContain(post.id)
    expect(await bob.client.getPost(post.id)).toMatchObject({ id: post.id, text: post.text })
  })

  it('posts an image as base64: the event tells hasImage without the bytes; the image route gives them under a no-script policy', async () => {
    const image = jpegLike(24 * 1024)
    const events = bob.client.events()[Symbol.asyncIterator]()
    await nextEvent(events, (e) => e.type === 'hello', 'hello')
    const answer = await postRaw(alice, { text: 'a picture', image: { mime: 'image/jpeg', data: image.toString('base64') }, ttlMinutes: TTL })
    expect(answer.status, answer.text).toBe(200)
    const post = answer.json() as ApiPost
    expect(post).toMatchObject({ hasImage: true, image: { mime: 'image/jpeg', size: image.length } })
    expect(answer.text.length).toBeLessThan(4096) // no bytes in the answer
    const arrived = await nextEvent(events, isPost(post.id), 'the image post at bob')
    await events.return!()
    expect(arrived.post).toMatchObject({ hasImage: true, image: { mime: 'image/jpeg', size: image.length } })
    expect(JSON.stringify(arrived).length).toBeLessThan(4096)

    for (const node of [alice, bob]) {
      const got = await raw(node.server, { path: `/api/posts/${post.id}/image`, headers: bearer(node) })
      expect(got.status).toBe(200)
      expect(got.headers['content-type']).toBe('image/jpeg')
      expect(got.headers['x-content-type-options']).toBe('nosniff')
      const csp = String(got.headers['content-security-policy'])
      expect(csp).toContain("default-src 'none'")
      expect(csp).toContain('sandbox')
      expect(csp).not.toContain('script-src')
      expect(got.headers['cross-origin-resource-policy']).toBe('same-origin')
      expect(got.headers['content-disposition']).toBe(`inline; filename="post-${post.id}.jpeg"`)
      expect(got.headers['access-control-allow-origin']).toBeUndefined()
      expect(Number(got.headers['content-length'])).toBe(image.length)
    }
    // The typed client gives the bytes back exactly.
    const fetched = await bob.client.postImage(post.id)
    expect(fetched.mime).toBe('image/jpeg')
    expect(Buffer.from(fetched.bytes).equals(image)).toBe(true)
  })

  it('refuses bad posts with their codes, before any work', async () => {
    const tooLongText = 'é'.repeat(MAX_POST_TEXT_CHARS + 1)
    expectApiError(await postRaw(alice, { text: tooLongText }), 413, 'post_too_large')
    // 1,000 astral characters are 1,000 characters (2,000 UTF-16 units): not too long.
    expectApiError(await postRaw(alice, { text: '😀'.repeat(MAX_POST_TEXT_CHARS), days: 9 }), 400, 'bad_request')
    const big = jpegLike(MAX_POST_IMAGE_BYTES + 1).toString('base64')
    const tooBig = await postRaw(alice, { image: { mime: 'image/jpeg', data: big } })
    expectApiError(tooBig, 413, 'post_too_large')
    expect(tooBig.json().error.message).toContain('shrink')
    expectApiError(await postRaw(alice, { image: { mime: 'image/jpeg', data: pngLike(100).toString('base64') } }), 400, 'bad_image')
    expectApiError(await postRaw(alice, { image: { mime: 'image/svg+xml', data: Buffer.from('<svg/>').toString('base64') } }), 400, 'bad_image')
    expectApiError(await postRaw(alice, { image: { mime: 'image/jpeg', data: Buffer.from('not an image').toString('base64') } }), 400, 'bad_image')
    expectApiError(await postRaw(alice, { image: { mime: 'image/jpeg', data: '/9j/ not base64!' } }), 400, 'bad_request')
    expectApiError(await postRaw(alice, { image: 'AAAA' }), 400, 'bad_request')
    expectApiError(await postRaw(alice, {}), 400, 'bad_request')
    expectApiError(await postRaw(alice, { text: '   ' }), 400, 'bad_request')
    expectApiError(await postRaw(alice, { text: 42 }), 400, 'bad_request')
    expectApiError(await postRaw(alice, { text: 'x', audience: 'friends' }), 400, 'bad_request')
    expectApiError(await postRaw(alice, { text: 'x', days: 0 }), 400, 'bad_request')
    expectApiError(await postRaw(alice, { text: 'x', days: 1.5 }), 400, 'bad_request')
    expectApiError(await postRaw(alice, { text: 'x', days: 2, ttlMinutes: 5 }), 400, 'bad_request')
    expectApiError(await postRaw(alice, { text: 'x', ttlMinutes: MAX_POST_TTL_MINUTES + 1 }), 400, 'bad_request')
    expectApiError(await postRaw(alice, '{"text":'), 400, 'bad_json')
    const notJson = await raw(alice.server, { method: 'POST', path: '/api/posts', headers: { ...bearer(alice), 'content-type': 'text/plain' }, body: 'hello' })
    expectApiError(notJson, 415, 'unsupported_media_type')
    // The route's own body limit (an image in base64 and the text fit well under it).
    const huge = await postRaw(alice, { text: 'x', pad: 'y'.repeat(600 * 1024) })
    expectApiError(huge, 413, 'body_too_large')
    expect(huge.json().error.message).toContain('shrink the picture')
    // Nothing of that was posted.
    const world = await alice.client.feed('world', { limit: 100 })
    expect(world.posts.every((p) => p.text !== 'x' && p.text !== tooLongText)).toBe(true)
  })

  it('maps the node\'s refusals: no name for the world, no world feed without an Operator', async () => {
    expectApiError(await postRaw(carol, { text: 'I have no name', ttlMinutes: TTL }), 409, 'name_required')
    await expect(carol.client.post({ text: 'still no name' })).rejects.toMatchObject({ code: 'name_required', status: 409 })
    expectApiError(await postRaw(dave, { text: 'no operator here', ttlMinutes: TTL }), 409, 'no_world_feed')
    // A circle post needs neither.
    const own = await carol.client.post({ text: 'to my circle', audience: 'circle', ttlMinutes: TTL })
    expect(own).toMatchObject({ audience: 'circle', mine: true })
    expect((await carol.client.feed('home')).posts.map((p) => p.id)).toContain(own.id)
  })

  it('pages feeds with the opaque cursor, and refuses bad feeds, limits, cursors and ids', async () => {
    for (let i = 0; i < 3; i++) await alice.client.post({ text: `paged ${i}`, ttlMinutes: TTL })
    const all = (await alice.client.feed('world', { limit: 100 })).posts
    expect(all.length).toBeGreaterThanOrEqual(5)
    const sorted = [...all].sort((a, b) => b.sentAt - a.sentAt || (b.id < a.id ? -1 : 1))
    expect(all.map((p) => p.id)).toEqual(sorted.map((p) => p.id))
    const seen: string[] = []
    let before: string | undefined
    for (let page = 0; page < all.length + 1; page++) {
      const result = await alice.client.feed('world', { limit: 2, ...(before === undefined ? {} : { before }) })
      expect(result.posts.length).toBeLessThanOrEqual(2)
      seen.push(...result.posts.map((p) => p.id))
      if (result.next === undefined) break
      before = result.next
    }
    expect(seen).toEqual(all.map((p) => p.id))

    expectApiError(await raw(alice.server, { path: '/api/feed/everything', headers: bearer(alice) }), 404, 'not_found')
    expectApiError(await raw(alice.server, { path: '/api/feed/world?limit=0', headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { path: '/api/feed/world?limit=101', headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { path: '/api/feed/world?before=not-a-cursor', headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { path: `/api/feed/world?before=${'z'.repeat(600)}`, headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { path: '/api/posts/xyz', headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { path: `/api/posts/${'0'.repeat(96)}`, headers: bearer(alice) }), 404, 'unknown_post')
    expectApiError(await raw(alice.server, { path: `/api/posts/${'0'.repeat(96)}/image`, headers: bearer(alice) }), 404, 'unknown_post')
    // Only a whole post id: the message id alone (32 hex, the old form) or one character more is no post id.
    expectApiError(await raw(alice.server, { path: `/api/posts/${all[0]!.id.slice(0, 32)}`, headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { path: `/api/posts/${all[0]!.id}0`, headers: bearer(alice) }), 400, 'bad_request')
    expect(await alice.client.getPost(all[0]!.id.toUpperCase())).toMatchObject({ id: all[0]!.id })
    const textOnly = all.find((p) => !p.hasImage)!
    expectApiError(await raw(alice.server, { path: `/api/posts/${textOnly.id}/image`, headers: bearer(alice) }), 404, 'unknown_post')
  })

  it('sets a profile with an avatar: the other node gets a profile event and serves the avatar under the image policy', async () => {
    expectApiError(await raw(alice.server, { path: '/api/profile', headers: bearer(alice) }), 404, 'unknown_profile')
    const avatar = pngLike(2048)
    const events = bob.client.events()[Symbol.asyncIterator]()
    await nextEvent(events, (e) => e.type === 'hello', 'hello')
    const set = await postRaw(alice, { displayName: 'Alice A.', bio: 'posts things', avatar: { mime: 'image/png', data: avatar.toString('base64') } }, '/api/profile', 'PUT')
    expect(set.status, set.text).toBe(200)
    const profile = set.json() as ApiProfile
    expect(profile).toMatchObject({ author: alice.node.status().id, displayName: 'Alice A.', bio: 'posts things', hasAvatar: true, avatar: { mime: 'image/png', size: 2048 }, audience: 'world' })
    expect(await alice.client.profile()).toMatchObject({ displayName: 'Alice A.' })
    const seen = await nextEvent(events, (e): e is Extract<ApiEvent, { type: 'profile' }> => e.type === 'profile' && e.profile.author === profile.author, 'the profile at bob')
    await events.return!()
    expect(seen.profile).toMatchObject({ displayName: 'Alice A.', authorName: 'alice_social', hasAvatar: true })
    expect(JSON.stringify(seen).length).toBeLessThan(2048)

    expect(await bob.client.profileOf(profile.author)).toMatchObject({ displayName: 'Alice A.', bio: 'posts things' })
    expect((await bob.client.profiles()).map((p) => p.author)).toContain(profile.author)
    // Only the authors asked for (a screen's), those held; unknown ones are left out.
    expect((await bob.client.profiles({ authors: [profile.author, 'c'.repeat(64), profile.author.toUpperCase()] })).map((p) => p.author)).toEqual([profile.author])
    expect(await bob.client.profiles({ authors: ['c'.repeat(64)] })).toEqual([])
    expectApiError(await raw(bob.server, { path: `/api/profiles?authors=${Array.from({ length: 101 }, () => 'c'.repeat(64)).join(',')}`, headers: bearer(bob) }), 400, 'bad_request')
    expectApiError(await raw(bob.server, { path: '/api/profiles?authors=alice', headers: bearer(bob) }), 400, 'bad_request')
    // The listing, a page at a time by author id.
    const everyone = await bob.client.profiles()
    expect(everyone.map((p) => p.author)).toEqual(everyone.map((p) => p.author).sort())
    const firstPage = await bob.client.profiles({ limit: 1 })
    expect(firstPage).toHaveLength(1)
    const rest = await bob.client.profiles({ after: firstPage[0]!.author })
    expect([...firstPage, ...rest].map((p) => p.author)).toEqual(everyone.map((p) => p.author))
    expect(await bob.client.profiles({ after: 'f'.repeat(64) })).toEqual([])
    expectApiError(await raw(bob.server, { path: '/api/profiles?limit=101', headers: bearer(bob) }), 400, 'bad_request')
    expectApiError(await raw(bob.server, { path: '/api/profiles?after=xyz', headers: bearer(bob) }), 400, 'bad_request')
    const got = await raw(bob.server, { path: `/api/profiles/${profile.author}/avatar`, headers: bearer(bob) })
    expect(got.status).toBe(200)
    expect(got.headers['content-type']).toBe('image/png')
    expect(got.headers['x-content-type-options']).toBe('nosniff')
    expect(String(got.headers['content-security-policy'])).toContain('sandbox')
    expect(Buffer.from((await bob.client.avatar(profile.author)).bytes).equals(avatar)).toBe(true)

    expectApiError(await raw(bob.server, { path: `/api/profiles/${'c'.repeat(64)}`, headers: bearer(bob) }), 404, 'unknown_profile')
    expectApiError(await raw(bob.server, { path: `/api/profiles/${'c'.repeat(64)}/avatar`, headers: bearer(bob) }), 404, 'unknown_profile')
    expectApiError(await raw(bob.server, { path: '/api/profiles/alice', headers: bearer(bob) }), 400, 'bad_request')
  })

  it('refuses bad profiles with their codes', async () => {
    expectApiError(await postRaw(bob, {}, '/api/profile', 'PUT'), 400, 'bad_request')
    expectApiError(await postRaw(bob, { displayName: '  ' }, '/api/profile', 'PUT'), 400, 'bad_request')
    expectApiError(await postRaw(bob, { displayName: 'x'.repeat(MAX_DISPLAY_NAME_CHARS + 1) }, '/api/profile', 'PUT'), 413, 'profile_too_large')
    // 64 characters, but 256 bytes of UTF-8: one more than the protocol's one-byte length holds. Refused as too large, not a 500.
    const emoji = await postRaw(bob, { displayName: '😀'.repeat(MAX_DISPLAY_NAME_CHARS) }, '/api/profile', 'PUT')
    expectApiError(emoji, 413, 'profile_too_large')
    expect(emoji.json().error.message).toContain('256 bytes')
    expectApiError(await postRaw(bob, { displayName: 'Bob', bio: 'y'.repeat(MAX_BIO_CHARS + 1) }, '/api/profile', 'PUT'), 413, 'profile_too_large')
    const bigAvatar = pngLike(MAX_AVATAR_BYTES + 1).toString('base64')
    expectApiError(await postRaw(bob, { displayName: 'Bob', avatar: { mime: 'image/png', data: bigAvatar } }, '/api/profile', 'PUT'), 413, 'profile_too_large')
    expectApiError(await postRaw(bob, { displayName: 'Bob', audience: 'everyone' }, '/api/profile', 'PUT'), 400, 'bad_request')
    const notJson = await raw(bob.server, { method: 'PUT', path: '/api/profile', headers: { ...bearer(bob), 'content-type': 'text/plain' }, body: 'Bob' })
    expectApiError(notJson, 415, 'unsupported_media_type')
    expectApiError(await raw(bob.server, { path: '/api/profile', headers: bearer(bob) }), 404, 'unknown_profile')
  })

  it('answers a post or profile the protocol refuses as the caller\'s error, never as internal', () => {
    const logger = silentLogger()
    const cases: Array<[protocol.PostFormatReason, string]> = [
      ['name-too-long', 'profile_too_large'], ['bio-too-long', 'profile_too_large'], ['avatar-too-large', 'profile_too_large'],
      ['text-too-long', 'post_too_large'], ['image-too-large', 'post_too_large'], ['unknown-mime', 'bad_image'], ['not-utf8', 'bad_request']
    ]
    for (const [reason, code] of cases) {
      const error = apiErrorOf(new protocol.PostFormatError(`refused: ${reason}`, reason), logger)
      expect(error, reason).toMatchObject({ code, message: `refused: ${reason}` })
    }
  })

  it('manages the circle: a circle post reaches a member\'s home feed; removal answers 204, then unknown_member', async () => {
    expect(await alice.client.circle()).toEqual([])
    // A node takes circle keys only from those its user added (known senders, SPEC §14.4).
    await bob.client.addContact('alice_social')
    const member = await alice.client.addToCircle('bob_social')
    expect(member).toMatchObject({ id: bob.node.status().id, identity: bob.node.publicIdentity, name: 'bob_social' })
    expect((await alice.client.circle()).map((m) => m.id)).toEqual([member.id])
    // Adding again changes nothing.
    await alice.client.addToCircle(member.id)
    expect(await alice.client.circle()).toHaveLength(1)

    const events = bob.client.events()[Symbol.asyncIterator]()
    await nextEvent(events, (e) => e.type === 'hello', 'hello')
    const post = await alice.client.post({ text: 'for my circle', audience: 'circle', ttlMinutes: TTL })
    const arrived = await nextEvent(events, isPost(post.id), 'the circle post at bob')
    await events.return!()
    expect(arrived.post).toMatchObject({ audience: 'circle', text: 'for my circle', mine: false })
    expect((await bob.client.feed('home')).posts.map((p) => p.id)).toContain(post.id)
    expect((await bob.client.feed('world')).posts.map((p) => p.id)).not.toContain(post.id)

    const removed = await raw(alice.server, { method: 'DELETE', path: `/api/circle/${member.id}`, headers: bearer(alice) })
    expect(removed.status).toBe(204)
    expect(await alice.client.circle()).toEqual([])
    expectApiError(await raw(alice.server, { method: 'DELETE', path: `/api/circle/${member.id}`, headers: bearer(alice) }), 404, 'unknown_member')
    expectApiError(await raw(alice.server, { method: 'DELETE', path: '/api/circle/bob', headers: bearer(alice) }), 400, 'bad_request')
    expectApiError(await postRaw(alice, {}, '/api/circle'), 400, 'bad_request')
    expectApiError(await postRaw(alice, { contact: 'nobody_here' }, '/api/circle'), 404, 'unknown_name')
    expectApiError(await postRaw(alice, { contact: 'd'.repeat(64) }, '/api/circle'), 404, 'unknown_contact')
    expectApiError(await postRaw(alice, { contact: alice.node.publicIdentity }, '/api/circle'), 400, 'bad_request')
  })
})
