import type { BktxError } from '../../src/errors.js'
import { describeError } from '../../src/term/describe.js'

/** The `error:` line the CLI prints for an error thrown by core code: its message and advice, with flag names. */
export function cliText(error: unknown): string {
  return describeError(error as BktxError)
}
