import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryAuditSink, type AuditRecord } from '../../../src/server/state/audit.js'
import { isCanonical } from '../../../src/server/oauth/client-auth.js'
import { parseServerConfig, stableUuid } from '../../../src/server/config/config.js'
import { parseForm } from '../../../src/server/oauth/form.js'
import { IpAllowList } from '../../../src/server/ip.js'
import { jsonProblem } from '../../../src/server/oauth/json-strict.js'
import { OAuthError } from '../../../src/server/oauth/oauth-error.js'
import { emptyAudit } from '../../../src/server/oauth/token-endpoint.js'
import { RateLimiter } from '../../../src/server/rate-limit.js'
import { parseScopeParam } from '../../../src/server/scopes.js'
import { ExpiryQueue, newToken, newUuid, type RandomPool, TokenStore } from '../../../src/server/state/store.js'
import { baseConfig, testKey } from '../../helpers/server.js'

describe('IpAllowList', () => {
  it('allows everyone when empty', () => {
    expect(new IpAllowList([]).allows('203.0.113.9')).toBe(true)
  })

  it('matches IPv4 and IPv6 addresses and ranges, and IPv4-mapped IPv6 remotes', () => {
    const list = new IpAllowList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'])
    expect(list.allows('10.255.0.1')).toBe(true)
    expect(list.allows('::ffff:10.1.2.3')).toBe(true)
    expect(list.allows('192.0.2.7')).toBe(true)
    expect(list.allows('192.0.2.8')).toBe(false)
    expect(list.allows('2001:db8::1')).toBe(true)
    expect(list.allows('2001:db9::1')).toBe(false)
    expect(list.allows(undefined)).toBe(false)
    expect(list.allows('not an ip')).toBe(false)
  })
})

describe('parseScopeParam (RFC 6749 §3.3)', () => {
  it('splits on single spaces, dedupes and sorts', () => {
    expect(parseScopeParam('read_pipelines read_builds read_builds')).toEqual(['read_builds', 'read_pipelines'])
  })

  it.each(['read_builds  read_pipelines', ' read_builds', 'read_builds ', 'read_builds\tread_pipelines', 'read_builds\nx', 'a"b', 'a\\b'])(
    'rejects %j',
    (value) => {
      expect(parseScopeParam(value)).toBeUndefined()
    },
  )
})

describe('jsonProblem', () => {
  it('finds duplicate members at any depth, not in arrays', () => {
    expect(jsonProblem('{"a":1,"a":2}')).toMatch(/duplicate member "a"/)
    expect(jsonProblem('{"x":{"b":1,"b":1}}')).toMatch(/duplicate/)
    expect(jsonProblem('{"a":["a","a"],"b":"a"}')).toBeUndefined()
    expect(jsonProblem('{"\\u0061":1,"a":2}')).toMatch(/duplicate/)
    expect(jsonProblem('{"a":"\\"a\\"","b":1}')).toBeUndefined()
  })

  // A name without escapes is read from the text itself, not through JSON.parse: what it reads
  // must be what JSON.parse would, including where JSON.parse refuses the name.
  it('reads member names as JSON.parse does, with or without escapes', () => {
    expect(jsonProblem('{"a\\"b":1,"a\\u0022b":2}')).toBe('duplicate member "a"b"')
    expect(jsonProblem('{"ab":1,"a\\u0062":2}')).toBe('duplicate member "ab"')
    expect(jsonProblem('{"a":1,"\\u0061\\u0062":2,"b":3}')).toBeUndefined()
    // Not JSON (the server calls this only after JSON.parse took the text), still the same answer:
    // a raw control character in a name is no JSON string.
    expect(jsonProblem('{"a\u0001b":1}')).toBe('malformed member name')
  })

  it('limits nesting without recursion', () => {
    expect(jsonProblem(`${'['.repeat(100000)}${']'.repeat(100000)}`)).toMatch(/nesting/)
  })
})

describe('audit record times', () => {
  // The ISO text of a time is remembered for the next record of the same millisecond (or second):
  // each record must still carry its own time, fractions of a millisecond cut as Date cuts them.
  it("are each record's own, in any order, whole seconds and fractions alike", () => {
    const times = [1765000000.0005, 1765000000.001, 1765000000.0019, 1765000001, 1765000000.001, 1765000000, 1765000001.9999, 1765000001]
    for (const now of times) expect(emptyAudit(now, undefined).time).toBe(new Date(Math.trunc(now * 1000)).toISOString())
    expect(emptyAudit(1765000000.0019, undefined).time).toBe('2025-12-06T05:46:40.001Z')
  })
})

