import { CacheError } from '../errors.js'
import { errnoText } from '../fs/atomic.js'

export interface EntryLockOptions {
  /** How long to wait for another process's lock, in milliseconds. Default 60 000. */
  waitMs?: number
  /**
   * A lock whose holder has not refreshed it for this long (it crashed or was killed) is taken
   * over. Milliseconds, at least 2000 (proper-lockfile's floor). Default 10 000; a live holder
   * refreshes its lock every half of this, even during a long exchange.
   */
  staleMs?: number
}

/** Releases a lock; never throws (a lock that vanished is already released). */
export type ReleaseLock = () => Promise<void>

/**
 * Takes the cross-process lock of one cache entry with proper-lockfile (an atomic `mkdir` of
 * `lockPath`, its mtime kept fresh while held, stale locks recovered). proper-lockfile is loaded
 * here, on the miss path only: a cache hit never locks.
 */
export async function lockEntry(targetPath: string, lockPath: string, options: EntryLockOptions = {}): Promise<ReleaseLock> {
  const waitMs = options.waitMs ?? 60_000
  const staleMs = Math.max(options.staleMs ?? 10_000, 2000)
  // proper-lockfile is CommonJS: its module.exports is `default` both under Node's loader and
  // in the esbuild bundle, where the named export does not exist.
  const { lock } = (await import('proper-lockfile')).default
  // Polling with jitter so that waiting processes do not retry in lockstep. Waits grow from
  // 10 ms to maxTimeout; the retry count makes their sum at least waitMs.
  const maxTimeout = 100
  const retries = { retries: Math.ceil(waitMs / maxTimeout) + 10, minTimeout: 10, maxTimeout, factor: 1.5, randomize: true }
  let release: () => Promise<void>
  try {
    release = await lock(targetPath, {
      lockfilePath: lockPath,
      realpath: false,
      stale: staleMs,
      retries,
      // The default throws from a timer (crashing the process) when the lock could not be
      // refreshed in time. Losing the lock costs at most one extra exchange: carry on.
      onCompromised: () => undefined,
    })
  } catch (cause) {
    const code = (cause as { code?: unknown }).code
    if (code === 'ELOCKED') {
      throw new CacheError(
        `another bktx process held the cache lock ${lockPath} for more than ${Math.round(waitMs / 1000)} s; if none is running, remove that directory`,
        { cause },
      )
    }
    throw new CacheError(`cannot lock the cache entry ${lockPath}: ${errnoText(cause)}`, { cause })
  }
  return async () => {
    await release().catch(() => undefined)
  }
}
