/**
 * Property-based fuzzing (fast-check) of everything that parses untrusted or hand-written input:
 * the token endpoint's form parser, JWT decoding and claim checks, the client and server config
 * loaders, the key/JWKS loader and duration parsing. The property is always the same: arbitrary
 * input gives a typed error or a valid result (checked against an independent oracle where one
 * is cheap to write), never another exception and never a hang (every run is timed).
 *
 * BKTX_FUZZ_RUNS multiplies the number of runs (e.g. 20 for a deeper local run); BKTX_FUZZ_SEED
 * replays a reported failure.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import fc from 'fast-check'
import { createLocalJWKSet, exportJWK, type JWK } from 'jose'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { parseConfig, PROFILE_NAME } from '../../src/config/file.js'
import { SETTING_NAMES, SETTINGS } from '../../src/config/settings.js'
import { ConfigError, KeyError, UnsupportedKeyError } from '../../src/errors.js'
import { parseKeys } from '../../src/keys/load.js'
import { authenticateClient, type ClientAuthContext } from '../../src/server/oauth/client-auth.js'
import { parseServerConfig, type App } from '../../src/server/config/config.js'
import { parseForm } from '../../src/server/oauth/form.js'
import { IpAllowList } from '../../src/server/ip.js'
import { OAuthError } from '../../src/server/oauth/oauth-error.js'
import { formatDuration, parseDuration } from '../../src/time/duration.js'
import { b64u, es256, jws, rs256, segment, writeFigures } from './support.js'

// Test and hook timeouts are kill timers, about ten times what a loaded 2-core machine needs:
// no test here bounds a duration.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 })

const MULTIPLIER = Number(process.env['BKTX_FUZZ_RUNS'] ?? '1') || 1
const SEED = process.env['BKTX_FUZZ_SEED'] === undefined ? undefined : Number(process.env['BKTX_FUZZ_SEED'])
/**
 * A run slower than this counts as a hang (catastrophic regex backtracking, loops). A kill
 * timer, not a speed target: a run takes well under 10 ms, a hang far longer than 10 s, and a
 * loaded machine stretches the first by a factor of ten at most. The slowest run is a figure.
 */
const HANG_MS = 10_000

const figures = { properties: 0, runs: 0, slowestRunMs: 0 }

function params(numRuns: number): fc.Parameters<unknown> {
  figures.properties++
  figures.runs += numRuns * MULTIPLIER
  return { numRuns: numRuns * MULTIPLIER, timeout: HANG_MS, ...(SEED === undefined ? {} : { seed: SEED }) }
}

/** Runs `fn`, timing it; a synchronous call that takes longer than HANG_MS fails the property. */
function timed<T>(fn: () => T): T {
  const started = performance.now()
  const settle = () => {
    const ms = performance.now() - started
    figures.slowestRunMs = Math.max(figures.slowestRunMs, ms)
    return ms
  }
  let value: T
  try {
    value = fn()
  } catch (error) {
    settle()
    throw error
  }
  const ms = settle()
  if (ms > HANG_MS) throw new Error(`took ${Math.round(ms)} ms`)
  return value
}

async function timedAsync<T>(fn: () => Promise<T>): Promise<T> {
  const started = performance.now()
  try {
    return await fn()
  } finally {
    figures.slowestRunMs = Math.max(figures.slowestRunMs, performance.now() - started)
  }
}

/** Values that break naive code: prototype names, objects whose String() throws, extremes. */
const hostile: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  JSON.parse('{"toString":1}'),
  JSON.parse('{"__proto__":{"polluted":true}}'),
  JSON.parse('{"valueOf":null,"toString":null}'),
  '__proto__',
  'constructor',
  'toString',
  '',
  ' ',
  '\u0000',
  '\ud800',
  'x'.repeat(10_000),
  -0,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  0.1,
  [],
  {},
  [[[[[]]]]],
  null,
  true,
)
const anyJson: fc.Arbitrary<unknown> = fc.oneof({ weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) }, { weight: 2, arbitrary: hostile })
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme-ascii', maxLength: 300 }), fc.string({ maxLength: 40 }))

