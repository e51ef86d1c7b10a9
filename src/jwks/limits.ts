// How a JWKS URI is fetched and cached (docs/token-exchange.md §1 and §9): the reference
// server's fetch (src/server/oauth/keysets.ts), `bktx jwks check` and key rotation share these.

/** A fetch gives up after this long. */
export const JWKS_FETCH_TIMEOUT_MS = 5_000
/** A larger document is refused. */
export const JWKS_MAX_BYTES = 100 * 1024
/** Buildkite caches a fetched JWKS for up to an hour: a new key is safe to sign with only after that. */
export const JWKS_CACHE_MAX_AGE_MS = 60 * 60 * 1000
