import { constants } from 'node:os'
import type { ErrorCode } from '../errors.js'

/**
 * The one table from error code to process exit code. `bktx help exit-codes` and the README
 * print it; change all three together.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  LOCAL: 3,
  REJECTED: 4,
  NETWORK: 5,
  BAD_RESPONSE: 6,
  JWT_INVALID: 7,
  KEYCHAIN: 8,
  OUTPUT: 9,
  KEY_DEVICE: 10,
  CHECKS_FAILED: 11,
  NOT_EXECUTABLE: 126,
  NOT_FOUND: 127,
  INTERRUPTED: 130,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/**
 * How a run ends: an exit code, or, when `signal` is set, death by that signal (the entry point
 * re-raises it after the output is flushed), whose status is `code` = 128 + N. A process that
 * exits 130 instead of dying of SIGINT tells its shell it handled the interrupt: loops go on
 * and `set -e` scripts do not stop.
 */
export interface Outcome {
  code: number
  signal?: NodeJS.Signals
}

/**
 * Signals bktx ends by itself when it was interrupted by them or its `exec` command died of
 * them: those whose default action terminates without a core dump. For the others (SIGQUIT,
 * SIGABRT, SIGSEGV...) re-raising would dump bktx's own core, and Node cannot lower
 * RLIMIT_CORE first as coreutils' timeout does: bktx exits 128 + N instead, as timeout does
 * when it cannot turn core dumps off.
 */
const RERAISED = new Set<string>(['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGPROF', 'SIGIO', 'SIGPOLL', 'SIGPWR', 'SIGSTKFLT'])

/** The outcome of being ended by `signal` (a child's death, an interrupt): 128 + N, re-raised when that is safe. */
export function signalOutcome(signal: NodeJS.Signals): Outcome {
  const number = constants.signals[signal] as number | undefined
  if (number === undefined) return { code: EXIT.INTERNAL }
  return RERAISED.has(signal) ? { code: 128 + number, signal } : { code: 128 + number }
}

const BY_CODE: Record<ErrorCode, ExitCode> = {
  BKTX_USAGE: EXIT.USAGE,
  BKTX_SETTING_MISSING: EXIT.USAGE,
  BKTX_SETTING_INVALID: EXIT.USAGE,
  BKTX_INSECURE_URL: EXIT.USAGE,
  BKTX_CONFIG_INVALID: EXIT.LOCAL,
  BKTX_KEY_INVALID: EXIT.LOCAL,
  BKTX_KEY_UNSUPPORTED: EXIT.LOCAL,
  BKTX_FILE_EXISTS: EXIT.LOCAL,
  BKTX_FILE_IO: EXIT.LOCAL,
  BKTX_INPUT_INVALID: EXIT.LOCAL,
  BKTX_CACHE: EXIT.LOCAL,
  BKTX_OAUTH_REJECTED: EXIT.REJECTED,
  BKTX_API_REJECTED: EXIT.REJECTED,
  BKTX_NETWORK: EXIT.NETWORK,
  BKTX_TIMEOUT: EXIT.NETWORK,
  BKTX_SERVER_UNAVAILABLE: EXIT.NETWORK,
  BKTX_BAD_RESPONSE: EXIT.BAD_RESPONSE,
  BKTX_JWT_INVALID: EXIT.JWT_INVALID,
  BKTX_KEYCHAIN: EXIT.KEYCHAIN,
  BKTX_SIGNER: EXIT.KEY_DEVICE,
  BKTX_PKCS11_MODULE: EXIT.KEY_DEVICE,
  BKTX_PKCS11_PIN: EXIT.KEY_DEVICE,
  BKTX_PKCS11_TOKEN: EXIT.KEY_DEVICE,
  BKTX_INTERRUPTED: EXIT.INTERRUPTED,
  BKTX_CHECKS_FAILED: EXIT.CHECKS_FAILED,
  BKTX_OUTPUT: EXIT.OUTPUT,
  BKTX_COMMAND_NOT_EXECUTABLE: EXIT.NOT_EXECUTABLE,
  BKTX_COMMAND_NOT_FOUND: EXIT.NOT_FOUND,
}

export function exitCodeFor(code: ErrorCode): ExitCode {
  return BY_CODE[code]
}

