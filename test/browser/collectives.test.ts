/**
 * The collectives' screens of the web UI in real headless Chromium, against
 * real nodes with their control APIs and their network's Operator, with
 * every request not to 127.0.0.1 blocked (and counted: none expected): the
 * Map draws the world's outline offline from our own origin, zooms and pans
 * from the keyboard; the "within R km" filter, computed in the browser,
 * hides a far pin and shows a near one, and the reader's position never
 * leaves the page; the List view is reachable and operable by keyboard; a
 * group post written in one browser appears live in a member's, whose
 * anonymous up-vote shows in both; an event hosted from the form, answered
 * in the other browser, and the answer seen by its host. Live updates keep
 * the reader's place: focus stays on a marker, a vote button, an answer
 * button or a host's control, and typed text stays in a form, while pins,
 * votes, answers and group changes arrive. The position is kept rounded,
 * for the session, and forgotten on Sign out.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { collectivesTesting } from '../../node/collectives/node-collectives.js'
import * as protocol from '../../protocol/index.js'
import { cleanupApi, startApiNode, type ApiNode } from '../client/api-helpers.js'
import { connect, waitFor } from '../node/cluster.js'
import { cleanupOperators, startOperator } from '../node/registry-operators.js'
import { DESKTOP, PHONE, accessibilityReport, buildWebUi, launchChromium, screenshot, sidewaysScrollers } from './browser.js'

const crypto = protocol.nativeCrypto()
const collectives = { ttlMinutes: 10, rekeyStaggerMs: 500 }
/** Deadline for what crosses the network (gossip, a welcome). */
const NETWORK_MS = 60_000
/** Deadline for what happens inside one page. */
const PAGE_MS = 20_000

/** Every request a page made, and those refused for leaving 127.0.0.1. */
interface Traffic {
  urls: string[]
  bodies: string[]
  blocked: string[]
}

/** Admits `count` members who have keys but no node (the node's test hook takes their requests; we vouch). */
async function admitKeyOnlyMembers (node: ApiNode, group: string, count: number): Promise<void> {
  const groupId = protocol.fromHex((await node.client.group(group)).id)
  for (let i = 0; i < count; i++) {
    const identity = protocol.createIdentity(crypto)
    const voteKey = protocol.voteKeyPair(identity.signingSeed, groupId).publicKey
    const request = protocol.createJoinRequest(crypto, { identity, groupId, voteKey })
    await collectivesTesting(node.node).receiveJoinRequest(request, protocol.publicIdentityOf(identity))
    await node.client.vouch(group, protocol.identityId(identity))
  }
}

