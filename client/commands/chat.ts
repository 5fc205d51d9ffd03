/**
 * `komrade chat NAME`: a conversation in the terminal. It prints the recent
 * messages, then live ones from that contact (the node's WebSocket events)
 * under a prompt; every line typed is sent, and the recipient's receipt is
 * shown when it comes back.
 *
 * Piped, it reads lines until EOF, prints the same lines without any
 * terminal tricks, and on EOF waits (up to --wait seconds) until what it
 * sent is delivered, then exits 0. Ctrl-C, Ctrl-D and SIGTERM leave cleanly.
 */
import { createInterface, clearLine, cursorTo, moveCursor, type Interface } from 'node:readline'
import type { KomradeClient } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import type { ApiContact, ApiConversationMessage, ApiEvent } from '../api/types.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, dataDirOf, parseCommand, usageError } from './arguments.js'
import { contactLabel, findContact } from './contacts.js'
import { EXIT_NO_NODE, EXIT_OK } from './exit-codes.js'
import { reportFailure } from './failures.js'
import { formatTime, isFancy, MESSAGE_INDENT, printable } from './terminal.js'

export const CHAT_HELP = `komrade chat: talk with a contact, live

Usage:
  komrade chat NAME [--history N] [--wait SEC] [--data-dir DIR]

Shows the last messages with NAME, then new ones as they arrive; type a line and press Enter to
send it. Receipts show when the other node confirms delivery. NAME is a contact (name or id) or a
registered name (added as a contact first). Ctrl-D or Ctrl-C leaves.

With stdin piped (a script), each line read is sent; at the end of the input chat waits until
what it sent is delivered (at most --wait seconds), then exits 0. Output is one plain line per
event: "HH:MM NAME: text", "HH:MM you: text", "HH:MM delivered: text".

Options:
${DATA_DIR_HELP}
  --history N      how many earlier messages to show (default 20, 0 for none)
  --wait SEC       at the end of the input, wait this long for deliveries (default 60)

Examples:
  komrade chat grace
  printf 'hello\\nare you there?\\n' | komrade chat grace --history 0`

const DEFAULT_HISTORY = 20
const DEFAULT_WAIT_SECONDS = 60
/** Characters of a sent message quoted in its receipt line. */
const PREVIEW_LENGTH = 40

/** A sent message shortened to one line for its receipt (escaped: it may be pasted text holding anything). */
function preview (text: string): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return printable(line.length <= PREVIEW_LENGTH ? line : `${line.slice(0, PREVIEW_LENGTH - 1)}…`)
}

/** A message's text as chat shows it. */
function messageText (text: string): string {
  return printable(text, { indent: MESSAGE_INDENT })
}

/** The contact to chat with: an existing one, else the name (or invite, or identity) added now. */
async function chatContact (client: KomradeClient, query: string, say: (line: string) => void): Promise<ApiContact> {
  const found = findContact(await client.contacts(), query)
  if (found !== undefined) return found
  const added = await client.addContact(query)
  say(`Added ${contactLabel(added)} to your contacts (fingerprint ${added.fingerprint}; compare it: komrade contacts verify ${printable(added.name ?? added.id.slice(0, 12))})`)
  return added
}

/** `komrade chat NAME`. */
export async function chatCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade chat',
    help: CHAT_HELP,
    options: { ...COMMON_OPTIONS, history: { type: 'string' }, wait: { type: 'string' } },
    positionals: { min: 1, max: 1, names: 'NAME' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [name] } = parsed
  const history = values.history === undefined ? DEFAULT_HISTORY : Number(values.history)
  if (!Number.isSafeInteger(history) || history < 0) return usageError(spec.name, spec.help, `--history expected a number, got "${values.history!}"`)
  const waitSeconds = values.wait === undefined ? DEFAULT_WAIT_SECONDS : Number(values.wait)
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) return usageError(spec.name, spec.help, `--wait expected seconds, got "${values.wait!}"`)
  const dataDir = dataDirOf(values)
  try {
    const client = await connectToDaemon(dataDir)
    return await runChat(client, name!, { history, waitSeconds })
  } catch (error) {
    return reportFailure(error, { command: 'komrade chat', dataDir, name: name! })
  }
}

