/**
 * Child process of the registry benchmark: runs an Operator on a copy of the
 * filled registry, so its start-up time, memory and CPU are its own, not the
 * benchmark's. Prints one JSON line when started ({ address, identity,
 * startSeconds, rssMiB }), then answers "cpu" on stdin with its CPU seconds
 * so far, and stops on "stop" (or when stdin closes).
 */
import { createInterface } from 'node:readline'
import { createOperator } from '../../bootstrap/index.js'

const dataDir = process.argv[2]
if (dataDir === undefined) throw new Error('usage: registry-operator.ts DATA_DIR')
const started = performance.now()
const operator = createOperator({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: 16, rateLimits: false, workThreads: 1 })
await operator.start()
const startSeconds = (performance.now() - started) / 1000
global.gc?.()
const address = operator.addresses.find((a) => a.includes('/127.0.0.1/'))
process.stdout.write(JSON.stringify({ address, identity: operator.identity, startSeconds, rssMiB: process.memoryUsage().rss / 2 ** 20 }) + '\n')

const cpuSeconds = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (line === 'cpu') process.stdout.write(JSON.stringify({ cpuSeconds: cpuSeconds() }) + '\n')
  if (line === 'stop') break
}
await operator.stop()
process.exit(0)
