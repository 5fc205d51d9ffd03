/**
 * Groups' keys and wire formats (SPEC §15.1-§15.6): the derivations are the
 * ones written down, a member's chain works with the circle code unchanged,
 * join requests, ops and welcomes round trip, and every decoder refuses each
 * broken rule with its reason (never anything but GroupFormatError).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  anonymousChannelKey, createCircleRing, createFoundOp, createGroupOp, createIdentity, createJoinRequest, createRekeyOp,
  decodeCircleKey, decodeGroupOp, decodeJoinRequest, decodeWelcome, encodeConstitution, encodePost, encodeWelcome,
  memberChainHandoff, memberSendChain, nativeCrypto, newEpochSecret, openRekeyEntry, publicIdentityOf, quorumOf, rekeyCheck,
  sealCirclePost, toHex, voteKeyPair, GroupFormatError, KIND_POST, MAX_GROUP_MEMBERS, MAX_GROUP_OP_LENGTH, MAX_OP_PARENTS,
  MAX_WELCOME_OPS, type Constitution, type GroupFormatReason, type Identity, type RekeyOp
} from '../../protocol/index.js'
import { concatBytes, utf8, writeUint32BE } from '../../protocol/bytes.js'
import { signGroupOp } from '../../protocol/group-ops.js'

const crypto = nativeCrypto()
const NOW = Date.UTC(2032, 2, 3, 4, 5, 6)
const JOIN_LABEL = utf8('komrade/v1/group/join')

function reasonOf (run: () => unknown): GroupFormatReason | 'no error' | string {
  try {
    run()
    return 'no error'
  } catch (error) {
    if (error instanceof GroupFormatError) return error.reason
    return `other: ${(error as Error).name}`
  }
}

/** Re-signs a join request's bytes (all but the last 64) as `candidate`, so only the rule under test is broken. */
function resignJoin (candidate: Identity, unsigned: Uint8Array): Uint8Array {
  return concatBytes(unsigned, crypto.ed25519Sign(candidate.signingSeed, concatBytes(JOIN_LABEL, unsigned)))
}

function u16 (value: number): Uint8Array { return Uint8Array.of(value >> 8, value & 0xff) }
function u32 (value: number): Uint8Array { const out = new Uint8Array(4); writeUint32BE(out, 0, value); return out }
function u64 (value: number): Uint8Array { return concatBytes(u32(Math.floor(value / 2 ** 32)), u32(value >>> 0)) }

/** A fresh vote key: a canonical ristretto255 point, as join requests must carry. */
function newVoteKey (groupId: Uint8Array): Uint8Array { return voteKeyPair(crypto.randomBytes(32), groupId).publicKey }

function setup (): { founder: Identity, group: Identity, groupId: Uint8Array, candidate: Identity, voteKey: Uint8Array } {
  const group = createIdentity(crypto)
  return { founder: createIdentity(crypto), group, groupId: group.signingKey, candidate: createIdentity(crypto), voteKey: newVoteKey(group.signingKey) }
}

/** Some parents: opIds need not exist for the codec (the fold checks them). */
const P1 = new Uint8Array(32).fill(1)
const P2 = new Uint8Array(32).fill(2)

/** An op's bytes laid out by hand and signed by `author`: parents exactly as given (unsorted, too many...). */
function rawOp (author: Identity, groupId: Uint8Array, type: number, lamport: number, parents: Uint8Array[], body: Uint8Array): Uint8Array {
  const unsigned = concatBytes(Uint8Array.of(1, type), groupId, author.signingKey, u32(lamport), Uint8Array.of(parents.length), ...parents, u64(NOW), u16(body.length), body)
  return concatBytes(unsigned, crypto.ed25519Sign(author.signingSeed, concatBytes(utf8('komrade/v1/group/op'), unsigned)))
}

