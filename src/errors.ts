/**
 * Every failure bktx reports is one of these classes. Each has a stable `code` (part of the
 * public interface: `--json` errors and `bktx help exit-codes` name it) and keeps its `cause`.
 *
 * Core modules (everything outside src/cli/) describe *what* failed in `message`, in words a
 * library caller can show as they are, and carry the rest as data: `detail` says which setting
 * or file was wrong and why, `advice` says what kind of fix helps, with settings and options
 * named as references, never as command-line flags. src/cli/describe.ts turns both into the
 * text a shell user reads (flag names, environment variables, `bktx config set` lines), from
 * the settings table. Messages never contain a token, an assertion or key material; raw server
 * responses live in non-enumerable properties.
 *
 * Exit codes are assigned in exactly one place: src/cli/exit-codes.ts.
 */

export type ErrorCode =
  | 'BKTX_USAGE'
  | 'BKTX_CONFIG_INVALID'
  | 'BKTX_SETTING_MISSING'
  | 'BKTX_SETTING_INVALID'
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
  | 'BKTX_SIGNER'
  | 'BKTX_PKCS11_MODULE'
  | 'BKTX_PKCS11_PIN'
  | 'BKTX_PKCS11_TOKEN'
  | 'BKTX_CHECKS_FAILED'
  | 'BKTX_OUTPUT'
  | 'BKTX_COMMAND_NOT_FOUND'
  | 'BKTX_COMMAND_NOT_EXECUTABLE'
  | 'BKTX_NO_TOKEN'

/**
 * A setting of a token request (the names of src/config/settings.ts): `token-url`, `key`, ...
 * Kept as a string here so that this module depends on nothing.
 */
export type SettingRef = string

/**
 * An option of an operation that is not a profile setting: `cache`, `timeout`, `ca-file`,
 * `refresh`, `force`, `min-ttl`, `shell`, ... The CLI shows it as `--NAME [VALUE]`, a library
 * as the option of the same name.
 */
export type OptionRef = string

/**
 * One piece of advice: plain words, or a reference that the reader's interface names. The CLI
 * renders `{ setting: 'token-url' }` as `--token-url`, `{ option: 'cache', value: 'file' }` as
 * `--cache file`, `{ command: 'keygen' }` as `` `bktx keygen` ``. Advice reads as a clause that
 * follows the message after a semicolon: `check `, `{ setting: 'key' }`, ` and ...`.
 */
export type AdvicePart =
  | string
  | { setting: SettingRef }
  | { option: OptionRef; value?: string }
  /** "give this setting a value": the CLI names its flag, variable and `bktx config set` line. */
  | { set: SettingRef; value?: string }
  /** A bktx command line: words, then options shown as flags, run for `profile` when given. */
  | { command: string; options?: readonly OptionRef[]; profile?: string }

/** What to do about an error, as words and references (see {@link AdvicePart}). */
export type Advice = readonly AdvicePart[]

/** Which input an error is about, and why, as data. */
export interface ErrorDetail {
  /** The setting whose value was wrong or missing. */
  setting?: SettingRef
  /** The option whose value was wrong. */
  option?: OptionRef
  /** The file involved (a key, the config file, the cache directory). */
  file?: string
  /** The field of that file (`profiles.ci.ttl`). */
  field?: string
  /** A short, stable, machine-readable reason: `insecure-scheme`, `not-a-directory`, ... */
  reason?: string
}

/**
 * Something worth one line on stderr that is not a failure (the keychain did not answer and the
 * file cache served instead; a token was minted but not cached). Worded like errors: a message,
 * advice with references that the CLI names.
 */
export interface Notice {
  /** Stable and machine-readable: `keychain-fallback`, `keychain-unreadable`, `not-cached`. */
  kind: string
  message: string
  advice?: Advice
}

export interface BktxErrorOptions {
  cause?: unknown
  detail?: ErrorDetail
  advice?: Advice
}

export abstract class BktxError extends Error {
  abstract readonly code: ErrorCode
  /** Which input was wrong, and why; empty when the error is not about one input. */
  readonly detail: ErrorDetail
  /** What helps, with settings and options as references; undefined when nothing specific does. */
  readonly advice: Advice | undefined
  constructor(message: string, options: BktxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.detail = options.detail ?? {}
    this.advice = options.advice
  }
}

/** Bad flags or arguments on the command line (src/cli/ only). The CLI prints the usage line after it. */
export class UsageError extends BktxError {
  readonly code = 'BKTX_USAGE'
  /** The usage line of the command that failed, attached by the CLI frame. */
  usage: string | undefined
}

