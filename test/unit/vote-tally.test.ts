/**
 * Tallying anonymous votes (SPEC §15.8): one count per key image, double
 * voters (up and down under one key image) counted for neither and reported,
 * the same vote or a re-signed one counted once; and the result independent
 * of order and repetition, checked with fast-check against a simple model
 * that counts by voter (which the tally itself never sees).
 */
import fc from 'fast-check'
import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import {
  createVote, decodeVote, nativeCrypto, tallyVotes, toHex, verifyVote, voteKeyImage, voteKeyPair, type DecodedVote, type VoteChoice
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const enc = new TextEncoder()
const digest = (label: string): Uint8Array => sha256(enc.encode(label))
const groupId = digest('tally group')
const post = Uint8Array.from([...digest('post id').slice(0, 16), ...digest('post author')])
const otherPost = Uint8Array.from([...digest('other post id').slice(0, 16), ...digest('post author')])
const seeds = Array.from({ length: 18 }, (_, i) => digest(`tally member ${i}`))
const keys = seeds.map((seed) => voteKeyPair(seed, groupId).publicKey)
const admitted = new Set(keys.map(toHex))

interface Cast { readonly voter: number, readonly choice: VoteChoice, readonly vote: DecodedVote }

function cast (voter: number, choice: VoteChoice, postId = post): Cast {
  const vote = decodeVote(createVote(crypto, { groupId, postId, choice, voterSeed: seeds[voter]!, candidates: keys }))
  return { voter, choice, vote }
}

// 0, 1, 2 up (0 twice, signed twice with different rings); 3 down; 4 up then down (double); 5 down, the same bytes twice.
const five = cast(5, 'down')
const casts: Cast[] = [
  cast(0, 'up'), cast(0, 'up'), cast(1, 'up'), cast(2, 'up'), cast(3, 'down'), cast(4, 'up'), cast(4, 'down'),
  five, { ...five, vote: decodeVote(five.vote.bytes) }
]

/** The expected tally, by voter: what the key images must reproduce without knowing voters. */
function model (list: readonly Cast[]): { up: number, down: number, doubleVoters: string[] } {
  const byVoter = new Map<number, Set<VoteChoice>>()
  for (const c of list) byVoter.set(c.voter, (byVoter.get(c.voter) ?? new Set<VoteChoice>()).add(c.choice))
  let up = 0
  let down = 0
  const doubleVoters: string[] = []
  for (const [voter, choices] of byVoter) {
    if (choices.size === 2) doubleVoters.push(toHex(voteKeyImage(seeds[voter]!, groupId, post)))
    else if (choices.has('up')) up++
    else down++
  }
  return { up, down, doubleVoters: doubleVoters.sort() }
}

describe('tallyVotes', () => {
  it('every vote of the fixture verifies (the tally counts verified votes)', () => {
    for (const c of casts) expect(verifyVote(c.vote, admitted)).toBe(true)
    expect(toHex(casts[0]!.vote.keyImage)).toBe(toHex(casts[1]!.vote.keyImage))
    expect(toHex(casts[0]!.vote.challenge)).not.toBe(toHex(casts[1]!.vote.challenge))
  })

  it('counts each key image once and reports the double voter for neither side', () => {
    const tally = tallyVotes(casts.map((c) => c.vote))
    expect(tally).toEqual({ up: 3, down: 2, doubleVoters: [toHex(voteKeyImage(seeds[4]!, groupId, post))] })
    expect(tally).toEqual(model(casts))
  })

  it('the same vote twice counts once; no votes count nothing', () => {
    expect(tallyVotes([five.vote, five.vote, five.vote])).toEqual({ up: 0, down: 1, doubleVoters: [] })
    expect(tallyVotes([])).toEqual({ up: 0, down: 0, doubleVoters: [] })
  })

  it('is independent of order, repetition and subset (fast-check against the model)', () => {
    const indices = casts.map((_, i) => i)
    fc.assert(fc.property(
      fc.subarray(indices),
      fc.array(fc.nat(casts.length - 1), { maxLength: 12 }),
      fc.infiniteStream(fc.nat()),
      (subset, extra, randoms) => {
        const chosen = [...subset, ...extra.filter((i) => subset.includes(i))].map((i) => casts[i]!)
        // Two independent shuffles of the same multiset must tally alike, and like the model.
        const shuffle = (list: Cast[]): Cast[] => {
          const out = list.slice()
          const it = randoms[Symbol.iterator]()
          for (let i = out.length - 1; i > 0; i--) {
            const j = it.next().value! % (i + 1)
            ;[out[i], out[j]] = [out[j]!, out[i]!]
          }
          return out
        }
        const first = tallyVotes(shuffle(chosen).map((c) => c.vote))
        const second = tallyVotes(shuffle(chosen).reverse().map((c) => c.vote))
        expect(first).toEqual(second)
        expect(first).toEqual(model(chosen))
      }), { numRuns: 300 })
  })

  it('keeps posts apart: a member\'s vote on another post is another key image, tallied separately', () => {
    const elsewhere = cast(4, 'down', otherPost)
    expect(toHex(elsewhere.vote.keyImage)).not.toBe(toHex(casts[5]!.vote.keyImage))
    expect(tallyVotes([elsewhere.vote])).toEqual({ up: 0, down: 1, doubleVoters: [] })
    expect(() => tallyVotes([casts[0]!.vote, elsewhere.vote])).toThrow(RangeError)
  })
})
