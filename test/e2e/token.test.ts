import { spawn, spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCI } from '../../src/cache/select.js'
import { probeSecretService } from '../../src/secrets/probe.js'
import { tempHome } from '../helpers/cli.js'
import { startCountingProxy } from '../helpers/proxy.js'
import { BIN, runBin } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'
import { MEMBER } from '../helpers/server.js'

let home: Awaited<ReturnType<typeof tempHome>>
let server: ServerProcess
let env: Record<string, string>
let stateDir: string

async function mints(): Promise<number> {
  const text = await readFile(join(stateDir, 'audit.jsonl'), 'utf8').catch(() => '')
  return text.split('\n').filter((line) => line.includes('"token.minted"')).length
}

beforeAll(async () => {
  home = await tempHome()
  const key = join(home.dir, 'key.pem')
  await runBin(['keygen', '--out', key], { env: home.env })
  stateDir = join(home.dir, 'state')
  server = await spawnServer(['--member', MEMBER, '--org', 'acme', '--jwks', key, '--client-id', 'e2e-client', '--state-dir', stateDir, '--grantable', 'read_builds read_pipelines read_user'], home.env)
  env = {
    ...home.env,
    BKTX_TOKEN_URL: `${server.url}/oauth/token`,
    BKTX_API_URL: server.url,
    BKTX_CLIENT_ID: 'e2e-client',
    BKTX_KEY: key,
    BKTX_ORG: 'acme',
    BKTX_SUBJECT: MEMBER,
    BKTX_CACHE: 'file',
  }
})
afterAll(async () => {
  await server.stop()
  await home.cleanup()
})

describe('bktx token from the built binary against bktx server', () => {
  it('32 parallel cold calls make exactly one exchange (counted in the audit log) and print the same token', async () => {
    const before = await mints()
    const runs = await Promise.all(Array.from({ length: 32 }, () => runBin(['token', '--scope', 'read_user'], { env, timeoutMs: 60_000 })))
    expect(runs.map((r) => r.code)).toEqual(Array(32).fill(0))
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1)
    expect(await mints()).toBe(before + 1)
  }, 90_000)

  it('exports variables that bash and fish evaluate to the same values', async () => {
    const json = JSON.parse((await runBin(['env', '--json'], { env })).stdout)
    const bash = spawnSync('bash', ['-c', `eval "$(${process.execPath} ${BIN} env --shell bash)" && printf '%s\\n' "$BUILDKITE_API_TOKEN" "$BUILDKITE_ORGANIZATION_SLUG" "$BKTX_TOKEN_EXPIRES_AT"`], { env, encoding: 'utf8' })
    expect(bash.stdout).toBe(`${json.BUILDKITE_API_TOKEN}\n${json.BUILDKITE_ORGANIZATION_SLUG}\n${json.BKTX_TOKEN_EXPIRES_AT}\n`)
    const fish = spawnSync('fish', ['--no-config', '-c', `${process.execPath} ${BIN} env --shell fish | source; printf '%s\\n' $BUILDKITE_API_TOKEN $BUILDKITE_ORGANIZATION_SLUG $BKTX_TOKEN_EXPIRES_AT`], { env: { ...env, HOME: home.dir }, encoding: 'utf8' })
    expect(fish.stdout).toBe(bash.stdout)
  })

  it('never sends the loopback server through HTTP_PROXY or HTTPS_PROXY, whatever NO_PROXY says (issue 13)', async () => {
    const proxy = await startCountingProxy()
    try {
      for (const noProxy of [undefined, 'example.test']) {
        const proxyEnv = { ...env, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, ...(noProxy === undefined ? {} : { NO_PROXY: noProxy }) }
        const result = await runBin(['token', '--no-cache'], { env: proxyEnv })
        expect(result.code).toBe(0)
      }
      expect([proxy.connects, proxy.forwards, proxy.connections]).toEqual([[], [], 0])
    } finally {
      await proxy.close()
    }
  })

  it('fails within --timeout with exit 5 and nothing on stdout when the server is down', async () => {
    const started = Date.now()
    const result = await runBin(['token', '--no-cache', '--timeout', '2s'], { env: { ...env, BKTX_TOKEN_URL: 'http://127.0.0.1:9/oauth/token' } })
    expect(result.code).toBe(5)
    expect(result.stdout).toBe('')
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})

describe('bktx exec', () => {
  it('passes the variables, exits with the command code, and refuses to nest', async () => {
    const ok = await runBin([], { env, shell: `$BKTX exec -- sh -c 'test -n "$BUILDKITE_API_TOKEN" && test "$BUILDKITE_ORGANIZATION_SLUG" = acme && exit 7'` })
    expect(ok.code).toBe(7)
    expect(ok.stdout).toBe('')
    const nested = await runBin([], { env, shell: `$BKTX exec -- $BKTX exec -- true` })
    expect(nested.code).toBe(2)
    expect(nested.stderr).toMatch(/already inside bktx exec/)
    const allowed = await runBin([], { env, shell: `$BKTX exec -- $BKTX exec --allow-nested -- true` })
    expect(allowed.code).toBe(0)
    const missing = await runBin(['exec', '--', 'no-such-command-bktx'], { env })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/command not found/)
  })

  it("leaves the command's own -v alone: no verbose output from bktx, the command's exit code (issue 9)", async () => {
    const result = await runBin(['exec', '--', 'sh', '-c', 'exit 3', '-v'], { env })
    expect(result.code).toBe(3)
    expect(result.stderr).not.toMatch(/debug:/)
    // A failure before the command starts is reported plainly too: -v after -- is not bktx's.
    const failed = await runBin(['exec', '--kid', 'x', '--key', '/nonexistent/key.pem', '--', 'sh', '-c', 'exit 3', '-v'], { env })
    expect(failed.code).toBe(3)
    expect(failed.stderr).toMatch(/^error: .*key.pem/)
    expect(failed.stderr).not.toMatch(/debug:/)
  })

  it('forwards SIGTERM to the command and reports 128 + signal when it dies of it', async () => {
    const child = spawn(process.execPath, [BIN, 'exec', '--', 'sh', '-c', 'echo ready; sleep 30'], { env: { PATH: process.env['PATH'], ...env } })
    let out = ''
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk) => ((out += chunk), out.includes('ready') && resolve())))
    child.kill('SIGTERM')
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
    expect(code).toBe(143)
  })

  it('--revoke-on-exit revokes the token when the command ends', async () => {
    const result = await runBin([], { env, shell: `$BKTX exec --revoke-on-exit --scope read_pipelines -- sh -c 'echo "$BUILDKITE_API_TOKEN"'` })
    expect(result.code).toBe(0)
    const token = result.stdout.trim()
    expect(result.stderr).toMatch(/token revoked/)
    const me = await fetch(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })
    expect(me.status).toBe(401)
  })
})

