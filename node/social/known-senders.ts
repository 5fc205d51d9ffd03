/**
 * Known senders (SPEC §14.4): the only ones whose circle keys a node takes.
 * A sender is known once the user added them (`contacts.add`, which
 * `circle.add` also does) or sent them a message (`send`, KIND_MESSAGE); it
 * stops being known at `contacts.remove`. A stranger whose first contact a
 * node answered is a contact of the keyring (it has a session) but not a
 * known sender: without this, anyone could hand every node a chain and fill
 * its home feed and its circle ring.
 *
 * Kept in the sublevel `social-known-senders` (`<contact id>` → {}). A data
 * directory that predates it is seeded once with the keyring's contacts:
 * they were all added before the social layer, so none of them came in
 * through a circle key.
 */
import type { Level } from 'level'
import { jsonSublevel, type Json } from '../local-state.js'

/** Marks a data directory whose known senders were seeded (a contact id is 64 hex characters: no clash). */
const SEEDED_KEY = 'seeded'

/** The known senders, persisted. */
export interface KnownSenders {
  has(contactId: string): boolean
  /** Makes `contactId` known (written at once). */
  add(contactId: string): Promise<void>
  /** Forgets `contactId`; true if it was known. */
  remove(contactId: string): Promise<boolean>
}

/** Opens the known senders; `seed` gives the keyring's contacts for a data directory that has none recorded yet. */
export async function openKnownSenders (db: Level<string, Json>, seed: () => string[]): Promise<KnownSenders> {
  const sublevel = jsonSublevel(db, 'social-known-senders')
  const known = new Set<string>()
  if ((await sublevel.get(SEEDED_KEY)) === undefined) {
    const ids = seed()
    await sublevel.batch([...ids.map((id) => ({ type: 'put' as const, key: id, value: {} })), { type: 'put' as const, key: SEEDED_KEY, value: {} }])
  }
  for await (const key of sublevel.keys()) if (key !== SEEDED_KEY) known.add(key)

  return {
    has: (contactId) => known.has(contactId),
    async add (contactId) {
      if (known.has(contactId)) return
      await sublevel.put(contactId, {})
      known.add(contactId)
    },
    async remove (contactId) {
      if (!known.has(contactId)) return false
      await sublevel.del(contactId)
      known.delete(contactId)
      return true
    }
  }
}
