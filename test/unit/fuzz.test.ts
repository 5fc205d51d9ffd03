/**
 * Hostile input. Everything a peer (or a corrupted disk) can hand the
 * protocol layer is fed to the functions that face it:
 *
 *  - checkEnvelope: never throws; its verdict agrees with an independent
 *    reading of size, version and expiry; mutated envelopes almost never keep
 *    valid work.
 *  - assertEnvelopeShape: throws exactly when the shape is wrong, and only
 *    EnvelopeFormatError / TypeError / RangeError.
 *  - Screener.screen (native provider; screeners over two local identities
 *    with sessions in both roles and pending handshakes; contactsOnly both
 *    ways): never throws and never opens a hostile envelope. The valid
 *    envelopes the mutations start from are kept unopened during the fuzz, so
 *    their tags are watched and every mutation really reaches the AEAD; at the
 *    end they must all still open (hostile input did not disturb the state).
 *  - decodeInner: never throws; whatever it accepts is canonical (re-encodes
 *    to the same bytes).
 *  - createKeyring({ state }) with mutated JSON: throws only KeyFormatError /
 *    TypeError / RangeError; a state it accepts survives toJSON and a restore.
 *  - Reassembler.add with hostile (well-formed) parts: never throws, stays in
 *    its memory bound, and only returns payloads made of parts it was given.
 *
 * Every call is timed; the slowest per target must stay under 1 s (a hang
 * guard, not a benchmark). Inputs come from a seeded generator: set
 * KOMRADE_FUZZ_SEED to replay a run (the seed is printed in the summary and
 * in every failure). The keys and fixtures themselves come from real
 * randomness.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertEnvelopeShape, checkEnvelope, createIdentity, createKeyring, createReassembler, createScreener, decodeInner,
  encodeInner, encodeReceipt, expiryFor, nativeCrypto, sealCover, solveWork,
  CLOCK_SKEW_MINUTES, ENVELOPE_SIZE, EPHEMERAL_LENGTH, EPHEMERAL_OFFSET, EXPIRY_LENGTH, EXPIRY_OFFSET,
  FIRST_CONTACT_BODY_CAPACITY, INNER_LENGTH, KIND_HANDSHAKE, KIND_MESSAGE, KIND_RECEIPT, MAX_PARTS, MAX_TTL_MINUTES,
  MINUTE_MS, NONCE_LENGTH, NONCE_OFFSET, SALT_LENGTH, SALT_OFFSET, SEALED_BODY_OFFSET, SESSION_BODY_CAPACITY,
  TAG_LENGTH, TAG_OFFSET,
  type Identity, type InnerMessage, type Keyring, type KeyringJSON, type Screener
} from '../../protocol/index.js'

// ---------------------------------------------------------------------------
// Seeded generator (sfc32 seeded through splitmix32)

const SEED = process.env.KOMRADE_FUZZ_SEED !== undefined
  ? Number(process.env.KOMRADE_FUZZ_SEED) >>> 0
  : (Math.random() * 0x1_0000_0000) >>> 0

function makeRng (seed: number) {
  let s = seed >>> 0
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) | 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix(); let b = splitmix(); let c = splitmix(); let d = splitmix()
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  const rng = {
    u32: next,
    /** Uniform integer in [0, n). */
    int: (n: number): number => Math.floor((next() / 0x1_0000_0000) * n),
    chance: (p: number): boolean => next() / 0x1_0000_0000 < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor((next() / 0x1_0000_0000) * items.length)]!,
    byte: (): number => next() & 0xff,
    bytes (length: number): Uint8Array {
      const out = new Uint8Array(length)
      for (let i = 0; i < length; i += 4) {
        const v = next()
        out[i] = v & 0xff
        if (i + 1 < length) out[i + 1] = (v >>> 8) & 0xff
        if (i + 2 < length) out[i + 2] = (v >>> 16) & 0xff
        if (i + 3 < length) out[i + 3] = v >>> 24
      }
      return out
    }
  }
  return rng
}

const rng = makeRng(SEED)

// ---------------------------------------------------------------------------
// Bookkeeping: counts, slowest call, violations

const CALL_BOUND_MS = 1000

interface TargetStats { calls: number, maxMs: number, detail: Record<string, number> }
const stats = new Map<string, TargetStats>()
const violations: string[] = []

function statsOf (target: string): TargetStats {
  let s = stats.get(target)
  if (s === undefined) { s = { calls: 0, maxMs: 0, detail: {} }; stats.set(target, s) }
  return s
}

function note (target: string, key: string): void {
  const s = statsOf(target)
  s.detail[key] = (s.detail[key] ?? 0) + 1
}

/** Calls `fn`, timing it; returns its result or the exception it threw. */
function timed<T> (target: string, fn: () => T): { value?: T, error?: unknown } {
  const s = statsOf(target)
  const start = performance.now()
  let out: { value?: T, error?: unknown }
  try {
    out = { value: fn() }
  } catch (error) {
    out = { error }
  }
  const ms = performance.now() - start
  s.calls += 1
  if (ms > s.maxMs) s.maxMs = ms
  return out
}

function violation (target: string, message: string): void {
  if (violations.length < 20) violations.push(`[seed ${SEED}] ${target}: ${message}`)
  note(target, 'VIOLATION')
}

