import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { signAssertion } from '../../../src/assertion/sign.js'
import { SignerError } from '../../../src/errors.js'
import { makeAssertionKey, toAssertionKey } from '../../../src/keys/signer.js'
import { derToRaw, signatureCandidates, verifiesWith } from '../../../src/keys/signature.js'
import { rsaFixture } from '../../helpers/rsa-fixtures.js'

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const data = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0')

describe('ES256 signatures as signers return them', () => {
  it('converts DER (as OpenSSL and the cloud KMSes return it) to the r‖s that verifies', () => {
    for (let i = 0; i < 50; i++) {
      const der = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'der' })
      const raw = derToRaw(der)
      expect(raw).toHaveLength(64)
      expect(verifiesWith({ alg: 'ES256', publicKey: ec.publicKey }, data, raw as Uint8Array)).toBe(true)
    }
  })

  it('refuses what is not exactly a P-256 ECDSA-Sig-Value', () => {
    const der = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'der' })
    expect(derToRaw(Buffer.concat([der, Buffer.from([0])]))).toBeUndefined()
    expect(derToRaw(der.subarray(0, der.length - 1))).toBeUndefined()
    expect(derToRaw(Buffer.from('3006020101020101', 'hex'))).toHaveLength(64)
    expect(derToRaw(Buffer.from('300702020001020101', 'hex'))).toBeUndefined() // not minimal
    expect(derToRaw(Buffer.from('3006020181020101', 'hex'))).toBeUndefined() // negative
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const raw = derToRaw(bytes)
        return raw === undefined || raw.length === 64
      }),
    )
  })

  it('reads raw, DER, base64 and line-wrapped base64 output', () => {
    const raw = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
    const der = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'der' })
    const verifies = (out: Uint8Array) => signatureCandidates(out, 'ES256', 0).some((c) => verifiesWith({ alg: 'ES256', publicKey: ec.publicKey }, data, c))
    expect(verifies(raw)).toBe(true)
    expect(verifies(der)).toBe(true)
    expect(verifies(Buffer.from(`${raw.toString('base64')}\n`))).toBe(true)
    expect(verifies(Buffer.from(der.toString('base64url')))).toBe(true)
    const rsa = rsaFixture(2048)
    const rsaSig = sign('sha256', data, rsa.privateKey)
    const wrapped = rsaSig.toString('base64').replace(/(.{76})/g, '$1\n')
    expect(signatureCandidates(Buffer.from(wrapped), 'RS256', 256).some((c) => verifiesWith({ alg: 'RS256', publicKey: rsa.publicKey }, data, c))).toBe(true)
    expect(signatureCandidates(Buffer.from('not-a-signature\n'), 'ES256', 0)).toEqual([])
  })
})

describe('signAssertion', () => {
  const claims = { iss: 'c', sub: 'c', aud: 'https://x.test/oauth/token', iat: 1, exp: 61, jti: 'j' }

  it('verifies every signature with the public half before it returns the assertion', async () => {
    const good = toAssertionKey(ec.privateKey, 'kid', 'test key')
    const jwt = await signAssertion(claims, good)
    expect(jwt.split('.')).toHaveLength(3)
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const wrong = makeAssertionKey(ec.publicKey, 'kid', 'exec:lying-signer', async (input) =>
      sign('sha256', input, { key: other.privateKey, dsaEncoding: 'ieee-p1363' }),
    )
    await expect(signAssertion(claims, wrong)).rejects.toThrow(SignerError)
    await expect(signAssertion(claims, wrong)).rejects.toThrow('the signature from exec:lying-signer does not verify with its public key')
    const short = makeAssertionKey(ec.publicKey, 'kid', 'pkcs11:x', async () => new Uint8Array(10))
    await expect(signAssertion(claims, short)).rejects.toThrow(SignerError)
  })
})
