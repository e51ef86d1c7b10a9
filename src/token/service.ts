// The use case "get a token": resolve the caller's setting values (./request.ts: settings,
// signing key, cache mode, once), look up the cache, exchange on a miss (single flight across
// processes), store; plus the calls made with a token (whoami, revoke) and logout. The CLI
// commands (token, env, exec, whoami, logout) and the library's getToken each make one call
// here; the cache-hit fast path makes its one call to ./lookup.ts, the same front half.
import type { CacheListing, TokenCache } from '../cache/cache.js'
import { selectEveryEntry } from '../cache/select.js'
import { cacheKey } from '../cache/key.js'
import { withCache, type CachedTokenResult } from '../cache/with-cache.js'
import type { CacheMode } from '../cache/modes.js'
import { required } from '../config/resolve.js'
import type { FetchLike } from '../deps.js'
import { APIRejectedError, CacheError, isBktxError, type BktxError, type Notice } from '../errors.js'
import { revoke, whoami, type AccessTokenInfo } from '../exchange/access-token.js'
import { makeExchanger } from '../exchange/exchange.js'
import type { ExchangeParams } from '../exchange/types.js'
import { makeFetch, type BktxFetch } from '../http/fetch.js'
import type { Sleep } from '../http/retry.js'
import { formatDuration } from '../time/duration.js'
import { lookupCached, openTokenCache, type CacheDeps, type Lookup, type OpenedCache } from './lookup.js'
import { resolveTokenRequest, type TokenInput, type TokenRequest } from './request.js'
import { DEFAULT_MIN_TTL, DEFAULT_TIMEOUT } from './settings.js'

export interface TokenServiceDeps extends CacheDeps {
  /** The working directory: relative paths in flags and variables (--config, key files) resolve against it. */
  cwd: string
  /** Direct requests (no proxy, no extra CA): src/http/node-fetch.ts in the CLI. */
  fetch: FetchLike
  /** `bktx/<version>`. */
  userAgent: string
  /** Backoff waits between retries; tests pass one that returns at once. */
  sleep?: Sleep
}

/** How requests are made: time budget, extra CA file, cancellation. */
export interface NetworkOptions {
  /** Bound on the whole call (every attempt and backoff wait), in ms. Default 30 000. */
  timeoutMs?: number
  /** A PEM file of CA certificates to trust in addition to the defaults. */
  caFile?: string | undefined
  /** Aborts the call (SIGINT in the CLI); it then fails with InterruptedError. */
  signal?: AbortSignal | undefined
  /** Lines for a verbose log; never given a token or assertion. */
  onDebug?: (line: string) => void
}

export interface ObtainOptions extends NetworkOptions {
  /** Replaces the `cache` setting for this call (`bktx exec --revoke-on-exit` caches nothing). */
  cache?: CacheMode | undefined
  /** Serve a cached token only with at least this many seconds left (capped at half its lifetime). Default 300. */
  minTtl?: number
  /** Mint a new token even when a cached one is good (it replaces the cached one). */
  refresh?: boolean
  /** Runs around the exchange, e.g. the CLI's spinner. */
  during?: <T>(task: () => Promise<T>) => Promise<T>
}

export interface Obtained {
  result: CachedTokenResult
  cache: TokenCache
  /** The request as resolved: settings (api-url for whoami and exec), exchange parameters. */
  request: TokenRequest
}

export interface LogoutOptions extends NetworkOptions {
  /** Revoke the token at the API (the `api-url` setting) before forgetting it (DELETE /v2/access-token). */
  revoke: boolean
}

export type LogoutOutcome =
  | { found: false; notices: Notice[] }
  | {
      found: true
      /** `already-invalid`: the API answered 401 (revoked or expired there); `expired`: not asked, it had expired. */
      revocation: 'revoked' | 'already-invalid' | 'expired' | 'skipped'
      notices: Notice[]
    }

export interface LogoutAllOptions extends NetworkOptions {
  /** Revoke each live token before forgetting it (else only forget). */
  revoke: boolean
  /** The REST API base URL to revoke an entry's token at. */
  apiUrlFor: (entry: CacheListing) => string
}

/** What `logout --all` did, entry by entry. */
export interface LogoutAllOutcome {
  revoked: CacheListing[]
  /** The API no longer knew them (401): forgotten. */
  alreadyInvalid: CacheListing[]
  /** Expired here: forgotten without asking the API. */
  expired: CacheListing[]
  /** Forgotten without revoking (`revoke: false`). */
  forgotten: CacheListing[]
  /** Not revoked and kept in the cache, so a later run can try again. */
  failed: { entry: CacheListing; error: BktxError }[]
  notices: Notice[]
}

