import { randomBytes } from 'node:crypto'
import { unlinkSync } from 'node:fs'
import { link, mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { FileError, FileExistsError, type Advice } from '../errors.js'

export interface AtomicWriteOptions {
  /** File mode of the new file. Applied at creation, so the content is never readable wider. */
  mode: number
  /** Mode of directories created on the way. Existing directories are left as they are. */
  dirMode?: number
  /** Replace an existing file. When false, an existing file is an error and stays untouched. */
  overwrite: boolean
  /** The advice of the FileExistsError, e.g. how to ask for a replacement. */
  existsAdvice?: Advice
}

/**
 * Writes `data` to `path` so that a reader sees the old file or the whole new one, never a
 * partial one, even after a crash: temporary file in the same directory (created with the final
 * mode and O_EXCL), fsync, then rename (or link, which fails atomically on an existing target
 * when overwriting is not allowed), then fsync of the directory so the new name is durable.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions): Promise<void> {
  const dir = dirname(path)
  try {
    await mkdir(dir, { recursive: true, mode: options.dirMode ?? 0o700 })
  } catch (cause) {
    throw new FileError(`cannot create directory ${dir}: ${errnoText(cause)}`, { cause })
  }
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  let placed = false
  try {
    const handle = await open(temp, 'wx', options.mode)
    try {
      await handle.writeFile(data)
      // The umask may have narrowed the mode at creation; never widened, but make it exact.
      await handle.chmod(options.mode)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (options.overwrite) {
      await rename(temp, path)
    } else {
      await link(temp, path)
    }
    placed = true
    await fsyncDir(dir)
  } catch (cause) {
    if (errnoCode(cause) === 'EEXIST' && !options.overwrite) {
      throw new FileExistsError(path, { advice: options.existsAdvice ?? ['refusing to overwrite it'] })
    }
    throw new FileError(`cannot write ${path}: ${errnoText(cause)}`, { cause })
  } finally {
    // After rename the temporary name is gone; after link (or a failure) it must be removed.
    if (!(placed && options.overwrite)) await unlink(temp).catch(() => undefined)
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Removes `path` if it can, synchronously, ignoring any failure: for temporary files and lock
 * files a process owns (src/cache/lock.ts, src/server/state/state-dir.ts), which may be gone
 * already or, after a takeover, no longer its to remove.
 */
export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // Gone already, or not ours to remove.
  }
}

export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** "permission denied (EACCES)" rather than Node's message with the path repeated. */
export function errnoText(error: unknown): string {
  const code = errnoCode(error)
  const known: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory',
    ENOTDIR: 'a parent is not a directory',
    ENOSPC: 'no space left on device',
    EROFS: 'read-only file system',
    EEXIST: 'already exists',
  }
  if (code !== undefined && known[code] !== undefined) return `${known[code]} (${code})`
  return error instanceof Error ? error.message : String(error)
}