describe('group keys (SPEC §15.1)', () => {
  it('an epoch secret is 32 fresh random bytes', () => {
    const a = newEpochSecret(crypto)
    expect(a).toHaveLength(32)
    expect(toHex(a)).not.toBe(toHex(newEpochSecret(crypto)))
  })

  it("a member's chain is CK_0 = HMAC(ES, chain label || ed), circleId = HMAC(ES, chain-id label || ed)[0..16], index 0", () => {
    const es = newEpochSecret(crypto)
    const member = createIdentity(crypto)
    const handoff = decodeCircleKey(memberChainHandoff(crypto, es, member.signingKey))
    const ck0 = crypto.hmacSha256(es, concatBytes(utf8('komrade/v1/group/chain'), member.signingKey))
    const circleId = crypto.hmacSha256(es, concatBytes(utf8('komrade/v1/group/chain-id'), member.signingKey)).slice(0, 16)
    expect(toHex(handoff.chainKey)).toBe(toHex(ck0))
    expect(toHex(handoff.circleId)).toBe(toHex(circleId))
    expect(handoff.index).toBe(0)
    const chain = memberSendChain(crypto, es, member.signingKey)
    expect({ circleId: toHex(chain.circleId), chainKey: toHex(chain.chainKey), index: chain.index })
      .toEqual({ circleId: toHex(circleId), chainKey: toHex(ck0), index: 0 })
    // Another member, or another epoch, gets another chain.
    expect(toHex(memberSendChain(crypto, es, createIdentity(crypto).signingKey).chainKey)).not.toBe(toHex(ck0))
    expect(toHex(memberSendChain(crypto, newEpochSecret(crypto), member.signingKey).chainKey)).not.toBe(toHex(ck0))
  })

  it('the anonymous channel key and the rekey check are HMACs of the epoch secret with their labels', () => {
    const es = newEpochSecret(crypto)
    expect(toHex(anonymousChannelKey(crypto, es))).toBe(toHex(crypto.hmacSha256(es, utf8('komrade/v1/group/anonymous'))))
    expect(toHex(rekeyCheck(crypto, es))).toBe(toHex(crypto.hmacSha256(es, utf8('komrade/v1/group/rekey-check'))))
    expect(() => anonymousChannelKey(crypto, new Uint8Array(31))).toThrow(RangeError)
  })

  it("a member's envelopes open in a CircleRing fed with the derived handoff; another member signing on that chain is refused", () => {
    const es = newEpochSecret(crypto)
    const alice = createIdentity(crypto)
    const mallory = createIdentity(crypto)
    const ring = createCircleRing({ crypto })
    expect(ring.addChain(publicIdentityOf(alice), memberChainHandoff(crypto, es, alice.signingKey), 0)?.newTags).toHaveLength(32)
    // Mallory, a member, derives Alice's chain too, and seals on its first step under her own signature.
    const forged = sealCirclePost(crypto, { author: mallory, chain: memberSendChain(crypto, es, alice.signingKey), kind: KIND_POST, payload: encodePost({ text: 'forged' }), ttlMinutes: 60, now: NOW })
    expect(ring.screenByTag(forged.envelopes[0]!)).toBeUndefined()
    const real = sealCirclePost(crypto, { author: alice, chain: memberSendChain(crypto, es, alice.signingKey), kind: KIND_POST, payload: encodePost({ text: 'hello' }), ttlMinutes: 60, now: NOW })
    const opened = ring.screenByTag(real.envelopes[0]!)
    expect(opened?.authorId).toBe(toHex(alice.signingKey)) // the forgery did not consume the step
  })
})

describe('constitution and quorum (SPEC §15.4)', () => {
  it('encodes as 1|n or 2|percent|min and refuses out-of-range values', () => {
    expect([...encodeConstitution({ type: 'fixed', n: 3 })]).toEqual([1, 3])
    expect([...encodeConstitution({ type: 'growing', percent: 60, min: 2 })]).toEqual([2, 60, 2])
    const bad: Constitution[] = [
      { type: 'fixed', n: 0 }, { type: 'fixed', n: 256 }, { type: 'fixed', n: 1.5 }, { type: 'growing', percent: 0, min: 1 },
      { type: 'growing', percent: 101, min: 1 }, { type: 'growing', percent: 50, min: 0 }, { type: 'other' } as unknown as Constitution
    ]
    for (const c of bad) expect(reasonOf(() => encodeConstitution(c))).toBe('bad-constitution')
  })

  it('quorum: fixed n or max(min, ceil(percent × members / 100)), capped by the member count', () => {
    expect(quorumOf({ type: 'fixed', n: 3 }, 1)).toBe(1)
    expect(quorumOf({ type: 'fixed', n: 3 }, 2)).toBe(2)
    expect(quorumOf({ type: 'fixed', n: 3 }, 10)).toBe(3)
    const growing: Constitution = { type: 'growing', percent: 50, min: 2 }
    expect([1, 2, 3, 4, 5, 6, 7, 10].map((n) => quorumOf(growing, n))).toEqual([1, 2, 2, 2, 3, 3, 4, 5])
  })
})

