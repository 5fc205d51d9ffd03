/**
 * `komrade config show`: the configuration `komrade start` would use on
 * this data directory, each value with where it came from (a flag, an
 * environment variable, config.json, or the default). A bad value is the
 * same error start would stop with.
 */
import { DATA_DIR_ENV } from '../../node/data-dir.js'
import { explainConfig, type ConfigOrigin } from '../../node/config.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { SETTINGS_HELP, SETTINGS_OPTIONS, settingsFlags } from './daemon-settings.js'
import { EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { writeJson, writeLine } from './terminal.js'

export const CONFIG_HELP = `komrade config show: the settings komrade start would use, and where each comes from

Usage:
  komrade config show [--data-dir DIR] [--json] [settings flags]

Each value is marked with its source: a flag, an environment variable (KOMRADE_*), the data
directory's config.json, or the default. The settings flags of komrade start are accepted, to
check a command line before running it. A bad value fails here exactly as it would at start.

Options:
${DATA_DIR_HELP}
  --json           { "<setting>": { "value": …, "source": "flag|env|file|default", "from": "…" } }

${SETTINGS_HELP}

Examples:
  komrade config show
  KOMRADE_API_PORT=8000 komrade config show --json | jq .apiPort
  komrade config show --listen /ip4/0.0.0.0/tcp/4001`

function display (value: unknown): string {
  if (value === undefined) return '(not set)'
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',')
  return String(value)
}

/** `komrade config show`. */
export async function configCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade config',
    help: CONFIG_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, ...SETTINGS_OPTIONS },
    positionals: { min: 1, max: 1, names: 'a subcommand: show' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [sub] } = parsed
  if (sub !== 'show') return usageError(spec.name, spec.help, `unknown subcommand "${sub!}"`)
  const dataDir = dataDirOf(values)
  try {
    const { config, origins } = await explainConfig({ flags: settingsFlags(values) })
    const dataDirOrigin: ConfigOrigin = values['data-dir'] !== undefined
      ? { layer: 'flag', from: '--data-dir' }
      : process.env[DATA_DIR_ENV] !== undefined && process.env[DATA_DIR_ENV] !== '' ? { layer: 'env', from: DATA_DIR_ENV } : { layer: 'default', from: 'default' }
    const all: Record<string, ConfigOrigin> = { dataDir: dataDirOrigin, ...origins }
    const settings: Record<string, { value: unknown, source: ConfigOrigin['layer'], from: string }> = {}
    for (const [key, origin] of Object.entries(all)) {
      settings[key] = { value: (config as unknown as Record<string, unknown>)[key] ?? null, source: origin.layer, from: origin.from }
    }
    if (values.json === true) { writeJson(process.stdout, settings); return EXIT_OK }
    writeLine(process.stdout, `Configuration for ${config.dataDir} (what komrade start would use)`)
    const keyWidth = Math.max(...Object.keys(settings).map((k) => k.length)) + 2
    const valueWidth = Math.min(48, Math.max(...Object.values(settings).map((s) => display(s.value).length))) + 2
    for (const [key, setting] of Object.entries(settings)) {
      const from = setting.source === 'default' ? 'default' : setting.source === 'file' ? `config file ${setting.from}` : `${setting.source} ${setting.from}`
      writeLine(process.stdout, `  ${key.padEnd(keyWidth)}${display(setting.value === null ? undefined : setting.value).padEnd(valueWidth)}${from}`)
    }
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade config show', dataDir })
  }
}
