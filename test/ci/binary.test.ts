// The standalone executable (npm run build:binary, scripts/build-binary.mjs), built once here
// and run with no node on PATH (`env -i PATH=/nonexistent`): it mints against the reference
// server, caches in files (or not at all), and says that the native keychain and PKCS#11
// bindings are not inside.
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { calculateJwkThumbprint, exportJWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReferenceServer, type ReferenceServer } from '../../src/api/server.js'
import { runProcess } from '../helpers/spawn.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MEMBER = 'agent@acme.test'
let dir: string
let exe: string
let server: ReferenceServer
let base: Record<string, string>

/** The executable with exactly `env`: what `env -i` would give it. */
const run = (args: string[], env: Record<string, string>) => runProcess(exe, args, { env, cwd: dir, timeoutMs: 60_000 })

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-binary-'))
  exe = join(dir, 'bktx-linux-x64')
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-binary.mjs'), '--out', exe], { cwd: ROOT, stdio: 'pipe' })
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await writeFile(join(dir, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 })
  await writeFile(join(dir, 'key.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }) as string)
  const jwk = await exportJWK(publicKey)
  const keys = [{ ...jwk, kid: await calculateJwkThumbprint(jwk), use: 'sig', alg: 'ES256' }]
  server = await startReferenceServer({ config: { quick: { org: 'acme', members: [MEMBER], clientId: 'agent-client', jwks: { keys } as never } } })
  await mkdir(join(dir, 'home'), { mode: 0o700 })
  await mkdir(join(dir, 'run'), { mode: 0o700 })
  // What `env -i PATH=/nonexistent` leaves, plus a home and bktx's settings.
  base = {
    PATH: '/nonexistent',
    HOME: join(dir, 'home'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    BKTX_TOKEN_URL: server.tokenUrl,
    BKTX_CLIENT_ID: 'agent-client',
    BKTX_ORG: 'acme',
    BKTX_SUBJECT: MEMBER,
    BKTX_KEY: join(dir, 'key.pem'),
  }
}, 240_000)

afterAll(async () => {
  await server?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

describe('standalone executable', () => {
  it('is one executable file that no node on PATH is needed for', async () => {
    expect((await stat(exe)).mode & 0o111).not.toBe(0)
    const r = await run(['--version'], { PATH: '/nonexistent' })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+ \(standalone executable: no OS keychain or PKCS#11 support; tokens are cached in files\)\n$/)
    const json = await run(['--version', '--json'], { PATH: '/nonexistent' })
    expect(JSON.parse(json.stdout)).toMatchObject({ build: expect.stringContaining('standalone') })
  })

  it('mints a token against the reference server, caches it in a file, and serves it from there', async () => {
    // The default cache mode (auto) tries the keychain, finds no binding, uses files, and says so.
    const first = await run(['token'], base)
    expect(first.stderr).toMatch(/^warning: no keychain \(no keychain support on this platform\): caching tokens in .*pass --cache file, set BKTX_CACHE=file/)
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^bktx_\S+\n$/)
    const second = await run(['token'], { ...base, BKTX_CACHE: 'file' })
    expect(second.stderr).toBe('')
    expect(second.code).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect(server.auditRecords().filter((r) => r.type === 'token.minted')).toHaveLength(1)
    expect((await readdir(join(dir, 'run', 'bktx'), { recursive: true })).length).toBeGreaterThan(0)
    const whoami = await run(['whoami', '--api-url', server.url, '--json'], { ...base, BUILDKITE_API_TOKEN: first.stdout.trim() })
    expect(whoami.code).toBe(0)
    expect(JSON.parse(whoami.stdout).user.email).toBe(MEMBER)
  })

  it('with --cache none it mints every time and writes no cache', async () => {
    const home = join(dir, 'nocache')
    await mkdir(join(home, 'run'), { recursive: true, mode: 0o700 })
    const env = { ...base, HOME: home, XDG_RUNTIME_DIR: join(home, 'run') }
    const r = await run(['token', '--cache', 'none'], env)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^bktx_/)
    expect(await readdir(join(home, 'run'))).toEqual([])
  })

  it('runs an exec: signer, and bktx exec --revoke-on-exit runs a command with the token and revokes it', async () => {
    const signed = await run(
      ['token', '--cache', 'none', '--key', `exec:/usr/bin/openssl dgst -sha256 -sign ${join(dir, 'key.pem')}`, '--public-key', join(dir, 'key.pub.pem')],
      base,
    )
    expect(signed.stderr).toBe('')
    expect(signed.stdout).toMatch(/^bktx_/)
    const revoked = server.auditRecords().filter((r) => r.type === 'token.revoked').length
    const exec = await run(['exec', '--revoke-on-exit', '--', '/bin/sh', '-c', 'case "$BUILDKITE_API_TOKEN" in bktx_*) exit 7 ;; esac'], base)
    expect(exec.code).toBe(7)
    expect(exec.stderr).toContain('token revoked')
    expect(server.auditRecords().filter((r) => r.type === 'token.revoked')).toHaveLength(revoked + 1)
  })

  it('says in status that the keychain binding is not inside, and refuses a pkcs11: key for want of the binding', async () => {
    const status = await run(['status'], base)
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/keychain absent/)
    const pkcs11 = await run(['token', '--cache', 'none', '--key', 'pkcs11:token=bktx;object=k1', '--pkcs11-module', '/nonexistent.so'], base)
    expect(pkcs11.code).not.toBe(0)
    expect(pkcs11.stderr).toMatch(/PKCS#11 support is not installed/)
  })
})