export interface TokenService {
  /** The cache of a mode (for listing and clearing). */
  openCache(mode: CacheMode): Promise<OpenedCache>
  /** The request `input` resolves to (settings, opened key, cache mode), and nothing more. */
  resolve(input: TokenInput, options?: Pick<NetworkOptions, 'onDebug'>): Promise<TokenRequest>
  /** A token for `input`: a cached one with enough life left, else a fresh exchange, stored. */
  obtain(input: TokenInput & ObtainOptions): Promise<Obtained>
  /** A cached token only: no lock, no exchange (the fast path's answer, ./lookup.ts). */
  lookup(input: TokenInput & { minTtl?: number | undefined }): Promise<Lookup>
  /** `GET /v2/access-token`: who and what the token is for. */
  whoami(apiUrl: string, token: string, options?: NetworkOptions): Promise<AccessTokenInfo>
  /** `DELETE /v2/access-token`. */
  revoke(apiUrl: string, token: string, options?: NetworkOptions): Promise<void>
  /** Revokes (optionally) and forgets the cached token of `input`. */
  logout(input: TokenInput & LogoutOptions): Promise<LogoutOutcome>
  /**
   * Revokes (optionally) and forgets every cached token, of every profile and scope set. A token
   * that cannot be revoked (unreachable API, unreadable keychain item) stays cached and is
   * reported, so that it is never forgotten while still valid.
   */
  logoutAll(options: LogoutAllOptions): Promise<LogoutAllOutcome>
}

/**
 * Notices for a fresh grant narrower than the request: a shorter lifetime (the application's
 * maximum TTL caps it, docs/token-exchange.md §3) or fewer scopes. Said once, when minted.
 */
export function narrowing(result: CachedTokenResult): Notice[] {
  const notices: Notice[] = []
  const { ttl, scopes } = result.requested
  if (ttl !== null && result.expiresIn < ttl) {
    notices.push({
      kind: 'ttl-narrowed',
      message: `the token lives ${formatDuration(result.expiresIn)}, not the ${formatDuration(ttl)} asked for (the application's maximum lifetime is probably lower)`,
      advice: ['ask for at most that with ', { setting: 'ttl' }, ', or raise the maximum in the application'],
    })
  }
  const missing = scopes.filter((scope) => !result.scopes.includes(scope))
  if (missing.length > 0) {
    notices.push({
      kind: 'scopes-narrowed',
      message: `the token was granted ${result.scopes.length === 0 ? 'no scopes' : result.scopes.join(' ')}, without ${missing.join(' ')} that was asked for`,
      advice: ['check ', { setting: 'scope' }, " against the application's grantable scopes"],
    })
  }
  return notices
}