describe('parseForm (RFC 6749 §3.2)', () => {
  it('treats empty values as omitted and refuses repeated parameters', () => {
    expect([...parseForm('a=1&b=&c=x+y%20z')]).toEqual([
      ['a', '1'],
      ['c', 'x y z'],
    ])
    expect(() => parseForm('a=1&a=2')).toThrow(OAuthError)
    expect(() => parseForm('a=&a=2')).toThrow(/more than once/)
  })
})

describe('RateLimiter', () => {
  it('counts per organisation in one-minute windows', () => {
    const limiter = new RateLimiter()
    expect(limiter.take('a', 2, 120).allowed).toBe(true)
    expect(limiter.take('a', 2, 130).allowed).toBe(true)
    const third = limiter.take('a', 2, 150)
    expect(third).toEqual({ allowed: false, limit: 2, current: 3, remaining: 0, reset: 30 })
    expect(limiter.take('b', 2, 150).allowed).toBe(true)
    expect(limiter.take('a', 2, 180).allowed).toBe(true)
  })
})

describe('tokens', () => {
  it('are bktx_ plus 43 base62 characters, all distinct', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => newToken()))
    expect(tokens.size).toBe(1000)
    for (const token of tokens) expect(token).toMatch(/^bktx_[0-9A-Za-z]{43}$/)
  })

  it('take one character per random byte below 248, in order, skipping the rest', () => {
    const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 43, maxLength: 120 }), (bytes) => {
        fc.pre(bytes.filter((b) => b < 248).length >= 43)
        let next = 0
        const random = { byte: () => bytes[next++] as number } as RandomPool
        let expected = 'bktx_'
        for (const byte of bytes) if (byte < 248 && expected.length < 48) expected += BASE62[byte % 62]
        expect(newToken(random)).toBe(expected)
      }),
    )
  })

  it('a uuid is RFC 9562 version 4 from sixteen random bytes, lowercase, as crypto.randomUUID writes it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        let next = 0
        const random = { byte: () => bytes[next++] as number } as RandomPool
        const expected = Buffer.from(bytes)
        expected[6] = ((expected[6] as number) & 0x0f) | 0x40
        expected[8] = ((expected[8] as number) & 0x3f) | 0x80
        const hex = expected.toString('hex')
        const uuid = newUuid(random)
        expect(uuid).toBe(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`)
        expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      }),
    )
  })

  it('the store caps live tokens and jtis, and sweeps expired ones', () => {
    const store = new TokenStore({ limits: { maxTokens: 2, maxJtis: 10 } })
    const fields = { org: 'o', clientId: 'c', user: { uuid: 'u', email: 'e', name: 'n' }, scopes: [], description: '', createdAt: 0, expiresAt: 100 }
    store.mint(fields, { clientId: 'c', jti: 'j1', until: 50 }, 0)
    store.mint(fields, undefined, 0)
    expect(store.hasRoom(10)).toBe(false)
    expect(store.isReplay('c', 'j1', 10)).toBe(true)
    expect(store.hasRoom(101)).toBe(true)
    expect(store.size).toEqual({ tokens: 0, jtis: 0 })
  })

  it('sweeps exactly what has expired, whatever order the expiries were minted in', () => {
    const store = new TokenStore()
    const fields = (expiresAt: number) => ({
      org: 'o',
      clientId: 'c',
      user: { uuid: 'u', email: 'e', name: 'n' },
      scopes: [],
      description: '',
      createdAt: 0,
      expiresAt,
    })
    const minted = [300, 100, 200, 100, 400].map((expiresAt, n) =>
      store.mint(fields(expiresAt), { clientId: n % 2 ? 'c' : 'd', jti: `j${n}`, until: expiresAt }, 0),
    )
    const token = (n: number) => minted[n]?.token as string
    store.sweep(100)
    // A token is dead at its expiresAt (find), a jti only after its until (isReplay).
    expect(store.size).toEqual({ tokens: 3, jtis: 5 })
    expect(store.find(token(0), 100)).toBeDefined()
    expect(store.isReplay('c', 'j1', 100)).toBe(true)
    expect(store.isReplay('c', 'j1', 101)).toBe(false)
    expect(store.isReplay('c', 'j3', 101)).toBe(false)
    // A jti used again once expired, before a sweep, has a new life; its first queue entry must not end it.
    expect(store.mint(fields(1000), { clientId: 'c', jti: 'j1', until: 900 }, 101)).toBeDefined()
    store.sweep(101)
    expect(store.size).toEqual({ tokens: 4, jtis: 4 })
    store.sweep(350)
    expect(store.size).toEqual({ tokens: 2, jtis: 2 })
    expect(store.isReplay('c', 'j1', 350)).toBe(true)
    expect(store.find(token(4), 350)).toBeDefined()
    expect(store.find(token(0), 350)).toBeUndefined()
    store.sweep(901)
    expect(store.size).toEqual({ tokens: 1, jtis: 0 })
  })

  it('the expiry queue pops in time order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), fc.integer({ min: 0, max: 50 }), (times, now) => {
        const queue = new ExpiryQueue<number>()
        for (const [n, time] of times.entries()) queue.push(time, n)
        const popped: number[] = []
        for (let key = queue.popUntil(now, true); key !== undefined; key = queue.popUntil(now, true)) popped.push(times[key] as number)
        expect(popped).toEqual(times.filter((t) => t <= now).sort((a, b) => a - b))
        expect(queue.length).toBe(times.filter((t) => t > now).length)
      }),
    )
  })
})

describe('MemoryAuditSink', () => {
  // Without --state-dir this is the one log every refused request adds to; a flood must not
  // grow it without end.
  it('keeps at most the last 10,000 records', async () => {
    const sink = new MemoryAuditSink()
    const record = (n: number): AuditRecord => ({
      time: String(n),
      type: 'token.exchange_failed',
      org: null,
      client_id: null,
      user: null,
      kid: null,
      jti: null,
      scopes: null,
      expires_at: null,
      ip: null,
      token_sha256: null,
      error: 'invalid_client',
      detail: null,
    })
    let most = 0
    for (let n = 0; n < 25_000; n++) {
      await sink.write(record(n))
      most = Math.max(most, sink.records.length)
    }
    expect(most).toBe(10_000)
    expect(sink.records.at(-1)?.time).toBe('24999')
  })
})

describe('parseServerConfig', () => {
  it.each([
    [(d: any) => (d.apps[0].org = 'nope'), 'apps[0].org', /no organisation "nope"/],
    [(d: any) => (d.apps[0].default_scopes = ['write_builds']), 'apps[0].default_scopes', /subset of grantable_scopes/],
    [(d: any) => (d.apps[0].grantable_scopes = ['read_everything']), 'apps[0].grantable_scopes', /not a Buildkite scope/],
    [(d: any) => (d.apps[0].max_ttl = 29), 'apps[0].max_ttl', /30 to 86400/],
    [(d: any) => (d.apps[0].token_ips = ['300.1.1.1']), 'apps[0].token_ips[0]', /not an IP/],
    [(d: any) => (d.apps[0].jwks.keys[0].d = 'secret'), 'apps[0].jwks.keys[0]', /private key material/],
    [(d: any) => delete d.apps[0].jwks.keys[0].kid, 'apps[0].jwks.keys[0].kid', /needs a kid/],
    [(d: any) => (d.apps[0].jwks.keys[0].alg = 'ES384'), 'apps[0].jwks.keys[0]', /ES384/],
    [(d: any) => (d.organizations[0].members[0].email = 'nobody'), 'organizations[0].members[0].email', /email/],
    [(d: any) => (d.apps[1].client_id = d.apps[0].client_id), 'apps[1].client_id', /duplicate client id/],
    [(d: any) => (d.extra = 1), 'extra', /not a known field/],
  ])('names the field of an invalid configuration (%#)', async (patch, field, problem) => {
    const key = await testKey()
    const error = await parseServerConfig(baseConfig(key, patch), 'server.json').catch((e: unknown) => e)
    expect((error as { field?: string }).field).toBe(field)
    expect((error as Error).message).toMatch(problem)
  })

  it('derives stable UUIDs', () => {
    expect(stableUuid('x')).toBe(stableUuid('x'))
    expect(stableUuid('x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})

describe('isCanonical (base64url spare bits, RFC 4648 §3.5)', () => {
  it('answers as decoding and re-encoding would, for any string of the alphabet', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 12 }).map((c) => c.join('')),
        (text) => {
          expect(isCanonical(text)).toBe(Buffer.from(text, 'base64url').toString('base64url') === text)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('accepts every encoding Node produces and refuses a set spare bit', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => isCanonical(Buffer.from(bytes).toString('base64url'))))
    expect(isCanonical('AB')).toBe(false) // 'B' sets one of the four spare bits of a 2-character tail
    expect(isCanonical('AQ')).toBe(true)
    expect(isCanonical('AAAAA')).toBe(false) // 4n+1 characters hold no whole last byte
  })
})
