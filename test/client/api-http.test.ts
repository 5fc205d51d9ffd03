/**
 * The control API's gate and plumbing, against a real node and a real
 * server on 127.0.0.1: the token, login codes and session cookies, Host and
 * Origin checks, no CORS ever, JSON bodies (type, syntax, size), unknown
 * routes, the node's read endpoints, and the web UI's files.
 */
import { chmod, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_TOKEN_FILE } from '../../client/api/discover.js'
import {
  createApiAuth, LOGIN_CODE_TTL_MS, loadOrCreateToken, MAX_SESSIONS, SESSION_IDLE_MS, TOKEN_PRINCIPAL, TokenFileError
} from '../../client/api/auth.js'
import { createKomradeClient, KomradeApiError } from '../../client/api/client.js'
import { createApiServer } from '../../client/api/server.js'
import { defaultWebRoot } from '../../client/api/static-files.js'
import { resolveConfig } from '../../node/config.js'
import { bearer, cleanupApi, expectApiError, makeWebRoot, raw, rawResponses, startApiNode, type ApiNode } from './api-helpers.js'

let alice: ApiNode

beforeAll(async () => {
  alice = await startApiNode({}, { config: { ...await resolveConfig({ flags: { dataDir: '/tmp/komrade-api-config-test' }, env: {} }) } })
})

afterAll(async () => {
  // No answer of this file carried a CORS header, whatever was asked.
  expect(rawResponses.length).toBeGreaterThan(30)
  for (const response of rawResponses) {
    expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).toEqual([])
  }
  await cleanupApi()
})

describe('the token', () => {
  it('is refused when missing, wrong, or given in the query string', async () => {
    expectApiError(await raw(alice.server, { path: '/api/status' }), 401, 'unauthorized')
    const wrong = await raw(alice.server, { path: '/api/status', headers: { authorization: `Bearer ${'0'.repeat(64)}` } })
    expectApiError(wrong, 401, 'unauthorized')
    expect(wrong.headers['www-authenticate']).toMatch(/^Bearer/)
    expectApiError(await raw(alice.server, { path: `/api/status?token=${alice.token}` }), 401, 'unauthorized')
    expectApiError(await raw(alice.server, { path: `/api/status?access_token=${alice.token}` }), 401, 'unauthorized')
    expectApiError(await raw(alice.server, { path: '/api/status', headers: { authorization: alice.token } }), 401, 'unauthorized')
    expectApiError(await raw(alice.server, { path: '/api/status', headers: { authorization: `Basic ${alice.token}` } }), 401, 'unauthorized')
    // Unknown routes say nothing to a stranger either.
    expectApiError(await raw(alice.server, { path: '/api/nothing-here' }), 401, 'unauthorized')
    const ok = await raw(alice.server, { path: '/api/status', headers: bearer(alice) })
    expect(ok.status).toBe(200)
  })

  it('lives in a 0600 file, kept across restarts, and replaced only when asked', async () => {
    const path = join(alice.dataDir, API_TOKEN_FILE)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await loadOrCreateToken(alice.dataDir)).toBe(alice.token)
    const dir = await mkdtemp(join(tmpdir(), 'komrade-token-'))
    const first = await loadOrCreateToken(dir)
    expect(first).toMatch(/^[0-9a-f]{64}$/)
    const rotated = await loadOrCreateToken(dir, { rotate: true })
    expect(rotated).not.toBe(first)
    expect((await stat(join(dir, API_TOKEN_FILE))).mode & 0o777).toBe(0o600)
    await chmod(join(dir, API_TOKEN_FILE), 0o644)
    expect(await loadOrCreateToken(dir)).toBe(rotated)
    expect((await stat(join(dir, API_TOKEN_FILE))).mode & 0o777).toBe(0o600) // narrowed
    await writeFile(join(dir, API_TOKEN_FILE), 'not a token')
    await expect(loadOrCreateToken(dir)).rejects.toThrow(TokenFileError)
    await rm(dir, { recursive: true, force: true })
  })
})

