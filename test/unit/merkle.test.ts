/**
 * The registry log's Merkle tree (SPEC §13.1): the published Certificate
 * Transparency vectors, a naive recursive RFC 6962 reference written here,
 * random sizes, tampering, hostile input to the verifiers, and the memory of a
 * million-leaf tree.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { concatBytes, fromHex, toHex } from '../../protocol/bytes.js'
import { nativeCrypto } from '../../protocol/crypto-native.js'
import { nobleCrypto } from '../../protocol/crypto-noble.js'
import type { CryptoProvider } from '../../protocol/crypto-provider.js'
import {
  createMerkleTree, MERKLE_HASH_LENGTH, merkleLeafHash, merkleNodeHash, merkleRoot, verifyConsistency, verifyInclusion
} from '../../protocol/merkle.js'
import vectors from '../vectors/merkle-ct.json' with { type: 'json' }

const native = nativeCrypto()

// ---------------------------------------------------------------------------
// Reference: RFC 9162 §2.1 written as the recursive definitions, slow and plain.

function split (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

function refLeaf (crypto: CryptoProvider, entry: Uint8Array): Uint8Array {
  return crypto.sha256(concatBytes(Uint8Array.of(0), entry))
}

function refMth (crypto: CryptoProvider, d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return crypto.sha256(new Uint8Array(0))
  if (d.length === 1) return d[0]!
  const k = split(d.length)
  return crypto.sha256(concatBytes(Uint8Array.of(1), refMth(crypto, d.slice(0, k)), refMth(crypto, d.slice(k))))
}

function refPath (crypto: CryptoProvider, m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length === 1) return []
  const k = split(d.length)
  return m < k
    ? [...refPath(crypto, m, d.slice(0, k)), refMth(crypto, d.slice(k))]
    : [...refPath(crypto, m - k, d.slice(k)), refMth(crypto, d.slice(0, k))]
}

function refSubproof (crypto: CryptoProvider, m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [refMth(crypto, d)]
  const k = split(d.length)
  return m <= k
    ? [...refSubproof(crypto, m, d.slice(0, k), b), refMth(crypto, d.slice(k))]
    : [...refSubproof(crypto, m - k, d.slice(k), false), refMth(crypto, d.slice(0, k))]
}

function refConsistency (crypto: CryptoProvider, m: number, d: Uint8Array[]): Uint8Array[] {
  return m === 0 || m === d.length ? [] : refSubproof(crypto, m, d, true)
}

/** Which side each audit-path sibling sits on, leaf to root: the path's shape. */
function pathShape (m: number, n: number): string {
  if (n === 1) return ''
  const k = split(n)
  return m < k ? pathShape(m, k) + 'R' : pathShape(m - k, n - k) + 'L'
}

// ---------------------------------------------------------------------------

const hex = (hashes: Uint8Array[]): string[] => hashes.map(toHex)
const unhex = (hashes: readonly string[]): Uint8Array[] => hashes.map((h) => fromHex(h))
const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = Uint8Array.from(bytes)
  out[(bit >> 3) % out.length] = out[(bit >> 3) % out.length]! ^ (1 << (bit & 7))
  return out
}
const EMPTY_ROOT = fromHex(vectors.emptyRoot)
/** transparency-dev/merkle's sha256SomeHash: a well-formed hash that is nobody's root. */
const SOME_HASH = fromHex('abacaba000000000000000000000000000000000000000000060061e00123456')

/**
 * The corruptions of transparency-dev/merkle proof/verify_test.go
 * (corruptInclusionProof), each of which must fail.
 */