function errorName (error: unknown): string {
  return error instanceof Error ? error.name : `non-Error ${String(error)}`
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

function describeInput (input: unknown): string {
  if (input instanceof Uint8Array) return `Uint8Array(${input.length}) ${hex(input.subarray(0, 96))}${input.length > 96 ? '…' : ''}`
  if (typeof input === 'string') return `string(${input.length})`
  try { return `${Object.prototype.toString.call(input)} ${String(input).slice(0, 40)}` } catch { return typeof input }
}

// ---------------------------------------------------------------------------
// The world: two local identities, their contacts, and unopened valid envelopes

const crypto = nativeCrypto()
const NOW = Date.UTC(2031, 5, 15, 8, 30, 20)
const NOW_MINUTE = Math.floor(NOW / MINUTE_MS)

interface Party { identity: Identity, keyring: Keyring }

function party (): Party {
  const identity = createIdentity(crypto)
  return { identity, keyring: createKeyring({ crypto, identity }) }
}

function connect (a: Party, b: Party): void {
  const hello = a.keyring.seal(b.keyring.identity, Uint8Array.of(1), { now: NOW, ttlMinutes: 60 })
  const offer = b.keyring.screenFirstContact(hello.envelopes[0]!, { now: NOW })?.offer
  if (offer === undefined) throw new Error('setup: first contact did not open')
  const answer = b.keyring.accept(offer, new Uint8Array(0), { now: NOW, ttlMinutes: 60 })
  if (a.keyring.screenByTag(answer.envelopes[0]!)?.via !== 'accept') throw new Error('setup: accept did not open')
}

type FixtureKind = 'first-contact' | 'accept' | 'session' | 'receipt' | 'part' | 'cover' | 'foreign'

interface Fixture {
  label: string
  kind: FixtureKind
  envelope: Uint8Array
  /** For envelopes meant for a local identity: who opens it, from whom, what. */
  recipient?: Keyring
  fromId?: string
  body?: Uint8Array
  partIndex?: number
  messageKind?: number
}

interface World {
  local: Party[]
  full: Screener
  contactsOnly: Screener
  fixtures: Fixture[]
  /** Fixtures meant for a local identity (the ones that must open at the end). */
  forUs: Fixture[]
  stateOfR: KeyringJSON
  identityOfR: Identity
  /** A session envelope that A sealed to R after the state snapshot (for the restore check). */
  laterFromA: Uint8Array
}

function work (envelope: Uint8Array): Uint8Array {
  return solveWork(crypto, envelope, { now: NOW })
}

function buildWorld (): World {
  const R = party(); const R2 = party()
  const A = party(); const B = party(); const C = party(); const D = party(); const E = party()
  const X = party(); const Y = party()
  connect(A, R) // R is the responder
  connect(R, B) // R is the initiator
  connect(B, R2)
  connect(X, Y)
  const short = { now: NOW, ttlMinutes: 1 }
  const fixtures: Fixture[] = []
  const add = (f: Fixture): void => { fixtures.push({ ...f, envelope: work(f.envelope) }) }

  // First contacts from a stranger, to both local identities.
  for (const [to, size, label] of [[R, 0, 'first-contact C→R empty'], [R, FIRST_CONTACT_BODY_CAPACITY, 'first-contact C→R full'],
    [R2, 300, 'first-contact C→R2']] as const) {
    const body = crypto.randomBytes(size)
    const sealed = C.keyring.seal(to.keyring.identity, body, short)
    add({ label, kind: 'first-contact', envelope: sealed.envelopes[0]!, recipient: to.keyring, fromId: C.keyring.id, body, messageKind: KIND_MESSAGE })
  }
  // R starts two handshakes with D, which answers both (answers not yet delivered), and one with E (never answered).
  for (const [size, label] of [[500, 'accept D→R with payload'], [0, 'accept D→R empty']] as const) {
    const hello = R.keyring.seal(D.keyring.identity, Uint8Array.of(2), short)
    const offer = D.keyring.screenFirstContact(hello.envelopes[0]!, { now: NOW })?.offer
    if (offer === undefined) throw new Error('setup: first contact to D did not open')
    const body = crypto.randomBytes(size)
    const answer = D.keyring.accept(offer, body, short)
    add({ label, kind: 'accept', envelope: answer.envelopes[0]!, recipient: R.keyring, fromId: D.keyring.id, body, messageKind: size === 0 ? KIND_HANDSHAKE : KIND_MESSAGE })
  }
  R.keyring.seal(E.keyring.identity, Uint8Array.of(3), short)
  R2.keyring.seal(E.keyring.identity, Uint8Array.of(4), short)
  // Session messages and a receipt A → R, a session message B → R2.
  for (const size of [0, 700, SESSION_BODY_CAPACITY]) {
    const body = crypto.randomBytes(size)
    const sealed = A.keyring.seal(R.keyring.identity, body, short)
    add({ label: `session A→R ${size}`, kind: 'session', envelope: sealed.envelopes[0]!, recipient: R.keyring, fromId: A.keyring.id, body, messageKind: KIND_MESSAGE, partIndex: 0 })
  }
  {
    const body = encodeReceipt([crypto.randomBytes(16), crypto.randomBytes(16)])
    const sealed = A.keyring.seal(R.keyring.identity, body, { ...short, kind: KIND_RECEIPT })
    add({ label: 'receipt A→R', kind: 'receipt', envelope: sealed.envelopes[0]!, recipient: R.keyring, fromId: A.keyring.id, body, messageKind: KIND_RECEIPT, partIndex: 0 })
  }
  {
    const body = crypto.randomBytes(99)
    const sealed = B.keyring.seal(R2.keyring.identity, body, short)
    add({ label: 'session B→R2', kind: 'session', envelope: sealed.envelopes[0]!, recipient: R2.keyring, fromId: B.keyring.id, body, messageKind: KIND_MESSAGE, partIndex: 0 })
  }
  // A three-part payload B → R (R is the initiator of that session).
  {
    const payload = crypto.randomBytes(2 * SESSION_BODY_CAPACITY + 10)
    const sealed = B.keyring.seal(R.keyring.identity, payload, short)
    sealed.envelopes.forEach((envelope, i) => add({
      label: `part ${i} B→R`, kind: 'part', envelope, recipient: R.keyring, fromId: B.keyring.id,
      body: payload.subarray(i * SESSION_BODY_CAPACITY, (i + 1) * SESSION_BODY_CAPACITY), messageKind: KIND_MESSAGE, partIndex: i
    }))
  }
  // Cover, and envelopes for somebody else.
  add({ label: 'cover 1', kind: 'cover', envelope: sealCover(crypto, expiryFor(NOW, 1)) })
  add({ label: 'cover 2', kind: 'cover', envelope: sealCover(crypto, expiryFor(NOW, 1)) })
  add({ label: 'foreign first contact A→Y', kind: 'foreign', envelope: A.keyring.seal(Y.keyring.identity, Uint8Array.of(5), short).envelopes[0]! })
  add({ label: 'foreign session X→Y', kind: 'foreign', envelope: X.keyring.seal(Y.keyring.identity, Uint8Array.of(6), short).envelopes[0]! })

  const stateOfR = JSON.parse(JSON.stringify(R.keyring.toJSON())) as KeyringJSON
  const laterFromA = A.keyring.seal(R.keyring.identity, Uint8Array.of(7), short).envelopes[0]!
  return {
    local: [R, R2],
    full: createScreener({ keyrings: [R.keyring, R2.keyring] }),
    contactsOnly: createScreener({ keyrings: [R.keyring, R2.keyring], contactsOnly: true }),
    fixtures,
    forUs: fixtures.filter((f) => f.recipient !== undefined),
    stateOfR,
    identityOfR: R.identity,
    laterFromA
  }
}

// ---------------------------------------------------------------------------
// Hostile envelopes

const FIELDS: ReadonlyArray<readonly [name: string, offset: number, length: number]> = [
  ['version', 0, 1], ['expiry', EXPIRY_OFFSET, EXPIRY_LENGTH], ['nonce', NONCE_OFFSET, NONCE_LENGTH], ['salt', SALT_OFFSET, SALT_LENGTH],
  ['ephemeral', EPHEMERAL_OFFSET, EPHEMERAL_LENGTH], ['tag', TAG_OFFSET, TAG_LENGTH], ['body', SEALED_BODY_OFFSET, ENVELOPE_SIZE - SEALED_BODY_OFFSET]
]

/** True when `candidate` equals `f` on every byte the AEAD covers (all but the nonce). */
function equalOutsideNonce (candidate: Uint8Array, f: Uint8Array): boolean {
  return candidate.length === ENVELOPE_SIZE &&
    sameBytes(candidate.subarray(0, NONCE_OFFSET), f.subarray(0, NONCE_OFFSET)) &&
    sameBytes(candidate.subarray(NONCE_OFFSET + NONCE_LENGTH), f.subarray(NONCE_OFFSET + NONCE_LENGTH))
}

function flipOutsideNonce (m: Uint8Array): void {
  let at = rng.int(ENVELOPE_SIZE - NONCE_LENGTH)
  if (at >= NONCE_OFFSET) at += NONCE_LENGTH
  m[at] = (m[at] as number) ^ (1 << rng.int(8))
}

/** Copies `source` into `target` at `offset`, dropping what does not fit (mutations stack on resized envelopes). */
function setClamped (target: Uint8Array, source: Uint8Array, offset: number): void {
  if (offset >= target.length) return
  target.set(source.subarray(0, target.length - offset), offset)
}

const MUTATIONS = ['bit-flips', 'byte-sets', 'field-byte', 'truncate', 'extend', 'field-swap', 'range-splice', 'shift', 'stacked'] as const
type Mutation = typeof MUTATIONS[number]

function applyMutation (op: Mutation, base: Uint8Array, others: Fixture[]): Uint8Array {
  switch (op) {
    case 'bit-flips': {
      const m = base.slice()
      for (let k = 1 + rng.int(8); k > 0; k--) { const at = rng.int(m.length); m[at] = (m[at] as number) ^ (1 << rng.int(8)) }
      return m
    }
    case 'byte-sets': {
      const m = base.slice()
      for (let k = 1 + rng.int(8); k > 0; k--) m[rng.int(m.length)] = rng.pick([0x00, 0xff, 0x01, 0x80, rng.byte()])
      return m
    }
    case 'field-byte': {
      const m = base.slice()
      const [, offset, length] = rng.pick(FIELDS)
      m[offset + rng.int(length)] = rng.byte()
      return m
    }
    case 'truncate':
      return base.slice(0, rng.chance(0.3) ? ENVELOPE_SIZE - 1 - rng.int(16) : rng.int(ENVELOPE_SIZE))
    case 'extend': {
      const extra = rng.chance(0.5) ? 1 + rng.int(16) : 1 + rng.int(2048)
      const m = new Uint8Array(base.length + extra)
      m.set(base)
      m.set(rng.chance(0.5) ? rng.bytes(extra) : new Uint8Array(extra), base.length)
      return m
    }
    case 'field-swap': {
      const m = base.slice()
      const other = rng.pick(others).envelope
      for (let k = 1 + rng.int(3); k > 0; k--) {
        const [, offset, length] = rng.pick(FIELDS)
        setClamped(m, other.subarray(offset, offset + length), offset)
      }
      return m
    }
    case 'range-splice': {
      const m = base.slice()
      const other = rng.pick(others).envelope
      const from = rng.int(ENVELOPE_SIZE)
      const to = Math.min(ENVELOPE_SIZE, from + 1 + rng.int(rng.chance(0.5) ? 64 : ENVELOPE_SIZE))
      setClamped(m, other.subarray(from, to), from)
      return m
    }
    case 'shift': {
      // Delete a byte and append one, or insert one and drop the last: same size, everything after moves.
      const length = base.length
      if (length === 0) return base.slice()
      const at = rng.int(length)
      const m = new Uint8Array(length)
      m.set(base.subarray(0, at))
      if (rng.chance(0.5)) {
        m.set(base.subarray(at + 1), at); m[length - 1] = rng.byte()
      } else {
        m[at] = rng.byte(); m.set(base.subarray(at, length - 1), at + 1)
      }
      return m
    }
    case 'stacked': {
      let m = base
      for (let k = 2 + rng.int(3); k > 0; k--) m = applyMutation(rng.pick(MUTATIONS.filter((x) => x !== 'stacked')), m, others)
      return m
    }
  }
}

/** Sometimes hand the input over as a view into a larger buffer, as a network layer might. */
function maybeOffsetView (m: Uint8Array): Uint8Array {
  if (!rng.chance(0.25)) return m
  const before = 1 + rng.int(64)
  const buffer = rng.bytes(before + m.length + rng.int(64))
  buffer.set(m, before)
  return buffer.subarray(before, before + m.length)
}

const NON_BYTES: ReadonlyArray<() => unknown> = [
  () => null, () => undefined, () => 0, () => 1, () => -1, () => Number.NaN, () => 2048, () => 1n, () => true,
  () => '', () => 'envelope', () => '\x01'.repeat(ENVELOPE_SIZE), () => ({}), () => ({ length: ENVELOPE_SIZE, 0: 1 }),
  () => [], () => new Array(ENVELOPE_SIZE).fill(1), () => new ArrayBuffer(ENVELOPE_SIZE),
  () => new DataView(new ArrayBuffer(ENVELOPE_SIZE)), () => new Uint16Array(ENVELOPE_SIZE / 2).fill(1),
  () => new Uint8ClampedArray(ENVELOPE_SIZE).fill(1), () => new Int8Array(ENVELOPE_SIZE).fill(1),
  () => Symbol('envelope'), () => () => 1, () => new Date(), () => new Map()
]

interface HostileEnvelope { input: unknown, source: string }

function hostileEnvelope (world: World): HostileEnvelope {
  const roll = rng.int(100)
  if (roll < 8) {
    const length = rng.chance(0.2) ? ENVELOPE_SIZE : rng.int(4097)
    return { input: rng.bytes(length), source: 'random-bytes' }
  }
  if (roll < 16) {
    // Plausible shell with a current expiry, so checkEnvelope reaches the work check and screen the crypto.
    const m = rng.bytes(ENVELOPE_SIZE)
    m[0] = 1
    const expiry = NOW_MINUTE - CLOCK_SKEW_MINUTES + rng.int(MAX_TTL_MINUTES + 2 * CLOCK_SKEW_MINUTES)
    Buffer.from(m.buffer).writeUInt32BE(expiry, EXPIRY_OFFSET)
    return { input: maybeOffsetView(m), source: 'random-plausible' }
  }
  if (roll < 26) {
    // A valid header (tag, ephemeral, salt of an envelope we watch) over a forged body.
    const base = rng.pick(world.forUs).envelope
    const m = rng.bytes(ENVELOPE_SIZE)
    m.set(base.subarray(0, rng.chance(0.5) ? SEALED_BODY_OFFSET : TAG_OFFSET + TAG_LENGTH))
    if (rng.chance(0.3)) m.set(base.subarray(SEALED_BODY_OFFSET, SEALED_BODY_OFFSET + rng.int(ENVELOPE_SIZE - SEALED_BODY_OFFSET)), SEALED_BODY_OFFSET)
    if (equalOutsideNonce(m, base)) flipOutsideNonce(m)
    return { input: maybeOffsetView(m), source: 'forged-body' }
  }
  if (roll < 31) {
    return { input: rng.pick(NON_BYTES)(), source: 'non-bytes' }
  }
  const base = rng.pick(world.fixtures).envelope
  const op = rng.pick(MUTATIONS)
  const m = applyMutation(op, base, world.fixtures)
  // A mutation must change something the AEAD covers, and must not rebuild some other valid envelope.
  while (world.fixtures.some((f) => equalOutsideNonce(m, f.envelope))) flipOutsideNonce(m)
  return { input: maybeOffsetView(m), source: `mutation:${op}` }
}

/** What checkEnvelope must answer, read independently of the implementation (work aside). */
function expectedVerdict (input: unknown, now: number): 'wrong-size' | 'unknown-version' | 'expired' | 'expiry-too-far' | 'work-stage' {
  if (!(input instanceof Uint8Array) || input.length !== ENVELOPE_SIZE) return 'wrong-size'
  if (input[0] !== 1) return 'unknown-version'
  const expiry = Buffer.from(input.buffer, input.byteOffset, input.length).readUInt32BE(EXPIRY_OFFSET)
  const nowMinute = Math.floor(now / MINUTE_MS)
  if (expiry < nowMinute - CLOCK_SKEW_MINUTES) return 'expired'
  if (expiry > nowMinute + MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES) return 'expiry-too-far'
  return 'work-stage'
}

// ---------------------------------------------------------------------------
// Hostile inner plaintexts and parts

function randomInner (withSender: boolean): { message: InnerMessage, sender?: { signingKey: Uint8Array, sealingKey: Uint8Array, signature: Uint8Array } } {
  const partCount = rng.chance(0.3) ? 1 : rng.chance(0.2) ? MAX_PARTS : 1 + rng.int(MAX_PARTS)
  const capacity = withSender ? FIRST_CONTACT_BODY_CAPACITY : SESSION_BODY_CAPACITY
  const message: InnerMessage = {
    kind: 1 + rng.int(255),
    timestamp: rng.chance(0.1) ? Number.MAX_SAFE_INTEGER : rng.u32() * 1000 + rng.int(1000),
    messageId: rng.bytes(16),
    partIndex: rng.int(partCount),
    partCount,
    body: rng.bytes(rng.chance(0.2) ? capacity : rng.int(capacity + 1))
  }
  if (!withSender) return { message }
  return { message, sender: { signingKey: rng.bytes(32), sealingKey: rng.bytes(32), signature: rng.bytes(64) } }
}

function hostileInner (): { bytes: Uint8Array, withSender: boolean, source: string, valid?: InnerMessage } {
  const withSender = rng.chance(0.4)
  const roll = rng.int(100)
  if (roll < 20) {
    const length = rng.chance(0.5) ? INNER_LENGTH : rng.int(4097)
    return { bytes: rng.bytes(length), withSender, source: 'random-bytes' }
  }
  const { message, sender } = randomInner(withSender)
  const encoded = encodeInner(message, sender)
  if (roll < 30) return { bytes: encoded, withSender, source: 'valid', valid: message }
  if (roll < 40) return { bytes: encoded, withSender: !withSender, source: 'other-layout' }
  const m = encoded.slice()
  const header = rng.chance(0.6)
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const at = header ? rng.int(32) : rng.int(m.length)
    m[at] = rng.chance(0.5) ? rng.byte() : (m[at] as number) ^ (1 << rng.int(8))
  }
  if (rng.chance(0.1)) return { bytes: rng.chance(0.5) ? m.slice(0, rng.int(m.length)) : new Uint8Array([...m, ...rng.bytes(1 + rng.int(8))]), withSender, source: 'resized' }
  return { bytes: m, withSender, source: header ? 'mutated-header' : 'mutated-anywhere' }
}

