/**
 * The node's onion service: tor (through its control port) forwards an onion
 * address to the node's loopback listener. The first start asks tor for a
 * new key (`ADD_ONION NEW:ED25519-V3`) and keeps it in the data directory;
 * every later start hands that key back, so the address never changes.
 *
 * The service lives as long as our control connection (no `Detach`): if the
 * node dies, tor drops it. If tor drops the connection (a restart, an
 * upgrade), the service reconnects with backoff and adds it again.
 */
import { open, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { silentLogger, type Logger } from '../logger.js'
import { DEFAULT_ONION_PORT, ONION_RECONNECT_MAX_MS, ONION_RECONNECT_MIN_MS } from './onion-constants.js'
import { connectTorControl, isOnionKey, TorControlError, type OnionKey, type TorControl } from './tor-control.js'

/** The onion key file cannot be used (damaged, or not a key tor made). */
export class OnionKeyError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'OnionKeyError'
  }
}

/** Options of {@link startOnionService}. */
export interface OnionServiceInit {
  /** Tor's control port: `127.0.0.1:9051` or `unix:/run/tor/control`. */
  control: string
  /** Tor's control password. @default cookie authentication */
  password?: string
  /** The key file (`<dataDir>/onion.key`), created with mode 0600 the first time. */
  keyFile: string
  /** Where tor forwards the onion port: the node's listener, `127.0.0.1:<port>`. */
  target: string
  /** The port of the onion address. @default DEFAULT_ONION_PORT (4001) */
  virtualPort?: number
  /** @default silent */
  logger?: Logger
}

/** A running onion service. */
export interface OnionService {
  /** The 56-character v3 service id. */
  readonly serviceId: string
  /** `/onion3/<service id>:<port>`, without `/p2p`. */
  readonly multiaddr: string
  /** True while tor holds the service (false between a lost control connection and the reconnect). */
  readonly published: boolean
  /** Tor's version, as its control port reported it. */
  readonly torVersion: string
  /** Removes the service (DEL_ONION) and closes the control connection. */
  stop(): Promise<void>
}

/** Reads the saved key: undefined when there is none yet. */
async function readOnionKey (keyFile: string, logger: Logger): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(keyFile, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new OnionKeyError(`Cannot read the onion key ${keyFile}: ${(error as Error).message}`, { cause: error })
  }
  const key = text.trim()
  if (!isOnionKey(key)) {
    throw new OnionKeyError(`${keyFile} is not an onion key (expected ED25519-V3:<base64>): restore it from your backup to keep the address, or move it away to get a new address`)
  }
  const mode = (await stat(keyFile)).mode & 0o777
  if ((mode & 0o077) !== 0) logger.warn('the onion key can be read by other users: chmod 600 it', { keyFile, mode: mode.toString(8) })
  return key
}

