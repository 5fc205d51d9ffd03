/**
 * What `komrade start` runs: the node and its control API in one process.
 * The API's address goes to `<dataDir>/api.json` (0600) for the CLI to find,
 * the token stays in `<dataDir>/api.token`, and a one-time sign-in link for
 * the web UI is printed. Everything is undone on stop.
 */
import { ConfigError, nodeInitOf, type DaemonConfig } from '../node/config.js'
import { createKomradeNode, type KomradeNode, type KomradeNodeInit } from '../node/komrade-node.js'
import { createLogger, type Logger } from '../node/logger.js'
import { startControlApi, type ControlApi } from './api/control-api.js'
import { ownName } from './api/shapes.js'

/** Options of {@link runDaemon}. */
export interface DaemonOptions {
  /** Stops the daemon cleanly when it aborts (wire SIGINT and SIGTERM to it). */
  signal: AbortSignal
  /** Write a new api.token before starting (`--rotate-token`); scripts holding the old one stop working. @default false */
  rotateToken?: boolean
  /** Print the startup facts as one JSON line instead of text. @default false */
  json?: boolean
  /** Where the startup lines go. @default process.stdout */
  out?: NodeJS.WritableStream
  /** @default a logger from config.logLevel and config.logFormat, on stderr */
  logger?: Logger
  /** Node options beyond the configuration's, e.g. `{ passphrase }`. */
  nodeInit?: Partial<KomradeNodeInit>
  /** Directory of the built web UI. @default the package's dist/web */
  webRoot?: string
  /** Called once the node and the API run and api.json is written (the demo collects the links here). */
  onReady?: (info: DaemonInfo) => void
}

/** A running daemon, as {@link DaemonOptions.onReady} sees it. */
export interface DaemonInfo {
  readonly node: KomradeNode
  /** The API's address, `http://127.0.0.1:PORT`. */
  readonly apiUrl: string
  /** The web UI with a one-time sign-in code: `http://127.0.0.1:PORT/#login=CODE`. */
  readonly webUrl: string
  readonly dataDir: string
}

function portInUse (port: number): ConfigError {
  return new ConfigError(`The API port ${port} on 127.0.0.1 is in use (another komrade daemon?); ` +
    'choose another with --api-port N (KOMRADE_API_PORT, "apiPort" in config.json), or 0 for any free port')
}

/**
 * Runs the node and the API until `options.signal` aborts, then stops both
 * and removes api.json. Resolves after a clean stop; rejects when either
 * cannot start (DataDirLockedError, ConfigError for a taken port, a wrong
 * passphrase...), leaving nothing running and no api.json behind.
 *
 * Prints (text): the node's facts, then `api: URL` and `web: URL#login=CODE`,
 * one line each. With `json`: one line `{ id, fingerprint, publicIdentity,
 * peerId, addresses, dataDir, name?, api, web }`.
 */
export async function runDaemon (config: DaemonConfig, options: DaemonOptions): Promise<void> {
  const out = options.out ?? process.stdout
  const logger = options.logger ?? createLogger({
    level: config.logLevel,
    ...(config.logFormat === 'auto' ? {} : { json: config.logFormat === 'json' })
  })
  const node = createKomradeNode({ ...nodeInitOf(config), ...options.nodeInit, logger })
  await node.start({ signal: options.signal })
  let api: ControlApi | undefined
  try {
    try {
      api = await startControlApi({
        node,
        dataDir: config.dataDir,
        port: config.apiPort,
        config: { ...config },
        logger: logger.child('api'),
        rotateToken: options.rotateToken === true,
        ...(options.webRoot === undefined ? {} : { webRoot: options.webRoot })
      })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw portInUse(config.apiPort)
      throw error
    }
    const webUrl = api.server.loginUrl()
    const status = node.status()
    const name = ownName(node.invite())
    const facts = {
      id: status.id,
      fingerprint: status.fingerprint,
      publicIdentity: node.publicIdentity,
      peerId: status.peerId,
      addresses: status.addresses.join(' '),
      dataDir: config.dataDir,
      ...(name === undefined ? {} : { name })
    }
    if (options.json === true) {
      out.write(JSON.stringify({ ...facts, api: api.url, web: webUrl }) + '\n')
    } else {
      out.write('Komrade node running (Ctrl-C to stop)\n')
      for (const [key, value] of Object.entries(facts)) out.write(`  ${key.padEnd(15)} ${value}\n`)
      out.write(`api: ${api.url}\n`)
      out.write(`web: ${webUrl}\n`)
    }
    options.onReady?.({ node, apiUrl: api.url, webUrl, dataDir: config.dataDir })
    await new Promise<void>((resolve) => {
      if (options.signal.aborted) resolve()
      else options.signal.addEventListener('abort', () => { resolve() }, { once: true })
    })
    logger.info('stopping')
  } finally {
    await api?.stop().catch((error: unknown) => { logger.warn('the API did not stop cleanly', { error }) })
    await node.stop()
  }
  logger.info('stopped')
}
