// Issue 20: CI jobs and homes never share a token, expired entries are swept, and no cache
// directory is no error in auto. Real files in temp directories; the keychain is a memory store.
import { mkdir, mkdtemp, readdir, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openCacheDir } from '../../../src/cache/dir.js'
import { cacheKey } from '../../../src/cache/key.js'
import { cacheScope, jobIdentities } from '../../../src/cache/scope.js'
import { selectCache, selectEveryEntry } from '../../../src/cache/select.js'
import { withCache } from '../../../src/cache/with-cache.js'
import { CacheError, KeychainError } from '../../../src/errors.js'
import { MemorySecretStore } from '../../../src/secrets/store.js'
import { cliText } from '../../helpers/describe.js'
import { fakeExchanger, fixedClock, testParams, type FixedClock } from './helpers.js'

const uid = process.getuid?.()

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'bktx-scope-'))
}

/** One process's cache: its env over a shared runtime directory (one uid, one host). */
async function processCache(
  runtime: string,
  env: Record<string, string>,
  clock: FixedClock,
  secrets = new MemorySecretStore(),
  mode: 'auto' | 'file' = 'auto',
) {
  return selectCache({
    mode,
    env: { XDG_RUNTIME_DIR: runtime, ...env },
    home: env['HOME'] ?? '/home/agent',
    uid,
    clock,
    secrets,
    shmDir: join(runtime, 'no-shm'),
  })
}

describe('the scope of a cache', () => {
  it('is the home, or the CI job: each system names the job', () => {
    const home = (env: Record<string, string>) => cacheScope(env, '/home/a/.cache/bktx')
    expect(home({}).kind).toBe('home')
    expect(home({}).name).toMatch(/^home-[0-9a-f]{16}$/)
    expect(cacheScope({}, '/home/b/.cache/bktx').name).not.toBe(home({}).name)
    const jobs: Record<string, string>[] = [
      { BUILDKITE_JOB_ID: '0190-a' },
      { BUILDKITE_JOB_ID: '0190-b' },
      { GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'test' },
      { GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '2', GITHUB_JOB: 'test' },
      { GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'lint' },
      // Matrix legs share run, attempt and job: at once on two runners, or one after the other on one.
      { GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'test', RUNNER_NAME: 'runner-2' },
      { GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'test', RUNNER_TRACKING_ID: 'github_5e0f' },
      { CI_JOB_ID: '901' },
      { CIRCLE_WORKFLOW_JOB_ID: 'c1rc1e' },
      { BUILD_TAG: 'jenkins-app-12' },
    ]
    const names = jobs.map((env) => home({ CI: 'true', ...env }))
    expect(names.every((s) => s.kind === 'job' && /^job-[0-9a-f]{16}$/.test(s.name))).toBe(true)
    expect(new Set(names.map((s) => s.name)).size).toBe(jobs.length)
    // The same job is the same scope in every process of it; CI alone identifies no job.
    expect(home({ BUILDKITE_JOB_ID: '0190-a', CI: 'true' }).name).toBe(names[0]?.name)
    expect(jobIdentities({ CI: 'true', GITHUB_RUN_ID: '77' })).toEqual([])
    expect(home({ CI: 'true' }).kind).toBe('home')
  })
})

