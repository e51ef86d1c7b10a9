import { lstatSync, statSync, type Stats } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { resolvePaths } from '../paths.js'
import type { Env } from '../deps.js'
import { cacheScope, SCOPE_NAME, type CacheScope } from './scope.js'
import { CacheError, type Advice, type Notice } from '../errors.js'
import { errnoCode, errnoText } from '../fs/atomic.js'

export interface CacheDirOptions {
  env: Env
  home: string
  /** The user's uid; undefined on Windows, where ownership and modes are not checked. */
  uid: number | undefined
  /** Shared-memory directory tried when XDG_RUNTIME_DIR is unset. Default `/dev/shm`. */
  shmDir?: string
}

/** The cache directory in use, and a notice when the shared-memory one was passed over. */
export interface CacheDirChoice {
  /** The scope's directory: metadata, file-backend tokens and entry locks (./scope.ts). */
  dir: string
  /** The uid's private directory that holds every scope's directory (and pre-scope entries). */
  base: string
  scope: CacheScope
  notice: Notice | undefined
}

/** The scope of a process with these options: its home's, or its CI job's (./scope.ts). */
export function scopeOf(options: Pick<CacheDirOptions, 'env' | 'home'>): CacheScope {
  return cacheScope(options.env, resolvePaths(options.env, options.home).cacheDir)
}

/**
 * Resolves the private cache directory ({@link resolveCacheBase}), opens it and the scope's
 * directory in it ({@link openPrivateDir}, both 0700 and checked alike). `/dev/shm` is writable
 * by every user (sticky, so a planted entry cannot be removed by its victim): when
 * `/dev/shm/bktx-<uid>` is there but unusable (another user's, a symlink, not a directory, open
 * to others, or not creatable), bktx never uses it and never fails for it: it falls back to
 * `$XDG_CACHE_HOME/bktx` with a notice saying why. Other locations are the user's own, so a
 * problem there is a CacheError as before (reason `cannot-create` when it cannot be made).
 */
export async function openCacheDir(options: CacheDirOptions): Promise<CacheDirChoice> {
  const scope = scopeOf(options)
  const base = await resolveCacheBase(options)
  const shm = shmCandidate(options)
  let chosen = base
  let notice: Notice | undefined
  if (base !== shm) {
    await openPrivateDir(base, options.uid)
  } else {
    try {
      await openPrivateDir(shm, options.uid)
    } catch (error) {
      if (!(error instanceof CacheError)) throw error
      chosen = resolvePaths(options.env, options.home).cacheDir
      await openPrivateDir(chosen, options.uid)
      notice = shmNotice(shm, chosen, error)
    }
  }
  const dir = join(chosen, scope.name)
  await openPrivateDir(dir, options.uid)
  return { dir, base: chosen, scope, notice }
}

function shmCandidate(options: CacheDirOptions): string | undefined {
  return options.uid === undefined ? undefined : join(options.shmDir ?? '/dev/shm', `bktx-${options.uid}`)
}

function shmNotice(shm: string, fallback: string, error: CacheError): Notice {
  const reason = error.detail.reason
  // A directory of ours with loose permissions can be fixed by its owner; anything another user
  // planted in the sticky /dev/shm can only be removed by them or by root.
  const advice: Advice =
    reason === 'loose-mode'
      ? [`run \`chmod 700 ${shm}\` to use the memory-backed location again`]
      : reason === 'foreign-owner' || reason === 'symlink' || reason === 'not-a-directory'
        ? ['another user may have created it to read or replace your tokens: tell an administrator, or set XDG_RUNTIME_DIR to a private directory']
        : ['set XDG_RUNTIME_DIR to a private directory to keep tokens off the disk']
  return {
    kind: 'cache-dir-fallback',
    message: `not using ${shm} (${error.message.replace(/^refusing the cache directory [^:]*: /, '')}); caching in ${fallback} instead`,
    advice,
  }
}

/**
 * The uid's private cache directory, in order of preference: `$XDG_RUNTIME_DIR/bktx` (per-user
 * tmpfs, 0700 by the XDG spec, gone at logout), else `/dev/shm/bktx-<uid>` (tmpfs: tokens never
 * reach a disk), else `$XDG_CACHE_HOME/bktx`. A candidate whose parent directory does not exist
 * is skipped (a stale XDG_RUNTIME_DIR). The first two are shared by every HOME and every CI job
 * of the uid: tokens live in a scope's subdirectory ({@link resolveCacheDir}).
 */
export async function resolveCacheBase(options: CacheDirOptions): Promise<string> {
  const paths = resolvePaths(options.env, options.home)
  const candidates: string[] = []
  if (paths.runtimeDir !== undefined) candidates.push(paths.runtimeDir)
  const shm = shmCandidate(options)
  if (shm !== undefined) candidates.push(shm)
  for (const candidate of candidates) {
    if (await isDirectory(dirname(candidate))) return candidate
  }
  return paths.cacheDir
}

/** Where this process's tokens are cached: its scope's directory in {@link resolveCacheBase}. */
export async function resolveCacheDir(options: CacheDirOptions): Promise<string> {
  return join(await resolveCacheBase(options), scopeOf(options).name)
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
/** The fixes for a cache directory that cannot be made (a read-only HOME, no runtime directory). */
const CANNOT_CREATE: Advice = ['use ', { option: 'cache', value: 'none' }, ', or set XDG_CACHE_HOME or XDG_RUNTIME_DIR to a writable directory of yours']

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
    // ENOTDIR: a parent is a file; creating it then fails and says so (cannot-create).
    const code = errnoCode(cause)
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new CacheError(`cannot inspect the cache directory ${dir}: ${errnoText(cause)}`, { cause })
  }
  if (info === undefined) {
    try {
      await mkdir(dirname(dir), { recursive: true, mode: 0o700 })
      await mkdir(dir, { mode: 0o700 })
    } catch (cause) {
      // EEXIST: another process made it first; it is checked below like any other.
      if (errnoCode(cause) !== 'EEXIST') {
        throw new CacheError(`cannot create the cache directory ${dir}: ${errnoText(cause)}`, {
          cause,
          detail: { file: dir, reason: 'cannot-create' },
          advice: CANNOT_CREATE,
        })
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
 * `absent`, `ok`, or the CacheError {@link openPrivateDir} would throw. For a scope's directory
 * ({@link resolveCacheDir}) the private directory holding it is inspected first, as
 * {@link openCacheDir} opens both.
 */
export function inspectPrivateDir(dir: string, uid: number | undefined): 'absent' | 'ok' | CacheError {
  if (SCOPE_NAME.test(basename(dir))) {
    const parent = inspectOne(dirname(dir), uid)
    if (parent !== 'ok') return parent
  }
  return inspectOne(dir, uid)
}

function inspectOne(dir: string, uid: number | undefined): 'absent' | 'ok' | CacheError {
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

/** True when `dir` is a private directory of `uid` as it is (nothing created): for reading other scopes. */
export function isPrivateDir(dir: string, uid: number | undefined): boolean {
  return inspectOne(dir, uid) === 'ok'
}
