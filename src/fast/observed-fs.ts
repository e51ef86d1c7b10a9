// node:fs as dist/fast-token.cjs sees it (scripts/build.mjs, observedFs): the real functions,
// with what each call saw noted for the run's hit memo while the fast path observes
// (./observe.ts). Calls that only read are noted (stat, lstat, realpath, existsSync, and an
// open for reading as the stat of what it opened); any other call made while observing spoils
// the memo (a write changes what the run saw). Calls on a descriptor need nothing: the open
// was noted. The build fails if the bundle imports a name this module does not export.
import type * as fs from 'node:fs'
import {
  closeSync as realClose,
  constants as realConstants,
  existsSync as realExists,
  fstatSync as realFstat,
  lstatSync as realLstat,
  mkdirSync as realMkdir,
  openSync as realOpen,
  readdirSync as realReaddir,
  readFileSync as realReadFile,
  readSync as realRead,
  realpathSync as realRealpath,
  renameSync as realRename,
  statSync as realStat,
  unlinkSync as realUnlink,
  writeFileSync as realWriteFile,
  writeSync as realWrite,
} from 'node:fs'
import { isAbsence } from './memo.js'
import { markFsObserved, noteStat, observer } from './observe.js'

markFsObserved()

// O_ACCMODE is 3 on Linux and macOS (Node does not export it).
const O_ACCMODE = 3
const { O_RDONLY, O_CREAT, O_TRUNC, O_APPEND, O_NOFOLLOW = 0 } = realConstants

export const constants = realConstants
export const closeSync = realClose
export const fstatSync = realFstat
export const readSync = realRead
export const writeSync = realWrite

/** Runs a call that resolves `path`: its answer is noted, absence too; any other error spoils. */
function stat(probe: 'stat' | 'lstat', path: unknown, call: () => fs.Stats | fs.BigIntStats | undefined): fs.Stats | fs.BigIntStats | undefined {
  let info: fs.Stats | fs.BigIntStats | undefined
  try {
    info = call()
  } catch (error) {
    if (isAbsence(error)) noteStat(probe, path, undefined)
    else observer()?.spoil(`${probe} failed`)
    throw error
  }
  if (info !== undefined && typeof info.mode === 'bigint') observer()?.spoil('a BigInt stat')
  else noteStat(probe, path, info as fs.Stats | undefined)
  return info
}

export const statSync = ((path: fs.PathLike, options?: fs.StatSyncOptions) => stat('stat', path, () => realStat(path, options))) as typeof fs.statSync
export const lstatSync = ((path: fs.PathLike, options?: fs.StatSyncOptions) => stat('lstat', path, () => realLstat(path, options))) as typeof fs.lstatSync

export function existsSync(path: fs.PathLike): boolean {
  const found = realExists(path)
  observer()?.note('exists', path, found ? 'yes' : 'no')
  return found
}

function realpath(path: fs.PathLike, options?: fs.EncodingOption): string | Buffer {
  let found: string | Buffer
  try {
    found = realRealpath(path, options)
  } catch (error) {
    if (isAbsence(error)) observer()?.note('realpath', path, '!')
    else observer()?.spoil('realpath failed')
    throw error
  }
  if (typeof found === 'string') observer()?.note('realpath', path, found)
  else observer()?.spoil('a realpath as a Buffer')
  return found
}
realpath.native = (path: fs.PathLike, options?: fs.EncodingOption) => {
  observer()?.spoil('realpath.native')
  return realRealpath.native(path, options)
}
export const realpathSync = realpath as typeof fs.realpathSync

/** An open for reading is seen as the stat (lstat with O_NOFOLLOW) of the file it opened. */
export const openSync = ((path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode | null) => {
  const o = observer()
  const readOnly =
    flags === undefined || flags === 'r' || (typeof flags === 'number' && (flags & O_ACCMODE) === O_RDONLY && (flags & (O_CREAT | O_TRUNC | O_APPEND)) === 0)
  const probe = typeof flags === 'number' && (flags & O_NOFOLLOW) !== 0 ? 'lstat' : 'stat'
  if (o !== undefined && !readOnly) o.spoil('a file opened for writing')
  let fd: number
  try {
    fd = realOpen(path, flags ?? 'r', mode)
  } catch (error) {
    if (isAbsence(error)) noteStat(probe, path, undefined)
    else o?.spoil('an open failed')
    throw error
  }
  if (o !== undefined && readOnly) noteStat(probe, path, realFstat(fd))
  return fd
}) as typeof fs.openSync

/** Read by descriptor: nothing to note (its open was). By path: not replayed, so it spoils. */
export const readFileSync = ((path: fs.PathOrFileDescriptor, options?: unknown) => {
  if (typeof path !== 'number') observer()?.spoil('a file read by path')
  return realReadFile(path, options as fs.ObjectEncodingOptions)
}) as typeof fs.readFileSync

/** Calls a memo cannot replay: made while observing, they spoil the run's memo. */
function spoiling<F extends (...args: never[]) => unknown>(name: string, call: F): F {
  return ((...args: Parameters<F>) => {
    observer()?.spoil(name)
    return call(...args)
  }) as F
}

export const mkdirSync = spoiling('mkdirSync', realMkdir)
export const writeFileSync = spoiling('writeFileSync', realWriteFile)
export const renameSync = spoiling('renameSync', realRename)
export const unlinkSync = spoiling('unlinkSync', realUnlink)
export const readdirSync = spoiling('readdirSync', realReaddir)
