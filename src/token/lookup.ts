// The cache half of the token service: open the cache of a mode and serve a hit. The cache-hit
// fast path (src/fast/) runs exactly this, so it stays free of jose, undici and commander.
import type { TokenCache } from '../cache/cache.js'
import { cacheKey } from '../cache/key.js'
import { selectCache, type SelectCacheOptions } from '../cache/select.js'
import { isServable, requestedOf, type CachedTokenResult } from '../cache/with-cache.js'
import type { CacheMode } from '../config/settings.js'
import type { Notice } from '../errors.js'
import type { ExchangeParams } from '../exchange/types.js'
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

/**
 * A cached token for `params` with at least `minTtl` left, or undefined: no lock, no exchange,
 * nothing written. Notices say where the cache degraded on the way.
 */
export async function lookupToken(
  params: ExchangeParams,
  options: { cache: CacheMode; minTtl?: number },
  deps: CacheDeps,
): Promise<{ result: CachedTokenResult | undefined; notices: Notice[] }> {
  const opened = await openTokenCache(options.cache, deps)
  const minTtl = options.minTtl ?? DEFAULT_MIN_TTL
  const hit = await opened.cache.read(cacheKey(params), (meta) => isServable(meta, params, deps.clock.now(), minTtl))
  const notices = [...opened.notices, hit.notice].filter((n): n is Notice => n !== undefined)
  if (hit.entry === undefined) return { result: undefined, notices }
  return { result: { ...hit.entry.token, cached: true, cache: hit.entry.meta.backend, notices, requested: requestedOf(params) }, notices }
}