afterAll(() => {
  writeFigures('fuzz', { properties: figures.properties, runs: figures.runs, slowest_run_ms: Math.round(figures.slowestRunMs) })
})

// ---------------------------------------------------------------------------------------------

describe('form parser (src/server/form.ts)', () => {
  const formish = fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom('grant_type', 'scope', 'client_assertion', 'audience', ''), fc.string({ maxLength: 12 })),
        fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('%', '%zz', '%00', '%C3%A9', '%F0%9F', '+', '&', '=', '==')),
      ),
      { maxLength: 8 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))

  it('gives a Map without empty values or an invalid_request OAuthError, for any body', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, formish), (body) => {
        let parsed: Map<string, string>
        try {
          parsed = timed(() => parseForm(body))
        } catch (error) {
          if (!(error instanceof OAuthError)) throw error
          expect(error.error).toBe('invalid_request')
          expect(error.status).toBe(400)
          expect(error.description).toMatch(/^Parameter `[a-z_]{1,40}` must not be included more than once$/)
          return
        }
        for (const value of parsed.values()) expect(value).not.toBe('')
      }),
      params(2000),
    )
  })

  it('round-trips distinct parameters and refuses any repeated one', () => {
    // Well-formed strings: WHATWG encoding turns lone surrogates into U+FFFD on the client side.
    const entries = fc.uniqueArray(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string({ unit: 'grapheme', maxLength: 30 })), {
      selector: ([name]) => name,
      maxLength: 8,
    })
    fc.assert(
      fc.property(entries, fc.nat(), (pairs, pick) => {
        const wellFormed = pairs
        const names = new Set(wellFormed.map(([k]) => k))
        if (names.size !== wellFormed.length) return
        const body = new URLSearchParams(wellFormed).toString()
        expect(Object.fromEntries(parseForm(body))).toEqual(Object.fromEntries(wellFormed.filter(([, v]) => v !== '')))
        if (wellFormed.length === 0) return
        const repeated = wellFormed[pick % wellFormed.length] as [string, string]
        expect(() => parseForm(`${body}&${new URLSearchParams([repeated])}`)).toThrow(OAuthError)
      }),
      params(1000),
    )
  })
})

// ---------------------------------------------------------------------------------------------

