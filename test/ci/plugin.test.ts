// The Buildkite plugin (bktx-buildkite-plugin/): its bats suite (test/ci/plugin/plugin.bats,
// hooks run through the agent's wrapper with a stub buildkite-agent) against the real bktx CLI
// and the reference server started here, and shellcheck on the hooks. Debian's bats,
// bats-assert, bats-support and shellcheck (.ci/run installs them).
import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { calculateJwkThumbprint, exportJWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReferenceServer, type ReferenceServer } from '../../src/api/server.js'
import { CODE_CACHE } from '../helpers/code-cache.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SUBJECT = 'release-bot@acme.example'
let server: ReferenceServer
let audit: Server
let auditUrl: string
let dir: string

function run(file: string, args: string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The bats suite mints and revokes a few dozen tokens; far more time than it needs.
    execFile(file, args, { env, cwd: ROOT, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr })
    })
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-plugin-'))
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await writeFile(join(dir, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 })
  await writeFile(join(dir, 'key.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }) as string)
  const jwk = await exportJWK(publicKey)
  server = await startReferenceServer({
    config: {
      quick: {
        org: 'acme',
        members: [SUBJECT],
        clientId: 'plugin-client',
        jwks: { keys: [{ ...jwk, kid: await calculateJwkThumbprint(jwk), use: 'sig', alg: 'ES256' }] } as never,
      },
    },
  })
  // How many of the server's audit records have the type the path names (GET /token.revoked),
  // for the suite to count mints and revocations.
  audit = createServer((req, res) => {
    const type = decodeURIComponent((req.url ?? '/').slice(1))
    res.writeHead(200, { 'content-type': 'text/plain' }).end(String(server.auditRecords().filter((r) => r.type === type).length))
  })
  await new Promise<void>((resolve) => audit.listen(0, '127.0.0.1', resolve))
  auditUrl = `http://127.0.0.1:${(audit.address() as { port: number }).port}`
}, 60_000)

afterAll(async () => {
  await new Promise((resolve) => audit?.close(resolve))
  await server?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

describe('bktx-buildkite-plugin', () => {
  it('passes its bats suite (hooks through the agent wrapper, real bktx, reference server)', async () => {
    const r = await run('bats', ['--tap', 'test/ci/plugin/plugin.bats'], {
      PATH: process.env['PATH'],
      HOME: dir,
      TMPDIR: dir,
      ...CODE_CACHE,
      BKTX_TEST_NODE: process.execPath,
      BKTX_TEST_BIN: join(ROOT, 'bin/bktx.js'),
      BKTX_TEST_KEY: join(dir, 'key.pem'),
      BKTX_TEST_PUBLIC_KEY: join(dir, 'key.pub.pem'),
      BKTX_TEST_CLIENT_ID: 'plugin-client',
      BKTX_TEST_SUBJECT: SUBJECT,
      BKTX_TEST_TOKEN_URL: server.tokenUrl,
      BKTX_TEST_API_URL: server.url,
      BKTX_TEST_AUDIT_URL: auditUrl,
    })
    const plan = /^1\.\.(\d+)$/m.exec(r.stdout)
    const passed = r.stdout.split('\n').filter((line) => /^ok \d+/.test(line)).length
    expect({ code: r.code, failed: r.stdout.split('\n').filter((line) => /^not ok/.test(line)) }, `${r.stdout}\n${r.stderr}`).toEqual({ code: 0, failed: [] })
    expect(Number(plan?.[1])).toBeGreaterThanOrEqual(12)
    expect(passed).toBe(Number(plan?.[1]))
  }, 320_000)

  it('hooks pass shellcheck', async () => {
    const r = await run('shellcheck', ['-s', 'bash', 'bktx-buildkite-plugin/hooks/environment', 'bktx-buildkite-plugin/hooks/pre-exit'], {
      PATH: process.env['PATH'],
    })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.code).toBe(0)
  })

  it('plugin.yml declares the settings the hooks read', async () => {
    const yml = await readFile(join(ROOT, 'bktx-buildkite-plugin/plugin.yml'), 'utf8')
    const declared = [...yml.matchAll(/^ {4}([a-z-]+):$/gm)].map((m) => m[1] as string).sort()
    const hooks =
      (await readFile(join(ROOT, 'bktx-buildkite-plugin/hooks/environment'), 'utf8')) +
      (await readFile(join(ROOT, 'bktx-buildkite-plugin/hooks/pre-exit'), 'utf8'))
    const read = [
      ...new Set([...hooks.matchAll(/BUILDKITE_PLUGIN_BKTX_([A-Z_]+?)(?:_\$\{i\}|[:}"])/g)].map((m) => (m[1] as string).toLowerCase().replace(/_/g, '-'))),
    ].sort()
    expect(read).toEqual(
      declared
        .filter((name) => name !== 'scope')
        .concat('scope')
        .sort(),
    )
    expect(declared).toEqual(
      [
        'client-id',
        'subject',
        'org',
        'scope',
        'ttl',
        'token-url',
        'api-url',
        'key-secret',
        'key-env',
        'key-file',
        'key',
        'public-key',
        'token-env',
        'revoke',
      ].sort(),
    )
    expect(yml).toMatch(/^ {2}required:\n {4}- client-id\n {4}- subject$/m)
    expect(yml).toMatch(/^ {2}additionalProperties: false$/m)
  })
})
