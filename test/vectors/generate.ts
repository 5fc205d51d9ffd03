/**
 * Writes test/vectors/envelopes.json: envelope v1 test vectors, valid and
 * invalid, for this implementation and any other.
 *
 *   npx tsx test/vectors/generate.ts
 *
 * Deterministic: all randomness comes from a seeded stream
 * (deterministic-crypto.ts) and every clock reading is a fixed `now`, so the
 * output is byte-identical on every run and with either provider.
 * test/unit/protocol-vectors.test.ts checks the file against both providers
 * and regenerates it in memory to prove it has not rotted.
 *
 * Every claim written to the file is checked here first with the generating
 * provider. The "hand-built" vectors are sealed by the code below, written from
 * SPEC §2-§4 without protocol/'s sealing functions: a second implementation of
 * sealing whose control vectors must open with the real keyring.
 */
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  ENVELOPE_SIZE, INNER_LENGTH, KIND_RECEIPT, MAX_TTL_MINUTES, CLOCK_SKEW_MINUTES, checkEnvelope, createIdentity,
  createKeyring, createReassembler, createScreener, encodeIdentity, encodePublicIdentity, encodeReceipt, envelopeId,
  fingerprint, fromHex, identityId, minuteOf, nativeCrypto, publicIdentityOf, sealCover, solveWork, toHex, workValue,
  type CryptoProvider, type EnvelopeVerdict, type Identity, type Keyring, type KeyringJSON, type OpenedEnvelope,
  type PublicIdentity
} from '../../protocol/index.js'
import { concatBytes } from '../../protocol/bytes.js'
import { deterministicCrypto } from './deterministic-crypto.js'

export const SEED = 'komrade/test-vectors/envelope-v1'
/** Start of the story: minute 30,000,000 exactly (2027-01-15T08:00:00Z). */
export const T0 = 1_800_000_000_000
/** Lifetime of every envelope except the first contact (which uses the 2-day default): cheap work. */
export const TTL = 60

type Who = 'alice' | 'bob'
export interface Checked {
  name: string, description: string, now: number, envelope: string
  envelopeId?: string, workValue?: string, verdict: EnvelopeVerdict
}
export interface OpenedExpect {
  via: OpenedEnvelope['via'], contactId: string, from: { signingKey: string, sealingKey: string }
  message: { kind: number, timestamp: number, messageId: string, partIndex: number, partCount: number, body: string }
  windowGrew: boolean
}
export interface Receiver { receiver: Who, state: string }
export type OpenedVector = Checked & Receiver & { expect: OpenedExpect, receiptIds?: string[] }
export type NotOpenedVector = Checked & Receiver & { base?: string, expect: 'not-opened' }
export interface VectorFile {
  description: string
  conventions: string[]
  seed: string
  identities: Record<Who, {
    description: string, signingSeed: string, sealingSecret: string, signingKey: string, sealingKey: string
    secretIdentity: string, publicIdentity: string, id: string, fingerprint: string
  }>
  states: Record<string, { description: string, owner: Who, keyring: KeyringJSON }>
  valid: {
    description: string
    opened: OpenedVector[]
    multipart: Receiver & { name: string, description: string, body: string, parts: Array<Checked & { expect: OpenedExpect }> }
    cover: Checked & { receivers: Receiver[], expect: 'not-opened' }
    boundaries: Checked[]
  }
  invalid: {
    description: string
    rejected: Checked[]
    notOpened: NotOpenedVector[]
    replay: Receiver & { name: string, description: string, original: Checked, replay: Checked }
    shape: Array<{ name: string, description: string, envelope: string, error: { name: string, reason: string } | null }>
  }
}

function assert (condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`generator self-check failed: ${message}`)
}

const label = (text: string): Uint8Array => new TextEncoder().encode(text)
const cat = concatBytes
function u32 (value: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, value)
  return out
}
/** A copy of `bytes` with bit `bit` of byte `offset` flipped. */
export function flipBit (bytes: Uint8Array, offset: number, bit = 0): Uint8Array {
  const out = bytes.slice()
  out[offset] = (out[offset] as number) ^ (1 << bit)
  return out
}
const ED25519_ORDER = (1n << 252n) + 27742317777372353535851937790883648493n

