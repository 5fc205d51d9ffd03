/**
 * Screening throughput: envelopes per second on ONE core (this thread, no
 * workers) for one local identity with 1,000 contacts, each holding a live
 * session with it, set up through the real handshake (first contact, accept).
 *
 * The stream is 1% for-me (fresh session envelopes from random contacts, in
 * chain order per contact) and 99% not-for-me: session envelopes between
 * other parties, first contacts to other identities, accepts between other
 * parties, cover envelopes. Cases, measured side by side:
 *   (a) native provider, strangers allowed (tag lookup, then one X25519)
 *   (b) noble provider, strangers allowed
 *   (c) native provider, contacts only (tag lookup only)
 *   (d) raw `nativeCrypto().x25519(secret, publicKey)` over fresh random keys:
 *       the floor of the work per stranger envelope
 *   (e) native, strangers allowed, through `screenAny` with the world key and
 *       the world feed OFF
 *   (f) the same with the world feed ON: one world-tag HMAC per envelope that
 *       no tag lookup claimed (SPEC §14.5); f/e is the world check's cost,
 *       goal >= 0.95 (issue 8)
 *   (g) native, contacts only, world feed on (compare with (c))
 * The stream is the same for (a), (c), (e), (f) and (g), and carries no world
 * post: what f/e measures is the check every envelope pays, not the opening
 * of world posts (which replaces the first-contact X25519 for those).
 *
 * Setup is never timed. Each timed run restores the local keyring from the
 * snapshot taken right after the handshakes, so the same pre-sealed for-me
 * envelopes are fresh again; every run (warm-up included) checks that exactly
 * the for-me envelopes opened, at their positions, from the right contact,
 * carrying the right sequence number, and throws otherwise.
 *
 * Options (`npm run bench -- screening --key=value`): contacts (1000),
 * duration (seconds per run, 2), reps (3), warmup (seconds, 1),
 * pool (distinct not-for-me envelopes, 16384), cases (a,b,c,d,e,f,g).
 */
import { randomBytes } from 'node:crypto'
import {
  createIdentity, createKeyring, createScreener, DEFAULT_TTL_MINUTES, expiryFor, nativeCrypto, nobleCrypto,
  REORDER_WINDOW, sealCover, worldKey, type AnyScreenResult, type CryptoProvider, type Identity, type Keyring, type KeyringJSON,
  type Screener
} from '../../protocol/index.js'
import { ratioOf, rowOf, type BenchContext, type Benchmark, type BenchResult, type BenchRow } from './harness.js'

/** Share of the stream addressed to the local identity. */
const FOR_ME_SHARE = 0.01
/** Composition of the not-for-me part (shares of the pool). */
const MIX = { session: 0.5, firstContact: 0.1, cover: 0.4 } as const
/** Third-party pairs that exchange session envelopes in the pool. */
const THIRD_PARTY_PAIRS = 24
/** Other identities strangers write first contacts to, and strangers writing. */
const OTHER_RECIPIENTS = 64
const STRANGERS = 16

type CaseId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g'

/** How a case screens: the pairwise `screen` (no world key), or `screenAny` with the world feed off or on. */
type WorldMode = 'none' | 'off' | 'on'

/** The world key of the benchmark's network. */
const WORLD_NETWORK = 'komrade-bench'

interface Sample {
  readonly items: number
  readonly forMe: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly rate: number
}

interface Case {
  readonly id: CaseId
  readonly label: string
  readonly unit: string
  /** Sets up (untimed), times `items` items, verifies, returns the sample. */
  run(items: number): Sample
}

interface ForMe {
  readonly envelope: Uint8Array
  readonly contact: number
}

/** One local identity, its contacts with live sessions, and the for-me envelopes they sealed. */
interface World {
  readonly crypto: CryptoProvider
  readonly local: Identity
  readonly localId: string
  /** The local keyring right after the handshakes; every timed run starts from it. */
  readonly snapshot: KeyringJSON
  readonly contactIds: string[]
  /** For-me envelopes in seal order (so any prefix is in chain order per contact). */
  readonly forMe: ForMe[]
  ensureForMe(count: number): void
  readonly setupSeconds: number
}

