/**
 * The feed: World and Home tabs, newest first, older pages on request, and
 * live updates from the node's `post` events. A new post goes in at the top
 * when the reader is there; a reader scrolled down into older posts gets a
 * banner instead ("3 new posts"), so what they are reading never moves.
 * After a reconnection the posts missed meanwhile are fetched page by page
 * until the ones already shown; expired posts leave the screen. Names come
 * from the profiles of the authors on screen only.
 *
 * "Near me: within R km" hides, in this browser, the posts whose area's
 * centre is further than R km from the reader's position (position.ts),
 * and those that carry no area. The node is asked for the feed as it is:
 * the position is sent to no one.
 */
import { MAX_PROFILES_PER_REQUEST } from '../../api/post-content.js'
import type { ApiFeedName, ApiFeedPage, ApiPost, ApiProfile } from '../../api/types.js'
import type { AppContext, Screen } from './app.js'
import { composer } from './composer.js'
import { h, replaceChildren, uniqueId } from './dom.js'
import { errorSentence } from './format.js'
import { distanceKm, type LatLon } from './map-geometry.js'
import { nearFilterControl, onPositionChange, storedPosition, type NearFilterState } from './position.js'
import { personName, postElement } from './post-view.js'

/** Posts per page. */
const PAGE_SIZE = 20
/** How close to the top of the scrolling area (px) still counts as "at the newest posts". */
const AT_TOP_PX = 120
/**
 * Pages fetched after a reconnection to reach the posts already shown. A
 * longer gap (the node kept posting for hours) starts the feed afresh
 * instead: older pages then reach everything.
 */
