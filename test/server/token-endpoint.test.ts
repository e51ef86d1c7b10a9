import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { FORM, http, postForm } from '../helpers/http.js'
import { assertion, baseConfig, CLIENT_ID, exchange, EXCHANGE, MEMBER, startServer, testKey, type RunningServer } from '../helpers/server.js'

let server: RunningServer
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.stop())

function audit(): MemoryAuditSink['records'] {
  return (server.server.state.audit as MemoryAuditSink).records
}

describe('POST /oauth/token: success', () => {
  it('mints a bktx_ token with no-store headers, the requested scopes and the capped TTL', async () => {
    const response = await exchange(server, { scope: 'read_pipelines read_builds', expires_in: '999999' })
    expect(response.status).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.headers['pragma']).toBe('no-cache')
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(response.json).toEqual({
      access_token: expect.stringMatching(/^bktx_[0-9A-Za-z]{43}$/),
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'read_builds read_pipelines',
    })
  })

  it('answers on /v2/oauth/token too, and accepts that URL as aud', async () => {
    const response = await exchange(server, {}, { path: '/v2/oauth/token', aud: `${server.url}/v2/oauth/token` })
    expect(response.status).toBe(200)
    expect(response.json.scope).toBe('read_builds')
  })

  it('grants the default scopes when scope is omitted or empty, and honours a shorter expires_in', async () => {
    expect((await exchange(server, { scope: '' })).json.scope).toBe('read_builds')
    expect((await exchange(server, { expires_in: '120' })).json.expires_in).toBe(120)
  })

  it('accepts an assertion without kid by trying every key, and by uuid subject', async () => {
    const response = await exchange(
      server,
      { subject_token_type: 'urn:buildkite:params:oauth:token-type:user-uuid', subject_token: '11111111-2222-4333-8444-555555555555' },
      { header: { kid: undefined } },
    )
    expect(response.status).toBe(200)
  })

  it('audits the mint with app, user, kid, jti, scopes, expiry, ip and the token hash, never the token', async () => {
    const response = await exchange(server, {}, { claims: { jti: 'audit-me' } })
    const token = response.json.access_token as string
    const record = audit().find((r) => r.jti === 'audit-me')
    expect(record).toMatchObject({
      type: 'token.minted',
      org: 'acme',
      client_id: CLIENT_ID,
      user: MEMBER,
      kid: server.key.kid,
      scopes: ['read_builds'],
      ip: '127.0.0.1',
      error: null,
      detail: null,
    })
    const { createHash } = await import('node:crypto')
    expect(record?.token_sha256).toBe(createHash('sha256').update(token).digest('hex'))
    expect(JSON.stringify(audit())).not.toContain(token)
  })
})

describe('POST /oauth/token: the documented errors (docs/token-exchange.md §5)', () => {
  const other = testKey('ES256')

  it.each([
    [
      'a signature by another key under the registered kid',
      async () => exchange(server, {}, { key: { ...(await other), kid: server.key.kid } }),
      401,
      'invalid_client',
      'Invalid client assertion signature',
    ],
    [
      'aud naming another endpoint',
      () => exchange(server, {}, { aud: 'https://buildkite.com/oauth/token' }),
      401,
      'invalid_client',
      'JWT `aud` claim is invalid',
    ],
    [
      'exp in the past',
      () => exchange(server, {}, { now: Math.floor(Date.now() / 1000) - 120 }),
      401,
      'invalid_client',
      'JWT `exp` claim must be in the future',
    ],
    [
      'a subject who is not a member',
      () => exchange(server, { subject_token: 'stranger@acme.test' }),
      400,
      'invalid_request',
      'Subject user must be an active member of the organization',
    ],
    [
      'an inactive member',
      () => exchange(server, { subject_token: 'gone@acme.test' }),
      400,
      'invalid_request',
      'Subject user must be an active member of the organization',
    ],
    [
      'a member with an unverified email',
      () => exchange(server, { subject_token: 'unverified@acme.test' }),
      400,
      'invalid_request',
      'Subject user must be an active member of the organization',
    ],
    [
      'scopes beyond the grantable ones',
      () => exchange(server, { scope: 'read_builds write_builds' }),
      400,
      'invalid_scope',
      'Requested scopes exceed grantable scopes',
    ],
    ['an audience that is not the org slug', () => exchange(server, { audience: 'Acme Inc' }), 400, 'invalid_target', 'Invalid audience organization'],
    ['an audience naming another org', () => exchange(server, { audience: 'other-org' }), 400, 'invalid_target', 'Invalid audience organization'],
    [
      'an org with token exchange disabled',
      () => exchange(server, { audience: 'disabled' }, { clientId: 'disabled-app' }),
      400,
      'unsupported_grant_type',
      'Token exchange is not enabled for this organization',
    ],
  ])('%s → %d %s', async (_name, send, status, error, description) => {
    const before = audit().length
    const response = await send()
    expect(response.status).toBe(status)
    expect(response.json).toEqual({ error, error_description: description })
    expect(response.headers['cache-control']).toBe('no-store')
    const record = audit()[before]
    expect(record).toMatchObject({ type: 'token.exchange_failed', error, token_sha256: null })
    expect(record?.detail).toEqual(expect.any(String))
  })

  it('rejects a replayed jti, and of two concurrent requests with one jti mints exactly one', async () => {
    const jwt = await assertion(server)
    const first = await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: jwt })
    expect(first.status).toBe(200)
    const again = await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: jwt })
    expect(again.json).toEqual({ error: 'invalid_client', error_description: 'JWT has already been used (jti)' })

    const shared = await assertion(server)
    const results = await Promise.all(Array.from({ length: 8 }, () => postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: shared })))
    expect(results.filter((r) => r.status === 200)).toHaveLength(1)
    expect(results.filter((r) => r.json.error_description === 'JWT has already been used (jti)')).toHaveLength(7)
  })

  it('records a jti only after every other check passed', async () => {
    const jwt = await assertion(server)
    const refused = await postForm(server.tokenUrl, { ...EXCHANGE, scope: 'write_builds', client_assertion: jwt })
    expect(refused.json.error).toBe('invalid_scope')
    const retried = await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: jwt })
    expect(retried.status).toBe(200)
  })

  it('requires a jti when the organisation does', async () => {
    const strict = await startServer({ doc: baseConfig(server.key, (doc) => (doc.organizations[0].require_jti = true)), key: server.key })
    try {
      const missing = await exchange(strict, {}, { omit: ['jti'] })
      expect(missing.json).toEqual({ error: 'invalid_client', error_description: 'JWT must contain a `jti` claim' })
      expect((await exchange(strict)).status).toBe(200)
    } finally {
      await strict.stop()
    }
  })
})

