import { randomBytes } from 'node:crypto'
import { closeSync, constants, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { FileError, type Advice } from '../../errors.js'
import { errnoCode, errnoText, unlinkQuietly } from '../../fs/atomic.js'
import { parseStateLine, type StateLine } from './store.js'

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/** The running process, as the state directory's checks and lock need it (entry points supply it). */
export interface ServerProcess {
  pid: number
  /** The uid files must belong to; undefined on Windows, where ownership and modes are not checked. */
  uid: number | undefined
  /** Whether a process of this pid exists (`kill(pid, 0)` succeeds or fails with EPERM). */
  isAlive(pid: number): boolean
}

export const STATE_FILE = 'state.jsonl'
export const AUDIT_FILE = 'audit.jsonl'
export const LOCK_FILE = 'server.lock'

const USE_ANOTHER: Advice = ['give the server a directory of its own with ', { option: 'state-dir' }, ' (it creates a missing one with mode 0700)']

/**
 * Creates the state directory (mode 0700) if it is missing and checks it can be trusted: a real
 * directory (not a symlink), owned by the server's user, not writable by group or others.
 * Anything else is refused, never repaired: in a shared place such as /tmp another user may have
 * made it first to plant tokens or to point a file at one of this user's (docs/token-exchange.md §9 [bktx]).
 */
export function checkStateDir(dir: string, uid: number | undefined): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (cause) {
    if (errnoCode(cause) !== 'EEXIST')
      throw new FileError(`cannot create the state directory ${dir}: ${errnoText(cause)}`, { cause, detail: { file: dir, reason: 'unwritable' } })
  }
  let info: Stats
  try {
    info = lstatSync(dir)
  } catch (cause) {
    throw new FileError(`cannot inspect the state directory ${dir}: ${errnoText(cause)}`, { cause, detail: { file: dir } })
  }
  const refuse = (problem: string, reason: string, advice: Advice = USE_ANOTHER): FileError =>
    new FileError(`refusing the state directory ${dir}: ${problem}`, { detail: { file: dir, reason }, advice })
  if (info.isSymbolicLink()) throw refuse('it is a symbolic link', 'symlink')
  if (!info.isDirectory()) throw refuse('it is not a directory', 'not-a-directory')
  const problem = ownershipProblem(info, uid)
  if (problem === 'owner') throw refuse(`it belongs to uid ${info.uid}, not to the server's user (uid ${uid})`, 'foreign-owner')
  if (problem === 'mode')
    throw refuse(`its mode is ${modeText(info)}: other users can write to it`, 'loose-mode', [`run \`chmod go-w ${dir}\`, or `, ...USE_ANOTHER])
}

/**
 * Opens a file of the state directory for reading and appending, creating it 0600, without
 * following a symlink (O_NOFOLLOW: a link planted in its place fails to open instead of
 * redirecting writes and the tail repair to its target), then checks it is a regular file of
 * the server's user that nobody else can write.
 */
export function openStateFile(path: string, uid: number | undefined): number {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | O_NOFOLLOW, 0o600)
  } catch (cause) {
    throw fileFailure(path, cause)
  }
  try {
    checkOpenFile(path, fd, uid)
  } catch (error) {
    closeSync(fd)
    throw error
  }
  return fd
}

/**
 * Reads state.jsonl strictly. Only a last line without its newline is skipped: it is a write cut
 * short by a crash, never acknowledged (acknowledgement follows the flush). Any other line that
 * is not a state record stops the start with the file and line number, since skipping it could
 * bring a revoked token back or let a used jti mint again; `repair` drops such lines instead and
 * reports their numbers.
 */
export function readStateJournal(path: string, uid: number | undefined, repair: boolean): { lines: StateLine[]; dropped: number[] } {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW)
  } catch (cause) {
    if (errnoCode(cause) === 'ENOENT') return { lines: [], dropped: [] }
    throw fileFailure(path, cause)
  }
  let text: string
  try {
    checkOpenFile(path, fd, uid)
    text = readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
  const rows = text.split('\n')
  rows.pop() // '' after the last newline, or the torn tail
  const lines: StateLine[] = []
  const dropped: number[] = []
  rows.forEach((row, i) => {
    if (row === '') return
    const record = parseStateLine(row)
    if (record !== undefined) {
      lines.push(record)
      return
    }
    if (!repair) {
      throw new FileError(`${path} line ${i + 1} is not a state record: the file is damaged`, {
        detail: { file: path, field: `line ${i + 1}`, reason: 'corrupt' },
        advice: ['restore the file from a backup, or drop the damaged lines with ', { option: 'repair-state' }, ' (a revocation or used jti on them is lost)'],
      })
    }
    dropped.push(i + 1)
  })
  return { lines, dropped }
}

