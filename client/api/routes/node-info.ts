/** The node itself: status, identity (with an invite code), the daemon's configuration. */
import { apiIdentity, apiStatus } from '../shapes.js'
import type { Route } from '../router.js'

/** Settings never shown, should a configuration ever carry them. */
const SECRET_KEY = /passphrase|token|secret|password/i

export const nodeInfoRoutes: Route[] = [
  { method: 'GET', path: '/api/status', handle: async ({ services }) => ({ body: apiStatus(services.node) }) },
  { method: 'GET', path: '/api/identity', handle: async ({ services }) => ({ body: apiIdentity(services.node) }) },
  {
    method: 'GET',
    path: '/api/config',
    handle: async ({ services }) => ({
      body: Object.fromEntries(Object.entries(services.config).filter(([key]) => !SECRET_KEY.test(key)))
    })
  }
]
