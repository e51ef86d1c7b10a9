import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { KeychainError, type Notice } from '../errors.js'
import { isPrivateDir } from './dir.js'
import { SCOPE_NAME } from './scope.js'
import type { ExchangeParams, TokenResult } from '../exchange/types.js'
import type { SecretStore } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { isCacheKey } from './key.js'
import { buildMeta, tokenDigest, tokenFromEntry, type BackendName, type CachedToken, type EntryMeta, type SecretBackend } from './entry.js'
import type { FileSecretStore } from './file-store.js'
import type { EntryLockOptions, ReleaseLock } from './lock.js'
import { createMetadataStore, type MetadataStore } from './metadata.js'
import type { SecretPolicy } from './policy.js'

/** One entry as `bktx cache list` shows it: metadata only, no secret store is touched. */
export interface CacheListing {
  key: string
  /** The scope directory it is in (./scope.ts); `legacy` for an entry of a version before scopes. */
  scope: string
  backend: SecretBackend
  /** The profile it was minted for; undefined for entries of older versions. */
  profile: string | undefined
  org: string
  subject: string
  subjectType: EntryMeta['subjectType']
  /** Granted scopes. */
  scopes: string[]
  /** The scopes asked for (empty: the app's defaults) and the lifetime asked for in seconds (null: the app's maximum). */
  requestedScopes: string[]
  requestedTtl: number | null
  tokenUrl: string
  /** The token URL's host (and port), with its path when that is not `/oauth/token`. */
  tokenHost: string
  clientId: string
  /** The signing key's `kid`; undefined when it had none or the entry is from an older version. */
  kid: string | undefined
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
  /** The entries of this cache's scope. */
  list(): Promise<CacheListing[]>
  /** The entries of every scope of the private directory this user may read (`cache list --all-scopes`). */
  listAll(): Promise<CacheListing[]>
  /** The scope directory's name (./scope.ts); undefined for `none`. */
  readonly scope: string | undefined
  clear(key: string): Promise<ClearOutcome>
  clearAll(): Promise<ClearOutcome>
}

export interface TokenCacheParts {
  metadata: MetadataStore
  /** Which store serves and takes secrets. */
  policy: SecretPolicy
  /** The token files of the private directory: cleared in every mode. */
  file: FileSecretStore
  /** The OS keychain as this scope sees it (./scoped-keychain.ts), when the mode may have items in it to clear. */
  keychain?: SecretStore | undefined
  /** Items of versions before scopes, removed by clearAll too (home scopes only: a CI job's clear never touches them). */
  legacyKeychain?: Pick<SecretStore, 'delete' | 'accounts'> | undefined
  clock: Clock
  lock?: EntryLockOptions | undefined
  /** The scope directory's name, and the private directory holding every scope (swept after a write). */
  scope?: string | undefined
  base?: string | undefined
  /** The profile recorded in new entries' metadata (shown by `cache list`). */
  profile?: string | undefined
  /** The user's uid, for reading other scopes' directories (listAll). */
  uid?: number | undefined
}

