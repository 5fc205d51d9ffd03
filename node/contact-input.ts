/**
 * What `contacts.add` accepts, told apart: a hex public identity (128 hex
 * characters), an invite code (`KOMRADE1-…`), or a registered name. They
 * cannot be confused: a name is at most 32 characters of `[a-z0-9_]`, an
 * invite starts with its prefix, an identity is exactly 128 hex digits.
 * Also the invite's other half: the addresses it carries, and ours.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p } from '@libp2p/interface'
import {
  decodeInvite, decodePublicIdentity, fromHex, isInviteCode, MAX_INVITE_ADDRESS_BYTES, MAX_INVITE_ADDRESSES, normalizeName,
  PUBLIC_IDENTITY_HEX_PATTERN, type CryptoProvider, type Invite, type PublicIdentity
} from '../protocol/index.js'
import type { Logger } from './logger.js'

/** A contact to add, by what identifies it. */
export type ContactInput =
  | { readonly kind: 'identity', readonly identity: PublicIdentity }
  | { readonly kind: 'invite', readonly invite: Invite }
  | { readonly kind: 'name', readonly name: string }

/**
 * Tells the input apart. Throws TypeError for a non-string, RegistryFormatError
 * for a damaged invite code, BadNameError for anything else that is not a valid name.
 */
export function parseContactInput (input: string | PublicIdentity, crypto: CryptoProvider): ContactInput {
  if (typeof input !== 'string') {
    if (input?.signingKey instanceof Uint8Array && input.sealingKey instanceof Uint8Array) return { kind: 'identity', identity: input }
    throw new TypeError('"contact" expected a hex public identity, an invite code, a registered name or a PublicIdentity')
  }
  const text = input.trim()
  if (PUBLIC_IDENTITY_HEX_PATTERN.test(text)) return { kind: 'identity', identity: decodePublicIdentity(fromHex(text)) }
  if (isInviteCode(text)) return { kind: 'invite', invite: decodeInvite(text, crypto) }
  return { kind: 'name', name: normalizeName(text) }
}

function peerIdOf (address: Multiaddr): string | undefined {
  return address.getComponents().findLast((component) => component.name === 'p2p')?.value
}

/**
 * Remembers an invite's addresses in the peer store and dials them in the
 * background, so two people who swapped invites reach each other with no
 * bootstrap peer at all. Addresses that do not parse or name no peer are skipped.
 */
export function dialInviteAddresses (libp2p: Libp2p, addresses: readonly string[], log: Logger): void {
  const byPeer = new Map<string, Multiaddr[]>()
  for (const text of addresses) {
    try {
      const address = multiaddr(text)
      const peer = peerIdOf(address)
      if (peer === undefined) continue
      byPeer.set(peer, [...(byPeer.get(peer) ?? []), address])
    } catch (error) {
      log.debug('skipped an invite address that does not parse', { address: text, error })
    }
  }
  for (const [peer, multiaddrs] of byPeer) {
    let id
    try {
      id = peerIdFromString(peer)
    } catch (error) {
      log.debug('skipped an invite address with a bad peer id', { peer, error })
      continue
    }
    if (id.equals(libp2p.peerId)) continue
    void libp2p.peerStore.merge(id, { multiaddrs })
      .then(async () => await libp2p.dial(multiaddrs))
      .catch((error: unknown) => { log.debug('could not dial an invite address', { peer, error }) })
  }
}

/** Our addresses for an invite: the announced (else listening) ones, as many as an invite holds. */
export function inviteAddresses (addresses: readonly string[]): string[] {
  return addresses.filter((address) => Buffer.byteLength(address) <= MAX_INVITE_ADDRESS_BYTES).slice(0, MAX_INVITE_ADDRESSES)
}
