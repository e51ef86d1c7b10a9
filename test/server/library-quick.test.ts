import { afterEach, describe, expect, it } from 'vitest'
import { startReferenceServer, type PublicJWK, type ReferenceServer } from '../../src/api/server.js'
import { QUICK_SERVER_DEFAULTS } from '../../src/server/config/quick-defaults.js'
import { CLIENT_ID, exchange, MEMBER, ORG, testKey, type RunningServer } from '../helpers/server.js'

// `startReferenceServer({ config: { quick } })` with only what identifies the app: the library
// applies the defaults `bktx server`'s flags have (src/server/config/quick-defaults.ts), and a
// bad value is named by the library's own option, not by the document field it went to.

let server: ReferenceServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

describe('startReferenceServer quick form', () => {
  it("starts with org, members, client id and keys alone, granting as bktx server's defaults do", async () => {
    const key = await testKey()
    server = await startReferenceServer({
      config: { quick: { org: ORG, members: [MEMBER], clientId: CLIENT_ID, jwks: { keys: [key.publicJwk as PublicJWK] } } },
    })
    const running = { url: server.url, tokenUrl: server.tokenUrl, key } as RunningServer
    const plain = await exchange(running)
    expect(plain.status).toBe(200)
    const granted = plain.json as { scope: string; expires_in: number }
    expect(granted.scope).toBe(QUICK_SERVER_DEFAULTS.defaultScopes)
    expect(granted.expires_in).toBe(QUICK_SERVER_DEFAULTS.maxTtl)
    const wide = await exchange(running, { scope: QUICK_SERVER_DEFAULTS.grantable })
    expect(wide.status).toBe(200)
    expect((wide.json as { scope: string }).scope.split(' ').sort()).toEqual(QUICK_SERVER_DEFAULTS.grantable.split(' ').sort())
  })

  it.each([
    [{ maxTtl: 10 }, 'config.quick.maxTtl', 'must be an integer from 30 to 86400'],
    [{ grantable: 'read_builds', defaultScopes: 'read_user' }, 'config.quick.defaultScopes', 'must be a subset of grantable (not: read_user)'],
    [{ members: ['nobody'] }, 'config.quick.members', 'must be an email address'],
    [{ exchangeIps: '10.0.0.0/99' }, 'config.quick.exchangeIps', '"10.0.0.0/99" is not an IP address or CIDR range'],
  ])('names a bad value by its option (%#)', async (patch, field, problem) => {
    const key = await testKey()
    const error = await startReferenceServer({
      config: { quick: { org: ORG, members: [MEMBER], clientId: CLIENT_ID, jwks: { keys: [key.publicJwk as PublicJWK] }, ...patch } },
    }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'BKTX_CONFIG_INVALID', field, problem, detail: { field } })
    expect((error as Error).message).toBe(`${field}: ${problem}`)
    expect((error as Error).message).not.toMatch(/config file|apps\[|_ttl|_scopes|_ips/)
  })
})
