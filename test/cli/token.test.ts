import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { KeychainError } from '../../src/errors.js'
import { MemorySecretStore } from '../../src/secrets/store.js'
import { fixedClock, runCli } from '../helpers/cli.js'
import { http } from '../helpers/http.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

let world: TokenWorld
beforeEach(async () => {
  world = await tokenWorld()
})
afterEach(() => world.cleanup())

const FILE = ['--cache', 'file']

describe('bktx token', () => {
  it('prints only the token and a newline, and serves it from the cache the second time', async () => {
    const first = await runCli(['token', ...FILE], { env: world.env })
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^bktx_[0-9A-Za-z]{43}\n$/)
    expect(first.stderr).toBe('')
    const second = await runCli(['token', ...FILE], { env: world.env })
    expect(second.stdout).toBe(first.stdout)
    expect(world.mints()).toBe(1)
    const json = JSON.parse((await runCli(['token', '--json', ...FILE], { env: world.env })).stdout)
    expect(json).toEqual({
      token: first.stdout.trim(),
      token_type: 'Bearer',
      expires_at: expect.any(String),
      scopes: ['read_builds'],
      cached: true,
      cache: 'file',
      requested_scopes: [],
      requested_ttl: null,
      expires_in: 3600,
    })
    // The token works on the API.
    expect((await http(`${world.server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${json.token}` } })).status).toBe(200)
  })

  it('keys the cache on every input: other scopes or TTL mint again, scope order does not', async () => {
    await runCli(['token', ...FILE, '--scope', 'read_builds read_pipelines'], { env: world.env })
    await runCli(['token', ...FILE, '--scope', 'read_pipelines', '--scope', 'read_builds'], { env: world.env })
    expect(world.mints()).toBe(1)
    await runCli(['token', ...FILE, '--scope', 'read_builds'], { env: world.env })
    await runCli(['token', ...FILE, '--scope', 'read_builds', '--ttl', '10m'], { env: world.env })
    expect(world.mints()).toBe(3)
  })

  it('mints again when the cached token has less than --min-ttl left (injected clock), and on --refresh', async () => {
    const clock = fixedClock(new Date())
    await world.cleanup()
    world = await tokenWorld({ clock })
    await runCli(['token', ...FILE, '--ttl', '1h'], { env: world.env, clock })
    clock.advance(50 * 60) // 10 minutes left: more than the default 5 min
    await runCli(['token', ...FILE, '--ttl', '1h'], { env: world.env, clock })
    expect(world.mints()).toBe(1)
    await runCli(['token', ...FILE, '--ttl', '1h', '--min-ttl', '15m'], { env: world.env, clock })
    expect(world.mints()).toBe(2)
    await runCli(['token', ...FILE, '--ttl', '1h', '--refresh'], { env: world.env, clock })
    expect(world.mints()).toBe(3)
    await runCli(['token', ...FILE, '--ttl', '1h', '--no-cache'], { env: world.env, clock })
    expect(world.mints()).toBe(4)
  })

  it('never serves an expired token', async () => {
    const clock = fixedClock(new Date())
    await world.cleanup()
    world = await tokenWorld({ clock })
    const first = await runCli(['token', ...FILE, '--ttl', '60'], { env: world.env, clock })
    clock.advance(61)
    const second = await runCli(['token', ...FILE, '--ttl', '60'], { env: world.env, clock })
    expect(second.stdout).not.toBe(first.stdout)
    expect(world.mints()).toBe(2)
  })

  it('treats a corrupt cache entry as a miss', async () => {
    await runCli(['token', ...FILE], { env: world.env })
    const dir = join(world.env.XDG_RUNTIME_DIR, 'bktx')
    for (const name of await readdir(dir)) {
      if (name.endsWith('.json') || name.endsWith('.token')) await writeFile(join(dir, name), '{corrupt', { mode: 0o600 })
    }
    const again = await runCli(['token', ...FILE], { env: world.env })
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/^bktx_/)
    expect(world.mints()).toBe(2)
  })

  it('stores the token in the keychain with --cache keychain, and fails with exit 8 when it is locked', async () => {
    const secrets = new MemorySecretStore()
    const first = await runCli(['token', '--cache', 'keychain'], { env: world.env, secrets })
    expect(first.code).toBe(0)
    expect([...secrets.items.values()]).toContain(first.stdout.trim())
    // The token itself is not in the cache directory: only metadata.
    const dir = join(world.env.XDG_RUNTIME_DIR, 'bktx')
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.lock')) expect(await readFile(join(dir, name), 'utf8')).not.toContain(first.stdout.trim())
    }
    secrets.fail = new KeychainError('the Secret Service collection is locked')
    const locked = await runCli(['token', '--cache', 'keychain'], { env: world.env, secrets })
    expect(locked.code).toBe(8)
    expect(locked.stdout).toBe('')
    expect(secrets.items.size).toBe(1)
  })

  it('falls back to the file cache in auto mode when the keychain is locked, saying so on stderr', async () => {
    const secrets = new MemorySecretStore()
    secrets.fail = new KeychainError('the Secret Service collection is locked')
    const result = await runCli(['token'], { env: world.env, secrets })
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^bktx_/)
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(/locked; using the file cache in /)
  })

  it('uses the file cache without asking the keychain when CI is set', async () => {
    const secrets = new MemorySecretStore()
    const result = await runCli(['token', '--json'], { env: { ...world.env, CI: 'true' }, secrets })
    expect(JSON.parse(result.stdout).cache).toBe('file')
    expect(secrets.calls).toEqual([])
  })

  // A server that is down is tried 4 times with backoffs of at most 0.5 + 1 + 2 s: its budget
  // must hold all of them, or a slow machine ends in the timeout message instead (seen in CI).
  it.each([
    ['an unknown subject', { BKTX_SUBJECT: 'nobody@acme.test' }, '3s', 4, /Subject user must be an active member/],
    ['the display name as org', { BKTX_ORG: 'acme-inc' }, '3s', 4, /slug/],
    ['scopes beyond the grant', { BKTX_SCOPE: 'write_builds' }, '3s', 4, /write_builds/],
    [
      'a server that is down',
      { BKTX_TOKEN_URL: 'http://127.0.0.1:2/oauth/token' },
      '10s',
      5,
      /cannot reach the token endpoint http:\/\/127\.0\.0\.1:2\/oauth\/token: connection refused \(ECONNREFUSED\).*check --token-url/,
    ],
    ['plain http to a remote host', { BKTX_TOKEN_URL: 'http://example.test/oauth/token' }, '3s', 2, /https/],
  ])('fails on %s with a clear message, its exit code and nothing on stdout', async (_name, env, timeout, code, message) => {
    const result = await runCli(['token', ...FILE, '--timeout', timeout], { env: { ...world.env, ...env } })
    expect(result.code).toBe(code)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(message)
    expect(result.stderr).not.toMatch(/bktx_[0-9A-Za-z]{20}/)
    expect(result.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{20}/)
  })

  it('names the missing setting', async () => {
    const { BKTX_SUBJECT: _drop, ...env } = world.env
    const result = await runCli(['token', ...FILE], { env })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/subject is not set; pass --subject, set BKTX_SUBJECT/)
  })
})

