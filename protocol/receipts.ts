/**
 * Delivery receipts (SPEC §3.2): an ordinary session envelope of kind
 * KIND_RECEIPT whose body lists the ids of the messages it acknowledges.
 */
import { assertBytes } from './bytes.js'
import { MESSAGE_ID_LENGTH, SESSION_BODY_CAPACITY } from './constants.js'
import { MessageTooLargeError } from './errors.js'

/** Most message ids one receipt carries. */
export const MAX_RECEIPT_IDS = Math.floor(SESSION_BODY_CAPACITY / MESSAGE_ID_LENGTH)

/** The body of a receipt for `messageIds`. */
export function encodeReceipt (messageIds: Uint8Array[]): Uint8Array {
  if (messageIds.length > MAX_RECEIPT_IDS) throw new MessageTooLargeError(`A receipt acknowledges at most ${MAX_RECEIPT_IDS} messages`)
  const body = new Uint8Array(messageIds.length * MESSAGE_ID_LENGTH)
  messageIds.forEach((id, i) => {
    assertBytes(id, `messageIds[${i}]`, MESSAGE_ID_LENGTH)
    body.set(id, i * MESSAGE_ID_LENGTH)
  })
  return body
}

/** The message ids in a receipt body; `undefined` if its length is not a multiple of 16. */
export function decodeReceipt (body: Uint8Array): Uint8Array[] | undefined {
  if (body.length % MESSAGE_ID_LENGTH !== 0) return undefined
  const ids: Uint8Array[] = []
  for (let offset = 0; offset < body.length; offset += MESSAGE_ID_LENGTH) ids.push(body.slice(offset, offset + MESSAGE_ID_LENGTH))
  return ids
}