// ---------------------------------------------------------------------------
// Hostile keyring state

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

function hostileJsonValue (): Json {
  return rng.pick<() => Json>([
    () => null, () => true, () => false, () => 0, () => -1, () => 1.5, () => 1e308, () => -1e308, () => 2 ** 53, () => 2 ** 53 + 2,
    () => -(2 ** 31), () => 4294967295, () => '', () => 'zz', () => '0', () => 'g'.repeat(64), () => '__proto__',
    () => hex(rng.bytes(rng.pick([0, 1, 15, 16, 24, 31, 32, 33, 64]))), () => hex(rng.bytes(32)).toUpperCase(), () => hex(rng.bytes(32)).slice(1),
    () => [], () => [[]], () => [1, 2, 3], () => ['00', '11'], () => [rng.int(100), hex(rng.bytes(16)), hex(rng.bytes(32))],
    () => ({}), () => ({ version: 1 }), () => ({ version: 1, contacts: [], seenFirstContacts: [] }), () => ({ length: 3 })
  ])()
}

/** Every path (array of keys) in a JSON tree, the root included. */
function pathsOf (node: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix)
  if (Array.isArray(node)) node.forEach((child, i) => pathsOf(child, [...prefix, i], out))
  else if (node !== null && typeof node === 'object') for (const key of Object.keys(node)) pathsOf(node[key]!, [...prefix, key], out)
  return out
}