function corruptInclusion (index: number, size: number, proof: Uint8Array[], root: Uint8Array, leaf: Uint8Array) {
  const probes: Array<[string, Uint8Array, number, number, Uint8Array[], Uint8Array]> = [
    ['index - 1', leaf, index - 1, size, proof, root],
    ['index + 1', leaf, index + 1, size, proof, root],
    ['index ^ 2', leaf, index ^ 2, size, proof, root],
    ['size * 2', leaf, index, size * 2, proof, root],
    ['size / 2', leaf, index, Math.floor(size / 2), proof, root],
    ['wrong leaf (9 bytes)', new TextEncoder().encode('WrongLeaf'), index, size, proof, root],
    ['wrong leaf (32 bytes)', flipBit(leaf, 0), index, size, proof, root],
    ['empty root', leaf, index, size, proof, EMPTY_ROOT],
    ['random root', leaf, index, size, proof, SOME_HASH],
    ['trailing garbage', leaf, index, size, [...proof, new Uint8Array(0)], root],
    ['trailing root', leaf, index, size, [...proof, root], root],
    ['preceding garbage', leaf, index, size, [new Uint8Array(0), ...proof], root],
    ['preceding root', leaf, index, size, [root, ...proof], root]
  ]
  proof.forEach((_, i) => {
    probes.push([`proof[${i}] bit 3 flipped`, leaf, index, size, proof.map((p, j) => (j === i ? flipBit(p, 3) : p)), root])
  })
  if (proof.length > 0) probes.push(['removed component', leaf, index, size, proof.slice(0, -1), root])
  if (proof.length > 1) probes.push(['inserted component', leaf, index, size, [proof[0]!, SOME_HASH, ...proof.slice(1)], root])
  return probes
}

/** corruptConsistencyProof of the same file. */
function corruptConsistency (from: number, to: number, fromRoot: Uint8Array, toRoot: Uint8Array, proof: Uint8Array[]) {
  const wrongRoot = new TextEncoder().encode('WrongRoot')
  const probes: Array<[string, number, number, Uint8Array, Uint8Array, Uint8Array[]]> = [
    ['from - 1', from - 1, to, fromRoot, toRoot, proof],
    ['from + 1', from + 1, to, fromRoot, toRoot, proof],
    ['from ^ 2', from ^ 2, to, fromRoot, toRoot, proof],
    ['to * 2', from, to * 2, fromRoot, toRoot, proof],
    ['to / 2', from, Math.floor(to / 2), fromRoot, toRoot, proof],
    ['wrong old root', from, to, wrongRoot, toRoot, proof],
    ['wrong new root', from, to, fromRoot, wrongRoot, proof],
    ['old root altered', from, to, flipBit(fromRoot, 9), toRoot, proof],
    ['new root altered', from, to, fromRoot, flipBit(toRoot, 9), proof],
    ['swapped roots', from, to, toRoot, fromRoot, proof],
    ['empty proof', from, to, fromRoot, toRoot, []],
    ['trailing garbage', from, to, fromRoot, toRoot, [...proof, new Uint8Array(0)]],
    ['trailing old root', from, to, fromRoot, toRoot, [...proof, fromRoot]],
    ['trailing new root', from, to, fromRoot, toRoot, [...proof, toRoot]],
    ['preceding garbage', from, to, fromRoot, toRoot, [new Uint8Array(0), ...proof]],
    ['preceding old root', from, to, fromRoot, toRoot, [fromRoot, ...proof]],
    ['preceding new root', from, to, fromRoot, toRoot, [toRoot, ...proof]],
    ['preceding proof[0]', from, to, fromRoot, toRoot, [proof[0]!, ...proof]],
    ['truncated', from, to, fromRoot, toRoot, proof.slice(0, -1)]
  ]
  proof.forEach((_, i) => {
    probes.push([`proof[${i}] bit 4 flipped`, from, to, fromRoot, toRoot, proof.map((p, j) => (j === i ? flipBit(p, 4) : p))])
  })
  return probes
}

