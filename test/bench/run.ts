/**
 * Benchmark entry point: `npm run bench [-- NAME ...] [--key=value ...]`.
 *
 * Runs every registered benchmark (or only the NAMEs given), prints one table
 * per benchmark and writes everything to test-results/bench.json.
 *
 * To add a benchmark, write a module in this folder that exports
 * `benchmark: Benchmark` (types and helpers in harness.ts) and add one line to
 * {@link REGISTRY}. Options given as
 * `--key=value` reach every benchmark in `context.options`; `--strict` makes a
 * missed goal exit with status 1 (a failed self-check always does).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { BenchContext, Benchmark, BenchResult, Goal } from './harness.js'

interface RegistryEntry {
  readonly name: string
  load(): Promise<{ benchmark: Benchmark }>
}

/** Every benchmark, in the order they run. */
const REGISTRY: RegistryEntry[] = [
  { name: 'screening', load: async () => await import('./screening.js') },
  { name: 'work', load: async () => await import('./work.js') },
  { name: 'network', load: async () => await import('./network.js') },
  { name: 'registry', load: async () => await import('./registry.js') },
  { name: 'cover', load: async () => await import('./cover.js') },
  { name: 'votes', load: async () => await import('./votes.js') }
]

// ---- machine ---------------------------------------------------------------

interface MachineInfo {
  cpu: string
  logicalCores: number
  memoryGiB: number
  platform: string
  node: string
  v8: string
  openssl: string
  loadAverage: number[]
  uptime: string
}

function uptimeLine (): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim()
  } catch {
    return `load average: ${loadavg().map((l) => l.toFixed(2)).join(', ')}`
  }
}

function machine (): MachineInfo {
  const cores = cpus()
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    logicalCores: cores.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    platform: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl ?? 'none',
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    uptime: uptimeLine()
  }
}

function collector (): { gc: () => void, exposed: boolean } {
  const existing = (globalThis as { gc?: () => void }).gc
  if (typeof existing === 'function') return { gc: existing, exposed: true }
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    if (typeof gc === 'function') return { gc: gc as () => void, exposed: true }
  } catch {}
  return { gc: () => {}, exposed: false }
}

// ---- printing --------------------------------------------------------------

function formatNumber (value: number): string {
  if (!Number.isFinite(value)) return String(value)
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US')
  if (Math.abs(value) >= 10) return value.toFixed(1)
  return value.toFixed(3)
}

function goalText (goal: Goal | undefined, pass: boolean | undefined): string {
  if (goal === undefined) return ''
  return `${goal.op} ${formatNumber(goal.target)} ${pass === true ? 'PASS' : 'MISS'}`
}

function table (header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells
    .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function printResult (result: BenchResult): void {
  console.log(`\n## ${result.title}\n`)
  const withCpu = result.rows.some((r) => r.cpuMedian !== undefined)
  console.log(table(
    ['case', 'median', 'min', 'max', ...(withCpu ? ['by CPU time'] : []), 'unit', 'goal'],
    result.rows.map((r) => [
      `(${r.id}) ${r.label}`, formatNumber(r.median), formatNumber(r.min), formatNumber(r.max),
      ...(withCpu ? [r.cpuMedian === undefined ? '' : formatNumber(r.cpuMedian)] : []),
      r.unit, goalText(r.goal, r.pass)
    ]),
    new Set(withCpu ? [1, 2, 3, 4] : [1, 2, 3])
  ))
  if (result.ratios.length > 0) {
    const ratioCpu = result.ratios.some((r) => r.cpuValue !== undefined)
    console.log('')
    console.log(table(
      ['ratio', 'of medians', 'per round min..max', ...(ratioCpu ? ['by CPU time'] : []), 'goal'],
      result.ratios.map((r) => [
        `${r.id}  ${r.label}`,
        r.value.toFixed(3),
        r.pairedMin === undefined ? '' : `${r.pairedMin.toFixed(3)}..${r.pairedMax!.toFixed(3)}`,
        ...(ratioCpu ? [r.cpuValue === undefined ? '' : r.cpuValue.toFixed(3)] : []),
        goalText(r.goal, r.pass)
      ]),
      new Set(ratioCpu ? [1, 2, 3] : [1, 2])
    ))
  }
  for (const note of result.notes) console.log(`- ${note}`)
}

// ---- main ------------------------------------------------------------------

function parseArgs (argv: string[]): { names: string[], options: Record<string, string> } {
  const names: string[] = []
  const options: Record<string, string> = {}
  for (const arg of argv) {
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      if (eq === -1) options[arg.slice(2)] = 'true'
      else options[arg.slice(2, eq)] = arg.slice(eq + 1)
    } else {
      names.push(arg)
    }
  }
  return { names, options }
}

async function main (): Promise<number> {
  const { names, options } = parseArgs(process.argv.slice(2))
  const unknown = names.filter((n) => !REGISTRY.some((e) => e.name === n))
  if (unknown.length > 0) {
    console.error(`Unknown benchmark ${unknown.join(', ')}; known: ${REGISTRY.map((e) => e.name).join(', ')}`)
    return 2
  }
  const selected = names.length === 0 ? REGISTRY : REGISTRY.filter((e) => names.includes(e.name))
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
  const outDir = join(root, 'test-results')
  const outFile = join(outDir, options.out ?? 'bench.json')

  const before = machine()
  console.log('# Komrade benchmarks\n')
  console.log(`machine: ${before.cpu}, ${before.logicalCores} logical cores, ${before.memoryGiB} GiB, ${before.platform}`)
  console.log(`runtime: node ${before.node}, V8 ${before.v8}, OpenSSL ${before.openssl}`)
  console.log(`load at start: ${before.uptime}`)

  const { gc, exposed } = collector()
  const context: BenchContext = {
    options,
    log: (message) => { process.stderr.write(`[bench] ${message}\n`) },
    gc
  }
  const results: BenchResult[] = []
  const failures: Array<{ name: string, error: string }> = []
  for (const entry of selected) {
    const started = Date.now()
    try {
      const { benchmark } = await entry.load()
      context.log(`${benchmark.name}: ${benchmark.description}`)
      const result = await benchmark.run(context)
      results.push(result)
      printResult(result)
      context.log(`${benchmark.name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
      failures.push({ name: entry.name, error: text })
      console.error(`\n!! benchmark ${entry.name} FAILED:\n${text}`)
    }
  }

  const after = machine()
  console.log(`\nload at end: ${after.uptime}`)
  mkdirSync(outDir, { recursive: true })
  writeFileSync(outFile, JSON.stringify({
    generatedAt: new Date().toISOString(),
    machine: { ...before, loadAverageAtEnd: after.loadAverage, uptimeAtEnd: after.uptime },
    gcExposed: exposed,
    options,
    results,
    failures
  }, null, 2) + '\n')
  console.log(`results: ${relative(process.cwd(), outFile) || outFile}`)

  const missed = results.flatMap((r) => [...r.rows, ...r.ratios]).filter((x) => x.pass === false)
  if (failures.length > 0) return 1
  if (missed.length > 0 && options.strict === 'true') return 1
  return 0
}

main().then((code) => { process.exitCode = code }, (error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
