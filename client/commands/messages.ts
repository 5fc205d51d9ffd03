/**
 * `komrade send` and `komrade inbox`. send takes the text from its
 * arguments, or from stdin when there is none (or it is `-`), so a file can
 * be piped in; text over the 1 MiB a message carries is refused before
 * anything is sent.
 */
import { MAX_PAYLOAD_LENGTH } from '../../protocol/index.js'
import type { KomradeClient } from '../api/client.js'
import { connectToDaemon } from '../api/discover.js'
import type { ApiContact, ApiEvent, ApiSentMessage } from '../api/types.js'
import { COMMON_OPTIONS, DATA_DIR_HELP, JSON_OPTION, dataDirOf, parseCommand, usageError } from './arguments.js'
import { contactLabel, findContact, needContact } from './contacts.js'
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.js'
import { CommandError, reportFailure, tooLargeSentence } from './failures.js'
import { formatTime, isFancy, MESSAGE_INDENT, printable, writeJson, writeLine } from './terminal.js'

export const SEND_HELP = `komrade send: send a message

Usage:
  komrade send NAME TEXT… [--wait] [--data-dir DIR] [--json]
  komrade send NAME < FILE               the text from stdin (also with TEXT "-")

NAME is a contact (name, id or hex identity) or a registered name (looked up). The message is
sealed, gets its proof of work and is flooded; the node retries until the recipient's receipt
comes back (the delivery state shows in komrade chat and the web UI). At most 1 MiB.

Options:
${DATA_DIR_HELP}
  --wait           wait until the recipient's node confirms delivery
  --timeout SEC    with --wait: give up after SEC seconds (default 600; the message stays queued)
  --json           print the sent message as JSON: { id, to, state, createdAt, text }

Examples:
  komrade send grace "see you at eight"
  komrade send grace --wait "are you there?"
  komrade send grace < notes.txt`

export const INBOX_HELP = `komrade inbox: messages received, oldest first

Usage:
  komrade inbox [--from NAME] [--limit N] [--data-dir DIR] [--json]

Options:
${DATA_DIR_HELP}
  --from NAME      only messages from this contact
  --limit N        only the newest N
  --json           print a JSON array: [{ id, from, fromIdentity, text, sentAt, receivedAt }]

Examples:
  komrade inbox
  komrade inbox --from grace --limit 10
  komrade inbox --json | jq -r '.[].text'`

/**
 * Default --timeout of send --wait, seconds. With cover traffic at its default rate the message
 * and its receipt each wait for a slot (about a minute each on average): ten minutes covers that.
 */
const DEFAULT_WAIT_SECONDS = 600

/** Reads stdin up to one byte past the limit, so a huge file is refused without being held. */
async function readStdin (): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk)
    size += chunk.length
    if (size > MAX_PAYLOAD_LENGTH) break
  }
  return new Uint8Array(Buffer.concat(chunks))
}

/** The text of a message, checked against the size limit. One trailing newline of piped text is dropped. */
async function messageText (words: string[]): Promise<string> {
  let bytes: Uint8Array
  if (words.length === 0 || (words.length === 1 && words[0] === '-')) {
    if (process.stdin.isTTY === true) throw new CommandError('Give the TEXT, or pipe it in: komrade send NAME < FILE', 2)
    bytes = await readStdin()
    if (bytes.length > MAX_PAYLOAD_LENGTH + 1) throw new CommandError(tooLargeSentence())
    let end = bytes.length
    if (bytes[end - 1] === 0x0a) end--
    if (bytes[end - 1] === 0x0d) end--
    bytes = bytes.subarray(0, end)
  } else {
    bytes = new TextEncoder().encode(words.join(' '))
  }
  if (bytes.length > MAX_PAYLOAD_LENGTH) throw new CommandError(tooLargeSentence(bytes.length))
  if (bytes.length === 0) throw new CommandError('The message is empty; write something')
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  return text
}

/** Where `send` goes: a contact's id when NAME is one, else NAME itself (the node looks names up). */
export async function recipientOf (client: KomradeClient, query: string): Promise<{ to: string, contact?: ApiContact }> {
  const contact = findContact(await client.contacts(), query)
  return contact === undefined ? { to: query } : { to: contact.id, contact }
}

