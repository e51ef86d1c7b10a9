import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { http } from '../helpers/http.js'
import { startServer } from '../helpers/server.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// Issue 14: what a platform engineer does in week two.

let world: TokenWorld
beforeEach(async () => {
  world = await tokenWorld()
})
afterEach(() => world.cleanup())

const FILE = { BKTX_CACHE: 'file' }

describe('bktx logout --all', () => {
  it('revokes every cached token of every scope set, keeps the ones it could not revoke, and says why', async () => {
    const env = { ...world.env, ...FILE }
    const a = (await runCli(['token', '--scope', 'read_builds'], { env })).stdout.trim()
    const b = (await runCli(['token', '--scope', 'read_pipelines'], { env })).stdout.trim()
    // A token from a server that is gone by logout time: its revocation cannot succeed.
    const other = await startServer({ key: world.server.key })
    const c = (await runCli(['token', '--token-url', other.tokenUrl], { env })).stdout.trim()
    await other.stop()
    expect(new Set([a, b, c]).size).toBe(3)

    // The budget holds all 4 attempts to the server that is gone (backoffs of at most 3.5 s in
    // all), so its failure is always "cannot reach", never a timeout on a slow machine.
    const result = await runCli(['logout', '--all', '--json', '--timeout', '10s'], { env })
    expect(result.code).toBe(5)
    const doc = JSON.parse(result.stdout)
    expect(doc.revoked.map((e: { scopes: string[] }) => e.scopes.join(' ')).sort()).toEqual(['read_builds', 'read_pipelines'])
    expect(doc.failed).toHaveLength(1)
    expect(doc.failed[0]).toMatchObject({ token_url: other.tokenUrl, error: { code: 'BKTX_NETWORK' } })
    for (const token of [a, b]) expect((await http(`${world.server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(401)
    // The one not revoked is still cached, to be revoked by a later run.
    const left = JSON.parse((await runCli(['cache', 'list', '--json'], { env })).stdout)
    expect(left.map((e: { token_url: string }) => e.token_url)).toEqual([other.tokenUrl])
    // Human output: a line per entry and a summary.
    const again = await runCli(['logout', '--all', '--no-revoke'], { env })
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(
      /forgot token …\w{4} acme dev@acme\.test read_builds, expires \d{4}-\d\d-\d\dT[\d:.]+Z \(not revoked: --no-revoke\)\n0 revoked, 1 forgotten, 0 could not be revoked\n$/,
    )
  })

  it('forgets expired tokens without asking the API', async () => {
    const env = { ...world.env, ...FILE }
    const clock = { now: () => new Date() }
    await runCli(['token', '--ttl', '60'], { env, clock })
    const later = { now: () => new Date(Date.now() + 120_000) }
    const result = await runCli(['logout', '--all', '--json'], { env, clock: later })
    expect(JSON.parse(result.stdout)).toMatchObject({ revoked: [], expired: [{ org: 'acme' }], failed: [] })
  })
})

describe('profiles', () => {
  it("inherit from default, so the README's ci profile works as written; config profiles lists them", async () => {
    const config = join(world.home.dir, 'config', 'bktx', 'config.json')
    await mkdir(join(world.home.dir, 'config', 'bktx'), { recursive: true })
    await writeFile(
      config,
      JSON.stringify({
        profiles: {
          default: { 'client-id': world.env.BKTX_CLIENT_ID, org: 'acme', key: world.keyPath, kid: world.env.BKTX_KID, 'token-url': world.env.BKTX_TOKEN_URL },
          ci: { subject: 'dev@acme.test', scope: 'read_builds', ttl: '15m' },
        },
      }),
      { mode: 0o600 },
    )
    const env = { ...world.home.env, ...FILE }
    const token = await runCli(['token', '--profile', 'ci', '--json'], { env })
    expect(token.code, token.stderr).toBe(0)
    expect(JSON.parse(token.stdout)).toMatchObject({ scopes: ['read_builds'], requested_ttl: 900 })
    const list = JSON.parse((await runCli(['config', 'list', '--profile', 'ci', '--json'], { env })).stdout)
    expect(list.settings['client-id'].source).toBe('profile:default')
    expect(list.settings.subject.source).toBe('profile:ci')
    const profiles = await runCli(['config', 'profiles', '--profile', 'ci'], { env })
    expect(profiles.stdout).toBe('  default  (inherits nothing)  client-id key kid org token-url\n* ci       extends default  scope subject ttl\n')
    expect(
      JSON.parse((await runCli(['config', 'profiles', '--json'], { env })).stdout).profiles.map((p: { name: string; active: boolean }) => [p.name, p.active]),
    ).toEqual([
      ['default', true],
      ['ci', false],
    ])
  })

  it('hints that suggest `config set` name the active profile', async () => {
    const env = { ...world.home.env, BKTX_PROFILE: 'ci' }
    await runCli(['config', 'set', 'org', 'acme'], { env })
    const result = await runCli(['token'], { env })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/client-id is not set; pass --client-id, set BKTX_CLIENT_ID, or run `bktx config set client-id VALUE --profile ci`/)
    expect(JSON.parse(await readFile(join(world.home.dir, 'config', 'bktx', 'config.json'), 'utf8')).profiles.ci).toEqual({ org: 'acme' })
  })
})

describe('--json everywhere, and JSON errors', () => {
  it('--version, help exit-codes, config path/set/unset, cache clear, logout', async () => {
    const env = { ...world.env, ...FILE }
    expect(JSON.parse((await runCli(['--version', '--json'])).stdout)).toEqual({ version: '0.0.0-test' })
    const codes = JSON.parse((await runCli(['help', 'exit-codes', '--json'])).stdout).exit_codes
    expect(codes.find((c: { exit: number }) => c.exit === 4).errors).toEqual(['BKTX_OAUTH_REJECTED', 'BKTX_API_REJECTED'])
    expect(JSON.parse((await runCli(['config', 'path', '--json'], { env })).stdout).path).toMatch(/config\.json$/)
    expect(JSON.parse((await runCli(['config', 'set', 'ttl', '10m', '--json'], { env })).stdout)).toMatchObject({ key: 'ttl', value: '600', changed: true })
    expect(JSON.parse((await runCli(['config', 'unset', 'ttl', '--json'], { env })).stdout)).toMatchObject({ key: 'ttl', changed: true })
    const token = (await runCli(['token'], { env })).stdout.trim()
    expect(JSON.parse((await runCli(['logout', '--json'], { env })).stdout)).toEqual({
      revoked: [
        {
          org: 'acme',
          subject: 'dev@acme.test',
          scopes: ['read_builds'],
          token_url: world.env.BKTX_TOKEN_URL,
          token_hint: token.slice(-4),
          expires_at: expect.any(String),
        },
      ],
      already_invalid: [],
      expired: [],
      forgotten: [],
      failed: [],
    })
    expect(JSON.parse((await runCli(['cache', 'clear', '--all', '--json'], { env })).stdout)).toEqual({ removed: 0 })
  })

  it('an error under --json is one JSON document on stderr, nothing on stdout', async () => {
    for (const [args, code, exit] of [
      [['token', '--org', 'Not A Slug'], 'BKTX_SETTING_INVALID', 2],
      [['token', '--nope'], 'BKTX_USAGE', 2],
      [['frobnicate'], 'BKTX_USAGE', 2],
      [['sign', '--client-id', 'x', '--key', '/nonexistent.pem'], 'BKTX_KEY_INVALID', 3],
    ] as const) {
      const result = await runCli([...args, '--json'], { env: world.home.env })
      expect(result.code, args.join(' ')).toBe(exit)
      expect(result.stdout).toBe('')
      const lines = result.stderr.trimEnd().split('\n')
      expect(lines, result.stderr).toHaveLength(1)
      expect(JSON.parse(lines[0] as string)).toMatchObject({ error: { code, exit, message: expect.any(String) } })
    }
  })
})