describe('CI jobs on one host', () => {
  it('two Buildkite jobs (same uid and HOME) mint twice, and one job clearing everything leaves the other its token', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const mint = fakeExchanger(clock)
    const jobA = { CI: 'true', BUILDKITE_JOB_ID: 'job-a', HOME: '/var/lib/buildkite-agent' }
    const jobB = { ...jobA, BUILDKITE_JOB_ID: 'job-b' }
    const a = (await processCache(runtime, jobA, clock)).cache
    const b = (await processCache(runtime, jobB, clock)).cache
    expect(a.dir).not.toBe(b.dir)
    const tokenA = await withCache(mint.exchange, a, { clock })(testParams())
    const tokenB = await withCache(mint.exchange, b, { clock })(testParams())
    expect(mint.count()).toBe(2)
    expect(tokenB.accessToken).not.toBe(tokenA.accessToken)
    expect((await stat(b.dir as string)).mode & 0o777).toBe(0o700)
    // A later process of job A is served A's token; B's lists only B's.
    expect(await withCache(mint.exchange, (await processCache(runtime, jobA, clock)).cache, { clock })(testParams())).toMatchObject({
      cached: true,
      accessToken: tokenA.accessToken,
    })
    expect((await b.list()).map((e) => e.tokenHint)).toEqual([tokenB.accessToken.slice(-4)])
    // `logout --all` in job A reaches A's entries only.
    const everyA = (await selectEveryEntry({ env: { XDG_RUNTIME_DIR: runtime, ...jobA }, home: jobA.HOME, uid, clock, secrets: new MemorySecretStore() })).cache
    expect((await everyA.list()).map((e) => e.tokenHint)).toEqual([tokenA.accessToken.slice(-4)])
    expect((await everyA.clearAll()).removed).toBe(1)
    expect(await withCache(mint.exchange, b, { clock })(testParams())).toMatchObject({ cached: true, accessToken: tokenB.accessToken })
    expect(mint.count()).toBe(2)
  })

  it('keychain items are named by scope: job B never reads or clears job A’s (explicit --cache keychain in CI)', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const secrets = new MemorySecretStore()
    const mint = fakeExchanger(clock)
    const open = (job: string) =>
      selectCache({ mode: 'keychain', env: { XDG_RUNTIME_DIR: runtime, CI: 'true', BUILDKITE_JOB_ID: job }, home: '/h', uid, clock, secrets })
    const a = (await open('a')).cache
    const b = (await open('b')).cache
    await withCache(mint.exchange, a, { clock })(testParams())
    await withCache(mint.exchange, b, { clock })(testParams())
    expect(mint.count()).toBe(2)
    expect([...secrets.items.keys()].sort()).toEqual([`${a.scope}.${cacheKey(testParams())}`, `${b.scope}.${cacheKey(testParams())}`].sort())
    await a.clearAll()
    expect([...secrets.items.keys()]).toEqual([`${b.scope}.${cacheKey(testParams())}`])
    expect(await withCache(mint.exchange, b, { clock })(testParams())).toMatchObject({ cached: true })
  })

  it('with CI set and no job identified, auto caches nothing, with one notice; --cache file caches per home', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const secrets = new MemorySecretStore()
    const selected = await processCache(runtime, { CI: 'true' }, clock, secrets)
    expect(selected.cache.backend).toBe('none')
    expect(selected.notices.map((n) => n.kind)).toEqual(['ci-no-job'])
    expect(cliText(selected.notices[0] as never)).toMatch(
      /^CI is set but no job identity \(BUILDKITE_JOB_ID, GITHUB_RUN_ID \+ GITHUB_RUN_ATTEMPT \+ GITHUB_JOB, CI_JOB_ID, CIRCLE_WORKFLOW_JOB_ID, BUILD_TAG\): not caching, so that jobs never share a token; to cache per home anyway, pass --cache file/,
    )
    const mint = fakeExchanger(clock)
    await withCache(mint.exchange, selected.cache, { clock })(testParams())
    await withCache(mint.exchange, selected.cache, { clock })(testParams())
    expect(mint.count()).toBe(2)
    expect(await readdir(runtime)).toEqual([])
    expect(secrets.calls).toEqual([])
    const explicit = await processCache(runtime, { CI: 'true' }, clock, secrets, 'file')
    expect([explicit.cache.backend, explicit.cache.scope?.slice(0, 5), explicit.notices]).toEqual(['file', 'home-', []])
  })
})

describe('homes of one uid', () => {
  it('do not share tokens, and each lists its own unless asked for every scope', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const mint = fakeExchanger(clock)
    const one = (await processCache(runtime, { HOME: '/home/one' }, clock)).cache
    const two = (await processCache(runtime, { HOME: '/home/two' }, clock)).cache
    const first = await withCache(mint.exchange, one, { clock })(testParams())
    const second = await withCache(mint.exchange, two, { clock })(testParams())
    expect(mint.count()).toBe(2)
    expect((await one.list()).map((e) => e.tokenHint)).toEqual([first.accessToken.slice(-4)])
    expect((await two.list()).map((e) => e.tokenHint)).toEqual([second.accessToken.slice(-4)])
    const all = await one.listAll()
    expect(all.map((e) => [e.scope, e.tokenHint]).sort()).toEqual(
      [
        [one.scope, first.accessToken.slice(-4)],
        [two.scope, second.accessToken.slice(-4)],
      ].sort(),
    )
  })

  it('XDG_CACHE_HOME tells homes apart too (it is the resolved cache path that is hashed)', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const a = (await processCache(runtime, { HOME: '/home/x', XDG_CACHE_HOME: '/srv/a' }, clock)).cache
    const b = (await processCache(runtime, { HOME: '/home/x', XDG_CACHE_HOME: '/srv/b' }, clock)).cache
    expect(a.scope).not.toBe(b.scope)
  })
})