describe.each([native, nobleCrypto()])('Certificate Transparency vectors, $name provider', (crypto: CryptoProvider) => {
  const leafHashes = vectors.leaves.map((leaf) => merkleLeafHash(crypto, fromHex(leaf)))
  const roots = unhex(vectors.roots)
  const tree = createMerkleTree(crypto)
  for (const h of leafHashes) tree.append(h)

  it('hashes leaves and the empty tree as RFC 6962 does', () => {
    for (const { leaf, hash } of vectors.leafHashes) expect(toHex(merkleLeafHash(crypto, fromHex(leaf)))).toBe(hash)
    expect(toHex(merkleRoot(crypto, []))).toBe(vectors.emptyRoot)
    expect(toHex(createMerkleTree(crypto).root())).toBe(vectors.emptyRoot)
    expect(toHex(tree.root(0))).toBe(vectors.emptyRoot)
  })

  it('gives the published root after every append, and for every earlier size', () => {
    const growing = createMerkleTree(crypto)
    leafHashes.forEach((h, i) => {
      growing.append(h)
      expect(growing.size).toBe(i + 1)
      expect(toHex(growing.root())).toBe(vectors.roots[i])
      for (let j = 1; j <= i + 1; j++) expect(toHex(growing.root(j))).toBe(vectors.roots[j - 1])
      expect(toHex(merkleRoot(crypto, leafHashes.slice(0, i + 1)))).toBe(vectors.roots[i])
    })
  })

  it.each(vectors.inclusion)('inclusion proof of leaf $index in size $size: generated, verified, corruptions refused', ({ index, size, proof }) => {
    expect(hex(tree.inclusionProof(index, size))).toEqual(proof)
    const root = roots[size - 1]!
    expect(verifyInclusion(crypto, leafHashes[index]!, index, size, unhex(proof), root)).toBe(true)
    for (const [name, ...probe] of corruptInclusion(index, size, unhex(proof), root, leafHashes[index]!)) {
      expect(verifyInclusion(crypto, ...probe), name).toBe(false)
    }
  })

  it.each(vectors.consistency)('consistency proof $from -> $to: generated, verified, corruptions refused', ({ from, to, proof }) => {
    expect(hex(tree.consistencyProof(from, to))).toEqual(proof)
    const fromRoot = roots[from - 1]!
    const toRoot = roots[to - 1]!
    expect(verifyConsistency(crypto, from, to, fromRoot, toRoot, unhex(proof))).toBe(true)
    if (proof.length === 0) return // as upstream: only non-trivial proofs are corrupted
    for (const [name, ...probe] of corruptConsistency(from, to, fromRoot, toRoot, unhex(proof))) {
      expect(verifyConsistency(crypto, ...probe), name).toBe(false)
    }
  })
})

describe('verifier edge cases (after the upstream TestVerifyInclusion / TestVerifyConsistency)', () => {
  const r1 = native.sha256(Uint8Array.of(1))
  const r2 = native.sha256(Uint8Array.of(2))

  it('inclusion: impossible index and size pairs fail', () => {
    for (const [index, size] of [[0, 0], [0, 1], [1, 0], [2, 1]] as const) {
      expect(verifyInclusion(native, SOME_HASH, index, size, [], new Uint8Array(0))).toBe(false)
      expect(verifyInclusion(native, new Uint8Array(0), index, size, [], EMPTY_ROOT)).toBe(false)
      expect(verifyInclusion(native, SOME_HASH, index, size, [], EMPTY_ROOT)).toBe(false)
    }
    // A one-leaf tree's root is its leaf hash, with an empty proof.
    expect(verifyInclusion(native, SOME_HASH, 0, 1, [], SOME_HASH)).toBe(true)
    expect(verifyInclusion(native, SOME_HASH, 0, 1, [], r1)).toBe(false)
  })

  it('consistency: equal sizes need equal roots and no proof; the empty tree needs its own root', () => {
    expect(verifyConsistency(native, 0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(true)
    expect(verifyConsistency(native, 0, 1, EMPTY_ROOT, r2, [])).toBe(true)
    expect(verifyConsistency(native, 1, 1, r2, r2, [])).toBe(true)
    // Stricter than upstream, which accepts any old root for size 0.
    expect(verifyConsistency(native, 0, 1, r1, r2, [])).toBe(false)
    expect(verifyConsistency(native, 0, 0, r1, r1, [])).toBe(false)
    // Time travel to the past.
    expect(verifyConsistency(native, 1, 0, r1, r2, [])).toBe(false)
    expect(verifyConsistency(native, 2, 1, r1, r2, [])).toBe(false)
    // An empty proof between different sizes.
    expect(verifyConsistency(native, 1, 2, r1, r2, [])).toBe(false)
    // Roots that differ at equal sizes.
    expect(verifyConsistency(native, 0, 0, EMPTY_ROOT, r2, [])).toBe(false)
    expect(verifyConsistency(native, 1, 1, EMPTY_ROOT, r2, [])).toBe(false)
    // Roots that match, but a proof where none is due.
    expect(verifyConsistency(native, 0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false)
    expect(verifyConsistency(native, 0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false)
    expect(verifyConsistency(native, 1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])).toBe(false)
  })
})

// ---------------------------------------------------------------------------
// Random trees against the reference. One shared tree covers every size up to
// BIG (sizes near 1024, 2048 and 4096 included); fresh trees are built per run.

const BIG = 4200
const entry = (i: number): Uint8Array => concatBytes(Uint8Array.of(i >>> 24, i >>> 16, i >>> 8, i), native.sha256(Uint8Array.of(i & 0xff)))
const hashes = Array.from({ length: BIG }, (_, i) => merkleLeafHash(native, entry(i)))
const shared = createMerkleTree(native)
for (const h of hashes) shared.append(h)

const nearPowersOfTwo = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513,
  1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097]
const treeSize = fc.oneof(fc.integer({ min: 1, max: BIG }), fc.constantFrom(...nearPowersOfTwo))
const sizeAndIndex = treeSize.chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })))
const twoSizes = treeSize.chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n)))

