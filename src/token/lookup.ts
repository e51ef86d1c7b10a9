// The cache half of the token service: open the cache of a mode and serve a hit. The cache-hit
// fast path (src/fast/) runs exactly this (lookupToken: resolution included), so it stays free
// of jose, undici and commander.
import type { TokenCache } from '../cache/cache.js'
import { cacheKey } from '../cache/key.js'
import { selectCache, type SelectCacheOptions } from '../cache/select.js'
import { isServable, requestedOf, type CachedTokenResult } from '../cache/with-cache.js'
import type { CacheMode } from '../cache/modes.js'
import type { Notice } from '../errors.js'
import { minTtlNotice } from './min-ttl.js'
import { resolveTokenRequest, type ResolveDeps, type TokenInput, type TokenRequest } from './request.js'
import { DEFAULT_MIN_TTL } from './settings.js'

/** What the cache half needs from outside: the cache's own options but the mode. */
export type CacheDeps = Omit<SelectCacheOptions, 'mode'>

export interface OpenedCache {
  cache: TokenCache
  /** Where the cache degraded (src/cache/select.ts): each is one warning line. */
  notices: Notice[]
}

/** The cache of a mode, checked (private directory, keychain answering when required). */
export async function openTokenCache(mode: CacheMode, deps: CacheDeps): Promise<OpenedCache> {
  return selectCache({ ...deps, mode })
}

/** What a lookup needs from outside: resolution's and the cache's. */
export type LookupDeps = CacheDeps & ResolveDeps

export interface Lookup {
  /** The cached token, or undefined: a miss (or cache mode `none`). */
  result: CachedTokenResult | undefined
  /** Where the cache degraded on the way: each is one warning line. */
  notices: Notice[]
  /** The request as resolved; a miss hands it on (./request.ts, TokenInput.resolved). */
  request: TokenRequest
  /** The cache directory the entry was looked up in (undefined for cache mode `none`): the hit memo names it (src/fast/memo.ts). */
  dir: string | undefined
}

/**
 * A cached token for `input` with at least `minTtl` left, or undefined: the settings resolved
 * and the key opened once (./request.ts), then no lock, no exchange, nothing written. The
 * cache-hit fast path's one call.
 */
export async function lookupToken(input: TokenInput & { minTtl?: number | undefined }, deps: LookupDeps): Promise<Lookup> {
  const request = await resolveTokenRequest(input, deps)
  return { ...(await lookupCached(request, input.minTtl, deps)), request }
}

/** The cache read of a resolved request (the service's obtain does its own, under the lock). */
export async function lookupCached(
  request: TokenRequest,
  minTtl: number | undefined,
  deps: CacheDeps,
): Promise<{ result: CachedTokenResult | undefined; notices: Notice[]; dir: string | undefined }> {
  const { params } = request
  const opened = await openTokenCache(request.cache, deps)
  const hit = await opened.cache.read(cacheKey(params), (meta) => isServable(meta, params, deps.clock.now(), minTtl ?? DEFAULT_MIN_TTL))
  const notices = [...opened.notices, hit.notice].filter((n): n is Notice => n !== undefined)
  const { dir } = opened.cache
  if (hit.entry === undefined) return { result: undefined, notices, dir }
  const result: CachedTokenResult = { ...hit.entry.token, cached: true, cache: hit.entry.meta.backend, notices, requested: requestedOf(params) }
  const capped = minTtlNotice(result, minTtl, deps.clock.now())
  if (capped !== undefined) notices.push(capped)
  return { result, notices, dir }
}
