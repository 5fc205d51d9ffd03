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
