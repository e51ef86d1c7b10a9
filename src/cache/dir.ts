import { lstatSync, statSync, type Stats } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { resolvePaths } from '../config/paths.js'
import type { Env } from '../deps.js'
import { CacheError, type Advice } from '../errors.js'
import { errnoCode, errnoText } from '../fs/atomic.js'

export interface CacheDirOptions {
  env: Env
  home: string
  /** The user's uid; undefined on Windows, where ownership and modes are not checked. */
  uid: number | undefined
  /** Shared-memory directory tried when XDG_RUNTIME_DIR is unset. Default `/dev/shm`. */
  shmDir?: string
}

/**
 * Where bktx keeps cache metadata and file-backend tokens, in order of preference:
 * `$XDG_RUNTIME_DIR/bktx` (per-user tmpfs, 0700 by the XDG spec, gone at logout), else
 * `/dev/shm/bktx-<uid>` (tmpfs: tokens never reach a disk), else `$XDG_CACHE_HOME/bktx`.
 * A candidate whose parent directory does not exist is skipped (a stale XDG_RUNTIME_DIR).
 */
export async function resolveCacheDir(options: CacheDirOptions): Promise<string> {
  const paths = resolvePaths(options.env, options.home)
  const candidates: string[] = []
  if (paths.runtimeDir !== undefined) candidates.push(paths.runtimeDir)
  if (options.uid !== undefined) candidates.push(join(options.shmDir ?? '/dev/shm', `bktx-${options.uid}`))
  for (const candidate of candidates) {
    if (await isDirectory(dirname(candidate))) return candidate
  }
  return paths.cacheDir
}

// Synchronous stats: on the cache-hit path they are the only file system calls besides two
// small reads, and the promise API would start libuv's thread pool for them.
async function isDirectory(path: string): Promise<boolean> {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

const REMOVE_OR_NO_CACHE: Advice = ['remove it, or use ', { option: 'cache', value: 'none' }]

/**
 * Creates `dir` (mode 0700) if needed and checks it is private: a real directory (not a
 * symlink, which another user could point elsewhere), owned by `uid`, with no permission for
 * group or others. Anything else is refused with a CacheError rather than repaired: in a
 * shared directory such as /dev/shm it may have been planted by another user to read or
 * substitute tokens.
 */
export async function openPrivateDir(dir: string, uid: number | undefined): Promise<void> {
  // lstat first: on the cache-hit path the directory exists and this is the only syscall.
  let info
  try {
    info = lstatSync(dir)
  } catch (cause) {
    if (errnoCode(cause) !== 'ENOENT') throw new CacheError(`cannot inspect the cache directory ${dir}: ${errnoText(cause)}`, { cause })
  }
  if (info === undefined) {
    try {
      await mkdir(dirname(dir), { recursive: true, mode: 0o700 })
      await mkdir(dir, { mode: 0o700 })
    } catch (cause) {
      // EEXIST: another process made it first; it is checked below like any other.
      if (errnoCode(cause) !== 'EEXIST') {
        throw new CacheError(`cannot create the cache directory ${dir}: ${errnoText(cause)}`, { cause })
      }
    }
    try {
      info = lstatSync(dir)
    } catch (cause) {
      throw new CacheError(`cannot inspect the cache directory ${dir}: ${errnoText(cause)}`, { cause })
    }
  }
  const refused = refusal(dir, info, uid)
  if (refused !== undefined) throw refused
}

/**
 * The cache directory as it is, without creating or changing anything (for `bktx status`):
 * `absent`, `ok`, or the CacheError {@link openPrivateDir} would throw.
 */
export function inspectPrivateDir(dir: string, uid: number | undefined): 'absent' | 'ok' | CacheError {
  let info
  try {
    info = lstatSync(dir)
  } catch (cause) {
    if (errnoCode(cause) === 'ENOENT') return 'absent'
    return new CacheError(`cannot inspect the cache directory ${dir}: ${errnoText(cause)}`, { cause })
  }
  return refusal(dir, info, uid) ?? 'ok'
}

/** Why `dir` is not a private directory of `uid`, or undefined when it is. */
function refusal(dir: string, info: Stats, uid: number | undefined): CacheError | undefined {
  const refuse = (problem: string, reason: string, advice: Advice = REMOVE_OR_NO_CACHE) =>
    new CacheError(`refusing the cache directory ${dir}: ${problem}`, { detail: { file: dir, reason }, advice })
  if (info.isSymbolicLink()) return refuse('it is a symbolic link', 'symlink')
  if (!info.isDirectory()) return refuse('it is not a directory', 'not-a-directory')
  if (uid === undefined) return undefined
  if (info.uid !== uid) return refuse(`it belongs to uid ${info.uid}, not to you (uid ${uid})`, 'foreign-owner')
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0')
    return refuse(`its mode is ${mode}, other users can reach it`, 'loose-mode', [`run \`chmod 700 ${dir}\``])
  }
  return undefined
}