describe('join requests (SPEC §15.2)', () => {
  it('round trip: 203 bytes plus the note, every field back, signature checked', () => {
    const { groupId, candidate, voteKey } = setup()
    const bytes = createJoinRequest(crypto, { identity: candidate, groupId, voteKey, note: 'hi, Bob sent me 🌹', now: NOW })
    expect(bytes.length).toBe(203 + utf8('hi, Bob sent me 🌹').length)
    const request = decodeJoinRequest(crypto, bytes)
    expect(toHex(request.groupId)).toBe(toHex(groupId))
    expect(request.candidateId).toBe(toHex(candidate.signingKey))
    expect(toHex(request.candidate.sealingKey)).toBe(toHex(candidate.sealingKey))
    expect(toHex(request.voteKey)).toBe(toHex(voteKey))
    expect(request.timestamp).toBe(NOW)
    expect(request.note).toBe('hi, Bob sent me 🌹')
    expect(toHex(request.bytes)).toBe(toHex(bytes))
    expect(crypto.ed25519Verify(candidate.signingKey, concatBytes(JOIN_LABEL, bytes.subarray(0, bytes.length - 64)), bytes.subarray(bytes.length - 64))).toBe(true)
  })

  it('the note is at most 280 code points (an emoji is one), refused on both sides', () => {
    const { groupId, candidate, voteKey } = setup()
    expect(decodeJoinRequest(crypto, createJoinRequest(crypto, { identity: candidate, groupId, voteKey, note: '🌹'.repeat(280), now: NOW })).note).toBe('🌹'.repeat(280))
    expect(reasonOf(() => createJoinRequest(crypto, { identity: candidate, groupId, voteKey, note: 'a'.repeat(281), now: NOW }))).toBe('note-too-long')
    const note = utf8('a'.repeat(281))
    const unsigned = concatBytes(Uint8Array.of(1), groupId, candidate.signingKey, candidate.sealingKey, voteKey, u64(NOW), u16(note.length), note)
    expect(reasonOf(() => decodeJoinRequest(crypto, resignJoin(candidate, unsigned)))).toBe('note-too-long')
  })

  it('refuses each broken rule with its reason', () => {
    const { groupId, candidate, voteKey } = setup()
    const good = createJoinRequest(crypto, { identity: candidate, groupId, voteKey, note: 'x', now: NOW })
    const body = good.subarray(0, good.length - 64)
    const withNote = (note: Uint8Array, version = 1, time = NOW): Uint8Array =>
      concatBytes(Uint8Array.of(version), groupId, candidate.signingKey, candidate.sealingKey, voteKey, u64(time), u16(note.length), note)
    const tampered = good.slice()
    tampered[5] = (tampered[5] as number) ^ 1
    const cases: Array<[Uint8Array, GroupFormatReason]> = [
      [good.subarray(0, good.length - 1), 'truncated'],
      [new Uint8Array(0), 'truncated'],
      [concatBytes(good, Uint8Array.of(0)), 'trailing-bytes'],
      [resignJoin(candidate, withNote(utf8('x'), 2)), 'unknown-version'],
      [resignJoin(candidate, withNote(Uint8Array.of(0xc0, 0x80))), 'not-utf8'], // overlong NUL
      [resignJoin(candidate, withNote(Uint8Array.of(0xed, 0xa0, 0x80))), 'not-utf8'], // a surrogate
      [resignJoin(candidate, withNote(utf8('x'), 1, 2 ** 53)), 'bad-time'],
      [tampered, 'bad-signature'],
      [resignJoin(createIdentity(crypto), body), 'bad-signature'], // signed by someone else than the candidate it names
      [new Uint8Array(1324), 'too-long'],
      // A vote key that is not a canonical ristretto255 point (2^256 - 1 is above the field's modulus).
      [resignJoin(candidate, concatBytes(Uint8Array.of(1), groupId, candidate.signingKey, candidate.sealingKey, new Uint8Array(32).fill(0xff), u64(NOW), u16(0))), 'bad-vote-key']
    ]
    for (const [bytes, reason] of cases) expect(reasonOf(() => decodeJoinRequest(crypto, bytes))).toBe(reason)
    expect(reasonOf(() => createJoinRequest(crypto, { identity: candidate, groupId, voteKey: new Uint8Array(32).fill(0xff), now: NOW }))).toBe('bad-vote-key')
    expect(reasonOf(() => decodeJoinRequest(crypto, 'nope' as unknown as Uint8Array))).toBe('truncated')
  })
})

