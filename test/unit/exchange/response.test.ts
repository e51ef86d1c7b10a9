import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { BadResponseError, OAuthRejectedError, ServerUnavailableError } from '../../../src/errors.js'
import { parseTokenResponse, type ParseTokenResponseOptions } from '../../../src/exchange/response.js'
import { fixedClock } from '../../helpers/cli.js'
import { jsonResponse, makeParams, TOKEN, tokenBody } from '../../helpers/exchange.js'
import { cliText } from '../../helpers/describe.js'

const clock = fixedClock('2026-11-28T12:00:00Z')
const options = (overrides: Partial<ParseTokenResponseOptions> = {}): ParseTokenResponseOptions => ({ clock, requested: makeParams(), ...overrides })

async function rejection(response: Response, opts = options()): Promise<Error> {
  try {
    await parseTokenResponse(response, opts)
  } catch (error) {
    return error as Error
  }
  throw new Error('parseTokenResponse resolved')
}

describe('parseTokenResponse: success (docs/token-exchange.md §4)', () => {
  it('returns the token with the expiry computed from the clock at receipt', async () => {
    const result = await parseTokenResponse(jsonResponse(tokenBody()), options())
    expect(result).toEqual({
      accessToken: TOKEN,
      tokenType: 'Bearer',
      issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      expiresIn: 900,
      scopes: ['read_builds', 'read_pipelines'],
      receivedAt: new Date('2026-11-28T12:00:00Z'),
      expiresAt: new Date('2026-11-28T12:15:00Z'),
    })
  })

  it('ignores any server timestamp: expiry comes from expires_in and the local clock only', async () => {
    const response = jsonResponse(tokenBody({ expires_at: '2030-01-01T00:00:00Z' }), { headers: { date: 'Sat, 28 Nov 2026 11:00:00 GMT' } })
    const result = await parseTokenResponse(response, options())
    expect(result.expiresAt.toISOString()).toBe('2026-11-28T12:15:00.000Z')
  })

  it('caps the lifetime at 86400 s whatever expires_in says (issue 13), up to the largest JSON safe integer', async () => {
    for (const expiresIn of [86_400, 86_401, 7_889_238_000_000, Number.MAX_SAFE_INTEGER]) {
      const result = await parseTokenResponse(jsonResponse(tokenBody({ expires_in: expiresIn })), options())
      expect([result.expiresIn, result.expiresAt.toISOString()], String(expiresIn)).toEqual([86_400, '2026-11-29T12:00:00.000Z'])
    }
  })

  it('accepts token_type in any case (RFC 6749 §5.1) and normalises it', async () => {
    for (const tokenType of ['bearer', 'BEARER', 'Bearer']) {
      expect((await parseTokenResponse(jsonResponse(tokenBody({ token_type: tokenType })), options())).tokenType).toBe('Bearer')
    }
  })

  it('accepts a JSON content type with parameters or a +json suffix', async () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/vnd.bk+json']) {
      const response = jsonResponse(tokenBody(), { headers: { 'content-type': type } })
      expect((await parseTokenResponse(response, options())).accessToken).toBe(TOKEN)
    }
  })

  it('returns scopes as a sorted set (docs/token-exchange.md §4: compare as sets)', async () => {
    const result = await parseTokenResponse(jsonResponse(tokenBody({ scope: 'write_builds read_builds  read_builds' })), options())
    expect(result.scopes).toEqual(['read_builds', 'write_builds'])
  })

  it('reads an absent scope as the requested scopes (RFC 6749 §5.1)', async () => {
    const body = tokenBody()
    delete body['scope']
    expect((await parseTokenResponse(jsonResponse(body), options())).scopes).toEqual(['read_builds', 'read_pipelines'])
  })

  it('refuses an absent scope when none was requested: the grant is unknown', async () => {
    const body = tokenBody()
    delete body['scope']
    const error = await rejection(jsonResponse(body), options({ requested: makeParams({ scopes: [] }) }))
    expect(error).toBeInstanceOf(BadResponseError)
    expect(cliText(error)).toMatch(/no scope although none was requested/)
  })

  it('tolerates an absent issued_token_type, and ignores unknown members', async () => {
    const body = tokenBody({ refresh_token: 'ignored', extra: { nested: true } })
    delete body['issued_token_type']
    const result = await parseTokenResponse(jsonResponse(body), options())
    expect(result.issuedTokenType).toBeUndefined()
  })

  it('accepts a token without the bktx_ prefix only when told not to expect one', async () => {
    const response = () => jsonResponse(tokenBody({ access_token: 'opaque-token_123' }))
    expect(await rejection(response())).toBeInstanceOf(BadResponseError)
    expect((await parseTokenResponse(response(), options({ expectBktxPrefix: false }))).accessToken).toBe('opaque-token_123')
  })
})