describe('signing in', () => {
  function cookieOf (response: { headers: Record<string, unknown> }): string {
    const header = response.headers['set-cookie'] as string[] | undefined
    expect(header).toHaveLength(1)
    return header![0]!.split(';')[0]!
  }

  it('trades a login code, once, for a session cookie that works until logout', async () => {
    const code = alice.server.createLoginCode()
    const json = { 'content-type': 'application/json' }
    const login = await raw(alice.server, { method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({ code }) })
    expect(login.status).toBe(204)
    const setCookie = (login.headers['set-cookie'] as string[])[0]!
    expect(setCookie).toMatch(new RegExp(`^komrade_session_${alice.server.port}=[A-Za-z0-9_-]{22};`))
    expect(setCookie).toContain('HttpOnly')
    expect(setCookie).toContain('SameSite=Strict')
    expect(setCookie).toContain('Path=/')
    const cookie = cookieOf(login)

    const status = await raw(alice.server, { path: '/api/status', headers: { cookie: `other=1; ${cookie}` } })
    expect(status.status).toBe(200)
    expect(status.json().id).toBe(alice.node.status().id)

    // The code works once.
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({ code }) }), 401, 'unauthorized')
    // A made-up code or session does nothing.
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({ code: 'x'.repeat(22) }) }), 401, 'unauthorized')
    expectApiError(await raw(alice.server, { path: '/api/status', headers: { cookie: `komrade_session_${alice.server.port}=${'A'.repeat(22)}` } }), 401, 'unauthorized')
    // A cookie of another port's daemon is not this one's.
    expectApiError(await raw(alice.server, { path: '/api/status', headers: { cookie: cookie.replace(`_${alice.server.port}=`, '_1=') } }), 401, 'unauthorized')

    const logout = await raw(alice.server, { method: 'DELETE', path: '/api/session', headers: { cookie } })
    expect(logout.status).toBe(204)
    expect((logout.headers['set-cookie'] as string[])[0]).toContain('Max-Age=0')
    expectApiError(await raw(alice.server, { path: '/api/status', headers: { cookie } }), 401, 'unauthorized')
  })

  it('takes the token too, and refuses a wrong one or a request with both or neither', async () => {
    const json = { 'content-type': 'application/json' }
    const login = await raw(alice.server, { method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({ token: alice.token }) })
    expect(login.status).toBe(204)
    expect((await raw(alice.server, { path: '/api/identity', headers: { cookie: cookieOf(login) } })).status).toBe(200)
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({ token: 'f'.repeat(64) }) }), 401, 'unauthorized')
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({}) }), 400, 'bad_request')
    expectApiError(await raw(alice.server, {
      method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({ token: alice.token, code: 'abc' })
    }), 400, 'bad_request')
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/session', headers: json, body: JSON.stringify({ token: 42 }) }), 400, 'bad_request')
  })

  it('through the typed client: login and logout resolve, a spent code is unauthorized', async () => {
    const client = createKomradeClient({ url: alice.server.url })
    const code = alice.server.createLoginCode()
    await client.login({ code })
    await expect(client.login({ code })).rejects.toMatchObject({ name: 'KomradeApiError', code: 'unauthorized', status: 401 })
    await client.logout()
    // Without a cookie jar (Node) the session is not kept: the next call is unauthorized.
    await expect(client.status()).rejects.toMatchObject({ code: 'unauthorized' })
  })

  it('makes a new sign-in link for a client holding the token, and only for one', async () => {
    const link = await alice.client.createLoginLink()
    expect(link.url).toBe(`${alice.server.url}/#login=${link.code}`)
    await createKomradeClient({ url: alice.server.url }).login({ code: link.code })
    await expect(createKomradeClient({ url: alice.server.url }).createLoginLink()).rejects.toMatchObject({ code: 'unauthorized' })
  })

  it('expires login codes after 10 minutes', () => {
    let now = 1_000_000
    const auth = createApiAuth('a'.repeat(64), { now: () => now })
    const fresh = auth.createLoginCode()
    const stale = auth.createLoginCode()
    now += LOGIN_CODE_TTL_MS - 1
    expect(auth.redeemLoginCode(fresh)).toBe(true)
    now += 1
    expect(auth.redeemLoginCode(stale)).toBe(false)
    expect(auth.redeemLoginCode(stale)).toBe(false)
  })

  it('ends sessions on sign-out, after 12 hours unused, and the least recently used beyond 64, saying so each time', () => {
    let now = 1_000_000
    const ended: Array<[string, string]> = []
    const auth = createApiAuth('a'.repeat(64), { now: () => now, onSessionEnd: (id, reason) => { ended.push([id, reason]) } })
    const cookie = (id: string): { cookie: string } => ({ cookie: `komrade_session_1=${id}` })
    const [used, unused, leaving] = [auth.createSession(), auth.createSession(), auth.createSession()]
    expect(auth.authorize(cookie(used), 'komrade_session_1')).toBe(used)
    expect(auth.authorize({ authorization: `Bearer ${'a'.repeat(64)}` }, 'komrade_session_1')).toBe(TOKEN_PRINCIPAL)
    auth.endSession(leaving)
    auth.endSession(leaving) // once only
    expect(ended).toEqual([[leaving, 'signed out']])
    expect(auth.useSession(leaving)).toBe(false)

    // Each use keeps a session alive for another 12 hours; one unused that long ends, on use or on a sweep.
    now += SESSION_IDLE_MS - 1
    expect(auth.useSession(used)).toBe(true)
    now += 1
    auth.expireIdleSessions()
    expect(ended.at(-1)).toEqual([unused, 'session expired'])
    expect(auth.authorize(cookie(unused), 'komrade_session_1')).toBeUndefined()
    now += SESSION_IDLE_MS
    expect(auth.authorize(cookie(used), 'komrade_session_1')).toBeUndefined()
    expect(ended.at(-1)).toEqual([used, 'session expired'])

    // At the limit, the session used longest ago makes room (one used recently is kept).
    const sessions = Array.from({ length: MAX_SESSIONS }, () => auth.createSession())
    expect(auth.useSession(sessions[0]!)).toBe(true)
    auth.createSession()
    expect(ended.at(-1)).toEqual([sessions[1], 'too many sessions'])
    expect(auth.useSession(sessions[0]!)).toBe(true)
  })
})

