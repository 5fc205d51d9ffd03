/**
 * Names end to end: real nodes and a real Operator (bootstrap/operator.ts)
 * on 127.0.0.1, real LevelDB. Registering, looking up, contacts by name and
 * by invite code, the cache while the Operator is down, and a node with no
 * Operator at all.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  BadNameError, KIND_REGISTRY_REQUEST, NameNotFoundError, NoOperatorError, RegistryErrorCode, RegistryRejectedError,
  RegistryUnavailableError
} from '../../node/index.js'
import { decodeCertificate, decodeInvite, fromHex, verifyCertificate } from '../../protocol/index.js'
import { cleanup, startNode, waitFor } from './cluster.js'
import { cleanupOperators, crypto, startOperator, TTL } from './registry-operators.js'

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
})

describe('names through an Operator', () => {
  it('registers a name, another node looks it up, adds the contact by name and they talk', async () => {
    const op = await startOperator()
    const { node: alice } = await startNode({ operator: op.config, bootstrap: [op.address] })
    const { node: bob } = await startNode({ operator: op.config, bootstrap: [op.address] })

    const registered = await alice.register('Alice')
    expect(registered).toMatchObject({ name: 'alice', identity: alice.publicIdentity, fromCache: false })
    expect(registered.fingerprint).toBe(alice.status().fingerprint)
    // The certificate is the Operator's, checkable offline with its key.
    const certificate = decodeCertificate(fromHex(registered.certificate))
    expect(verifyCertificate(crypto, fromHex(op.operator.identity).subarray(0, 32), certificate)).toBe(true)

    const found = await bob.lookup('ALICE')
    expect(found).toEqual({ ...registered, fromCache: false })
    const contact = await bob.contacts.add('alice')
    expect(contact).toMatchObject({ identity: alice.publicIdentity, name: 'alice' })
    expect(bob.contacts.list().find((c) => c.id === contact.id)?.name).toBe('alice')
    expect(bob.status().registry).toMatchObject({ operator: op.operator.identity, splitViews: 0 })
    expect(bob.status().registry?.head?.size).toBeGreaterThanOrEqual(1)

    await bob.send(contact.identity, 'found you by name', TTL)
    await waitFor('alice to receive', async () => (await alice.inbox()).some((m) => m.text === 'found you by name'), 60_000)

    // Alice's invite carries the name she registered and her addresses.
    const invite = decodeInvite(alice.invite(), crypto)
    expect(invite.name).toBe('alice')
    expect(invite.addresses).toEqual(alice.status().addresses.slice(0, 8))
  })

  it('refuses an unknown name, a bad one and a taken one, each with its own error', async () => {
    const op = await startOperator()
    const { node: alice } = await startNode({ operator: op.config })
    const { node: mallory } = await startNode({ operator: op.config })

    await expect(alice.lookup('nobody_here')).rejects.toBeInstanceOf(NameNotFoundError)
    await expect(alice.lookup('аlice')).rejects.toMatchObject({ name: 'BadNameError', reason: 'charset' }) // Cyrillic а
    await expect(alice.register('admin')).rejects.toBeInstanceOf(BadNameError)
    await expect(alice.contacts.add('no')).rejects.toMatchObject({ name: 'BadNameError', reason: 'length' })

    await alice.register('alice')
    const taken = await mallory.register('alice').catch((error: unknown) => error)
    expect(taken).toBeInstanceOf(RegistryRejectedError)
    expect(taken).toMatchObject({ code: RegistryErrorCode.NAME_TAKEN, codeName: 'NAME_TAKEN', message: expect.stringMatching(/choose another name/) as unknown })
    // Registering again a name that is already ours answers with our record.
    expect(await alice.register('alice')).toMatchObject({ name: 'alice', identity: alice.publicIdentity })
  })

  it('registers through the flood, when the node only reaches the Operator through the network', async () => {
    const op = await startOperator()
    const { node: relay } = await startNode({ bootstrap: [op.address] })
    const relayAddress = relay.status().addresses.find((a) => a.includes('/127.0.0.1/'))!
    // Carol knows the Operator's identity and one address to read its settings, but registers through the flood.
    const { node: carol } = await startNode({ operator: op.config, bootstrap: [relayAddress] })
    await waitFor('carol in the mesh', () => carol.status().meshPeers > 0)

    const record = await carol.register('carol', { via: 'flood' })
    expect(record).toMatchObject({ name: 'carol', identity: carol.publicIdentity, fromCache: false })
    expect((await op.operator.registry!.lookup('carol', 0)).ok).toBe(true)
    // The request and the answer were the node's business: not in the inbox or outbox, and deleted.
    expect(await carol.inbox()).toEqual([])
    expect(await carol.outbox()).toEqual([])
    expect(await carol.inbox({ kind: KIND_REGISTRY_REQUEST })).toEqual([])
  }, 180_000)

  it('answers from the cache while the Operator is down, and says so', async () => {
    const op = await startOperator()
    const { node: alice } = await startNode({ operator: op.config })
    const { node: bob } = await startNode({ operator: op.config })
    await alice.register('alice')
    const fresh = await bob.lookup('alice')
    await op.operator.stop()

    const cached = await bob.lookup('alice')
    expect(cached).toEqual({ ...fresh, fromCache: true })
    expect(await bob.lookup('alice', { cacheOnly: true })).toEqual({ ...fresh, fromCache: true })
    await expect(bob.lookup('someone_else')).rejects.toBeInstanceOf(RegistryUnavailableError)
    await expect(bob.lookup('someone_else', { cacheOnly: true })).rejects.toBeInstanceOf(NameNotFoundError)
    // A contact by name still works from the cache.
    expect(await bob.contacts.add('alice')).toMatchObject({ identity: alice.publicIdentity, name: 'alice' })
  })
})

describe('a node with no Operator', () => {
  it('adds contacts by identity and by invite code, and reaches the inviter with no bootstrap at all', async () => {
    const { node: alice } = await startNode()
    const { node: bob } = await startNode()
    expect(alice.status().registry).toBeUndefined()
    await expect(alice.lookup('bob')).rejects.toBeInstanceOf(NoOperatorError)
    await expect(alice.register('alice')).rejects.toBeInstanceOf(NoOperatorError)
    await expect(alice.contacts.add('bob')).rejects.toBeInstanceOf(NoOperatorError)

    // Bob holds only Alice's invite code: her keys and her address.
    const contact = await bob.contacts.add(alice.invite())
    expect(contact.identity).toBe(alice.publicIdentity)
    expect(contact.name).toBeUndefined()
    await waitFor('bob to dial alice', () => bob.network.libp2p.getConnections(alice.network.peerId).length > 0)
    await waitFor('a gossip mesh', () => alice.status().meshPeers > 0 && bob.status().meshPeers > 0)
    await bob.send(contact.identity, 'hello from your invite', TTL)
    await waitFor('alice to receive', async () => (await alice.inbox()).some((m) => m.text === 'hello from your invite'), 60_000)

    // And by hex identity.
    const back = await alice.contacts.add(bob.publicIdentity)
    expect(back.identity).toBe(bob.publicIdentity)
    await alice.send(back.identity, 'and back', TTL)
    await waitFor('bob to receive', async () => (await bob.inbox()).some((m) => m.text === 'and back'), 60_000)
  })

  it('refuses kinds the application may not send, and damaged invite codes', async () => {
    const { node } = await startNode()
    await expect(node.send(node.publicIdentity, 'x', { kind: 0x02 })).rejects.toBeInstanceOf(RangeError)
    await expect(node.send(node.publicIdentity, 'x', { kind: 0x7f })).rejects.toBeInstanceOf(RangeError)
    const invite = node.invite()
    const flipped = invite.at(-3) === 'A' ? 'B' : 'A'
    const damaged = invite.slice(0, -3) + flipped + invite.slice(-2)
    await expect(node.contacts.add(damaged)).rejects.toMatchObject({ name: 'RegistryFormatError' })
  })
})
