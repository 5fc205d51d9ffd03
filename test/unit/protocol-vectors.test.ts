/**
 * Runs test/vectors/envelopes.json against both providers: checkEnvelope
 * verdicts, envelope ids and work values, identities, opening with the
 * recorded keyring states, envelopes that must open for nobody, replays, and
 * assertEnvelopeShape errors. Then regenerates the whole file in memory (with
 * each provider, ~2 s apiece: the proof of work is real) and requires it to be
 * byte-identical to the checked-in one.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  assertEnvelopeShape, checkEnvelope, createKeyring, createReassembler, createScreener, decodeReceipt, encodeIdentity,
  encodePublicIdentity, envelopeId, fingerprint, fromHex, identityFromSecrets, identityId, nativeCrypto, nobleCrypto,
  toHex, workValue, type CryptoProvider, type EnvelopeRejection, type Identity, type Keyring, type OpenedEnvelope
} from '../../protocol/index.js'
import json from '../vectors/envelopes.json' with { type: 'json' }
import { renderVectors, type Checked, type OpenedExpect, type Receiver, type VectorFile } from '../vectors/generate.js'

const vectors = json as unknown as VectorFile
const { opened, multipart, cover, boundaries } = vectors.valid
const { rejected, notOpened, replay, shape } = vectors.invalid

/** What an opened envelope holds, in the vectors' notation (written here, not borrowed from the generator). */
function summarise (o: OpenedEnvelope): OpenedExpect {
  const m = o.message
  return {
    via: o.via,
    contactId: o.contactId,
    from: { signingKey: toHex(o.from.signingKey), sealingKey: toHex(o.from.sealingKey) },
    message: {
      kind: m.kind, timestamp: m.timestamp, messageId: toHex(m.messageId), partIndex: m.partIndex, partCount: m.partCount, body: toHex(m.body)
    },
    windowGrew: o.windowGrew
  }
}

describe('envelopes.json itself', () => {
  it('names every vector once and covers every rejection and shape error', () => {
    const names = [
      ...opened, ...multipart.parts, cover, ...boundaries, ...rejected, ...notOpened, replay.original, replay.replay, ...shape
    ].map((v) => v.name)
    expect(new Set(names).size).toBe(names.length)
    const all: EnvelopeRejection[] = ['wrong-size', 'unknown-version', 'expired', 'expiry-too-far', 'insufficient-work']
    expect(new Set(rejected.map((v) => (v.verdict.valid ? 'valid' : v.verdict.reason)))).toEqual(new Set(all))
    expect(new Set(shape.map((v) => v.error?.reason ?? 'none'))).toEqual(new Set(['none', 'wrong-size', 'unknown-version']))
    const byName = new Set(opened.map((v) => v.name))
    for (const v of notOpened) if (v.base !== undefined) expect(byName.has(v.base)).toBe(true)
    expect(multipart.parts).toHaveLength(3)
  })
})