describe('JWT decoding and claim checks (authenticateClient)', () => {
  const CLIENT = 'fuzz-client'
  const NOW = 1_900_000_000
  const AUD = 'http://127.0.0.1:8787/oauth/token'
  const ecPair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 })
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined
  const app: App = {
    clientId: CLIENT,
    org: 'acme',
    name: 'fuzz',
    jwks: undefined,
    jwksUri: undefined,
    grantableScopes: ['read_builds'],
    defaultScopes: ['read_builds'],
    maxTtl: 3600,
    exchangeIps: [],
    tokenIps: [],
  }
  const used = new Set<string>(['used-jti'])

  async function context(): Promise<ClientAuthContext> {
    if (keySet === undefined) {
      const ecJwk: JWK = { ...(await exportJWK(ecPair.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' }
      const rsaJwk: JWK = { ...(await exportJWK(rsaPair.publicKey)), kid: 'rsa' }
      keySet = createLocalJWKSet({ keys: [ecJwk, rsaJwk] })
    }
    const keys = keySet
    return {
      findApp: (id) => (id === CLIENT ? app : undefined),
      checkApp: () => undefined,
      keys: () => keys,
      audiences: new Set([AUD]),
      now: NOW,
      requireJti: () => false,
      isReplay: (_id, jti) => used.has(jti),
    }
  }

  /** Resolves with the verified assertion, or undefined when refused with invalid_client. */
  async function verdict(assertion: string): Promise<Awaited<ReturnType<typeof authenticateClient>> | undefined> {
    const ctx = await context()
    try {
      return await timedAsync(() => authenticateClient(assertion, ctx))
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error
      expect(error.error).toBe('invalid_client')
      expect(error.status).toBe(401)
      expect(typeof error.detail).toBe('string')
      return undefined
    }
  }

  it('refuses arbitrary strings and arbitrary unsigned structures with invalid_client', async () => {
    const b64 = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 120 })
    const structured = fc.tuple(anyJson, anyJson, fc.uint8Array({ maxLength: 300 })).map(([h, p, s]) => `${segment(h)}.${segment(p)}.${b64u(s)}`)
    const headerish = fc
      .record(
        { alg: fc.oneof(fc.constantFrom('ES256', 'RS256', 'none', 'HS256'), anyJson), kid: fc.oneof(fc.constantFrom('ec', 'rsa'), anyJson), typ: anyJson },
        { requiredKeys: [] },
      )
      .chain((h) => fc.tuple(fc.constant(h), anyJson, fc.uint8Array({ minLength: 64, maxLength: 64 })))
      .map(([h, p, s]) => `${segment(h)}.${segment(p)}.${b64u(s)}`)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          anyText,
          fc.tuple(b64, b64, b64).map((p) => p.join('.')),
          structured,
          headerish,
        ),
        async (assertion) => {
          expect(await verdict(assertion)).toBeUndefined()
        },
      ),
      params(1500),
    )
  })

  // An independent oracle for the claim rules (docs/token-exchange.md §2, §9), applied to validly signed
  // assertions whose claims are drawn from values near each boundary and values of every type.
  const around = (t: number): fc.Arbitrary<unknown> =>
    fc.oneof(
      { weight: 10, arbitrary: fc.integer({ min: -30, max: 30 }).map((d) => t + d) },
      { weight: 4, arbitrary: fc.integer({ min: -400, max: 400 }).map((d) => t + d) },
      { weight: 1, arbitrary: fc.double({ min: t - 400, max: t + 400, noNaN: true }) },
      { weight: 1, arbitrary: anyJson },
    )
  const claimArb = fc.record(
    {
      iss: fc.oneof({ weight: 8, arbitrary: fc.constant(CLIENT) }, { weight: 1, arbitrary: anyJson }),
      sub: fc.oneof({ weight: 8, arbitrary: fc.constant(CLIENT) }, { weight: 1, arbitrary: anyJson }),
      aud: fc.oneof(
        { weight: 6, arbitrary: fc.constant(AUD) },
        { weight: 1, arbitrary: fc.constant([AUD]) },
        { weight: 1, arbitrary: fc.array(fc.constantFrom(AUD, 'x'), { maxLength: 3 }) },
        { weight: 1, arbitrary: anyJson },
      ),
      iat: fc.oneof({ weight: 12, arbitrary: around(NOW) }, { weight: 1, arbitrary: fc.constant(undefined) }),
      exp: fc.oneof({ weight: 12, arbitrary: around(NOW + 60) }, { weight: 1, arbitrary: fc.constant(undefined) }),
      nbf: fc.option(around(NOW), { freq: 2, nil: undefined }),
      jti: fc.oneof(
        { weight: 6, arbitrary: fc.uuid() },
        { weight: 1, arbitrary: fc.constantFrom('used-jti', '', 'é'.repeat(127), 'é'.repeat(128)) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 120, maxLength: 140 }) },
        { weight: 1, arbitrary: anyJson },
      ),
    },
    { requiredKeys: ['iss', 'sub', 'aud', 'iat', 'exp'] },
  )

  function oracle(c: Record<string, unknown>): boolean {
    const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
    if (c['iss'] !== CLIENT || c['sub'] !== CLIENT) return false
    const { exp, iat, nbf, aud, jti } = c
    if (!num(exp) || exp <= NOW - 15) return false
    if (!num(iat) || iat > NOW + 15 || exp - iat > 300) return false
    if (nbf !== undefined && (!num(nbf) || nbf > NOW + 15)) return false
    if (!(aud === AUD || (Array.isArray(aud) && aud.length === 1 && aud[0] === AUD))) return false
    if (jti !== undefined && (typeof jti !== 'string' || jti === '' || Buffer.byteLength(jti) > 255 || jti === 'used-jti')) return false
    return true
  }

  it('accepts a validly signed assertion exactly when its claims satisfy the rules', async () => {
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(claimArb, fc.boolean(), async (claims, useRsa) => {
        const assertion = useRsa
          ? jws({ alg: 'RS256', typ: 'JWT', kid: 'rsa' }, claims, rs256(rsaPair.privateKey))
          : jws({ alg: 'ES256', typ: 'JWT', kid: 'ec' }, claims, es256(ecPair.privateKey))
        const result = await verdict(assertion)
        expect(result !== undefined).toBe(oracle(claims))
        if (result !== undefined) {
          accepted++
          expect(result.app.clientId).toBe(CLIENT)
          expect(result.kid).toBe(useRsa ? 'rsa' : 'ec')
        }
      }),
      params(800),
    )
    // The oracle must have seen both outcomes, or the property proves little.
    expect(accepted).toBeGreaterThan(10)
  })

  const extras: Record<string, unknown> = {
    jku: 'http://127.0.0.1:1/jwks.json',
    x5u: 'http://127.0.0.1:1/cert',
    jwk: { kty: 'EC' },
    x5c: ['AA=='],
    crit: ['exp'],
    b64: false,
    cty: 'JWT',
    zip: 'DEF',
    enc: 'A256GCM',
    'x-private': true,
  }
  const headerArb = fc
    .tuple(
      fc.record(
        {
          alg: fc.oneof(
            { weight: 8, arbitrary: fc.constant('ES256') },
            { weight: 1, arbitrary: fc.constantFrom('RS256', 'none', 'HS256', 'ES384', 'es256') },
            { weight: 1, arbitrary: anyJson },
          ),
          typ: fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom('JWT', 'jwt', 'client-authentication+jwt', 'application/client-authentication+JWT', 'application/jwt') },
            { weight: 1, arbitrary: fc.constantFrom('JOSE', 'at+jwt', 'application/at+jwt', 'client-authentication', 'text/jwt') },
            { weight: 1, arbitrary: anyJson },
          ),
          kid: fc.oneof(
            { weight: 6, arbitrary: fc.constant('ec') },
            { weight: 1, arbitrary: fc.constantFrom('rsa', 'nope', '', 'EC') },
            { weight: 1, arbitrary: anyJson },
          ),
        },
        { requiredKeys: [] },
      ),
      fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.subarray(Object.keys(extras), { maxLength: 2 }) }),
    )
    .map(([head, names]) => ({ ...head, ...Object.fromEntries(names.map((n) => [n, extras[n]])) }))

  // Only alg, typ and kid may appear; typ is JWT or client-authentication+jwt (draft-ietf-oauth-rfc7523bis),
  // case-insensitive, with or without `application/`.
  function headerOracle(h: Record<string, unknown>): boolean {
    if (h['alg'] !== 'ES256') return false
    if (Object.keys(h).some((name) => !['alg', 'typ', 'kid'].includes(name))) return false
    if (h['kid'] !== undefined && (typeof h['kid'] !== 'string' || h['kid'] === '')) return false
    const typ = h['typ']
    if (typ !== undefined && (typeof typ !== 'string' || !['jwt', 'client-authentication+jwt'].includes(typ.toLowerCase().replace(/^application\//, ''))))
      return false
    return h['kid'] === undefined || h['kid'] === 'ec'
  }

  it('accepts a validly signed assertion exactly when its header is allowed', async () => {
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(headerArb, async (header) => {
        const assertion = jws(header, { iss: CLIENT, sub: CLIENT, aud: AUD, iat: NOW, exp: NOW + 60, jti: randomUUID() }, es256(ecPair.privateKey))
        const result = await verdict(assertion)
        expect(result !== undefined).toBe(headerOracle(header))
        if (result !== undefined) accepted++
      }),
      params(600),
    )
    expect(accepted).toBeGreaterThan(5)
  })
})

// ---------------------------------------------------------------------------------------------

describe('client config loader (src/config/file.ts parseConfig)', () => {
  const settingValue = fc.oneof(
    fc.constantFrom(
      'https://buildkite.com/oauth/token',
      'http://user:pw@x/',
      'acme',
      'Acme',
      'email',
      'uuid',
      '15m',
      '90',
      '1e3',
      'read_builds read_user',
      'x',
      ' x',
    ),
    fc.string({ maxLength: 30 }),
    fc.integer(),
    anyJson,
  )
  const profile = fc.dictionary(
    fc.oneof(
      fc.constantFrom(...SETTING_NAMES),
      fc.string({ maxLength: 10 }),
      hostile.filter((v): v is string => typeof v === 'string'),
    ),
    settingValue,
    { maxKeys: 6 },
  )
  const document = fc.oneof(
    fc.record(
      {
        profiles: fc.dictionary(
          fc.oneof(fc.constantFrom('default', 'ci', 'a.b', '-x', '__proto__', 'toString'), fc.string({ maxLength: 70 })),
          fc.oneof(profile, anyJson),
          { maxKeys: 4 },
        ),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 3 }),
    anyJson,
  )

  it('gives a validated ConfigFile or a ConfigError naming the file, for any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyText,
          document.map((d) => JSON.stringify(d) ?? 'undefined'),
        ),
        (text) => {
          let config: ReturnType<typeof parseConfig>
          try {
            config = timed(() => parseConfig(text, '/fuzz/config.json'))
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error
            expect(error.message).toMatch(/^config file \/fuzz\/config\.json/)
            return
          }
          for (const [name, settings] of Object.entries(config.profiles)) {
            expect(name).toMatch(PROFILE_NAME)
            for (const [key, value] of Object.entries(settings)) {
              expect(SETTING_NAMES).toContain(key)
              expect(typeof value).toBe('string')
              // Validation is a normalisation: applying it again changes nothing.
              expect(SETTINGS[key as (typeof SETTING_NAMES)[number]].validate(value as string)).toBe(value)
            }
          }
        },
      ),
      params(1500),
    )
  })
})

