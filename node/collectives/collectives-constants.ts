/** Defaults and bounds of the collectives on a node (SPEC §15), with their reasons. */
import { MAX_GROUP_MEMBERS, MAX_TTL_MINUTES } from '../../protocol/index.js'

/** Lifetime of group ops, join requests, welcomes and votes: the longest, so offline members catch up by resync for a week. */
export const DEFAULT_GROUP_TTL_MINUTES = MAX_TTL_MINUTES
/** A remaining member rekeys after `rank × this` once a removal or leave is folded (DESIGN §2.5): the first in rank usually wins alone. */
export const REKEY_STAGGER_MS = 20_000
/** Authors a group's ring holds at most: every member of the current and the previous epoch, with room for turnover. */
export const MAX_GROUP_RING_AUTHORS = 2 * MAX_GROUP_MEMBERS
/** Join requests kept per group, awaiting a vouch (the oldest dropped beyond). */
export const MAX_PENDING_REQUESTS_PER_GROUP = 256
/** Group posts kept per group (the oldest by author time dropped beyond); our own count too. */
export const MAX_GROUP_POSTS = 10_000
/** Anonymous votes kept per group, all posts together (a new one beyond is dropped). */
export const MAX_GROUP_VOTES = 65_536
/** How often vouchers check whether a welcome that waited for a session can go now. */
export const WELCOME_RETRY_MS = 2_000
/** Salted channels a node follows at most (each costs one HMAC per screened envelope). */
export const MAX_SALTED_CHANNELS = 512
/**
 * Event channels a node follows at most: each costs one HMAC per screened envelope, and anyone can make a node
 * follow one by inviting it, so the count must stay small (64 × 0.6 µs ≈ 40 µs per envelope at the worst).
 */
export const MAX_EVENT_CHANNELS = 64
/** Rekeys a node publishes for one target epoch in one run: a rekey the fold keeps refusing must not loop. */
export const MAX_REKEY_ATTEMPTS = 3
