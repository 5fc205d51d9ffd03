/**
 * Posts and feeds: posting (text, an image as base64, the audience, the
 * lifetime, a coarse place), the world and home feeds page by page, one post, and a post's
 * image as its bytes. Images are never inlined in JSON answers or events:
 * a feed page stays small, and the image route sends them under a policy
 * that lets nothing in them run.
 */
import { DEFAULT_FEED_PAGE, MAX_FEED_PAGE } from '../../../node/node-constants.js'
import type { PostImage, PostInput, PostLocationInput } from '../../../node/social/types.js'
import { DEFAULT_POST_PRECISION, MAX_POST_GEOHASH } from '../collectives-content.js'
import { KomradeApiError } from '../errors.js'
import { IMAGE_SECURITY_POLICY } from '../http-io.js'
import {
  codePoints, fromBase64, imageTypeOf, imageTypeWord, isImageType, MAX_POST_DAYS, MAX_POST_IMAGE_BYTES, MAX_POST_TEXT_CHARS,
  MAX_POST_TTL_MINUTES, MIN_POST_DAYS
} from '../post-content.js'
import { integerParam, type Route, type RouteResult } from '../router.js'
import { latLonFields } from './collectives-input.js'
import { apiPost } from '../shapes.js'
import type { ApiFeedPage } from '../types.js'

/** Longest `before` cursor accepted: the node's are far shorter; anything longer is not one of them. */
const MAX_CURSOR_LENGTH = 512

/**
 * Body limit of POST /api/posts: the image in base64 (4/3 of 256 KiB =
 * 349,528 characters), 1,000 characters of text even when every one is
 * JSON-escaped as a surrogate pair (12 bytes each), and room for the rest.
 */
export const MAX_POST_BODY_BYTES = 512 * 1024

/**
 * A post id: opaque to clients, 96 hex characters (the node makes it of the
 * 16-byte message id and the author's 32-byte id: message ids are the
 * author's choice, so two authors may pick the same one).
 */
export function postId (value: string): string {
  if (!/^[0-9a-fA-F]{96}$/.test(value)) throw new KomradeApiError('bad_request', `"id" expected a post id: 96 hex characters, got ${JSON.stringify(value.slice(0, 100))}`)
  return value.toLowerCase()
}

function unknownPost (id: string): KomradeApiError {
  return new KomradeApiError('unknown_post', `No feed holds a post with id ${id}: it may have expired, or not have arrived whole yet`)
}

/**
 * An image in a request body, `{ mime, data }` with data in base64: the
 * declared type must be one the network carries and match the bytes' own
 * signature (a PNG called a JPEG is refused, so a reader's browser never
 * gets bytes under a type they are not).
 */
export function imageField (value: unknown, field: string, maxBytes: number, tooLarge: (bytes: number) => KomradeApiError): PostImage {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new KomradeApiError('bad_request', `The field "${field}" must be an object { "mime": "image/jpeg", "data": "<base64>" }`)
  }
  const { mime, data } = value as Record<string, unknown>
  if (!isImageType(mime)) throw new KomradeApiError('bad_image', `"${field}.mime" must be image/jpeg, image/png, image/webp or image/gif, got ${JSON.stringify(mime)}`)
  if (typeof data !== 'string') throw new KomradeApiError('bad_request', `The field "${field}.data" must be the image's bytes in base64`)
  // Measured before decoding: base64 is 4 characters per 3 bytes.
  if (data.length > Math.ceil(maxBytes / 3) * 4) throw tooLarge(Math.floor(data.length / 4) * 3)
  const bytes = fromBase64(data)
  if (bytes === undefined) throw new KomradeApiError('bad_request', `The field "${field}.data" is not standard padded base64`)
  if (bytes.byteLength > maxBytes) throw tooLarge(bytes.byteLength)
  const actual = imageTypeOf(bytes)
  if (actual !== mime) {
    throw new KomradeApiError('bad_image', actual === undefined
      ? `The bytes of "${field}" are not a JPEG, PNG, WebP or GIF image`
      : `The bytes of "${field}" are a ${imageTypeWord(actual)} image, not ${mime}; send it as ${actual}`)
  }
  return { mime, bytes }
}

/** An optional integer field within [min, max]. */
function integerField (body: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = body[name]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new KomradeApiError('bad_request', `The field "${name}" must be a whole number from ${min} to ${max}`)
  }
  return value
}

/** The audience field: `world` (the default) or `circle`. */
export function audienceField (body: Record<string, unknown>): 'world' | 'circle' {
  const value = body.audience ?? 'world'
  if (value !== 'world' && value !== 'circle') throw new KomradeApiError('bad_request', 'The field "audience" must be "world" or "circle"')
  return value
}

function postTooLarge (what: string): KomradeApiError {
  return new KomradeApiError('post_too_large', `A post holds at most ${MAX_POST_TEXT_CHARS} characters of text and one image of at most 256 KiB (${MAX_POST_IMAGE_BYTES} bytes); ${what}`)
}

/**
 * The optional place of a post: `{ lat, lon, precision? }`, the point the
 * node cuts to a geohash of `precision` characters (1 to 6, default 5)
 * before it seals the post. The point itself goes no further than the node.
 */
