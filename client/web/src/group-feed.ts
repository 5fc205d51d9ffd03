/**
 * A group's feed on its screen: a composer (text, an optional coarse
 * place), the posts newest first with older pages on request, and each
 * post's anonymous up and down votes: the tally on the buttons, ours
 * pressed. Votes are ring signatures the node makes; a group that admitted
 * fewer than 16 members cannot hide a voter, and the node says so (shown
 * beside the post). Posts and tallies arrive live (`group-post`, `vote`).
 */
import type { ApiGroupPost, ApiVoteTally } from '../../api/collectives-types.js'
import { DEFAULT_POST_PRECISION } from '../../api/collectives-content.js'
import { codePoints, MAX_POST_TEXT_CHARS } from '../../api/post-content.js'
import type { AppContext } from './app.js'
import { h, uniqueId } from './dom.js'
import { errorSentence, longTime, shortTime } from './format.js'
import { parseLatLon } from './map-geometry.js'
import { avatarElement, isolated, timeLeft } from './post-view.js'

const PAGE_SIZE = 20

/** The image of a group post (its own route: group posts are not in the world or home feeds). */
function groupImageUrl (group: string, id: string): string {
  return `/api/groups/${encodeURIComponent(group)}/posts/${encodeURIComponent(id)}/image`
}

/** "3 up, 1 down" and the double votes that count for neither. */
function tallyText (tally: ApiVoteTally): string {
  const doubles = tally.doubleVoters.length
  return `${tally.up} up, ${tally.down} down${doubles === 0 ? '' : `; ${doubles} double ${doubles === 1 ? 'vote' : 'votes'} not counted`}`
}

