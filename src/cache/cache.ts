import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs'
import { readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { FileError, KeychainError } from '../errors.js'
import type { ExchangeParams, TokenResult } from '../exchange/types.js'
import { writeFileAtomic } from '../fs/atomic.js'
import type { SecretStore } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { isCacheKey } from './key.js'
import {
  buildMeta,
  parseMeta,
  tokenDigest,
  tokenFromEntry,
  type BackendName,
  type CachedToken,
  type EntryMeta,
  type SecretBackend,
} from './entry.js'
import { lockEntry, type EntryLockOptions, type ReleaseLock } from './lock.js'

/** One entry as `bktx cache list` shows it: metadata only, the keychain is not touched. */
export interface CacheListing {
  key: string
  backend: SecretBackend
  org: string
  subject: string
  subjectType: EntryMeta['subjectType']
  scopes: string[]
  tokenUrl: string
  clientId: string
  receivedAt: Date
  expiresAt: Date
  /** True when the token has expired by the cache's clock. */
  expired: boolean
  /** Last four characters of the token, when it is long enough to show them. */
  tokenHint: string | undefined
}

export interface ReadOutcome {
  entry: CachedToken | undefined
  /** One line for stderr when the read degraded (the keychain failed and it counts as a miss). */
  note: string | undefined
}

export interface WriteOutcome {
  /** Where the secret went; `none` when it could not be stored (the token is still valid). */
  backend: BackendName
  note: string | undefined
}

export interface ClearOutcome {
  /** Entries removed. */
  removed: number
  /** Set when keychain items could not be removed (locked, absent): the CLI reports it. */
  keychainError: KeychainError | undefined
}

/** The token cache of one backend selection. `withCache` drives it; `bktx cache` lists and clears. */
export interface TokenCache {
  /** The backend new entries go to. */
  readonly backend: BackendName
  /** The private directory holding metadata (and file-backend tokens); undefined for `none`. */
  readonly dir: string | undefined
  /** The metadata of `key`; undefined when absent or unreadable. Never touches the keychain. */
  readMeta(key: string): Promise<EntryMeta | undefined>
  /**
   * Reads `key`. `accept` sees the metadata first, so an expired entry never costs a keychain
   * call. Corrupt or mismatched entries are misses; nothing is ever deleted on a failed read.
   */
  read(key: string, accept?: (meta: EntryMeta) => boolean): Promise<ReadOutcome>
  /** Stores a fresh token: the secret first, then the metadata that points to it. */
  write(key: string, params: ExchangeParams, token: TokenResult): Promise<WriteOutcome>
  /** The cross-process lock of `key` (single flight). */
  lock(key: string): Promise<ReleaseLock>
  list(): Promise<CacheListing[]>
  clear(key: string): Promise<ClearOutcome>
  clearAll(): Promise<ClearOutcome>
}

export interface FileTokenCacheOptions {
  /** A directory already checked by `openPrivateDir`. */
  dir: string
  /** The user's uid: files owned by anyone else are ignored. Undefined on Windows. */
  uid: number | undefined
  clock: Clock
  /** The backend for new entries. */
  backend: SecretBackend
  /** The keychain; needed for the keychain backend, and used by clear to remove items. */
  secrets?: SecretStore | undefined
  /** Whose entries may be read: e.g. `['keychain', 'file']` in auto mode. */
  readable: readonly SecretBackend[]
  /** When the keychain refuses a write, store the secret in a file instead (auto mode). */
  fileFallback: boolean
  /**
   * Keychain read failures are thrown (an explicit `--cache keychain`, exit 8) instead of
   * counting as a miss with a note (auto).
   */
  strictKeychain: boolean
  lock?: EntryLockOptions
}

// Metadata and tokens are tiny; anything bigger is not ours.
const MAX_FILE_BYTES = 64 * 1024
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/** A cache over a private directory, its secrets in files or in the keychain. */
export function createTokenCache(options: FileTokenCacheOptions): TokenCache {
  const { dir, uid, clock, secrets } = options
  const metaPath = (key: string) => join(dir, `${key}.json`)
  const tokenPath = (key: string) => join(dir, `${key}.token`)
  const lockPath = (key: string) => join(dir, `${key}.lock`)

  async function readMeta(key: string): Promise<EntryMeta | undefined> {
    if (!isCacheKey(key)) return undefined
    const text = await readPrivateFile(metaPath(key), uid)
    return text === undefined ? undefined : parseMeta(text, key)
  }

  async function readSecret(meta: EntryMeta): Promise<{ secret: string | undefined; note?: string }> {
    if (meta.backend === 'file') return { secret: await readPrivateFile(tokenPath(meta.key), uid) }
    if (secrets === undefined) return { secret: undefined }
    try {
      return { secret: await secrets.get(meta.key) }
    } catch (error) {
      if (options.strictKeychain || !(error instanceof KeychainError)) throw error
      // Auto mode: a keychain that fails now is a miss with a note, never a delete.
      return { secret: undefined, note: `${error.message}; not using the cached token` }
    }
  }

  async function removeFile(path: string): Promise<boolean> {
    try {
      await unlink(path)
      return true
    } catch {
      return false
    }
  }

  async function keychainUsable(): Promise<KeychainError | undefined> {
    if (secrets === undefined) return new KeychainError('no keychain configured')
    const status = await secrets.status()
    return status.ok ? undefined : status.error
  }

  return {
    backend: options.backend,
    dir,
    readMeta,

    async read(key, accept) {
      const meta = await readMeta(key)
      if (meta === undefined || !options.readable.includes(meta.backend)) return { entry: undefined, note: undefined }
      if (accept !== undefined && !accept(meta)) return { entry: undefined, note: undefined }
      const { secret, note } = await readSecret(meta)
      // A missing secret, or one that is not the token the metadata describes (a torn write
      // seen between the two renames, or an item replaced behind bktx's back): a miss.
      if (secret === undefined || tokenDigest(secret) !== meta.tokenSha256) return { entry: undefined, note }
      return { entry: { meta, token: tokenFromEntry(meta, secret) }, note: undefined }
    },

    async write(key, params, token) {
      const previous = await readMeta(key)
      let backend: SecretBackend = options.backend
      let note: string | undefined
      if (backend === 'keychain') {
        try {
          if (secrets === undefined) throw new KeychainError('no keychain configured')
          await secrets.set(key, token.accessToken)
        } catch (error) {
          if (!(error instanceof KeychainError)) throw error
          if (!options.fileFallback) return { backend: 'none', note: `${error.message}; the token was not cached` }
          backend = 'file'
          note = `${error.message}; caching the token in ${dir} instead`
        }
      }
      try {
        if (backend === 'file') await writeFileAtomic(tokenPath(key), token.accessToken, { mode: 0o600, overwrite: true })
        await writeFileAtomic(metaPath(key), `${JSON.stringify(buildMeta(key, backend, params, token))}\n`, {
          mode: 0o600,
          overwrite: true,
        })
      } catch (error) {
        if (!(error instanceof FileError)) throw error
        // Never lose a token the server has already minted (and audited) over a cache failure.
        return { backend: 'none', note: `${error.message}; the token was not cached` }
      }
      // A token file this entry held before is now unreferenced. (A keychain item replaced by a
      // file is left alone: that only happens when the keychain just failed, and a failing
      // keychain is never asked to delete. The next keychain write or `clear --all` replaces it.)
      if (backend === 'keychain' && previous?.backend !== 'keychain') await removeFile(tokenPath(key))
      return { backend, note }
    },

    lock: (key) => lockEntry(metaPath(key), lockPath(key), options.lock),

    async list() {
      const now = clock.now().getTime()
      const listing: CacheListing[] = []
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const key = name.endsWith('.json') ? name.slice(0, -5) : ''
        if (!isCacheKey(key)) continue
        const meta = await readMeta(key)
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
      const meta = await readMeta(key)
      // Metadata first: from here on the token is no longer served, whatever else fails.
      const hadMeta = await removeFile(metaPath(key))
      const hadFile = await removeFile(tokenPath(key))
      let keychainError: KeychainError | undefined
      let hadItem = false
      if (meta?.backend === 'keychain') {
        keychainError = await keychainUsable()
        if (keychainError === undefined && secrets !== undefined) {
          try {
            hadItem = await secrets.delete(key)
          } catch (error) {
            if (!(error instanceof KeychainError)) throw error
            keychainError = error
          }
        }
      }
      return { removed: hadMeta || hadFile || hadItem ? 1 : 0, keychainError }
    },

    async clearAll() {
      const keys = new Set<string>()
      let keychainEntries = false
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const match = /^([0-9a-f]{32})\.(json|token)$/.exec(name)
        if (match === null) continue
        const key = match[1] as string
        if (match[2] === 'json' && (await readMeta(key))?.backend === 'keychain') keychainEntries = true
        keys.add(key)
      }
      let removed = 0
      for (const key of keys) {
        const a = await removeFile(metaPath(key))
        const b = await removeFile(tokenPath(key))
        if (a || b) removed++
      }
      // Keychain items are found by listing the service, not from metadata: items whose
      // metadata was lost (a reboot empties the runtime directory) go too.
      let keychainError: KeychainError | undefined
      if (secrets !== undefined) {
        const unusable = await keychainUsable()
        if (unusable !== undefined) {
          if (keychainEntries) keychainError = unusable
        } else {
          try {
            for (const account of await secrets.accounts()) {
              if (!isCacheKey(account)) continue
              if ((await secrets.delete(account)) && !keys.has(account)) removed++
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
    read: async () => ({ entry: undefined, note: undefined }),
    write: async () => ({ backend: 'none', note: undefined }),
    lock: async () => async () => undefined,
    list: async () => [],
    clear: async () => nothing,
    clearAll: async () => nothing,
  }
}

/**
 * Reads a small file from the private directory, or undefined when it is absent, a symlink,
 * not a regular file, not ours, readable by others, or too big: such an entry is a miss.
 * (The directory is already private; this is defence in depth against a file that got there
 * some other way, e.g. restored from a backup with other modes.)
 */
// Synchronous on purpose: a cache hit reads two files of a few hundred bytes, and the
// promise API would start libuv's thread pool for them, which costs more than the reads.
async function readPrivateFile(path: string, uid: number | undefined): Promise<string | undefined> {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW)
  } catch {
    return undefined
  }
  try {
    const info = fstatSync(fd)
    if (!info.isFile() || info.size > MAX_FILE_BYTES) return undefined
    if (uid !== undefined && (info.uid !== uid || (info.mode & 0o077) !== 0)) return undefined
    return readFileSync(fd, 'utf8')
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}
