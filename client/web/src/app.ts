/**
 * The signed-in application: header with the navigation, the live-connection
 * state and sign-out; a main region where one screen at a time is mounted by
 * the hash route; warnings the node raises (split view, key change); and a
 * polite live region for messages arriving in conversations not on screen.
 */
import type { KomradeClient } from '../../api/client.js'
import type { ApiIdentity } from '../../api/types.js'
import { contactsScreen, verifyScreen } from './contacts.js'
import { conversationsScreen } from './conversations.js'
import { h, hiddenText, replaceChildren } from './dom.js'
import { feedScreen } from './feed.js'
import { displayName } from './format.js'
import { identityScreen } from './identity.js'
import { connectLiveEvents, type LiveEvents, type LiveState } from './live.js'
import { eventsScreen } from './events.js'
import { groupsScreen } from './groups.js'
import { forgetStoredPosition, pinsScreen } from './pins.js'
import { profileScreen } from './profile.js'
import { statusScreen } from './status.js'

/** What every screen gets. */
export interface AppContext {
  client: KomradeClient
  live: LiveEvents
  /** Says `text` to screen-reader users without moving focus. */
  announce(text: string): void
  /** This node's identity (fetched once per sign-in; the name is refreshed after registering). */
  identity(options?: { fresh?: boolean }): Promise<ApiIdentity>
  /** Unread incoming messages per contact id, since this page was opened. */
  readonly unread: Map<string, number>
  /** The conversation on screen, if any (its messages are not unread). */
  openConversation: string | undefined
  /** Re-draws the unread count in the navigation. */
  updateUnread(): void
}

/** A mounted screen. */
export interface Screen {
  /** For the document title. */
  readonly title: string
  readonly element: HTMLElement
  /** Where focus goes when the screen is opened (its heading, or the composer). */
  readonly focus?: HTMLElement
  /** Called when another screen replaces it: unsubscribe, stop timers. */
  dispose(): void
}

interface Route { readonly name: 'conversations' | 'feed' | 'groups' | 'events' | 'map' | 'contacts' | 'identity' | 'status' | 'profile', readonly param?: string }

const NAV: ReadonlyArray<{ name: Route['name'], href: string, label: string }> = [
  // Short labels: they fit two rows on a 360 px phone. Profiles are reached from the feed and the identity screen.
  { name: 'conversations', href: '#/conversations', label: 'Chats' },
  { name: 'feed', href: '#/feed', label: 'Feed' },
  { name: 'groups', href: '#/groups', label: 'Groups' },
  { name: 'events', href: '#/events', label: 'Events' },
  { name: 'map', href: '#/map', label: 'Map' },
  { name: 'contacts', href: '#/contacts', label: 'Contacts' },
  { name: 'identity', href: '#/identity', label: 'Identity' },
  { name: 'status', href: '#/status', label: 'Status' }
]

/** Screens without a place in the navigation; they light up the item named here. */
const OFF_NAV: ReadonlyArray<{ name: Route['name'], under: Route['name'] }> = [{ name: 'profile', under: 'feed' }]

const LIVE_LABELS: Readonly<Record<LiveState, string>> = {
  connecting: 'Connecting…',
  live: 'Live',
  offline: 'Offline: reconnecting'
}

function parseRoute (hash: string): Route {
  const [name = '', param] = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent) as [string?, string?]
  const wanted = name === '' ? 'conversations' : name
  const found = NAV.find((item) => item.name === wanted)?.name ?? OFF_NAV.find((item) => item.name === wanted)?.name ?? 'conversations'
  return param === undefined || param === '' ? { name: found } : { name: found, param }
}

function mountRoute (ctx: AppContext, route: Route): Screen {
  switch (route.name) {
    case 'contacts': return route.param === undefined ? contactsScreen(ctx) : verifyScreen(ctx, route.param)
    case 'identity': return identityScreen(ctx)
    case 'status': return statusScreen(ctx)
    case 'feed': return feedScreen(ctx, route.param)
    case 'groups': return groupsScreen(ctx, route.param)
    case 'events': return eventsScreen(ctx, route.param)
    case 'map': return pinsScreen(ctx)
    case 'profile': return profileScreen(ctx, route.param)
    default: return conversationsScreen(ctx, route.param)
  }
}

/** Options of {@link startApp}. */
export interface AppInit {
  client: KomradeClient
  root: HTMLElement
  /** The session ended (signed out here, or refused by the node). */
  onSignedOut(reason?: string): void
}

