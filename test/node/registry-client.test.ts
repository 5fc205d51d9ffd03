/**
 * What the node does with answers it must not believe: the registry client
 * against a handcrafted Operator (registry-fake-operator.ts) whose answers
 * are forged one field at a time, a node against a log that is consistent
 * but rebinds a name without a valid rotation, and the tree-head topic's
 * validator against a forged head. All over real libp2p on 127.0.0.1.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createNetwork, type Network } from '../../node/network.js'
import { createRegistryClient, type LookupOutcome, type RegistryClient } from '../../node/registry/registry-client.js'
import { createKomradeNode, NameNotFoundError, RegistryUnavailableError, RegistryVerificationError, type KeyChange } from '../../node/index.js'
import { treeHeadTopic } from '../../node/network-constants.js'
import {
  createIdentity, createRegistration, createRotation, decodeConsistencyRequest, decodePublicIdentity, fromHex, decodeLookupRequest, decodeLookupResponse, encodeError,
  encodeInfoResponse, encodeLookupRequest, RegistryErrorCode, encodeLookupResponse, encodePublicIdentity, MAX_REGISTRY_REQUESTS_PER_STREAM, MAX_REGISTRY_RESPONSE_BYTES, publicIdentityOf,
  signCertificate, signTreeHead, toHex, type Identity
} from '../../protocol/index.js'
import { cleanup, startNode, waitFor } from './cluster.js'
import { startFakeOperator, type FakeOperator } from './registry-fake-operator.js'
import { cleanupOperators, crypto, registerDirectly, startOperator, TEST_WORK_TRIALS } from './registry-operators.js'

const networks: Network[] = []
const fakes: FakeOperator[] = []

async function clientHost (): Promise<Network> {
  const network = await createNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'], validate: async () => 'ignore', onEnvelope: () => {} })
  await network.start()
  networks.push(network)
  return network
}

async function fakeOperator (): Promise<FakeOperator> {
  const fake = await startFakeOperator()
  fakes.push(fake)
  return fake
}

async function registration (identity: Identity, name: string): Promise<Uint8Array> {
  return await createRegistration(crypto, identity, name, { workTrials: TEST_WORK_TRIALS })
}

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
  for (const fake of fakes.splice(0)) await fake.stop()
  for (const network of networks.splice(0)) await network.stop()
})

describe('the registry client against forged answers', () => {
  let fake: FakeOperator
  let client: RegistryClient
  let host: Network

  beforeEach(async () => {
    fake = await fakeOperator()
    fake.append(await registration(createIdentity(crypto), 'alice'))
    fake.append(await registration(createIdentity(crypto), 'bob'))
    host = await clientHost()
    client = createRegistryClient({
      libp2p: host.libp2p, networkName: 'komrade', operator: publicIdentityOf(fake.identity), addresses: fake.config.addresses, crypto, timeoutMs: 5000
    })
  })

  /** Replaces the lookup answer by `forge(decoded honest answer)`, re-encoded. */
  function forgeLookup (forge: (honest: { certificate: Uint8Array, head: Uint8Array, inclusion: Uint8Array[], consistency: Uint8Array[] }) => void): void {
    fake.tamper.lookup = (honest) => {
      const decoded = decodeLookupResponse(honest)
      if (!decoded.ok) throw new Error('expected an OK answer to forge')
      const fields = {
        certificate: decoded.value.certificate.bytes, head: decoded.value.head.bytes,
        inclusion: decoded.value.inclusion.map((hash) => hash.slice()), consistency: decoded.value.consistency
      }
      forge(fields)
      return encodeLookupResponse(fields)
    }
  }

  it('accepts the honest answer', async () => {
    const answer = await client.lookup('alice', 0)
    expect(answer.ok && answer.value.entry.certificate.entry.request.name).toBe('alice')
    expect(answer.ok && answer.value.entry.head.size).toBe(2)
  })

  it.each([
    ['a certificate for another name', (fake: FakeOperator) => {
      fake.tamper.lookup = () => fake.answer('lookup', encodeLookupRequest('bob', 0))
    }, /another name|certificate for "bob"/],
    ['a wrong inclusion proof', () => { forgeLookup((a) => { a.inclusion[0]![0]! ^= 1 }) }, /not proven/],
    ['a missing inclusion proof', () => { forgeLookup((a) => { a.inclusion = [] }) }, /not proven/],
    ['a head signed by another key', () => {
      forgeLookup((a) => {
        const other = createIdentity(crypto)
        a.head = signTreeHead(crypto, other, { size: 2, timestamp: Date.now(), root: fake.head().root }).bytes
      })
    }, /tree head is not signed/],
    ['a certificate signed by another key', () => {
      forgeLookup((a) => { a.certificate = signCertificate(crypto, createIdentity(crypto), a.certificate.subarray(0, -64)) })
    }, /certificate for "alice" is not signed/],
    ['a malformed frame', () => { fake.tamper.lookup = () => Uint8Array.of(0, 1, 2, 3) }, /malformed/],
    ['an oversized frame', () => { fake.tamper.lookup = () => new Uint8Array(MAX_REGISTRY_RESPONSE_BYTES + 1) }, /larger than/]
  ])('refuses %s with RegistryVerificationError', async (_what, forge, message) => {
    forge(fake)
    const error = await client.lookup('alice', 0).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RegistryVerificationError)
    expect((error as Error).message).toMatch(message)
  })

  it('refuses a certificate the Operator signed over a request its key did not sign', async () => {
    const request = await registration(createIdentity(crypto), 'carol')
    request.fill(0, request.length - 64) // the registrant's signature, zeroed
    fake.append(request)
    await expect(client.lookup('carol', 0)).rejects.toThrow(/request its key did not sign/)
  })

  it('refuses a registration answer that certifies another request than ours', async () => {
    // Same name, other keys: the certificate must be for exactly the bytes we sent.
    const other = await registration(createIdentity(crypto), 'erin')
    fake.tamper.register = () => fake.answer('register', other)
    await expect(client.register(await registration(createIdentity(crypto), 'erin'))).rejects.toThrow(/another request/)
    fake.tamper.register = undefined
    const honest = await client.register(await registration(createIdentity(crypto), 'frank'))
    expect(honest.ok && honest.value.certificate.entry.request.name).toBe('frank')
  })

  it('does not take a peer that answers info as another Operator for the pinned one', async () => {
    const impostor = createIdentity(crypto)
    fake.tamper.info = () => encodeInfoResponse({ operator: publicIdentityOf(impostor), workTrials: 64, head: fake.head().bytes })
    await expect(client.info()).rejects.toThrow(RegistryUnavailableError)
    await expect(client.lookup('alice', 0)).rejects.toThrow(/another Operator than the pinned one/)
  })

  it('reports an Operator that does not answer, or cannot be reached, as unavailable', async () => {
    fake.tamper.info = () => undefined
    const impatient = createRegistryClient({
      libp2p: host.libp2p, networkName: 'komrade', operator: publicIdentityOf(fake.identity), addresses: fake.config.addresses, crypto, timeoutMs: 300
    })
    await expect(impatient.info()).rejects.toThrow(RegistryUnavailableError)
    await fake.stop()
    await expect(client.lookup('alice', 0)).rejects.toThrow(RegistryUnavailableError)
    const nowhere = createRegistryClient({ libp2p: host.libp2p, networkName: 'komrade', operator: publicIdentityOf(fake.identity), addresses: [], crypto })
    await expect(nowhere.info()).rejects.toThrow(/No address is configured/)
  })
})

