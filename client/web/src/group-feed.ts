/**
 * A group's feed on its screen: a composer (text, a picture, an optional
 * coarse place, a lifetime), the posts newest first with older pages on request, and each
 * post's anonymous up and down votes: the tally on the buttons, ours
 * pressed. Votes are ring signatures the node makes; a group that admitted
 * fewer than 16 members cannot hide a voter, and the node says so (shown
 * beside the post). Posts and tallies arrive live (`group-post`, `vote`):
 * a tally is painted into the buttons in place, so a keyboard user on one
 * keeps focus when someone else votes. "Near me: within R km" hides, in
 * this browser, the posts whose area is further (position.ts): the
 * reader's position is sent to no one.
 */
import type { ApiGroupPost, ApiVoteTally } from '../../api/collectives-types.js'
import { DEFAULT_POST_PRECISION } from '../../api/collectives-content.js'
import { codePoints, DEFAULT_POST_DAYS, MAX_POST_DAYS, MAX_POST_TEXT_CHARS, MIN_POST_DAYS } from '../../api/post-content.js'
import type { AppContext } from './app.js'
import { h, uniqueId } from './dom.js'
import { errorSentence, longTime, shortTime } from './format.js'
import { POST_IMAGE_LIMITS, shrinkImage, type ShrunkImage } from './image-shrink.js'
import { decodeGeohash, geohashErrorKm } from '../../../protocol/geohash.js'
import { distanceKm, parseLatLon, type LatLon } from './map-geometry.js'
import { nearFilterControl, onPositionChange, storedPosition, type NearFilterState } from './position.js'
import { avatarElement, isolated, postPlaceElement, timeLeft } from './post-view.js'

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

