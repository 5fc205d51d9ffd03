/**
 * The web UI in real headless Chromium against two real nodes (and their
 * network's Operator), each node with its real control API server on
 * 127.0.0.1: sign-in (one-time link, token, and refusals), adding a contact
 * by invite code and by name, a conversation both ways with live updates and
 * delivery states, keyboard-only sending, registering a name with its proof
 * of work shown, accessibility read from Chromium's accessibility tree, and
 * phone/desktop screenshots.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupApi, startApiNode, type ApiNode } from '../client/api-helpers.js'
import { connect } from '../node/cluster.js'
import { cleanupOperators, startOperator } from '../node/registry-operators.js'
import {
  DESKTOP, PHONE, accessibilityReport, buildWebUi, focused, launchChromium, lowContrastText, screenshot, sidewaysScrollers
} from './browser.js'

/** Deadline for what crosses the network (proof of work, gossip, a receipt): generous on 2 busy cores. */
const NETWORK_MS = 30_000
/** Deadline for what happens inside one page. */
const PAGE_MS = 10_000

/** How the UI names a contact without a registered name: "Contact " and the first two groups of its fingerprint. */
function shownName (fingerprint: string): string {
  return `Contact ${fingerprint.split(' ').slice(0, 2).join(' ')}`
}

describe('web UI in Chromium', () => {
  let browser: Browser
  let removeWebRoot: () => Promise<void>
  let alice: ApiNode
  let bob: ApiNode
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []

  async function newPage (viewport = DESKTOP, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
    const context = await browser.newContext({ viewport, colorScheme })
    contexts.push(context)
    const page = await context.newPage()
    // A script error or a CSP refusal is a failure of the UI, even when the screen looks right.
    page.on('pageerror', (error) => { pageErrors.push(error.message) })
    page.on('console', (message) => {
      // Chromium logs every 4xx answer; those the test provokes are checked where they are shown.
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
        pageErrors.push(message.text())
      }
    })
    return page
  }

  /** Opens the UI of `node` through a fresh one-time link and waits for the signed-in app. */
  async function signedInPage (node: ApiNode, viewport = DESKTOP, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
    const page = await newPage(viewport, colorScheme)
    await page.goto(node.server.loginUrl())
    await page.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: PAGE_MS })
    return page
  }

  beforeAll(async () => {
    const built = await buildWebUi()
    removeWebRoot = built.remove
    browser = await launchChromium()
    const { config, address } = await startOperator()
    alice = await startApiNode({ operator: config, bootstrap: [address] }, { webRoot: built.webRoot })
    bob = await startApiNode({ operator: config, bootstrap: [address] }, { webRoot: built.webRoot })
    await connect(alice.node, bob.node)
  })

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await cleanupApi()
    await cleanupOperators()
    await removeWebRoot?.()
  })

  it('shows the sign-in screen without a session; the API answers 401; a wrong token and a spent link are explained', async () => {
    const page = await newPage()
    const response = await page.goto(alice.server.url)
    // The UI runs under the API's strict policy (no inline script or style; any violation fails the last test).
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'")
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: PAGE_MS })
    const refused = await page.request.get(`${alice.server.url}/api/status`)
    expect(refused.status()).toBe(401)
    expect((await refused.json()).error.code).toBe('unauthorized')

    await page.getByLabel('Access token').fill('f'.repeat(64))
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'not the API token' }).waitFor({ timeout: PAGE_MS })
    expect((await page.request.get(`${alice.server.url}/api/status`)).status()).toBe(401)

    // A link works once: the second browser gets the sign-in screen and the reason, and no code stays in the address bar.
    const link = alice.server.loginUrl()
    const first = await newPage()
    await first.goto(link)
    await first.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: PAGE_MS })
    expect(first.url()).not.toContain('#login=')
    const second = await newPage()
    await second.goto(link)
    await second.getByRole('alert').filter({ hasText: 'used already or has expired' }).waitFor({ timeout: PAGE_MS })
    expect(second.url()).not.toContain('#login=')
    expect((await second.request.get(`${alice.server.url}/api/status`)).status()).toBe(401)

    // The token itself signs in too.
    await second.getByLabel('Access token').fill(alice.token)
    await second.getByRole('button', { name: 'Sign in' }).click()
    await second.getByRole('navigation', { name: 'Main' }).waitFor({ timeout: PAGE_MS })
    expect((await second.request.get(`${alice.server.url}/api/status`)).status()).toBe(200)
  })

  it('adds a contact by invite code, then carries a conversation both ways live, with delivery states, sent by keyboard alone', async () => {
    const alicePage = await signedInPage(alice)
    const bobPage = await signedInPage(bob)
    const aliceName = shownName(alice.node.status().fingerprint)
    const bobName = shownName(bob.node.status().fingerprint)

    // Bob's invite code, as he would copy it from his Identity screen.
    await bobPage.getByRole('link', { name: 'Identity' }).click()
    const invite = await bobPage.getByLabel('Your invite code').inputValue()
    expect(invite).toMatch(/^KOMRADE1-/)

    await alicePage.getByRole('link', { name: 'Contacts' }).click()
    await alicePage.getByLabel('Name or invite code').fill(invite)
    await alicePage.getByRole('button', { name: 'Add contact' }).click()
    await alicePage.getByRole('status').filter({ hasText: `Added ${bobName}` }).waitFor({ timeout: NETWORK_MS })
    const listed = alicePage.locator('li.contact', { hasText: bobName })
    await expect(listed.locator('.fingerprint').innerText()).resolves.toContain(bob.node.status().fingerprint)

    // Keyboard only: Tab to Bob's conversation, Enter opens it and puts focus in the composer, Enter sends.
    await alicePage.getByRole('link', { name: 'Chats' }).click()
    await alicePage.getByRole('link', { name: new RegExp(bobName) }).waitFor({ timeout: PAGE_MS })
    await alicePage.locator('body').focus()
    let reached = false
    for (let presses = 0; presses < 30 && !reached; presses++) {
      await alicePage.keyboard.press('Tab')
      reached = (await focused(alicePage)).text.includes(bobName)
    }
    expect(reached, 'Tab reaches the conversation').toBe(true)
    await alicePage.keyboard.press('Enter')
    await alicePage.getByRole('heading', { name: bobName, level: 2 }).waitFor({ timeout: PAGE_MS })
    expect(await focused(alicePage)).toMatchObject({ tag: 'textarea', label: `Message to ${bobName}` })
    await alicePage.keyboard.type('Hello Bob, typed in a browser')
    await alicePage.keyboard.press('Enter')
    const sent = alicePage.locator('li.message.out', { hasText: 'Hello Bob, typed in a browser' })
    await sent.waitFor({ timeout: PAGE_MS })
    expect(await alicePage.getByLabel(`Message to ${bobName}`).inputValue()).toBe('')

    // Bob's page, on the conversation list, gets the new conversation live, with an unread count.
    await bobPage.getByRole('link', { name: 'Chats' }).click()
    const fromAlice = bobPage.getByRole('link', { name: new RegExp(`${aliceName}.*1 unread message`) })
    await fromAlice.waitFor({ timeout: NETWORK_MS })
    await fromAlice.click()
    await bobPage.locator('li.message.in', { hasText: 'Hello Bob, typed in a browser' }).waitFor({ timeout: PAGE_MS })
    // What arrives from now on is read out by screen readers (the history, loaded first, is not).
    expect(await bobPage.getByRole('log').getAttribute('aria-live')).toBe('polite')

    // Bob's node answered with a receipt: Alice's copy turns to delivered.
    await sent.locator('.state', { hasText: 'Delivered' }).waitFor({ timeout: NETWORK_MS })

    // Both conversations open: each reply appears live on the other side.
    await bobPage.getByLabel(`Message to ${aliceName}`).fill('Hi Alice, it arrived')
    await bobPage.getByRole('button', { name: 'Send' }).click()
    await alicePage.getByRole('log').locator('li.message.in', { hasText: 'Hi Alice, it arrived' }).waitFor({ timeout: NETWORK_MS })
    await alicePage.getByLabel(`Message to ${bobName}`).fill('Line one\nline two')
    await alicePage.getByLabel(`Message to ${bobName}`).press('Enter')
    await bobPage.getByRole('log').locator('li.message.in', { hasText: 'line two' }).waitFor({ timeout: NETWORK_MS })
    await bobPage.locator('li.message.out', { hasText: 'Hi Alice, it arrived' }).locator('.state', { hasText: 'Delivered' }).waitFor({ timeout: NETWORK_MS })

    // An error from the API is shown as its sentence, and the text typed stays.
    const tooLong = 'x'.repeat(1024 * 1024 + 1)
    await alicePage.getByLabel(`Message to ${bobName}`).fill(tooLong)
    await alicePage.getByRole('button', { name: 'Send' }).click()
    await alicePage.getByRole('alert').filter({ hasText: 'A message holds at most 1048576 bytes' }).waitFor({ timeout: PAGE_MS })
    expect((await alicePage.getByLabel(`Message to ${bobName}`).inputValue()).length).toBe(tooLong.length)
  })

  it('names every control and has landmarks and headings on every screen; fits a phone; screenshots saved', async () => {
    const phone = await signedInPage(bob, PHONE)
    const aliceName = shownName(alice.node.status().fingerprint)
    const screens: Array<{ name: string, open: () => Promise<void> }> = [
      { name: 'conversations', open: async () => { await phone.getByRole('link', { name: 'Chats' }).click() } },
      { name: 'conversation', open: async () => { await phone.getByRole('link', { name: new RegExp(aliceName) }).click() } },
      { name: 'contacts', open: async () => { await phone.getByRole('link', { name: 'Contacts' }).click() } },
      { name: 'verify', open: async () => { await phone.getByRole('link', { name: `Verify ${aliceName}` }).click() } },
      { name: 'identity', open: async () => { await phone.getByRole('link', { name: 'Identity' }).click() } },
      { name: 'status', open: async () => { await phone.getByRole('link', { name: 'Status' }).click() } }
    ]
    for (const screen of screens) {
      await screen.open()
      await phone.waitForLoadState('networkidle')
      await phone.getByText('Loading…').first().waitFor({ state: 'hidden', timeout: PAGE_MS })
      const report = await accessibilityReport(phone)
      expect(report.unnamed, `${screen.name}: controls without a name among ${report.controls.join(', ')}`).toEqual([])
      expect(report.landmarks.filter((l) => l === 'main'), screen.name).toHaveLength(1)
      expect(report.landmarks, screen.name).toContain('navigation')
      expect(report.landmarks, screen.name).toContain('banner')
      expect(report.headings.filter((h) => h.startsWith('h1 ')), screen.name).toEqual(['h1 Komrade'])
      expect(report.headings.some((h) => h.startsWith('h2 ')), screen.name).toBe(true)
      expect(await sidewaysScrollers(phone), `${screen.name} scrolls sideways at ${PHONE.width} px`).toEqual([])
      expect(await lowContrastText(phone), `${screen.name}: text below WCAG AA contrast`).toEqual([])
      await screenshot(phone, `phone-${screen.name}`)
    }
    // The status screen shows what the API reports: peers (Alice and the Operator) and the registry.
    await phone.locator('dd', { hasText: '2 connected' }).waitFor({ timeout: PAGE_MS })
    await phone.locator('dd', { hasText: /^Operator [0-9a-f]{12}…/ }).waitFor({ timeout: PAGE_MS })

    const signIn = await newPage(PHONE)
    await signIn.goto(bob.server.url)
    await signIn.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: PAGE_MS })
    expect((await accessibilityReport(signIn)).unnamed).toEqual([])
    expect(await sidewaysScrollers(signIn)).toEqual([])
    await screenshot(signIn, 'phone-sign-in')

    const desktop = await signedInPage(alice, DESKTOP)
    await desktop.getByRole('link', { name: new RegExp(shownName(bob.node.status().fingerprint)) }).click()
    await desktop.locator('li.message').first().waitFor({ timeout: PAGE_MS })
    expect(await lowContrastText(desktop)).toEqual([])
    await screenshot(desktop, 'desktop-conversation')
    // The dark theme (prefers-color-scheme) meets the same contrast.
    const dark = await signedInPage(alice, DESKTOP, 'dark')
    await dark.getByRole('link', { name: new RegExp(shownName(bob.node.status().fingerprint)) }).click()
    await dark.locator('li.message').first().waitFor({ timeout: PAGE_MS })
    expect(await lowContrastText(dark)).toEqual([])
    await screenshot(dark, 'desktop-conversation-dark')
  })

  it('registers a name showing its proof of work, and another node adds the contact by that name', async () => {
    const bobPage = await signedInPage(bob)
    await bobPage.getByRole('link', { name: 'Identity' }).click()
    // The answer to the registration is held until the page has shown proof-of-work progress from a `work` event,
    // which the node sends before it can answer: the progress is checked, whatever the speed of the machine.
    let progressShown!: () => void
    const shown = new Promise<void>((resolve) => { progressShown = resolve })
    await bobPage.route('**/api/register', async (route) => {
      const response = await route.fetch()
      await shown
      await route.fulfill({ response })
    })
    await bobPage.getByLabel('Name', { exact: true }).fill('bob_web')
    await bobPage.getByRole('button', { name: 'Register' }).click()
    await bobPage.getByRole('status').filter({ hasText: /^Proof of work: [\d,]+ of about [\d,]+ tries\.$/ }).waitFor({ timeout: NETWORK_MS })
    expect(await bobPage.getByRole('progressbar', { name: 'Proof of work' }).isVisible()).toBe(true)
    progressShown()
    await bobPage.locator('main').getByText('Registered bob_web.').waitFor({ timeout: NETWORK_MS })
    await bobPage.locator('dd', { hasText: 'bob_web' }).waitFor({ timeout: PAGE_MS })

    // Alice already has Bob's keys (from his invite); adding him by name attaches the name the registry verified.
    const alicePage = await signedInPage(alice)
    await alicePage.getByRole('link', { name: 'Contacts' }).click()
    await alicePage.getByLabel('Name or invite code').fill('bob_web')
    await alicePage.getByRole('button', { name: 'Add contact' }).click()
    await alicePage.getByRole('status').filter({ hasText: 'Added bob_web' }).waitFor({ timeout: NETWORK_MS })
    await alicePage.locator('li.contact', { hasText: 'bob_web' }).locator('.fingerprint', { hasText: bob.node.status().fingerprint }).waitFor({ timeout: PAGE_MS })

    // A name nobody registered: the API's sentence, and the input keeps what was typed.
    await alicePage.getByLabel('Name or invite code').fill('nobody_here')
    await alicePage.getByRole('button', { name: 'Add contact' }).click()
    await alicePage.getByRole('alert').filter({ hasText: /\w+ \w+/ }).waitFor({ timeout: NETWORK_MS })
    expect(await alicePage.getByLabel('Name or invite code').inputValue()).toBe('nobody_here')
  })

  it('signing out ends the session: the sign-in screen, and 401 from the API', async () => {
    const page = await signedInPage(alice)
    expect((await page.request.get(`${alice.server.url}/api/status`)).status()).toBe(200)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: PAGE_MS })
    expect((await page.request.get(`${alice.server.url}/api/status`)).status()).toBe(401)
    expect(pageErrors).toEqual([])
  })
})