describe('ops (SPEC §15.3)', () => {
  it('found: header, body and both signatures; lamport 0, no parents, check_0 of the epoch secret it returns; every field back', () => {
    const { founder, group, groupId } = setup()
    const founderVoteKey = newVoteKey(groupId)
    const { op: bytes, epochSecret } = createFoundOp(crypto, { founder, group, name: 'Tenants_Union', founderVoteKey, constitution: { type: 'growing', percent: 50, min: 2 }, now: NOW })
    expect(bytes[0]).toBe(1)
    expect(bytes[1]).toBe(1)
    expect(toHex(bytes.subarray(2, 34))).toBe(toHex(groupId))
    expect(toHex(bytes.subarray(34, 66))).toBe(toHex(founder.signingKey))
    const op = decodeGroupOp(crypto, bytes)
    expect(op.type).toBe('found')
    if (op.type !== 'found') return
    expect(op.id).toBe(toHex(crypto.sha256(bytes)))
    expect(op.lamport).toBe(0)
    expect(op.timestamp).toBe(NOW)
    expect(op.name).toBe('tenants_union')
    expect(toHex(op.groupSealingKey)).toBe(toHex(group.sealingKey))
    expect(toHex(op.founder.sealingKey)).toBe(toHex(founder.sealingKey))
    expect(toHex(op.founderVoteKey)).toBe(toHex(founderVoteKey))
    expect(op.constitution).toEqual({ type: 'growing', percent: 50, min: 2 })
    expect(op.parents).toEqual([])
    expect(bytes[70]).toBe(0) // parent count
    expect(epochSecret).toHaveLength(32)
    expect(toHex(op.epochCheck)).toBe(toHex(rekeyCheck(crypto, epochSecret)))
    expect(bytes.length).toBe(81 + 1 + 13 + 96 + 32 + 3 + 64 + 64)
  })

  it('vouch, propose (amend, remove), vote and leave round trip', () => {
    const { founder, groupId, candidate, voteKey } = setup()
    const request = createJoinRequest(crypto, { identity: candidate, groupId, voteKey, now: NOW })
    // Parents in any order, as bytes or hex: written strictly ascending.
    const vouchBytes = createGroupOp(crypto, { author: founder, groupId, parents: [toHex(P2), P1], lamport: 1, now: NOW, op: { type: 'vouch', request } })
    expect(toHex(vouchBytes.subarray(66, 70 + 1 + 64))).toBe(toHex(concatBytes(u32(1), Uint8Array.of(2), P1, P2)))
    const vouch = decodeGroupOp(crypto, vouchBytes)
    expect(vouch.type === 'vouch' && vouch.request.candidateId).toBe(toHex(candidate.signingKey))
    expect(vouch.lamport).toBe(1)
    expect(vouch.parentIds).toEqual([toHex(P1), toHex(P2)])
    expect(vouch.authorId).toBe(toHex(founder.signingKey))

    const amend = decodeGroupOp(crypto, createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 2, now: NOW, op: { type: 'propose', amend: { type: 'fixed', n: 2 }, reason: 'more care' } }))
    expect(amend.type === 'propose' && { amend: amend.amend, remove: amend.remove, reason: amend.reason }).toEqual({ amend: { type: 'fixed', n: 2 }, remove: undefined, reason: 'more care' })
    const remove = decodeGroupOp(crypto, createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 3, now: NOW, op: { type: 'propose', remove: candidate.signingKey } }))
    expect(remove.type === 'propose' && toHex(remove.remove!)).toBe(toHex(candidate.signingKey))
    expect(remove.type === 'propose' && remove.reason).toBe('')

    const vote = decodeGroupOp(crypto, createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 4, now: NOW, op: { type: 'vote', proposalId: amend.id, choice: 'no' } }))
    expect(vote.type === 'vote' && { id: toHex(vote.proposalId), choice: vote.choice }).toEqual({ id: amend.id, choice: 'no' })
    const leave = createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 5, now: NOW, op: { type: 'leave' } })
    expect(leave.length).toBe(81 + 32 + 64)
    expect(decodeGroupOp(crypto, leave).type).toBe('leave')
  })

  it('creators refuse what decoders would: another group, a proposal that is not exactly one thing, a long reason', () => {
    const { founder, groupId, candidate, voteKey } = setup()
    const other = createJoinRequest(crypto, { identity: candidate, groupId: crypto.randomBytes(32), voteKey, now: NOW })
    expect(reasonOf(() => createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 1, op: { type: 'vouch', request: other } }))).toBe('wrong-group')
    expect(reasonOf(() => createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 1, op: { type: 'propose' } }))).toBe('bad-proposal')
    expect(reasonOf(() => createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 1, op: { type: 'propose', amend: { type: 'fixed', n: 1 }, remove: candidate.signingKey } }))).toBe('bad-proposal')
    expect(reasonOf(() => createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 1, op: { type: 'propose', amend: { type: 'fixed', n: 1 }, reason: 'é'.repeat(281) } }))).toBe('note-too-long')
    expect(() => createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 0, op: { type: 'leave' } })).toThrow(RangeError)
    expect(() => createGroupOp(crypto, { author: founder, groupId, parents: [], lamport: 1, op: { type: 'leave' } })).toThrow(RangeError)
    expect(() => createGroupOp(crypto, { author: founder, groupId, parents: [P1, P1], lamport: 1, op: { type: 'leave' } })).toThrow(RangeError)
    const many = Array.from({ length: MAX_OP_PARENTS + 1 }, (_, i) => new Uint8Array(32).fill(i))
    expect(() => createGroupOp(crypto, { author: founder, groupId, parents: many, lamport: 1, op: { type: 'leave' } })).toThrow(RangeError)
  })

  it('refuses each broken rule with its reason', () => {
    const { founder, group, groupId, candidate, voteKey } = setup()
    const sign = (type: Parameters<typeof signGroupOp>[1]['type'], body: Uint8Array, lamport = 1, author: Identity = founder): Uint8Array =>
      signGroupOp(crypto, { author, groupId, type, lamport, parents: [P1], body, now: NOW })
    const found = createFoundOp(crypto, { founder, group, name: 'union', founderVoteKey: voteKey, now: NOW }).op
    const foundBody = found.subarray(81, found.length - 64)
    const leave = sign('leave', new Uint8Array(0))
    const withType = (bytes: Uint8Array, type: number): Uint8Array => {
      const copy = bytes.slice(0, bytes.length - 64)
      copy[1] = type
      return concatBytes(copy, crypto.ed25519Sign(founder.signingSeed, concatBytes(utf8('komrade/v1/group/op'), copy)))
    }
    const tampered = leave.slice()
    tampered[110] = (tampered[110] as number) ^ 1 // the timestamp's last byte (after one parent)
    // A found op whose group signature is made by another key (the author's signature is fine).
    const foreignGroup = signGroupOp(crypto, { author: founder, groupId, type: 'found', lamport: 0, parents: [], body: foundBody, now: NOW, groupSigner: createIdentity(crypto) })
    const name = (text: string): Uint8Array => concatBytes(Uint8Array.of(text.length), utf8(text))
    const foundWith = (nameBytes: Uint8Array, constitution: Uint8Array): Uint8Array => signGroupOp(crypto, {
      author: founder, groupId, type: 'found', lamport: 0, parents: [], now: NOW, groupSigner: group,
      body: concatBytes(nameBytes, group.sealingKey, founder.sealingKey, voteKey, new Uint8Array(32), constitution, new Uint8Array(64))
    })
    const request = createJoinRequest(crypto, { identity: candidate, groupId, voteKey, now: NOW })
    const foreignRequest = createJoinRequest(crypto, { identity: candidate, groupId: crypto.randomBytes(32), voteKey, now: NOW })
    const badRequest = request.slice()
    badRequest[100] = (badRequest[100] as number) ^ 1
    const entry = (byte: number): Uint8Array => concatBytes(new Uint8Array(32).fill(byte), new Uint8Array(48))
    const rekeyBody = (epoch: number, count: number, entries: Uint8Array[]): Uint8Array =>
      concatBytes(u32(epoch), new Uint8Array(32).fill(9), new Uint8Array(32), u16(count), ...entries)
    const reason = utf8('r')
    const cases: Array<[string, Uint8Array, GroupFormatReason]> = [
      ['empty', new Uint8Array(0), 'truncated'],
      ['cut', leave.subarray(0, leave.length - 1), 'truncated'],
      ['trailing', concatBytes(leave, Uint8Array.of(0)), 'trailing-bytes'],
      ['version', (() => { const c = leave.slice(0, 113); c[0] = 2; return concatBytes(c, crypto.ed25519Sign(founder.signingSeed, concatBytes(utf8('komrade/v1/group/op'), c))) })(), 'unknown-version'],
      ['type 0', withType(leave, 0), 'unknown-type'],
      ['type 7', withType(leave, 7), 'unknown-type'],
      ['huge', new Uint8Array(MAX_GROUP_OP_LENGTH + 1), 'too-long'],
      ['tampered', tampered, 'bad-signature'],
      ['other signer', (() => { const c = leave.slice(0, 113); return concatBytes(c, crypto.ed25519Sign(candidate.signingSeed, concatBytes(utf8('komrade/v1/group/op'), c))) })(), 'bad-signature'],
      ['group signature', foreignGroup, 'bad-group-signature'],
      ['name charset', foundWith(name('Bad Name'), Uint8Array.of(1, 1)), 'bad-name'],
      ['name length', foundWith(name('ab'), Uint8Array.of(1, 1)), 'bad-name'],
      ['constitution n 0', foundWith(name('union'), Uint8Array.of(1, 0)), 'bad-constitution'],
      ['constitution 101%', foundWith(name('union'), Uint8Array.of(2, 101, 1)), 'bad-constitution'],
      ['constitution type', foundWith(name('union'), Uint8Array.of(3, 1)), 'bad-constitution'],
      ['founder vote key', signGroupOp(crypto, {
        author: founder, groupId, type: 'found', lamport: 0, parents: [], now: NOW, groupSigner: group,
        body: concatBytes(name('union'), group.sealingKey, founder.sealingKey, new Uint8Array(32).fill(0xff), new Uint8Array(32), Uint8Array.of(1, 1), new Uint8Array(64))
      }), 'bad-vote-key'],
      ['found lamport 1', signGroupOp(crypto, { author: founder, groupId, type: 'found', lamport: 1, parents: [], body: foundBody, now: NOW, groupSigner: group }), 'bad-lamport'],
      ['vouch lamport 0', sign('vouch', request, 0), 'bad-lamport'],
      ['found with a parent', signGroupOp(crypto, { author: founder, groupId, type: 'found', lamport: 0, parents: [P1], body: foundBody, now: NOW, groupSigner: group }), 'bad-parents'],
      ['leave without parents', rawOp(founder, groupId, 6, 1, [], new Uint8Array(0)), 'bad-parents'],
      ['parents unsorted', rawOp(founder, groupId, 6, 1, [P2, P1], new Uint8Array(0)), 'bad-parents'],
      ['parent twice', rawOp(founder, groupId, 6, 1, [P1, P1], new Uint8Array(0)), 'bad-parents'],
      ['17 parents', rawOp(founder, groupId, 6, 1, Array.from({ length: 17 }, (_, i) => new Uint8Array(32).fill(i)), new Uint8Array(0)), 'bad-parents'],
      ['vouch for another group', sign('vouch', foreignRequest), 'wrong-group'],
      ['vouch, request forged', sign('vouch', badRequest), 'bad-signature'],
      ['proposal type', sign('propose', concatBytes(Uint8Array.of(3), u16(0))), 'bad-proposal'],
      ['proposal reason', sign('propose', concatBytes(Uint8Array.of(2), candidate.signingKey, u16(1121), new Uint8Array(1121).fill(0x61))), 'note-too-long'],
      ['proposal reason utf8', sign('propose', concatBytes(Uint8Array.of(2), candidate.signingKey, u16(1), Uint8Array.of(0xff))), 'not-utf8'],
      ['proposal trailing', sign('propose', concatBytes(Uint8Array.of(1, 1, 1), u16(1), reason, Uint8Array.of(0))), 'trailing-bytes'],
      ['vote choice', sign('vote', concatBytes(new Uint8Array(32), Uint8Array.of(3))), 'bad-choice'],
      ['vote short', sign('vote', new Uint8Array(32)), 'truncated'],
      ['leave body', sign('leave', Uint8Array.of(0)), 'trailing-bytes'],
      ['rekey epoch 0', sign('rekey', rekeyBody(0, 1, [entry(1)])), 'bad-epoch'],
      ['rekey no entry', sign('rekey', rekeyBody(1, 0, [])), 'bad-entries'],
      ['rekey too many', sign('rekey', rekeyBody(1, MAX_GROUP_MEMBERS + 1, [])), 'bad-entries'],
      ['rekey unsorted', sign('rekey', rekeyBody(1, 2, [entry(2), entry(1)])), 'bad-entries'],
      ['rekey twice', sign('rekey', rekeyBody(1, 2, [entry(1), entry(1)])), 'bad-entries'],
      ['rekey short', sign('rekey', rekeyBody(1, 2, [entry(1)])), 'truncated']
    ]
    for (const [label, bytes, wanted] of cases) expect(`${label}: ${reasonOf(() => decodeGroupOp(crypto, bytes))}`).toBe(`${label}: ${wanted}`)
    // The valid neighbours of those cases decode.
    expect(decodeGroupOp(crypto, sign('rekey', rekeyBody(1, 2, [entry(1), entry(2)]))).type).toBe('rekey')
    expect(decodeGroupOp(crypto, foundWith(name('union'), Uint8Array.of(2, 100, 255))).type).toBe('found')
    expect(decodeGroupOp(crypto, rawOp(founder, groupId, 6, 1, Array.from({ length: 16 }, (_, i) => new Uint8Array(32).fill(i)), new Uint8Array(0))).parents).toHaveLength(16)
  })

  it('never throws anything but GroupFormatError on mutated or random bytes', () => {
    const { founder, groupId, candidate, voteKey } = setup()
    const request = createJoinRequest(crypto, { identity: candidate, groupId, voteKey, note: 'n', now: NOW })
    const valid = createGroupOp(crypto, { author: founder, groupId, parents: [P1], lamport: 1, op: { type: 'vouch', request }, now: NOW })
    fc.assert(fc.property(fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => { const c = valid.slice(); c[at] = (c[at] as number) ^ xor; return c }),
      fc.nat(valid.length - 1).map((cut) => valid.subarray(0, cut))
    ), (bytes) => {
      const reason = reasonOf(() => decodeGroupOp(crypto, bytes))
      expect(reason.startsWith('other')).toBe(false)
      expect(reason).not.toBe('no error')
    }), { numRuns: 300 })
  })
})

