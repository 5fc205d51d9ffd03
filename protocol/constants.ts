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
/** First-contact handshakes a sender keeps open per contact, waiting for an accept. */
export const MAX_PENDING_HANDSHAKES = 8
/**
 * Sessions kept per contact (old ones still open late envelopes). Every first
 * contact in flight becomes a session once accepted, and both sides may write
 * first: up to 2 x MAX_PENDING_HANDSHAKES sessions arise from one burst. The
 * sender writes on whichever of them it knows when it writes, so the receiver
 * must keep them all; keeping fewer (4, before) lost the messages sent on a
 * session the receiver had already dropped (SPEC §4.5).
 */
export const MAX_SESSIONS_PER_CONTACT = 2 * MAX_PENDING_HANDSHAKES

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

// Posts, circles and profiles (SPEC §14).
/** A post to the world or the circle: the body is a post payload (SPEC §14.6). Only inside signed post envelopes. */
export const KIND_POST = 0x20
/** A profile: the body is a profile payload (SPEC §14.6). Only inside signed post envelopes. */
export const KIND_PROFILE = 0x21
/** A circle's chain handed to a member (SPEC §14.4). Only inside pairwise sessions or a first contact. */
export const KIND_CIRCLE_KEY = 0x22
/** Body bytes one post envelope carries: it holds the author's sender block, as a first contact does (SPEC §14.3). */
export const POST_BODY_CAPACITY = FIRST_CONTACT_BODY_CAPACITY // 1787
/** Length of a circle id, which names one epoch of an author's circle (SPEC §14.4). */
export const CIRCLE_ID_LENGTH = 16
/** A KIND_CIRCLE_KEY body: version (1), circle id (16), index (u32), chain key (32) (SPEC §14.4). */
export const CIRCLE_KEY_LENGTH = 1 + CIRCLE_ID_LENGTH + 4 + 32 // 53
/** Longest post text in Unicode code points (issue 8: "posts of up to 1,000 characters"). */
export const MAX_POST_TEXT_CHARS = 1000
/** Longest post text in UTF-8 bytes: a code point takes at most 4, so this follows from the above. */
export const MAX_POST_TEXT_BYTES = 4 * MAX_POST_TEXT_CHARS
/** Largest image of a post: 256 KiB, after the client shrinks it (issue 8). */
export const MAX_POST_IMAGE_BYTES = 262_144
/** Longest display name in code points. */
export const MAX_DISPLAY_NAME_CHARS = 64
/** Longest display name in UTF-8 bytes: its length is one byte (reached only by 64 characters outside the BMP). */
export const MAX_DISPLAY_NAME_BYTES = 255
/** Longest bio in code points. */
export const MAX_BIO_CHARS = 500
/** Longest bio in UTF-8 bytes (4 per code point). */
export const MAX_BIO_BYTES = 4 * MAX_BIO_CHARS
/** Largest avatar: a small image, 32 KiB. */
export const MAX_AVATAR_BYTES = 32_768
/**
 * Longest registry certificate a post or profile may carry: log entry header
 * (19) + a rotate request with a 32-character name (219 + 32) + the
 * Operator's signature (64) (SPEC §13.3, §13.4).
 */
export const MAX_POST_CERTIFICATE_LENGTH = 19 + 219 + MAX_NAME_LENGTH + SIGNATURE_LENGTH // 334
/** The image types a post or avatar may carry: those every browser shows (SPEC §14.6). */
export const POST_IMAGE_MIMES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'] as const
/** Longest MIME type of {@link POST_IMAGE_MIMES}. */
const MAX_POST_MIME_LENGTH = 10
/** Bytes of an image trailer besides the image: mime length (1), mime, image length (4). */
const IMAGE_TRAILER_OVERHEAD = 1 + MAX_POST_MIME_LENGTH + 4
/** Finest geohash a post may carry: 6 characters, a cell of about 1.2 × 0.6 km (posts carry a coarse place). */
export const MAX_POST_GEOHASH = 6
/** Longest post payload: version, flags, certificate and its length, text and its length, image trailer, location (length and 6 characters, SPEC §15.10). */
export const MAX_POST_PAYLOAD_LENGTH = 1 + 1 + 2 + MAX_POST_CERTIFICATE_LENGTH + 2 + MAX_POST_TEXT_BYTES +
  IMAGE_TRAILER_OVERHEAD + MAX_POST_IMAGE_BYTES + 1 + MAX_POST_GEOHASH // 266,506
