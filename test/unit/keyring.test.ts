/**
 * Behaviour of keyrings and sessions: the handshake, forward secrecy against
 * stolen identity keys, replays, the reorder window, persistence, concurrent
 * first contacts and session preference.
 */
import { describe, expect, it } from 'vitest'
import {
  createIdentity, createKeyring, createReassembler, createScreener, decodeReceipt, encodeReceipt,
  FIRST_CONTACT_BODY_CAPACITY, identityId, KIND_HANDSHAKE, KIND_RECEIPT, MAX_PAYLOAD_LENGTH, MAX_PENDING_HANDSHAKES, nativeCrypto,
  NONCE_OFFSET, REORDER_WINDOW, type Identity, type Keyring, type KeyringJSON, type OpenedEnvelope
} from '../../protocol/index.js'

const crypto = nativeCrypto()
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const read = (b: Uint8Array): string => new TextDecoder().decode(b)

interface Party { identity: Identity, keyring: Keyring }

function party (): Party {
  const identity = createIdentity(crypto)
  return { identity, keyring: createKeyring({ crypto, identity }) }
}

/** Runs first contact and accept between a and b; returns every envelope seen on the wire. */
function connect (a: Party, b: Party): Uint8Array[] {
  const init = a.keyring.seal(b.identity, text('hello'))
  const opened = b.keyring.screenFirstContact(init.envelopes[0]!)
  expect(opened?.via).toBe('first-contact')
  const accept = b.keyring.accept(opened!.offer!)
  const answered = a.keyring.screenByTag(accept.envelopes[0]!)
  expect(answered?.via).toBe('accept')
  expect(answered?.message.kind).toBe(KIND_HANDSHAKE)
  return [init.envelopes[0]!, accept.envelopes[0]!]
}

function roundTrip (state: KeyringJSON): KeyringJSON {
  return JSON.parse(JSON.stringify(state)) as KeyringJSON
}

describe('handshake', () => {
  it('opens a first contact only for its recipient and proves the sender', () => {
    const alice = party()
    const bob = party()
    const eve = party()
    const init = alice.keyring.seal(bob.identity, text('hi bob'))
    expect(init.firstContact).toBe(true)
    expect(eve.keyring.screenFirstContact(init.envelopes[0]!)).toBeUndefined()
    expect(eve.keyring.screenByTag(init.envelopes[0]!)).toBeUndefined()
    const opened = bob.keyring.screenFirstContact(init.envelopes[0]!)!
    expect(read(opened.message.body)).toBe('hi bob')
    expect(opened.contactId).toBe(identityId(alice.identity))
    expect(opened.from.sealingKey).toEqual(alice.identity.sealingKey)
  })

  it('refuses a first contact whose sender block names someone else than the signer', () => {
    // Mallory seals a first contact but claims Alice's keys: the signature check must fail.
    const alice = party()
    const bob = party()
    const mallory = party()
    const forged = { ...mallory.identity, signingKey: alice.identity.signingKey, sealingKey: alice.identity.sealingKey }
    const init = createKeyring({ crypto, identity: forged }).seal(bob.identity, text('it is alice'))
    expect(bob.keyring.screenFirstContact(init.envelopes[0]!)).toBeUndefined()
  })

  it('opens a replayed first contact (same content, new nonce) only once', () => {
    const alice = party()
    const bob = party()
    const envelope = alice.keyring.seal(bob.identity, text('once')).envelopes[0]!
    expect(bob.keyring.screenFirstContact(envelope)).toBeDefined()
    const replay = envelope.slice()
    replay[NONCE_OFFSET] = replay[NONCE_OFFSET]! ^ 0xff
    expect(bob.keyring.screenFirstContact(replay)).toBeUndefined()
    // ... and the guard survives a restart.
    const restored = createKeyring({ crypto, identity: bob.identity, state: roundTrip(bob.keyring.toJSON()) })
    expect(restored.screenFirstContact(replay)).toBeUndefined()
  })

  it('refuses first messages larger than one envelope, with a typed error', () => {
    const alice = party()
    const bob = party()
    expect(() => alice.keyring.seal(bob.identity, new Uint8Array(FIRST_CONTACT_BODY_CAPACITY + 1)))
      .toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
    expect(alice.keyring.contacts()).toHaveLength(0) // the refused message left no contact behind
    expect(alice.keyring.seal(bob.identity, new Uint8Array(FIRST_CONTACT_BODY_CAPACITY)).envelopes).toHaveLength(1)
    expect(alice.keyring.contacts()).toHaveLength(1)
  })
})

