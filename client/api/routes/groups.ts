/**
 * Groups (DESIGN §7, SPEC §15): founding one, asking to join through a
 * member, the join requests a member received and vouching for them,
 * proposals and votes on them, leaving, and the group's feed with its
 * posts and their anonymous up/down votes. A group in a path is its name,
 * `@name` or its id.
 */
import type { GroupPostInput, ProposalInput } from '../../../node/collectives/types.js'
import { apiGroupInfo, apiGroupPost, apiGroupView, apiJoinRequest, apiProposal, apiTally } from '../collectives-shapes.js'
import { GROUP_NAME_PATTERN, MAX_GROUP_NOTE_CHARS, MAX_POST_GEOHASH } from '../collectives-content.js'
import { KomradeApiError } from '../errors.js'
import { codePoints, MAX_POST_DAYS, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_CHARS, MAX_POST_TTL_MINUTES, MIN_POST_DAYS } from '../post-content.js'
import { integerParam, MAX_PERSON_REFERENCE_LENGTH, stringField, type Route } from '../router.js'
import { DEFAULT_FEED_PAGE, MAX_FEED_PAGE } from '../../../node/node-constants.js'
import type { ApiGroupFeedPage } from '../collectives-types.js'
import {
  choiceField, constitutionValue, groupParam, groupsOf, hexId, locationField, nodeCall, textField, wholeField
} from './collectives-input.js'
import { imageAnswer, imageField, MAX_POST_BODY_BYTES, postId } from './posts.js'

/** Longest `before` cursor accepted (the node's are far shorter). */
const MAX_CURSOR_LENGTH = 512

function unknownGroup (group: string): KomradeApiError {
  return new KomradeApiError('unknown_group', `No group "${group}" is known to this node: ask to join it through a member (POST /api/groups/${group}/join)`)
}

/** The checked body of POST /api/groups/:group/posts. */
function groupPostInput (body: Record<string, unknown>): GroupPostInput {
  const { text } = body
  if (text !== undefined && typeof text !== 'string') throw new KomradeApiError('bad_request', 'The field "text" must be a string')
  const tooLarge = (what: string): KomradeApiError => new KomradeApiError('post_too_large', `A post holds at most ${MAX_POST_TEXT_CHARS} characters of text and one image of at most 256 KiB; ${what}`)
  if (text !== undefined && codePoints(text) > MAX_POST_TEXT_CHARS) throw tooLarge(`this text has ${codePoints(text)} characters: shorten it`)
  const image = body.image === undefined ? undefined : imageField(body.image, 'image', MAX_POST_IMAGE_BYTES, (bytes) => tooLarge(`this image has ${bytes} bytes: shrink it`))
  if ((text === undefined || text.trim() === '') && image === undefined) throw new KomradeApiError('bad_request', 'A post needs some text, an image, or both')
  const location = locationField(body, 'location', MAX_POST_GEOHASH)
  const days = wholeField(body, 'days', MIN_POST_DAYS, MAX_POST_DAYS)
  const ttlMinutes = wholeField(body, 'ttlMinutes', 1, MAX_POST_TTL_MINUTES)
  if (days !== undefined && ttlMinutes !== undefined) throw new KomradeApiError('bad_request', 'Give the lifetime as "days" or as "ttlMinutes", not both')
  return {
    ...(text === undefined || text === '' ? {} : { text }),
    ...(image === undefined ? {} : { image }),
    ...(location === undefined ? {} : { location }),
    ...(days === undefined ? {} : { days }),
    ...(ttlMinutes === undefined ? {} : { ttlMinutes })
  }
}

/** The checked body of POST /api/groups/:group/proposals: exactly one of amend and remove. */
function proposalInput (body: Record<string, unknown>): { proposal: ProposalInput, reason?: string } {
  const reason = textField(body, 'reason', MAX_GROUP_NOTE_CHARS)
  if ((body.amend === undefined) === (body.remove === undefined)) {
    throw new KomradeApiError('bad_request', 'A proposal has exactly one of the fields "amend" (a constitution) and "remove" (a member id)')
  }
  const proposal: ProposalInput = body.amend !== undefined
    ? { amend: constitutionValue(body.amend, 'amend') }
    : { remove: hexId(body.remove, 'remove', 64, 'the member id to remove') }
  return { proposal, ...(reason === undefined || reason === '' ? {} : { reason }) }
}

