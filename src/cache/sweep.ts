// Housekeeping of the private cache directory, run after a token is stored (the miss path, never
// a cache hit): expired entries of the scope go, and so do other scopes' directories (finished
// CI jobs, homes no longer used) and entries of versions before scopes once they are long dead.
// Tokens live at most 86400 s (docs/token-exchange.md §4), so an expired entry is only clutter,
// and a CI host running thousands of jobs a day would otherwise fill its tmpfs.
import { lstatSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs/atomic.js'
import { readPrivateFile } from '../fs/private-file.js'
import type { SecretStore } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { isPrivateDir } from './dir.js'
import { tokenDigest, tokenFromEntry, type EntryMeta } from './entry.js'
import { FileSecretStore } from './file-store.js'
import { createMetadataStore, type MetadataStore } from './metadata.js'
import { MARKER_PREFIX } from './once.js'
import { SCOPE_NAME } from './scope.js'

/** Another scope's directory goes when nothing in it was written, and nothing in it expired, for this long. */
export const SCOPE_IDLE_MS = 24 * 3600 * 1000
/** The directories of other scopes are looked at no more often than this. */
export const SIBLING_SWEEP_EVERY_MS = 3600 * 1000

const expiry = (meta: EntryMeta) => tokenFromEntry(meta, '').expiresAt.getTime()

/**
 * Removes the expired entries of one directory; returns how many went. An entry is removed
 * only if it is still the one found expired (a process that just stored a fresh token under the
 * same key keeps it: its metadata and token differ). A keychain entry goes only when `keychain`
 * can delete its item (the keychain answered in this run); else it waits for a later sweep.
 */
export async function sweepExpired(
  metadata: MetadataStore,
  file: FileSecretStore,
  options: { clock: Clock; keychain?: Pick<SecretStore, 'delete'> | undefined },
): Promise<number> {
  const now = options.clock.now().getTime()
  let removed = 0
  for (const key of await metadata.keys()) {
    const meta = await metadata.read(key)
    if (meta === undefined || expiry(meta) > now) continue
    if (meta.backend === 'keychain') {
      if (options.keychain === undefined) continue
      try {
        await options.keychain.delete(key)
      } catch {
        continue
      }
    }
    if ((await metadata.read(key))?.tokenSha256 !== meta.tokenSha256) continue
    await metadata.remove(key)
    const secret = await file.get(key)
    if (secret !== undefined && tokenDigest(secret) === meta.tokenSha256) await file.delete(key)
    removed++
  }
  return removed
}

/**
 * Looks at the other scopes' directories in the private directory `base`, at most once an hour
 * (a stamp file holds the time of the last look): a directory not written to for a day, whose
 * every entry expired more than a day ago, is removed (a finished CI job's, typically). One that
 * holds a keychain entry is kept: its item can only be deleted from its own scope. Entries of
 * versions before scopes (files directly in `base`) are removed once expired.
 */
export async function sweepOtherScopes(options: { base: string; own: string; uid: number | undefined; clock: Clock }): Promise<void> {
  const { base, own, uid, clock } = options
  const now = clock.now().getTime()
  const stamp = join(base, `${MARKER_PREFIX}sweep`)
  const last = Date.parse(readPrivateFile(stamp, uid)?.trim() ?? '')
  if (Number.isFinite(last) && last <= now && now - last < SIBLING_SWEEP_EVERY_MS) return
  await writeFileAtomic(stamp, `${new Date(now).toISOString()}\n`, { mode: 0o600, overwrite: true }).catch(() => undefined)
  const names = await readdir(base).catch(() => [] as string[])
  for (const name of names) {
    if (!SCOPE_NAME.test(name) || name === own) continue
    const dir = join(base, name)
    if (!isPrivateDir(dir, uid)) continue
    try {
      if (now - lstatSync(dir).mtimeMs < SCOPE_IDLE_MS) continue
    } catch {
      continue
    }
    const metadata = createMetadataStore({ dir, uid })
    let keep = false
    for (const key of await metadata.keys()) {
      const meta = await metadata.read(key)
      if (meta !== undefined && (meta.backend === 'keychain' || now - expiry(meta) < SCOPE_IDLE_MS)) keep = true
    }
    if (!keep) await rm(dir, { recursive: true, force: true }).catch(() => undefined)
  }
  // Before scopes, entries were kept in `base` itself; no version reads them any more. Their
  // keychain items (named by the bare key) cannot be told from another home's here: the
  // metadata goes, the item stays for a home's `cache clear --all` (./scoped-keychain.ts).
  const keepItem = { delete: async () => true }
  await sweepExpired(createMetadataStore({ dir: base, uid }), new FileSecretStore({ dir: base, uid }), { clock, keychain: keepItem })
}