/** The feed of group `group` (its name); returns its element and its disposer. */
export function groupFeed (ctx: AppContext, group: string): { element: HTMLElement, dispose: () => void } {
  const disposers: Array<() => void> = []
  const shown = new Map<string, { post: ApiGroupPost, item: HTMLLIElement }>()
  const list = h('ol', { class: 'posts', 'aria-label': `Posts in @${group}` })
  const status = h('p', { class: 'hint', role: 'status' }, 'Loading…')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const older = h('button', { type: 'button', class: 'quiet', hidden: true, onclick: () => { void loadOlder() } }, 'Load older posts')
  let next: string | undefined

  // The composer.
  const text = h('textarea', { id: uniqueId('group-post-text'), rows: 3, autocomplete: 'off' })
  const counter = h('p', { id: uniqueId('group-counter'), class: 'hint' })
  text.setAttribute('aria-describedby', counter.id)
  const updateCounter = (): void => { counter.textContent = `${codePoints(text.value)} of ${MAX_POST_TEXT_CHARS} characters` }
  text.addEventListener('input', updateCounter)
  updateCounter()
  const near = h('input', { id: uniqueId('group-near'), type: 'text', inputmode: 'decimal', autocomplete: 'off', placeholder: '52.52, 13.405' })
  const nearHint = h('p', { id: uniqueId('group-near-hint'), class: 'hint' }, `Optional. Sent as an area of about 5 km (a ${DEFAULT_POST_PRECISION}-character geohash), never the exact point.`)
  near.setAttribute('aria-describedby', nearHint.id)
  const postButton = h('button', { type: 'submit' }, 'Post to the group')
  const composeError = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { 'aria-label': `Write a post to @${group}` },
    h('div', { class: 'field' }, h('label', { for: text.id }, 'Text'), text, counter),
    h('div', { class: 'field' }, h('label', { for: near.id }, 'Place (latitude, longitude)'), near, nearHint),
    postButton, composeError)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void (async () => {
      composeError.textContent = ''
      if (text.value.trim() === '') { composeError.textContent = 'Write something first.'; text.focus(); return }
      if (codePoints(text.value) > MAX_POST_TEXT_CHARS) { composeError.textContent = `A post holds at most ${MAX_POST_TEXT_CHARS} characters; shorten it.`; text.focus(); return }
      const point = near.value.trim() === '' ? undefined : parseLatLon(near.value)
      if (typeof point === 'string') { composeError.textContent = point; near.focus(); return }
      const hadFocus = document.activeElement === postButton
      postButton.disabled = true
      form.setAttribute('aria-busy', 'true')
      try {
        const posted = await ctx.client.groupPost(group, { text: text.value, ...(point === undefined ? {} : { location: { ...point, precision: DEFAULT_POST_PRECISION } }) })
        text.value = ''
        near.value = ''
        updateCounter()
        receive([posted])
        ctx.announce(`Posted to @${group}.`)
      } catch (error) {
        composeError.textContent = errorSentence(error)
      } finally {
        postButton.disabled = false
        form.removeAttribute('aria-busy')
        if (hadFocus) postButton.focus()
      }
    })()
  })

  function voteButtons (post: ApiGroupPost): HTMLElement {
    const tally = post.votes
    const note = h('p', { class: 'hint vote-tally', 'aria-live': 'polite' }, tallyText(tally))
    const voteError = h('p', { class: 'error', role: 'alert' })
    const button = (choice: 'up' | 'down'): HTMLButtonElement => h('button', {
      type: 'button',
      class: `quiet vote vote-${choice}`,
      'aria-pressed': String(tally.mine === choice),
      onclick: () => { void vote(post, choice, voteError) }
    }, h('span', { 'aria-hidden': 'true' }, choice === 'up' ? '▲ ' : '▼ '), choice === 'up' ? 'Up' : 'Down', ` ${choice === 'up' ? tally.up : tally.down}`)
    return h('div', { class: 'votes actions', role: 'group', 'aria-label': 'Anonymous vote' }, button('up'), button('down'), note, voteError)
  }

  async function vote (post: ApiGroupPost, choice: 'up' | 'down', errorLine: HTMLElement): Promise<void> {
    errorLine.textContent = ''
    const current = shown.get(post.id)
    const buttons = current?.item.querySelectorAll<HTMLButtonElement>('button.vote') ?? []
    for (const b of buttons) b.disabled = true
    try {
      const tally = await ctx.client.votePost(group, post.id, choice)
      updateTally(post.id, tally, true)
      ctx.announce(`Voted ${choice}: ${tallyText(tally)}.`)
    } catch (error) {
      for (const b of buttons) b.disabled = false
      errorLine.textContent = errorSentence(error)
    }
  }

  function updateTally (id: string, tally: ApiVoteTally, focusVote = false): void {
    const current = shown.get(id)
    if (current === undefined) return
    // The node's `vote` event carries the tally without our own vote: keep the one we know.
    const votes = { ...tally, ...(tally.mine === undefined && current.post.votes.mine !== undefined ? { mine: current.post.votes.mine } : {}) }
    current.post = { ...current.post, votes }
    const old = current.item.querySelector('.votes')
    const fresh = voteButtons(current.post)
    old?.replaceWith(fresh)
    if (focusVote) fresh.querySelector<HTMLButtonElement>(`button.vote-${votes.mine ?? 'up'}`)?.focus()
  }

  function postElement (post: ApiGroupPost): HTMLElement {
    const name = post.mine ? 'You' : post.authorName ?? `Someone ${post.author.slice(0, 8)}`
    const headingId = uniqueId('group-post')
    return h('article', { class: 'post', 'data-id': post.id, 'aria-labelledby': headingId },
      h('header', { class: 'post-head' },
        avatarElement(post.author, undefined, name),
        h('div', { class: 'post-who' },
          // A group post carries its author's registered name (checked by the node against the Operator's key), or none.
          h('h3', { id: headingId, class: 'post-author' }, post.mine ? 'You' : post.authorName === undefined ? name : ['@', isolated(post.authorName)]),
          h('p', { class: 'post-meta' },
            h('time', { datetime: new Date(post.sentAt).toISOString(), title: longTime(post.sentAt) }, shortTime(post.sentAt)),
            post.location === undefined ? null : [' · ', h('span', { title: 'A coarse area (geohash)' }, `near ${post.location}`)],
            ' · ', h('span', { title: `Until ${longTime(post.expiresAt)}` }, timeLeft(post.expiresAt))))),
      post.text === '' ? null : h('p', { class: 'post-text', dir: 'auto' }, post.text),
      post.hasImage ? h('img', { class: 'post-image', src: groupImageUrl(group, post.id), alt: `Picture posted by ${name}`, loading: 'lazy', decoding: 'async' }) : null,
      voteButtons(post))
  }

  function place (post: ApiGroupPost): void {
    const item = h('li', { 'data-id': post.id }, postElement(post))
    shown.set(post.id, { post, item })
    const before = [...list.children].find((child) => {
      const other = shown.get((child as HTMLElement).dataset.id ?? '')?.post
      return other !== undefined && (post.sentAt > other.sentAt || (post.sentAt === other.sentAt && post.id > other.id))
    })
    if (before === undefined) list.append(item)
    else before.before(item)
  }

  function receive (posts: readonly ApiGroupPost[]): void {
    for (const post of posts) {
      const current = shown.get(post.id)
      if (current !== undefined) { updateTally(post.id, post.votes); continue }
      place(post)
    }
    status.hidden = shown.size > 0
    status.textContent = shown.size > 0 ? '' : 'No posts in this group yet.'
  }

  async function load (): Promise<void> {
    try {
      const page = await ctx.client.groupFeed(group, { limit: PAGE_SIZE })
      receive(page.posts)
      if (shown.size === page.posts.length) { next = page.next; older.hidden = next === undefined }
      errorBox.textContent = ''
    } catch (error) {
      status.hidden = true
      errorBox.textContent = errorSentence(error)
    }
  }

  async function loadOlder (): Promise<void> {
    if (next === undefined) return
    older.disabled = true
    try {
      const page = await ctx.client.groupFeed(group, { limit: PAGE_SIZE, before: next })
      receive(page.posts)
      next = page.next
      older.hidden = next === undefined
    } catch (error) {
      errorBox.textContent = errorSentence(error)
    } finally {
      older.disabled = false
    }
  }

  const matches = (ref: { id: string, name: string }): boolean => ref.name === group || ref.id === group
  disposers.push(ctx.live.on('group-post', (event) => { if (matches(event.post.group)) receive([event.post]) }))
  disposers.push(ctx.live.on('vote', (event) => { if (matches(event.group)) updateTally(event.postId, event.tally) }))
  disposers.push(ctx.live.on('hello', () => { void load() }))
  void load()

  const feedHeading = h('h3', { id: uniqueId('group-feed-heading') }, 'Posts')
  const element = h('section', { class: 'group-feed', 'aria-labelledby': feedHeading.id },
    feedHeading,
    h('details', { class: 'card composer-card', open: true }, h('summary', { class: 'composer-summary' }, 'Write a post to the group'), form),
    status, errorBox, list, older)
  return { element, dispose: () => { for (const dispose of disposers) dispose() } }
}
