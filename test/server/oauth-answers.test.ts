/**
 * What third-party OAuth clients read in the reference server's answers, and what bktx's client
 * reads from other servers (issue 22, "Answers OAuth clients read"): no made-up challenge on the
 * token endpoint's 401 (oauth4webapi 3 and openid-client 6 then surface `error_description`),
 * `error="invalid_token"` on the REST sample's 401 for a bad token (RFC 6750 §3.1), an
 * `expires_in` sent as a string of digits, and the JWS header policy (RFC 7515 §4: unknown
 * members ignored by default, refused with `--strict-jws-header`).
 */
import { randomUUID, webcrypto } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parseTokenResponse } from '../../src/exchange/response.js'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { fixedClock, tempHome } from '../helpers/cli.js'
import { jsonResponse, makeParams, tokenBody } from '../helpers/exchange.js'
import { http, postForm } from '../helpers/http.js'
import { assertion, baseConfig, CLIENT_ID, exchange, EXCHANGE, MEMBER, ORG, startServer, testKey, type RunningServer, type TestKey } from '../helpers/server.js'
import { spawnServer } from '../helpers/spawn-server.js'
import { es256, jws, startListener, type Listener } from '../security/support.js'

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
})
async function start(...args: Parameters<typeof startServer>): Promise<RunningServer> {
  const server = await startServer(...args)
  running.push(server)
  return server
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const PARAMETERS = { subject_token_type: EXCHANGE.subject_token_type, subject_token: MEMBER, audience: ORG }

/** The key as WebCrypto holds it (what oauth4webapi and openid-client sign with). */
async function cryptoKey(key: TestKey): Promise<webcrypto.CryptoKey> {
  const der = key.privateKey.export({ format: 'der', type: 'pkcs8' })
  return webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
}

describe('the token endpoint answers third-party clients so that they read error_description', () => {
  it('oauth4webapi 3: a 401 invalid_client is a ResponseBodyError with the description; a good exchange is a token', async () => {
    const server = await start()
    // The assertion's aud is the issuer: the token URL, one of the server's own endpoint URLs.
    const as: oauth.AuthorizationServer = { issuer: server.tokenUrl, token_endpoint: server.tokenUrl }
    const app: oauth.Client = { client_id: CLIENT_ID }
    const options = { [oauth.allowInsecureRequests]: true }
    const grant = async (key: TestKey) => {
      const response = await oauth.genericTokenEndpointRequest(
        as,
        app,
        oauth.PrivateKeyJwt({ key: await cryptoKey(key), kid: server.key.kid }),
        TOKEN_EXCHANGE,
        PARAMETERS,
        options,
      )
      return oauth.processGenericTokenEndpointResponse(as, app, response)
    }
    const refused = await grant(await testKey()).catch((error: unknown) => error)
    // Before the fix: WWWAuthenticateChallengeError, "server responded with a challenge in the WWW-Authenticate HTTP Header".
    expect(refused).toBeInstanceOf(oauth.ResponseBodyError)
    expect(refused).toMatchObject({ status: 401, error: 'invalid_client', error_description: 'Invalid client assertion signature' })
    const token = await grant(server.key)
    expect(token).toMatchObject({
      access_token: expect.stringMatching(/^bktx_/),
      token_type: 'bearer',
      expires_in: 3600,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    })
  })

  it('openid-client 6: the same', async () => {
    const server = await start()
    const grant = async (key: TestKey) => {
      const config = new client.Configuration(
        { issuer: server.tokenUrl, token_endpoint: server.tokenUrl },
        CLIENT_ID,
        undefined,
        client.PrivateKeyJwt({ key: await cryptoKey(key), kid: server.key.kid }),
      )
      client.allowInsecureRequests(config)
      return client.genericGrantRequest(config, TOKEN_EXCHANGE, PARAMETERS)
    }
    const refused = await grant(await testKey()).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(client.ResponseBodyError)
    expect(refused).toMatchObject({ status: 401, error: 'invalid_client', error_description: 'Invalid client assertion signature' })
    expect((await grant(server.key)).access_token).toMatch(/^bktx_/)
  })

  it('the 401 carries no WWW-Authenticate, and a 400 none either', async () => {
    const server = await start()
    const refused = await exchange(server, {}, { clientId: 'nobody' })
    expect(refused.status).toBe(401)
    expect(refused.headers['www-authenticate']).toBeUndefined()
    const bad = await exchange(server, { subject_token: 'stranger@acme.test' })
    expect(bad.status).toBe(400)
    expect(bad.headers['www-authenticate']).toBeUndefined()
  })
})

describe('the REST sample tells a bad token from no token (RFC 6750 §3.1)', () => {
  it('oauth4webapi reads error="invalid_token" and its description from the challenge', async () => {
    const server = await start()
    const challenges = async (token: string) => {
      const error = await oauth
        .protectedResourceRequest(token, 'GET', new URL(`${server.url}/v2/access-token`), undefined, undefined, { [oauth.allowInsecureRequests]: true })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError)
      return (error as oauth.WWWAuthenticateChallengeError).cause
    }
    expect(await challenges('bktx_unknown')).toEqual([
      {
        scheme: 'bearer',
        parameters: { realm: 'buildkite', error: 'invalid_token', error_description: 'The access token is unknown, expired, revoked or no longer allowed' },
      },
    ])
    // A revoked token is as unknown.
    const minted = (await exchange(server)).json.access_token as string
    expect((await http(`${server.url}/v2/access-token`, { method: 'DELETE', headers: { Authorization: `Bearer ${minted}` } })).status).toBe(204)
    expect((await challenges(minted))[0]?.parameters.error).toBe('invalid_token')
    // No token at all: a bare challenge, no error code.
    const none = await http(`${server.url}/v2/access-token`)
    expect(none.headers['www-authenticate']).toBe('Bearer realm="buildkite"')
  })
})

