// The hit memo (issue 23): what a `bktx token` or `bktx env` cache hit served by
// dist/fast-token.cjs depended on, kept so that the same command run again is answered by
// dist/fast-hit.cjs (./hit.ts) without resolving the settings, opening the key or parsing the
// cache entry: it checks that nothing the first answer depended on changed, reads the token
// (its file, or its keychain item over bktx's own D-Bus client, ./keychain.ts), checks the
// entry's expiry as the cache does, and prints. The record is written by ./remember.ts after a
// clean hit (no notice, an entry in a file or the keychain, a key from a file, a variable or a
// PKCS#11 token, whose hit reads only its recorded public half; no keychain call but the lock
// question and the entry's own item); anything the hit cannot check sends the run on to
// dist/fast-token.cjs, which answers as before and writes the record again.
//
// What one answer depended on, and how a later run knows it still holds:
// - the install, the command line, the working directory, $HOME and the uid: they name the record;
// - every environment variable resolution read, set or not (./observe.ts reads them through a
//   Proxy): values of variables known to hold settings, paths or CI job names as they are,
//   any other (a key's text in a variable) only as a SHA-256;
// - for `bktx env` without --shell, the parent process's name;
// - every file system call resolution made (./observe.ts records them through the fast
//   bundle's node:fs, ./observed-fs.ts): each stat, lstat, open and realpath with what it
//   saw, replayed by the next run, which must see the same. A file is seen as its device,
//   inode, type, mode, owner, group, size, mtime and ctime; a directory as all of these but
//   the size and times (entries come and go; what is checked of a directory is its owner and
//   mode); a path that was absent must still be absent. A user cannot set a ctime: a file
//   rewritten, replaced or touched back (utimes) has a new one. A run that saw a file whose
//   times are too recent to tell a later change in the same clock tick writes no memo
//   (./remember.ts).
// - the cache entry's two files among them: the metadata file must be the one the first run
//   parsed and matched to its exchange inputs (src/cache/entry.ts metaMatches), the token file
//   the one whose SHA-256 it checked against that metadata. The memo keeps the few fields of
//   the metadata the answer needs (never the token, nor its hint or digest); the hit checks the
//   expiry again (src/cache/with-cache.ts isServable) with the clock of its own run. A token
//   minted again (new files), removed (logout) or expired is not served by the memo.
// - for an entry whose token is in the OS keychain, the metadata file likewise, and the item
//   as it is now: the hit reads it (src/secrets/read.ts: never a prompt, never a locked
//   collection) and serves it only when its SHA-256 is the metadata file's `tokenSha256`, as
//   the cache's own read requires (src/cache/cache.ts). An item replaced, removed or locked
//   since is not served by the memo. The run that wrote the memo may have asked the keychain
//   whether it is unlocked and read that one item, nothing else (src/fast/main.ts).
//
// Why a memo cannot serve another key's token: the fingerprint resolution derived from the key
// it read decided which entry was read and checked; the memo holds only while that key's file
// (or variable), everything that led to it (configuration, profile, variables, the key
// identity record) and the entry's files are as they were. The memo holds no token and no key,
// only names, paths, stat identities, setting values and digests; it is read only when it and
// its directory are the user's own and private, and never through a symbolic link.
import type { Stats } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { Env } from '../env.js'
import { sha256Hex } from '../hash/sha256.js'
import type { ShellKind } from '../shell/quote.js'
import type { EntryMeta } from '../cache/entry.js'

/** The file system calls a memo replays. */
export type Probe = 'stat' | 'lstat' | 'realpath' | 'exists'

/** One call resolution made: the call, its path, and what it saw (./observe.ts). */
export type Seen = [probe: Probe, path: string, seen: string]

/** What the memo's hit prints: `bktx token`, `bktx token --json`, or `bktx env` in a syntax. */
export type MemoOutput = { token: 'text' | 'json' } | { env: ShellKind }