function postLocationField (body: Record<string, unknown>): PostLocationInput | undefined {
  const value = body.location
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new KomradeApiError('bad_request', 'The field "location" must be { "lat": degrees, "lon": degrees, "precision"?: 1 to 6 }')
  }
  const point = latLonFields(value as Record<string, unknown>, 'location.')
  const precision = (value as Record<string, unknown>).precision ?? DEFAULT_POST_PRECISION
  if (typeof precision !== 'number' || !Number.isSafeInteger(precision) || precision < 1 || precision > MAX_POST_GEOHASH) {
    throw new KomradeApiError('bad_request', `The field "location.precision" must be a whole number from 1 to ${MAX_POST_GEOHASH} (geohash characters; ${DEFAULT_POST_PRECISION} is an area of about 5 km)`)
  }
  return { ...point, precision }
}

/** The checked input of POST /api/posts. */
function postInput (body: Record<string, unknown>): PostInput {
  const { text } = body
  if (text !== undefined && typeof text !== 'string') throw new KomradeApiError('bad_request', 'The field "text" must be a string')
  if (text !== undefined && codePoints(text) > MAX_POST_TEXT_CHARS) throw postTooLarge(`this text has ${codePoints(text)} characters: shorten it`)
  const image = body.image === undefined
    ? undefined
    : imageField(body.image, 'image', MAX_POST_IMAGE_BYTES, (bytes) => postTooLarge(`this image has ${bytes} bytes: shrink it (the web UI does it for you)`))
  if ((text === undefined || text.trim() === '') && image === undefined) {
    throw new KomradeApiError('bad_request', 'A post needs some text, an image, or both')
  }
  const days = integerField(body, 'days', MIN_POST_DAYS, MAX_POST_DAYS)
  const ttlMinutes = integerField(body, 'ttlMinutes', 1, MAX_POST_TTL_MINUTES)
  if (days !== undefined && ttlMinutes !== undefined) throw new KomradeApiError('bad_request', 'Give the lifetime as "days" or as "ttlMinutes", not both')
  const location = postLocationField(body)
  return {
    ...(text === undefined || text === '' ? {} : { text }),
    ...(image === undefined ? {} : { image }),
    audience: audienceField(body),
    ...(days === undefined ? {} : { days }),
    ...(ttlMinutes === undefined ? {} : { ttlMinutes }),
    ...(location === undefined ? {} : { location })
  }
}

/** The bytes of an image under the policy of untrusted content. */
export function imageAnswer (image: PostImage, filename: string): RouteResult {
  const known = isImageType(image.mime)
  return {
    // A type the network should never have carried is sent as bytes to download, never as something to render.
    bytes: { data: image.bytes, contentType: known ? image.mime : 'application/octet-stream' },
    headers: {
      'content-security-policy': IMAGE_SECURITY_POLICY,
      'content-disposition': `${known ? 'inline' : 'attachment'}; filename="${filename}.${known ? imageTypeWord(image.mime) : 'bin'}"`,
      // Only this origin's pages may embed it (the session cookie already keeps other sites from fetching it).
      'cross-origin-resource-policy': 'same-origin'
    }
  }
}

export const postRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/posts',
    bodyLimit: {
      bytes: MAX_POST_BODY_BYTES,
      tooLarge: `A post's request is at most ${MAX_POST_BODY_BYTES / 1024} KiB: one image of at most 256 KiB (as base64) and ${MAX_POST_TEXT_CHARS} characters; shrink the picture`
    },
    async handle ({ body, services, signal }) {
      const input = postInput(await body())
      return { body: apiPost(await services.node.social.post(input, { signal })) }
    }
  },
  {
    method: 'GET',
    path: '/api/feed/:feed',
    async handle ({ params, query, services }) {
      const feed = params.feed
      if (feed !== 'world' && feed !== 'home') {
        throw new KomradeApiError('not_found', `There is no feed ${JSON.stringify(feed)}: the feeds are /api/feed/world and /api/feed/home`)
      }
      const limit = integerParam(query, 'limit', 1, MAX_FEED_PAGE) ?? DEFAULT_FEED_PAGE
      const before = query.get('before') ?? undefined
      if (before !== undefined && (before === '' || before.length > MAX_CURSOR_LENGTH)) {
        throw new KomradeApiError('bad_request', 'The query parameter "before" must be the "next" cursor of a previous page')
      }
      const page = await services.node.social.feed(feed, { limit, ...(before === undefined ? {} : { before }) }).catch((error: unknown) => {
        // The node checks the cursor: one that is not a `next` it gave is a RangeError, the caller's mistake.
        throw error instanceof RangeError ? new KomradeApiError('bad_request', 'The query parameter "before" must be the "next" cursor of a previous page of this feed') : error
      })
      const answer: ApiFeedPage = { posts: page.posts.map(apiPost), ...(page.next === undefined ? {} : { next: page.next }) }
      return { body: answer }
    }
  },
  {
    method: 'GET',
    path: '/api/posts/:id',
    async handle ({ params, services }) {
      const id = postId(params.id!)
      const post = await services.node.social.getPost(id)
      if (post === undefined) throw unknownPost(id)
      return { body: apiPost(post) }
    }
  },
  {
    method: 'GET',
    path: '/api/posts/:id/image',
    async handle ({ params, services }) {
      const id = postId(params.id!)
      const post = await services.node.social.getPost(id)
      if (post === undefined) throw unknownPost(id)
      if (post.image === undefined) throw new KomradeApiError('unknown_post', `The post ${id} has no image`)
      return imageAnswer(post.image, `post-${id}`)
    }
  }
]
