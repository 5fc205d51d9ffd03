/** The node end to end: real libp2p nodes on 127.0.0.1, real LevelDB, real workers. */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, connect, startNode, waitFor } from './cluster.js'

// Short-lived messages need little proof of work (SPEC §5), which keeps these tests quick.
const TTL = { ttlMinutes: 10 }

describe('two nodes', () => {
  afterEach(cleanup)

  it('carry a direct message both ways, with receipts turning sent into delivered', async () => {
    const { node: alice } = await startNode()
    const { node: bob } = await startNode()
    await connect(alice, bob)
    await waitFor('a gossip mesh', () => alice.status().meshPeers > 0 && bob.status().meshPeers > 0)

    const first = await alice.send(bob.publicIdentity, 'hello bob', TTL)
    await waitFor('bob to receive', async () => (await bob.inbox()).length === 1)
    const [received] = await bob.inbox()
    expect(received!.text).toBe('hello bob')
    expect(received!.from).toBe(alice.status().id)
    // Bob's node answered the first contact with an accept that doubles as the receipt.
    await waitFor('alice to see delivered', async () => (await alice.outbox()).find((m) => m.id === first.id)?.state === 'delivered')

    await bob.send(received!.fromIdentity, 'hi alice', TTL)
    await waitFor('alice to receive', async () => (await alice.inbox()).length === 1)
    expect((await alice.inbox())[0]!.text).toBe('hi alice')
    await waitFor('bob to see delivered', async () => (await bob.outbox())[0]?.state === 'delivered')

    const second = await alice.send(bob.publicIdentity, 'over the session now', TTL)
    await waitFor('second delivered', async () => (await alice.outbox()).find((m) => m.id === second.id)?.state === 'delivered')
    expect((await bob.inbox()).map((m) => m.text)).toEqual(['hello bob', 'over the session now'])
  })

  it('delivers to a node that was offline: 200 messages, each exactly once', async () => {
    const { node: alice } = await startNode({ workThreads: 2 })
    const bobRun = await startNode()
    await connect(alice, bobRun.node)
    // Establish the session first so the 200 messages go over it.
    await alice.send(bobRun.node.publicIdentity, 'hello', TTL)
    await waitFor('session', async () => (await alice.outbox())[0]?.state === 'delivered')
    await bobRun.node.stop()

    const sent = []
    for (let i = 0; i < 200; i++) sent.push(await alice.send(bobRun.node.publicIdentity, `offline ${i}`, TTL))
    await waitFor('all 200 worked', async () => (await alice.outbox()).every((m) => m.state !== 'working'), 120_000)

    const { node: bob } = await startNode({ dataDir: bobRun.dataDir })
    await connect(bob, alice)
    await waitFor('bob to get all 200', async () => (await bob.inbox()).length === 201, 120_000)
    const texts = (await bob.inbox()).map((m) => m.text)
    expect(new Set(texts).size).toBe(201)
    for (let i = 0; i < 200; i++) expect(texts).toContain(`offline ${i}`)
    await bob.syncNow()
    expect((await bob.inbox()).length).toBe(201)
    // Bob's receipts (coalesced, up to 119 ids per envelope) reach Alice: every message shows delivered.
    await waitFor('all 201 delivered', async () => (await alice.outbox()).every((m) => m.state === 'delivered'), 60_000)
    expect(await alice.outbox()).toHaveLength(201)
  }, 300_000)
})

describe('ten nodes in a chain', () => {
  afterEach(cleanup)

  it('carry a message from one end to the other; the nodes between store it but cannot open it', async () => {
    const nodes = []
    for (let i = 0; i < 10; i++) nodes.push((await startNode()).node)
    for (let i = 0; i + 1 < nodes.length; i++) await connect(nodes[i]!, nodes[i + 1]!)
    const first = nodes[0]!
    const last = nodes[nodes.length - 1]!
    const storedBefore = nodes.map((n) => n.status().store.count)
    await first.send(last.publicIdentity, 'end to end', TTL)
    await waitFor('the far end to receive', async () => (await last.inbox()).length === 1, 60_000)
    expect((await last.inbox())[0]!.text).toBe('end to end')
    for (const [i, middle] of nodes.slice(1, -1).entries()) {
      expect(middle.status().store.count).toBeGreaterThan(storedBefore[i + 1]!)
      expect(await middle.inbox()).toEqual([])
    }
  }, 120_000)
})

describe('auto-delete', () => {
  afterEach(cleanup)

  it('removes local messages older than the chosen time (checked at start and every minute)', async () => {
    const { node: alice } = await startNode()
    const bobRun = await startNode({ autoDeleteAfterMs: 1500 })
    const bob = bobRun.node
    await connect(alice, bob)
    await alice.send(bob.publicIdentity, 'ephemeral', TTL)
    await waitFor('bob to receive', async () => (await bob.inbox()).length === 1)
    await bob.stop()
    await new Promise((resolve) => setTimeout(resolve, 1600))
    const { node: again } = await startNode({ dataDir: bobRun.dataDir, autoDeleteAfterMs: 1500 })
    expect(await again.inbox()).toEqual([])
  })
})
