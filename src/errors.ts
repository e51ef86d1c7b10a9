/**
 * Every failure bktx reports is one of these classes. Each has a stable `code` (part of the
 * public interface: `--json` errors and `bktx help exit-codes` name it) and keeps its `cause`.
 * Messages are written for the user: what failed and what to do. They never contain a token,
 * an assertion or key material; raw server responses live in non-enumerable properties.
 *
 * Exit codes are assigned in exactly one place: src/cli/exit-codes.ts.
 */

export type ErrorCode =
  | 'BKTX_USAGE'
  | 'BKTX_CONFIG_INVALID'
  | 'BKTX_SETTING_MISSING'
  | 'BKTX_KEY_INVALID'
  | 'BKTX_KEY_UNSUPPORTED'
  | 'BKTX_FILE_EXISTS'
  | 'BKTX_FILE_IO'
  | 'BKTX_INPUT_INVALID'
  | 'BKTX_JWT_INVALID'
  | 'BKTX_OAUTH_REJECTED'
  | 'BKTX_API_REJECTED'
  | 'BKTX_NETWORK'
  | 'BKTX_TIMEOUT'
  | 'BKTX_SERVER_UNAVAILABLE'
  | 'BKTX_BAD_RESPONSE'
  | 'BKTX_INSECURE_URL'
  | 'BKTX_KEYCHAIN'
  | 'BKTX_CACHE'
  | 'BKTX_INTERRUPTED'

export interface BktxErrorOptions {
  cause?: unknown
}

export abstract class BktxError extends Error {
  abstract readonly code: ErrorCode
  constructor(message: string, options?: BktxErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** Bad flags, arguments or flag values. The CLI prints the command's usage line after it. */
export class UsageError extends BktxError {
  readonly code = 'BKTX_USAGE'
  /** The usage line of the command that failed, attached by the CLI frame. */
  usage: string | undefined
}

/** The configuration file cannot be read or is not valid; names the file and the field. */
export class ConfigError extends BktxError {
  readonly code = 'BKTX_CONFIG_INVALID'
  readonly file: string
  readonly field: string | undefined
  constructor(file: string, field: string | undefined, problem: string, options?: BktxErrorOptions) {
    super(`config file ${file}${field === undefined ? '' : `: ${field}`}: ${problem}`, options)
    this.file = file
    this.field = field
  }
}

/** A setting a command needs has no value from flag, environment or profile. */
export class SettingMissingError extends BktxError {
  readonly code = 'BKTX_SETTING_MISSING'
  readonly setting: string
  constructor(setting: string, flag: string, env: string) {
    super(
      `${setting} is not set: pass ${flag}, set ${env}, or run \`bktx config set ${setting} VALUE\``,
    )
    this.setting = setting
  }
}

/** A key file that cannot be parsed, or a key of the wrong kind for the operation. */
export class KeyError extends BktxError {
  readonly code = 'BKTX_KEY_INVALID'
}

/** A well-formed key that Buildkite's token exchange would reject (protocol.md §1). */
export class UnsupportedKeyError extends BktxError {
  readonly code = 'BKTX_KEY_UNSUPPORTED'
}

/** Refusing to overwrite an existing file without --force. */
export class FileExistsError extends BktxError {
  readonly code = 'BKTX_FILE_EXISTS'
  readonly path: string
  constructor(path: string, hint: string) {
    super(`${path} already exists; ${hint}`)
    this.path = path
  }
}

/** Reading or writing a local file failed. */
export class FileError extends BktxError {
  readonly code = 'BKTX_FILE_IO'
}

/** Input that is not what the command expects (a malformed JWT, an unreadable JWKS). */
export class InputError extends BktxError {
  readonly code = 'BKTX_INPUT_INVALID'
}

/** A JWT whose signature or time claims do not verify. */
export class JWTInvalidError extends BktxError {
  readonly code = 'BKTX_JWT_INVALID'
}

/**
 * The authorization server answered with an OAuth error (RFC 6749 §5.2). Clients decide on
 * `error`, never on the HTTP status (protocol.md §5).
 */
export class OAuthRejectedError extends BktxError {
  readonly code = 'BKTX_OAUTH_REJECTED'
  readonly error: string
  readonly errorDescription: string | undefined
  readonly status: number
  constructor(
    message: string,
    details: { error: string; errorDescription?: string | undefined; status: number },
    options?: BktxErrorOptions,
  ) {
    super(message, options)
    this.error = details.error
    this.errorDescription = details.errorDescription
    this.status = details.status
  }
}

/** The REST API refused a token (401 unknown/expired/revoked, 403 scope or IP). */
export class APIRejectedError extends BktxError {
  readonly code = 'BKTX_API_REJECTED'
  readonly status: number
  constructor(message: string, status: number, options?: BktxErrorOptions) {
    super(message, options)
    this.status = status
  }
}

/** The server could not be reached (DNS, refused, reset, TLS). */
export class NetworkError extends BktxError {
  readonly code = 'BKTX_NETWORK'
}

/** The whole operation did not finish within --timeout. */
export class TimeoutError extends BktxError {
  readonly code = 'BKTX_TIMEOUT'
}

/** The server answered 5xx or 429 and retries were exhausted. */
export class ServerUnavailableError extends BktxError {
  readonly code = 'BKTX_SERVER_UNAVAILABLE'
  readonly status: number
  constructor(message: string, status: number, options?: BktxErrorOptions) {
    super(message, options)
    this.status = status
  }
}

/** The server answered, but not as the protocol says (not JSON, wrong shape, wrong token). */
export class BadResponseError extends BktxError {
  readonly code = 'BKTX_BAD_RESPONSE'
}

/** A plain-http URL where only https (or loopback http) is allowed. */
export class InsecureURLError extends BktxError {
  readonly code = 'BKTX_INSECURE_URL'
}

/** The OS keychain was asked for explicitly and did not answer, or refused. */
export class KeychainError extends BktxError {
  readonly code = 'BKTX_KEYCHAIN'
}

/** The token cache could not be used (unsafe directory, lock failure). */
export class CacheError extends BktxError {
  readonly code = 'BKTX_CACHE'
}

/** Interrupted by SIGINT/SIGTERM. */
export class InterruptedError extends BktxError {
  readonly code = 'BKTX_INTERRUPTED'
}

export function isBktxError(value: unknown): value is BktxError {
  return value instanceof BktxError
}

/** A short description of an unknown thrown value, for --verbose cause chains. */
export function describeCause(value: unknown): string {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code
    return `${value.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${value.message}`
  }
  return String(value)
}