const MAX_GAP_PAGES = 10
/** How often posts past their expiry leave the screen. */
const EXPIRY_CHECK_MS = 30_000

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
  /** The reader's position, kept in this browser (position.ts): posts show their distance from it. */
  let position: LatLon | undefined = storedPosition()
  const filterCount = h('p', { class: 'hint near-count', role: 'status' })
  const near = nearFilterControl('posts', () => { applyFilter(true) })
  disposers.push(near.dispose)
  disposers.push(onPositionChange((kept) => {
    position = kept
    for (const { post, item } of shown.values()) replaceChildren(item, postElement(post, profiles.get(post.author), position))
  }))

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
  const errorBox = h('p', { class: 'error feed-error', role: 'alert' })
  const banner = h('button', { type: 'button', class: 'new-posts', hidden: true, onclick: () => { showWaiting(true) } })
  const olderButton = h('button', { type: 'button', class: 'quiet', hidden: true, onclick: () => { void loadOlder() } }, 'Load older posts')
  // The banner floats over the posts (a holder of no height, sticky at the top): showing it moves nothing.
  const panel = h('section', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabIds.get(feed)!, class: 'feed-panel' },
    h('div', { class: 'new-posts-holder' }, banner), near.element, filterCount, status, errorBox, list, olderButton)
  let next: string | undefined
  /** The first page has been shown: later loads (after a reconnection) merge in what was missed. */
  let loadedFirst = false
  let loading = false
  /** Authors whose profile was asked for (found or not): each asked once; `profile` events bring newer ones. */
  const asked = new Set<string>()

  /** Whether a post passes the "Near me" filter (all do when it is off). */
  function passes (post: ApiPost, state: NearFilterState = near.current()): boolean {
    if (state === undefined) return true
    return post.location !== undefined && distanceKm(state.point, post.location) <= state.km
  }

  /** Hides the posts the filter leaves out and says how many are shown; `changed`: the reader changed the filter. */
  function applyFilter (changed = false): void {
    const state = near.current()
    let visible = 0
    for (const { post, item } of shown.values()) {
      const keep = passes(post, state)
      if (!keep && item.contains(document.activeElement)) heading.focus()
      item.hidden = !keep
      if (keep) visible += 1
    }
    const text = state === undefined || shown.size === 0
      ? ''
      : visible === 0
        ? `None of the ${shown.size} posts loaded is within ${state.km} km of you${next === undefined ? '' : '; Load older posts looks further back'}.`
        : `Showing ${visible} of ${shown.size} posts loaded: those within ${state.km} km of you.`
    if (filterCount.textContent !== text) filterCount.textContent = text
    if (changed && state === undefined && shown.size > 0) ctx.announce('Showing every post.')
  }

  const write = composer(ctx, (post) => {
    // Our own post is news to us only where it belongs; it goes in at the top even when scrolled (we just wrote it).
    if (inFeed(post, feed)) receive([post], true)
  })
  disposers.push(write.dispose)

  function profileOf (author: string): ApiProfile | undefined {
    return profiles.get(author)
  }

  /** Redraws the posts of `author` on screen (their name or avatar changed). */
  function redrawAuthor (author: string): void {
    for (const { post, item } of shown.values()) {
      if (post.author === author) replaceChildren(item, postElement(post, profiles.get(author), position))
    }
  }

  /**
   * Fetches the profiles of these posts' authors not asked for yet: only
   * the authors on screen, never every profile the node holds.
   */
  async function learnAuthors (posts: readonly ApiPost[]): Promise<void> {
    const authors = [...new Set(posts.filter((p) => !p.mine && !asked.has(p.author)).map((p) => p.author))]
    if (authors.length === 0) return
    for (const author of authors) asked.add(author)
    try {
      for (let i = 0; i < authors.length; i += MAX_PROFILES_PER_REQUEST) {
        for (const profile of await ctx.client.profiles({ authors: authors.slice(i, i + MAX_PROFILES_PER_REQUEST) })) {
          if (profiles.has(profile.author)) continue // a profile event came first: it is as new or newer
          profiles.set(profile.author, profile)
          redrawAuthor(profile.author)
        }
      }
    } catch {
      for (const author of authors) asked.delete(author) // names fall back to registered names; asked again with the next posts
    }
  }

  function render (post: ApiPost): HTMLLIElement {
    const item = h('li', { 'data-id': post.id, 'data-sent': post.sentAt, hidden: !passes(post) }, postElement(post, profileOf(post.author), position))
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
    applyFilter()
  }

  function updateBanner (): void {
    banner.textContent = waiting.length === 1 ? 'Show 1 new post' : `Show ${waiting.length} new posts`
    banner.hidden = waiting.length === 0
  }

  /**
   * Posts that came live or were missed while disconnected: at the top when
   * the reader is there (or wrote them: `force`), else behind the banner;
   * said to screen readers either way, once for the lot.
   */
  function receive (posts: readonly ApiPost[], force = false): void {
    const fresh = posts.filter((post) => !shown.has(post.id))
    if (fresh.length === 0) return
    const main = scroller()
    const atTop = main === null || main.scrollTop - (panel.offsetTop - main.offsetTop) < AT_TOP_PX
    if (force || atTop || shown.size === 0) {
      // A post waiting behind the banner comes out when forced (our own, whose live event came before the answer).
      for (const post of fresh) {
        const queued = waiting.findIndex((p) => p.id === post.id)
        if (queued >= 0) waiting.splice(queued, 1)
        placeInOrder(post)
      }
      updateBanner()
      updateStatus()
      // Posts the "Near me" filter hides are not announced.
      const others = fresh.filter((post) => !post.mine && passes(post))
      if (others.length === 1) ctx.announce(`New post by ${personName(others[0]!.author, others[0]!.authorName, profileOf(others[0]!.author))}.`)
      else if (others.length > 1) ctx.announce(`${others.length} new posts.`)
      return
    }
    const queued = fresh.filter((post) => !waiting.some((p) => p.id === post.id))
    if (queued.length === 0) return
    waiting.push(...queued)
    updateBanner()
    const first = queued[0]!
    ctx.announce(queued.length === 1
      ? `New post by ${first.mine ? 'you' : personName(first.author, first.authorName, profileOf(first.author))}; the button at the top of the feed shows it.`
      : `${queued.length} new posts; the button at the top of the feed shows them.`)
  }

  function showWaiting (focus: boolean): void {
    for (const post of waiting.splice(0)) if (!shown.has(post.id)) placeInOrder(post)
    updateBanner()
    updateStatus()
    if (focus) {
      list.querySelector<HTMLElement>('article')?.setAttribute('tabindex', '-1')
      list.querySelector<HTMLElement>('article')?.focus()
    }
  }

  /** The newest post on screen or waiting, if any. */
  function newestKnown (): ApiPost | undefined {
    let newest: ApiPost | undefined
    for (const post of [...[...shown.values()].map((s) => s.post), ...waiting]) if (newest === undefined || newer(post, newest)) newest = post
    return newest
  }

  /** Forgets every post on screen: the feed starts afresh from its first page. */
  function reset (): void {
    shown.clear()
    waiting.splice(0)
    replaceChildren(list)
    updateBanner()
  }

  /** Shows the first page (`next` from it for older pages). */
  function showFirst (page: ApiFeedPage): void {
    // Posts may have come live while the page was on its way: placed in order, never twice.
    for (const post of page.posts) if (!shown.has(post.id)) placeInOrder(post)
    next = page.next
    olderButton.hidden = next === undefined
    loadedFirst = true
  }

  /**
   * The first page; after a reconnection, what was missed: pages from the
   * newest until one reaches a post known before (not one that came live
   * since), so a gap of more than a page is filled too; a gap longer than
   * MAX_GAP_PAGES starts the feed afresh.
   */
  async function load (): Promise<void> {
    // Decided before the fetch: two loads may overlap (the screen's own and the socket's `hello`), and
    // one that began before any page was shown is a first load, whatever finished meanwhile.
    const first = !loadedFirst
    const knownIds = new Set([...shown.keys(), ...waiting.map((post) => post.id)])
    const knownNewest = newestKnown()
    const oldestShown = [...shown.values()].map((s) => s.post).reduce<ApiPost | undefined>((oldest, post) => oldest === undefined || newer(oldest, post) ? post : oldest, undefined)
    try {
      const page = await ctx.client.feed(feed, { limit: PAGE_SIZE })
      if (first) {
        await learnAuthors(page.posts)
        showFirst(page)
      } else {
        const missed: ApiPost[] = []
        let current = page
        let pages = 1
        for (;;) {
          missed.push(...current.posts)
          const reached = current.posts.some((post) => knownIds.has(post.id) || (knownNewest !== undefined && !newer(post, knownNewest)))
          if (reached || current.next === undefined || pages >= MAX_GAP_PAGES) break
          current = await ctx.client.feed(feed, { limit: PAGE_SIZE, before: current.next })
          pages += 1
        }
        const closed = current.next === undefined || current.posts.some((post) => knownIds.has(post.id) || (knownNewest !== undefined && !newer(post, knownNewest)))
        if (closed) {
          // Within what the screen spans: anything older is the older pages' (Load older posts reaches it).
          const gap = missed.filter((post) => oldestShown === undefined || newer(post, oldestShown))
          await learnAuthors(gap)
          receive([...gap].reverse())
        } else {
          await learnAuthors(page.posts)
          reset()
          showFirst(page)
          ctx.announce('The feed was reloaded: many posts came while the connection was down.')
        }
      }
      errorBox.textContent = '' // an error from before is over
      updateStatus()
    } catch (error) {
      status.hidden = true
      errorBox.textContent = errorSentence(error)
    }
  }

  async function loadOlder (): Promise<void> {
    if (next === undefined || loading) return
    loading = true
    // Disabling the focused button sends focus to <body>: it moves to the first older post, or back to the button.
    const hadFocus = document.activeElement === olderButton
    olderButton.disabled = true
    let firstNew: HTMLElement | undefined
    try {
      const page = await ctx.client.feed(feed, { limit: PAGE_SIZE, before: next })
      await learnAuthors(page.posts)
      // Older posts go below: nothing above the reader moves.
      for (const post of page.posts) {
        if (shown.has(post.id)) continue
        placeInOrder(post)
        firstNew ??= shown.get(post.id)!.item.querySelector('article') ?? undefined
      }
      next = page.next
      olderButton.hidden = next === undefined
      applyFilter()
      errorBox.textContent = ''
      ctx.announce(page.posts.length === 0 ? 'No older posts.' : `${page.posts.length} older posts loaded.`)
    } catch (error) {
      errorBox.textContent = errorSentence(error)
    } finally {
      loading = false
      olderButton.disabled = false
      if (hadFocus) {
        if (firstNew !== undefined) {
          firstNew.setAttribute('tabindex', '-1')
          firstNew.focus()
        } else if (!olderButton.hidden) olderButton.focus()
        else heading.focus()
      }
    }
  }

  /** Takes posts past their expiry off the screen (the node no longer has them, nor their images). */
  function dropExpired (now = Date.now()): void {
    for (const [id, { post, item }] of shown) {
      if (post.expiresAt > now) continue
      // Focus in a post that leaves goes to the list's heading, not to <body>.
      if (item.contains(document.activeElement)) heading.focus()
      item.remove()
      shown.delete(id)
    }
    for (let i = waiting.length - 1; i >= 0; i--) if (waiting[i]!.expiresAt <= now) waiting.splice(i, 1)
    updateBanner()
    updateStatus()
  }
  const expiryTimer = setInterval(() => { dropExpired() }, EXPIRY_CHECK_MS)
  disposers.push(() => { clearInterval(expiryTimer) })

  disposers.push(ctx.live.on('post', (event) => {
    if (!inFeed(event.post, feed)) return
    // Its author's name first (one small request, once per author), so the post is drawn once.
    void learnAuthors([event.post]).then(() => { receive([event.post]) })
  }))
  disposers.push(ctx.live.on('profile', (event) => {
    asked.add(event.profile.author)
    profiles.set(event.profile.author, event.profile)
    // The author's name and avatar change on every post of theirs on screen.
    redrawAuthor(event.profile.author)
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
