/**
 * Live iterators over the node's events (`messages()`, `social.posts()`):
 * the details of every `type` event that `accept` takes, in order, until
 * `signal` aborts or the node dispatches `stop`. Events that come while the
 * consumer is busy wait in a queue.
 */
export function liveEvents<T> (events: EventTarget, type: string, options: { signal?: AbortSignal, accept?: (detail: T) => boolean } = {}): AsyncIterableIterator<T> {
  const queue: T[] = []
  let wake: (() => void) | undefined
  let done = false
  const onEvent = (event: Event): void => {
    const detail = (event as CustomEvent<T>).detail
    if (options.accept === undefined || options.accept(detail)) { queue.push(detail); wake?.() }
  }
  const finish = (): void => { done = true; wake?.() }
  events.addEventListener(type, onEvent)
  events.addEventListener('stop', finish)
  options.signal?.addEventListener('abort', finish)
  const cleanup = (): void => {
    events.removeEventListener(type, onEvent)
    events.removeEventListener('stop', finish)
    options.signal?.removeEventListener('abort', finish)
  }
  const iterator: AsyncIterableIterator<T> = {
    async next () {
      while (queue.length === 0 && !done) await new Promise<void>((resolve) => { wake = resolve })
      wake = undefined
      if (queue.length > 0) return { value: queue.shift() as T, done: false }
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
