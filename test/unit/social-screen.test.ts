/**
 * The screener with the social steps (SPEC §8, §14.5): pairwise tags, then
 * circle tags, then the world tag, then first contact. The pairwise API
 * (`screen`, `screenByTag`) behaves as it always did.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  circleHandoff, createCircleRing, createIdentity, createKeyring, createScreener, encodePost, identityId, nativeCrypto,
  newCircleChain, publicIdentityOf, sealCirclePost, sealCover, sealWorldPost, worldKey, ENVELOPE_SIZE, KIND_CIRCLE_KEY, KIND_POST,
  type Identity
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)
const KEY = worldKey(crypto, 'komrade-test')

function worldPost (author: Identity, text: string): Uint8Array {
  return sealWorldPost(crypto, { author, worldKey: KEY, kind: KIND_POST, payload: encodePost({ text }), ttlMinutes: 60, now: NOW }).envelopes[0]!
}

/** Bob's node: a keyring, a circle ring holding Alice's chain (handed over their session), a screener with the world key. */
function setup () {
  const alice = createIdentity(crypto)
  const bob = createIdentity(crypto)
  const aliceRing = createKeyring({ crypto, identity: alice })
  const bobRing = createKeyring({ crypto, identity: bob })
  const circles = createCircleRing({ crypto })
  const screener = createScreener({ keyrings: [bobRing], circles, worldKey: KEY, crypto })
  // Alice hands Bob her circle chain as the first message to him (a first contact).
  const chain = newCircleChain(crypto)
  const handoff = aliceRing.seal(bobRing.identity, circleHandoff(chain), { kind: KIND_CIRCLE_KEY, now: NOW })
  const got = screener.screenAny(handoff.envelopes[0]!, { now: NOW })
  if (got?.type !== 'direct' || got.opened.message.kind !== KIND_CIRCLE_KEY) throw new Error('setup: the handoff did not arrive')
  circles.addChain(got.opened.from, got.opened.message.body, got.opened.message.timestamp)
  const accept = bobRing.accept(got.opened.offer!, undefined, { now: NOW })
  aliceRing.screenByTag(accept.envelopes[0]!)
  return { alice, bob, aliceRing, bobRing, circles, screener, chain }
}

describe('screenAny: every step in order', () => {
  it('a session envelope is direct, a circle post is circle, a world post is world, a first contact is direct', () => {
    const { alice, aliceRing, bobRing, screener, chain } = setup()
    const session = aliceRing.seal(bobRing.identity, Uint8Array.of(1), { now: NOW }).envelopes[0]!
    const direct = screener.screenAny(session)
    expect(direct?.type).toBe('direct')
    if (direct?.type === 'direct') expect(direct.opened.via).toBe('session')

    const circle = screener.screenAny(sealCirclePost(crypto, { author: alice, chain, kind: KIND_POST, payload: encodePost({ text: 'c' }), ttlMinutes: 5, now: NOW }).envelopes[0]!)
    expect(circle?.type).toBe('circle')
    if (circle?.type === 'circle') expect(circle.opened.authorId).toBe(identityId(alice))

    const stranger = createIdentity(crypto)
    const world = screener.screenAny(worldPost(stranger, 'w'))
    expect(world?.type).toBe('world')
    if (world?.type === 'world') expect(world.opened.authorId).toBe(identityId(stranger))

    const first = createKeyring({ crypto, identity: stranger }).seal(bobRing.identity, Uint8Array.of(2), { now: NOW }).envelopes[0]!
    const contact = screener.screenAny(first, { now: NOW })
    expect(contact?.type === 'direct' && contact.opened.via).toBe('first-contact')
    expect(screener.screenAny(sealCover(crypto, 100))).toBeUndefined()
  })

  it('worldFeed false skips the world step (and can be switched at run time); contacts only still reads world posts', () => {
    const { alice } = setup()
    const off = createScreener({ keyrings: [], worldKey: KEY, crypto, worldFeed: false })
    const envelope = worldPost(alice, 'hello')
    expect(off.screenAny(envelope)).toBeUndefined()
    off.worldFeed = true
    expect(off.screenAny(envelope)?.type).toBe('world')
    const contactsOnly = createScreener({ keyrings: [], worldKey: KEY, crypto, contactsOnly: true })
    expect(contactsOnly.screenAny(worldPost(alice, 'x'))?.type).toBe('world')
    // Without a world key there is no world step at all.
    expect(createScreener({ keyrings: [] }).screenAny(worldPost(alice, 'y'))).toBeUndefined()
  })

  it('the re-screen path looks up pairwise and circle tags, never the world tag', () => {
    const { alice, screener, chain } = setup()
    expect(screener.screenAnyByTag(worldPost(alice, 'w'))).toBeUndefined()
    const circle = sealCirclePost(crypto, { author: alice, chain, kind: KIND_POST, payload: encodePost({ text: 'c' }), ttlMinutes: 5, now: NOW }).envelopes[0]!
    expect(screener.screenAnyByTag(circle)?.type).toBe('circle')
  })

  it('the pairwise API is unchanged: screen and screenByTag never return circle or world posts', () => {
    const { alice, aliceRing, bobRing, screener, chain } = setup()
    expect(screener.screen(worldPost(alice, 'w'))).toBeUndefined()
    const circle = sealCirclePost(crypto, { author: alice, chain, kind: KIND_POST, payload: encodePost({ text: 'c' }), ttlMinutes: 5, now: NOW }).envelopes[0]!
    expect(screener.screenByTag(circle)).toBeUndefined()
    expect(screener.screen(circle)).toBeUndefined()
    const session = aliceRing.seal(bobRing.identity, Uint8Array.of(1), { now: NOW }).envelopes[0]!
    const result = screener.screen(session)
    expect(result?.type).toBe('direct')
    expect(result?.keyring).toBe(bobRing)
    // The circle post was left alone by screen(): it still opens through screenAny.
    expect(screener.screenAny(circle)?.type).toBe('circle')
  })

  it('a world key without a provider is refused at creation', () => {
    expect(() => createScreener({ keyrings: [], worldKey: KEY })).toThrow(TypeError)
  })

  it('never throws, whatever the bytes', () => {
    const { screener } = setup()
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: ENVELOPE_SIZE + 2 }), fc.boolean(), (bytes, full) => {
      const input = full ? Uint8Array.from({ length: ENVELOPE_SIZE }, (_, i) => bytes[i % Math.max(1, bytes.length)] ?? 0) : bytes
      if (full) input[0] = 1
      expect(screener.screenAny(input)).toBeUndefined()
      expect(screener.screenAnyByTag(input)).toBeUndefined()
    }), { numRuns: 300 })
  })

  it('a member of a circle whose keyring also knows the author still gets circle posts as circle', () => {
    const { alice, bob, screener, chain } = setup()
    expect(publicIdentityOf(bob)).toBeDefined()
    for (let i = 0; i < 3; i++) {
      const envelope = sealCirclePost(crypto, { author: alice, chain, kind: KIND_POST, payload: encodePost({ text: `c${i}` }), ttlMinutes: 5, now: NOW }).envelopes[0]!
      expect(screener.screenAny(envelope)?.type).toBe('circle')
    }
  })
})