/** CPU time of this thread (falls back to the process where threadCpuUsage is missing). */
function cpuNow (): number {
  const usage = typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage() : process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

function seconds (since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9
}

function randomIndex (length: number): number {
  return Math.floor(Math.random() * length)
}

function u32 (bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset)
}

/** A short payload carrying the for-me sequence number and contact index, so each hit can be checked. */
function forMePayload (seq: number, contact: number): Uint8Array {
  const payload = new Uint8Array(8 + randomIndex(200))
  const view = new DataView(payload.buffer)
  view.setUint32(0, seq)
  view.setUint32(4, contact)
  return payload
}

function buildWorld (crypto: CryptoProvider, contactCount: number, log: (m: string) => void): World {
  const started = process.hrtime.bigint()
  const now = Date.now()
  const local = createIdentity(crypto)
  const localRing = createKeyring({ crypto, identity: local })
  const screener = createScreener({ keyrings: [localRing] })
  const contacts: Keyring[] = []
  for (let i = 0; i < contactCount; i++) {
    const ring = createKeyring({ crypto, identity: createIdentity(crypto) })
    // 1. The contact seals a first contact to the local identity (no proof of work: screening ignores it).
    const first = ring.seal(localRing.identity, forMePayload(i, i), { now })
    if (!first.firstContact || first.envelopes.length !== 1) throw new Error('setup: expected one first-contact envelope')
    // 2. The local screener opens it by X25519, and the local keyring accepts.
    const got = screener.screen(first.envelopes[0]!, { now })
    if (got?.opened.via !== 'first-contact' || got.opened.contactId !== ring.id || got.opened.offer === undefined) {
      throw new Error(`setup: the local keyring did not open the first contact of contact ${i}`)
    }
    const accept = localRing.accept(got.opened.offer, undefined, { now })
    // 3. The contact screens the accept by its tag: both sides now hold the session.
    const back = ring.screenByTag(accept.envelopes[0]!)
    if (back?.via !== 'accept' || back.contactId !== localRing.id) throw new Error(`setup: contact ${i} did not open the accept`)
    if (!ring.hasSession(localRing.id) || !localRing.hasSession(ring.id)) throw new Error(`setup: no session with contact ${i}`)
    contacts.push(ring)
    if ((i + 1) % 250 === 0) log(`  ${crypto.name}: ${i + 1}/${contactCount} handshakes (${seconds(started).toFixed(1)} s)`)
  }
  const expectedTags = contactCount * REORDER_WINDOW
  if (localRing.watchedTags !== expectedTags) {
    throw new Error(`setup: the local keyring watches ${localRing.watchedTags} tags, expected ${expectedTags}`)
  }
  const forMe: ForMe[] = []
  const world: World = {
    crypto,
    local,
    localId: localRing.id,
    snapshot: localRing.toJSON(),
    contactIds: contacts.map((c) => c.id),
    forMe,
    ensureForMe (count) {
      const sealStarted = process.hrtime.bigint()
      const had = forMe.length
      while (forMe.length < count) {
        const contact = randomIndex(contacts.length)
        const sealed = contacts[contact]!.seal(localRing.identity, forMePayload(forMe.length, contact), { now })
        if (sealed.firstContact || sealed.envelopes.length !== 1) throw new Error('setup: expected one session envelope')
        forMe.push({ envelope: sealed.envelopes[0]!, contact })
      }
      if (count - had > 1000) log(`  ${crypto.name}: sealed ${count - had} for-me envelopes in ${seconds(sealStarted).toFixed(1)} s`)
    },
    setupSeconds: seconds(started)
  }
  return world
}