describe.each([nativeCrypto(), nobleCrypto()])('envelope v1 vectors, $name provider', (crypto: CryptoProvider) => {
  const identities: Record<Receiver['receiver'], Identity> = {
    alice: identityFromSecrets(crypto, fromHex(vectors.identities.alice.signingSeed), fromHex(vectors.identities.alice.sealingSecret)),
    bob: identityFromSecrets(crypto, fromHex(vectors.identities.bob.signingSeed), fromHex(vectors.identities.bob.sealingSecret))
  }
  const restore = (r: Receiver): Keyring => {
    const state = vectors.states[r.state]
    expect(state?.owner).toBe(r.receiver)
    return createKeyring({ crypto, identity: identities[r.receiver], state: structuredClone(state!.keyring) })
  }
  const screen = (keyring: Keyring, hex: string, now: number): OpenedEnvelope | undefined =>
    createScreener({ keyrings: [keyring] }).screen(fromHex(hex), { now })?.opened

  /** The verdict, id and work value a vector records, computed afresh. */
  function expectChecked (v: Checked): void {
    const envelope = fromHex(v.envelope)
    expect(checkEnvelope(crypto, envelope, { now: v.now })).toEqual(v.verdict)
    if (v.envelopeId !== undefined) expect(toHex(envelopeId(crypto, envelope))).toBe(v.envelopeId)
    if (v.workValue !== undefined) expect(workValue(crypto, envelope).toString(16).padStart(16, '0')).toBe(v.workValue)
  }

  it.each(['alice', 'bob'] as const)('identity %s derives from its secrets', (who) => {
    const want = vectors.identities[who]
    const identity = identities[who]
    expect(toHex(identity.signingKey)).toBe(want.signingKey)
    expect(toHex(identity.sealingKey)).toBe(want.sealingKey)
    expect(toHex(encodeIdentity(identity))).toBe(want.secretIdentity)
    expect(toHex(encodePublicIdentity(identity))).toBe(want.publicIdentity)
    expect(identityId(identity)).toBe(want.id)
    expect(fingerprint(crypto, identity)).toBe(want.fingerprint)
  })

  it.each(opened)('valid: $name is valid and opens with the expected fields, once', (v) => {
    expectChecked(v)
    expect(v.verdict.valid).toBe(true)
    const keyring = restore(v)
    const got = screen(keyring, v.envelope, v.now)
    expect(got === undefined ? undefined : summarise(got)).toEqual(v.expect)
    if (v.receiptIds !== undefined) expect(decodeReceipt(got!.message.body)?.map(toHex)).toEqual(v.receiptIds)
    expect(screen(keyring, v.envelope, v.now)).toBeUndefined() // the same bytes never deliver twice
  })

  it.each([{ order: [0, 1, 2] }, { order: [2, 1, 0] }, { order: [1, 2, 0] }])('valid: the 3-part payload reassembles, parts in order $order', ({ order }) => {
    const keyring = restore(multipart)
    const reassembler = createReassembler()
    let whole: Uint8Array | undefined
    for (const i of order) {
      const part = multipart.parts[i]!
      expectChecked(part)
      const got = screen(keyring, part.envelope, part.now)
      expect(got).toBeDefined()
      const summary = summarise(got!)
      // windowGrew depends on arrival order; the recorded one is for arrival in order.
      expect(summary.message).toEqual(part.expect.message)
      if (order[0] === 0) expect(summary).toEqual(part.expect)
      whole = reassembler.add(got!.contactId, got!.message) ?? whole
      expect(whole === undefined).toBe(i !== order[2])
    }
    expect(toHex(whole!)).toBe(multipart.body)
  })

  it('valid: the cover envelope passes checkEnvelope and opens for nobody', () => {
    expectChecked(cover)
    expect(cover.verdict.valid).toBe(true)
    for (const receiver of cover.receivers) {
      const keyring = restore(receiver)
      expect(keyring.watchedTags).toBeGreaterThan(0) // a real state was restored: there were tags to match
      expect(screen(keyring, cover.envelope, cover.now)).toBeUndefined()
    }
  })

  it.each(boundaries)('valid: $name', (v) => {
    expectChecked(v)
    expect(v.verdict.valid).toBe(true)
  })

  it.each(rejected)('rejected: $name', (v) => {
    expectChecked(v)
    expect(v.verdict.valid).toBe(false)
  })

  it.each(notOpened)('not opened: $name', (v) => {
    expectChecked(v)
    expect(v.verdict.valid).toBe(true)
    expect(screen(restore(v), v.envelope, v.now)).toBeUndefined()
    // The control: with the same receiver state, the unaltered envelope does open.
    const base = opened.find((o) => o.name === v.base)
    expect(base).toBeDefined()
    expect(screen(restore(v), base!.envelope, v.now)).toBeDefined()
  })

  it('not opened: a replayed first contact opens once, whichever copy comes first, across a restart', () => {
    expectChecked(replay.original)
    expectChecked(replay.replay)
    expect(replay.original.verdict.valid && replay.replay.verdict.valid).toBe(true)
    expect(replay.replay.envelopeId).not.toBe(replay.original.envelopeId)
    for (const [first, second] of [[replay.original, replay.replay], [replay.replay, replay.original]] as const) {
      const keyring = restore(replay)
      expect(screen(keyring, first.envelope, first.now)?.via).toBe('first-contact')
      expect(screen(keyring, second.envelope, second.now)).toBeUndefined()
      const reloaded = createKeyring({ crypto, identity: identities[replay.receiver], state: structuredClone(keyring.toJSON()) })
      expect(screen(reloaded, second.envelope, second.now)).toBeUndefined()
    }
    // Without the first copy, the second opens: it is only the replay guard that refuses it.
    expect(screen(restore(replay), replay.replay.envelope, replay.replay.now)?.via).toBe('first-contact')
  })

  it.each(shape)('shape: $name', (v) => {
    const envelope = fromHex(v.envelope)
    if (v.error === null) {
      expect(() => assertEnvelopeShape(envelope)).not.toThrow()
    } else {
      expect(() => assertEnvelopeShape(envelope)).toThrow(expect.objectContaining({ name: v.error.name, reason: v.error.reason }))
    }
  })
})

describe('the generator', () => {
  const onDisk = readFileSync(new URL('../vectors/envelopes.json', import.meta.url), 'utf8')
  it.each([nativeCrypto(), nobleCrypto()])('writes exactly the checked-in file with the $name provider', (crypto) => {
    const fresh = renderVectors(crypto)
    if (fresh !== onDisk) {
      // Report the first differing line, not a 350 kB diff.
      const a = fresh.split('\n')
      const b = onDisk.split('\n')
      const line = a.findIndex((text, i) => text !== b[i])
      expect({ line: line + 1, generated: a[line], checkedIn: b[line] }).toBeUndefined()
    }
    expect(fresh.length).toBe(onDisk.length)
  })
})
