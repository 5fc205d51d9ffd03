/**
 * `komrade/client`: how programs talk to a running node. The typed client of
 * the control API (also used by the CLI and the web UI), finding the daemon
 * of a data directory, and the API server for embedders who run a node
 * themselves and want the same API and web UI beside it.
 */
export {
  createKomradeClient, KomradeApiError, type KomradeClient, type KomradeClientInit, type CallOptions, type ClientImage, type ClientPostInput,
  type ClientProfileInput
} from './api/client.js'
export { connectToDaemon, API_ENDPOINT_FILE, API_TOKEN_FILE, type ConnectOptions } from './api/discover.js'
export { createApiServer, type ApiServer, type ApiServerInit } from './api/server.js'
export { API_ERROR_STATUS, type ApiErrorCode } from './api/errors.js'
export type * from './api/types.js'
export { IMAGE_TYPES, imageTypeOf, MAX_AVATAR_BYTES, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_CHARS } from './api/post-content.js'