describe('against the recursive reference', () => {
  it('leaf hashes are SHA-256(0x00 || entry)', () => {
    for (let i = 0; i < 50; i++) expect(toHex(hashes[i]!)).toBe(toHex(refLeaf(native, entry(i))))
  })

  it('every size up to 64: every root, audit path and consistency proof equals the reference and verifies', () => {
    for (let n = 1; n <= 64; n++) {
      const d = hashes.slice(0, n)
      const root = refMth(native, d)
      expect(toHex(shared.root(n))).toBe(toHex(root))
      for (let m = 0; m < n; m++) {
        const proof = shared.inclusionProof(m, n)
        expect(hex(proof)).toEqual(hex(refPath(native, m, d)))
        expect(verifyInclusion(native, hashes[m]!, m, n, proof, root)).toBe(true)
      }
      for (let m = 0; m <= n; m++) {
        const proof = shared.consistencyProof(m, n)
        expect(hex(proof)).toEqual(hex(refConsistency(native, m, d)))
        expect(verifyConsistency(native, m, n, shared.root(m), root, proof)).toBe(true)
      }
    }
  })

  it('a tree built to n gives the root and audit paths of merkleRoot and of the reference', () => {
    fc.assert(fc.property(sizeAndIndex, ([n, index]) => {
      const tree = createMerkleTree(native)
      for (let i = 0; i < n; i++) tree.append(hashes[i]!)
      const d = hashes.slice(0, n)
      const root = merkleRoot(native, d)
      expect(toHex(tree.root())).toBe(toHex(refMth(native, d)))
      expect(toHex(tree.root())).toBe(toHex(root))
      expect(toHex(shared.root(n))).toBe(toHex(root))
      const proof = tree.inclusionProof(index)
      expect(hex(proof)).toEqual(hex(refPath(native, index, d)))
      expect(hex(shared.inclusionProof(index, n))).toEqual(hex(proof))
      expect(verifyInclusion(native, hashes[index]!, index, n, proof, root)).toBe(true)
    }), { numRuns: 60 })
  })

  it('every consistency proof between random m <= n equals the reference and verifies', () => {
    fc.assert(fc.property(twoSizes, ([m, n]) => {
      const d = hashes.slice(0, n)
      const proof = shared.consistencyProof(m, n)
      expect(hex(proof)).toEqual(hex(refConsistency(native, m, d)))
      expect(verifyConsistency(native, m, n, merkleRoot(native, hashes.slice(0, m)), merkleRoot(native, d), proof)).toBe(true)
    }), { numRuns: 60 })
  })
})

