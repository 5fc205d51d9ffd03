/**
 * The registry protocol over real libp2p streams on 127.0.0.1: every op,
 * every error code, oversize and garbage frames, silent clients, rate
 * limits, a discovery-only Operator, and streams that carry several
 * requests.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import type { Libp2p, Stream } from '@libp2p/interface'
import { Level } from 'level'
import { createLibp2p } from 'libp2p'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createRegistryService, openRegistry, type Registry, type RegistryService, type RateLimits } from '../../bootstrap/index.js'
import {
  createIdentity, createRegistration, decodeEntriesResponse, decodeInfoResponse, decodeLookupResponse, decodeProofResponse,
  decodeRegisterResponse, encodeConsistencyRequest, encodeEntriesRequest, encodeLookupRequest, MAX_REGISTRY_REQUESTS_PER_STREAM, MAX_REGISTRY_RESPONSE_BYTES,
  RegistryErrorCode, registryProtocol, verifyConsistency, verifyTreeHead, type Identity, type RegistryOp
} from '../../protocol/index.js'
import { craftRequest, crypto, expectProven, removeTempDirs, tempDir, TEST_WORK_TRIALS } from './registry-helpers.js'

const NETWORK = 'regtest'
const nodes: Libp2p[] = []
const services: RegistryService[] = []

async function host (): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1000 }
  })
  nodes.push(node)
  return node
}

async function serve (registry: Registry | undefined, rateLimits?: Partial<RateLimits> | false, requestTimeoutMs?: number): Promise<Libp2p> {
  const server = await host()
  const service = createRegistryService({
    libp2p: server,
    networkName: NETWORK,
    ...(registry === undefined ? {} : { registry }),
    ...(rateLimits === undefined ? {} : { rateLimits }),
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs })
  })
  await service.start()
  services.push(service)
  return server
}

/** One request frame, one response frame. `raw` bytes are written as they are, unframed. */
async function ask (client: Libp2p, server: Libp2p, op: RegistryOp, request: Uint8Array, options: { raw?: boolean } = {}): Promise<Uint8Array> {
  const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, registryProtocol(NETWORK, op))
  const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES })
  if (options.raw === true) {
    if (request.length > 0 && !stream.send(request)) await new Promise((resolve) => stream.addEventListener('drain', resolve, { once: true }))
  } else {
    await lp.write(request)
  }
  const response = (await lp.read({ signal: AbortSignal.timeout(20_000) })).subarray()
  await stream.close().catch(() => {})
  return response
}

const statusOf = (response: Uint8Array): number => response[0]!

/** A stream of `op` on which a test writes request frames and reads answers as it likes. */
async function openStream (client: Libp2p, server: Libp2p, op: RegistryOp): Promise<{
  stream: Stream, write: (requests: Uint8Array[]) => Promise<void>, read: (timeoutMs?: number) => Promise<Uint8Array>
}> {
  const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, registryProtocol(NETWORK, op))
  const lp = lpStream(stream, { maxDataLength: MAX_REGISTRY_RESPONSE_BYTES })
  return {
    stream,
    write: async (requests) => { await lp.writeV(requests) },
    read: async (timeoutMs = 20_000) => (await lp.read({ signal: AbortSignal.timeout(timeoutMs) })).subarray()
  }
}

/** The name a lookup answer certifies, or its status when it is an error frame. */
function answered (response: Uint8Array): string | number {
  const decoded = decodeLookupResponse(response)
  return decoded.ok ? decoded.value.certificate.entry.request.name : decoded.code
}

let dir: string
let operator: Identity
let registry: Registry
let server: Libp2p
let client: Libp2p

beforeAll(async () => {
  dir = await tempDir()
  operator = createIdentity(crypto)
  registry = await openRegistry({ dbPath: join(dir, 'registry'), crypto, operator, workTrials: TEST_WORK_TRIALS })
  server = await serve(registry, false)
  client = await host()
})

afterEach(() => { vi.restoreAllMocks() })

afterAll(async () => {
  for (const service of services) await service.stop()
  for (const node of nodes) await node.stop()
  await registry.close()
  await removeTempDirs()
})

