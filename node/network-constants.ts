/**
 * The numbers of the network layer (node/network.ts), each with its reason.
 * Option names are those of @libp2p/gossipsub 17.1 and libp2p 3.3.
 */
import { ENVELOPE_SIZE } from '../protocol/index.js'
import type { GossipsubOpts } from '@libp2p/gossipsub'

// The score types are not exported by name from @libp2p/gossipsub 17.1; derive them from its options.
type PeerScoreParams = GossipsubOpts['scoreParams']
type TopicScoreParams = NonNullable<PeerScoreParams['topics']>[string]
type PeerScoreThresholds = Required<GossipsubOpts['scoreThresholds']>
type DecodeRpcLimits = NonNullable<GossipsubOpts['decodeRpcLimits']>

/** Network name used when none is given: the public Komrade network. */
export const DEFAULT_NETWORK_NAME = 'komrade'

/**
 * A network name is part of the gossip topic and the DHT protocol id, so it
 * stays short and plain (it also bounds the per-message topic overhead that
 * {@link MAX_INBOUND_RPC_BYTES} budgets for).
 */
export const NETWORK_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/

/** The one gossip topic of a network: every envelope travels on it. */
export function envelopeTopic (networkName: string): string {
  return `/komrade/${networkName}/envelopes/1`
}

/**
 * The tree-head gossip topic (SPEC §13.9): the Operator's signed tree heads,
 * 113 bytes each, so everyone can compare the log they were shown with
 * everyone else's. Only nodes with an Operator configured subscribe.
 */
export function treeHeadTopic (networkName: string): string {
  return `/komrade/${networkName}/tree-heads/1`
}

/**
 * The kad-dht protocol id. kad-dht 16 takes the whole protocol string (its
 * default is `/ipfs/kad/1.0.0`), so our prefix `/komrade/<name>` gets the
 * usual `/kad/1.0.0` suffix. Nodes of other networks (and IPFS) do not
 * answer it, so the routing table only ever holds our own peers.
 */
export function dhtProtocol (networkName: string): string {
  return `/komrade/${networkName}/kad/1.0.0`
}

/** Listen address when none is given: loopback only, a free port. Nothing is exposed by default. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/**
 * Peers we dial ourselves when discovery hands us new ones (libp2p 3 has no
 * autodialer). Gossipsub wants D = 6 mesh peers (Dlo 4, Dhi 12); 8 gives
 * the mesh a little choice without dialing the whole network.
 */
export const DEFAULT_TARGET_PEERS = 8

/** A peer we failed to dial is not tried again from the peer store for this long. */
export const REDIAL_BACKOFF_MS = 60_000

/**
 * While a node has fewer peers than its target, it asks the DHT for the
 * peers closest to a random key this often (a random walk). kad-dht's own
 * self-query runs once, when the first peer connects: nodes that joined
 * after it would otherwise stay unknown until the routing table refresh,
 * many minutes later. A node with enough peers does not walk; a walk that
 * finds nobody new makes the next one wait twice as long.
 */
export const DISCOVERY_WALK_INTERVAL_MS = 5_000
/** The pause between walks doubles while they find nobody new, up to this. */
export const DISCOVERY_WALK_MAX_INTERVAL_MS = 5 * 60_000
/** A walk that has not finished after this long is abandoned (the next tick starts a new one). */
export const DISCOVERY_WALK_TIMEOUT_MS = 20_000

/**
 * New inbound connections accepted per second from one host before libp2p
 * refuses more (default 5). Local networks and every peer behind Tor come
 * from 127.0.0.1, so the default stalls a node that starts among many.
 */
export const INBOUND_CONNECTION_THRESHOLD = 100

/**
 * Neutral user agent sent by identify. The default names the libp2p version
 * and the Node.js version and platform, which fingerprints the device.
 */
export const USER_AGENT = 'komrade'

/** mDNS service tag: only Komrade nodes answer, not every libp2p node on the LAN. */
export const MDNS_SERVICE_TAG = '_komrade._udp.local'

// ---------------------------------------------------------------------------
// Gossipsub frame and decoding limits
// ---------------------------------------------------------------------------

