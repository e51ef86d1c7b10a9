// The parts of obtaining a token that the start-up fast path (src/fast/token.ts) shares with
// the full CLI. Nothing here may import commander, chalk, jose or undici.
import { required, type ResolvedSettings } from '../config/resolve.js'
import { normaliseScopes, type SettingName } from '../config/settings.js'
import type { CacheMode } from '../cache/select.js'
import type { CachedTokenResult } from '../cache/with-cache.js'
import type { Env } from '../deps.js'
import { UsageError } from '../errors.js'
import type { ExchangeParams, SubjectType } from '../exchange/types.js'
import { loadAssertionKey } from '../exchange/key.js'

/** The settings every token-using command resolves. */
export const TOKEN_SETTINGS: readonly SettingName[] = ['token-url', 'client-id', 'key', 'kid', 'org', 'subject', 'subject-type', 'scope', 'ttl']

/**
 * The non-setting flags of token-using commands and whether each takes a value. The commander
 * definition (token-source.ts) and the fast path's parser both follow this table; a test checks
 * that they agree.
 */
export const TOKEN_FLAGS = {
  '--cache': 'value',
  '--no-cache': 'boolean',
  '--refresh': 'boolean',
  '--min-ttl': 'value',
  '--timeout': 'value',
  '--ca-file': 'value',
} as const

/** The global flags (src/cli/program.ts) and whether each takes a value. */
export const GLOBAL_FLAGS = {
  '--profile': 'value',
  '--config': 'value',
  '--json': 'boolean',
  '--verbose': 'boolean',
  '-v': 'boolean',
  '--no-color': 'boolean',
} as const

/** Every setting flag of the token commands, with its setting name. */
export const TOKEN_SETTING_FLAGS: ReadonlyMap<string, SettingName> = new Map(TOKEN_SETTINGS.map((name) => [`--${name}`, name]))

export const DEFAULT_MIN_TTL = 300
export const DEFAULT_TIMEOUT = 30

/** `--no-cache` > `--cache` > BKTX_CACHE > auto. */
export function cacheMode(flag: string | false | undefined, env: Env): CacheMode {
  if (flag === false) return 'none'
  const text = flag ?? env['BKTX_CACHE'] ?? 'auto'
  if (text === 'auto' || text === 'keychain' || text === 'file' || text === 'none') return text
  throw new UsageError(`${flag === undefined ? 'BKTX_CACHE' : '--cache'} must be auto, keychain, file or none, not "${text}"`)
}

/** The exchange parameters from resolved settings; loads the signing key (without jose). */
export async function exchangeParams(settings: ResolvedSettings): Promise<ExchangeParams> {
  const ttl = settings.ttl?.value
  return {
    tokenUrl: required(settings, 'token-url'),
    clientId: required(settings, 'client-id'),
    key: await loadAssertionKey(required(settings, 'key'), settings.kid?.value),
    org: required(settings, 'org'),
    subject: required(settings, 'subject'),
    subjectType: required(settings, 'subject-type') as SubjectType,
    scopes: normaliseScopes(settings.scope === undefined ? [] : [settings.scope.value]),
    ttl: ttl === undefined ? undefined : Number(ttl),
  }
}

/** `bktx token --json`. */
export function tokenDocument(result: CachedTokenResult): Record<string, unknown> {
  return {
    token: result.accessToken,
    token_type: result.tokenType,
    expires_at: result.expiresAt.toISOString(),
    scopes: result.scopes,
    cached: result.cached,
    cache: result.cache,
  }
}
