/**
 * Post places in the web UI, in real headless Chromium against a real node
 * (its control API and its network's Operator on 127.0.0.1), with every
 * request not to 127.0.0.1 blocked and counted (none expected): the
 * composer's "Add my area" asks for the reader's position when none is
 * kept and sends only the centre of the area's cell; the World feed's and
 * a group feed's "Near me: within R km" hide a far post and a placeless
 * one and show a near one with "≈ 4.9 km area, 26 km from you"; the
 * reader's position is in no request (URL or body) the page makes; the
 * controls are named and keyboard operable.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeGeohash, encodeGeohash } from '../../protocol/index.js'
import { cleanupApi, startApiNode, type ApiNode } from '../client/api-helpers.js'
import { cleanupOperators, startOperator } from '../node/registry-operators.js'
import { DESKTOP, accessibilityReport, buildWebUi, focused, launchChromium } from './browser.js'

const PAGE_MS = 15_000
const TTL = 10
/** The reader, typed into the page: Berlin. Its digits must appear in no request. */
const READER = { text: '52.52, 13.405', lat: '52.52', lon: '13.405' }
/** Potsdam (about 26 km from the reader's cell) and Paris (about 880 km). */
const POTSDAM = { lat: 52.39, lon: 13.06 }
const PARIS = { lat: 48.857, lon: 2.352 }

/** Every request a page made, and those refused for leaving 127.0.0.1. */
interface Traffic {
  urls: string[]
  bodies: string[]
  blocked: string[]
}

