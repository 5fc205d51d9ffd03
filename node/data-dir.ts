/**
 * The data directory of a node: where its identity (and, with the node
 * layer, its store) lives. Default `~/.komrade`, or `KOMRADE_DATA_DIR`.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** Environment variable that overrides the default data directory. */
export const DATA_DIR_ENV = 'KOMRADE_DATA_DIR'

/** The data directory to use: the explicit one, else `$KOMRADE_DATA_DIR`, else `~/.komrade`. */
export function resolveDataDir (explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined && explicit !== '') return resolve(explicit)
  const fromEnv = env[DATA_DIR_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv)
  return join(homedir(), '.komrade')
}