/** Longest profile payload. */
export const MAX_PROFILE_PAYLOAD_LENGTH = 1 + 1 + 2 + MAX_POST_CERTIFICATE_LENGTH + 1 + MAX_DISPLAY_NAME_BYTES + 2 +
  MAX_BIO_BYTES + IMAGE_TRAILER_OVERHEAD + MAX_AVATAR_BYTES // 35,379
/** Most envelopes of one post or profile; openers refuse a larger part count, which bounds receive windows. */
export const MAX_POST_PARTS = Math.ceil(MAX_POST_PAYLOAD_LENGTH / POST_BODY_CAPACITY) // 150
/** Epochs of one author's circle a receiver keeps: the newest, and the one before for late envelopes (SPEC §14.4). */
export const MAX_CIRCLE_EPOCHS = 2
/**
 * Authors whose circle chains a receiver holds at most, by default; new authors are refused beyond it.
 * With {@link MAX_CIRCLE_SKIPPED_KEYS} it bounds the ring in memory: at most 128 × 2 epochs × (150
 * skipped + 182 ahead) = 84,992 keys, about 700 bytes each in V8, about 60 MB (SPEC §14.4).
 */
export const MAX_CIRCLE_AUTHORS = 128
/** Skipped keys kept per circle epoch: a whole post whose parts arrive in reverse order. */
export const MAX_CIRCLE_SKIPPED_KEYS = MAX_POST_PARTS // 150

// Collectives: groups, anonymous votes, events, map pins (SPEC §15).
/** A group op (SPEC §15.3): in a member's group chain envelope, and inside a welcome. */
export const KIND_GROUP_OP = 0x30
/** A join request (SPEC §15.2), sent by a candidate to a member it knows. Only inside pairwise messages. */
export const KIND_JOIN_REQUEST = 0x31
/** A welcome: the group's keys and log handed to an admitted candidate (SPEC §15.6). Only inside pairwise messages. */
export const KIND_GROUP_WELCOME = 0x32
/** An anonymous vote on a group post, a linkable ring signature (SPEC §15.8). Only on a group's anonymous channel. */
export const KIND_VOTE = 0x33
/** An event, or a new revision of one (SPEC §15.9); as a pairwise message, an invitation. */
export const KIND_EVENT = 0x34
/** An answer to an event, sealed to its host (SPEC §15.9). Only on an event's channel. */
export const KIND_RSVP = 0x35
/** A map pin (SPEC §15.10). */
export const KIND_PIN = 0x36
/** Members a group holds at most; admissions beyond it are not applied. */
export const MAX_GROUP_MEMBERS = 256
/** Ops a group's log holds at most; an op beyond it is refused. */
export const MAX_GROUP_OPS = 4096
/** Fewest keys in a vote's ring: the anonymity floor. */
export const MIN_VOTE_RING = 16
/** Most keys in a vote's ring: what one envelope's body holds (147 + 64 per key <= 1787, SPEC §15.8). */
export const MAX_VOTE_RING = 25
/** Longest note of a join request or reason of a proposal, in code points. */
export const MAX_GROUP_NOTE_CHARS = 280
/** Longest note of a map pin, in code points. */
export const MAX_PIN_NOTE_CHARS = 280
/** Longest event title, in code points. */
export const MAX_EVENT_TITLE_CHARS = 100
/** Longest event place, in code points. */
export const MAX_EVENT_PLACE_CHARS = 200
/** Longest event description, in code points. */
export const MAX_EVENT_DESCRIPTION_CHARS = 2000
/** Finest geohash a pin or an event may carry: 9 characters, about 5 m. */
export const MAX_PIN_GEOHASH = 9
