// Issue 20, through the CLI and the reference server on 127.0.0.1: two CI jobs of one uid and
// HOME never share a token and one job's `logout --all` leaves the other's live; homes are not
// listed together unless asked; `cache list` tells entries apart.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { selectCache } from '../../src/cache/select.js'
import { KeychainError } from '../../src/errors.js'
import { cachedToken } from '../../src/fast/token.js'
import { MemorySecretStore } from '../../src/secrets/store.js'
import { runCli } from '../helpers/cli.js'
import { http } from '../helpers/http.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'
import { fakeExchanger, fixedClock, testParams } from '../unit/cache/helpers.js'

let world: TokenWorld
beforeEach(async () => {
  world = await tokenWorld()
})
afterEach(() => world.cleanup())

const status = async (token: string) => (await http(`${world.server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status

describe('two Buildkite jobs on one agent host (same uid, same HOME)', () => {
  it('mint a token each, and job A’s logout --all revokes A’s only: B’s stays live and cached', async () => {
    const jobA = { ...world.env, CI: 'true', BUILDKITE_JOB_ID: '0190a1a1-0000-4000-8000-00000000000a' }
    const jobB = { ...jobA, BUILDKITE_JOB_ID: '0190b2b2-0000-4000-8000-00000000000b' }
    const a = (await runCli(['token'], { env: jobA })).stdout.trim()
    const b = (await runCli(['token'], { env: jobB })).stdout.trim()
    expect(world.mints()).toBe(2)
    expect(a).not.toBe(b)
    // Each job's later calls are served its own token.
    expect((await runCli(['token'], { env: jobA })).stdout.trim()).toBe(a)
    expect((await runCli(['token'], { env: jobB })).stdout.trim()).toBe(b)
    expect(world.mints()).toBe(2)

    const logout = await runCli(['logout', '--all'], { env: jobA })
    expect(logout.code).toBe(0)
    expect(`${logout.stdout}${logout.stderr}`).toMatch(/1 revoked, 1 forgotten, 0 could not be revoked/)
    expect(await status(a)).toBe(401)
    expect(await status(b)).toBe(200)
    expect((await runCli(['token'], { env: jobB })).stdout.trim()).toBe(b)
    expect(world.mints()).toBe(2)
    expect(JSON.parse((await runCli(['cache', 'list', '--json'], { env: jobA })).stdout)).toEqual([])
  })
})

describe('the cache-hit fast path', () => {
  it('serves a job only its own token (it finds the directory through the same scope)', async () => {
    const jobA = { ...world.env, CI: 'true', BUILDKITE_JOB_ID: 'fast-a' }
    const a = (await runCli(['token'], { env: jobA })).stdout
    const fast = (env: Record<string, string>) =>
      cachedToken([], {
        env,
        stderrIsTTY: false,
        home: world.home.dir,
        uid: process.getuid?.(),
        cwd: world.home.dir,
        clock: { now: () => new Date() },
        secrets: new MemorySecretStore(),
      })
    expect(await fast(jobA)).toMatchObject({ stdout: a, stderr: '', colour: false })
    expect(await fast({ ...jobA, BUILDKITE_JOB_ID: 'fast-b' })).toBeUndefined()
    expect(await fast(world.env)).toBeUndefined()
  })
})

describe('bktx cache list', () => {
  it('shows the entries of this home only, and every scope with --all-scopes', async () => {
    const other = await mkdtemp(join(tmpdir(), 'bktx-other-home-'))
    const homeOne = world.env
    const homeTwo = { ...world.env, HOME: other, XDG_CACHE_HOME: join(other, 'cache'), XDG_CONFIG_HOME: join(other, 'config') }
    const one = (await runCli(['token'], { env: homeOne })).stdout.trim()
    const two = (await runCli(['token'], { env: homeTwo })).stdout.trim()
    expect(world.mints()).toBe(2)
    const listed = JSON.parse((await runCli(['cache', 'list', '--json'], { env: homeOne })).stdout) as { token_hint: string; scope: string }[]
    expect(listed.map((e) => e.token_hint)).toEqual([one.slice(-4)])
    const all = JSON.parse((await runCli(['cache', 'list', '--json', '--all-scopes'], { env: homeOne })).stdout) as { token_hint: string; scope: string }[]
    expect(all.map((e) => e.token_hint).sort()).toEqual([one.slice(-4), two.slice(-4)].sort())
    expect(new Set(all.map((e) => e.scope)).size).toBe(2)
    const text = (await runCli(['cache', 'list', '--all-scopes'], { env: homeOne })).stdout
    // This home's scope is starred.
    expect(text.split('\n').filter((l) => /^home-[0-9a-f]{16}\* /.test(l))).toHaveLength(1)
  })

  it('shows profile, token host, subject, org, scopes, ttl asked, key, expiry, backend and last four; entries differing in TTL, token URL or key differ', async () => {
    const clock = fixedClock(new Date())
    const first = await runCli(['token', '--ttl', '15m'], { env: world.env, clock })
    expect(first.code).toBe(0)
    // Entries of the same settings but another token URL, TTL or key, written by the cache itself.
    const { cache } = await selectCache({
      mode: 'file',
      env: world.env,
      home: '/nonexistent-home',
      uid: process.getuid?.(),
      clock,
      secrets: new MemorySecretStore(),
      profile: 'ci',
    })
    const mint = fakeExchanger(clock)
    const base = testParams({ org: 'acme', subject: 'dev@acme.test', scopes: ['read_builds'], ttl: 900 })
    const variants = [
      base,
      { ...base, ttl: 1800 },
      { ...base, tokenUrl: 'https://buildkite.example/oauth/token' },
      { ...base, key: { ...base.key, kid: 'kid-2', fingerprint: 'fp-2222222222' } },
      { ...base, key: { ...base.key, fingerprint: 'fp-3333333333' } },
    ]
    for (const p of variants) await cache.write((await import('../../src/cache/key.js')).cacheKey(p), p, await mint.exchange(p))
    const lines = (await runCli(['cache', 'list'], { env: world.env, clock })).stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(6)
    expect(new Set(lines).size).toBe(6)
    const host = new URL(world.server.tokenUrl).host
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^default  ${host}  dev@acme\\.test  acme  read_builds  ttl 15m  key ${world.server.key.kid}:\\S{8}  expires in 15m  keychain  …${first.stdout.trim().slice(-4)}$`,
        ),
      ),
    )
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ci {2}buildkite\.test {2}dev@acme\.test {2}acme {2}read_builds {2}ttl 30m {2}key kid-1:fp-00000 {2}expires in 30m {2}file {2}…\w{4}$/,
      ),
    )
    expect(lines).toContainEqual(expect.stringMatching(/^ci {2}buildkite\.example {2}.* ttl 15m {2}key kid-1:fp-00000 /))
    expect(lines).toContainEqual(expect.stringMatching(/ key kid-2:fp-22222 /))
    expect(lines).toContainEqual(expect.stringMatching(/ key kid-1:fp-33333 /))
    const json = JSON.parse((await runCli(['cache', 'list', '--json'], { env: world.env, clock })).stdout) as Record<string, unknown>[]
    expect(Object.keys(json[0] ?? {})).toEqual([
      'key',
      'scope',
      'profile',
      'token_host',
      'token_url',
      'subject',
      'subject_type',
      'org',
      'client_id',
      'scopes',
      'requested_scopes',
      'requested_ttl',
      'kid',
      'key_fingerprint',
      'received_at',
      'expires_at',
      'expired',
      'cache',
      'token_hint',
    ])
    expect(json.find((e) => e['profile'] === 'default')).toMatchObject({
      token_host: host,
      requested_ttl: 900,
      kid: world.server.key.kid,
      cache: 'keychain',
      token_hint: first.stdout.trim().slice(-4),
    })
    // The help names the fields.
    expect((await runCli(['cache', 'list', '--help'], { env: world.env })).stdout).toContain('requested_ttl, kid, key_fingerprint')
  })
})

describe('logout --all with the file cache chosen', () => {
  it('says nothing about a keychain', async () => {
    const env = { ...world.env, BKTX_CACHE: 'file' }
    const secrets = new MemorySecretStore()
    secrets.fail = new KeychainError('no usable keychain: the D-Bus session bus is not reachable', { detail: { reason: 'no-bus' } })
    const token = (await runCli(['token'], { env, secrets })).stdout.trim()
    const logout = await runCli(['logout', '--all'], { env, secrets })
    expect(logout.code).toBe(0)
    expect(logout.stderr).not.toMatch(/keychain/i)
    expect(await status(token)).toBe(401)
  })
})
