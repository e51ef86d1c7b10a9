import type { CachedTokenResult } from '../cache/with-cache.js'

/** `bktx token --json` (and the library's JSON view of a token): stable field names. */
export function tokenDocument(result: CachedTokenResult): Record<string, unknown> {
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