/** Renders the application into `root`; returns a function that tears it down. */
export function startApp (init: AppInit): () => void {
  const { client, root } = init
  const liveState = h('p', { class: 'live-state', 'data-state': 'connecting' }, LIVE_LABELS.connecting)
  const announcer = h('div', { class: 'visually-hidden', 'aria-live': 'polite', 'aria-atomic': 'true' })
  const warnings = h('div', { class: 'warnings' })
  const main = h('main', { id: 'main', tabindex: -1 })
  const unreadBadge = h('span', { class: 'badge', hidden: true })
  const navLinks = NAV.map((item) => h('a', { href: item.href, 'data-route': item.name }, item.label, item.name === 'conversations' ? unreadBadge : null))
  let stopped = false
  let screen: Screen | undefined
  let identityPromise: Promise<ApiIdentity> | undefined

  function stop (reason?: string): void {
    if (stopped) return
    stopped = true
    live.close()
    screen?.dispose()
    window.removeEventListener('hashchange', render)
    init.onSignedOut(reason)
  }

  const live = connectLiveEvents({
    client,
    onState: (state) => {
      liveState.textContent = LIVE_LABELS[state]
      liveState.dataset.state = state
    },
    onUnauthorized: () => { stop('Your session ended (the node restarted or you signed out elsewhere). Sign in again.') }
  })

  const ctx: AppContext = {
    client,
    live,
    announce (text) {
      // Emptied first so the same sentence twice is still read twice.
      announcer.textContent = ''
      setTimeout(() => { announcer.textContent = text }, 50)
    },
    async identity (options = {}) {
      if (identityPromise === undefined || options.fresh === true) {
        identityPromise = client.identity()
        identityPromise.catch(() => { identityPromise = undefined })
      }
      return await identityPromise
    },
    unread: new Map(),
    openConversation: undefined,
    updateUnread () {
      const total = [...ctx.unread.values()].reduce((sum, n) => sum + n, 0)
      unreadBadge.hidden = total === 0
      replaceChildren(unreadBadge, String(total), hiddenText(total === 1 ? ' unread message' : ' unread messages'))
    }
  }

  function addWarning (text: string): void {
    const item = h('div', { class: 'warning', role: 'alert' },
      h('p', null, text),
      h('button', { type: 'button', class: 'quiet', onclick: () => { item.remove() } }, 'Dismiss', hiddenText(' this warning')))
    warnings.append(item)
  }

  // Unread counts and announcements of messages for conversations not on screen, whatever screen is open.
  live.on('message', (event) => {
    const from = event.message.from
    if (from === ctx.openConversation && document.visibilityState === 'visible') return
    ctx.unread.set(from, (ctx.unread.get(from) ?? 0) + 1)
    ctx.updateUnread()
    if (from === ctx.openConversation) return // the conversation's own log is read out
    void client.contacts().then((contacts) => contacts.find((c) => c.id === from), () => undefined).then((contact) => {
      ctx.announce(`New message from ${contact === undefined ? 'a new contact' : displayName(contact)}: ${event.message.text}`)
    })
  })
  live.on('split-view', () => {
    addWarning('Warning: the Operator showed this node a different name log than it showed others (a split view). ' +
      'Names looked up now may not be the ones your contacts see; verify fingerprints in person. Details are on the Status screen.')
  })
  live.on('key-change', (event) => {
    addWarning(`The name ${event.name} moved to new keys, signed by its old keys. ` +
      'If you did not expect this, verify the new fingerprint with its owner before writing.')
  })

  function render (): void {
    if (location.hash.startsWith('#login=')) return // handled by main.ts before the app starts
    const route = parseRoute(location.hash)
    const first = screen === undefined
    screen?.dispose()
    ctx.openConversation = undefined
    screen = mountRoute(ctx, route)
    replaceChildren(main, screen.element)
    document.title = `${screen.title} · Komrade`
    const current = OFF_NAV.find((item) => item.name === route.name)?.under ?? route.name
    for (const link of navLinks) {
      if (link.dataset.route === current) link.setAttribute('aria-current', 'page')
      else link.removeAttribute('aria-current')
    }
    // Moving focus tells keyboard and screen-reader users the screen changed; not on the first load.
    if (!first) (screen.focus ?? main).focus()
  }

  const skipLink = h('a', {
    class: 'skip-link',
    href: '#main',
    onclick: (event: MouseEvent) => { event.preventDefault(); main.focus() } // the hash is the router's
  }, 'Skip to content')

  const signOut = h('button', {
    type: 'button',
    class: 'quiet',
    onclick: () => {
      // The reader's position stays in this browser only while they are signed in.
      forgetStoredPosition()
      client.logout().catch(() => {}).finally(() => { stop() })
    }
  }, 'Sign out')

  replaceChildren(root,
    skipLink,
    h('header', { class: 'top' },
      h('div', { class: 'brand' }, h('h1', null, 'Komrade'), liveState),
      h('nav', { 'aria-label': 'Main' }, h('ul', null, navLinks.map((link) => h('li', null, link)))),
      signOut),
    warnings,
    main,
    announcer)
  window.addEventListener('hashchange', render)
  render()
  return () => { stop() }
}
