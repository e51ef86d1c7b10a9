// A full key rotation against the built binaries: `bktx jwks serve` publishes the JWKS file the
// rotation writes, `bktx server --jwks-uri` fetches it as Buildkite would (http to loopback
// behind its allow-http option), and tokens keep being minted throughout. The rotation commands
// run in-process with an injected clock, which is what their one-hour wait reads; the token
// commands use the real clock, which the server checks assertions against.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fixedClock, runCli, tempHome } from '../helpers/cli.js'
import { MEMBER } from '../helpers/server.js'
import { BIN } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'

let home: Awaited<ReturnType<typeof tempHome>>
const children: Array<{ stop(): Promise<unknown> }> = []
beforeEach(async () => {
  home = await tempHome()
})
afterEach(async () => {
  for (const child of children.splice(0).reverse()) await child.stop()
  await home.cleanup()
})

/** `bktx jwks serve --port 0 --key FILE` as a child process, once it serves. */
function spawnJwksServe(
  file: string,
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcessWithoutNullStreams; stderr(): string; stop(): Promise<unknown> }> {
  const child = spawn(process.execPath, [BIN, 'jwks', 'serve', '--port', '0', '--key', file], { env: { PATH: process.env['PATH'], ...env } })
  let stderr = ''
  const exited = new Promise((resolve) => child.on('exit', resolve))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jwks serve did not start:\n${stderr}`)), 10_000)
    child.stderr.on('data', (chunk) => {
      stderr += chunk
      const match = /serving JWKS at (\S+)/.exec(stderr)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve({ url: match[1], child, stderr: () => stderr, stop: () => (child.kill('SIGTERM'), exited) })
      }
    })
  })
}

async function kids(path: string): Promise<string[]> {
  return (JSON.parse(await readFile(path, 'utf8')) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
}

describe('key rotation end to end (bktx jwks serve + bktx server --jwks-uri)', () => {
  it('publishes both keys, keeps minting with the old one, waits out the hour, then mints with the new one', async () => {
    const env = { ...home.env, BKTX_CACHE: 'file' }
    const cli = (args: string[], clock?: ReturnType<typeof fixedClock>) => runCli(args, { env, ...(clock === undefined ? {} : { clock }) })

    const made = await cli(['keygen', '--json'])
    const oldKid = (JSON.parse(made.stdout) as { kid: string }).kid
    const pub = join(home.dir, 'site', '.well-known', 'jwks.json')
    expect((await cli(['jwks', '--out', pub])).code).toBe(0)
    const jwks = await spawnJwksServe(pub, env)
    children.push(jwks)
    const stateDir = join(home.dir, 'state')
    const server: ServerProcess = await spawnServer(
      ['--member', MEMBER, '--org', 'acme', '--client-id', 'rotating-app', '--jwks-uri', jwks.url, '--allow-http-jwks', '--state-dir', stateDir],
      env,
    )
    children.push({ stop: () => server.stop() })
    for (const [k, v] of [
      ['client-id', 'rotating-app'],
      ['org', 'acme'],
      ['subject', MEMBER],
      ['token-url', `${server.url}/oauth/token`],
      ['jwks-uri', jwks.url],
    ]) {
      expect((await cli(['config', 'set', k as string, v as string])).code).toBe(0)
    }
    const doctor = await cli(['doctor', '--allow-http-jwks'])
    expect(doctor.stdout).toMatch(new RegExp(`^PASS {2}jwks-kid .* holds kid ${oldKid}, with the public key of the signing key$`, 'm'))
    expect(doctor.code).toBe(0)

    // Start: the next key, the JWKS of both written where jwks serve reads it.
    const clock = fixedClock(Date.now())
    const started = await cli(['key', 'rotate', '--out', pub, '--allow-http-jwks', '--json'], clock)
    expect(started.code).toBe(0)
    const { next } = JSON.parse(started.stdout) as { next: { kid: string; path: string }; served_since: string | null }
    expect(await kids(pub)).toEqual([oldKid, next.kid])
    expect(JSON.parse(started.stdout).served_since).toBe(clock.now().toISOString())

    // Meanwhile the old key signs; the server fetches the JWKS (both keys) for it.
    const during = await cli(['token', '--refresh'])
    expect(during.code).toBe(0)

    clock.advance(10 * 60)
    const early = await cli(['key', 'rotate', '--finish', '--allow-http-jwks'], clock)
    expect(early.code).toBe(11)
    expect(early.stdout).toMatch(/^FAIL {2}wait .*10m ago: Buildkite may keep a JWKS it fetched before then for up to 1h$/m)
    expect((await cli(['config', 'get', 'key'])).stdout.trim()).not.toBe(next.path)

    clock.advance(50 * 60)
    const finished = await cli(['key', 'rotate', '--finish', '--allow-http-jwks'], clock)
    expect(finished.code).toBe(0)
    expect((await cli(['config', 'get', 'key'])).stdout.trim()).toBe(next.path)
    expect(await kids(pub)).toEqual([next.kid])

    // The new key signs, and the server (its cached JWKS held both) accepts it.
    const after = await cli(['token', '--refresh'])
    expect(after.stderr).toBe('')
    expect(after.code).toBe(0)
    const audit = (await readFile(join(stateDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; kid: string | null })
    expect(audit.filter((r) => r.type === 'token.minted').map((r) => r.kid)).toEqual([oldKid, next.kid])
    // jwks serve followed the file: one JWKS per change, no restart.
    expect(jwks.stderr()).toMatch(/key files changed: serving the new JWKS/)

    const doctorAfter = await cli(['doctor', '--allow-http-jwks'])
    expect(doctorAfter.stdout).toMatch(new RegExp(`^PASS {2}jwks-kid .* holds kid ${next.kid}, with the public key of the signing key$`, 'm'))
    expect(doctorAfter.code).toBe(0)
  }, 60_000)

  it('shows why the wait matters: forced early, the new key is refused while the server holds a JWKS fetched before it', async () => {
    const env = { ...home.env, BKTX_CACHE: 'file' }
    const cli = (args: string[]) => runCli(args, { env })
    expect((await cli(['keygen'])).code).toBe(0)
    const pub = join(home.dir, 'site', 'jwks.json')
    expect((await cli(['jwks', '--out', pub])).code).toBe(0)
    const jwks = await spawnJwksServe(pub, env)
    children.push(jwks)
    const server = await spawnServer(['--member', MEMBER, '--org', 'acme', '--client-id', 'rotating-app', '--jwks-uri', jwks.url, '--allow-http-jwks'], env)
    children.push({ stop: () => server.stop() })
    for (const [k, v] of [
      ['client-id', 'rotating-app'],
      ['org', 'acme'],
      ['subject', MEMBER],
      ['token-url', `${server.url}/oauth/token`],
      ['jwks-uri', jwks.url],
    ]) {
      expect((await cli(['config', 'set', k as string, v as string])).code).toBe(0)
    }
    // The server fetches and caches the JWKS holding the old key only.
    expect((await cli(['token'])).code).toBe(0)
    expect((await cli(['key', 'rotate', '--out', pub, '--allow-http-jwks'])).code).toBe(0)
    const forced = await cli(['key', 'rotate', '--finish', '--force', '--allow-http-jwks'])
    expect(forced.code).toBe(0)
    // Within the server's 30 s refetch cooldown (docs/token-exchange.md §9) it still has the
    // old set, as Buildkite may for up to an hour: the new kid is unknown.
    const refused = await cli(['token', '--refresh'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/invalid_client/)
  }, 60_000)
})
