/**
 * Finding the daemon of a data directory (Node only): `komrade start`
 * writes `<dataDir>/api.json` (where its API listens, and its pid) and keeps
 * the token in `<dataDir>/api.token`. The CLI reads both.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createKomradeClient, type KomradeClient } from './client.js'
import { KomradeApiError } from './errors.js'
import type { ApiEndpointFile } from './types.js'

/** File a running daemon writes (0600) and removes on a clean stop. */
export const API_ENDPOINT_FILE = 'api.json'
/** The API token (0600): 32 random bytes as hex, kept across restarts. */
export const API_TOKEN_FILE = 'api.token'

/** Options of {@link connectToDaemon}. */
export interface ConnectOptions {
  /** Ask the daemon for its status once, so a dead daemon or a refused token is reported now. @default true */
  probe?: boolean
  signal?: AbortSignal
}

function noDaemon (dataDir: string, why: string): KomradeApiError {
  return new KomradeApiError('no_daemon', `No Komrade node is running for ${dataDir} (${why}); start one with \`komrade start --data-dir ${dataDir}\``)
}

function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' // alive, someone else's
  }
}

async function readEndpoint (dataDir: string): Promise<ApiEndpointFile> {
  const path = join(dataDir, API_ENDPOINT_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw noDaemon(dataDir, `no ${API_ENDPOINT_FILE}`)
    throw error
  }
  let endpoint: Partial<ApiEndpointFile>
  try {
    endpoint = JSON.parse(text) as Partial<ApiEndpointFile>
  } catch {
    throw noDaemon(dataDir, `${path} is damaged`)
  }
  if (typeof endpoint?.url !== 'string' || !/^http:\/\/127\.0\.0\.1:\d+$/.test(endpoint.url) || !Number.isSafeInteger(endpoint.pid)) {
    throw noDaemon(dataDir, `${path} is damaged`)
  }
  // A daemon killed with SIGKILL leaves its file behind.
  if (!processAlive(endpoint.pid!)) throw noDaemon(dataDir, `the node with pid ${endpoint.pid} is gone`)
  return endpoint as ApiEndpointFile
}

async function readToken (dataDir: string): Promise<string> {
  const path = join(dataDir, API_TOKEN_FILE)
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new KomradeApiError('bad_token', `There is no API token at ${path}; restart the node with \`komrade start\` to create one`)
    if (code === 'EACCES') throw new KomradeApiError('bad_token', `Cannot read the API token at ${path}; run as the user that runs the node`)
    throw error
  }
}

/**
 * A client of the daemon running on `dataDir`. Throws KomradeApiError
 * `no_daemon` (no api.json, a dead pid, nothing listening) or `bad_token`
 * (no readable api.token, or the daemon refused it).
 */
export async function connectToDaemon (dataDir: string, options: ConnectOptions = {}): Promise<KomradeClient> {
  const endpoint = await readEndpoint(dataDir)
  const token = await readToken(dataDir)
  const client = createKomradeClient({ url: endpoint.url, token })
  if (options.probe === false) return client
  try {
    await client.status(options.signal === undefined ? {} : { signal: options.signal })
  } catch (error) {
    if (error instanceof KomradeApiError && error.code === 'no_daemon') throw noDaemon(dataDir, `nothing answers at ${endpoint.url}`)
    if (error instanceof KomradeApiError && error.code === 'unauthorized') {
      throw new KomradeApiError('bad_token', `The node at ${endpoint.url} refused the token in ${join(dataDir, API_TOKEN_FILE)}; ` +
        'is --data-dir the directory that node runs on? Restarting the node makes it read the token again')
    }
    throw error
  }
  return client
}