describe('browser protections', () => {
  it('refuses other Hosts (DNS rebinding) with 421, on the API and the UI alike', async () => {
    for (const host of ['evil.example:80', `evil.example:${alice.server.port}`, '127.0.0.1', `127.0.0.1:${alice.server.port + 1}`, '']) {
      expectApiError(await raw(alice.server, { path: '/api/status', headers: { host, ...bearer(alice) } }), 421, 'bad_host')
      expectApiError(await raw(alice.server, { path: '/', headers: { host } }), 421, 'bad_host')
    }
    expect((await raw(alice.server, { path: '/api/status', headers: { host: `localhost:${alice.server.port}`, ...bearer(alice) } })).status).toBe(200)
    expect((await raw(alice.server, { path: '/api/status', headers: { host: `LOCALHOST:${alice.server.port}`, ...bearer(alice) } })).status).toBe(200)
  })

  it('refuses foreign Origins with 403, even with the token, and answers a preflight with no CORS', async () => {
    const own = `http://127.0.0.1:${alice.server.port}`
    for (const origin of ['http://evil.example', 'null', `http://localhost:${alice.server.port}`, `https://127.0.0.1:${alice.server.port}`, `${own}.evil.example`]) {
      expectApiError(await raw(alice.server, { path: '/api/status', headers: { origin, ...bearer(alice) } }), 403, 'forbidden_origin')
      expectApiError(await raw(alice.server, {
        method: 'POST', path: '/api/session', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ token: alice.token })
      }), 403, 'forbidden_origin')
    }
    expect((await raw(alice.server, { path: '/api/status', headers: { origin: own, ...bearer(alice) } })).status).toBe(200)
    const preflight = await raw(alice.server, {
      method: 'OPTIONS', path: '/api/messages', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' }
    })
    expect(preflight.status).toBe(403)
    const samePreflight = await raw(alice.server, { method: 'OPTIONS', path: '/api/messages', headers: bearer(alice) })
    expect(samePreflight.status).toBe(404)
  })
})

