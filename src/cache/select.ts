import type { Env } from '../deps.js'
import type { SecretStore, StoreStatus } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { CACHE_MODES, type CacheMode } from './modes.js'
import { hostname } from 'node:os'
import { CacheError, type Advice, type KeychainError, type Notice } from '../errors.js'
import { createNoCache, createTokenCache, type TokenCache } from './cache.js'
import { FileSecretStore } from './file-store.js'
import { createMetadataStore } from './metadata.js'
import { autoPolicy, filePolicy, keychainPolicy, type SecretPolicy } from './policy.js'
import { openCacheDir } from './dir.js'
import { isCI, JOB_VARIABLES, jobIdentities } from './scope.js'
import { legacyKeychain, scopedKeychain } from './scoped-keychain.js'
import type { EntryLockOptions } from './lock.js'

export { CACHE_MODES, type CacheMode } from './modes.js'

/** A cache mode's name; undefined for anything else (the caller words the error). */
export function parseCacheMode(text: string): CacheMode | undefined {
  return (CACHE_MODES as readonly string[]).includes(text) ? (text as CacheMode) : undefined
}

export interface SelectCacheOptions {
  mode: CacheMode
  env: Env
  home: string
  uid: number | undefined
  clock: Clock
  /** The OS keychain (a KeyringSecretStore in production); only asked when the mode needs it. */
  secrets: SecretStore
  /** Default `/dev/shm`. */
  shmDir?: string
  lock?: EntryLockOptions
  /** The profile recorded in the metadata of tokens stored (`bktx cache list` shows it). */
  profile?: string | undefined
  /** This host's name, for the once-a-day notices (./once.ts). Default: the OS's. */
  host?: string
}

export interface CacheSelection {
  cache: TokenCache
  /** Where the cache degraded: the shared-memory directory passed over, `auto` falling back from the keychain to files. */
  notices: Notice[]
}

export { isCI } from './scope.js'

/**
 * Composes the cache for a mode. Every cache but `none` lives in its scope's directory
 * (./scope.ts: the home's, or the CI job's), entry locks included.
 * - `none`: no cache at all;
 * - `file`: tokens in files in the scope's private directory;
 * - `keychain`: tokens in the OS keychain, required: one that does not answer unlocked is a
 *   KeychainError (exit 8) here, before any exchange; if it fails later in the run, reads
 *   fail the same way, and a write after an exchange leaves the token uncached with a notice
 *   (a minted token is never thrown away). Items are named by scope (./scoped-keychain.ts);
 * - `auto`:
 *   - in an identified CI job: the file backend in the job's directory, and the keychain is
 *     neither asked nor used. A keychain is one per user, shared by every job the user runs,
 *     and CI runners have none unlocked; files in the job's directory are the job's by
 *     construction;
 *   - with CI set and no job identified: no cache, with one notice. Two jobs of one host would
 *     otherwise share tokens (and one's logout revoke the other's), and bktx cannot tell them
 *     apart; choosing `file` explicitly caches per home;
 *   - else the keychain when it answers unlocked, else the file backend, noted once a day per
 *     host (./once.ts) when a token is stored. In auto, keychain failures later in the run
 *     degrade to the file backend too;
 *   - when no cache directory can be made (a read-only HOME, no writable runtime directory or
 *     /dev/shm): no cache, with one notice; the token is minted all the same.
 * Metadata always lives in the private directory, which is checked here (CacheError if unsafe,
 * or if it cannot be made and the mode is not `auto`) for every mode but `none`. Every mode but
 * `none` can clear keychain items of its scope.
 */
export async function selectCache(options: SelectCacheOptions): Promise<CacheSelection> {
  if (options.mode === 'none') return { cache: createNoCache(), notices: [] }
  const jobs = jobIdentities(options.env)
  if (options.mode === 'auto' && jobs.length === 0 && isCI(options.env)) return { cache: createNoCache(), notices: [CI_WITHOUT_JOB] }
  let stores
  try {
    stores = await openStores(options)
  } catch (error) {
    if (options.mode !== 'auto' || !(error instanceof CacheError) || error.detail.reason !== 'cannot-create') throw error
    return { cache: createNoCache(), notices: [{ kind: 'no-cache-dir', message: `${error.message}; the token is not cached`, advice: NO_CACHE_DIR }] }
  }
  const { file, keychain, compose, notices, dir } = stores
  switch (options.mode) {
    case 'file':
      return { cache: compose(filePolicy(file)), notices }
    case 'keychain': {
      // Required: a keychain that does not answer unlocked fails now, before any exchange.
      const status = await keychain.status()
      if (!status.ok) throw status.error
      return { cache: compose(keychainPolicy(keychain)), notices }
    }
    case 'auto': {
      if (jobs.length > 0 || isCI(options.env)) return { cache: compose(filePolicy(file)), notices }
      const status = await keychain.status()
      if (!status.ok) {
        // Said when a token is stored, not on every hit: the cache-hit fast path never prints it,
        // and a day's first mint is where it matters (the token goes to a file).
        const noteOnce = async (): Promise<Notice | undefined> => {
          const { dueToday } = await import('./once.js')
          const due = await dueToday({ dir, what: 'no-keychain', host: options.host ?? hostname(), uid: options.uid, clock: options.clock })
          return due ? keychainFallbackNotice(status.error, dir) : undefined
        }
        return { cache: compose(filePolicy(file, noteOnce)), notices }
      }
      return { cache: compose(autoPolicy(keychain, file)), notices }
    }
  }
}

