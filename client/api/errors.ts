/**
 * The API's errors: stable codes, their HTTP statuses, and a default
 * sentence for each that says what to do. The server answers
 * `{ "error": { "code", "message", "details"? } }`; the typed client turns
 * that into a {@link KomradeApiError}. No Node imports: the browser bundle
 * imports this file.
 */

/** Every error code with its HTTP status (0: raised by the client, never sent by the server). */
export const API_ERROR_STATUS = {
  unauthorized: 401,
  forbidden_origin: 403,
  bad_host: 421,
  bad_json: 400,
  bad_request: 400,
  not_found: 404,
  body_too_large: 413,
  unsupported_media_type: 415,
  bad_name: 400,
  name_taken: 409,
  unknown_name: 404,
  message_too_large: 413,
  no_operator: 409,
  registry_unavailable: 503,
  registry_refused: 409,
  verification_failed: 502,
  unknown_contact: 404,
  node_not_running: 503,
  too_many_clients: 503,
  post_too_large: 413,
  profile_too_large: 413,
  bad_image: 400,
  name_required: 409,
  no_world_feed: 409,
  unknown_post: 404,
  unknown_profile: 404,
  unknown_member: 404,
  unknown_group: 404,
  not_a_group_member: 403,
  already_a_group_member: 409,
  no_join_request: 404,
  proposal_closed: 409,
  unknown_group_member: 404,
  group_full: 409,
  vote_ring_too_small: 409,
  already_voted: 409,
  unknown_event: 404,
  not_event_host: 403,
  not_available: 503,
  internal: 500,
  // Client side only.
  no_daemon: 0,
  bad_token: 0
} as const

/** A stable error code. */
export type ApiErrorCode = keyof typeof API_ERROR_STATUS

/** The default sentence of each code; the server often says more (which name, which field). */
export const API_ERROR_MESSAGES: Record<ApiErrorCode, string> = {
  unauthorized: 'This request needs the API token: send "Authorization: Bearer <token>" with the token from api.token in the data directory, or sign in again',
  forbidden_origin: 'Requests from other web sites are refused; open the web UI from the address `komrade start` printed',
  bad_host: 'The API answers only to 127.0.0.1 or localhost with its own port; use the address `komrade start` printed',
  bad_json: 'The request body is not valid JSON; send a JSON object',
  bad_request: 'The request is missing a field or has a wrong one; check the API reference',
  not_found: 'There is no such API route; check the method and the path',
  body_too_large: 'The request body is too large; send at most 2 MiB',
  unsupported_media_type: 'Send the request body as JSON with "Content-Type: application/json"',
  bad_name: 'Names are 3 to 32 characters of a-z, 0-9 and _; pick another one',
  name_taken: 'Someone has already registered this name; pick another one',
  unknown_name: 'No one has registered this name; check the spelling, or ask for an invite code instead',
  message_too_large: 'The message is too large: at most 1 MiB, and a first message to a new contact must be short; shorten it or send it in parts',
  no_operator: 'This node has no Operator configured, so it cannot register or look up names; start it with --operator, or add contacts by invite code',
  registry_unavailable: 'The Operator could not be reached; check that the node has peers and try again later',
  registry_refused: 'The Operator refused the request; the message says why',
  verification_failed: 'The Operator\'s answer did not verify; do not trust this name, and tell the people who run your network',
  unknown_contact: 'There is no contact with this id; list them with `komrade contacts list`',
  node_not_running: 'The node is stopping or not started yet; start it again with `komrade start`',
  too_many_clients: 'Too many windows and programs follow this node\'s live events; close some and try again',
  post_too_large: 'A post holds at most 1,000 characters and one image of at most 256 KiB; shorten the text or shrink the picture',
  profile_too_large: 'A display name is at most 64 characters (255 bytes of UTF-8), a bio at most 500 and an avatar at most 32 KiB; shorten or shrink them',
  bad_image: 'The image is not a JPEG, PNG, WebP or GIF, or its bytes are not of the type it was sent as; send one of those',
  name_required: 'Posting to the world needs a registered name; register one (`komrade register NAME`), or post to your circle',
  no_world_feed: 'This node has no world feed: it needs an Operator to check the names world posts carry; start it with --operator, or post to your circle',
  unknown_post: 'No feed holds this post: it may have expired, or not have arrived whole yet',
  unknown_profile: 'No profile of this person has reached this node yet',
  unknown_member: 'There is no such member in your circle; list them with `komrade circle list`',
  unknown_group: 'No group of this name or id is known to this node; ask to join it through a member you know (`komrade group join NAME --via CONTACT`)',
  not_a_group_member: 'Only members of the group can do this; wait for your welcome, or ask to join',
  already_a_group_member: 'You already are a member of this group',
  no_join_request: 'No join request from this person for this group reached this node; ask them to send it through you',
  proposal_closed: 'This proposal is unknown, already decided, or you already voted on it',
  unknown_group_member: 'There is no such member in this group; see the members with `komrade group show NAME`',
  group_full: 'The group is full (256 members, or 4,096 entries in its log); found a new group to go on',
  vote_ring_too_small: 'Anonymous votes need a group that has admitted at least 16 members (a smaller ring would not hide who voted)',
  already_voted: 'You already voted on this post; a second, different vote would cancel both (a double vote)',
  unknown_event: 'No event with this id is known to this node',
  not_event_host: 'Only the host of an event can change it, cancel it or invite to it',
  not_available: 'This node does not run this feature yet; update Komrade',
  internal: 'The node failed unexpectedly; its log says more',
  no_daemon: 'No Komrade node is running for this data directory; start one with `komrade start`',
  bad_token: 'The node refused the API token; restart the node or check --data-dir'
}

/** True when `code` is one of the known codes. */
export function isApiErrorCode (code: unknown): code is ApiErrorCode {
  return typeof code === 'string' && Object.hasOwn(API_ERROR_STATUS, code)
}

/** An error of the control API: on the server what it answers, on the client what it answered. */
export class KomradeApiError extends Error {
  /** A stable code (see {@link API_ERROR_STATUS}); unknown codes from a newer server are kept as they are. */
  readonly code: string
  /** The HTTP status; 0 when the client raised it itself (no_daemon, bad_token). */
  readonly status: number
  /** Extra facts, e.g. `{ registryCode: 'RATE_LIMITED' }` for registry_refused. */
  readonly details?: unknown

  constructor (code: ApiErrorCode | (string & {}), message?: string, options: { status?: number, details?: unknown, cause?: unknown } = {}) {
    const known = isApiErrorCode(code)
    super(message ?? (known ? API_ERROR_MESSAGES[code] : `The node answered with error "${code}"`), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'KomradeApiError'
    this.code = code
    this.status = options.status ?? (known ? API_ERROR_STATUS[code] : 500)
    if (options.details !== undefined) this.details = options.details
  }

  /** The JSON body the server sends for this error. */
  toJSON (): { error: { code: string, message: string, details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } }
  }
}