describe('forward secrecy', () => {
  it('stealing both identity keys later opens no accept and no session envelope', () => {
    const alice = party()
    const bob = party()
    const wire = connect(alice, bob)
    for (let i = 0; i < 5; i++) {
      wire.push(...alice.keyring.seal(bob.identity, text(`a${i}`)).envelopes)
      wire.push(...bob.keyring.seal(alice.identity, text(`b${i}`)).envelopes)
    }
    // Sanity: the legitimate parties could open these (checked on copies of their state).
    const bobCopy = createKeyring({ crypto, identity: bob.identity, state: roundTrip(bob.keyring.toJSON()) })
    expect(bobCopy.watchedTags).toBeGreaterThan(0)
    // The keyrings hold no ephemeral secret once the session exists.
    expect(alice.keyring.toJSON().contacts[0]!.pending).toHaveLength(0)

    // The thief: both identities' secret keys, every envelope ever sent, no session state.
    const thiefAlice = createKeyring({ crypto, identity: alice.identity })
    const thiefBob = createKeyring({ crypto, identity: bob.identity })
    const thief = createScreener({ keyrings: [thiefAlice, thiefBob] })
    const opened = wire.map((envelope) => thief.screen(envelope)?.opened.via)
    // Only the INIT, sealed to Bob's long-term key, is readable (SPEC §10); nothing after it.
    expect(opened[0]).toBe('first-contact')
    expect(opened.slice(1).every((via) => via === undefined)).toBe(true)
  })

  it('the accept cannot be opened from s1 and s3 alone (both identity keys, no ephemeral secret)', () => {
    const alice = party()
    const bob = party()
    const init = alice.keyring.seal(bob.identity, text('hello'))
    const pendingState = alice.keyring.toJSON()
    const offer = bob.keyring.screenFirstContact(init.envelopes[0]!)!.offer!
    const accept = bob.keyring.accept(offer).envelopes[0]!
    // Rebuild Alice's pending handshake as a thief would: s1 from Bob's stolen key, but e_A is gone.
    const stolen = roundTrip(pendingState)
    const pending = stolen.contacts[0]!.pending[0]!
    pending.ephemeralSecret = '11'.repeat(32)
    const thief = createKeyring({ crypto, identity: alice.identity, state: stolen })
    expect(thief.screenByTag(accept)).toBeUndefined()
    // With the real e_A the same accept opens: the test above fails for the right reason.
    const real = createKeyring({ crypto, identity: alice.identity, state: roundTrip(pendingState) })
    expect(real.screenByTag(accept)?.via).toBe('accept')
  })
})

