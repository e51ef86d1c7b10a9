import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import {
  getToken,
  isBktxError,
  KeychainError,
  MemorySecretStore,
  OAuthRejectedError,
  revokeToken,
  whoami,
  type AnyBktxError,
  type ErrorCode,
  type FetchFunction,
  type GetTokenOptions,
  type Notice,
} from '../../../src/api/index.js'
import { useStrictMsw } from '../../helpers/msw.js'
import { writeKeyFiles } from '../../helpers/keys.js'

// The library's seams (src/api/types.ts, NetworkSeams): a caller's fetch, clock and secret
// store. The strict msw server fails any test in which a request reaches node:http or the
// global fetch, so "no other network code runs" is checked, not assumed.
useStrictMsw()

let dir: string
let key: string
let env: Record<string, string>
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-seams-'))
  key = (await writeKeyFiles(dir, 'ES256')).privatePath
  await mkdir(join(dir, 'run'), { recursive: true, mode: 0o700 })
  // Runtime directories of their own for the revokeToken tests (a missing one is passed over).
  for (const name of ['elsewhere', 'revoke']) await mkdir(join(dir, 'run', name), { mode: 0o700 })
  // HTTPS_PROXY would send bktx's own client through undici: an injected fetch must not care.
  env = { HOME: dir, XDG_RUNTIME_DIR: join(dir, 'run'), XDG_CACHE_HOME: join(dir, 'cache'), HTTPS_PROXY: 'http://127.0.0.1:9' }
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const TOKEN = `bktx_${'A'.repeat(43)}`
const NOW = new Date('2030-01-02T03:04:05Z')

interface Seen {
  url: string
  init: RequestInit | undefined
}

/** A token endpoint as a WHATWG fetch: grants `granted` scopes for 900 s. */
function tokenEndpoint(granted = 'read_builds'): FetchFunction & { seen: Seen[] } {
  const seen: Seen[] = []
  const f: FetchFunction = async (input, init) => {
    seen.push({ url: String(input), init })
    return Response.json({
      access_token: TOKEN,
      token_type: 'Bearer',
      expires_in: 900,
      scope: granted,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    })
  }
  return Object.assign(f, { seen })
}

function options(extra: Partial<GetTokenOptions>): GetTokenOptions {
  return { clientId: 'c1', key, org: 'acme', subject: 'dev@acme.test', scopes: ['read_builds'], config: false, env, ...extra }
}

