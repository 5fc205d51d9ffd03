/**
 * An image post carried as a multi-part payload arrives whole after
 * shuffled, duplicated parts. The test builds the parts itself with the
 * protocol functions (a registered identity and its certificate, sealWorldPost,
 * proof of work), shuffles them, duplicates a third of them, and publishes
 * them from a raw gossipsub peer into a node that floods them on to a second
 * node. Proves: with every part but one stored, neither node shows the post;
 * after the last part both show it exactly once (one `post` event each), the
 * image byte-identical; sending every part again changes nothing.
 *
 * The same for a circle post with the largest image (256 KiB, far more parts
 * than the receive window of 32 chain steps), handed to a member by an author
 * the test plays with the protocol functions: its last part first, the rest
 * shuffled and partly duplicated, one early part held back; the member shows
 * it once, whole, after that part; a node outside the circle stores every
 * part and shows nothing.
 */
import { afterEach, expect, it } from 'vitest'
import type { KomradeNode } from '../../node/komrade-node.js'
import type { Post } from '../../node/social/types.js'
import {
  circleHandoff, createIdentity, createKeyring, encodePost, encodePublicIdentity, KIND_CIRCLE_KEY, KIND_POST, MAX_POST_IMAGE_BYTES,
  newCircleChain, REORDER_WINDOW, sealCirclePost, sealWorldPost, solveWork, toHex, worldKey
} from '../../protocol/index.js'
import {
  cleanupSocial, crypto, idOf, inFeed, isSubset, joinRing, patternBytes, postsWithText, recordEvents, registeredAuthor, shuffled, startOperator,
  startRawPeer, startSocialNode, startStoreProbe, TTL_MINUTES, unseen, waitFor
} from './social-cluster.js'

afterEach(cleanupSocial)

it('arrives whole after shuffled, duplicated parts, exactly once, and not before the last part', async () => {
  const started = Date.now()
  const op = await startOperator()
  const { node: front } = await startSocialNode(op)
  const { node: behind } = await startSocialNode(op)
  await joinRing([front, behind])
  const events = [recordEvents(front), recordEvents(behind)]
  const probe = await startStoreProbe()
  const raw = await startRawPeer(front)

  const { identity, certificate } = await registeredAuthor(op, 'imageposter')
  const image = patternBytes(40_000, 42)
  image.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) // a PNG signature, should anyone sniff
  const text = 'a picture in many parts'
  const sealed = sealWorldPost(crypto, {
    worldKey: worldKey(crypto, 'komrade'), author: identity, kind: KIND_POST, ttlMinutes: TTL_MINUTES,
    payload: encodePost({ certificate, text, image: { mime: 'image/png', bytes: image } })
  })
  const parts = sealed.envelopes.map((envelope) => solveWork(crypto, envelope))
  expect(parts.length).toBeGreaterThanOrEqual(20)
  const authorId = toHex(identity.signingKey)
  const appearances = async (node: KomradeNode, what = text): Promise<Post[]> => await postsWithText(node, what, authorId)

  // Shuffled, a third of them twice; every copy of one part held back.
  const order = shuffled([...parts, ...parts.filter((_, i) => i % 3 === 1)], 2026)
  const last = order.at(-1)!
  const first = order.filter((part) => part !== last)
  for (const part of first) await raw.publish(part)
  const firstIds = new Set(first.map(idOf))
  expect(firstIds.size).toBe(parts.length - 1)
  for (const node of [front, behind]) {
    await waitFor('every part but one stored', async () => isSubset(firstIds, await probe.held(node)), 60_000)
    // Stored means screened (delivery screens before it stores): the post must not show yet.
    expect(await appearances(node)).toEqual([])
  }
  expect(events.every((e) => e.posts.length === 0)).toBe(true)

  await raw.publish(last)
  for (const node of [front, behind]) {
    await waitFor('the post after its last part', async () => (await appearances(node)).length > 0, 60_000)
  }

  // Every part again, then a one-part marker post from the same author: once the marker shows, the repeats were handled.
  for (const part of shuffled(parts, 9)) await raw.publish(part)
  const marker = sealWorldPost(crypto, {
    worldKey: worldKey(crypto, 'komrade'), author: identity, kind: KIND_POST, ttlMinutes: TTL_MINUTES,
    payload: encodePost({ certificate, text: 'marker' })
  })
  await raw.publish(solveWork(crypto, marker.envelopes[0]!))
  for (const node of [front, behind]) {
    await waitFor('the marker post', async () => (await appearances(node, 'marker')).length === 1, 60_000)
  }

  for (const [i, node] of [front, behind].entries()) {
    const [post, ...duplicates] = await appearances(node)
    expect(duplicates).toEqual([])
    expect(post).toMatchObject({ text, audience: 'world', authorName: 'imageposter', authorIdentity: toHex(encodePublicIdentity(identity)), mine: false })
    expect(post!.image?.mime).toBe('image/png')
    expect(Buffer.from(post!.image!.bytes).equals(Buffer.from(image))).toBe(true)
    expect(await inFeed(node, 'world', post!.id)).toHaveLength(1)
    expect((await node.social.getPost(post!.id))?.image?.bytes.length).toBe(image.length)
    expect(events[i]!.posts.filter((p) => p.text === text)).toHaveLength(1)
  }
  console.log(`image parts (${parts.length} parts): ${Date.now() - started} ms`)
}, 180_000)

