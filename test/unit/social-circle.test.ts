/**
 * Circle posts (SPEC §14.4): the author's sender-key chain, the handoff, and
 * the receiver's CircleRing: members open, others do not, a rotation shuts a
 * removed member out, used keys are gone (forward secrecy), windows grow and
 * stay bounded, a member cannot write as the author, and the state survives
 * a round trip through JSON.
 */
import { describe, expect, it } from 'vitest'
import {
  circleChainFromJSON, circleChainToJSON, circleHandoff, createCircleRing, createIdentity, createReassembler, createScreener,
  decodeCircleKey, encodePost, identityId, nativeCrypto, newCircleChain, nobleCrypto, openWorldEnvelope, publicIdentityOf,
  sealCirclePost, toHex, worldKey, KeyFormatError, ENVELOPE_SIZE, KIND_POST, MAX_CIRCLE_EPOCHS, MAX_CIRCLE_SKIPPED_KEYS,
  POST_BODY_CAPACITY, REORDER_WINDOW, TAG_LENGTH, TAG_OFFSET,
  type CircleChain, type CircleRing, type CryptoProvider, type Identity
} from '../../protocol/index.js'
import { envelopeAad, envelopeFields, envelopeWithHeader, setSealedBody } from '../../protocol/envelope.js'
import { chainStep, sessionEnvelopeKeys } from '../../protocol/session.js'
import { postSignedBytes } from '../../protocol/signed-post.js'
import { encodeInner, SIGNATURE_OFFSET } from '../../protocol/inner.js'

const native = nativeCrypto()
const noble = nobleCrypto()
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)

function post (author: Identity, chain: CircleChain, text: string, crypto: CryptoProvider = native): Uint8Array[] {
  return sealCirclePost(crypto, { author, chain, kind: KIND_POST, payload: encodePost({ text }), ttlMinutes: 60, now: NOW }).envelopes
}

function textOf (ring: CircleRing, envelope: Uint8Array): string | undefined {
  const opened = ring.screenByTag(envelope)
  if (opened === undefined) return undefined
  return new TextDecoder().decode(opened.message.body.subarray(6)) // version, flags, certLen 0, textLen: text starts at 6
}

/** A store indexed by tag, as the node's (SPEC §4.4): envelopes that did not open wait there. */
function storeOf (envelopes: Uint8Array[]): Map<string, Uint8Array> {
  return new Map(envelopes.map((e) => [toHex(e.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH)), e]))
}

/** Screens `envelope` and then, as a node does, every stored envelope whose tag the ring started watching. */
function deliver (ring: CircleRing, envelope: Uint8Array, store: Map<string, Uint8Array>, out: string[]): void {
  const queue = [envelope]
  while (queue.length > 0) {
    const next = queue.shift()!
    const opened = ring.screenByTag(next)
    if (opened === undefined) continue
    store.delete(toHex(next.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH)))
    out.push(new TextDecoder().decode(opened.message.body.subarray(6)))
    for (const tag of opened.newTags) {
      const stored = store.get(toHex(tag))
      if (stored !== undefined) queue.push(stored)
    }
  }
}

describe('author side', () => {
  it('a new chain has a random 16-byte id, a random key and index 0; the handoff is its 53 bytes', () => {
    const a = newCircleChain(native)
    const b = newCircleChain(native)
    expect(a.index).toBe(0)
    expect(toHex(a.circleId)).not.toBe(toHex(b.circleId))
    const handoff = decodeCircleKey(circleHandoff(a))
    expect(handoff).toEqual({ circleId: a.circleId, index: 0, chainKey: a.chainKey })
  })

  it('each part takes the next step of the chain: tag HMAC(CK, 0x01)[0..16], the chain moves and the old key is wiped', () => {
    const alice = createIdentity(native)
    const chain = newCircleChain(native)
    const first = chain.chainKey
    const copy = first.slice()
    const envelopes = sealCirclePost(native, { author: alice, chain, kind: KIND_POST, payload: new Uint8Array(POST_BODY_CAPACITY * 2 + 1), ttlMinutes: 5, now: NOW }).envelopes
    expect(envelopes).toHaveLength(3)
    expect(chain.index).toBe(3)
    expect(first.every((b) => b === 0)).toBe(true) // wiped in place
    let key: Uint8Array = copy
    for (const envelope of envelopes) {
      const step = chainStep(native, key)
      expect(toHex(envelope.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH))).toBe(toHex(step.tag))
      key = step.next
    }
    expect(toHex(chain.chainKey)).toBe(toHex(key))
  })

  it('the chain round trips through JSON; malformed JSON is a KeyFormatError', () => {
    const chain = newCircleChain(native)
    chain.index = 41
    expect(circleChainFromJSON(circleChainToJSON(chain))).toEqual(chain)
    expect(() => circleChainFromJSON({ ...circleChainToJSON(chain), index: -1 })).toThrow(KeyFormatError)
    expect(() => circleChainFromJSON({ ...circleChainToJSON(chain), index: 2 ** 32 })).toThrow(KeyFormatError)
    expect(() => circleChainFromJSON({ ...circleChainToJSON(chain), chainKey: 'zz' })).toThrow(KeyFormatError)
  })

  it('a refused post leaves the chain where it was', () => {
    const alice = createIdentity(native)
    const chain = newCircleChain(native)
    const before = circleChainToJSON(chain)
    expect(() => sealCirclePost(native, { author: alice, chain, kind: 0x01, payload: Uint8Array.of(1), ttlMinutes: 5 })).toThrow(RangeError)
    expect(() => sealCirclePost(native, { author: alice, chain, kind: KIND_POST, payload: Uint8Array.of(1), ttlMinutes: 0 })).toThrow(RangeError)
    expect(circleChainToJSON(chain)).toEqual(before)
  })
})

