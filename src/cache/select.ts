import type { Env } from '../deps.js'
import type { SecretStore } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { createNoCache, createTokenCache, type TokenCache } from './cache.js'
import { openPrivateDir, resolveCacheDir } from './dir.js'
import type { EntryLockOptions } from './lock.js'

export const CACHE_MODES = ['auto', 'keychain', 'file', 'none'] as const
export type CacheMode = (typeof CACHE_MODES)[number]

/** `--cache` / `BKTX_CACHE` values; undefined for anything else (the CLI raises the usage error). */
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
  /** One line for stderr when `auto` fell back from the keychain to the file backend. */
  note: string | undefined
}

/** True when the environment says it is CI (GitHub Actions, Buildkite, GitLab... set CI). */
export function isCI(env: Env): boolean {
  const value = env['CI']
  return value !== undefined && value !== '' && value !== 'false' && value !== '0'
}

/**
 * Chooses the cache backend for `--cache MODE`:
 * - `none`: no cache at all;
 * - `file`: tokens in files in the private cache directory;
 * - `keychain`: tokens in the OS keychain, required: one that does not answer unlocked is a
 *   KeychainError (exit 8) here, before any exchange; if it fails later in the run, reads
 *   fail the same way, and a write after an exchange leaves the token uncached with a note
 *   (a minted token is never thrown away);
 * - `auto`: the file backend when CI is set (CI runners have no unlocked keychain, and a job's
 *   runtime directory is private to it), else the keychain when it answers unlocked, else the
 *   file backend, with a note saying so. In auto, keychain failures later in the run degrade
 *   to the file backend too.
 * Metadata always lives in the private directory, which is checked here (CacheError if unsafe)
 * for every mode but `none`.
 */
export async function selectCache(options: SelectCacheOptions): Promise<CacheSelection> {
  if (options.mode === 'none') return { cache: createNoCache(), note: undefined }
  const dir = await resolveCacheDir(options)
  await openPrivateDir(dir, options.uid)
  const base = { dir, uid: options.uid, clock: options.clock, secrets: options.secrets, ...(options.lock ? { lock: options.lock } : {}) }
  switch (options.mode) {
    case 'file':
      return { cache: createTokenCache({ ...base, backend: 'file', readable: ['file'], fileFallback: false, strictKeychain: false }), note: undefined }
    case 'keychain': {
      // Required: a keychain that does not answer unlocked fails now, before any exchange.
      const status = await options.secrets.status()
      if (!status.ok) throw status.error
      return {
        cache: createTokenCache({ ...base, backend: 'keychain', readable: ['keychain'], fileFallback: false, strictKeychain: true }),
        note: undefined,
      }
    }
    case 'auto': {
      const fileCache = createTokenCache({ ...base, backend: 'file', readable: ['file'], fileFallback: false, strictKeychain: false })
      if (isCI(options.env)) return { cache: fileCache, note: undefined }
      const status = await options.secrets.status()
      if (!status.ok) {
        return { cache: fileCache, note: `${status.error.message}; using the file cache in ${dir}` }
      }
      return {
        cache: createTokenCache({ ...base, backend: 'keychain', readable: ['keychain', 'file'], fileFallback: true, strictKeychain: false }),
        note: undefined,
      }
    }
  }
}
