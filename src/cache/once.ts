import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs/atomic.js'
import { readPrivateFile } from '../fs/private-file.js'
import type { Clock } from '../time/clock.js'

/** A marker file's name starts with this; no cache entry's does (entries are 32 hex digits). */
export const MARKER_PREFIX = 'said-'

/**
 * Whether a notice is due today on this host (and claims it when it is): a small marker file
 * `said-<what>-<host hash>` in the private cache directory holds the UTC date it was last said.
 * No marker, another date, or an unreadable one: due. The directory is the user's (and the
 * scope's), and the host is in the name because `$XDG_CACHE_HOME` may be a network home shared
 * by hosts whose keychains differ. A marker that cannot be written leaves the notice due: saying
 * it again is better than never.
 */
export async function dueToday(options: { dir: string; what: string; host: string; uid: number | undefined; clock: Clock }): Promise<boolean> {
  const host = createHash('sha256').update(options.host).digest('hex').slice(0, 8)
  const path = join(options.dir, `${MARKER_PREFIX}${options.what}-${host}`)
  const today = options.clock.now().toISOString().slice(0, 10)
  if (readPrivateFile(path, options.uid)?.trim() === today) return false
  await writeFileAtomic(path, `${today}\n`, { mode: 0o600, overwrite: true }).catch(() => undefined)
  return true
}
