import { mkdirSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { FetchLike } from '../../../src/deps.js'
import { KeychainError, SettingMissingError } from '../../../src/errors.js'
import { MemorySecretStore } from '../../../src/secrets/store.js'
import { createTokenService, obtainToken, type TokenServiceDeps } from '../../../src/token/service.js'
import type { TokenInput } from '../../../src/token/request.js'
import { jsonResponse, tokenBody } from '../../helpers/exchange.js'
import { tokenWorld, type TokenWorld } from '../../helpers/token-setup.js'

// The use case itself, in-process, the way gh tests tokenRun(opts): one call with setting
// values, over injected dependencies (a memory keychain, the real reference server on
// 127.0.0.1; a fake fetch only for a grant the server never gives), and what comes out.

let world: TokenWorld
beforeAll(async () => {
  world = await tokenWorld()
})
afterAll(async () => world.cleanup())

/** A fresh cache (its own XDG_CACHE_HOME) per case, so no case serves another's token. */
let caseNo = 0
function deps(overrides: Partial<TokenServiceDeps> = {}): TokenServiceDeps & { secrets: MemorySecretStore } {
  caseNo++
  const run = `${world.home.dir}/run-${caseNo}`
  mkdirSync(run, { mode: 0o700 })
  return {
    env: { ...world.env, XDG_CACHE_HOME: `${world.home.dir}/cache-${caseNo}`, XDG_RUNTIME_DIR: run },
    home: world.home.dir,
    uid: process.getuid?.(),
    cwd: world.home.dir,
    clock: { now: () => new Date() },
    secrets: new MemorySecretStore(),
    fetch: (input, init) => fetch(input, init),
    userAgent: 'bktx/0.0.0-test',
    ...overrides,
  } as TokenServiceDeps & { secrets: MemorySecretStore }
}

let before = 0
afterEach(() => {
  before = world.mints()
})
const minted = () => world.mints() - before

describe('the token service, one call per use', () => {
  it('mints on a miss and caches; serves the next call from the cache', async () => {
    const d = deps()
    const first = await obtainToken({ settings: { scope: 'read_builds' } }, d)
    expect(first.result).toMatchObject({ cached: false, cache: 'keychain', scopes: ['read_builds'] })
    expect(first.result.accessToken).toMatch(/^bktx_/)
    expect(first.request.params).toMatchObject({ tokenUrl: world.server.tokenUrl, org: 'acme', scopes: ['read_builds'] })
    const second = await obtainToken({ settings: { scope: 'read_builds' } }, d)
    expect(second.result).toMatchObject({ cached: true, cache: 'keychain', accessToken: first.result.accessToken })
    expect(minted()).toBe(1)
  })

  it('looks up without exchanging: a miss, then the hit an obtain left', async () => {
    const d = deps()
    const service = createTokenService(d)
    const miss = await service.lookup({})
    expect(miss.result).toBeUndefined()
    expect(miss.request.cache).toBe('auto')
    const { result } = await service.obtain({})
    const hit = await service.lookup({})
    expect(hit.result?.accessToken).toBe(result.accessToken)
    expect(minted()).toBe(1)
  })

  it('refresh mints again even with a good token cached', async () => {
    const d = deps()
    const first = await obtainToken({}, d)
    const again = await obtainToken({ refresh: true }, d)
    expect(again.result.cached).toBe(false)
    expect(again.result.accessToken).not.toBe(first.result.accessToken)
    expect(minted()).toBe(2)
  })

  it('caches nothing with the cache mode none, given as a setting value or as the call option', async () => {
    for (const input of [{ settings: { cache: 'none' } }, { cache: 'none' as const }]) {
      const d = deps()
      expect((await obtainToken(input, d)).result.cached).toBe(false)
      expect((await obtainToken(input, d)).result.cached).toBe(false)
      expect(d.secrets.items.size).toBe(0)
    }
    expect(minted()).toBe(4)
  })

  it('says when the grant is shorter than asked (the app caps the lifetime), once, when minted', async () => {
    const d = deps()
    const first = await obtainToken({ settings: { ttl: '2h' } }, d)
    expect(first.result.expiresIn).toBe(3600)
    expect(first.result.notices.map((n) => n.kind)).toEqual(['ttl-narrowed'])
    const second = await obtainToken({ settings: { ttl: '2h' } }, d)
    expect(second.result.cached).toBe(true)
    expect(second.result.notices).toEqual([])
  })

  it('says when fewer scopes were granted than asked (a server fault: a fake fetch)', async () => {
    const fake: FetchLike = async () => jsonResponse(tokenBody({ scope: 'read_builds', expires_in: 900 }))
    const { result } = await obtainToken(
      { settings: { 'token-url': 'https://buildkite.test/oauth/token', scope: 'read_builds read_pipelines' } },
      deps({ fetch: fake }),
    )
    expect(result.scopes).toEqual(['read_builds'])
    expect(result.notices.map((n) => n.kind)).toEqual(['scopes-narrowed'])
  })

  it('falls back from a keychain that does not answer to files, and says so', async () => {
    const d = deps()
    d.secrets.fail = new KeychainError('the keychain is locked')
    const first = await obtainToken({}, d)
    expect(first.result).toMatchObject({ cached: false, cache: 'file' })
    expect(first.result.notices.map((n) => n.kind)).toContain('keychain-fallback')
    expect((await readdir(`${d.env['XDG_RUNTIME_DIR']}/bktx`)).length).toBeGreaterThan(0)
    expect((await obtainToken({}, d)).result).toMatchObject({ cached: true, cache: 'file' })
  })

  it('fails before any exchange when the keychain is required and does not answer', async () => {
    const d = deps()
    d.secrets.fail = new KeychainError('the keychain is locked')
    await expect(obtainToken({ settings: { cache: 'keychain' } }, d)).rejects.toMatchObject({ code: 'BKTX_KEYCHAIN' })
    expect(minted()).toBe(0)
  })

  it('resolves setting values over the environment, and names the first missing setting', async () => {
    const d = deps()
    const { request } = await obtainToken({ settings: { subject: 'dev@acme.test', scope: 'read_pipelines' } }, d)
    expect(request.settings.scope).toEqual({ value: 'read_pipelines', source: 'flag' })
    expect(request.settings.org).toEqual({ value: 'acme', source: 'env:BKTX_ORG' })
    const bare = deps({
      env: { HOME: world.home.dir, XDG_CONFIG_HOME: `${world.home.dir}/config`, BKTX_TOKEN_URL: world.server.tokenUrl, BKTX_KEY: world.keyPath },
    })
    const error = await obtainToken({}, bare).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SettingMissingError)
    expect((error as SettingMissingError).detail).toMatchObject({ setting: 'client-id' })
  })

  it('uses a request resolved already (the fast path hands it over) without resolving again', async () => {
    const d = deps()
    const service = createTokenService(d)
    const { request } = await service.lookup({})
    // No setting reaches this call but the resolved request: resolving would fail.
    const empty = deps({ env: { HOME: world.home.dir, XDG_CONFIG_HOME: `${world.home.dir}/none`, XDG_RUNTIME_DIR: d.env['XDG_RUNTIME_DIR'] as string } })
    const input: TokenInput = { resolved: request }
    const { result } = await createTokenService({ ...empty, secrets: d.secrets }).obtain(input)
    expect(result.cached).toBe(false)
    await expect(createTokenService(empty).obtain({})).rejects.toBeInstanceOf(SettingMissingError)
  })

  it('logs out: revokes at the API and forgets; then finds nothing', async () => {
    const d = deps()
    const service = createTokenService(d)
    const { result } = await service.obtain({})
    const first = await service.logout({ revoke: true })
    expect(first).toMatchObject({ revoked: [{ tokenHint: result.accessToken.slice(-4) }], alreadyInvalid: [], failed: [], notices: [] })
    expect(await service.logout({ revoke: true })).toEqual({ revoked: [], alreadyInvalid: [], expired: [], forgotten: [], failed: [], notices: [] })
    await expect(service.whoami(world.server.url, result.accessToken)).rejects.toMatchObject({ code: 'BKTX_API_REJECTED' })
  })

  it('revokes a given token: 204 revoked and forgotten from the cache, then 401 already invalid', async () => {
    const d = deps()
    const service = createTokenService(d)
    const { result } = await service.obtain({})
    const given = { token: result.accessToken, apiUrl: world.server.url, cache: 'auto' as const }
    expect(await service.revokeGiven(given)).toEqual({
      revoked: true,
      alreadyInvalid: false,
      hint: result.accessToken.slice(-4),
      removedFromCache: true,
      notices: [],
    })
    expect(await (await service.openCache('auto')).cache.list()).toEqual([])
    expect(await service.revokeGiven(given)).toMatchObject({ revoked: false, alreadyInvalid: true, removedFromCache: false })
  })

  it('logs out of everything: a token it cannot revoke stays cached and is reported', async () => {
    const d = deps()
    const service = createTokenService(d)
    await service.obtain({ settings: { scope: 'read_builds' } })
    await service.obtain({ settings: { scope: 'read_pipelines' } })
    // The API of one entry is unreachable (a closed port on 127.0.0.1).
    const outcome = await service.logoutAll({
      revoke: true,
      timeoutMs: 3000,
      apiUrlFor: (entry) => (entry.scopes.includes('read_pipelines') ? 'http://127.0.0.1:9' : world.server.url),
    })
    expect(outcome.revoked.map((e) => e.scopes)).toEqual([['read_builds']])
    expect(outcome.failed.map((f) => [f.entry.scopes, f.error.code])).toEqual([[['read_pipelines'], 'BKTX_NETWORK']])
    const left = await (await service.openCache('auto')).cache.list()
    expect(left.map((e) => e.scopes)).toEqual([['read_pipelines']])
  })

  it('keeps one entry per scope set: another set is another exchange', async () => {
    const d = deps()
    await obtainToken({ settings: { scope: 'read_builds' } }, d)
    expect((await obtainToken({ settings: { scope: 'read_pipelines' } }, d)).result.cached).toBe(false)
    expect((await obtainToken({ settings: { scope: 'read_builds' } }, d)).result.cached).toBe(true)
    expect(minted()).toBe(2)
  })
})
