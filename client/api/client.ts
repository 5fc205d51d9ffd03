/**
 * The typed client of the local control API, for the CLI and the web UI.
 * Isomorphic: global `fetch` and `WebSocket` only. In Node it sends the
 * bearer token (Node's WebSocket, undici's, accepts `{ headers }`); in a
 * browser it relies on the session cookie from {@link KomradeClient.login}.
 * No Node imports: the browser bundle imports this file.
 */
import { KomradeApiError } from './errors.js'
import { toBase64 } from './post-content.js'
import type {
  ApiAudience, ApiCircleMember, ApiContact, ApiContactDetail, ApiConversationMessage, ApiErrorBody, ApiEvent, ApiFeedName, ApiFeedPage, ApiIdentity,
  ApiLoginLink, ApiNameRecord, ApiPost, ApiPostLocationInput, ApiProfile, ApiReceivedMessage, ApiSentMessage, ApiStatus
} from './types.js'
import type {
  ApiConstitution, ApiEventChanges, ApiEventInfo, ApiEventRequest, ApiGroupFeedPage, ApiGroupInfo, ApiGroupPost, ApiGroupView, ApiJoinRequest,
  ApiLocationInput, ApiPin, ApiPinRequest, ApiProposal, ApiRsvpChoice, ApiVoteTally
} from './collectives-types.js'

export { KomradeApiError } from './errors.js'

/** Options of {@link createKomradeClient}. */
export interface KomradeClientInit {
  /** Where the API listens, e.g. `http://127.0.0.1:7717` (in a browser: `location.origin`). */
  url: string
  /** The API token (api.token). Omitted in a browser, which signs in and then uses the session cookie. */
  token?: string
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch
}

/** Cancels a call. */
export interface CallOptions {
  signal?: AbortSignal
}

/** An image as the client sends and receives it. */
export interface ClientImage {
  /** `image/jpeg`, `image/png`, `image/webp` or `image/gif`. */
  mime: string
  bytes: Uint8Array
}

/** What {@link KomradeClient.post} takes. */
export interface ClientPostInput {
  /** Up to 1,000 characters; at least one of text and image. */
  text?: string
  /** Up to 256 KiB. */
  image?: ClientImage
  /** @default 'world' */
  audience?: ApiAudience
  /** 1 to 7. @default 2 */
  days?: number
  /** Minutes (1 to 10,080) instead of days. */
  ttlMinutes?: number
}

/** What {@link KomradeClient.setProfile} takes. */
export interface ClientProfileInput {
  displayName: string
  bio?: string
  /** Up to 32 KiB. */
  avatar?: ClientImage
  /** @default 'world' */
  audience?: ApiAudience
}

