import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { rsaFixture } from './rsa-fixtures.js'

export type KeyKind = 'ES256' | 'RS256' | 'P-384' | 'Ed25519' | 'RSA-1024'

export function makeKey(kind: KeyKind): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (kind) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    case 'P-384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' })
    case 'RS256':
      return rsaFixture(2048)
    case 'RSA-1024':
      return rsaFixture(1024)
    case 'Ed25519':
      return generateKeyPairSync('ed25519')
  }
}

/** Writes a PKCS#8 private key (and its SPKI public key) to `dir`; returns both paths. */
export async function writeKeyFiles(
  dir: string,
  kind: KeyKind,
  name: string = kind,
): Promise<{ privatePath: string; publicPath: string; publicKey: KeyObject }> {
  const { privateKey, publicKey } = makeKey(kind)
  const privatePath = join(dir, `${name}.pem`)
  const publicPath = join(dir, `${name}.pub.pem`)
  await writeFile(privatePath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  await writeFile(publicPath, publicKey.export({ format: 'pem', type: 'spki' }))
  return { privatePath, publicPath, publicKey }
}
