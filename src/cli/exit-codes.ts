// The CLI's view of the exit codes (the table itself is src/exit-codes.ts, shared with the
// entry points and the fast path): the text of `bktx help exit-codes`, generated from it.
import { EXIT, errorCodesOf, type ExitCode } from '../exit-codes.js'

export { EXIT, exitCodeFor, exitCodeTable, signalOutcome, type ExitCode, type Outcome } from '../exit-codes.js'

/** What each exit code means, as the help page words it (with the flags to reach for). */
const HELP: Record<ExitCode, string> = {
  [EXIT.OK]: 'success',
  [EXIT.INTERNAL]: 'internal error: a bug in bktx; run again with --verbose and report it',
  [EXIT.USAGE]: 'usage: unknown flag, bad flag value, missing setting, plain-http URL refused',
  [EXIT.LOCAL]: 'local input: config file, key file, existing file without --force, file I/O, unreadable input, unsafe cache directory',
  [EXIT.REJECTED]: 'rejected: the token endpoint answered with an OAuth error, or the API refused the token',
  [EXIT.NETWORK]: 'network: unreachable, timed out, or 5xx/429 after retries',
  [EXIT.BAD_RESPONSE]: 'bad response: the server answered outside the protocol',
  [EXIT.JWT_INVALID]: 'invalid JWT: signature or time claims did not verify',
  [EXIT.KEYCHAIN]: 'keychain: the OS keychain was required and did not answer',
  [EXIT.OUTPUT]:
    'output: stdout or stderr could not be written (no space left, a closed pipe or descriptor); a token that could not be written is never a success',
  [EXIT.KEY_DEVICE]:
    'key device: a PKCS#11 module that cannot load, a PIN the token refused, a token or key that cannot be used, an external signer that failed, hung past --timeout or answered with a bad signature',
  [EXIT.CHECKS_FAILED]: 'checks failed: doctor, jwks check or key rotate --status/--finish found a problem; the report says which check and how to fix it',
  [EXIT.NO_TOKEN]:
    'no token: bktx whoami was given no token ($BUILDKITE_API_TOKEN, --token-env, -) and the cache holds none for the settings; it mints only with --mint',
  [EXIT.NOT_EXECUTABLE]: 'bktx exec: the command was found but cannot be executed',
  [EXIT.NOT_FOUND]: 'bktx exec: the command was not found',
  [EXIT.INTERRUPTED]:
    'interrupted by SIGINT (Ctrl-C); 143 by SIGTERM. bktx then ends by that signal itself, so the shell sees the interrupt: loops and set -e stop',
}

/** The width the help page wraps at. */
const WIDTH = 88
/** Where an entry's text starts: two spaces, the code, padding. */
const INDENT = 7

/** Words of `text` in lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(line)
  return lines
}

function entry(exit: ExitCode): string {
  const codes = errorCodesOf(exit)
  // The meaning, then the error codes that give it on lines of their own.
  const lines = [...wrap(HELP[exit], WIDTH - INDENT), ...(codes.length === 0 ? [] : wrap(`(${codes.join(', ')})`, WIDTH - INDENT))]
  return lines.map((line, i) => (i === 0 ? `  ${String(exit).padEnd(INDENT - 2)}${line}` : `${' '.repeat(INDENT)}${line}`)).join('\n')
}

/** The text of `bktx help exit-codes` (the README prints it too), from the table. */
export const EXIT_CODES_HELP = `Exit codes

${(Object.values(EXIT) as ExitCode[])
  .sort((a, b) => a - b)
  .map(entry)
  .join('\n')}

bktx exec exits with the command's own exit code once the command has started; when
the command dies of signal N, bktx dies of the same signal (status 128 + N; for signals
that dump core, such as SIGQUIT, it exits 128 + N instead).
Nothing is written to stdout when bktx fails.
`
