/**
 * Where the passphrase of an encrypted identity comes from, in order:
 * `--passphrase-file FILE` (its first line), `KOMRADE_PASSPHRASE`, else a
 * prompt without echo when stdin is a terminal (twice when creating one).
 * Never a command-line value: those end up in shell history and `ps`.
 */
import { readFile } from 'node:fs/promises'

/** Environment variable holding the passphrase (for services and scripts). */
export const PASSPHRASE_ENV = 'KOMRADE_PASSPHRASE'

/** The passphrase could not be read (a prompt cancelled, an empty file, two entries that differ). */
export class PassphraseInputError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'PassphraseInputError'
  }
}

/** Where to look for the passphrase. */
export interface PassphraseSources {
  /** `--passphrase-file`. */
  file?: string
  env?: NodeJS.ProcessEnv
  /** Terminal input for the prompt. @default process.stdin */
  input?: NodeJS.ReadStream
  /** Where the prompt is written. @default process.stderr */
  output?: NodeJS.WritableStream
}

/** The passphrase from a file or the environment, without asking; undefined when neither gives one. */
export async function passphraseWithoutPrompt (sources: PassphraseSources): Promise<string | undefined> {
  if (sources.file !== undefined) {
    let text: string
    try {
      text = await readFile(sources.file, 'utf8')
    } catch (error) {
      throw new PassphraseInputError(`Cannot read the passphrase file ${sources.file}: ${(error as Error).message}`)
    }
    const line = text.split(/\r?\n/)[0] ?? ''
    if (line === '') throw new PassphraseInputError(`The passphrase file ${sources.file} is empty; put the passphrase on its first line`)
    return line
  }
  const fromEnv = (sources.env ?? process.env)[PASSPHRASE_ENV]
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv
}

/** Whether a prompt is possible (stdin is a terminal). */
export function canPrompt (sources: PassphraseSources): boolean {
  return (sources.input ?? process.stdin).isTTY === true
}

/**
 * The passphrase: from a file or the environment, else asked on the
 * terminal (`confirm`: twice, for a new one). Undefined when there is no
 * source and no terminal.
 */
export async function readPassphrase (sources: PassphraseSources, purpose: { confirm: boolean, what: string }): Promise<string | undefined> {
  const given = await passphraseWithoutPrompt(sources)
  if (given !== undefined || !canPrompt(sources)) return given
  const first = await promptHidden(`Passphrase ${purpose.what}: `, sources)
  if (first === '') throw new PassphraseInputError('The passphrase is empty; type one (or leave out --passphrase for a plain identity file)')
  if (purpose.confirm) {
    const second = await promptHidden('The same passphrase again: ', sources)
    if (second !== first) throw new PassphraseInputError('The two passphrases differ; run the command again')
  }
  return first
}

/** Reads one line from the terminal in raw mode, echoing nothing. Ctrl-C or Ctrl-D cancels. */
async function promptHidden (question: string, sources: PassphraseSources): Promise<string> {
  const input = sources.input ?? process.stdin
  const output = sources.output ?? process.stderr
  output.write(question)
  const wasRaw = input.isRaw
  input.setRawMode(true)
  input.resume()
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = ''
      const onData = (chunk: Buffer): void => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n') { finish(); resolve(typed); return }
          if (char === '\u0003' || char === '\u0004') { finish(); reject(new PassphraseInputError('Cancelled')); return }
          if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1)
          else typed += char
        }
      }
      const finish = (): void => {
        input.off('data', onData)
        output.write('\n')
      }
      input.on('data', onData)
    })
  } finally {
    input.setRawMode(wasRaw)
    input.pause()
  }
}