// Lock files held by this process: a second server in the same process sees its own pid.
const held = new Set<string>()

/**
 * An exclusive lock on a state directory: `server.lock`, holding the holder's pid, appears
 * complete or not at all (written to a temporary file, then hard-linked into place, which fails
 * if a lock exists). A lock whose pid no longer runs is stale (a crash) and taken over. Two
 * servers on one directory would lose revocations and used jtis: the second one's start-up
 * compaction renames a new journal over the one the first is appending to.
 *
 * The pid is the only liveness test, so the lock holds between processes that see each other's
 * pids (one machine, one pid namespace), and a crashed holder's pid reused by an unrelated
 * process keeps the lock until that process ends or the file is removed.
 */
export class StateLock {
  readonly #path: string
  readonly #content: string

  private constructor(path: string, content: string) {
    this.#path = path
    this.#content = content
    held.add(path)
  }

  static acquire(dir: string, proc: ServerProcess): StateLock {
    const path = join(dir, LOCK_FILE)
    const content = `${proc.pid}\n`
    for (let attempt = 0; attempt < 5; attempt++) {
      if (place(path, content)) return new StateLock(path, content)
      const holder = readHolder(path)
      if (holder === undefined) continue // released meanwhile
      const pid = Number(holder.trim())
      const live = Number.isSafeInteger(pid) && pid > 0 && (pid === proc.pid ? held.has(path) : proc.isAlive(pid))
      if (live) {
        throw new FileError(`the state directory ${dir} is in use by another bktx server (pid ${pid})`, {
          detail: { file: path, reason: 'locked' },
          advice: ['stop that server, or give this one another directory with ', { option: 'state-dir' }],
        })
      }
      // Stale: remove it unless it changed since it was read (another server took it over).
      if (readHolder(path) === holder) unlinkQuietly(path)
    }
    throw new FileError(`cannot lock the state directory ${dir}: ${path} keeps changing`, { detail: { file: path, reason: 'locked' } })
  }

  /** Removes the lock file if it is still this one's. */
  release(): void {
    if (!held.delete(this.#path)) return
    if (readHolder(this.#path) === this.#content) unlinkQuietly(this.#path)
  }
}

/** Places `content` at `path` unless a file is there: true when placed. */
function place(path: string, content: string): boolean {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  let fd: number
  try {
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600)
  } catch (cause) {
    throw fileFailure(temp, cause)
  }
  try {
    writeSync(fd, content)
    closeSync(fd)
    linkSync(temp, path)
    return true
  } catch (cause) {
    if (errnoCode(cause) === 'EEXIST') return false
    throw fileFailure(path, cause)
  } finally {
    unlinkQuietly(temp)
  }
}

function readHolder(path: string): string | undefined {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW)
  } catch (cause) {
    if (errnoCode(cause) === 'ENOENT') return undefined
    throw fileFailure(path, cause)
  }
  try {
    return readFileSync(fd, 'utf8').slice(0, 64)
  } finally {
    closeSync(fd)
  }
}

function checkOpenFile(path: string, fd: number, uid: number | undefined): void {
  const info = fstatSync(fd)
  const refuse = (problem: string, reason: string, advice: Advice = ['remove it, or ', ...USE_ANOTHER]): FileError =>
    new FileError(`refusing ${path}: ${problem}`, { detail: { file: path, reason }, advice })
  if (!info.isFile()) throw refuse('it is not a regular file', 'not-a-file')
  const problem = ownershipProblem(info, uid)
  if (problem === 'owner') throw refuse(`it belongs to uid ${info.uid}, not to the server's user (uid ${uid})`, 'foreign-owner')
  if (problem === 'mode') throw refuse(`its mode is ${modeText(info)}: other users can write to it`, 'loose-mode', [`run \`chmod 600 ${path}\``])
}

function ownershipProblem(info: Stats, uid: number | undefined): 'owner' | 'mode' | undefined {
  if (uid === undefined) return undefined
  if (info.uid !== uid) return 'owner'
  if ((info.mode & 0o022) !== 0) return 'mode'
  return undefined
}

function modeText(info: Stats): string {
  return (info.mode & 0o7777).toString(8).padStart(4, '0')
}

function fileFailure(path: string, cause: unknown): FileError {
  if (errnoCode(cause) === 'ELOOP') {
    return new FileError(`refusing ${path}: it is a symbolic link`, {
      cause,
      detail: { file: path, reason: 'symlink' },
      advice: ['remove it, or ', ...USE_ANOTHER],
    })
  }
  return new FileError(`cannot open ${path}: ${errnoText(cause)}`, { cause, detail: { file: path } })
}