describe('rekey entries (SPEC §15.5)', () => {
  it("each member opens its entry to the same secret; an outsider has none; the sealing follows the spec's HKDF", () => {
    const { groupId } = setup()
    const members = [createIdentity(crypto), createIdentity(crypto), createIdentity(crypto)]
    const { op, secret } = createRekeyOp(crypto, { author: members[0]!, groupId, parents: [P1], lamport: 7, newEpoch: 3, members: members.map(publicIdentityOf), now: NOW })
    const decoded = decodeGroupOp(crypto, op) as RekeyOp
    expect(decoded.newEpoch).toBe(3)
    expect(toHex(decoded.check)).toBe(toHex(rekeyCheck(crypto, secret)))
    expect(decoded.entries.map((e) => toHex(e.member))).toEqual(members.map((m) => toHex(m.signingKey)).sort())
    for (const m of members) expect(toHex(openRekeyEntry(crypto, decoded, m)!)).toBe(toHex(secret))
    expect(openRekeyEntry(crypto, decoded, createIdentity(crypto))).toBeUndefined()
    // By hand, from the spec: (k || nonce) = HKDF(X25519(x_m, eph), author || u32(epoch), "komrade/v1/group/rekey" || ed_m, 44).
    const m = members[1]!
    const shared = crypto.x25519(m.sealingSecret, decoded.ephemeralKey)!
    const okm = crypto.hkdfSha256(shared, concatBytes(members[0]!.signingKey, u32(3)), concatBytes(utf8('komrade/v1/group/rekey'), m.signingKey), 44)
    const entry = decoded.entries.find((e) => toHex(e.member) === toHex(m.signingKey))!
    expect(toHex(crypto.aeadOpen(okm.slice(0, 32), okm.slice(32, 44), entry.sealed, new Uint8Array(0))!)).toBe(toHex(secret))
  })

  it('refuses members named twice and an empty or oversized member list', () => {
    const { groupId } = setup()
    const a = createIdentity(crypto)
    expect(() => createRekeyOp(crypto, { author: a, groupId, parents: [P1], lamport: 1, newEpoch: 1, members: [a, a] })).toThrow(RangeError)
    expect(() => createRekeyOp(crypto, { author: a, groupId, parents: [P1], lamport: 1, newEpoch: 1, members: [] })).toThrow(RangeError)
    expect(() => createRekeyOp(crypto, { author: a, groupId, parents: [P1], lamport: 1, newEpoch: 0, members: [a] })).toThrow(RangeError)
    expect(() => createRekeyOp(crypto, { author: a, groupId, parents: [], lamport: 1, newEpoch: 1, members: [a] })).toThrow(RangeError)
  })
})