describe('lookupMany: many lookups on one stream', () => {
  let fake: FakeOperator
  let client: RegistryClient

  beforeEach(async () => {
    fake = await fakeOperator()
    for (const name of ['alice', 'bob', 'carol']) fake.append(await registration(createIdentity(crypto), name))
    const host = await clientHost()
    client = createRegistryClient({
      libp2p: host.libp2p, networkName: 'komrade', operator: publicIdentityOf(fake.identity), addresses: fake.config.addresses, crypto, timeoutMs: 1000
    })
  })

  /** Each outcome as the name certified, the error code, or the error's name. */
  const summary = (outcomes: LookupOutcome[]): Array<string | number> => outcomes.map((outcome) => {
    if (outcome.error !== undefined) return outcome.error.name
    return outcome.answer.ok ? outcome.answer.value.entry.certificate.entry.request.name : outcome.answer.code
  })
  const nameOf = (request: Uint8Array): string => decodeLookupRequest(request).name

  it('answers every name in order on one stream, each verified, refusals and bad names included', async () => {
    const outcomes = await client.lookupMany(['alice', 'nobody', 'bob', 'Bad-Name', 'carol', 'alice'], 0)
    expect(summary(outcomes)).toEqual(['alice', RegistryErrorCode.NOT_FOUND, 'bob', 'BadNameError', 'carol', 'alice'])
    expect(outcomes.map((outcome) => outcome.name)).toEqual(['alice', 'nobody', 'bob', 'Bad-Name', 'carol', 'alice'])
    const carol = outcomes[4]!
    expect(carol.answer?.ok === true && carol.answer.value.entry.head.size).toBe(3)
    expect(fake.streams.lookup).toBe(1)
    expect(await client.lookupMany([], 0)).toEqual([])
    await expect(client.lookupMany(['alice'], -1)).rejects.toThrow(RangeError)
  })

  it('refuses a forged answer in the middle of a batch for that name only', async () => {
    fake.tamper.lookup = (honest, request) => nameOf(request) === 'bob' ? fake.answer('lookup', encodeLookupRequest('carol', 0)) : honest
    const outcomes = await client.lookupMany(['alice', 'bob', 'carol'], 0)
    expect(summary(outcomes)).toEqual(['alice', 'RegistryVerificationError', 'carol'])
    expect(outcomes[1]!.error?.message).toMatch(/certificate for "carol"/)
    expect(fake.streams.lookup).toBe(1)
  })

  it('refuses an oversized answer in the middle for that name only, and asks the rest on a new stream', async () => {
    fake.tamper.lookup = (honest, request) => nameOf(request) === 'bob' ? new Uint8Array(MAX_REGISTRY_RESPONSE_BYTES + 1) : honest
    const outcomes = await client.lookupMany(['alice', 'bob', 'carol'], 0)
    expect(summary(outcomes)).toEqual(['alice', 'RegistryVerificationError', 'carol'])
    expect(outcomes[1]!.error?.message).toMatch(/larger than/)
    expect(fake.streams.lookup).toBe(2)
  })

  it('gives the names not answered RegistryUnavailableError when the Operator stops answering', async () => {
    fake.tamper.lookup = (honest, request) => nameOf(request) === 'bob' ? undefined : honest
    const outcomes = await client.lookupMany(['alice', 'bob', 'carol'], 0)
    expect(summary(outcomes)).toEqual(['alice', 'RegistryUnavailableError', 'RegistryUnavailableError'])
    await fake.stop()
    expect(summary(await client.lookupMany(['alice', 'bob'], 0))).toEqual(['RegistryUnavailableError', 'RegistryUnavailableError'])
  })

  it('works with an Operator that answers one request per stream, and spreads a long list over streams', async () => {
    fake.onePerStream = true
    expect(summary(await client.lookupMany(['alice', 'bob', 'carol'], 0))).toEqual(['alice', 'bob', 'carol'])
    expect(fake.streams.lookup).toBe(3)
    fake.onePerStream = false
    const many = Array.from({ length: MAX_REGISTRY_REQUESTS_PER_STREAM + 10 }, (_, i) => ['alice', 'bob', 'carol', 'nobody'][i % 4]!)
    const outcomes = await client.lookupMany(many, 0)
    expect(summary(outcomes)).toEqual(many.map((name) => name === 'nobody' ? RegistryErrorCode.NOT_FOUND : name))
    expect(fake.streams.lookup).toBe(3 + 2)
  })

  it('stops when its signal aborts', async () => {
    fake.tamper.lookup = () => undefined
    const controller = new AbortController()
    setTimeout(() => { controller.abort() }, 100)
    await expect(client.lookupMany(['alice', 'bob'], 0, { signal: controller.signal })).rejects.toThrow(/abort/i)
  })
})

