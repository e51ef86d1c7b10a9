import { describe, expect, it } from 'vitest'
import { InsecureURLError, SettingInvalidError } from '../../../src/errors.js'
import { buildTokenExchangeRequest, toRequestInit } from '../../../src/exchange/request.js'
import { fixedClock } from '../../helpers/cli.js'
import { makeParams, TOKEN_URL, verifyJWS } from '../../helpers/exchange.js'

const clock = fixedClock('2026-11-28T12:00:00Z')
const NOW = Date.parse('2026-11-28T12:00:00Z') / 1000

describe('buildTokenExchangeRequest (docs/token-exchange.md §3)', () => {
  it('builds the form field by field', async () => {
    const params = makeParams()
    const request = await buildTokenExchangeRequest(params, { clock, jti: 'jti-1' })
    expect(request.method).toBe('POST')
    expect(request.url.href).toBe(TOKEN_URL)
    const form = request.body
    expect([...form.keys()]).toEqual([
      'grant_type',
      'client_assertion_type',
      'client_assertion',
      'subject_token',
      'subject_token_type',
      'audience',
      'scope',
      'expires_in',
    ])
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:token-exchange')
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    expect(form.get('subject_token')).toBe('dev+ci@acme.test')
    expect(form.get('subject_token_type')).toBe('urn:buildkite:params:oauth:token-type:user-email')
    expect(form.get('audience')).toBe('acme')
    expect(form.get('scope')).toBe('read_builds read_pipelines')
    expect(form.get('expires_in')).toBe('900')
    // Each name exactly once (RFC 6749 §3.2: a repeated parameter is invalid_request).
    for (const name of form.keys()) expect(form.getAll(name)).toHaveLength(1)
  })

  it('signs an assertion that verifies with node:crypto and carries the docs/token-exchange.md §2 claims', async () => {
    for (const kind of ['ES256', 'RS256'] as const) {
      const params = makeParams({}, kind)
      const request = await buildTokenExchangeRequest(params, { clock, jti: `jti-${kind}` })
      const { header, payload } = verifyJWS(request.body.get('client_assertion') as string, params.key.publicKey)
      expect(header).toEqual({ alg: kind, typ: 'JWT', kid: 'test-kid' })
      expect(payload).toEqual({
        iss: params.clientId,
        sub: params.clientId,
        aud: TOKEN_URL,
        iat: NOW,
        exp: NOW + 60,
        jti: `jti-${kind}`,
      })
    }
  })

  it('uses the given jti and the clock for every build (a new assertion per attempt)', async () => {
    const params = makeParams()
    const c = fixedClock('2026-11-28T12:00:00Z')
    const first = await buildTokenExchangeRequest(params, { clock: c, jti: 'a' })
    c.advance(7)
    const second = await buildTokenExchangeRequest(params, { clock: c, jti: 'b' })
    const one = verifyJWS(first.body.get('client_assertion') as string, params.key.publicKey).payload
    const two = verifyJWS(second.body.get('client_assertion') as string, params.key.publicKey).payload
    expect([one['jti'], two['jti']]).toEqual(['a', 'b'])
    expect(Number(two['iat']) - Number(one['iat'])).toBe(7)
    expect(first.body.get('client_assertion')).not.toBe(second.body.get('client_assertion'))
  })

  it('honours the assertion lifetime and refuses more than 300 s', async () => {
    const params = makeParams()
    const request = await buildTokenExchangeRequest(params, { clock, jti: 'x', assertionLifetime: 300 })
    expect(verifyJWS(request.body.get('client_assertion') as string, params.key.publicKey).payload['exp']).toBe(NOW + 300)
    await expect(buildTokenExchangeRequest(params, { clock, jti: 'x', assertionLifetime: 301 })).rejects.toBeInstanceOf(SettingInvalidError)
  })

  it('omits scope when no scopes are requested and expires_in when no TTL is set', async () => {
    const request = await buildTokenExchangeRequest(makeParams({ scopes: [], ttl: undefined }), { clock, jti: 'x' })
    expect(request.body.has('scope')).toBe(false)
    expect(request.body.has('expires_in')).toBe(false)
  })

  it('names a user by UUID with the uuid subject token type', async () => {
    const request = await buildTokenExchangeRequest(makeParams({ subject: '0190f1e2-aaaa-bbbb-cccc-000000000001', subjectType: 'uuid' }), { clock, jti: 'x' })
    expect(request.body.get('subject_token_type')).toBe('urn:buildkite:params:oauth:token-type:user-uuid')
  })

  it('sends a form body with no Authorization header', async () => {
    const init = toRequestInit(await buildTokenExchangeRequest(makeParams(), { clock, jti: 'x' }))
    const headers = new Headers(init.headers)
    expect(headers.get('content-type')).toBe('application/x-www-form-urlencoded')
    expect(headers.has('authorization')).toBe(false)
    expect(init.method).toBe('POST')
    // '+' in the email and the space between scopes survive form encoding.
    const decoded = new URLSearchParams(init.body as string)
    expect(decoded.get('subject_token')).toBe('dev+ci@acme.test')
    expect(decoded.get('scope')).toBe('read_builds read_pipelines')
    expect(init.body as string).toContain('subject_token=dev%2Bci%40acme.test')
  })

  it('refuses plain http except to loopback', async () => {
    await expect(buildTokenExchangeRequest(makeParams({ tokenUrl: 'http://buildkite.test/oauth/token' }), { clock, jti: 'x' })).rejects.toBeInstanceOf(
      InsecureURLError,
    )
    for (const url of ['http://127.0.0.1:8787/oauth/token', 'http://localhost/oauth/token', 'http://[::1]:1/oauth/token', 'http://127.9.8.7/x']) {
      const request = await buildTokenExchangeRequest(makeParams({ tokenUrl: url }), { clock, jti: 'x' })
      expect(request.url.protocol).toBe('http:')
    }
  })

  it('refuses parameters the server would reject as malformed', async () => {
    const cases: Partial<Parameters<typeof makeParams>[0]>[] = [
      { org: '' },
      { subject: ' ' },
      { clientId: '' },
      { scopes: ['read builds'] },
      { scopes: ['"quoted"'] },
      { ttl: 0 },
      { ttl: 1.5 },
      { subjectType: 'toString' as 'email' },
    ]
    for (const overrides of cases) {
      await expect(buildTokenExchangeRequest(makeParams(overrides), { clock, jti: 'x' }), JSON.stringify(overrides)).rejects.toBeInstanceOf(SettingInvalidError)
    }
  })
})
