/**
 * The numbers of envelope v1 and of the name registry. SPEC.md is the
 * normative description; every constant here names the SPEC section it comes
 * from.
 */

/** Every envelope is exactly this many bytes on the wire (SPEC §2). */
export const ENVELOPE_SIZE = 2048
/** The only envelope version this code speaks (SPEC §2). */
export const ENVELOPE_VERSION = 0x01

// Field offsets and lengths of the envelope (SPEC §2, table "Envelope v1").
export const VERSION_OFFSET = 0
export const EXPIRY_OFFSET = 1
export const EXPIRY_LENGTH = 4
export const NONCE_OFFSET = 5
export const NONCE_LENGTH = 8
export const SALT_OFFSET = 13
export const SALT_LENGTH = 24
export const EPHEMERAL_OFFSET = 37
export const EPHEMERAL_LENGTH = 32
export const TAG_OFFSET = 69
export const TAG_LENGTH = 16
export const SEALED_BODY_OFFSET = 85
export const SEALED_BODY_LENGTH = ENVELOPE_SIZE - SEALED_BODY_OFFSET // 1963
/** Poly1305 authenticator appended by the AEAD. */
export const AEAD_TAG_LENGTH = 16
/** Plaintext under the AEAD: always this long, padded (SPEC §3). */
export const INNER_LENGTH = SEALED_BODY_LENGTH - AEAD_TAG_LENGTH // 1947

// Inner plaintext layout (SPEC §3).
export const INNER_HEADER_LENGTH = 32
/** Sender block of a first-contact envelope: Ed25519 key, X25519 key, signature. */
export const SENDER_BLOCK_LENGTH = 32 + 32 + 64
/** Body bytes one session envelope carries. */
export const SESSION_BODY_CAPACITY = INNER_LENGTH - INNER_HEADER_LENGTH // 1915
/** Body bytes a first-contact envelope carries (the sender block takes the rest). */
export const FIRST_CONTACT_BODY_CAPACITY = SESSION_BODY_CAPACITY - SENDER_BLOCK_LENGTH // 1787
/** Largest payload split across envelopes: 1 MiB (SPEC §6). */
export const MAX_PAYLOAD_LENGTH = 1024 * 1024
/** Parts needed for the largest payload; part count is a u16. */
export const MAX_PARTS = Math.ceil(MAX_PAYLOAD_LENGTH / SESSION_BODY_CAPACITY) // 548

// Lifetimes (SPEC §7). Expiry is carried in whole minutes.
export const MINUTE_MS = 60_000
export const DEFAULT_TTL_MINUTES = 2 * 24 * 60
export const MAX_TTL_MINUTES = 7 * 24 * 60
/**
 * Clock skew tolerated between nodes: an envelope may have expired this long
 * ago, may expire this much beyond MAX_TTL, and its required work is computed
 * as if this much less time remained (so a sender whose clock runs ahead is
 * not rejected).
 */
export const CLOCK_SKEW_MINUTES = 5

// Proof of work (SPEC §5). Expected trials = BASE + PER_MINUTE * ttlMinutes.
/**
 * Fixed part of the work, so even a short-lived envelope costs something.
 */
export const WORK_BASE_TRIALS = 16_384
/**
 * Trials per minute of lifetime. Calibrated on this project's reference
 * machine (one core, the native provider's solve loop at ~680,000 trials/s,
 * measured by `npm run bench -- work`): the default TTL of 2 days needs
 * 16,384 + 80 * 2,880 = 246,784 expected trials, a median of
 * ln 2 * 246,784 / 680,000 = 0.25 s.
 */
export const WORK_TRIALS_PER_MINUTE = 80

// Sessions (SPEC §4).
/** Tags derived ahead, and skipped keys kept, per receiving chain. */
export const REORDER_WINDOW = 32
/** Sessions kept per contact (old ones still open late envelopes). */
export const MAX_SESSIONS_PER_CONTACT = 4
/** First-contact handshakes a sender keeps open per contact, waiting for an accept. */
export const MAX_PENDING_HANDSHAKES = 8

