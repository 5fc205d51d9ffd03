/**
 * Browser test helpers: Debian's Chromium driven by playwright-core (which
 * downloads no browser of its own), the web UI built fresh from its sources,
 * and accessibility checks read from Chromium's own accessibility tree.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { build } from 'vite'

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium'
/** Screenshots are test artifacts (test-results/ is not committed). */
export const SCREENSHOTS = join(import.meta.dirname, '../../test-results/screenshots')
/** A small phone (the narrowest common width), and a laptop. */
export const PHONE = { width: 360, height: 740 }
export const DESKTOP = { width: 1280, height: 800 }

/** Roles a person operates: each needs an accessible name. */
const NAMED_ROLES = new Set(['button', 'link', 'textbox', 'searchbox', 'combobox', 'checkbox', 'radio', 'switch', 'slider', 'spinbutton', 'progressbar', 'menuitem', 'tab', 'listbox'])

/** Launches headless Debian Chromium, or fails saying how to install it. */
export async function launchChromium (): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The browser tests drive Debian's Chromium at ${CHROMIUM}, which is missing: run \`apt-get install chromium\` (.ci/run does it)`)
  }
  return await chromium.launch({ executablePath: CHROMIUM, headless: true })
}

/**
 * Builds the web UI from client/web into a temporary directory (a test of a
 * stale dist/web could pass on old code); returns the directory and its remover.
 */
export async function buildWebUi (): Promise<{ webRoot: string, remove: () => Promise<void> }> {
  const webRoot = await mkdtemp(join(tmpdir(), 'komrade-web-ui-'))
  await build({
    configFile: join(import.meta.dirname, '../../vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: webRoot, emptyOutDir: true }
  })
  return { webRoot, remove: async () => { await rm(webRoot, { recursive: true, force: true }) } }
}

/** A node of Chromium's accessibility tree (CDP `Accessibility.getFullAXTree`). */
interface AxNode {
  ignored: boolean
  role?: { value: string }
  name?: { value: string }
  properties?: Array<{ name: string, value: { value: unknown } }>
}

/** What Chromium computed for the page now: every operable control's role and name, landmarks, headings. */
export interface AccessibilityReport {
  /** Controls without an accessible name, as `role` (none expected). */
  unnamed: string[]
  /** Every control as `role "name"`, for reading a failure. */
  controls: string[]
  landmarks: string[]
  /** Headings as `h<level> name`. */
  headings: string[]
}

/** Reads the accessibility tree Chromium built (the one screen readers get). */
export async function accessibilityReport (page: Page): Promise<AccessibilityReport> {
  const cdp = await page.context().newCDPSession(page)
  try {
    const { nodes } = await cdp.send('Accessibility.getFullAXTree') as unknown as { nodes: AxNode[] }
    const report: AccessibilityReport = { unnamed: [], controls: [], landmarks: [], headings: [] }
    for (const node of nodes) {
      const role = node.role?.value ?? ''
      const name = (node.name?.value ?? '').trim()
      if (node.ignored) continue
      if (NAMED_ROLES.has(role)) {
        report.controls.push(`${role} "${name}"`)
        if (name === '') report.unnamed.push(role)
      }
      if (['banner', 'navigation', 'main', 'contentinfo', 'complementary'].includes(role)) report.landmarks.push(role)
      if (role === 'heading') {
        const level = node.properties?.find((p) => p.name === 'level')?.value.value
        report.headings.push(`h${String(level)} ${name}`)
      }
    }
    return report
  } finally {
    await cdp.detach()
  }
}

/** Elements that scroll sideways (their content is wider than they are): none expected on a phone. */
export async function sidewaysScrollers (page: Page): Promise<string[]> {
  return await page.evaluate(`[document.documentElement, ...document.querySelectorAll('body *')]
    .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'hidden' && e.clientWidth > 0
      && (e === document.documentElement || ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)))
    .map((e) => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '') + ' ' + e.scrollWidth + '>' + e.clientWidth)`) as string[]
}

/** Saves a full-page screenshot as a test artifact; returns its path. */
export async function screenshot (page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true })
  const path = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** The tag name (lower case) and accessible label of the focused element. */
export async function focused (page: Page): Promise<{ tag: string, text: string, label: string }> {
  return await page.evaluate(`(() => {
    const e = document.activeElement
    const label = e && e.labels && e.labels[0] ? e.labels[0].textContent : ''
    return { tag: e ? e.tagName.toLowerCase() : '', text: e ? (e.textContent || '').trim() : '', label: label || '' }
  })()`) as { tag: string, text: string, label: string }
}

/**
 * Text whose colour against its background is below WCAG AA (4.5:1, or 3:1
 * for large text), computed from the styles Chromium applied: none expected.
 */
export async function lowContrastText (page: Page): Promise<string[]> {
  return await page.evaluate(`(() => {
    const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number)
    const luminance = ([r, g, b]) => {
      const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4 }
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
    }
    const background = (e) => {
      for (; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor)
        if (c.length === 3 || c[3] > 0) return c
      }
      return [255, 255, 255]
    }
    const found = []
    for (const e of document.querySelectorAll('body *')) {
      const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== '')
      if (!own || e.closest('.visually-hidden') || e.getClientRects().length === 0) continue
      const style = getComputedStyle(e)
      if (style.visibility === 'hidden') continue
      const a = luminance(rgb(style.color)), b = luminance(background(e))
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)
      const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700
      const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5
      if (ratio < needed) found.push(e.tagName.toLowerCase() + ' "' + e.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2))
    }
    return found
  })()`) as string[]
}
