/**
 * The wire of Tor's control protocol (control-spec §2): the TCP or Unix
 * socket, the reply framing (`NNN-`, `NNN+` with a data block, `NNN `),
 * commands in order with a time limit each, and the keyword parsing of reply
 * lines. Reads are bounded: a peer that is not tor cannot make us buffer
 * more than MAX_CONTROL_REPLY_BYTES.
 */
import { createConnection, type Socket } from 'node:net'
import { MAX_CONTROL_REPLY_BYTES } from './onion-constants.js'

/** Tor's control port cannot be reached (refused, closed, or silent past the time limit). */
export class TorControlUnreachableError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TorControlUnreachableError'
  }
}

/** Tor answered a command with an error code, or with something that is not the control protocol. */
export class TorControlError extends Error {
  constructor (message: string, readonly code: number) {
    super(message)
    this.name = 'TorControlError'
  }
}

/** Where the control port is: TCP on loopback, or a Unix socket (Debian's tor has `/run/tor/control`). */
export type ControlEndpoint = { host: string, port: number } | { path: string }

/** One line of a reply: its text and, for a `+` line, the data block after it. */
export interface ReplyLine {
  readonly text: string
  readonly data?: string
}

/** A complete reply: its status code (250 = OK) and lines. */
export interface TorReply {
  readonly code: number
  readonly lines: readonly ReplyLine[]
}

/** An open control connection, before or after authentication. */
export interface ControlConnection {
  command(line: string, options?: { signal?: AbortSignal }): Promise<TorReply>
  readonly closed: Promise<void>
  close(): Promise<void>
}

interface Pending {
  resolve(reply: TorReply): void
  reject(error: Error): void
}

/**
 * The wire: CRLF lines `NNN-text` (more follows), `NNN+text` (a data block
 * ending in a lone "." follows) and `NNN text` (last line). Replies come in
 * the order of the commands. 6xx lines are asynchronous events; we subscribe
 * to none, but skip any.
 */