export function createTokenService(deps: TokenServiceDeps): TokenService {
  /** Runs `call` with a fetch for `options` (proxy and CA from the environment and options), then closes it. */
  async function connected<T>(options: NetworkOptions, call: (fetch: BktxFetch) => Promise<T>): Promise<T> {
    const fetch = makeFetch({ env: deps.env, caFile: options.caFile, userAgent: deps.userAgent, fetch: deps.fetch })
    try {
      if (fetch.route.length > 0) options.onDebug?.(`connecting through ${fetch.route.join(' and ')}`)
      return await call(fetch)
    } finally {
      await fetch.close()
    }
  }

  const retryDeps = (fetch: FetchLike) => ({ fetch, clock: deps.clock, ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }) })
  const retryOptions = (options: NetworkOptions) => ({
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT * 1000,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  })

  /** The front half, once per call: setting values to a request (--verbose hears each setting's source). */
  const resolve = (input: TokenInput, options: Pick<NetworkOptions, 'onDebug'>) => {
    const onDebug = options.onDebug
    return resolveTokenRequest(input, deps, onDebug === undefined ? undefined : (name, source) => onDebug(`${name} from ${source}`))
  }

  return {
    openCache: (mode) => openTokenCache(mode, deps),
    resolve: (input, options = {}) => resolve(input, options),

    async lookup(input) {
      const request = await resolve(input, {})
      return { ...(await lookupCached(request, input.minTtl, deps)), request }
    },

    async obtain(options) {
      const request = await resolve(options, options)
      const params = request.params
      const opened = await openTokenCache(options.cache ?? request.cache, { ...deps, profile: request.explicitProfile ?? 'default' })
      const exchanger = (p: ExchangeParams) =>
        connected(options, async (fetch) => {
          const exchange = makeExchanger(retryDeps(fetch), {
            ...retryOptions(options),
            onAttempt: (n, jti) => options.onDebug?.(`exchange attempt ${n} (jti ${jti}) to ${p.tokenUrl}`),
          })
          return options.during === undefined ? exchange(p) : options.during(() => exchange(p))
        })
      const result = await withCache(exchanger, opened.cache, {
        clock: deps.clock,
        minTtl: options.minTtl ?? DEFAULT_MIN_TTL,
        refresh: options.refresh === true,
      })(params)
      result.notices.unshift(...opened.notices)
      if (!result.cached) result.notices.push(...narrowing(result))
      options.onDebug?.(result.cached ? `served from the ${result.cache} cache` : `minted; cached in ${result.cache}`)
      return { result, cache: opened.cache, request }
    },

    async whoami(apiUrl, token, options = {}) {
      return connected(options, (fetch) => whoami(apiUrl, token, retryDeps(fetch), retryOptions(options)))
    },

    async revoke(apiUrl, token, options = {}) {
      return connected(options, (fetch) => revoke(apiUrl, token, retryDeps(fetch), retryOptions(options)))
    },

    async logout(options) {
      const request = await resolve(options, options)
      const apiUrl = required(request.settings, 'api-url')
      const opened = await openTokenCache(request.cache, deps)
      const key = cacheKey(request.params)
      const { entry, notice } = await opened.cache.read(key)
      const notices = [...opened.notices, notice].filter((n): n is Notice => n !== undefined)
      if (entry === undefined) return { found: false, notices }
      let revocation: 'revoked' | 'already-invalid' | 'expired' | 'skipped' = 'skipped'
      if (options.revoke) {
        if (entry.token.expiresAt.getTime() <= deps.clock.now().getTime()) revocation = 'expired'
        else {
          try {
            await this.revoke(apiUrl, entry.token.accessToken, options)
            revocation = 'revoked'
          } catch (error) {
            // 401: already revoked or unknown to the server; the cache entry goes either way.
            if (!(error instanceof APIRejectedError && error.status === 401)) throw error
            revocation = 'already-invalid'
          }
        }
      }
      const cleared = await opened.cache.clear(key)
      if (cleared.keychainError !== undefined) throw cleared.keychainError
      return { found: true, revocation, notices }
    },

    async logoutAll(options) {
      const { cache, notices } = await selectEveryEntry(deps)
      const outcome: LogoutAllOutcome = { revoked: [], alreadyInvalid: [], expired: [], forgotten: [], failed: [], notices: [...notices] }
      const forget = async (entry: CacheListing): Promise<boolean> => {
        const cleared = await cache.clear(entry.key)
        if (cleared.keychainError === undefined) return true
        outcome.failed.push({ entry, error: cleared.keychainError })
        return false
      }
      for (const entry of await cache.list()) {
        if (entry.expired) {
          if (await forget(entry)) outcome.expired.push(entry)
          continue
        }
        if (!options.revoke) {
          if (await forget(entry)) outcome.forgotten.push(entry)
          continue
        }
        const read = await cache.read(entry.key)
        if (read.entry === undefined) {
          const why = read.notice?.message ?? 'its secret is missing or unreadable'
          outcome.failed.push({ entry, error: new CacheError(`cannot read the cached token to revoke it: ${why}`, { detail: { reason: 'unreadable' } }) })
          continue
        }
        try {
          await this.revoke(options.apiUrlFor(entry), read.entry.token.accessToken, options)
          if (await forget(entry)) outcome.revoked.push(entry)
        } catch (error) {
          if (error instanceof APIRejectedError && error.status === 401) {
            if (await forget(entry)) outcome.alreadyInvalid.push(entry)
          } else if (isBktxError(error) && error.code !== 'BKTX_INTERRUPTED') {
            outcome.failed.push({ entry, error })
          } else {
            throw error
          }
        }
      }
      return outcome
    },
  }
}

/**
 * The library's and the tests' entry: a token for `input` (setting values and call options),
 * over `deps`. The same as `createTokenService(deps).obtain(input)`.
 */
export async function obtainToken(input: TokenInput & ObtainOptions, deps: TokenServiceDeps): Promise<Obtained> {
  return createTokenService(deps).obtain(input)
}
