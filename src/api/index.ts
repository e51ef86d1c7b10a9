// `import { getToken } from 'bktx'`: the library entry. Like src/bin.ts it is an entry point,
// so it builds the real dependencies (process.env, the system clock, the OS keychain, node:http)
// and hands them to the same token service the CLI runs; a caller may pass its own fetch,
// clock and secret store instead (the seams of types.ts, NetworkSeams).
import { homedir } from 'node:os'
import { loadSettings } from '../config/load.js'
import { required } from '../config/resolve.js'
import type { SettingName } from '../config/settings.js'
import type { FetchLike } from '../deps.js'
import { noticeText } from '../errors.js'
import { caFileWithOwnFetch, ownRoutingFetch } from '../http/fetch.js'
import { nodeFetch } from '../http/node-fetch.js'
import { abortedError } from '../http/retry.js'
import { lazyKeyringStore } from '../secrets/lazy.js'
import type { SecretStore } from '../secrets/store.js'
import { setChildGroupGuard } from '../keys/exec-guard.js'
import { processAlive } from '../term/process-info.js'
import { guardChildGroup } from '../term/process.js'
import { escapeControls } from '../text/sanitize.js'
import { systemClock } from '../time/clock.js'
import { createTokenService, obtainToken } from '../token/service.js'
import { cacheModeOf } from '../token/settings.js'
import type {
  AccessTokenInfo,
  AccessTokenOptions,
  CallOptions,
  GetTokenOptions,
  NetworkSeams,
  PublicJWKS,
  RevokeResult,
  SettingsSourceOptions,
  SignAssertionOptions,
  SignedAssertion,
  Token,
  TokenSettings,
} from './types.js'

export type * from './types.js'
export {
  adviceText,
  APIRejectedError,
  BadResponseError,
  BktxError,
  CacheError,
  ChecksFailedError,
  CommandNotExecutableError,
  CommandNotFoundError,
  ConfigError,
  FileError,
  FileExistsError,
  InputError,
  InsecureURLError,
  InterruptedError,
  isBktxError,
  JWTInvalidError,
  KeychainError,
  KeyError,
  NetworkError,
  NoTokenError,
  noticeText,
  OAuthRejectedError,
  OutputError,
  Pkcs11ModuleError,
  Pkcs11PinError,
  Pkcs11TokenError,
  ServerUnavailableError,
  SettingInvalidError,
  SettingMissingError,
  SignerError,
  TimeoutError,
  UnsupportedKeyError,
  UsageError,
  type Advice,
  type AdvicePart,
  type AnyBktxError,
  type ErrorCode,
  type ErrorDetail,
  type Notice,
} from '../errors.js'
export { MemorySecretStore, type SecretStore, type StoreStatus } from '../secrets/store.js'

declare const BKTX_VERSION: string | undefined

// An exec: signer ends with the host process, whatever signal ends it (src/keys/exec.ts).
setChildGroupGuard(guardChildGroup)
const VERSION = typeof BKTX_VERSION === 'string' ? BKTX_VERSION : '0.0.0-dev'

/**
 * The caller's options as own properties on a null prototype. A host application where anything
 * ever set `Object.prototype.key` (prototype pollution, e.g. a deep merge of parsed JSON) must
 * not have that value read as an option: `key: "exec:…"` names a command bktx runs, and paths
 * and URLs name what it reads and whom it sends a signed assertion. Only what the caller passed
 * counts; the same for the environment object (`BKTX_KEY` inherited from a polluted prototype).
 */
function own<T extends object>(options: T | undefined): T {
  return Object.assign(Object.create(null) as T, options)
}

function envOf(options: { env?: Record<string, string | undefined> | undefined }): Record<string, string | undefined> {
  return own(options.env ?? process.env)
}

/** Options as setting values, the way the CLI's flags give them. */
function settingValues(options: TokenSettings & { cache?: string | undefined; audience?: string | undefined }): Partial<Record<SettingName, string>> {
  const out: Partial<Record<SettingName, string>> = Object.create(null)
  const set = (name: SettingName, value: string | number | undefined) => {
    if (value !== undefined) out[name] = String(value)
  }
  set('token-url', options.tokenUrl)
  set('aud', options.audience)
  set('client-id', options.clientId)
  set('key', options.key)
  set('kid', options.kid)
  set('public-key', options.publicKey)
  set('pkcs11-module', options.pkcs11Module)
  set('pin-source', options.pinSource)
  set('org', options.org)
  set('subject', options.subject)
  set('subject-type', options.subjectType)
  if (options.scopes !== undefined) set('scope', options.scopes.join(' '))
  set('ttl', options.ttl)
  set('cache', options.cache)
  return out
}

