/**
 * kill -9 of `bktx token` while it writes the cache (issue 5), on the built binary (`npm test`
 * builds it; otherwise `npm run build`) against a real `bktx server`:
 * - cold calls and `--refresh` calls over a cached entry, each in its own home, killed with
 *   SIGKILL at random moments, the instant the entry lock appears, the instant the token's
 *   temporary file appears and the instant the metadata's does. Whatever is left is a complete
 *   entry, or debris nothing reads (a hidden `.tmp`, a token without metadata, a token that does
 *   not match its metadata's SHA-256, a stale lock); every file is mode 0600. A following
 *   `bktx token` prints the complete entry's token when there is one, never the token of a
 *   mismatched pair, and otherwise mints a new one; the server accepts what it prints. The lock
 *   of a killed call is taken over at once: its pid no longer runs.
 * - a lock holder killed while 3, 32 or 100 calls wait for it: none takes the lock over while
 *   the holder lives; once it is killed they print one token between them, and the server
 *   mints exactly one.
 * - entries torn the ways an in-place or reordered writer (or a swapped file) would leave them:
 *   never served.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, readlinkSync, watch } from 'node:fs'
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { scopeOf } from '../../src/cache/dir.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseMeta } from '../../src/cache/entry.js'
import { http } from '../helpers/http.js'
import { bundleFixture, fixturePath } from '../fixtures/bundle.js'
import { CODE_CACHE } from '../helpers/code-cache.js'
import { BIN, runBin, type SpawnResult } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'
import { writeFigures } from './support.js'

const CLIENT = 'token-crash-client'
const MEMBER = 'dev@acme.test'
const TOKEN = /^bktx_[0-9A-Za-z]{43}$/
/** Temporary files of the token, the metadata, the lock and a lock takeover claim (src/cache/lock.ts). */
const TEMP = /^\.[0-9a-f]{32}\.(token|json|lock|lock\.[0-9a-f]{32}\.takeover)\.[0-9a-f]{12}\.tmp$/
/** A takeover claim, left only by a process killed while taking over a gone holder's lock. */
const CLAIM = /^[0-9a-f]{32}\.lock\.[0-9a-f]{32}\.takeover$/

const figures = {
  token_kills: 0,
  /** Kills of cold calls and of --refresh calls, by moment. */
  token_kills_by_moment: { cold: {} as Record<string, number>, refresh: {} as Record<string, number> },
  token_kill_leftovers: {} as Record<string, number>,
  follow_ups: 0,
  follow_ups_served_from_cache: 0,
  slowest_follow_up_ms: 0,
  waiters_after_holder_kill: 0,
  /** Mints the server recorded, by the number of callers waiting when the holder was killed. */
  mints_after_holder_kill: {} as Record<string, number>,
  torn_entries: 0,
}

let dir: string
let keyPath: string
let server: ServerProcess
let stateDir: string
beforeAll(async () => {
  if (!existsSync(join(BIN, '..', '..', 'dist', 'bin.js'))) throw new Error('bin/bktx.js needs dist/: run `npm run build` (npm test does)')
  dir = await mkdtemp(join(tmpdir(), 'bktx-token-crash-'))
  keyPath = join(dir, 'key.pem')
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await writeFile(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  stateDir = join(dir, 'state')
  server = await spawnServer(
    ['--member', MEMBER, '--org', 'acme', '--jwks', keyPath, '--client-id', CLIENT, '--state-dir', stateDir, '--grantable', 'read_builds read_user'],
    { HOME: dir },
  )
})
afterAll(async () => {
  writeFigures('token-crash', figures)
  await server?.stop()
  await rm(dir, { recursive: true, force: true })
})

const between = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1))
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex')

interface Home {
  env: Record<string, string>
  cacheDir: string
  /** The server its calls go to. */
  serverUrl: string
}

