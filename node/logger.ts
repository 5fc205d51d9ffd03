/**
 * Structured logging for the node. Library code gets a {@link Logger} injected
 * and never writes to the console itself; the daemon picks the output (JSON
 * lines when stderr is not a TTY, short text lines when it is).
 */

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>

/** A namespaced logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** A logger for a sub-component: `komrade:store`, `komrade:resync`... */
  child(component: string): Logger
}

/** Severity order, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** Options of {@link createLogger}. */
export interface LoggerInit {
  /** Least severe level written. @default 'info' */
  level?: LogLevel
  /** JSON lines (for files, journald, pipes) or text (for a terminal). @default JSON unless `stream` is a TTY */
  json?: boolean
  /** Where lines go. @default process.stderr */
  stream?: NodeJS.WritableStream & { isTTY?: boolean }
  /** Component name. @default 'komrade' */
  component?: string
}

/** A logger that writes nothing: the library default. */
export function silentLogger (): Logger {
  const logger: Logger = { debug () {}, info () {}, warn () {}, error () {}, child: () => logger }
  return logger
}

function jsonSafe (value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (typeof value === 'bigint') return value.toString()
  return value
}

/** Creates a logger writing to a stream. */
export function createLogger (init: LoggerInit = {}): Logger {
  const stream = init.stream ?? process.stderr
  const json = init.json ?? stream.isTTY !== true
  const threshold = LOG_LEVELS.indexOf(init.level ?? 'info')
  function make (component: string): Logger {
    function write (level: LogLevel, message: string, fields: LogFields = {}): void {
      if (LOG_LEVELS.indexOf(level) < threshold) return
      if (json) {
        const line: Record<string, unknown> = { time: new Date().toISOString(), level, component, message }
        for (const [key, value] of Object.entries(fields)) line[key] = jsonSafe(value)
        stream.write(JSON.stringify(line) + '\n')
      } else {
        const extra = Object.entries(fields).map(([k, v]) => `${k}=${String(jsonSafe(v) instanceof Object ? JSON.stringify(jsonSafe(v)) : v)}`).join(' ')
        stream.write(`${level.padEnd(5)} ${component}: ${message}${extra === '' ? '' : ' ' + extra}\n`)
      }
    }
    return {
      debug: (m, f) => { write('debug', m, f) },
      info: (m, f) => { write('info', m, f) },
      warn: (m, f) => { write('warn', m, f) },
      error: (m, f) => { write('error', m, f) },
      child: (sub) => make(`${component}:${sub}`)
    }
  }
  return make(init.component ?? 'komrade')
}
