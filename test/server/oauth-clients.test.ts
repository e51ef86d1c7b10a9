/**
 * What OAuth clients read in the reference server's answers (issue 11): every 401 carries a
 * challenge, every error answer is uncacheable, the 429 is an OAuth error as well as Buildkite's
 * REST shape, the RFC 7521/8693 parameters the endpoint cannot honour are refused rather than
 * ignored, explicit typing of rfc7523bis is accepted, and `bktx server --verbose` says on stderr
 * why each refused request was refused, never with a token or an assertion in it.
 */
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { http, postForm, type HttpResponse } from '../helpers/http.js'
import { rawRequest } from '../helpers/raw-http.js'
import { assertion, baseConfig, CLIENT_ID, exchange, EXCHANGE, startServer, testKey, type RunningServer } from '../helpers/server.js'
import { cliServer } from '../helpers/cli-server.js'
import { runCli, tempHome } from '../helpers/cli.js'

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
})

async function start(...args: Parameters<typeof startServer>): Promise<RunningServer> {
  const server = await startServer(...args)
  running.push(server)
  return server
}

const tokens = (server: RunningServer): number => server.server.state.store.size.tokens

describe('WWW-Authenticate on a 401', () => {
  it('at the token endpoint, none for any kind of invalid_client: the client authenticated in the body (RFC 6749 §5.2, issue 22)', async () => {
    const server = await start()
    const other = await testKey()
    const used = await assertion(server)
    expect((await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: used })).status).toBe(200)
    const answers: Array<[string, HttpResponse]> = [
      ['bad signature', await exchange(server, {}, { key: { ...other, kid: server.key.kid } })],
      ['unknown client', await exchange(server, {}, { clientId: 'nobody' })],
      ['wrong aud', await exchange(server, {}, { aud: 'https://buildkite.com/oauth/token' })],
      ['expired', await exchange(server, {}, { now: Math.floor(Date.now() / 1000) - 600 })],
      ['replay', await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: used })],
      ['malformed', await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: 'x.y.z' })],
      ['client_id of another client', await exchange(server, { client_id: 'someone-else' })],
    ]
    for (const [name, answer] of answers) {
      expect(answer.status, name).toBe(401)
      expect(answer.json.error, name).toBe('invalid_client')
      expect(answer.headers['www-authenticate'], name).toBeUndefined()
    }
  })

  it('on the REST sample, a Bearer challenge; invalid_token for a token that is not valid (RFC 6750 §3.1)', async () => {
    const server = await start()
    const variants: Array<[Record<string, string>, string]> = [
      [{}, 'Bearer realm="buildkite"'],
      [{ Authorization: 'Basic eDp5' }, 'Bearer realm="buildkite"'],
      [
        { Authorization: 'Bearer bktx_unknown' },
        'Bearer realm="buildkite", error="invalid_token", error_description="The access token is unknown, expired, revoked or no longer allowed"',
      ],
    ]
    for (const [headers, challenge] of variants) {
      const answer = await http(`${server.url}/v2/access-token`, { headers })
      expect(answer.status).toBe(401)
      expect(answer.headers['www-authenticate']).toBe(challenge)
    }
  })
})

describe('client_id beside the assertion (RFC 7521 §4.2)', () => {
  it('naming the assertion client is accepted; naming another is invalid_client and mints nothing', async () => {
    const server = await start()
    expect((await exchange(server, { client_id: CLIENT_ID })).status).toBe(200)
    const before = tokens(server)
    const other = await exchange(server, { client_id: 'disabled-app' })
    expect(other.status).toBe(401)
    expect(other.json).toEqual({ error: 'invalid_client', error_description: 'The `client_id` parameter does not name the client of the assertion' })
    expect(tokens(server)).toBe(before)
    const records = (server.server.state.audit as MemoryAuditSink).records
    expect(records.at(-1)?.detail).toBe('client_id "disabled-app" differs from the assertion\'s "0123456789abcdef0123"')
  })
})

