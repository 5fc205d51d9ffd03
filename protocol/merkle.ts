/**
 * The Merkle tree of the name registry's log (SPEC §13.1): RFC 6962 §2.1 /
 * RFC 9162 §2.1 hashing, inclusion proofs and consistency proofs, with their
 * verification. Pure: every hash goes through the CryptoProvider.
 *
 * Leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left ||
 * right), the empty tree's root = SHA-256(""). A tree of n > 1 leaves splits at
 * k, the largest power of two below n: its root is the node hash of the roots
 * of the first k leaves and of the rest.
 */
import { assertBytes, assertInteger, equalBytes } from './bytes.js'
import type { CryptoProvider } from './crypto-provider.js'

/** Bytes of every hash in the tree (SHA-256). */
export const MERKLE_HASH_LENGTH = 32

const LEAF_PREFIX = 0x00
const NODE_PREFIX = 0x01
/** Hashes per storage chunk: 2 MiB, so no single allocation grows with the log. */
const CHUNK_HASHES = 65_536
/** Capacity of a level's first chunk; it doubles up to CHUNK_HASHES (small levels stay small). */
const FIRST_CHUNK_HASHES = 16

/** SHA-256(0x00 || leaf): the hash of one log entry. */
export function merkleLeafHash (crypto: CryptoProvider, leaf: Uint8Array): Uint8Array {
  assertBytes(leaf, 'leaf')
  const input = new Uint8Array(1 + leaf.length)
  input[0] = LEAF_PREFIX
  input.set(leaf, 1)
  return crypto.sha256(input)
}

/** SHA-256(0x01 || left || right): the hash of an inner node. */
export function merkleNodeHash (crypto: CryptoProvider, left: Uint8Array, right: Uint8Array): Uint8Array {
  assertBytes(left, 'left', MERKLE_HASH_LENGTH)
  assertBytes(right, 'right', MERKLE_HASH_LENGTH)
  return hashChildren(crypto, left, right)
}

/** The same without the checks, for callers that hold 32-byte hashes already. */
function hashChildren (crypto: CryptoProvider, left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + 2 * MERKLE_HASH_LENGTH)
  input[0] = NODE_PREFIX
  input.set(left, 1)
  input.set(right, 1 + MERKLE_HASH_LENGTH)
  return crypto.sha256(input)
}

/** SHA-256 of nothing: the root of the empty tree. */
function emptyRoot (crypto: CryptoProvider): Uint8Array {
  return crypto.sha256(new Uint8Array(0))
}

/** The largest power of two strictly below `n` (n >= 2). Arithmetic, not bit operators: sizes pass 2^32. */
function splitPoint (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * The root of a list of leaf hashes (RFC 9162 §2.1.1), in O(log n) memory:
 * a stack of complete subtrees, merged as soon as two of equal height meet.
 */
export function merkleRoot (crypto: CryptoProvider, leafHashes: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(leafHashes)) throw new TypeError('"leafHashes" expected an array of Uint8Array')
  const stack: Array<{ hash: Uint8Array, leaves: number }> = []
  leafHashes.forEach((leafHash, i) => {
    assertBytes(leafHash, `leafHashes[${i}]`, MERKLE_HASH_LENGTH)
    let top = { hash: leafHash, leaves: 1 }
    while (stack.length > 0 && stack[stack.length - 1]!.leaves === top.leaves) {
      const left = stack.pop()!
      top = { hash: hashChildren(crypto, left.hash, top.hash), leaves: 2 * top.leaves }
    }
    stack.push(top)
  })
  if (stack.length === 0) return emptyRoot(crypto)
  // The complete subtrees, biggest first, are the RFC's left children; fold from the right.
  let root = stack[stack.length - 1]!.hash
  for (let i = stack.length - 2; i >= 0; i--) root = hashChildren(crypto, stack[i]!.hash, root)
  return Uint8Array.from(root)
}

/** Append-only tree keeping every complete-subtree hash (compact buffers, ~64 B per leaf). */
export interface MerkleTree {
  /** Leaves appended so far. */
  readonly size: number
  /** Bytes held in hash buffers (capacity, not just the part in use). */
  readonly byteLength: number
  /** Appends the hash of the next entry (see {@link merkleLeafHash}). */
  append (leafHash: Uint8Array): void
  /** The leaf hash at `index` (a copy). */
  leafHash (index: number): Uint8Array
  /** The root of the first `size` leaves, in O(log n) hashes. @default the current size */
  root (size?: number): Uint8Array
  /** The audit path of leaf `index` in the tree of the first `size` leaves, leaf to root. */
  inclusionProof (index: number, size?: number): Uint8Array[]
  /** The consistency proof from `fromSize` to `toSize` leaves; empty when fromSize is 0 or equals toSize. */
  consistencyProof (fromSize: number, toSize?: number): Uint8Array[]
}

/**
 * The hashes of one level, each 32 bytes, in chunks of CHUNK_HASHES. Only the
 * last chunk has room left; it grows by doubling until it reaches full size.
 */