describe('parseTokenResponse: responses outside the protocol → BadResponseError', () => {
  const cases: [string, () => Response, RegExp][] = [
    ['HTML 200', () => new Response('<html>Sign in</html>', { status: 200, headers: { 'content-type': 'text/html' } }), /HTTP 200 with text\/html, not JSON/],
    ['no content type', () => new Response(new TextEncoder().encode(JSON.stringify(tokenBody())), { status: 200 }), /no content type/],
    ['JSON labelled text/plain', () => new Response(JSON.stringify(tokenBody()), { status: 200 }), /text\/plain, not JSON/],
    ['truncated JSON', () => jsonResponse(JSON.stringify(tokenBody()).slice(0, 40)), /invalid JSON \(truncated or malformed\)/],
    ['empty body', () => jsonResponse(''), /invalid JSON \(empty body\)/],
    ['a JSON array', () => jsonResponse([tokenBody()]), /not an object/],
    ['a JSON string', () => jsonResponse('"bktx_x"'), /not an object/],
    ['access_token missing', () => jsonResponse(tokenBody({ access_token: undefined })), /no access_token/],
    ['access_token empty', () => jsonResponse(tokenBody({ access_token: '' })), /no access_token/],
    ['access_token a number', () => jsonResponse(tokenBody({ access_token: 12345 })), /no access_token/],
    ['access_token with a newline', () => jsonResponse(tokenBody({ access_token: `${TOKEN}\nexport X=1` })), /RFC 6750/],
    ['access_token with a space', () => jsonResponse(tokenBody({ access_token: 'bktx_ab cd' })), /RFC 6750/],
    ['access_token without the prefix', () => jsonResponse(tokenBody({ access_token: 'bkua_abcdef' })), /bktx_ prefix/],
    ['access_token just the prefix', () => jsonResponse(tokenBody({ access_token: 'bktx_' })), /bktx_ prefix/],
    ['token_type missing', () => jsonResponse(tokenBody({ token_type: undefined })), /no token_type/],
    ['token_type mac', () => jsonResponse(tokenBody({ token_type: 'mac' })), /token_type "mac"/],
    ['token_type DPoP', () => jsonResponse(tokenBody({ token_type: 'DPoP' })), /Bearer/],
    ['issued_token_type other', () => jsonResponse(tokenBody({ issued_token_type: 'urn:ietf:params:oauth:token-type:jwt' })), /issued_token_type/],
    ['expires_in missing', () => jsonResponse(tokenBody({ expires_in: undefined })), /no expires_in/],
    ['expires_in a string that is not decimal digits', () => jsonResponse(tokenBody({ expires_in: '9e2' })), /positive whole number/],
    ['expires_in zero', () => jsonResponse(tokenBody({ expires_in: 0 })), /positive whole number/],
    ['expires_in negative', () => jsonResponse(tokenBody({ expires_in: -5 })), /positive whole number/],
    ['expires_in fractional', () => jsonResponse(tokenBody({ expires_in: 1.5 })), /positive whole number/],
    ['expires_in huge', () => jsonResponse(tokenBody({ expires_in: 1e300 })), /positive whole number/],
    ['scope a list', () => jsonResponse(tokenBody({ scope: ['read_builds'] })), /scope that is not a string/],
    ['scope with a quote', () => jsonResponse(tokenBody({ scope: 'read_"builds' })), /RFC 6749 §3.3/],
    ['HTTP 201', () => jsonResponse(tokenBody(), { status: 201 }), /HTTP 201 without an OAuth error/],
    ['HTTP 404 JSON', () => jsonResponse({ message: 'Not Found' }, { status: 404 }), /HTTP 404 without an OAuth error/],
    ['HTTP 404 HTML', () => new Response('<h1>Not Found</h1>', { status: 404, headers: { 'content-type': 'text/html' } }), /HTTP 404 with text\/html/],
    [
      'redirect',
      () => new Response(null, { status: 307, headers: { location: 'https://evil.test/oauth/token?x=1' } }),
      /redirected \(HTTP 307 to https:\/\/evil.test\/oauth\/token\)/,
    ],
    ['error not a string', () => jsonResponse({ error: { code: 'invalid_client' } }, { status: 400 }), /not an OAuth error code/],
    ['body too large', () => jsonResponse(JSON.stringify({ ...tokenBody(), pad: 'x'.repeat(70_000) })), /larger than 65536 bytes/],
  ]
  for (const [name, response, message] of cases) {
    it(name, async () => {
      const error = await rejection(response())
      expect(error).toBeInstanceOf(BadResponseError)
      expect(cliText(error)).toMatch(message)
      expect(cliText(error)).not.toContain(TOKEN)
    })
  }

  it('keeps the raw response only in a non-enumerable property', async () => {
    const error = await rejection(jsonResponse(tokenBody({ token_type: 'mac' })))
    const raw = (error as unknown as { response: { status: number; body: string } }).response
    expect(raw.status).toBe(200)
    expect(raw.body).toContain(TOKEN)
    expect(Object.keys(error)).not.toContain('response')
    expect(JSON.stringify(error)).not.toContain(TOKEN)
    expect(inspect(error)).not.toContain(TOKEN)
    expect(String(error.stack)).not.toContain(TOKEN)
  })

  it('5xx and 429 without an OAuth error → ServerUnavailableError (when parsed directly)', async () => {
    for (const status of [500, 502, 503, 429]) {
      const error = await rejection(new Response('busy', { status, headers: { 'content-type': 'text/plain' } }))
      expect(error).toBeInstanceOf(ServerUnavailableError)
      expect((error as ServerUnavailableError).status).toBe(status)
    }
  })
})

