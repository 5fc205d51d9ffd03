/**
 * Onion services with the real Debian tor, offline (DisableNetwork 1, see
 * tor-process.ts): the control-port client's authentication and errors; a
 * node's onion service (created, announced, pushed to peers, the same
 * address after a restart, removed on stop, back after tor restarts); the
 * Operator as an onion service, and a node pinning its onion address.
 *
 * Whether tor holds a service is asked of tor itself: ADD_ONION with the
 * same key from another control connection answers 550 (collision) exactly
 * while the service exists.
 */
import { spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createOperator, type Operator } from '../../bootstrap/index.js'
import { nodeInitOf, resolveConfig } from '../../node/config.js'
import { createKomradeNode } from '../../node/komrade-node.js'
import { parseKeywords } from '../../node/tor/control-wire.js'
import { ONION_KEY_FILE } from '../../node/tor/onion-constants.js'
import {
  compareVersions, connectTorControl, parseControlEndpoint, TorControlError, type TorControl
} from '../../node/tor/tor-control.js'
import { cleanup, connect, startNode, waitFor } from '../node/cluster.js'
import { removeTempDirs, tempDir, TEST_WORK_TRIALS } from '../bootstrap/registry-helpers.js'
import { freePort, startTor, type TorProcess } from './tor-process.js'

const ONION = /^\/onion3\/[a-z2-7]{56}:4001\/p2p\/12D3Koo[1-9A-HJ-NP-Za-km-z]+$/
const PASSWORD = 'correct horse battery staple'
const CLI = join(import.meta.dirname, '../../client/cli.ts')

let tor: TorProcess
const closers: Array<() => Promise<void>> = []

beforeAll(async () => {
  tor = await startTor({ controlPassword: PASSWORD })
})

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {})
  await cleanup()
})

afterAll(async () => {
  await tor?.stop()
  await removeTempDirs()
})

async function control (password?: string): Promise<TorControl> {
  const connection = await connectTorControl({ control: tor.control, ...(password === undefined ? {} : { password }) })
  closers.push(async () => { await connection.close() })
  return connection
}

/** True while tor (the one at `at`) serves the onion service of this key file: a second ADD_ONION with the key collides. */
async function torServes (keyFile: string, at: TorProcess = tor): Promise<boolean> {
  const key = (await readFile(keyFile, 'utf8')).trim()
  const probe = await connectTorControl({ control: at.control })
  try {
    const { serviceId } = await probe.addOnion({ key: { type: 'saved', key }, flags: ['DiscardPK'], ports: [{ virtualPort: 4001, target: '127.0.0.1:9' }] })
    await probe.delOnion(serviceId)
    return false
  } catch (error) {
    if (error instanceof TorControlError && error.code === 550) return true
    throw error
  } finally {
    await probe.close()
  }
}

async function expectRejection (promise: Promise<unknown>, name: string): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e as Error)
  expect(error?.name).toBe(name)
  return error!
}