const registration = async (name: string, identity = createIdentity(crypto)): Promise<Uint8Array> =>
  await createRegistration(crypto, identity, name, { workTrials: TEST_WORK_TRIALS })

describe('every op over a stream', () => {
  it('answers info, register, lookup, consistency and entries with proofs that verify', async () => {
    const info = decodeInfoResponse(await ask(client, server, 'info', new Uint8Array(0)))
    expect(info.ok).toBe(true)
    if (!info.ok) return
    expect(info.value.operator.signingKey).toEqual(operator.signingKey)
    expect(info.value.workTrials).toBe(TEST_WORK_TRIALS)
    expect(verifyTreeHead(crypto, operator.signingKey, info.value.head)).toBe(true)
    const before = info.value.head

    const registered = decodeRegisterResponse(await ask(client, server, 'register', await registration('proto_alice')))
    expect(registered.ok).toBe(true)
    if (!registered.ok) return
    expect(registered.value.certificate.entry.request.name).toBe('proto_alice')
    expectProven(operator, { ...registered.value, certificate: registered.value.certificate.bytes })
    await ask(client, server, 'register', await registration('proto_bob'))

    const lookup = decodeLookupResponse(await ask(client, server, 'lookup', encodeLookupRequest('Proto_Alice', before.size + 1)))
    expect(lookup.ok).toBe(true)
    if (!lookup.ok) return
    expectProven(operator, { ...lookup.value, certificate: lookup.value.certificate.bytes })
    const known = registered.value.head
    expect(verifyConsistency(crypto, known.size, lookup.value.head.size, known.root, lookup.value.head.root, lookup.value.consistency)).toBe(true)

    const proof = decodeProofResponse(await ask(client, server, 'consistency', encodeConsistencyRequest(known.size, lookup.value.head.size)))
    expect(proof.ok && verifyConsistency(crypto, known.size, lookup.value.head.size, known.root, lookup.value.head.root, proof.value)).toBe(true)

    const entries = decodeEntriesResponse(await ask(client, server, 'entries', encodeEntriesRequest(0, 256)))
    expect(entries.ok && entries.value.map((c) => c.entry.request.name)).toEqual(expect.arrayContaining(['proto_alice', 'proto_bob']))
  })

  it('answers every error code', async () => {
    const someone = createIdentity(crypto)
    const codes = new Map<number, string>()
    const expectCode = async (code: number, op: RegistryOp, request: Uint8Array, label: string, target = server): Promise<void> => {
      const response = await ask(client, target, op, request)
      expect(statusOf(response), label).toBe(code)
      codes.set(code, label)
    }
    await expectCode(RegistryErrorCode.MALFORMED, 'register', new Uint8Array(40), 'short request')
    await expectCode(RegistryErrorCode.MALFORMED, 'info', new Uint8Array(1), 'info with a body')
    await expectCode(RegistryErrorCode.MALFORMED, 'lookup', new Uint8Array([5, 97]), 'truncated lookup')
    await expectCode(RegistryErrorCode.MALFORMED, 'entries', new Uint8Array(3), 'short entries request')
    await expectCode(RegistryErrorCode.BAD_NAME, 'register', craftRequest({ name: 'bad-name', identity: someone, time: Date.now() }), 'charset')
    await expectCode(RegistryErrorCode.BAD_NAME, 'lookup', new Uint8Array([5, 0x41, 0x6c, 0x69, 0x63, 0x65, 0, 0, 0, 0, 0, 0, 0, 0]), 'uppercase on the wire')
    await expectCode(RegistryErrorCode.NAME_RESERVED, 'register', craftRequest({ name: 'operator', identity: someone, time: Date.now() }), 'reserved')
    await expectCode(RegistryErrorCode.NAME_RESERVED, 'lookup', encodeLookupRequest('support', 0), 'reserved lookup')
    const request = await registration('proto_carol')
    expect(statusOf(await ask(client, server, 'register', request))).toBe(0)
    await expectCode(RegistryErrorCode.REPLAYED, 'register', request, 'replay')
    await expectCode(RegistryErrorCode.NAME_TAKEN, 'register', await registration('proto_carol'), 'taken')
    const forged = (await registration('proto_dave')).slice()
    forged[forged.length - 1]! ^= 0x80
    await expectCode(RegistryErrorCode.BAD_SIGNATURE, 'register', forged, 'forged')
    await expectCode(RegistryErrorCode.INSUFFICIENT_WORK, 'register', craftRequest({ name: 'proto_dave', identity: someone, time: Date.now(), failWork: TEST_WORK_TRIALS }), 'work')
    await expectCode(RegistryErrorCode.STALE, 'register', await createRegistration(crypto, someone, 'proto_dave', { workTrials: TEST_WORK_TRIALS, now: Date.now() - 3_600_000 }), 'clock')
    await expectCode(RegistryErrorCode.NOT_FOUND, 'lookup', encodeLookupRequest('proto_nobody', 0), 'unknown')
    await expectCode(RegistryErrorCode.BAD_RANGE, 'consistency', encodeConsistencyRequest(1, 1_000_000), 'past the log')
    await expectCode(RegistryErrorCode.BAD_RANGE, 'entries', encodeEntriesRequest(1_000_000, 1), 'start past the log')
    await expectCode(RegistryErrorCode.BAD_RANGE, 'lookup', encodeLookupRequest('proto_carol', 1_000_000), 'known size past the log')
    vi.spyOn(Level.prototype, 'batch').mockImplementationOnce(async function () { throw new Error('disk on fire') } as never)
    await expectCode(RegistryErrorCode.UNAVAILABLE, 'register', await registration('proto_erin'), 'disk')
    expect(statusOf(await ask(client, server, 'register', await registration('proto_erin')))).toBe(0)

    const limited = await serve(registry, { registrations: { perSecond: 0.001, burst: 1 } })
    expect(statusOf(await ask(client, limited, 'register', await registration('proto_fay')))).toBe(0)
    const response = await ask(client, limited, 'register', await registration('proto_gus'))
    expect(statusOf(response)).toBe(RegistryErrorCode.RATE_LIMITED)
    codes.set(RegistryErrorCode.RATE_LIMITED, 'limit')
    const discoveryOnly = await serve(undefined)
    await expectCode(RegistryErrorCode.NO_REGISTRY, 'info', new Uint8Array(0), 'discovery only', discoveryOnly)

    expect([...codes.keys()].sort((a, b) => a - b)).toEqual(Object.values(RegistryErrorCode).sort((a, b) => a - b))
    expect((await registry.lookup('proto_gus', 0)).ok).toBe(false) // the limited one was not registered
  })
})

