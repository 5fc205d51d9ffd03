/** The numbers of the control-port client and the onion service, each with its reason. */

/**
 * The oldest tor whose ADD_ONION takes `NEW:ED25519-V3` (v3 onion services
 * over the control port arrived in 0.3.3.1-alpha; v2 services are gone since
 * 0.4.6, so an older tor can host nothing we can use).
 */
export const MIN_TOR_VERSION: readonly number[] = [0, 3, 3, 1]

/** A v3 service id: base32 of key, checksum and version, 56 characters. */
export const ONION_SERVICE_ID_PATTERN = /^[a-z2-7]{56}$/

/** Tor's control cookie is 32 random bytes (control-spec §3.5). */
export const TOR_COOKIE_BYTES = 32

/** HMAC keys of SAFECOOKIE authentication (control-spec §3.24). */
export const SAFECOOKIE_SERVER_KEY = 'Tor safe cookie authentication server-to-controller hash'
export const SAFECOOKIE_CLIENT_KEY = 'Tor safe cookie authentication controller-to-server hash'

/** Connecting to the control port on this machine is instant; this long means something else is there. */
export const CONTROL_CONNECT_TIMEOUT_MS = 10_000

/**
 * One control command. ADD_ONION returns before the descriptor is published
 * (it does not wait for the network), so every command we send is answered
 * in milliseconds; a busy tor on a small board gets ample margin.
 */
export const CONTROL_COMMAND_TIMEOUT_MS = 30_000

/**
 * Largest control reply read. Ours are a few hundred bytes (PROTOCOLINFO,
 * ADD_ONION with a key); 64 KiB leaves room for a long cookie path and
 * unrelated events, and bounds what a confused peer can make us buffer.
 */
export const MAX_CONTROL_REPLY_BYTES = 64 * 1024

/**
 * File in the data directory holding the onion service key, as tor handed it
 * out (`ED25519-V3:<base64>`), mode 0600. The key is the address: keep it and
 * the address stays the same across restarts; lose it and contacts must learn
 * a new one.
 */
export const ONION_KEY_FILE = 'onion.key'

/**
 * The port of the onion address (`/onion3/<id>:4001`). Fixed, so the address
 * is stable even though the loopback listener behind it takes any free port;
 * 4001 is libp2p's customary TCP port.
 */
export const DEFAULT_ONION_PORT = 4001

/** After tor drops the control connection (restart, upgrade), reconnect after this long, doubling... */
export const ONION_RECONNECT_MIN_MS = 1_000
/** ...up to this long between attempts. */
export const ONION_RECONNECT_MAX_MS = 60_000
