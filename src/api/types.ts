// The public types of the library (package.json "exports"). Written out here rather than
// re-exported from the modules that implement them, so the shipped declarations depend on
// nothing but each other: a consumer's tsc needs no jose, commander or undici types.
import type { Notice } from '../errors.js'
import type { SecretStore } from '../secrets/store.js'

/** A public JSON Web Key as bktx publishes it (RFC 7517; RS256 or ES256 only). */
export interface PublicJWK {
  kty: 'EC' | 'RSA'
  kid: string
  use: 'sig'
  alg: 'ES256' | 'RS256'
  /** EC: the curve, always P-256. */
  crv?: 'P-256'
  x?: string
  y?: string
  /** RSA: modulus and exponent. */
  n?: string
  e?: string
}

/** A JSON Web Key Set of public keys only. */
export interface PublicJWKS {
  keys: PublicJWK[]
}

/** Where tokens are cached: the OS keychain (`auto` falls back to files), private files, or nowhere. */
export type CacheMode = 'auto' | 'keychain' | 'file' | 'none'

/** A clock; tests inject one. */
export interface Clock {
  now(): Date
}

/**
 * Where settings come from besides the options: like the CLI, options win, then BKTX_*
 * variables of `env`, then the profile of the bktx configuration file, then defaults.
 */
export interface SettingsSourceOptions {
  /** The environment for BKTX_* settings, proxies (HTTPS_PROXY, NO_PROXY) and XDG paths. Default `process.env`. */
  env?: Record<string, string | undefined>
  /** A configuration file to read profiles from, or `false` for none. Default: $BKTX_CONFIG, else $XDG_CONFIG_HOME/bktx/config.json. */
  config?: string | false
  /** The profile to use. Default: $BKTX_PROFILE, else "default". */
  profile?: string
}

/** What identifies the token to mint. Each option is the setting of the same name in the CLI. */
export interface TokenSettings {
  /** Token endpoint URL. Default `https://buildkite.com/oauth/token`. */
  tokenUrl?: string
  /**
   * The client assertion's `aud`. Default: `https://buildkite.com/oauth/token` for Buildkite's
   * token URLs (buildkite.com and api.buildkite.com), else the token URL.
   */
  audience?: string
  /** The token exchange application's Client ID. */
  clientId?: string
  /**
   * The signing key: a private key file (PKCS#8/SEC1/PKCS#1 PEM or JWK), `env:NAME` (the key
   * text in that variable), a `pkcs11:` URI (RFC 7512) or `exec:COMMAND` (an external signer).
   */
  key?: string
  /** The key ID in the assertion header, or `none` for no kid header. Default: the kid the key file names, else its RFC 7638 thumbprint. */
  kid?: string
  /** The public half of a `pkcs11:` or `exec:` key: a PEM, JWK or JWKS file. Required for `exec:`. */
  publicKey?: string
  /** The PKCS#11 module for a `pkcs11:` URI without `module-path`. */
  pkcs11Module?: string
  /** Where the PKCS#11 PIN is read: `env:NAME` or `file:PATH`. Default: $BKTX_PKCS11_PIN. */
  pinSource?: string
  /** The organisation slug (not its display name). */
  org?: string
  /** The user to mint a token for: an email address or a user UUID. */
  subject?: string
  /** How `subject` names the user. Default `email`. */
  subjectType?: 'email' | 'uuid'
  /** Scopes to request. Default: the application's default scopes. */
  scopes?: readonly string[]
  /** Token lifetime to request, in seconds (capped at the application's maximum). */
  ttl?: number
}

/**
 * A WHATWG fetch: `globalThis.fetch`, undici's, or a test's fake. bktx calls it as
 * `fetch(url, { method, headers, body, signal, redirect: 'manual' })` (headers a plain object,
 * body a string) and reads `status`, `headers.get()` and `body`.
 */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>

/**
 * The seams of the calls that make requests, as jose and oauth4webapi offer them: a test (or an
 * application with its own HTTP stack) passes its own and nothing else touches the network.
 */
export interface NetworkSeams {
  /**
   * Makes every request of the call (the token exchange; whoami and revocation). With it, no
   * other network code runs: bktx's node:http client, undici and its own DNS lookups are not
   * used, the proxy variables (HTTPS_PROXY, NO_PROXY) are not read, and `caFile` is refused
   * (BKTX_SETTING_INVALID): proxies and CAs are that fetch's business. bktx still adds its
   * User-Agent, bounds the call with `timeoutMs` and `signal`, and retries as usual.
   * Default: bktx's own client over node:http/node:https, which msw and nock intercept.
   */
  fetch?: FetchFunction
  /**
   * "Now", for the assertion's `iat`/`exp`, the token's expiry and cache freshness, and
   * Retry-After dates. Default: the system clock. Timers (backoff, `timeoutMs`) are real.
   */
  clock?: Clock
}

