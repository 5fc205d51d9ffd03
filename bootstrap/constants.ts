/**
 * The Operator's numbers and their reasons. Wire bounds and name rules live
 * in protocol/constants.ts (SPEC §13); what is here is local policy.
 */

/** A token bucket: `burst` tokens at most, refilled at `perSecond`. */
export interface RateLimit {
  /** Tokens added per second (fractions allowed: 10 a minute is 1/6). */
  readonly perSecond: number
  /** Bucket size: how many may come at once after a quiet spell. */
  readonly burst: number
}

/** The Operator's rate limits. */
export interface RateLimits {
  /** `register` requests per peer. */
  readonly registrations: RateLimit
  /** Every other registry request (`info`, `lookup`, `consistency`, `entries`) per peer. */
  readonly requests: RateLimit
  /** Registrations through the flood, all senders together (they need not be connected to us). */
  readonly flood: RateLimit
}

/**
 * Registrations: 10 a minute per peer, 10 at once. A person registers one name
 * and perhaps rotates it; a script registering names through one connection
 * meets this before the proof of work adds up. Lookups: 50 a second, 200 at
 * once, enough for a client resolving a whole contact list on start.
 * Flood registrations: 5 a second for everyone together. Each answer costs
 * the Operator one envelope of proof of work, so this bounds its CPU.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  registrations: { perSecond: 10 / 60, burst: 10 },
  requests: { perSecond: 50, burst: 200 },
  flood: { perSecond: 5, burst: 20 }
}

/** Peers whose buckets are remembered; the least recently seen is forgotten first (a full bucket again). */
export const MAX_TRACKED_PEERS = 10_000

/** Longest wait for a client's request frame: 1 KiB crosses Tor in well under this. */
export const REQUEST_TIMEOUT_MS = 15_000
/** Longest wait to hand a response to a client that does not read it. */
export const RESPONSE_TIMEOUT_MS = 30_000
/** Streams per connection and operation at once: one client rarely needs more than a few. */
export const MAX_INBOUND_STREAMS_PER_OP = 8

/** Registrations written in one LevelDB batch at most; more wait for the next one. */
export const MAX_GROUP_COMMIT = 1024
/** Entries read per step when the Merkle tree is rebuilt at open. */
export const REBUILD_CHUNK = 4096

/** How often the Operator looks for a new tree head to hand to its node (a natural debounce). */
export const HEAD_OFFER_INTERVAL_MS = 1000
/** The Operator's node drops inbox and outbox entries after a week: nothing there is kept for anyone. */
export const OPERATOR_AUTO_DELETE_MS = 7 * 24 * 60 * 60_000

/** Directory of the registry's LevelDB inside the Operator's data directory. */
export const REGISTRY_DIR = 'registry'
/** Magic line opening an exported log (`komrade operator export`). */
export const LOG_EXPORT_MAGIC = 'KOMRADE-LOG-1\n'