describe('collectives screens in Chromium', () => {
  let browser: Browser
  let removeWebRoot: () => Promise<void>
  let alice: ApiNode
  let bob: ApiNode
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []

  async function signedInPage (node: ApiNode, viewport = DESKTOP): Promise<{ page: Page, traffic: Traffic }> {
    const context = await browser.newContext({ viewport })
    contexts.push(context)
    const traffic: Traffic = { urls: [], bodies: [], blocked: [] }
    // Nothing but the node: a request elsewhere (a tile server, a font, a CDN) is refused and counted.
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url())
      if (url.hostname === '127.0.0.1') await route.continue()
      else {
        traffic.blocked.push(url.href)
        await route.abort()
      }
    })
    const page = await context.newPage()
    page.on('request', (request) => {
      traffic.urls.push(request.url())
      const body = request.postData()
      if (body !== null) traffic.bodies.push(body)
    })
    page.on('websocket', (socket) => { traffic.urls.push(socket.url()) })
    page.on('pageerror', (error) => { pageErrors.push(error.message) })
    page.on('console', (message) => {
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) pageErrors.push(message.text())
    })
    await page.goto(node.server.loginUrl())
    await page.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: PAGE_MS })
    return { page, traffic }
  }

  async function openMap (page: Page): Promise<void> {
    await page.getByRole('link', { name: 'Map', exact: true }).click()
    await page.locator('svg.map-svg[data-land="ready"]').waitFor({ timeout: PAGE_MS })
  }

  /** Every URL the page asked for was the node's (page, assets, API, event socket). */
  function expectOnlyTheNode (traffic: Traffic, node: ApiNode): void {
    const origin = new URL(node.server.url)
    expect(traffic.blocked).toEqual([])
    expect(traffic.urls.length).toBeGreaterThan(0)
    for (const url of traffic.urls) expect(new URL(url).host, url).toBe(origin.host)
  }

  beforeAll(async () => {
    const built = await buildWebUi()
    removeWebRoot = built.remove
    browser = await launchChromium()
    const { config, address } = await startOperator()
    alice = await startApiNode({ operator: config, bootstrap: [address], collectives }, { webRoot: built.webRoot })
    bob = await startApiNode({ operator: config, bootstrap: [address], collectives }, { webRoot: built.webRoot })
    await connect(alice.node, bob.node)
    await Promise.all([alice.client.register('alice_map'), bob.client.register('bob_map')])
  }, 120_000)

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await cleanupApi()
    await cleanupOperators()
    await removeWebRoot?.()
    expect(pageErrors).toEqual([])
  })

  it('draws the world\'s outline offline, from nothing but the node, and zooms and pans from the keyboard', async () => {
    const { page, traffic } = await signedInPage(alice)
    await openMap(page)
    const outline = await page.locator('path.map-land').getAttribute('d')
    // Natural Earth 1:110m: well over a hundred rings, thousands of points.
    expect(outline!.length).toBeGreaterThan(20_000)
    expect(outline!.match(/M/g)!.length).toBeGreaterThan(100)
    // The land chunk came from our own origin like everything else.
    expect(traffic.urls.some((url) => /\/assets\/land-110m-[\w-]+\.js$/.test(url))).toBe(true)

    const zoom = page.locator('.map-zoom')
    await expect(zoom.textContent()).resolves.toBe('Zoom 1×')
    const frame = page.getByRole('group', { name: 'Map of pins' })
    await frame.focus()
    await page.keyboard.press('+')
    await page.keyboard.press('+')
    await expect(zoom.textContent()).resolves.toBe('Zoom 4×')
    const before = await page.locator('.map-land').evaluate((e) => e.parentElement!.getAttribute('transform'))
    await page.keyboard.press('ArrowRight')
    const after = await page.locator('.map-land').evaluate((e) => e.parentElement!.getAttribute('transform'))
    expect(after).not.toBe(before) // panned east: the land moved
    await page.keyboard.press('0')
    await expect(zoom.textContent()).resolves.toBe('Zoom 1×')
    await page.getByRole('button', { name: 'Zoom in' }).click()
    await expect(zoom.textContent()).resolves.toBe('Zoom 2×')
    await screenshot(page, 'collectives-map-desktop')
    expectOnlyTheNode(traffic, alice)
  })

  it('filters pins within R km of a position kept in the page: the far one hidden, the near one shown', async () => {
    const near = await alice.client.addPin({ kind: 'police', note: 'checkpoint at the gate', lat: 52.5163, lon: 13.3777, ttlMinutes: 60, audience: 'world' })
    const far = await alice.client.addPin({ kind: 'danger', note: 'flooded underpass', lat: -33.8688, lon: 151.2093, ttlMinutes: 60, audience: 'world' })
    const { page, traffic } = await signedInPage(alice)
    await openMap(page)
    const nearMarker = page.locator(`g.pin-marker[data-pin="${near.id}"]`)
    const farMarker = page.locator(`g.pin-marker[data-pin="${far.id}"]`)
    await nearMarker.waitFor({ state: 'attached', timeout: PAGE_MS })
    await expect(farMarker.count()).resolves.toBe(1)
    // Markers are buttons named by kind and note.
    await expect(page.getByRole('button', { name: /^Police: checkpoint at the gate\./ }).count()).resolves.toBe(1)

    await page.getByRole('textbox', { name: 'Your position' }).fill('52.52, 13.405')
    await page.getByRole('button', { name: 'Set', exact: true }).click()
    await page.getByLabel('Within (km)').fill('25')
    await page.getByText('Showing 1 of 2 pins: those within 25 km of your position.').waitFor({ timeout: PAGE_MS })
    await expect(nearMarker.count()).resolves.toBe(1)
    await expect(farMarker.count()).resolves.toBe(0)
    await expect(page.getByRole('button', { name: /^Police: checkpoint at the gate\. [\d.]+ km away\./ }).count()).resolves.toBe(1)
    await screenshot(page, 'collectives-map-filtered')
    // Wider than the Earth is round: both again.
    await page.getByLabel('Within (km)').fill('20000')
    await page.getByText('Showing 2 of 2 pins').waitFor({ timeout: PAGE_MS })

    // The position is in this browser's session storage, rounded to about 100 m, and in no request to the node.
    const storedIn = async (storage: string): Promise<unknown> => JSON.parse(await page.evaluate(`${storage}.getItem("komrade.map.position")`) as string | null ?? 'null')
    await page.getByRole('textbox', { name: 'Your position' }).fill('52.520123, 13.405049')
    await page.getByRole('button', { name: 'Set', exact: true }).click()
    await expect(page.getByRole('textbox', { name: 'Your position' }).inputValue()).resolves.toBe('52.52, 13.405')
    expect(await storedIn('sessionStorage')).toEqual({ lat: 52.52, lon: 13.405 })
    expect(await storedIn('localStorage')).toBeNull()

    // Live pins keep focus on a marker and leave the selected pin's details alone; the pins are one Tab stop, arrows move between them.
    await expect(page.locator('g.pin-marker[tabindex="0"]').count()).resolves.toBe(1)
    await nearMarker.focus()
    await page.keyboard.press('Enter')
    await page.locator('.map-details').getByText('Expires').waitFor({ timeout: PAGE_MS })
    await page.locator('.map-details > *').first().evaluate((e) => { e.setAttribute('data-probe', 'kept') })
    await nearMarker.focus()
    const arriving = await alice.client.addPin({ kind: 'info', note: 'a new pin arrives', lat: 52.53, lon: 13.41, ttlMinutes: 60, audience: 'world' })
    await page.locator(`g.pin-marker[data-pin="${arriving.id}"]`).waitFor({ state: 'attached', timeout: PAGE_MS })
    await expect(page.evaluate('document.activeElement && document.activeElement.getAttribute("data-pin")')).resolves.toBe(near.id)
    await expect(page.locator('.map-details [data-probe="kept"]').count()).resolves.toBe(1)
    await expect(page.locator('.map-details[aria-live]').count()).resolves.toBe(0)
    await expect(page.locator('g.pin-marker[tabindex="0"]').count()).resolves.toBe(1)
    await page.keyboard.press('ArrowRight')
    const moved = await page.evaluate('document.activeElement && document.activeElement.getAttribute("data-pin")')
    expect(moved).toBe(arriving.id) // 13.41 is east of 13.3777
    await page.keyboard.press('Escape')
    await expect(page.evaluate('document.activeElement && document.activeElement.classList.contains("map-frame")')).resolves.toBe(true)

    // The wheel scrolls the page over the map unless the map has focus or Ctrl is held.
    await page.locator('h2').first().focus()
    const zoomBefore = await page.locator('.map-zoom').textContent()
    const box = (await page.locator('svg.map-svg').boundingBox())!
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
    await page.mouse.wheel(0, -300)
    await expect(page.locator('.map-zoom').textContent()).resolves.toBe(zoomBefore)
    const again = (await page.locator('svg.map-svg').boundingBox())! // the page may have scrolled
    await page.mouse.move(again.x + again.width / 2, again.y + again.height / 2)
    await page.keyboard.down('Control')
    await page.mouse.wheel(0, -300)
    await page.keyboard.up('Control')
    await expect.poll(async () => await page.locator('.map-zoom').textContent(), { timeout: PAGE_MS }).not.toBe(zoomBefore)

    // Remembered on this device when asked; forgotten on Sign out.
    await page.getByLabel('Remember my position on this device (until I sign out)').check()
    expect(await storedIn('localStorage')).toEqual({ lat: 52.52, lon: 13.405 })
    expect(await storedIn('sessionStorage')).toBeNull()
    for (const text of [...traffic.urls, ...traffic.bodies]) {
      expect(text).not.toContain('52.52')
      expect(text).not.toContain('13.405')
      expect(text).not.toContain('near=')
    }
    expectOnlyTheNode(traffic, alice)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await expect.poll(async () => [await storedIn('localStorage'), await storedIn('sessionStorage')], { timeout: PAGE_MS }).toEqual([null, null])
  })

  it('places a pin from the form, its place picked by a click on the map', async () => {
    const { page, traffic } = await signedInPage(alice)
    await openMap(page)
    await page.getByText('Place a pin', { exact: true }).click()
    // The whole world at zoom 1 on a 2:1 map: the frame's centre is (0, 0), a quarter to the right is 90° east.
    await page.locator('svg.map-svg').scrollIntoViewIfNeeded()
    const box = (await page.locator('svg.map-svg').boundingBox())!
    await page.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2)
    const [lat, lon] = (await page.getByLabel('Where').inputValue()).split(',').map(Number) as [number, number]
    expect(Math.abs(lat)).toBeLessThan(1)
    expect(Math.abs(lon - 90)).toBeLessThan(1)
    await page.getByRole('radio', { name: 'Help needed' }).check()
    await page.getByLabel('Note').fill('water and shade here')
    await page.getByRole('button', { name: 'Place pin' }).click()
    await page.getByRole('button', { name: /^Help needed: water and shade here\./ }).waitFor({ timeout: NETWORK_MS })
    const placed = (await alice.client.pins()).find((pin) => pin.note === 'water and shade here')
    expect(placed).toMatchObject({ kind: 'help', mine: true, audience: 'world' })
    expect(Math.abs(placed!.lon - 90)).toBeLessThan(1)
    expectOnlyTheNode(traffic, alice)
  })

  it('offers the pins as a list reachable by keyboard, nearest first, and each pin on the map as a button', async () => {
    const { page } = await signedInPage(alice, PHONE)
    await openMap(page) // the position and radius of the previous test are this browser context's own: none here
    await page.getByRole('textbox', { name: 'Your position' }).fill('52.52, 13.405')
    await page.keyboard.press('Enter')
    await page.getByText(/Showing all \d+ pins, nearest first\./).waitFor({ timeout: PAGE_MS })

    // From the Map toggle, Tab reaches List; Enter shows the list.
    await page.getByRole('button', { name: 'Map', exact: true }).focus()
    await page.keyboard.press('Tab')
    await expect(page.evaluate('document.activeElement && document.activeElement.textContent')).resolves.toBe('List')
    await page.keyboard.press('Enter')
    await expect(page.getByRole('button', { name: 'List', exact: true }).getAttribute('aria-pressed')).resolves.toBe('true')
    const items = page.locator('.pin-list > li')
    await expect(items.count()).resolves.toBeGreaterThanOrEqual(2)
    const notes = await items.locator('.post-text').allTextContents()
    expect(notes.indexOf('checkpoint at the gate')).toBeLessThan(notes.indexOf('flooded underpass'))
    // Tab goes on through the list's buttons; Enter on one shows that pin on the map, focused.
    await page.keyboard.press('Tab')
    const first = await page.evaluate('document.activeElement ? document.activeElement.textContent : ""') as string
    expect(first).toContain('Show on map')
    // A pin arriving (and placed before it: nearer) redraws nothing else: focus stays on the same button.
    const focusedPin = await page.evaluate('document.activeElement.closest("li").getAttribute("data-pin")')
    const arriving = await alice.client.addPin({ kind: 'other', note: 'right here', lat: 52.52, lon: 13.405, ttlMinutes: 60, audience: 'world' })
    await page.locator(`.pin-list li[data-pin="${arriving.id}"]`).waitFor({ state: 'attached', timeout: PAGE_MS })
    await expect(page.locator('.pin-list > li').first().getAttribute('data-pin')).resolves.toBe(arriving.id)
    await expect(page.evaluate('document.activeElement.isConnected && document.activeElement.closest("li").getAttribute("data-pin")')).resolves.toBe(focusedPin)
    await page.keyboard.press('Enter')
    await page.locator('g.pin-marker.selected').waitFor({ timeout: PAGE_MS })
    await expect(page.evaluate('document.activeElement && document.activeElement.getAttribute("role")')).resolves.toBe('button')
    await page.locator('.map-details').getByText('Expires').waitFor({ timeout: PAGE_MS })

    const report = await accessibilityReport(page)
    expect(report.unnamed, report.controls.join(', ')).toEqual([])
    expect(report.controls.filter((c) => c.startsWith('button "Police: checkpoint at the gate'))).toHaveLength(1)
    expect(await sidewaysScrollers(page)).toEqual([])
    await screenshot(page, 'collectives-map-phone')
  })

  it('posts to a group in one browser; a member sees it live, up-votes it anonymously, and both see the tally', async () => {
    await alice.client.createGroup('garden_ui', { constitution: { type: 'fixed', n: 1 } })
    await bob.client.addContact('alice_map')
    await bob.client.joinGroup('garden_ui', { via: 'alice_map' })
    const bobId = bob.node.status().id
    await waitFor('bob\'s request at alice', async () => (await alice.client.joinRequests('garden_ui')).some((r) => r.candidate === bobId), NETWORK_MS)
    await alice.client.vouch('garden_ui', bobId)
    await waitFor('bob welcomed', async () => (await bob.client.groups()).some((g) => g.name === 'garden_ui' && g.membership === 'member'), NETWORK_MS)
    // Anonymous votes hide a voter among at least 16 admitted members: 15 now, the 16th while the pages are open.
    await admitKeyOnlyMembers(alice, 'garden_ui', 13)

    const { page: alicePage, traffic } = await signedInPage(alice)
    const { page: bobPage } = await signedInPage(bob)
    for (const page of [alicePage, bobPage]) {
      await page.getByRole('link', { name: 'Groups', exact: true }).click()
      await page.getByRole('link', { name: '@garden_ui' }).click()
      await page.getByRole('heading', { name: '@garden_ui', level: 2 }).waitFor({ timeout: PAGE_MS })
      await page.getByText('No posts in this group yet.').waitFor({ timeout: PAGE_MS })
    }
    // A reason being typed keeps its text and its focus while the group changes (a member admitted).
    await alicePage.getByText('Make a proposal', { exact: true }).click()
    const reason = alicePage.getByLabel('Reason (optional)')
    await reason.fill('we are many now')
    await reason.focus()
    await admitKeyOnlyMembers(alice, 'garden_ui', 1)
    await alicePage.locator('dl.facts dd').getByText('16', { exact: true }).waitFor({ timeout: PAGE_MS })
    await expect(reason.inputValue()).resolves.toBe('we are many now')
    await expect(alicePage.evaluate('document.activeElement && document.activeElement.value')).resolves.toBe('we are many now')
    await waitFor('16 members at bob', async () => (await bob.client.group('garden_ui')).memberCount === 16, NETWORK_MS)
    await alicePage.getByLabel('Text', { exact: true }).fill('Tomatoes are ripe \u202Eevil')
    await alicePage.getByRole('button', { name: 'Post to the group' }).click()
    const mine = alicePage.locator('article.post', { hasText: 'Tomatoes are ripe' })
    await mine.waitFor({ timeout: PAGE_MS })

    const theirs = bobPage.locator('article.post', { hasText: 'Tomatoes are ripe' })
    await theirs.waitFor({ timeout: NETWORK_MS })
    // Untrusted text stays text: the bidi override is in a text node of the post, isolated, nothing parsed.
    await expect(theirs.locator('.post-text').textContent()).resolves.toBe('Tomatoes are ripe \u202Eevil')
    const up = theirs.getByRole('button', { name: /^Up \d+$/ })
    await expect(up.textContent()).resolves.toContain('Up 0')
    await up.click()
    const pressed = theirs.getByRole('button', { name: 'Up 1' })
    await pressed.waitFor({ timeout: NETWORK_MS })
    await expect(pressed.getAttribute('aria-pressed')).resolves.toBe('true')
    await theirs.getByText('1 up, 0 down').waitFor({ timeout: PAGE_MS })
    // The vote reaches Alice's page live (who voted, it does not say).
    await mine.getByRole('button', { name: 'Up 1' }).waitFor({ timeout: NETWORK_MS })
    await expect(mine.getByRole('button', { name: 'Up 1' }).getAttribute('aria-pressed')).resolves.toBe('false')
    // Pressed shows more than a colour: a visible ✓ on the pressed button only.
    await expect(pressed.locator('.pressed-mark').isVisible()).resolves.toBe(true)
    await expect(theirs.locator('button.vote-down .pressed-mark').isVisible()).resolves.toBe(false)
    // Someone else's vote updates Bob's buttons in place: his focus stays on his Up button.
    await pressed.focus()
    const postId = (await alice.client.groupFeed('garden_ui')).posts[0]!.id
    await alice.client.votePost('garden_ui', postId, 'down')
    await theirs.getByRole('button', { name: 'Down 1' }).waitFor({ timeout: NETWORK_MS })
    await expect(bobPage.evaluate('document.activeElement.isConnected && document.activeElement.classList.contains("vote-up")')).resolves.toBe(true)
    await screenshot(bobPage, 'collectives-group-voted')
    const report = await accessibilityReport(bobPage)
    expect(report.unnamed, report.controls.join(', ')).toEqual([])
    expectOnlyTheNode(traffic, alice)
  })

  it('hosts an event from the form; the other answers Going with a pressed button; the host reads the answer', async () => {
    const { page: alicePage, traffic } = await signedInPage(alice)
    const { page: bobPage } = await signedInPage(bob)
    for (const page of [alicePage, bobPage]) await page.getByRole('link', { name: 'Events', exact: true }).click()
    await alicePage.getByText('Host an event', { exact: true }).click()
    await alicePage.getByLabel('Title').fill('Seed swap')
    await alicePage.getByLabel('Starts').fill('2030-05-01T10:00')
    await alicePage.getByLabel('Place (optional)').fill('The community garden')
    await alicePage.getByRole('button', { name: 'Host the event' }).click()
    const hosted = alicePage.locator('li.event', { hasText: 'Seed swap' })
    await hosted.getByText('Answers: none yet').waitFor({ timeout: PAGE_MS })

    const offered = bobPage.locator('li.event', { hasText: 'Seed swap' })
    await offered.waitFor({ timeout: NETWORK_MS })
    await offered.getByText('The community garden').waitFor({ timeout: PAGE_MS })
    // The host sits on a control of the event while the answer arrives: focus stays on it.
    await hosted.getByRole('button', { name: 'Cancel the event' }).focus()
    await offered.getByLabel('A note to the host with your answer (optional)').fill('bringing seeds')
    await offered.getByRole('button', { name: 'Going', exact: true }).click()
    await offered.locator('button[data-choice="going"][aria-pressed="true"]').waitFor({ timeout: PAGE_MS })
    // Focus is on the pressed Going button of the redrawn event, not on <body>.
    await expect(bobPage.evaluate('document.activeElement.isConnected && document.activeElement.getAttribute("data-choice")')).resolves.toBe('going')
    await hosted.getByText(/Answers: 1 going/).waitFor({ timeout: NETWORK_MS })
    await hosted.getByText('bringing seeds').waitFor({ timeout: PAGE_MS })
    await expect(alicePage.evaluate('document.activeElement.isConnected && document.activeElement.textContent')).resolves.toBe('Cancel the event')
    // The host edits the event; the other browser shows the new title.
    await hosted.getByText('Edit the event', { exact: true }).click()
    await hosted.getByLabel('Title').fill('Seed and plant swap')
    await hosted.getByRole('button', { name: 'Save the changes' }).click()
    await bobPage.locator('li.event', { hasText: 'Seed and plant swap' }).waitFor({ timeout: NETWORK_MS })
    await screenshot(alicePage, 'collectives-event-host')
    for (const page of [alicePage, bobPage]) expect((await accessibilityReport(page)).unnamed).toEqual([])
    expectOnlyTheNode(traffic, alice)
  })
})
