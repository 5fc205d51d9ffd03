/**
 * Cover traffic (node/cover-traffic.ts): the scheduler on a fake clock (a
 * real envelope takes a slot instead of adding one, budget, off switch,
 * cancellation, the expiry of cover envelopes), its configuration, a real node's outbox while
 * an envelope waits for its slot (SIGKILL included), and the issue's
 * measurement: a passive observer cannot tell a window in which the user
 * sends 20 messages from one in which it sends none (two-sample
 * Kolmogorov–Smirnov, test/node/kolmogorov-smirnov.ts, checked here against
 * SciPy and brute force), while without cover traffic it trivially can.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { expiryFor, envelopeExpiryMinute, minuteOf, nativeCrypto, sealCover } from '../../protocol/index.js'
import { coverSettings, createCoverTraffic, type CoverTrafficComponents } from '../../node/cover-traffic.js'
import { createKomradeNode, type KomradeNode } from '../../node/komrade-node.js'
import { nodeInitOf, resolveConfig } from '../../node/config.js'
import { settingsFlags } from '../../client/commands/daemon-settings.js'
import { silentLogger } from '../../node/logger.js'
import { cleanup, connect, startNode, waitFor } from './cluster.js'
import { kolmogorovSurvival, ksAsymptoticPValue, ksDistance, ksExactPValue, ksTwoSample } from './kolmogorov-smirnov.js'

const crypto = nativeCrypto()

/** A seeded PRNG (mulberry32): the fake-clock tests and the simulations are the same at every run. */
function seeded (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('two-sample Kolmogorov–Smirnov', () => {
  // Values from SciPy 1.17: scipy.stats.ks_2samp(a, b, method='exact') and scipy.stats.kstwobign.sf(z).
  const a = [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37, 1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.32, -0.4, 1.06, -2.47]
  const b = [2.20, 1.66, 1.38, 0.20, 0.36, 0.00, 0.96, 1.56, 0.44, 1.50, -0.30, 0.66, 2.31, 3.29, -0.27, 1.02, 0.48, 1.11, 0.83, 1.73, 0.91]

  it.each([
    ['25 vs 21', a, b, 0.38666666666666666, 0.04738618000378151, 0.06589832742608918],
    ['7 vs 5', a.slice(0, 7), b.slice(0, 5), 0.6, 0.16666666666666663, 0.24446313424169647],
    ['10 vs 10', a.slice(0, 10), a.slice(10, 20), 0.4, 0.41752365281777043, 0.40047103620845764]
  ])('matches SciPy on %s (D, exact and asymptotic p)', (_, x, y, d, exact, asymptotic) => {
    const result = ksTwoSample(x, y, { method: 'exact' })
    expect(result.d).toBeCloseTo(d, 12)
    expect(result.pValue).toBeCloseTo(exact, 12)
    expect(ksTwoSample(x, y, { method: 'asymptotic' }).pValue).toBeCloseTo(asymptotic, 12)
  })

  it('gives 2 / C(20, 10) for two samples of 10 that do not overlap, and Kolmogorov\'s Q as SciPy does', () => {
    const low = Array.from({ length: 10 }, (_, i) => i)
    const high = low.map((x) => x + 100)
    expect(ksTwoSample(low, high).pValue).toBeCloseTo(2 / 184_756, 15)
    expect(ksTwoSample(high, low).d).toBe(1)
    const q: Array<[number, number]> = [[0.5, 0.9639452436648751], [1, 0.26999967167735456], [1.18, 0.1234538094297657], [1.36, 0.049485876755377876], [2, 0.0006709252557796953]]
    for (const [z, value] of q) expect(kolmogorovSurvival(z)).toBeCloseTo(value, 12)
  })

  it('exact p-values equal a count over every interleaving of 5 and 6 values', () => {
    const n = 5
    const m = 6
    // Every way to interleave: a bit mask of which of the n + m sorted positions hold sample 1.
    const distances: number[] = []
    for (let mask = 0; mask < 1 << (n + m); mask++) {
      let ones = 0
      for (let bit = 0; bit < n + m; bit++) if ((mask >> bit & 1) === 1) ones++
      if (ones !== n) continue
      const x: number[] = []
      const y: number[] = []
      for (let bit = 0; bit < n + m; bit++) ((mask >> bit & 1) === 1 ? x : y).push(bit)
      distances.push(ksDistance(x, y).k)
    }
    expect(distances).toHaveLength(462) // C(11, 5)
    for (const k of new Set(distances)) {
      const share = distances.filter((value) => value >= k).length / distances.length
      expect(ksExactPValue(n, m, k)).toBeCloseTo(share, 12)
    }
  })

  it('steps tied values together, and rejects a true H0 at about its level (simulated)', () => {
    expect(ksDistance([1, 1, 2], [1, 2, 2])).toEqual({ k: 3, d: 1 / 3 })
    const random = seeded(7)
    const sample = (size: number): number[] => Array.from({ length: size }, () => random())
    let rejected = 0
    const trials = 2000
    for (let i = 0; i < trials; i++) if (ksTwoSample(sample(40), sample(50)).pValue < 0.05) rejected++
    // Exact for continuous data, slightly conservative (D takes few values): 0.05 or a little less.
    expect(rejected / trials).toBeGreaterThan(0.03)
    expect(rejected / trials).toBeLessThan(0.06)
    expect(ksAsymptoticPValue(200, 200, 0.1)).toBe(kolmogorovSurvival(Math.sqrt(100) * 0.1))
  })
})

interface Emission { at: number, real: boolean, envelope: Uint8Array }

/** A scheduler on the fake clock: proof of work is instant, emission is recorded. */
function fakeScheduler (init: Parameters<typeof createCoverTraffic>[0], seed = 1): {
  traffic: ReturnType<typeof createCoverTraffic>
  emissions: Emission[]
  real(): Uint8Array
} {
  const emissions: Emission[] = []
  const reals = new Set<Uint8Array>()
  const components: CoverTrafficComponents = {
    crypto,
    pool: { solve: async (envelope) => envelope },
    logger: silentLogger(),
    random: seeded(seed),
    emit: async (envelope) => {
      emissions.push({ at: Date.now(), real: reals.has(envelope), envelope })
      return { recipients: 1 }
    }
  }
  return {
    traffic: createCoverTraffic(init, components),
    emissions,
    real () {
      const envelope = sealCover(crypto, expiryFor(Date.now(), 60))
      reals.add(envelope)
      return envelope
    }
  }
}

describe('the scheduler (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    vi.setSystemTime(Date.UTC(2030, 0, 1, 12))
  })
  afterEach(() => { vi.useRealTimers() })

  it('emits at the same instants whether or not the user sends: real envelopes take the next slots, in order', async () => {
    const quiet = fakeScheduler({ ratePerHour: 3600, ttlMinutes: 60 })
    quiet.traffic.start()
    await vi.advanceTimersByTimeAsync(60_000)
    await quiet.traffic.stop()

    vi.setSystemTime(Date.UTC(2030, 0, 1, 12))
    const busy = fakeScheduler({ ratePerHour: 3600, ttlMinutes: 60 })
    busy.traffic.start()
    await vi.advanceTimersByTimeAsync(10_500)
    const handed = Array.from({ length: 8 }, () => busy.real())
    const results = handed.map(async (envelope) => await busy.traffic.publish(envelope))
    expect(busy.traffic.status().waiting).toBe(8)
    await vi.advanceTimersByTimeAsync(49_500)
    await busy.traffic.stop()

    expect(quiet.emissions.length).toBeGreaterThan(30) // about 60 slots in a minute at 1/s
    expect(busy.emissions.map((e) => e.at)).toEqual(quiet.emissions.map((e) => e.at))
    const firstAfter = busy.emissions.findIndex((e) => e.at >= Date.UTC(2030, 0, 1, 12) + 10_500)
    expect(busy.emissions.slice(firstAfter, firstAfter + 8).map((e) => e.envelope)).toEqual(handed)
    expect(busy.emissions.filter((e) => e.real)).toHaveLength(8)
    expect(quiet.emissions.some((e) => e.real)).toBe(false)
    for (const result of results) expect(await result).toEqual({ recipients: 1 })
    expect(busy.traffic.status()).toMatchObject({ enabled: true, ratePerHour: 3600, emittedToday: busy.emissions.length, waiting: 0, lateSlots: 0 })
  })

  it('stops cover at the daily budget, still sends real envelopes on slots, and starts again the next UTC day', async () => {
    vi.setSystemTime(Date.UTC(2030, 0, 1, 23, 59))
    const s = fakeScheduler({ ratePerHour: 3600, budgetPerDay: 5 })
    s.traffic.start()
    await vi.advanceTimersByTimeAsync(30_000)
    expect(s.emissions).toHaveLength(5)
    const sent = s.traffic.publish(s.real())
    await vi.advanceTimersByTimeAsync(25_000)
    expect(await sent).toEqual({ recipients: 1 })
    expect(s.emissions).toHaveLength(6)
    expect(s.emissions[5]!.real).toBe(true)
    expect(s.traffic.status().emittedToday).toBe(6)
    await vi.advanceTimersByTimeAsync(30_000) // past midnight UTC: a new budget
    expect(s.emissions.filter((e) => e.at >= Date.UTC(2030, 0, 2)).length).toBeGreaterThan(0)
    expect(s.traffic.status().emittedToday).toBeLessThanOrEqual(5)
    await s.traffic.stop()
  })

  it('off: publishes at once, no cover', async () => {
    const s = fakeScheduler(false)
    s.traffic.start()
    const envelope = s.real()
    expect(await s.traffic.publish(envelope)).toEqual({ recipients: 1 })
    await vi.advanceTimersByTimeAsync(60_000)
    expect(s.emissions.map((e) => e.envelope)).toEqual([envelope])
    expect(s.traffic.status()).toMatchObject({ enabled: false, emittedToday: 1, waiting: 0 })
  })

  it('withdraws an envelope whose signal aborts, and rejects the waiting ones with AbortError on stop (they stay with the caller)', async () => {
    const s = fakeScheduler({ ratePerHour: 0.001 })
    s.traffic.start()
    const cancel = new AbortController()
    const first = s.traffic.publish(s.real(), { signal: cancel.signal })
    const second = s.traffic.publish(s.real())
    cancel.abort()
    await expect(first).rejects.toMatchObject({ name: 'AbortError' })
    expect(s.traffic.status().waiting).toBe(1)
    await s.traffic.stop()
    await expect(second).rejects.toMatchObject({ name: 'AbortError' })
    await expect(s.traffic.publish(s.real())).rejects.toMatchObject({ name: 'AbortError' })
    expect(s.emissions).toHaveLength(0)
  })

  it('gives cover envelopes the expiry a real one emitted at that slot would have (same apparent wait, never in the future)', async () => {
    const ttl = 2880
    const s = fakeScheduler({ ratePerHour: 60, ttlMinutes: ttl }, 11)
    const random = seeded(12)
    const realLags: number[] = []
    s.traffic.start()
    // A user who writes now and then, at random moments, while the queue is empty.
    for (let i = 0; i < 400; i++) {
      await vi.advanceTimersByTimeAsync(Math.floor(random() * 300_000))
      const sealedAt = Date.now()
      const envelope = s.real()
      const sent = s.traffic.publish(envelope)
      let done = false
      void sent.then(() => { done = true })
      while (!done) await vi.advanceTimersByTimeAsync(1000)
      const emitted = s.emissions.find((e) => e.envelope === envelope)!
      realLags.push(minuteOf(emitted.at) - minuteOf(sealedAt))
    }
    await s.traffic.stop()
    // The wait an observer reads off the wire: emission minute + TTL - expiry.
    const coverLags = s.emissions.filter((e) => !e.real).map((e) => minuteOf(e.at) + ttl - envelopeExpiryMinute(e.envelope))
    expect(coverLags.length).toBeGreaterThan(500)
    expect(Math.min(...coverLags)).toBeGreaterThanOrEqual(0) // never sealed after its own emission
    // Whole minutes, so many ties: the test is conservative. Covers kept two slots ahead (Gamma(2) waits, the
    // simple reserve) against the same real waits: p about 1e-25 in a simulation of these sizes.
    expect(ksTwoSample(coverLags, realLags).pValue).toBeGreaterThan(0.01)
  })

  it('checks its settings, and a node refuses bad ones when created', async () => {
    expect(coverSettings({})).toEqual({ ratePerHour: 60, budgetPerDay: 2880, ttlMinutes: 2880 })
    expect(coverSettings(false)).toBe(false)
    expect(() => coverSettings({ ratePerHour: 0 })).toThrow(RangeError)
    expect(() => coverSettings({ budgetPerDay: -1 })).toThrow(/cover.budgetPerDay/)
    expect(() => coverSettings({ ttlMinutes: 1.5 })).toThrow(/cover.ttlMinutes/)
    expect(() => createKomradeNode({ dataDir: '/nonexistent', cover: { ratePerHour: Number.NaN } })).toThrow(/cover.ratePerHour/)
  })
})