describe('RFC 8693 parameters the endpoint cannot honour are refused, not ignored', () => {
  const cases: Array<[string, Record<string, string>, { status: number; error: string; error_description: string }]> = [
    [
      'actor_token',
      { actor_token: 'x', actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' },
      { status: 400, error: 'invalid_request', error_description: 'Delegation is not supported: do not send `actor_token` or `actor_token_type`' },
    ],
    [
      'actor_token without actor_token_type',
      { actor_token: 'x' },
      { status: 400, error: 'invalid_request', error_description: 'Delegation is not supported: do not send `actor_token` or `actor_token_type`' },
    ],
    [
      'actor_token_type alone',
      { actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' },
      { status: 400, error: 'invalid_request', error_description: 'Delegation is not supported: do not send `actor_token` or `actor_token_type`' },
    ],
    [
      'requested_token_type of another type',
      { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
      {
        status: 400,
        error: 'invalid_request',
        error_description: 'Only access tokens are issued: `requested_token_type` must be urn:ietf:params:oauth:token-type:access_token or absent',
      },
    ],
    [
      'resource',
      { resource: 'https://api.buildkite.com/' },
      { status: 400, error: 'invalid_target', error_description: 'The `resource` parameter is not supported; name the organization in `audience`' },
    ],
  ]

  it.each(cases)('%s', async (_name, fields, expected) => {
    const server = await start()
    const before = tokens(server)
    const jwt = await assertion(server)
    const answer = await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: jwt, ...fields })
    expect(answer.status).toBe(expected.status)
    expect(answer.json).toEqual({ error: expected.error, error_description: expected.error_description })
    expect(tokens(server)).toBe(before)
    // The refusal did not burn the jti: the same assertion mints without the parameter.
    expect((await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: jwt })).status).toBe(200)
  })

  it('requested_token_type naming an access token is what it mints: accepted', async () => {
    const server = await start()
    const answer = await exchange(server, { requested_token_type: 'urn:ietf:params:oauth:token-type:access_token' })
    expect(answer.status).toBe(200)
    expect(answer.json.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token')
  })
})

describe('explicit typing (draft-ietf-oauth-rfc7523bis)', () => {
  it.each(['client-authentication+jwt', 'application/client-authentication+jwt', 'JWT', 'application/jwt'])('typ %s is accepted', async (typ) => {
    const server = await start()
    expect((await exchange(server, {}, { header: { typ } })).status).toBe(200)
  })
})

