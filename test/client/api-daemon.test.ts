/**
 * `runDaemon`, what `komrade start` runs, in this process: the node and the
 * API together, api.json and api.token (0600), the printed sign-in link,
 * finding the daemon from its data directory (and the errors when there is
 * none or the token is wrong), a taken port, and a clean stop.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { API_ENDPOINT_FILE, API_TOKEN_FILE, connectToDaemon } from '../../client/api/discover.js'
import { createKomradeClient, KomradeApiError } from '../../client/api/client.js'
import { runDaemon, type DaemonInfo, type DaemonOptions } from '../../client/daemon.js'
import { ConfigError, resolveConfig } from '../../node/config.js'
import { createLogger, silentLogger } from '../../node/logger.js'

let dataDir: string
beforeEach(async () => { dataDir = await mkdtemp(join(tmpdir(), 'komrade-daemon-api-')) })
afterEach(async () => { await rm(dataDir, { recursive: true, force: true }) })

interface Running {
  info: DaemonInfo
  output: () => string
  logs: () => string
  stop: () => Promise<void>
}

function collect (): { stream: PassThrough, text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => { text += chunk.toString() })
  return { stream, text: () => text }
}

/** Starts a daemon on a free API port and resolves once it is ready. */
async function start (options: Partial<DaemonOptions> = {}, flags: Record<string, unknown> = {}): Promise<Running> {
  const config = await resolveConfig({ flags: { dataDir, apiPort: 0, ...flags }, env: {} })
  const controller = new AbortController()
  const out = collect()
  const logs = collect()
  let ready: (info: DaemonInfo) => void = () => {}
  const readyNow = new Promise<DaemonInfo>((resolve) => { ready = resolve })
  const done = runDaemon(config, {
    signal: controller.signal, out: out.stream, logger: createLogger({ stream: logs.stream, json: true, level: 'info' }),
    nodeInit: { workThreads: 1 }, webRoot: join(dataDir, 'no-ui'), ...options, onReady: ready
  })
  const info = await Promise.race([readyNow, done.then(() => { throw new Error('the daemon ended before it was ready') })])
  return { info, output: out.text, logs: logs.text, stop: async () => { controller.abort(); await done } }
}