describe('receiver side', () => {
  const alice = createIdentity(native)
  const bob = createIdentity(native)

  it('a member opens the author\'s posts, with both providers on either side', () => {
    for (const [sealer, opener] of [[native, native], [native, noble], [noble, native]] as const) {
      const chain = newCircleChain(sealer)
      const ring = createCircleRing({ crypto: opener })
      const added = ring.addChain(publicIdentityOf(alice), circleHandoff(chain), NOW)
      expect(added?.newTags).toHaveLength(REORDER_WINDOW)
      expect(ring.watchedTags).toBe(REORDER_WINDOW)
      for (const text of ['one', 'two', 'three']) {
        const envelope = post(alice, chain, text, sealer)[0]!
        expect(envelope.length).toBe(ENVELOPE_SIZE)
        const opened = ring.screenByTag(envelope)!
        expect(opened.authorId).toBe(identityId(alice))
        expect(opened.circleId).toBe(toHex(chain.circleId))
        expect(new TextDecoder().decode(opened.message.body.subarray(6))).toBe(text)
        expect(opened.newTags).toHaveLength(1) // the window slid by one
      }
      expect(ring.watchedTags).toBe(REORDER_WINDOW)
    }
  })

  it('a non-member, holding only the world key, cannot open a circle post; nor can a member of another author', () => {
    const chain = newCircleChain(native)
    const envelope = post(alice, chain, 'for the circle')[0]!
    const key = worldKey(native, 'komrade-test')
    expect(openWorldEnvelope(native, key, envelope)).toBeUndefined()
    const screener = createScreener({ keyrings: [], worldKey: key, crypto: native, circles: createCircleRing({ crypto: native }) })
    expect(screener.screenAny(envelope)).toBeUndefined()
    const carolsCircle = createCircleRing({ crypto: native })
    carolsCircle.addChain(publicIdentityOf(bob), circleHandoff(newCircleChain(native)), NOW)
    expect(carolsCircle.screenByTag(envelope)).toBeUndefined()
  })

  it('a chain handed at index i opens nothing sealed before i (a new member reads from now on)', () => {
    const chain = newCircleChain(native)
    const before = post(alice, chain, 'before')[0]!
    const ring = createCircleRing({ crypto: native })
    ring.addChain(publicIdentityOf(alice), circleHandoff(chain), NOW)
    expect(ring.screenByTag(before)).toBeUndefined()
    expect(textOf(ring, post(alice, chain, 'after')[0]!)).toBe('after')
  })

  it('posts stored before the key arrived open once it does, through newTags (SPEC §4.4)', () => {
    const chain = newCircleChain(native)
    const handoff = circleHandoff(chain)
    const envelopes = Array.from({ length: 5 }, (_, i) => post(alice, chain, `early ${i}`)[0]!)
    const store = storeOf(envelopes)
    const ring = createCircleRing({ crypto: native })
    const { newTags } = ring.addChain(publicIdentityOf(alice), handoff, NOW)!
    const out: string[] = []
    for (const tag of newTags) {
      const stored = store.get(toHex(tag))
      if (stored !== undefined) deliver(ring, stored, store, out)
    }
    expect(out.sort()).toEqual(['early 0', 'early 1', 'early 2', 'early 3', 'early 4'])
  })

  it('an old-epoch chain cannot open a new-epoch post: a removed member is shut out, the others read on', () => {
    const epoch1 = newCircleChain(native)
    const removed = createCircleRing({ crypto: native })
    const stays = createCircleRing({ crypto: native })
    removed.addChain(publicIdentityOf(alice), circleHandoff(epoch1), NOW)
    stays.addChain(publicIdentityOf(alice), circleHandoff(epoch1), NOW)
    const late = post(alice, epoch1, 'late in epoch 1')[0]!
    expect(textOf(removed, post(alice, epoch1, 'epoch 1')[0]!)).toBe('epoch 1')
    // Rotation: a new epoch, handed only to the member who stays.
    const epoch2 = newCircleChain(native)
    stays.addChain(publicIdentityOf(alice), circleHandoff(epoch2), NOW + 1)
    const fresh = post(alice, epoch2, 'epoch 2')[0]!
    expect(removed.screenByTag(fresh)).toBeUndefined()
    expect(textOf(stays, fresh)).toBe('epoch 2')
    // The previous epoch still opens for those who kept it (a late envelope).
    expect(textOf(stays, late)).toBe('late in epoch 1')
  })

  it('keeps the MAX_CIRCLE_EPOCHS newest epochs by sentAt; an older handoff arriving late is refused; a repeated one changes nothing', () => {
    expect(MAX_CIRCLE_EPOCHS).toBe(2)
    const ring = createCircleRing({ crypto: native })
    const author = publicIdentityOf(alice)
    const e1 = newCircleChain(native); const e2 = newCircleChain(native); const e3 = newCircleChain(native)
    expect(ring.addChain(author, circleHandoff(e2), NOW + 2)?.newTags).toHaveLength(REORDER_WINDOW)
    expect(ring.addChain(author, circleHandoff(e3), NOW + 3)?.newTags).toHaveLength(REORDER_WINDOW)
    expect(ring.addChain(author, circleHandoff(e1), NOW + 1)).toBeUndefined() // older than both held
    expect(ring.addChain(author, circleHandoff(e3), NOW + 3)).toEqual({ newTags: [] })
    expect(ring.watchedTags).toBe(2 * REORDER_WINDOW)
    expect(ring.screenByTag(post(alice, e1, 'e1')[0]!)).toBeUndefined()
    expect(textOf(ring, post(alice, e2, 'e2')[0]!)).toBe('e2')
    const e4 = newCircleChain(native)
    ring.addChain(author, circleHandoff(e4), NOW + 4) // e2 drops out
    expect(ring.watchedTags).toBe(2 * REORDER_WINDOW)
    expect(ring.screenByTag(post(alice, e2, 'e2 again')[0]!)).toBeUndefined()
    expect(textOf(ring, post(alice, e3, 'e3')[0]!)).toBe('e3')
    expect(textOf(ring, post(alice, e4, 'e4')[0]!)).toBe('e4')
  })

  it('forward secrecy: the state after opening cannot open the same envelope again, nor can a copy of it', () => {
    const chain = newCircleChain(native)
    const ring = createCircleRing({ crypto: native })
    ring.addChain(publicIdentityOf(alice), circleHandoff(chain), NOW)
    const envelope = post(alice, chain, 'once')[0]!
    expect(textOf(ring, envelope)).toBe('once')
    expect(ring.screenByTag(envelope)).toBeUndefined()
    const stolen = createCircleRing({ crypto: native, state: ring.toJSON() })
    expect(stolen.screenByTag(envelope)).toBeUndefined()
    // The stolen state still reads what comes next (no post-compromise security, SPEC §10).
    expect(textOf(stolen, post(alice, chain, 'next')[0]!)).toBe('next')
  })

  it('the window slides past out-of-order envelopes, extends to the end of a post, and keeps skipped keys', () => {
    const chain = newCircleChain(native)
    const ring = createCircleRing({ crypto: native })
    ring.addChain(publicIdentityOf(alice), circleHandoff(chain), NOW)
    const singles = Array.from({ length: 40 }, (_, i) => post(alice, chain, `s${i}`)[0]!)
    // Beyond the initial window (32): not recognised on arrival.
    expect(ring.screenByTag(singles[35]!)).toBeUndefined()
    expect(textOf(ring, singles[20]!)).toBe('s20') // slides the window to 20 + 32
    expect(textOf(ring, singles[35]!)).toBe('s35')
    expect(textOf(ring, singles[3]!)).toBe('s3') // a skipped key, kept
    // A 100-part post: once part 0 opens, the window reaches the last part even past 32 ahead.
    const big = sealCirclePost(native, { author: alice, chain, kind: KIND_POST, payload: new Uint8Array(POST_BODY_CAPACITY * 100), ttlMinutes: 5, now: NOW }).envelopes
    expect(ring.screenByTag(big[99]!)).toBeUndefined() // far ahead, nothing of it seen yet
    const reassembler = createReassembler()
    let whole: Uint8Array | undefined
    for (const envelope of [big[0]!, ...big.slice(1).reverse()]) {
      const opened = ring.screenByTag(envelope)
      expect(opened, 'every part opens once part 0 did').toBeDefined()
      whole = reassembler.add(opened!.authorId, opened!.message) ?? whole
    }
    expect(whole?.length).toBe(POST_BODY_CAPACITY * 100)
  })

  it('skipped keys stay bounded: at most MAX_CIRCLE_SKIPPED_KEYS per epoch, oldest dropped', () => {
    const chain = newCircleChain(native)
    const ring = createCircleRing({ crypto: native })
    ring.addChain(publicIdentityOf(alice), circleHandoff(chain), NOW)
    const first = post(alice, chain, 'first skipped')[0]!
    // Open only the last step of each window (index 31, 62, ...): each jump skips 30 keys.
    const jump = REORDER_WINDOW - 1
    let last: Uint8Array | undefined
    for (let i = 1; i <= 40 * jump; i++) {
      const envelope = post(alice, chain, `n${i}`)[0]!
      if (i % jump === 0) {
        expect(ring.screenByTag(envelope)).toBeDefined()
        last = envelope
      }
    }
    expect(last).toBeDefined()
    expect(ring.watchedTags).toBeLessThanOrEqual(MAX_CIRCLE_SKIPPED_KEYS + REORDER_WINDOW)
    expect(ring.watchedTags).toBeGreaterThanOrEqual(MAX_CIRCLE_SKIPPED_KEYS)
    expect(ring.screenByTag(first)).toBeUndefined() // its key was the oldest skipped: dropped
    expect(ring.toJSON().authors[0]!.epochs[0]!.chain.receiveKeys.length).toBe(ring.watchedTags)
  })

  it('a member cannot write as the author: a forgery under the author\'s tag is refused and does not burn the step', () => {
    const chain = newCircleChain(native)
    const ring = createCircleRing({ crypto: native })
    ring.addChain(publicIdentityOf(alice), circleHandoff(chain), NOW)
    // Bob (a member) holds the same chain: he seals step 0 signed by himself, and one claiming Alice's keys.
    const bobsCopy = decodeCircleKey(circleHandoff(chain))
    const step = chainStep(native, bobsCopy.chainKey)
    const forge = (signer: Identity, claimed: Identity): Uint8Array => {
      const salt = native.randomBytes(24)
      const header = { expiryMinute: Math.floor(NOW / 60_000) + 60, salt, ephemeral: native.x25519KeyPair().publicKey, tag: step.tag }
      const inner = encodeInner({ kind: KIND_POST, timestamp: NOW, messageId: new Uint8Array(16), partIndex: 0, partCount: 1, body: encodePost({ text: 'forged' }) },
        { signingKey: claimed.signingKey, sealingKey: claimed.sealingKey, signature: new Uint8Array(64) })
      const envelope = envelopeWithHeader(header)
      inner.set(native.ed25519Sign(signer.signingSeed, postSignedBytes(envelope, inner)), SIGNATURE_OFFSET)
      const keys = sessionEnvelopeKeys(native, step.messageKey, salt)
      setSealedBody(envelope, native.aeadSeal(keys.key, keys.nonce, inner, envelopeAad(envelope)))
      return envelope
    }
    expect(ring.screenByTag(forge(bob, bob))).toBeUndefined()
    expect(ring.screenByTag(forge(bob, alice))).toBeUndefined()
    expect(textOf(ring, post(alice, chain, 'the real one')[0]!)).toBe('the real one')
  })

  it('every single-bit flip of a circle part is refused except in the work nonce, and the step survives', () => {
    const chain = newCircleChain(native)
    const ring = createCircleRing({ crypto: native })
    ring.addChain(publicIdentityOf(alice), circleHandoff(chain), NOW)
    const envelope = post(alice, chain, 'flip')[0]!
    for (let bit = 0; bit < ENVELOPE_SIZE * 8; bit++) {
      const byte = bit >> 3
      if (byte >= 5 && byte < 13) continue // the proof-of-work nonce is not sealed (SPEC §2)
      const copy = envelope.slice()
      copy[byte]! ^= 1 << (bit & 7)
      expect(ring.screenByTag(copy), `bit ${bit}`).toBeUndefined()
    }
    expect(textOf(ring, envelope)).toBe('flip')
    expect(envelopeFields(envelope).expiryMinute).toBe(Math.floor(NOW / 60_000) + 60)
  })

  it('addChain refuses malformed handoffs and bad authors without throwing; the author bound holds', () => {
    const ring = createCircleRing({ crypto: native, maxAuthors: 2 })
    const handoff = circleHandoff(newCircleChain(native))
    expect(ring.addChain(publicIdentityOf(alice), handoff.subarray(0, 52), NOW)).toBeUndefined()
    expect(ring.addChain(publicIdentityOf(alice), Uint8Array.from([2, ...handoff.subarray(1)]), NOW)).toBeUndefined()
    expect(ring.addChain({ signingKey: new Uint8Array(3), sealingKey: new Uint8Array(32) }, handoff, NOW)).toBeUndefined()
    expect(ring.addChain(publicIdentityOf(alice), handoff, -1)).toBeUndefined()
    expect(ring.addChain(null as never, handoff, NOW)).toBeUndefined()
    expect(ring.authors()).toEqual([])
    expect(ring.addChain(publicIdentityOf(alice), handoff, NOW)).toBeDefined()
    expect(ring.addChain(publicIdentityOf(bob), circleHandoff(newCircleChain(native)), NOW)).toBeDefined()
    const carol = createIdentity(native)
    expect(ring.addChain(publicIdentityOf(carol), circleHandoff(newCircleChain(native)), NOW)).toBeUndefined()
    expect(ring.authors().sort()).toEqual([identityId(alice), identityId(bob)].sort())
    expect(ring.removeAuthor(identityId(bob))).toBe(true)
    expect(ring.removeAuthor(identityId(bob))).toBe(false)
    expect(ring.watchedTags).toBe(REORDER_WINDOW)
    expect(ring.addChain(publicIdentityOf(carol), circleHandoff(newCircleChain(native)), NOW)).toBeDefined()
  })

  it('screenByTag never throws on hostile input', () => {
    const ring = createCircleRing({ crypto: native })
    ring.addChain(publicIdentityOf(alice), circleHandoff(newCircleChain(native)), NOW)
    for (const junk of [new Uint8Array(0), new Uint8Array(ENVELOPE_SIZE), new Uint8Array(100), 'x', null, undefined, {}]) {
      expect(ring.screenByTag(junk as Uint8Array)).toBeUndefined()
    }
  })

  it('the ring round trips through JSON (mid-window, two epochs) and refuses malformed state', () => {
    const ring = createCircleRing({ crypto: native })
    const e1 = newCircleChain(native)
    const e2 = newCircleChain(native)
    ring.addChain(publicIdentityOf(alice), circleHandoff(e1), NOW)
    ring.addChain(publicIdentityOf(alice), circleHandoff(e2), NOW + 1)
    ring.addChain(publicIdentityOf(bob), circleHandoff(newCircleChain(native)), NOW)
    const envelopes = Array.from({ length: 6 }, (_, i) => post(alice, e2, `m${i}`)[0]!)
    expect(textOf(ring, envelopes[4]!)).toBe('m4')
    const json = JSON.parse(JSON.stringify(ring.toJSON()))
    const restored = createCircleRing({ crypto: native, state: json })
    expect(restored.watchedTags).toBe(ring.watchedTags)
    expect(restored.toJSON()).toEqual(ring.toJSON())
    expect(textOf(restored, envelopes[1]!)).toBe('m1') // a skipped key survived
    expect(textOf(restored, post(alice, e1, 'old epoch')[0]!)).toBe('old epoch')

    const bad = (mutate: (j: typeof json) => void): void => {
      const copy = JSON.parse(JSON.stringify(json))
      mutate(copy)
      expect(() => createCircleRing({ crypto: native, state: copy })).toThrow(KeyFormatError)
    }
    bad((j) => { j.version = 2 })
    bad((j) => { j.authors[0].signingKey = 'xx' })
    bad((j) => { j.authors.push(j.authors[0]) })
    bad((j) => { j.authors[0].epochs.push(j.authors[0].epochs[0]) })
    bad((j) => { j.authors[0].epochs = [] })
    bad((j) => { j.authors[0].epochs[0].chain.receiveNext = 1e9 })
    bad((j) => { j.authors[0].epochs[0].chain.receiveHighest = -5 })
    bad((j) => { j.authors[0].epochs[0].sentAt = 'now' })
  })
})
