// What a token request is made of, from resolved settings (./request.ts resolves them). Shared
// by the token service, the CLI and the cache-hit fast path: nothing here may import commander,
// chalk, jose or undici.
import { required, type ResolvedSettings } from '../config/resolve.js'
import { normaliseScopes, type SettingName } from '../config/settings.js'
import type { CacheMode } from '../cache/modes.js'
import type { ExchangeParams, SubjectType } from '../exchange/types.js'
import { keySpecOf } from '../config/key-spec.js'
import type { KeySpec } from '../keys/open.js'
import type { AssertionKey } from '../keys/signer.js'

/** The settings every token request resolves. */
export const TOKEN_SETTINGS: readonly SettingName[] = [
  'token-url',
  'aud',
  'client-id',
  'key',
  'kid',
  'public-key',
  'pkcs11-module',
  'pin-source',
  'org',
  'subject',
  'subject-type',
  'scope',
  'ttl',
  'cache',
]

// Defined by the cache that applies it (src/cache/with-cache.ts); named here for the front ends.
export { DEFAULT_MIN_TTL } from '../cache/with-cache.js'
/** Bound on a whole exchange, retries included, in seconds. */
export const DEFAULT_TIMEOUT = 30

/**
 * The exchange parameters of resolved settings, with the signing key they name opened by
 * `openKey` (./request.ts). A missing setting is reported in this order: token-url, aud,
 * client-id, key, org, subject, subject-type.
 */
export async function exchangeParamsOf(settings: ResolvedSettings, openKey: (spec: KeySpec) => Promise<AssertionKey>): Promise<ExchangeParams> {
  const ttl = settings.ttl?.value
  return {
    tokenUrl: required(settings, 'token-url'),
    audience: required(settings, 'aud'),
    clientId: required(settings, 'client-id'),
    key: await openKey(keySpecOf(settings)),
    org: required(settings, 'org'),
    subject: required(settings, 'subject'),
    subjectType: required(settings, 'subject-type') as SubjectType,
    scopes: normaliseScopes(settings.scope === undefined ? [] : [settings.scope.value]),
    ttl: ttl === undefined ? undefined : Number(ttl),
  }
}

/** The cache mode of resolved settings (already validated by the settings table). */
export function cacheModeOf(settings: ResolvedSettings): CacheMode {
  return (settings.cache?.value ?? 'auto') as CacheMode
}