/**
 * A cache that reads every entry of the scope, whichever backend holds its secret: for `bktx
 * logout` (and `--all`), which must revoke keychain and file tokens alike. The keychain is asked only
 * when the scope holds keychain entries; when it does not answer unlocked, only file entries can
 * be read, with a notice saying so (none when there is no keychain entry to miss).
 */
export async function selectEveryEntry(options: Omit<SelectCacheOptions, 'mode'>): Promise<CacheSelection> {
  let stores
  try {
    stores = await openStores(options)
  } catch (error) {
    // No cache directory can be made: nothing was cached, so there is nothing to log out.
    if (error instanceof CacheError && error.detail.reason === 'cannot-create') return { cache: createNoCache(), notices: [] }
    throw error
  }
  const { file, keychain, compose, notices, metadata } = stores
  let keychainEntries = false
  for (const key of await metadata.keys()) if ((await metadata.read(key))?.backend === 'keychain') keychainEntries = true
  const files = compose(filePolicy(file))
  if (!keychainEntries) return { cache: files, notices }
  const status = await keychain.status()
  if (!status.ok)
    return {
      cache: files,
      notices: [...notices, { kind: 'keychain-unavailable', message: `${status.error.message}; only tokens cached in files can be read` }],
    }
  return { cache: compose(autoPolicy(keychain, file)), notices }
}

/**
 * The private directory (checked; a squatted shared-memory candidate is passed over with a
 * notice, src/cache/dir.ts), the scope's stores, and a cache composer over them.
 */
async function openStores(options: Omit<SelectCacheOptions, 'mode'>) {
  const { dir, base, scope, notice } = await openCacheDir(options)
  const file = new FileSecretStore({ dir, uid: options.uid })
  const keychain = scopedKeychain(options.secrets, scope.name)
  const metadata = createMetadataStore({ dir, uid: options.uid })
  const compose = (policy: SecretPolicy) =>
    createTokenCache({
      metadata,
      policy,
      file,
      keychain,
      // Items named by the bare key are from before scopes: a home's `cache clear --all` removes them, a CI job's never.
      legacyKeychain: scope.kind === 'home' ? legacyKeychain(options.secrets) : undefined,
      clock: options.clock,
      lock: options.lock,
      scope: scope.name,
      base,
      uid: options.uid,
      profile: options.profile,
    })
  return { file, keychain, compose, metadata, dir, notices: notice === undefined ? [] : [notice] }
}

/** Which backend a mode stores new tokens in, and why: what `bktx status` explains. */
export interface BackendChoice {
  backend: 'keychain' | 'file' | 'none'
  /** Why, in words: `CI is set`, `the keychain is available`, the keychain's error. */
  reason: string
  /** False when token commands would fail: `keychain` required and not available. */
  usable: boolean
}

/**
 * The choice {@link selectCache} makes for `mode`, from the keychain's status (asked without
 * prompting) and the environment, without opening anything. Keep the two in step.
 */
export function backendChoice(mode: CacheMode, env: Env, keychain: StoreStatus | undefined): BackendChoice {
  switch (mode) {
    case 'none':
      return { backend: 'none', reason: 'caching is off', usable: true }
    case 'file':
      return { backend: 'file', reason: 'the cache setting asks for files', usable: true }
    case 'keychain':
      if (keychain?.ok === false) return { backend: 'keychain', reason: 'the cache setting requires the keychain, which is not available', usable: false }
      return { backend: 'keychain', reason: 'the cache setting asks for the keychain', usable: true }
    case 'auto': {
      const jobs = jobIdentities(env)
      if (jobs.length > 0)
        return {
          backend: 'file',
          reason: `a CI job is identified (${jobs.map((j) => JOB_VARIABLES[j.provider]).join(', ')}): files of this job only`,
          usable: true,
        }
      if (isCI(env)) return { backend: 'none', reason: CI_WITHOUT_JOB.message, usable: true }
      if (keychain?.ok === false) return { backend: 'file', reason: 'the keychain is not available (token commands say so once a day)', usable: true }
      return { backend: 'keychain', reason: 'the keychain is available', usable: true }
    }
  }
}

/** Short words for why the keychain is not used, from the reasons src/secrets/ gives. */
function keychainReason(error: KeychainError): string {
  switch (error.detail.reason) {
    case 'no-bus':
      return 'no D-Bus session'
    case 'no-service':
      return 'no Secret Service running'
    case 'no-collection':
      return 'no default keyring'
    case 'locked':
      return 'it is locked'
    case 'timeout':
      return 'it did not answer'
    case 'no-binding':
      return 'no keychain support on this platform'
    default:
      return 'it is not available'
  }
}

function keychainFallbackNotice(error: KeychainError, dir: string): Notice {
  return { kind: 'keychain-fallback', message: `no keychain (${keychainReason(error)}): caching tokens in ${dir} (said once a day)`, advice: KEEP_FILE_CACHE }
}

const CI_WITHOUT_JOB: Notice = {
  kind: 'ci-no-job',
  message: `CI is set but no job identity (${Object.values(JOB_VARIABLES).join(', ')}): not caching, so that jobs never share a token`,
  advice: ['to cache per home anyway, ', { set: 'cache', value: 'file' }],
}

const NO_CACHE_DIR: Advice = [
  'set XDG_RUNTIME_DIR or XDG_CACHE_HOME to a writable directory of yours to cache, or use ',
  { option: 'cache', value: 'none' },
  ' to not see this',
]

/** How to make the file cache the choice, so that the keychain is not tried (and noted). */
const KEEP_FILE_CACHE: Advice = ['to choose files and not see this, ', { set: 'cache', value: 'file' }]