export function createControlConnection (socket: Socket, where: string, commandTimeoutMs: number): ControlConnection {
  const pending: Pending[] = []
  let buffered = ''
  let replyBytes = 0
  let lines: ReplyLine[] = []
  let data: string[] | undefined
  let dataHeader = ''
  /** The data block being read belongs to an asynchronous event (dropped). */
  let eventData = false
  let failure: Error | undefined
  let closing = false
  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => { resolveClosed = resolve })

  const fail = (error: Error): void => {
    failure ??= error
    for (const waiter of pending.splice(0)) waiter.reject(failure)
    socket.destroy()
  }

  const onLine = (line: string): void => {
    if (data !== undefined) {
      if (line === '.') {
        if (!eventData) lines.push({ text: dataHeader, data: data.join('\n') })
        data = undefined
      } else {
        data.push(line.startsWith('.') ? line.slice(1) : line)
      }
      return
    }
    const match = /^(\d{3})([ +-])(.*)$/s.exec(line)
    if (match === null) {
      fail(new TorControlError(`${where} does not speak Tor's control protocol (got ${JSON.stringify(line.slice(0, 80))}): is this tor's ControlPort, not its SocksPort?`, 0))
      return
    }
    const code = Number(match[1])
    const separator = match[2]!
    const text = match[3]!
    eventData = match[1]!.startsWith('6')
    if (separator === '+') { data = []; dataHeader = text; return }
    if (eventData) return
    lines.push({ text })
    if (separator === ' ') {
      const reply = { code, lines }
      lines = []
      replyBytes = 0
      const waiter = pending.shift()
      if (waiter === undefined) fail(new TorControlError(`${where} sent a reply nobody asked for`, code))
      else waiter.resolve(reply)
    }
  }

  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffered += chunk
    replyBytes += chunk.length
    if (replyBytes > MAX_CONTROL_REPLY_BYTES) {
      fail(new TorControlError(`${where} sent a reply longer than ${MAX_CONTROL_REPLY_BYTES} bytes: is this tor's control port?`, 0))
      return
    }
    let end: number
    while (failure === undefined && (end = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, end).replace(/\r$/, '')
      buffered = buffered.slice(end + 1)
      onLine(line)
    }
  })
  socket.on('error', (error) => {
    fail(new TorControlUnreachableError(`The connection to Tor's control port at ${where} failed (${error.message}): is tor still running?`, { cause: error }))
  })
  socket.on('close', () => {
    fail(new TorControlUnreachableError(closing
      ? `The connection to Tor's control port at ${where} is closed`
      : `Tor closed its control connection at ${where}: tor stopped or restarted, or it refused us`))
    resolveClosed()
  })

  const command = async (line: string, options: { signal?: AbortSignal } = {}): Promise<TorReply> => {
    if (typeof line !== 'string' || /[\r\n]/.test(line)) throw new TypeError('"line" expected one control command without CR or LF')
    options.signal?.throwIfAborted()
    if (failure !== undefined) throw failure
    const reply = await new Promise<TorReply>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
      }
      // A command cut short leaves tor's reply unread: the connection cannot be trusted after it.
      const onAbort = (): void => { fail(options.signal?.reason instanceof Error ? options.signal.reason : new Error('aborted')) }
      const timer = setTimeout(() => {
        fail(new TorControlUnreachableError(`Tor's control port at ${where} did not answer "${line.split(' ')[0]}" within ${commandTimeoutMs} ms`))
      }, commandTimeoutMs)
      pending.push({ resolve: (value) => { done(); resolve(value) }, reject: (error) => { done(); reject(error) } })
      options.signal?.addEventListener('abort', onAbort, { once: true })
      socket.write(`${line}\r\n`)
    })
    if (reply.code < 200 || reply.code > 299) {
      throw new TorControlError(`Tor refused "${line.split(' ')[0]}": ${reply.code} ${reply.lines.map((l) => l.text).join(' ')}`, reply.code)
    }
    return reply
  }

  return {
    command,
    closed,
    async close () {
      if (failure !== undefined) return
      closing = true
      // QUIT is answered "250 closing connection"; do not wait long for it.
      await Promise.race([command('QUIT').catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
      socket.destroy()
      await closed
    }
  }
}


/** Opens the socket; TorControlUnreachableError says why it could not. */
export async function openControlSocket (endpoint: ControlEndpoint, where: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<Socket> {
  signal?.throwIfAborted()
  return await new Promise<Socket>((resolve, reject) => {
    const socket = 'path' in endpoint ? createConnection({ path: endpoint.path }) : createConnection({ host: endpoint.host, port: endpoint.port })
    const finish = (error?: Error): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.off('connect', onConnect)
      socket.off('error', onError)
      if (error === undefined) { resolve(socket); return }
      socket.destroy()
      reject(error)
    }
    const onConnect = (): void => { finish() }
    const onError = (error: NodeJS.ErrnoException): void => {
      const hint = error.code === 'ECONNREFUSED' || error.code === 'ENOENT'
        ? 'is tor running, with "ControlPort 9051" (or a ControlSocket) in its torrc?'
        : error.code === 'EACCES'
          ? 'this user may not open it: add it to tor\'s group (Debian: adduser $USER debian-tor), then log in again'
          : 'check that tor is running and the address is right'
      finish(new TorControlUnreachableError(`Cannot connect to Tor's control port at ${where} (${error.code ?? error.message}): ${hint}`, { cause: error }))
    }
    const onAbort = (): void => { finish(signal?.reason instanceof Error ? signal.reason : new Error('aborted')) }
    const timer = setTimeout(() => {
      finish(new TorControlUnreachableError(`Tor's control port at ${where} did not answer within ${timeoutMs} ms: check that it is tor listening there`))
    }, timeoutMs)
    socket.once('connect', onConnect)
    socket.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}


/**
 * Splits a reply line into positional words and KEY=VALUE pairs, VALUE
 * being a word or a quoted string with C escapes (control-spec §2.1.1).
 */
export function parseKeywords (text: string): { positional: string[], keywords: Map<string, string> } {
  const positional: string[] = []
  const keywords = new Map<string, string>()
  let i = 0
  while (i < text.length) {
    while (text[i] === ' ') i++
    if (i >= text.length) break
    const start = i
    while (i < text.length && text[i] !== ' ' && text[i] !== '=') i++
    const key = text.slice(start, i)
    if (text[i] !== '=') { positional.push(key); continue }
    i++
    if (text[i] === '"') {
      const { value, end } = readQuoted(text, i)
      keywords.set(key, value)
      i = end
    } else {
      const valueStart = i
      while (i < text.length && text[i] !== ' ') i++
      keywords.set(key, text.slice(valueStart, i))
    }
  }
  return { positional, keywords }
}

const ESCAPES: Readonly<Record<string, number>> = { n: 10, r: 13, t: 9, '\\': 92, '"': 34, "'": 39 }

function readQuoted (text: string, start: number): { value: string, end: number } {
  const bytes: number[] = []
  let i = start + 1
  while (i < text.length && text[i] !== '"') {
    if (text[i] === '\\' && i + 1 < text.length) {
      const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4))
      if (octal !== null) {
        bytes.push(parseInt(octal[0], 8) & 0xff)
        i += 1 + octal[0].length
        continue
      }
      const escaped = ESCAPES[text[i + 1]!]
      bytes.push(...(escaped === undefined ? Buffer.from(text[i + 1]!, 'utf8') : [escaped]))
      i += 2
      continue
    }
    bytes.push(...Buffer.from(text[i]!, 'utf8'))
    i++
  }
  return { value: Buffer.from(bytes).toString('utf8'), end: i + 1 }
}
