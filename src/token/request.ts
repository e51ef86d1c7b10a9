// The front half of the use case, once for every caller: setting values (the CLI's flags, the
// library's options, the fast path's scan) resolved against the environment and the profile,
// the signing key opened, the cache mode chosen. The token service (./service.ts) and the cache
// lookup (./lookup.ts) start here; their callers make one call and never resolve anything.
// Light on purpose: the cache-hit fast path runs it, so nothing here may import commander,
// chalk, jose or undici.
import { loadSettings } from '../config/load.js'
import type { ResolvedSettings } from '../config/resolve.js'
import type { SettingName } from '../config/settings.js'
import type { CacheMode } from '../cache/modes.js'
import type { ExchangeParams } from '../exchange/types.js'
import type { KeyDeps } from '../keys/open.js'
import { openKey } from '../keys/open.js'
import { keyIdentityStore } from '../cache/key-identities.js'
import { cacheModeOf, exchangeParamsOf } from './settings.js'

/** Setting values as a caller gives them (`--scope read_builds` is `{ scope: 'read_builds' }`). */
export type SettingValues = Partial<Record<SettingName, string>>

/** What a caller of the token service gives: values, and where the rest is looked up. */
export type { TokenHandover } from './handover.js'

export interface TokenInput {
  /** Values for this call; they win over BKTX_* variables and the profile. */
  settings?: SettingValues | undefined
  /** An explicit profile (--profile); else $BKTX_PROFILE, else "default". */
  profile?: string | undefined
  /**
   * An explicit configuration file (--config), relative to the working directory; else
   * $BKTX_CONFIG, else the XDG default; `false`: none (every setting is in `settings`).
   */
  config?: string | false | undefined
  /**
   * A request this process resolved already for the same input (the fast path's, handed to the
   * full CLI on a cache miss): used as it is instead of resolving again.
   */
  resolved?: TokenRequest | undefined
}

/** A resolved token request: what every use of a token starts from. */
export interface TokenRequest {
  /** Every setting with its source (flag, variable, profile, default). */
  settings: ResolvedSettings
  /** The profile named explicitly (flag or BKTX_PROFILE); undefined when "default" was implied. */
  explicitProfile: string | undefined
  /** The exchange parameters, the opened signing key among them (the cache key needs its fingerprint). */
  params: ExchangeParams
  /** The cache mode of the settings. */
  cache: CacheMode
}

/** What resolution needs from outside: the environment, the home and working directories, the uid (key records). */
export interface ResolveDeps extends KeyDeps {
  cwd: string
}

/** The settings of a call: its flags over the environment, the profile and the defaults. */
export function loadInputSettings(input: Pick<TokenInput, 'settings' | 'profile' | 'config'>, deps: ResolveDeps) {
  return loadSettings({
    flags: input.settings ?? {},
    env: deps.env,
    home: deps.home,
    cwd: deps.cwd,
    uid: deps.uid,
    profile: input.profile,
    config: input.config,
  })
}

/**
 * Resolves `input` into a token request: settings flag > environment > profile > default
 * (src/config/load.ts), then the signing key opened (without jose on the usual path, and
 * without loading a PKCS#11 module or running a signer: only signing does). `onSetting` hears
 * where each setting that is not a default came from (the CLI's --verbose lines).
 */
export async function resolveTokenRequest(input: TokenInput, deps: ResolveDeps, onSetting?: (name: string, source: string) => void): Promise<TokenRequest> {
  if (input.resolved !== undefined) return input.resolved
  const loaded = await loadInputSettings(input, deps)
  if (onSetting !== undefined) {
    for (const [name, found] of Object.entries(loaded.settings)) if (found.source !== 'default') onSetting(name, found.source)
  }
  const cache = cacheModeOf(loaded.settings)
  // With a cache, a key parsed by an earlier run is known by its text (src/keys/identity.ts):
  // a cache hit then never parses it. Without one, nothing is kept anywhere.
  const identities = cache === 'none' ? undefined : keyIdentityStore({ env: deps.env, home: deps.home, uid: deps.uid })
  const params = await exchangeParamsOf(loaded.settings, (spec) => openKey(spec, { ...deps, identities }))
  return { settings: loaded.settings, explicitProfile: loaded.explicitProfile, params, cache }
}
