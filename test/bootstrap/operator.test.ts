/**
 * The Operator as a whole, with real nodes on 127.0.0.1: it serves the
 * registry over its node's libp2p, answers registrations sent through the
 * flood (and clears them from its inbox), gossips each new tree head, runs
 * discovery-only without a registry, and holds its data directory alone.
 */
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import { createIdentityFile, readIdentityFile } from '../../node/identity-file.js'
import { createKomradeNode, type KomradeNode } from '../../node/komrade-node.js'
import { DataDirLockedError } from '../../node/store/data-lock.js'
import {
  createRegistration, decodeCertificate, decodeInfoResponse, encodePublicIdentity, KIND_REGISTRY_REQUEST, MAX_REGISTRY_RESPONSE_BYTES, RegistryErrorCode,
  registryProtocol, toHex, type RegistryOp
} from '../../protocol/index.js'
import { cleanup, startNode, waitFor } from '../node/cluster.js'
import { crypto, expectProven, removeTempDirs, tempDir, TEST_WORK_TRIALS } from './registry-helpers.js'

const operators: Operator[] = []

afterAll(async () => {
  for (const operator of operators) await operator.stop().catch(() => {})
  await cleanup()
  await removeTempDirs()
})

async function startOperator (init: { registry?: boolean } = {}): Promise<{ operator: Operator, address: string, dataDir: string }> {
  const dataDir = await tempDir('komrade-operator-')
  const operator = createOperator({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1, ...init })
  await operator.start()
  operators.push(operator)
  const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))!
  return { operator, address, dataDir }
}

async function ask (node: KomradeNode, address: string, op: RegistryOp, request: Uint8Array): Promise<Uint8Array> {
  const stream = await node.network.libp2p.dialProtocol(multiaddr(address), registryProtocol('komrade', op))
  const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES })
  await lp.write(request)
  const response = (await lp.read({ signal: AbortSignal.timeout(20_000) })).subarray()
  await stream.close().catch(() => {})
  return response
}

describe('an Operator with a registry', () => {
  it('serves the registry, answers flood registrations, clears its inbox and gossips its heads', async () => {
    const { operator, address, dataDir } = await startOperator()
    // Its identity is the data directory's identity.key: what signs the log.
    const secret = await readIdentityFile(crypto, dataDir)
    expect(operator.identity).toBe(toHex(encodePublicIdentity(secret)))
    expect(address).toContain(`/p2p/${operator.node.network.peerId.toString()}`)
    expect(operator.registry!.info().operator.signingKey).toEqual(secret.signingKey)

    const pinned = { identity: operator.identity, addresses: [address] }
    const { node: alice, dataDir: aliceDir } = await startNode({ bootstrap: [address], operator: pinned })
    const { node: bob } = await startNode({ bootstrap: [address], operator: pinned })

    // Direct: info over the node's own libp2p.
    const info = decodeInfoResponse(await ask(alice, address, 'info', new Uint8Array(0)))
    expect(info.ok && info.value.workTrials).toBe(TEST_WORK_TRIALS)

    // Through the flood, the node's way: the record comes back verified.
    const contactsBefore = operator.node.contacts.list()
    const record = await alice.register('alice_flood', { via: 'flood' })
    expect(record.name).toBe('alice_flood')
    expect(record.identity).toBe(alice.publicIdentity)
    const lookup = await operator.registry!.lookup('alice_flood', 0)
    expect(lookup.ok).toBe(true)
    if (lookup.ok) expect(toHex(lookup.value.certificate)).toBe(record.certificate)

    // Through the flood by hand: a raw KIND_REGISTRY_REQUEST from another node.
    const request = await createRegistration(crypto, await readIdentityFile(crypto, aliceDir), 'alice_raw', { workTrials: TEST_WORK_TRIALS })
    await bob.send(operator.identity, request, { kind: KIND_REGISTRY_REQUEST, ttlMinutes: 10 })
    await waitFor('the raw flood registration', async () => (await operator.registry!.lookup('alice_raw', 0)).ok, 60_000)
    const raw = await operator.registry!.lookup('alice_raw', 0)
    if (raw.ok) expect(decodeCertificate(expectProven(secret, raw.value).bytes).entry.request.bytes).toEqual(request)
    // Answered requests leave the Operator's inbox.
    await waitFor('the Operator inbox emptied', async () => (await operator.node.inbox({ kind: KIND_REGISTRY_REQUEST })).length === 0, 30_000)
    // The Operator keeps no contact for its registrants, and a registrant keeps none for the Operator:
    // each registration through the flood is a first contact of its own, so a second one works too.
    expect(operator.node.contacts.list()).toEqual(contactsBefore)
    expect(alice.contacts.list()).toEqual([])
    expect((await alice.register('alice_again', { via: 'flood' })).name).toBe('alice_again')
    await waitFor('the Operator inbox emptied', async () => (await operator.node.inbox({ kind: KIND_REGISTRY_REQUEST })).length === 0, 30_000)
    expect(operator.node.contacts.list()).toEqual(contactsBefore)
    expect(alice.contacts.list()).toEqual([])

    // Each new head reaches the nodes through gossip.
    const size = operator.registry!.size
    await waitFor('bob sees the latest head', () => bob.status().registry?.head?.size === size, 60_000)
  })

  it('answers requests that reached its node while it was not running, and drops those past the flood limit', async () => {
    const dataDir = await tempDir('komrade-operator-')
    const secret = await createIdentityFile(crypto, dataDir) // the Operator's identity, before any Operator ran
    const identity = toHex(encodePublicIdentity(secret))
    // The Operator's node alone (no Operator around it) takes two requests into its inbox.
    const bare = createKomradeNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, cover: false, operator: { identity, addresses: [] } })
    await bare.start()
    const bareAddress = bare.status().addresses[0]!
    const { node: sender, dataDir: senderDir } = await startNode({ bootstrap: [bareAddress] })
    const me = await readIdentityFile(crypto, senderDir)
    for (const name of ['late_one', 'late_two']) {
      await sender.send(identity, await createRegistration(crypto, me, name, { workTrials: TEST_WORK_TRIALS }), { kind: KIND_REGISTRY_REQUEST, ttlMinutes: 10 })
    }
    await waitFor('both requests in the inbox', async () => (await bare.inbox({ kind: KIND_REGISTRY_REQUEST })).length === 2, 60_000)
    await bare.stop()

    // The Operator starts with room for one flood registration: it answers one and drops the other.
    const operator = createOperator({
      dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1,
      rateLimits: { flood: { perSecond: 0.0001, burst: 1 } }
    })
    await operator.start()
    operators.push(operator)
    await waitFor('the inbox handled', async () => (await operator.node.inbox({ kind: KIND_REGISTRY_REQUEST })).length === 0, 30_000)
    const found = await Promise.all(['late_one', 'late_two'].map(async (name) => (await operator.registry!.lookup(name, 0)).ok))
    expect(found.filter(Boolean)).toHaveLength(1)
  })

  it('refuses a second Operator on the same data directory', async () => {
    const { dataDir } = await startOperator()
    const second = createOperator({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'] })
    await expect(second.start()).rejects.toThrow(DataDirLockedError)
  })
})

describe('a discovery-only Operator', () => {
  it('keeps no registry and answers NO_REGISTRY', async () => {
    const { operator, address } = await startOperator({ registry: false })
    expect(operator.registry).toBeUndefined()
    const { node } = await startNode({ bootstrap: [address] })
    const response = await ask(node, address, 'info', new Uint8Array(0))
    expect(response[0]).toBe(RegistryErrorCode.NO_REGISTRY)
  })
})
