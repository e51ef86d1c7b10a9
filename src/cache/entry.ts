import { sha256Hex } from '../hash/sha256.js'
import { MAX_TOKEN_LIFETIME, type ExchangeParams, type SubjectType, type TokenResult } from '../exchange/types.js'

/** A backend that holds token secrets. */
export type SecretBackend = 'keychain' | 'file'
/** The backend a cache uses, `none` included. */
export type BackendName = SecretBackend | 'none'

/**
 * The non-secret half of a cache entry, stored as `<key>.json` in the cache directory so that
 * listing, expiry checks and misses never touch the keychain. It holds no part of the token
 * beyond its last four characters (aws-vault's rule) and a SHA-256 that ties it to its secret.
 */
export interface EntryMeta {
  v: 1
  key: string
  /** Where the secret is. */
  backend: SecretBackend
  tokenUrl: string
  org: string
  clientId: string
  keyFingerprint: string
  subject: string
  subjectType: SubjectType
  /** Requested scopes (part of the key). */
  requestedScopes: string[]
  /** Requested TTL in seconds, or null for the app's maximum (part of the key). */
  requestedTtl: number | null
  /** Granted scopes, sorted and unique. */
  scopes: string[]
  tokenType: 'Bearer'
  issuedTokenType: string | null
  /** `expires_in` in seconds, as the server said but at most MAX_TOKEN_LIFETIME (docs/token-exchange.md §4). */
  expiresIn: number
  /** ISO 8601: the injected clock when the response arrived. */
  receivedAt: string
  /** ISO 8601: receivedAt + expiresIn (docs/token-exchange.md §4); written for readers, recomputed on load. */
  expiresAt: string
  /** The token's last four characters, for telling entries apart; absent for short tokens. */
  tokenHint: string | null
  /** SHA-256 (hex) of the token: a torn write or a foreign secret reads as a miss. */
  tokenSha256: string
  /** The `kid` of the signing key (shown by `bktx cache list`; the fingerprint is what keys the entry). Absent in entries of older versions. */
  kid?: string | null
  /** The profile the token was minted for, when known (shown only: the cache key holds the settings, not their source). */
  profile?: string | null
}

/** A cache entry whose secret was read and matched its metadata. */
export interface CachedToken {
  meta: EntryMeta
  token: TokenResult
}

// The hint is only shown when the token is long enough that four characters say nothing.
const HINT_MIN_LENGTH = 20

export function tokenDigest(token: string): string {
  return sha256Hex(token)
}

export function buildMeta(key: string, backend: SecretBackend, params: ExchangeParams, token: TokenResult, profile?: string): EntryMeta {
  return {
    v: 1,
    key,
    backend,
    tokenUrl: params.tokenUrl,
    org: params.org,
    clientId: params.clientId,
    keyFingerprint: params.key.fingerprint,
    subject: params.subject,
    subjectType: params.subjectType,
    requestedScopes: [...new Set(params.scopes)].sort(),
    requestedTtl: params.ttl ?? null,
    scopes: [...token.scopes],
    tokenType: token.tokenType,
    issuedTokenType: token.issuedTokenType ?? null,
    expiresIn: token.expiresIn,
    receivedAt: token.receivedAt.toISOString(),
    expiresAt: new Date(token.receivedAt.getTime() + token.expiresIn * 1000).toISOString(),
    tokenHint: token.accessToken.length >= HINT_MIN_LENGTH ? token.accessToken.slice(-4) : null,
    tokenSha256: tokenDigest(token.accessToken),
    kid: params.key.kid ?? null,
    profile: profile ?? null,
  }
}

/** True when `meta` was written for exactly these exchange inputs (the key is only a hash). */
export function metaMatches(meta: EntryMeta, params: ExchangeParams): boolean {
  const scopes = [...new Set(params.scopes)].sort()
  return (
    meta.tokenUrl === params.tokenUrl &&
    meta.org === params.org &&
    meta.clientId === params.clientId &&
    meta.keyFingerprint === params.key.fingerprint &&
    meta.subject === params.subject &&
    meta.subjectType === params.subjectType &&
    meta.requestedTtl === (params.ttl ?? null) &&
    meta.requestedScopes.length === scopes.length &&
    meta.requestedScopes.every((s, i) => s === scopes[i])
  )
}

/**
 * The lifetime of an entry in seconds: its `expires_in`, at most MAX_TOKEN_LIFETIME. The
 * exchange caps it already; this covers entries written before it did, or planted.
 */
export function entryLifetime(meta: Pick<EntryMeta, 'expiresIn'>): number {
  return Math.min(meta.expiresIn, MAX_TOKEN_LIFETIME)
}

/** The token a cache entry holds, with expiry recomputed from receipt time and `expires_in`. */
export function tokenFromEntry(meta: EntryMeta, accessToken: string): TokenResult {
  const receivedAt = new Date(meta.receivedAt)
  const lifetime = entryLifetime(meta)
  return {
    accessToken,
    tokenType: meta.tokenType,
    issuedTokenType: meta.issuedTokenType ?? undefined,
    expiresIn: lifetime,
    scopes: [...meta.scopes],
    receivedAt,
    expiresAt: new Date(receivedAt.getTime() + lifetime * 1000),
  }
}

/**
 * Parses metadata text strictly. Anything unexpected (not JSON, a missing or mistyped field,
 * another version, a key that is not the file's) gives undefined: a corrupt entry is a miss.
 */
export function parseMeta(text: string, expectedKey: string): EntryMeta | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const m = value as Record<string, unknown>
  const str = (k: string): boolean => typeof m[k] === 'string'
  const strList = (k: string): boolean => Array.isArray(m[k]) && (m[k] as unknown[]).every((s) => typeof s === 'string')
  const ok =
    m['v'] === 1 &&
    m['key'] === expectedKey &&
    (m['backend'] === 'keychain' || m['backend'] === 'file') &&
    ['tokenUrl', 'org', 'clientId', 'keyFingerprint', 'subject', 'receivedAt', 'expiresAt', 'tokenSha256'].every(str) &&
    (m['subjectType'] === 'email' || m['subjectType'] === 'uuid') &&
    strList('requestedScopes') &&
    strList('scopes') &&
    (m['requestedTtl'] === null || (Number.isSafeInteger(m['requestedTtl']) && (m['requestedTtl'] as number) > 0)) &&
    m['tokenType'] === 'Bearer' &&
    (m['issuedTokenType'] === null || str('issuedTokenType')) &&
    Number.isSafeInteger(m['expiresIn']) &&
    (m['expiresIn'] as number) > 0 &&
    (m['tokenHint'] === null || (str('tokenHint') && (m['tokenHint'] as string).length <= 4)) &&
    /^[0-9a-f]{64}$/.test(m['tokenSha256'] as string) &&
    (m['kid'] === undefined || m['kid'] === null || str('kid')) &&
    (m['profile'] === undefined || m['profile'] === null || str('profile')) &&
    Number.isFinite(Date.parse(m['receivedAt'] as string))
  return ok ? (value as EntryMeta) : undefined
}