/** What each exit code means (the first line of its entry in {@link EXIT_CODES_HELP}). */
const MEANINGS: Record<ExitCode, string> = {
  [EXIT.OK]: 'success',
  [EXIT.INTERNAL]: 'internal error: a bug in bktx',
  [EXIT.USAGE]: 'usage: bad flag, value or missing setting',
  [EXIT.LOCAL]: 'local input: config, key, cache directory or other file',
  [EXIT.REJECTED]: 'rejected by the token endpoint or the API',
  [EXIT.NETWORK]: 'network: unreachable, timed out, or 5xx/429 after retries',
  [EXIT.BAD_RESPONSE]: 'bad response: the server answered outside the protocol',
  [EXIT.JWT_INVALID]: 'invalid JWT',
  [EXIT.KEYCHAIN]: 'keychain required and not answering',
  [EXIT.OUTPUT]: 'output: stdout or stderr could not be written',
  [EXIT.KEY_DEVICE]: 'key device or external signer failed (PKCS#11 module, PIN, token, signer command)',
  [EXIT.CHECKS_FAILED]: 'checks failed: doctor, jwks check or key rotate found a problem',
  [EXIT.NOT_EXECUTABLE]: 'bktx exec: the command cannot be executed',
  [EXIT.NOT_FOUND]: 'bktx exec: the command was not found',
  [EXIT.INTERRUPTED]: 'interrupted by SIGINT or SIGTERM',
}

/** `bktx help exit-codes --json`: each exit code, its meaning and the error codes that give it. */
export function exitCodeTable(): { exit: number; meaning: string; errors: string[] }[] {
  return (Object.values(EXIT) as ExitCode[])
    .sort((a, b) => a - b)
    .map((exit) => ({ exit, meaning: MEANINGS[exit], errors: (Object.keys(BY_CODE) as ErrorCode[]).filter((code) => BY_CODE[code] === exit) }))
}

/** The text of `bktx help exit-codes` (also copied into the README). */
export const EXIT_CODES_HELP = `Exit codes

  0    success
  1    internal error: a bug in bktx; run again with --verbose and report it
  2    usage: unknown flag, bad flag value, missing setting, plain-http URL refused
       (BKTX_USAGE, BKTX_SETTING_MISSING, BKTX_SETTING_INVALID, BKTX_INSECURE_URL)
  3    local input: config file, key file, existing file without --force, file I/O,
       unreadable input, unsafe cache directory
       (BKTX_CONFIG_INVALID, BKTX_KEY_INVALID, BKTX_KEY_UNSUPPORTED, BKTX_FILE_EXISTS,
       BKTX_FILE_IO, BKTX_INPUT_INVALID, BKTX_CACHE)
  4    rejected: the token endpoint answered with an OAuth error, or the API refused the
       token (BKTX_OAUTH_REJECTED, BKTX_API_REJECTED)
  5    network: unreachable, timed out, or 5xx/429 after retries
       (BKTX_NETWORK, BKTX_TIMEOUT, BKTX_SERVER_UNAVAILABLE)
  6    bad response: the server answered outside the protocol (BKTX_BAD_RESPONSE)
  7    invalid JWT: signature or time claims did not verify (BKTX_JWT_INVALID)
  8    keychain: the OS keychain was required and did not answer (BKTX_KEYCHAIN)
  9    output: stdout or stderr could not be written (no space left, a closed pipe or
       descriptor); a token that could not be written is never a success (BKTX_OUTPUT)
  10   key device: a PKCS#11 module that cannot load, a PIN the token refused, a token
       or key that cannot be used, an external signer that failed, hung past --timeout
       or answered with a bad signature
       (BKTX_SIGNER, BKTX_PKCS11_MODULE, BKTX_PKCS11_PIN, BKTX_PKCS11_TOKEN)
  11   checks failed: doctor, jwks check or key rotate --status/--finish found a problem; the
       report says which check and how to fix it (BKTX_CHECKS_FAILED)
  126  bktx exec: the command was found but cannot be executed (BKTX_COMMAND_NOT_EXECUTABLE)
  127  bktx exec: the command was not found (BKTX_COMMAND_NOT_FOUND)
  130  interrupted by SIGINT (Ctrl-C); 143 by SIGTERM (BKTX_INTERRUPTED). bktx then
       ends by that signal itself, so the shell sees the interrupt: loops and set -e stop

bktx exec exits with the command's own exit code once the command has started; when
the command dies of signal N, bktx dies of the same signal (status 128 + N; for signals
that dump core, such as SIGQUIT, it exits 128 + N instead).
Nothing is written to stdout when bktx fails.
`