describe('no cache directory can be made', () => {
  /** XDG_CACHE_HOME below a regular file: mkdir fails for root too. No runtime directory, no /dev/shm. */
  async function unwritable() {
    const root = await tempRoot()
    await writeFile(join(root, 'file'), 'x')
    return { env: { XDG_CACHE_HOME: join(root, 'file', 'cache'), HOME: join(root, 'file') }, home: join(root, 'file'), shmDir: join(root, 'no-shm') }
  }

  it('auto mints uncached, with one notice', async () => {
    const { env, home, shmDir } = await unwritable()
    const clock = fixedClock()
    const selected = await selectCache({ mode: 'auto', env, home, uid, clock, secrets: new MemorySecretStore(), shmDir })
    expect(selected.cache.backend).toBe('none')
    expect(selected.notices.map((n) => cliText(n))).toEqual([
      expect.stringMatching(
        /^cannot create the cache directory .*file\/cache\/bktx: .*; the token is not cached; set XDG_RUNTIME_DIR or XDG_CACHE_HOME to a writable directory of yours to cache, or use --cache none to not see this$/,
      ),
    ])
    const mint = fakeExchanger(clock)
    expect(await withCache(mint.exchange, selected.cache, { clock })(testParams())).toMatchObject({ cached: false, cache: 'none', accessToken: mint.tokens[0] })
  })

  it('--cache file fails with the reason and the fixes', async () => {
    const { env, home, shmDir } = await unwritable()
    const error = await selectCache({ mode: 'file', env, home, uid, clock: fixedClock(), secrets: new MemorySecretStore(), shmDir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CacheError)
    expect(cliText(error as CacheError)).toMatch(
      /^cannot create the cache directory .*file\/cache\/bktx: .*; use --cache none, or set XDG_CACHE_HOME or XDG_RUNTIME_DIR to a writable directory of yours$/,
    )
  })
})

describe('sweeping', () => {
  it('removes expired entries of the scope when a token is stored, never a live one', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const mint = fakeExchanger(clock)
    const { cache } = await processCache(runtime, {}, clock, new MemorySecretStore(), 'file')
    const get = withCache(mint.exchange, cache, { clock })
    await get(testParams({ ttl: 60 }))
    await get(testParams({ ttl: 3600 }))
    expect((await readdir(cache.dir as string)).filter((f) => f.endsWith('.json'))).toHaveLength(2)
    clock.advance(61)
    // A hit stores nothing: nothing is swept.
    expect(await get(testParams({ ttl: 3600 }))).toMatchObject({ cached: true })
    expect((await readdir(cache.dir as string)).filter((f) => f.endsWith('.json'))).toHaveLength(2)
    await get(testParams({ ttl: 900 }))
    const left = (await readdir(cache.dir as string)).sort()
    expect(left).toEqual(
      [
        `${cacheKey(testParams({ ttl: 900 }))}.json`,
        `${cacheKey(testParams({ ttl: 900 }))}.token`,
        `${cacheKey(testParams())}.json`,
        `${cacheKey(testParams())}.token`,
      ].sort(),
    )
  })

  it('removes other scopes’ directories a day after their last token expired, hourly at most; keeps live and keychain ones', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const mint = fakeExchanger(clock)
    const open = async (env: Record<string, string>, mode: 'auto' | 'file' = 'auto', secrets = new MemorySecretStore()) =>
      (await processCache(runtime, { CI: 'true', ...env }, clock, secrets, mode)).cache
    const finished = await open({ BUILDKITE_JOB_ID: 'finished' })
    const keychained = await open({ BUILDKITE_JOB_ID: 'keychain' }, 'auto')
    await withCache(mint.exchange, finished, { clock })(testParams({ ttl: 600 }))
    const keychainCache = (
      await selectCache({
        mode: 'keychain',
        env: { XDG_RUNTIME_DIR: runtime, CI: 'true', BUILDKITE_JOB_ID: 'keychain' },
        home: '/home/agent',
        uid,
        clock,
        secrets: new MemorySecretStore(),
      })
    ).cache
    expect(keychainCache.dir).toBe(keychained.dir)
    await withCache(mint.exchange, keychainCache, { clock })(testParams({ ttl: 600 }))
    // An entry of a version before scopes, directly in the private directory, long expired.
    const base = join(runtime, 'bktx')
    const legacy = testParams({ org: 'legacy' })
    const legacyCache = await withCache(mint.exchange, await legacyStore(base, clock), { clock })(legacy)
    expect(legacyCache.cache).toBe('file')
    const dirs = async () => (await readdir(base)).filter((n) => /^(home|job)-/.test(n)).sort()
    const [finishedName, keychainName] = [finished.scope as string, keychainCache.scope as string]
    expect(await dirs()).toEqual([finishedName, keychainName].sort())

    // Two days on: the finished job's token expired long ago and nothing wrote there since.
    clock.advance(2 * 86400)
    const old = new Date(clock.now().getTime() - 2 * 86400 * 1000)
    for (const name of [finishedName, keychainName]) await utimes(join(base, name), old, old)
    const active = await open({ BUILDKITE_JOB_ID: 'active' })
    await withCache(mint.exchange, active, { clock })(testParams())
    expect(await dirs()).toEqual([active.scope as string, keychainName].sort())
    expect((await readdir(base)).filter((n) => n.endsWith('.json'))).toEqual([])

    // Within the hour, other directories are not looked at again: an empty, idle one stays...
    const idle = join(base, 'job-00000000000000aa')
    await mkdir(idle, { mode: 0o700 })
    await utimes(idle, old, old)
    // ...and so does one with a live token, however old its mtime.
    const live = await open({ BUILDKITE_JOB_ID: 'live' })
    await withCache(mint.exchange, live, { clock })(testParams())
    await utimes(join(base, live.scope as string), old, old)
    clock.advance(30 * 60)
    await withCache(mint.exchange, active, { clock })(testParams({ ttl: 60 }))
    expect(await dirs()).toContain('job-00000000000000aa')
    clock.advance(31 * 60)
    await withCache(mint.exchange, active, { clock })(testParams({ ttl: 120 }))
    expect(await dirs()).not.toContain('job-00000000000000aa')
    expect(await dirs()).toContain(live.scope)
    expect(await dirs()).toContain(keychainName)
  })
})

