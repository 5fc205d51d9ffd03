/** Test helpers: real nodes in temp data directories on 127.0.0.1. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createKomradeNode, type KomradeNode, type KomradeNodeInit } from '../../node/komrade-node.js'

/** A started node and its data directory. */
export interface TestNode {
  node: KomradeNode
  dataDir: string
  init: KomradeNodeInit
}

const cleanups: Array<() => Promise<void>> = []

/**
 * Starts a node in a fresh temp directory (or `dataDir`), listening on
 * loopback only. Cover traffic is off unless `init.cover` says otherwise:
 * at the default rate each message would wait about a minute for its slot.
 */
export async function startNode (init: Partial<KomradeNodeInit> = {}): Promise<TestNode> {
  const dataDir = init.dataDir ?? await mkdtemp(join(tmpdir(), 'komrade-node-'))
  const full: KomradeNodeInit = { listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, resyncIntervalMs: 60_000, cover: false, ...init, dataDir }
  const node = createKomradeNode(full)
  await node.start()
  if (init.dataDir === undefined) cleanups.push(async () => { await rm(dataDir, { recursive: true, force: true }) })
  cleanups.push(async () => { await node.stop() })
  return { node, dataDir, init: full }
}

/** Dials `b` from `a` on its first loopback address. */
export async function connect (a: KomradeNode, b: KomradeNode): Promise<void> {
  const address = b.status().addresses.find((addr) => addr.includes('/127.0.0.1/'))
  if (address === undefined) throw new Error('node has no loopback address')
  await a.network.libp2p.dial(multiaddr(address))
}

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Stops every node and removes every directory made by this file's helpers (last made, first cleaned). */
export async function cleanup (): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => {})
}