let homes = 0
/** A home whose private runtime directory already holds the (empty) cache directory, so it can be watched. */
async function newHome(serverUrl = server.url): Promise<Home> {
  const root = join(dir, `home-${++homes}`)
  // The scope's directory (src/cache/scope.ts): the private directory holds one per home or CI job.
  const scoped = join(root, 'run', 'bktx', scopeOf({ env: { XDG_CACHE_HOME: join(dir, 'xdg-cache') }, home: root }).name)
  await mkdir(scoped, { recursive: true, mode: 0o700 })
  return {
    cacheDir: scoped,
    serverUrl,
    env: {
      HOME: root,
      XDG_CONFIG_HOME: join(root, 'config'),
      // Shared: the V8 code cache of the start-up path (written atomically, per Node version).
      XDG_CACHE_HOME: join(dir, 'xdg-cache'),
      XDG_RUNTIME_DIR: join(root, 'run'),
      BKTX_TOKEN_URL: `${serverUrl}/oauth/token`,
      BKTX_CLIENT_ID: CLIENT,
      BKTX_KEY: keyPath,
      BKTX_ORG: 'acme',
      BKTX_SUBJECT: MEMBER,
      BKTX_CACHE: 'file',
    },
  }
}

async function accepted(token: string, serverUrl = server.url): Promise<boolean> {
  return (await http(`${serverUrl}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status === 200
}

/**
 * A successful `bktx token` whose token the server accepts; returns it. The kill timer (120 s)
 * is far beyond what a call needs (about a second, dozens at once on a loaded machine), and
 * beyond the lock's 60 s wait: a lock never released shows as bktx's own CacheError, not a kill.
 */
async function goodToken(home: Home, args: string[] = []): Promise<string> {
  const run = await runBin(['token', ...args], { env: home.env, timeoutMs: 120_000 })
  expect(run.code, run.stderr).toBe(0)
  expect(run.stderr).toBe('')
  const token = run.stdout.replace(/\n$/, '')
  expect(token).toMatch(TOKEN)
  expect(await accepted(token, home.serverUrl)).toBe(true)
  return token
}

interface Template {
  /** The entry's cache key: the same settings give the same key in every home. */
  key: string
  /** The token of the entry. */
  token: string
  /** Its files, as `bktx token` wrote them, to copy into other homes. */
  files: string[]
}

let template: Promise<Template> | undefined
/**
 * A complete entry minted once by `bktx token` against the file's server; cases that need a
 * cached entry to start from get a copy of its files (an entry names no home) instead of a
 * mint of their own, which costs a CLI start each.
 */
function entryTemplate(): Promise<Template> {
  template ??= (async () => {
    const home = await newHome()
    const token = await goodToken(home)
    const key = (await readdir(home.cacheDir)).find((name) => /^[0-9a-f]{32}\.json$/.test(name))?.slice(0, -5) as string
    // The entry and the key's remembered identity (src/cache/key-identities.ts), as a home that
    // made this call itself holds them.
    const names = (await readdir(home.cacheDir)).filter((name) => name.startsWith(key) || /^key-[A-Za-z0-9_-]{43}\.json$/.test(name))
    expect(names).toHaveLength(3)
    return { key, token, files: names.map((name) => join(home.cacheDir, name)) }
  })()
  return template
}

/** A new home holding a copy of the template entry (files mode 0600, as bktx writes them). */
async function homeWithEntry(): Promise<Home> {
  const { files } = await entryTemplate()
  const home = await newHome()
  for (const file of files) await copyFile(file, join(home.cacheDir, file.slice(file.lastIndexOf('/') + 1)))
  return home
}

/** `bktx token` in `home`, run as runBin runs it (the run's code cache), with its pid. */
function startToken(home: Home, timeoutMs: number): { pid: number; run: Promise<SpawnResult> } {
  const child = spawn(process.execPath, [BIN, 'token'], { env: { PATH: process.env['PATH'], ...CODE_CACHE, ...home.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const run = new Promise<SpawnResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr: signal === 'SIGKILL' ? `${stderr}\n[test kill timer: killed after ${timeoutMs} ms]` : stderr })
    })
  })
  return { pid: child.pid as number, run }
}

/**
 * Whether process `pid` has an inotify watch on the directory of inode `ino` (hex), per
 * /proc/<pid>/fdinfo. Synchronous: it is asked of up to 100 processes four times a second.
 */
function watchesDir(pid: number, ino: string): boolean {
  const watch = new RegExp(`^inotify wd:\\S+ ino:${ino} `, 'm')
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:inotify' && watch.test(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))) return true
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    // Ended, or not started yet.
  }
  return false
}

/** Mints counted in the audit log of the file's server. */
const auditLog = (): string => join(stateDir, 'audit.jsonl')
const mints = async (): Promise<number> => (await readFile(auditLog(), 'utf8')).split('\n').filter((line) => line.includes('"type":"token.minted"')).length

// ---------------------------------------------------------------------------------------------

type Moment = 'at random' | 'lock taken' | 'token being written' | 'metadata being written'

/**
 * Runs `bktx token` (with `--refresh` when `refresh`) and kills it with SIGKILL at `moment`:
 * after a random delay, or the instant the first matching name appears in the cache directory
 * (then `after` ms later). Names, not temporary-file patterns, trigger it: the first new file
 * of the token or the metadata, whatever it is called, so a writer that wrote in place would
 * be killed mid-write too.
 */
async function killedRun(home: Home, moment: Moment, after: number, refresh: boolean): Promise<boolean> {
  const existing = new Set(await readdir(home.cacheDir))
  const child = spawn(process.execPath, [BIN, 'token', ...(refresh ? ['--refresh'] : [])], { env: { PATH: process.env['PATH'], ...home.env }, stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let killed = false
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL')
  }
  const trigger =
    moment === 'lock taken'
      ? (name: string) => name.endsWith('.lock')
      : moment === 'token being written'
        ? (name: string) => name.includes('.token')
        : // The entry's metadata, not a key's remembered identity (key-<thumbprint>.json).
          (name: string) => name.includes('.json') && !name.includes('key-')
  if (moment === 'at random') {
    setTimeout(kill, after)
  } else {
    const watcher = watch(home.cacheDir, (_event, name) => {
      if (name === null || existing.has(name) || !trigger(name)) return
      watcher.close()
      if (after === 0) kill()
      else setTimeout(kill, after)
    })
    void exited.then(() => watcher.close())
  }
  await exited
  return killed
}

interface Leftovers {
  /** What was found, for the figures: e.g. "complete entry", "temporary file", "stale lock" (of a killed holder). */
  kinds: string[]
  /** The token of a complete entry (metadata and token file that match). */
  complete: string | undefined
  /** Token files that must not be served: no metadata, or metadata of another token. */
  unserved: string[]
}

/** Every name in the cache directory is a complete entry's file or debris that nothing reads. */
async function inspect(home: Home): Promise<Leftovers> {
  const names = await readdir(home.cacheDir)
  const out: Leftovers = { kinds: [], complete: undefined, unserved: [] }
  expect((await lstat(home.cacheDir)).mode & 0o077).toBe(0)
  const keys = new Set<string>()
  for (const name of names) {
    const path = join(home.cacheDir, name)
    const info = await lstat(path)
    // A key's remembered identity (src/cache/key-identities.ts) or its temporary file: not a
    // token entry, and read only to skip a key parse; still private, like every file here.
    if (/^\.?key-[A-Za-z0-9_-]{43}\.json(\.[0-9a-f]{12}\.tmp)?$/.test(name)) {
      expect(info.isFile() && (info.mode & 0o077) === 0, name).toBe(true)
      continue
    }
    const match = /^([0-9a-f]{32})\.(json|token|lock)$/.exec(name)
    // Complete or not, no file is readable by anyone else.
    expect(info.isFile(), name).toBe(true)
    expect(info.mode & 0o077, name).toBe(0)
    if (match?.[2] === 'lock') {
      out.kinds.push('stale lock')
    } else if (CLAIM.test(name)) {
      out.kinds.push('takeover claim')
    } else if (match === null) {
      expect(name).toMatch(TEMP)
      out.kinds.push('temporary file')
    } else {
      keys.add(match[1] as string)
    }
  }
  for (const key of keys) {
    const metaText = existsSync(join(home.cacheDir, `${key}.json`)) ? await readFile(join(home.cacheDir, `${key}.json`), 'utf8') : undefined
    const token = existsSync(join(home.cacheDir, `${key}.token`)) ? await readFile(join(home.cacheDir, `${key}.token`), 'utf8') : undefined
    // A file under an entry's own name is always whole: metadata that parses, a whole token
    // that the server minted.
    const meta = metaText === undefined ? undefined : parseMeta(metaText, key)
    if (metaText !== undefined) expect(meta, `${key}.json: ${metaText}`).toBeDefined()
    if (token !== undefined) {
      expect(token).toMatch(TOKEN)
      expect(await accepted(token, home.serverUrl)).toBe(true)
    }
    if (meta !== undefined && token !== undefined && meta.tokenSha256 === sha256(token)) {
      out.kinds.push('complete entry')
      out.complete = token
    } else if (meta !== undefined && token !== undefined) {
      out.kinds.push('token not matching its metadata')
      out.unserved.push(token)
    } else if (token !== undefined) {
      out.kinds.push('token without metadata')
      out.unserved.push(token)
    } else {
      out.kinds.push('metadata without token')
    }
  }
  if (out.kinds.length === 0) out.kinds.push('nothing')
  return out
}

describe('kill -9 of bktx token while it writes the cache', () => {
  it('leaves a complete entry or debris nothing reads; the next call serves the entry or mints anew, after any stale lock', async () => {
    // How long a cold call takes here, to spread the random kills over its life.
    const probe = await newHome()
    let started = Date.now()
    await goodToken(probe)
    const cold = Date.now() - started
    started = Date.now()
    await goodToken(probe, ['--refresh'])
    const refresh = Date.now() - started

    interface Plan {
      refresh: boolean
      moment: Moment
      after: number
    }
    const plans: Plan[] = [
      ...Array.from({ length: 4 }, (): Plan => ({ refresh: false, moment: 'at random', after: between(Math.floor(cold * 0.15), Math.floor(cold * 0.9)) })),
      ...Array.from({ length: 2 }, (): Plan => ({ refresh: false, moment: 'lock taken', after: 0 })),
      ...Array.from({ length: 4 }, (_, i): Plan => ({ refresh: false, moment: 'token being written', after: i < 2 ? 0 : between(1, 4) })),
      ...Array.from({ length: 4 }, (_, i): Plan => ({ refresh: false, moment: 'metadata being written', after: i < 2 ? 0 : between(1, 4) })),
      ...Array.from({ length: 2 }, (): Plan => ({ refresh: true, moment: 'at random', after: between(Math.floor(refresh * 0.15), Math.floor(refresh * 0.9)) })),
      ...Array.from({ length: 3 }, (_, i): Plan => ({ refresh: true, moment: 'token being written', after: i === 0 ? 0 : between(1, 4) })),
      ...Array.from({ length: 4 }, (_, i): Plan => ({ refresh: true, moment: 'metadata being written', after: i < 3 ? 0 : between(1, 4) })),
    ]

    const cases: Array<{ plan: Plan; home: Home; killed: boolean; left: Leftovers }> = []
    for (let i = 0; i < plans.length; i += 4) {
      const batch = await Promise.all(
        plans.slice(i, i + 4).map(async (plan) => {
          // A --refresh call replaces a cached entry: a copy of one bktx wrote.
          const home = plan.refresh ? await homeWithEntry() : await newHome()
          const killed = await killedRun(home, plan.moment, plan.after, plan.refresh)
          return { plan, home, killed, left: await inspect(home) }
        }),
      )
      cases.push(...batch)
    }
    for (const { plan, killed, left } of cases) {
      if (!killed) continue
      figures.token_kills++
      const byMoment = figures.token_kills_by_moment[plan.refresh ? 'refresh' : 'cold']
      byMoment[plan.moment] = (byMoment[plan.moment] ?? 0) + 1
      for (const kind of new Set(left.kinds)) figures.token_kill_leftovers[kind] = (figures.token_kill_leftovers[kind] ?? 0) + 1
    }
    // The kills at the writes landed while they were under way: some left a temporary file, and
    // some --refresh kills left a new token beside the old metadata (a pair the SHA-256 refuses).
    const killedAt = (moment: Moment) => cases.filter((c) => c.killed && c.plan.moment === moment).length
    expect(killedAt('token being written') + killedAt('metadata being written')).toBeGreaterThanOrEqual(10)
    expect(cases.filter((c) => c.killed && c.left.kinds.includes('temporary file')).length).toBeGreaterThan(0)
    expect(cases.filter((c) => c.killed && c.left.kinds.includes('token not matching its metadata')).length).toBeGreaterThan(0)

    // Then, in every home at once, a plain `bktx token`: it ends by itself (goodToken's kill
    // timer), taking over any lock the killed call left, since that call's pid no longer runs.
    await Promise.all(
      cases.map(async ({ home, left }) => {
        const begun = Date.now()
        const token = await goodToken(home)
        figures.follow_ups++
        figures.slowest_follow_up_ms = Math.max(figures.slowest_follow_up_ms, Date.now() - begun)
        if (left.complete !== undefined) {
          // A complete entry is served as it is (no new exchange).
          expect(token).toBe(left.complete)
          figures.follow_ups_served_from_cache++
        }
        // Never a token whose metadata does not vouch for it.
        for (const unserved of left.unserved) expect(token).not.toBe(unserved)
        // Afterwards a complete entry. Debris may stay (nothing reads it), and so may a stale
        // lock beside an entry served without locking: the next miss takes it over.
        const after = await inspect(home)
        expect(after.complete).toBe(token)
        if (left.complete === undefined) expect(after.kinds).not.toContain('stale lock')
      }),
    )
  }, 600_000)
})

describe('a lock holder killed while calls wait for it', () => {
  /**
   * A process holds the lock of the entry `bktx token` asks for (test/fixtures/lock-holder.ts:
   * bktx's own lock code, but no exchange), `waiting` calls start and wait for it, and the holder
   * is killed with SIGKILL. The cases share the file's server and run one after another (and
   * after the kill -9 case, before the torn entries): its audit log's growth is this case's mints.
   */
  async function holderKilled(waiting: number): Promise<void> {
    let holder: ChildProcess | undefined
    try {
      // The entry's name (its cache key) from a first call in another home; the same settings
      // give the same key.
      const { key, token: probeToken } = await entryTemplate()
      const before = await mints()

      const home = await newHome()
      const held = spawn(process.execPath, [await bundleFixture(fixturePath('lock-holder.ts')), join(home.cacheDir, `${key}.lock`)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      holder = held
      const holderExit = new Promise<void>((resolve) => held.once('exit', () => resolve()))
      await new Promise<void>((resolve, reject) => {
        held.stdout?.once('data', () => resolve())
        void holderExit.then(() => reject(new Error('the lock holder exited before it locked')))
      })

      // A call refused by a live holder's lock waits with a watch on the cache directory
      // (src/cache/lock.ts; it places nothing while that lock is there): one inotify watch on
      // the directory per waiting process, seen in its /proc/<pid>/fdinfo.
      const ino = (await lstat(home.cacheDir)).ino.toString(16)
      const exited: string[] = []
      const calls = Array.from({ length: waiting }, (_, i) => {
        // A kill timer far beyond need: 100 calls start on two loaded cores, then take turns.
        const call = startToken(home, 240_000)
        void call.run.then((run) => exited.push(`call ${i}: exit ${run.code}: ${run.stderr}`))
        return call
      })
      // They are waiting, refused while the holder lives (at most 120 s for them all to start).
      // Each is looked for until seen: a call that stopped waiting would have ended (`exited`).
      const seen = new Set<number>()
      const deadline = Date.now() + 120_000
      while (seen.size < waiting && exited.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        for (const { pid } of calls) if (!seen.has(pid) && watchesDir(pid, ino)) seen.add(pid)
      }
      expect(exited, 'calls that ended while the holder lived').toEqual([])
      expect(seen.size, 'calls seen waiting before the kill').toBe(waiting)
      // Then a second more of polls refused (several: 10 ms growing to 500 ms) before the kill.
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      // A live holder's lock is never taken over, however long it is held.
      expect(exited).toEqual([])

      held.kill('SIGKILL')
      await holderExit
      const runs = await Promise.all(calls.map((call) => call.run))
      for (const run of runs) {
        expect(run.code, run.stderr).toBe(0)
        expect(run.stderr).toBe('')
      }
      const tokens = new Set(runs.map((run) => run.stdout.replace(/\n$/, '')))
      // One token between them, and one mint: exactly one took the lock over and exchanged; the
      // others, each in turn, found its entry.
      expect(tokens.size).toBe(1)
      const [token] = [...tokens] as [string]
      expect(token).toMatch(TOKEN)
      expect(token).not.toBe(probeToken)
      expect(await accepted(token)).toBe(true)
      const minted = (await mints()) - before
      figures.waiters_after_holder_kill += waiting
      figures.mints_after_holder_kill[String(waiting)] = minted
      expect(minted).toBe(1)
      // The last holder released the lock; no takeover claim is left behind.
      const after = await inspect(home)
      expect(after.complete).toBe(token)
      expect(after.kinds).not.toContain('stale lock')
      expect(after.kinds).not.toContain('takeover claim')
    } finally {
      holder?.kill('SIGKILL')
    }
  }

  it('3 waiting calls: none takes over while the holder lives; after the kill, one token and one mint', () => holderKilled(3), 300_000)
  it('32 waiting calls: one token, one mint', () => holderKilled(32), 300_000)
  it('100 waiting calls: one token, one mint', () => holderKilled(100), 400_000)
})

// ---------------------------------------------------------------------------------------------

describe('cache entries torn as a writer without these defences would leave them', () => {
  /** The entry of `home` (one key): its two paths and the token. */
  async function entryOf(home: Home): Promise<{ meta: string; token: string; value: string }> {
    const key = (await readdir(home.cacheDir)).find((n) => n.endsWith('.json'))?.slice(0, -5) as string
    const token = join(home.cacheDir, `${key}.token`)
    return { meta: join(home.cacheDir, `${key}.json`), token, value: await readFile(token, 'utf8') }
  }

  const torn: Array<[string, (entry: { meta: string; token: string; value: string }, other: string) => Promise<string>]> = [
    ['the token file cut short (an in-place write killed midway)', async (e) => writeAndReturn(e.token, e.value.slice(0, 20))],
    ['the token file empty (killed between open and write)', async (e) => writeAndReturn(e.token, '')],
    ['the token file holding another valid token, of other scopes (swapped)', async (e, other) => writeAndReturn(e.token, other)],
    [
      'the token file holding the token and more (a longer old file overwritten in place)',
      async (e, other) => writeAndReturn(e.token, `${e.value}${other.slice(5)}`),
    ],
    [
      'the metadata cut short (an in-place write killed midway)',
      async (e) => {
        const text = await readFile(e.meta, 'utf8')
        await writeFile(e.meta, text.slice(0, Math.floor(text.length / 2)), { mode: 0o600 })
        return e.value
      },
    ],
    [
      'the metadata saying it expires tomorrow, although received two hours ago with an hour to live',
      async (e) => {
        const meta = JSON.parse(await readFile(e.meta, 'utf8')) as Record<string, unknown>
        meta['receivedAt'] = new Date(Date.now() - 2 * 3600_000).toISOString()
        meta['expiresIn'] = 3600
        meta['expiresAt'] = new Date(Date.now() + 24 * 3600_000).toISOString()
        await writeFile(e.meta, JSON.stringify(meta), { mode: 0o600 })
        return e.value
      },
    ],
  ]

  let other: Promise<string> | undefined
  /** Another valid token, of other scopes (minted once, in a home of its own), for the swaps. */
  const otherToken = (): Promise<string> => (other ??= newHome().then((side) => goodToken(side, ['--scope', 'read_user'])))

  async function writeAndReturn(path: string, text: string): Promise<string> {
    await writeFile(path, text, { mode: 0o600 })
    return text
  }

  it.concurrent.each(torn)(
    '%s: not served; a new token is minted and the server accepts it',
    async (_name, tear) => {
      figures.torn_entries++
      const other = await otherToken()
      // A copy of an entry bktx wrote, then torn.
      const home = await homeWithEntry()
      const planted = await tear(await entryOf(home), other)
      const token = await goodToken(home)
      expect(token).not.toBe(planted)
      expect(token).not.toBe(other)
      expect((await entryOf(home)).value).toBe(token)
      // One call (besides the shared template and other token), under goodToken's kill timer:
      // the bound only stops a hung test.
    },
    400_000,
  )
})
