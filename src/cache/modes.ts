/** Where tokens are cached: `auto` (keychain, else files), `keychain`, `file` or `none`. */
export const CACHE_MODES = ['auto', 'keychain', 'file', 'none'] as const
export type CacheMode = (typeof CACHE_MODES)[number]
