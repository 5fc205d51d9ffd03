/** `social.posts()`: live posts as the feeds gain them, from the node's `post` events. */
import type { FeedName, Post } from './types.js'

/** Live posts dispatched on `events` (of `feed`, or all), until `signal` aborts or `events` dispatches `stop`. */
export function livePosts (events: EventTarget, options: { signal?: AbortSignal, feed?: FeedName } = {}): AsyncIterableIterator<Post> {
  if (options.feed !== undefined && options.feed !== 'world' && options.feed !== 'home') {
    throw new RangeError(`"feed" expected 'world' or 'home', got ${JSON.stringify(options.feed)}`)
  }
  const queue: Post[] = []
  let wake: (() => void) | undefined
  let done = false
  const inFeed = (post: Post): boolean => options.feed === undefined ||
    (options.feed === 'world' ? post.audience === 'world' : post.audience === 'circle' || post.mine)
  const onPost = (event: Event): void => {
    const post = (event as CustomEvent<Post>).detail
    if (inFeed(post)) { queue.push(post); wake?.() }
  }
  const finish = (): void => { done = true; wake?.() }
  events.addEventListener('post', onPost)
  events.addEventListener('stop', finish)
  options.signal?.addEventListener('abort', finish)
  const cleanup = (): void => {
    events.removeEventListener('post', onPost)
    events.removeEventListener('stop', finish)
    options.signal?.removeEventListener('abort', finish)
  }
  const iterator: AsyncIterableIterator<Post> = {
    async next () {
      while (queue.length === 0 && !done) await new Promise<void>((resolve) => { wake = resolve })
      wake = undefined
      const value = queue.shift()
      if (value !== undefined) return { value, done: false }
      cleanup()
      return { value: undefined, done: true }
    },
    async return () {
      cleanup()
      done = true
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator] () { return iterator }
  }
  return iterator
}
