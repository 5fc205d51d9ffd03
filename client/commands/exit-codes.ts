/**
 * Exit codes of every `komrade` command, documented in `komrade --help` and
 * the README. Scripts can tell "start a node first" (3) from a real failure.
 */

/** Success. */
export const EXIT_OK = 0
/** The command failed; the message on stderr says what to do. */
export const EXIT_FAILURE = 1
/** Bad usage: an unknown command or option, a missing argument. */
export const EXIT_USAGE = 2
/** No node is running on the data directory (`komrade start` first). */
export const EXIT_NO_NODE = 3

/** The table printed in help texts. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  failure (the message says what to do)
  2  usage error (unknown command or option, missing argument)
  3  no node running on the data directory (run komrade start first)`
