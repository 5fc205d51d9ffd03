/**
 * Tag collisions in the circle ring (SPEC §14.4): a member of X's circle
 * holds X's chain and can hand it to us under its own name. The ring then
 * has two targets for X's tags; the signature decides, so X's posts still
 * open for us, before and after the member's epoch is dropped, and the
 * stored form of one author holds that author only.
 */
import { describe, expect, it } from 'vitest'
import {
  circleHandoff, createCircleRing, createIdentity, encodeCircleKey, encodePost, identityId, KIND_POST, nativeCrypto, newCircleChain,
  publicIdentityOf, sealCirclePost, type CircleChain, type Identity
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)

function post (author: Identity, chain: CircleChain, text: string): Uint8Array {
  return sealCirclePost(crypto, { author, chain, kind: KIND_POST, payload: encodePost({ text }), ttlMinutes: 60, now: NOW }).envelopes[0]!
}

describe('a tag several epochs watch', () => {
  const x = createIdentity(crypto)
  const m = createIdentity(crypto)

  it('X\'s post still opens after member M hands X\'s chain under M\'s name, before and after M\'s epoch is dropped', () => {
    const chain = newCircleChain(crypto)
    const ring = createCircleRing({ crypto })
    expect(ring.addChain(publicIdentityOf(x), circleHandoff(chain), NOW)).toBeDefined()
    // M copies X's chain key at X's current index, under a circle id of its own, handed as M's chain.
    const stolen = encodeCircleKey({ circleId: crypto.randomBytes(16), index: chain.index, chainKey: chain.chainKey.slice() })
    expect(ring.addChain(publicIdentityOf(m), stolen, NOW + 1)).toBeDefined()

    const first = ring.screenByTag(post(x, chain, 'one'))
    expect(first?.authorId).toBe(identityId(x))

    // M's epoch goes (M is removed, or rotates twice): X's tags stay watched.
    expect(ring.removeAuthor(identityId(m))).toBe(true)
    expect(ring.screenByTag(post(x, chain, 'two'))?.authorId).toBe(identityId(x))

    // The same through rotation: M hands the stolen chain again, then two epochs of its own push it out.
    const again = encodeCircleKey({ circleId: crypto.randomBytes(16), index: chain.index, chainKey: chain.chainKey.slice() })
    expect(ring.addChain(publicIdentityOf(m), again, NOW + 2)).toBeDefined()
    expect(ring.screenByTag(post(x, chain, 'three'))?.authorId).toBe(identityId(x))
    for (const sentAt of [NOW + 3, NOW + 4]) expect(ring.addChain(publicIdentityOf(m), circleHandoff(newCircleChain(crypto)), sentAt)).toBeDefined()
    expect(ring.screenByTag(post(x, chain, 'four'))?.authorId).toBe(identityId(x))
    // M never got a post of X as its own.
    expect(ring.authorJSON(identityId(m))?.epochs).toHaveLength(2)
  })

  it('authorJSON is that author\'s part of toJSON, and undefined for an author not held', () => {
    const ring = createCircleRing({ crypto })
    ring.addChain(publicIdentityOf(x), circleHandoff(newCircleChain(crypto)), NOW)
    ring.addChain(publicIdentityOf(m), circleHandoff(newCircleChain(crypto)), NOW)
    const all = ring.toJSON().authors
    expect(ring.authorJSON(identityId(x))).toEqual(all.find((a) => a.signingKey === identityId(x)))
    expect(ring.authorJSON(identityId(m))).toEqual(all.find((a) => a.signingKey === identityId(m)))
    expect(ring.authorJSON('00'.repeat(32))).toBeUndefined()
  })
})
