/**
 * Types and helpers shared by the benchmark modules and the runner (run.ts).
 * Kept apart from run.ts so benchmark modules never import the entry point.
 */

/** A goal a measured value must meet, e.g. `{ op: '>=', target: 0.8 }` (rates) or `{ op: '<', target: 50 }` (latencies). */
export interface Goal {
  readonly op: '>=' | '>' | '<=' | '<'
  readonly target: number
  /** Where the goal comes from, e.g. "issue: native >= 0.8 of raw X25519". */
  readonly source?: string
}

/** One measured case: repeated samples of one rate or duration. */
export interface BenchRow {
  readonly id: string
  readonly label: string
  /** e.g. "envelopes/s", "ms". */
  readonly unit: string
  readonly median: number
  readonly min: number
  readonly max: number
  readonly samples: number[]
  /**
   * The same samples computed over this thread's CPU time instead of wall
   * time: less sensitive to other processes on a busy machine.
   */
  readonly cpuSamples?: number[]
  readonly cpuMedian?: number
  readonly goal?: Goal
  readonly pass?: boolean
  /** Free-form per-case facts for the JSON (sizes, counts, cpu/wall). */
  readonly details?: Record<string, unknown>
}

/** A value derived from rows (a ratio of medians). */
export interface BenchRatio {
  readonly id: string
  readonly label: string
  readonly value: number
  /** The same ratio taken per repetition (pairs measured in the same round): min and max. */
  readonly pairedMin?: number
  readonly pairedMax?: number
  /** The ratio of the CPU-time medians, when both rows have them. */
  readonly cpuValue?: number
  readonly goal?: Goal
  readonly pass?: boolean
}

/** What a benchmark returns. */
export interface BenchResult {
  readonly name: string
  readonly title: string
  readonly rows: BenchRow[]
  readonly ratios: BenchRatio[]
  /** Lines printed under the table and kept in the JSON. */
  readonly notes: string[]
  readonly details?: Record<string, unknown>
}

/** What the runner hands to a benchmark. */
export interface BenchContext {
  /** `--key=value` options from the command line (`--flag` alone gives "true"). */
  readonly options: Readonly<Record<string, string>>
  /** Progress output (stderr, so stdout stays the report). */
  log(message: string): void
  /** Full garbage collection, to start each timed run from the same heap state. */
  gc(): void
}

/** A benchmark module exports one of these as `benchmark`. */
export interface Benchmark {
  readonly name: string
  readonly description: string
  run(context: BenchContext): Promise<BenchResult>
}

/** Median of a non-empty list. */
export function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Checks `value` against `goal`. */
export function meets (value: number, goal: Goal): boolean {
  switch (goal.op) {
    case '>=': return value >= goal.target
    case '>': return value > goal.target
    case '<=': return value <= goal.target
    case '<': return value < goal.target
  }
}

/** Builds a row from samples, judging it against `goal` if one is given. */
export function rowOf (init: Omit<BenchRow, 'median' | 'min' | 'max' | 'pass' | 'cpuMedian'>): BenchRow {
  const value = median(init.samples)
  return {
    ...init,
    ...(init.cpuSamples === undefined ? {} : { cpuMedian: median(init.cpuSamples) }),
    median: value,
    min: Math.min(...init.samples),
    max: Math.max(...init.samples),
    ...(init.goal === undefined ? {} : { pass: meets(value, init.goal) })
  }
}

/** Ratio of the medians of two rows, plus the spread of per-repetition ratios. */
export function ratioOf (id: string, label: string, top: BenchRow, bottom: BenchRow, goal?: Goal): BenchRatio {
  const value = top.median / bottom.median
  const paired = top.samples.length === bottom.samples.length
    ? top.samples.map((t, i) => t / bottom.samples[i]!)
    : []
  return {
    id,
    label,
    value,
    ...(paired.length > 0 ? { pairedMin: Math.min(...paired), pairedMax: Math.max(...paired) } : {}),
    ...(top.cpuMedian !== undefined && bottom.cpuMedian !== undefined ? { cpuValue: top.cpuMedian / bottom.cpuMedian } : {}),
    ...(goal === undefined ? {} : { goal, pass: meets(value, goal) })
  }
}
