/**
 * Parsing a command's arguments with node:util parseArgs, the same way for
 * every command: `--help`/`-h` prints its help (exit 0), an unknown option
 * or a wrong number of arguments is a usage error (exit 2) that prints the
 * help to stderr.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'
import { resolveDataDir } from '../../node/data-dir.js'
import { EXIT_OK, EXIT_USAGE } from './exit-codes.js'

/** Options every command that talks to a node takes. */
export const COMMON_OPTIONS = {
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies ParseArgsOptionsConfig

/** `--json`, for read commands. */
export const JSON_OPTION = { json: { type: 'boolean' } } as const satisfies ParseArgsOptionsConfig

/** What a command's parse gives: its values and positionals, or an exit code to return at once. */
export type Parsed<O extends ParseArgsOptionsConfig> =
  | { ok: true, values: ParsedValues<O>, positionals: string[] }
  | { ok: false, exitCode: number }

type ParsedValues<O extends ParseArgsOptionsConfig> = {
  [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : string
}

/** How a command is described for parsing. */
export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** "komrade contacts add": prefixes errors. */
  name: string
  help: string
  options: O
  /** Positional arguments: at least `min`, at most `max` (Infinity for any). */
  positionals?: { min: number, max: number, names?: string }
}

/** Writes a usage error and the command's help to stderr; returns EXIT_USAGE. */
export function usageError (name: string, help: string, message: string): number {
  process.stderr.write(`${name}: ${message}\n\n${help}\n`)
  return EXIT_USAGE
}

/** Parses `argv` for a command: --help and usage errors are handled here. */
export function parseCommand<O extends ParseArgsOptionsConfig> (spec: CommandSpec<O>, argv: string[]): Parsed<O> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: spec.options, allowPositionals: true, strict: true })
  } catch (error) {
    return { ok: false, exitCode: usageError(spec.name, spec.help, (error as Error).message) }
  }
  const values = parsed.values as Record<string, unknown>
  if (values.help === true) {
    process.stdout.write(spec.help + '\n')
    return { ok: false, exitCode: EXIT_OK }
  }
  const { min, max, names } = spec.positionals ?? { min: 0, max: 0 }
  if (parsed.positionals.length < min) {
    return { ok: false, exitCode: usageError(spec.name, spec.help, `missing ${names ?? 'argument'}`) }
  }
  if (parsed.positionals.length > max) {
    return { ok: false, exitCode: usageError(spec.name, spec.help, `unexpected argument "${parsed.positionals[max]!}"`) }
  }
  return { ok: true, values: parsed.values as ParsedValues<O>, positionals: parsed.positionals }
}

/** The data directory a command works on: --data-dir, else $KOMRADE_DATA_DIR, else ~/.komrade. */
export function dataDirOf (values: { 'data-dir'?: string }): string {
  return resolveDataDir(values['data-dir'])
}

/** The `--data-dir` line every help text has. */
export const DATA_DIR_HELP = '  --data-dir DIR   data directory (default: $KOMRADE_DATA_DIR, else ~/.komrade)'