describe('every answer, errors included, is uncacheable (Cache-Control: no-store, Pragma: no-cache)', () => {
  it("token endpoint, REST sample, unknown paths, 413, 417, 429, 503 and the listener's own answers", async () => {
    const server = await start({ limits: { maxTokens: 1, maxJtis: 100 } })
    const key = server.key
    const token = (await exchange(server)).json.access_token as string
    const disabled = (options: object = {}) => exchange(server, { audience: 'disabled' }, { clientId: 'disabled-app', key, ...options })
    const answers: Array<[string, HttpResponse]> = [
      ['503 store full', await exchange(server)],
      ['400 form', await postForm(server.tokenUrl, { grant_type: 'x' })],
      ['401', await exchange(server, {}, { clientId: 'nobody' })],
      ['405', await http(server.tokenUrl)],
      ['413', await http(server.tokenUrl, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a'.repeat(70_000) })],
      ['417', await http(server.tokenUrl, { method: 'POST', headers: { Expect: '200-ok', 'Content-Length': '0' } })],
      ['400 unsupported_grant_type (org disabled)', await disabled()],
      ['404', await http(`${server.url}/nowhere`)],
      ['REST 200', await http(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })],
      ['REST 401', await http(`${server.url}/v2/access-token`)],
      ['REST 403', await http(`${server.url}/v2/organizations/acme/pipelines`, { headers: { Authorization: `Bearer ${token}` } })],
      ['REST 404', await http(`${server.url}/v2/organizations/other-org/builds`, { headers: { Authorization: `Bearer ${token}` } })],
      ['REST 405', await http(`${server.url}/v2/access-token`, { method: 'PUT', headers: { Authorization: `Bearer ${token}` } })],
    ]
    const statuses = answers.map(([name, a]) => `${name}: ${a.status}`)
    expect(statuses).toEqual([
      '503 store full: 503',
      '400 form: 400',
      '401: 401',
      '405: 405',
      '413: 413',
      '417: 417',
      '400 unsupported_grant_type (org disabled): 400',
      '404: 404',
      'REST 200: 200',
      'REST 401: 401',
      'REST 403: 403',
      'REST 404: 404',
      'REST 405: 405',
    ])
    for (const [name, answer] of answers) {
      expect(answer.headers['cache-control'], name).toBe('no-store')
      expect(answer.headers['pragma'], name).toBe('no-cache')
    }
    for (const raw of ['GET / HTTP/1.1\r\n\r\n', `GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, 'NOT HTTP\r\n\r\n']) {
      const result = await rawRequest(server.url, [raw], { untilAnswered: true })
      expect(result.text).toMatch(/\r\ncache-control: no-store\r\n/i)
      expect(result.text).toMatch(/\r\npragma: no-cache\r\n/i)
    }
  })

  it('the 429 keeps the REST fields and adds an OAuth error, with Retry-After', async () => {
    const key = await testKey()
    const server = await start({ key, doc: baseConfig(key, (d) => (d.organizations[0].rate_limit = 1)) })
    expect((await exchange(server)).status).toBe(200)
    const limited = await exchange(server)
    expect(limited.status).toBe(429)
    expect(limited.json).toMatchObject({
      scope: 'token_exchange',
      limit: 1,
      current: 2,
      error: 'temporarily_unavailable',
      error_description: expect.any(String),
    })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.headers['cache-control']).toBe('no-store')
  })
})

describe('bktx server --verbose', () => {
  it('logs why each refused request was refused, on stderr, never a token or an assertion; without it, only the request line', async () => {
    const home = await tempHome()
    try {
      const key = await testKey()
      const config = join(home.dir, 'server.json')
      await writeFile(config, JSON.stringify(baseConfig(key, (d) => (d.audiences = ['https://bktx.test/oauth/token']))))
      const target = { tokenUrl: 'https://bktx.test/oauth/token', key }
      const run = async (verbose: boolean): Promise<{ log: string; secrets: string[] }> => {
        const server = await cliServer(['--config', config, ...(verbose ? ['--verbose'] : [])], home.env)
        const tokenUrl = `${server.url}/oauth/token`
        const secrets: string[] = []
        const send = async (fields: Record<string, string>, options: Parameters<typeof assertion>[1] = {}) => {
          const jwt = await assertion(target, options)
          secrets.push(jwt)
          return postForm(tokenUrl, { ...EXCHANGE, client_assertion: jwt, ...fields })
        }
        const minted = await send({})
        secrets.push(minted.json.access_token as string)
        await send({}, { clientId: 'nobody' })
        await send({ scope: 'write_builds' })
        await send({ subject_token: 'stranger@acme.test' })
        await send({ resource: 'https://api.buildkite.com/' })
        await http(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer bktx_${randomUUID().replace(/-/g, '')}` } })
        await http(tokenUrl, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a'.repeat(70_000) })
        await server.stop()
        return { log: server.stderr(), secrets }
      }

      const verbose = await run(true)
      const lines = verbose.log.split('\n')
      const line = (re: RegExp): string | undefined => lines.find((l) => re.test(l))
      expect(line(/^POST \/oauth\/token 200 \d+ms 127\.0\.0\.1$/)).toBeDefined()
      expect(line(/^POST \/oauth\/token 401 \d+ms 127\.0\.0\.1 invalid_client: unknown client id "nobody"$/)).toBeDefined()
      expect(line(/^POST \/oauth\/token 400 \d+ms 127\.0\.0\.1 invalid_scope: not grantable: write_builds$/)).toBeDefined()
      expect(
        line(/^POST \/oauth\/token 400 \d+ms 127\.0\.0\.1 invalid_request: subject "stranger@acme\.test" is not an active, verified member of acme$/),
      ).toBeDefined()
      expect(line(/^POST \/oauth\/token 400 \d+ms 127\.0\.0\.1 invalid_target: resource "https:\/\/api\.buildkite\.com\/"$/)).toBeDefined()
      expect(line(/^GET \/v2\/access-token 401 \d+ms 127\.0\.0\.1 unknown, expired or revoked token$/)).toBeDefined()
      expect(line(/^POST \/oauth\/token 413 \d+ms 127\.0\.0\.1 request body over 64 KiB$/)).toBeDefined()
      for (const secret of verbose.secrets) {
        expect(verbose.log).not.toContain(secret)
        for (const part of secret.split('.')) expect(verbose.log).not.toContain(part)
      }

      const quiet = await run(false)
      expect(quiet.log).toMatch(/^POST \/oauth\/token 401 \d+ms 127\.0\.0\.1$/m)
      expect(quiet.log).not.toMatch(/unknown client id|not grantable/)
    } finally {
      await home.cleanup()
    }
  }, 30_000)

  it('is documented in the command help', async () => {
    const help = await runCli(['server', '--help'])
    expect(help.stdout).toContain("With --verbose, each refused request's log line says which check refused it.")
    expect(help.stdout).toContain('--repair-state')
  })
})
