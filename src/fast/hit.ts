// The entry of dist/fast-hit.cjs, which bin/bktx.js requires before anything else for `bktx
// token` and `bktx env`: it answers a command that dist/fast-token.cjs answered from the cache
// before, from that answer's memo (./memo.ts), without resolving the settings or opening the
// key, so that a repeated hit runs little more code than printing takes. Whatever it cannot
// check (no memo, anything the memo depended on changed, the entry gone, expired or not
// written for the memo's inputs, any error) returns false, and dist/fast-token.cjs answers as
// before and writes the memo again. It touches `process` because it is an entry point.
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { tokenFromEntry, type EntryMeta } from '../cache/entry.js'
import { isCacheKey } from '../cache/key.js'
import { DEFAULT_MIN_TTL, isServable, requestedOf, type CachedTokenResult } from '../cache/with-cache.js'
import type { ExchangeParams } from '../exchange/types.js'
import { renderEnv } from '../shell/quote.js'
import { colorLevel } from '../term/color.js'
import { linuxParentName } from '../term/parent.js'
import { describeWriteError, writeFdSync } from '../term/process.js'
import { tokenDocument } from '../token/document.js'
import { tokenVariables } from '../token/variables.js'
import type { Env } from '../env.js'
import { sha256Hex } from '../hash/sha256.js'
import { ABSENT, envDigest, identity, invocation, isAbsence, MAX_MEMO_BYTES, memoDir, memoFile, parseMemo, type HitMemo, type Probe } from './memo.js'

// src/exit-codes.ts's EXIT.OK and EXIT.OUTPUT: that module builds its tables as it loads, which
// would cost every hit (test/e2e/hit-memo.test.ts compares the exit codes with dist/fast-token.cjs's).
const OK = 0
const OUTPUT = 9

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0

/** Reads a keychain item's secret (dist/fast-keychain.cjs, src/fast/keychain.ts); undefined when it cannot. */
export type KeychainRead = (item: { env: Env; uid: number; account: string }) => Promise<string | undefined>

export interface HitOptions {
  /**
   * Loads the keychain reader, for a memo whose token is in the keychain; without it such a
   * memo is left to dist/fast-token.cjs. bin/bktx.js loads it with a code cache of its own, so
   * a file hit never reads the D-Bus client.
   */
  keychain?: () => KeychainRead
}

/**
 * `bktx token ARGS` or `bktx env ARGS` (`argv` with its command first) from its memo: true when
 * served (exit code set), else false; a promise of that for an entry whose token is in the
 * keychain, read over D-Bus.
 */
export function serveHit(argv: readonly string[], options: HitOptions = {}): boolean | Promise<boolean> {
  try {
    return serve(argv, options)
  } catch {
    return false
  }
}

function serve(argv: readonly string[], options: HitOptions): boolean | Promise<boolean> {
  const uid = process.getuid?.()
  const env = process.env
  const home = env['HOME']
  if (process.platform === 'win32' || uid === undefined || home === undefined) return false
  const parent = argv[0] === 'env' && process.platform === 'linux' ? (linuxParentName(process.ppid) ?? '') : null
  const inv = invocation({ bundle: __filename, argv, cwd: process.cwd(), home, uid, platform: process.platform, parent })
  const memo = readMemo(memoDir(env, home), inv, uid)
  if (memo === undefined || memo.inv !== inv || !isCacheKey(memo.key)) return false
  for (const name of memo.unset) if (typeof env[name] === 'string') return false
  for (const [name, value] of memo.plain) if (env[name] !== value) return false
  if (envDigest(memo.hashed, env) !== memo.hashedDigest) return false
  if (memo.parent !== null && memo.parent !== parent) return false
  for (const [probe, path, seen] of memo.seen) if (seeNow(probe, path) !== seen) return false
  const entry = servable(memo)
  if (entry === undefined) return false
  const item = memo.keychain
  if (item === undefined) {
    const secret = readToken(join(memo.dir, `${memo.key}.token`), memo.token, uid)
    return secret !== undefined && answer(memo, entry, secret, 'file')
  }
  const load = options.keychain
  const digest = load === undefined ? undefined : metaDigest(join(memo.dir, `${memo.key}.json`), item.meta, uid)
  if (load === undefined || digest === undefined) return false
  return (
    load()({ env, uid, account: item.account })
      // The cache's own rule (src/cache/cache.ts read): a secret that is not the token the
      // metadata describes (an item replaced behind bktx's back) is not served.
      .then((secret) => secret !== undefined && sha256Hex(secret) === digest && answer(memo, entry, secret, 'keychain'))
      // Any failure, as serveHit's own: dist/fast-token.cjs answers.
      .catch(() => false)
  )
}

/** Prints the answer as dist/fast-token.cjs does (src/fast/main.ts); false when it would carry a notice. */
function answer(memo: HitMemo, entry: ServableEntry, secret: string, cache: 'file' | 'keychain'): boolean {
  const result = cachedResult(entry, secret, cache)
  if (result === undefined) return false
  const env = process.env
  const stdout =
    'env' in memo.output
      ? renderEnv(memo.output.env, tokenVariables(result, memo.params.org))
      : memo.output.token === 'json'
        ? `${JSON.stringify(tokenDocument(result), null, 2)}\n`
        : `${result.accessToken}\n`
  const failed = writeFdSync(1, stdout)
  process.exitCode = OK
  if (failed !== undefined) {
    process.exitCode = OUTPUT
    if (failed.code !== 'EPIPE') {
      const colour = colorLevel({ flag: memo.color, env, isTTY: process.stderr.isTTY === true, terminalLevel: () => 1 }) !== 0
      writeFdSync(2, `${colour ? '\u001b[31merror:\u001b[39m' : 'error:'} cannot write to stdout: ${describeWriteError(failed)}\n`)
    }
  }
  return true
}

