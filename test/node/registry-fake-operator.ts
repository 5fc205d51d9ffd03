/**
 * A handcrafted Operator for tests: it serves the registry ops over real
 * libp2p from a log the test writes entry by entry, with no registry rules
 * (it will append a second registration of a name, or a rotation nobody
 * signed), and any op's answer can be replaced by the test's bytes. The real
 * Operator (bootstrap/) cannot be made to lie; this one is built to.
 */
import { lpStream } from '@libp2p/utils'
import { createNetwork, type Network } from '../../node/network.js'
import {
  createIdentity, decodeConsistencyRequest, decodeEntriesRequest, decodeLookupRequest, encodeEntriesResponse, encodeError,
  encodeInfoResponse, encodeLogEntry, encodeLookupResponse, encodeProofResponse, encodeRegisterResponse, merkleLeafHash,
  publicIdentityOf, registryProtocol, RegistryErrorCode, signCertificate, signTreeHead, toHex, encodePublicIdentity,
  createMerkleTree, decodeCertificate, MAX_REGISTRY_REQUESTS_PER_STREAM, type Identity, type RegistryOp, type TreeHead
} from '../../protocol/index.js'
import { crypto, TEST_WORK_TRIALS } from './registry-operators.js'

/** Replaces an op's answer: gets the honest answer and the request; `undefined` means never answer. */
export type Tamper = (honest: Uint8Array, request: Uint8Array) => Uint8Array | undefined

/** The fake Operator. */
export interface FakeOperator {
  readonly identity: Identity
  /** What a node pins: 128 hex identity and the loopback address. */
  readonly config: { identity: string, addresses: string[] }
  readonly network: Network
  /** Appends any request bytes as the next entry; returns its index. */
  append(request: Uint8Array): number
  /** A signed head of the current log. */
  head(): TreeHead
  /** The certificate of entry `index`. */
  certificate(index: number): Uint8Array
  /** The honest answer to `request` (a `register` appends). */
  answer(op: RegistryOp, request: Uint8Array): Uint8Array
  /** Per-op answer replacements. */
  readonly tamper: Partial<Record<RegistryOp, Tamper>>
  /**
   * Answers one request per stream and ends it, as Operators did before
   * streams carried several lookups (SPEC §13.5). @default false
   */
  onePerStream: boolean
  /** Streams opened to it so far, per op. */
  readonly streams: Record<RegistryOp, number>
  stop(): Promise<void>
}

const OPS: RegistryOp[] = ['info', 'register', 'lookup', 'consistency', 'entries']

/** Starts a fake Operator on 127.0.0.1 with `identity` (a fresh one by default). */
export async function startFakeOperator (identity: Identity = createIdentity(crypto)): Promise<FakeOperator> {
  const tree = createMerkleTree(crypto)
  const certificates: Uint8Array[] = []
  const tamper: Partial<Record<RegistryOp, Tamper>> = {}
  let signed: TreeHead | undefined

  const head = (): TreeHead => {
    if (signed?.size !== tree.size) signed = signTreeHead(crypto, identity, { size: tree.size, timestamp: Date.now(), root: tree.root() })
    return signed
  }
  const append = (request: Uint8Array): number => {
    const entry = encodeLogEntry(tree.size, Date.now(), request)
    certificates.push(signCertificate(crypto, identity, entry))
    tree.append(merkleLeafHash(crypto, entry))
    return tree.size - 1
  }
  const latestOf = (name: string): number | undefined => {
    for (let i = certificates.length - 1; i >= 0; i--) if (decodeCertificate(certificates[i]!).entry.request.name === name) return i
    return undefined
  }

  function honest (op: RegistryOp, request: Uint8Array): Uint8Array {
    switch (op) {
      case 'info':
        return encodeInfoResponse({ operator: publicIdentityOf(identity), workTrials: TEST_WORK_TRIALS, head: head().bytes })
      case 'register': {
        const index = append(request)
        return encodeRegisterResponse({ certificate: certificates[index]!, head: head().bytes, inclusion: tree.inclusionProof(index) })
      }
      case 'lookup': {
        const { name, knownSize } = decodeLookupRequest(request)
        const index = latestOf(name)
        if (index === undefined) return encodeError(RegistryErrorCode.NOT_FOUND, `no "${name}"`)
        if (knownSize > tree.size) return encodeError(RegistryErrorCode.BAD_RANGE, 'known size beyond the log')
        return encodeLookupResponse({
          certificate: certificates[index]!, head: head().bytes, inclusion: tree.inclusionProof(index),
          consistency: knownSize === 0 ? [] : tree.consistencyProof(knownSize)
        })
      }
      case 'consistency': {
        const { from, to } = decodeConsistencyRequest(request)
        if (to > tree.size) return encodeError(RegistryErrorCode.BAD_RANGE, 'beyond the log')
        return encodeProofResponse(tree.consistencyProof(from, to))
      }
      case 'entries': {
        const { start, count } = decodeEntriesRequest(request)
        return encodeEntriesResponse(certificates.slice(start, start + count))
      }
    }
  }

  const network = await createNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], validate: async () => 'ignore', onEnvelope: () => {} })
  await network.start()
  const streams: Record<RegistryOp, number> = { info: 0, register: 0, lookup: 0, consistency: 0, entries: 0 }
  for (const op of OPS) {
    await network.libp2p.handle(registryProtocol('komrade', op), async (stream) => {
      streams[op]++
      const lp = lpStream(stream)
      const limit = fake.onePerStream || op === 'info' || op === 'register' ? 1 : MAX_REGISTRY_REQUESTS_PER_STREAM
      for (let i = 0; i < limit; i++) {
        let request: Uint8Array
        try {
          request = (await lp.read()).subarray()
        } catch {
          break // the client closed its side
        }
        const answer = tamper[op] === undefined ? honest(op, request) : tamper[op](honest(op, request), request)
        if (answer === undefined) return // hold the stream open, say nothing
        await lp.write(answer)
      }
      await stream.close()
    })
  }
  const address = network.status().addresses.find((a) => a.includes('/127.0.0.1/'))!
  const fake: FakeOperator = {
    identity,
    config: { identity: toHex(encodePublicIdentity(identity)), addresses: [address] },
    network,
    append,
    head,
    certificate: (index) => certificates[index]!,
    answer: honest,
    tamper,
    onePerStream: false,
    streams,
    stop: async () => { await network.stop() }
  }
  return fake
}