describe('configuration', () => {
  let dataDir: string
  beforeEach(async () => { dataDir = await mkdtemp(join(tmpdir(), 'komrade-cover-config-')) })
  afterEach(async () => { await rm(dataDir, { recursive: true, force: true }) })

  it('is on at 60 an hour by default; --cover-rate, --cover-budget, --no-cover and KOMRADE_COVER* set it', async () => {
    expect(nodeInitOf(await resolveConfig({ flags: { dataDir }, env: {} })).cover).toEqual({ ratePerHour: 60 })
    const flags = settingsFlags({ 'data-dir': dataDir, 'cover-rate': '7.5', 'cover-budget': '100' })
    expect(nodeInitOf(await resolveConfig({ flags, env: {} })).cover).toEqual({ ratePerHour: 7.5, budgetPerDay: 100 })
    expect(nodeInitOf(await resolveConfig({ flags: settingsFlags({ 'data-dir': dataDir, 'no-cover': true }), env: {} })).cover).toBe(false)
    expect(nodeInitOf(await resolveConfig({ flags: { dataDir }, env: { KOMRADE_COVER: 'false' } })).cover).toBe(false)
    expect(nodeInitOf(await resolveConfig({ flags: { dataDir }, env: { KOMRADE_COVER_RATE: '6', KOMRADE_COVER_BUDGET: '200' } })).cover)
      .toEqual({ ratePerHour: 6, budgetPerDay: 200 })
    await expect(resolveConfig({ flags: { dataDir }, env: { KOMRADE_COVER_RATE: 'fast' } }))
      .rejects.toMatchObject({ name: 'ConfigError', message: expect.stringContaining('KOMRADE_COVER_RATE') as unknown })
    await expect(resolveConfig({ flags: { dataDir, coverBudget: '0' }, env: {} }))
      .rejects.toMatchObject({ name: 'ConfigError', message: expect.stringContaining('--cover-budget') as unknown })
  })
})