it('a circle post with the largest image arrives whole after shuffled, duplicated parts, beyond the reorder window', async () => {
  const started = Date.now()
  const { node: member } = await startSocialNode(undefined)
  const { node: bystander } = await startSocialNode(undefined)
  await joinRing([member, bystander])
  const events = recordEvents(member)
  const probe = await startStoreProbe()
  const raw = await startRawPeer(member)

  // An author outside any node hands its circle chain to the member by first contact.
  const author = createIdentity(crypto)
  await member.contacts.add(toHex(encodePublicIdentity(author)))
  const chain = newCircleChain(crypto)
  const handoff = createKeyring({ crypto, identity: author }).seal(member.identity, circleHandoff(chain), { kind: KIND_CIRCLE_KEY, ttlMinutes: TTL_MINUTES })
  await raw.publish(solveWork(crypto, handoff.envelopes[0]!))

  const image = patternBytes(MAX_POST_IMAGE_BYTES, 77)
  const sealed = sealCirclePost(crypto, {
    chain, author, kind: KIND_POST, ttlMinutes: TTL_MINUTES, payload: encodePost({ text: '', image: { mime: 'image/webp', bytes: image } })
  })
  const parts = sealed.envelopes.map((envelope) => solveWork(crypto, envelope))
  expect(parts.length).toBeGreaterThan(4 * REORDER_WINDOW) // most parts start far beyond the window
  const byAuthor = async (node: KomradeNode): Promise<Post[]> => await postsWithText(node, '', toHex(author.signingKey))

  // The last part first, then the rest shuffled with a quarter twice; every copy of one early part held back.
  const held = parts[3]!
  const order = [parts.at(-1)!, ...shuffled([...parts.slice(0, -1), ...parts.filter((_, i) => i % 4 === 2)], 31)].filter((p) => p !== held)
  for (const part of order) await raw.publish(part)
  const orderIds = new Set(order.map(idOf))
  expect(orderIds.size).toBe(parts.length - 1)
  await waitFor('every part but one stored', async () => isSubset(orderIds, await probe.held(member)), 120_000)
  expect(await byAuthor(member)).toEqual([])

  await raw.publish(held)
  await waitFor('the circle image post', async () => (await byAuthor(member)).length > 0, 120_000)
  const [post, ...duplicates] = await byAuthor(member)
  expect(duplicates).toEqual([])
  expect(post).toMatchObject({ text: '', audience: 'circle', authorIdentity: toHex(encodePublicIdentity(author)), mine: false })
  expect(await inFeed(member, 'home', post!.id)).toHaveLength(1)
  expect(post!.image?.mime).toBe('image/webp')
  expect(Buffer.from(post!.image!.bytes).equals(Buffer.from(image))).toBe(true)
  expect(events.posts).toHaveLength(1)
  await waitFor('the bystander to store every part', async () => isSubset(new Set(parts.map(idOf)), await probe.held(bystander)), 120_000)
  expect(await byAuthor(bystander)).toEqual([])
  expect(await unseen(bystander, post!.id)).toBe(true)
  console.log(`circle image (${parts.length} parts): ${Date.now() - started} ms`)
}, 240_000)