/** Writes a new key: 0600, never over an existing file, synced before the address is used. */
async function writeOnionKey (keyFile: string, key: string): Promise<void> {
  const handle = await open(keyFile, 'wx', 0o600)
  try {
    await handle.writeFile(`${key}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  // The directory entry too: a crash must not lose the key of an address already handed out.
  const directory = await open(dirname(keyFile), 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

/**
 * Creates (or re-creates, from the saved key) the onion service. Throws
 * TorControlUnreachableError, TorControlAuthError, TorTooOldError,
 * TorControlError, OnionKeyError.
 */
export async function startOnionService (init: OnionServiceInit, options: { signal?: AbortSignal } = {}): Promise<OnionService> {
  const logger = init.logger ?? silentLogger()
  const virtualPort = init.virtualPort ?? DEFAULT_ONION_PORT
  if (typeof init.keyFile !== 'string' || init.keyFile === '') throw new TypeError('"keyFile" expected a file path')
  const ports = [{ virtualPort, target: init.target }]
  const connect = async (signal: AbortSignal | undefined): Promise<TorControl> => await connectTorControl(
    { control: init.control, ...(init.password === undefined ? {} : { password: init.password }) },
    signal === undefined ? {} : { signal }
  )

  let savedKey = await readOnionKey(init.keyFile, logger)
  let control = await connect(options.signal)
  let serviceId: string
  try {
    serviceId = await add(control, savedKey === undefined ? { type: 'new' } : { type: 'saved', key: savedKey }, options.signal)
  } catch (error) {
    await control.close().catch(() => {})
    throw error
  }

  /** Adds the service; a new key is saved (and kept in `savedKey`) before the address is returned. */
  async function add (connection: TorControl, key: OnionKey, signal: AbortSignal | undefined): Promise<string> {
    let result
    try {
      // DiscardPK: tor need not echo a key we already hold.
      result = await connection.addOnion({ key, ports, ...(key.type === 'saved' ? { flags: ['DiscardPK'] } : {}), ...(signal === undefined ? {} : { signal }) })
    } catch (error) {
      if (error instanceof TorControlError && error.code === 550) {
        throw new TorControlError(`Tor already serves the onion address of ${init.keyFile}: is another node running with a copy of this data directory? (${error.message})`, 550)
      }
      throw error
    }
    if (key.type === 'new') {
      try {
        await writeOnionKey(init.keyFile, result.privateKey!)
      } catch (error) {
        // An address we cannot keep is not handed out.
        await connection.delOnion(result.serviceId).catch(() => {})
        throw new OnionKeyError(`Cannot save the onion key to ${init.keyFile}: ${(error as Error).message}`, { cause: error })
      }
      savedKey = result.privateKey!
      logger.info('created a new onion address; back up the onion key to keep it', { keyFile: init.keyFile, serviceId: result.serviceId })
    }
    return result.serviceId
  }

  const key: OnionKey = { type: 'saved', key: savedKey! }
  const stopController = new AbortController()
  let published = true
  let retryTimer: NodeJS.Timeout | undefined
  let retryDelay = ONION_RECONNECT_MIN_MS
  const torVersion = control.torVersion

  const reconnect = async (): Promise<void> => {
    if (stopController.signal.aborted) return
    try {
      const next = await connect(stopController.signal)
      try {
        const id = await add(next, key, stopController.signal)
        if (id !== serviceId) throw new TorControlError(`Tor gave the saved key the address ${id}, not ${serviceId}`, 0)
      } catch (error) {
        await next.close().catch(() => {})
        throw error
      }
      if (stopController.signal.aborted) { await next.close().catch(() => {}); return }
      control = next
      published = true
      retryDelay = ONION_RECONNECT_MIN_MS
      logger.info('onion service back', { serviceId })
      watch(next)
    } catch (error) {
      if (stopController.signal.aborted) return
      logger.warn('cannot re-create the onion service yet; retrying', { error, retryInMs: retryDelay })
      retryTimer = setTimeout(() => { void reconnect() }, retryDelay)
      retryTimer.unref()
      retryDelay = Math.min(retryDelay * 2, ONION_RECONNECT_MAX_MS)
    }
  }

  function watch (connection: TorControl): void {
    void connection.closed.then(() => {
      if (stopController.signal.aborted || connection !== control) return
      published = false
      logger.warn('tor dropped the control connection: the onion service is down until it comes back', { serviceId })
      retryTimer = setTimeout(() => { void reconnect() }, retryDelay)
      retryTimer.unref()
    })
  }
  watch(control)
  logger.info('onion service up', { serviceId, virtualPort, target: init.target, tor: torVersion })

  return {
    serviceId,
    multiaddr: `/onion3/${serviceId}:${virtualPort}`,
    get published () { return published },
    torVersion,
    async stop () {
      if (stopController.signal.aborted) return
      stopController.abort()
      clearTimeout(retryTimer)
      published = false
      await control.delOnion(serviceId).catch((error: unknown) => { logger.debug('DEL_ONION failed (tor drops the service with the connection anyway)', { error }) })
      await control.close().catch(() => {})
    }
  }
}