/** The message `id` once delivered (undefined at the deadline), from the events of a stream opened before the send. */
async function waitDelivered (events: AsyncIterator<ApiEvent>, id: string, seconds: number): Promise<ApiSentMessage | undefined> {
  const deadline = AbortSignal.timeout(seconds * 1000)
  const timeout = new Promise<'timeout'>((resolve) => { deadline.addEventListener('abort', () => { resolve('timeout') }) })
  for (;;) {
    const next = await Promise.race([events.next(), timeout])
    if (next === 'timeout' || next.done === true) return undefined
    const event = next.value
    if (event.type === 'outbox' && event.message.id === id && event.message.state === 'delivered') return event.message
  }
}

/** `komrade send NAME TEXT…`. */
export async function sendCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade send',
    help: SEND_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, wait: { type: 'boolean' }, timeout: { type: 'string' } },
    positionals: { min: 1, max: Infinity, names: 'NAME' }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values, positionals: [name, ...words] } = parsed
  const seconds = values.timeout === undefined ? DEFAULT_WAIT_SECONDS : Number(values.timeout)
  if (!Number.isFinite(seconds) || seconds <= 0) return usageError(spec.name, spec.help, `--timeout expected a number of seconds, got "${values.timeout!}"`)
  const dataDir = dataDirOf(values)
  try {
    const text = await messageText(words)
    const client = await connectToDaemon(dataDir)
    const { to, contact } = await recipientOf(client, name!)
    const stopEvents = new AbortController()
    let events: AsyncIterator<ApiEvent> | undefined
    try {
      if (values.wait === true) {
        // Opened before sending (its first event, hello, says it is open): a fast receipt cannot slip past.
        events = client.events({ signal: stopEvents.signal })[Symbol.asyncIterator]()
        await events.next()
      }
      let sent = await client.send(to, text)
      const label = contact === undefined ? printable(name!) : contactLabel(contact)
      if (events !== undefined && sent.state !== 'delivered') {
        if (isFancy(process.stderr)) process.stderr.write(`Waiting for ${label}'s node to confirm…\n`)
        const delivered = await waitDelivered(events, sent.id, seconds)
        if (delivered === undefined) {
          if (values.json === true) writeJson(process.stdout, sent)
          process.stderr.write(`komrade send: not delivered within ${seconds} s; the message stays queued and the node keeps retrying\n`)
          return EXIT_FAILURE
        }
        sent = delivered
      }
      if (values.json === true) writeJson(process.stdout, sent)
      else writeLine(process.stdout, `Sent to ${label}: ${sent.state === 'delivered' ? 'delivered' : 'queued; the node delivers it when a path exists'} (id ${sent.id})`)
      return EXIT_OK
    } finally {
      stopEvents.abort()
      await events?.return?.()
    }
  } catch (error) {
    return reportFailure(error, { command: 'komrade send', dataDir, ...(name === undefined ? {} : { name }) })
  }
}

/** `komrade inbox`. */
export async function inboxCommand (argv: string[]): Promise<number> {
  const spec = {
    name: 'komrade inbox',
    help: INBOX_HELP,
    options: { ...COMMON_OPTIONS, ...JSON_OPTION, from: { type: 'string' }, limit: { type: 'string' } }
  } as const
  const parsed = parseCommand(spec, argv)
  if (!parsed.ok) return parsed.exitCode
  const { values } = parsed
  const limit = values.limit === undefined ? undefined : Number(values.limit)
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) return usageError(spec.name, spec.help, `--limit expected a positive integer, got "${values.limit!}"`)
  const dataDir = dataDirOf(values)
  try {
    const client = await connectToDaemon(dataDir)
    const [all, contacts] = await Promise.all([client.inbox(), client.contacts()])
    let messages = all
    if (values.from !== undefined) {
      const contact = await needContact(client, values.from)
      messages = messages.filter((m) => m.from === contact.id)
    }
    if (limit !== undefined) messages = messages.slice(-limit)
    if (values.json === true) { writeJson(process.stdout, messages); return EXIT_OK }
    if (messages.length === 0) { writeLine(process.stdout, 'No messages.'); return EXIT_OK }
    const byId = new Map(contacts.map((c) => [c.id, c]))
    for (const message of messages) {
      const sender = byId.get(message.from)
      const who = sender === undefined ? `[stranger ${message.from.slice(0, 8)}]` : contactLabel(sender)
      writeLine(process.stdout, `${formatTime(message.receivedAt)}  ${who}: ${printable(message.text, { indent: MESSAGE_INDENT })}`)
    }
    return EXIT_OK
  } catch (error) {
    return reportFailure(error, { command: 'komrade inbox', dataDir })
  }
}