/**
 * Envelopes one RPC frame may carry. Publishing and forwarding send one
 * envelope per frame; only an answer to IWANT carries several: one per id
 * we asked for, and we never ask for more than {@link MAX_IDS_PER_CONTROL}
 * ids in one frame because we refuse longer IHAVE lists. So every frame an
 * honest node of this network sends fits; a gossip backlog beyond this is
 * left to resync.
 */
export const MAX_ENVELOPES_PER_RPC = 64

/**
 * Message ids in one IHAVE, IWANT or IDONTWANT entry. Equal to
 * {@link MAX_ENVELOPES_PER_RPC}: an IWANT built from an IHAVE we accepted
 * is answered within one frame. An IHAVE with more ids (more than ~21
 * envelopes a second in a 3-heartbeat gossip window) is dropped whole,
 * which only loses lazy repair: the mesh still floods every envelope.
 */
export const MAX_IDS_PER_CONTROL = MAX_ENVELOPES_PER_RPC

/**
 * Bytes a message costs in a frame beyond its envelope: protobuf tags and
 * lengths (~8 bytes) and the topic string (at most 53 bytes with a 32-char
 * network name), rounded up.
 */
export const RPC_MESSAGE_OVERHEAD = 64

/**
 * Largest RPC frame read from a peer (`maxInboundDataLength`, default 4 MiB):
 * 64 envelopes with their framing (135,168 bytes) plus 16 KiB for control
 * entries (64 ids of 34 bytes are 2,176 bytes per list). 148 KiB in all.
 * A longer frame is refused before decoding, and gossipsub then drops that
 * peer's gossip streams: only a peer not following this layer's limits sends one.
 */
export const MAX_INBOUND_RPC_BYTES = MAX_ENVELOPES_PER_RPC * (ENVELOPE_SIZE + RPC_MESSAGE_OVERHEAD) + 16 * 1024

/**
 * Protobuf decoding limits (`decodeRpcLimits`; defaults 5000 of everything).
 * A frame past a limit is dropped whole, so each limit is what an honest
 * node of this network can send:
 * - subscriptions: we use two topics (envelopes, tree heads); 32 leaves
 *   room for future topics, and `allowedTopics` drops the others anyway.
 * - messages: {@link MAX_ENVELOPES_PER_RPC}.
 * - ihave/iwant/idontwant ids: {@link MAX_IDS_PER_CONTROL} (one entry per
 *   topic per frame from an honest node; IDONTWANT goes out one id per frame).
 * - control entries: one topic means one IHAVE, IWANT, GRAFT, PRUNE and
 *   IDONTWANT entry per frame; 8 leaves room.
 * - peer infos in a PRUNE: 16, gossipsub's own PrunePeers; we ignore PX anyway
 *   ({@link SCORE_THRESHOLDS}).
 */
export const DECODE_RPC_LIMITS: Readonly<DecodeRpcLimits> = {
  maxSubscriptions: 32,
  maxMessages: MAX_ENVELOPES_PER_RPC,
  maxIhaveMessageIDs: MAX_IDS_PER_CONTROL,
  maxIwantMessageIDs: MAX_IDS_PER_CONTROL,
  maxIdontwantMessageIDs: MAX_IDS_PER_CONTROL,
  maxControlMessages: 8,
  maxPeerInfos: 16
}

// ---------------------------------------------------------------------------
// Peer scoring (gossipsub v1.1). Score = topic part (capped) + P5 + P6 + P7.
// ---------------------------------------------------------------------------

/** Counters decay once per this interval (gossipsub's default, 1 s). */
export const SCORE_DECAY_INTERVAL_MS = 1000

/** The per-interval decay factor that brings a counter down to 1% after `ms`. */
export function decayToOnePercentIn (ms: number): number {
  return 0.01 ** (SCORE_DECAY_INTERVAL_MS / ms)
}

/**
 * Upper bound of the positive topic score: good behaviour earns at most
 * this much credit, so it cannot hide more than a couple of invalid
 * envelopes (one costs 20, two cost 80, see below).
 */
export const TOPIC_SCORE_CAP = 10

/**
 * Score parameters of our one topic. Weights are per unit of each counter;
 * the topic weight is 1 so the numbers below are the score itself.
 */