describe('parseTokenResponse: OAuth errors (docs/token-exchange.md §5)', () => {
  const requested = makeParams()
  // Every documented pair, and what the message must tell the user to do.
  const pairs: [string, string, RegExp][] = [
    ['invalid_client', 'Invalid client assertion signature', /check --client-id, --key and --kid \(kid test-kid\).*JWKS/],
    ['invalid_client', 'JWT `aud` claim is invalid', /aud was https:\/\/buildkite.test\/oauth\/token;.*check --aud and --token-url/],
    ['invalid_client', 'JWT `exp` claim must be in the future', /clock/],
    ['invalid_client', 'JWT has already been used (jti)', /used once.*new jti for every attempt/],
    ['invalid_client', 'JWT must contain a `jti` claim', /always sends a jti/],
    [
      'invalid_client',
      'Client authentication failed',
      /invalid_client \(Client authentication failed\); check --client-id \(0123456789abcdef0123\), --key and --kid \(kid test-kid\).*JWKS/,
    ],
    [
      'invalid_request',
      'Subject user must be an active member of the organization',
      /active member of acme.*--subject \(dev\+ci@acme.test\) and --subject-type \(email\)/,
    ],
    ['invalid_scope', 'Requested scopes exceed grantable scopes', /requested scopes: read_builds read_pipelines/],
    ['invalid_target', 'Invalid audience organization', /--org must be the organisation slug.*not its display name \(asked for "acme"\)/],
    ['unsupported_grant_type', 'Token exchange is not enabled for this organization', /not enabled for this organisation/],
  ]
  for (const [code, description, advice] of pairs) {
    it(`${code}: ${description}`, async () => {
      // The status is deliberately not the usual one: the decision rests on `error` alone.
      for (const status of [400, 401, 403, 200]) {
        const error = await rejection(jsonResponse({ error: code, error_description: description }, { status }), options({ requested }))
        expect(error).toBeInstanceOf(OAuthRejectedError)
        const oauth = error as OAuthRejectedError
        expect([oauth.error, oauth.errorDescription, oauth.status]).toEqual([code, description, status])
        expect(oauth.code).toBe('BKTX_OAUTH_REJECTED')
        expect(cliText(error)).toContain(`${code} (${description})`)
        expect(cliText(error)).toMatch(advice)
      }
    })
  }

  it('invalid_scope without requested scopes says the app defaults applied', async () => {
    const error = await rejection(jsonResponse({ error: 'invalid_scope' }, { status: 400 }), options({ requested: makeParams({ scopes: [] }) }))
    expect(cliText(error)).toMatch(/no scopes were requested.*pass --scope/)
  })

  it('a 5xx or 429 with an OAuth error body is still the OAuth error', async () => {
    const error = await rejection(jsonResponse({ error: 'invalid_client', error_description: 'x' }, { status: 503 }))
    expect(error).toBeInstanceOf(OAuthRejectedError)
  })

  it('exp errors: the skew computed from the Date header against the injected clock', async () => {
    const exp = { error: 'invalid_client', error_description: 'JWT `exp` claim must be in the future' }
    // Server 4 min 10 s ahead of this machine: this machine is behind.
    let error = await rejection(jsonResponse(exp, { status: 401, headers: { date: 'Sat, 28 Nov 2026 12:04:10 GMT' } }))
    expect(cliText(error)).toContain("this machine's clock is 4m10s behind the server's (its Date header says Sat, 28 Nov 2026 12:04:10 GMT)")
    expect(cliText(error)).toMatch(/sync the clock \(NTP\)/)
    // Server 2 h behind: this machine is ahead.
    error = await rejection(jsonResponse(exp, { status: 401, headers: { date: 'Sat, 28 Nov 2026 10:00:00 GMT' } }))
    expect(cliText(error)).toContain("this machine's clock is 2h ahead of the server's")
    // In sync: say skew is not the cause.
    error = await rejection(jsonResponse(exp, { status: 401, headers: { date: 'Sat, 28 Nov 2026 12:00:01 GMT' } }))
    expect(cliText(error)).toMatch(/agrees with the server's Date header .* so clock skew is not the likely cause/)
    // No Date header.
    error = await rejection(jsonResponse(exp, { status: 401 }))
    expect(cliText(error)).toMatch(/no Date header to compare clocks/)
  })

  it('the skew is read at receipt from the injected clock', async () => {
    const c = fixedClock('2026-11-28T12:00:00Z')
    c.advance(90)
    const error = await rejection(
      jsonResponse(
        { error: 'invalid_client', error_description: 'JWT `iat` claim is in the future' },
        { status: 401, headers: { date: 'Sat, 28 Nov 2026 12:00:00 GMT' } },
      ),
      options({ clock: c }),
    )
    expect(cliText(error)).toContain("this machine's clock is 1m30s ahead of the server's")
  })

  it('unknown errors keep the code and give general advice', async () => {
    const error = await rejection(jsonResponse({ error: 'slow_down' }, { status: 400 }))
    expect(error).toBeInstanceOf(OAuthRejectedError)
    expect(cliText(error)).toMatch(/slow_down; check the settings shown by `bktx config list`/)
  })

  it('sanitises server text: control characters replaced, echoed tokens and JWTs redacted', async () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln'
    const error = await rejection(
      jsonResponse({ error: 'invalid_request', error_description: `bad \u001b[31massertion ${jwt} for ${TOKEN}\n` }, { status: 400 }),
    )
    expect(cliText(error)).not.toContain('\u001b')
    expect(cliText(error)).not.toContain('\n')
    expect(cliText(error)).not.toContain(jwt)
    expect(cliText(error)).not.toContain(TOKEN)
    expect(cliText(error)).toContain('[redacted JWT]')
    expect((error as OAuthRejectedError).errorDescription).toContain('bktx_[redacted]')
  })
})