describe('runDaemon', () => {
  it('runs the node and the API, writes api.json and api.token (0600), prints the links, and cleans up on stop', async () => {
    const daemon = await start()
    const lines = daemon.output().trim().split('\n')
    expect(lines[0]).toBe('Komrade node running (Ctrl-C to stop)')
    const api = lines.find((line) => line.startsWith('api: '))!.slice(5)
    const web = lines.find((line) => line.startsWith('web: '))!.slice(5)
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(web).toMatch(new RegExp(`^${api.replaceAll('.', '\\.')}/#login=[A-Za-z0-9_-]{22}$`))
    expect(daemon.info).toMatchObject({ apiUrl: api, webUrl: web, dataDir })

    const endpointPath = join(dataDir, API_ENDPOINT_FILE)
    expect(JSON.parse(await readFile(endpointPath, 'utf8'))).toEqual({ url: api, pid: process.pid })
    expect((await stat(endpointPath)).mode & 0o777).toBe(0o600)
    const token = (await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')).trim()
    expect((await stat(join(dataDir, API_TOKEN_FILE))).mode & 0o777).toBe(0o600)

    // The CLI's way in: the data directory is enough.
    const client = await connectToDaemon(dataDir)
    expect((await client.status()).id).toBe(daemon.info.node.status().id)
    // The browser's way in: the printed link's code, once.
    const code = new URL(web).hash.slice('#login='.length)
    const browser = createKomradeClient({ url: api })
    await browser.login({ code })
    await expect(browser.login({ code })).rejects.toMatchObject({ code: 'unauthorized' })

    const events = createKomradeClient({ url: api, token }).events()[Symbol.asyncIterator]()
    expect((await events.next()).value).toMatchObject({ type: 'hello' })
    await daemon.stop()
    // The stream ends when the daemon stops (after what was on its way already: a start-up event may
    // still be in flight, such as a status change); nothing is left behind.
    let last = await events.next()
    const before: unknown[] = []
    while (last.done !== true && before.length < 50) {
      before.push(last.value)
      last = await events.next()
    }
    expect(last, `events after hello: ${JSON.stringify(before).slice(0, 300)}`).toEqual({ value: undefined, done: true })
    await expect(stat(endpointPath)).rejects.toMatchObject({ code: 'ENOENT' })
    expect(daemon.logs()).toContain('"message":"stopped"')
    await expect(connectToDaemon(dataDir)).rejects.toMatchObject({ name: 'KomradeApiError', code: 'no_daemon' })
  })

  it('keeps the token across restarts, rotates it when asked, and prints one JSON line with --json', async () => {
    const first = await start({ json: true })
    const facts = JSON.parse(first.output().trim()) as Record<string, string>
    expect(first.output().trim().split('\n')).toHaveLength(1)
    expect(facts).toMatchObject({ id: first.info.node.status().id, publicIdentity: first.info.node.publicIdentity, api: first.info.apiUrl, web: first.info.webUrl, dataDir })
    expect(facts.addresses).toContain('/ip4/127.0.0.1/tcp/')
    const token = await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')
    await first.stop()

    const second = await start()
    expect(await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')).toBe(token)
    await second.stop()

    const third = await start({ rotateToken: true })
    const rotated = (await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')).trim()
    expect(rotated).not.toBe(token.trim())
    await expect(createKomradeClient({ url: third.info.apiUrl, token: token.trim() }).status()).rejects.toMatchObject({ code: 'unauthorized' })
    expect((await createKomradeClient({ url: third.info.apiUrl, token: rotated }).status()).running).toBe(true)
    await third.stop()
  })

  it('refuses a taken API port with a ConfigError, leaving nothing running', async () => {
    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const port = (blocker.address() as { port: number }).port
    try {
      const config = await resolveConfig({ flags: { dataDir, apiPort: port }, env: {} })
      const error = await runDaemon(config, {
        signal: new AbortController().signal, out: new PassThrough(), logger: silentLogger(), nodeInit: { workThreads: 1 }
      }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toContain(`port ${port}`)
      expect((error as Error).message).toContain('--api-port')
      await expect(stat(join(dataDir, API_ENDPOINT_FILE))).rejects.toMatchObject({ code: 'ENOENT' })
    } finally {
      blocker.close()
    }
    // The node was stopped: its data directory is free for the next daemon.
    const daemon = await start()
    await daemon.stop()
  })
})

describe('connectToDaemon', () => {
  it('says no_daemon for no api.json, a dead pid, a damaged file or nothing listening', async () => {
    const noFile = await connectToDaemon(dataDir).catch((e: unknown) => e)
    expect(noFile).toBeInstanceOf(KomradeApiError)
    expect(noFile).toMatchObject({ code: 'no_daemon', status: 0 })
    expect((noFile as Error).message).toContain('komrade start')

    const child = spawn(process.execPath, ['-e', ''])
    await once(child, 'exit')
    await writeFile(join(dataDir, API_ENDPOINT_FILE), JSON.stringify({ url: 'http://127.0.0.1:7717', pid: child.pid }))
    const dead = await connectToDaemon(dataDir).catch((e: unknown) => e)
    expect(dead).toMatchObject({ code: 'no_daemon' })
    expect((dead as Error).message).toContain(`pid ${child.pid}`)

    await writeFile(join(dataDir, API_ENDPOINT_FILE), '{"url": 7')
    await expect(connectToDaemon(dataDir)).rejects.toMatchObject({ code: 'no_daemon' })

    await writeFile(join(dataDir, API_TOKEN_FILE), 'a'.repeat(64))
    await writeFile(join(dataDir, API_ENDPOINT_FILE), JSON.stringify({ url: 'http://127.0.0.1:1', pid: process.pid }))
    await expect(connectToDaemon(dataDir)).rejects.toMatchObject({ code: 'no_daemon' })
  })

  it('says bad_token when the token file is missing or the daemon refuses it', async () => {
    const daemon = await start()
    await writeFile(join(dataDir, API_TOKEN_FILE), 'd'.repeat(64)) // not the token the daemon holds
    await expect(connectToDaemon(dataDir)).rejects.toMatchObject({ code: 'bad_token' })
    await rm(join(dataDir, API_TOKEN_FILE))
    await expect(connectToDaemon(dataDir)).rejects.toMatchObject({ code: 'bad_token' })
    await daemon.stop()
  })
})

describe('the apiPort setting', () => {
  it('comes from --api-port, KOMRADE_API_PORT or config.json, defaults to 7717, and must be a port', async () => {
    expect((await resolveConfig({ flags: { dataDir }, env: {} })).apiPort).toBe(7717)
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ apiPort: 8123 }))
    expect((await resolveConfig({ flags: { dataDir }, env: {} })).apiPort).toBe(8123)
    expect((await resolveConfig({ flags: { dataDir }, env: { KOMRADE_API_PORT: '0' } })).apiPort).toBe(0)
    expect((await resolveConfig({ flags: { dataDir, apiPort: '9000' }, env: { KOMRADE_API_PORT: '0' } })).apiPort).toBe(9000)
    await expect(resolveConfig({ flags: { dataDir }, env: { KOMRADE_API_PORT: 'http' } })).rejects.toThrow(/KOMRADE_API_PORT/)
    await expect(resolveConfig({ flags: { dataDir, apiPort: '70000' }, env: {} })).rejects.toThrow(/--api-port/)
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ apiPort: -1 }))
    await expect(resolveConfig({ flags: { dataDir }, env: {} })).rejects.toThrow(ConfigError)
  })
})
