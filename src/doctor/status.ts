// `bktx status`: where things stand, read-only and offline. Nothing here mints, prompts,
// creates or changes a file: the keychain is asked through its lock probe (a D-Bus property
// read, which never raises an unlock prompt), the cache through its metadata files, the key
// through the identity a token command remembered for its text (src/keys/identity.ts), else
// node:crypto (jose only for unusual key files and errors).
import { statSync } from 'node:fs'
import type { CacheListing } from '../cache/cache.js'
import { inspectPrivateDir, resolveCacheDir } from '../cache/dir.js'
import { readKeyIdentity } from '../cache/key-identities.js'
import { backendChoice, selectCache, type BackendChoice, type SelectCacheOptions } from '../cache/select.js'
import type { ResolvedSettings } from '../config/resolve.js'
import type { CacheMode } from '../config/settings.js'
import { ConfigError, type CacheError } from '../errors.js'
import type { SigningKeyDescription } from '../keys/describe.js'
import { describeConfiguredKey } from '../keys/describe-source.js'
import type { KeyDeps } from '../keys/open.js'
import { keySpecOf } from '../config/key-spec.js'
import { loadRotations, rotationStatePath, type Rotation } from '../rotation/state.js'
import type { StoreStatus } from '../secrets/store.js'

export interface StatusInput {
  /** The configuration file in use (it may not exist). */
  configPath: string
  /** The profile in use, and whether it was named (flag or BKTX_PROFILE) rather than implied. */
  profile: string
  explicitProfile: boolean
  /** Every setting resolved flag > env > profile > default (src/config/load.ts). */
  settings: ResolvedSettings
}

/**
 * What the cache selection needs (of the keychain, only `status()` is called, which never
 * prompts), and the binding seam of the key description.
 */
export type StatusDeps = Omit<SelectCacheOptions, 'mode' | 'lock'> & Pick<KeyDeps, 'pkcs11Binding'>

/**
 * The keychain as far as it can be told without prompting: `available` (it answers unlocked,
 * or the platform has no lock probe), `locked`, `absent` (no binding, no D-Bus session, no
 * Secret Service, no default keyring), `not-answering` (the probe timed out), or `unavailable`
 * for any other refusal; `detail` is the reason in words.
 */
export interface KeychainState {
  state: 'available' | 'locked' | 'absent' | 'not-answering' | 'unavailable'
  detail: string | undefined
}

export interface CacheStatus extends BackendChoice {
  mode: CacheMode
  /** The private directory of metadata (and file-backend tokens). */
  dir: string
  /** `absent` until the first token is cached; a CacheError when it is unsafe (token commands refuse it). */
  dirState: 'absent' | 'ok' | CacheError
  keychain: KeychainState
}

/** A cached token of this profile, from its metadata (the token itself is never read). */
export interface ProfileToken extends CacheListing {
  /**
   * Minted with the profile's current signing key. False for tokens of another key (before a
   * rotation): they stay valid until they expire but are no longer served, since the cache key
   * includes the signing key. Undefined when the current key does not load.
   */
  currentKey: boolean | undefined
}

export interface StatusReport {
  config: { path: string; exists: boolean }
  profile: { name: string; explicit: boolean }
  settings: ResolvedSettings
  /** Undefined when no key is set. */
  key: SigningKeyDescription | undefined
  cache: CacheStatus
  /**
   * This profile's cached tokens: entries whose token URL, client ID, org, subject and subject
   * type are the profile's, whatever their scopes and TTL. `undefined` when that cannot be told
   * (client-id, org or subject unset, or the cache directory unsafe).
   */
  tokens: ProfileToken[] | undefined
  /** The profile's pending key rotation (`bktx key rotate`); a ConfigError when its state file is unreadable. */
  rotation: Rotation | ConfigError | undefined
}

/** Collects the status of a profile. Never throws for what it reports on (key, keychain, cache directory). */
export async function collectStatus(input: StatusInput, deps: StatusDeps): Promise<StatusReport> {
  const { settings } = input
  const keyPath = settings.key?.value
  const dir = await resolveCacheDir({ env: deps.env, home: deps.home, uid: deps.uid, ...(deps.shmDir === undefined ? {} : { shmDir: deps.shmDir }) })
  const dirState = inspectPrivateDir(dir, deps.uid)
  // A key file a token command parsed before is described from the identity it remembered in
  // the cache directory (src/keys/identity.ts), read only when that directory is private, as
  // the token commands require of it: status then loads no node:crypto (issue 23).
  const identities = dirState === 'ok' ? { get: (digest: string) => readKeyIdentity(dir, digest, deps.uid) } : undefined
  const [key, keychain] = await Promise.all([
    keyPath === undefined ? undefined : describeConfiguredKey(keySpecOf(settings), deps, identities),
    deps.secrets.status(),
  ])
  const mode = (settings.cache?.value ?? 'auto') as CacheMode
  const cache: CacheStatus = { mode, ...backendChoice(mode, deps.env, keychain), dir, dirState, keychain: keychainState(keychain) }
  return {
    config: { path: input.configPath, exists: exists(input.configPath) },
    profile: { name: input.profile, explicit: input.explicitProfile },
    settings,
    key,
    cache,
    tokens: await profileTokens(settings, key, cache, deps),
    rotation: pendingRotation(input.configPath, input.profile, deps.uid),
  }
}

function pendingRotation(configPath: string, profile: string, uid: number | undefined): Rotation | ConfigError | undefined {
  try {
    return loadRotations(rotationStatePath(configPath), uid).rotations[profile]
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
}

function exists(path: string): boolean {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

/** The keychain's status in the words of {@link KeychainState}, from the reasons src/secrets/keyring.ts gives. */
export function keychainState(status: StoreStatus): KeychainState {
  if (status.ok) return { state: 'available', detail: undefined }
  const detail = status.error.message
  switch (status.error.detail.reason) {
    case 'locked':
      return { state: 'locked', detail }
    case 'timeout':
      return { state: 'not-answering', detail }
    case 'no-binding':
    case 'no-bus':
    case 'no-service':
    case 'no-collection':
      return { state: 'absent', detail }
    default:
      return { state: 'unavailable', detail }
  }
}

async function profileTokens(
  settings: ResolvedSettings,
  key: SigningKeyDescription | undefined,
  cache: CacheStatus,
  deps: StatusDeps,
): Promise<ProfileToken[] | undefined> {
  const clientId = settings['client-id']?.value
  const org = settings.org?.value
  const subject = settings.subject?.value
  if (clientId === undefined || org === undefined || subject === undefined) return undefined
  if (cache.dirState === 'absent') return []
  if (cache.dirState !== 'ok') return undefined
  // The file mode reads every backend's metadata and touches no keychain (as `bktx cache list`).
  const { cache: files } = await selectCache({
    mode: 'file',
    env: deps.env,
    home: deps.home,
    uid: deps.uid,
    clock: deps.clock,
    secrets: deps.secrets,
    ...(deps.shmDir === undefined ? {} : { shmDir: deps.shmDir }),
  })
  const fingerprint = key?.loads === true ? key.fingerprint : undefined
  return (await files.list())
    .filter(
      (e) =>
        e.tokenUrl === settings['token-url']?.value &&
        e.clientId === clientId &&
        e.org === org &&
        e.subject === subject &&
        e.subjectType === (settings['subject-type']?.value ?? 'email'),
    )
    .map((e) => ({ ...e, currentKey: fingerprint === undefined ? undefined : e.keyFingerprint === fingerprint }))
}
