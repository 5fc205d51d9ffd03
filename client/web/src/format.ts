/** How values are shown to a person: times, delivery states, names, errors. */
import { KomradeApiError } from '../../api/client.js'

/** The delivery states of a sent message, in the words the UI shows. */
export const STATE_LABELS: Readonly<Record<string, string>> = {
  working: 'Sealing (proof of work)',
  queued: 'Queued: waiting for a peer',
  sent: 'Sent',
  delivered: 'Delivered'
}

/** A delivery state in words (an unknown future state is shown as it is). */
export function stateLabel (state: string | undefined): string {
  return state === undefined ? '' : STATE_LABELS[state] ?? state
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** "14:05" today, a date otherwise. */
export function shortTime (ms: number, now = Date.now()): string {
  const sameDay = new Date(ms).toDateString() === new Date(now).toDateString()
  return sameDay ? timeFormat.format(ms) : dateTimeFormat.format(ms)
}

/** Full date and time, for `<time datetime>` titles. */
export function longTime (ms: number): string {
  return dateTimeFormat.format(ms)
}

/** The name of a contact as shown: the registered name, else the start of its fingerprint. */
export function displayName (contact: { name?: string | undefined, fingerprint: string }): string {
  return contact.name === undefined ? `Contact ${contact.fingerprint.split(' ').slice(0, 2).join(' ')}` : withoutBidiControls(contact.name)
}

/** Bidi embedding, override and isolate controls and marks (U+202A-202E, U+2066-2069, U+200E/F, U+061C). */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g

/**
 * `text` without bidi controls, for places that cannot isolate it (an
 * `<option>`, a label built as one string): registered names cannot hold
 * them today, this keeps it so if names ever allow more.
 */
export function withoutBidiControls (text: string): string {
  return text.replace(BIDI_CONTROLS, '')
}

/** Bytes in KiB/MiB. */
export function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** True when the API refused us for want of a valid session (sign in again). */
export function isUnauthorized (error: unknown): boolean {
  return error instanceof KomradeApiError && (error.code === 'unauthorized' || error.status === 401)
}

/** True when `error` is the API's error `code`. */
export function isApiError (error: unknown, code: string): boolean {
  return error instanceof KomradeApiError && error.code === code
}

/**
 * The sentence to show for a failed call. The API's errors already say what
 * to do; a fetch that failed outright means the daemon is not answering.
 */
export function errorSentence (error: unknown): string {
  if (error instanceof KomradeApiError) return error.message
  if (error instanceof TypeError) return 'The node did not answer. Is `komrade start` still running? Reload this page once it is.'
  return error instanceof Error ? error.message : String(error)
}
