import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FetchLike } from '../../src/deps.js'
import { noWait, runCli } from '../helpers/cli.js'
import { http } from '../helpers/http.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// Issue 20, "the token you hold": logout reaches every cached token the settings given select,
// whoami describes the token in $BUILDKITE_API_TOKEN and never mints unasked, and revoke
// revokes one given token. Over real HTTP against the reference server, the CLI in-process.

let world: TokenWorld
let env: Record<string, string>
beforeEach(async () => {
  world = await tokenWorld()
  env = { ...world.env, BKTX_CACHE: 'file' }
})
afterEach(() => world.cleanup())

const status = async (token: string) => (await http(`${world.server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status
const token = async (...args: string[]) => {
  const result = await runCli(['token', ...args], { env })
  expect(result.code, result.stderr).toBe(0)
  return result.stdout.trim()
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** A fetch that counts the requests bktx makes (every one still goes to the real server). */
function countingFetch(): FetchLike & { calls: string[] } {
  const calls: string[] = []
  const counted: FetchLike = (input, init) => {
    calls.push(`${init?.method ?? 'GET'} ${String(input)}`)
    return fetch(input, init as RequestInit)
  }
  return Object.assign(counted, { calls })
}

describe('bktx logout reaches every cached token the settings given select', () => {
  it('--scope read_builds revokes the read_builds tokens of every TTL, names each, and leaves other scopes alone', async () => {
    const other = await token('--scope', 'read_builds')
    const mine = await token('--scope', 'read_builds', '--ttl', '15m')
    const pipelines = await token('--scope', 'read_pipelines')
    expect(new Set([other, mine, pipelines]).size).toBe(3)

    const logout = await runCli(['logout', '--scope', 'read_builds'], { env })
    expect(logout.code, logout.stderr).toBe(0)
    for (const revoked of [other, mine]) {
      expect(logout.stderr).toContain(`✓ revoked and forgot token …${revoked.slice(-4)} acme dev@acme.test read_builds, expires `)
      expect(await status(revoked)).toBe(401)
    }
    expect(logout.stderr).toMatch(/\n2 revoked, 2 forgotten, 0 could not be revoked\n$/)
    expect(await status(pipelines)).toBe(200)
    // whoami agrees: the token the script held is no longer valid.
    const who = await runCli(['whoami'], { env: { ...env, BUILDKITE_API_TOKEN: mine } })
    expect(who.code).toBe(4)
    expect(who.stderr).toMatch(/did not accept the token \(HTTP 401/)
  })

  it('bare logout reaches every token of the profile; a token it cannot revoke is named, kept, and fails the run', async () => {
    const a = await token('--scope', 'read_builds')
    const b = await token('--ttl', '10m')
    // The API is unreachable (a closed port): nothing can be revoked, so nothing is forgotten.
    // The retries are made without their backoff waits.
    const down = await runCli(['logout', '--api-url', 'http://127.0.0.1:9', '--timeout', '10s', '--json'], { env, sleep: noWait })
    expect(down.code).toBe(5)
    const doc = JSON.parse(down.stdout)
    expect(doc.revoked).toEqual([])
    expect(doc.failed.map((f: { token_hint: string; error: { code: string } }) => [f.token_hint, f.error.code]).sort()).toEqual(
      [
        [a.slice(-4), 'BKTX_NETWORK'],
        [b.slice(-4), 'BKTX_NETWORK'],
      ].sort(),
    )
    const logout = await runCli(['logout'], { env })
    expect(logout.code, logout.stderr).toBe(0)
    expect(logout.stderr).toMatch(/\n2 revoked, 2 forgotten, 0 could not be revoked\n$/)
    for (const t of [a, b]) expect(await status(t)).toBe(401)
  })

  it("another profile's tokens are not reached", async () => {
    const theirs = await token('--subject', '11111111-2222-4333-8444-555555555555', '--subject-type', 'uuid')
    const logout = await runCli(['logout'], { env })
    expect(logout.stderr).toMatch(/no cached token for these settings; nothing to revoke/)
    expect(await status(theirs)).toBe(200)
  })
})

describe('bktx whoami describes the token you hold', () => {
  it('after `bktx env`, describes $BUILDKITE_API_TOKEN and says so, minting nothing', async () => {
    const exported = JSON.parse((await runCli(['env', '--scope', 'read_builds', '--shell', 'json'], { env })).stdout)
    const held = exported.BUILDKITE_API_TOKEN as string
    expect(held).toMatch(/^bktx_/)
    const mints = world.mints()

    const who = await runCli(['whoami'], { env: { ...env, BUILDKITE_API_TOKEN: held } })
    expect(who.code, who.stderr).toBe(0)
    expect(who.stdout).toMatch(/^user {5}Dev <dev@acme\.test>\nscopes {3}read_builds\n/)
    expect(who.stdout).toContain(`source   from $BUILDKITE_API_TOKEN, …${held.slice(-4)}\n`)
    const json = JSON.parse((await runCli(['whoami', '--json'], { env: { ...env, BUILDKITE_API_TOKEN: held } })).stdout)
    expect(json).toMatchObject({ scopes: ['read_builds'], source: 'env:BUILDKITE_API_TOKEN', token_hint: held.slice(-4), cached: false, cache: 'none' })
    expect(json.tokens).toHaveLength(1)
    // --token-env reads another variable; - reads standard input.
    const named = await runCli(['whoami', '--token-env', 'MY_TOKEN'], { env: { ...env, MY_TOKEN: held } })
    expect(named.stdout).toContain('source   from $MY_TOKEN, ')
    const piped = await runCli(['whoami', '-', '--json'], { env, stdin: `${held}\n` })
    expect(JSON.parse(piped.stdout)).toMatchObject({ scopes: ['read_builds'], source: 'stdin', token_hint: held.slice(-4) })
    expect(world.mints()).toBe(mints)
  })

  it('without a token given, describes the cached tokens of the settings; with none, exits 12 and mints only with --mint', async () => {
    const cached = await token('--scope', 'read_builds', '--ttl', '15m')
    const mints = world.mints()
    const who = await runCli(['whoami'], { env })
    expect(who.code, who.stderr).toBe(0)
    expect(who.stdout).toContain(`source   from the file cache, …${cached.slice(-4)}`)
    expect(world.mints()).toBe(mints)

    await runCli(['logout'], { env })
    const none = await runCli(['whoami'], { env })
    expect(none.code).toBe(12)
    expect(none.stdout).toBe('')
    expect(none.stderr).toMatch(/no live cached token for these settings; nothing was minted; get one with `bktx token`, or .* `bktx whoami --mint`/)
    expect(JSON.parse((await runCli(['whoami', '--json'], { env })).stderr).error).toMatchObject({ code: 'BKTX_NO_TOKEN', exit: 12 })
    // Nor with no settings at all (a new user): still "no token", with how to set the profile up.
    const bare = await runCli(['whoami'], { env: world.home.env })
    expect(bare.code).toBe(12)
    expect(bare.stderr).toMatch(/no cached token can be looked up: org is not set; pass --org, set BKTX_ORG, or run `bktx config set org VALUE`/)
    expect(world.mints()).toBe(mints)

    const minted = await runCli(['whoami', '--mint', '--json'], { env })
    expect(minted.code, minted.stderr).toBe(0)
    expect(JSON.parse(minted.stdout)).toMatchObject({ source: 'exchange', cached: false })
    expect(world.mints()).toBe(mints + 1)
  })
})

describe('bktx revoke', () => {
  it('revokes the token in $BUILDKITE_API_TOKEN (204), removes it from the cache, and a second run is "already invalid", exit 0', async () => {
    const held = await token('--scope', 'read_builds')
    const first = await runCli(['revoke', '--json'], { env: { ...env, BUILDKITE_API_TOKEN: held } })
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout)).toEqual({ revoked: true, already_invalid: false, token_hint: held.slice(-4), removed_from_cache: true })
    expect(first.stderr).toBe(`✓ token …${held.slice(-4)} revoked\nremoved it from the cache\n`)
    expect(await status(held)).toBe(401)
    expect(JSON.parse((await runCli(['cache', 'list', '--json'], { env })).stdout)).toEqual([])

    const again = await runCli(['revoke'], { env: { ...env, BUILDKITE_API_TOKEN: held } })
    expect(again.code).toBe(0)
    expect(again.stderr).toBe(`token …${held.slice(-4)} already invalid (revoked or expired)\n`)
  })

  it('reads the token from standard input with -, one trailing newline dropped; a token not cached is revoked all the same', async () => {
    const held = (await runCli(['token', '--no-cache'], { env })).stdout.trim()
    const result = await runCli(['revoke', '-', '--json'], { env, stdin: `${held}\n` })
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({ revoked: true, already_invalid: false, token_hint: held.slice(-4), removed_from_cache: false })
    expect(await status(held)).toBe(401)
  })

  it('--expect-sha256 that does not match refuses with exit 2 and sends nothing', async () => {
    const held = await token()
    const fetch = countingFetch()
    const wrong = await runCli(['revoke', '--expect-sha256', sha256(`${held}x`)], { env: { ...env, BUILDKITE_API_TOKEN: held }, fetch })
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/--expect-sha256: the token from \$BUILDKITE_API_TOKEN is not the one expected \(its SHA-256 differs\); nothing was sent/)
    expect(wrong.stderr).not.toContain(held)
    expect(fetch.calls).toEqual([])
    expect(await status(held)).toBe(200)
    // The right one (upper case hex too) goes through.
    const right = await runCli(['revoke', '--expect-sha256', sha256(held).toUpperCase()], { env: { ...env, BUILDKITE_API_TOKEN: held }, fetch })
    expect(right.code, right.stderr).toBe(0)
    expect(fetch.calls).toEqual([`DELETE ${world.server.url}/v2/access-token`])
    expect(await status(held)).toBe(401)
  })

  it('refuses a token on the command line (exit 2) without echoing it, says how to pass it, and sends nothing', async () => {
    const held = await token()
    const fetch = countingFetch()
    for (const args of [
      ['revoke', held],
      ['revoke', held, '--json'],
      ['revoke', '--token-env', held],
      ['whoami', held],
    ]) {
      const result = await runCli(args, { env, fetch })
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stdout).toBe('')
      expect(result.stderr).not.toContain(held)
      expect(result.stderr).not.toContain(held.slice(5, 20))
      expect(result.stderr).toMatch(/--token-env/)
    }
    const plain = await runCli(['revoke', held], { env })
    expect(plain.stderr).toMatch(
      /takes no token on the command line .*; pass it in \$BUILDKITE_API_TOKEN, in another variable with --token-env NAME, or on standard input with -/,
    )
    expect(fetch.calls).toEqual([])
    expect(await status(held)).toBe(200)
  })

  it('with no token anywhere, says how to give one (exit 2)', async () => {
    const result = await runCli(['revoke'], { env })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/no token to revoke: \$BUILDKITE_API_TOKEN is not set; pass it in/)
  })

  it('an unreachable API fails with the network exit code after retries, and the cache entry is kept', async () => {
    const held = await token()
    // The retries' backoff (about 9 s of timers) is skipped; the attempts are made all the same.
    const result = await runCli(['revoke', '--api-url', 'http://127.0.0.1:9', '--timeout', '10s'], {
      env: { ...env, BUILDKITE_API_TOKEN: held },
      sleep: noWait,
    })
    expect(result.code).toBe(5)
    expect(result.stderr).toContain('4 attempts')
    expect(result.stderr).not.toContain(held)
    expect(JSON.parse((await runCli(['cache', 'list', '--json'], { env })).stdout)).toHaveLength(1)
    expect(await status(held)).toBe(200)
  })
})
