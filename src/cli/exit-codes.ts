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
  KEY_DEVICE: 10,
  INTERRUPTED: 130,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

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
  [EXIT.KEY_DEVICE]: 'key device or external signer failed (PKCS#11 module, PIN, token, signer command)',
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
  10   key device: a PKCS#11 module that cannot load, a PIN the token refused, a token
       or key that cannot be used, an external signer that failed, hung past --timeout
       or answered with a bad signature
       (BKTX_SIGNER, BKTX_PKCS11_MODULE, BKTX_PKCS11_PIN, BKTX_PKCS11_TOKEN)
  130  interrupted by SIGINT or SIGTERM (BKTX_INTERRUPTED)

bktx exec exits with the command's own exit code once the command has started.
Nothing is written to stdout when bktx fails.
`