const SLOW_COVER = { ratePerHour: 0.001, ttlMinutes: 10 } // the first slot is about 1,000 hours away
const CRASH_NODE = join(import.meta.dirname, 'crash-node.ts')

describe('a node waiting for its slot', () => {
  afterEach(cleanup)

  it('keeps the envelope in its outbox only: not stored, not handed out by resync; syncNow and stop do not wait; delete withdraws it; the next start sends it', async () => {
    const { node: peer } = await startNode()
    const run = await startNode({ cover: SLOW_COVER })
    const node = run.node
    await connect(node, peer)
    await waitFor('a gossip mesh', () => node.status().meshPeers > 0 && peer.status().meshPeers > 0)
    await node.send(peer.publicIdentity, 'waits for its slot', { ttlMinutes: 10 })
    const dropped = await node.send(peer.publicIdentity, 'deleted before its slot', { ttlMinutes: 10 })
    await waitFor('both solved and waiting for a slot', () => node.status().cover.waiting === 2)
    expect(node.status().store.count).toBe(0)
    await peer.syncNow()
    await node.syncNow()
    expect(await peer.inbox()).toHaveLength(0)
    expect(peer.status().store.count).toBe(0)
    expect(await node.deleteMessages([dropped.id])).toBe(1)
    await waitFor('the deleted one withdrawn', () => node.status().cover.waiting === 1)
    await node.stop()

    const { node: restarted } = await startNode({ dataDir: run.dataDir }) // cover off: sends at once
    await connect(restarted, peer)
    await waitFor('the peer receives it', async () => (await peer.inbox()).length === 1)
    expect((await peer.inbox()).map((m) => m.text)).toEqual(['waits for its slot'])
    expect((await restarted.outbox()).map((m) => m.body).map((b) => Buffer.from(b).toString())).toEqual(['waits for its slot'])
  })

  it('loses nothing when SIGKILLed while the envelope waits for its slot', async () => {
    const { node: peer } = await startNode()
    const dataDir = await mkdtemp(join(tmpdir(), 'komrade-cover-crash-'))
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CRASH_NODE, dataDir, JSON.stringify(SLOW_COVER)], { stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      const events: Array<Record<string, any>> = []
      createInterface({ input: child.stdout! }).on('line', (line) => { events.push(JSON.parse(line) as Record<string, any>) })
      const tell = (command: Record<string, unknown>): void => { child.stdin!.write(JSON.stringify(command) + '\n') }
      await waitFor('the child node', () => events.some((e) => e.ready === true), 60_000)
      tell({ dial: peer.status().addresses[0] })
      tell({ send: { to: peer.publicIdentity, text: 'sent by a node about to die' } })
      await waitFor('queued', () => events.some((e) => typeof e.queued === 'string'))
      await waitFor('waiting for its slot', async () => {
        tell({ status: true })
        await new Promise((resolve) => setTimeout(resolve, 100))
        return events.some((e) => e.status?.cover?.waiting === 1)
      })
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
      expect(await peer.inbox()).toHaveLength(0)

      const { node: restarted } = await startNode({ dataDir })
      await connect(restarted, peer)
      await waitFor('the peer receives it after the restart', async () => (await peer.inbox()).length === 1)
      expect((await peer.inbox())[0]!.text).toBe('sent by a node about to die')
    } finally {
      child.kill('SIGKILL')
      await cleanup()
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})

/**
 * The measurement. A passive observer (a peer of the observed node)
 * records when envelopes first reach it from the observed node, over windows
 * of WINDOW_MS in which the user sends nothing ("quiet") or 20 messages at
 * once ("busy"), alternating, RUNS times. For each pair it asks: do the two
 * windows differ? Two tests, each at LEVEL: two-sample KS on the gaps
 * between arrivals (window start to the first, then between consecutive
 * ones: exponential, mean 1/rate, in both windows if real envelopes only take
 * slots) and the exact binomial test of equal counts (given the total, the
 * quiet count is Binomial(total, 1/2) under equal rates).
 *
 * Under H0 (the design works) a pair is told apart with probability at most
 * 0.01 + 0.01 = 0.02 (both tests are exact or conservative), so 2 or more of
 * 5 pairs are told apart with probability at most
 * 1 - 0.98^5 - 5 * 0.02 * 0.98^4 = 0.0038: that is how often this test may
 * fail on a correct node. Without cover traffic the quiet window holds no
 * envelope at all and the busy one 20: p = 2 * 2^-20 every time.
 */
/**
 * 5 slots a second: 20 per window, and the 20 messages fill the busy window's slots. Against a
 * design where real envelopes add to the cover (20 more in a burst), this observer tells the windows
 * apart in 70% of the pairs, so such a node fails this test 97% of the time (a simulation of the
 * same statistics); a faster rate hides the burst better and costs more CPU.
 */
const RATE_PER_SECOND = 5
const WINDOW_MS = 4000
const RUNS = 5
const MESSAGES = 20
const LEVEL = 0.01
/** Short: proof of work ~35 ms on average, a sixth of a core at 5 a second, leaving room for the rest of the suite. */
const TTL_MINUTES = 1

interface WindowPair {
  quiet: number
  busy: number
  ksP?: number
  countP: number
  /** Real messages the recipient received before the busy window ended. */
  realInWindow: number
}

/** Two-sided exact binomial test of k successes in n trials at p = 1/2. */
function binomialHalfP (k: number, n: number): number {
  let pmf = 2 ** -n
  let tail = 0
  const low = Math.min(k, n - k)
  for (let i = 0; i <= low; i++) {
    tail += pmf
    pmf = pmf * (n - i) / (i + 1)
  }
  return Math.min(1, 2 * tail)
}

function gaps (times: number[]): number[] {
  const sorted = [...times].sort((x, y) => x - y)
  return sorted.map((t, i) => t - (i === 0 ? 0 : sorted[i - 1]!))
}

async function sleepUntil (at: number): Promise<void> {
  const ms = at - performance.now()
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms))
}