async function settingsFor(options: SettingsSourceOptions, flags: Partial<Record<SettingName, string>>) {
  const env = envOf(options)
  return loadSettings({ flags, env, home: homedir(), cwd: process.cwd(), uid: process.getuid?.(), profile: options.profile, config: options.config })
}

/**
 * The caller's fetch, which then makes every request (src/http/fetch.ts, ownRoutingFetch),
 * else bktx's node:http client. A CA file cannot be given to someone else's fetch: refused
 * before anything is read. A signal already aborted ends the call here, before the cache.
 */
function requestSeams(options: NetworkSeams & CallOptions): FetchLike {
  if (options.signal?.aborted === true) throw abortedError(options.signal.reason)
  if (options.fetch === undefined) return nodeFetch
  if (options.caFile !== undefined) throw caFileWithOwnFetch()
  // A WHATWG fetch is a FetchLike: bktx's init is a RequestInit, a Response a ResponseLike.
  return ownRoutingFetch(options.fetch as unknown as FetchLike)
}

/**
 * A Buildkite API token: from the cache when it holds one with enough life left, else from a
 * fresh token exchange (RFC 8693) with a newly signed client assertion (RFC 7523), which is
 * then cached. The same service as `bktx token`, cache and single flight included.
 *
 * Rejects with a {@link BktxError}: its `code` says what kind of failure (see `bktx help
 * exit-codes`), `detail` which setting, and `advice` what to change.
 */
export async function getToken(input: GetTokenOptions = {}): Promise<Token> {
  const options = own(input)
  const fetch = requestSeams(options)
  const env = envOf(options)
  const uid = process.getuid?.()
  const secrets: SecretStore = options.secretStore ?? lazyKeyringStore({ env, uid, platform: process.platform, arch: process.arch })
  const clock = options.clock ?? systemClock
  // One call: the token service resolves the options (as setting values) with the environment
  // and the profile, opens the key and picks the cache (src/token/request.ts).
  const { result } = await obtainToken(
    {
      settings: settingValues(options),
      profile: options.profile,
      config: options.config,
      ...(options.minTtl === undefined ? {} : { minTtl: options.minTtl }),
      refresh: options.refresh === true,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      caFile: options.caFile,
      signal: options.signal,
      onNotice: (notice) => options.onNotice?.(escapeControls(noticeText(notice)), notice),
    },
    {
      env,
      home: homedir(),
      uid,
      cwd: process.cwd(),
      clock,
      secrets,
      fetch,
      userAgent: `bktx/${VERSION}`,
      lock: { process: { pid: process.pid, isAlive: processAlive } },
    },
  )
  for (const notice of result.notices) options.onNotice?.(escapeControls(noticeText(notice)), notice)
  return {
    token: result.accessToken,
    tokenType: result.tokenType,
    expiresAt: result.expiresAt,
    scopes: result.scopes,
    cached: result.cached,
    cache: result.cache,
  }
}

/** The API URL of {@link whoami} and {@link revokeToken}, and a token service for their request. */
async function accessTokenCall(input: AccessTokenOptions) {
  const options = own(input)
  const fetch = requestSeams(options)
  const flags: Partial<Record<SettingName, string>> = Object.create(null)
  if (options.apiUrl !== undefined) flags['api-url'] = options.apiUrl
  if (options.tokenUrl !== undefined) flags['token-url'] = options.tokenUrl
  const { settings } = await settingsFor(options, flags)
  const env = envOf(options)
  const uid = process.getuid?.()
  // The keychain is asked only to remove a revoked token's item from it (revokeToken).
  const secrets = options.secretStore ?? lazyKeyringStore({ env, uid, platform: process.platform, arch: process.arch })
  const service = createTokenService({
    env,
    home: homedir(),
    uid,
    cwd: process.cwd(),
    clock: options.clock ?? systemClock,
    secrets,
    fetch,
    userAgent: `bktx/${VERSION}`,
  })
  const network = {
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    caFile: options.caFile,
    signal: options.signal,
  }
  return { apiUrl: required(settings, 'api-url'), service, network, cache: cacheModeOf(settings) }
}

/**
 * Who and what a token is for: `GET {apiUrl}/v2/access-token` (what `bktx whoami` prints).
 * Rejects with an APIRejectedError (`BKTX_API_REJECTED`, `status` 401 or 403) when the API
 * refuses the token.
 */
export async function whoami(token: string, options: AccessTokenOptions = {}): Promise<AccessTokenInfo> {
  const { apiUrl, service, network } = await accessTokenCall(options)
  return service.whoami(apiUrl, token, network)
}

