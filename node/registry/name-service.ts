/**
 * Names for the node: registering its own, looking up others', and noticing
 * when a name moves to other keys. Every answer is verified (verify.ts,
 * tree-heads.ts) before anything is cached or shown; while the Operator is
 * unreachable, lookups answer from the cache and say so (`fromCache`).
 *
 * A name that was known (cached, or a contact's) with other keys is accepted
 * only as a rotation later in the log, each step signed by the keys before
 * it: then a 'key-change' is reported. Anything else is the Operator
 * changing a binding on its own, and is refused.
 */
import {
  createRegistration, decodeCertificate, decodePublicIdentity, DEFAULT_REGISTRATION_WORK_TRIALS, encodePublicIdentity, fingerprint, fromHex,
  KIND_REGISTRY_REQUEST, normalizeName, RegistryErrorCode, registryErrorName, toHex, type Certificate, type CryptoProvider,
  type Identity, type PublicIdentity, type RegistryResponse
} from '../../protocol/index.js'
import type { Logger } from '../logger.js'
import { NameNotFoundError, RegistryRejectedError, RegistryUnavailableError, RegistryVerificationError } from './errors.js'
import type { CachedName, NameCache } from './name-cache.js'
import type { RegistryClient, VerifiedLookup } from './registry-client.js'
import type { TreeHeads } from './tree-heads.js'
import { entryIdentity, entryIdentityHex, isRotationOf, type VerifiedEntry, type VerifiedTreeHead } from './verify.js'

/** Rotations walked back to connect a name's new keys to the ones we knew; a name rotated more often since is refused. */
export const MAX_ROTATION_STEPS = 16
/** How long a registration through the flood waits for the Operator's answer: its proof of work and two floods. */
export const FLOOD_REGISTRATION_TIMEOUT_MS = 120_000
/** Lifetime of the flooded request: the Operator refuses requests older than 10 minutes anyway (SPEC §13.3). */
export const FLOOD_REQUEST_TTL_MINUTES = 15
/** How long a flood request that got no answer may still be answered: its lifetime in the flood, then the answer's way back. */
const LATE_ANSWER_WINDOW_MS = FLOOD_REQUEST_TTL_MINUTES * 60_000 + FLOOD_REGISTRATION_TIMEOUT_MS

/** A verified name. */
export interface NameRecord {
  /** Normalised name. */
  readonly name: string
  /** Hex public identity (128 hex characters): pass it to `send`. */
  readonly identity: string
  /** Fingerprint of those keys, for comparing out of band. */
  readonly fingerprint: string
  /** Log index of the entry. */
  readonly index: number
  /** The Operator's clock when it appended the entry, unix ms. */
  readonly registeredAt: number
  /** Hex of the Operator's certificate: anyone with its key can check it offline. */
  readonly certificate: string
  /** True when the Operator could not be reached and this came from the node's cache. */
  readonly fromCache: boolean
}

/** Detail of a 'key-change' event. */
export interface KeyChange {
  readonly name: string
  /** Hex public identity the name had. */
  readonly previous: string
  /** Hex public identity it has now. */
  readonly current: string
  /** Log index of the entry that moved it. */
  readonly index: number
}

/** A registry message that reached the node through the flood. */
export interface RegistryMessage {
  readonly id: string
  /** Contact id of the sender. */
  readonly from: string
  readonly body: Uint8Array
}

