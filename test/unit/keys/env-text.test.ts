import type { KeyObject } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { KeyError } from '../../../src/errors.js'
import { describeConfiguredKey } from '../../../src/keys/describe-source.js'
import { openKey } from '../../../src/keys/open.js'
import { loadPublicKeys } from '../../../src/keys/public.js'
import { keyFingerprint } from '../../../src/keys/thumbprint.js'
import { makeKey } from '../../helpers/keys.js'

// `env:NAME` keys in the shapes CI secret stores hand out (issue 20): each opens to the same
// key as its plain PEM, through the same code the token commands, `bktx jwks` and `bktx status`
// use (src/keys/open.ts envKeyText); anything else is an error naming the shapes, never the value.

const deps = (value: string) => ({ env: { CI_KEY: value }, home: '/nonexistent-home', uid: undefined })
const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64')

function shapes(privateKey: KeyObject, kind: 'ES256' | 'RS256'): Array<[string, string]> {
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  const der = (type: 'pkcs8' | 'sec1' | 'pkcs1') => privateKey.export({ format: 'der', type })
  const traditional = kind === 'ES256' ? 'sec1' : 'pkcs1'
  return [
    ['PEM with newlines', pem],
    ['PEM on one line with literal \\n', pem.trim().replace(/\n/g, '\\n')],
    ['PEM on one line with literal \\r\\n', pem.trim().replace(/\n/g, '\\r\\n')],
    ['PEM with CRLF line breaks', pem.replace(/\n/g, '\r\n')],
    [`${traditional} PEM on one line`, (privateKey.export({ format: 'pem', type: traditional }) as string).trim().replace(/\n/g, '\\n')],
    ['base64 of the PEM', b64(pem)],
    ['base64 of the PEM, wrapped at 76', b64(pem).replace(/(.{76})/g, '$1\n')],
    ['base64url of the PEM', Buffer.from(pem).toString('base64url')],
    ['base64 of a PKCS#8 DER key', b64(der('pkcs8'))],
    [`base64 of a ${traditional === 'sec1' ? 'SEC1' : 'PKCS#1'} DER key`, b64(der(traditional))],
    ['a private JWK', JSON.stringify(privateKey.export({ format: 'jwk' }))],
    ['a private JWK with surrounding newlines', `\n${JSON.stringify(privateKey.export({ format: 'jwk' }))}\n`],
  ]
}

describe.each(['ES256', 'RS256'] as const)('env: key shapes (%s)', (kind) => {
  const { privateKey, publicKey } = makeKey(kind)
  const fingerprint = keyFingerprint(publicKey)

  it.each(shapes(privateKey, kind))('%s signs, publishes and describes as the plain PEM does', async (_shape, value) => {
    const key = await openKey({ key: 'env:CI_KEY' }, deps(value))
    expect(key.fingerprint).toBe(fingerprint)
    expect(key.alg).toBe(kind)
    // It signs: the signature verifies with the public key.
    expect((await key.sign(new TextEncoder().encode('x'))).length).toBeGreaterThan(0)
    const [published] = await loadPublicKeys({ key: 'env:CI_KEY' }, deps(value))
    expect(published?.publicKey.equals(publicKey)).toBe(true)
    expect(published?.privateKey).toBeUndefined()
    expect(await describeConfiguredKey({ key: 'env:CI_KEY' }, deps(value))).toMatchObject({ loads: true, alg: kind, fingerprint })
  })
})

describe('env: key text in no known shape', () => {
  const secretish = 'c2VjcmV0LXRleHQtc2hvdWxkLW5vdC1hcHBlYXI'
  it.each([
    ['words', 'not a key at all, just words'],
    ['base64 of neither a PEM nor a DER key', b64(`${secretish}${secretish}`)],
    ['a bare base64 that is no DER', secretish],
    ['base64 of a public key (SPKI DER)', b64(makeKey('ES256').publicKey.export({ format: 'der', type: 'spki' }))],
  ])('%s: a KeyError naming the accepted shapes, never the value', async (_what, value) => {
    const error = await openKey({ key: 'env:CI_KEY' }, deps(value)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyError)
    expect((error as KeyError).message).toBe(
      'env:CI_KEY holds no key bktx can read: expected a PEM block (with newlines, or on one line with literal \\n), base64 of a PEM or of a DER private key (PKCS#8, SEC1 or PKCS#1), or a private JWK (JSON)',
    )
    expect((error as KeyError).detail).toEqual({ setting: 'key', reason: 'unknown-key-shape' })
    expect(JSON.stringify({ message: (error as Error).message, detail: (error as KeyError).detail })).not.toContain(value.slice(0, 12))
  })

  it('a PEM that does not parse keeps its own error (the loader words it), without quoting it', async () => {
    const value = `-----BEGIN PRIVATE KEY-----\\n${secretish}\\n-----END PRIVATE KEY-----`
    const error = await openKey({ key: 'env:CI_KEY' }, deps(value)).catch((e: unknown) => e)
    expect((error as Error).message).toBe('env:CI_KEY holds no readable private key (corrupt or unsupported PEM)')
  })
})
