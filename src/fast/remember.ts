// Writes the hit memo (./memo.ts) of a clean cache hit dist/fast-token.cjs just served, for
// dist/fast-hit.cjs (./hit.ts) to answer the same command with next time. Synchronous and
// without node:crypto (the temporary file is named by the pid, as bin/bktx.js names its code
// caches): the run that writes it is a hit too. Nothing here may fail the run: a memo that
// cannot be written only costs the next run its speed.
import { lstatSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Env } from '../env.js'
import { SETTINGS } from '../config/settings.js'
import { ABSENT, envDigest, identity, invocation, MEMO_NAME, memoDir, memoFile, type HitMemo, type Invocation, type Seen } from './memo.js'
import { fsObserved, type Observation } from './observe.js'
import type { MemoFacts } from './token.js'

export interface RememberInput {
  observation: Observation
  facts: MemoFacts
  invocation: Invocation
  /** The run's environment (its copy, not the observing Proxy). */
  env: Env
  /** The accounts of the keychain items the run read (./main.ts): none for a file entry, that entry's one for a keychain entry. */
  keychainItems: readonly string[]
  /** Date.now() when the observation started. */
  started: number
  /** This process's id: the temporary file's name. */
  pid: number
  /** The bundles whose code made the answer (dist/fast-token.cjs) and will make the next (dist/fast-hit.cjs): a new install is a new memo. */
  bundles: readonly string[]
}

/**
 * A file changed within the same clock tick as an earlier write keeps its mtime and ctime (the
 * kernel stamps files from a coarse clock; some file systems keep whole seconds, FAT two).
 * A file whose times are this close to the start of the run could change again unseen, so
 * the run writes no memo (git's "racily clean" entries): a later run will.
 */
const RACY_MS = 100
const RACY_WHOLE_SECONDS_MS = 3000

/**
 * The variables whose values a memo keeps as they are: the settings' variables (no setting
 * holds a secret: a key is named by its source, a PIN by where to find it, and a PKCS#11 URI's
 * pin-value is refused), where bktx's files are, and the CI job names (src/cache/scope.ts).
 * Any other variable resolution reads (the variable an `env:` key names, say) is kept as a
 * digest only, and so are these when they hold the key (src/keys/open.ts secretVariables).
 */
const PLAIN_VARIABLES: ReadonlySet<string> = new Set([
  ...Object.values(SETTINGS).map((spec) => spec.env),
  'BKTX_CONFIG',
  'BKTX_PROFILE',
  'BKTX_QUIET',
  'HOME',
  'XDG_CONFIG_HOME',
  'XDG_CACHE_HOME',
  'XDG_RUNTIME_DIR',
  'CI',
  'BUILDKITE_JOB_ID',
  'GITHUB_RUN_ID',
  'GITHUB_JOB',
  'GITHUB_SERVER_URL',
  'GITHUB_RUN_ATTEMPT',
  'RUNNER_NAME',
  'RUNNER_TRACKING_ID',
  'CI_JOB_ID',
  'CI_SERVER_URL',
  'CIRCLE_WORKFLOW_JOB_ID',
  'BUILD_TAG',
  'JENKINS_URL',
  'SHELL',
  'TERM',
  'NO_COLOR',
  'FORCE_COLOR',
])

/** Memos not written for this long are removed when a memo is written and the directory holds many. */
const PRUNE_AFTER_MS = 30 * 24 * 60 * 60 * 1000
const PRUNE_ABOVE = 64

/**
 * How a memo keeps the variables resolution read: unset ones by name, settings, paths and CI job
 * names as they are, any other (the text of an `env:` key, say) only within a SHA-256 of them all.
 * Undefined, so no memo, when a variable that holds a PIN is set among them: a PIN's few digits
 * would be found again from any digest of it by trying them all. (A hit reads none today, not
 * even for a PKCS#11 key: only signing asks for the PIN.)
 */
export function memoVariables(
  read: readonly string[],
  env: Env,
  secret: readonly string[],
  pins: readonly string[],
): { unset: string[]; plain: string[]; hashed: string[] } | undefined {
  const names = [...read].sort()
  const set = names.filter((name) => typeof env[name] === 'string')
  if (set.some((name) => pins.includes(name))) return undefined
  const plain = set.filter((name) => PLAIN_VARIABLES.has(name) && !secret.includes(name))
  return { unset: names.filter((name) => typeof env[name] !== 'string'), plain, hashed: set.filter((name) => !plain.includes(name)) }
}

