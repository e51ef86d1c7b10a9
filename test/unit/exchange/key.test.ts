import { createHash, createPublicKey } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeyError, UnsupportedKeyError } from '../../../src/errors.js'
import { loadAssertionKey } from '../../../src/keys/signer.js'
import { loadSigningKey } from '../../../src/keys/load.js'
import { makeKey, writeKeyFiles } from '../../helpers/keys.js'

let dir: string
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'bktx-key-'))))
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('loadAssertionKey (jose-free on the PEM path)', () => {
  for (const kind of ['ES256', 'RS256'] as const) {
    it(`${kind} PEM: same alg and kid as keys/load.ts, fingerprint = SHA-256 of the SPKI DER`, async () => {
      const { privatePath, publicKey } = await writeKeyFiles(dir, kind)
      const key = await loadAssertionKey(privatePath)
      const reference = await loadSigningKey(privatePath)
      expect(key.alg).toBe(kind)
      expect(key.kid).toBe(reference.kid) // RFC 7638 thumbprint, computed by jose there
      expect(key.fingerprint).toBe(
        createHash('sha256')
          .update(publicKey.export({ format: 'der', type: 'spki' }))
          .digest('base64url'),
      )
      expect(key.publicKey.asymmetricKeyType).toBe(kind === 'ES256' ? 'ec' : 'rsa')
    })
  }

  it('uses a given kid', async () => {
    const { privatePath } = await writeKeyFiles(dir, 'ES256', 'with-kid')
    expect((await loadAssertionKey(privatePath, 'my-kid')).kid).toBe('my-kid')
  })

  it('falls back to keys/load.ts for a JWK, with the same fingerprint', async () => {
    const { privateKey } = makeKey('ES256')
    const path = join(dir, 'key.jwk')
    await writeFile(path, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'jwk-kid' }), { mode: 0o600 })
    const key = await loadAssertionKey(path)
    expect(key.kid).toBe('jwk-kid')
    expect(key.fingerprint).toBe(
      createHash('sha256')
        .update(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }))
        .digest('base64url'),
    )
  })

  it('reports problems the way keys/load.ts does', async () => {
    const ed = await writeKeyFiles(dir, 'Ed25519')
    await expect(loadAssertionKey(ed.privatePath)).rejects.toBeInstanceOf(UnsupportedKeyError)
    await expect(loadAssertionKey(ed.publicPath)).rejects.toBeInstanceOf(UnsupportedKeyError)
    const es = await writeKeyFiles(dir, 'ES256', 'pub-only')
    await expect(loadAssertionKey(es.publicPath)).rejects.toThrow(KeyError)
    await expect(loadAssertionKey(join(dir, 'missing.pem'))).rejects.toThrow(/cannot read key file/)
  })
})
