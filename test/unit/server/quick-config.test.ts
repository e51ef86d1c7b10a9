import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../../src/errors.js'
import { loadServerConfigFile, MAX_SERVER_CONFIG_BYTES } from '../../../src/server/config/config-file.js'
import {
  asQuickOptionError,
  QUICK_CONFIG_SOURCE,
  QUICK_SERVER_DEFAULTS,
  quickConfigDocument,
  quickOptionOf,
  quickServerConfig,
  type QuickServerOptions,
} from '../../../src/server/config/quick-config.js'
import { baseConfig, testKey, type TestKey } from '../../helpers/server.js'

let key: TestKey
let dir: string
beforeAll(async () => {
  key = await testKey()
  dir = await mkdtemp(join(tmpdir(), 'bktx-server-config-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

function quick(patch: Partial<QuickServerOptions> = {}): QuickServerOptions {
  return {
    org: 'acme',
    members: ['dev@acme.test'],
    clientId: 'app-1',
    jwks: { keys: [key.publicJwk] },
    grantable: 'read_builds read_user',
    defaultScopes: 'read_builds',
    maxTtl: 600,
    ...patch,
  }
}

describe('quickConfigDocument', () => {
  it('is the one-org, one-app document of the options', () => {
    expect(quickConfigDocument(quick({ exchangeIps: '10.0.0.0/8', rateLimit: 5, requireJti: true, audiences: ['https://x.test/t'] }))).toEqual({
      organizations: [{ slug: 'acme', require_jti: true, rate_limit: 5, members: [{ email: 'dev@acme.test' }] }],
      apps: [
        {
          client_id: 'app-1',
          org: 'acme',
          name: 'bktx reference app',
          jwks: { keys: [key.publicJwk] },
          grantable_scopes: 'read_builds read_user',
          default_scopes: 'read_builds',
          max_ttl: 600,
          exchange_ips: '10.0.0.0/8',
          token_ips: [],
        },
      ],
      audiences: ['https://x.test/t'],
      allow_http_jwks: false,
    })
  })
})

describe('quickConfigDocument defaults', () => {
  it("fills grantable scopes, default scopes and max TTL as bktx server's flags default them", () => {
    const doc = quickConfigDocument({ ...quick(), grantable: undefined, defaultScopes: undefined, maxTtl: undefined }) as { apps: Record<string, unknown>[] }
    expect(doc.apps[0]).toMatchObject({
      grantable_scopes: QUICK_SERVER_DEFAULTS.grantable,
      default_scopes: QUICK_SERVER_DEFAULTS.defaultScopes,
      max_ttl: QUICK_SERVER_DEFAULTS.maxTtl,
    })
  })
})

describe('quickServerConfig', () => {
  it('validates into a server configuration', async () => {
    const config = await quickServerConfig(quick({ jwks: undefined, jwksUri: 'http://127.0.0.1:9/jwks', allowHttpJwks: true }))
    expect(config.apps[0]).toMatchObject({ clientId: 'app-1', jwksUri: 'http://127.0.0.1:9/jwks', grantableScopes: ['read_builds', 'read_user'], maxTtl: 600 })
    expect(config.organizations[0]?.members.map((m) => m.email)).toEqual(['dev@acme.test'])
  })

  it.each([
    [{ exchangeIps: '10.0.0.0/8, 10.0.0.0/99' }, 'apps[0].exchange_ips[1]', '"10.0.0.0/99" is not an IP address or CIDR range'],
    [{ defaultScopes: 'read_pipelines' }, 'apps[0].default_scopes', 'must be a subset of grantable_scopes (not: read_pipelines)'],
    [{ members: ['nobody'] }, 'organizations[0].members[0].email', 'must be an email address'],
    [{ maxTtl: 10 }, 'apps[0].max_ttl', 'must be an integer from 30 to 86400'],
    [{ audiences: ['not a url'] }, 'audiences[0]', 'must be an absolute URL'],
  ])('names the document field of a bad value as data (%#)', async (patch, field, problem) => {
    const error = await quickServerConfig(quick(patch)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect(error).toMatchObject({ file: QUICK_CONFIG_SOURCE, field, problem })
  })

  it.each([
    [{ exchangeIps: '10.0.0.0/99' }, 'exchangeIps'],
    [{ tokenIps: 'x' }, 'tokenIps'],
    [{ grantable: 'read_everything' }, 'grantable'],
    [{ defaultScopes: 'read_pipelines' }, 'defaultScopes'],
    [{ members: ['nobody'] }, 'members'],
    [{ org: 'Acme Inc' }, 'org'],
    [{ clientId: 'a b' }, 'clientId'],
    [{ maxTtl: 10 }, 'maxTtl'],
    [{ rateLimit: 0 }, 'rateLimit'],
    [{ audiences: ['not a url'] }, 'audiences'],
    [{ jwks: { keys: [] } }, 'jwks'],
    [{ jwks: undefined, jwksUri: 'http://127.0.0.1:9/jwks' }, 'jwksUri'],
  ] as const)('says which option a bad value came from (%#), and words it in option names', async (patch, option) => {
    const error = (await quickServerConfig(quick(patch as Partial<QuickServerOptions>)).catch((e: unknown) => e)) as ConfigError
    expect(error).toBeInstanceOf(ConfigError)
    expect(quickOptionOf(error)).toBe(option)
    const named = asQuickOptionError(error, 'quick')
    expect(named).toMatchObject({ code: 'BKTX_CONFIG_INVALID', field: `quick.${option}`, cause: error })
    expect(named.message).not.toMatch(/config file|_scopes|_ttl|_ips|_id\b|_uri/)
  })

  it('refuses an http JWKS URI unless allowed, with advice naming the option', async () => {
    const error = await quickServerConfig(quick({ jwks: undefined, jwksUri: 'http://127.0.0.1:9/jwks' })).catch((e: unknown) => e)
    expect(error).toMatchObject({
      field: 'apps[0].jwks_uri',
      problem: 'must be https://',
      advice: ['http:// to a loopback host needs ', { option: 'allow-http-jwks' }],
    })
    expect((error as Error).message).not.toMatch(/--/)
  })
})

describe('loadServerConfigFile', () => {
  it('reads and validates a file; allowHttpJwks adds what the file does not say', async () => {
    const path = join(dir, 'server.json')
    const doc = baseConfig(key, (d) => {
      d.apps[0].jwks_uri = 'http://127.0.0.1:9/jwks'
      delete d.apps[0].jwks
    })
    await writeFile(path, JSON.stringify(doc))
    await expect(loadServerConfigFile(path)).rejects.toMatchObject({ file: path, field: 'apps[0].jwks_uri' })
    const config = await loadServerConfigFile(path, { allowHttpJwks: true })
    expect(config.allowHttpJwks).toBe(true)
    expect(config.apps[0]?.jwksUri).toBe('http://127.0.0.1:9/jwks')
  })

  it.each([
    ['missing', async (path: string) => path, /^config file .*: cannot be read: /],
    ['a directory', async () => dir, /: is a directory, not a regular file$/],
    ['not JSON', async (path: string) => (await writeFile(path, '{'), path), /: is not valid JSON \(/],
    [
      'too large',
      async (path: string) => (await writeFile(path, ' '.repeat(MAX_SERVER_CONFIG_BYTES + 1)), path),
      /: is larger than 1 MiB; not a server configuration$/,
    ],
  ])('refuses a file that is %s, as a ConfigError naming it', async (name, make, message) => {
    const path = await make(join(dir, `${name.replace(/ /g, '-')}.json`))
    const error = await loadServerConfigFile(path).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect(error).toMatchObject({ file: path, field: undefined })
    expect((error as Error).message).toMatch(message)
  })
})