describe('tampering', () => {
  it('inclusion: an altered leaf, proof element, index, or a truncated or extended proof fails', () => {
    fc.assert(fc.property(sizeAndIndex, fc.nat(), fc.nat(), ([n, index], bit, pick) => {
      const root = shared.root(n)
      const leaf = hashes[index]!
      const proof = shared.inclusionProof(index, n)
      expect(verifyInclusion(native, leaf, index, n, proof, root)).toBe(true)
      expect(verifyInclusion(native, flipBit(leaf, bit), index, n, proof, root)).toBe(false)
      expect(verifyInclusion(native, leaf, index, n, proof, flipBit(root, bit))).toBe(false)
      if (proof.length > 0) {
        const at = pick % proof.length
        expect(verifyInclusion(native, leaf, index, n, proof.map((p, i) => (i === at ? flipBit(p, bit) : p)), root)).toBe(false)
        expect(verifyInclusion(native, leaf, index, n, proof.slice(0, -1), root)).toBe(false)
      }
      expect(verifyInclusion(native, leaf, index, n, [...proof, SOME_HASH], root)).toBe(false)
      expect(verifyInclusion(native, leaf, index, n, [SOME_HASH, ...proof], root)).toBe(false)
      if (n > 1) {
        const other = (index + 1 + (pick % (n - 1))) % n
        expect(verifyInclusion(native, leaf, other, n, proof, root)).toBe(false)
      }
    }), { numRuns: 150 })
  })

  it('inclusion: another size fails unless its audit path has the very same shape', () => {
    // The root of a signed head binds the size; the path alone only binds its shape
    // (e.g. leaf 0 has the path R R R in trees of 5 and of 6 leaves).
    expect(pathShape(0, 5)).toBe(pathShape(0, 6))
    fc.assert(fc.property(sizeAndIndex, ([n, index]) => {
      const root = shared.root(n)
      const proof = shared.inclusionProof(index, n)
      for (const wrong of [n - 1, n + 1, n * 2, Math.floor(n / 2)]) {
        if (wrong <= index) continue
        expect(verifyInclusion(native, hashes[index]!, index, wrong, proof, root)).toBe(pathShape(index, wrong) === pathShape(index, n))
      }
      for (const wrong of [n * 2, Math.floor(n / 2)]) {
        if (wrong > index) expect(verifyInclusion(native, hashes[index]!, index, wrong, proof, root)).toBe(false)
      }
    }), { numRuns: 150 })
  })

  it('consistency: swapped roots, an altered root or element, another old size, a truncated or extended proof fail', () => {
    fc.assert(fc.property(twoSizes, fc.nat(), fc.nat(), ([m, n], bit, pick) => {
      fc.pre(m > 0 && m < n)
      const oldRoot = shared.root(m)
      const newRoot = shared.root(n)
      const proof = shared.consistencyProof(m, n)
      expect(verifyConsistency(native, m, n, oldRoot, newRoot, proof)).toBe(true)
      expect(verifyConsistency(native, m, n, newRoot, oldRoot, proof)).toBe(false)
      expect(verifyConsistency(native, m, n, flipBit(oldRoot, bit), newRoot, proof)).toBe(false)
      expect(verifyConsistency(native, m, n, oldRoot, flipBit(newRoot, bit), proof)).toBe(false)
      const at = pick % proof.length
      expect(verifyConsistency(native, m, n, oldRoot, newRoot, proof.map((p, i) => (i === at ? flipBit(p, bit) : p)))).toBe(false)
      expect(verifyConsistency(native, m, n, oldRoot, newRoot, proof.slice(0, -1))).toBe(false)
      expect(verifyConsistency(native, m, n, oldRoot, newRoot, [...proof, SOME_HASH])).toBe(false)
      expect(verifyConsistency(native, m, n, oldRoot, newRoot, [SOME_HASH, ...proof])).toBe(false)
      for (const wrong of [m - 1, m + 1, m ^ 2]) expect(verifyConsistency(native, wrong, n, oldRoot, newRoot, proof)).toBe(false)
      for (const wrong of [n * 2, Math.floor(n / 2)]) expect(verifyConsistency(native, m, wrong, oldRoot, newRoot, proof)).toBe(false)
    }), { numRuns: 150 })
  })

  it('any altered entry changes the root, and its old audit path no longer verifies', () => {
    fc.assert(fc.property(sizeAndIndex, fc.nat(), ([n, index], bit) => {
      const entries = Array.from({ length: n }, (_, i) => entry(i))
      const root = merkleRoot(native, hashes.slice(0, n))
      entries[index] = flipBit(entries[index]!, bit)
      const altered = entries.map((e) => merkleLeafHash(native, e))
      const alteredRoot = merkleRoot(native, altered)
      expect(toHex(alteredRoot)).not.toBe(toHex(root))
      expect(verifyInclusion(native, altered[index]!, index, n, shared.inclusionProof(index, n), root)).toBe(false)
      expect(verifyInclusion(native, hashes[index]!, index, n, shared.inclusionProof(index, n), alteredRoot)).toBe(false)
    }), { numRuns: 40 })
  })
})