class HashLevel {
  private readonly chunks: Uint8Array[] = []
  count = 0

  get byteLength (): number {
    let total = 0
    for (const chunk of this.chunks) total += chunk.byteLength
    return total
  }

  push (hash: Uint8Array): void {
    const offset = (this.count % CHUNK_HASHES) * MERKLE_HASH_LENGTH
    let last = this.chunks[this.chunks.length - 1]
    if (last === undefined || (offset === 0 && this.count > 0)) { // the last chunk is full-size and full
      last = new Uint8Array(FIRST_CHUNK_HASHES * MERKLE_HASH_LENGTH)
      this.chunks.push(last)
    } else if (offset === last.length) {
      const grown = new Uint8Array(Math.min(2 * last.length, CHUNK_HASHES * MERKLE_HASH_LENGTH))
      grown.set(last)
      last = grown
      this.chunks[this.chunks.length - 1] = grown
    }
    last.set(hash, offset)
    this.count++
  }

  /** A view into the store: internal use only, never handed to callers. */
  view (index: number): Uint8Array {
    const chunk = this.chunks[Math.floor(index / CHUNK_HASHES)]!
    const offset = (index % CHUNK_HASHES) * MERKLE_HASH_LENGTH
    return chunk.subarray(offset, offset + MERKLE_HASH_LENGTH)
  }
}

/**
 * Creates an empty append-only tree.
 *
 * Memory: level h holds the floor(n / 2^h) complete subtrees of 2^h leaves,
 * fewer than 2n hashes in all, so 64 bytes per leaf plus the unused part of
 * each level's last chunk (at most half of it): 66 MB for a million leaves. Roots and proofs for
 * any earlier size read the stored complete subtrees and hash only the
 * partial right edge, O(log n) hashes.
 */
export function createMerkleTree (crypto: CryptoProvider): MerkleTree {
  const levels: HashLevel[] = [new HashLevel()]
  const scratch = new Uint8Array(1 + 2 * MERKLE_HASH_LENGTH)
  scratch[0] = NODE_PREFIX
  let size = 0
  let currentRoot: Uint8Array | undefined

  /** Node hash of two stored hashes without allocating the input. */
  function hashStored (left: Uint8Array, right: Uint8Array): Uint8Array {
    scratch.set(left, 1)
    scratch.set(right, 1 + MERKLE_HASH_LENGTH)
    return crypto.sha256(scratch)
  }

  /** The stored hash of the complete subtree of 2^height leaves starting at leaf `start` (aligned). */
  function complete (start: number, height: number): Uint8Array {
    return levels[height]!.view(start / 2 ** height)
  }

  /**
   * MTH of leaves [start, end). The RFC's recursion only ever meets complete
   * subtrees aligned on their size, so the range is the complete subtrees
   * named by the bits of its length, biggest first; fold them from the right.
   * May return a view into the store: callers copy before handing it out.
   */
  function rangeHash (start: number, end: number): Uint8Array {
    const pieces: Uint8Array[] = []
    let offset = start
    for (let height = Math.floor(Math.log2(end - start)) + 1; height >= 0; height--) {
      const width = 2 ** height
      if (offset + width <= end) {
        pieces.push(complete(offset, height))
        offset += width
      }
    }
    let hash = pieces[pieces.length - 1]!
    for (let i = pieces.length - 2; i >= 0; i--) hash = hashChildren(crypto, pieces[i]!, hash)
    return hash
  }

  function checkSize (value: number | undefined, name: string, min: number): number {
    if (value === undefined) return size
    assertInteger(value, name, min, size)
    return value
  }

  return {
    get size () { return size },

    get byteLength () {
      let total = scratch.byteLength
      for (const level of levels) total += level.byteLength
      return total
    },

    append (leafHash) {
      assertBytes(leafHash, 'leafHash', MERKLE_HASH_LENGTH)
      levels[0]!.push(leafHash)
      size++
      currentRoot = undefined
      // Every completed pair at level h makes a node at level h + 1.
      for (let height = 0; levels[height]!.count % 2 === 0; height++) {
        const level = levels[height]!
        const parent = hashStored(level.view(level.count - 2), level.view(level.count - 1))
        if (levels[height + 1] === undefined) levels.push(new HashLevel())
        levels[height + 1]!.push(parent)
      }
    },

    leafHash (index) {
      assertInteger(index, 'index', 0, size - 1)
      return Uint8Array.from(levels[0]!.view(index))
    },

    root (treeSize) {
      const n = checkSize(treeSize, 'size', 0)
      if (n === size && currentRoot !== undefined) return Uint8Array.from(currentRoot)
      const root = n === 0 ? emptyRoot(crypto) : Uint8Array.from(rangeHash(0, n))
      if (n === size) currentRoot = Uint8Array.from(root)
      return root
    },

    inclusionProof (index, treeSize) {
      if (size === 0) throw new RangeError('"index" out of range: the tree is empty, no leaf has a proof')
      const n = checkSize(treeSize, 'size', 1)
      assertInteger(index, 'index', 0, n - 1)
      // RFC 9162 §2.1.3.1 PATH, top down: at each split keep the sibling, then reverse.
      const path: Uint8Array[] = []
      let start = 0
      let end = n
      while (end - start > 1) {
        const k = splitPoint(end - start)
        if (index < start + k) {
          path.push(Uint8Array.from(rangeHash(start + k, end)))
          end = start + k
        } else {
          path.push(Uint8Array.from(rangeHash(start, start + k)))
          start += k
        }
      }
      return path.reverse()
    },

    consistencyProof (fromSize, toSize) {
      const n = checkSize(toSize, 'toSize', 0)
      assertInteger(fromSize, 'fromSize', 0, n)
      if (fromSize === 0 || fromSize === n) return []
      // RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b), top down, then reversed.
      const proof: Uint8Array[] = []
      let start = 0
      let end = n
      let isWholeOldTree = true // the RFC's b: the old root is the known one, not sent
      while (fromSize !== end) {
        const k = splitPoint(end - start)
        if (fromSize <= start + k) {
          proof.push(Uint8Array.from(rangeHash(start + k, end)))
          end = start + k
        } else {
          proof.push(Uint8Array.from(rangeHash(start, start + k)))
          start += k
          isWholeOldTree = false
        }
      }
      if (!isWholeOldTree) proof.push(Uint8Array.from(rangeHash(start, end)))
      return proof.reverse()
    }
  }
}

