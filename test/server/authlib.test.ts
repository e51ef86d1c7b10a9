/**
 * A third-party OAuth client in another language against the reference server (issue 11):
 * Python Authlib's OAuth2Session with private_key_jwt client authentication, run by Debian's
 * /usr/bin/python3 (python3-authlib, python3-requests; .ci/run installs them). Without them the
 * tests are skipped with a message; when CI is set they run and fail.
 */
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isCI } from '../../src/cache/select.js'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { http } from '../helpers/http.js'
import { baseConfig, CLIENT_ID, MEMBER, startServer, testKey, type RunningServer, type TestKey } from '../helpers/server.js'

const PYTHON = '/usr/bin/python3'
const SCRIPT = fileURLToPath(new URL('./fixtures/authlib_exchange.py', import.meta.url))
const present = spawnSync(PYTHON, ['-c', 'import authlib, requests'], { stdio: 'ignore' }).status === 0
const run = present || isCI(process.env)

interface Result {
  token?: { access_token: string; token_type: string; expires_in: number; scope: string; issued_token_type: string }
  oauth_error?: string
  description?: string
}

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
})

beforeAll(() => {
  if (!present) console.warn(`test/server/authlib.test.ts: ${PYTHON} cannot import authlib and requests (Debian python3-authlib, python3-requests): skipped`)
})

function authlib(server: RunningServer, key: TestKey, options: { count?: number; clientId?: string; scope?: string } = {}): Promise<Result[]> {
  const settings = {
    token_url: server.tokenUrl,
    client_id: options.clientId ?? CLIENT_ID,
    private_key_pem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    alg: key.alg,
    subject: MEMBER,
    org: 'acme',
    scope: options.scope ?? 'read_builds read_user',
    count: options.count ?? 1,
  }
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT], { env: { PATH: process.env['PATH'], NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`authlib_exchange.py exited ${code}:\n${stderr}`))
      resolve(JSON.parse(stdout) as Result[])
    })
    child.stdin.end(JSON.stringify(settings))
  })
}

async function start(key: TestKey, patch: (doc: any) => void = () => undefined): Promise<RunningServer> {
  const server = await startServer({ key, doc: baseConfig(key, patch) })
  running.push(server)
  return server
}

describe.skipIf(!run)('Authlib OAuth2Session with private_key_jwt', () => {
  it.each(['ES256', 'RS256'] as const)(
    'exchanges for a token the REST sample accepts (%s), a fresh assertion each time',
    async (alg) => {
      const key = await testKey(alg)
      const server = await start(key)
      const results = await authlib(server, key, { count: 2 })
      expect(results).toHaveLength(2)
      for (const result of results) {
        expect(result.oauth_error).toBeUndefined()
        expect(result.token).toMatchObject({
          access_token: expect.stringMatching(/^bktx_[0-9A-Za-z]{43}$/),
          token_type: 'Bearer',
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          expires_in: 3600,
          scope: 'read_builds read_user',
        })
        const me = await http(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${result.token?.access_token}` } })
        expect(me.json.scopes).toEqual(['read_builds', 'read_user'])
      }
      // What Authlib sent, as the audit log saw it: no kid (every key is tried), two distinct jtis.
      const minted = (server.server.state.audit as MemoryAuditSink).records.filter((r) => r.type === 'token.minted')
      expect(minted).toHaveLength(2)
      expect(minted.map((r) => r.kid)).toEqual([null, null])
      expect(new Set(minted.map((r) => r.jti)).size).toBe(2)
    },
    30_000,
  )

  it('reads a 429 as an OAuth error, not as a token', async () => {
    const key = await testKey()
    const server = await start(key, (d) => (d.organizations[0].rate_limit = 1))
    const [first, second] = await authlib(server, key, { count: 2 })
    expect(first?.token?.access_token).toMatch(/^bktx_/)
    expect(second).toEqual({
      oauth_error: 'temporarily_unavailable',
      description: 'Too many token exchange requests for this organization; retry after the time in Retry-After',
    })
  }, 30_000)

  it('reads invalid_client and invalid_scope as OAuth errors', async () => {
    const key = await testKey()
    const server = await start(key)
    expect(await authlib(server, key, { clientId: 'not-registered' })).toEqual([
      { oauth_error: 'invalid_client', description: 'Invalid client assertion signature' },
    ])
    expect(await authlib(server, key, { scope: 'write_builds' })).toEqual([
      { oauth_error: 'invalid_scope', description: 'Requested scopes exceed grantable scopes' },
    ])
  }, 30_000)
})
