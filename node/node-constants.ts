/** Defaults of the node, each with its reason. */

/** The design's disk quota for stored envelopes (DESIGN.md "Store and resync"). */
export const DEFAULT_QUOTA_BYTES = 512 * 1024 * 1024
/** File holding the libp2p key, separate from the Komrade identity: the peer id says nothing about who you are. */
export const PEER_KEY_FILE = 'peer.key'
/** Resync with each connected peer this often (besides on connect): "every few minutes". */
export const RESYNC_INTERVAL_MS = 5 * 60_000
/** Retry the outbox (publish what reached nobody, resume work) this often. */
export const RETRY_INTERVAL_MS = 30_000
/** Prune expired envelopes, old replay records and auto-deleted messages this often. */
export const PRUNE_INTERVAL_MS = 60_000
/** Wait this long after a peer joins the topic before retrying the outbox, so a burst of joins costs one retry. */
export const SUBSCRIPTION_PUMP_DELAY_MS = 200
/** Wait this long after a connection or mesh change before reporting the peer counts: one 'peers' event per burst. */
export const PEERS_EVENT_DEBOUNCE_MS = 250
/** Cover traffic: envelopes per hour, real and cover together (issue 6: "default one per 60 s"). */
export const DEFAULT_COVER_RATE_PER_HOUR = 60
/**
 * The default daily budget is this multiple of the expected emissions per day (24 x rate), so the schedule
 * alone never reaches it (1,440 expected a day at 60/h, standard deviation 38); a user lowers it to cap bandwidth.
 */
export const COVER_BUDGET_HEADROOM = 2

// The social layer (SPEC §14, node/social/).
/** World posts from others a node keeps; past it the oldest go (SPEC §14: a bounded feed store). */
export const MAX_WORLD_POSTS_FROM_OTHERS = 10_000
/**
 * Bytes of world posts from others a node keeps (images included, base64 on disk); past it the oldest go.
 * 10,000 posts with 256 KiB images would be 2.6 GB: the count alone does not bound the disk.
 */
export const MAX_WORLD_FEED_BYTES = 256 * 1024 * 1024
/** Posts kept per author per day (by the author's clock): one flooder with a name cannot push everyone else out. */
export const MAX_POSTS_PER_AUTHOR_PER_DAY = 64
/** Posts in a feed page when `limit` is not given. */
export const DEFAULT_FEED_PAGE = 20
/** Largest feed page. */
export const MAX_FEED_PAGE = 100
/** A profile envelope lives the longest lifetime, 7 days (SPEC §14). */
export const PROFILE_TTL_MINUTES = 7 * 24 * 60
/** A node republishes its own profile once its last publication is this old, so it never expires while the node runs. */
export const PROFILE_REPUBLISH_MS = 3 * 24 * 60 * 60_000
/** How far ahead of our clock an author's `sentAt` may be (clock skew), before the post is refused. */
export const POST_CLOCK_SKEW_MS = 5 * 60_000
/** Profiles of others a node keeps; past it the soonest to expire go (SPEC §14.7). */
export const MAX_PROFILES_OF_OTHERS = 10_000
/** Bytes of others' profiles a node keeps (avatars as base64, about 45 KB at most each); past it the soonest to expire go. */
export const MAX_PROFILE_BYTES = 64 * 1024 * 1024

// Parts of multi-part payloads that have not completed yet (SPEC §6), pairwise and posts alike.
/** Incomplete payloads kept per sender (a contact, or a post's author): past it, that sender's oldest goes. */
export const MAX_PARTIAL_PAYLOADS_PER_SENDER = 4
/**
 * Stored parts of incomplete payloads, all senders together: past it, the oldest incomplete payload goes.
 * A part record is at most about 2.7 KB (1,915 bytes as base64 plus its fields): about 44 MB.
 */
export const MAX_STORED_PARTS = 16_384