describe("bktx's client reads expires_in sent as a string of decimal digits (docs/token-exchange.md §4)", () => {
  const clock = fixedClock('2026-11-28T12:00:00Z')
  const parse = (expiresIn: unknown) => parseTokenResponse(jsonResponse(tokenBody({ expires_in: expiresIn })), { clock, requested: makeParams() })

  it('"3600" as 3600, and the same cap: "86401" is 86400 s', async () => {
    expect((await parse('3600')).expiresIn).toBe(3600)
    expect((await parse('3600')).expiresAt.toISOString()).toBe('2026-11-28T13:00:00.000Z')
    expect((await parse('0900')).expiresIn).toBe(900)
    expect((await parse('86401')).expiresIn).toBe(86400)
  })

  it.each(['', '0', '-60', '+60', ' 60', '60 ', '1e3', '60.0', '0x3c', '٦٠', '12345678901234567', 'NaN'])(
    'refuses %j with exit 6 (BKTX_BAD_RESPONSE)',
    async (value) => {
      await expect(parse(value)).rejects.toMatchObject({
        code: 'BKTX_BAD_RESPONSE',
        message: expect.stringContaining('sent an expires_in that is not a positive whole number of seconds'),
      })
    },
  )
})

describe('JWS header members (RFC 7515 §4): ignored by default, refused with --strict-jws-header', () => {
  let canary: Listener
  beforeAll(async () => {
    canary = await startListener({ keys: [] })
  })
  afterAll(async () => {
    await canary?.close()
  })

  const ignored: Array<[string, () => Record<string, unknown>]> = [
    ['x5t (added by certificate tooling)', () => ({ x5t: Buffer.alloc(20, 1).toString('base64url') })],
    ['x5t#S256', () => ({ 'x5t#S256': Buffer.alloc(32, 1).toString('base64url') })],
    ['x5c', () => ({ x5c: ['MIIB'] })],
    ['jku naming a URL', () => ({ jku: `${canary.url}/jwks.json` })],
    ['x5u naming a URL', () => ({ x5u: `${canary.url}/cert.pem` })],
    ['an embedded jwk', () => ({ jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } })],
    ['cty "JWT"', () => ({ cty: 'JWT' })],
    ['a private member', () => ({ 'x-tenant': 'acme' })],
    ['a claim copied into the header (RFC 7519 §5.3)', () => ({ iss: CLIENT_ID })],
  ]

  it.each(ignored)('%s: the default server ignores it (never fetches what it names) and mints', async (_name, header) => {
    const server = await start()
    const answer = await exchange(server, {}, { header: header() })
    expect(answer.status, JSON.stringify(answer.json)).toBe(200)
    expect(canary.hits).toEqual([])
  })

  it.each(ignored)('%s: the strict server refuses it', async (_name, header) => {
    const server = await start({ doc: { ...baseConfig(await testKey()), strict_jws_header: true } })
    const answer = await exchange(server, {}, { header: header() })
    expect(answer.status).toBe(401)
    expect(answer.json).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' })
    expect(canary.hits).toEqual([])
  })

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['crit naming an unknown extension', { crit: ['x-ext'], 'x-ext': 1 }, /header has crit/],
    ['crit empty', { crit: [] }, /header has crit/],
    ['b64 false', { b64: false }, /header has b64/],
    ['zip (a JWE member)', { zip: 'DEF' }, /header member "zip" not allowed \(a JWE member, RFC 7516 §4\.1\)/],
    ['enc (a JWE member)', { enc: 'A256GCM' }, /header member "enc" not allowed \(a JWE member/],
  ]
  it.each(refused)('%s: refused by the default server too', async (_name, header, detail) => {
    const server = await start()
    // Signed by hand: jose will not sign a crit it does not know.
    const now = Math.floor(Date.now() / 1000)
    const claims = { iss: CLIENT_ID, sub: CLIENT_ID, aud: server.tokenUrl, iat: now, exp: now + 60, jti: randomUUID() }
    const jwt = jws({ alg: 'ES256', typ: 'JWT', kid: server.key.kid, ...header }, claims, es256(server.key.privateKey))
    const answer = await postForm(server.tokenUrl, { ...EXCHANGE, client_assertion: jwt })
    expect(answer.status).toBe(401)
    expect(answer.json).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' })
    expect((server.server.state.audit as MemoryAuditSink).records.at(-1)?.detail).toMatch(detail)
  })

  it('bktx server --strict-jws-header (and strict_jws_header in --config) is the strict policy; without it, the default', async () => {
    const home = await tempHome()
    try {
      const key = await testKey()
      const jwks = join(home.dir, 'jwks.json')
      await writeFile(jwks, JSON.stringify({ keys: [key.publicJwk] }))
      const config = join(home.dir, 'server.json')
      await writeFile(config, JSON.stringify(baseConfig(key, (d) => (d.audiences = ['https://bktx.test/oauth/token']))))
      const target = { tokenUrl: 'https://bktx.test/oauth/token', key }
      const x5t = async (args: string[], clientId: string) => {
        const server = await spawnServer(args, home.env)
        try {
          const jwt = await assertion(target, { clientId, header: { x5t: Buffer.alloc(20, 1).toString('base64url') } })
          return (await postForm(`${server.url}/oauth/token`, { ...EXCHANGE, client_assertion: jwt })).status
        } finally {
          await server.stop()
        }
      }
      const quick = ['--member', MEMBER, '--org', ORG, '--client-id', 'quick-app', '--jwks', jwks, '--aud', 'https://bktx.test/oauth/token']
      expect(await x5t(quick, 'quick-app')).toBe(200)
      expect(await x5t([...quick, '--strict-jws-header'], 'quick-app')).toBe(401)
      expect(await x5t(['--config', config], CLIENT_ID)).toBe(200)
      expect(await x5t(['--config', config, '--strict-jws-header'], CLIENT_ID)).toBe(401)
      await writeFile(config, JSON.stringify({ ...baseConfig(key, (d) => (d.audiences = ['https://bktx.test/oauth/token'])), strict_jws_header: true }))
      expect(await x5t(['--config', config], CLIENT_ID)).toBe(401)
    } finally {
      await home.cleanup()
    }
  }, 60_000)
})
