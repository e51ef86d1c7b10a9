import { KeychainError, type Notice } from '../errors.js'
import type { ExchangeParams, TokenResult } from '../exchange/types.js'
import type { SecretStore } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { isCacheKey } from './key.js'
import { buildMeta, tokenDigest, tokenFromEntry, type BackendName, type CachedToken, type EntryMeta, type SecretBackend } from './entry.js'
import type { FileSecretStore } from './file-store.js'
import type { EntryLockOptions, ReleaseLock } from './lock.js'
import type { MetadataStore } from './metadata.js'
import type { SecretPolicy } from './policy.js'

/** One entry as `bktx cache list` shows it: metadata only, no secret store is touched. */
export interface CacheListing {
  key: string
  backend: SecretBackend
  org: string
  subject: string
  subjectType: EntryMeta['subjectType']
  scopes: string[]
  tokenUrl: string
  clientId: string
  /** SHA-256 of the signing key's public key (SPKI DER), base64url: which key minted it. */
  keyFingerprint: string
  receivedAt: Date
  expiresAt: Date
  /** True when the token has expired by the cache's clock. */
  expired: boolean
  /** Last four characters of the token, when it is long enough to show them. */
  tokenHint: string | undefined
}

export interface ReadOutcome {
  entry: CachedToken | undefined
  /** Set when the read degraded (the keychain failed and it counts as a miss). */
  notice: Notice | undefined
}

export interface WriteOutcome {
  /** Where the secret went; `none` when it could not be stored (the token is still valid). */
  backend: BackendName
  notice: Notice | undefined
}

export interface ClearOutcome {
  /** Entries removed. */
  removed: number
  /** Set when keychain items could not be removed (locked, absent): the caller reports it. */
  keychainError: KeychainError | undefined
}

/** The token cache of one backend selection. `withCache` drives it; `bktx cache` lists and clears. */
export interface TokenCache {
  /** The backend new entries go to. */
  readonly backend: BackendName
  /** The private directory holding metadata (and file-backend tokens); undefined for `none`. */
  readonly dir: string | undefined
  /** The metadata of `key`; undefined when absent or unreadable. Never touches a secret store. */
  readMeta(key: string): Promise<EntryMeta | undefined>
  /**
   * Reads `key`. `accept` sees the metadata first, so an expired entry never costs a keychain
   * call. Corrupt or mismatched entries are misses; nothing is ever deleted on a failed read.
   */
  read(key: string, accept?: (meta: EntryMeta) => boolean): Promise<ReadOutcome>
  /** Stores a fresh token: the secret first, then the metadata that points to it. */
  write(key: string, params: ExchangeParams, token: TokenResult): Promise<WriteOutcome>
  /**
   * The cross-process lock of `key` (single flight). While another process holds it, `served`
   * is asked between polls; when it says yes the wait ends without the lock (undefined).
   */
  lock(key: string): Promise<ReleaseLock>
  lock(key: string, served: () => Promise<boolean>): Promise<ReleaseLock | undefined>
  list(): Promise<CacheListing[]>
  clear(key: string): Promise<ClearOutcome>
  clearAll(): Promise<ClearOutcome>
}

export interface TokenCacheParts {
  metadata: MetadataStore
  /** Which store serves and takes secrets. */
  policy: SecretPolicy
  /** The token files of the private directory: cleared in every mode. */
  file: FileSecretStore
  /** The OS keychain, when the mode may have items in it to clear. */
  keychain?: SecretStore | undefined
  clock: Clock
  lock?: EntryLockOptions | undefined
}