/** What the name service needs from the node. */
export interface NameServiceInit {
  crypto: CryptoProvider
  identity: Identity
  operator: PublicIdentity
  client: RegistryClient
  heads: TreeHeads
  cache: NameCache
  logger: Logger
  /** Seals a message to `to` and queues it; returns its message id. */
  sendMessage(to: PublicIdentity, body: Uint8Array, kind: number, ttlMinutes: number): Promise<string>
  deleteMessages(ids: string[]): Promise<number>
  /** Adds keys to the contacts (after a verified key change of a contact's name). */
  addContact(identity: PublicIdentity): Promise<void>
  /**
   * Forgets the sessions with `peer`, and the contact unless `keepContact`
   * (then it stays, keys only). After a registration through the flood:
   * the Operator forgets its side once it answered, so the next request
   * must be a first contact again.
   */
  forgetSessions(peer: PublicIdentity, options: { keepContact: boolean }): Promise<void>
  /** The contact with this id, if any. */
  contactIdentity(contactId: string): PublicIdentity | undefined
  onKeyChange(change: KeyChange): void
}

type Options = { signal?: AbortSignal }

/** The name service; see {@link createNameService}. */
export interface NameService {
  /** Reads the cached names of contacts and our own name. */
  load(): Promise<void>
  /** Registers `name` for our identity, or for `identity` (a group's keys: not our own name then). */
  register(name: string, options?: Options & { via?: 'direct' | 'flood', onProgress?: (trials: number, expected: number) => void, identity?: Identity }): Promise<NameRecord>
  lookup(name: string, options?: Options & { cacheOnly?: boolean }): Promise<NameRecord>
  /** Our registered name, if we know one. */
  ownName(): string | undefined
  /** The registered name of a contact, if known. */
  contactName(contactId: string): string | undefined
  setContactName(contactId: string, name: string | undefined): Promise<void>
  /** Looks up every contact's name again (together, on one stream), to notice key changes. Errors are logged. */
  refreshContacts(options?: Options): Promise<void>
  /** A KIND_REGISTRY_RESPONSE from the flood. */
  onRegistryResponse(message: RegistryMessage): void
}