// Inner kinds (SPEC §3).
/** Application message: the body is opaque bytes chosen by the application. */
export const KIND_MESSAGE = 0x01
/** Delivery receipt: the body is a list of 16-byte message ids. */
export const KIND_RECEIPT = 0x02
/** Handshake only: an accept that carries no application data. */
export const KIND_HANDSHAKE = 0x03
/** A registration request sent to the Operator through the flood (SPEC §13.6); the body is the request. */
export const KIND_REGISTRY_REQUEST = 0x10
/** The Operator's answer to a KIND_REGISTRY_REQUEST (SPEC §13.6); the body is a `register` response frame. */
export const KIND_REGISTRY_RESPONSE = 0x11
/** Length of a message id. */
export const MESSAGE_ID_LENGTH = 16

// Name registry (SPEC §13).
/** Shortest name: short names are few, and would all be taken on the first day (SPEC §13.2). */
export const MIN_NAME_LENGTH = 3
/** Longest name; the request carries its length in one byte (SPEC §13.2). */
export const MAX_NAME_LENGTH = 32
/** Request type byte of a first registration (SPEC §13.3). */
export const REGISTRY_REQUEST_REGISTER = 1
/** Request type byte of a key rotation (SPEC §13.3). */
export const REGISTRY_REQUEST_ROTATE = 2
/**
 * Expected hash trials of a registration when the Operator sets nothing:
 * 2^18; at ~680,000 trials/s on one core of the reference machine that is
 * 0.39 s on average, 0.27 s median (SPEC §13.3). Little for one person; a
 * million squatted names cost four and a half days of CPU.
 */
export const DEFAULT_REGISTRATION_WORK_TRIALS = 262_144
/** How far a request's time may be from the Operator's clock: 10 minutes (SPEC §13.3). */
export const REGISTRATION_CLOCK_SKEW_MS = 600_000
/** Largest work setting an Operator can publish: `info` carries it as a u32 (SPEC §13.5). */
export const MAX_WORK_TRIALS = 0xffff_ffff
/** An Ed25519 signature, in registration requests, certificates and tree heads (SPEC §13.3, §13.4). */
export const SIGNATURE_LENGTH = 64
/** A signed tree head is always this long (SPEC §13.4). */
export const TREE_HEAD_LENGTH = 113
/** Largest registry request frame; a registration request is at most 251 bytes (SPEC §13.5). */
export const MAX_REGISTRY_REQUEST_BYTES = 1024
/** Largest registry response frame; 256 certificates of at most 336 bytes each take 86 KB (SPEC §13.5). */
export const MAX_REGISTRY_RESPONSE_BYTES = 262_144
/** Hashes in one proof: a proof in a tree of fewer than 2^53 entries has at most 54 (SPEC §13.5). */
export const MAX_PROOF_HASHES = 64
/** Certificates one `entries` request may ask for (SPEC §13.5). */
export const MAX_REGISTRY_ENTRIES = 256
/**
 * Requests one `lookup`, `consistency` or `entries` stream may carry, each
 * answered in order (SPEC §13.5): a contact list re-checked on a few streams,
 * each stream's setup (~1.4 ms of CPU) shared by many lookups.
 */
export const MAX_REGISTRY_REQUESTS_PER_STREAM = 256
/** Longest error message in a response frame, in UTF-8 bytes (SPEC §13.5). */
export const MAX_REGISTRY_ERROR_MESSAGE_BYTES = 512
/** Most addresses one invite code carries: a QR code should stay scannable (SPEC §13.7). */
export const MAX_INVITE_ADDRESSES = 8
/** Longest address in an invite, in UTF-8 bytes; real multiaddrs are under 200 (SPEC §13.7). */
export const MAX_INVITE_ADDRESS_BYTES = 512