/** Not-for-me envelopes, built once with the native provider (the bytes do not depend on the provider). */
function buildPool (size: number, log: (m: string) => void): { pool: Uint8Array[], counts: Record<string, number>, seconds: number } {
  const started = process.hrtime.bigint()
  const crypto = nativeCrypto()
  const now = Date.now()
  const expiryMinute = expiryFor(now, DEFAULT_TTL_MINUTES)
  const counts = { session: 0, accept: 0, firstContact: 0, cover: 0 }
  const pool: Uint8Array[] = []

  // Third parties with sessions between them (their accepts are traffic too).
  const pairs: Array<[Keyring, Keyring]> = []
  for (let i = 0; i < THIRD_PARTY_PAIRS; i++) {
    const a = createKeyring({ crypto, identity: createIdentity(crypto) })
    const b = createKeyring({ crypto, identity: createIdentity(crypto) })
    const first = a.seal(b.identity, Uint8Array.of(1), { now }).envelopes[0]!
    const opened = b.screenFirstContact(first, { now })
    if (opened?.offer === undefined) throw new Error('setup: third-party handshake failed')
    const accept = b.accept(opened.offer, undefined, { now }).envelopes[0]!
    if (a.screenByTag(accept)?.via !== 'accept') throw new Error('setup: third-party accept failed')
    pool.push(first, accept)
    counts.firstContact += 1
    counts.accept += 1
    pairs.push([a, b])
  }
  const recipients = Array.from({ length: OTHER_RECIPIENTS }, () => createKeyring({ crypto, identity: createIdentity(crypto) }).identity)
  const strangers = Array.from({ length: STRANGERS }, () => createKeyring({ crypto, identity: createIdentity(crypto) }))

  while (pool.length < size) {
    const roll = Math.random()
    if (roll < MIX.session) {
      const [a, b] = pairs[randomIndex(pairs.length)]!
      const [from, to] = Math.random() < 0.5 ? [a, b] : [b, a]
      // Mostly single envelopes, sometimes a multi-part payload.
      const length = Math.random() < 0.9 ? 1 + randomIndex(1900) : 2000 + randomIndex(6000)
      const sealed = from.seal(to.identity, randomBytes(length), { now })
      for (const envelope of sealed.envelopes) if (pool.length < size) { pool.push(envelope); counts.session += 1 }
    } else if (roll < MIX.session + MIX.firstContact) {
      const from = strangers[randomIndex(strangers.length)]!
      const to = recipients[randomIndex(recipients.length)]!
      const sealed = from.seal(to, randomBytes(1 + randomIndex(1700)), { now })
      if (!sealed.firstContact) throw new Error('setup: expected a first contact')
      pool.push(sealed.envelopes[0]!)
      counts.firstContact += 1
    } else {
      pool.push(sealCover(crypto, expiryMinute))
      counts.cover += 1
    }
    if (pool.length % 4096 === 0) log(`  pool: ${pool.length}/${size} (${seconds(started).toFixed(1)} s)`)
  }
  // Shuffle so kinds and multi-part runs are spread out.
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomIndex(i + 1)
    const t = pool[i]!
    pool[i] = pool[j]!
    pool[j] = t
  }
  return { pool, counts, seconds: seconds(started) }
}

/** `count` distinct positions in [0, length), ascending. */
function pickPositions (length: number, count: number): number[] {
  if (count > length) throw new Error('more for-me envelopes than stream positions')
  const chosen = new Set<number>()
  while (chosen.size < count) chosen.add(randomIndex(length))
  return [...chosen].sort((x, y) => x - y)
}

