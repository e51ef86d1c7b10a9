// The use case "get a token": resolve the caller's setting values (./request.ts: settings,
// signing key, cache mode, once), look up the cache, exchange on a miss (single flight across
// processes), store; plus the calls made with a token (whoami, revoke), the cached tokens a
// command line reaches (./held.ts: whoami, logout) and logout. The CLI commands (token, env,
// exec, whoami, revoke, logout) and the library's getToken and revokeToken each make one call
// here; the cache-hit fast path makes its one call to ./lookup.ts, the same front half.
import { createNoCache, type CacheListing, type TokenCache } from '../cache/cache.js'
import { selectEveryEntry } from '../cache/select.js'
import { withCache, type CachedTokenResult } from '../cache/with-cache.js'
import type { CacheMode } from '../cache/modes.js'
import { keySpecOf } from '../config/key-spec.js'
import { required, type ResolvedSettings } from '../config/resolve.js'
import type { FetchLike } from '../deps.js'
import { APIRejectedError, CacheError, FileError, isBktxError, type BktxError, type Notice } from '../errors.js'
import { revoke, whoami, type AccessTokenInfo } from '../exchange/access-token.js'
import { makeExchanger } from '../exchange/exchange.js'
import { unknownScopeNotices } from '../exchange/scopes.js'
import type { ExchangeParams } from '../exchange/types.js'
import { makeFetch, type BktxFetch } from '../http/fetch.js'
import type { Sleep } from '../http/retry.js'
import { openKey } from '../keys/open.js'
import { formatDuration } from '../time/duration.js'
import { isGiven, sameDigest, selectorOf, selects, tokenHint, tokenSha256, type HeldSelector } from './held.js'
import { minTtlNotice } from './min-ttl.js'
import { lookupCached, openTokenCache, type CacheDeps, type Lookup, type OpenedCache } from './lookup.js'
import { loadInputSettings, resolveTokenRequest, type TokenInput, type TokenRequest } from './request.js'
import { cacheModeOf, DEFAULT_MIN_TTL, DEFAULT_TIMEOUT } from './settings.js'

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
  /**
   * Serve a cached token only with at least this many seconds left (capped at half its
   * lifetime; a notice says so when that gives less than asked). Default 300, capped silently.
   */
  minTtl?: number | undefined
  /** Mint a new token even when a cached one is good (it replaces the cached one). */
  refresh?: boolean
  /** Runs around the exchange, e.g. the CLI's spinner. */
  during?: <T>(task: () => Promise<T>) => Promise<T>
  /** Hears what is worth saying before an exchange, even one that then fails: an unknown scope name. */
  onNotice?: (notice: Notice) => void
}

export interface Obtained {
  result: CachedTokenResult
  cache: TokenCache
  /** The request as resolved: settings (api-url for whoami and exec), exchange parameters. */
  request: TokenRequest
}

export interface LogoutOptions extends NetworkOptions {
  /** Revoke each live token at the API (the `api-url` setting) before forgetting it (DELETE /v2/access-token). */
  revoke: boolean
}

/** What `DELETE /v2/access-token` said: 204 revoked, 401 already invalid (revoked or expired there). */
export type Revocation = 'revoked' | 'already-invalid'

/** What revoking one given token did (`bktx revoke`, the library's revokeToken). */
export interface RevokeOutcome {
  /** The API answered 204: the token was live and is now revoked. */
  revoked: boolean
  /** The API answered 401: the token was already revoked or expired. Not a failure. */
  alreadyInvalid: boolean
  /** Its last four characters (null for a token under 20 characters). */
  hint: string | null
  /** A cache entry held this token, and it was removed. */
  removedFromCache: boolean
  notices: Notice[]
}

/** The cached tokens a command line reaches (./held.ts), found by their metadata alone. */
export interface HeldTokens {
  /** The settings as resolved (api-url for the calls made with these tokens). */
  settings: ResolvedSettings
  selector: HeldSelector
  /** A cache that reads every backend's entries (empty for cache mode `none`). */
  cache: TokenCache
  /** The entries selected, expired ones included, soonest expiry first. */
  entries: CacheListing[]
  notices: Notice[]
}

export interface LogoutAllOptions extends NetworkOptions {
  /** Revoke each live token before forgetting it (else only forget). */
  revoke: boolean
  /** The REST API base URL to revoke an entry's token at. */
  apiUrlFor: (entry: CacheListing) => string
}

