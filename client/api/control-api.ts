/**
 * The control API as a data directory's daemon runs it (`komrade start`,
 * and ada's and grace's nodes in `komrade demo`): the token from api.token,
 * the server on 127.0.0.1, and api.json, which tells the CLI where it is.
 * api.json exists exactly while the server listens.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { KomradeNode } from '../../node/komrade-node.js'
import type { Logger } from '../../node/logger.js'
import { loadOrCreateToken, writePrivateJson } from './auth.js'
import { API_ENDPOINT_FILE } from './discover.js'
import { createApiServer, type ApiServer } from './server.js'
import type { ApiEndpointFile } from './types.js'

/** Options of {@link startControlApi}. */
export interface ControlApiInit {
  /** The running node. */
  node: KomradeNode
  /** Its data directory: api.token is read (or made) there, api.json written there. */
  dataDir: string
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number
  /** What GET /api/config shows. @default {} */
  config?: Readonly<Record<string, unknown>>
  logger?: Logger
  /** Write a new api.token first (`--rotate-token`). @default false */
  rotateToken?: boolean
  /** Directory of the built web UI. @default the package's dist/web */
  webRoot?: string
}

/** A running control API. */
export interface ControlApi {
  readonly server: ApiServer
  /** `http://127.0.0.1:PORT`. */
  readonly url: string
  /** Closes the server (clients, sessions), then removes api.json. */
  stop(): Promise<void>
}

/**
 * Starts the API of `node` and writes api.json. Throws when the server
 * cannot listen (EADDRINUSE...) or api.json cannot be written, leaving
 * neither running nor behind.
 */
export async function startControlApi (init: ControlApiInit): Promise<ControlApi> {
  const server = createApiServer({
    node: init.node,
    token: await loadOrCreateToken(init.dataDir, { rotate: init.rotateToken === true }),
    port: init.port,
    ...(init.config === undefined ? {} : { config: init.config }),
    ...(init.logger === undefined ? {} : { logger: init.logger }),
    ...(init.webRoot === undefined ? {} : { webRoot: init.webRoot })
  })
  // The caller holds the data directory's lock: an api.json there is ours, or a stale one of a daemon that crashed.
  const endpointPath = join(init.dataDir, API_ENDPOINT_FILE)
  const stop = async (): Promise<void> => {
    try {
      await server.stop()
    } finally {
      await rm(endpointPath, { force: true })
    }
  }
  try {
    await server.start()
    const endpoint: ApiEndpointFile = { url: server.url, pid: process.pid }
    await writePrivateJson(endpointPath, endpoint)
  } catch (error) {
    await stop()
    throw error
  }
  return { server, url: server.url, stop }
}
