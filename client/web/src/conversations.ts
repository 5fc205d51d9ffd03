/**
 * Conversations: the contacts with their last message, and one conversation
 * with live updates. Incoming messages are appended to a `role="log"` list
 * (read out by screen readers); each sent message shows its delivery state,
 * which only ever moves forward (working → queued → sent → delivered) even
 * when the WebSocket update overtakes the answer to the send request.
 */
import type { ApiContact, ApiConversationMessage, ApiReceivedMessage, ApiSentMessage } from '../../api/types.js'
import type { AppContext, Screen } from './app.js'
import { h, hiddenText, replaceChildren, uniqueId } from './dom.js'
import { displayName, errorSentence, longTime, shortTime, stateLabel } from './format.js'

/** Messages fetched per page of a conversation. */
const PAGE_SIZE = 50
/** How close to the bottom (px) still counts as "reading the latest": new messages then scroll into view. */
const STICK_TO_BOTTOM_PX = 80
/** Order of the delivery states: a late update never moves a message back. */
const STATE_RANK: Readonly<Record<string, number>> = { working: 0, queued: 1, sent: 2, delivered: 3 }

interface Summary { contact: ApiContact, last?: ApiConversationMessage }

/** The text and time of a sent message, whatever the API named them. */
function sentAsConversation (message: ApiSentMessage): ApiConversationMessage {
  return { id: message.id, direction: 'out', text: message.text, at: message.createdAt, state: message.state }
}

function receivedAsConversation (message: ApiReceivedMessage): ApiConversationMessage {
  return { id: message.id, direction: 'in', text: message.text, at: message.receivedAt }
}

/** The conversations screen; with `selected`, that conversation is open beside the list (alone on a phone). */
export function conversationsScreen (ctx: AppContext, selected?: string): Screen {
  const disposers: Array<() => void> = []
  const listHeading = h('h2', { id: uniqueId('conversations'), tabindex: -1 }, 'Chats')
  const list = h('ul', { class: 'conversation-list' })
  const listStatus = h('p', { class: 'hint' }, 'Loading…')
  const listSection = h('section', { class: 'pane list-pane', 'aria-labelledby': listHeading.id }, listHeading, listStatus, list)
  const summaries = new Map<string, Summary>()
  const element = h('div', { class: selected === undefined ? 'split' : 'split has-selection' }, listSection)
  let conversation: ReturnType<typeof openConversation> | undefined

  function drawList (): void {
    // Redrawn on every message: whoever was on a link with the keyboard stays on it.
    const focusedId = list.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.contact : undefined
    const sorted = [...summaries.values()].sort((a, b) =>
      (b.last?.at ?? 0) - (a.last?.at ?? 0) || displayName(a.contact).localeCompare(displayName(b.contact)))
    replaceChildren(list, sorted.map(({ contact, last }) => {
      const unread = ctx.unread.get(contact.id) ?? 0
      const name = displayName(contact)
      return h('li', null, h('a', {
        href: `#/conversations/${encodeURIComponent(contact.id)}`,
        class: 'conversation-link',
        'data-contact': contact.id,
        'aria-current': contact.id === selected ? 'page' : null
      },
      h('span', { class: 'conversation-name' }, name),
      unread > 0 ? h('span', { class: 'badge' }, String(unread), hiddenText(unread === 1 ? ' unread message' : ' unread messages')) : null,
      last === undefined
        ? h('span', { class: 'preview' }, 'No messages yet')
        : h('span', { class: 'preview' }, hiddenText(last.direction === 'out' ? 'You: ' : 'Last message: '), last.text),
      last === undefined ? null : h('time', { datetime: new Date(last.at).toISOString(), class: 'when' }, shortTime(last.at))))
    }))
    if (focusedId !== undefined) list.querySelector<HTMLElement>(`[data-contact="${CSS.escape(focusedId)}"]`)?.focus()
    listStatus.hidden = summaries.size > 0
    replaceChildren(listStatus, 'No chats yet. ', h('a', { href: '#/contacts' }, 'Add a contact'), ' to start one.')
  }

  async function loadList (): Promise<void> {
    try {
      const contacts = await ctx.client.contacts()
      const lasts = await Promise.all(contacts.map(async (contact) => (await ctx.client.conversation(contact.id, { limit: 1 })).at(-1)))
      summaries.clear()
      contacts.forEach((contact, i) => {
        const last = lasts[i]
        summaries.set(contact.id, last === undefined ? { contact } : { contact, last })
      })
      drawList()
      conversation?.setContact(summaries.get(selected ?? '')?.contact)
    } catch (error) {
      listStatus.hidden = false
      replaceChildren(listStatus, errorSentence(error))
    }
  }

  function noteLast (contactId: string, message: ApiConversationMessage): boolean {
    const summary = summaries.get(contactId)
    if (summary === undefined) return false
    if (summary.last === undefined || summary.last.at <= message.at) summary.last = message
    drawList()
    return true
  }

  // The unread count and the announcement are the app's (app.ts): it hears messages on every screen.
  disposers.push(ctx.live.on('message', (event) => {
    const message = receivedAsConversation(event.message)
    const from = event.message.from
    // A first message from someone new makes them a contact: reload the list to show them.
    if (!noteLast(from, message)) void loadList()
    if (from === selected) conversation?.add(message)
  }))
  disposers.push(ctx.live.on('outbox', (event) => {
    noteLast(event.message.to, sentAsConversation(event.message))
    if (event.message.to === selected) conversation?.add(sentAsConversation(event.message))
  }))
  // Every (re)connection starts with hello: reload what may have changed while disconnected.
  disposers.push(ctx.live.on('hello', () => {
    void loadList()
    conversation?.reload()
  }))

  if (selected === undefined) {
    element.append(h('p', { class: 'pane placeholder' }, 'Choose a conversation, or add a contact to start one.'))
  } else {
    ctx.openConversation = selected
    const markRead = (): void => {
      if (document.visibilityState !== 'visible' || !ctx.unread.has(selected)) return
      ctx.unread.delete(selected)
      ctx.updateUnread()
      drawList()
    }
    markRead()
    // Messages that came while the tab was hidden are read once it is shown again.
    document.addEventListener('visibilitychange', markRead)
    disposers.push(() => { document.removeEventListener('visibilitychange', markRead) })
    conversation = openConversation(ctx, selected, (message) => { noteLast(selected, message) })
    element.append(conversation.element)
  }
  void loadList()

  return {
    title: conversation === undefined ? 'Chats' : 'Conversation',
    element,
    focus: conversation?.composer ?? listHeading,
    dispose () { for (const dispose of disposers) dispose() }
  }
}