async function observe (observed: KomradeNode, observer: KomradeNode, runs: number, label: string): Promise<WindowPair[]> {
  const source = observed.status().peerId
  const arrivals: number[] = []
  const pubsub = observer.network.libp2p.services.pubsub
  const record = (event: CustomEvent<{ propagationSource: { toString(): string } }>): void => {
    if (event.detail.propagationSource.toString() === source) arrivals.push(performance.now())
  }
  pubsub.addEventListener('gossipsub:message', record)
  const inWindow = (start: number): number[] => arrivals.filter((t) => t >= start && t < start + WINDOW_MS).map((t) => t - start)
  const pairs: WindowPair[] = []
  try {
    for (let run = 0; run < runs; run++) {
      const quietStart = performance.now()
      await sleepUntil(quietStart + WINDOW_MS)
      const received = (await observer.inbox()).length
      const busyStart = performance.now()
      const busyEndWall = Date.now() + WINDOW_MS
      await Promise.all(Array.from({ length: MESSAGES }, async (_, i) => await observed.send(observer.publicIdentity, `${label} ${run}.${i}`, { ttlMinutes: TTL_MINUTES })))
      await sleepUntil(busyStart + WINDOW_MS)
      // All of them out before the next quiet window (not timed: a slow machine only makes this wait longer).
      await waitFor('the messages received', async () => (await observer.inbox()).length === received + MESSAGES, 60_000)
      const quiet = gaps(inWindow(quietStart))
      const busy = gaps(inWindow(busyStart))
      const realInWindow = (await observer.inbox()).slice(received).filter((m) => m.receivedAt <= busyEndWall).length
      pairs.push({
        quiet: quiet.length,
        busy: busy.length,
        ...(quiet.length > 0 && busy.length > 0 ? { ksP: ksTwoSample(quiet, busy).pValue } : {}),
        countP: binomialHalfP(quiet.length, quiet.length + busy.length),
        realInWindow
      })
    }
  } finally {
    pubsub.removeEventListener('gossipsub:message', record as (event: Event) => void)
  }
  return pairs
}

