// The cross-process lock of one cache entry (single flight: one exchange for many callers).
// Loaded on the miss path only (src/cache/cache.ts imports it when it locks): a cache hit never
// locks, and the cache-hit bundle (scripts/build.mjs) leaves this module out.
import { randomBytes } from 'node:crypto'
import { closeSync, constants, linkSync, openSync, readFileSync, readSync, unlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { ProcessInfo } from '../deps.js'
import { CacheError } from '../errors.js'
import { errnoCode, errnoText, unlinkQuietly } from '../fs/atomic.js'

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/**
 * This process and the liveness test, as the entry points supply them (src/term/process-info.ts:
 * `kill(pid, 0)` succeeding or failing with EPERM means the process exists, ESRCH that it is gone).
 */
export type LockProcess = Pick<ProcessInfo, 'pid' | 'isAlive'>

export interface EntryLockOptions {
  /** How long to wait for another process's lock, in milliseconds. Default 60 000. */
  waitMs?: number
  /**
   * This process and how to tell whether another one still runs. Without it the lock records
   * no pid and never takes a lock over: it only waits (safe, but a crashed holder's lock then
   * blocks for `waitMs`). The CLI and the library pass the OS's.
   */
  process?: LockProcess | undefined
  /** Where processes' start times are read (Linux `/proc`; tests point it elsewhere). */
  procDir?: string
  /**
   * Asked between polls while another process holds the lock: true ends the wait without the
   * lock (lockEntry resolves to undefined). The cache asks whether the holder has stored the
   * token meanwhile, so N waiters read it at once instead of taking the lock one by one.
   */
  until?: (() => Promise<boolean>) | undefined
}

/** Releases a lock; never throws (a lock that vanished is already released). */
export type ReleaseLock = () => Promise<void>

/** A lock file's content: `<pid> <start time or -> <nonce>\n`. */
interface Holder {
  pid: number
  /** /proc/<pid>/stat field 22 when the holder could read it. */
  start: string | undefined
  nonce: string
  text: string
}

const HOLDER = /^(\d{1,10}) (\d{1,20}|-) ([0-9a-f]{32})\n$/

/**
 * Takes the cross-process lock `lockPath` (a file beside the entry, in the private cache
 * directory, mode 0600), waiting up to `waitMs` for another holder; CacheError after that.
 *
 * The rule: a lock is taken over only when its holder is gone, never for its age. A holder is
 * gone when `kill(pid, 0)` says no such process, or when the pid now names a process that
 * started at another moment (Linux: /proc/<pid>/stat field 22, so a crashed holder's pid reused
 * by an unrelated process does not keep the lock). A live holder is waited for however long it
 * holds the lock (an exchange is bounded by its own timeout).
 *
 * Why two live holders never coexist:
 * - The lock file appears complete or not at all: written to a temporary file, then hard-linked
 *   to `lockPath`, which fails with EEXIST when a lock is there. Its content carries a random
 *   nonce, so no two acquisitions ever write the same content.
 * - A lock file is removed only (a) by its holder on release, after reading back its own
 *   content, or (b) by a waiter that holds the takeover right of that lock's (gone) holder and
 *   has read the same content again while holding it.
 * - The takeover right of a gone holder D belongs to whoever creates `<lock>.<nonce of D>.takeover`
 *   first (the same atomic link). Only one process can create it; it is never removed by anyone
 *   else. If its creator T dies in the takeover section, the right passes to whoever creates
 *   `<lock>.<nonce of T>.takeover`, and so on: at any moment at most one live process holds the
 *   right over D's lock file. While it holds it, nobody else can remove a file with D's content,
 *   so the content it read is still there when it unlinks; and D's content, once removed, never
 *   comes back (the nonce), so a later right holder that read it earlier finds another content
 *   and removes nothing.
 * - Hence a live holder's lock file is removed only by that holder: one live holder at most.
 *
 * Limits. Liveness is judged by pid, so every process sharing the cache directory must see the
 * others' pids: one host, one pid namespace. Containers that share the directory (a mounted
 * /dev/shm or XDG_RUNTIME_DIR) across pid namespaces are not supported: a holder in another
 * namespace looks gone and its lock can be taken over. Without /proc (macOS, Windows) the start
 * time is not recorded, so a crashed holder's pid reused by another process keeps the lock until
 * that process ends or `waitMs` passes. A process killed inside the takeover section leaves its
 * `.takeover` file behind (a few bytes nothing reads as a lock); the next waiter passes the right
 * on as above. A process killed between writing its temporary file and linking it leaves a
 * hidden `.tmp` file, like the cache's own writes.
 */
export async function lockEntry(lockPath: string, options?: EntryLockOptions & { until?: undefined }): Promise<ReleaseLock>
export async function lockEntry(lockPath: string, options: EntryLockOptions): Promise<ReleaseLock | undefined>
export async function lockEntry(lockPath: string, options: EntryLockOptions = {}): Promise<ReleaseLock | undefined> {
  const waitMs = options.waitMs ?? 60_000
  const proc = options.process
  const procDir = options.procDir ?? '/proc'
  const pid = proc?.pid ?? 0
  const start = proc === undefined ? undefined : startTime(procDir, pid)
  const mine = `${pid} ${start ?? '-'} ${randomBytes(16).toString('hex')}\n`

  const gone = (holder: Holder): boolean => {
    // Pid 0: a holder that recorded no pid; it cannot be judged, so it is waited for.
    if (proc === undefined || holder.pid === 0) return false
    if (holder.pid !== proc.pid && !proc.isAlive(holder.pid)) return true
    if (holder.start === undefined) return false
    const now = startTime(procDir, holder.pid)
    // Unreadable (it ended this instant, or /proc hides it): judged on the next poll.
    return now !== undefined && now !== holder.start
  }

  let waited = 0
  let step = 10
  let directory = false
  // Whether to try to place the lock: when it was seen free or taken over. While a lock is there,
  // a poll only reads it: placing would fail, and its temporary file would wake every other
  // waiter's watch. So the first attempt too reads before it places: the 100th caller to queue
  // behind a holder no longer wakes the 99 before it (each start woke every watch once, more
  // wake-ups than all the polls together, measured for issue 18). Reading first changes no
  // outcome: a place over an existing lock fails, and the loop reads that lock next anyway.
  let compete = readHolder(lockPath) === undefined
  let waker: Waker | undefined
  try {
    for (;;) {
      if (compete && place(lockPath, mine)) return releaser(lockPath, mine)
      compete = true
      const text = readHolder(lockPath)
      if (text === undefined) continue // released meanwhile: compete again
      directory = text === DIRECTORY
      const holder = parseHolder(text)
      if (holder !== undefined && gone(holder) && takeOver(lockPath, holder, mine, gone)) continue
      if (waited >= waitMs) {
        throw new CacheError(
          `another bktx process held the cache lock ${lockPath} for more than ${Math.round(waitMs / 1000)} s; if none is running, remove that ${directory ? 'directory' : 'file'}`,
        )
      }
      // Jittered polls, so that waiters do not retry in lockstep, growing from 10 ms to 100 ms;
      // to 500 ms when a watch on the directory wakes the wait as soon as this entry's lock or
      // files change (released, or the token stored): the polls then only notice a holder that
      // died without releasing, and N waiters cost a fifth of the CPU.
      waker ??= watchEntry(lockPath)
      const delay = Math.min(Math.round(step * (0.5 + Math.random())), Math.max(waitMs - waited, 1))
      // Counting the time asked for, not the clock: a loaded machine only waits longer. A wait
      // woken early counts nothing: the lock changed hands or the entry was written.
      if (await waker.sleep(delay)) waited += delay
      step = Math.min(step * 1.5, waker.watching() ? 500 : 100)
      compete = false
      if (options.until !== undefined && (await options.until())) return undefined
    }
  } finally {
    waker?.close()
  }
}

interface Waker {
  /** Resolves after `ms` (true), or earlier (false) once the entry changed since the last sleep. */
  sleep(ms: number): Promise<boolean>
  /** Whether changes wake it (false where the directory cannot be watched: polls only). */
  watching(): boolean
  close(): void
}

/**
 * Watches the lock's directory for changes to this entry's names (`<key>.lock`, its takeover
 * claims, `<key>.token`, `<key>.json`); temporary files (hidden names) do not wake it. Where no
 * watch can be had (inotify instances exhausted, a filesystem without events), it only sleeps.
 */
function watchEntry(lockPath: string): Waker {
  const stem = basename(lockPath).replace(/\.lock$/, '.')
  let changed = false
  let wake: (() => void) | undefined
  let watcher: FSWatcher | undefined
  const changes = (name: string | null): void => {
    if (name !== null && !name.startsWith(stem)) return
    changed = true
    wake?.()
  }
  try {
    watcher = watch(dirname(lockPath), { persistent: false }, (_event, name) => changes(name))
    watcher.on('error', () => {
      watcher?.close()
      watcher = undefined
    })
  } catch {
    watcher = undefined
  }
  return {
    sleep: (ms) =>
      new Promise((resolve) => {
        if (changed) {
          changed = false
          resolve(false)
          return
        }
        const timer = setTimeout(() => {
          wake = undefined
          resolve(true)
        }, ms)
        wake = () => {
          clearTimeout(timer)
          wake = undefined
          changed = false
          resolve(false)
        }
      }),
    watching: () => watcher !== undefined,
    close: () => watcher?.close(),
  }
}

/**
 * Removes the lock file of `dead` (a gone holder) once this process holds the takeover right
 * over it (see lockEntry). True when done (the caller competes for the lock again at once);
 * false when another live process is taking it over (the caller waits).
 */
function takeOver(lockPath: string, dead: Holder, mine: string, gone: (holder: Holder) => boolean): boolean {
  let nonce = dead.nonce
  // Each hop passes over one process killed inside this very section: a few at most.
  for (let hop = 0; hop < 32; hop++) {
    const claim = join(dirname(lockPath), `${basename(lockPath)}.${nonce}.takeover`)
    if (place(claim, mine)) {
      try {
        if (readHolder(lockPath) === dead.text) {
          try {
            unlinkSync(lockPath)
          } catch (cause) {
            if (errnoCode(cause) !== 'ENOENT') throw failure(lockPath, cause)
          }
        }
      } finally {
        // Only its creator removes a claim: nobody else can have replaced it.
        unlinkQuietly(claim)
      }
      return true
    }
    const text = readHolder(claim)
    if (text === undefined) continue // its holder finished meanwhile: claim it (and find the lock changed)
    const taker = parseHolder(text)
    if (taker === undefined || !gone(taker)) return false
    nonce = taker.nonce
  }
  return false
}

function releaser(lockPath: string, mine: string): ReleaseLock {
  let released = false
  return async () => {
    if (released) return
    released = true
    try {
      // Ours unless it was taken over, which only happens once this process is gone.
      if (readHolder(lockPath) === mine) unlinkQuietly(lockPath)
    } catch {
      // Unreadable: left for the next caller to judge.
    }
  }
}

function parseHolder(text: string): Holder | undefined {
  const match = HOLDER.exec(text)
  if (match === null) return undefined
  const start = match[2] as string
  return { pid: Number(match[1]), start: start === '-' ? undefined : start, nonce: match[3] as string, text }
}

/**
 * A process's start time in clock ticks since boot: field 22 of /proc/<pid>/stat, counted after
 * the last `)` since the command name (field 2) may hold spaces and parentheses. Undefined where
 * there is no /proc or the process is gone. Synchronous, as readHolder is (see there).
 */
function startTime(procDir: string, pid: number): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined
  try {
    const stat = readFileSync(join(procDir, String(pid), 'stat'), 'utf8')
    const field = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    return field !== undefined && /^\d{1,20}$/.test(field) ? field : undefined
  } catch {
    return undefined
  }
}