describe('logout --all without a keychain', () => {
  it('says nothing about the keychain, and never asks it, when no entry is in it', async () => {
    const runtime = await tempRoot()
    const clock = fixedClock()
    const secrets = new MemorySecretStore()
    secrets.fail = new KeychainError('no usable keychain: no D-Bus', { detail: { reason: 'no-bus' } })
    await withCache(fakeExchanger(clock).exchange, (await processCache(runtime, {}, clock, secrets, 'file')).cache, { clock })(testParams())
    secrets.calls.length = 0
    const every = await selectEveryEntry({ env: { XDG_RUNTIME_DIR: runtime }, home: '/home/agent', uid, clock, secrets })
    expect(every.notices).toEqual([])
    expect(await every.cache.list()).toHaveLength(1)
    expect(secrets.calls).toEqual([])
  })
})

/** A file cache writing directly into `base`, as versions before scopes did. */
async function legacyStore(base: string, clock: FixedClock) {
  const { createTokenCache } = await import('../../../src/cache/cache.js')
  const { createMetadataStore } = await import('../../../src/cache/metadata.js')
  const { FileSecretStore } = await import('../../../src/cache/file-store.js')
  const { filePolicy } = await import('../../../src/cache/policy.js')
  await mkdir(base, { recursive: true, mode: 0o700 })
  const file = new FileSecretStore({ dir: base, uid })
  return createTokenCache({ metadata: createMetadataStore({ dir: base, uid }), policy: filePolicy(file), file, clock })
}

// openCacheDir is the one call the cache-hit fast path makes to find the directory.
describe('openCacheDir', () => {
  it('opens the scope directory 0700 inside the private directory', async () => {
    const runtime = await tempRoot()
    const choice = await openCacheDir({ env: { XDG_RUNTIME_DIR: runtime, BUILDKITE_JOB_ID: 'j' }, home: '/h', uid })
    expect(choice.dir).toBe(join(runtime, 'bktx', choice.scope.name))
    expect(choice.scope.kind).toBe('job')
    expect((await stat(choice.dir)).mode & 0o777).toBe(0o700)
    expect((await stat(choice.base)).mode & 0o777).toBe(0o700)
  })
})