describe('POST /oauth/token: request rules', () => {
  it('answers other methods with 405 and Allow: POST', async () => {
    const response = await http(server.tokenUrl)
    expect(response.status).toBe(405)
    expect(response.headers['allow']).toBe('POST')
    expect(response.json.error).toBe('invalid_request')
  })

  it('rejects an Authorization header, JSON bodies, repeated parameters, missing fields', async () => {
    expect((await exchange(server, {}, { headers: { Authorization: 'Basic eDp5' } })).json.error).toBe('invalid_request')
    const json = await http(server.tokenUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(EXCHANGE) })
    expect(json.json.error_description).toBe('Content-Type must be application/x-www-form-urlencoded')
    const body = `${new URLSearchParams({ ...EXCHANGE, client_assertion: await assertion(server) })}&audience=acme`
    const twice = await http(server.tokenUrl, { method: 'POST', headers: FORM, body })
    expect(twice.json).toEqual({ error: 'invalid_request', error_description: 'Parameter `audience` must not be included more than once' })
    expect((await exchange(server, { subject_token: undefined })).json.error_description).toBe('Missing required parameter `subject_token`')
    expect((await exchange(server, { grant_type: 'client_credentials' })).json.error).toBe('unsupported_grant_type')
  })

  // A body that arrives in one piece is decoded as it is; one in several is joined before
  // decoding, so a UTF-8 character cut between two pieces is still read as that character.
  it('reads a form sent in two pieces whole, a UTF-8 character cut between them included', async () => {
    const body = Buffer.from(`${new URLSearchParams({ ...EXCHANGE, client_assertion: await assertion(server) })}&scope=read_builds\u00e9`, 'utf8')
    const cut = body.length - 1
    const response = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(server.tokenUrl, { method: 'POST', headers: { ...FORM, 'Content-Length': String(body.length) } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      })
      req.on('error', reject)
      req.write(body.subarray(0, cut))
      // Apart, so that the server reads two chunks.
      setTimeout(() => req.end(body.subarray(cut)), 100)
    })
    expect(response.status).toBe(400)
    expect(audit().at(-1)?.detail).toBe('scope "read_builds\u00e9"')
  })

  it.each(['0', '-5', '1.5', 'abc', '1e3', ' 60'])('rejects expires_in %j as invalid_request', async (value) => {
    const response = await exchange(server, { expires_in: value })
    expect(response.status).toBe(400)
    expect(response.json.error).toBe('invalid_request')
  })

  it('refuses bodies over 64 KiB with 413 before reading them', async () => {
    const response = await http(server.tokenUrl, { method: 'POST', headers: FORM, body: `client_assertion=${'a'.repeat(70 * 1024)}` })
    expect(response.status).toBe(413)
    expect(response.json.error).toBe('invalid_request')
    expect((await exchange(server)).status).toBe(200)
  })

  it('answers unknown paths with a JSON 404', async () => {
    const response = await http(`${server.url}/nope?client_assertion=secret`)
    expect(response.status).toBe(404)
    expect(response.json).toEqual({ message: 'Not Found' })
  })
})
