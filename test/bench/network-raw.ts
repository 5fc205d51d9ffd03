/**
 * What the network benchmark compares Komrade with: a plain libp2p 3 node
 * (TCP, Noise, yamux, identify) running gossipsub with the same signature
 * policy (StrictNoSign) and the same mesh parameters (gossipsub's defaults,
 * which node/network.ts also keeps), on one topic, whose only check is the
 * payload size. No store, no proof of work, no screening, no DHT, and
 * gossipsub's default peer scoring except the IP-colocation penalty.
 *
 * Also here: the TCP byte counter both kinds of worker use.
 */
import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { ENVELOPE_SIZE } from '../../protocol/index.js'
import { INBOUND_CONNECTION_THRESHOLD, envelopeTopic } from '../../node/network-constants.js'
import type { WireBytes } from './network-ipc.js'

/** The raw nodes use the Komrade topic string, so per-message topic bytes on the wire are equal. */
export const RAW_TOPIC = envelopeTopic('komrade')

/** A raw gossipsub host. */
export type RawNode = Libp2p<{ identify: Identify, pubsub: GossipSub }>

/** Creates and starts a raw gossipsub node on 127.0.0.1, subscribed to {@link RAW_TOPIC}. */
export async function startRawNode (): Promise<RawNode> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Same as Komrade: the default (5 per second per host) stalls many nodes on one address.
    connectionManager: { inboundConnectionThreshold: INBOUND_CONNECTION_THRESHOLD },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictNoSign,
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        // The one change to the defaults, as in Komrade: every peer here is 127.0.0.1, and the
        // default IP-colocation penalty graylists all of them once a node has more than 10 peers.
        scoreParams: { IPColocationFactorWeight: 0 }
      })
    }
  })
  node.services.pubsub.topicValidators.set(RAW_TOPIC, (_peer, message) =>
    message.data.length === ENVELOPE_SIZE ? TopicValidatorResult.Accept : TopicValidatorResult.Reject)
  await node.start()
  node.services.pubsub.subscribe(RAW_TOPIC)
  return node
}

/**
 * Counts the bytes of every TCP socket this process connects or accepts,
 * through Node's built-in `net.client.socket` / `net.server.socket`
 * diagnostics channels: what libp2p sends and receives on the wire, Noise and
 * yamux framing included (the IPC channel to the parent is not a TCP socket).
 * Call once, before any connection is made.
 */
export function countWireBytes (): () => WireBytes {
  const live = new Set<Socket>()
  let closedRead = 0
  let closedWritten = 0
  const track = (message: unknown): void => {
    const socket = (message as { socket: Socket }).socket
    live.add(socket)
    socket.once('close', () => {
      closedRead += socket.bytesRead
      closedWritten += socket.bytesWritten
      live.delete(socket)
    })
  }
  subscribe('net.client.socket', track)
  subscribe('net.server.socket', track)
  return () => {
    let read = closedRead
    let written = closedWritten
    for (const socket of live) {
      read += socket.bytesRead
      written += socket.bytesWritten
    }
    return { read, written }
  }
}
