/** `social.posts()`: live posts as the feeds gain them, from the node's `post` events. */
import { liveEvents } from '../live-events.js'
import type { FeedName, Post } from './types.js'

/** Live posts dispatched on `events` (of `feed`, or all), until `signal` aborts or `events` dispatches `stop`. */
export function livePosts (events: EventTarget, options: { signal?: AbortSignal, feed?: FeedName } = {}): AsyncIterableIterator<Post> {
  const { feed } = options
  if (feed !== undefined && feed !== 'world' && feed !== 'home') {
    throw new RangeError(`"feed" expected 'world' or 'home', got ${JSON.stringify(feed)}`)
  }
  const inFeed = (post: Post): boolean => feed === undefined ||
    (feed === 'world' ? post.audience === 'world' : post.audience === 'circle' || post.mine)
  return liveEvents<Post>(events, 'post', { accept: inFeed, ...(options.signal === undefined ? {} : { signal: options.signal }) })
}
