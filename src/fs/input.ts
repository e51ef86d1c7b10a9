import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs'
import { errnoText } from './atomic.js'
import { untrustedDir, untrustedFile, type Untrusted } from './trust.js'

// The one reader of local inputs: config files, key and JWKS files, CA files, the server
// configuration, and stdin for `-`. A path may name a FIFO (open() blocks until a writer comes,
// read() until it writes), a device such as /dev/zero or /dev/urandom (endless), or a file that
// grows while it is read; reading "the whole file, then checking its size" hangs or exhausts
// memory on each. So: only regular files, checked before opening (a device is never opened) and
// again on the descriptor (what is read is what was checked), and the size cap enforced on the
// bytes read, not on a size reported before reading.

/** Why an input was refused, for the caller's own error (ConfigError, KeyError, ...). */
export type InputProblem = 'not-a-file' | 'too-large' | 'unreadable' | 'untrusted'

export class InputFileError extends Error {
  constructor(
    readonly problem: InputProblem,
    /** In words, without the path: `is a FIFO (named pipe), not a regular file`, `is larger than 1 MiB`. */
    readonly text: string,
    options: { cause?: unknown; untrusted?: Untrusted } = {},
  ) {
    super(text, options)
    this.name = 'InputFileError'
    this.untrusted = options.untrusted
  }

  /** With `untrusted`: who owns the file or its directory, and the command that fixes it (src/fs/trust.ts). */
  readonly untrusted: Untrusted | undefined
}

/** What a file is, for messages: `a directory`, `a FIFO (named pipe)`, `a character device`. */
export function fileKind(info: Stats): string {
  if (info.isFile()) return 'a regular file'
  if (info.isDirectory()) return 'a directory'
  if (info.isFIFO()) return 'a FIFO (named pipe)'
  if (info.isCharacterDevice()) return 'a character device'
  if (info.isBlockDevice()) return 'a block device'
  if (info.isSocket()) return 'a socket'
  return 'not a regular file'
}

/** `1 MiB`, `256 KiB`, `64 bytes`: caps in messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}

const notAFile = (info: Stats) => new InputFileError('not-a-file', `is ${fileKind(info)}, not a regular file`)
const tooLarge = (maxBytes: number) => new InputFileError('too-large', `is larger than ${formatBytes(maxBytes)}`)
// O_NONBLOCK: should the path be swapped for a FIFO between the check and the open, open()
// returns at once instead of waiting for a writer (the descriptor is then refused by fstat).
// O_NOCTTY: a terminal device never becomes the controlling terminal. Symbolic links are
// followed (a Kubernetes secret volume is a tree of them); what is checked is the file reached.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0)

const untrusted = (found: Untrusted) => new InputFileError('untrusted', found.text, { untrusted: found })

/**
 * The UTF-8 text of the regular file at `path`, at most `maxBytes` bytes. Throws
 * InputFileError: `not-a-file` (a FIFO, a device, a directory, a socket), `too-large` (checked
 * on the bytes read, so a file that grows, or lies about its size as /proc files do, is cut
 * off too), or `unreadable` with the errno (`errnoCode(error.cause)` is `ENOENT` for a missing
 * file). Synchronous: these files are small and read at start-up, where starting libuv's thread
 * pool would cost more than the read. With `trustedBy`: `untrusted` unless the file (the one
 * read, checked on the descriptor) and its directory are safe from other users than that uid
 * and root (src/fs/trust.ts).
 */
export function readInputFile(path: string, maxBytes: number, options: { trustedBy?: number | undefined } = {}): string {
  let info: Stats
  try {
    info = statSync(path)
  } catch (cause) {
    throw new InputFileError('unreadable', `cannot be read: ${errnoText(cause)}`, { cause })
  }
  if (!info.isFile()) throw notAFile(info)
  if (info.size > maxBytes) throw tooLarge(maxBytes)
  const dirProblem = untrustedDir(path, options.trustedBy)
  if (dirProblem !== undefined) throw untrusted(dirProblem)
  let fd: number
  try {
    fd = openSync(path, OPEN_FLAGS)
  } catch (cause) {
    throw new InputFileError('unreadable', `cannot be read: ${errnoText(cause)}`, { cause })
  }
  try {
    const opened = fstatSync(fd)
    if (!opened.isFile()) throw notAFile(opened)
    const fileProblem = untrustedFile(path, opened, options.trustedBy)
    if (fileProblem !== undefined) throw untrusted(fileProblem)
    // One byte more than allowed: reading it proves the file is too large.
    const buffer = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(opened.size, 4096)) + 1)
    let total = 0
    let chunk = buffer
    for (;;) {
      if (total === chunk.length) {
        if (total > maxBytes) throw tooLarge(maxBytes)
        // The file was longer than fstat said: grow, never past maxBytes + 1.
        const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, total * 2))
        chunk.copy(bigger, 0, 0, total)
        chunk = bigger
      }
      const n = readSync(fd, chunk, total, chunk.length - total, null)
      if (n === 0) break
      total += n
    }
    if (total > maxBytes) throw tooLarge(maxBytes)
    return chunk.toString('utf8', 0, total)
  } catch (cause) {
    if (cause instanceof InputFileError) throw cause
    throw new InputFileError('unreadable', `cannot be read: ${errnoText(cause)}`, { cause })
  } finally {
    closeSync(fd)
  }
}

/**
 * Why stdin (`-`) cannot be read as input, or undefined when it can: a pipe, a regular file
 * (`< file`) or a socket can; a device (`< /dev/zero`) or a directory cannot. A terminal is
 * the caller's business (it asks for the input on the command line instead).
 */
export function stdinProblem(info: Stats): InputFileError | undefined {
  if (info.isFile() || info.isFIFO() || info.isSocket()) return undefined
  return new InputFileError('not-a-file', `is ${fileKind(info)}, not a pipe or a regular file`)
}

/**
 * Reads a stream (stdin) as UTF-8 text, at most `maxBytes` bytes: the stream is destroyed as
 * soon as it holds more, so an endless producer (`yes | bktx inspect -`) costs at most the cap.
 */
export async function readInputStream(stream: AsyncIterable<Uint8Array> & { destroy(): void }, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of stream) {
    total += chunk.byteLength
    if (total > maxBytes) {
      stream.destroy()
      throw tooLarge(maxBytes)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
