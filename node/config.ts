/**
 * Daemon configuration. Precedence: command-line flags > `KOMRADE_*`
 * environment variables > `<dataDir>/config.json` > defaults. Every value is
 * checked; a bad one is a ConfigError naming the key and where it came from.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { PUBLIC_IDENTITY_HEX_PATTERN } from '../protocol/identity.js'
import { resolveDataDir } from './data-dir.js'
import { LOG_LEVELS, type LogLevel } from './logger.js'
import type { KomradeNodeInit } from './komrade-node.js'
import { parseControlEndpoint } from './tor/tor-control.js'
import { parseHostPort } from './tor/socks-handshake.js'
import { isLoopbackTcp } from './tor/socks-transport.js'
import { DEFAULT_COVER_RATE_PER_HOUR } from './node-constants.js'

/** File name of the optional config file inside the data directory. */
export const CONFIG_FILE = 'config.json'

/** A configuration value that cannot be used. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** The resolved daemon configuration. */
export interface DaemonConfig {
  dataDir: string
  listen: string[]
  announce: string[]
  bootstrap: string[]
  mdns: boolean
  networkName: string
  contactsOnly: boolean
  acceptStrangers: boolean
  /** Auto-delete local messages after this many ms; 0 = never. */
  autoDeleteAfterMs: number
  quotaMiB: number
  workThreads?: number
  /** The Operator's public identity (128 hex) this node trusts for names; none = no registry. */
  operator?: string
  /** Where to reach the Operator; empty = the bootstrap list. */
  operatorAddresses: string[]
  logLevel: LogLevel
  /** 'json', 'text', or 'auto' (JSON unless stderr is a TTY). */
  logFormat: 'json' | 'text' | 'auto'
  /** TCP port of the local control API and web UI on 127.0.0.1; 0 = any free port. */
  apiPort: number
  /** Cover traffic on (`--no-cover`, KOMRADE_COVER=false: off, envelopes go out at once). */
  cover: boolean
  /** Envelopes per hour, real and cover together. */
  coverRate: number
  /** Envelopes per day at most; unset = twice the expected 24 x coverRate. */
  coverBudget?: number
  /** Tor's control port (`127.0.0.1:9051`, `unix:/run/tor/control`): the node runs an onion service through it. */
  torControl?: string
  /** Tor's SOCKS port (`127.0.0.1:9050`; Tor Browser `127.0.0.1:9150`): onion addresses are dialed through it. */
  torSocks?: string
  /** Tor-only mode: every connection through Tor, loopback listening, only the onion address announced. */
  torOnly: boolean
}

type Key = Exclude<keyof DaemonConfig, 'dataDir'>
type Kind = 'list' | 'bool' | 'string' | 'duration' | 'int' | 'rate' | 'level' | 'format' | 'identity' | 'peers' | 'port' | 'tor-control' | 'host-port'