/**
 * A setting or option value that is not valid (`ttl` of "ten", a `cache` mode of "disk"). The
 * CLI shows it as `--ttl: PROBLEM` or `BKTX_TTL: PROBLEM`, from `name`, `source` and `problem`.
 */
export class SettingInvalidError extends BktxError {
  readonly code = 'BKTX_SETTING_INVALID'
  /** The setting or option: `ttl`, `cache`. */
  readonly setting: string
  /** What is wrong with the value: `must be a duration such as 900, 15m or 1h`. */
  readonly problem: string
  /** Where the value came from: `flag` (the command line, or a library option), `env:NAME`, `profile:NAME`. */
  readonly source: string | undefined
  constructor(name: string, problem: string, options: BktxErrorOptions & { source?: string | undefined } = {}) {
    const where = options.source?.startsWith('env:') === true ? options.source.slice(4) : name
    super(`${where}: ${problem}`, { ...options, detail: { setting: name, reason: 'invalid', ...options.detail } })
    this.setting = name
    this.problem = problem
    this.source = options.source
  }
}

/** The configuration file cannot be read or is not valid; names the file, the field and the problem. */
export class ConfigError extends BktxError {
  readonly code = 'BKTX_CONFIG_INVALID'
  readonly file: string
  readonly field: string | undefined
  /** What is wrong with the field (or the file), without the file name: `must be a string`. */
  readonly problem: string
  constructor(file: string, field: string | undefined, problem: string, options: BktxErrorOptions = {}) {
    super(`config file ${file}${field === undefined ? '' : `: ${field}`}: ${problem}`, {
      ...options,
      detail: { file, ...(field === undefined ? {} : { field }), ...options.detail },
    })
    this.file = file
    this.field = field
    this.problem = problem
  }
}

/** A setting an operation needs has no value. The CLI says which flag, variable or profile sets it. */
export class SettingMissingError extends BktxError {
  readonly code = 'BKTX_SETTING_MISSING'
  readonly setting: SettingRef
  constructor(setting: SettingRef) {
    super(`${setting} is not set`, { detail: { setting, reason: 'missing' }, advice: [{ set: setting }] })
    this.setting = setting
  }
}

/** A key file that cannot be parsed, or a key of the wrong kind for the operation. */
export class KeyError extends BktxError {
  readonly code = 'BKTX_KEY_INVALID'
}

/** A well-formed key that Buildkite's token exchange would reject (docs/token-exchange.md §1). */
export class UnsupportedKeyError extends BktxError {
  readonly code = 'BKTX_KEY_UNSUPPORTED'
}

/** Refusing to overwrite an existing file unless asked to. */
export class FileExistsError extends BktxError {
  readonly code = 'BKTX_FILE_EXISTS'
  readonly path: string
  constructor(path: string, options: BktxErrorOptions = {}) {
    super(`${path} already exists`, { ...options, detail: { file: path, reason: 'exists', ...options.detail } })
    this.path = path
  }
}

/** Reading or writing a local file failed. */
export class FileError extends BktxError {
  readonly code = 'BKTX_FILE_IO'
}

/** Input that is not what the operation expects (a malformed JWT, an unreadable JWKS). */
export class InputError extends BktxError {
  readonly code = 'BKTX_INPUT_INVALID'
}

/** A JWT whose signature or time claims do not verify. */
export class JWTInvalidError extends BktxError {
  readonly code = 'BKTX_JWT_INVALID'
}

/**
 * The authorization server answered with an OAuth error (RFC 6749 §5.2). Clients decide on
 * `error`, never on the HTTP status.
 */