describe('welcome (SPEC §15.6)', () => {
  const genesis = crypto.randomBytes(32)
  const ops = [crypto.randomBytes(100), crypto.randomBytes(3)]

  it('round trips with and without the previous epoch secret', () => {
    const current = newEpochSecret(crypto)
    const previous = newEpochSecret(crypto)
    const w = decodeWelcome(encodeWelcome({ genesis, epoch: 4, epochSecret: current, previousEpochSecret: previous, ops }))
    expect(toHex(w.genesis)).toBe(toHex(genesis))
    expect(w.epoch).toBe(4)
    expect(toHex(w.epochSecret)).toBe(toHex(current))
    expect(toHex(w.previousEpochSecret!)).toBe(toHex(previous))
    expect(w.ops.map(toHex)).toEqual(ops.map(toHex))
    const first = encodeWelcome({ genesis: toHex(genesis), epoch: 0, epochSecret: current, ops: [] })
    expect(first.length).toBe(1 + 32 + 4 + 32 + 1 + 4)
    expect(toHex(first.subarray(1, 33))).toBe(toHex(genesis)) // no group secret anywhere: the genesis follows the version
    const decoded = decodeWelcome(first)
    expect(decoded.previousEpochSecret).toBeUndefined()
    expect(decoded.ops).toEqual([])
  })

  it('refuses each broken rule with its reason', () => {
    const es = newEpochSecret(crypto)
    const head = (epoch: number, previous: number, ...rest: Uint8Array[]): Uint8Array =>
      concatBytes(Uint8Array.of(1), genesis, u32(epoch), es, Uint8Array.of(previous), ...rest)
    const good = encodeWelcome({ genesis, epoch: 1, epochSecret: es, ops })
    const cases: Array<[Uint8Array, GroupFormatReason]> = [
      [good.subarray(0, good.length - 1), 'truncated'],
      [concatBytes(good, Uint8Array.of(0)), 'trailing-bytes'],
      [concatBytes(Uint8Array.of(2), good.subarray(1)), 'unknown-version'],
      [head(0, 1, es, u32(0)), 'bad-previous'],
      [head(1, 2, u32(0)), 'bad-previous'],
      [head(1, 0, u32(MAX_WELCOME_OPS + 1)), 'too-many-ops'],
      [head(1, 0, u32(1), u32(0)), 'too-long'],
      [head(1, 0, u32(1), u32(MAX_GROUP_OP_LENGTH + 1)), 'too-long'],
      [head(1, 0, u32(2), u32(1), Uint8Array.of(7)), 'truncated']
    ]
    for (const [bytes, reason] of cases) expect(reasonOf(() => decodeWelcome(bytes))).toBe(reason)
    expect(reasonOf(() => encodeWelcome({ genesis, epoch: 0, epochSecret: es, previousEpochSecret: es, ops }))).toBe('bad-previous')
    expect(reasonOf(() => encodeWelcome({ genesis, epoch: 0, epochSecret: es, ops: new Array(MAX_WELCOME_OPS + 1).fill(Uint8Array.of(1)) }))).toBe('too-many-ops')
  })
})
