/**
 * The live event stream of the node (WebSocket `/api/events`), shared by
 * every screen. The typed client's stream ends when the socket closes; this
 * reconnects with a growing pause, and screens reload on each `hello` (sent
 * first on every connection), so nothing missed while disconnected is lost.
 */
import type { KomradeClient } from '../../api/client.js'
import type { ApiEvent } from '../../api/types.js'
import { isUnauthorized } from './format.js'

/** Pause before the first reconnect; doubled after each failure up to the maximum. */
const RECONNECT_FIRST_MS = 500
const RECONNECT_MAX_MS = 10_000

/** The connection as the UI tells it. */
export type LiveState = 'connecting' | 'live' | 'offline'

type EventOf<T extends ApiEvent['type']> = Extract<ApiEvent, { type: T }>

/** Subscriptions to the node's events. */
export interface LiveEvents {
  /** Calls `listener` for each event of `type`; returns the unsubscribe function. */
  on<T extends ApiEvent['type']>(type: T, listener: (event: EventOf<T>) => void): () => void
  readonly state: LiveState
  /** Stops for good (sign-out). */
  close(): void
}

/** Options of {@link connectLiveEvents}. */
export interface LiveEventsInit {
  client: KomradeClient
  /** The connection changed (shown in the header). */
  onState(state: LiveState): void
  /** The session is gone (the daemon restarted, or signed out elsewhere): sign in again. */
  onUnauthorized(): void
}

/** Connects and keeps connected until `close()`. */
export function connectLiveEvents (init: LiveEventsInit): LiveEvents {
  const listeners = new Map<string, Set<(event: never) => void>>()
  const controller = new AbortController()
  let state: LiveState = 'connecting'

  function setState (next: LiveState): void {
    if (next === state) return
    state = next
    init.onState(next)
  }

  function dispatch (event: ApiEvent): void {
    for (const listener of listeners.get(event.type) ?? []) {
      try {
        (listener as (event: ApiEvent) => void)(event)
      } catch (error) {
        console.error('a live update failed', error) // one broken view must not stop the others
      }
    }
  }

  async function run (): Promise<void> {
    let pause = RECONNECT_FIRST_MS
    while (!controller.signal.aborted) {
      try {
        for await (const event of init.client.events({ signal: controller.signal })) {
          if (event.type === 'hello') {
            setState('live')
            pause = RECONNECT_FIRST_MS
          }
          dispatch(event)
        }
        // The stream ended: the daemon stopped, or its session store did. A plain request tells which.
        if (!controller.signal.aborted) await init.client.status()
      } catch (error) {
        // The client explains a socket that would not open with the answer to a plain request (401, no node...).
        if (isUnauthorized(error) && !controller.signal.aborted) {
          controller.abort()
          init.onUnauthorized()
          return
        }
      }
      if (controller.signal.aborted) return
      setState('offline')
      await new Promise((resolve) => setTimeout(resolve, pause))
      pause = Math.min(pause * 2, RECONNECT_MAX_MS)
      if (!controller.signal.aborted) setState('connecting')
    }
  }
  void run()

  return {
    on (type, listener) {
      let set = listeners.get(type)
      if (set === undefined) listeners.set(type, set = new Set())
      set.add(listener)
      return () => { set.delete(listener) }
    },
    get state () { return state },
    close () { controller.abort() }
  }
}
