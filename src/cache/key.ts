import { sha256Hex } from '../hash/sha256.js'
import type { ExchangeParams } from '../exchange/types.js'

/**
 * The cache key of an exchange: SHA-256 over every input that changes the token (aws-vault's
 * rule), as canonical JSON: token URL, organisation, client ID, the signing key's fingerprint
 * (a new key means a new client identity), subject type and value, the scope set (sorted,
 * unique: scopes compare as sets, docs/token-exchange.md §4) and the requested TTL. 32 hex characters
 * (128 bits): a file name and a keychain account name, and not a secret.
 * The assertion's audience is left out on purpose: it changes whether the token endpoint accepts
 * the assertion, not the token it mints (org, subject, scopes and lifetime are all keyed above).
 */
export function cacheKey(params: ExchangeParams): string {
  const canonical = JSON.stringify([
    'bktx-cache-v1',
    params.tokenUrl,
    params.org,
    params.clientId,
    params.key.fingerprint,
    params.subjectType,
    params.subject,
    [...new Set(params.scopes)].sort(),
    params.ttl ?? null,
  ])
  return sha256Hex(canonical).slice(0, 32)
}

/** True for a string that {@link cacheKey} can return; guards file names built from keys. */
export function isCacheKey(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value)
}