describe('post places in Chromium', () => {
  let browser: Browser
  let removeWebRoot: () => Promise<void>
  let alice: ApiNode
  let context: BrowserContext
  let page: Page
  const traffic: Traffic = { urls: [], bodies: [], blocked: [] }
  const pageErrors: string[] = []

  beforeAll(async () => {
    const [built, operator] = await Promise.all([buildWebUi(), startOperator()])
    removeWebRoot = built.remove
    browser = await launchChromium()
    alice = await startApiNode({ operator: operator.config, bootstrap: [operator.address] }, { webRoot: built.webRoot })
    await alice.client.register('alice_near')
    // Posted through the API (not the page): their places are no secret of the reader's.
    await alice.client.post({ text: 'Far: bonjour de Paris', location: PARIS, ttlMinutes: TTL })
    await alice.client.post({ text: 'Placeless: somewhere', ttlMinutes: TTL })
    await alice.client.post({ text: 'Near: the market in Potsdam', location: POTSDAM, ttlMinutes: TTL })
    await alice.client.createGroup('near_web')
    await alice.client.groupPost('near_web', { text: 'Group far: strike in Paris', location: PARIS, ttlMinutes: TTL })
    await alice.client.groupPost('near_web', { text: 'Group near: water in Potsdam', location: POTSDAM, ttlMinutes: TTL })

    context = await browser.newContext({ viewport: DESKTOP })
    // Nothing but the node: a request elsewhere is refused and counted.
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url())
      if (url.hostname === '127.0.0.1') await route.continue()
      else {
        traffic.blocked.push(url.href)
        await route.abort()
      }
    })
    page = await context.newPage()
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
    await page.goto(alice.server.loginUrl())
    await page.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: PAGE_MS })
  }, 60_000)

  afterAll(async () => {
    await context?.close().catch(() => {})
    await browser?.close()
    await cleanupApi()
    await cleanupOperators()
    await removeWebRoot?.()
  })

  it('"Add my area" asks for the position, shows the area\'s size, and sends only the cell\'s centre', async () => {
    await page.getByRole('link', { name: 'Feed', exact: true }).click()
    await page.getByRole('tab', { name: 'World', selected: true }).waitFor({ timeout: PAGE_MS })
    await page.getByText('Near: the market in Potsdam').waitFor({ timeout: PAGE_MS })
    const form = page.getByRole('form', { name: 'Write a post' })
    await form.getByLabel('Text').fill('Written near Alexanderplatz')

    // No position kept yet: the button opens the asker, focus in its field; Enter sets it (keyboard only).
    await form.getByRole('button', { name: 'Add my area' }).click()
    const asked = form.getByRole('textbox', { name: 'Your position' })
    await asked.waitFor({ timeout: PAGE_MS })
    await expect.poll(async () => (await focused(page)).label, { timeout: PAGE_MS }).toBe('Your position')
    await page.keyboard.type(READER.text)
    await page.keyboard.press('Enter')
    await form.getByText(/The post will carry an area \(≈ 4\.\d km area\) around your position/).waitFor({ timeout: PAGE_MS })
    await expect(form.getByRole('combobox', { name: 'Area size' }).inputValue()).resolves.toBe('5')
    await form.getByRole('button', { name: 'Remove my area' }).waitFor({ timeout: PAGE_MS })

    const sent = page.waitForRequest((request) => request.url().endsWith('/api/posts') && request.method() === 'POST')
    await form.getByRole('button', { name: 'Post', exact: true }).click()
    const body = JSON.parse((await sent).postData()!) as { location: { lat: number, lon: number, precision: number } }
    const cell = decodeGeohash(encodeGeohash(52.52, 13.405, 5))
    expect(body.location).toEqual({ lat: cell.lat, lon: cell.lon, precision: 5 })
    // Ours, at once, with its area and its distance from the reader's position (the cell's centre is 2.3 km away).
    const mine = page.locator('article.post', { hasText: 'Written near Alexanderplatz' })
    await mine.getByText(/≈ 4\.\d km area, 2\.3 km from you$/).waitFor({ timeout: PAGE_MS })
    await form.getByRole('button', { name: 'Add my area' }).waitFor({ timeout: PAGE_MS }) // the next post carries none unless asked again
  })

  it('the World feed\'s "Near me" hides the far and placeless posts and shows the near one, computed in the page', async () => {
    const near = page.locator('article.post', { hasText: 'Near: the market in Potsdam' })
    const far = page.locator('article.post', { hasText: 'Far: bonjour de Paris' })
    const placeless = page.locator('article.post', { hasText: 'Placeless: somewhere' })
    await expect(far.isVisible()).resolves.toBe(true)
    await far.getByText(/≈ 4\.\d km area, 8\d\d km from you$/).waitFor({ timeout: PAGE_MS })

    // Keyboard: focus the checkbox, Space ticks it; the radius field is next in the tab order.
    const filter = page.getByRole('group', { name: 'Filter posts by distance' })
    await filter.getByRole('checkbox', { name: 'Near me' }).focus()
    await page.keyboard.press('Space')
    await page.keyboard.press('Tab')
    await page.keyboard.press('ControlOrMeta+a')
    await page.keyboard.type('40')
    await page.getByText('Showing 2 of 4 posts loaded: those within 40 km of you.').waitFor({ timeout: PAGE_MS })
    await far.waitFor({ state: 'hidden', timeout: PAGE_MS })
    await expect(placeless.isVisible()).resolves.toBe(false)
    await expect(near.isVisible()).resolves.toBe(true)
    await near.getByText(/≈ 4\.\d km area, 2\d km from you$/).waitFor({ timeout: PAGE_MS })

    // Narrower: the near post goes too; off: everything is back.
    await filter.getByRole('spinbutton', { name: /within/ }).fill('5')
    await near.waitFor({ state: 'hidden', timeout: PAGE_MS })
    await filter.getByRole('checkbox', { name: 'Near me' }).uncheck()
    await far.waitFor({ state: 'visible', timeout: PAGE_MS })
    await expect(placeless.isVisible()).resolves.toBe(true)

    const report = await accessibilityReport(page)
    expect(report.unnamed, report.controls.join('\n')).toEqual([])
  })

  it('a group feed\'s "Near me" filters the same way', async () => {
    await page.evaluate('location.hash = "#/groups/near_web"')
    const near = page.locator('article.post', { hasText: 'Group near: water in Potsdam' })
    const far = page.locator('article.post', { hasText: 'Group far: strike in Paris' })
    await near.waitFor({ timeout: PAGE_MS })
    await expect(far.isVisible()).resolves.toBe(true)
    const filter = page.getByRole('group', { name: 'Filter posts by distance' })
    await filter.getByRole('spinbutton', { name: /within/ }).fill('40')
    await filter.getByRole('checkbox', { name: 'Near me' }).check()
    await far.waitFor({ state: 'hidden', timeout: PAGE_MS })
    await expect(near.isVisible()).resolves.toBe(true)
    await near.getByText(/≈ 4\.\d km area, 2\d km from you$/).waitFor({ timeout: PAGE_MS })
  })

  it('the position is in no request the page made, and nothing left 127.0.0.1', () => {
    expect(traffic.blocked).toEqual([])
    expect(traffic.urls.length).toBeGreaterThan(0)
    for (const url of traffic.urls) expect(new URL(url).hostname, url).toBe('127.0.0.1')
    for (const text of [...traffic.urls, ...traffic.bodies]) {
      expect(text).not.toContain(READER.lat)
      expect(text).not.toContain(READER.lon)
    }
    expect(pageErrors).toEqual([])
  })
})