function getAt (root: Json, path: Array<string | number>): Json {
  let node: any = root
  for (const key of path) node = node[key]
  return node as Json
}

/** Sets (or with `undefined`, deletes) the value at `path`; returns the new root. */
function setAt (root: Json, path: Array<string | number>, value: Json | undefined): Json {
  if (path.length === 0) return value === undefined ? null : value
  const parent: any = getAt(root, path.slice(0, -1))
  const key = path[path.length - 1]!
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1)
    else delete parent[key]
  } else {
    parent[key] = value
  }
  return root
}

function mutateState (state: KeyringJSON): { state: unknown, source: string } {
  let root = JSON.parse(JSON.stringify(state)) as Json
  if (rng.chance(0.15)) {
    // Text-level damage: the stored JSON itself is corrupted.
    const text = JSON.stringify(root).split('')
    for (let k = 1 + rng.int(3); k > 0; k--) text[rng.int(text.length)] = rng.pick(['0', '9', 'f', 'g', '"', ',', '{', '}', '[', ']', '-', '.', 'e', ' ', ':'])
    try {
      return { state: JSON.parse(text.join('')), source: 'text-damage' }
    } catch {
      return { state: text.join(''), source: 'text-damage-unparsable' }
    }
  }
  let source = ''
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const paths = pathsOf(root)
    const path = rng.pick(paths)
    const op = rng.int(5)
    if (op === 0) { root = setAt(root, path, hostileJsonValue()); source += 'replace,' }
    else if (op === 1 && path.length > 0) { root = setAt(root, path, undefined); source += 'delete,' }
    else if (op === 2) {
      const target = getAt(root, path)
      if (Array.isArray(target)) {
        if (target.length > 0 && rng.chance(0.5)) target.push(JSON.parse(JSON.stringify(rng.pick(target))) as Json)
        else target.splice(rng.int(target.length + 1), 0, hostileJsonValue())
        source += 'grow-array,'
      } else { root = setAt(root, path, hostileJsonValue()); source += 'replace,' }
    } else if (op === 3) {
      const other = rng.pick(paths)
      const a = getAt(root, path); const b = getAt(root, other)
      if (path.length > 0 && other.length > 0 && !other.join('/').startsWith(path.join('/')) && !path.join('/').startsWith(other.join('/'))) {
        root = setAt(root, path, JSON.parse(JSON.stringify(b)) as Json)
        root = setAt(root, other, JSON.parse(JSON.stringify(a)) as Json)
        source += 'swap,'
      } else { source += 'noop,' }
    } else {
      // Numbers nudged: counters and indices off by a little or a lot.
      const target = getAt(root, path)
      if (typeof target === 'number' && path.length > 0) {
        root = setAt(root, path, rng.pick([target + 1, target - 1, -target, target * 2, target + 600, 0]))
        source += 'nudge,'
      } else { source += 'noop,' }
    }
  }
  return { state: root, source: source.slice(0, -1) }
}

