/** Errors of the node as a whole (the registry's are in registry/errors.ts, the store's beside it). */

/** A method that needs a running node was called before start() or after stop(). */
export class NodeNotRunningError extends Error {
  constructor () {
    super('The node is not running; call start() first')
    this.name = 'NodeNotRunningError'
  }
}