function screeningCase (id: CaseId, label: string, world: World, pool: Uint8Array[], contactsOnly: boolean, gc: () => void, mode: WorldMode = 'none'): Case {
  const key = worldKey(world.crypto, WORLD_NETWORK)
  return {
    id,
    label,
    unit: 'envelopes/s',
    run (items) {
      const forMeCount = Math.max(1, Math.round(items * FOR_ME_SHARE))
      world.ensureForMe(forMeCount)
      const positions = pickPositions(items, forMeCount)
      const stream = new Array<Uint8Array>(items)
      for (let i = 0, k = 0; i < items; i++) {
        if (k < forMeCount && positions[k] === i) stream[i] = world.forMe[k++]!.envelope
        else stream[i] = pool[randomIndex(pool.length)]!
      }
      const ring = createKeyring({ crypto: world.crypto, identity: world.local, state: world.snapshot })
      if (ring.watchedTags !== world.contactIds.length * REORDER_WINDOW) throw new Error(`(${id}) restored keyring watches ${ring.watchedTags} tags`)
      const screener: Screener = mode === 'none'
        ? createScreener({ keyrings: [ring], contactsOnly })
        : createScreener({ keyrings: [ring], contactsOnly, worldKey: key, crypto: world.crypto, worldFeed: mode === 'on' })
      const screen: (envelope: Uint8Array) => AnyScreenResult | undefined = mode === 'none'
        ? (envelope) => screener.screen(envelope)
        : (envelope) => screener.screenAny(envelope)
      const hitAt: number[] = []
      const hits: AnyScreenResult[] = []

      gc()
      const cpuBefore = cpuNow()
      const started = process.hrtime.bigint()
      for (let i = 0; i < items; i++) {
        const result = screen(stream[i]!)
        if (result !== undefined) {
          hitAt.push(i)
          hits.push(result)
        }
      }
      const elapsed = seconds(started)
      const cpuSeconds = cpuNow() - cpuBefore

      // A benchmark that silently screens nothing is worthless: check every hit.
      if (hits.length !== forMeCount) {
        throw new Error(`(${id}) ${label}: expected exactly ${forMeCount} for-me envelopes to open out of ${items}, ${hits.length} did`)
      }
      for (let k = 0; k < forMeCount; k++) {
        const hit = hits[k]!
        const expected = world.forMe[k]!
        if (hit.type !== 'direct') throw new Error(`(${id}) ${label}: hit ${k} is a ${hit.type} envelope, expected a session envelope`)
        const body = hit.opened.message.body
        if (hitAt[k] !== positions[k] || hit.keyring !== ring || hit.opened.via !== 'session' ||
          hit.opened.contactId !== world.contactIds[expected.contact] || body.length < 8 ||
          u32(body, 0) !== k || u32(body, 4) !== expected.contact) {
          throw new Error(`(${id}) ${label}: hit ${k} at position ${hitAt[k]} is not for-me envelope ${k} (expected position ${positions[k]})`)
        }
      }
      return { items, forMe: forMeCount, seconds: elapsed, cpuSeconds, rate: items / elapsed }
    }
  }
}

function rawX25519Case (world: World, gc: () => void): Case {
  const crypto = world.crypto
  const secret = world.local.sealingSecret // the same buffer (and cached private key) screening uses
  const reference = nobleCrypto()
  return {
    id: 'd',
    label: 'raw native X25519 (floor)',
    unit: 'X25519/s',
    run (items) {
      const all = randomBytes(32 * items)
      const keys = new Array<Uint8Array>(items)
      for (let i = 0; i < items; i++) {
        all[32 * i + 31] = all[32 * i + 31]! & 0x7f // the u-coordinate, as ephemeralPoint() gives it
        keys[i] = new Uint8Array(all.buffer, all.byteOffset + 32 * i, 32)
      }
      let refused = 0
      let last: Uint8Array | undefined

      gc()
      const cpuBefore = cpuNow()
      const started = process.hrtime.bigint()
      for (let i = 0; i < items; i++) {
        last = crypto.x25519(secret, keys[i]!)
        if (last === undefined) refused++
      }
      const elapsed = seconds(started)
      const cpuSeconds = cpuNow() - cpuBefore

      const expected = reference.x25519(secret, keys[items - 1]!)
      if (refused !== 0 || last === undefined || expected === undefined || Buffer.compare(last, expected) !== 0) {
        throw new Error(`(d) raw X25519: ${refused} refused, last result ${last === undefined ? 'missing' : 'differs from noble'}`)
      }
      return { items, forMe: 0, seconds: elapsed, cpuSeconds, rate: items / elapsed }
    }
  }
}