/** Each setting: its parser, its environment variable and its command-line flag. */
const SETTINGS: Record<Key, { kind: Kind, env: string, flag: string }> = {
  listen: { kind: 'list', env: 'KOMRADE_LISTEN', flag: '--listen' },
  announce: { kind: 'list', env: 'KOMRADE_ANNOUNCE', flag: '--announce' },
  bootstrap: { kind: 'list', env: 'KOMRADE_BOOTSTRAP', flag: '--bootstrap' },
  mdns: { kind: 'bool', env: 'KOMRADE_MDNS', flag: '--mdns' },
  networkName: { kind: 'string', env: 'KOMRADE_NETWORK', flag: '--network' },
  contactsOnly: { kind: 'bool', env: 'KOMRADE_CONTACTS_ONLY', flag: '--contacts-only' },
  acceptStrangers: { kind: 'bool', env: 'KOMRADE_ACCEPT_STRANGERS', flag: '--refuse-strangers' },
  autoDeleteAfterMs: { kind: 'duration', env: 'KOMRADE_AUTO_DELETE', flag: '--auto-delete' },
  quotaMiB: { kind: 'int', env: 'KOMRADE_QUOTA_MIB', flag: '--quota-mib' },
  workThreads: { kind: 'int', env: 'KOMRADE_WORK_THREADS', flag: '--work-threads' },
  operator: { kind: 'identity', env: 'KOMRADE_OPERATOR', flag: '--operator' },
  operatorAddresses: { kind: 'peers', env: 'KOMRADE_OPERATOR_ADDRESSES', flag: '--operator-addresses' },
  logLevel: { kind: 'level', env: 'KOMRADE_LOG_LEVEL', flag: '--log-level' },
  logFormat: { kind: 'format', env: 'KOMRADE_LOG_FORMAT', flag: '--log-format' },
  apiPort: { kind: 'port', env: 'KOMRADE_API_PORT', flag: '--api-port' },
  cover: { kind: 'bool', env: 'KOMRADE_COVER', flag: '--no-cover' },
  coverRate: { kind: 'rate', env: 'KOMRADE_COVER_RATE', flag: '--cover-rate' },
  coverBudget: { kind: 'int', env: 'KOMRADE_COVER_BUDGET', flag: '--cover-budget' },
  torControl: { kind: 'tor-control', env: 'KOMRADE_TOR_CONTROL', flag: '--tor-control' },
  torSocks: { kind: 'host-port', env: 'KOMRADE_TOR_SOCKS', flag: '--tor-socks' },
  torOnly: { kind: 'bool', env: 'KOMRADE_TOR_ONLY', flag: '--tor-only' }
}

const DEFAULTS: Omit<DaemonConfig, 'dataDir'> = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  announce: [],
  bootstrap: [],
  mdns: false,
  networkName: 'komrade',
  contactsOnly: false,
  acceptStrangers: true,
  autoDeleteAfterMs: 0,
  quotaMiB: 512,
  operatorAddresses: [],
  logLevel: 'info',
  logFormat: 'auto',
  // A fixed default, so bookmarks and scripts keep working; a second daemon on one machine needs --api-port (or 0).
  apiPort: 7717,
  cover: true,
  coverRate: DEFAULT_COVER_RATE_PER_HOUR,
  torOnly: false
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

function parse (key: Key, raw: unknown, source: string): unknown {
  const { kind } = SETTINGS[key]
  const fail = (expected: string): never => {
    throw new ConfigError(`Bad value for "${key}" from ${source}: ${JSON.stringify(raw)} (expected ${expected})`)
  }
  switch (kind) {
    case 'list':
      if (Array.isArray(raw) && raw.every((v) => typeof v === 'string')) return raw
      if (typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
      return fail('a comma-separated list of multiaddrs')
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (raw === 'true' || raw === '1' || raw === 'yes') return true
      if (raw === 'false' || raw === '0' || raw === 'no') return false
      return fail('true or false')
    case 'string':
      if (typeof raw === 'string' && /^[a-z0-9_-]{1,64}$/.test(raw)) return raw
      return fail('lowercase letters, digits, - or _, at most 64')
    case 'duration': {
      if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return raw
      const match = typeof raw === 'string' ? /^(\d+)(ms|s|m|h|d)?$/.exec(raw) : null
      if (match === null) return fail('a duration such as 30d, 12h, 90m or 0 for never')
      return Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']!
    }
    case 'int': {
      const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw
      if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value
      return fail('a positive integer')
    }
    case 'tor-control':
      try {
        if (typeof raw === 'string') { parseControlEndpoint(raw); return raw }
      } catch {}
      return fail('tor\'s control port on this machine: 127.0.0.1:9051 or unix:/run/tor/control')
    case 'rate': {
      const value = typeof raw === 'string' && /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw
      if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value
      return fail('a positive number of envelopes per hour, e.g. 60')
    }
    case 'level':
      if ((LOG_LEVELS as readonly unknown[]).includes(raw)) return raw
      return fail(LOG_LEVELS.join(', '))
    case 'format':
      if (raw === 'json' || raw === 'text' || raw === 'auto') return raw
      return fail('json, text or auto')
    case 'identity':
      if (typeof raw === 'string' && PUBLIC_IDENTITY_HEX_PATTERN.test(raw.trim())) return raw.trim().toLowerCase()
      return fail('the Operator\'s public identity: 128 hex characters')
    case 'host-port':
      try {
        if (typeof raw === 'string') { parseHostPort(raw, key); return raw.trim() }
      } catch {}
      return fail('host:port, e.g. 127.0.0.1:9050 (Tor Browser: 127.0.0.1:9150)')
    case 'port': {
      const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= 65535) return value
      return fail('a TCP port from 1 to 65535, or 0 for any free port')
    }
    case 'peers': {
      const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined
      if (list === undefined || !list.every(isPeerAddress)) return fail('a comma-separated list of multiaddrs ending in /p2p/<peer id>')
      return list
    }
  }
}

