// The cache half of the token service: open the cache of a mode and serve a hit. The cache-hit
// fast path (src/fast/) runs exactly this, so it stays free of jose, undici and commander.
import type { TokenCache } from '../cache/cache.js'
import { cacheKey } from '../cache/key.js'
import type { EntryLockOptions } from '../cache/lock.js'
import { selectCache } from '../cache/select.js'
import { isServable, type CachedTokenResult } from '../cache/with-cache.js'
import type { CacheMode } from '../config/settings.js'
import type { Env } from '../deps.js'
import type { Notice } from '../errors.js'
import type { ExchangeParams } from '../exchange/types.js'
import type { SecretStore } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { DEFAULT_MIN_TTL } from './settings.js'

/** What the cache half needs from outside. */
export interface CacheDeps {
  env: Env
  home: string
  uid: number | undefined
  clock: Clock
  /** The OS keychain; only asked when the mode needs it. */
  secrets: SecretStore
  /** Shared-memory directory for the file cache when XDG_RUNTIME_DIR is unset; default `/dev/shm`. */
  shmDir?: string
  lock?: EntryLockOptions
}

export interface OpenedCache {
  cache: TokenCache
  /** Where the cache degraded (src/cache/select.ts): each is one warning line. */
  notices: Notice[]
}

/** The cache of a mode, checked (private directory, keychain answering when required). */
export async function openTokenCache(mode: CacheMode, deps: CacheDeps): Promise<OpenedCache> {
  const { cache, notices } = await selectCache({
    mode,
    env: deps.env,
    home: deps.home,
    uid: deps.uid,
    clock: deps.clock,
    secrets: deps.secrets,
    ...(deps.shmDir === undefined ? {} : { shmDir: deps.shmDir }),
    ...(deps.lock === undefined ? {} : { lock: deps.lock }),
  })
  return { cache, notices }
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
  return { result: { ...hit.entry.token, cached: true, cache: hit.entry.meta.backend, notices }, notices }
}