// ---- Sealing by hand, from SPEC §2-§4 (not protocol/'s code) ----

interface RawInner {
  kind: number, flags?: number, timestamp: number | bigint, messageId: Uint8Array, partIndex: number, partCount: number
  body: Uint8Array, bodyLength?: number, sender?: PublicIdentity, poke?: number
}
/** SPEC §3 inner plaintext, any field value allowed; `poke` sets that byte to 0x01 (e.g. in the padding). */
function rawInner (m: RawInner): Uint8Array {
  const out = new Uint8Array(INNER_LENGTH)
  const view = new DataView(out.buffer)
  out[0] = m.kind
  out[1] = m.flags ?? 0
  view.setBigUint64(2, BigInt(m.timestamp))
  out.set(m.messageId, 10)
  view.setUint16(26, m.partIndex)
  view.setUint16(28, m.partCount)
  view.setUint16(30, m.bodyLength ?? m.body.length)
  if (m.sender !== undefined) { out.set(m.sender.signingKey, 32); out.set(m.sender.sealingKey, 64) }
  out.set(m.body, m.sender === undefined ? 32 : 160)
  if (m.poke !== undefined) out[m.poke] = 0x01
  return out
}
function wireEphemeral (c: CryptoProvider): { secret: Uint8Array, wire: Uint8Array } {
  const pair = c.x25519KeyPair()
  const wire = pair.publicKey.slice()
  wire[31] = ((wire[31] as number) & 0x7f) | ((c.randomBytes(1)[0] as number) & 0x80)
  return { secret: pair.secretKey, wire }
}
function sealShell (c: CryptoProvider, key: Uint8Array, nonce: Uint8Array, inner: Uint8Array, header: {
  expiryMinute: number, salt: Uint8Array, ephemeral: Uint8Array, tag: Uint8Array
}): Uint8Array {
  const env = new Uint8Array(ENVELOPE_SIZE)
  env[0] = 0x01
  env.set(u32(header.expiryMinute), 1)
  env.set(header.salt, 13)
  env.set(header.ephemeral, 37)
  env.set(header.tag, 69)
  env.set(c.aeadSeal(key, nonce, inner, cat(env.subarray(0, 5), env.subarray(13, 85))), 85)
  return env
}
/** SPEC §4.1 first contact; the signature covers `inner` as given (malformed or not) with zeroed signature bytes. */
function handFirstContact (c: CryptoProvider, o: {
  to: PublicIdentity, signerSeed: Uint8Array, inner: Uint8Array, expiryMinute: number, tweakSignature?: (s: Uint8Array) => Uint8Array
}): Uint8Array {
  const e = wireEphemeral(c)
  const s1 = c.x25519(e.secret, o.to.sealingKey)
  assert(s1 !== undefined, 'x25519')
  const salt = c.randomBytes(24)
  const tag = c.sha256(cat(label('komrade/v1/first-contact/tag'), s1, e.wire, o.to.sealingKey, salt)).slice(0, 16)
  const okm = c.hkdfSha256(s1, salt, cat(label('komrade/v1/first-contact'), e.wire, o.to.sealingKey), 60)
  const plain = o.inner.slice().fill(0, 96, 160)
  const signature = c.ed25519Sign(o.signerSeed, cat(label('komrade/v1/first-contact/signature'), o.to.signingKey,
    o.to.sealingKey, e.wire, u32(o.expiryMinute), salt, plain))
  plain.set(o.tweakSignature?.(signature) ?? signature, 96)
  return sealShell(c, okm.slice(0, 32), okm.slice(32, 44), plain, { expiryMinute: o.expiryMinute, salt, ephemeral: e.wire, tag })
}
/** SPEC §4.3 session envelope on the chain step whose key is `chainKey`. */
function handSession (c: CryptoProvider, chainKey: Uint8Array, inner: Uint8Array, expiryMinute: number): Uint8Array {
  const tag = c.hmacSha256(chainKey, Uint8Array.of(0x01)).slice(0, 16)
  const messageKey = c.hmacSha256(chainKey, Uint8Array.of(0x02))
  const salt = c.randomBytes(24)
  const e = wireEphemeral(c)
  const okm = c.hkdfSha256(messageKey, salt, label('komrade/v1/session/message'), 44)
  return sealShell(c, okm.slice(0, 32), okm.slice(32, 44), inner, { expiryMinute, salt, ephemeral: e.wire, tag })
}
/** S + L: the same signature with a non-canonical S (SPEC §1: verifiers reject S >= L). */
function nonCanonicalS (signature: Uint8Array): Uint8Array {
  let s = 0n
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i] as number)
  s += ED25519_ORDER
  const out = signature.slice()
  for (let i = 32; i < 64; i++) { out[i] = Number(s & 0xffn); s >>= 8n }
  return out
}

