/**
 * A name moving to new keys: rotated at the Operator (each rotation signed
 * by the keys before it), noticed by a contact's node when it refreshes its
 * contacts' names, and reported as a 'key-change'. A rebinding without such
 * a rotation is refused.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createKomradeNode, RegistryVerificationError, type KeyChange } from '../../node/index.js'
import { createIdentity, encodePublicIdentity, toHex } from '../../protocol/index.js'
import { cleanup, startNode, waitFor } from './cluster.js'
import {
  cleanupOperators, crypto, identityOf, registerDirectly, rotateDirectly, startOperator, twinOperatorDirs
} from './registry-operators.js'

afterEach(async () => {
  await cleanup()
  await cleanupOperators()
})

describe('key change', () => {
  it('a contact\'s node notices, at its refresh, that the name was rotated twice, and moves the name to the new keys', async () => {
    const op = await startOperator()
    const alice = await startNode({ operator: op.config })
    const bobRun = await startNode({ operator: op.config })
    const registered = await alice.node.register('alice')
    const contact = await bobRun.node.contacts.add('alice')
    await bobRun.node.stop()

    // Alice moves her name twice while Bob is away: to a second device's keys, then a third.
    const first = await identityOf(alice.dataDir)
    const second = createIdentity(crypto)
    const third = createIdentity(crypto)
    const secondIndex = await rotateDirectly(op.operator, first, second, 'alice', registered.index)
    const thirdIndex = await rotateDirectly(op.operator, second, third, 'alice', secondIndex)

    // Bob's node looks up its contacts' names when it starts.
    const bob = createKomradeNode(bobRun.init)
    const changes: KeyChange[] = []
    bob.addEventListener('key-change', (event) => { changes.push((event as CustomEvent<KeyChange>).detail) })
    await bob.start()
    try {
      await waitFor('the key change', () => changes.length > 0)
      const thirdHex = toHex(encodePublicIdentity(third))
      expect(changes).toEqual([{ name: 'alice', previous: alice.node.publicIdentity, current: thirdHex, index: thirdIndex }])
      // The name now belongs to the new keys; the old contact keeps its sessions, not the name.
      const contacts = bob.contacts.list()
      expect(contacts.find((c) => c.identity === thirdHex)?.name).toBe('alice')
      expect(contacts.find((c) => c.id === contact.id)?.name).toBeUndefined()
      expect((await bob.lookup('alice')).identity).toBe(thirdHex)
      expect(changes).toHaveLength(1) // looking up again changes nothing
    } finally {
      await bob.stop()
    }
  })

  it('reports a rotation once when several lookups see it at the same time', async () => {
    const op = await startOperator()
    const first = createIdentity(crypto)
    const index = await registerDirectly(op.operator, first, 'carol')
    const { node: bob } = await startNode({ operator: op.config })
    await bob.contacts.add('carol')
    const changes: KeyChange[] = []
    bob.addEventListener('key-change', (event) => { changes.push((event as CustomEvent<KeyChange>).detail) })
    const next = createIdentity(crypto)
    const rotated = await rotateDirectly(op.operator, first, next, 'carol', index)
    const hex = (id: typeof first): string => toHex(encodePublicIdentity(id))
    const records = await Promise.all(Array.from({ length: 5 }, async () => await bob.lookup('carol')))
    expect(records.map((r) => r.identity)).toEqual(Array(5).fill(hex(next)))
    expect(changes).toEqual([{ name: 'carol', previous: hex(first), current: hex(next), index: rotated }])
    expect(bob.contacts.list().find((c) => c.name === 'carol')?.identity).toBe(hex(next))
  })

  it('refuses a name that another instance of the Operator bound to other keys without a rotation', async () => {
    const [dir1, dir2] = await twinOperatorDirs()
    const op1 = await startOperator({ dataDir: dir1 })
    const op2 = await startOperator({ dataDir: dir2 })
    // The same name, two unrelated keys, both as first registrations; the second log is longer so it looks newer.
    await registerDirectly(op1.operator, createIdentity(crypto), 'victim')
    await registerDirectly(op2.operator, createIdentity(crypto), 'filler')
    await registerDirectly(op2.operator, createIdentity(crypto), 'victim')

    const bobRun = await startNode({ operator: op1.config })
    const before = await bobRun.node.contacts.add('victim')
    await bobRun.node.stop()
    // Bob's node is now pointed at the other instance.
    const { node: bob } = await startNode({ ...bobRun.init, operator: op2.config })
    const changes: KeyChange[] = []
    bob.addEventListener('key-change', (event) => { changes.push((event as CustomEvent<KeyChange>).detail) })
    await expect(bob.lookup('victim')).rejects.toBeInstanceOf(RegistryVerificationError)
    expect(changes).toEqual([])
    expect(bob.contacts.list().find((c) => c.name === 'victim')?.identity).toBe(before.identity)
    expect((await bob.lookup('victim', { cacheOnly: true })).identity).toBe(before.identity)
  })
})