describe('sessions', () => {
  it('carries messages both ways and opens each envelope once', () => {
    const alice = party()
    const bob = party()
    connect(alice, bob)
    const sealed = alice.keyring.seal(bob.identity, text('over the session'))
    expect(sealed.firstContact).toBe(false)
    const opened = bob.keyring.screenByTag(sealed.envelopes[0]!)!
    expect(opened.via).toBe('session')
    expect(read(opened.message.body)).toBe('over the session')
    expect(bob.keyring.screenByTag(sealed.envelopes[0]!)).toBeUndefined()
    const reply = bob.keyring.seal(alice.identity, text('back'))
    expect(read(alice.keyring.screenByTag(reply.envelopes[0]!)!.message.body)).toBe('back')
  })

  it('opens envelopes reordered within the window, and later ones after the window grows', () => {
    const alice = party()
    const bob = party()
    connect(alice, bob)
    const sent = Array.from({ length: REORDER_WINDOW + 10 }, (_, i) => alice.keyring.seal(bob.identity, text(`m${i}`)).envelopes[0]!)
    // The last 10 are beyond the window: not recognised yet.
    const late = sent.slice(REORDER_WINDOW)
    expect(late.map((e) => bob.keyring.screenByTag(e))).toEqual(late.map(() => undefined))
    // Step 31 arrives first (inside the window): it opens, and the window grows past the late ones.
    const jump = bob.keyring.screenByTag(sent[REORDER_WINDOW - 1]!)!
    expect(jump.windowGrew).toBe(true)
    const rescreened = late.map((e) => read(bob.keyring.screenByTag(e)!.message.body))
    expect(rescreened).toEqual(late.map((_, i) => `m${REORDER_WINDOW + i}`))
    // The skipped earlier steps still open, in reverse order.
    for (let i = REORDER_WINDOW - 2; i >= 0; i--) expect(read(bob.keyring.screenByTag(sent[i]!)!.message.body)).toBe(`m${i}`)
  })

  it('survives a restart of both sides mid-conversation', () => {
    const alice = party()
    const bob = party()
    connect(alice, bob)
    const before = alice.keyring.seal(bob.identity, text('before')).envelopes[0]!
    const alice2 = createKeyring({ crypto, identity: alice.identity, state: roundTrip(alice.keyring.toJSON()) })
    const bob2 = createKeyring({ crypto, identity: bob.identity, state: roundTrip(bob.keyring.toJSON()) })
    expect(read(bob2.screenByTag(before)!.message.body)).toBe('before')
    const after = alice2.seal(bob.identity, text('after'))
    expect(after.firstContact).toBe(false)
    expect(read(bob2.screenByTag(after.envelopes[0]!)!.message.body)).toBe('after')
    expect(read(alice2.screenByTag(bob2.seal(alice.identity, text('reply')).envelopes[0]!)!.message.body)).toBe('reply')
  })

  it('carries a 1 MiB payload in parts, reassembled after reversal and duplication', () => {
    const alice = party()
    const bob = party()
    connect(alice, bob)
    const payload = crypto.randomBytes(MAX_PAYLOAD_LENGTH)
    const { envelopes } = alice.keyring.seal(bob.identity, payload)
    expect(envelopes).toHaveLength(548)
    const reassembler = createReassembler()
    const unopened: Uint8Array[] = []
    const results: Uint8Array[] = []
    const deliver = (envelope: Uint8Array): void => {
      const opened = bob.keyring.screenByTag(envelope)
      if (opened === undefined) { unopened.push(envelope); return }
      const whole = reassembler.add(opened.contactId, opened.message)
      if (whole !== undefined) results.push(whole)
      if (opened.windowGrew) for (const e of unopened.splice(0)) deliver(e)
    }
    for (const envelope of [...envelopes].reverse()) deliver(envelope)
    for (const envelope of envelopes.slice(0, 50)) deliver(envelope) // duplicates
    expect(results).toHaveLength(1)
    expect(Buffer.from(results[0]!).equals(Buffer.from(payload))).toBe(true)
    expect(() => alice.keyring.seal(bob.identity, new Uint8Array(MAX_PAYLOAD_LENGTH + 1)))
      .toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
  })

  it('converges on one session when both sides make first contact at once', () => {
    const alice = party()
    const bob = party()
    const fromAlice = alice.keyring.seal(bob.identity, text('hi'), { now: 1_000 }).envelopes[0]!
    const fromBob = bob.keyring.seal(alice.identity, text('hey'), { now: 2_000 }).envelopes[0]!
    const atBob = bob.keyring.screenFirstContact(fromAlice, { now: 2_000 })!
    const atAlice = alice.keyring.screenFirstContact(fromBob, { now: 2_000 })!
    const acceptFromBob = bob.keyring.accept(atBob.offer!).envelopes[0]!
    const acceptFromAlice = alice.keyring.accept(atAlice.offer!).envelopes[0]!
    expect(alice.keyring.screenByTag(acceptFromBob)?.via).toBe('accept')
    expect(bob.keyring.screenByTag(acceptFromAlice)?.via).toBe('accept')
    expect(alice.keyring.contact(bob.keyring.id)?.sessions).toBe(2)
    expect(bob.keyring.contact(alice.keyring.id)?.sessions).toBe(2)
    // Both prefer the session started by the newer first contact (Bob's): messages open both ways.
    const a = alice.keyring.toJSON().contacts[0]!.sessions[0]!
    const b = bob.keyring.toJSON().contacts[0]!.sessions[0]!
    expect(a.id).toBe(b.id)
    expect(read(bob.keyring.screenByTag(alice.keyring.seal(bob.identity, text('x')).envelopes[0]!)!.message.body)).toBe('x')
    expect(read(alice.keyring.screenByTag(bob.keyring.seal(alice.identity, text('y')).envelopes[0]!)!.message.body)).toBe('y')
  })

  it('opens every message of a burst of first contacts from both sides, whatever the order', () => {
    // Before any accept comes back, every message is a new first contact, and each becomes a session
    // once accepted. The sender writes on whichever session it prefers at that moment, so the receiver
    // must keep every session of the burst: with 4 per contact it dropped some, and lost what was sent
    // on them (test/reliability/eclipse.test.ts found it).
    let seed = 7
    const random = (): number => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed / 2 ** 31 }
    const shuffle = <T>(items: T[]): T[] => items.map((item) => [random(), item] as const).sort((a, b) => a[0] - b[0]).map(([, item]) => item)
    for (let round = 0; round < 6; round++) {
      const sender = party()
      const receiver = party()
      const sent = new Map<string, Uint8Array>() // text -> envelope, everything the sender wrote to the receiver
      const burst = MAX_PENDING_HANDSHAKES
      for (let i = 0; i < burst; i++) {
        const body = `first ${i}`
        sent.set(body, sender.keyring.seal(receiver.identity, text(body), { now: 1_000 + i }).envelopes[0]!)
      }
      // Odd rounds: the receiver writes first contacts too, older than the sender's (so the sender keeps
      // preferring its own sessions); even rounds: one direction only.
      const fromReceiver = round % 2 === 0 ? [] : Array.from({ length: burst }, (_, i) => receiver.keyring.seal(sender.identity, text(`back ${i}`), { now: 500 + i }).envelopes[0]!)
      // The receiver accepts the sender's first contacts in some order, and the sender the receiver's.
      const acceptsToSender: Uint8Array[] = []
      for (const envelope of shuffle([...sent.values()])) {
        const opened = receiver.keyring.screenFirstContact(envelope, { now: 2_000 })!
        acceptsToSender.push(receiver.keyring.accept(opened.offer!, new Uint8Array(0), { now: 2_000 }).envelopes[0]!)
      }
      const acceptsToReceiver: Uint8Array[] = []
      for (const envelope of shuffle(fromReceiver)) {
        const opened = sender.keyring.screenFirstContact(envelope, { now: 2_000 })!
        acceptsToReceiver.push(sender.keyring.accept(opened.offer!, new Uint8Array(0), { now: 2_000 }).envelopes[0]!)
      }
      // The sender takes the accepts one by one, writing after each, on whatever session it then prefers.
      let written = 0
      for (const accept of shuffle(acceptsToSender)) {
        expect(sender.keyring.screenByTag(accept)?.via).toBe('accept')
        for (let k = 0; k < 2; k++) {
          const body = `later ${written++}`
          sent.set(body, sender.keyring.seal(receiver.identity, text(body), { now: 3_000 }).envelopes[0]!)
        }
      }
      for (const accept of acceptsToReceiver) expect(receiver.keyring.screenByTag(accept)?.via).toBe('accept')
      const opened = new Set<string>()
      for (const [body, envelope] of shuffle([...sent])) {
        if (body.startsWith('first')) continue // already opened as first contacts above
        const result = receiver.keyring.screenByTag(envelope)
        if (result !== undefined) opened.add(read(result.message.body))
      }
      expect([...opened].sort()).toEqual([...sent.keys()].filter((b) => !b.startsWith('first')).sort())
    }
  })

  it('stops recognising a removed contact', () => {
    const alice = party()
    const bob = party()
    connect(alice, bob)
    const envelope = alice.keyring.seal(bob.identity, text('gone')).envelopes[0]!
    expect(bob.keyring.removeContact(alice.keyring.id)).toBe(true)
    expect(bob.keyring.screenByTag(envelope)).toBeUndefined()
    expect(bob.keyring.watchedTags).toBe(0)
  })

  it('sends receipts as ordinary session envelopes', () => {
    const alice = party()
    const bob = party()
    connect(alice, bob)
    const message = alice.keyring.seal(bob.identity, text('ack me'))
    const opened = bob.keyring.screenByTag(message.envelopes[0]!)!
    const receipt = bob.keyring.seal(alice.identity, encodeReceipt([opened.message.messageId]), { kind: KIND_RECEIPT })
    const got = alice.keyring.screenByTag(receipt.envelopes[0]!)!
    expect(got.message.kind).toBe(KIND_RECEIPT)
    expect(decodeReceipt(got.message.body)).toEqual([message.messageId])
  })
})