/** Writes the memo; returns its path, or undefined when this run leaves none (and why is of no concern to the user). */
export function rememberHit(input: RememberInput): string | undefined {
  const { observation, facts } = input
  if (!fsObserved() || observation.spoiled !== undefined) return undefined
  try {
    // The token file is checked as the hit opens it (./hit.ts); the rest is replayed. A keychain
    // entry's metadata file is replayed and checked again as the hit reads its digest.
    const tokenFile = join(facts.dir, `${facts.key}.token`)
    let token = ''
    let keychain: HitMemo['keychain']
    if (facts.backend === 'file') {
      token = observation.seen.get(`lstat\0${tokenFile}`)?.[2] ?? ABSENT
      if (token === ABSENT || input.keychainItems.length > 0) return undefined
    } else {
      const meta = observation.seen.get(`lstat\0${join(facts.dir, `${facts.key}.json`)}`)?.[2]
      const [account, ...others] = input.keychainItems
      // The entry's own item (src/cache/scoped-keychain.ts names it `<scope>.<key>`), and no other.
      if (meta === undefined || meta === ABSENT || account === undefined || !account.endsWith(`.${facts.key}`) || others.length > 0) return undefined
      keychain = { account, meta }
    }
    const seen: Seen[] = [...observation.seen.values()].filter(([, path]) => path !== tokenFile)
    const times = [...observation.times.values()]
    for (const bundle of input.bundles) {
      const info = statSync(bundle)
      seen.push(['stat', bundle, identity(info)])
      times.push(Math.max(info.mtimeMs, info.ctimeMs))
    }
    for (const time of times) {
      if (time > input.started - (time % 1000 === 0 ? RACY_WHOLE_SECONDS_MS : RACY_MS)) return undefined
    }
    const { secret, pins, backend: _backend, ...answer } = facts
    const variables = memoVariables([...observation.envNames], input.env, secret, pins)
    if (variables === undefined) return undefined
    const { unset, plain, hashed } = variables
    const memo: HitMemo = {
      v: 1,
      inv: invocation(input.invocation),
      unset,
      plain: plain.map((name) => [name, input.env[name] as string]),
      hashed,
      hashedDigest: envDigest(hashed, input.env),
      parent: observation.parent,
      seen,
      token,
      ...(keychain === undefined ? {} : { keychain }),
      ...answer,
    }
    const dir = memoDir(input.env, input.invocation.home)
    let info = lstatSync(dir, { throwIfNoEntry: false })
    if (info === undefined) {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      info = lstatSync(dir)
    }
    // The hit refuses any other directory (./hit.ts); so does the writer.
    if (!info.isDirectory() || info.uid !== input.invocation.uid || (info.mode & 0o077) !== 0) return undefined
    const file = memoFile(dir, memo.inv)
    // Only a new memo makes the directory hold more: pruned then (a rewrite costs no listing).
    const added = lstatSync(file, { throwIfNoEntry: false }) === undefined
    const temp = `${file}.${input.pid}.tmp`
    writeFileSync(temp, `${JSON.stringify(memo)}\n`, { mode: 0o600, flag: 'wx' })
    try {
      renameSync(temp, file)
    } catch (error) {
      unlinkSync(temp)
      throw error
    }
    if (added) prune(dir, file, input.started)
    return file
  } catch {
    return undefined
  }
}

/**
 * Each working directory and command line has a memo of its own; once the directory holds
 * many, those not written for 30 days (a memo is rewritten whenever what it checks changes,
 * and an unused one is never read) are removed, leftover temporary files with them.
 */
function prune(dir: string, keep: string, now: number): void {
  const names = readdirSync(dir)
  if (names.length <= PRUNE_ABOVE) return
  const before = now - PRUNE_AFTER_MS
  for (const name of names) {
    const file = join(dir, name)
    if (file === keep || !MEMO_NAME.test(name)) continue
    try {
      const info = lstatSync(file)
      if (info.isFile() && info.mtimeMs < before) unlinkSync(file)
    } catch {
      // Gone meanwhile.
    }
  }
}

/** dist/fast-hit.cjs beside `fastToken` (dist/fast-token.cjs). */
export function hitBundle(fastToken: string): string {
  return join(dirname(fastToken), 'fast-hit.cjs')
}