/** A multiaddr that names its peer: the registry client must know whom it dials. */
function isPeerAddress (value: unknown): boolean {
  if (typeof value !== 'string') return false
  try {
    return multiaddr(value).getComponents().some((component) => component.name === 'p2p')
  } catch {
    return false
  }
}

/**
 * config.json may say `"operator": { "identity": "…", "addresses": [...] }`,
 * the shape of the node option; it is read as `operator` + `operatorAddresses`.
 */
function flattenOperator (file: Record<string, unknown>, path: string): Record<string, unknown> {
  const value = file.operator
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return file
  const { identity, addresses, ...rest } = value as Record<string, unknown>
  if (Object.keys(rest).length > 0) throw new ConfigError(`Unknown field(s) ${Object.keys(rest).join(', ')} in "operator" of ${path}; known: identity, addresses`)
  if (addresses !== undefined && file.operatorAddresses !== undefined) {
    throw new ConfigError(`${path} gives the Operator's addresses twice ("operator.addresses" and "operatorAddresses"); keep one`)
  }
  return { ...file, operator: identity, ...(addresses === undefined ? {} : { operatorAddresses: addresses }) }
}

/** Where each layer of settings comes from. */
export interface ConfigSources {
  /** Flags given on the command line (already split into keys). */
  flags?: Partial<Record<Key | 'dataDir', unknown>>
  env?: NodeJS.ProcessEnv
}

/** Where a resolved setting came from: its layer and the flag, variable or file that gave it. */
export interface ConfigOrigin {
  layer: 'flag' | 'env' | 'file' | 'default'
  /** `--listen`, `KOMRADE_LISTEN`, the config file's path, or `default`. */
  from: string
}

/** Resolves the configuration from flags, environment, the config file and defaults. */
export async function resolveConfig (sources: ConfigSources = {}): Promise<DaemonConfig> {
  return (await explainConfig(sources)).config
}

