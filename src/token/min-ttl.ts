// The minimum remaining lifetime a cached token is served with (`min-ttl`) is capped at half the
// token's lifetime (src/cache/with-cache.ts isServable), or a token living less than the minimum
// would never be served from the cache. When a caller's own minimum was capped, they hear it.
import type { CachedTokenResult } from '../cache/with-cache.js'
import type { Notice } from '../errors.js'
import { formatDuration } from '../time/duration.js'

/**
 * A notice when the token served (cached or just minted) has less life left than the `minTtl`
 * the caller asked for, because the cap applied; undefined when it has enough, or when no
 * minimum was asked for (the default is capped silently: it asks nothing of a short token).
 */
export function minTtlNotice(result: CachedTokenResult, minTtl: number | undefined, now: Date): Notice | undefined {
  if (minTtl === undefined) return undefined
  const left = Math.floor((result.expiresAt.getTime() - now.getTime()) / 1000)
  if (left >= minTtl) return undefined
  const cap = Math.floor(result.expiresIn / 2)
  const asked = formatDuration(minTtl)
  const message = result.cached
    ? `the cached token has ${formatDuration(left)} left, less than the ${asked} asked for: the minimum was capped to half the token's ${formatDuration(result.expiresIn)} lifetime (${formatDuration(cap)})`
    : `the token lives ${formatDuration(result.expiresIn)}, less than the minimum of ${asked} left asked for: the minimum was capped to half its lifetime (${formatDuration(cap)})`
  return {
    kind: 'min-ttl-capped',
    message,
    advice: ['ask for at most ', { option: 'min-ttl', value: formatDuration(cap) }, ', or for a longer-lived token with ', { setting: 'ttl' }],
  }
}
