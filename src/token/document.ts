import type { CachedTokenResult } from '../cache/with-cache.js'

/**
 * The fields of `bktx token --json` (and the library's JSON view of a token), with what each
 * means. `bktx help token` and docs/reference/json.md list them from this table, and the
 * document's type is built from it, so a field added to one and not the other fails tsc.
 */
export const TOKEN_FIELDS = {
  token: 'the Buildkite API access token',
  token_type: 'the token type the endpoint gave (Bearer)',
  expires_at: 'when the token expires (ISO 8601, UTC)',
  scopes: 'the scopes granted (may be fewer than requested)',
  cached: 'true when the token came from the cache, false after a fresh exchange',
  cache: 'where the token is kept: keychain, file or none',
  requested_scopes: 'the scopes that were asked for (empty: the application default)',
  requested_ttl: 'the lifetime asked for, in seconds, or null for the application default',
  expires_in: "the lifetime the endpoint granted, in seconds (the exchange answer's expires_in; expires_at says when it ends)",
} as const

export type TokenDocument = { [K in keyof typeof TOKEN_FIELDS]: unknown }

/** `bktx token --json` (and the library's JSON view of a token): stable field names. */
export function tokenDocument(result: CachedTokenResult): TokenDocument {
  return {
    token: result.accessToken,
    token_type: result.tokenType,
    expires_at: result.expiresAt.toISOString(),
    scopes: result.scopes,
    cached: result.cached,
    cache: result.cache,
    // What was asked, so a narrower grant (fewer scopes, a shorter life) can be seen.
    requested_scopes: result.requested.scopes,
    requested_ttl: result.requested.ttl,
    expires_in: result.expiresIn,
  }
}
