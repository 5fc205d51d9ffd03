/**
 * Durability of acknowledgements: a registry process is SIGKILLed at random
 * moments while it registers names concurrently, several times over, and
 * reopened on the same database without repair. Every name it acknowledged
 * is there, and the log audits clean.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, expect, it } from 'vitest'
import { auditLog, exportLog, openRegistry } from '../../bootstrap/index.js'
import { createIdentity, encodeIdentity, toHex } from '../../protocol/index.js'
import { crypto, removeTempDirs, tempDir } from './registry-helpers.js'

const CHILD = join(import.meta.dirname, 'registry-crash-child.ts')
const KILLS = 5

interface Child {
  process: ChildProcess
  events: Array<{ ready?: boolean, acked?: string, refused?: string, message?: string }>
}

function startChild (dbPath: string, operatorHex: string, prefix: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dbPath, operatorHex, prefix], { stdio: ['ignore', 'pipe', 'inherit'] })
  const events: Child['events'] = []
  createInterface({ input: child.stdout! }).on('line', (line) => { events.push(JSON.parse(line) as Child['events'][number]) })
  return { process: child, events }
}

async function until (what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

afterEach(removeTempDirs)

it(`keeps every acknowledged registration across ${KILLS} SIGKILLs`, async () => {
  const dir = await tempDir('komrade-registry-crash-')
  const dbPath = join(dir, 'registry')
  const operator = createIdentity(crypto)
  const acked = new Set<string>()
  for (let round = 0; round < KILLS; round++) {
    const child = startChild(dbPath, toHex(encodeIdentity(operator)), `round${round}_`)
    const exited = new Promise((resolve) => child.process.once('exit', resolve))
    await until('the child to open the registry', () => child.events.some((e) => e.ready === true))
    // Kill at a random moment once registrations flow (at least one acknowledged in this round).
    await until('a first acknowledgement', () => child.events.some((e) => e.acked !== undefined))
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 700))
    child.process.kill('SIGKILL')
    await exited
    const refused = child.events.filter((e) => e.refused !== undefined)
    expect(refused, 'no fresh name should be refused').toEqual([])
    for (const event of child.events) if (event.acked !== undefined) acked.add(event.acked)
  }

  const registry = await openRegistry({ dbPath, crypto, operator, workTrials: 16 })
  try {
    expect(acked.size).toBeGreaterThan(KILLS)
    // Entries may exceed acknowledgements (written, killed before the answer), never the reverse.
    expect(registry.size).toBeGreaterThanOrEqual(acked.size)
    for (const name of acked) {
      const answer = await registry.lookup(name, 0)
      expect(answer.ok, `acknowledged ${name} lost`).toBe(true)
    }
    const file = join(dir, 'log.export')
    const exported = await exportLog(registry, file)
    expect(exported.entries).toBe(registry.size)
    const report = await auditLog(file, { operator: toHex(operator.signingKey) })
    expect(report.problems).toEqual([])
    expect(report.headMatches).toBe(true)
    expect(report.names).toBe(registry.size)
  } finally {
    await registry.close()
  }
}, 120_000)