/** A cache composed of a metadata store, the secret stores, and the policy between them. */
export function createTokenCache(parts: TokenCacheParts): TokenCache {
  const { metadata, policy, file, keychain, clock } = parts

  async function keychainUsable(): Promise<KeychainError | undefined> {
    if (keychain === undefined) return new KeychainError('no keychain configured')
    const status = await keychain.status()
    return status.ok ? undefined : status.error
  }

  return {
    backend: policy.backend,
    dir: metadata.dir,
    readMeta: (key) => metadata.read(key),

    async read(key, accept) {
      const meta = await metadata.read(key)
      if (meta === undefined || !policy.serves(meta.backend)) return { entry: undefined, notice: undefined }
      if (accept !== undefined && !accept(meta)) return { entry: undefined, notice: undefined }
      const { secret, notice } = await policy.read(meta)
      // A missing secret, or one that is not the token the metadata describes (a torn write
      // seen between the two renames, or an item replaced behind bktx's back): a miss.
      if (secret === undefined || tokenDigest(secret) !== meta.tokenSha256) return { entry: undefined, notice }
      return { entry: { meta, token: tokenFromEntry(meta, secret) }, notice: undefined }
    },

    async write(key, params, token) {
      const stored = await policy.write(key, token.accessToken)
      if (stored.backend === 'none') return { backend: 'none', notice: stored.notice }
      try {
        await metadata.write(buildMeta(key, stored.backend, params, token))
      } catch (error) {
        const failure = error as Error
        // Never lose a token the server has already minted (and audited) over a cache failure.
        return { backend: 'none', notice: { kind: 'not-cached', message: `${failure.message}; the token was not cached` } }
      }
      // A token file this entry held before is now unreferenced. (A keychain item replaced by a
      // file is left alone: that only happens when the keychain just failed, and a failing
      // keychain is never asked to delete. The next keychain write or `clear --all` replaces it.)
      if (stored.backend === 'keychain') await file.delete(key)
      return { backend: stored.backend, notice: stored.notice }
    },

    lock: (async (key: string, served?: () => Promise<boolean>) => {
      // Loaded on a miss only: a hit never locks (the cache-hit bundle leaves ./lock.js out).
      const { lockEntry } = await import('./lock.js')
      return lockEntry(metadata.lockPaths(key).lock, { ...parts.lock, until: served })
    }) as TokenCache['lock'],

    async list() {
      const now = clock.now().getTime()
      const listing: CacheListing[] = []
      for (const key of await metadata.keys()) {
        const meta = await metadata.read(key)
        if (meta === undefined) continue
        const token = tokenFromEntry(meta, '')
        listing.push({
          key,
          backend: meta.backend,
          org: meta.org,
          subject: meta.subject,
          subjectType: meta.subjectType,
          scopes: meta.scopes,
          tokenUrl: meta.tokenUrl,
          clientId: meta.clientId,
          keyFingerprint: meta.keyFingerprint,
          receivedAt: token.receivedAt,
          expiresAt: token.expiresAt,
          expired: token.expiresAt.getTime() <= now,
          tokenHint: meta.tokenHint ?? undefined,
        })
      }
      return listing.sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime())
    },

    async clear(key) {
      if (!isCacheKey(key)) return { removed: 0, keychainError: undefined }
      const meta = await metadata.read(key)
      // Metadata first: from here on the token is no longer served, whatever else fails.
      const hadMeta = await metadata.remove(key)
      const hadFile = await file.delete(key)
      let keychainError: KeychainError | undefined
      let hadItem = false
      if (meta?.backend === 'keychain') {
        keychainError = await keychainUsable()
        if (keychainError === undefined && keychain !== undefined) {
          try {
            hadItem = await keychain.delete(key)
          } catch (error) {
            if (!(error instanceof KeychainError)) throw error
            keychainError = error
          }
        }
      }
      return { removed: hadMeta || hadFile || hadItem ? 1 : 0, keychainError }
    },

    async clearAll() {
      const keys = new Set<string>([...(await metadata.keys()), ...(await file.accounts())])
      let keychainEntries = false
      for (const key of keys) if ((await metadata.read(key))?.backend === 'keychain') keychainEntries = true
      let removed = 0
      for (const key of keys) {
        const a = await metadata.remove(key)
        const b = await file.delete(key)
        if (a || b) removed++
      }
      // Keychain items are found by listing the service, not from metadata: items whose
      // metadata was lost (a reboot empties the runtime directory) go too.
      let keychainError: KeychainError | undefined
      if (keychain !== undefined) {
        const unusable = await keychainUsable()
        if (unusable !== undefined) {
          if (keychainEntries) keychainError = unusable
        } else {
          try {
            for (const account of await keychain.accounts()) {
              if (!isCacheKey(account)) continue
              if ((await keychain.delete(account)) && !keys.has(account)) removed++
            }
          } catch (error) {
            if (!(error instanceof KeychainError)) throw error
            keychainError = error
          }
        }
      }
      return { removed, keychainError }
    },
  }
}

/** The `none` backend: every read misses, nothing is stored, nothing is locked. */
export function createNoCache(): TokenCache {
  const nothing: ClearOutcome = { removed: 0, keychainError: undefined }
  return {
    backend: 'none',
    dir: undefined,
    readMeta: async () => undefined,
    read: async () => ({ entry: undefined, notice: undefined }),
    write: async () => ({ backend: 'none', notice: undefined }),
    lock: async () => async () => undefined,
    list: async () => [],
    clear: async () => nothing,
    clearAll: async () => nothing,
  }
}