export class OAuthRejectedError extends BktxError {
  readonly code = 'BKTX_OAUTH_REJECTED'
  readonly error: string
  readonly errorDescription: string | undefined
  readonly status: number
  constructor(message: string, details: { error: string; errorDescription?: string | undefined; status: number }, options?: BktxErrorOptions) {
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

/** The whole operation did not finish within its time budget. */
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

/** Interrupted by SIGINT/SIGTERM (or the caller's AbortSignal). */
export class InterruptedError extends BktxError {
  readonly code = 'BKTX_INTERRUPTED'
  /** The signal that interrupted, when one did (`SIGINT`); the CLI ends by that same signal. */
  readonly signal: string | undefined
  constructor(message: string, options: BktxErrorOptions & { signal?: string | undefined } = {}) {
    super(message, options)
    this.signal = options.signal
  }
}

/** The output could not be written: stdout or stderr failed (no space left, pipe closed, bad descriptor). */
export class OutputError extends BktxError {
  readonly code = 'BKTX_OUTPUT'
}

/** A command to run (bktx exec) was not found: no such file, or not on PATH. */
export class CommandNotFoundError extends BktxError {
  readonly code = 'BKTX_COMMAND_NOT_FOUND'
}

/** A command to run (bktx exec) was found but could not be executed (no permission, not a program). */
export class CommandNotExecutableError extends BktxError {
  readonly code = 'BKTX_COMMAND_NOT_EXECUTABLE'
}

/**
 * The key's signer failed: an external signer (`exec:`) could not start, exited non-zero, was
 * killed, did not answer in time, or printed something that is not a signature; or any
 * signer's signature did not verify with the key's public half.
 */
export class SignerError extends BktxError {
  readonly code = 'BKTX_SIGNER'
}

/** PKCS#11 cannot be used: the binding is not installed, or the module cannot be loaded or initialised. */
export class Pkcs11ModuleError extends BktxError {
  readonly code = 'BKTX_PKCS11_MODULE'
}

/** The token refused to log in: no PIN, a wrong PIN, a locked or expired PIN. Never carries the PIN. */
export class Pkcs11PinError extends BktxError {
  readonly code = 'BKTX_PKCS11_PIN'
}

/** The token or key cannot be used: no such token or key (or several), token absent, device error, refused operation. */
export class Pkcs11TokenError extends BktxError {
  readonly code = 'BKTX_PKCS11_TOKEN'
}

/**
 * A checking command (`doctor`, `jwks check`, `key rotate` when finishing) ran and found a
 * problem: its report says which check failed and what fixes it.
 */
export class ChecksFailedError extends BktxError {
  readonly code = 'BKTX_CHECKS_FAILED'
}

/**
 * No token to act on: none was given ($BUILDKITE_API_TOKEN, --token-env, stdin) and the cache
 * holds none for the settings (`bktx whoami`, which never mints unless asked to).
 */
export class NoTokenError extends BktxError {
  readonly code = 'BKTX_NO_TOKEN'
}

/**
 * Every error bktx throws, as a union discriminated by `code`: after `isBktxError(e)`, a test of
 * `e.code` narrows `e` to its class, so `e.code === 'BKTX_OAUTH_REJECTED'` gives typed access to
 * `e.error`, `e.errorDescription` and `e.status`. (Subclasses, such as a key source's
 * SettingInvalidError, share their parent's code.)
 */
export type AnyBktxError =
  | UsageError
  | SettingInvalidError
  | ConfigError
  | SettingMissingError
  | KeyError
  | UnsupportedKeyError
  | FileExistsError
  | FileError
  | InputError
  | JWTInvalidError
  | OAuthRejectedError
  | APIRejectedError
  | NetworkError
  | TimeoutError
  | ServerUnavailableError
  | BadResponseError
  | InsecureURLError
  | KeychainError
  | CacheError
  | InterruptedError
  | OutputError
  | CommandNotFoundError
  | CommandNotExecutableError
  | SignerError
  | Pkcs11ModuleError
  | Pkcs11PinError
  | Pkcs11TokenError
  | ChecksFailedError
  | NoTokenError

export function isBktxError(value: unknown): value is AnyBktxError {
  return value instanceof BktxError
}

/**
 * Advice in plain words, for library callers and logs: settings and options by name
 * (`the token-url setting`), commands as `bktx COMMAND`; empty when there is none. The CLI has
 * its own renderer.
 */
export function adviceText(advice: Advice | undefined): string {
  return (advice ?? [])
    .map((part) => {
      if (typeof part === 'string') return part
      if ('setting' in part) return `the ${part.setting} setting`
      if ('option' in part) return part.value === undefined ? `the ${part.option} option` : `${part.option} ${part.value}`
      if ('set' in part) return part.value === undefined ? `set the ${part.set} setting` : `set ${part.set} to ${part.value}`
      return `bktx ${part.command}${(part.options ?? []).map((o) => ` with ${o}`).join('')}`
    })
    .join('')
}

/**
 * A notice in plain words, for library callers and logs: its message, then its advice as
 * {@link adviceText} words it (settings by name, never a CLI flag or `bktx config set` line).
 */
export function noticeText(notice: Notice): string {
  const advice = adviceText(notice.advice)
  return advice === '' ? notice.message : `${notice.message}; ${advice}`
}

/** A short description of an unknown thrown value, for --verbose cause chains. */
export function describeCause(value: unknown): string {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code
    return `${value.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${value.message}`
  }
  return String(value)
}
