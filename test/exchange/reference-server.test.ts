import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APIRejectedError, OAuthRejectedError } from '../../src/errors.js'
import { revoke, whoami } from '../../src/exchange/access-token.js'
import { exchange, type ExchangeDeps } from '../../src/exchange/exchange.js'
import { toAssertionKey } from '../../src/keys/signer.js'
import type { ExchangeParams } from '../../src/exchange/types.js'
import { makeFetch } from '../../src/http/fetch.js'
import { fixedClock } from '../helpers/cli.js'
import { failure, recordingSleep } from '../helpers/exchange.js'
import { CLIENT_ID, MEMBER, ORG, startServer, testKey, type RunningServer } from '../helpers/server.js'
import { cliText } from '../helpers/describe.js'

// The client against the bundled reference server over loopback: the parser accepts what the
// server sends, and each documented refusal arrives as the typed error with its advice.

let server: RunningServer
beforeAll(async () => void (server = await startServer()))
afterAll(() => server.stop())

function params(overrides: Partial<ExchangeParams> = {}): ExchangeParams {
  return {
    tokenUrl: server.tokenUrl,
    clientId: CLIENT_ID,
    key: toAssertionKey(server.key.privateKey, server.key.kid, 'test key'),
    org: ORG,
    subject: MEMBER,
    subjectType: 'email',
    scopes: ['read_builds', 'read_pipelines'],
    ttl: 600,
    ...overrides,
  }
}

const deps = (): ExchangeDeps => ({ fetch: makeFetch({ env: {}, userAgent: 'bktx/test' }), clock: { now: () => new Date() }, sleep: recordingSleep() })

describe('exchange against the reference server', () => {
  it('mints a bktx_ token the parser accepts, then whoami and revoke it', async () => {
    const before = Date.now()
    const result = await exchange(params(), deps())
    expect(result.accessToken).toMatch(/^bktx_/)
    expect(result.scopes).toEqual(['read_builds', 'read_pipelines'])
    expect(result.expiresIn).toBe(600)
    expect(result.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 600_000)

    const info = await whoami(server.url, result.accessToken, deps())
    expect(info.scopes).toEqual(['read_builds', 'read_pipelines'])
    expect(info.user.email).toBe(MEMBER)
    // The server's expiry is its clock at minting plus 600 s, in whole seconds: inside the
    // window this test saw, however long a loaded machine took to get here.
    expect(info.expiresAt?.getTime()).toBeGreaterThanOrEqual(before - 1000 + 600_000)
    expect(info.expiresAt?.getTime()).toBeLessThanOrEqual(Date.now() + 600_000)

    await revoke(server.url, result.accessToken, deps())
    const after = await failure(whoami(server.url, result.accessToken, deps()))
    expect(after).toBeInstanceOf(APIRejectedError)
    expect((after as APIRejectedError).status).toBe(401)
  })

  it('without scope and ttl: the app defaults and its maximum', async () => {
    const result = await exchange(params({ scopes: [], ttl: undefined }), deps())
    expect(result.scopes).toEqual(['read_builds'])
    expect(result.expiresIn).toBe(3600)
  })

  const refusals: [string, () => Promise<Partial<ExchangeParams>>, string, RegExp][] = [
    ['scopes beyond the grantable', async () => ({ scopes: ['write_builds'] }), 'invalid_scope', /requested scopes: write_builds/],
    ['a display name for --org', async () => ({ org: 'Acme Inc' }), 'invalid_target', /organisation slug.*asked for "Acme Inc"/],
    ['a subject who is not a member', async () => ({ subject: 'stranger@acme.test' }), 'invalid_request', /--subject \(stranger@acme.test\)/],
    [
      'another key under the registered kid',
      async () => ({ key: toAssertionKey((await testKey()).privateKey, server.key.kid, 'other') }),
      'invalid_client',
      /check --client-id, --key and --kid/,
    ],
    [
      'an unknown client id',
      async () => ({ clientId: 'ffffffffffffffffffff' }),
      'invalid_client',
      /registered for client ffffffffffffffffffff: check --client-id, --key and --kid/,
    ],
  ]
  for (const [name, overrides, code, advice] of refusals) {
    it(`${name} → ${code}, not retried`, async () => {
      const d = deps()
      const error = await failure(exchange(params(await overrides()), d))
      expect(error).toBeInstanceOf(OAuthRejectedError)
      expect((error as OAuthRejectedError).error).toBe(code)
      expect(cliText(error)).toMatch(advice)
      expect((d.sleep as ReturnType<typeof recordingSleep>).waits).toEqual([])
    })
  }

  it('a slow local clock: invalid_client on exp, and the skew measured from the Date header', async () => {
    const slow = fixedClock(new Date(Date.now() - 10 * 60_000))
    const error = await failure(exchange(params(), { ...deps(), clock: slow }))
    expect(error).toBeInstanceOf(OAuthRejectedError)
    // The Date header has one-second resolution, and a loaded machine may take seconds to send
    // the request: the measured skew is 10 minutes, less 1 s or more by what the run took.
    expect(cliText(error)).toMatch(/this machine's clock is (9m59s|10m([1-5]?\ds)?) behind the server's/)
  })
})
