/**
 * A post as the feed and a profile show it: its author (avatar, display
 * name, and the registered name the Operator verified, which is the one to
 * trust), its time and audience, its text, and its image loaded from the
 * image route, and the coarse area it was written in, with its distance
 * from the reader when their position is kept in this browser (computed
 * here). Everything from the network goes in as text nodes or as an
 * image URL of our own origin: a post cannot inject markup.
 */
import type { ApiPost, ApiProfile } from '../../api/types.js'
import { imageSizeLabel, imageTypeWord } from '../../api/post-content.js'
import { h, hiddenText, uniqueId } from './dom.js'
import { longTime, shortTime } from './format.js'
import type { LatLon } from './map-geometry.js'
import { placeText } from './position.js'

/** The URL of a post's image (the session cookie authorises it: same origin). */
export function postImageUrl (id: string): string {
  return `/api/posts/${encodeURIComponent(id)}/image`
}

/** The URL of an avatar; `version` (the profile's time) names each avatar apart (image answers are never cached: `no-store`). */
export function avatarUrl (author: string, version: number): string {
  return `/api/profiles/${encodeURIComponent(author)}/avatar?v=${version}`
}

/**
 * How a person is called: their display name, else their registered name,
 * else the start of their id. A display name may be empty or blank (the
 * protocol allows it): that is no name, and a link needs text.
 */
export function personName (author: string, authorName: string | undefined, profile: ApiProfile | undefined): string {
  const chosen = profile?.displayName.trim()
  if (chosen !== undefined && chosen !== '') return chosen
  return authorName ?? `Someone ${author.slice(0, 8)}`
}

/**
 * Text chosen by someone else (a display name, a bio), isolated from the
 * text around it: bidi controls in it (an unterminated U+202E) cannot
 * reorder what follows, such as the verified registered name.
 */
export function isolated (text: string): HTMLElement {
  return h('bdi', null, text)
}

/** An avatar image, or a letter in a circle when there is none (decoration: the name is beside it). */
export function avatarElement (author: string, profile: ApiProfile | undefined, name: string): HTMLElement {
  if (profile?.hasAvatar === true) {
    return h('img', { class: 'avatar', src: avatarUrl(author, profile.updatedAt), alt: '', width: 40, height: 40, loading: 'lazy', decoding: 'async' })
  }
  return h('span', { class: 'avatar avatar-letter', 'aria-hidden': 'true' }, [...name][0]?.toUpperCase() ?? '?')
}

/** Days, hours or minutes until `at`, in words. */
export function timeLeft (at: number, now = Date.now()): string {
  const minutes = Math.max(0, Math.round((at - now) / 60_000))
  if (minutes >= 36 * 60) return `${Math.round(minutes / (24 * 60))} days left`
  if (minutes >= 90) return `${Math.round(minutes / 60)} hours left`
  return minutes === 1 ? '1 minute left' : `${minutes} minutes left`
}

/** A post's area as the meta line shows it: "≈ 5 km area, 3.2 km from you" (the geohash in its title). */
export function postPlaceElement (place: LatLon & { geohash: string, errKm: number }, from: LatLon | undefined): HTMLElement {
  return h('span', { class: 'post-place', title: `Written in the area ${place.geohash} (its centre ${place.lat.toFixed(3)}, ${place.lon.toFixed(3)})` },
    hiddenText('Place: '), placeText(place, from))
}

/** One post as an `<article>` (in a feed list item); `from`, the reader's position, adds the distance to a post's area. */
export function postElement (post: ApiPost, profile: ApiProfile | undefined, from?: LatLon): HTMLElement {
  const name = post.mine ? 'You' : personName(post.author, post.authorName, profile)
  const heading = h('h3', { id: uniqueId('post'), class: 'post-author' },
    post.mine ? 'You' : h('a', { href: `#/profile/${encodeURIComponent(post.author)}` }, isolated(name)),
    // The registered name is the verified one: shown apart from a display name anyone could choose (each isolated: see isolated()).
    post.authorName !== undefined && post.authorName !== name ? h('span', { class: 'verified-name' }, hiddenText(', registered name '), '@', isolated(post.authorName)) : null)
  const audience = post.audience === 'world' ? 'World' : 'Circle'
  const alt = `Picture posted by ${name}${post.image === undefined ? '' : ` (${imageTypeWord(post.image.mime).toUpperCase()}, ${imageSizeLabel(post.image.size)})`}`
  return h('article', { class: 'post', 'data-id': post.id, 'aria-labelledby': heading.id },
    h('header', { class: 'post-head' },
      avatarElement(post.author, profile, name),
      h('div', { class: 'post-who' },
        heading,
        h('p', { class: 'post-meta' },
          h('time', { datetime: new Date(post.sentAt).toISOString(), title: longTime(post.sentAt) }, shortTime(post.sentAt)),
          ' · ', h('span', { class: `audience audience-${post.audience}` }, hiddenText('To: '), audience),
          post.location === undefined ? null : [' · ', postPlaceElement(post.location, from)],
          ' · ', h('span', { title: `Until ${longTime(post.expiresAt)}` }, timeLeft(post.expiresAt))))),
    post.text === '' ? null : h('p', { class: 'post-text', dir: 'auto' }, post.text),
    post.hasImage ? h('img', { class: 'post-image', src: postImageUrl(post.id), alt, loading: 'lazy', decoding: 'async' }) : null)
}