describe('a node re-checking its contacts\' names', () => {
  it('asks them all on one stream and takes each answer by the usual rules: a signed rotation moves a name, a rebinding does not', async () => {
    const fake = await fakeOperator()
    const keys = { alice: createIdentity(crypto), bob: createIdentity(crypto), carol: createIdentity(crypto) }
    const index: Record<string, number> = {}
    for (const [name, identity] of Object.entries(keys)) index[name] = fake.append(await registration(identity, name))
    const run = await startNode({ operator: fake.config })
    for (const name of Object.keys(keys)) await run.node.contacts.add(name)
    await run.node.stop()

    // While the node is down: alice rotates her keys properly, bob's name is rebound with no rotation at all.
    const next = createIdentity(crypto)
    const rotated = fake.append(await createRotation(crypto, keys.alice, next, 'alice', index.alice!, { workTrials: TEST_WORK_TRIALS }))
    fake.append(await registration(createIdentity(crypto), 'bob'))
    const streamsBefore = fake.streams.lookup
    const node = createKomradeNode(run.init)
    const changes: KeyChange[] = []
    node.addEventListener('key-change', (event) => { changes.push((event as CustomEvent<KeyChange>).detail) })
    await node.start() // it re-checks its contacts' names when it starts
    try {
      await waitFor('the key change', () => changes.length > 0)
      const hex = (id: Identity): string => toHex(encodePublicIdentity(id))
      expect(changes).toEqual([{ name: 'alice', previous: hex(keys.alice), current: hex(next), index: rotated }])
      expect(fake.streams.lookup - streamsBefore).toBe(1)
      const names = new Map(node.contacts.list().map((c) => [c.identity, c.name]))
      expect([names.get(hex(next)), names.get(hex(keys.bob)), names.get(hex(keys.carol))]).toEqual(['alice', 'bob', 'carol'])
      expect((await node.lookup('bob', { cacheOnly: true })).identity).toBe(hex(keys.bob))
    } finally {
      await node.stop()
    }
  })
})