/**
 * The memo of `inv`, read only when it and its directory are this user's own and nobody else
 * may write (or read) them, and not through a symbolic link: a memo decides which cached token
 * is printed, so one planted by another user could hand out a token this user holds for
 * something else (the same rule as the token cache's files, src/fs/private-file.ts).
 */
function readMemo(dir: string, inv: string, uid: number): HitMemo | undefined {
  const own = (info: { uid: number; mode: number }) => info.uid === uid && (info.mode & 0o077) === 0
  const folder = lstatSync(dir)
  if (!folder.isDirectory() || !own(folder)) return undefined
  const fd = openSync(memoFile(dir, inv), constants.O_RDONLY | O_NOFOLLOW)
  try {
    const info = fstatSync(fd)
    if (!info.isFile() || !own(info) || info.size > MAX_MEMO_BYTES) return undefined
    return parseMemo(readFileSync(fd, 'utf8'))
  } finally {
    closeSync(fd)
  }
}

/** What `probe` of `path` sees now, as the run that wrote the memo saw it (./observed-fs.ts). */
function seeNow(probe: Probe, path: string): string {
  try {
    switch (probe) {
      case 'stat': {
        const info = statSync(path, { throwIfNoEntry: false })
        return info === undefined ? ABSENT : identity(info)
      }
      case 'lstat': {
        const info = lstatSync(path, { throwIfNoEntry: false })
        return info === undefined ? ABSENT : identity(info)
      }
      case 'realpath':
        return realpathSync(path)
      case 'exists':
        return existsSync(path) ? 'yes' : 'no'
    }
  } catch (error) {
    if (isAbsence(error)) return ABSENT
    throw error
  }
}

interface ServableEntry {
  meta: EntryMeta
  params: ExchangeParams
  now: Date
  minTtl: number | undefined
}

/**
 * The memo's entry when it may still be served: its metadata file is the one the first run
 * parsed and matched to the memo's exchange inputs (the file is among those replayed), and its
 * expiry is checked again as the cache checks it (src/token/lookup.ts). Asked before the secret
 * is read, so an expired entry never costs a keychain call (src/cache/cache.ts does the same).
 */
function servable(memo: HitMemo): ServableEntry | undefined {
  const p = memo.params
  const meta: EntryMeta = {
    ...memo.entry,
    v: 1,
    key: memo.key,
    backend: memo.keychain === undefined ? 'file' : 'keychain',
    tokenUrl: p.tokenUrl,
    org: p.org,
    clientId: p.clientId,
    keyFingerprint: p.keyFingerprint,
    subject: p.subject,
    subjectType: p.subjectType,
    requestedScopes: [...new Set(p.scopes)].sort(),
    requestedTtl: p.ttl,
    expiresAt: '',
    tokenHint: null,
    tokenSha256: '',
  }
  // The fingerprint is all of the key the cache key and the metadata hold (src/cache/key.ts).
  const params = { ...p, key: { fingerprint: p.keyFingerprint }, ttl: p.ttl ?? undefined } as unknown as ExchangeParams
  const now = new Date()
  const minTtl = memo.minTtl ?? undefined
  return isServable(meta, params, now, minTtl ?? DEFAULT_MIN_TTL) ? { meta, params, now, minTtl } : undefined
}

/**
 * The answer of a servable entry and its secret: a file's (checked on the descriptor read to
 * be the file whose SHA-256 the memo's run checked, see ./memo.ts) or a keychain item's
 * (checked against the metadata's SHA-256). Undefined when the full answer would carry a
 * notice (a --min-ttl capped to half the token's life).
 */
function cachedResult(entry: ServableEntry, secret: string, cache: 'file' | 'keychain'): CachedTokenResult | undefined {
  const { meta, params, now, minTtl } = entry
  const result: CachedTokenResult = { ...tokenFromEntry(meta, secret), cached: true, cache, notices: [], requested: requestedOf(params) }
  // A --min-ttl capped to half the token's life has a notice (src/token/min-ttl.ts minTtlNotice, which this mirrors).
  if (minTtl !== undefined && Math.floor((result.expiresAt.getTime() - now.getTime()) / 1000) < minTtl) return undefined
  return result
}

/**
 * The `tokenSha256` of the metadata file at `path` when it is the file the memo's run parsed
 * (same identity, so same content) and private to `uid`, else undefined.
 */
function metaDigest(path: string, expected: string, uid: number): string | undefined {
  const fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW)
  try {
    const info = fstatSync(fd)
    if (identity(info) !== expected || !info.isFile() || info.uid !== uid || (info.mode & 0o077) !== 0 || info.size > MAX_MEMO_BYTES) return undefined
    const digest = (JSON.parse(readFileSync(fd, 'utf8')) as { tokenSha256?: unknown }).tokenSha256
    return typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest) ? digest : undefined
  } finally {
    closeSync(fd)
  }
}

/** The token file's text when it is the file the memo's run read (and so a regular file of `uid`'s, private), else undefined. */
function readToken(path: string, expected: string, uid: number): string | undefined {
  const fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW)
  try {
    const info = fstatSync(fd)
    if (identity(info) !== expected || !info.isFile() || info.uid !== uid || (info.mode & 0o077) !== 0 || info.size > MAX_MEMO_BYTES) return undefined
    return readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
}
