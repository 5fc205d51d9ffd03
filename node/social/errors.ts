/** Errors of the social layer (SPEC §14), each with a stable `name` and a sentence that says what to do. */

/** A world post or world profile needs a registered name: the post carries its certificate. */
export class NoNameError extends Error {
  constructor () {
    super('Posting to the world needs a registered name: register a name first (`komrade register <name>`), or post to your circle')
    this.name = 'NoNameError'
  }
}

/** This node reads and writes no world feed: it has no Operator to check names under, or `worldFeed` is off. */
export class NoWorldFeedError extends Error {
  constructor (reason: 'no-operator' | 'disabled') {
    super(reason === 'no-operator'
      ? 'This node has no world feed: configure an Operator (the `operator` option) to check the names world posts carry'
      : 'This node has no world feed: it was started with `worldFeed: false`')
    this.name = 'NoWorldFeedError'
  }
}

/** `circle.add` was given ourselves. */
export class NotACircleMemberError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'NotACircleMemberError'
  }
}