export interface HitMemo {
  v: 1
  /** The invocation's text ({@link invocation}). */
  inv: string
  /** The environment variables resolution read that were unset. */
  unset: string[]
  /** Set ones whose values are settings, paths or CI job names, with their values. */
  plain: [string, string][]
  /** Set ones whose values are kept as their SHA-256 only ({@link envDigest}; '' for none). */
  hashed: string[]
  hashedDigest: string
  /** The parent process's name as `bktx env` asked it ('' when unknown); null when not asked. */
  parent: string | null
  seen: Seen[]
  /** The scope's cache directory and the entry's cache key (src/cache/key.ts). */
  dir: string
  key: string
  /** The token file's identity as the first run read it ({@link identity}); '' for a keychain entry. */
  token: string
  /**
   * Set for an entry whose token is in the OS keychain: the item's account, and the identity
   * of the metadata file whose `tokenSha256` the secret read must match (./hit.ts). Absent for a file entry.
   */
  keychain?: { account: string; meta: string }
  /** The exchange inputs the entry was written for (src/cache/entry.ts metaMatches). */
  params: Pick<EntryMeta, 'tokenUrl' | 'org' | 'clientId' | 'keyFingerprint' | 'subject' | 'subjectType'> & { scopes: string[]; ttl: number | null }
  /** What the answer takes from the entry's metadata (src/cache/entry.ts EntryMeta). */
  entry: Pick<EntryMeta, 'receivedAt' | 'expiresIn' | 'tokenType' | 'issuedTokenType' | 'scopes'>
  /** --min-ttl in seconds; null when not given (the default applies, capped silently). */
  minTtl: number | null
  output: MemoOutput
  /** False with --no-color: an `error:` line (stdout failing) is then never coloured. */
  color: boolean
}

/** What an absent path (ENOENT, ENOTDIR) is seen as. */
export const ABSENT = '!'
/** A memo file's largest size: a few kilobytes in practice. */
export const MAX_MEMO_BYTES = 64 * 1024

/** The process facts a memo is named by. */
export interface Invocation {
  /** dist/fast-hit.cjs of the install that answers: two installs (global, npx) keep memos apart. */
  bundle: string
  argv: readonly string[]
  /**
   * For `bktx env` on Linux, the parent process's name ('' when unknown): the shell that reads
   * the output, whose syntax it may be in. A memo each, so that a command run from two shells
   * (or a shell and a script runner) does not rewrite one memo turn by turn.
   */
  parent: string | null
  cwd: string
  home: string
  uid: number
  platform: string
}

/** The canonical text of an invocation: the memo holds it, and is named by a hash of it ({@link memoFile}). */
export function invocation(inv: Invocation): string {
  return JSON.stringify(['bktx-hit-memo-v1', inv.bundle, inv.platform, inv.uid, inv.home, inv.cwd, inv.argv, inv.parent])
}

/**
 * `$XDG_CACHE_HOME/bktx/hits` (else `~/.cache/bktx/hits`), beside the V8 code caches of
 * bin/bktx.js: no token is kept there, so it needs no memory-backed directory.
 */
export function memoDir(env: Env, home: string): string {
  const xdg = env['XDG_CACHE_HOME']
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.cache'), 'bktx', 'hits')
}

/**
 * The memo file of an invocation's text: named by a 64-bit FNV-1a hash of it (two 32-bit
 * lanes), which only spreads the names; the memo holds the text itself, compared whole. Not
 * SHA-256: hashing costs a hit more than anything else it computes.
 */
export function memoFile(dir: string, text: string): string {
  let a = 0x811c9dc5
  let b = 0x01000193
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x811c9dc5) ^ (a >>> 15)
  }
  return join(dir, `${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}.json`)
}

/** The memo file names {@link memoFile} makes (and their temporary files, ./remember.ts). */
export const MEMO_NAME = /^[0-9a-f]{16}\.json(\.\d+\.tmp)?$/

/** SHA-256 of the values of `names` (variables whose values the memo does not keep, ./remember.ts). */
export function envDigest(names: readonly string[], env: Env): string {
  return names.length === 0 ? '' : sha256Hex(JSON.stringify(names.map((name) => env[name])))
}

/** How a memo sees a stat result (see the top of this file). */
export function identity(info: Stats): string {
  const kind = info.isFile() ? 'f' : info.isDirectory() ? 'd' : info.isSymbolicLink() ? 'l' : 'o'
  const base = `${kind}:${info.dev}:${info.ino}:${info.mode}:${info.uid}:${info.gid}`
  return kind === 'd' ? base : `${base}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`
}

/** Whether an error is a path that is not there. */
export function isAbsence(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** A memo as read, or undefined when its shape is not this version's (the memo is the user's own, written by this bundle: ./hit.ts). */
export function parseMemo(text: string): HitMemo | undefined {
  const m = JSON.parse(text) as HitMemo
  const ok =
    m.v === 1 &&
    Array.isArray(m.seen) &&
    Array.isArray(m.plain) &&
    Array.isArray(m.hashed) &&
    Array.isArray(m.unset) &&
    typeof m.entry === 'object' &&
    typeof m.params === 'object' &&
    typeof m.output === 'object'
  return ok ? m : undefined
}