/** The control API, one method per endpoint. Every failure is a {@link KomradeApiError}. */
export interface KomradeClient {
  /** The API's base URL. */
  readonly url: string
  /** `GET /api/status` */
  status(options?: CallOptions): Promise<ApiStatus>
  /** `GET /api/identity` */
  identity(options?: CallOptions): Promise<ApiIdentity>
  /** `POST /api/session`: trades a one-time login code (or the token) for a session cookie (browsers keep it). */
  login(codeOrToken: { code: string } | { token: string }, options?: CallOptions): Promise<void>
  /** `DELETE /api/session`: ends this session. */
  logout(options?: CallOptions): Promise<void>
  /** `POST /api/session/code`: a new one-time sign-in link for the web UI (valid 10 minutes). */
  createLoginLink(options?: CallOptions): Promise<ApiLoginLink>
  /** `POST /api/register`: proof of work (progress as `work` events), then the Operator's certificate. */
  register(name: string, options?: CallOptions & { via?: 'direct' | 'flood' }): Promise<ApiNameRecord>
  /** `GET /api/names/:name` */
  lookup(name: string, options?: CallOptions): Promise<ApiNameRecord>
  /** `GET /api/contacts` */
  contacts(options?: CallOptions): Promise<ApiContact[]>
  /** `POST /api/contacts`: by registered name, invite code or hex public identity. */
  addContact(contact: string, options?: CallOptions): Promise<ApiContact>
  /** `GET /api/contacts/:id`: the contact and the safety number to compare. */
  contact(id: string, options?: CallOptions): Promise<ApiContactDetail>
  /** `DELETE /api/contacts/:id` */
  removeContact(id: string, options?: CallOptions): Promise<void>
  /** `POST /api/messages`: `to` is a registered name, a contact id or a hex public identity. */
  send(to: string, text: string, options?: CallOptions): Promise<ApiSentMessage>
  /** `GET /api/messages?with=`: both directions, newest last. */
  conversation(withId: string, options?: CallOptions & { limit?: number, before?: number }): Promise<ApiConversationMessage[]>
  /** `GET /api/inbox` */
  inbox(options?: CallOptions): Promise<ApiReceivedMessage[]>
  /** `GET /api/outbox` */
  outbox(options?: CallOptions): Promise<ApiSentMessage[]>
  /** `GET /api/config`: the daemon's resolved configuration. */
  config(options?: CallOptions): Promise<Record<string, unknown>>
  /** `POST /api/posts`: seals, works and queues a post (the image sent as base64); resolves once it is in the outbox. */
  post(input: ClientPostInput & { location?: ApiPostLocationInput }, options?: CallOptions): Promise<ApiPost>
  /** `GET /api/feed/:feed`: a page, newest first; pass the page's `next` as `before` for older posts. */
  feed(feed: ApiFeedName, options?: CallOptions & { before?: string, limit?: number }): Promise<ApiFeedPage>
  /** `GET /api/posts/:id` */
  getPost(id: string, options?: CallOptions): Promise<ApiPost>
  /** `GET /api/posts/:id/image`: the image's bytes and type. */
  postImage(id: string, options?: CallOptions): Promise<ClientImage>
  /** `GET /api/profile`: ours (unknown_profile when none is set). */
  profile(options?: CallOptions): Promise<ApiProfile>
  /** `PUT /api/profile`: sets and publishes ours. */
  setProfile(input: ClientProfileInput, options?: CallOptions): Promise<ApiProfile>
  /**
   * `GET /api/profiles`: with `authors` (at most 100 contact ids), the
   * profiles this node holds of those authors; without, a page of every
   * profile known, by author id (`limit` 1–100, default 100; `after` the
   * last author of the previous page; a shorter page is the last).
   */
  profiles(options?: CallOptions & { authors?: readonly string[], limit?: number, after?: string }): Promise<ApiProfile[]>
  /** `GET /api/profiles/:author` (a contact id). */
  profileOf(author: string, options?: CallOptions): Promise<ApiProfile>
  /** `GET /api/profiles/:author/avatar` */
  avatar(author: string, options?: CallOptions): Promise<ClientImage>
  /** `GET /api/circle`: those who read our circle posts. */
  circle(options?: CallOptions): Promise<ApiCircleMember[]>
  /** `POST /api/circle`: adds a contact (name, id, invite or hex identity) and hands them the circle's key. */
  addToCircle(contact: string, options?: CallOptions): Promise<ApiCircleMember>
  /** `DELETE /api/circle/:id`: removes a member and rotates the key. */
  removeFromCircle(id: string, options?: CallOptions): Promise<void>
  /** `GET /api/groups`: the groups we are in, asked to join, or left. */
  groups(options?: CallOptions): Promise<ApiGroupInfo[]>
  /** `POST /api/groups`: founds a group (registers its name with the Operator). */
  createGroup(name: string, options?: CallOptions & { constitution?: ApiConstitution }): Promise<ApiGroupInfo>
  /** `GET /api/groups/:group` (name, `@name` or id): members, candidates, proposals. */
  group(group: string, options?: CallOptions): Promise<ApiGroupView>
  /** `POST /api/groups/:group/join`: asks a member we have as a contact to vouch for us. */
  joinGroup(group: string, input: { via: string, note?: string }, options?: CallOptions): Promise<ApiGroupInfo>
  /** `GET /api/groups/:group/requests`, or every group's (`GET /api/join-requests`) without `group`. */
  joinRequests(group?: string, options?: CallOptions): Promise<ApiJoinRequest[]>
  /** `POST /api/groups/:group/vouch` */
  vouch(group: string, candidate: string, options?: CallOptions): Promise<ApiGroupView>
  /** `POST /api/groups/:group/proposals`: resolves with the proposal's id (and the proposal). */
  propose(group: string, proposal: { amend: ApiConstitution } | { remove: string }, reason?: string, options?: CallOptions): Promise<{ id: string, proposal?: ApiProposal }>
  /** `POST /api/groups/:group/proposals/:id/vote` */
  voteOnProposal(group: string, proposalId: string, choice: 'yes' | 'no', options?: CallOptions): Promise<ApiProposal>
  /** `POST /api/groups/:group/leave` */
  leaveGroup(group: string, options?: CallOptions): Promise<ApiGroupInfo>
  /** `GET /api/groups/:group/feed`: a page, newest first, each post with its tally. */
  groupFeed(group: string, options?: CallOptions & { before?: string, limit?: number }): Promise<ApiGroupFeedPage>
  /** `POST /api/groups/:group/posts` */
  groupPost(group: string, input: ClientPostInput & { location?: ApiLocationInput }, options?: CallOptions): Promise<ApiGroupPost>
  /** `GET /api/groups/:group/posts/:postId/image` */
  groupPostImage(group: string, postId: string, options?: CallOptions): Promise<ClientImage>
  /** `POST /api/groups/:group/posts/:postId/vote`: an anonymous up or down vote. */
  votePost(group: string, postId: string, choice: 'up' | 'down', options?: CallOptions): Promise<ApiVoteTally>
  /** `GET /api/events` */
  listEvents(options?: CallOptions): Promise<ApiEventInfo[]>
  /** `POST /api/events` */
  hostEvent(input: ApiEventRequest, options?: CallOptions): Promise<ApiEventInfo>
  /** `GET /api/events/:id` (with its answers, for the host) */
  event(id: string, options?: CallOptions): Promise<ApiEventInfo>
  /** `PATCH /api/events/:id` */
  updateEvent(id: string, changes: ApiEventChanges, options?: CallOptions): Promise<ApiEventInfo>
  /** `POST /api/events/:id/cancel` */
  cancelEvent(id: string, options?: CallOptions): Promise<ApiEventInfo>
  /** `POST /api/events/:id/invite` */
  inviteToEvent(id: string, contacts: readonly string[], options?: CallOptions): Promise<ApiEventInfo>
  /** `POST /api/events/:id/rsvp` */
  rsvp(id: string, choice: ApiRsvpChoice, note?: string, options?: CallOptions): Promise<ApiEventInfo>
  /** `GET /api/pins`: unexpired pins; `near` and `withinKm` filter on the node (the web UI filters in the browser instead). */
  pins(options?: CallOptions & { group?: string, near?: { lat: number, lon: number }, withinKm?: number }): Promise<ApiPin[]>
  /** `POST /api/pins` */
  addPin(input: ApiPinRequest, options?: CallOptions): Promise<ApiPin>
  /**
   * Live events from `/api/events`, `hello` first. Does not reconnect: the
   * iteration ends when the socket closes (the daemon stopped) or `signal`
   * aborts; it throws a KomradeApiError when the socket cannot be opened.
   */
  events(options?: CallOptions): AsyncIterable<ApiEvent>
}