async function runChat (client: KomradeClient, query: string, options: { history: number, waitSeconds: number }): Promise<number> {
  const fancy = isFancy(process.stdout) && process.stdin.isTTY === true
  let rl: Interface | undefined
  /** Prints a line above the prompt, keeping what the user is typing. */
  const say = (line: string): void => {
    if (fancy && rl !== undefined) {
      cursorTo(process.stdout, 0)
      clearLine(process.stdout, 0)
      process.stdout.write(line + '\n')
      rl.prompt(true)
    } else {
      process.stdout.write(line + '\n')
    }
  }
  const contact = await chatContact(client, query, say)
  const label = contactLabel(contact)

  // Events first, so nothing arriving while the history loads is lost (duplicates are skipped by id).
  const stop = new AbortController()
  const shown = new Set<string>()
  const pending = new Map<string, string>() // id -> preview of what we sent, until delivered
  const deliveredEarly = new Set<string>()
  let onDelivered: (() => void) | undefined
  let nodeStopped = false
  const receipt = (text: string): string => fancy ? `  ✓ delivered: ${text}` : `${formatTime(Date.now())} delivered: ${text}`
  const handle = (event: ApiEvent): void => {
    if (event.type === 'message' && event.message.from === contact.id && !shown.has(event.message.id)) {
      shown.add(event.message.id)
      say(`${formatTime(event.message.receivedAt)} ${label}: ${messageText(event.message.text)}`)
    } else if (event.type === 'outbox' && event.message.state === 'delivered') {
      const text = pending.get(event.message.id)
      if (text === undefined) { deliveredEarly.add(event.message.id); return }
      pending.delete(event.message.id)
      say(receipt(text))
      onDelivered?.()
    }
  }
  const iterator = client.events({ signal: stop.signal })[Symbol.asyncIterator]()
  const first = await iterator.next() // 'hello': the socket is open before the history is read
  if (first.done !== true) handle(first.value)
  const listening = (async () => {
    try {
      for (;;) {
        const next = await iterator.next()
        if (next.done === true) break
        handle(next.value)
      }
    } catch {}
    if (!stop.signal.aborted) nodeStopped = true
  })()

  const earlier: ApiConversationMessage[] = options.history > 0 ? await client.conversation(contact.id, { limit: options.history }) : []
  for (const message of earlier) {
    if (shown.has(message.id)) continue
    shown.add(message.id)
    const who = message.direction === 'in' ? label : 'you'
    const state = message.direction === 'out' && message.state !== undefined ? ` (${message.state})` : ''
    process.stdout.write(`${formatTime(message.at)} ${who}: ${messageText(message.text)}${state}\n`)
  }
  // On stderr, so a script reading stdout sees only the conversation (and can wait for this line to know chat listens).
  process.stderr.write(fancy
    ? `Chatting with ${label} (fingerprint ${contact.fingerprint}). Enter sends; Ctrl-D or Ctrl-C leaves.\n`
    : `Chatting with ${label} (fingerprint ${contact.fingerprint}); each line read is sent, end of input leaves.\n`)

  rl = createInterface({ input: process.stdin, ...(fancy ? { output: process.stdout, prompt: '> ' } : {}), terminal: fancy })
  let sending = Promise.resolve()
  const send = async (line: string): Promise<void> => {
    if (fancy) { moveCursor(process.stdout, 0, -1); clearLine(process.stdout, 0) } // the typed "> line" becomes the "you:" line
    say(`${formatTime(Date.now())} you: ${messageText(line)}`)
    try {
      const sent = await client.send(contact.id, line)
      if (sent.state === 'delivered' || deliveredEarly.has(sent.id)) say(receipt(preview(line)))
      else pending.set(sent.id, preview(line))
    } catch (error) {
      say(`komrade chat: not sent: ${printable((error as Error).message)}`)
    }
  }
  const left = new Promise<'eof' | 'interrupt'>((resolve) => {
    rl!.on('line', (line) => {
      if (line.trim() === '') { if (fancy) rl!.prompt(); return }
      sending = sending.then(async () => { await send(line) })
    })
    rl!.on('close', () => { resolve('eof') })
    rl!.on('SIGINT', () => { resolve('interrupt') }) // Ctrl-C on a terminal
    process.once('SIGINT', () => { resolve('interrupt') })
    process.once('SIGTERM', () => { resolve('interrupt') })
    void listening.then(() => { if (nodeStopped) resolve('interrupt') })
  })
  if (fancy) rl.prompt()
  const why = await left
  rl.close()
  if (why === 'eof') {
    await sending
    if (pending.size > 0 && options.waitSeconds > 0 && !nodeStopped) {
      if (fancy) process.stdout.write(`Waiting for ${pending.size} message(s) to be delivered (Ctrl-C to leave now)…\n`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.waitSeconds * 1000)
        const done = (): void => { if (pending.size === 0) { clearTimeout(timer); resolve() } }
        onDelivered = done
        process.once('SIGINT', () => { clearTimeout(timer); resolve() })
        void listening.then(() => { clearTimeout(timer); resolve() })
        done()
      })
    }
  }
  stop.abort()
  await iterator.return?.()
  await listening
  if (nodeStopped) {
    process.stderr.write('komrade chat: the node stopped; start it again with komrade start\n')
    return EXIT_NO_NODE
  }
  if (pending.size > 0) {
    process.stderr.write(`komrade chat: ${pending.size} message(s) not delivered yet; they stay queued and the node keeps retrying (komrade status)\n`)
  }
  return EXIT_OK
}
