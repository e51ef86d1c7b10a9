import { constants } from 'node:os'
import type { ErrorCode } from './errors.js'

// The exit codes of bktx in one neutral module: the full CLI (src/main.ts), its entry point
// (src/bin.ts) and the cache-hit fast path (src/fast/main.ts) all import it, and it imports
// nothing of theirs (it stays as light as the fast path needs: node:os and a type).

/**
 * The one table from error code to process exit code. `bktx help exit-codes` is generated
 * from it (src/cli/exit-codes.ts) and the README prints that text.
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
  NO_TOKEN: 12,
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
const RERAISED = new Set<string>([
  'SIGHUP',
  'SIGINT',
  'SIGKILL',
  'SIGPIPE',
  'SIGALRM',
  'SIGTERM',
  'SIGUSR1',
  'SIGUSR2',
  'SIGVTALRM',
  'SIGPROF',
  'SIGIO',
  'SIGPOLL',
  'SIGPWR',
  'SIGSTKFLT',
])

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
  BKTX_NO_TOKEN: EXIT.NO_TOKEN,
}

export function exitCodeFor(code: ErrorCode): ExitCode {
  return BY_CODE[code]
}

/** What each exit code means, in a few words (`bktx help exit-codes --json`). */
export const EXIT_MEANINGS: Record<ExitCode, string> = {
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
  [EXIT.NO_TOKEN]: 'no token: none given and none cached for the settings (whoami)',
  [EXIT.NOT_EXECUTABLE]: 'bktx exec: the command cannot be executed',
  [EXIT.NOT_FOUND]: 'bktx exec: the command was not found',
  [EXIT.INTERRUPTED]: 'interrupted by SIGINT or SIGTERM',
}

/** The error codes that end a run with `exit`. */
export function errorCodesOf(exit: ExitCode): ErrorCode[] {
  return (Object.keys(BY_CODE) as ErrorCode[]).filter((code) => BY_CODE[code] === exit)
}

/** `bktx help exit-codes --json`: each exit code, its meaning and the error codes that give it. */
export function exitCodeTable(): { exit: number; meaning: string; errors: string[] }[] {
  return (Object.values(EXIT) as ExitCode[]).sort((a, b) => a - b).map((exit) => ({ exit, meaning: EXIT_MEANINGS[exit], errors: errorCodesOf(exit) }))
}
