/**
 * Worker thread of the registry benchmark: signs registration requests with
 * a small proof of work, in batches, so the main thread can register them
 * while more are made. Messages in: { first, count, trials, batch, seed }.
 * Messages out: { requests: Uint8Array[] } per batch, then { done: true }.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { createIdentity, createRegistration, nativeCrypto } from '../../protocol/index.js'
import { benchName } from './registry.js'

interface Job { first: number, count: number, trials: number, batch: number, prefix: string }

const crypto = nativeCrypto()
const job = workerData as Job
// Keys are made once per 1,000 names: key generation is not what is measured, and
// nothing in the registry forbids one key pair from holding several names.
let identity = createIdentity(crypto)
let batch: Uint8Array[] = []
for (let i = job.first; i < job.first + job.count; i++) {
  if (i % 1000 === 0) identity = createIdentity(crypto)
  batch.push(await createRegistration(crypto, identity, benchName(job.prefix, i), { workTrials: job.trials }))
  if (batch.length === job.batch) {
    parentPort!.postMessage({ requests: batch })
    batch = []
  }
}
if (batch.length > 0) parentPort!.postMessage({ requests: batch })
parentPort!.postMessage({ done: true })