// The keychain backend against the session's real Secret Service (.ci/run starts gnome-keyring
// under dbus-run-session). Outside CI a machine without one skips this; with CI set it fails.
const session = await probeSecretService({ env: process.env, uid: process.getuid?.() ?? 0, timeoutMs: 3000 })
describe.skipIf(session.state !== 'unlocked' && !isCI(process.env))('bktx token with the real keychain', () => {
  it('stores the token in the Secret Service and serves it from there', async () => {
    expect(session.state).toBe('unlocked')
    const keychainEnv = { ...env, ...pick(process.env, ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR']), BKTX_CACHE: 'keychain', XDG_RUNTIME_DIR: env['XDG_RUNTIME_DIR'] as string }
    const first = await runBin(['token', '--json', '--scope', 'read_pipelines', '--refresh'], { env: keychainEnv })
    expect(first.code).toBe(0)
    const doc = JSON.parse(first.stdout)
    expect(doc).toMatchObject({ cached: false, cache: 'keychain' })
    const found = spawnSync('secret-tool', ['search', '--all', 'service', 'bktx'], { encoding: 'utf8' })
    expect(`${found.stdout}${found.stderr}`).toContain(doc.token)
    const second = JSON.parse((await runBin(['token', '--json', '--scope', 'read_pipelines'], { env: keychainEnv })).stdout)
    expect(second).toMatchObject({ token: doc.token, cached: true, cache: 'keychain' })
    await runBin(['logout', '--scope', 'read_pipelines'], { env: keychainEnv })
  })
})

function pick(source: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of names) if (source[name] !== undefined) out[name] = source[name] as string
  return out
}
