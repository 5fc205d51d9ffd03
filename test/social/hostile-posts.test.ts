/**
 * Hostile posts, built with the protocol functions and published from a raw
 * gossipsub peer into a node that floods them on to a second node. Every one
 * is a well-formed envelope with its proof of work, so both nodes store it
 * (the resync probe finds it), but neither ever shows it:
 *
 * - a world post whose certificate belongs to another key, one with no
 *   certificate, one whose certificate another Operator signed;
 * - a world post signed by its registered author whose payload is malformed
 *   (a byte too many), and one dated a day ahead (it would top every feed);
 * - a world post whose signature is forged (the author block names a
 *   registered author, another key signed it), alone or as one part of a
 *   multi-part post: the genuine post still completes, byte-identical, once
 *   its genuine part arrives;
 * - on a circle chain the node was handed, a post signed by a key that is not
 *   the chain's author, and one that claims the author but another key signed;
 *   and the author's own posts at a node that was handed the chain by this
 *   author without ever adding it (a stranger's circle key is not taken).
 *
 * A registered flooder's 70 world posts in a day: at most 64 show in any
 * feed (SPEC §14's per-author bound), and an honest post still shows.
 *
 * Another registered author reusing an honest post's message id (sent
 * first) gets a post of its own; the honest post still shows, untouched.
 *
 * Honest controls sent after them (a world post, a circle post on the same
 * chain) do show, so the hostile ones were screened, not lost.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  circleHandoff, createIdentity, createKeyring, createRegistration, encodePost, encodePublicIdentity, KIND_CIRCLE_KEY, KIND_POST, newCircleChain,
  openWorldEnvelope, sealCirclePost, sealWorldPost, solveWork, toHex, worldKey, type Identity
} from '../../protocol/index.js'
import type { KomradeNode } from '../../node/komrade-node.js'
import { TEST_WORK_TRIALS } from '../node/registry-operators.js'
import {
  cleanupSocial, crypto, idOf, isSubset, joinRing, patternBytes, postsWithText, recordEvents, registeredAuthor, startOperator, startRawPeer,
  startSocialNode, startStoreProbe, TTL_MINUTES, waitFor, wholeFeed, type RawPeer, type StoreProbe
} from './social-cluster.js'

afterEach(cleanupSocial)

const WORLD = worldKey(crypto, 'komrade')

/** An identity whose public keys are `claimed`'s but whose signing seed is `signer`'s: what it signs is a forgery. */
function forger (claimed: Identity, signer: Identity): Identity {
  return { ...claimed, signingSeed: signer.signingSeed }
}

function worldPost (author: Identity, payload: { certificate?: Uint8Array, text: string, image?: { mime: 'image/png', bytes: Uint8Array } },
  options: { messageId?: Uint8Array, now?: number, trailing?: boolean } = {}) {
  const encoded = encodePost(payload)
  return sealWorldPost(crypto, {
    worldKey: WORLD, author, kind: KIND_POST, ttlMinutes: TTL_MINUTES,
    payload: options.trailing === true ? new Uint8Array([...encoded, 0]) : encoded,
    ...(options.messageId === undefined ? {} : { messageId: options.messageId }),
    ...(options.now === undefined ? {} : { now: options.now })
  })
}

async function publishAll (raw: RawPeer, envelopes: Uint8Array[]): Promise<Set<string>> {
  const solved = envelopes.map((envelope) => solveWork(crypto, envelope))
  for (const envelope of solved) await raw.publish(envelope)
  return new Set(solved.map(idOf))
}

async function heldBy (probe: StoreProbe, nodes: KomradeNode[], ids: Set<string>): Promise<void> {
  for (const node of nodes) await waitFor('the hostile envelopes stored', async () => isSubset(ids, await probe.held(node)), 60_000)
}