/**
 * Places `content` at `path` unless a file is there: true when placed. Synchronous, as
 * readHolder is (see there): after a holder dies every waiter competes at once.
 */
function place(path: string, content: string): boolean {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600)
    try {
      writeFileSync(fd, content)
    } finally {
      closeSync(fd)
    }
  } catch (cause) {
    unlinkQuietly(temp)
    throw failure(path, cause)
  }
  try {
    linkSync(temp, path)
    return true
  } catch (cause) {
    if (errnoCode(cause) === 'EEXIST') return false
    throw failure(path, cause)
  } finally {
    unlinkQuietly(temp)
  }
}

/** What a directory in the lock's place reads as (an older bktx's lock): never a holder. */
const DIRECTORY = '<directory>'

/**
 * A lock or claim file's content (its first bytes); undefined when there is none.
 *
 * Synchronous on purpose, as the cache's own reads are (src/fs/private-file.ts), and so is
 * startTime: a waiter reads the lock and its holder's /proc stat at every poll and at every
 * change of the entry, and through the promise API each read was three to five round trips
 * through libuv's thread pool, each a thread wake-up on both sides. With 100 waiters on two
 * loaded cores those were most of what waiting cost (issue 18). These are reads of a few dozen
 * bytes in the private directory and of /proc: microseconds, never a slow disk.
 */
function readHolder(path: string): string | undefined {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW)
  } catch (cause) {
    const code = errnoCode(cause)
    if (code === 'ENOENT') return undefined
    if (code === 'EISDIR') return DIRECTORY
    throw failure(path, cause)
  }
  try {
    const buffer = Buffer.alloc(128)
    const bytesRead = readSync(fd, buffer, 0, buffer.length, 0)
    return buffer.toString('utf8', 0, bytesRead)
  } catch (cause) {
    // Linux opens a directory read-only; reading it fails.
    if (errnoCode(cause) === 'EISDIR') return DIRECTORY
    throw failure(path, cause)
  } finally {
    closeSync(fd)
  }
}

function failure(path: string, cause: unknown): CacheError {
  return new CacheError(`cannot lock the cache entry ${path}: ${errnoText(cause)}`, { cause })
}