describe('a node against a consistent log that rebinds a name', () => {
  it('accepts a name moved by a rotation its old key signed, and refuses one moved without', async () => {
    const fake = await fakeOperator()
    const first = createIdentity(crypto)
    fake.append(await registration(first, 'victim'))
    const { node } = await startNode({ operator: fake.config })
    const changes: KeyChange[] = []
    node.addEventListener('key-change', (event) => { changes.push((event as CustomEvent<KeyChange>).detail) })
    const contact = await node.contacts.add('victim')
    const hex = (id: Identity): string => toHex(encodePublicIdentity(id))
    expect(contact.identity).toBe(hex(first))

    // A second first-registration of the name, appended consistently: the Operator rebinding it alone.
    fake.append(await registration(createIdentity(crypto), 'victim'))
    await expect(node.lookup('victim')).rejects.toThrow(/without a rotation signed by the keys it had/)
    // A "rotation" signed by a key that never held the name.
    fake.append(await createRotation(crypto, createIdentity(crypto), createIdentity(crypto), 'victim', 0, { workTrials: TEST_WORK_TRIALS }))
    await expect(node.lookup('victim')).rejects.toBeInstanceOf(RegistryVerificationError)
    expect(changes).toEqual([])
    expect((await node.lookup('victim', { cacheOnly: true })).identity).toBe(hex(first))

    // The real owner moves it: accepted, reported.
    const next = createIdentity(crypto)
    const index = fake.append(await createRotation(crypto, first, next, 'victim', 0, { workTrials: TEST_WORK_TRIALS }))
    expect((await node.lookup('victim')).identity).toBe(hex(next))
    expect(changes).toEqual([{ name: 'victim', previous: hex(first), current: hex(next), index }])
    expect(node.contacts.list().find((c) => c.name === 'victim')?.identity).toBe(hex(next))
    expect(node.status().registry?.splitViews).toBe(0)
  })

  it('caches nothing from a forged answer', async () => {
    const fake = await fakeOperator()
    fake.append(await registration(createIdentity(crypto), 'alice'))
    fake.append(await registration(createIdentity(crypto), 'bob'))
    fake.tamper.lookup = () => fake.answer('lookup', encodeLookupRequest('bob', 0))
    const { node } = await startNode({ operator: fake.config })
    await expect(node.lookup('alice')).rejects.toBeInstanceOf(RegistryVerificationError)
    await expect(node.lookup('alice', { cacheOnly: true })).rejects.toBeInstanceOf(NameNotFoundError)
    await expect(node.contacts.add('alice')).rejects.toBeInstanceOf(RegistryVerificationError)
    expect(node.contacts.list()).toEqual([])
  })
})

