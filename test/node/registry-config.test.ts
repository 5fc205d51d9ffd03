/** The Operator settings of the daemon configuration, and the node option's checks. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { nodeInitOf, resolveConfig } from '../../node/config.js'
import { createKomradeNode } from '../../node/index.js'

const OPERATOR = 'ab'.repeat(64)
const ADDRESS = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8'
const OTHER = '/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8'

describe('Operator configuration', () => {
  let dataDir: string
  beforeEach(async () => { dataDir = await mkdtemp(join(tmpdir(), 'komrade-config-')) })
  afterEach(async () => { await rm(dataDir, { recursive: true, force: true }) })

  it('takes --operator and --operator-addresses, and reaches the Operator at the bootstrap peers by default', async () => {
    const flagged = await resolveConfig({ flags: { dataDir, operator: OPERATOR.toUpperCase(), operatorAddresses: ADDRESS }, env: {} })
    expect(nodeInitOf(flagged).operator).toEqual({ identity: OPERATOR, addresses: [ADDRESS] })

    const fromEnv = await resolveConfig({ flags: { dataDir }, env: { KOMRADE_OPERATOR: OPERATOR, KOMRADE_BOOTSTRAP: `${ADDRESS},${OTHER}` } })
    expect(nodeInitOf(fromEnv).operator).toEqual({ identity: OPERATOR, addresses: [ADDRESS, OTHER] })

    const none = await resolveConfig({ flags: { dataDir }, env: {} })
    expect(nodeInitOf(none).operator).toBeUndefined()
  })

  it('reads config.json "operator" as the node option\'s shape or as a plain identity', async () => {
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ operator: { identity: OPERATOR, addresses: [OTHER] } }))
    expect(nodeInitOf(await resolveConfig({ flags: { dataDir }, env: {} })).operator).toEqual({ identity: OPERATOR, addresses: [OTHER] })
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ operator: OPERATOR, operatorAddresses: [ADDRESS] }))
    expect(nodeInitOf(await resolveConfig({ flags: { dataDir }, env: {} })).operator).toEqual({ identity: OPERATOR, addresses: [ADDRESS] })
  })

  it.each([
    [{ flags: { operator: 'abc' } }, '--operator'],
    [{ env: { KOMRADE_OPERATOR: OPERATOR, KOMRADE_OPERATOR_ADDRESSES: '/ip4/127.0.0.1/tcp/4001' } }, 'KOMRADE_OPERATOR_ADDRESSES'],
    [{ env: { KOMRADE_OPERATOR_ADDRESSES: ADDRESS } }, 'no Operator identity'],
    [{ file: { operator: { identity: OPERATOR, address: ADDRESS } } }, 'Unknown field']
  ])('refuses %j with a ConfigError naming %s', async (sources, what) => {
    const { file, ...rest } = sources as { file?: object, flags?: object, env?: NodeJS.ProcessEnv }
    if (file !== undefined) await writeFile(join(dataDir, 'config.json'), JSON.stringify(file))
    await expect(resolveConfig({ flags: { dataDir, ...rest.flags }, env: rest.env ?? {} }))
      .rejects.toMatchObject({ name: 'ConfigError', message: expect.stringContaining(what) as unknown })
  })

  it('checks the node option at creation, naming the field', () => {
    expect(() => createKomradeNode({ dataDir, operator: { identity: 'nope', addresses: [] } })).toThrow(/operator.identity/)
    expect(() => createKomradeNode({ dataDir, operator: { identity: OPERATOR, addresses: ['not a multiaddr'] } })).toThrow(/operator.addresses\[0\]/)
  })
})
