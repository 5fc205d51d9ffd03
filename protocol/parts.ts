/**
 * Payloads larger than one envelope (SPEC §6): split into parts that share a
 * message id and carry "part i of n"; the receiver reassembles them whatever
 * order they arrive in, and ignores duplicates.
 */
import { assertBytes, assertInteger, toHex } from './bytes.js'
import { MAX_PAYLOAD_LENGTH, MAX_PARTS } from './constants.js'
import { MessageTooLargeError } from './errors.js'
import type { InnerMessage } from './inner.js'

/** Splits `payload` into bodies of at most `capacity` bytes (at least one, possibly empty). */
export function splitPayload (payload: Uint8Array, capacity: number): Uint8Array[] {
  assertBytes(payload, 'payload')
  assertInteger(capacity, 'capacity', 1, 65_535)
  if (payload.length > MAX_PAYLOAD_LENGTH) {
    throw new MessageTooLargeError(`A payload is at most ${MAX_PAYLOAD_LENGTH} bytes (1 MiB), got ${payload.length}`)
  }
  if (Math.ceil(payload.length / capacity) > MAX_PARTS) throw new MessageTooLargeError(`A payload spans at most ${MAX_PARTS} envelopes`)
  const parts: Uint8Array[] = []
  for (let offset = 0; offset < payload.length; offset += capacity) parts.push(payload.subarray(offset, offset + capacity))
  if (parts.length === 0) parts.push(new Uint8Array(0))
  return parts
}

/** Options of {@link createReassembler}. */
export interface ReassemblerInit {
  /** Bytes buffered across all incomplete payloads; the oldest is dropped past it. @default 64 MiB */
  maxBufferedBytes?: number
  /** Completed payload ids remembered so late duplicates do not start a new assembly. @default 4096 */
  rememberCompleted?: number
}

/** Collects parts into whole payloads. */
export interface Reassembler {
  /**
   * Adds one opened part under `scope` (the sender's id, so two senders'
   * message ids never mix). Returns the whole payload when this part
   * completes it, `undefined` otherwise (incomplete, duplicate, or
   * inconsistent with parts already held).
   */
  add(scope: string, message: InnerMessage): Uint8Array | undefined
  /** Payloads still waiting for parts. */
  readonly pending: number
  /** Bytes held for incomplete payloads. */
  readonly bufferedBytes: number
}

interface Assembly {
  partCount: number
  kind: number
  parts: Array<Uint8Array | undefined>
  received: number
  bytes: number
}

/** Creates a bounded reassembler. */
export function createReassembler (init: ReassemblerInit = {}): Reassembler {
  const maxBufferedBytes = init.maxBufferedBytes ?? 64 * 1024 * 1024
  const rememberCompleted = init.rememberCompleted ?? 4096
  const assemblies = new Map<string, Assembly>() // insertion order = age
  const completed = new Set<string>()
  let bufferedBytes = 0

  function drop (key: string): void {
    const assembly = assemblies.get(key)
    if (assembly === undefined) return
    bufferedBytes -= assembly.bytes
    assemblies.delete(key)
  }

  function remember (key: string): void {
    completed.add(key)
    if (completed.size > rememberCompleted) completed.delete(completed.values().next().value as string)
  }

  return {
    add (scope, message) {
      if (message.partCount === 1) return message.body
      const key = `${scope}/${toHex(message.messageId)}`
      if (completed.has(key)) return undefined
      let assembly = assemblies.get(key)
      if (assembly === undefined) {
        assembly = { partCount: message.partCount, kind: message.kind, parts: new Array(message.partCount), received: 0, bytes: 0 }
        assemblies.set(key, assembly)
      }
      // A part that disagrees with the first one seen (count or kind) is ignored, never merged.
      if (assembly.partCount !== message.partCount || assembly.kind !== message.kind) return undefined
      if (assembly.parts[message.partIndex] !== undefined) return undefined
      assembly.parts[message.partIndex] = message.body
      assembly.received += 1
      assembly.bytes += message.body.length
      bufferedBytes += message.body.length
      if (assembly.received === assembly.partCount) {
        drop(key)
        remember(key)
        const total = assembly.parts.reduce((sum, part) => sum + part!.length, 0)
        const payload = new Uint8Array(total)
        let offset = 0
        for (const part of assembly.parts) {
          payload.set(part!, offset)
          offset += part!.length
        }
        return payload
      }
      while (bufferedBytes > maxBufferedBytes && assemblies.size > 0) drop(assemblies.keys().next().value as string)
      return undefined
    },
    get pending () { return assemblies.size },
    get bufferedBytes () { return bufferedBytes }
  }
}