/**
 * Revokes a token: `DELETE {apiUrl}/v2/access-token`, as `bktx revoke` does. Resolves with
 * `revoked: true` when the API revoked it (HTTP 204) and `alreadyInvalid: true` when the API no
 * longer knew it (HTTP 401: revoked or expired already), which is not a failure. Then, when an
 * entry of bktx's token cache (the one `env` names) holds this token, that entry is removed, so
 * `getToken` never serves it again (`removedFromCache`). Rejects with a {@link BktxError} for
 * anything else: `BKTX_NETWORK`, `BKTX_TIMEOUT`, `BKTX_SERVER_UNAVAILABLE` (5xx and 429 after
 * the usual retries), `BKTX_API_REJECTED` with `status` 403, `BKTX_BAD_RESPONSE`; the cache
 * entry is then kept.
 */
export async function revokeToken(token: string, options: AccessTokenOptions = {}): Promise<RevokeResult> {
  const { apiUrl, service, network, cache } = await accessTokenCall(options)
  const outcome = await service.revokeGiven({ token, apiUrl, cache, ...network })
  for (const notice of outcome.notices) options.onNotice?.(escapeControls(noticeText(notice)), notice)
  return { revoked: outcome.revoked, alreadyInvalid: outcome.alreadyInvalid, tokenHint: outcome.hint, removedFromCache: outcome.removedFromCache }
}

/** A client assertion JWT exactly as Buildkite requires it (what `bktx sign` prints). */
export async function signClientAssertion(input: SignAssertionOptions = {}): Promise<SignedAssertion> {
  const options = own(input)
  const { randomUUID } = await import('node:crypto')
  const { required } = await import('../config/resolve.js')
  const { keySpecOf } = await import('../config/key-spec.js')
  const { openKey } = await import('../keys/open.js')
  const { buildAssertionClaims, DEFAULT_ASSERTION_LIFETIME } = await import('../assertion/claims.js')
  const { signAssertion } = await import('../assertion/sign.js')
  const { epochSeconds } = await import('../time/clock.js')
  const { settings } = await settingsFor(options, settingValues(options))
  const env = envOf(options)
  const key = await openKey(keySpecOf(settings), { env, home: homedir(), uid: process.getuid?.(), cwd: process.cwd() })
  const claims = buildAssertionClaims({
    clientId: required(settings, 'client-id'),
    audience: required(settings, 'aud'),
    now: epochSeconds(options.clock ?? systemClock),
    lifetime: options.lifetime ?? DEFAULT_ASSERTION_LIFETIME,
    jti: randomUUID(),
    ...(options.claims === undefined ? {} : { extra: options.claims }),
  })
  const signal = AbortSignal.timeout(options.timeoutMs ?? 30_000)
  const assertion = await signAssertion(claims, key, { signal })
  return { assertion, header: { alg: key.alg, typ: 'JWT', ...(key.kid === undefined ? {} : { kid: key.kid }) }, claims }
}

/**
 * The public JWKS of key files (PEM or JWK, private or public, or JWKS documents): what to
 * register with the token exchange application. No private member ever appears.
 */
export async function buildJWKS(keyFiles: readonly string[]): Promise<PublicJWKS> {
  const { loadKeyFile } = await import('../keys/load.js')
  const { buildJwks } = await import('../jwks/build.js')
  const keys = (await Promise.all(Array.from(keyFiles, (path) => loadKeyFile(path)))).flat()
  return buildJwks(keys) as PublicJWKS
}

// Setup use cases (src/setup/): what `bktx keygen` does, for a program of its own.
export type * from './keygen-types.js'
import type { GenerateKeyOptions, GeneratedKey } from './keygen-types.js'

/**
 * Generates a signing key pair, writes the private key to a 0600 file (never over an existing
 * one unless `force`) and records it in the profile, as `bktx keygen` does; resolves to the
 * public JWKS to register. Rejects with a {@link BktxError}.
 */
export async function generateKey(input: GenerateKeyOptions = {}): Promise<GeneratedKey> {
  const options = own(input)
  const { isAbsolute, resolve } = await import('node:path')
  const { locateConfig } = await import('../config/load.js')
  const { resolvePaths } = await import('../config/paths.js')
  const { generateKeyFile } = await import('../setup/keygen.js')
  const env = envOf(options)
  const cwd = process.cwd()
  const target =
    options.config === false
      ? undefined
      : { ...locateConfig({ env, home: homedir(), cwd, profile: options.profile, config: options.config }), uid: process.getuid?.() }
  const result = await generateKeyFile(
    {
      alg: options.alg ?? 'ES256',
      bits: options.bits,
      kid: options.kid,
      out: options.out === undefined ? undefined : isAbsolute(options.out) ? options.out : resolve(cwd, options.out),
      keysDir: resolvePaths(env, homedir()).keysDir,
      force: options.force,
    },
    target,
  )
  return {
    kid: result.kid,
    alg: result.alg,
    path: result.key,
    profile: result.recorded ? result.profile : null,
    previousKey: result.previousKey,
    jwks: result.jwks as PublicJWKS,
  }
}