describe('hostile clients', () => {
  it('answers an oversize frame MALFORMED and garbage without harm, and keeps serving', async () => {
    const oversize = await ask(client, server, 'register', new Uint8Array(2000))
    expect(statusOf(oversize)).toBe(RegistryErrorCode.MALFORMED)
    expect(new TextDecoder().decode(oversize.subarray(1))).toContain('1024')
    for (const op of ['info', 'register', 'lookup', 'consistency', 'entries'] as const) {
      const garbage = crypto.randomBytes(1 + (crypto.randomBytes(1)[0]! % 200))
      const response = await ask(client, server, op, garbage)
      expect(response.length).toBeGreaterThan(0)
      if (op !== 'register' && op !== 'info') expect([0, RegistryErrorCode.MALFORMED, RegistryErrorCode.BAD_NAME, RegistryErrorCode.NOT_FOUND, RegistryErrorCode.BAD_RANGE]).toContain(statusOf(response))
      else expect(statusOf(response)).not.toBe(0)
    }
    expect(decodeInfoResponse(await ask(client, server, 'info', new Uint8Array(0))).ok).toBe(true)
  })

  it('cuts off a client that sends nothing, or a length prefix that never ends', async () => {
    const impatient = await serve(registry, false, 200)
    await expect(ask(client, impatient, 'lookup', new Uint8Array(0), { raw: true })).rejects.toThrow()
    await expect(ask(client, impatient, 'lookup', new Uint8Array(12).fill(0xff), { raw: true })).rejects.toThrow()
    // Bytes past what the server buffers for a request: cut off at once, whatever the timeout.
    await expect(ask(client, server, 'lookup', new Uint8Array(100_000).fill(0xff), { raw: true })).rejects.toThrow()
    expect(decodeInfoResponse(await ask(client, impatient, 'info', new Uint8Array(0))).ok).toBe(true)
  })

  it('limits each peer: registrations apart from the rest, other peers unaffected', async () => {
    const limited = await serve(registry, { registrations: { perSecond: 0.001, burst: 2 }, requests: { perSecond: 0.001, burst: 3 } })
    const codes: number[] = []
    for (let i = 0; i < 3; i++) codes.push(statusOf(await ask(client, limited, 'register', await registration(`limit_${i}`))))
    expect(codes).toEqual([0, 0, RegistryErrorCode.RATE_LIMITED])
    const lookups: number[] = []
    for (let i = 0; i < 4; i++) lookups.push(statusOf(await ask(client, limited, 'lookup', encodeLookupRequest('limit_0', 0))))
    expect(lookups).toEqual([0, 0, 0, RegistryErrorCode.RATE_LIMITED])
    const other = await host()
    expect(statusOf(await ask(other, limited, 'lookup', encodeLookupRequest('limit_0', 0)))).toBe(0)
    expect(statusOf(await ask(other, limited, 'register', await registration('limit_other')))).toBe(0)
  })

  it('answers NO_REGISTRY to every op when it runs discovery only', async () => {
    const discoveryOnly = await serve(undefined)
    const requests: Record<RegistryOp, Uint8Array> = {
      info: new Uint8Array(0),
      register: await registration('nobody_keeps'),
      lookup: encodeLookupRequest('proto_alice', 0),
      consistency: encodeConsistencyRequest(1, 1),
      entries: encodeEntriesRequest(0, 1)
    }
    for (const [op, request] of Object.entries(requests) as Array<[RegistryOp, Uint8Array]>) {
      expect(statusOf(await ask(client, discoveryOnly, op, request)), op).toBe(RegistryErrorCode.NO_REGISTRY)
    }
  })
})

