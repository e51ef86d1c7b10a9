import { readdirSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs/atomic.js'
import { parseMeta, type EntryMeta } from './entry.js'
import { isCacheKey } from './key.js'
import { readPrivateFile } from '../fs/private-file.js'

/**
 * The non-secret half of the cache: one `<key>.json` per entry in the private directory, so
 * that listing, expiry checks and misses never touch a secret store.
 */
export interface MetadataStore {
  /** The private directory (already checked by `openPrivateDir`). */
  readonly dir: string
  /** The entry's metadata; undefined when absent, unreadable, not ours or corrupt. */
  read(key: string): Promise<EntryMeta | undefined>
  /** Writes atomically, mode 0600. Throws FileError. */
  write(meta: EntryMeta): Promise<void>
  /** True when there was a file to remove. */
  remove(key: string): Promise<boolean>
  /** The keys that have a metadata file. */
  keys(): Promise<string[]>
  /** The file the cross-process lock of `key` is taken against, and the lock's own path. */
  lockPaths(key: string): { target: string; lock: string }
}

export function createMetadataStore(options: { dir: string; uid: number | undefined }): MetadataStore {
  const { dir, uid } = options
  const path = (key: string) => join(dir, `${key}.json`)
  return {
    dir,
    async read(key) {
      if (!isCacheKey(key)) return undefined
      const text = readPrivateFile(path(key), uid)
      return text === undefined ? undefined : parseMeta(text, key)
    },
    async write(meta) {
      await writeFileAtomic(path(meta.key), `${JSON.stringify(meta)}\n`, { mode: 0o600, overwrite: true })
    },
    async remove(key) {
      if (!isCacheKey(key)) return false
      return unlink(path(key)).then(
        () => true,
        () => false,
      )
    },
    async keys() {
      // Synchronous, as read() is: one small directory, and `bktx status` (src/fast/status.ts)
      // then makes no asynchronous file call at all, which would start libuv's thread pool and
      // load node:fs/promises (about 8% of `node -e 0` together, measured for issue 23).
      let names: string[]
      try {
        names = readdirSync(dir)
      } catch {
        names = []
      }
      return names
        .filter((name) => name.endsWith('.json'))
        .map((name) => name.slice(0, -5))
        .filter(isCacheKey)
    },
    lockPaths: (key) => ({ target: path(key), lock: join(dir, `${key}.lock`) }),
  }
}
