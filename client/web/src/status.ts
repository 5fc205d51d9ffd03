/**
 * Node status, live: peers and mesh peers from `peers` events, sync progress
 * from `sync` events, split-view warnings; the rest (store, registry head)
 * re-read after each sync and on a slow timer while the screen is open.
 */
import type { ApiStatus } from '../../api/types.js'
import type { AppContext, Screen } from './app.js'
import { h, replaceChildren } from './dom.js'
import { errorSentence, formatBytes, longTime } from './format.js'

/** Re-read the status this often while the screen is open (store size and work change without an event). */
const STATUS_REFRESH_MS = 5_000

function short (text: string, keep = 12): string {
  return text.length > keep * 2 ? `${text.slice(0, keep)}…${text.slice(-6)}` : text
}

function fact (term: string, ...value: Array<string | Node>): HTMLElement[] {
  return [h('dt', null, term), h('dd', null, ...value)]
}

/** The node status screen. */
export function statusScreen (ctx: AppContext): Screen {
  const heading = h('h2', { tabindex: -1 }, 'Node status')
  const errorBox = h('p', { class: 'error', role: 'alert' })
  const splitView = h('div', { class: 'warning', role: 'alert', hidden: true })
  const facts = h('dl', { class: 'facts' })
  const peers = h('span', null, '…')
  const syncNow = h('span', null, '')
  let status: ApiStatus | undefined
  const syncing = new Set<string>()

  function drawSync (): void {
    syncNow.textContent = syncing.size === 0 ? '' : ` Syncing with ${syncing.size} peer${syncing.size === 1 ? '' : 's'} now…`
  }

  function draw (s: ApiStatus): void {
    status = s
    peers.textContent = `${s.peers} connected, ${s.meshPeers} in the message mesh`
    const registry = s.registry
    splitView.hidden = registry === undefined || registry.splitViews === 0
    if (registry !== undefined && registry.splitViews > 0) {
      replaceChildren(splitView, h('p', null, `Split view: the Operator showed this node a name log that contradicts one other nodes saw (${registry.splitViews} piece${registry.splitViews === 1 ? '' : 's'} of evidence kept). ` +
        'Names it answers may differ from what your contacts see: verify fingerprints in person.'))
    }
    const store = s.store
    replaceChildren(facts,
      fact('Name', s.name ?? 'None registered'),
      fact('Peers', peers),
      fact('Envelope store', `${store.count.toLocaleString()} envelopes, ${formatBytes(store.bytes)} of ${formatBytes(store.quotaBytes)}`),
      fact('Proof of work waiting', String(s.workPending)),
      fact('Last sync', s.lastSync === undefined
        ? 'Not yet'
        : `${longTime(s.lastSync.at)} with ${short(s.lastSync.peer)}: ${s.lastSync.received} received, ${s.lastSync.sent} sent.`, syncNow),
      fact('Name registry', registry === undefined
        ? 'No Operator configured: contacts are added by invite code.'
        : registry.head === undefined
          ? `Operator ${short(registry.operator)}; no tree head seen yet.`
          : `Operator ${short(registry.operator)}; log of ${registry.head.size.toLocaleString()} names, head of ${longTime(registry.head.timestamp)}, root ${short(registry.head.root, 8)}.`),
      fact('Split views', registry === undefined ? '—' : String(registry.splitViews)),
      fact('Peer id', h('span', { class: 'code' }, s.peerId)),
      fact('Addresses', h('ul', { class: 'plain' }, s.addresses.map((address) => h('li', { class: 'code' }, address)))))
  }

  async function load (): Promise<void> {
    try {
      draw(await ctx.client.status())
      errorBox.textContent = ''
    } catch (error) {
      errorBox.textContent = errorSentence(error)
    }
  }

  const disposers = [
    ctx.live.on('hello', (event) => { draw(event.status) }),
    ctx.live.on('peers', (event) => {
      if (status !== undefined) peers.textContent = `${event.peers} connected, ${event.meshPeers} in the message mesh`
    }),
    ctx.live.on('sync', (event) => {
      if (event.phase === 'start') syncing.add(event.peer)
      else syncing.delete(event.peer)
      drawSync()
      if (event.phase !== 'start') void load()
    }),
    ctx.live.on('split-view', () => { void load() })
  ]
  const timer = setInterval(() => { void load() }, STATUS_REFRESH_MS)
  void load()
  const refresh = h('button', { type: 'button', class: 'quiet', onclick: () => { void load() } }, 'Refresh')
  return {
    title: 'Node status',
    element: h('section', { class: 'pane page' }, heading, splitView, errorBox, facts, refresh),
    focus: heading,
    dispose () {
      clearInterval(timer)
      for (const dispose of disposers) dispose()
    }
  }
}
