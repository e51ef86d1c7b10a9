import { FileError, KeychainError, type Notice } from '../errors.js'
import type { SecretStore } from '../secrets/store.js'
import type { BackendName, EntryMeta, SecretBackend } from './entry.js'

/**
 * Where a cache keeps token secrets and what a failing store means: the `--cache` modes, each
 * composed from the stores it uses (aws-vault's shape: the cache decorates a provider, and the
 * policy decides which store serves).
 */
export interface SecretPolicy {
  /** The backend new entries go to. */
  readonly backend: SecretBackend
  /** Whether an entry whose secret is in `backend` may be served. */
  serves(backend: SecretBackend): boolean
  /** The secret of an entry; a store that fails is either an error or a miss with a notice. */
  read(meta: EntryMeta): Promise<{ secret: string | undefined; notice?: Notice }>
  /** Stores a fresh secret; says where it went (`none`: not cached, with a notice). Never throws for a store that fails. */
  write(key: string, secret: string): Promise<{ backend: BackendName; notice?: Notice }>
}

function notCached(error: FileError | KeychainError): { backend: 'none'; notice: Notice } {
  return {
    backend: 'none',
    notice: { kind: 'not-cached', message: `${error.message}; the token was not cached`, ...(error.advice === undefined ? {} : { advice: error.advice }) },
  }
}

/** Rethrows anything but the store failures a cache may survive. */
function storeFailure(error: unknown): FileError | KeychainError {
  if (error instanceof FileError || error instanceof KeychainError) return error
  throw error
}

/**
 * One store and nothing else: `--cache file` (0600 files in the private directory) or
 * `--cache keychain` (the OS keychain, required). A store that fails on read is an error (a
 * keychain's exits 8); one that fails on write leaves the minted token uncached, with a notice:
 * a token the server has already minted (and audited) is never lost over a cache failure.
 */
function singleStorePolicy(backend: SecretBackend, store: SecretStore, noteOnWrite?: () => Promise<Notice | undefined>): SecretPolicy {
  return {
    backend,
    serves: (entryBackend) => entryBackend === backend,
    read: async (meta) => ({ secret: await store.get(meta.key) }),
    async write(key, secret) {
      try {
        await store.set(key, secret)
      } catch (error) {
        return notCached(storeFailure(error))
      }
      const notice = await noteOnWrite?.()
      return notice === undefined ? { backend } : { backend, notice }
    },
  }
}

/** `noteOnWrite`: a notice a stored token may carry (`auto` without a keychain: once a day, src/cache/select.ts). */
export const filePolicy = (file: SecretStore, noteOnWrite?: () => Promise<Notice | undefined>): SecretPolicy => singleStorePolicy('file', file, noteOnWrite)
export const keychainPolicy = (keychain: SecretStore): SecretPolicy => singleStorePolicy('keychain', keychain)

/**
 * `--cache auto` with a keychain that answered: new secrets go to the keychain, entries of both
 * stores are served, and a keychain that fails later in the run degrades to the file store (a
 * read failure is a miss with a notice, never a delete).
 */
export function autoPolicy(keychain: SecretStore, file: SecretStore & { readonly dir: string }): SecretPolicy {
  return {
    backend: 'keychain',
    serves: () => true,
    async read(meta) {
      if (meta.backend === 'file') return { secret: await file.get(meta.key) }
      try {
        return { secret: await keychain.get(meta.key) }
      } catch (error) {
        if (!(error instanceof KeychainError)) throw error
        return { secret: undefined, notice: { kind: 'keychain-unreadable', message: `${error.message}; not using the cached token` } }
      }
    },
    async write(key, secret) {
      let fallback: Notice
      try {
        await keychain.set(key, secret)
        return { backend: 'keychain' }
      } catch (error) {
        if (!(error instanceof KeychainError)) throw error
        fallback = { kind: 'keychain-fallback', message: `${error.message}; caching the token in ${file.dir} instead` }
      }
      try {
        await file.set(key, secret)
        return { backend: 'file', notice: fallback }
      } catch (error) {
        return notCached(storeFailure(error))
      }
    },
  }
}