describe('bktx env', () => {
  it('exports the token, the org slug and the expiry, quoted for sh, fish and json', async () => {
    const sh = await runCli(['env', ...FILE], { env: world.env })
    expect(sh.stdout).toMatch(
      /^export BUILDKITE_API_TOKEN='bktx_[0-9A-Za-z]{43}'\nexport BUILDKITE_ORGANIZATION_SLUG='acme'\nexport BKTX_TOKEN_EXPIRES_AT='\d{4}-[^']+'\n$/,
    )
    const fish = await runCli(['env', ...FILE, '--shell', 'fish'], { env: world.env })
    expect(fish.stdout).toMatch(/BUILDKITE_API_TOKEN/)
    expect(fish.stdout).not.toMatch(/^export /m)
    const json = JSON.parse((await runCli(['env', ...FILE, '--json'], { env: world.env })).stdout)
    expect(Object.keys(json)).toEqual(['BUILDKITE_API_TOKEN', 'BUILDKITE_ORGANIZATION_SLUG', 'BKTX_TOKEN_EXPIRES_AT'])
    expect(world.mints()).toBe(1)
  })

  it('prints nothing on stdout on failure', async () => {
    const result = await runCli(['env', ...FILE], { env: { ...world.env, BKTX_SUBJECT: 'nobody@acme.test' } })
    expect(result.code).toBe(4)
    expect(result.stdout).toBe('')
  })
})

describe('bktx whoami, cache and logout', () => {
  it('shows the user and scopes, lists metadata without the token, and logs out by revoking', async () => {
    const token = (await runCli(['token', ...FILE], { env: world.env })).stdout.trim()
    const who = JSON.parse((await runCli(['whoami', '--json', ...FILE], { env: world.env })).stdout)
    expect(who).toMatchObject({ user: { email: 'dev@acme.test' }, scopes: ['read_builds'], cached: true, cache: 'file' })

    const list = await runCli(['cache', 'list', '--json'], { env: world.env })
    const entries = JSON.parse(list.stdout)
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      org: 'acme',
      subject: 'dev@acme.test',
      scopes: ['read_builds'],
      cache: 'file',
      expired: false,
      token_hint: token.slice(-4),
    })
    expect(list.stdout).not.toContain(token)

    const logout = await runCli(['logout', ...FILE], { env: world.env })
    expect(logout.code).toBe(0)
    expect(logout.stderr).toMatch(new RegExp(`✓ revoked and forgot token …${token.slice(-4)} acme dev@acme\\.test read_builds, expires `))
    expect((await http(`${world.server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(401)
    expect(JSON.parse((await runCli(['cache', 'list', '--json'], { env: world.env })).stdout)).toEqual([])
    expect((await runCli(['logout', ...FILE], { env: world.env })).stderr).toMatch(/nothing to revoke/)
  })

  it('logout --no-revoke only forgets; cache clear --all removes every entry', async () => {
    const token = (await runCli(['token', ...FILE, '--scope', 'read_pipelines'], { env: world.env })).stdout.trim()
    await runCli(['token', ...FILE], { env: world.env })
    // --scope narrows: only the read_pipelines token is forgotten, and it stays live.
    await runCli(['logout', ...FILE, '--no-revoke', '--scope', 'read_pipelines'], { env: world.env })
    expect((await http(`${world.server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200)
    const cleared = await runCli(['cache', 'clear', '--all'], { env: world.env })
    expect(cleared.stderr).toMatch(/removed 1 cached token/)
    expect(JSON.parse((await runCli(['cache', 'list', '--json'], { env: world.env })).stdout)).toEqual([])
  })
})
