/**
 * The node settings `komrade start` takes as flags, shared with
 * `komrade config show` (which shows what start would use). Precedence:
 * flags > KOMRADE_* environment > <data dir>/config.json > defaults
 * (node/config.ts checks every value).
 */
import type { ParseArgsOptionsConfig } from 'node:util'
import type { ConfigSources } from '../../node/config.js'

/** The settings flags, as parseArgs options. */
export const SETTINGS_OPTIONS = {
  listen: { type: 'string' },
  announce: { type: 'string' },
  bootstrap: { type: 'string' },
  operator: { type: 'string' },
  'operator-addresses': { type: 'string' },
  mdns: { type: 'boolean' },
  network: { type: 'string' },
  'contacts-only': { type: 'boolean' },
  'refuse-strangers': { type: 'boolean' },
  'auto-delete': { type: 'string' },
  'quota-mib': { type: 'string' },
  'work-threads': { type: 'string' },
  'api-port': { type: 'string' },
  'no-cover': { type: 'boolean' },
  'cover-rate': { type: 'string' },
  'cover-budget': { type: 'string' },
  'tor-socks': { type: 'string' },
  'tor-control': { type: 'string' },
  'tor-only': { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' }
} as const satisfies ParseArgsOptionsConfig

/** The help lines of the settings flags. */
export const SETTINGS_HELP = `Settings (flags > KOMRADE_* environment > DATA_DIR/config.json > defaults):
  --listen ADDRS          libp2p listen multiaddrs, comma-separated   KOMRADE_LISTEN (default /ip4/127.0.0.1/tcp/0)
  --announce ADDRS        addresses to announce instead              KOMRADE_ANNOUNCE
  --bootstrap ADDRS       bootstrap peers (/ip4/../tcp/../p2p/..)     KOMRADE_BOOTSTRAP
  --operator HEX          the network's Operator (128 hex, pinned)   KOMRADE_OPERATOR
  --operator-addresses A  where to reach it (default: the bootstrap) KOMRADE_OPERATOR_ADDRESSES
  --mdns                  find peers on the LAN                      KOMRADE_MDNS
  --network NAME          network name (topic, DHT prefix)           KOMRADE_NETWORK (default komrade)
  --contacts-only         only contacts with a session can reach you KOMRADE_CONTACTS_ONLY
  --refuse-strangers      do not answer first contacts               KOMRADE_ACCEPT_STRANGERS=false
  --auto-delete DURATION  delete local messages after e.g. 30d       KOMRADE_AUTO_DELETE
  --quota-mib N           envelope store quota in MiB                KOMRADE_QUOTA_MIB (default 512)
  --work-threads N        proof-of-work threads                      KOMRADE_WORK_THREADS
  --api-port PORT         control API and web UI on 127.0.0.1:PORT   KOMRADE_API_PORT (default 7717; 0 = any free)
  --cover-rate PER_HOUR   envelopes per hour, real and cover         KOMRADE_COVER_RATE (default 60: a message waits ~1 min)
  --cover-budget PER_DAY  envelopes per day at most                  KOMRADE_COVER_BUDGET (default 2 x 24 x rate)
  --no-cover              no cover traffic: send at once, but an     KOMRADE_COVER=false
                          observer sees when you write
  --tor-socks HOST:PORT   Tor's SOCKS port: dial onion addresses     KOMRADE_TOR_SOCKS (tor 127.0.0.1:9050, Tor Browser 9150)
  --tor-control HOST:PORT Tor's control port: run an onion service   KOMRADE_TOR_CONTROL (e.g. 127.0.0.1:9051)
  --tor-only              everything through Tor: loopback listen,   KOMRADE_TOR_ONLY (needs --tor-socks)
                          only the onion address announced, no mDNS
  --log-level LEVEL       debug, info, warn, error                   KOMRADE_LOG_LEVEL (default info)
  --log-format FORMAT     json, text, auto                           KOMRADE_LOG_FORMAT (default auto: JSON off a TTY)`

type SettingsValues = { [K in keyof typeof SETTINGS_OPTIONS]?: (typeof SETTINGS_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string } & { 'data-dir'?: string }

/** The flags given, as resolveConfig's flag layer (absent flags stay undefined, so lower layers apply). */
export function settingsFlags (values: SettingsValues): NonNullable<ConfigSources['flags']> {
  return {
    dataDir: values['data-dir'],
    listen: values.listen,
    announce: values.announce,
    bootstrap: values.bootstrap,
    operator: values.operator,
    operatorAddresses: values['operator-addresses'],
    mdns: values.mdns,
    networkName: values.network,
    contactsOnly: values['contacts-only'],
    acceptStrangers: values['refuse-strangers'] === true ? false : undefined,
    autoDeleteAfterMs: values['auto-delete'],
    quotaMiB: values['quota-mib'],
    workThreads: values['work-threads'],
    apiPort: values['api-port'],
    cover: values['no-cover'] === true ? false : undefined,
    coverRate: values['cover-rate'],
    coverBudget: values['cover-budget'],
    torSocks: values['tor-socks'],
    torControl: values['tor-control'],
    torOnly: values['tor-only'],
    logLevel: values['log-level'],
    logFormat: values['log-format']
  }
}