describe('request bodies', () => {
  it('must be JSON: wrong or missing content type is 415, before the body is read', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      expectApiError(await raw(alice.server, {
        method: 'POST', path: '/api/contacts', headers: { ...bearer(alice), 'content-type': type }, body: JSON.stringify({ contact: 'x' })
      }), 415, 'unsupported_media_type')
    }
    expectApiError(await raw(alice.server, { method: 'POST', path: '/api/contacts', headers: bearer(alice), body: '{}' }), 415, 'unsupported_media_type')
    const charset = await raw(alice.server, {
      method: 'POST', path: '/api/session', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ token: alice.token })
    })
    expect(charset.status).toBe(204)
  })

  it('must parse (400 bad_json) and be an object with the right fields (400 bad_request)', async () => {
    const json = { ...bearer(alice), 'content-type': 'application/json' }
    for (const body of ['{', '{"to": "x",}', 'undefined', "{'to': 1}", '\u0000']) {
      expectApiError(await raw(alice.server, { method: 'POST', path: '/api/messages', headers: json, body }), 400, 'bad_json')
    }
    for (const body of ['[]', '"text"', '42', 'null', '']) {
      expectApiError(await raw(alice.server, { method: 'POST', path: '/api/messages', headers: json, body }), 400, 'bad_request')
    }
    for (const body of [{}, { to: 'bob' }, { to: '', text: 'hi' }, { to: 5, text: 'hi' }, { to: 'bob', text: '' }, { to: 'bob', text: 7 }]) {
      expectApiError(await raw(alice.server, { method: 'POST', path: '/api/messages', headers: json, body: JSON.stringify(body) }), 400, 'bad_request')
    }
  })

  it('over 2 MiB are refused with 413, and the server keeps serving', async () => {
    const big = JSON.stringify({ to: 'a'.repeat(64), text: 'x'.repeat(3 * 1024 * 1024) })
    const declared = await raw(alice.server, { method: 'POST', path: '/api/messages', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: big })
    expectApiError(declared, 413, 'body_too_large')
    // Chunked: no length declared, counted while read.
    const chunked = await raw(alice.server, {
      method: 'POST', path: '/api/messages', headers: { ...bearer(alice), 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: big
    })
    expectApiError(chunked, 413, 'body_too_large')
    // The typed client sees the same.
    await expect(alice.client.send('a'.repeat(64), 'x'.repeat(3 * 1024 * 1024))).rejects.toMatchObject({ code: 'body_too_large', status: 413 })
    expect((await alice.client.status()).id).toBe(alice.node.status().id)
  })
})

describe('routes', () => {
  it('answers unknown routes and methods with 404 not_found', async () => {
    for (const [method, path] of [['GET', '/api/nothing'], ['GET', '/api'], ['PUT', '/api/status'], ['POST', '/api/status'], ['GET', '/api/contacts/a/b'], ['PATCH', '/api/contacts']]) {
      const headers = { ...bearer(alice), 'content-type': 'application/json' }
      expectApiError(await raw(alice.server, { method: method!, path: path!, headers, body: method === 'GET' ? undefined : '{}' }), 404, 'not_found')
    }
    expectApiError(await raw(alice.server, { method: 'POST', path: '/somewhere', headers: { 'content-type': 'application/json' }, body: '{}' }), 404, 'not_found')
  })

  it('serves status, identity and the configuration (no secrets)', async () => {
    const status = await alice.client.status()
    expect(status).toMatchObject({ apiVersion: 1, running: true, id: alice.node.status().id, peers: 0, workPending: 0 })
    expect(status.store.quotaBytes).toBeGreaterThan(0)
    expect(status.name).toBeUndefined()
    const identity = await alice.client.identity()
    expect(identity).toEqual({ id: status.id, fingerprint: status.fingerprint, publicIdentity: alice.node.publicIdentity, invite: alice.node.invite() })
    const config = await alice.client.config()
    expect(config).toMatchObject({ apiPort: 7717, networkName: 'komrade', quotaMiB: 512 })
    expect(Object.keys(config).some((key) => /token|passphrase/i.test(key))).toBe(false)
    // Every API answer is marked not to be cached.
    expect((await raw(alice.server, { path: '/api/status', headers: bearer(alice) })).headers['cache-control']).toBe('no-store')
  })

  it('answers 503 node_not_running when the node has stopped under the API', async () => {
    const stopped = await startApiNode()
    await stopped.node.stop()
    await expect(stopped.node.inbox()).rejects.toMatchObject({ name: 'NodeNotRunningError' })
    for (const path of ['/api/status', '/api/inbox', '/api/contacts']) {
      expectApiError(await raw(stopped.server, { path, headers: bearer(stopped) }), 503, 'node_not_running')
    }
  })

  it('raises KomradeApiError on the client with code, status and message', async () => {
    const stranger = createKomradeClient({ url: alice.server.url, token: 'b'.repeat(64) })
    const error = await stranger.status().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KomradeApiError)
    expect(error).toMatchObject({ code: 'unauthorized', status: 401 })
    expect((error as Error).message).toContain('token')
    const nobody = createKomradeClient({ url: 'http://127.0.0.1:1', token: alice.token })
    await expect(nobody.status()).rejects.toMatchObject({ code: 'no_daemon', status: 0 })
    expect(() => createKomradeClient({ url: '127.0.0.1:7717' })).toThrow(TypeError)
  })
})