/** A cache composed of a metadata store, the secret stores, and the policy between them. */
export function createTokenCache(parts: TokenCacheParts): TokenCache {
  const { metadata, policy, file, keychain, clock } = parts

  async function keychainUsable(): Promise<KeychainError | undefined> {
    if (keychain === undefined) return new KeychainError('no keychain configured')
    const status = await keychain.status()
    return status.ok ? undefined : status.error
  }

  /** After a write: expired entries of this scope, then (hourly) other scopes' dead directories. Never fails a write. */
  async function sweep(keychainAnswered: boolean): Promise<void> {
    try {
      const { sweepExpired, sweepOtherScopes } = await import('./sweep.js')
      await sweepExpired(metadata, file, { clock, keychain: keychainAnswered ? keychain : undefined })
      if (parts.base !== undefined && parts.scope !== undefined) await sweepOtherScopes({ base: parts.base, own: parts.scope, uid: parts.uid, clock })
    } catch {
      // Housekeeping: whatever fails here is tried again after the next write.
    }
  }

  return {
    backend: policy.backend,
    dir: metadata.dir,
    scope: parts.scope,
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
        await metadata.write(buildMeta(key, stored.backend, params, token, parts.profile))
      } catch (error) {
        const failure = error as Error
        // Never lose a token the server has already minted (and audited) over a cache failure.
        return { backend: 'none', notice: { kind: 'not-cached', message: `${failure.message}; the token was not cached` } }
      }
      // A token file this entry held before is now unreferenced. (A keychain item replaced by a
      // file is left alone: that only happens when the keychain just failed, and a failing
      // keychain is never asked to delete. The next keychain write or `clear --all` replaces it.)
      if (stored.backend === 'keychain') await file.delete(key)
      await sweep(stored.backend === 'keychain')
      return { backend: stored.backend, notice: stored.notice }
    },

    lock: (async (key: string, served?: () => Promise<boolean>) => {
      // Loaded on a miss only: a hit never locks (the cache-hit bundle leaves ./lock.js out).
      const { lockEntry } = await import('./lock.js')
      return lockEntry(metadata.lockPaths(key).lock, { ...parts.lock, until: served })
    }) as TokenCache['lock'],

    list: async () => (await listDir(metadata, parts.scope ?? 'legacy', clock)).sort(byExpiry),

    async listAll() {
      if (parts.base === undefined) return (await listDir(metadata, parts.scope ?? 'legacy', clock)).sort(byExpiry)
      const listing = await listDir(createMetadataStore({ dir: parts.base, uid: parts.uid }), 'legacy', clock)
      for (const name of (await readdir(parts.base).catch(() => [] as string[])).sort()) {
        const dir = join(parts.base, name)
        if (!SCOPE_NAME.test(name) || !isPrivateDir(dir, parts.uid)) continue
        listing.push(...(await listDir(createMetadataStore({ dir, uid: parts.uid }), name, clock)))
      }
      return listing.sort(byExpiry)
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
            for (const account of (await parts.legacyKeychain?.accounts()) ?? []) {
              if (await parts.legacyKeychain?.delete(account)) removed++
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

const byExpiry = (a: CacheListing, b: CacheListing) => a.expiresAt.getTime() - b.expiresAt.getTime()

/** Where a token URL points, as `cache list` shows it: host and port, and the path unless it is Buildkite's. */
export function tokenHostOf(tokenUrl: string): string {
  try {
    const url = new URL(tokenUrl)
    return url.pathname === '/oauth/token' ? url.host : `${url.host}${url.pathname}`
  } catch {
    return tokenUrl
  }
}

async function listDir(metadata: MetadataStore, scope: string, clock: Clock): Promise<CacheListing[]> {
  const now = clock.now().getTime()
  const listing: CacheListing[] = []
  for (const key of await metadata.keys()) {
    const meta = await metadata.read(key)
    if (meta === undefined) continue
    const token = tokenFromEntry(meta, '')
    listing.push({
      key,
      scope,
      backend: meta.backend,
      profile: meta.profile ?? undefined,
      org: meta.org,
      subject: meta.subject,
      subjectType: meta.subjectType,
      scopes: meta.scopes,
      requestedScopes: meta.requestedScopes,
      requestedTtl: meta.requestedTtl,
      tokenUrl: meta.tokenUrl,
      tokenHost: tokenHostOf(meta.tokenUrl),
      clientId: meta.clientId,
      kid: meta.kid ?? undefined,
      keyFingerprint: meta.keyFingerprint,
      receivedAt: token.receivedAt,
      expiresAt: token.expiresAt,
      expired: token.expiresAt.getTime() <= now,
      tokenHint: meta.tokenHint ?? undefined,
    })
  }
  return listing
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
    listAll: async () => [],
    scope: undefined,
    clear: async () => nothing,
    clearAll: async () => nothing,
  }
}