describe('hostile input to the verifiers', () => {
  const hash = hashes[0]!
  const proof = shared.inclusionProof(0, 8)
  const root = shared.root(8)

  it('returns a boolean, never throws, whatever the arguments; false for values of the wrong type', () => {
    const inclusion = verifyInclusion as (crypto: CryptoProvider, ...args: unknown[]) => boolean
    const consistency = verifyConsistency as (crypto: CryptoProvider, ...args: unknown[]) => boolean
    const odd = fc.constantFrom(NaN, Infinity, -1, 0.5, 2 ** 53, 2 ** 64, -0, '8', 8n, null, undefined, [], [new Uint8Array(32)], new Uint8Array(32))
    fc.assert(fc.property(fc.oneof(fc.anything(), odd), fc.nat(4), (value, slot) => {
      const args: unknown[] = [hash, 0, 8, proof, root]
      args[slot] = value
      const cargs: unknown[] = [3, 8, shared.root(3), root, shared.consistencyProof(3, 8)]
      cargs[slot] = value
      const verdicts = [inclusion(native, ...args), consistency(native, ...cargs)]
      for (const verdict of verdicts) expect(typeof verdict).toBe('boolean')
      const wrongType = typeof value !== 'number' && !(value instanceof Uint8Array) && !Array.isArray(value)
      if (wrongType) expect(verdicts).toEqual([false, false])
    }), { numRuns: 500 })
  })

  it('refuses proofs with wrong-length elements, holes, or a million entries, without hashing them all', () => {
    expect(verifyInclusion(native, hash, 0, 8, [proof[0]!, proof[1]!.subarray(1), proof[2]!], root)).toBe(false)
    expect(verifyInclusion(native, hash, 0, 8, [proof[0]!, undefined as unknown as Uint8Array, proof[2]!], root)).toBe(false)
    const huge = new Array<Uint8Array>(1_000_000).fill(SOME_HASH)
    let hashed = 0
    const counting: CryptoProvider = { ...native, sha256: (data) => { hashed++; return native.sha256(data) } }
    expect(verifyInclusion(counting, hash, 0, 8, huge, root)).toBe(false)
    expect(verifyConsistency(counting, 3, 8, shared.root(3), root, huge)).toBe(false)
    expect(hashed).toBeLessThan(200)
    // Sizes past 2^32 are arithmetic, not bit operations: a 2^40-leaf tree has a 40-hash path.
    const path = Array.from({ length: 40 }, () => SOME_HASH)
    let r = hash
    for (const p of path) r = merkleNodeHash(native, r, p)
    expect(verifyInclusion(native, hash, 0, 2 ** 40, path, r)).toBe(true)
    expect(verifyInclusion(native, hash, 0, 2 ** 40 + 1, path, r)).toBe(false)
  })
})