describe('the web UI files', () => {
  it('serves index.html at / and assets with their types and the security headers', async () => {
    const index = await raw(alice.server, { path: '/' })
    expect(index.status).toBe(200)
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(index.text).toContain('<title>Komrade</title>')
    expect(index.headers['content-security-policy']).toContain("default-src 'self'")
    expect(index.headers['content-security-policy']).toContain(`connect-src 'self' ws://127.0.0.1:${alice.server.port}`)
    expect(index.headers['x-content-type-options']).toBe('nosniff')
    expect(index.headers['referrer-policy']).toBe('no-referrer')
    expect(index.headers['x-frame-options']).toBe('DENY')
    const types: Record<string, string> = {
      '/assets/app.js': 'text/javascript; charset=utf-8', '/assets/app.css': 'text/css; charset=utf-8', '/assets/icon.svg': 'image/svg+xml', '/index.html': 'text/html; charset=utf-8'
    }
    for (const [path, type] of Object.entries(types)) {
      const response = await raw(alice.server, { path })
      expect(response.status, path).toBe(200)
      expect(response.headers['content-type']).toBe(type)
    }
    const head = await raw(alice.server, { method: 'HEAD', path: '/assets/app.js' })
    expect(head.status).toBe(200)
    expect(head.text).toBe('')
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0)
  })

  it('serves nothing outside the root, no dotfiles, no directories', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/assets/%2e%2e/%2e%2e/package.json', '/..%2fpackage.json', '/.secret', '/assets/',
      '/assets', '/%00', '/%E0%A4%A', '/assets/..%5c..%5cpackage.json', '//etc/passwd', '/missing.js']) {
      const response = await raw(alice.server, { path })
      expect(response.status, path).toBe(404)
      expect(response.text).not.toContain('dotfiles')
      expect(response.text).not.toContain('"name": "komrade"')
    }
  })

  it('serves no symlink that leads out of the root, a file or a directory, and follows one that stays inside', async () => {
    const root = await makeWebRoot()
    const outside = await mkdtemp(join(tmpdir(), 'komrade-outside-'))
    try {
      await writeFile(join(outside, 'secret.txt'), 'outside the web root')
      await symlink(join(outside, 'secret.txt'), join(root, 'linked-file.txt'))
      await symlink(outside, join(root, 'linked-dir'))
      await symlink(join(root, 'assets', 'app.js'), join(root, 'inside.js'))
      const server = createApiServer({ node: alice.node, token: alice.token, webRoot: root })
      await server.start()
      try {
        for (const path of ['/linked-file.txt', '/linked-dir/secret.txt', '/linked-dir/', '/linked-dir']) {
          const response = await raw(server, { path })
          expect(response.status, path).toBe(404)
          expect(response.text).not.toContain('outside the web root')
        }
        expect((await raw(server, { path: '/inside.js' })).text).toBe('console.log("komrade")')
      } finally {
        await server.stop()
      }
    } finally {
      await rm(outside, { recursive: true, force: true })
    }
  })

  it('finds the package\'s built UI by default', () => {
    expect(defaultWebRoot()).toBe(join(import.meta.dirname, '..', '..', 'dist', 'web'))
  })

  it('says how to build the UI when there is none', async () => {
    const bare = await startApiNode({}, { webRoot: join(alice.dataDir, 'no-such-dir') })
    const index = await raw(bare.server, { path: '/' })
    expect(index.status).toBe(404)
    expect(index.text).toContain('npm run build')
  })
})
