/**
 * Restart durability: a node process is SIGKILLed at random points of two-way
 * traffic, restarted on the same data directory without repair, and nothing
 * it had acknowledged is lost (outbox entries it reported queued, inbox
 * messages it reported received).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { afterEach, expect, it } from 'vitest'
import { createKomradeNode } from '../../node/komrade-node.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'

const SCRIPT = join(import.meta.dirname, 'crash-node.ts')
const KILLS = 5

interface Child {
  process: ChildProcess
  events: Array<Record<string, string | boolean>>
  send(command: Record<string, unknown>): void
}

function startChild (dataDir: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, dataDir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const events: Child['events'] = []
  createInterface({ input: child.stdout! }).on('line', (line) => { events.push(JSON.parse(line) as Record<string, string | boolean>) })
  return { process: child, events, send: (command) => { child.stdin!.write(JSON.stringify(command) + '\n') } }
}

async function kill (child: Child): Promise<void> {
  const exited = new Promise((resolve) => child.process.once('exit', resolve))
  child.process.kill('SIGKILL')
  await exited
}

afterEach(cleanup)

it(`loses nothing acknowledged across ${KILLS} SIGKILLs mid-traffic`, async () => {
  const { node: peer } = await startNode({ workThreads: 1 })
  const dataDir = await mkdtemp(join(tmpdir(), 'komrade-crash-'))
  const queued = new Set<string>()
  const received = new Set<string>()
  let childIdentity = ''
  try {
    for (let round = 0; round < KILLS; round++) {
      const child = startChild(dataDir)
      await waitFor('child ready', () => child.events.some((e) => e.ready === true), 60_000)
      const ready = child.events.find((e) => e.ready === true)!
      childIdentity = ready.publicIdentity as string
      child.send({ dial: peer.status().addresses[0] })
      // Traffic both ways, then a kill at a random moment within it.
      for (let i = 0; i < 10; i++) {
        child.send({ send: { to: peer.publicIdentity, text: `from child ${round}.${i}` } })
        void peer.send(childIdentity, `to child ${round}.${i}`, { ttlMinutes: 10 }).catch(() => {})
      }
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1500))
      await kill(child)
      for (const event of child.events) {
        if (typeof event.queued === 'string') queued.add(event.queued)
        if (typeof event.received === 'string') received.add(event.received)
      }
    }
    // Restart in-process and check the data directory holds everything acknowledged.
    const restarted = createKomradeNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, cover: false })
    await restarted.start()
    try {
      const outbox = new Set((await restarted.outbox()).map((m) => m.id))
      const inbox = new Set((await restarted.inbox()).map((m) => m.id))
      // Both checks below must have something to check.
      expect(queued.size).toBeGreaterThan(0)
      expect(received.size).toBeGreaterThan(0)
      for (const id of queued) expect(outbox.has(id), `queued message ${id} lost`).toBe(true)
      for (const id of received) expect(inbox.has(id), `received message ${id} lost`).toBe(true)
      // And the restarted node still works: it catches up with the peer and the conversation goes on.
      await connect(restarted, peer)
      const last = await restarted.send(peer.publicIdentity, 'after the crashes', { ttlMinutes: 10 })
      await waitFor('peer receives after crashes', async () => (await peer.inbox()).some((m) => m.text === 'after the crashes'), 60_000)
      await waitFor('delivered after crashes', async () => (await restarted.outbox()).find((m) => m.id === last.id)?.state === 'delivered', 60_000)
    } finally {
      await restarted.stop()
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}, 240_000)