/** What this file needs of a WebSocket, in a browser or in Node. */
interface EventSocket {
  onopen: (() => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onerror: (() => void) | null
  onclose: (() => void) | null
  close(code?: number, reason?: string): void
}
type EventSocketConstructor = new (url: string, init?: { headers: Record<string, string> }) => EventSocket

/** Node (undici) takes `{ headers }` as the second argument; a browser would read it as a protocol name. */
function runsInNode (): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string'
}

function isAbort (error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')
}

/** Creates a client of one daemon's API. */
export function createKomradeClient (init: KomradeClientInit): KomradeClient {
  if (typeof init?.url !== 'string' || !/^https?:\/\//.test(init.url)) {
    throw new TypeError(`"url" expected the API's address such as http://127.0.0.1:7717, got ${JSON.stringify(init?.url)}`)
  }
  const base = init.url.replace(/\/+$/, '')
  const token = init.token
  const doFetch: typeof fetch = init.fetch ?? (async (input, options) => await fetch(input, options))

  /** A request whose successful answer is bytes (an image): errors still come as JSON. */
  async function callBytes (path: string, options: CallOptions = {}): Promise<ClientImage> {
    const response = await request('GET', path, undefined, options, '*/*')
    if (!response.ok) await failure(response)
    return { mime: (response.headers.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim(), bytes: new Uint8Array(await response.arrayBuffer()) }
  }

  async function call<T> (method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
    const response = await request(method, path, body, options, 'application/json')
    if (!response.ok) await failure(response)
    if (response.status === 204) return undefined as T
    const text = await response.text()
    try {
      return JSON.parse(text) as T
    } catch {
      throw notJson(response)
    }
  }

  function notJson (response: Response): KomradeApiError {
    return new KomradeApiError('internal', `The node at ${base} answered ${response.status} with something that is not JSON; is another program on that port?`, { status: response.status })
  }

  /** Throws the API error a failed answer carries. */
  async function failure (response: Response): Promise<never> {
    let parsed: unknown
    try {
      parsed = JSON.parse(await response.text())
    } catch {
      throw notJson(response)
    }
    const error = (parsed as Partial<ApiErrorBody> | null)?.error
    throw new KomradeApiError(typeof error?.code === 'string' ? error.code : 'internal', typeof error?.message === 'string' ? error.message : undefined, {
      status: response.status, ...(error?.details === undefined ? {} : { details: error.details })
    })
  }

  async function request (method: string, path: string, body: unknown, options: CallOptions, accept: string): Promise<Response> {
    const headers: Record<string, string> = { accept }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await doFetch(base + path, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        credentials: 'same-origin',
        ...(options.signal === undefined ? {} : { signal: options.signal })
      })
    } catch (cause) {
      if (isAbort(cause)) throw cause
      throw new KomradeApiError('no_daemon', `No Komrade node answers at ${base}; start one with \`komrade start\``, { cause })
    }
    return response
  }

  const segment = (value: string, name: string): string => {
    if (typeof value !== 'string' || value === '') throw new TypeError(`"${name}" expected a non-empty string`)
    return encodeURIComponent(value)
  }

  function openEvents (signal: AbortSignal | undefined): AsyncIterator<ApiEvent> {
    const Socket = (globalThis as unknown as { WebSocket?: EventSocketConstructor }).WebSocket
    if (Socket === undefined) throw new KomradeApiError('internal', 'This JavaScript runtime has no WebSocket; use Node 22 or later, or a browser')
    const url = base.replace(/^http/, 'ws') + '/api/events'
    const socket = token !== undefined && runsInNode() ? new Socket(url, { headers: { authorization: `Bearer ${token}` } }) : new Socket(url)
    const queue: ApiEvent[] = []
    let opened = false
    let closed = false
    let wake: (() => void) | undefined
    const notify = (): void => { const resume = wake; wake = undefined; resume?.() }
    const finish = (): void => {
      closed = true
      signal?.removeEventListener('abort', onAbort)
      notify()
    }
    const onAbort = (): void => { socket.close(1000); finish() }
    socket.onopen = () => { opened = true }
    socket.onmessage = (event) => {
      try {
        queue.push(JSON.parse(String(event.data)) as ApiEvent)
      } catch {
        return // not JSON: not ours to show
      }
      notify()
    }
    socket.onerror = () => {} // a close event follows
    socket.onclose = finish
    if (signal?.aborted === true) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })

    /** A socket that never opened says nothing of why; a plain request does (401, no daemon...). */
    async function whyNotOpened (): Promise<Error> {
      try {
        await call('GET', '/api/status')
      } catch (error) {
        return error as Error
      }
      return new KomradeApiError('internal', `The event stream at ${url} could not be opened; check that nothing between you and the node blocks WebSockets`)
    }

    const iterator: AsyncIterator<ApiEvent> = {
      async next () {
        while (queue.length === 0 && !closed) await new Promise<void>((resolve) => { wake = resolve })
        const value = queue.shift()
        if (value !== undefined) return { value, done: false }
        if (!opened && signal?.aborted !== true) throw await whyNotOpened()
        return { value: undefined, done: true }
      },
      async return () {
        socket.close(1000)
        finish()
        return { value: undefined, done: true }
      }
    }
    return iterator
  }

  return {
    url: base,
    status: async (options) => await call('GET', '/api/status', undefined, options),
    identity: async (options) => await call('GET', '/api/identity', undefined, options),
    login: async (codeOrToken, options) => { await call('POST', '/api/session', codeOrToken, options) },
    logout: async (options) => { await call('DELETE', '/api/session', undefined, options) },
    createLoginLink: async (options) => await call('POST', '/api/session/code', {}, options),
    register: async (name, options = {}) => await call('POST', '/api/register', { name, ...(options.via === undefined ? {} : { via: options.via }) }, options),
    lookup: async (name, options) => await call('GET', `/api/names/${segment(name, 'name')}`, undefined, options),
    contacts: async (options) => await call('GET', '/api/contacts', undefined, options),
    addContact: async (contact, options) => await call('POST', '/api/contacts', { contact }, options),
    contact: async (id, options) => await call('GET', `/api/contacts/${segment(id, 'id')}`, undefined, options),
    removeContact: async (id, options) => { await call('DELETE', `/api/contacts/${segment(id, 'id')}`, undefined, options) },
    send: async (to, text, options) => await call('POST', '/api/messages', { to, text }, options),
    conversation: async (withId, options = {}) => {
      const query = new URLSearchParams({ with: withId })
      if (options.limit !== undefined) query.set('limit', String(options.limit))
      if (options.before !== undefined) query.set('before', String(options.before))
      return (await call<{ messages: ApiConversationMessage[] }>('GET', `/api/messages?${query.toString()}`, undefined, options)).messages
    },
    inbox: async (options) => await call('GET', '/api/inbox', undefined, options),
    outbox: async (options) => await call('GET', '/api/outbox', undefined, options),
    config: async (options) => await call('GET', '/api/config', undefined, options),
    post: async (input, options) => await call('POST', '/api/posts', {
      ...(input.text === undefined ? {} : { text: input.text }),
      ...(input.image === undefined ? {} : { image: { mime: input.image.mime, data: toBase64(input.image.bytes) } }),
      ...(input.audience === undefined ? {} : { audience: input.audience }),
      ...(input.days === undefined ? {} : { days: input.days }),
      ...(input.ttlMinutes === undefined ? {} : { ttlMinutes: input.ttlMinutes }),
      ...(input.location === undefined ? {} : { location: input.location })
    }, options),
    feed: async (feed, options = {}) => {
      const query = new URLSearchParams()
      if (options.limit !== undefined) query.set('limit', String(options.limit))
      if (options.before !== undefined) query.set('before', options.before)
      const search = query.toString()
      return await call('GET', `/api/feed/${segment(feed, 'feed')}${search === '' ? '' : `?${search}`}`, undefined, options)
    },
    getPost: async (id, options) => await call('GET', `/api/posts/${segment(id, 'id')}`, undefined, options),
    postImage: async (id, options) => await callBytes(`/api/posts/${segment(id, 'id')}/image`, options),
    profile: async (options) => await call('GET', '/api/profile', undefined, options),
    setProfile: async (input, options) => await call('PUT', '/api/profile', {
      displayName: input.displayName,
      ...(input.bio === undefined ? {} : { bio: input.bio }),
      ...(input.avatar === undefined ? {} : { avatar: { mime: input.avatar.mime, data: toBase64(input.avatar.bytes) } }),
      ...(input.audience === undefined ? {} : { audience: input.audience })
    }, options),
    profiles: async (options = {}) => {
      const query = new URLSearchParams()
      if (options.authors !== undefined) query.set('authors', options.authors.join(','))
      if (options.limit !== undefined) query.set('limit', String(options.limit))
      if (options.after !== undefined) query.set('after', options.after)
      const search = query.toString()
      return await call('GET', `/api/profiles${search === '' ? '' : `?${search}`}`, undefined, options)
    },
    profileOf: async (author, options) => await call('GET', `/api/profiles/${segment(author, 'author')}`, undefined, options),
    avatar: async (author, options) => await callBytes(`/api/profiles/${segment(author, 'author')}/avatar`, options),
    circle: async (options) => await call('GET', '/api/circle', undefined, options),
    addToCircle: async (contact, options) => await call('POST', '/api/circle', { contact }, options),
    removeFromCircle: async (id, options) => { await call('DELETE', `/api/circle/${segment(id, 'id')}`, undefined, options) },
    events: (options = {}) => ({ [Symbol.asyncIterator]: () => openEvents(options.signal) }),
    groups: async (options) => await call('GET', '/api/groups', undefined, options),
    createGroup: async (name, options = {}) => await call('POST', '/api/groups', { name, ...(options.constitution === undefined ? {} : { constitution: options.constitution }) }, options),
    group: async (group, options) => await call('GET', `/api/groups/${segment(group, 'group')}`, undefined, options),
    joinGroup: async (group, input, options) => await call('POST', `/api/groups/${segment(group, 'group')}/join`, input, options),
    joinRequests: async (group, options) => await call('GET', group === undefined ? '/api/join-requests' : `/api/groups/${segment(group, 'group')}/requests`, undefined, options),
    vouch: async (group, candidate, options) => await call('POST', `/api/groups/${segment(group, 'group')}/vouch`, { candidate }, options),
    propose: async (group, proposal, reason, options) => await call('POST', `/api/groups/${segment(group, 'group')}/proposals`, { ...proposal, ...(reason === undefined ? {} : { reason }) }, options),
    voteOnProposal: async (group, proposalId, choice, options) => await call('POST', `/api/groups/${segment(group, 'group')}/proposals/${segment(proposalId, 'proposalId')}/vote`, { choice }, options),
    leaveGroup: async (group, options) => await call('POST', `/api/groups/${segment(group, 'group')}/leave`, {}, options),
    groupFeed: async (group, options = {}) => {
      const query = new URLSearchParams()
      if (options.limit !== undefined) query.set('limit', String(options.limit))
      if (options.before !== undefined) query.set('before', options.before)
      const search = query.toString()
      return await call('GET', `/api/groups/${segment(group, 'group')}/feed${search === '' ? '' : `?${search}`}`, undefined, options)
    },
    groupPost: async (group, input, options) => await call('POST', `/api/groups/${segment(group, 'group')}/posts`, {
      ...(input.text === undefined ? {} : { text: input.text }),
      ...(input.image === undefined ? {} : { image: { mime: input.image.mime, data: toBase64(input.image.bytes) } }),
      ...(input.location === undefined ? {} : { location: input.location }),
      ...(input.days === undefined ? {} : { days: input.days }),
      ...(input.ttlMinutes === undefined ? {} : { ttlMinutes: input.ttlMinutes })
    }, options),
    groupPostImage: async (group, postId, options) => await callBytes(`/api/groups/${segment(group, 'group')}/posts/${segment(postId, 'postId')}/image`, options),
    votePost: async (group, postId, choice, options) => await call('POST', `/api/groups/${segment(group, 'group')}/posts/${segment(postId, 'postId')}/vote`, { choice }, options),
    listEvents: async (options) => await call('GET', '/api/events', undefined, options),
    hostEvent: async (input, options) => await call('POST', '/api/events', input, options),
    event: async (id, options) => await call('GET', `/api/events/${segment(id, 'id')}`, undefined, options),
    updateEvent: async (id, changes, options) => await call('PATCH', `/api/events/${segment(id, 'id')}`, changes, options),
    cancelEvent: async (id, options) => await call('POST', `/api/events/${segment(id, 'id')}/cancel`, {}, options),
    inviteToEvent: async (id, contacts, options) => await call('POST', `/api/events/${segment(id, 'id')}/invite`, { contacts }, options),
    rsvp: async (id, choice, note, options) => await call('POST', `/api/events/${segment(id, 'id')}/rsvp`, { choice, ...(note === undefined ? {} : { note }) }, options),
    pins: async (options = {}) => {
      const query = new URLSearchParams()
      if (options.group !== undefined) query.set('group', options.group)
      if (options.near !== undefined) query.set('near', `${options.near.lat},${options.near.lon}`)
      if (options.withinKm !== undefined) query.set('withinKm', String(options.withinKm))
      const search = query.toString()
      return (await call<{ pins: ApiPin[] }>('GET', `/api/pins${search === '' ? '' : `?${search}`}`, undefined, options)).pins
    },
    addPin: async (input, options) => await call('POST', '/api/pins', input, options)
  }
}
