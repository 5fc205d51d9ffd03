/**
 * The feed: World and Home tabs, newest first, older pages on request, and
 * live updates from the node's `post` events. A new post goes in at the top
 * when the reader is there; a reader scrolled down into older posts gets a
 * banner instead ("3 new posts"), so what they are reading never moves.
 */
import type { ApiFeedName, ApiPost, ApiProfile } from '../../api/types.js'
import type { AppContext, Screen } from './app.js'
import { composer } from './composer.js'
import { h, replaceChildren, uniqueId } from './dom.js'
import { errorSentence } from './format.js'
import { personName, postElement } from './post-view.js'

/** Posts per page. */
const PAGE_SIZE = 20
/** How close to the top of the scrolling area (px) still counts as "at the newest posts". */
const AT_TOP_PX = 120

const TABS: ReadonlyArray<{ feed: ApiFeedName, label: string, empty: string }> = [
  { feed: 'world', label: 'World', empty: 'No posts to the world yet. Posts to the world need a registered name (Identity screen).' },
  { feed: 'home', label: 'Home', empty: 'Nothing here yet: your own posts, and circle posts of people who added you to their circle, appear here.' }
]

/** True when a live post belongs to `feed` (the API's rule: SPEC §14). */
function inFeed (post: ApiPost, feed: ApiFeedName): boolean {
  return feed === 'world' ? post.audience === 'world' : post.audience === 'circle' || post.mine
}