export const groupRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/groups',
    async handle ({ services }) {
      return { body: (await groupsOf(services.node).list()).map(apiGroupInfo) }
    }
  },
  {
    method: 'POST',
    path: '/api/groups',
    async handle ({ body, services, signal }) {
      const input = await body()
      const raw = stringField(input, 'name', 64)
      const name = (raw.startsWith('@') ? raw.slice(1) : raw).toLowerCase()
      if (!GROUP_NAME_PATTERN.test(name)) throw new KomradeApiError('bad_name', `The field "name" must be a name of 3 to 32 characters of a-z, 0-9 and _, got ${JSON.stringify(raw)}`)
      const constitution = input.constitution === undefined ? undefined : constitutionValue(input.constitution, 'constitution')
      const group = await nodeCall(async () => await groupsOf(services.node).create(name, { signal, ...(constitution === undefined ? {} : { constitution }) }))
      return { body: apiGroupInfo(group) }
    }
  },
  {
    // Every join request received, of every group (not /api/groups/requests: "requests" is a valid group name).
    method: 'GET',
    path: '/api/join-requests',
    async handle ({ services }) {
      return { body: (await groupsOf(services.node).requests()).map(apiJoinRequest) }
    }
  },
  {
    method: 'GET',
    path: '/api/groups/:group',
    async handle ({ params, services }) {
      const group = groupParam(params.group!)
      const view = await groupsOf(services.node).get(group)
      if (view === undefined) throw unknownGroup(group)
      return { body: apiGroupView(view) }
    }
  },
  {
    method: 'POST',
    path: '/api/groups/:group/join',
    async handle ({ params, body, services, signal }) {
      const group = groupParam(params.group!)
      const input = await body()
      const via = stringField(input, 'via', MAX_PERSON_REFERENCE_LENGTH)
      const note = textField(input, 'note', MAX_GROUP_NOTE_CHARS)
      const info = await nodeCall(async () => await groupsOf(services.node).requestJoin(group, { via, signal, ...(note === undefined || note === '' ? {} : { note }) }))
      return { body: apiGroupInfo(info) }
    }
  },
  {
    method: 'GET',
    path: '/api/groups/:group/requests',
    async handle ({ params, services }) {
      const group = groupParam(params.group!)
      return { body: (await nodeCall(async () => await groupsOf(services.node).requests(group))).map(apiJoinRequest) }
    }
  },
  {
    method: 'POST',
    path: '/api/groups/:group/vouch',
    async handle ({ params, body, services, signal }) {
      const group = groupParam(params.group!)
      const candidate = stringField(await body(), 'candidate', MAX_PERSON_REFERENCE_LENGTH)
      return { body: apiGroupView(await nodeCall(async () => await groupsOf(services.node).vouch(group, candidate, { signal }))) }
    }
  },
  {
    method: 'POST',
    path: '/api/groups/:group/proposals',
    async handle ({ params, body, services, signal }) {
      const group = groupParam(params.group!)
      const { proposal, reason } = proposalInput(await body())
      const groups = groupsOf(services.node)
      const id = await nodeCall(async () => await groups.propose(group, proposal, reason, { signal }))
      const found = (await groups.get(group))?.proposals.find((p) => p.id === id)
      return { body: { id, ...(found === undefined ? {} : { proposal: apiProposal(found) }) } }
    }
  },
  {
    method: 'POST',
    path: '/api/groups/:group/proposals/:id/vote',
    async handle ({ params, body, services, signal }) {
      const group = groupParam(params.group!)
      const id = hexId(params.id, 'id', 64, 'a proposal id')
      const choice = choiceField(await body(), 'choice', ['yes', 'no'] as const)
      return { body: apiProposal(await nodeCall(async () => await groupsOf(services.node).vote(group, id, choice, { signal }))) }
    }
  },
  {
    method: 'POST',
    path: '/api/groups/:group/leave',
    async handle ({ params, services, signal }) {
      const group = groupParam(params.group!)
      return { body: apiGroupInfo(await nodeCall(async () => await groupsOf(services.node).leave(group, { signal }))) }
    }
  },
  {
    method: 'GET',
    path: '/api/groups/:group/feed',
    async handle ({ params, query, services }) {
      const group = groupParam(params.group!)
      const limit = integerParam(query, 'limit', 1, MAX_FEED_PAGE) ?? DEFAULT_FEED_PAGE
      const before = query.get('before') ?? undefined
      if (before !== undefined && (before === '' || before.length > MAX_CURSOR_LENGTH)) {
        throw new KomradeApiError('bad_request', 'The query parameter "before" must be the "next" cursor of a previous page')
      }
      const page = await nodeCall(async () => await groupsOf(services.node).feed(group, { limit, ...(before === undefined ? {} : { before }) }))
      const answer: ApiGroupFeedPage = { posts: page.posts.map(apiGroupPost), ...(page.next === undefined ? {} : { next: page.next }) }
      return { body: answer }
    }
  },
  {
    method: 'POST',
    path: '/api/groups/:group/posts',
    bodyLimit: { bytes: MAX_POST_BODY_BYTES, tooLarge: `A post's request is at most ${MAX_POST_BODY_BYTES / 1024} KiB: one image of at most 256 KiB (as base64) and ${MAX_POST_TEXT_CHARS} characters` },
    async handle ({ params, body, services, signal }) {
      const group = groupParam(params.group!)
      const input = groupPostInput(await body())
      return { body: apiGroupPost(await nodeCall(async () => await groupsOf(services.node).post(group, input, { signal }))) }
    }
  },
  {
    method: 'POST',
    path: '/api/groups/:group/posts/:postId/vote',
    async handle ({ params, body, services, signal }) {
      const group = groupParam(params.group!)
      const post = postId(params.postId!)
      const choice = choiceField(await body(), 'choice', ['up', 'down'] as const)
      return { body: apiTally(await nodeCall(async () => await groupsOf(services.node).votePost(group, post, choice, { signal }))) }
    }
  },
  {
    method: 'GET',
    path: '/api/groups/:group/posts/:postId/image',
    async handle ({ params, services }) {
      const group = groupParam(params.group!)
      const id = postId(params.postId!)
      // One store read by id (not a scan of the feed): every post the feed lists has its image here.
      const post = await nodeCall(async () => await groupsOf(services.node).getPost(group, id))
      if (post !== undefined) {
        if (post.image === undefined) throw new KomradeApiError('unknown_post', `The post ${id} has no image`)
        return imageAnswer(post.image, `post-${id}`)
      }
      throw new KomradeApiError('unknown_post', `The feed of "${group}" holds no post ${id}: it may have expired`)
    }
  }
]