/** Bounds and cancellation of a call that makes requests. */
export interface CallOptions {
  /** Bound on the whole call, retries included, in milliseconds. Default 30 000. */
  timeoutMs?: number
  /** A PEM file of CA certificates to trust in addition to the defaults. Refused with `fetch`. */
  caFile?: string
  /**
   * Cancels the call. It then rejects with a BktxError whose `cause` is the signal's reason:
   * code `BKTX_TIMEOUT` when that reason is a `TimeoutError` (as `AbortSignal.timeout(ms)`
   * aborts with: the caller's time limit ran out, like `timeoutMs`), else `BKTX_INTERRUPTED`.
   * A signal already aborted rejects at once, before the cache is read.
   */
  signal?: AbortSignal
}

export interface GetTokenOptions extends TokenSettings, SettingsSourceOptions, NetworkSeams, CallOptions {
  /** Default `auto` (or the `cache` setting). */
  cache?: CacheMode
  /** Serve a cached token only with at least this many seconds left (capped at half its lifetime). Default 300. */
  minTtl?: number
  /** Mint a new token even when a cached one is good. Default false. */
  refresh?: boolean
  /**
   * The OS keychain's stand-in: where the `keychain` and `auto` cache modes keep token secrets
   * (`auto` uses files instead when CI is set in `env`). A {@link MemorySecretStore} keeps a
   * test off the real keychain. The cache's metadata, and the `file` mode's secrets, stay in
   * bktx's cache directory: `$XDG_RUNTIME_DIR/bktx` of `env`, else `/dev/shm/bktx-UID`, else
   * `$XDG_CACHE_HOME/bktx` (README, "The cache"). To keep a test off the user's cache, give it an
   * `env` whose XDG_RUNTIME_DIR is a private temporary directory, or use `cache: 'none'`.
   * Default: the OS keychain through @napi-rs/keyring.
   */
  secretStore?: SecretStore
  /**
   * Called for each notice, in plain words (settings by name, never a CLI flag), with the
   * notice itself (`kind`: `keychain-fallback`, `ttl-narrowed`, `scopes-narrowed`, ...) as data.
   */
  onNotice?: (message: string, notice: Notice) => void
}

/** Where the REST API is, for {@link whoami} and {@link revokeToken}. */
export interface AccessTokenOptions extends SettingsSourceOptions, NetworkSeams, CallOptions {
  /**
   * The REST API base URL. Default: the `api-url` setting, else https://api.buildkite.com for
   * Buildkite's token URLs, else the origin of `tokenUrl`.
   */
  apiUrl?: string
  /** The token endpoint URL the token came from, for the default `apiUrl`. */
  tokenUrl?: string
  /**
   * Notices of {@link revokeToken} (the cache could not be searched, a keychain item could not
   * be removed), in plain words, with the notice itself as data.
   */
  onNotice?: (message: string, notice: Notice) => void
}

/** What {@link revokeToken} did (what `bktx revoke --json` prints). */
export interface RevokeResult {
  /** The API answered 204: the token was live and is now revoked. */
  revoked: boolean
  /** The API answered 401: the token was already revoked or expired. Not a failure. */
  alreadyInvalid: boolean
  /** The token's last four characters, to name it; null for a token under 20 characters. */
  tokenHint: string | null
  /** An entry of bktx's token cache held this token, and it was removed. */
  removedFromCache: boolean
}

/** What `GET /v2/access-token` says about a token (what `bktx whoami` prints). */
export interface AccessTokenInfo {
  uuid: string
  /** Sorted and unique. */
  scopes: string[]
  description: string | null
  createdAt: Date
  /** null for a token without expiry (a classic API token). */
  expiresAt: Date | null
  user: { name: string; email: string }
}

/** A token and where it came from. */
export interface Token {
  /** The `bktx_` bearer token. Secret: do not log it. */
  token: string
  tokenType: 'Bearer'
  /** When it expires: receipt time plus `expires_in`. */
  expiresAt: Date
  /** The granted scopes, sorted. */
  scopes: string[]
  /** True when it came from the cache. */
  cached: boolean
  /** Where it is cached: `none` when it is not. */
  cache: 'keychain' | 'file' | 'none'
}

export interface SignAssertionOptions extends SettingsSourceOptions, Pick<TokenSettings, 'key' | 'kid' | 'publicKey' | 'pkcs11Module' | 'pinSource'> {
  clientId?: string
  /** Bound on an external signer, in milliseconds. Default 30 000. */
  timeoutMs?: number
  /** The token endpoint URL the assertion is for. */
  tokenUrl?: string
  /** The `aud` claim. Default: as for {@link TokenSettings.audience}. */
  audience?: string
  /** Seconds from `iat` to `exp`, 1 to 300. Default 60. */
  lifetime?: number
  /** Extra claims (`nbf`, a fixed `jti`); the ones bktx sets (iss, sub, aud, iat, exp) are refused. */
  claims?: Record<string, unknown>
  clock?: Clock
}

/** A signed client assertion and what is in it. */
export interface SignedAssertion {
  /** The compact JWT. Secret while it is valid: do not log it. */
  assertion: string
  header: { alg: 'ES256' | 'RS256'; typ: 'JWT'; kid?: string }
  claims: { iss: string; sub: string; aud: string; iat: number; exp: number; jti: string; [claim: string]: unknown }
}