function toldApart (pair: WindowPair): boolean {
  return (pair.ksP !== undefined && pair.ksP < LEVEL) || pair.countP < LEVEL
}

function report (label: string, pairs: WindowPair[]): string {
  return `${label}: ` + pairs.map((p) => `quiet ${p.quiet} / busy ${p.busy} (${p.realInWindow} real) KS p=${p.ksP?.toPrecision(3) ?? 'n/a'} count p=${p.countP.toPrecision(3)}`).join('; ')
}

/** A session first, so the measured messages are ordinary session envelopes (no first contact, no accept). */
async function withSession (observed: KomradeNode, observer: KomradeNode): Promise<void> {
  await connect(observed, observer)
  await waitFor('a gossip mesh', () => observed.status().meshPeers > 0 && observer.status().meshPeers > 0)
  const hello = await observed.send(observer.publicIdentity, 'hello', { ttlMinutes: TTL_MINUTES })
  await waitFor('the session', async () => (await observed.outbox()).find((m) => m.id === hello.id)?.state === 'delivered', 60_000)
}

describe('the observer', () => {
  afterEach(cleanup)

  it(`cannot tell 0 from ${MESSAGES} messages with cover traffic (at most 1 of ${RUNS} window pairs at p < ${LEVEL}), and always can without`, async () => {
    const { node: observer } = await startNode()
    const covered = await startNode({ cover: { ratePerHour: RATE_PER_SECOND * 3600, ttlMinutes: TTL_MINUTES } })
    await withSession(covered.node, observer)
    const on = await observe(covered.node, observer, RUNS, 'covered')
    const { lateSlots, emittedToday } = covered.node.status().cover
    await covered.node.stop() // alone with the observer from here: nothing else reaches it

    const bare = await startNode({ cover: false })
    await withSession(bare.node, observer)
    const off = await observe(bare.node, observer, 1, 'bare')
    console.info(`cover traffic at ${RATE_PER_SECOND}/s, ${WINDOW_MS} ms windows (${lateSlots} of ${emittedToday} slots waited for proof of work)\n  ${report('on', on)}\n  ${report('off', off)}`)

    // The busy windows did carry the user's messages, most of them (else there was little to hide; a machine
    // too busy to mint 5 envelopes a second delays them, cover envelopes going first).
    expect(on.reduce((sum, pair) => sum + pair.realInWindow, 0), report('on', on)).toBeGreaterThanOrEqual(RUNS * MESSAGES / 2)
    expect(on.filter(toldApart).length, report('on', on)).toBeLessThanOrEqual(1)
    for (const pair of off) {
      expect(pair.quiet).toBe(0)
      expect(pair.busy).toBe(MESSAGES)
      expect(toldApart(pair), report('off', off)).toBe(true)
    }
  }, 120_000)
})