describe('getToken with injected fetch, clock and secret store', () => {
  it('exchanges through the fetch, dates by the clock, and caches in the store', async () => {
    const fetch = tokenEndpoint()
    const store = new MemorySecretStore()
    const clock = { now: () => NOW }
    const first = await getToken(options({ fetch, clock, secretStore: store, cache: 'keychain' }))
    expect(first).toMatchObject({ token: TOKEN, cached: false, cache: 'keychain', scopes: ['read_builds'] })
    expect(first.expiresAt.toISOString()).toBe('2030-01-02T03:19:05.000Z')
    expect(fetch.seen).toHaveLength(1)
    const [call] = fetch.seen
    expect(call?.url).toBe('https://buildkite.com/oauth/token')
    expect(new Headers(call?.init?.headers).get('user-agent')).toMatch(/^bktx\//)
    const body = new URLSearchParams(String(call?.init?.body))
    expect(body.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:token-exchange')
    // The assertion's iat is the injected clock's.
    const claims = JSON.parse(Buffer.from(String(body.get('client_assertion')).split('.')[1] ?? '', 'base64url').toString()) as { iat: number }
    expect(claims.iat).toBe(NOW.getTime() / 1000)
    expect([...store.items.values()].join()).toContain(TOKEN)

    const second = await getToken(options({ fetch, clock, secretStore: store, cache: 'keychain' }))
    expect(second).toMatchObject({ token: TOKEN, cached: true, cache: 'keychain' })
    expect(fetch.seen).toHaveLength(1)
  })

  it('refuses a CA file with an injected fetch, before any request', async () => {
    const fetch = tokenEndpoint()
    const error = await getToken(options({ fetch, caFile: join(dir, 'ca.pem'), cache: 'none' })).catch((e: unknown) => e)
    expect(isBktxError(error) && error.code === 'BKTX_SETTING_INVALID' && error.setting).toBe('ca-file')
    expect(fetch.seen).toEqual([])
  })

  it('gives notices in plain words, and as data', async () => {
    const store = new MemorySecretStore()
    store.fail = new KeychainError('the keychain is locked')
    const seen: [string, Notice][] = []
    const token = await getToken(
      options({ fetch: tokenEndpoint(''), secretStore: store, cache: 'auto', scopes: ['read_builds'], onNotice: (m, n) => seen.push([m, n]) }),
    )
    expect(token.cache).toBe('file')
    expect(seen.map(([, n]) => n.kind)).toEqual(['keychain-fallback', 'scopes-narrowed'])
    expect(seen[0]?.[0]).toMatch(
      /^no keychain \(it is not available\): caching tokens in .* \(said once a day\); to choose files and not see this, set cache to file$/,
    )
    expect(seen[1]?.[0]).toMatch(/; check the scope setting against the application's grantable scopes$/)
    for (const [message] of seen) expect(message).not.toMatch(/--|bktx config set/)
  })
})

describe('getToken cancelled by the caller', () => {
  /** A fetch that answers only by rejecting when its signal aborts, as fetch does. */
  const hanging: FetchFunction = (_input, init) =>
    new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true }))

  it('rejects with BKTX_INTERRUPTED whose cause is the signal reason', async () => {
    const controller = new AbortController()
    const reason = new Error('the user closed the dialog')
    const pending = getToken(options({ fetch: hanging, cache: 'none', signal: controller.signal }))
    setTimeout(() => controller.abort(reason), 50)
    const error = await pending.catch((e: unknown) => e)
    expect(isBktxError(error) && error.code).toBe('BKTX_INTERRUPTED')
    expect((error as Error).cause).toBe(reason)
  })

  it('maps AbortSignal.timeout() to BKTX_TIMEOUT, with the TimeoutError as cause', async () => {
    const error = await getToken(options({ fetch: hanging, cache: 'none', signal: AbortSignal.timeout(50) })).catch((e: unknown) => e)
    expect(isBktxError(error) && error.code).toBe('BKTX_TIMEOUT')
    expect(((error as Error).cause as Error).name).toBe('TimeoutError')
    expect((error as Error).message).toMatch(/did not answer before the caller's AbortSignal timed out/)
  })

  it('rejects at once for a signal already aborted, even with a cached token', async () => {
    const fetch = tokenEndpoint()
    const store = new MemorySecretStore()
    await getToken(options({ fetch, secretStore: store, cache: 'keychain', clock: { now: () => NOW } }))
    const reason = new Error('gone')
    const error = await getToken(options({ fetch, secretStore: store, cache: 'keychain', clock: { now: () => NOW }, signal: AbortSignal.abort(reason) })).catch(
      (e: unknown) => e,
    )
    expect(isBktxError(error) && error.code).toBe('BKTX_INTERRUPTED')
    expect((error as Error).cause).toBe(reason)
  })
})

describe('whoami and revokeToken', () => {
  it('ask the API with the token, through the injected fetch', async () => {
    const seen: string[] = []
    const fetch: FetchFunction = async (input, init) => {
      seen.push(`${init?.method} ${String(input)} ${new Headers(init?.headers).get('authorization')}`)
      if (init?.method === 'DELETE') return new Response(null, { status: 204 })
      return Response.json({
        uuid: 'u-1',
        scopes: ['read_user', 'read_builds'],
        created_at: '2030-01-01T00:00:00Z',
        expires_at: null,
        user: { name: 'Dev', email: 'dev@acme.test' },
      })
    }
    const info = await whoami(TOKEN, { fetch, config: false, env })
    expect(info).toEqual({
      uuid: 'u-1',
      scopes: ['read_builds', 'read_user'],
      description: null,
      createdAt: new Date('2030-01-01T00:00:00Z'),
      expiresAt: null,
      user: { name: 'Dev', email: 'dev@acme.test' },
    })
    // Another cache directory than the other tests': none holds this token.
    const elsewhere = { ...env, XDG_RUNTIME_DIR: join(dir, 'run', 'elsewhere') }
    const revoked = await revokeToken(TOKEN, { fetch, config: false, env: elsewhere, tokenUrl: 'http://127.0.0.1:8787/oauth/token' })
    expect(revoked).toEqual({ revoked: true, alreadyInvalid: false, tokenHint: TOKEN.slice(-4), removedFromCache: false })
    expect(seen).toEqual([`GET https://api.buildkite.com/v2/access-token Bearer ${TOKEN}`, `DELETE http://127.0.0.1:8787/v2/access-token Bearer ${TOKEN}`])
  })

  it('revokeToken forgets the cached token it revoked, keychain item included: getToken then mints again', async () => {
    const mine = { ...env, XDG_RUNTIME_DIR: join(dir, 'run', 'revoke') }
    const store = new MemorySecretStore()
    const mint = tokenEndpoint()
    await getToken(options({ fetch: mint, env: mine, secretStore: store, cache: 'keychain' }))
    const api: FetchFunction = async () => new Response(null, { status: 204 })
    expect(await revokeToken(TOKEN, { fetch: api, config: false, env: mine, secretStore: store })).toMatchObject({ revoked: true, removedFromCache: true })
    expect(await store.accounts()).toEqual([])
    await getToken(options({ fetch: mint, env: mine, secretStore: store, cache: 'keychain' }))
    expect(mint.seen).toHaveLength(2)
  })

  it('revokeToken: a token the API no longer knows (401) resolves as already invalid; a 403 rejects', async () => {
    const answer =
      (status: number): FetchFunction =>
      async () =>
        Response.json({ message: 'Unauthorized' }, { status })
    const elsewhere = { ...env, XDG_RUNTIME_DIR: join(dir, 'run', 'elsewhere') }
    expect(await revokeToken(TOKEN, { fetch: answer(401), config: false, env: elsewhere })).toEqual({
      revoked: false,
      alreadyInvalid: true,
      tokenHint: TOKEN.slice(-4),
      removedFromCache: false,
    })
    await expect(revokeToken(TOKEN, { fetch: answer(403), config: false, env: elsewhere })).rejects.toMatchObject({ code: 'BKTX_API_REJECTED', status: 403 })
  })
})

describe('typed errors', () => {
  it('narrow on code to the class that carries the fields', async () => {
    const fetch: FetchFunction = async () => Response.json({ error: 'invalid_scope', error_description: 'no such scope' }, { status: 400 })
    const error = await getToken(options({ fetch, cache: 'none' })).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OAuthRejectedError)
    if (!isBktxError(error) || error.code !== 'BKTX_OAUTH_REJECTED') throw new Error('expected BKTX_OAUTH_REJECTED')
    // Type-checked by `npm run typecheck` (tsc -p . includes test/).
    expectTypeOf(error.error).toEqualTypeOf<string>()
    expectTypeOf(error.errorDescription).toEqualTypeOf<string | undefined>()
    expectTypeOf(error.status).toEqualTypeOf<number>()
    expect({ error: error.error, errorDescription: error.errorDescription, status: error.status }).toEqual({
      error: 'invalid_scope',
      errorDescription: 'no such scope',
      status: 400,
    })
  })

  it('cover every code', () => {
    expectTypeOf<AnyBktxError['code']>().toEqualTypeOf<ErrorCode>()
  })
})
