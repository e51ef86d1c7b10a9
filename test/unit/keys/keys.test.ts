import { generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint } from 'jose'
import { describe, expect, it } from 'vitest'
import { describeError } from '../../../src/term/describe.js'
import { KeyError, SettingInvalidError, UnsupportedKeyError } from '../../../src/errors.js'
import { generateSigningKey } from '../../../src/keys/generate.js'
import { parseKeys } from '../../../src/keys/load.js'
import { rsaFixture } from '../../helpers/rsa-fixtures.js'

// RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
const RFC7638_KEY = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
}

describe('key ids', () => {
  it('computes the RFC 7638 §3.1 example thumbprint', async () => {
    expect(await calculateJwkThumbprint(RFC7638_KEY, 'sha256')).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  })

  it('keeps a JWK kid, and derives the thumbprint kid when the JWK has none', async () => {
    const [withKid] = await parseKeys(JSON.stringify(RFC7638_KEY), 'rfc.json')
    expect(withKid?.kid).toBe('2011-04-29')
    const { kid: _drop, ...noKid } = RFC7638_KEY
    const [derived] = await parseKeys(JSON.stringify(noKid), 'rfc.json')
    expect(derived?.kid).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
    expect(derived?.publicJwk).toEqual({ kty: 'RSA', kid: derived?.kid, use: 'sig', alg: 'RS256', n: RFC7638_KEY.n, e: 'AQAB' })
  })

  it('gives a generated key the thumbprint of its public JWK as kid', async () => {
    const key = await generateSigningKey({ alg: 'ES256' })
    const { kid, use: _use, alg: _alg, ...members } = key.publicJwk
    expect(kid).toBe(await calculateJwkThumbprint(members, 'sha256'))
    expect(key.privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
  })
})

describe('generateSigningKey', () => {
  it('refuses bits for ES256 and an RSA size it does not offer, as invalid options without flag names', async () => {
    const es = await generateSigningKey({ alg: 'ES256', bits: 2048 }).catch((e: unknown) => e)
    expect(es).toBeInstanceOf(SettingInvalidError)
    expect(es).toMatchObject({ setting: 'bits', source: 'flag', message: 'bits: applies to RS256 keys only' })
    expect(describeError(es as SettingInvalidError)).toBe('--bits: applies to RS256 keys only; leave it out, or use --alg RS256')
    const rsa = await generateSigningKey({ alg: 'RS256', bits: 1024 }).catch((e: unknown) => e)
    expect(rsa).toMatchObject({ setting: 'bits', message: 'bits: must be one of 2048, 3072, 4096' })
  })
})

describe('parseKeys', () => {
  it('reads a PKCS#8 PEM back to the same kid and public members', async () => {
    const key = await generateSigningKey({ alg: 'RS256', bits: 2048 })
    const [loaded] = await parseKeys(key.privatePem, 'k.pem')
    expect(loaded?.kid).toBe(key.kid)
    expect(loaded?.alg).toBe('RS256')
    expect(loaded?.publicJwk).toEqual(key.publicJwk)
    expect(loaded?.privateKey).toBeDefined()
  })

  it('never puts private members in the public JWK', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = privateKey.export({ format: 'jwk' })
    const [loaded] = await parseKeys(JSON.stringify(jwk), 'k.json')
    expect(Object.keys(loaded?.publicJwk ?? {}).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
  })

  it.each([
    ['P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, /only ES256 \(P-256\)/],
    ['Ed25519', () => generateKeyPairSync('ed25519').privateKey, /EdDSA keys/],
    ['RSA 1024', () => rsaFixture(1024).privateKey, /at least 2048 bits/],
  ])('refuses a %s key and says why', async (_name, make, reason) => {
    const pem = make().export({ format: 'pem', type: 'pkcs8' }).toString()
    const error = await parseKeys(pem, 'k.pem').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnsupportedKeyError)
    expect((error as Error).message).toMatch(reason)
  })

  it('refuses a corrupt PEM without quoting it', async () => {
    const key = await generateSigningKey({ alg: 'ES256' })
    const corrupt = key.privatePem.replace(/[A-Za-z]{8}/, 'AAAAAAAA')
    const error = await parseKeys(corrupt, 'bad.pem').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyError)
    expect((error as Error).message).not.toContain('AAAAAAAA')
  })

  it('refuses a JWK whose alg does not match its key', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = { ...publicKey.export({ format: 'jwk' }), alg: 'RS256' }
    await expect(parseKeys(JSON.stringify(jwk), 'k.json')).rejects.toThrow(/does not match/)
  })

  it('refuses a JWK with use "enc"', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = { ...publicKey.export({ format: 'jwk' }), use: 'enc' }
    await expect(parseKeys(JSON.stringify(jwk), 'k.json')).rejects.toThrow(KeyError)
  })

  it('refuses an HS256 secret JWK', async () => {
    await expect(parseKeys(JSON.stringify({ kty: 'oct', k: 'c2VjcmV0', alg: 'HS256' }), 'k.json')).rejects.toThrow()
  })

  it('reads every key of a JWKS', async () => {
    const a = await generateSigningKey({ alg: 'ES256' })
    const b = await generateSigningKey({ alg: 'ES256' })
    const keys = await parseKeys(JSON.stringify({ keys: [a.publicJwk, b.publicJwk] }), 'set.json')
    expect(keys.map((k) => k.kid)).toEqual([a.kid, b.kid])
  })

  it('refuses one kid for a JWKS of several keys, with advice naming the kid setting', async () => {
    const a = await generateSigningKey({ alg: 'ES256' })
    const b = await generateSigningKey({ alg: 'ES256' })
    const error = await parseKeys(JSON.stringify({ keys: [a.publicJwk, b.publicJwk] }), 'set.json', { kid: 'x' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyError)
    expect(error).toMatchObject({ message: 'set.json: one kid was given for a JWKS of 2 keys', detail: { setting: 'kid' } })
    expect(describeError(error as KeyError)).toBe(
      'set.json: one kid was given for a JWKS of 2 keys; --kid names a single key: give a key file that holds one, or no kid',
    )
  })
})
