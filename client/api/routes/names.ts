/** Names: registering ours (proof of work, progress as `work` events) and looking others up. */
import { KomradeApiError } from '../errors.js'
import { stringField, type Route } from '../router.js'
import { apiNameRecord } from '../shapes.js'

/** Longer than any valid name (32), so a bad one reaches the node's check and gets its precise message. */
const MAX_NAME_INPUT = 128

export const nameRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/register',
    async handle ({ body, services, signal }) {
      const input = await body()
      const name = stringField(input, 'name', MAX_NAME_INPUT)
      const via = input.via ?? 'direct'
      if (via !== 'direct' && via !== 'flood') throw new KomradeApiError('bad_request', 'The field "via" must be "direct" or "flood"')
      const record = await services.node.register(name, {
        via,
        signal,
        onProgress: (trials, expected) => { services.events.broadcast({ type: 'work', op: 'register', trials, expected }) }
      })
      return { body: apiNameRecord(record) }
    }
  },
  {
    method: 'GET',
    path: '/api/names/:name',
    async handle ({ params, services, signal }) {
      if (params.name!.length > MAX_NAME_INPUT) throw new KomradeApiError('bad_name', `A name is at most 32 characters; this one has ${params.name!.length}`)
      return { body: apiNameRecord(await services.node.lookup(params.name!, { signal })) }
    }
  }
]