describe('several requests on one stream', () => {
  beforeAll(async () => {
    for (const name of ['pipe_one', 'pipe_two']) expect(statusOf(await ask(client, server, 'register', await registration(name)))).toBe(0)
  })

  it('answers lookups in order, one answer each, and ends when the client closes its side', async () => {
    const uppercase = new Uint8Array([5, 0x41, 0x6c, 0x69, 0x63, 0x65, 0, 0, 0, 0, 0, 0, 0, 0])
    const { stream, write, read } = await openStream(client, server, 'lookup')
    await write([encodeLookupRequest('pipe_one', 0), encodeLookupRequest('pipe_nobody', 0), uppercase])
    // Answers come before the client is done: a window refilled as they arrive.
    const first = [await read(), await read(), await read()]
    await write([new Uint8Array(3), encodeLookupRequest('pipe_two', 0), encodeLookupRequest('pipe_one', 0)])
    await stream.close()
    const rest = [await read(), await read(), await read()]
    expect([...first, ...rest].map(answered)).toEqual([
      'pipe_one', RegistryErrorCode.NOT_FOUND, RegistryErrorCode.BAD_NAME, RegistryErrorCode.MALFORMED, 'pipe_two', 'pipe_one'
    ])
    await expect(read()).rejects.toThrow(/EOF/) // the Operator ended it too
  })

  it('carries several consistency and entries requests too, but one info or register request', async () => {
    const size = registry.size
    const consistency = await openStream(client, server, 'consistency')
    await consistency.write([encodeConsistencyRequest(1, size), encodeConsistencyRequest(size, size + 1), encodeConsistencyRequest(size, size)])
    await consistency.stream.close()
    expect([await consistency.read(), await consistency.read(), await consistency.read()].map(statusOf)).toEqual([0, RegistryErrorCode.BAD_RANGE, 0])

    const entries = await openStream(client, server, 'entries')
    await entries.write([encodeEntriesRequest(0, 1), encodeEntriesRequest(1, 1)])
    await entries.stream.close()
    const certified = [decodeEntriesResponse(await entries.read()), decodeEntriesResponse(await entries.read())]
    expect(certified.map((answer) => answer.ok && answer.value[0]!.entry.index)).toEqual([0, 1])

    for (const [op, request] of [['info', new Uint8Array(0)], ['register', await registration('pipe_three')]] as Array<[RegistryOp, Uint8Array]>) {
      const single = await openStream(client, server, op)
      await single.write([request, request])
      expect(statusOf(await single.read()), op).toBe(0)
      await expect(single.read(), op).rejects.toThrow(/EOF/) // the second request is not answered
      await single.stream.close().catch(() => {})
    }
  })

  it(`answers at most ${MAX_REGISTRY_REQUESTS_PER_STREAM} requests, then ends the stream`, async () => {
    const { stream, write, read } = await openStream(client, server, 'lookup')
    const request = encodeLookupRequest('pipe_nobody', 0)
    await write(Array.from({ length: MAX_REGISTRY_REQUESTS_PER_STREAM + 1 }, () => request))
    for (let i = 0; i < MAX_REGISTRY_REQUESTS_PER_STREAM; i++) expect(statusOf(await read())).toBe(RegistryErrorCode.NOT_FOUND)
    await expect(read()).rejects.toThrow(/EOF/)
    await stream.close().catch(() => {})
  })

  it('gives each request the silent-client timeout: a client that pauses between requests is served, one that stops is cut off', async () => {
    const impatient = await serve(registry, false, 300)
    const { stream, write, read } = await openStream(client, impatient, 'lookup')
    const started = Date.now()
    for (let i = 0; i < 4; i++) {
      await write([encodeLookupRequest('pipe_one', 0)])
      expect(answered(await read())).toBe('pipe_one')
      await new Promise((resolve) => setTimeout(resolve, 150))
    }
    expect(Date.now() - started).toBeGreaterThan(600) // longer than one timeout: it counts per request, not per stream
    // Then silence, without closing: reset by the Operator, well before the 5 s this read would wait.
    const error = await read(5000).catch((e: unknown) => e)
    expect((error as Error).name).not.toBe('TimeoutError')
    expect(stream.status).toBe('reset')
  })

  it('does not count the Operator\'s own time to answer against the client', async () => {
    const slowLookup: Registry['lookup'] = async (name, knownSize) => {
      await new Promise((resolve) => setTimeout(resolve, 500))
      return await registry.lookup(name, knownSize)
    }
    const slow = new Proxy(registry, { get: (target, key) => key === 'lookup' ? slowLookup : Reflect.get(target, key) })
    const patient = await serve(slow, false, 200) // each answer takes longer than the client may stay silent
    const { stream, write, read } = await openStream(client, patient, 'lookup')
    for (const name of ['pipe_one', 'pipe_two']) {
      await write([encodeLookupRequest(name, 0)]) // the next request only once the answer came: the Operator waits for it
      expect(answered(await read())).toBe(name)
    }
    await stream.close()
  })

  it('takes a token of the peer\'s bucket per request, not per stream', async () => {
    const limited = await serve(registry, { requests: { perSecond: 0.001, burst: 3 } })
    const { stream, write, read } = await openStream(client, limited, 'lookup')
    await write(Array.from({ length: 5 }, () => encodeLookupRequest('pipe_two', 0)))
    await stream.close()
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push(statusOf(await read()))
    expect(statuses).toEqual([0, 0, 0, RegistryErrorCode.RATE_LIMITED, RegistryErrorCode.RATE_LIMITED])
    expect(statusOf(await ask(client, limited, 'lookup', encodeLookupRequest('pipe_two', 0)))).toBe(RegistryErrorCode.RATE_LIMITED)
  })

  it('serves a client of before unchanged: one request, its answer, then the client closes and the stream ends', async () => {
    const { stream, write, read } = await openStream(client, server, 'lookup')
    await write([encodeLookupRequest('pipe_two', 0)])
    expect(answered(await read())).toBe('pipe_two')
    await stream.close()
    await expect(read()).rejects.toThrow(/EOF/)
    expect(stream.status).toBe('closed') // closed by both sides, not reset
  })
})