/** One open conversation: the messages, older ones on request, and the composer. */
function openConversation (ctx: AppContext, contactId: string, onSent: (message: ApiConversationMessage) => void) {
  const heading = h('h2', { id: uniqueId('conversation'), tabindex: -1 }, 'Conversation')
  const verifyLink = h('a', { href: `#/contacts/${encodeURIComponent(contactId)}`, class: 'small' }, 'Verify keys')
  const olderButton = h('button', { type: 'button', class: 'quiet', hidden: true, onclick: () => { void loadOlder() } }, 'Show earlier messages')
  // role=log: screen readers read additions (incoming messages) politely, not the state changes; silent
  // ('off') until the first page of history is in, which is not news. It scrolls, so it takes focus (arrow keys).
  const log = h('ol', { class: 'messages', role: 'log', 'aria-live': 'off', 'aria-relevant': 'additions', 'aria-labelledby': heading.id, tabindex: 0 })
  const items = new Map<string, { item: HTMLLIElement, state?: HTMLElement, rank: number }>()
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const textarea = h('textarea', { id: uniqueId('composer'), name: 'text', rows: 2, required: true, autocomplete: 'off', placeholder: 'Write a message' })
  const hint = h('p', { id: uniqueId('hint'), class: 'hint' }, 'Enter sends; Shift+Enter starts a new line.')
  textarea.setAttribute('aria-describedby', hint.id)
  const label = h('label', { for: textarea.id, class: 'visually-hidden' }, 'Message')
  const sendButton = h('button', { type: 'submit' }, 'Send')
  const form = h('form', { class: 'composer', 'aria-label': 'Write a message' },
    label, h('div', { class: 'composer-row' }, textarea, sendButton), hint, errorBox)
  let name = 'this contact'
  let oldest: number | undefined
  let loaded = false
  let sending = false

  function nearBottom (): boolean {
    return log.scrollHeight - log.scrollTop - log.clientHeight < STICK_TO_BOTTOM_PX
  }

  function render (message: ApiConversationMessage): HTMLLIElement {
    const out = message.direction === 'out'
    const state = out ? h('span', { class: `state state-${message.state ?? 'unknown'}` }, stateLabel(message.state)) : undefined
    const item = h('li', { class: out ? 'message out' : 'message in', 'data-id': message.id },
      hiddenText(out ? 'You: ' : `${name}: `),
      h('p', { class: 'text' }, message.text),
      h('p', { class: 'meta' },
        h('time', { datetime: new Date(message.at).toISOString(), title: longTime(message.at) }, shortTime(message.at)),
        state === undefined ? null : [' · ', state]))
    items.set(message.id, { item, ...(state === undefined ? {} : { state }), rank: STATE_RANK[message.state ?? ''] ?? -1 })
    return item
  }

  /** Adds a message, or moves the state of one already shown forward. */
  function add (message: ApiConversationMessage): void {
    const known = items.get(message.id)
    if (known !== undefined) {
      const rank = STATE_RANK[message.state ?? ''] ?? -1
      if (known.state !== undefined && rank > known.rank) {
        known.rank = rank
        known.state.textContent = stateLabel(message.state)
        known.state.className = `state state-${message.state ?? 'unknown'}`
      }
      return
    }
    const stick = nearBottom() || message.direction === 'out'
    // Kept in time order: a live message is normally the newest.
    const after = [...log.children].reverse().find((child) => Number((child as HTMLElement).dataset.at) <= message.at)
    const item = render(message)
    item.dataset.at = String(message.at)
    if (after === undefined) log.prepend(item)
    else after.after(item)
    if (stick) log.scrollTop = log.scrollHeight
  }

  /** Loads the latest page; after a reconnection, merges (only what was missed is added, and read out). */
  async function reload (): Promise<void> {
    try {
      const messages = await ctx.client.conversation(contactId, { limit: PAGE_SIZE })
      for (const message of messages) add(message)
      if (!loaded) {
        loaded = true
        oldest = messages[0]?.at
        olderButton.hidden = messages.length < PAGE_SIZE
        log.scrollTop = log.scrollHeight
        log.setAttribute('aria-live', 'polite')
      }
    } catch (error) {
      errorBox.textContent = errorSentence(error)
    }
  }

  async function loadOlder (): Promise<void> {
    if (oldest === undefined) return
    try {
      const messages = await ctx.client.conversation(contactId, { limit: PAGE_SIZE, before: oldest })
      const height = log.scrollHeight
      for (const message of messages) add(message)
      oldest = messages[0]?.at ?? oldest
      olderButton.hidden = messages.length < PAGE_SIZE
      log.scrollTop += log.scrollHeight - height // keep the reader's place
    } catch (error) {
      errorBox.textContent = errorSentence(error)
    }
  }

  async function send (): Promise<void> {
    const text = textarea.value
    if (sending || text.trim() === '') return
    sending = true
    sendButton.disabled = true
    form.setAttribute('aria-busy', 'true')
    errorBox.textContent = ''
    try {
      const sent = sentAsConversation(await ctx.client.send(contactId, text))
      add(sent)
      onSent(sent)
      textarea.value = ''
    } catch (error) {
      errorBox.textContent = errorSentence(error) // the text stays in the composer: nothing typed is lost
    } finally {
      sending = false
      sendButton.disabled = false
      form.removeAttribute('aria-busy')
      textarea.focus()
    }
  }

  form.addEventListener('submit', (event) => { event.preventDefault(); void send() })
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault()
      void send()
    }
  })

  const element = h('section', { class: 'pane conversation', 'aria-labelledby': heading.id },
    h('div', { class: 'conversation-head' },
      h('a', { href: '#/conversations', class: 'back' }, h('span', { 'aria-hidden': 'true' }, '← '), 'All chats'),
      heading,
      verifyLink),
    olderButton,
    log,
    form)
  void reload()

  return {
    element,
    composer: textarea,
    add,
    reload: () => { void reload() },
    setContact (contact: ApiContact | undefined) {
      if (contact === undefined) {
        heading.textContent = 'Unknown contact'
        errorBox.textContent = 'This contact is not in your contacts (it may have been removed). Add it again on the Contacts screen to write to it.'
        return
      }
      name = displayName(contact)
      heading.textContent = name
      for (const prefix of log.querySelectorAll('.message.in > .visually-hidden')) prefix.textContent = `${name}: `
      label.textContent = `Message to ${name}`
      document.title = `${name} · Komrade`
    }
  }
}