/** A tree size or leaf index a verifier accepts: a safe non-negative integer. */
function isCount (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isHash (value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === MERKLE_HASH_LENGTH
}

function isPowerOfTwo (n: number): boolean {
  let k = 1
  while (k < n) k *= 2
  return k === n
}

/** x >> 1 and x & 1 for integers up to 2^53, where the bit operators would truncate. */
const half = (x: number): number => Math.floor(x / 2)
const isOdd = (x: number): boolean => x % 2 === 1

/**
 * True when `proof` shows that `leafHash` is leaf `index` of the tree of
 * `treeSize` leaves whose root is `root` (RFC 9162 §2.1.3.2). Never throws:
 * wrong lengths, sizes out of range or non-integers give false.
 */
export function verifyInclusion (
  crypto: CryptoProvider, leafHash: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[], root: Uint8Array
): boolean {
  if (!isCount(index) || !isCount(treeSize) || index >= treeSize) return false
  if (!isHash(leafHash) || !isHash(root) || !Array.isArray(proof)) return false
  let fn = index
  let sn = treeSize - 1
  let r = leafHash
  for (const p of proof as readonly unknown[]) {
    // sn reaches 0 within 53 steps, so a hostile proof of any length stops here.
    if (sn === 0 || !isHash(p)) return false
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(crypto, p, r)
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) { fn = half(fn); sn = half(sn) }
      }
    } else {
      r = hashChildren(crypto, r, p)
    }
    fn = half(fn)
    sn = half(sn)
  }
  return sn === 0 && equalBytes(r, root)
}

/**
 * True when `proof` shows that the tree of `fromSize` leaves with root
 * `fromRoot` is a prefix of the tree of `toSize` leaves with root `toRoot`
 * (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots; size 0
 * needs an empty proof and the empty tree's root as `fromRoot`. Never throws.
 */
export function verifyConsistency (
  crypto: CryptoProvider, fromSize: number, toSize: number, fromRoot: Uint8Array, toRoot: Uint8Array, proof: readonly Uint8Array[]
): boolean {
  if (!isCount(fromSize) || !isCount(toSize) || fromSize > toSize) return false
  if (!isHash(fromRoot) || !isHash(toRoot) || !Array.isArray(proof)) return false
  if (fromSize === 0) {
    return proof.length === 0 && equalBytes(fromRoot, emptyRoot(crypto)) && (toSize > 0 || equalBytes(toRoot, fromRoot))
  }
  if (fromSize === toSize) return proof.length === 0 && equalBytes(fromRoot, toRoot)
  if (proof.length === 0) return false
  // A power-of-two old tree is a complete subtree of the new one: its root
  // starts the path and is not sent.
  const seeded = isPowerOfTwo(fromSize)
  let fn = fromSize - 1
  let sn = toSize - 1
  while (isOdd(fn)) { fn = half(fn); sn = half(sn) }
  const first: unknown = seeded ? fromRoot : proof[0]
  if (!isHash(first)) return false
  let fr = first
  let sr = first
  for (let i = seeded ? 0 : 1; i < proof.length; i++) {
    const c: unknown = proof[i]
    if (sn === 0 || !isHash(c)) return false
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(crypto, c, fr)
      sr = hashChildren(crypto, c, sr)
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) { fn = half(fn); sn = half(sn) }
      }
    } else {
      sr = hashChildren(crypto, sr, c)
    }
    fn = half(fn)
    sn = half(sn)
  }
  return sn === 0 && equalBytes(fr, fromRoot) && equalBytes(sr, toRoot)
}