// ---- The story ----

/** Builds every vector with `base` (wrapped in the seeded stream). Pure: same output on every call. */
export function buildVectors (base: CryptoProvider): VectorFile {
  const c = deterministicCrypto(base, SEED)
  const ids: Record<Who, Identity> = { alice: createIdentity(c), bob: createIdentity(c) }
  const pub = (who: Who): PublicIdentity => publicIdentityOf(ids[who])
  const keyrings: Record<Who, Keyring> = {
    alice: createKeyring({ crypto: c, identity: ids.alice }), bob: createKeyring({ crypto: c, identity: ids.bob })
  }
  const other = (who: Who): Who => (who === 'alice' ? 'bob' : 'alice')
  const states: VectorFile['states'] = {}
  const snap = (name: string, who: Who, description: string): Receiver => {
    states[name] = { description, owner: who, keyring: keyrings[who].toJSON() }
    return { receiver: who, state: name }
  }
  const restore = (r: Receiver): Keyring =>
    createKeyring({ crypto: c, identity: ids[r.receiver], state: structuredClone(states[r.state]!.keyring) })
  const open = (keyring: Keyring, env: Uint8Array, now: number): OpenedEnvelope | undefined =>
    createScreener({ keyrings: [keyring] }).screen(env, { now })?.opened
  const solve = (env: Uint8Array, now: number): Uint8Array => solveWork(c, env, { now })
  const checked = (name: string, description: string, env: Uint8Array, now: number): Checked => {
    const out: Checked = { name, description, now, envelope: toHex(env), verdict: checkEnvelope(c, env, { now }) }
    if (env.length === ENVELOPE_SIZE) {
      out.envelopeId = toHex(envelopeId(c, env))
      out.workValue = workValue(c, env).toString(16).padStart(16, '0')
    }
    return out
  }
  const expectOf = (o: OpenedEnvelope): OpenedExpect => ({
    via: o.via, contactId: o.contactId, from: { signingKey: toHex(o.from.signingKey), sealingKey: toHex(o.from.sealingKey) },
    message: {
      kind: o.message.kind, timestamp: o.message.timestamp, messageId: toHex(o.message.messageId),
      partIndex: o.message.partIndex, partCount: o.message.partCount, body: toHex(o.message.body)
    },
    windowGrew: o.windowGrew
  })
  const bodies = new Map<string, Uint8Array>() // envelope bytes by vector name, for deriving invalid ones
  const opened: OpenedVector[] = []
  /** Records a valid envelope that `receiver` opens (with a restored copy of its state unless `keyring` is given). */
  const opens = (name: string, description: string, env: Uint8Array, now: number, receiver: Receiver, keyring = restore(receiver)): OpenedEnvelope => {
    const v = checked(name, description, env, now)
    const o = open(keyring, env, now)
    assert(v.verdict.valid && o !== undefined, `${name} is valid and opens`)
    opened.push({ ...v, ...receiver, expect: expectOf(o) })
    bodies.set(name, env)
    return o
  }
  /** Delivers `env` to the live keyring of the other party, recording its state just before. */
  const deliver = (name: string, description: string, from: Who, env: Uint8Array, now: number): OpenedEnvelope =>
    opens(name, description, env, now, snap(`${other(from)}-before-${name}`, other(from), `${other(from)}'s keyring just before "${name}" arrives`), keyrings[other(from)])

  // First contact Alice -> Bob at the default TTL (2 days), then the accept and sessions at TTL minutes.
  let now = T0
  const fc = keyrings.alice.seal(pub('bob'), label('Hello Bob, this is Alice. Shall we talk?'), { now })
  assert(fc.firstContact, 'first contact')
  const fcEnv = solve(fc.envelopes[0]!, now)
  const fcOpened = deliver('first-contact', 'First contact Alice -> Bob (keyring.seal, default 2-day TTL); Bob finds it by screenFirstContact.', 'alice', fcEnv, now)
  now = T0 + 60_000
  const acc = keyrings.bob.accept(fcOpened.offer!, label('Hi Alice! Bob here; this accept starts our session.'), { now, ttlMinutes: TTL })
  deliver('accept', 'Accept Bob -> Alice answering the first contact; Alice opens it by its accept tag.', 'bob', solve(acc.envelopes[0]!, now), now)
  const sent: Uint8Array[] = [fc.messageId]
  const session = (name: string, from: Who, text: string, at: number): void => {
    const s = keyrings[from].seal(pub(other(from)), label(text), { now: at, ttlMinutes: TTL })
    assert(!s.firstContact && s.envelopes.length === 1, `${name} on the session`)
    if (from === 'alice') sent.push(s.messageId)
    deliver(name, `Session envelope ${from} -> ${other(from)} (${text.length}-byte message).`, from, solve(s.envelopes[0]!, at), at)
  }
  session('session-alice-to-bob-1', 'alice', 'First session message from Alice.', T0 + 120_000)
  session('session-alice-to-bob-2', 'alice', 'Second one, on chain step 1.', T0 + 121_000)
  session('session-bob-to-alice-1', 'bob', 'Bob answers on the responder chain.', T0 + 180_000)
  session('session-bob-to-alice-2', 'bob', 'And again, step 1 of the responder chain.', T0 + 181_000)

  // A 3-part payload Alice -> Bob: 2 full session bodies and 123 bytes.
  now = T0 + 240_000
  const payload = c.randomBytes(2 * 1915 + 123)
  const mp = keyrings.alice.seal(pub('bob'), payload, { now, ttlMinutes: TTL })
  assert(mp.envelopes.length === 3, '3 parts')
  sent.push(mp.messageId)
  const mpReceiver = snap('bob-before-multipart', 'bob', 'Bob\'s keyring just before part 0 of the 3-part payload')
  const reassembler = createReassembler()
  let whole: Uint8Array | undefined
  const parts = mp.envelopes.map((raw, i) => {
    const env = solve(raw, now)
    const o = open(keyrings.bob, env, now)
    assert(o !== undefined, `part ${i} opens`)
    whole = reassembler.add(o.contactId, o.message) ?? whole
    return { ...checked(`multipart-part-${i}`, `Part ${i} of 3`, env, now), expect: expectOf(o) }
  })
  assert(whole !== undefined && toHex(whole) === toHex(payload), 'reassembled')

  now = T0 + 300_000
  const receiptIds = sent.map(toHex)
  const rc = keyrings.bob.seal(pub('alice'), encodeReceipt(sent), { now, ttlMinutes: TTL, kind: KIND_RECEIPT })
  deliver('receipt', 'Receipt (kind 0x02) Bob -> Alice acknowledging the first contact, both session messages and the 3-part payload.',
    'bob', solve(rc.envelopes[0]!, now), now)
  opened[opened.length - 1]!.receiptIds = receiptIds

  // From here on the live keyrings stay put: every vector restores a recorded state.
  now = T0 + 600_000
  const nowMinute = minuteOf(now)
  const expiry = nowMinute + TTL
  const aliceFinal = snap('alice-final', 'alice', 'Alice\'s keyring at the end of the story')
  const bobFinal = snap('bob-final', 'bob', 'Bob\'s keyring at the end of the story')
  const bobInitial: Receiver = { receiver: 'bob', state: 'bob-before-first-contact' }
  const cover = solve(sealCover(c, expiry), now)
  const coverVector = { ...checked('cover', 'Cover envelope (sealCover): valid, opens for nobody.', cover, now), receivers: [aliceFinal, bobFinal], expect: 'not-opened' as const }

  // Hand-built first contacts and session envelopes (SPEC §3, §4.1, §4.3).
  const innerFc = (m: Partial<RawInner> = {}): Uint8Array => rawInner({
    kind: 0x01, timestamp: now, messageId: c.randomBytes(16), partIndex: 0, partCount: 1, body: label('hand-built first contact'), sender: pub('alice'), ...m
  })
  const fcBy = (inner: Uint8Array, extra: { signerSeed?: Uint8Array, tweakSignature?: (s: Uint8Array) => Uint8Array } = {}): Uint8Array =>
    solve(handFirstContact(c, { to: pub('bob'), signerSeed: ids.alice.signingSeed, inner, expiryMinute: expiry, ...extra }), now)
  const notOpened: NotOpenedVector[] = []
  const refuse = (name: string, description: string, env: Uint8Array, receiver: Receiver, baseName?: string): void => {
    const v = checked(name, description, env, now)
    assert(v.verdict.valid, `${name} passes checkEnvelope`)
    assert(open(restore(receiver), env, now) === undefined, `${name} does not open`)
    notOpened.push({ ...v, ...receiver, ...(baseName === undefined ? {} : { base: baseName }), expect: 'not-opened' })
  }
  opens('hand-first-contact', 'First contact Alice -> Bob sealed by hand from SPEC §3/§4.1: must open like a real one.', fcBy(innerFc()), now, bobInitial)
  opens('hand-first-contact-reserved-kind', 'Hand-built first contact of reserved kind 0x07: opens (SPEC §3.1, the application ignores it).',
    fcBy(innerFc({ kind: 0x07 })), now, bobInitial)
  const chainKey = fromHex(states['alice-final']!.keyring.contacts[0]!.sessions[0]!.sendChainKey)
  const innerS = (m: Partial<RawInner> = {}): Uint8Array => rawInner({
    kind: 0x01, timestamp: now, messageId: c.randomBytes(16), partIndex: 0, partCount: 1, body: label('hand-built session message'), ...m
  })
  opens('hand-session', 'Session envelope Alice -> Bob sealed by hand from SPEC §4.3 on Alice\'s next chain step.',
    solve(handSession(c, chainKey, innerS(), expiry), now), now, bobFinal)

  // Not for anybody: one bit flipped (work solved again) in each field of a first contact and a session envelope.
  const mutations: Array<[string, number, number]> = [
    ['expiry', 4, 0], ['salt', 13, 0], ['ephemeral', 37, 0], ['ephemeral-top-bit', 68, 7], ['tag', 69, 0],
    ['sealed-body', 85 + 1000, 0], ['aead-tag', ENVELOPE_SIZE - 1, 7]
  ]
  const aliceToBob1: Receiver = { receiver: 'bob', state: 'bob-before-session-alice-to-bob-1' }
  for (const [baseName, receiver] of [['hand-first-contact', bobInitial], ['session-alice-to-bob-1', aliceToBob1]] as const) {
    for (const [field, offset, bit] of mutations) {
      refuse(`${baseName}-flipped-${field}`, `"${baseName}" with bit ${bit} of byte ${offset} (${field}) flipped, work solved again.`,
        solve(flipBit(bodies.get(baseName)!, offset, bit), now), receiver, baseName)
    }
  }
  const mallory = c.randomBytes(32)
  refuse('first-contact-wrong-signer', 'First contact whose sender block names Alice but is signed with another key.',
    fcBy(innerFc(), { signerSeed: mallory }), bobInitial, 'hand-first-contact')
  refuse('first-contact-non-canonical-s', 'First contact whose signature has S replaced by S + L (non-canonical, SPEC §1).',
    fcBy(innerFc(), { tweakSignature: nonCanonicalS }), bobInitial, 'hand-first-contact')
  const bodyEnd = 160 + label('hand-built first contact').length
  const malformed: Array<[string, string, Partial<RawInner>]> = [
    ['padding-first-byte', `padding byte at inner offset ${bodyEnd} (just after the body) is 0x01`, { poke: bodyEnd }],
    ['padding-last-byte', `padding byte at inner offset ${INNER_LENGTH - 1} (the last) is 0x01`, { poke: INNER_LENGTH - 1 }],
    ['flags', 'flags byte is 0x01', { flags: 0x01 }],
    ['kind-zero', 'kind is 0x00', { kind: 0x00 }],
    ['part-count-zero', 'part count is 0', { partCount: 0 }],
    ['part-index-out-of-range', 'part index 1 of 1', { partIndex: 1 }],
    ['part-count-too-large', 'part count is 549 (> 548)', { partCount: 549, partIndex: 0 }],
    ['body-length-too-large', 'body length field is 1788 (> 1787, the first-contact capacity)', { bodyLength: 1788 }],
    ['timestamp-too-large', 'timestamp is 2^53', { timestamp: 2n ** 53n }]
  ]
  for (const [name, what, m] of malformed) {
    refuse(`first-contact-inner-${name}`, `Hand-built first contact, correctly signed and sealed, whose inner plaintext is malformed: ${what}.`,
      fcBy(innerFc(m)), bobInitial, 'hand-first-contact')
  }
  refuse('session-inner-padding-last-byte', `Hand-built session envelope whose last inner padding byte (offset ${INNER_LENGTH - 1}) is 0x01.`,
    solve(handSession(c, chainKey, innerS({ poke: INNER_LENGTH - 1 }), expiry), now), bobFinal, 'hand-session')

  // A replayed first contact: the same envelope with another valid nonce.
  const replayEnv = solve(fcEnv, T0)
  assert(toHex(replayEnv) !== toHex(fcEnv), 'replay has a new nonce')
  for (const [a, b] of [[fcEnv, replayEnv], [replayEnv, fcEnv]] as const) {
    const keyring = restore(bobInitial)
    assert(open(keyring, a, T0) !== undefined && open(keyring, b, T0) === undefined, 'replay refused')
  }

  // checkEnvelope rejections, from the cover envelope; each otherwise valid unless said.
  const withByte = (env: Uint8Array, offset: number, value: number): Uint8Array => { const out = env.slice(); out[offset] = value; return out }
  const withExpiry = (minute: number): Uint8Array => { const out = cover.slice(); out.set(u32(minute), 1); return out }
  const reject = (reason: string, name: string, description: string, env: Uint8Array): Checked => {
    const v = checked(name, description, env, now)
    assert(!v.verdict.valid && v.verdict.reason === reason, `${name} rejected as ${reason}`)
    return v
  }
  const rejected = [
    reject('wrong-size', 'wrong-size-2047', 'The cover envelope without its last byte.', cover.subarray(0, 2047)),
    reject('wrong-size', 'wrong-size-2049', 'The cover envelope with a zero byte appended.', cat(cover, new Uint8Array(1))),
    reject('wrong-size', 'wrong-size-0', 'Empty input.', new Uint8Array(0)),
    reject('unknown-version', 'unknown-version-00', 'Version byte 0x00 (work solved again).', solve(withByte(cover, 0, 0x00), now)),
    reject('unknown-version', 'unknown-version-02', 'Version byte 0x02 (work solved again).', solve(withByte(cover, 0, 0x02), now)),
    reject('expired', 'expired', `Expiry ${CLOCK_SKEW_MINUTES + 1} minutes before now (work solved).`,
      solve(withExpiry(nowMinute - CLOCK_SKEW_MINUTES - 1), now)),
    reject('expiry-too-far', 'expiry-too-far', `Expiry now + ${MAX_TTL_MINUTES} + ${CLOCK_SKEW_MINUTES + 1} minutes. Work NOT solved ` +
      '(~1M trials): SPEC §7 checks expiry before work, so the reason is still expiry-too-far.',
      withExpiry(nowMinute + MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES + 1)),
    reject('insufficient-work', 'insufficient-work-nonce-zeroed', 'The cover envelope with its nonce set to zero.', cover.slice().fill(0, 5, 13)),
    reject('insufficient-work', 'insufficient-work-body-flipped', 'The cover envelope with one sealed-body bit flipped after solving.', flipBit(cover, 1000))
  ]
  const boundaries = [
    checked('expiry-at-skew-edge', `Expiry exactly ${CLOCK_SKEW_MINUTES} minutes before now: still valid.`, solve(withExpiry(nowMinute - CLOCK_SKEW_MINUTES), now), now),
    checked('expiry-at-far-edge', `Expiry exactly now + ${MAX_TTL_MINUTES} + ${CLOCK_SKEW_MINUTES} minutes: still valid (work for 10085 minutes).`,
      solve(withExpiry(nowMinute + MAX_TTL_MINUTES + CLOCK_SKEW_MINUTES), now), now)
  ]
  boundaries.forEach((v) => assert(v.verdict.valid, `${v.name} valid`))

  const shapeCase = (name: string, description: string, env: Uint8Array, reason?: 'wrong-size' | 'unknown-version') =>
    ({ name, description, envelope: toHex(env), error: reason === undefined ? null : { name: 'EnvelopeFormatError', reason } })
  const shape = [
    shapeCase('shape-ok', 'The cover envelope: right shape, no error.', cover),
    shapeCase('shape-2047', '2047 bytes.', cover.subarray(0, 2047), 'wrong-size'),
    shapeCase('shape-2049', '2049 bytes.', cat(cover, new Uint8Array(1)), 'wrong-size'),
    shapeCase('shape-0', 'No bytes.', new Uint8Array(0), 'wrong-size'),
    shapeCase('shape-version-00', 'Version 0x00.', withByte(cover, 0, 0x00), 'unknown-version'),
    shapeCase('shape-version-02', 'Version 0x02.', withByte(cover, 0, 0x02), 'unknown-version'),
    shapeCase('shape-version-ff', 'Version 0xff.', withByte(cover, 0, 0xff), 'unknown-version')
  ]

  const identity = (who: Who) => ({
    description: `${who === 'alice' ? 'Alice' : 'Bob'}: secrets drawn from the seeded stream (createIdentity).`,
    signingSeed: toHex(ids[who].signingSeed), sealingSecret: toHex(ids[who].sealingSecret),
    signingKey: toHex(ids[who].signingKey), sealingKey: toHex(ids[who].sealingKey),
    secretIdentity: toHex(encodeIdentity(ids[who])), publicIdentity: toHex(encodePublicIdentity(ids[who])),
    id: identityId(ids[who]), fingerprint: fingerprint(c, ids[who])
  })
  return {
    description: 'Komrade envelope v1 test vectors (SPEC.md). Generated by test/vectors/generate.ts; do not edit by hand.',
    conventions: [
      'Byte strings are lowercase hex. Times are unix milliseconds; expiries are unix minutes.',
      '`now` is the clock for checkEnvelope and for screening; `verdict` is what checkEnvelope must return at that `now`.',
      '`workValue` is the proof-of-work value (SPEC §5) as 16 hex digits; `envelopeId` is SHA-256 of the envelope.',
      '`state` names an entry of `states`: the receiver\'s keyring (Keyring.toJSON(), holds secrets) just before; restore it and screen the envelope.',
      '`base` names a vector that opens with the same state: only the described defect stops this one.',
      'Vectors are independent: restore the state afresh for each. multipart parts are opened in order on one keyring.'
    ],
    seed: SEED,
    identities: { alice: identity('alice'), bob: identity('bob') },
    states,
    valid: {
      description: 'Envelopes that pass checkEnvelope; `opened` and `multipart` open at the receiver with exactly `expect`.',
      opened,
      multipart: { name: 'multipart', description: 'A 3-part payload Alice -> Bob (2 * 1915 + 123 bytes); `body` is the reassembled payload.', ...mpReceiver, body: toHex(payload), parts },
      cover: coverVector,
      boundaries
    },
    invalid: {
      description: '`rejected`: checkEnvelope gives `verdict.reason`. `notOpened`: valid, but the receiver must not open it. ' +
        '`replay`: either envelope opens once at the receiver, then the other does not. `shape`: assertEnvelopeShape throws `error` (or nothing).',
      rejected,
      notOpened,
      replay: { name: 'replay', description: 'The first contact and the same envelope with another valid nonce (a new envelope id, the same ephemeral).', ...bobInitial, original: checked('replay-original', 'The first contact, as sent.', fcEnv, T0), replay: checked('replay-new-nonce', 'The same bytes but the nonce, solved again.', replayEnv, T0) },
      shape
    }
  }
}

/** The file's exact text. */
export function renderVectors (base: CryptoProvider): string {
  return JSON.stringify(buildVectors(base), null, 2) + '\n'
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('./envelopes.json', import.meta.url))
  writeFileSync(path, renderVectors(nativeCrypto()))
  console.log(`wrote ${path}`)
}
