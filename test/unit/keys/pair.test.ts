import { createPrivateKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { KeyError } from '../../../src/errors.js'
import { parseKeys } from '../../../src/keys/load.js'
import { loadAssertionKey } from '../../../src/keys/signer.js'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rsaFixture } from '../../helpers/rsa-fixtures.js'

// Issue 13: a private key whose halves do not belong together, or whose JWK members are not
// base64url, is refused at load (KeyError, exit 3) instead of being published or failing to sign.

const ec = (): JsonWebKey => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
const rsa = (): JsonWebKey => rsaFixture(2048).privateKey.export({ format: 'jwk' })
const a = ec()
const b = ec()
const r = rsa()
const r2 = rsa()

async function refusal(jwk: unknown): Promise<KeyError> {
  const error = await parseKeys(JSON.stringify(jwk), 'k.json').then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(KeyError)
  return error as KeyError
}

describe('private keys whose halves do not match', () => {
  it.each([
    ['EC: d of another key', { ...a, d: b.d }, /d does not produce x and y/],
    ['EC: x and y of another key', { ...a, x: b.x, y: b.y }, /d does not produce x and y/],
    ['RSA: d of another key (OpenSSL would still sign with the CRT members)', { ...r, d: r2.d }, /d does not invert e/],
    ['RSA: p of another key (OpenSSL would still sign, recomputing with d)', { ...r, p: r2.p }, /p and q do not multiply to n/],
    ['RSA: dp of another key', { ...r, dp: r2.dp }, /d does not invert e/],
    ['RSA: qi of another key', { ...r, qi: r2.qi }, /qi is not the inverse of q/],
  ])('%s', async (_name, jwk, reason) => {
    const error = await refusal(jwk)
    expect(error.message).toMatch(/^k\.json: the private key does not match its public key \(/)
    expect(error.message).toMatch(reason)
  })

  it("a PEM holding another key's public point is refused too, by the fast loader as well", async () => {
    const pem = createPrivateKey({ key: { ...a, d: b.d }, format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' }) as string
    await expect(parseKeys(pem, 'k.pem')).rejects.toThrow(/d does not produce x and y/)
    const dir = await mkdtemp(join(tmpdir(), 'bktx-pair-'))
    await writeFile(join(dir, 'k.pem'), pem, { mode: 0o600 })
    await expect(loadAssertionKey(join(dir, 'k.pem'))).rejects.toThrow(/does not match its public key/)
  })

  it('matching keys load', async () => {
    expect(await parseKeys(JSON.stringify(a), 'k.json')).toHaveLength(1)
    expect(await parseKeys(JSON.stringify(r), 'k.json')).toHaveLength(1)
  })
})

describe('JWK members that are not base64url', () => {
  it.each([
    ['a "!" inside d', { ...a, d: `${a.d?.slice(0, 10)}!!${a.d?.slice(10)}` }, 'd'],
    ['padding on x', { ...a, x: `${a.x}=` }, 'x'],
    ['standard base64 "+" in y', { ...a, y: `${a.y?.slice(0, 42)}+` }, 'y'],
    ['whitespace in n', { ...r, n: `${r.n?.slice(0, 20)} ${r.n?.slice(20)}` }, 'n'],
    ['a number as e', { ...r, e: 65537 }, 'e'],
  ])('%s', async (_name, jwk, member) => {
    const error = await refusal(jwk)
    expect(error.message).toBe(`k.json: JWK member "${member}" is not base64url (RFC 7515 §2: letters, digits, "-" and "_", no padding)`)
  })

  it('P-256 members must be full length', async () => {
    expect((await refusal({ ...a, x: a.x?.slice(0, 42) })).message).toMatch(/JWK member "x" is not 32 bytes/)
  })

  it('a kty naming an Object.prototype member is a KeyError, not a TypeError (found by the key-loader fuzzer)', async () => {
    for (const kty of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) await refusal({ kty, x: a.x, y: a.y, crv: 'P-256' })
  })

  it('a public JWK is checked too', async () => {
    const { d: _d, ...pub } = a
    await refusal({ ...pub, y: `${pub.y}==` })
  })
})
