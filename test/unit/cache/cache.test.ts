import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { TokenCache } from '../../../src/cache/cache.js'
import { openCacheDir, openPrivateDir, resolveCacheBase, resolveCacheDir, scopeOf } from '../../../src/cache/dir.js'
import { cacheKey } from '../../../src/cache/key.js'
import { selectCache, parseCacheMode } from '../../../src/cache/select.js'
import { withCache } from '../../../src/cache/with-cache.js'
import { CacheError, KeychainError, type Notice } from '../../../src/errors.js'
import { MemorySecretStore } from '../../../src/secrets/store.js'
import { cliText } from '../../helpers/describe.js'
import { fakeExchanger, fixedClock, testParams, type FixedClock } from './helpers.js'

const uid = process.getuid?.()

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'bktx-cache-'))
}

/** A cache in a fresh runtime dir; `mode` as `--cache`. */
async function setup(mode: 'file' | 'keychain' | 'auto' | 'none' = 'file', env: Record<string, string> = {}) {
  const root = await tempRoot()
  const clock = fixedClock()
  const secrets = new MemorySecretStore()
  const {
    cache,
    notices: [notice],
  } = await selectCache({ mode, env: { XDG_RUNTIME_DIR: root, ...env }, home: root, uid, clock, secrets })
  // The scope's directory in $XDG_RUNTIME_DIR/bktx (src/cache/scope.ts).
  const dir = cache.dir ?? join(root, 'bktx')
  const mint = fakeExchanger(clock)
  return {
    root,
    dir,
    clock,
    secrets,
    cache,
    note: notice?.message,
    mint,
    get: (opts: { minTtl?: number; refresh?: boolean } = {}) => withCache(mint.exchange, cache, { clock, ...opts }),
  }
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort()
}

