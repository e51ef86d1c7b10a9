// `import { getToken } from 'bktx'`: the library entry. Like src/bin.ts it is an entry point,
// so it builds the real dependencies (process.env, the system clock, the OS keychain, node:http)
// and hands them to the same token service the CLI runs.
import { homedir } from 'node:os'
import { loadSettings } from '../config/load.js'
import type { SettingName } from '../config/settings.js'
import { nodeFetch } from '../http/node-fetch.js'
import { lazyKeyringStore } from '../secrets/lazy.js'
import { processAlive } from '../term/alive.js'
import { describeNotice } from '../term/describe.js'
import { systemClock } from '../time/clock.js'
import { createTokenService } from '../token/service.js'
import { cacheModeOf, tokenParams } from '../token/settings.js'
import type { GetTokenOptions, PublicJWKS, SettingsSourceOptions, SignAssertionOptions, SignedAssertion, Token, TokenSettings } from './types.js'

export type * from './types.js'
export {
  adviceText,
  BktxError,
  isBktxError,
  type Advice,
  type AdvicePart,
  type ErrorCode,
  type ErrorDetail,
  type Notice,
} from '../errors.js'

declare const BKTX_VERSION: string | undefined
const VERSION = typeof BKTX_VERSION === 'string' ? BKTX_VERSION : '0.0.0-dev'

/** Options as setting values, the way the CLI's flags give them. */
function settingValues(options: TokenSettings & { cache?: string | undefined; audience?: string | undefined }): Partial<Record<SettingName, string>> {
  const out: Partial<Record<SettingName, string>> = {}
  const set = (name: SettingName, value: string | number | undefined) => {
    if (value !== undefined) out[name] = String(value)
  }
  set('token-url', options.tokenUrl)
  set('aud', options.audience)
  set('client-id', options.clientId)
  set('key', options.key)
  set('kid', options.kid)
  set('public-key', options.publicKey)
  set('pkcs11-module', options.pkcs11Module)
  set('pin-source', options.pinSource)
  set('org', options.org)
  set('subject', options.subject)
  set('subject-type', options.subjectType)
  if (options.scopes !== undefined) set('scope', options.scopes.join(' '))
  set('ttl', options.ttl)
  set('cache', options.cache)
  return out
}

async function settingsFor(options: SettingsSourceOptions, flags: Partial<Record<SettingName, string>>) {
  const env = options.env ?? process.env
  return loadSettings({ flags, env, home: homedir(), cwd: process.cwd(), profile: options.profile, config: options.config })
}

/**
 * A Buildkite API token: from the cache when it holds one with enough life left, else from a
 * fresh token exchange (RFC 8693) with a newly signed client assertion (RFC 7523), which is
 * then cached. The same service as `bktx token`, cache and single flight included.
 *
 * Rejects with a {@link BktxError}: its `code` says what kind of failure (see `bktx help
 * exit-codes`), `detail` which setting, and `advice` what to change.
 */
export async function getToken(options: GetTokenOptions = {}): Promise<Token> {
  const loaded = await settingsFor(options, settingValues(options))
  const env = options.env ?? process.env
  const uid = process.getuid?.()
  const params = await tokenParams(loaded.settings, { env, home: homedir(), uid, cwd: process.cwd() })
  const secrets = lazyKeyringStore({ env, uid, platform: process.platform, arch: process.arch })
  const service = createTokenService({ env, home: homedir(), uid, clock: systemClock, secrets, fetch: nodeFetch, userAgent: `bktx/${VERSION}`, lock: { process: { pid: process.pid, isAlive: processAlive } } })
  const { result } = await service.obtain(params, {
    cache: cacheModeOf(loaded.settings),
    ...(options.minTtl === undefined ? {} : { minTtl: options.minTtl }),
    refresh: options.refresh === true,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    caFile: options.caFile,
    signal: options.signal,
  })
  for (const notice of result.notices) options.onNotice?.(describeNotice(notice))
  return { token: result.accessToken, tokenType: result.tokenType, expiresAt: result.expiresAt, scopes: result.scopes, cached: result.cached, cache: result.cache }
}

/** A client assertion JWT exactly as Buildkite requires it (what `bktx sign` prints). */
export async function signClientAssertion(options: SignAssertionOptions = {}): Promise<SignedAssertion> {
  const { randomUUID } = await import('node:crypto')
  const { required } = await import('../config/resolve.js')
  const { keySettingsOf, openAssertionKey } = await import('../signers/open.js')
  const { buildAssertionClaims, DEFAULT_ASSERTION_LIFETIME } = await import('../assertion/claims.js')
  const { signAssertion } = await import('../assertion/sign.js')
  const { epochSeconds } = await import('../time/clock.js')
  const { settings } = await settingsFor(options, settingValues(options))
  const env = options.env ?? process.env
  const key = await openAssertionKey(keySettingsOf(settings), { env, home: homedir(), uid: process.getuid?.(), cwd: process.cwd() })
  const claims = buildAssertionClaims({
    clientId: required(settings, 'client-id'),
    audience: required(settings, 'aud'),
    now: epochSeconds(options.clock ?? systemClock),
    lifetime: options.lifetime ?? DEFAULT_ASSERTION_LIFETIME,
    jti: randomUUID(),
    ...(options.claims === undefined ? {} : { extra: options.claims }),
  })
  const signal = AbortSignal.timeout(options.timeoutMs ?? 30_000)
  const assertion = await signAssertion(claims, key, { signal })
  return { assertion, header: { alg: key.alg, typ: 'JWT', ...(key.kid === undefined ? {} : { kid: key.kid }) }, claims }
}

/**
 * The public JWKS of key files (PEM or JWK, private or public, or JWKS documents): what to
 * register with the token exchange application. No private member ever appears.
 */
export async function buildJWKS(keyFiles: readonly string[]): Promise<PublicJWKS> {
  const { loadKeyFile } = await import('../keys/load.js')
  const { buildJwks } = await import('../jwks/build.js')
  const keys = (await Promise.all(keyFiles.map((path) => loadKeyFile(path)))).flat()
  return buildJwks(keys) as PublicJWKS
}
