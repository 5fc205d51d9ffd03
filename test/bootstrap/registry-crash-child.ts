/**
 * A registry in its own process, for the SIGKILL test. Args: dbPath,
 * operator secret identity (hex), name prefix. Registers fresh names with
 * CONCURRENCY in flight, forever, and prints { acked: name } on stdout for
 * each one the registry acknowledged (its batch is synced by then).
 */
import { openRegistry } from '../../bootstrap/index.js'
import { createIdentity, createRegistration, decodeIdentity, fromHex, nativeCrypto } from '../../protocol/index.js'

const CONCURRENCY = 16
const WORK_TRIALS = 16
const [dbPath, operatorHex, prefix] = process.argv.slice(2) as [string, string, string]
const crypto = nativeCrypto()
const registry = await openRegistry({ dbPath, crypto, operator: decodeIdentity(crypto, fromHex(operatorHex)), workTrials: WORK_TRIALS })
const say = (event: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(event) + '\n') }
say({ ready: true, size: registry.size })
let next = 0
async function worker (): Promise<void> {
  for (;;) {
    const name = `${prefix}${next++}`
    const answer = await registry.register(await createRegistration(crypto, createIdentity(crypto), name, { workTrials: WORK_TRIALS }))
    if (answer.ok) say({ acked: name })
    else say({ refused: name, code: answer.code, message: answer.message })
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker))
