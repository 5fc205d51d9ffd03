/**
 * Profiles (ours to set, everyone's to read, avatars as their bytes) and
 * the trusted circle: those who read our circle posts. Removing a member
 * rotates the circle's key, so they read nothing posted afterwards.
 */
import type { Profile, ProfileInput, SocialApi } from '../../../node/social/types.js'
import { KomradeApiError } from '../errors.js'
import {
  codePoints, MAX_AVATAR_BYTES, MAX_BIO_CHARS, MAX_DISPLAY_NAME_BYTES, MAX_DISPLAY_NAME_CHARS, MAX_PROFILES_PER_REQUEST, utf8Length
} from '../post-content.js'
import { contactId, integerParam, isContactId, MAX_PERSON_REFERENCE_LENGTH, stringField, type Route } from '../router.js'
import { apiCircleMember, apiProfile } from '../shapes.js'
import { audienceField, imageAnswer, imageField } from './posts.js'

function unknownProfile (author: string): KomradeApiError {
  return new KomradeApiError('unknown_profile', `No profile of ${author} has reached this node (it may be shown to their circle only, or not be set)`)
}

function profileTooLarge (what: string): KomradeApiError {
  return new KomradeApiError('profile_too_large', `A display name is at most ${MAX_DISPLAY_NAME_CHARS} characters (and ${MAX_DISPLAY_NAME_BYTES} bytes of UTF-8), a bio at most ${MAX_BIO_CHARS}, an avatar at most 32 KiB; ${what}`)
}

/** The checked input of PUT /api/profile. */
function profileInput (body: Record<string, unknown>): ProfileInput {
  const { displayName, bio } = body
  if (typeof displayName !== 'string' || displayName.trim() === '') {
    throw new KomradeApiError('bad_request', 'The field "displayName" is required and must be a non-empty string')
  }
  const name = displayName.trim()
  if (codePoints(name) > MAX_DISPLAY_NAME_CHARS) throw profileTooLarge(`this display name has ${codePoints(name)}: shorten it`)
  if (utf8Length(name) > MAX_DISPLAY_NAME_BYTES) throw profileTooLarge(`this display name takes ${utf8Length(name)} bytes (emoji take 4 each): shorten it`)
  if (bio !== undefined && typeof bio !== 'string') throw new KomradeApiError('bad_request', 'The field "bio" must be a string')
  if (bio !== undefined && codePoints(bio) > MAX_BIO_CHARS) throw profileTooLarge(`this bio has ${codePoints(bio)} characters: shorten it`)
  const avatar = body.avatar === undefined
    ? undefined
    : imageField(body.avatar, 'avatar', MAX_AVATAR_BYTES, (bytes) => profileTooLarge(`this avatar has ${bytes} bytes: shrink it (the web UI does it for you)`))
  return {
    displayName: name,
    ...(bio === undefined ? {} : { bio }),
    ...(avatar === undefined ? {} : { avatar }),
    audience: audienceField(body)
  }
}

/**
 * The profiles of the authors in `list` (comma-separated contact ids, at
 * most {@link MAX_PROFILES_PER_REQUEST}) that this node holds: what a client
 * needs for the posts on its screen, without reading every profile.
 */
async function namedProfiles (social: SocialApi, list: string): Promise<Profile[]> {
  const ids = list === '' ? [] : list.split(',')
  if (ids.length > MAX_PROFILES_PER_REQUEST) {
    throw new KomradeApiError('bad_request', `The query parameter "authors" names at most ${MAX_PROFILES_PER_REQUEST} contact ids, got ${ids.length}`)
  }
  const unique = [...new Set(ids.map((id) => contactId(id, 'authors')))]
  const found = await Promise.all(unique.map(async (author) => await social.profile(author)))
  return found.filter((profile): profile is Profile => profile !== undefined)
}

export const profileRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/profile',
    async handle ({ services }) {
      const profile = await services.node.social.profile()
      if (profile === undefined) {
        throw new KomradeApiError('unknown_profile', 'You have not set a profile yet; set one with PUT /api/profile (`komrade profile set --display-name NAME`)')
      }
      return { body: apiProfile(profile) }
    }
  },
  {
    method: 'PUT',
    path: '/api/profile',
    async handle ({ body, services, signal }) {
      return { body: apiProfile(await services.node.social.setProfile(profileInput(await body()), { signal })) }
    }
  },
  {
    method: 'GET',
    path: '/api/profiles',
    async handle ({ query, services }) {
      const authors = query.get('authors')
      if (authors !== null) return { body: (await namedProfiles(services.node.social, authors)).map(apiProfile) }
      // The listing, by author id, a page at a time: `after` is the last author of the previous page.
      const limit = integerParam(query, 'limit', 1, MAX_PROFILES_PER_REQUEST) ?? MAX_PROFILES_PER_REQUEST
      const after = query.get('after')
      const from = after === null ? undefined : contactId(after, 'after')
      const all = (await services.node.social.profiles()).sort((a, b) => a.author < b.author ? -1 : a.author > b.author ? 1 : 0)
      const start = from === undefined ? 0 : all.findIndex((p) => p.author > from)
      return { body: (start < 0 ? [] : all.slice(start, start + limit)).map(apiProfile) }
    }
  },
  {
    method: 'GET',
    path: '/api/profiles/:author',
    async handle ({ params, services }) {
      const author = contactId(params.author!, 'author')
      const profile = await services.node.social.profile(author)
      if (profile === undefined) throw unknownProfile(author)
      return { body: apiProfile(profile) }
    }
  },
  {
    method: 'GET',
    path: '/api/profiles/:author/avatar',
    async handle ({ params, services }) {
      const author = contactId(params.author!, 'author')
      const profile = await services.node.social.profile(author)
      if (profile === undefined) throw unknownProfile(author)
      if (profile.avatar === undefined) throw new KomradeApiError('unknown_profile', `The profile of ${author} has no avatar`)
      return imageAnswer(profile.avatar, `avatar-${author.slice(0, 16)}`)
    }
  }
]

export const circleRoutes: Route[] = [
  { method: 'GET', path: '/api/circle', handle: async ({ services }) => ({ body: (await services.node.social.circle.list()).map(apiCircleMember) }) },
  {
    method: 'POST',
    path: '/api/circle',
    async handle ({ body, services, signal }) {
      let contact = stringField(await body(), 'contact', MAX_PERSON_REFERENCE_LENGTH)
      // A contact id is given as the contact's identity: the node adds by name, invite or identity.
      if (isContactId(contact)) {
        const known = services.node.contacts.list().find((c) => c.id === contact.toLowerCase())
        if (known === undefined) throw new KomradeApiError('unknown_contact', `There is no contact with id ${contact}; add them by name or invite code instead`)
        contact = known.identity
      }
      return { body: apiCircleMember(await services.node.social.circle.add(contact, { signal })) }
    }
  },
  {
    method: 'DELETE',
    path: '/api/circle/:id',
    async handle ({ params, services }) {
      const id = contactId(params.id!, 'id')
      if (!(await services.node.social.circle.remove(id))) {
        throw new KomradeApiError('unknown_member', `There is no member with id ${id} in your circle; list them with GET /api/circle (\`komrade circle list\`)`)
      }
      return { status: 204 }
    }
  }
]