/** What `logout` (and `logout --all`) did, entry by entry. */
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
  /** `DELETE /v2/access-token`: 204 is `revoked`, 401 `already-invalid`; anything else throws (after the usual retries). */
  revoke(apiUrl: string, token: string, options?: NetworkOptions): Promise<Revocation>
  /**
   * Revokes one given token (`DELETE /v2/access-token` at `apiUrl`) and, when an entry of the
   * cache holds it (found by SHA-256, metadata only), forgets that entry. A token the API could
   * not be asked about stays cached. A cache that cannot be opened is a notice, not a failure.
   */
  revokeGiven(input: { token: string; apiUrl: string; cache: CacheMode } & NetworkOptions): Promise<RevokeOutcome>
  /**
   * The cached tokens `input` reaches: the profile's identity always narrows, and scopes, TTL
   * and key narrow only when given (flag, library option, BKTX_* variable): ./held.ts. Reads
   * metadata only; the signing key is opened only when given.
   */
  held(input: TokenInput & Pick<NetworkOptions, 'onDebug'>): Promise<HeldTokens>
  /** Revokes (optionally) and forgets every cached token `input` reaches ({@link held}). */
  logout(input: TokenInput & LogoutOptions): Promise<LogoutAllOutcome>
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

  const service: TokenService = {
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
          // Said when the scopes are sent, not on a cache hit: Buildkite may know scopes bktx does not.
          for (const notice of unknownScopeNotices(p.scopes)) options.onNotice?.(notice)
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
      const capped = minTtlNotice(result, options.minTtl, deps.clock.now())
      if (capped !== undefined) result.notices.push(capped)
      options.onDebug?.(result.cached ? `served from the ${result.cache} cache` : `minted; cached in ${result.cache}`)
      return { result, cache: opened.cache, request }
    },

    async whoami(apiUrl, token, options = {}) {
      return connected(options, (fetch) => whoami(apiUrl, token, retryDeps(fetch), retryOptions(options)))
    },

    async revoke(apiUrl, token, options = {}) {
      try {
        await connected(options, (fetch) => revoke(apiUrl, token, retryDeps(fetch), retryOptions(options)))
        return 'revoked'
      } catch (error) {
        // 401: the API no longer knows the token (revoked, expired, never minted there): what a
        // revocation wanted is already true (docs/token-exchange.md §6).
        if (error instanceof APIRejectedError && error.status === 401) return 'already-invalid'
        throw error
      }
    },

    async revokeGiven(input) {
      const notices: Notice[] = []
      // Found before the request, by metadata alone (no keychain read): the entry whose recorded
      // SHA-256 is the token's. `file` opens the metadata of every backend and can still remove
      // a keychain item (src/cache/select.ts).
      let cache: TokenCache | undefined
      let key: string | undefined
      if (input.cache !== 'none') {
        try {
          const opened = await openTokenCache('file', deps)
          notices.push(...opened.notices)
          const digest = tokenSha256(input.token)
          for (const entry of await opened.cache.list()) {
            const meta = await opened.cache.readMeta(entry.key)
            if (meta !== undefined && sameDigest(meta.tokenSha256, digest)) {
              cache = opened.cache
              key = entry.key
              break
            }
          }
        } catch (error) {
          if (!(error instanceof CacheError || error instanceof FileError)) throw error
          notices.push({ kind: 'cache-unavailable', message: `${error.message}; the cache was not searched for this token` })
        }
      }
      const revocation = await this.revoke(input.apiUrl, input.token, input)
      let removedFromCache = false
      if (cache !== undefined && key !== undefined) {
        const cleared = await cache.clear(key)
        removedFromCache = cleared.removed > 0
        // The metadata went first, so the token is no longer served; only its keychain item stays.
        if (cleared.keychainError !== undefined)
          notices.push({ kind: 'keychain-unreadable', message: `${cleared.keychainError.message}; its keychain item was not removed` })
      }
      return { revoked: revocation === 'revoked', alreadyInvalid: revocation === 'already-invalid', hint: tokenHint(input.token), removedFromCache, notices }
    },

    async held(input) {
      const loaded = await loadInputSettings(input, deps)
      const { settings } = loaded
      for (const [name, found] of Object.entries(settings)) if (found.source !== 'default') input.onDebug?.(`${name} from ${found.source}`)
      // A key given narrows to the tokens it minted; a profile's key is not even opened (a
      // logout must not need the PKCS#11 token or signer that minted what it revokes).
      const fingerprint = isGiven(settings.key) ? (await openKey(keySpecOf(settings), deps)).fingerprint : undefined
      const selector = selectorOf(settings, fingerprint)
      if (cacheModeOf(settings) === 'none') return { settings, selector, cache: createNoCache(), entries: [], notices: [] }
      const { cache, notices } = await selectEveryEntry(deps)
      const entries: CacheListing[] = []
      for (const entry of await cache.list()) {
        const meta = await cache.readMeta(entry.key)
        if (meta !== undefined && selects(selector, meta)) entries.push(entry)
      }
      return { settings, selector, cache, entries, notices: [...notices] }
    },

    async logout(options) {
      const { settings, cache, entries, notices } = await this.held(options)
      const apiUrl = settings['api-url']?.value
      return logoutEntries(cache, entries, notices, { ...options, apiUrlFor: () => apiUrl ?? required(settings, 'api-url') })
    },

    async logoutAll(options) {
      const { cache, notices } = await selectEveryEntry(deps)
      return logoutEntries(cache, await cache.list(), notices, options)
    },
  }

  /**
   * Revokes (optionally) and forgets `entries` of `cache`, one by one. A token that cannot be
   * revoked (unreachable API, unreadable keychain item) stays cached and is reported, so that
   * it is never forgotten while still valid.
   */
  async function logoutEntries(cache: TokenCache, entries: CacheListing[], notices: Notice[], options: LogoutAllOptions): Promise<LogoutAllOutcome> {
    const outcome: LogoutAllOutcome = { revoked: [], alreadyInvalid: [], expired: [], forgotten: [], failed: [], notices: [...notices] }
    const forget = async (entry: CacheListing): Promise<boolean> => {
      const cleared = await cache.clear(entry.key)
      if (cleared.keychainError === undefined) return true
      outcome.failed.push({ entry, error: cleared.keychainError })
      return false
    }
    for (const entry of entries) {
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
        const revocation = await service.revoke(options.apiUrlFor(entry), read.entry.token.accessToken, options)
        if (await forget(entry)) (revocation === 'revoked' ? outcome.revoked : outcome.alreadyInvalid).push(entry)
      } catch (error) {
        if (isBktxError(error) && error.code !== 'BKTX_INTERRUPTED') outcome.failed.push({ entry, error })
        else throw error
      }
    }
    return outcome
  }

  return service
}

/**
 * The library's and the tests' entry: a token for `input` (setting values and call options),
 * over `deps`. The same as `createTokenService(deps).obtain(input)`.
 */
export async function obtainToken(input: TokenInput & ObtainOptions, deps: TokenServiceDeps): Promise<Obtained> {
  return createTokenService(deps).obtain(input)
}
