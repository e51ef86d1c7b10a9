import type { Notice } from '../errors.js'
import type { ExchangeParams, Exchanger, TokenResult } from '../exchange/types.js'
import type { Clock } from '../time/clock.js'
import type { TokenCache } from './cache.js'
import { entryLifetime, metaMatches, type BackendName, type EntryMeta } from './entry.js'
import { cacheKey } from './key.js'

export interface WithCacheOptions {
  clock: Clock
  /**
   * Serve a cached token only when it has at least this many seconds left, capped at half
   * of its lifetime (so a 60 s token is served for its first 30 s). Default 300.
   */
  minTtl?: number
  /** Skip the cached token and mint a new one (which then replaces it). Default false. */
  refresh?: boolean
}

/** A token and where it came from. */
export interface CachedTokenResult extends TokenResult {
  /** True when served from the cache, false when just minted. */
  cached: boolean
  /** The backend that served or stored it; `none` when it is not cached. */
  cache: BackendName
  /** Set when the cache degraded (keychain failed, token not stored), or the grant was narrower than asked. */
  notices: Notice[]
  /** What was asked: scopes (empty: the app's defaults) and lifetime in seconds (null: the app's maximum). */
  requested: { scopes: string[]; ttl: number | null }
}

/** The `requested` member of a result for `params`. */
export function requestedOf(params: ExchangeParams): CachedTokenResult['requested'] {
  return { scopes: [...new Set(params.scopes)].sort(), ttl: params.ttl ?? null }
}

export type CachedExchanger = (params: ExchangeParams) => Promise<CachedTokenResult>

/** Serve a cached token only with at least this many seconds left (capped at half its lifetime). */
export const DEFAULT_MIN_TTL = 300

/**
 * True when `meta` may be served at `now`: written for these inputs, received in the past, and
 * with at least `min(minTtl, lifetime / 2)` seconds left. Expiry is receivedAt + expires_in (at most 86400 s),
 * never a server timestamp (docs/token-exchange.md §4). An entry "received" in the future (the clock was
 * set back) is not trusted.
 */
export function isServable(meta: EntryMeta, params: ExchangeParams, now: Date, minTtl: number): boolean {
  if (!metaMatches(meta, params)) return false
  const receivedAt = Date.parse(meta.receivedAt)
  const nowMs = now.getTime()
  if (!(receivedAt <= nowMs)) return false
  const lifetime = entryLifetime(meta)
  const remaining = (receivedAt + lifetime * 1000 - nowMs) / 1000
  return remaining > 0 && remaining >= Math.min(minTtl, lifetime / 2)
}

/**
 * Decorates an exchanger with the token cache (aws-vault's CachedSessionProvider). A hit costs
 * two small file reads (file backend) or one file read and one keychain get, and takes no
 * lock. A miss takes the entry's cross-process lock, reads again (another process may have
 * just minted it: N parallel cold callers make one exchange), and only then exchanges and
 * stores. With `refresh`, an entry minted by another process after this call began is
 * accepted, so parallel refreshes also make one exchange.
 */
export function withCache(exchanger: Exchanger, cache: TokenCache, options: WithCacheOptions): CachedExchanger {
  const minTtl = options.minTtl ?? DEFAULT_MIN_TTL
  return async (params) => {
    if (cache.backend === 'none') {
      return { ...(await exchanger(params)), cached: false, cache: 'none', notices: [], requested: requestedOf(params) }
    }
    const key = cacheKey(params)
    const notices: Notice[] = []
    const note = (notice: Notice | undefined) => {
      if (notice !== undefined && !notices.some((n) => n.message === notice.message)) notices.push(notice)
    }
    const started = options.clock.now()
    if (options.refresh !== true) {
      const hit = await cache.read(key, (meta) => isServable(meta, params, options.clock.now(), minTtl))
      note(hit.notice)
      if (hit.entry !== undefined) return { ...hit.entry.token, cached: true, cache: hit.entry.meta.backend, notices, requested: requestedOf(params) }
    }
    const servable = (meta: EntryMeta) =>
      isServable(meta, params, options.clock.now(), minTtl) && (options.refresh !== true || Date.parse(meta.receivedAt) > started.getTime())
    // While another process holds the lock, each poll looks for the token it stores: waiters
    // then read it together instead of taking the lock one after another.
    const served = async () => (await cache.read(key, servable)).entry !== undefined
    for (;;) {
      const release = await cache.lock(key, served)
      try {
        const again = await cache.read(key, servable)
        note(again.notice)
        if (again.entry !== undefined) return { ...again.entry.token, cached: true, cache: again.entry.meta.backend, notices, requested: requestedOf(params) }
        // Seen stored, gone on the read (replaced or cleared meanwhile): take the lock after all.
        if (release === undefined) continue
        const token = await exchanger(params)
        const stored = await cache.write(key, params, token)
        note(stored.notice)
        return { ...token, cached: false, cache: stored.backend, notices, requested: requestedOf(params) }
      } finally {
        await release?.()
      }
    }
  }
}