/** A group post's geohash as a place: its cell's centre and larger half-extent; undefined for none (or not a geohash). */
function groupPlace (geohash: string | undefined): (LatLon & { geohash: string, errKm: number }) | undefined {
  if (geohash === undefined) return undefined
  try {
    const cell = decodeGeohash(geohash)
    const { latErrKm, lonErrKm } = geohashErrorKm(geohash)
    return { geohash, lat: cell.lat, lon: cell.lon, errKm: Math.max(latErrKm, lonErrKm) }
  } catch {
    return undefined
  }
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
  // The "Near me" filter: computed here, from the position kept in this browser.
  let position: LatLon | undefined = storedPosition()
  const filterCount = h('p', { class: 'hint near-count', role: 'status' })
  const nearFilter = nearFilterControl('posts', () => { applyFilter() })
  disposers.push(nearFilter.dispose)
  disposers.push(onPositionChange((kept) => {
    position = kept
    for (const current of shown.values()) current.item.querySelector('.post-place')?.replaceWith(postPlaceElement(groupPlace(current.post.location)!, position))
  }))

  function passes (post: ApiGroupPost, state: NearFilterState = nearFilter.current()): boolean {
    if (state === undefined) return true
    const place = groupPlace(post.location)
    return place !== undefined && distanceKm(state.point, place) <= state.km
  }

  /** Hides the posts the filter leaves out, and says how many are shown. */
  function applyFilter (): void {
    const state = nearFilter.current()
    let visible = 0
    for (const { post, item } of shown.values()) {
      const keep = passes(post, state)
      if (!keep && item.contains(document.activeElement)) feedHeading.focus()
      item.hidden = !keep
      if (keep) visible += 1
    }
    const text = state === undefined || shown.size === 0
      ? ''
      : visible === 0 ? `None of the ${shown.size} posts loaded is within ${state.km} km of you.` : `Showing ${visible} of ${shown.size} posts loaded: those within ${state.km} km of you.`
    if (filterCount.textContent !== text) filterCount.textContent = text
  }

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
  const picture = h('input', { id: uniqueId('group-picture'), type: 'file', accept: 'image/*', class: 'file' })
  const pictureStatus = h('p', { id: uniqueId('group-picture-status'), class: 'hint', role: 'status' }, 'Optional. Shrunk here to at most 256 KiB, without location or camera data.')
  picture.setAttribute('aria-describedby', pictureStatus.id)
  let shrunk: ShrunkImage | undefined
  let shrinking: Promise<void> = Promise.resolve()
  picture.addEventListener('change', () => {
    shrunk = undefined
    const file = picture.files?.[0]
    if (file === undefined) return
    pictureStatus.textContent = 'Shrinking the picture…'
    shrinking = shrinkImage(file, POST_IMAGE_LIMITS).then((image) => {
      shrunk = image
      pictureStatus.textContent = `Ready: ${image.width} × ${image.height} pixels.`
    }, (error: unknown) => {
      picture.value = ''
      pictureStatus.textContent = ''
      composeError.textContent = errorSentence(error)
    })
  })
  const days = h('select', { id: uniqueId('group-days') })
  for (let d = MIN_POST_DAYS; d <= MAX_POST_DAYS; d++) days.append(h('option', { value: d, selected: d === DEFAULT_POST_DAYS }, d === 1 ? '1 day' : `${d} days`))
  const postButton = h('button', { type: 'submit' }, 'Post to the group')
  const composeError = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { 'aria-label': `Write a post to @${group}` },
    h('div', { class: 'field' }, h('label', { for: text.id }, 'Text'), text, counter),
    h('div', { class: 'field' }, h('label', { for: picture.id }, 'Picture (optional)'), picture, pictureStatus),
    h('div', { class: 'compose-options' },
      h('div', { class: 'field' }, h('label', { for: near.id }, 'Place (latitude, longitude)'), near, nearHint),
      h('div', { class: 'field' }, h('label', { for: days.id }, 'Lifetime'), days)),
    postButton, composeError)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void (async () => {
      composeError.textContent = ''
      await shrinking
      if (text.value.trim() === '' && shrunk === undefined) { composeError.textContent = 'Write something or choose a picture first.'; text.focus(); return }
      if (codePoints(text.value) > MAX_POST_TEXT_CHARS) { composeError.textContent = `A post holds at most ${MAX_POST_TEXT_CHARS} characters; shorten it.`; text.focus(); return }
      const point = near.value.trim() === '' ? undefined : parseLatLon(near.value)
      if (typeof point === 'string') { composeError.textContent = point; near.focus(); return }
      const hadFocus = document.activeElement === postButton
      postButton.disabled = true
      form.setAttribute('aria-busy', 'true')
      try {
        const posted = await ctx.client.groupPost(group, {
          ...(text.value.trim() === '' ? {} : { text: text.value }),
          ...(shrunk === undefined ? {} : { image: { mime: shrunk.mime, bytes: new Uint8Array(await shrunk.blob.arrayBuffer()) } }),
          ...(point === undefined ? {} : { location: { ...point, precision: DEFAULT_POST_PRECISION } }),
          days: Number(days.value)
        })
        text.value = ''
        near.value = ''
        picture.value = ''
        shrunk = undefined
        pictureStatus.textContent = ''
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
    const note = h('p', { class: 'hint vote-tally', 'aria-live': 'polite' })
    const voteError = h('p', { class: 'error', role: 'alert' })
    const button = (choice: 'up' | 'down'): HTMLButtonElement => h('button', {
      type: 'button',
      class: `quiet vote vote-${choice}`,
      'data-choice': choice,
      onclick: () => { void vote(post.id, choice, voteError) }
    }, h('span', { class: 'pressed-mark', 'aria-hidden': 'true' }, '✓ '), h('span', { 'aria-hidden': 'true' }, choice === 'up' ? '▲ ' : '▼ '),
    choice === 'up' ? 'Up' : 'Down', ' ', h('span', { class: 'vote-count' }))
    const votes = h('div', { class: 'votes actions', role: 'group', 'aria-label': 'Anonymous vote' }, button('up'), button('down'), note, voteError)
    paintVotes(votes, post.votes)
    return votes
  }

  /** Shows `tally` on the vote buttons in place (the same elements: focus stays on them), changing only what changed. */
  function paintVotes (votes: Element, tally: ApiVoteTally): void {
    for (const button of votes.querySelectorAll<HTMLButtonElement>('button.vote')) {
      const choice = button.dataset.choice as 'up' | 'down'
      const pressed = String(tally.mine === choice)
      if (button.getAttribute('aria-pressed') !== pressed) button.setAttribute('aria-pressed', pressed)
      const count = button.querySelector('.vote-count')!
      const value = String(choice === 'up' ? tally.up : tally.down)
      if (count.textContent !== value) count.textContent = value
    }
    const note = votes.querySelector('.vote-tally')!
    const text = tallyText(tally)
    if (note.textContent !== text) note.textContent = text // an unchanged tally is not announced again
  }

  async function vote (id: string, choice: 'up' | 'down', errorLine: HTMLElement): Promise<void> {
    const current = shown.get(id)
    const votes = current?.item.querySelector('.votes')
    // Busy, not disabled: a disabled button drops focus to <body>.
    if (votes === null || votes === undefined || votes.getAttribute('aria-busy') === 'true') return
    errorLine.textContent = ''
    votes.setAttribute('aria-busy', 'true')
    try {
      const tally = await ctx.client.votePost(group, id, choice)
      updateTally(id, tally)
      ctx.announce(`Voted ${choice}: ${tallyText(tally)}.`)
    } catch (error) {
      errorLine.textContent = errorSentence(error)
    } finally {
      votes.removeAttribute('aria-busy')
    }
  }

  function updateTally (id: string, tally: ApiVoteTally): void {
    const current = shown.get(id)
    if (current === undefined) return
    // The node's `vote` event carries the tally without our own vote: keep the one we know.
    const votes = { ...tally, ...(tally.mine === undefined && current.post.votes.mine !== undefined ? { mine: current.post.votes.mine } : {}) }
    current.post = { ...current.post, votes }
    const element = current.item.querySelector('.votes')
    if (element !== null) paintVotes(element, votes)
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
            groupPlace(post.location) === undefined ? null : [' · ', postPlaceElement(groupPlace(post.location)!, position)],
            ' · ', h('span', { title: `Until ${longTime(post.expiresAt)}` }, timeLeft(post.expiresAt))))),
      post.text === '' ? null : h('p', { class: 'post-text', dir: 'auto' }, post.text),
      post.hasImage ? h('img', { class: 'post-image', src: groupImageUrl(group, post.id), alt: `Picture posted by ${name}`, loading: 'lazy', decoding: 'async' }) : null,
      voteButtons(post))
  }

  function place (post: ApiGroupPost): void {
    const item = h('li', { 'data-id': post.id, hidden: !passes(post) }, postElement(post))
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
    applyFilter()
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

  const feedHeading = h('h3', { id: uniqueId('group-feed-heading'), tabindex: -1 }, 'Posts')
  const element = h('section', { class: 'group-feed', 'aria-labelledby': feedHeading.id },
    feedHeading,
    h('details', { class: 'card composer-card', open: true }, h('summary', { class: 'composer-summary' }, 'Write a post to the group'), form),
    nearFilter.element, filterCount, status, errorBox, list, older)
  return { element, dispose: () => { for (const dispose of disposers) dispose() } }
}