describe('the control-port client', () => {
  it('authenticates with tor\'s cookie and with the password, adds and removes an onion service', async () => {
    const byCookie = await control()
    expect(compareVersions(byCookie.torVersion, [0, 3, 3, 1])).toBeGreaterThan(0)
    const added = await byCookie.addOnion({ key: { type: 'new' }, ports: [{ virtualPort: 4001, target: '127.0.0.1:9' }] })
    expect(added.serviceId).toMatch(/^[a-z2-7]{56}$/)
    expect(added.privateKey).toMatch(/^ED25519-V3:/)
    const current = async (): Promise<string | undefined> => (await byCookie.command('GETINFO onions/current')).lines[0]?.text
    expect(await current()).toBe(`onions/current=${added.serviceId}`)
    await byCookie.delOnion(added.serviceId)
    expect(await current()).toBe('onions/current=')
    // The same key again gives the same address: what makes a node's address stable.
    const again = await byCookie.addOnion({ key: { type: 'saved', key: added.privateKey! }, flags: ['DiscardPK'], ports: [{ virtualPort: 4001, target: '127.0.0.1:9' }] })
    expect(again).toEqual({ serviceId: added.serviceId })

    const byPassword = await control(PASSWORD)
    expect((await byPassword.command('GETINFO version')).lines[0]?.text).toMatch(/^version=0\.\d/)

    // A Unix control socket, as Debian's tor service has (/run/tor/control).
    const bySocket = await connectTorControl({ control: tor.controlSocket })
    closers.push(async () => { await bySocket.close() })
    expect(bySocket.torVersion).toBe(byCookie.torVersion)
  })

  it('says what is wrong: a wrong password, a closed port, something that is not tor, a remote host', async () => {
    const wrong = await expectRejection(connectTorControl({ control: tor.control, password: 'not the password' }), 'TorControlAuthError')
    expect(wrong.message).toContain('refused the control password')

    const closed = await freePort()
    const refused = await expectRejection(connectTorControl({ control: `127.0.0.1:${closed}` }), 'TorControlUnreachableError')
    expect(refused.message).toContain('is tor running')

    // A listener that answers like an HTTP server, not the control protocol.
    const server: Server = createServer((socket) => { socket.on('data', () => socket.end('HTTP/1.0 400 Bad Request\r\n\r\n')) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closers.push(async () => { await new Promise<void>((resolve) => server.close(() => resolve())) })
    const port = (server.address() as { port: number }).port
    const notTor = await expectRejection(connectTorControl({ control: `127.0.0.1:${port}` }), 'TorControlError')
    expect(notTor.message).toContain('does not speak Tor\'s control protocol')

    expect(() => parseControlEndpoint('192.0.2.7:9051')).toThrow(RangeError)
    const configDir = await tempDir('komrade-onion-config-')
    await expect(resolveConfig({ flags: { dataDir: configDir, torControl: '192.0.2.7:9051' }, env: {} })).rejects.toThrow(/"torControl" from --tor-control/)
    expect((await resolveConfig({ flags: { dataDir: configDir }, env: { KOMRADE_TOR_CONTROL: 'unix:/run/tor/control' } })).torControl).toBe('unix:/run/tor/control')
    expect(parseControlEndpoint('unix:/run/tor/control')).toEqual({ path: '/run/tor/control' })
    expect(parseControlEndpoint('9051')).toEqual({ host: '127.0.0.1', port: 9051 })
    expect(parseControlEndpoint('[::1]:9051')).toEqual({ host: '::1', port: 9051 })
    // Quoted values with C escapes, as tor writes a cookie path with odd characters.
    const { positional, keywords } = parseKeywords('AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/tmp/a b/\\"c\\"\\303\\251\\\\"')
    expect(positional).toEqual(['AUTH'])
    expect(keywords.get('METHODS')).toBe('COOKIE,SAFECOOKIE')
    expect(keywords.get('COOKIEFILE')).toBe('/tmp/a b/"c"\u00e9\\')
    expect(compareVersions('0.3.2.10', [0, 3, 3, 1])).toBeLessThan(0)
    expect(compareVersions('0.4.8.1-alpha', [0, 3, 3, 1])).toBeGreaterThan(0)
  })
})

describe('a node as an onion service', () => {
  it('creates its onion service, announces it to peers, keeps the address across restarts and removes it on stop', async () => {
    const { node, dataDir, init } = await startNode({ tor: { control: tor.control } })
    const keyFile = join(dataDir, ONION_KEY_FILE)
    const onion = node.status().tor?.onion
    expect(onion).toMatch(ONION)
    expect(onion).toContain(`/p2p/${node.network.peerId.toString()}`)
    expect(node.status().tor?.onionPublished).toBe(true)
    expect(node.status().addresses).toContain(onion)
    // The key: tor's own format, for this user only.
    expect((await readFile(keyFile, 'utf8')).trim()).toMatch(/^ED25519-V3:[A-Za-z0-9+/]{86}==$/)
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    expect(await torServes(keyFile)).toBe(true)
    // Tor forwards to the node's own loopback listener.
    const target = node.network.onionTarget()
    expect(node.status().addresses.some((address) => address.startsWith(`/ip4/${target!.replace(':', '/tcp/')}/`))).toBe(true)

    // A peer that connects learns the onion address through identify.
    const { node: peer } = await startNode()
    await connect(peer, node)
    await waitFor('the peer to store the onion address', async () => {
      const record = await peer.network.libp2p.peerStore.get(node.network.peerId)
      return record.addresses.some((address) => address.multiaddr.toString() === onion!.replace(/\/p2p\/.*$/, ''))
    })

    await node.stop()
    expect(await torServes(keyFile)).toBe(false)

    const again = createKomradeNode(init)
    closers.push(async () => { await again.stop() })
    await again.start()
    expect(again.status().tor?.onion).toBe(onion)
    expect(await torServes(keyFile)).toBe(true)
    await again.stop()
    expect(await torServes(keyFile)).toBe(false)
  })

  it('announces its onion address alone in tor-only mode, to peers too', async () => {
    const { node } = await startNode({ tor: { socks: tor.socks, onlyTor: true, control: tor.control } })
    const onion = node.status().tor?.onion
    expect(onion).toMatch(ONION)
    expect(node.status().addresses).toEqual([onion])
    // A peer connecting to its loopback listener (as tor would) learns only the onion address.
    const { node: peer } = await startNode()
    const listener = node.network.onionTarget()!
    await peer.network.libp2p.dial(multiaddr(`/ip4/${listener.replace(':', '/tcp/')}/p2p/${node.network.peerId.toString()}`))
    await waitFor('the peer to learn the onion address', async () => {
      const record = await peer.network.libp2p.peerStore.get(node.network.peerId)
      return record.addresses.some((address) => address.multiaddr.toString() === onion!.replace(/\/p2p\/.*$/, ''))
    })
    const record = await peer.network.libp2p.peerStore.get(node.network.peerId)
    // What identify said (certified by the signed peer record) holds no IP address.
    expect(record.addresses.filter((address) => address.isCertified).map((address) => address.multiaddr.toString())).toEqual([onion!.replace(/\/p2p\/.*$/, '')])
  })

  it('refuses to start with a wrong control password, and leaves the data directory usable', async () => {
    const dataDir = await tempDir('komrade-onion-')
    const init = { dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, tor: { control: tor.control, controlPassword: 'wrong' } }
    const refused = createKomradeNode(init)
    const error = await expectRejection(refused.start(), 'TorControlAuthError')
    expect(error.message).toContain('HashedControlPassword')
    // Nothing half-made: no key, and the data directory is free again.
    await expect(stat(join(dataDir, ONION_KEY_FILE))).rejects.toThrow(/ENOENT/)
    const { node } = await startNode({ dataDir, tor: { control: tor.control, controlPassword: PASSWORD } })
    expect(node.status().tor?.onion).toMatch(ONION)
  })

  it('refuses a damaged onion key instead of silently taking a new address', async () => {
    const dataDir = await tempDir('komrade-onion-')
    await writeFile(join(dataDir, ONION_KEY_FILE), 'not a key\n', { mode: 0o600 })
    const node = createKomradeNode({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, tor: { control: tor.control } })
    const error = await expectRejection(node.start(), 'OnionKeyError')
    expect(error.message).toContain('restore it from your backup')
  })

  it('re-creates the onion service when tor comes back after a restart', async () => {
    const controlPort = await freePort()
    let ownTor = await startTor({ controlPort })
    closers.push(async () => { await ownTor.stop() })
    const { node, dataDir } = await startNode({ tor: { control: ownTor.control } })
    const onion = node.status().tor?.onion
    expect(node.status().tor?.onionPublished).toBe(true)

    await ownTor.stop()
    await waitFor('the node to see the onion service down', () => node.status().tor?.onionPublished === false)
    ownTor = await startTor({ controlPort })
    await waitFor('the onion service back', () => node.status().tor?.onionPublished === true, 30_000)
    expect(node.status().tor?.onion).toBe(onion)
    expect(await torServes(join(dataDir, ONION_KEY_FILE), ownTor)).toBe(true)
  })
})

describe('dialing an onion address', () => {
  it('fails with a typed error, not a hang: tor offline has no SOCKS port, a proxy that cannot reach onions says so', async () => {
    const { node } = await startNode({ tor: { control: tor.control } })
    const onion = multiaddr(node.status().tor!.onion!)

    // The offline tor (DisableNetwork 1) opens no SOCKS listener: its SocksPort refuses.
    const { node: viaTor } = await startNode({ tor: { socks: tor.socks } })
    const refused = await expectRejection(viaTor.network.libp2p.dial(onion, { signal: AbortSignal.timeout(60_000) }), 'TorNotRunningError')
    expect(refused.message).toContain(tor.socks)

    // A proxy answering as a connected tor does when the onion's descriptor cannot be found
    // (reply 0xF0). Not microsocks: it would resolve the .onion name through the system's DNS,
    // a query that leaves the machine.
    const proxy = await onionNotFoundProxy()
    closers.push(proxy.stop)
    const { node: viaProxy } = await startNode({ tor: { socks: proxy.socks } })
    const unreachable = await expectRejection(viaProxy.network.libp2p.dial(onion, { signal: AbortSignal.timeout(60_000) }), 'OnionUnreachableError')
    expect(unreachable.message).toContain(onion.toString().replace(/\/p2p\/.*$/, ''))
  })
})

describe('the Operator as an onion service', () => {
  let operator: Operator | undefined
  afterEach(async () => { await operator?.stop(); operator = undefined })

  it('announces its onion address, and a node pins it from its config', async () => {
    const operatorDir = await tempDir('komrade-operator-')
    operator = createOperator({ dataDir: operatorDir, listen: ['/ip4/127.0.0.1/tcp/0'], workTrials: TEST_WORK_TRIALS, workThreads: 1, tor: { control: tor.control } })
    await operator.start()
    const onion = operator.addresses.find((address) => address.startsWith('/onion3/'))
    expect(onion).toMatch(ONION)
    expect(onion).toBe(operator.node.status().tor?.onion)
    expect(await torServes(join(operatorDir, ONION_KEY_FILE))).toBe(true)

    // A node's config.json pins the Operator by its onion address only (as bootstrap and registry address).
    const nodeDir = await tempDir('komrade-onion-node-')
    await writeFile(join(nodeDir, 'config.json'), JSON.stringify({
      listen: ['/ip4/127.0.0.1/tcp/0'], workThreads: 1, bootstrap: [onion], operator: { identity: operator.identity, addresses: [onion] }
    }))
    const init = nodeInitOf(await resolveConfig({ flags: { dataDir: nodeDir }, env: {} }))
    expect(init.operator).toEqual({ identity: operator.identity, addresses: [onion] })
    expect(init.bootstrap).toEqual([onion])
    const { node } = await startNode(init)
    // @libp2p/bootstrap drops onion entries; the network seeds them itself, tagged keep-alive like bootstrap peers.
    const operatorPeer = peerIdFromString(multiaddr(onion!).getComponents().findLast((c) => c.name === 'p2p')!.value!)
    const record = await node.network.libp2p.peerStore.get(operatorPeer)
    expect(record.addresses.map((address) => address.multiaddr.toString())).toContain(onion!.replace(/\/p2p\/.*$/, ''))
    expect([...record.tags.keys()].some((tag) => tag.startsWith(KEEP_ALIVE))).toBe(true)
  })

  it('runs from the command line with --tor-control and prints its onion address for nodes', async () => {
    const dataDir = await tempDir('komrade-operator-cli-')
    const child = spawn(process.execPath, [
      '--import', 'tsx', CLI, 'operator', '--data-dir', dataDir, '--json', '--work-trials', String(TEST_WORK_TRIALS), '--tor-control', tor.control
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
    closers.push(async () => { child.kill('SIGKILL') })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    await waitFor(`the startup line (stderr: ${stderr})`, () => stdout.includes('\n') || child.exitCode !== null, 60_000)
    const info = JSON.parse(stdout.split('\n')[0]!) as { identity: string, addresses: string[], nodeFlags: string }
    const onion = info.addresses.find((address) => address.startsWith('/onion3/'))
    expect(onion).toMatch(ONION)
    // The onion address is the one address nodes are told to use: the loopback ones are not for them.
    expect(info.nodeFlags).toBe(`--operator ${info.identity} --bootstrap ${onion}`)
    expect(await torServes(join(dataDir, ONION_KEY_FILE))).toBe(true)
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(await torServes(join(dataDir, ONION_KEY_FILE))).toBe(false)
  })
})

/**
 * A SOCKS5 server on 127.0.0.1 that speaks like tor for an onion it cannot find: it takes the
 * isolation credentials, then answers every CONNECT with Tor's extended reply 0xF0
 * ("onion service descriptor can not be found") and closes.
 */
async function onionNotFoundProxy (): Promise<{ socks: string, stop: () => Promise<void> }> {
  const server: Server = createServer((socket) => {
    let stage: 'greeting' | 'auth' | 'request' = 'greeting'
    socket.on('data', (chunk: Buffer) => {
      if (stage === 'greeting') {
        const methods = [...chunk.subarray(2, 2 + (chunk[1] ?? 0))]
        const userPass = methods.includes(0x02)
        socket.write(Buffer.from([0x05, userPass ? 0x02 : 0x00]))
        stage = userPass ? 'auth' : 'request'
      } else if (stage === 'auth') {
        socket.write(Buffer.from([0x01, 0x00]))
        stage = 'request'
      } else {
        socket.end(Buffer.from([0x05, 0xf0, 0x00, 0x01, 0, 0, 0, 0, 0, 0]))
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { socks: `127.0.0.1:${port}`, stop: async () => { await new Promise<void>((resolve) => server.close(() => resolve())) } }
}
