/**
 * `komrade demo --json` as a real process: both web UI links answer with
 * the UI, each login code signs in once, the CLI works against its nodes,
 * and SIGINT stops everything, deletes the temporary directories and exits 0.
 */
import { readFile, stat } from 'node:fs/promises'
import { afterAll, expect, it } from 'vitest'
import { createKomradeClient } from '../../client/api/client.js'
import { cleanupProcesses, komrade, runKomrade, until } from './cli-process.js'

afterAll(cleanupProcesses)

interface DemoInfo {
  links: { ada: string, grace: string }
  urls: { ada: string, grace: string }
  dataDirs: Record<string, string>
  root: string
}

it('starts a network, hands out two working sign-in links, and cleans up on Ctrl-C', async () => {
  const demo = komrade(['demo', '--json'])
  await until('the demo ready line', () => demo.stdout.includes('\n') || demo.child.exitCode !== null, 100_000)
  expect(demo.stdout, demo.stderr).toContain('\n')
  const info = JSON.parse(demo.stdout.split('\n')[0]!) as DemoInfo
  expect(Object.keys(info.dataDirs)).toHaveLength(5)
  expect((await stat(info.root)).isDirectory()).toBe(true)

  for (const who of ['ada', 'grace'] as const) {
    const link = new URL(info.links[who])
    expect(link.hostname).toBe('127.0.0.1')
    const page = await fetch(link.origin + '/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toContain('text/html')
    expect(await page.text()).toContain('<script')
    const code = new URLSearchParams(link.hash.slice(1)).get('login')!
    const session = await fetch(`${link.origin}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })
    expect(session.status).toBe(204)
    expect(session.headers.get('set-cookie')).toMatch(/HttpOnly/i)
    const again = await fetch(`${link.origin}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })
    expect(again.status).toBe(401) // one time only
  }

  // The opening conversation is there, delivered, and the CLI reaches the demo's nodes.
  const graceInbox = await runKomrade(['inbox', '--json', '--data-dir', info.dataDirs.grace!])
  const texts = (JSON.parse(graceInbox.stdout) as Array<{ text: string }>).map((m) => m.text)
  expect(texts.length).toBeGreaterThanOrEqual(2)
  const adaStatus = await runKomrade(['status', '--json', '--data-dir', info.dataDirs.ada!])
  expect(JSON.parse(adaStatus.stdout)).toMatchObject({ name: 'ada' })
  expect((JSON.parse(adaStatus.stdout) as { peers: number }).peers).toBeGreaterThanOrEqual(1)
  const token = (await readFile(`${info.dataDirs.ada!}/api.token`, 'utf8')).trim()
  const outbox = await createKomradeClient({ url: info.urls.ada, token }).outbox()
  expect(outbox.length).toBeGreaterThanOrEqual(2)
  expect(outbox.every((m) => m.state === 'delivered')).toBe(true)

  demo.child.kill('SIGINT')
  expect(await demo.exited).toBe(0)
  await expect(stat(info.root)).rejects.toThrow()
  expect(demo.stderr).toContain('Stopped.')
}, 120_000)