export const TOPIC_SCORE_PARAMS: TopicScoreParams = {
  topicWeight: 1,
  // P1, time in mesh: +1 per 6 minutes, reaching the cap after an hour.
  // The quantum is in milliseconds (gossipsub's default of 1 ms with cap
  // 3600 would hit the cap 3.6 s after grafting).
  timeInMeshWeight: TOPIC_SCORE_CAP / 3600,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 3600,
  // P2, first deliveries: +1 per envelope a peer is first to bring, up to the
  // cap, remembered for ~10 minutes (default decay 0.5/s forgets in seconds).
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: decayToOnePercentIn(10 * 60_000),
  firstMessageDeliveriesCap: TOPIC_SCORE_CAP,
  // P3 and P3b, mesh delivery deficit: OFF. They punish mesh peers that
  // deliver fewer than a threshold of messages, which needs a known steady
  // rate; ours depends on how many people talk, and a quiet network would
  // prune every honest peer. The values below are unused with weight 0.
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 100,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  // P4, invalid envelopes (our validator said reject): the score falls with
  // the square of the count. One costs 20 (below the gossip threshold: a
  // node whose clock is off by more than the tolerated skew loses gossip,
  // not its connection); three cost 180, which graylists even a peer at the
  // positive cap. Remembered for about an hour.
  invalidMessageDeliveriesWeight: -20,
  invalidMessageDeliveriesDecay: decayToOnePercentIn(60 * 60_000)
}

/**
 * Score parameters of the tree-head topic: no credit (a head is tiny, and
 * every node sends the same few), only the penalty for invalid ones, as on
 * the envelope topic. A head not signed by the pinned Operator key can only
 * come from a peer that forged it or relays junk.
 */
export const TREE_HEAD_TOPIC_SCORE_PARAMS: TopicScoreParams = {
  ...TOPIC_SCORE_PARAMS,
  timeInMeshWeight: 0,
  firstMessageDeliveriesWeight: 0
}

/** Peer score parameters, for the envelope topic and, when subscribed, the tree-head topic. */
export function peerScoreParams (topic: string, headTopic?: string): PeerScoreParams {
  return {
    topics: { [topic]: TOPIC_SCORE_PARAMS, ...(headTopic === undefined ? {} : { [headTopic]: TREE_HEAD_TOPIC_SCORE_PARAMS }) },
    topicScoreCap: TOPIC_SCORE_CAP,
    // P5, application score: none yet (the store could reward resync peers later).
    appSpecificScore: () => 0,
    appSpecificWeight: 1,
    // P6, IP colocation: OFF. On loopback, behind Tor (every onion peer
    // arrives from 127.0.0.1) and behind a shared NAT, many honest peers
    // share an address; the penalty would push them all below zero.
    IPColocationFactorWeight: 0,
    IPColocationFactorThreshold: 10,
    IPColocationFactorWhitelist: new Set(),
    // P7, protocol misbehaviour (broken IWANT promises, GRAFT during
    // backoff): two slips are free (an honest peer can lose a message from
    // its cache), then -10 per squared excess, forgotten over ~10 minutes
    // (default decay 0.2/s forgives a flood of them within seconds).
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 2,
    behaviourPenaltyDecay: decayToOnePercentIn(10 * 60_000),
    decayInterval: SCORE_DECAY_INTERVAL_MS,
    decayToZero: 0.1,
    // A peer that disconnects keeps its score for an hour, so reconnecting
    // does not wash a bad score (a new PeerId does: ids are free; the proof
    // of work on every envelope is what makes spam cost).
    retainScore: 60 * 60_000
  }
}

/**
 * Score thresholds:
 * - gossip -10: no IHAVE/IWANT with a peer after one invalid envelope;
 * - publish -50: our own envelopes are not flooded to it after two;
 * - graylist -80: all its frames are ignored after three (or two near zero);
 * - acceptPX 1000: above any reachable score (cap 10, P5 = 0), so we never
 *   take peer lists from PRUNE: discovery is bootstrap + DHT, harder to eclipse;
 * - opportunisticGraft 5: half the cap; the default 20 is above the cap, so
 *   grafting would trigger on every check.
 */
export const SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 1000,
  opportunisticGraftThreshold: 5
}