describe('Operator addresses holding peers that are not the Operator', () => {
  it('skips a discovery-only Operator and another Operator, and takes error frames only from the pinned one', async () => {
    const real = await startOperator()
    const discovery = await startOperator({ registry: false })
    // Another Operator, honest about who it is, that would deny every name and every proof.
    const other = await fakeOperator()
    other.tamper.lookup = () => encodeError(RegistryErrorCode.NOT_FOUND, 'no such name')
    other.tamper.consistency = () => encodeError(RegistryErrorCode.BAD_RANGE, 'no such size')
    await registerDirectly(real.operator, createIdentity(crypto), 'alice')
    const addresses = [discovery.address, other.config.addresses[0]!, real.address]
    const pinned = { identity: real.config.identity, addresses }

    const host = await clientHost()
    const client = createRegistryClient({
      libp2p: host.libp2p, networkName: 'komrade', operator: decodePublicIdentity(fromHex(pinned.identity)), addresses, crypto
    })
    expect((await client.info()).head.size).toBe(1)
    const found = await client.lookup('alice', 0)
    expect(found.ok && found.value.entry.certificate.entry.request.name).toBe('alice')
    const missing = await client.lookup('nobody_here', 0)
    expect(missing.ok ? 'OK' : missing.code).toBe(RegistryErrorCode.NOT_FOUND)
    expect((await client.consistency(1, 1)).ok).toBe(true)

    // A node whose Operator addresses are its bootstrap list, a discovery-only anchor first.
    const { node } = await startNode({ bootstrap: addresses, operator: pinned })
    expect((await node.lookup('alice')).fromCache).toBe(false)
    await registerDirectly(real.operator, createIdentity(crypto), 'bob')
    expect(await node.offerTreeHead(real.operator.registry!.head().bytes)).toBe('adopted')
    expect(node.status().registry?.splitViews).toBe(0)

    // Only discovery-only peers: the node is told there is no registry. Only another Operator: unavailable.
    const onlyDiscovery = createRegistryClient({ libp2p: host.libp2p, networkName: 'komrade', operator: decodePublicIdentity(fromHex(pinned.identity)), addresses: [discovery.address], crypto })
    const refused = await onlyDiscovery.lookup('alice', 0)
    expect(refused.ok ? 'OK' : refused.code).toBe(RegistryErrorCode.NO_REGISTRY)
    const onlyOther = createRegistryClient({ libp2p: host.libp2p, networkName: 'komrade', operator: decodePublicIdentity(fromHex(pinned.identity)), addresses: [other.config.addresses[0]!], crypto })
    await expect(onlyOther.lookup('alice', 0)).rejects.toThrow(/No peer at the Operator addresses is the pinned Operator/)
  })
})