// ---------------------------------------------------------------------------------------------

describe('server config loader (parseServerConfig)', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  let base: Record<string, unknown> | undefined

  async function baseDoc(): Promise<Record<string, unknown>> {
    base ??= {
      organizations: [
        {
          slug: 'acme',
          require_jti: true,
          rate_limit: 60,
          members: [{ email: 'dev@acme.test', uuid: '11111111-2222-4333-8444-555555555555', verified: true, active: true, name: 'Dev' }],
        },
        { slug: 'other', token_exchange_enabled: false, members: [] },
      ],
      apps: [
        {
          client_id: '0123456789abcdef0123',
          org: 'acme',
          name: 'ci',
          jwks: {
            keys: [
              { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
              { ...(await exportJWK(rsa.publicKey)), kid: 'rsa' },
            ],
          },
          grantable_scopes: ['read_builds', 'read_pipelines'],
          default_scopes: ['read_builds'],
          max_ttl: 3600,
          exchange_ips: ['10.0.0.0/8', '::1'],
          token_ips: [],
        },
        { client_id: 'uri', org: 'other', jwks_uri: 'https://example.test/jwks.json', grantable_scopes: 'read_builds' },
      ],
      audiences: ['https://buildkite.com/oauth/token'],
      allow_http_jwks: false,
    }
    return base
  }

  /** Every path into a JSON document, so a mutation can reach any field. */
  function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
    const out: Array<Array<string | number>> = [prefix]
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        out.push(...paths(v, [...prefix, i]))
      })
    } else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]))
    return out
  }

  function mutate(doc: unknown, edits: Array<[number, unknown, 'set' | 'delete' | 'add']>): unknown {
    const copy = structuredClone(doc) as Record<string, unknown>
    for (const [pick, replacement, how] of edits) {
      let value = replacement
      const all = paths(copy).filter((p) => p.length > 0)
      const path = all[pick % all.length] as Array<string | number>
      let parent: any = copy
      for (const step of path.slice(0, -1)) parent = parent[step]
      const last = path[path.length - 1] as string | number
      value = structuredClone(value)
      if (how === 'delete') {
        if (Array.isArray(parent)) parent.splice(Number(last), 1)
        else delete parent[last]
      } else if (how === 'add' && typeof parent === 'object' && parent !== null && !Array.isArray(parent)) {
        parent[`extra_${String(last)}`] = value
      } else {
        parent[last] = value
      }
    }
    return copy
  }

  const jwkMember = fc.oneof(
    fc.base64String({ maxLength: 60 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')),
    anyJson,
  )
  const randomJwk = fc.record(
    {
      kty: fc.oneof(fc.constantFrom('EC', 'RSA', 'oct', 'OKP'), anyJson),
      crv: fc.oneof(fc.constantFrom('P-256', 'P-384', 'Ed25519'), anyJson),
      x: jwkMember,
      y: jwkMember,
      n: jwkMember,
      e: fc.oneof(fc.constant('AQAB'), jwkMember),
      kid: fc.oneof(fc.constant('k'), anyJson),
      alg: anyJson,
      use: anyJson,
      d: jwkMember,
    },
    { requiredKeys: [] },
  )

  it('gives a validated configuration or a ConfigError, for any document or mutation of a valid one', async () => {
    const doc = await baseDoc()
    const edit = fc.tuple(fc.nat(), fc.oneof(anyJson, randomJwk), fc.constantFrom<'set' | 'delete' | 'add'>('set', 'set', 'delete', 'add'))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 1, arbitrary: anyJson },
          { weight: 5, arbitrary: fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => mutate(doc, edits)) },
        ),
        async (input) => {
          let config: Awaited<ReturnType<typeof parseServerConfig>>
          try {
            config = await timedAsync(() => parseServerConfig(input, 'fuzz.json'))
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error
            expect(error.message).toMatch(/^config file fuzz\.json/)
            return
          }
          for (const app of config.apps) {
            expect(app.maxTtl).toBeGreaterThanOrEqual(30)
            expect(app.maxTtl).toBeLessThanOrEqual(86400)
            for (const s of app.defaultScopes) expect(app.grantableScopes).toContain(s)
            expect((app.jwks === undefined) !== (app.jwksUri === undefined)).toBe(true)
            for (const key of app.jwks?.keys ?? []) expect(key).not.toHaveProperty('d')
            // What the server builds from a valid configuration must not throw either.
            new IpAllowList(app.exchangeIps).allows('127.0.0.1')
            new IpAllowList(app.tokenIps).allows('::1')
            expect(config.organizations.some((o) => o.slug === app.org)).toBe(true)
          }
        },
      ),
      params(700),
    )
  })
})