/** Like {@link resolveConfig}, and says where each setting came from (for `komrade config show`). */
export async function explainConfig (sources: ConfigSources = {}): Promise<{ config: DaemonConfig, origins: Record<Key, ConfigOrigin> }> {
  const env = sources.env ?? process.env
  const flags = sources.flags ?? {}
  const dataDir = resolveDataDir(typeof flags.dataDir === 'string' ? flags.dataDir : undefined, env)
  let file: Record<string, unknown> = {}
  const path = join(dataDir, CONFIG_FILE)
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
    if (file === null || typeof file !== 'object' || Array.isArray(file)) throw new ConfigError(`${path} must hold a JSON object`)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (error instanceof ConfigError) throw error
      throw new ConfigError(`Cannot read ${path}: ${(error as Error).message}`)
    }
  }
  file = flattenOperator(file, path)
  for (const key of Object.keys(file)) {
    if (!(key in SETTINGS)) throw new ConfigError(`Unknown setting "${key}" in ${path}; known: ${Object.keys(SETTINGS).join(', ')}`)
  }
  const config: Record<string, unknown> = { ...DEFAULTS, dataDir }
  const origins = {} as Record<Key, ConfigOrigin>
  for (const key of Object.keys(SETTINGS) as Key[]) {
    const { flag, env: variable } = SETTINGS[key]
    origins[key] = { layer: 'default', from: 'default' }
    if (flags[key] !== undefined) { config[key] = parse(key, flags[key], flag); origins[key] = { layer: 'flag', from: flag } }
    else if (env[variable] !== undefined) { config[key] = parse(key, env[variable], variable); origins[key] = { layer: 'env', from: variable } }
    else if (file[key] !== undefined) { config[key] = parse(key, file[key], path); origins[key] = { layer: 'file', from: path } }
  }
  const resolved = config as unknown as DaemonConfig
  if (resolved.torOnly) checkTorOnlyConfig(resolved)
  if (resolved.operator === undefined && resolved.operatorAddresses.length > 0) {
    throw new ConfigError('Operator addresses are set but no Operator identity; set "operator" (--operator HEX, KOMRADE_OPERATOR) too')
  }
  return { config: resolved, origins }
}

/** Tor-only mode needs Tor's SOCKS port, loopback listen addresses and no mDNS (the node checks again, with RangeErrors). */
function checkTorOnlyConfig (config: DaemonConfig): void {
  if (config.torSocks === undefined) {
    throw new ConfigError('--tor-only needs Tor\'s SOCKS port: set --tor-socks 127.0.0.1:9050 (Tor Browser: 127.0.0.1:9150), or KOMRADE_TOR_SOCKS')
  }
  if (config.mdns) throw new ConfigError('--tor-only and --mdns do not go together: mDNS announces this machine on the LAN; turn mdns off')
  const exposed = config.listen.filter((address) => {
    try { return !isLoopbackTcp(multiaddr(address)) } catch { return true }
  })
  if (exposed.length > 0) {
    throw new ConfigError(`--tor-only listens on loopback only (the onion service forwards there), but "listen" has ${exposed.join(', ')}; use /ip4/127.0.0.1/tcp/PORT`)
  }
}

/** The node options a configuration gives. */
export function nodeInitOf (config: DaemonConfig): KomradeNodeInit {
  return {
    dataDir: config.dataDir,
    listen: config.listen,
    ...(config.announce.length > 0 ? { announce: config.announce } : {}),
    bootstrap: config.bootstrap,
    mdns: config.mdns,
    networkName: config.networkName,
    contactsOnly: config.contactsOnly,
    acceptStrangers: config.acceptStrangers,
    ...(config.autoDeleteAfterMs > 0 ? { autoDeleteAfterMs: config.autoDeleteAfterMs } : {}),
    quotaBytes: config.quotaMiB * 1024 * 1024,
    ...(config.workThreads === undefined ? {} : { workThreads: config.workThreads }),
    ...(config.torControl === undefined && config.torSocks === undefined
      ? {}
      : {
          tor: {
            ...(config.torSocks === undefined ? {} : { socks: config.torSocks }),
            ...(config.torOnly ? { onlyTor: true } : {}),
            ...(config.torControl === undefined ? {} : { control: config.torControl })
          }
        }),
    cover: config.cover ? { ratePerHour: config.coverRate, ...(config.coverBudget === undefined ? {} : { budgetPerDay: config.coverBudget }) } : false,
    // Without Operator addresses the bootstrap peers are asked: the registry client skips those that do not answer
    // `info` as the pinned Operator (a discovery-only anchor), see node/registry/registry-client.ts.
    ...(config.operator === undefined
      ? {}
      : { operator: { identity: config.operator, addresses: config.operatorAddresses.length > 0 ? config.operatorAddresses : config.bootstrap } })
  }
}
