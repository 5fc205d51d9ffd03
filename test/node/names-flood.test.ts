/**
 * Registration through the flood (node/registry/name-service.ts) with the
 * network stubbed out: the test is the Operator, reading the requests the
 * node sends and handing answers back. An answer carries no request id, so
 * an error answer that may belong to an earlier attempt must not end a newer
 * one; an OK answer names its request and is always recognised.
 */
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../node/logger.js'
import { RegistryRejectedError, RegistryUnavailableError } from '../../node/registry/errors.js'
import { openNameCache } from '../../node/registry/name-cache.js'
import { createNameService, type NameService } from '../../node/registry/name-service.js'
import { createRegistryClient } from '../../node/registry/registry-client.js'
import { createTreeHeads } from '../../node/registry/tree-heads.js'
import {
  createIdentity, createMerkleTree, encodeError, encodeLogEntry, encodeRegisterResponse, merkleLeafHash, publicIdentityOf,
  RegistryErrorCode, signCertificate, signTreeHead, toHex
} from '../../protocol/index.js'
import { waitFor } from './cluster.js'
import { cleanupOperators, crypto, tempDir, TEST_WORK_TRIALS } from './registry-operators.js'

const dbs: Array<Level<string, Record<string, unknown>>> = []

afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close()
  await cleanupOperators()
})

/** A name service whose Operator is the test: `sent` holds the flooded requests, `answer` hands a response back. */
async function floodSetup (): Promise<{ names: NameService, sent: Uint8Array[], answer: (body: Uint8Array) => void, ok: (request: Uint8Array) => Uint8Array }> {
  const operator = createIdentity(crypto)
  const db = new Level<string, Record<string, unknown>>(await tempDir(), { keyEncoding: 'utf8', valueEncoding: 'json' })
  await db.open()
  dbs.push(db)
  const cache = openNameCache(db)
  await cache.putWorkTrials(TEST_WORK_TRIALS)
  const offline = async (): Promise<never> => { throw new RegistryUnavailableError('offline') }
  const client = createRegistryClient({ libp2p: { dial: offline }, networkName: 'komrade', operator: publicIdentityOf(operator), addresses: [], crypto })
  const heads = createTreeHeads({
    crypto, operatorKey: operator.signingKey, cache, logger: silentLogger(), fetchConsistency: offline, onAdopted: () => {}, onSplitView: () => {}
  })
  await heads.load()
  const sent: Uint8Array[] = []
  let answers = 0
  const names = createNameService({
    crypto, identity: createIdentity(crypto), operator: publicIdentityOf(operator), client, heads, cache, logger: silentLogger(),
    sendMessage: async (_to, body) => { sent.push(body); return `request-${sent.length}` },
    deleteMessages: async (ids) => ids.length,
    addContact: async () => {},
    forgetSessions: async () => {},
    contactIdentity: () => undefined,
    onKeyChange: () => {}
  })
  await names.load()
  const log = createMerkleTree(crypto)
  return {
    names,
    sent,
    answer: (body) => { names.onRegistryResponse({ id: `answer-${++answers}`, from: toHex(operator.signingKey), body }) },
    ok: (request) => {
      const index = log.size
      const entry = encodeLogEntry(index, Date.now(), request)
      log.append(merkleLeafHash(crypto, entry))
      const head = signTreeHead(crypto, operator, { size: log.size, timestamp: Date.now(), root: log.root() })
      return encodeRegisterResponse({ certificate: signCertificate(crypto, operator, entry), head: head.bytes, inclusion: log.inclusionProof(index) })
    }
  }
}

describe('registration through the flood', () => {
  it('does not take an error answer that may be for an earlier, abandoned request as the answer to a newer one', async () => {
    const { names, sent, answer, ok } = await floodSetup()
    const cancel = new AbortController()
    const abandoned = names.register('first_try', { via: 'flood', signal: cancel.signal })
    await waitFor('the first request', () => sent.length === 1)
    cancel.abort()
    await expect(abandoned).rejects.toThrow()

    const second = names.register('second_try', { via: 'flood' })
    await waitFor('the second request', () => sent.length === 2)
    answer(encodeError(RegistryErrorCode.NAME_TAKEN, '"first_try" is taken; choose another name')) // late, for the first request
    answer(ok(sent[1]!))
    expect((await second).name).toBe('second_try')

    // No earlier request is waiting any more: an error answer is this request's.
    const third = names.register('third_try', { via: 'flood' })
    await waitFor('the third request', () => sent.length === 3)
    answer(encodeError(RegistryErrorCode.NAME_TAKEN, '"third_try" is taken; choose another name'))
    const refused = await third.catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(RegistryRejectedError)
    expect((refused as RegistryRejectedError).codeName).toBe('NAME_TAKEN')
  })
})
