import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs'

// Metadata and tokens are tiny; anything bigger is not ours.
export const MAX_PRIVATE_FILE_BYTES = 64 * 1024
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/**
 * Reads a small file from the private cache directory, or undefined when it is absent, a
 * symlink, not a regular file, not ours, readable by others, or too big: such an entry is a
 * miss. (The directory is already private; this is defence in depth against a file that got
 * there some other way, e.g. restored from a backup with other modes.)
 *
 * Synchronous on purpose: a cache hit reads two files of a few hundred bytes, and the promise
 * API would start libuv's thread pool for them, which costs more than the reads.
 */
export function readPrivateFile(path: string, uid: number | undefined): string | undefined {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW)
  } catch {
    return undefined
  }
  try {
    const info = fstatSync(fd)
    if (!info.isFile() || info.size > MAX_PRIVATE_FILE_BYTES) return undefined
    if (uid !== undefined && (info.uid !== uid || (info.mode & 0o077) !== 0)) return undefined
    return readFileSync(fd, 'utf8')
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}