describe('withCache, file backend', () => {
  it('misses, then hits without exchanging, from two small files', async () => {
    const { dir, get, mint } = await setup('file')
    const first = await get()(testParams())
    expect(first).toMatchObject({ cached: false, cache: 'file', notices: [] })
    const second = await get()(testParams())
    expect(second).toMatchObject({ cached: true, cache: 'file', accessToken: first.accessToken, expiresIn: 3600 })
    expect(second.expiresAt.getTime()).toBe(first.receivedAt.getTime() + 3600_000)
    expect(mint.count()).toBe(1)
    const key = cacheKey(testParams())
    expect(await files(dir)).toEqual([`${key}.json`, `${key}.token`])
    expect(await readFile(join(dir, `${key}.token`), 'utf8')).toBe(first.accessToken)
    expect((await stat(join(dir, `${key}.token`))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, `${key}.json`))).mode & 0o777).toBe(0o600)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    // The metadata holds the last four characters of the token at most.
    const meta = await readFile(join(dir, `${key}.json`), 'utf8')
    expect(meta).not.toContain(first.accessToken.slice(5, -4))
    expect(JSON.parse(meta)).toMatchObject({ backend: 'file', org: 'acme', tokenHint: first.accessToken.slice(-4), expiresIn: 3600 })
  })

  it('keys entries on every input that changes the token', async () => {
    const { get, mint } = await setup('file')
    const variants = [
      testParams(),
      testParams({ tokenUrl: 'https://other.test/oauth/token' }),
      testParams({ org: 'other' }),
      testParams({ clientId: 'ffffffffffffffffffff' }),
      testParams({ key: { ...testParams().key, fingerprint: 'fp-other' } }),
      testParams({ subject: 'someone@acme.test' }),
      testParams({ subjectType: 'uuid' }),
      testParams({ scopes: ['read_builds'] }),
      testParams({ ttl: 900 }),
      testParams({ ttl: undefined }),
    ]
    for (const p of variants) await get()(p)
    expect(mint.count()).toBe(variants.length)
    expect(new Set(variants.map(cacheKey)).size).toBe(variants.length)
    // Scopes are a set: order and duplicates do not matter.
    expect(await get()(testParams({ scopes: ['read_pipelines', 'read_builds', 'read_builds'] }))).toMatchObject({ cached: true })
    expect(mint.count()).toBe(variants.length)
  })

  it('expires by receipt time plus expires_in, on the injected clock', async () => {
    const { get, mint, clock } = await setup('file')
    await get({ minTtl: 0 })(testParams())
    clock.advance(3599)
    expect(await get({ minTtl: 0 })(testParams())).toMatchObject({ cached: true })
    clock.advance(1)
    expect(await get({ minTtl: 0 })(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(2)
  })

  it('serves only with at least min-ttl left (default 300 s)', async () => {
    const { get, mint, clock } = await setup('file')
    await get()(testParams())
    clock.advance(3600 - 300)
    expect(await get()(testParams())).toMatchObject({ cached: true })
    clock.advance(1)
    expect(await get()(testParams())).toMatchObject({ cached: false })
    clock.advance(3600 - 600)
    expect(await get({ minTtl: 600 })(testParams())).toMatchObject({ cached: true })
    clock.advance(1)
    expect(await get({ minTtl: 600 })(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(3)
  })

  it('caps min-ttl at half the token lifetime', async () => {
    const root = await tempRoot()
    const clock = fixedClock()
    const { cache } = await selectCache({ mode: 'file', env: { XDG_RUNTIME_DIR: root }, home: root, uid, clock, secrets: new MemorySecretStore() })
    const mint = fakeExchanger(clock, { expiresIn: 60 })
    const get = withCache(mint.exchange, cache, { clock })
    await get(testParams())
    clock.advance(30)
    expect(await get(testParams())).toMatchObject({ cached: true })
    clock.advance(1)
    expect(await get(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(2)
  })

  it('serves an entry for at most 86400 s, whatever expires_in it holds (issue 13: written by an older bktx, or planted)', async () => {
    const root = await tempRoot()
    const clock = fixedClock()
    const { cache } = await selectCache({ mode: 'file', env: { XDG_RUNTIME_DIR: root }, home: root, uid, clock, secrets: new MemorySecretStore() })
    const mint = fakeExchanger(clock, { expiresIn: 7_889_238_000_000 })
    const get = withCache(mint.exchange, cache, { clock, minTtl: 0 })
    await get(testParams())
    clock.advance(86_399)
    const served = await get(testParams())
    expect(served).toMatchObject({ cached: true, expiresIn: 86_400 })
    expect(served.expiresAt.toISOString()).toBe('2026-01-02T00:00:00.000Z')
    clock.advance(1)
    expect(await get(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(2)
  })

  it('does not trust an entry received in the future (clock set back)', async () => {
    const { get, mint, clock } = await setup('file')
    await get()(testParams())
    clock.advance(-10)
    expect(await get()(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(2)
  })

  it('refresh mints a new token that replaces the cached one', async () => {
    const { get, mint } = await setup('file')
    const first = await get()(testParams())
    const refreshed = await get({ refresh: true })(testParams())
    expect(refreshed).toMatchObject({ cached: false })
    expect(refreshed.accessToken).not.toBe(first.accessToken)
    expect(await get()(testParams())).toMatchObject({ cached: true, accessToken: refreshed.accessToken })
    expect(mint.count()).toBe(2)
  })

  it('treats corrupt metadata as a miss and replaces it', async () => {
    const { dir, get, mint } = await setup('file')
    const first = await get()(testParams())
    const key = cacheKey(testParams())
    const metaPath = join(dir, `${key}.json`)
    const good = JSON.parse(await readFile(metaPath, 'utf8')) as Record<string, unknown>
    const corruptions: string[] = [
      '',
      '{',
      'null',
      '[]',
      '"text"',
      JSON.stringify({ ...good, v: 2 }),
      JSON.stringify({ ...good, key: 'f'.repeat(32) }),
      JSON.stringify({ ...good, expiresIn: '3600' }),
      JSON.stringify({ ...good, expiresIn: -5 }),
      JSON.stringify({ ...good, receivedAt: 'yesterday' }),
      JSON.stringify({ ...good, backend: 'floppy' }),
      JSON.stringify({ ...good, scopes: 'read_builds' }),
      JSON.stringify({ ...good, tokenSha256: 'abc' }),
      JSON.stringify({ ...good, tokenHint: 'a-much-longer-hint' }),
      JSON.stringify({ ...good, org: 'someone-else' }),
      '\u0000\u0001binary',
    ]
    for (const text of corruptions) {
      await writeFile(metaPath, text, { mode: 0o600 })
      const again = await get()(testParams())
      expect(again.cached, text).toBe(false)
    }
    expect(mint.count()).toBe(1 + corruptions.length)
    // Rewritten: the last mint is served now.
    expect(await get()(testParams())).toMatchObject({ cached: true, accessToken: mint.tokens.at(-1) })
    expect(first.accessToken).not.toBe(mint.tokens.at(-1))
  })

  it('treats a corrupt, missing, foreign or unsafe token file as a miss', async () => {
    const { dir, get, mint } = await setup('file')
    const key = cacheKey(testParams())
    const tokenPath = join(dir, `${key}.token`)
    const cases: [string, () => Promise<void>][] = [
      ['truncated', async () => writeFile(tokenPath, (await readFile(tokenPath, 'utf8')).slice(0, 10))],
      ['another token', async () => writeFile(tokenPath, 'bktx_someothertokenvalue')],
      ['empty', async () => writeFile(tokenPath, '')],
      ['missing', async () => (await import('node:fs/promises')).unlink(tokenPath)],
      ['readable by others', async () => chmod(tokenPath, 0o644)],
      [
        'a directory',
        async () => {
          await (await import('node:fs/promises')).unlink(tokenPath)
          await mkdir(tokenPath)
        },
      ],
    ]
    await get()(testParams())
    for (const [name, corrupt] of cases) {
      await corrupt()
      expect((await get()(testParams())).cached, name).toBe(false)
      if (name === 'a directory') await (await import('node:fs/promises')).rm(tokenPath, { recursive: true })
    }
    expect(mint.count()).toBe(1 + cases.length)
  })

  it('ignores a token file that is a symlink', async () => {
    const { dir, get, mint } = await setup('file')
    const key = cacheKey(testParams())
    const first = await get()(testParams())
    const elsewhere = join(await tempRoot(), 'token')
    await writeFile(elsewhere, first.accessToken, { mode: 0o600 })
    const { unlink } = await import('node:fs/promises')
    await unlink(join(dir, `${key}.token`))
    await symlink(elsewhere, join(dir, `${key}.token`))
    expect(await get()(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(2)
  })
})

describe('withCache, keychain backend', () => {
  it('keeps the secret in the keychain and only metadata on disk', async () => {
    const { dir, get, mint, secrets, cache } = await setup('keychain')
    const first = await get()(testParams())
    expect(first).toMatchObject({ cached: false, cache: 'keychain' })
    const key = cacheKey(testParams())
    // The item is named by the scope, so another home or CI job never reads or replaces it.
    expect([...secrets.items.keys()]).toEqual([`${cache.scope}.${key}`])
    expect(secrets.items.get(`${cache.scope}.${key}`)).toBe(first.accessToken)
    expect(await files(dir)).toEqual([`${key}.json`])
    expect(await readFile(join(dir, `${key}.json`), 'utf8')).not.toContain(first.accessToken)
    expect(await get()(testParams())).toMatchObject({ cached: true, cache: 'keychain', accessToken: first.accessToken })
    expect(mint.count()).toBe(1)
  })

  it('decides expiry from metadata alone: an expired entry costs no keychain call', async () => {
    const { get, secrets, clock } = await setup('keychain')
    await get()(testParams())
    clock.advance(3600)
    secrets.calls.length = 0
    secrets.fail = new KeychainError('the keychain is locked')
    // Strict mode: the write after the exchange fails, the token is still returned.
    const result = await get()(testParams())
    expect(result).toMatchObject({
      cached: false,
      cache: 'none',
      notices: [expect.objectContaining({ message: expect.stringMatching(/locked; the token was not cached/) })],
    })
    expect(secrets.calls.map((c) => c.op)).toEqual(['set'])
  })

  it('explicit keychain: a failing keychain is a KeychainError before any exchange, and nothing is deleted', async () => {
    const { get, mint, secrets, cache } = await setup('keychain')
    const first = await get()(testParams())
    secrets.fail = new KeychainError('the keychain is locked')
    await expect(get()(testParams())).rejects.toBeInstanceOf(KeychainError)
    expect(mint.count()).toBe(1)
    secrets.fail = undefined
    expect(secrets.items.get(`${cache.scope}.${cacheKey(testParams())}`)).toBe(first.accessToken)
    expect(await get()(testParams())).toMatchObject({ cached: true })
  })

  it('a keychain item that is gone is a miss, replaced on the next exchange', async () => {
    const { get, mint, secrets } = await setup('keychain')
    await get()(testParams())
    secrets.items.clear()
    expect(await get()(testParams())).toMatchObject({ cached: false, cache: 'keychain' })
    expect(mint.count()).toBe(2)
    expect(secrets.items.size).toBe(1)
  })

  it('a keychain item that does not match its metadata is a miss', async () => {
    const { get, mint, secrets, cache } = await setup('keychain')
    await get()(testParams())
    secrets.items.set(`${cache.scope}.${cacheKey(testParams())}`, 'bktx_planted')
    expect(await get()(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(2)
  })
})

describe('selectCache', () => {
  it('auto uses the keychain when it answers', async () => {
    const { cache, note } = await setup('auto')
    expect([cache.backend, note]).toEqual(['keychain', undefined])
  })

  it('auto uses files in an identified CI job, without asking the keychain', async () => {
    const root = await tempRoot()
    const secrets = new MemorySecretStore()
    const {
      cache,
      notices: [notice],
    } = await selectCache({
      mode: 'auto',
      env: { XDG_RUNTIME_DIR: root, CI: 'true', BUILDKITE_JOB_ID: 'job-a' },
      home: root,
      uid,
      clock: fixedClock(),
      secrets,
    })
    expect([cache.backend, notice]).toEqual(['file', undefined])
    expect(cache.scope).toMatch(/^job-[0-9a-f]{16}$/)
    expect(secrets.calls).toEqual([])
  })

  it('auto falls back to files when the keychain does not answer, and says so once a day on this host when a token is stored', async () => {
    const root = await tempRoot()
    const secrets = new MemorySecretStore()
    secrets.fail = new KeychainError('no usable keychain: no D-Bus', { detail: { reason: 'no-bus' } })
    const clock = fixedClock(new Date('2026-03-01T08:00:00Z'))
    const open = async (host = 'box-1') => {
      const selected = await selectCache({ mode: 'auto', env: { XDG_RUNTIME_DIR: root }, home: root, uid, clock, secrets, host })
      expect(selected.notices).toEqual([])
      return selected.cache
    }
    const mint = fakeExchanger(clock)
    const said = async (params = testParams(), host?: string) =>
      (await withCache(mint.exchange, await open(host), { clock })(params)).notices.map((n) => cliText(n))
    const cache = await open()
    expect(cache.backend).toBe('file')
    const first = await said()
    expect(first).toEqual([
      `no keychain (no D-Bus session): caching tokens in ${cache.dir} (said once a day); to choose files and not see this, pass --cache file, set BKTX_CACHE=file, or run \`bktx config set cache file\``,
    ])
    // A hit says nothing; another mint the same day says nothing; nor on the next runs.
    expect(await said()).toEqual([])
    expect(await said(testParams({ ttl: 900 }))).toEqual([])
    clock.advance(15 * 3600)
    expect(await said(testParams({ ttl: 1800 }))).toEqual([])
    // Another host sharing the directory (a network home) has its own day.
    expect(await said(testParams({ ttl: 600 }), 'box-2')).toHaveLength(1)
    // The next day (UTC), once again.
    clock.advance(2 * 3600)
    expect(await said(testParams({ ttl: 1200 }))).toHaveLength(1)
    expect(await said(testParams({ ttl: 1500 }))).toEqual([])
    expect(mint.count()).toBe(6)
  })

  it('auto degrades to files when the keychain fails after selection, and reads keychain entries when it is back', async () => {
    const { get, mint, secrets, dir, cache } = await setup('auto')
    const first = await get()(testParams())
    expect(first.cache).toBe('keychain')
    secrets.fail = new KeychainError('the keychain did not answer within 3 s (get)')
    const degraded = await get()(testParams())
    expect(degraded).toMatchObject({ cached: false, cache: 'file' })
    expect(degraded.notices.map((n) => n.message)).toEqual([
      'the keychain did not answer within 3 s (get); not using the cached token',
      `the keychain did not answer within 3 s (get); caching the token in ${dir} instead`,
    ])
    // The failing keychain was never asked to delete anything.
    expect(secrets.calls.filter((c) => c.op === 'delete')).toEqual([])
    secrets.fail = undefined
    expect(secrets.items.get(`${cache.scope}.${cacheKey(testParams())}`)).toBe(first.accessToken)
    expect(await get()(testParams())).toMatchObject({ cached: true, cache: 'file', accessToken: degraded.accessToken })
    expect(mint.count()).toBe(2)
  })

  it('explicit keychain fails when the keychain does not answer', async () => {
    const root = await tempRoot()
    const secrets = new MemorySecretStore()
    secrets.fail = new KeychainError('the keychain is locked')
    await expect(selectCache({ mode: 'keychain', env: { XDG_RUNTIME_DIR: root }, home: root, uid, clock: fixedClock(), secrets })).rejects.toThrow(
      'the keychain is locked',
    )
  })

  it('none caches nothing and writes nothing', async () => {
    const { root, get, mint, note } = await setup('none')
    expect(note).toBeUndefined()
    expect(await get()(testParams())).toMatchObject({ cached: false, cache: 'none' })
    expect(await get()(testParams())).toMatchObject({ cached: false, cache: 'none' })
    expect(mint.count()).toBe(2)
    expect(await readdir(root)).toEqual([])
  })

  it('parses modes', () => {
    expect(['auto', 'keychain', 'file', 'none', 'disk', ''].map(parseCacheMode)).toEqual(['auto', 'keychain', 'file', 'none', undefined, undefined])
  })
})

describe('the private directory', () => {
  it('prefers $XDG_RUNTIME_DIR/bktx, then /dev/shm/bktx-<uid>, then $XDG_CACHE_HOME/bktx', async () => {
    const root = await tempRoot()
    const shm = join(root, 'shm')
    await mkdir(shm)
    const env = { XDG_RUNTIME_DIR: join(root, 'run'), XDG_CACHE_HOME: join(root, 'cache') }
    await mkdir(env.XDG_RUNTIME_DIR)
    // Tokens live in the scope's directory in it.
    expect(await resolveCacheDir({ env, home: root, uid: 1000, shmDir: shm })).toBe(join(root, 'run', 'bktx', scopeOf({ env, home: root }).name))
    expect(await resolveCacheBase({ env, home: root, uid: 1000, shmDir: shm })).toBe(join(root, 'run', 'bktx'))
    expect(await resolveCacheBase({ env: { XDG_CACHE_HOME: env.XDG_CACHE_HOME }, home: root, uid: 1000, shmDir: shm })).toBe(join(shm, 'bktx-1000'))
    // A stale XDG_RUNTIME_DIR (its directory is gone) is skipped.
    expect(await resolveCacheBase({ env: { ...env, XDG_RUNTIME_DIR: join(root, 'gone') }, home: root, uid: 1000, shmDir: shm })).toBe(join(shm, 'bktx-1000'))
    expect(await resolveCacheBase({ env, home: root, uid: 1000, shmDir: join(root, 'noshm') })).toBe(join(root, 'run', 'bktx'))
    expect(await resolveCacheBase({ env: { XDG_CACHE_HOME: env.XDG_CACHE_HOME }, home: root, uid: 1000, shmDir: join(root, 'noshm') })).toBe(
      join(root, 'cache', 'bktx'),
    )
    expect(await resolveCacheBase({ env: {}, home: root, uid: undefined })).toBe(join(root, '.cache', 'bktx'))
  })

  it('passes over an unusable /dev/shm/bktx-<uid> for $XDG_CACHE_HOME/bktx, with one notice, and never touches it (issue 13)', async () => {
    const cases: [string, (path: string) => Promise<void>, RegExp][] = [
      [
        'a symlink to a private directory',
        async (path) => {
          await mkdir(`${path}.real`, { mode: 0o700 })
          await symlink(`${path}.real`, path)
        },
        /\(it is a symbolic link\).*tell an administrator/,
      ],
      ['a file', (path) => writeFile(path, 'x'), /\(it is not a directory\)/],
      [
        'a directory open to others',
        async (path) => {
          await mkdir(path)
          await chmod(path, 0o777)
        },
        /\(its mode is 0777, other users can reach it\).*chmod 700/,
      ],
    ]
    for (const [name, plant, message] of cases) {
      const root = await tempRoot()
      const shm = join(root, 'shm')
      await mkdir(shm)
      const squatted = join(shm, `bktx-${uid}`)
      await plant(squatted)
      const before = await lstat(squatted)
      const env = { XDG_CACHE_HOME: join(root, 'cache') }
      const choice = await openCacheDir({ env, home: root, uid, shmDir: shm })
      expect(choice.base, name).toBe(join(root, 'cache', 'bktx'))
      expect(choice.dir, name).toBe(join(root, 'cache', 'bktx', choice.scope.name))
      expect(cliText(choice.notice as Notice), name).toMatch(new RegExp(`^not using ${squatted} .*; caching in ${join(root, 'cache', 'bktx')} instead; `))
      expect(cliText(choice.notice as Notice), name).toMatch(message)
      // The squatted path is left as it was: not chmod'ed, not written into.
      const after = await lstat(squatted)
      expect([after.mode, after.mtimeMs, after.ino], name).toEqual([before.mode, before.mtimeMs, before.ino])
      // And the whole cache works there, with the notice on every run.
      const { cache, notices } = await selectCache({ mode: 'file', env, home: root, uid, clock: fixedClock(), secrets: new MemorySecretStore(), shmDir: shm })
      await withCache(fakeExchanger(fixedClock()).exchange, cache, { clock: fixedClock() })(testParams())
      expect(await readdir(choice.dir)).toHaveLength(2)
      expect(notices.map((n) => n.kind)).toEqual(['cache-dir-fallback'])
    }
  })

  it('creates it 0700, parents included', async () => {
    const root = await tempRoot()
    const dir = join(root, 'cache', 'bktx')
    await openPrivateDir(dir, uid)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    await openPrivateDir(dir, uid)
  })

  it('refuses a directory with wider permissions', async () => {
    const root = await tempRoot()
    const dir = join(root, 'bktx')
    await mkdir(dir, { mode: 0o755 })
    await chmod(dir, 0o755)
    expect(cliText(await openPrivateDir(dir, uid).catch((e: unknown) => e))).toMatch(/mode is 0755.*chmod 700/)
    await chmod(dir, 0o710)
    await expect(openPrivateDir(dir, uid)).rejects.toBeInstanceOf(CacheError)
    await chmod(dir, 0o700)
    await openPrivateDir(dir, uid)
  })

  it('refuses a symlink, even to a private directory of ours', async () => {
    const root = await tempRoot()
    const real = join(root, 'real')
    await mkdir(real, { mode: 0o700 })
    await symlink(real, join(root, 'bktx'))
    await expect(openPrivateDir(join(root, 'bktx'), uid)).rejects.toThrow(/symbolic link/)
  })

  it('refuses a directory owned by someone else', async () => {
    const root = await tempRoot()
    const dir = join(root, 'bktx')
    await mkdir(dir, { mode: 0o700 })
    const other = (uid ?? 0) + 4242
    await expect(openPrivateDir(dir, other)).rejects.toThrow(new RegExp(`belongs to uid ${uid}, not to you \\(uid ${other}\\)`))
  })

  it('refuses a file where the directory should be', async () => {
    const root = await tempRoot()
    await writeFile(join(root, 'bktx'), 'x')
    await expect(openPrivateDir(join(root, 'bktx'), uid)).rejects.toThrow(/not a directory/)
  })

  it('is checked by selectCache before anything is cached', async () => {
    const root = await tempRoot()
    await mkdir(join(root, 'bktx'), { mode: 0o777 })
    await chmod(join(root, 'bktx'), 0o777)
    await expect(
      selectCache({ mode: 'file', env: { XDG_RUNTIME_DIR: root }, home: root, uid, clock: fixedClock(), secrets: new MemorySecretStore() }),
    ).rejects.toBeInstanceOf(CacheError)
  })
})

describe('listing and clearing', () => {
  async function populated(): Promise<{ cache: TokenCache; secrets: MemorySecretStore; dir: string; clock: FixedClock; root: string }> {
    const s = await setup('auto')
    await s.get()(testParams())
    s.clock.advance(10)
    await s.get()(testParams({ org: 'beta', ttl: 60 }))
    s.secrets.fail = new KeychainError('locked')
    await s.get()(testParams({ org: 'gamma' }))
    s.secrets.fail = undefined
    return { cache: s.cache, secrets: s.secrets, dir: s.dir, clock: s.clock, root: s.root }
  }

  it('lists metadata without a keychain call, soonest expiry first', async () => {
    const { cache, secrets, clock } = await populated()
    clock.advance(100)
    secrets.calls.length = 0
    const list = await cache.list()
    expect(secrets.calls).toEqual([])
    expect(list.map((e) => [e.org, e.backend, e.expired])).toEqual([
      ['beta', 'keychain', true],
      ['acme', 'keychain', false],
      ['gamma', 'file', false],
    ])
    expect(list[0]).toMatchObject({ subject: 'dev@acme.test', subjectType: 'email', scopes: ['read_builds', 'read_pipelines'] })
    expect(list[0]?.tokenHint).toHaveLength(4)
    expect(JSON.stringify(list)).not.toMatch(/bktx_[0-9a-f]{10}/)
  })

  it('skips corrupt entries when listing', async () => {
    const { cache, dir } = await populated()
    await writeFile(join(dir, `${'a'.repeat(32)}.json`), '{oops', { mode: 0o600 })
    await writeFile(join(dir, 'unrelated.json'), '{}', { mode: 0o600 })
    expect(await cache.list()).toHaveLength(3)
  })

  it('clears one entry, its secret included', async () => {
    const { cache, secrets } = await populated()
    const key = cacheKey(testParams())
    expect(secrets.items.has(`${cache.scope}.${key}`)).toBe(true)
    expect(await cache.clear(key)).toEqual({ removed: 1, keychainError: undefined })
    expect(secrets.items.has(`${cache.scope}.${key}`)).toBe(false)
    expect((await cache.list()).map((e) => e.org)).toEqual(['beta', 'gamma'])
    expect(await cache.clear(key)).toEqual({ removed: 0, keychainError: undefined })
    expect(await cache.clear('../../etc/passwd')).toEqual({ removed: 0, keychainError: undefined })
  })

  it('clears an entry even when the keychain is locked, and says the item stayed', async () => {
    const { cache, secrets } = await populated()
    const key = cacheKey(testParams())
    secrets.fail = new KeychainError('the keychain is locked')
    const outcome = await cache.clear(key)
    expect(outcome.removed).toBe(1)
    expect(outcome.keychainError?.message).toBe('the keychain is locked')
    expect(await cache.readMeta(key)).toBeUndefined()
  })

  it('clears everything, keychain items without metadata included', async () => {
    const { cache, secrets, dir } = await populated()
    secrets.items.set(`${cache.scope}.${'b'.repeat(32)}`, 'bktx_orphan')
    // An item of a version before scopes (named by the bare key): a home's clear removes it.
    secrets.items.set('c'.repeat(32), 'bktx_legacy')
    // Another scope's item (a CI job's, another home's) is not this cache's to remove.
    secrets.items.set(`job-0123456789abcdef.${'d'.repeat(32)}`, 'bktx_other_job')
    secrets.items.set('not-a-bktx-key', 'kept')
    expect(await cache.clearAll()).toEqual({ removed: 5, keychainError: undefined })
    expect(await readdir(dir)).toEqual([])
    expect([...secrets.items.keys()].sort()).toEqual([`job-0123456789abcdef.${'d'.repeat(32)}`, 'not-a-bktx-key'])
  })
})

describe('the cross-process lock', () => {
  it('takes over the lock left by a crashed process (its pid no longer runs)', async () => {
    const root = await tempRoot()
    const clock = fixedClock()
    // 4242 runs no process by this liveness test: the crashed holder.
    const proc = { pid: 7, isAlive: (pid: number) => pid !== 4242 }
    const { cache } = await selectCache({
      mode: 'file',
      env: { XDG_RUNTIME_DIR: root },
      home: root,
      uid,
      clock,
      secrets: new MemorySecretStore(),
      lock: { process: proc, waitMs: 60_000 },
    })
    const dir = cache.dir as string
    await writeFile(join(dir, `${cacheKey(testParams())}.lock`), `4242 - ${'0'.repeat(32)}\n`, { mode: 0o600 })
    const mint = fakeExchanger(clock)
    expect(await withCache(mint.exchange, cache, { clock })(testParams())).toMatchObject({ cached: false })
    expect(mint.count()).toBe(1)
    expect(await readdir(dir)).not.toContain(`${cacheKey(testParams())}.lock`)
  })

  it('waits for a live lock, then gives up with a CacheError', async () => {
    const root = await tempRoot()
    const clock = fixedClock()
    const { cache } = await selectCache({
      mode: 'file',
      env: { XDG_RUNTIME_DIR: root },
      home: root,
      uid,
      clock,
      secrets: new MemorySecretStore(),
      lock: { waitMs: 300 },
    })
    const held = await cache.lock(cacheKey(testParams()))
    const mint = fakeExchanger(clock)
    const started = performance.now()
    await expect(withCache(mint.exchange, cache, { clock })(testParams())).rejects.toThrow(/another bktx process held the cache lock/)
    // A lower bound (it waited out waitMs before giving up): load can only lengthen the wait.
    expect(performance.now() - started).toBeGreaterThanOrEqual(250)
    expect(mint.count()).toBe(0)
    await held()
    expect(await withCache(mint.exchange, cache, { clock })(testParams())).toMatchObject({ cached: false })
  })

  it('re-reads under the lock: a token stored while waiting is served', async () => {
    const { cache, clock, mint } = await setup('file')
    const key = cacheKey(testParams())
    const held = await cache.lock(key)
    // Store the other token only once the caller has missed and asks for the lock; stored
    // earlier, its first read would hit and the re-read would go untested.
    let asked: () => void = () => undefined
    const askedForLock = new Promise<void>((resolve) => (asked = resolve))
    const watched = { ...cache, lock: (k: string) => (asked(), cache.lock(k)) }
    const waiting = withCache(mint.exchange, watched, { clock })(testParams())
    await askedForLock
    const other = fakeExchanger(clock)
    await cache.write(key, testParams(), await other.exchange(testParams()))
    await held()
    expect(await waiting).toMatchObject({ cached: true, accessToken: other.tokens[0] })
    expect(mint.count()).toBe(0)
  })
})

describe('a cache that cannot be written', () => {
  it('still returns the minted token, uncached, with a note', async () => {
    const { dir, get, mint } = await setup('file')
    // A non-empty directory where the token file goes: the atomic rename fails.
    const tokenPath = join(dir, `${cacheKey(testParams())}.token`)
    await mkdir(join(tokenPath, 'x'), { recursive: true })
    const result = await get()(testParams())
    expect(result).toMatchObject({ cached: false, cache: 'none', accessToken: mint.tokens[0] })
    expect(result.notices.map((n) => n.message)).toEqual([expect.stringMatching(/^cannot write .*\.token: .*; the token was not cached$/)])
    expect(result.notices[0]?.message).not.toContain(mint.tokens[0])
  })
})
