/** Test helper: a bare network peer on the node's topic, to watch and to hand over envelopes in a chosen order. */
import { createNetwork, type Network } from '../../node/network.js'
import { checkEnvelope, nativeCrypto } from '../../protocol/index.js'

const crypto = nativeCrypto()
const networks: Network[] = []

/** A started tap: `seen` holds every valid envelope it received, in order. */
export interface Tap {
  network: Network
  seen: Uint8Array[]
  /** Its first address, to dial. */
  address: string
}

/** Starts a bare peer on 127.0.0.1 that records every valid envelope it sees and publishes what it is given. */
export async function startTap (): Promise<Tap> {
  const seen: Uint8Array[] = []
  const network = await createNetwork({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    validate: async (envelope) => checkEnvelope(crypto, envelope).valid ? 'accept' : 'reject',
    onEnvelope: (envelope) => { seen.push(envelope) }
  })
  await network.start()
  networks.push(network)
  return { network, seen, address: network.status().addresses[0]! }
}

/** Stops every tap started by this file's helper. */
export async function stopTaps (): Promise<void> {
  for (const network of networks.splice(0)) await network.stop().catch(() => {})
}
