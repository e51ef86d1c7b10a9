import type { Env } from '../deps.js'
import type { SecretStore, StoreStatus } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { CACHE_MODES, type CacheMode } from './modes.js'
import type { Advice, Notice } from '../errors.js'
import { createNoCache, createTokenCache, type TokenCache } from './cache.js'
import { FileSecretStore } from './file-store.js'
import { createMetadataStore } from './metadata.js'
import { autoPolicy, filePolicy, keychainPolicy, type SecretPolicy } from './policy.js'
import { openCacheDir } from './dir.js'
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
}

export interface CacheSelection {
  cache: TokenCache
  /** Where the cache degraded: the shared-memory directory passed over, `auto` falling back from the keychain to files. */
  notices: Notice[]
}

/** True when the environment says it is CI (GitHub Actions, Buildkite, GitLab... set CI). */
export function isCI(env: Env): boolean {
  const value = env['CI']
  return value !== undefined && value !== '' && value !== 'false' && value !== '0'
}

/**
 * Composes the cache for a mode:
 * - `none`: no cache at all;
 * - `file`: tokens in files in the private cache directory;
 * - `keychain`: tokens in the OS keychain, required: one that does not answer unlocked is a
 *   KeychainError (exit 8) here, before any exchange; if it fails later in the run, reads
 *   fail the same way, and a write after an exchange leaves the token uncached with a notice
 *   (a minted token is never thrown away);
 * - `auto`: the file backend when CI is set (CI runners have no unlocked keychain, and a job's
 *   runtime directory is private to it), else the keychain when it answers unlocked, else the
 *   file backend, with a notice saying so. In auto, keychain failures later in the run degrade
 *   to the file backend too.
 * Metadata always lives in the private directory, which is checked here (CacheError if unsafe)
 * for every mode but `none`. Every mode but `none` can clear keychain items it finds.
 */
export async function selectCache(options: SelectCacheOptions): Promise<CacheSelection> {
  if (options.mode === 'none') return { cache: createNoCache(), notices: [] }
  const { file, keychain, compose, notices } = await openStores(options)
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
      if (isCI(options.env)) return { cache: compose(filePolicy(file)), notices }
      const status = await keychain.status()
      if (!status.ok) {
        return {
          cache: compose(filePolicy(file)),
          notices: [
            ...notices,
            { kind: 'keychain-fallback', message: `${status.error.message}; using the file cache in ${file.dir}`, advice: KEEP_FILE_CACHE },
          ],
        }
      }
      return { cache: compose(autoPolicy(keychain, file)), notices }
    }
  }
}

/**
 * A cache that reads every entry, whichever backend holds its secret: for `bktx logout` (and
 * `--all`), which must revoke keychain and file tokens alike. The keychain is asked only when an
 * entry's secret is there: with file entries alone (CI, `--cache file`, no keychain on the host)
 * nothing is probed and nothing is said. Otherwise it is used when it answers unlocked (CI or
 * not); when it does not, only file entries can be read, with a notice saying so.
 */
export async function selectEveryEntry(options: Omit<SelectCacheOptions, 'mode'>): Promise<CacheSelection> {
  const { file, keychain, compose, notices } = await openStores(options)
  const files = compose(filePolicy(file))
  if (!(await files.list()).some((entry) => entry.backend === 'keychain')) return { cache: files, notices }
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
 * notice, src/cache/dir.ts), its stores, and a cache composer over them.
 */
async function openStores(options: Omit<SelectCacheOptions, 'mode'>) {
  const { dir, notice } = await openCacheDir(options)
  const file = new FileSecretStore({ dir, uid: options.uid })
  const keychain = options.secrets
  const compose = (policy: SecretPolicy) =>
    createTokenCache({ metadata: createMetadataStore({ dir, uid: options.uid }), policy, file, keychain, clock: options.clock, lock: options.lock })
  return { file, keychain, compose, notices: notice === undefined ? [] : [notice] }
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
    case 'auto':
      if (isCI(env)) return { backend: 'file', reason: 'CI is set: CI runners have no unlocked keychain', usable: true }
      if (keychain?.ok === false) return { backend: 'file', reason: 'the keychain is not available', usable: true }
      return { backend: 'keychain', reason: 'the keychain is available', usable: true }
  }
}

/** How to make the file cache the choice, so that the keychain is not tried (and noted) every run. */
const KEEP_FILE_CACHE: Advice = ['to make that your choice and stop trying the keychain (and this note), ', { set: 'cache', value: 'file' }]