/** Creates the name service over a client, the head view and the cache. */
export function createNameService (init: NameServiceInit): NameService {
  const { crypto, identity, operator, client, heads, cache, logger } = init
  const log = logger.child('names')
  const ownHex = toHex(encodePublicIdentity(identity))
  const operatorId = toHex(operator.signingKey)
  const contactNames = new Map<string, string>()
  /**
   * Answers are accepted one at a time per name, each against the cache as
   * the one before left it: concurrent lookups of a rotated name report its
   * key change once.
   */
  const accepting = new Map<string, Promise<unknown>>()
  let ownName: string | undefined
  /** One registration through the flood at a time: the answer carries no request id. */
  let floodChain: Promise<unknown> = Promise.resolve()
  let floodWaiter: ((message: RegistryMessage) => void) | undefined
  /**
   * When each flood request that ended without its answer (timed out, cancelled) was sent. An OK
   * answer names its request (the certificate holds its bytes); an error answer does not, so while
   * one of these may still be answered, an error answer may be theirs and is not taken as the
   * answer to a newer request. Each answer that is not ours uses one up.
   */
  const unanswered: number[] = []

  /** An answer for an earlier request came: forgets the oldest request still waiting. True if there was one. */
  function answerForEarlierRequest (): boolean {
    const cutoff = Date.now() - LATE_ANSWER_WINDOW_MS
    while (unanswered.length > 0 && unanswered[0]! < cutoff) unanswered.shift()
    return unanswered.shift() !== undefined
  }

  function recordOf (cached: CachedName, fromCache: boolean): NameRecord {
    return {
      name: cached.name,
      identity: cached.identity,
      fingerprint: fingerprint(crypto, decodePublicIdentity(fromHex(cached.identity))),
      index: cached.index,
      registeredAt: cached.registeredAt,
      certificate: cached.certificate,
      fromCache
    }
  }

  function rejected (code: RegistryErrorCode, message: string, name: string): RegistryRejectedError {
    const advice: Partial<Record<RegistryErrorCode, string>> = {
      [RegistryErrorCode.NAME_TAKEN]: `"${name}" is already registered by someone else; choose another name`,
      [RegistryErrorCode.NAME_RESERVED]: `"${name}" is reserved; choose another name`,
      [RegistryErrorCode.STALE]: 'The Operator found the request\'s time too far from its clock; check this device\'s clock and try again',
      [RegistryErrorCode.INSUFFICIENT_WORK]: 'The Operator asks for more proof of work than this request carries; try again (the node reads its setting anew)',
      [RegistryErrorCode.RATE_LIMITED]: 'The Operator is busy with this node\'s requests; wait a minute and try again',
      [RegistryErrorCode.NO_REGISTRY]: 'This Operator keeps no name registry; add contacts by invite code or identity instead',
      [RegistryErrorCode.UNAVAILABLE]: 'The Operator failed to answer (an internal error); try again later'
    }
    const said = message === '' ? '' : ` (the Operator said: ${message})`
    return new RegistryRejectedError(code, `${advice[code] ?? `The Operator refused the request: ${registryErrorName(code)}`}${said}`)
  }

  /**
   * True when `next` descends, rotation by rotation, from `previous` (a
   * certificate we hold, or just keys we know a contact by). Intermediate
   * entries are fetched with `entries`; each step must be signed by the keys
   * before it.
   */
  async function rotatesFrom (next: Certificate, previous: { certificate?: Certificate, identity: string }, options: Options): Promise<boolean> {
    let current = next
    for (let step = 0; step < MAX_ROTATION_STEPS; step++) {
      const request = current.entry.request
      if (request.type !== 'rotate') return false
      if (previous.certificate !== undefined) {
        if (request.previousIndex === previous.certificate.entry.index) return isRotationOf(crypto, current, previous.certificate)
        if (request.previousIndex < previous.certificate.entry.index) return false
      }
      const answer = await client.entries(request.previousIndex, 1, options)
      const prior = answer.ok ? answer.value[0] : undefined
      if (prior === undefined || !isRotationOf(crypto, current, prior)) return false
      if (previous.certificate === undefined && entryIdentityHex(prior) === previous.identity) return true
      current = prior
    }
    return false
  }

  /** The keys a name had before this answer: our cached certificate, or the contact we know by that name. */
  function knownBinding (name: string, cached: CachedName | undefined): { certificate?: Certificate, identity: string } | undefined {
    if (cached !== undefined) return { certificate: decodeCertificate(fromHex(cached.certificate)), identity: cached.identity }
    for (const [contactId, contactName] of contactNames) {
      const keys = contactName === name ? init.contactIdentity(contactId) : undefined
      if (keys !== undefined) return { identity: toHex(encodePublicIdentity(keys)) }
    }
    return undefined
  }

  /** Checks a verified entry against what we knew of its name, reports a key change, and caches it; one at a time per name. */
  async function accept (name: string, entry: VerifiedEntry, options: Options): Promise<NameRecord> {
    const run = (accepting.get(name) ?? Promise.resolve()).catch(() => {}).then(async () => await acceptNow(name, entry, await cache.getName(name), options))
    accepting.set(name, run)
    try {
      return await run
    } finally {
      if (accepting.get(name) === run) accepting.delete(name)
    }
  }

  async function acceptNow (name: string, entry: VerifiedEntry, cached: CachedName | undefined, options: Options): Promise<NameRecord> {
    const certificate = entry.certificate
    const identityHex = entryIdentityHex(certificate)
    const index = certificate.entry.index
    if (cached !== undefined && index < cached.index) {
      throw new RegistryVerificationError(`The Operator answered with entry ${index} for "${name}", older than entry ${cached.index} it certified before; the answer was not used`)
    }
    const known = knownBinding(name, cached)
    let change: KeyChange | undefined
    if (known !== undefined && known.identity !== identityHex) {
      if (!await rotatesFrom(certificate, known, options)) {
        throw new RegistryVerificationError(`The Operator now gives "${name}" other keys, without a rotation signed by the keys it had; ` +
          'the answer was not used (compare fingerprints with the person out of band)')
      }
      change = { name, previous: known.identity, current: identityHex, index }
    }
    const record: CachedName = {
      name, identity: identityHex, index, registeredAt: certificate.entry.timestamp, certificate: toHex(certificate.bytes), verifiedAt: Date.now()
    }
    await cache.putName(record)
    if (change !== undefined) await moveContactName(change, certificate)
    return recordOf(record, false)
  }

  /** The name now points to new keys: they become a contact known by it; the old contact keeps its sessions, not the name. */
  async function moveContactName (change: KeyChange, certificate: Certificate): Promise<void> {
    const previousId = change.previous.slice(0, 64)
    if (contactNames.get(previousId) === change.name) {
      await init.addContact(entryIdentity(certificate))
      await api.setContactName(previousId, undefined)
      await api.setContactName(change.current.slice(0, 64), change.name)
    }
    log.warn('a name moved to new keys', { name: change.name, index: change.index })
    init.onKeyChange(change)
  }

  /** The Operator's work setting: asked fresh when it answers, else the cached one. Its head is offered to the view. */
  async function workSetting (options: Options, via: 'direct' | 'flood'): Promise<number> {
    try {
      const info = await client.info(options)
      await cache.putWorkTrials(info.workTrials)
      await heads.offer(info.head)
      return info.workTrials
    } catch (error) {
      options.signal?.throwIfAborted()
      const cached = await cache.getWorkTrials()
      if (cached !== undefined) return cached
      if (via === 'flood' && error instanceof RegistryUnavailableError) return DEFAULT_REGISTRATION_WORK_TRIALS
      throw error
    }
  }

  /**
   * The head a registration came in. A direct answer's head is proven at
   * once or the answer is not used (SPEC §13.8 rule 7). A flood answer's is
   * checked as a gossiped head (§13.9): one still pending is accepted, since
   * the flood is for nodes that cannot reach the Operator to ask for the
   * proof; it stays remembered, and a fork at its size is still caught.
   */
  async function checkRegistrationHead (name: string, head: VerifiedTreeHead, via: 'direct' | 'flood'): Promise<void> {
    if (via === 'flood') {
      if (await heads.offer(head) === 'split-view') {
        throw new RegistryVerificationError('The Operator registered the name in a log that contradicts a tree head it signed before (a split view); ' +
          'the evidence was kept (status().registry.splitViews): tell the people who run your network')
      }
      return
    }
    try {
      await heads.acceptAnswerHead(head)
    } catch (error) {
      if (!(error instanceof RegistryUnavailableError)) throw error
      throw new RegistryUnavailableError(`The Operator registered "${name}" but did not prove its log consistent with the one this node holds, ` +
        'so the answer was not used; register again once the Operator answers (it will find the name is already yours)', { cause: error })
    }
  }

  async function floodRegister (request: Uint8Array, options: Options): Promise<RegistryResponse<VerifiedEntry>> {
    const run = floodChain.then(async () => {
      const received: RegistryMessage[] = []
      let wake: (() => void) | undefined
      floodWaiter = (message) => { received.push(message); wake?.() }
      const ids: string[] = []
      const deadline = AbortSignal.timeout(FLOOD_REGISTRATION_TIMEOUT_MS)
      const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal])
      signal.addEventListener('abort', () => { wake?.() }, { once: true })
      let sentAt: number | undefined
      let answered = false
      let setAside: { code: RegistryErrorCode, message: string } | undefined
      const wasContact = init.contactIdentity(operatorId) !== undefined
      try {
        ids.push(await init.sendMessage(operator, request, KIND_REGISTRY_REQUEST, FLOOD_REQUEST_TTL_MINUTES))
        sentAt = Date.now()
        while (!signal.aborted) {
          const message = received.shift()
          if (message === undefined) {
            await new Promise<void>((resolve) => { wake = resolve })
            continue
          }
          ids.push(message.id)
          let response: RegistryResponse<VerifiedEntry>
          try {
            response = client.verifyRegisterResponse(request, message.body)
          } catch (error) {
            // An answer to an earlier request (or a bad one): keep waiting for ours.
            log.debug('ignored a registry answer that is not for this request', { error })
            answerForEarlierRequest()
            continue
          }
          if (!response.ok && answerForEarlierRequest()) {
            log.debug('ignored an error answer that may be for an earlier request', { code: registryErrorName(response.code) })
            setAside = response
            continue
          }
          answered = true
          return response
        }
        options.signal?.throwIfAborted()
        const heard = setAside === undefined ? '' : ` (it answered ${registryErrorName(setAside.code)} to a request, perhaps an earlier one: ${setAside.message})`
        throw new RegistryUnavailableError(`The Operator did not answer through the network within ${FLOOD_REGISTRATION_TIMEOUT_MS / 1000} s${heard}; ` +
          'check that this node has peers, or register with via: \'direct\'')
      } finally {
        if (sentAt !== undefined && !answered) unanswered.push(sentAt)
        floodWaiter = undefined
        await init.forgetSessions(operator, { keepContact: wasContact }).catch((error: unknown) => {
          log.warn('could not forget the session with the Operator', { error })
        })
        await init.deleteMessages(ids).catch((error: unknown) => { log.warn('could not delete the registry messages', { error }) })
      }
    })
    floodChain = run.catch(() => {})
    return await run
  }

  /**
   * A lookup of `name` (normalised): `fetch` asks the Operator (the answer
   * checked by the client), then the answer is checked against the head
   * view and what we knew of the name, and cached. While the Operator is
   * unreachable, busy or unproven, a cached name is answered `fromCache`.
   */
  async function settleLookup (name: string, knownSize: number, fetch: () => Promise<RegistryResponse<VerifiedLookup>>, options: Options): Promise<NameRecord> {
    const cached = await cache.getName(name)
    let answer
    try {
      answer = await fetch()
    } catch (error) {
      if (error instanceof RegistryUnavailableError && cached !== undefined) {
        log.debug('the Operator is unreachable; answering from the cache', { name })
        return recordOf(cached, true)
      }
      throw error
    }
    if (!answer.ok) {
      if (answer.code === RegistryErrorCode.NOT_FOUND) {
        if (cached !== undefined) {
          throw new RegistryVerificationError(`The Operator says "${name}" is not registered, yet it certified entry ${cached.index} for it; ` +
            'the answer was not used')
        }
        throw new NameNotFoundError(name)
      }
      if (answer.code === RegistryErrorCode.BAD_RANGE) {
        // The Operator's log is smaller than a head it signed for us: fetch its head so the view keeps the evidence.
        const info = await client.info(options)
        await heads.offer(info.head)
        throw new RegistryVerificationError(`The Operator's log has ${info.head.size} entries, fewer than the ${knownSize} of a head it signed before; ` +
          'the answer was not used (see status().registry.splitViews)')
      }
      if ((answer.code === RegistryErrorCode.RATE_LIMITED || answer.code === RegistryErrorCode.UNAVAILABLE) && cached !== undefined) {
        return recordOf(cached, true)
      }
      throw rejected(answer.code, answer.message, name)
    }
    try {
      await heads.acceptLookupHead(answer.value.entry.head, knownSize, answer.value.consistency)
    } catch (error) {
      if (error instanceof RegistryUnavailableError && cached !== undefined) {
        log.debug('the Operator did not prove its answer consistent; answering from the cache', { name })
        return recordOf(cached, true)
      }
      throw error
    }
    return await accept(name, answer.value.entry, options)
  }

  const api: NameService = {
    async load () {
      for (const [id, name] of await cache.contactNames()) contactNames.set(id, name)
      ownName = await cache.getOwnName()
    },

    async register (input, options = {}) {
      const name = normalizeName(input)
      const via = options.via ?? 'direct'
      if (via !== 'direct' && via !== 'flood') throw new TypeError(`"via" expected 'direct' or 'flood', got ${JSON.stringify(via)}`)
      const signal = options.signal
      const workTrials = await workSetting({ ...(signal === undefined ? {} : { signal }) }, via)
      // Another identity's name (a group's, SPEC §15): registered with its keys, never taken as our own name.
      const registrant = options.identity ?? identity
      const other = options.identity !== undefined && toHex(encodePublicIdentity(options.identity)) !== ownHex
      const registrantHex = toHex(encodePublicIdentity(registrant))
      const request = await createRegistration(crypto, registrant, name, {
        workTrials, ...(signal === undefined ? {} : { signal }), ...(options.onProgress === undefined ? {} : { onProgress: (trials: number) => { options.onProgress?.(trials, workTrials) } })
      })
      const response = via === 'flood' ? await floodRegister(request, options) : await client.register(request, options)
      if (!response.ok) {
        if (response.code === RegistryErrorCode.NAME_TAKEN) {
          // Ours already, perhaps: a flood answer that never reached us, or a second device with the same identity.
          const existing = await api.lookup(name, options).catch(() => undefined)
          if (existing !== undefined && existing.identity === registrantHex && !existing.fromCache) {
            if (!other) {
              ownName = name
              await cache.putOwnName(name)
            }
            return existing
          }
        }
        throw rejected(response.code, response.message, name)
      }
      await checkRegistrationHead(name, response.value.head, via)
      const record = await accept(name, response.value, options)
      if (other) return record
      ownName = name
      await cache.putOwnName(name)
      log.info('registered a name', { name, index: record.index })
      return record
    },

    async lookup (input, options = {}) {
      const name = normalizeName(input)
      if (options.cacheOnly === true) {
        const cached = await cache.getName(name)
        if (cached !== undefined) return recordOf(cached, true)
        throw new NameNotFoundError(name, `"${name}" is not in this node's cache; look it up while the Operator is reachable`)
      }
      const knownSize = heads.latest()?.size ?? 0
      return await settleLookup(name, knownSize, async () => await client.lookup(name, knownSize, options), options)
    },

    ownName: () => ownName,
    contactName: (contactId) => contactNames.get(contactId),

    async setContactName (contactId, name) {
      if (name === undefined) contactNames.delete(contactId)
      else contactNames.set(contactId, name)
      await cache.setContactName(contactId, name)
    },

    async refreshContacts (options = {}) {
      const contacts = [...contactNames]
      if (contacts.length === 0) return
      // Asked together, then each answer taken exactly as `lookup` takes it, one after the other.
      const knownSize = heads.latest()?.size ?? 0
      const names = contacts.map(([, name]) => { try { return normalizeName(name) } catch { return name } })
      let outcomes
      try {
        outcomes = await client.lookupMany(names, knownSize, options)
      } catch (error) {
        log.debug('could not refresh the contacts\' names', { error }) // aborted, or a stop in between
        return
      }
      for (const [i, [contactId, name]] of contacts.entries()) {
        if (options.signal?.aborted === true) return
        const outcome = outcomes[i]!
        try {
          await settleLookup(outcome.name, knownSize, async () => {
            if (outcome.error !== undefined) throw outcome.error
            return outcome.answer
          }, options)
        } catch (error) {
          log.debug('could not refresh a contact\'s name', { contactId, name, error })
        }
      }
    },

    onRegistryResponse (message) {
      if (message.from !== operatorId || floodWaiter === undefined) {
        // Not from our Operator, or an answer nobody waits for any more (a restart in between):
        // the name, if registered, is found again by the next register (NAME_TAKEN, then lookup).
        if (message.from === operatorId) answerForEarlierRequest()
        void init.deleteMessages([message.id]).catch(() => {})
        return
      }
      floodWaiter(message)
    }
  }
  return api
}