describe('screener', () => {
  it('screens Buffers (whose slice() is a view) without changing them', () => {
    // Regression: the ephemeral key's top bit was cleared in place through a Buffer view,
    // so half of all first contacts arriving as Buffers failed to open.
    const alice = party()
    const bob = party()
    for (let i = 0; i < 16; i++) {
      const envelope = alice.keyring.seal(bob.identity, text(`b${i}`)).envelopes[0]!
      const asBuffer = Buffer.from(envelope)
      expect(read(createScreener({ keyrings: [bob.keyring] }).screen(asBuffer)!.opened.message.body)).toBe(`b${i}`)
      expect(new Uint8Array(asBuffer)).toEqual(envelope)
    }
  })

  it('in contacts-only mode ignores strangers but still hears contacts and accepts', () => {
    const alice = party()
    const bob = party()
    const stranger = party()
    const bobScreener = createScreener({ keyrings: [bob.keyring], contactsOnly: true })
    const unknown = stranger.keyring.seal(bob.identity, text('hi')).envelopes[0]!
    expect(bobScreener.screen(unknown)).toBeUndefined()
    const init = bob.keyring.seal(alice.identity, text('hello alice')).envelopes[0]!
    const offer = alice.keyring.screenFirstContact(init)!.offer!
    const accept = alice.keyring.accept(offer).envelopes[0]!
    expect(bobScreener.screen(accept)?.opened.via).toBe('accept')
    const later = alice.keyring.seal(bob.identity, text('later')).envelopes[0]!
    expect(read(bobScreener.screen(later)!.opened.message.body)).toBe('later')
  })

  it('screens for several local identities and says which one', () => {
    const alice = party()
    const work = party()
    const home = party()
    const screener = createScreener({ keyrings: [work.keyring, home.keyring] })
    const toHome = alice.keyring.seal(home.identity, text('for home')).envelopes[0]!
    const result = screener.screen(toHome)
    expect(result?.keyring.id).toBe(home.keyring.id)
    const seen: Array<OpenedEnvelope | undefined> = [screener.screen(alice.keyring.seal(work.identity, text('w')).envelopes[0]!)?.opened]
    expect(seen[0]?.via).toBe('first-contact')
  })

  it('refuses a stored keyring it cannot read, with a typed error', () => {
    const alice = party()
    expect(() => createKeyring({ crypto, identity: alice.identity, state: { version: 2 } as unknown as KeyringJSON }))
      .toThrow(expect.objectContaining({ name: 'KeyFormatError' }))
    const broken = roundTrip(alice.keyring.toJSON())
    broken.contacts.push({ signingKey: 'zz', sealingKey: '00', sessions: [], pending: [] })
    expect(() => createKeyring({ crypto, identity: alice.identity, state: broken }))
      .toThrow(expect.objectContaining({ name: 'KeyFormatError' }))
  })
})