describe('a node against an Operator that will not prove its answer', () => {
  it('does not use a lookup answer from a smaller, forked log when no consistency proof comes: cache or unavailable', async () => {
    const honest = await fakeOperator()
    const fork = await startFakeOperator(honest.identity) // the same Operator key, another log
    fakes.push(fork)
    const alice = await registration(createIdentity(crypto), 'alice')
    honest.append(alice)
    fork.append(alice)
    for (const name of ['bob', 'carol', 'dave']) honest.append(await registration(createIdentity(crypto), name))
    fork.append(await registration(createIdentity(crypto), 'zed'))
    const { node } = await startNode({ operator: honest.config })
    expect((await node.lookup('alice')).fromCache).toBe(false)
    expect(node.status().registry?.head?.size).toBe(4)

    // The Operator answers from the fork (size 2) and refuses every consistency proof.
    honest.tamper.lookup = (_honest, request) => {
      const { name } = decodeLookupRequest(request)
      return fork.answer('lookup', encodeLookupRequest(name, 0))
    }
    honest.tamper.consistency = () => encodeError(RegistryErrorCode.UNAVAILABLE, 'busy')
    expect((await node.lookup('alice')).fromCache).toBe(true)
    await expect(node.lookup('zed')).rejects.toThrow(RegistryUnavailableError)
    await expect(node.lookup('zed', { cacheOnly: true })).rejects.toBeInstanceOf(NameNotFoundError)
    expect(node.status().registry?.head?.size).toBe(4)
    expect(node.status().registry?.splitViews).toBe(0)

    // Asked again, it cannot give the proof it owes: that is the evidence.
    honest.tamper.consistency = (_honest, request) => {
      const { from, to } = decodeConsistencyRequest(request)
      return from === 2 && to === 4 ? honest.answer('consistency', request) : encodeError(RegistryErrorCode.BAD_RANGE, 'no')
    }
    await expect(node.lookup('zed')).rejects.toThrow(/split view/)
    expect(node.status().registry?.splitViews).toBe(1)
  })

  it('does not take a direct registration whose head it cannot prove consistent', async () => {
    const fake = await fakeOperator()
    fake.append(await registration(createIdentity(crypto), 'alice'))
    fake.append(await registration(createIdentity(crypto), 'bob'))
    const { node } = await startNode({ operator: fake.config })
    await node.lookup('alice')
    fake.tamper.consistency = () => encodeError(RegistryErrorCode.RATE_LIMITED, 'later')
    await expect(node.register('newcomer')).rejects.toThrow(/did not prove its log consistent/)
    expect(node.status().registry?.head?.size).toBe(2)
    await expect(node.lookup('newcomer', { cacheOnly: true })).rejects.toBeInstanceOf(NameNotFoundError)
    fake.tamper.consistency = undefined
    expect((await node.register('newcomer')).name).toBe('newcomer')
    expect(node.status().registry?.head?.size).toBe(4)
  })
})

describe('the tree-head topic', () => {
  it('rejects a head not signed by the pinned key (the relaying peer loses score) and adopts a signed one', async () => {
    const fake = await fakeOperator()
    fake.append(await registration(createIdentity(crypto), 'alice'))
    const { node } = await startNode({ operator: fake.config })
    // A peer that relays anything on the topic.
    const relay = await createNetwork({
      listen: ['/ip4/127.0.0.1/tcp/0'], validate: async () => 'ignore', onEnvelope: () => {},
      treeHeads: { verify: () => true, onTreeHead: () => {} }
    })
    networks.push(relay)
    await relay.start()
    await relay.libp2p.dial(node.network.libp2p.getMultiaddrs()[0]!)
    await waitFor('the node on the relay\'s tree-head topic', () =>
      relay.libp2p.services.pubsub.getSubscribers(treeHeadTopic('komrade')).some((p) => p.equals(node.network.peerId)))

    const genuine = fake.head()
    const forged = signTreeHead(crypto, createIdentity(crypto), { size: 7, timestamp: Date.now(), root: genuine.root })
    await relay.publishTreeHead(forged.bytes)
    await waitFor('the relay to lose score', () => node.network.peerScore(relay.peerId) < 0)
    expect(node.status().registry?.head).toBeUndefined()

    await relay.publishTreeHead(genuine.bytes)
    await waitFor('the node to adopt the genuine head', () => node.status().registry?.head?.size === 1)
    expect(node.status().registry?.head?.root).toBe(toHex(genuine.root))
    await expect(relay.publishTreeHead(new Uint8Array(112))).rejects.toBeInstanceOf(RangeError)
  })
})