/** The feed screen; `param` picks the tab (`world` by default). */
export function feedScreen (ctx: AppContext, param?: string): Screen {
  const feed: ApiFeedName = param === 'home' ? 'home' : 'world'
  const disposers: Array<() => void> = []
  const heading = h('h2', { tabindex: -1 }, 'Feed')
  const profiles = new Map<string, ApiProfile>()
  const shown = new Map<string, { post: ApiPost, item: HTMLLIElement }>()
  const waiting: ApiPost[] = []

  const tabIds = new Map(TABS.map((tab) => [tab.feed, uniqueId(`tab-${tab.feed}`)]))
  const panelId = uniqueId('feed-panel')
  const tabs = TABS.map((tab) => h('a', {
    role: 'tab',
    id: tabIds.get(tab.feed)!,
    href: `#/feed/${tab.feed}`,
    class: 'tab',
    'aria-selected': String(tab.feed === feed),
    'aria-controls': panelId,
    tabindex: tab.feed === feed ? 0 : -1
  }, tab.label))
  const tablist = h('div', { role: 'tablist', 'aria-label': 'Feeds', class: 'tabs' }, tabs)
  // Arrow keys move between the tabs (the ARIA tabs pattern); Enter follows the link.
  tablist.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return
    const index = tabs.indexOf(document.activeElement as HTMLAnchorElement)
    if (index < 0) return
    event.preventDefault()
    tabs[(index + (event.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]!.focus()
  })

  const list = h('ol', { class: 'posts', 'aria-labelledby': tabIds.get(feed)! })
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const banner = h('button', { type: 'button', class: 'new-posts', hidden: true, onclick: () => { showWaiting(true) } })
  const olderButton = h('button', { type: 'button', class: 'quiet', hidden: true, onclick: () => { void loadOlder() } }, 'Load older posts')
  // The banner floats over the posts (a holder of no height, sticky at the top): showing it moves nothing.
  const panel = h('section', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabIds.get(feed)!, class: 'feed-panel' },
    h('div', { class: 'new-posts-holder' }, banner), status, errorBox, list, olderButton)
  let next: string | undefined
  let loading = false

  const write = composer(ctx, (post) => {
    // Our own post is news to us only where it belongs; it goes in at the top even when scrolled (we just wrote it).
    if (inFeed(post, feed)) insertNewest(post, true)
  })
  disposers.push(write.dispose)

  function profileOf (author: string): ApiProfile | undefined {
    return profiles.get(author)
  }

  function render (post: ApiPost): HTMLLIElement {
    const item = h('li', { 'data-id': post.id, 'data-sent': post.sentAt }, postElement(post, profileOf(post.author)))
    shown.set(post.id, { post, item })
    return item
  }

  /** Newest first, ties by id (the API's order). */
  function newer (a: ApiPost, b: ApiPost): boolean {
    return a.sentAt > b.sentAt || (a.sentAt === b.sentAt && a.id > b.id)
  }

  function placeInOrder (post: ApiPost): void {
    const item = render(post)
    const before = [...list.children].find((child) => {
      const other = shown.get((child as HTMLElement).dataset.id ?? '')?.post
      return other !== undefined && newer(post, other)
    })
    if (before === undefined) list.append(item)
    else before.before(item)
  }

  function scroller (): HTMLElement | null {
    return panel.closest('main')
  }

  function updateStatus (): void {
    status.hidden = shown.size > 0
    status.textContent = shown.size > 0 ? '' : TABS.find((tab) => tab.feed === feed)!.empty
  }

  /** A post that came live: at the top when the reader is there (or wrote it), else behind the banner; said to screen readers either way. */
  function insertNewest (post: ApiPost, force = false): void {
    if (shown.has(post.id) || waiting.some((p) => p.id === post.id)) return
    const main = scroller()
    const atTop = main === null || main.scrollTop - (panel.offsetTop - main.offsetTop) < AT_TOP_PX
    const who = post.mine ? 'you' : personName(post.author, post.authorName, profileOf(post.author))
    if (force || atTop || shown.size === 0) {
      placeInOrder(post)
      updateStatus()
      if (!post.mine) ctx.announce(`New post by ${who}.`)
      return
    }
    waiting.push(post)
    banner.textContent = waiting.length === 1 ? 'Show 1 new post' : `Show ${waiting.length} new posts`
    banner.hidden = false
    ctx.announce(`New post by ${who}; the button at the top of the feed shows it.`)
  }

  function showWaiting (focus: boolean): void {
    for (const post of waiting.splice(0)) placeInOrder(post)
    banner.hidden = true
    updateStatus()
    if (focus) {
      list.querySelector<HTMLElement>('article')?.setAttribute('tabindex', '-1')
      list.querySelector<HTMLElement>('article')?.focus()
    }
  }

  async function loadProfiles (): Promise<void> {
    try {
      for (const profile of await ctx.client.profiles()) profiles.set(profile.author, profile)
    } catch {} // names fall back to registered names; the feed itself still loads
  }

  /** The first page; after a reconnection, merges in what was missed. */
  async function load (): Promise<void> {
    try {
      const [page] = await Promise.all([ctx.client.feed(feed, { limit: PAGE_SIZE }), loadProfiles()])
      const first = shown.size === 0
      if (first) {
        for (const post of page.posts) placeInOrder(post)
        next = page.next
        olderButton.hidden = next === undefined
      } else {
        for (const post of [...page.posts].reverse()) if (!shown.has(post.id)) insertNewest(post)
      }
      updateStatus()
    } catch (error) {
      status.hidden = true
      errorBox.textContent = errorSentence(error)
    }
  }

  async function loadOlder (): Promise<void> {
    if (next === undefined || loading) return
    loading = true
    olderButton.disabled = true
    try {
      const page = await ctx.client.feed(feed, { limit: PAGE_SIZE, before: next })
      // Older posts go below: nothing above the reader moves.
      for (const post of page.posts) if (!shown.has(post.id)) placeInOrder(post)
      next = page.next
      olderButton.hidden = next === undefined
      ctx.announce(page.posts.length === 0 ? 'No older posts.' : `${page.posts.length} older posts loaded.`)
    } catch (error) {
      errorBox.textContent = errorSentence(error)
    } finally {
      loading = false
      olderButton.disabled = false
    }
  }

  disposers.push(ctx.live.on('post', (event) => {
    if (inFeed(event.post, feed)) insertNewest(event.post)
  }))
  disposers.push(ctx.live.on('profile', (event) => {
    profiles.set(event.profile.author, event.profile)
    // The author's name and avatar change on every post of theirs on screen.
    for (const { post, item } of shown.values()) {
      if (post.author === event.profile.author) replaceChildren(item, postElement(post, event.profile))
    }
  }))
  disposers.push(ctx.live.on('hello', () => { void load() }))
  void load()

  const profileLink = h('a', { href: '#/profile', class: 'small' }, 'Your profile')
  return {
    title: feed === 'world' ? 'World feed' : 'Home feed',
    element: h('section', { class: 'pane page feed' },
      h('div', { class: 'feed-head' }, heading, profileLink),
      write.element, tablist, panel),
    focus: heading,
    dispose () { for (const dispose of disposers) dispose() }
  }
}
