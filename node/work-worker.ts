/** Worker thread of the work pool: solves one envelope per message. */
import { parentPort } from 'node:worker_threads'
import { nativeCrypto, solveWork } from '../protocol/index.js'

const crypto = nativeCrypto()
parentPort?.on('message', ({ envelope, now }: { envelope: Uint8Array, now: number }) => {
  parentPort?.postMessage(solveWork(crypto, envelope, { now }))
})