// ---------------------------------------------------------------------------------------------

describe('key and JWKS loader (src/keys/load.ts parseKeys)', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pems = [
    ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString(),
    ec.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
    rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
  ]
  const jwkOf = (key: KeyObject): JWK => key.export({ format: 'jwk' }) as JWK
  const jwks = [jwkOf(ec.publicKey), jwkOf(ec.privateKey), jwkOf(rsa.publicKey)]

  /** A real key, then damaged: a character replaced, a slice cut, a member replaced. */
  const damagedPem = fc.tuple(fc.constantFrom(...pems), fc.nat(), fc.string({ maxLength: 3 }), fc.boolean()).map(([pem, at, text, cut]) => {
    const i = at % pem.length
    return cut ? pem.slice(0, i) : pem.slice(0, i) + text + pem.slice(i + 1)
  })
  const damagedJwk = fc
    .tuple(fc.constantFrom(...jwks), fc.constantFrom('kty', 'crv', 'x', 'y', 'n', 'e', 'd', 'kid', 'alg', 'use', 'key_ops'), anyJson, fc.boolean())
    .map(([jwk, member, value, asSet]) => {
      const out = { ...jwk, [member]: value }
      return JSON.stringify(asSet ? { keys: [out, jwk] } : out)
    })
  const pemBlock = fc
    .tuple(
      fc.constantFrom('PRIVATE KEY', 'PUBLIC KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'CERTIFICATE', 'ENCRYPTED PRIVATE KEY'),
      fc.base64String({ maxLength: 400 }),
    )
    .map(([label, body]) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`)

  it('gives RS256/ES256 keys with only public members published, or a KeyError, for any text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          anyText,
          anyJson.map((j) => JSON.stringify(j) ?? ''),
          damagedPem,
          damagedJwk,
          pemBlock,
        ),
        fc.option(fc.string({ maxLength: 8 })),
        async (text, kid) => {
          let keys: Awaited<ReturnType<typeof parseKeys>>
          try {
            keys = await timedAsync(() => parseKeys(text, 'fuzz-key', kid === null ? {} : { kid }))
          } catch (error) {
            if (!(error instanceof KeyError) && !(error instanceof UnsupportedKeyError)) throw error
            // Error messages never quote the key text.
            if (text.length > 40) expect(error.message).not.toContain(text.slice(0, 40))
            return
          }
          expect(keys.length).toBeGreaterThan(0)
          for (const key of keys) {
            expect(['RS256', 'ES256']).toContain(key.alg)
            expect(typeof key.kid).toBe('string')
            expect(Object.keys(key.publicJwk).sort()).toEqual(
              key.alg === 'ES256' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] : ['alg', 'e', 'kid', 'kty', 'n', 'use'],
            )
          }
        },
      ),
      params(1500),
    )
  })
})

// ---------------------------------------------------------------------------------------------

describe('durations (src/time/duration.ts)', () => {
  it('parseDuration gives a safe whole number of seconds or undefined, for any text', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.stringMatching(/^[0-9]{0,12}[smhdSMHD ]?[0-9]?$/)), (text) => {
        const seconds = timed(() => parseDuration(text))
        if (seconds === undefined) return
        expect(Number.isSafeInteger(seconds) && seconds >= 0).toBe(true)
        expect(text).toMatch(/^\d{1,9}[smhd]?$/)
      }),
      params(3000),
    )
  })

  it('parseDuration is exact for every number and unit it accepts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999 }), fc.constantFrom(['', 1], ['s', 1], ['m', 60], ['h', 3600], ['d', 86400]), (n, [unit, factor]) => {
        expect(parseDuration(`${n}${unit}`)).toBe(n * (factor as number))
      }),
      params(1000),
    )
  })

  it('formatDuration never throws, and for whole seconds sums back to its input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat({ max: 10 * 365 * 86400 }), fc.double()), (value) => {
        const text = timed(() => formatDuration(value))
        expect(typeof text).toBe('string')
        if (!Number.isSafeInteger(value) || value < 60) return
        const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text)
        expect(match).not.toBeNull()
        const [, h = '0', m = '0', s = '0'] = match as RegExpExecArray
        expect(Number(h) * 3600 + Number(m) * 60 + Number(s)).toBe(value)
      }),
      params(2000),
    )
  })
})