describe('createMerkleTree', () => {
  it('checks its arguments: TypeError for non-integers and non-bytes, RangeError out of range', () => {
    const tree = createMerkleTree(native)
    expect(() => tree.append(new Uint8Array(31))).toThrow(RangeError)
    expect(() => tree.append('hash' as unknown as Uint8Array)).toThrow(TypeError)
    expect(() => tree.inclusionProof(0)).toThrow(RangeError)
    for (let i = 0; i < 5; i++) tree.append(hashes[i]!)
    expect(() => tree.leafHash(5)).toThrow(RangeError)
    expect(() => tree.leafHash(-1)).toThrow(RangeError)
    expect(() => tree.leafHash(1.5)).toThrow(TypeError)
    expect(() => tree.root(6)).toThrow(RangeError)
    expect(() => tree.inclusionProof(5, 5)).toThrow(RangeError)
    expect(() => tree.inclusionProof(0, 6)).toThrow(RangeError)
    expect(() => tree.inclusionProof(0, 0)).toThrow(RangeError)
    expect(() => tree.consistencyProof(4, 3)).toThrow(RangeError)
    expect(() => tree.consistencyProof(1, 6)).toThrow(RangeError)
    expect(() => tree.consistencyProof(Number.NaN)).toThrow(TypeError)
    expect(() => merkleNodeHash(native, hashes[0]!, new Uint8Array(33))).toThrow(RangeError)
    expect(() => merkleRoot(native, [hashes[0]!, new Uint8Array(5)])).toThrow(/leafHashes\[1\]/)
    expect(tree.consistencyProof(0)).toEqual([])
    expect(tree.consistencyProof(5)).toEqual([])
  })

  it('copies what it is given and what it returns: callers cannot corrupt the tree', () => {
    const tree = createMerkleTree(native)
    const input = Uint8Array.from(hashes[0]!)
    tree.append(input)
    input.fill(0)
    tree.append(hashes[1]!)
    tree.append(hashes[2]!)
    const before = toHex(tree.root())
    tree.root().fill(0)
    tree.root(2).fill(0)
    tree.leafHash(0).fill(0)
    for (const p of tree.inclusionProof(2)) p.fill(0)
    for (const p of tree.consistencyProof(2)) p.fill(0)
    expect(toHex(tree.root())).toBe(before)
    expect(toHex(tree.root())).toBe(toHex(merkleRoot(native, hashes.slice(0, 3))))
    expect(toHex(tree.leafHash(0))).toBe(toHex(hashes[0]!))
    expect(MERKLE_HASH_LENGTH).toBe(32)
  })

  it('holds a million leaves in under 80 MB, answers in O(log n) hashes, and stays coherent across chunks', () => {
    const N = 1_000_000
    let hashed = 0
    const tree = createMerkleTree({ ...native, sha256: (data) => { hashed++; return native.sha256(data) } })
    const leaf = new Uint8Array(MERKLE_HASH_LENGTH)
    const view = new DataView(leaf.buffer)
    const leafAt = (i: number): Uint8Array => { view.setUint32(0, i); return Uint8Array.from(leaf) }
    for (let i = 0; i < N; i++) { view.setUint32(0, i); tree.append(leaf) }
    expect(tree.size).toBe(N)
    // Fewer than 2N hashes of 32 bytes: 64 MB, plus the slack of partly filled chunks.
    expect(tree.byteLength).toBeGreaterThanOrEqual((2 * N - 1) * MERKLE_HASH_LENGTH)
    expect(tree.byteLength).toBeLessThan(80_000_000)
    expect(toHex(tree.leafHash(65_537))).toBe(toHex(leafAt(65_537)))
    expect(toHex(tree.root(1000))).toBe(toHex(merkleRoot(native, Array.from({ length: 1000 }, (_, i) => leafAt(i)))))
    // Past roots and proofs read the stored complete subtrees and hash only the right edge.
    const LOG_N = 20
    const costOf = (f: () => unknown): number => { hashed = 0; f(); return hashed }
    expect(costOf(() => tree.root())).toBeLessThanOrEqual(LOG_N)
    expect(costOf(() => tree.root())).toBe(0) // cached
    expect(costOf(() => tree.root(N - 1))).toBeLessThanOrEqual(LOG_N)
    expect(costOf(() => tree.inclusionProof(12_345))).toBeLessThanOrEqual(LOG_N)
    expect(costOf(() => tree.inclusionProof(N - 2, N - 1))).toBeLessThanOrEqual(LOG_N)
    expect(costOf(() => tree.consistencyProof(654_321))).toBeLessThanOrEqual(2 * LOG_N)
    const root = tree.root()
    for (const index of [0, 65_535, 65_536, 131_071, 524_288, N - 1]) {
      expect(verifyInclusion(native, leafAt(index), index, N, tree.inclusionProof(index), root)).toBe(true)
    }
    for (const m of [1, 65_536, 65_537, 2 ** 19, N - 1]) {
      expect(verifyConsistency(native, m, N, tree.root(m), root, tree.consistencyProof(m))).toBe(true)
    }
  })
})
