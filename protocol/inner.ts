/**
 * The inner plaintext: what the AEAD protects. Always INNER_LENGTH (1947)
 * bytes, zero-padded, so every envelope has the same size whatever it holds.
 *
 * | offset | bytes | field |
 * |--------|-------|-------|
 * | 0      | 1     | kind (0x01 message, 0x02 receipt, 0x03 handshake) |
 * | 1      | 1     | flags, 0 in v1 |
 * | 2      | 8     | timestamp, unix ms, big-endian |
 * | 10     | 16    | message id |
 * | 26     | 2     | part index, big-endian |
 * | 28     | 2     | part count, big-endian (1..548) |
 * | 30     | 2     | body length L, big-endian |
 * | 32     | 128   | sender block (first-contact envelopes only) |
 * | ...    | L     | body |
 * | ...    | rest  | zero padding |
 */
import { assertBytes, assertInteger, readUint16BE, readUint64BE, writeUint16BE, writeUint64BE } from './bytes.js'
import {
  FIRST_CONTACT_BODY_CAPACITY, INNER_HEADER_LENGTH, INNER_LENGTH, MAX_PARTS, MESSAGE_ID_LENGTH,
  SENDER_BLOCK_LENGTH, SESSION_BODY_CAPACITY
} from './constants.js'
import { MessageTooLargeError } from './errors.js'

/** The fields every inner plaintext carries. */
export interface InnerMessage {
  /** KIND_MESSAGE, KIND_RECEIPT, KIND_HANDSHAKE; other values are reserved. */
  readonly kind: number
  /** Sender's clock when sealing, unix ms. */
  readonly timestamp: number
  /** 16 random bytes naming the message; all parts of one payload share it. */
  readonly messageId: Uint8Array
  /** Zero-based index of this part. */
  readonly partIndex: number
  /** Number of parts of the payload (1 for a single envelope). */
  readonly partCount: number
  /** The part's bytes. */
  readonly body: Uint8Array
}

/** Who sealed a first-contact envelope, and their signature over it (SPEC §4.1). */
export interface SenderBlock {
  readonly signingKey: Uint8Array
  readonly sealingKey: Uint8Array
  readonly signature: Uint8Array
}

const KIND_OFFSET = 0
const FLAGS_OFFSET = 1
const TIMESTAMP_OFFSET = 2
const MESSAGE_ID_OFFSET = 10
const PART_INDEX_OFFSET = 26
const PART_COUNT_OFFSET = 28
const BODY_LENGTH_OFFSET = 30
/** Where the signature sits in a first-contact inner plaintext. */
export const SIGNATURE_OFFSET = INNER_HEADER_LENGTH + 64

/** Body capacity of an inner plaintext with or without a sender block. */
export function bodyCapacity (withSender: boolean): number {
  return withSender ? FIRST_CONTACT_BODY_CAPACITY : SESSION_BODY_CAPACITY
}

/** Encodes and pads an inner plaintext. Throws on out-of-range fields. */
export function encodeInner (message: InnerMessage, sender?: SenderBlock): Uint8Array {
  assertInteger(message.kind, 'kind', 1, 255)
  assertInteger(message.timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER)
  assertBytes(message.messageId, 'messageId', MESSAGE_ID_LENGTH)
  assertInteger(message.partCount, 'partCount', 1, MAX_PARTS)
  assertInteger(message.partIndex, 'partIndex', 0, message.partCount - 1)
  assertBytes(message.body, 'body')
  const capacity = bodyCapacity(sender !== undefined)
  if (message.body.length > capacity) {
    throw new MessageTooLargeError(`This envelope carries at most ${capacity} body bytes, got ${message.body.length}`)
  }
  const out = new Uint8Array(INNER_LENGTH)
  out[KIND_OFFSET] = message.kind
  out[FLAGS_OFFSET] = 0
  writeUint64BE(out, TIMESTAMP_OFFSET, message.timestamp)
  out.set(message.messageId, MESSAGE_ID_OFFSET)
  writeUint16BE(out, PART_INDEX_OFFSET, message.partIndex)
  writeUint16BE(out, PART_COUNT_OFFSET, message.partCount)
  writeUint16BE(out, BODY_LENGTH_OFFSET, message.body.length)
  let offset = INNER_HEADER_LENGTH
  if (sender !== undefined) {
    assertBytes(sender.signingKey, 'signingKey', 32)
    assertBytes(sender.sealingKey, 'sealingKey', 32)
    assertBytes(sender.signature, 'signature', 64)
    out.set(sender.signingKey, offset)
    out.set(sender.sealingKey, offset + 32)
    out.set(sender.signature, offset + 64)
    offset += SENDER_BLOCK_LENGTH
  }
  out.set(message.body, offset)
  return out
}

/**
 * Decodes an inner plaintext that came out of a successful AEAD open.
 * Returns `undefined` for anything malformed (a buggy or hostile sender who
 * holds the key): bad kind, flags, part numbers, length, or non-zero padding.
 */
export function decodeInner (bytes: Uint8Array, withSender: boolean): { message: InnerMessage, sender?: SenderBlock } | undefined {
  if (bytes.length !== INNER_LENGTH) return undefined
  const kind = bytes[KIND_OFFSET] as number
  if (kind === 0 || bytes[FLAGS_OFFSET] !== 0) return undefined
  const timestamp = readUint64BE(bytes, TIMESTAMP_OFFSET)
  if (timestamp > Number.MAX_SAFE_INTEGER) return undefined
  const partIndex = readUint16BE(bytes, PART_INDEX_OFFSET)
  const partCount = readUint16BE(bytes, PART_COUNT_OFFSET)
  if (partCount < 1 || partCount > MAX_PARTS || partIndex >= partCount) return undefined
  const bodyLength = readUint16BE(bytes, BODY_LENGTH_OFFSET)
  if (bodyLength > bodyCapacity(withSender)) return undefined
  let offset = INNER_HEADER_LENGTH
  let sender: SenderBlock | undefined
  if (withSender) {
    sender = {
      signingKey: bytes.slice(offset, offset + 32),
      sealingKey: bytes.slice(offset + 32, offset + 64),
      signature: bytes.slice(offset + 64, offset + 128)
    }
    offset += SENDER_BLOCK_LENGTH
  }
  const body = bytes.slice(offset, offset + bodyLength)
  for (let i = offset + bodyLength; i < INNER_LENGTH; i++) {
    if (bytes[i] !== 0) return undefined
  }
  const message: InnerMessage = {
    kind, timestamp, messageId: bytes.slice(MESSAGE_ID_OFFSET, MESSAGE_ID_OFFSET + MESSAGE_ID_LENGTH), partIndex, partCount, body
  }
  return sender === undefined ? { message } : { message, sender }
}
