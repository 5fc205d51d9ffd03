/** Defaults and bounds of the collectives on a node (SPEC §15), with their reasons. */
import { MAX_GROUP_MEMBERS, MAX_GROUP_OPS, MAX_PAYLOAD_LENGTH, MAX_TTL_MINUTES } from '../../protocol/index.js'

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
/**
 * Ops of one author a node accepts per day of the ops' own timestamps (clamped to [founding, now + 1 h]): a member's
 * flood cannot use up MAX_GROUP_OPS in a day. A node-side acceptance bound, not a fold rule: nodes that took
 * different ops of an author past the budget may differ about that author's later ops (SPEC §15.11).
 */
export const MAX_GROUP_OPS_PER_AUTHOR_PER_DAY = 128
/** Applied ops of one author after which a node accepts no more of that author's ops but a leave. */
export const MAX_GROUP_OPS_PER_AUTHOR = MAX_GROUP_OPS / 4
/** Anonymous votes kept per post (every voter of a full group, both ways). */
export const MAX_VOTES_PER_POST = 2 * MAX_GROUP_MEMBERS
/** Votes kept per group waiting for their post or for a ring key's admission (a newcomer beyond it is dropped, not one held). */
export const MAX_PENDING_VOTES_PER_GROUP = 4096
/** Votes that failed to verify, remembered per group (by hash) so a replay is not verified again. */
export const MAX_FAILED_VOTES_REMEMBERED = 4096
/** Largest welcome a node decodes: a pairwise payload's bound (§4), checked again before anything is decoded. */
export const MAX_WELCOME_BYTES = MAX_PAYLOAD_LENGTH
/** Join requests kept per group from a sender who is not a contact (a stranger's cannot push out a contact's). */
export const MAX_STRANGER_REQUESTS_PER_GROUP = 64
/** Welcomes that fail to open for a group we asked to join, from others than the contact we asked through, before only that contact's are tried. */
export const MAX_WELCOME_FAILURES = 8
/** Ops a welcome's sender (not the contact we asked) is named the author of whose signature a node checks, looking for its vouch for us. */
export const MAX_WELCOME_SENDER_OPS_CHECKED = 16
/** Waiting votes looked at again per turn of delivery: a burst (a post with many early votes) does not hold the turn. */
export const VOTE_RECHECK_BATCH = 16
/** How far ahead of our clock an op's timestamp may count for the day budget: later ones count on that day. */
export const OP_BUDGET_CLOCK_SKEW_MS = 3_600_000
