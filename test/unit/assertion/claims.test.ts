import { describe, expect, it } from 'vitest'
import { buildAssertionClaims } from '../../../src/assertion/claims.js'
import { parseClaimArgs } from '../../../src/cli/commands/sign.js'
import { SettingInvalidError, UsageError } from '../../../src/errors.js'

const base = { clientId: 'abc', audience: 'https://buildkite.com/oauth/token', now: 1_000, lifetime: 60, jti: 'j1' }

describe('buildAssertionClaims', () => {
  it('sets iss = sub = client id, aud, iat, exp and jti (docs/token-exchange.md §2)', () => {
    expect(buildAssertionClaims(base)).toEqual({ iss: 'abc', sub: 'abc', aud: base.audience, iat: 1000, exp: 1060, jti: 'j1' })
  })

  it.each([0, 301, 1.5, -1])('refuses lifetime %d', (lifetime) => {
    expect(() => buildAssertionClaims({ ...base, lifetime })).toThrow(SettingInvalidError)
  })

  it('accepts the 300 s maximum', () => {
    expect(buildAssertionClaims({ ...base, lifetime: 300 }).exp).toBe(1300)
  })

  it.each(['iss', 'sub', 'aud', 'iat', 'exp'])('refuses --claim %s', (claim) => {
    expect(() => buildAssertionClaims({ ...base, extra: { [claim]: 'x' } })).toThrow(/cannot set/)
  })

  it('lets --claim set jti and nbf, but not a jti over 255 bytes', () => {
    expect(buildAssertionClaims({ ...base, extra: { jti: 'mine', nbf: 999 } })).toMatchObject({ jti: 'mine', nbf: 999 })
    expect(() => buildAssertionClaims({ ...base, extra: { jti: 'x'.repeat(256) } })).toThrow(/255 bytes/)
    expect(() => buildAssertionClaims({ ...base, extra: { jti: '' } })).toThrow(/jti/)
  })
})

describe('parseClaimArgs', () => {
  it('parses JSON values and keeps other text as strings', () => {
    expect(parseClaimArgs(['n=5', 'b=true', 's=hello', 'o={"a":1}', 'eq=a=b'])).toEqual({ n: 5, b: true, s: 'hello', o: { a: 1 }, eq: 'a=b' })
  })

  it.each(['novalue', '=x'])('refuses %j', (arg) => {
    expect(() => parseClaimArgs([arg])).toThrow(UsageError)
  })
})
