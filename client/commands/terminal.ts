/**
 * Output for people and for pipes. Decorations (a check mark, progress
 * redrawn in place with a carriage return) only when the stream is a
 * terminal and NO_COLOR is not set; off a terminal, plain lines that a
 * script can read. No colours at all: the text says everything.
 */

/** A stream as commands see it (process.stdout, process.stderr, or a test's). */
export type OutputStream = NodeJS.WritableStream & { isTTY?: boolean, columns?: number }

/** Whether `stream` may get decorations: a terminal, NO_COLOR unset (https://no-color.org), TERM not "dumb". */
export function isFancy (stream: OutputStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (stream.isTTY !== true) return false
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return env.TERM !== 'dumb'
}

/**
 * Characters a terminal acts on instead of showing: C0 controls (ESC starts
 * sequences that set the window title, clear the screen, move the cursor,
 * write the clipboard; CR overwrites a line; a line feed starts a line that
 * can pass for one of ours), DEL, C1 controls (CSI and OSC in one character
 * on some terminals), the bidirectional controls that reorder what follows
 * them (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), and the
 * Unicode line separators.
 */
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu

/** Start of each line of a message after its first: no line of ours starts with a space. */
export const MESSAGE_INDENT = '       '

/**
 * `text` from the network (a message, a name) made safe to write to a
 * terminal: every character it would act on is shown as `\u{1b}`, so a
 * stranger can neither drive the terminal nor disguise text. One line by
 * default (a line feed is shown as `\u{a}` too); with `indent`, a message's
 * line feeds and tabs stay, and each line after the first starts with
 * `indent`, so no line of a message can pass for a line of its own
 * ("12:00 you: …").
 */
export function printable (text: string, options: { indent?: string } = {}): string {
  const { indent } = options
  if (indent === '') throw new RangeError('"indent" must not be empty: an unindented line of a message could pass for one of ours')
  return text.replace(UNPRINTABLE, (char) => {
    if (indent !== undefined && char === '\n') return `\n${indent}`
    if (indent !== undefined && char === '\t') return char
    return `\\u{${char.codePointAt(0)!.toString(16)}}`
  })
}

/** Writes one line. */
export function writeLine (stream: OutputStream, line = ''): void {
  stream.write(line + '\n')
}

/** Writes `value` as one line of JSON (the `--json` output of every read command). */
export function writeJson (stream: OutputStream, value: unknown): void {
  stream.write(JSON.stringify(value) + '\n')
}

/** Writes `key value` pairs aligned under a heading; undefined values are skipped. */
export function writeFields (stream: OutputStream, heading: string, fields: Record<string, string | number | undefined>): void {
  writeLine(stream, heading)
  const width = Math.max(...Object.keys(fields).map((key) => key.length)) + 2
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) writeLine(stream, `  ${key.padEnd(width)}${value}`)
  }
}

/** A progress line redrawn in place on a terminal; silent elsewhere (a pipe gets the final result only). */
export interface Progress {
  update(text: string): void
  /** Clears the line. */
  done(): void
}

/** Creates a progress line on `stream` (stderr, so stdout stays the result). */
export function createProgress (stream: OutputStream, env: NodeJS.ProcessEnv = process.env): Progress {
  if (!isFancy(stream, env)) return { update () {}, done () {} }
  let shown = false
  return {
    update (text) {
      // A terminal that reports no size (0 columns under some pseudo-terminals) gets 80.
      const columns = stream.columns !== undefined && stream.columns > 0 ? stream.columns : 80
      const width = Math.max(10, columns - 1)
      stream.write(`\r\x1b[2K${text.slice(0, width)}`)
      shown = true
    },
    done () {
      if (shown) stream.write('\r\x1b[2K')
      shown = false
    }
  }
}

/** A message time: "14:05" today, "2025-03-01 14:05" before. */
export function formatTime (at: number, now = Date.now()): string {
  const date = new Date(at)
  const sameDay = new Date(now).toDateString() === date.toDateString()
  const hhmm = `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`
  return sameDay ? hhmm : `${date.toISOString().slice(0, 10)} ${hhmm}`
}

/** Bytes as "12.3 MiB". */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}