// ---------------------------------------------------------------------------
// The tests

const ENVELOPE_INPUTS = 30_000
const INNER_INPUTS = 20_000
const STATE_INPUTS = 3_000
const PART_INPUTS = 20_000

describe(`fuzz (seed ${SEED})`, () => {
  let world: World

  beforeAll(() => { world = buildWorld() })

  afterAll(() => {
    const rows = [...stats].map(([target, s]) => ({
      target, calls: s.calls, 'max ms': Number(s.maxMs.toFixed(2)),
      detail: Object.entries(s.detail).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(' ')
    }))
    const total = rows.reduce((sum, r) => sum + r.calls, 0)
    console.log(`fuzz summary (seed ${SEED}, ${total} calls in total)`)
    console.table(rows)
  })

  it('the fixtures are valid: worked, well-shaped, and meant for whom we think', () => {
    expect(world.fixtures.length).toBeGreaterThanOrEqual(15)
    for (const f of world.fixtures) {
      expect(f.envelope.length).toBe(ENVELOPE_SIZE)
      expect(checkEnvelope(crypto, f.envelope, { now: NOW }).valid).toBe(true)
    }
  })

  it(`checkEnvelope, assertEnvelopeShape, screen: ${ENVELOPE_INPUTS} hostile envelopes each, none escapes, none opens`, () => {
    let workStage = 0
    let workValid = 0
    for (let n = 0; n < ENVELOPE_INPUTS; n++) {
      const { input, source } = hostileEnvelope(world)
      const family = source.split(':')[0]!

      // checkEnvelope: never throws, agrees with an independent reading.
      const now = rng.chance(0.8) ? NOW : NOW + (rng.int(40) - 20) * MINUTE_MS
      const check = timed('checkEnvelope', () => checkEnvelope(crypto, input, { now }))
      note('checkEnvelope', family)
      if ('error' in check && check.error !== undefined) {
        violation('checkEnvelope', `threw ${errorName(check.error)} on ${source} ${describeInput(input)}`)
      } else {
        const verdict = check.value!
        const expected = expectedVerdict(input, now)
        if (expected === 'work-stage') {
          workStage += 1
          if (verdict.valid) {
            workValid += 1
            const expiry = Buffer.from((input as Uint8Array).buffer, (input as Uint8Array).byteOffset, ENVELOPE_SIZE).readUInt32BE(EXPIRY_OFFSET)
            if (verdict.expiryMinute !== expiry) violation('checkEnvelope', `valid with expiry ${verdict.expiryMinute}, field says ${expiry}`)
          } else if (verdict.reason !== 'insufficient-work') {
            violation('checkEnvelope', `expected a work verdict, got ${verdict.reason} on ${source}`)
          }
        } else if (verdict.valid || verdict.reason !== expected) {
          violation('checkEnvelope', `expected ${expected}, got ${JSON.stringify(verdict)} on ${source} ${describeInput(input)}`)
        }
      }

      // assertEnvelopeShape: throws exactly on a wrong shape, with the right error.
      const shape = timed('assertEnvelopeShape', () => assertEnvelopeShape(input))
      note('assertEnvelopeShape', family)
      const wantError = !(input instanceof Uint8Array) ? 'TypeError'
        : input.length !== ENVELOPE_SIZE || input[0] !== 1 ? 'EnvelopeFormatError' : undefined
      const gotError = shape.error === undefined ? undefined : errorName(shape.error)
      if (gotError !== undefined && !['EnvelopeFormatError', 'TypeError', 'RangeError'].includes(gotError)) {
        violation('assertEnvelopeShape', `threw ${gotError} on ${source}`)
      } else if (gotError !== wantError) {
        violation('assertEnvelopeShape', `expected ${wantError ?? 'no error'}, got ${gotError ?? 'no error'} on ${source} ${describeInput(input)}`)
      }

      // screen: never throws, never opens anything hostile.
      const contactsOnly = n % 2 === 0
      const screener = contactsOnly ? world.contactsOnly : world.full
      const target = contactsOnly ? 'screen (contactsOnly)' : 'screen'
      const screened = timed(target, () => screener.screen(input as Uint8Array, { now: NOW }))
      note(target, family)
      if (screened.error !== undefined) {
        violation(target, `threw ${errorName(screened.error)} on ${source} ${describeInput(input)}`)
      } else if (screened.value !== undefined) {
        violation(target, `OPENED a hostile envelope (${source}, via ${screened.value.opened.via}) ${describeInput(input)}`)
      }
    }
    statsOf('checkEnvelope').detail['reached work check'] = workStage
    statsOf('checkEnvelope').detail['valid after mutation'] = workValid
    expect(violations).toEqual([])
    // Work for a 1-minute TTL needs ~16k trials on average; a changed envelope keeps valid work by chance only.
    expect(workStage).toBeGreaterThan(ENVELOPE_INPUTS / 2)
    expect(workValid).toBeLessThanOrEqual(Math.max(10, workStage / 1000))
    for (const target of ['checkEnvelope', 'assertEnvelopeShape', 'screen', 'screen (contactsOnly)']) {
      expect(statsOf(target).maxMs, target).toBeLessThan(CALL_BOUND_MS)
    }
    expect(statsOf('checkEnvelope').calls).toBe(ENVELOPE_INPUTS)
    expect(statsOf('screen').calls + statsOf('screen (contactsOnly)').calls).toBe(ENVELOPE_INPUTS)
  })

  it('after the fuzz, every valid envelope still opens for its recipient, exactly once (state undisturbed)', () => {
    let opened = 0
    for (const f of world.fixtures) {
      const view = maybeOffsetView(f.envelope)
      if (f.recipient === undefined) {
        expect(world.full.screen(view, { now: NOW }), f.label).toBeUndefined()
        expect(world.contactsOnly.screen(view, { now: NOW }), f.label).toBeUndefined()
        continue
      }
      if (f.kind === 'first-contact') {
        // contactsOnly refuses strangers; the full screener lets them in.
        expect(world.contactsOnly.screen(view, { now: NOW }), f.label).toBeUndefined()
      }
      const screener = f.kind === 'first-contact' ? world.full : world.contactsOnly
      const result = screener.screen(view, { now: NOW })
      expect(result?.keyring, f.label).toBe(f.recipient)
      const got = result!.opened
      expect(got.via, f.label).toBe(f.kind === 'first-contact' ? 'first-contact' : f.kind === 'accept' ? 'accept' : 'session')
      expect(got.contactId, f.label).toBe(f.fromId)
      expect(got.message.kind, f.label).toBe(f.messageKind)
      if (f.partIndex !== undefined) expect(got.message.partIndex, f.label).toBe(f.partIndex)
      expect(hex(got.message.body), f.label).toBe(hex(f.body!))
      // A second copy (flooded twice, or replayed) opens nothing.
      expect(world.full.screen(f.envelope, { now: NOW }), `${f.label} replayed`).toBeUndefined()
      opened += 1
    }
    expect(opened).toBe(world.forUs.length)
    expect(opened).toBeGreaterThanOrEqual(12)
  })

  it(`decodeInner: ${INNER_INPUTS} hostile plaintexts, never throws, accepts only canonical encodings`, () => {
    let accepted = 0
    for (let n = 0; n < INNER_INPUTS; n++) {
      const { bytes, withSender, source, valid } = hostileInner()
      const result = timed('decodeInner', () => decodeInner(bytes, withSender))
      note('decodeInner', source)
      if (result.error !== undefined) { violation('decodeInner', `threw ${errorName(result.error)} on ${source}`); continue }
      const decoded = result.value
      if (valid !== undefined && decoded === undefined) { violation('decodeInner', 'refused a valid encoding'); continue }
      if (decoded === undefined) continue
      accepted += 1
      const m = decoded.message
      if (!(m.kind >= 1 && m.kind <= 255 && m.partCount >= 1 && m.partCount <= MAX_PARTS && m.partIndex >= 0 && m.partIndex < m.partCount &&
        Number.isSafeInteger(m.timestamp) && m.timestamp >= 0 && m.messageId.length === 16 &&
        m.body.length <= (withSender ? FIRST_CONTACT_BODY_CAPACITY : SESSION_BODY_CAPACITY) && (decoded.sender !== undefined) === withSender)) {
        violation('decodeInner', `accepted out-of-range fields from ${source}: ${JSON.stringify({ ...m, messageId: hex(m.messageId), body: m.body.length })}`)
        continue
      }
      let reencoded: Uint8Array | undefined
      try { reencoded = encodeInner(m, decoded.sender) } catch (error) { violation('decodeInner', `accepted something encodeInner refuses (${errorName(error)}) from ${source}`); continue }
      if (!sameBytes(reencoded, bytes)) violation('decodeInner', `accepted a non-canonical encoding from ${source}`)
      if (valid !== undefined && (hex(m.body) !== hex(valid.body) || m.kind !== valid.kind || m.partIndex !== valid.partIndex)) {
        violation('decodeInner', 'decoded a valid encoding to something else')
      }
    }
    statsOf('decodeInner').detail.accepted = accepted
    expect(violations).toEqual([])
    expect(accepted).toBeGreaterThan(INNER_INPUTS / 20) // the valid share really was exercised
    expect(statsOf('decodeInner').calls).toBe(INNER_INPUTS)
    expect(statsOf('decodeInner').maxMs).toBeLessThan(CALL_BOUND_MS)
  })

  it(`createKeyring: ${STATE_INPUTS} mutated stored states, only KeyFormatError/TypeError/RangeError, accepted states persist`, () => {
    const allowed = ['KeyFormatError', 'TypeError', 'RangeError']
    let restored = 0
    // The untouched state restores and opens the next envelope (so the mutations start from something that works).
    const pristine = createKeyring({ crypto, identity: world.identityOfR, state: JSON.parse(JSON.stringify(world.stateOfR)) as KeyringJSON })
    expect(pristine.screenByTag(world.laterFromA)?.via).toBe('session')
    for (let n = 0; n < STATE_INPUTS; n++) {
      const { state, source } = n < 20 ? { state: rng.pick<unknown>([null, 0, 'x', [], {}, { version: 2 }, { version: 1 }, true]), source: 'not-a-state' } : mutateState(world.stateOfR)
      const result = timed('createKeyring', () => createKeyring({ crypto, identity: world.identityOfR, state: state as KeyringJSON }))
      note('createKeyring', source.split(',')[0]!)
      if (result.error !== undefined) {
        const name = errorName(result.error)
        note('createKeyring', `threw ${name}`)
        if (!allowed.includes(name)) violation('createKeyring', `threw ${name} (${String((result.error as Error)?.message)}) on ${source}`)
        continue
      }
      restored += 1
      // A state that was accepted must persist: toJSON works and restores again.
      const again = timed('createKeyring (re-restore)', () => {
        const json = JSON.parse(JSON.stringify(result.value!.toJSON())) as KeyringJSON
        return createKeyring({ crypto, identity: world.identityOfR, state: json })
      })
      if (again.error !== undefined) violation('createKeyring', `accepted a state whose toJSON does not restore (${errorName(again.error)}) after ${source}`)
      // And it screens hostile input without throwing (screenByTag must never throw).
      const probe = rng.pick(world.fixtures).envelope.slice()
      flipOutsideNonce(probe)
      const screened = timed('createKeyring (screen probe)', () => result.value!.screenByTag(probe))
      if (screened.error !== undefined || screened.value !== undefined) violation('createKeyring', `restored keyring mishandled a hostile envelope after ${source}`)
    }
    statsOf('createKeyring').detail.restored = restored
    expect(violations).toEqual([])
    expect(restored).toBeGreaterThan(STATE_INPUTS / 20)
    expect(restored).toBeLessThan(STATE_INPUTS)
    expect(statsOf('createKeyring').calls).toBe(STATE_INPUTS)
    for (const target of ['createKeyring', 'createKeyring (re-restore)', 'createKeyring (screen probe)']) {
      expect(statsOf(target).maxMs, target).toBeLessThan(CALL_BOUND_MS)
    }
  })

  it(`Reassembler.add: ${PART_INPUTS} hostile parts, never throws, stays bounded, returns only what it was given`, () => {
    const scopes = ['alice', 'bob', 'alice/x']
    const ids = [rng.bytes(16), rng.bytes(16), rng.bytes(16), rng.bytes(16)]
    let completed = 0
    let fromDecoder = 0
    let n = 0
    while (n < PART_INPUTS) {
      const maxBufferedBytes = rng.pick([0, 1, 4096, 20_000, 200_000, 64 * 1024 * 1024])
      const rememberCompleted = rng.pick([0, 1, 4, 4096])
      const reassembler = createReassembler({ maxBufferedBytes, rememberCompleted })
      // Shadow record of every part given: key -> "count/kind/index" -> bodies.
      const given = new Map<string, Map<string, Uint8Array[]>>()
      for (let k = 0; k < 500 && n < PART_INPUTS; k++, n++) {
        let message: InnerMessage
        if (rng.chance(0.2)) {
          // Whatever decodeInner lets through from a hostile plaintext.
          const { bytes, withSender } = hostileInner()
          const decoded = decodeInner(bytes, withSender)
          if (decoded === undefined) { n--; continue }
          message = decoded.message
          fromDecoder += 1
        } else {
          // A sender who holds the key: parts of few ids, clashing counts and kinds, duplicates, odd sizes.
          const partCount = rng.pick([1, 2, 3, 5, 8, MAX_PARTS, 1 + rng.int(MAX_PARTS)])
          message = {
            kind: rng.pick([KIND_MESSAGE, KIND_RECEIPT, 1 + rng.int(255)]),
            timestamp: NOW,
            messageId: rng.pick(ids),
            partIndex: rng.chance(0.3) ? partCount - 1 : rng.int(partCount),
            partCount,
            body: rng.bytes(rng.pick([0, 1, SESSION_BODY_CAPACITY, rng.int(SESSION_BODY_CAPACITY + 1)]))
          }
        }
        const scope = rng.pick(scopes)
        const key = `${scope}/${hex(message.messageId)}`
        let slots = given.get(key)
        if (slots === undefined) { slots = new Map(); given.set(key, slots) }
        const slot = `${message.partCount}/${message.kind}/${message.partIndex}`
        slots.set(slot, [...(slots.get(slot) ?? []), message.body])

        const result = timed('Reassembler.add', () => reassembler.add(scope, message))
        note('Reassembler.add', message.partCount === 1 ? 'single' : 'multi-part')
        if (result.error !== undefined) { violation('Reassembler.add', `threw ${errorName(result.error)}`); continue }
        const buffered = reassembler.bufferedBytes
        if (buffered < 0 || buffered > maxBufferedBytes || reassembler.pending < 0 || (reassembler.pending === 0 && buffered !== 0)) {
          violation('Reassembler.add', `out of bounds: buffered ${buffered} of ${maxBufferedBytes}, pending ${reassembler.pending}`)
        }
        const payload = result.value
        if (payload === undefined) continue
        completed += 1
        if (message.partCount === 1) {
          if (!sameBytes(payload, message.body)) violation('Reassembler.add', 'a single part came back changed')
          continue
        }
        // The payload must be parts 0..count-1 of one (count, kind), each a body given for that index, in order.
        const composable = (kind: number): boolean => {
          const walk = (index: number, offset: number): boolean => {
            if (index === message.partCount) return offset === payload.length
            for (const body of slots.get(`${message.partCount}/${kind}/${index}`) ?? []) {
              if (offset + body.length <= payload.length && sameBytes(body, payload.subarray(offset, offset + body.length)) && walk(index + 1, offset + body.length)) return true
            }
            return false
          }
          return walk(0, 0)
        }
        if (!composable(message.kind)) violation('Reassembler.add', `returned a ${payload.length}-byte payload that is not made of the parts given`)
      }
    }
    statsOf('Reassembler.add').detail.completed = completed
    statsOf('Reassembler.add').detail['from decodeInner'] = fromDecoder
    expect(violations).toEqual([])
    expect(statsOf('Reassembler.add').calls).toBe(PART_INPUTS)
    expect(completed).toBeGreaterThan(100)
    expect(statsOf('Reassembler.add').maxMs).toBeLessThan(CALL_BOUND_MS)
  })

  it('in total, at least 100,000 hostile inputs were fed', () => {
    const total = [...stats.values()].reduce((sum, s) => sum + s.calls, 0)
    expect(total).toBeGreaterThanOrEqual(100_000)
  })

  /*
   * Regression (found by this file): a stored session used to be restored
   * without checking that its counters agree, so a damaged receiveHighest
   * (say +40,000, or 1e9) made the next open derive that many chain steps and
   * could hang the node. sessionFromJSON now refuses such state with
   * KeyFormatError.
   */
  it('a damaged receiveHighest in a stored session must be refused or stay harmless', () => {
    const state = JSON.parse(JSON.stringify(world.stateOfR)) as KeyringJSON
    // Damage the receive counter of R's session with A (R was the responder there; `laterFromA` is sealed on it).
    const session = state.contacts.flatMap((c) => c.sessions).find((s) => s.role === 'responder')
    expect(session).toBeDefined()
    session!.receiveHighest += 40_000
    let restored: Keyring | undefined
    try {
      restored = createKeyring({ crypto, identity: world.identityOfR, state })
    } catch (error) {
      expect(errorName(error)).toBe('KeyFormatError') // refusing the state is a correct outcome
      return
    }
    const start = performance.now()
    restored.screenByTag(world.laterFromA)
    const ms = performance.now() - start
    expect(restored.watchedTags, 'tags watched after one envelope').toBeLessThan(10_000)
    expect(ms, 'screening one envelope on the restored keyring (ms)').toBeLessThan(CALL_BOUND_MS)
  })
})