function numberOption (options: Readonly<Record<string, string>>, key: string, fallback: number): number {
  const raw = options[key]
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${key} expects a positive number, got ${raw}`)
  return value
}

async function run (context: BenchContext): Promise<BenchResult> {
  const { options, log, gc } = context
  const contactCount = Math.round(numberOption(options, 'contacts', 1000))
  const duration = numberOption(options, 'duration', 2)
  const reps = Math.round(numberOption(options, 'reps', 3))
  const warmup = numberOption(options, 'warmup', 1)
  const poolSize = Math.round(numberOption(options, 'pool', 16_384))
  const wanted = new Set((options.cases ?? 'a,b,c,d,e,f,g').split(',').map((s) => s.trim()))

  log(`building ${poolSize} not-for-me envelopes`)
  const pool = buildPool(poolSize, log)
  log(`native world: ${contactCount} contacts through the handshake`)
  const native = buildWorld(nativeCrypto(), contactCount, log)
  const cases: Case[] = []
  if (wanted.has('a')) cases.push(screeningCase('a', 'native, strangers allowed', native, pool.pool, false, gc))
  let noble: World | undefined
  if (wanted.has('b')) {
    log(`noble world: ${contactCount} contacts through the handshake (slow: pure JavaScript)`)
    noble = buildWorld(nobleCrypto(), contactCount, log)
    cases.push(screeningCase('b', 'noble, strangers allowed', noble, pool.pool, false, gc))
  }
  if (wanted.has('c')) cases.push(screeningCase('c', 'native, contacts only', native, pool.pool, true, gc))
  if (wanted.has('d')) cases.push(rawX25519Case(native, gc))
  if (wanted.has('e')) cases.push(screeningCase('e', 'native, strangers allowed, world feed off', native, pool.pool, false, gc, 'off'))
  if (wanted.has('f')) cases.push(screeningCase('f', 'native, strangers allowed, world feed on', native, pool.pool, false, gc, 'on'))
  if (wanted.has('g')) cases.push(screeningCase('g', 'native, contacts only, world feed on', native, pool.pool, true, gc, 'on'))
  if (cases.length === 0) throw new Error('no case selected (--cases=a,b,c,d,e,f,g)')

  // Warm up every case and size its runs: items for `duration` seconds, with a margin.
  const sizes = new Map<CaseId, number>()
  const warmups = new Map<CaseId, Sample>()
  for (const c of cases) {
    // Grow the warm-up until one run lasts `warmup` seconds (JIT tiers, inline caches, heap sizing).
    let warm = c.run(200)
    for (let i = 0; i < 6 && warm.seconds < warmup; i++) warm = c.run(Math.max(200, Math.ceil(warm.rate * warmup * 1.2)))
    warmups.set(c.id, warm)
    sizes.set(c.id, Math.ceil(warm.rate * duration * 1.25))
    log(`(${c.id}) warm-up ${warm.items} in ${warm.seconds.toFixed(2)} s: ${Math.round(warm.rate)} ${c.unit}`)
  }

  // Rounds: every case once per round, the order rotated so no case always follows the same one.
  const samples = new Map<CaseId, Sample[]>(cases.map((c) => [c.id, []]))
  let reruns = 0
  for (let round = 0; round < reps; round++) {
    for (let j = 0; j < cases.length; j++) {
      const c = cases[(round + j) % cases.length]!
      let items = sizes.get(c.id)!
      let sample = c.run(items)
      for (let attempt = 0; sample.seconds < duration && attempt < 4; attempt++) {
        reruns += 1
        items = Math.ceil(items * duration * 1.15 / sample.seconds)
        log(`(${c.id}) run took ${sample.seconds.toFixed(2)} s < ${duration} s: again with ${items}`)
        sample = c.run(items)
      }
      if (sample.seconds < duration) throw new Error(`(${c.id}) could not reach ${duration} s of measurement`)
      sizes.set(c.id, items)
      samples.get(c.id)!.push(sample)
      log(`(${c.id}) round ${round + 1}: ${sample.items} in ${sample.seconds.toFixed(2)} s = ${Math.round(sample.rate)} ${c.unit}` +
        ` (cpu/wall ${(sample.cpuSeconds / sample.seconds).toFixed(2)})`)
    }
  }

  const rows = new Map<CaseId, BenchRow>()
  for (const c of cases) {
    const list = samples.get(c.id)!
    rows.set(c.id, rowOf({
      id: c.id,
      label: c.label,
      unit: c.unit,
      samples: list.map((s) => s.rate),
      cpuSamples: list.map((s) => s.items / s.cpuSeconds),
      ...(c.id === 'c' ? { goal: { op: '>', target: 200_000, source: 'issue: contacts-only above 200,000 per second' } } : {}),
      details: {
        itemsPerRun: list.map((s) => s.items),
        forMePerRun: list.map((s) => s.forMe),
        secondsPerRun: list.map((s) => Math.round(s.seconds * 1000) / 1000),
        cpuPerWall: list.map((s) => Math.round(s.cpuSeconds / s.seconds * 100) / 100),
        microsecondsPerItem: list.map((s) => Math.round(s.seconds / s.items * 1e9) / 1000),
        warmup: { items: warmups.get(c.id)!.items, rate: Math.round(warmups.get(c.id)!.rate) }
      }
    }))
  }
  const ratios = []
  const [a, b, c, d, e, f, g] = (['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const).map((id) => rows.get(id))
  if (a !== undefined && d !== undefined) ratios.push(ratioOf('a/d', 'native strangers / raw X25519', a, d, { op: '>=', target: 0.8, source: 'issue: (a) >= 0.8 of (d)' }))
  if (b !== undefined && d !== undefined) ratios.push(ratioOf('b/d', 'noble strangers / raw X25519', b, d))
  if (c !== undefined && d !== undefined) ratios.push(ratioOf('c/d', 'native contacts-only / raw X25519', c, d))
  if (a !== undefined && b !== undefined) ratios.push(ratioOf('a/b', 'native / noble, strangers allowed', a, b))
  if (e !== undefined && f !== undefined) {
    ratios.push(ratioOf('f/e', 'world feed on / off, strangers allowed', f, e, { op: '>=', target: 0.95, source: 'issue 8: world-feed checking on >= 0.95x the rate without it' }))
  }
  if (a !== undefined && f !== undefined) ratios.push(ratioOf('f/a', 'world feed on (screenAny) / pairwise screen(), strangers allowed', f, a))
  if (c !== undefined && g !== undefined) ratios.push(ratioOf('g/c', 'contacts only: world feed on / pairwise screen()', g, c))

  const mix = Object.entries(pool.counts).map(([k, v]) => `${k} ${(v / pool.pool.length * 100).toFixed(1)}%`).join(', ')
  const notes = [
    `1 local identity, ${contactCount} contacts with live sessions (${contactCount * REORDER_WINDOW} watched tags), one core (main thread, no workers)`,
    `stream: ${FOR_ME_SHARE * 100}% for-me session envelopes (random contacts, chain order), 99% not-for-me drawn from ${pool.pool.length} distinct envelopes: ${mix}`,
    `each case: warm-up, then ${reps} runs of >= ${duration} s (rounds interleave the cases), median and min/max; every run verified the exact for-me hits`,
    `"by CPU time" divides by this thread's CPU time instead of wall time; cpu/wall per run ` +
      `(below 1 = the thread waited, e.g. for other processes): ${cases.map((x) => `(${x.id}) ${(rows.get(x.id)!.details!.cpuPerWall as number[]).join(' ')}`).join(', ')}`
  ]
  if (reruns > 0) notes.push(`${reruns} run(s) were too short and were repeated with more envelopes`)

  return {
    name: 'screening',
    title: `Screening throughput, 1 identity, ${contactCount} contacts, 1% for-me`,
    rows: [...rows.values()],
    ratios,
    notes,
    details: {
      contacts: contactCount,
      forMeShare: FOR_ME_SHARE,
      durationSeconds: duration,
      repetitions: reps,
      notForMePool: { distinct: pool.pool.length, counts: pool.counts, buildSeconds: Math.round(pool.seconds * 10) / 10 },
      setupSeconds: { native: Math.round(native.setupSeconds * 10) / 10, ...(noble === undefined ? {} : { noble: Math.round(noble.setupSeconds * 10) / 10 }) },
      forMeSealed: { native: native.forMe.length, ...(noble === undefined ? {} : { noble: noble.forMe.length }) }
    }
  }
}

export const benchmark: Benchmark = {
  name: 'screening',
  description: 'envelopes screened per second on one core: native vs noble vs contacts-only vs raw X25519, world feed on vs off',
  run
}
