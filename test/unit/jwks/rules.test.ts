import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { inspectJwks, PRIVATE_MEMBERS } from '../../../src/jwks/rules.js'
import { parseServerConfig } from '../../../src/server/config/config.js'
import { baseConfig, testKey } from '../../helpers/server.js'
import { rsaFixture } from '../../helpers/rsa-fixtures.js'

async function publicSet(...algs: Array<'ES256' | 'RS256'>) {
  const keys = await Promise.all(algs.map((alg, i) => testKey(alg, `k${i}`)))
  return { keys: keys.map((k) => k.publicJwk as Record<string, unknown>) }
}

function rsaJwk(bits: 2048 | 1024, kid: string): Record<string, unknown> {
  const { publicKey } = rsaFixture(bits)
  return { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }
}

// Each case: a broken document, where the problem is, and what is said about it.
const BROKEN: Array<[string, (set: { keys: Record<string, unknown>[] }) => unknown, string, RegExp]> = [
  ['not an object', () => [1], '', /must be an object/],
  ['no keys member', () => ({ kid: 'x' }), 'keys', /must be an array/],
  ['an empty set', () => ({ keys: [] }), 'keys', /at least one key/],
  ['a key that is not an object', (s) => ({ keys: [s.keys[0], 'key'] }), 'keys[1]', /must be an object/],
  ['an EC private member', (s) => ({ keys: [{ ...s.keys[0], d: 'AAAA' }] }), 'keys[0]', /private key material \(d\)/],
  ['RSA private members', (s) => ({ keys: [{ ...s.keys[1], p: 'AAAA', qi: 'AAAA' }, s.keys[0]] }), 'keys[0]', /private key material \(p, qi\)/],
  ['a symmetric key', () => ({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] }), 'keys[0]', /private key material \(k\)/],
  ['a key without kid', (s) => ({ keys: [{ ...s.keys[0], kid: undefined }] }), 'keys[0].kid', /needs a kid/],
  ['an empty kid', (s) => ({ keys: [{ ...s.keys[0], kid: '' }] }), 'keys[0].kid', /needs a kid/],
  ['a duplicate kid', (s) => ({ keys: [s.keys[0], { ...s.keys[1], kid: 'k0' }] }), 'keys[1].kid', /duplicate kid "k0"/],
  ['RSA of 1024 bits', () => ({ keys: [rsaJwk(1024, 'small')] }), 'keys[0]', /1024 bits.*at least 2048/],
  [
    'a P-384 key',
    () => ({ keys: [{ ...(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }) as object), kid: 'p384' }] }),
    'keys[0]',
    /P-384|secp384r1/,
  ],
  [
    'an Ed25519 key',
    () => ({ keys: [{ ...(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }) as object), kid: 'ed' }] }),
    'keys[0]',
    /ed25519.*only RS256/,
  ],
  ['use enc', (s) => ({ keys: [{ ...s.keys[0], use: 'enc' }] }), 'keys[0]', /"use" is "enc"/],
  ['alg of another family', (s) => ({ keys: [{ ...s.keys[0], alg: 'RS256' }] }), 'keys[0]', /"alg" RS256 does not match its ES256 key/],
  ['an algorithm Buildkite refuses', (s) => ({ keys: [{ ...s.keys[0], alg: 'ES384' }] }), 'keys[0]', /ES384.*only RS256 and ES256/],
  ['an RSA key with e = 1', (s) => ({ keys: [{ ...s.keys[1], e: 'AQ' }] }), 'keys[0]', /exponent 1/],
]

describe('inspectJwks (the rules of Buildkite for a JWKS)', () => {
  it('accepts ES256 and RS256 public keys with unique kids, and returns them', async () => {
    const set = await publicSet('ES256', 'RS256')
    const result = await inspectJwks(set)
    expect(result.problems).toEqual([])
    expect(result.keys.map((k) => [k.index, k.kid, k.alg])).toEqual([
      [0, 'k0', 'ES256'],
      [1, 'k1', 'RS256'],
    ])
  })

  it.each(BROKEN)('refuses %s', async (_name, make, at, problem) => {
    const doc = make(await publicSet('ES256', 'RS256'))
    const { problems } = await inspectJwks(doc)
    expect(problems[0]?.at).toBe(at)
    expect(problems[0]?.problem).toMatch(problem)
  })

  it('reports every broken key, not only the first, and keeps the good ones', async () => {
    const set = await publicSet('ES256', 'RS256', 'ES256')
    const { problems, keys } = await inspectJwks({ keys: [{ ...set.keys[0], d: 'x' }, set.keys[1], { ...set.keys[2], kid: 'k1' }] })
    expect(problems.map((p) => [p.at, p.reason])).toEqual([
      ['keys[0]', 'private-members'],
      ['keys[2].kid', 'duplicate-kid'],
    ])
    expect(keys.map((k) => k.kid)).toEqual(['k1'])
  })

  it('covers every private member of RFC 7518 §6', () => {
    expect([...PRIVATE_MEMBERS].sort()).toEqual(['d', 'dp', 'dq', 'k', 'oth', 'p', 'q', 'qi'])
  })

  // One set of rules: what jwks check and doctor refuse, the reference server refuses as an
  // app's inline JWKS, at the same place.
  it.each(BROKEN.filter(([name]) => name !== 'not an object' && name !== 'no keys member'))(
    'is what the reference server enforces: %s',
    async (_name, make, at, problem) => {
      const key = await testKey('ES256', 'k0')
      const set = await publicSet('ES256', 'RS256')
      const doc = baseConfig(key, (d) => (d.apps[0].jwks = make(set)))
      const error = (await parseServerConfig(doc, 'server.json').catch((e: unknown) => e)) as { field?: string; message: string }
      expect(error.field).toBe(`apps[0].jwks${at === '' ? '' : `.${at}`}`)
      expect(error.message).toMatch(problem)
    },
  )
})