describe('hostile posts', () => {
  it('world posts with a wrong, missing or foreign certificate, or a forged signature, never show', async () => {
    const started = Date.now()
    const op = await startOperator()
    const otherOp = await startOperator()
    const { node: front } = await startSocialNode(op)
    const { node: behind } = await startSocialNode(op)
    await joinRing([front, behind])
    const events = [recordEvents(front), recordEvents(behind)]
    const probe = await startStoreProbe()
    const raw = await startRawPeer(front)

    const honest = await registeredAuthor(op, 'honestposter')
    const other = await registeredAuthor(op, 'otherposter')
    const outsider = createIdentity(crypto)
    // The honest author's own keys, registered under the same name with an Operator the nodes do not pin.
    const foreignAnswer = await otherOp.operator.registry!.register(
      await createRegistration(crypto, honest.identity, 'honestposter', { workTrials: TEST_WORK_TRIALS }))
    if (!foreignAnswer.ok) throw new Error('the other Operator refused the registration')

    const wrongCertificate = worldPost(honest.identity, { certificate: other.certificate, text: 'another key\'s name' })
    const noCertificate = worldPost(honest.identity, { text: 'no name at all' })
    const foreignCertificate = worldPost(honest.identity, { certificate: foreignAnswer.value.certificate, text: 'a name from another Operator' })
    const forged = worldPost(forger(honest.identity, outsider), { certificate: honest.certificate, text: 'forged signature' })
    // Signed by its author with a valid certificate, but a byte after the payload (a malformed payload).
    const trailing = worldPost(honest.identity, { certificate: honest.certificate, text: 'one byte too many' }, { trailing: true })
    // Dated a day ahead (the envelope's expiry with it): it would sit on top of every feed for a day.
    const future = worldPost(honest.identity, { certificate: honest.certificate, text: 'from tomorrow' }, { now: Date.now() + 24 * 60 * 60_000 })
    // The forgery really is one: its signature does not check out, while an honest envelope's does.
    expect(openWorldEnvelope(crypto, WORLD, forged.envelopes[0]!)).toBeUndefined()
    expect(openWorldEnvelope(crypto, WORLD, wrongCertificate.envelopes[0]!)?.authorId).toBe(toHex(honest.identity.signingKey))

    // A multi-part image post with one part replaced by a forgery of the same message id and length.
    const image = patternBytes(9_000, 5)
    const genuine = worldPost(honest.identity, { certificate: honest.certificate, text: 'parts', image: { mime: 'image/png', bytes: image } })
    const fake = worldPost(forger(honest.identity, outsider),
      { certificate: honest.certificate, text: 'parts', image: { mime: 'image/png', bytes: patternBytes(9_000, 6) } }, { messageId: genuine.messageId })
    expect(genuine.envelopes.length).toBeGreaterThanOrEqual(3)
    expect(fake.envelopes).toHaveLength(genuine.envelopes.length)
    const swapped = 1

    const hostileIds = await publishAll(raw, [
      ...wrongCertificate.envelopes, ...noCertificate.envelopes, ...foreignCertificate.envelopes, ...forged.envelopes,
      ...trailing.envelopes, ...future.envelopes,
      fake.envelopes[swapped]!, ...genuine.envelopes.filter((_, i) => i !== swapped)
    ])
    const control = worldPost(honest.identity, { certificate: honest.certificate, text: 'honest control' })
    // Another registered author takes the control's message id first: ids are the author's choice, so the two
    // must stay two posts, and the honest one must not be blocked or replaced.
    const squatter = worldPost(other.identity, { certificate: other.certificate, text: 'same message id' }, { messageId: control.messageId })
    await publishAll(raw, squatter.envelopes)
    await publishAll(raw, control.envelopes)
    for (const node of [front, behind]) {
      await waitFor('the honest control', async () => (await postsWithText(node, 'honest control')).length === 1, 60_000)
      await waitFor('the squatter\'s post', async () => (await postsWithText(node, 'same message id')).length === 1, 60_000)
      const [mine, theirs] = [(await postsWithText(node, 'honest control'))[0]!, (await postsWithText(node, 'same message id'))[0]!]
      expect(mine).toMatchObject({ authorName: 'honestposter', author: toHex(honest.identity.signingKey) })
      expect(theirs).toMatchObject({ authorName: 'otherposter', author: toHex(other.identity.signingKey) })
      expect(mine.id).not.toBe(theirs.id)
      expect(await node.social.getPost(mine.id)).toMatchObject({ text: 'honest control' })
    }
    await heldBy(probe, [front, behind], hostileIds)
    const hostileTexts = ['another key\'s name', 'no name at all', 'a name from another Operator', 'forged signature', 'one byte too many', 'from tomorrow', 'parts']
    for (const node of [front, behind]) {
      for (const text of hostileTexts) expect(await postsWithText(node, text)).toEqual([])
    }

    // The genuine missing part completes the genuine post, untouched by the forged part.
    await publishAll(raw, [genuine.envelopes[swapped]!])
    for (const [i, node] of [front, behind].entries()) {
      await waitFor('the genuine multi-part post', async () => (await postsWithText(node, 'parts')).length > 0, 60_000)
      const [post, ...duplicates] = await postsWithText(node, 'parts')
      expect(duplicates).toEqual([])
      expect(Buffer.from(post!.image!.bytes).equals(Buffer.from(image))).toBe(true)
      expect(post).toMatchObject({ authorName: 'honestposter', author: toHex(honest.identity.signingKey), audience: 'world' })
      expect(events[i]!.posts.map((p) => p.text).sort()).toEqual(['honest control', 'parts', 'same message id'])
    }
    console.log(`hostile world posts: ${Date.now() - started} ms`)
  }, 180_000)

  it('circle posts not signed by the chain\'s author never show; the author\'s own do', async () => {
    const started = Date.now()
    const op = await startOperator()
    const { node: member } = await startSocialNode(op)
    const { node: bystander } = await startSocialNode(op)
    await joinRing([member, bystander])
    const events = recordEvents(member)
    const probe = await startStoreProbe()
    const raw = await startRawPeer(member)

    // An author outside any node: its keyring hands its circle chain to the member by first contact.
    const author = createIdentity(crypto)
    const intruder = createIdentity(crypto)
    await member.contacts.add(toHex(encodePublicIdentity(author)))
    const keyring = createKeyring({ crypto, identity: author })
    const chain = newCircleChain(crypto)
    const handoff = keyring.seal(member.identity, circleHandoff(chain), { kind: KIND_CIRCLE_KEY, ttlMinutes: TTL_MINUTES })
    expect(handoff.firstContact).toBe(true)
    await publishAll(raw, handoff.envelopes)
    // The same chain handed to the bystander, who never added the author: a stranger's circle key is not taken.
    const strangerHandoff = keyring.seal(bystander.identity, circleHandoff(chain), { kind: KIND_CIRCLE_KEY, ttlMinutes: TTL_MINUTES })
    const strangerIds = await publishAll(raw, strangerHandoff.envelopes)

    const seal = (signer: Identity, text: string) => sealCirclePost(crypto, {
      chain, author: signer, kind: KIND_POST, ttlMinutes: TTL_MINUTES, payload: encodePost({ text })
    })
    const notTheAuthor = seal(intruder, 'signed by a key outside the circle')
    const impersonation = seal(forger(author, intruder), 'claims the author, signed by another key')
    const hostileIds = await publishAll(raw, [...notTheAuthor.envelopes, ...impersonation.envelopes])
    const control = seal(author, 'the author\'s own circle post')
    const controlIds = await publishAll(raw, control.envelopes)

    const controlText = 'the author\'s own circle post'
    await waitFor('the member to read the author\'s post', async () => (await postsWithText(member, controlText)).length === 1, 60_000)
    const [shown] = await postsWithText(member, controlText)
    expect(shown).toMatchObject({ audience: 'circle', author: toHex(author.signingKey), authorIdentity: toHex(encodePublicIdentity(author)) })
    expect(await member.social.getPost(shown!.id)).toMatchObject({ text: controlText })
    await heldBy(probe, [member, bystander], hostileIds)
    for (const node of [member, bystander]) {
      expect(await postsWithText(node, 'signed by a key outside the circle')).toEqual([])
      expect(await postsWithText(node, 'claims the author, signed by another key')).toEqual([])
    }
    await heldBy(probe, [bystander], new Set([...controlIds, ...strangerIds]))
    expect(await postsWithText(bystander, controlText)).toEqual([]) // handed a stranger's chain: stores, does not open
    expect(events.posts.map((p) => p.text)).toEqual([controlText])
    console.log(`hostile circle posts: ${Date.now() - started} ms`)
  }, 180_000)

  it('a registered flooder gets at most 64 posts a day into a feed, and others still get through', async () => {
    const started = Date.now()
    const op = await startOperator()
    const { node: front } = await startSocialNode(op)
    const { node: behind } = await startSocialNode(op)
    await joinRing([front, behind])
    const probe = await startStoreProbe()
    const raw = await startRawPeer(front)
    const flooder = await registeredAuthor(op, 'flooder')
    const honest = await registeredAuthor(op, 'patientposter')

    const now = Date.now()
    const flood = Array.from({ length: 70 }, (_, i) => worldPost(flooder.identity, { certificate: flooder.certificate, text: `flood ${i}` }, { now: now + i }))
    const floodIds = await publishAll(raw, flood.flatMap((post) => post.envelopes))
    const control = worldPost(honest.identity, { certificate: honest.certificate, text: 'still heard' })
    await publishAll(raw, control.envelopes)
    await heldBy(probe, [front, behind], floodIds)
    for (const node of [front, behind]) {
      await waitFor('the honest post', async () => (await postsWithText(node, 'still heard')).length === 1, 60_000)
      const shown = (await wholeFeed(node, 'world')).filter((post) => post.authorName === 'flooder')
      expect(shown.length).toBeGreaterThan(0)
      expect(shown.length).toBeLessThanOrEqual(64)
    }
    console.log(`flooder: ${Date.now() - started} ms`)
  }, 180_000)
})
