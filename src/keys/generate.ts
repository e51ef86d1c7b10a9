import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose'
import { SettingInvalidError } from '../errors.js'
import { publicJwk } from './load.js'
import { RSA_BITS, type SigningAlg } from './policy.js'

export interface GenerateOptions {
  /** ES256 (P-256, the default) or RS256. */
  alg: SigningAlg
  /** RSA modulus length; only for RS256. Default 2048. */
  bits?: number
  /** Key ID; default the RFC 7638 SHA-256 thumbprint of the public key. */
  kid?: string
}

export interface GeneratedKey {
  kid: string
  alg: SigningAlg
  /** PKCS#8 PEM of the private key. Secret: goes to a 0600 file and nowhere else. */
  privatePem: string
  publicJwk: JWK
}

export async function generateSigningKey(options: GenerateOptions): Promise<GeneratedKey> {
  // Both are options of this call, so their source is `flag` (src/errors.ts).
  if (options.alg === 'ES256' && options.bits !== undefined) {
    throw new SettingInvalidError('bits', 'applies to RS256 keys only', {
      source: 'flag',
      advice: ['leave it out, or use ', { option: 'alg', value: 'RS256' }],
    })
  }
  const bits = options.bits ?? 2048
  if (!(RSA_BITS as readonly number[]).includes(bits)) {
    throw new SettingInvalidError('bits', `must be one of ${RSA_BITS.join(', ')}`, { source: 'flag' })
  }
  // jose keeps private keys non-extractable unless asked; keygen must export this one once.
  const { privateKey, publicKey } = await generateKeyPair(options.alg, {
    extractable: true,
    ...(options.alg === 'RS256' ? { modulusLength: bits } : {}),
  })
  const members = await exportJWK(publicKey)
  const kid = options.kid ?? (await calculateJwkThumbprint(members, 'sha256'))
  return {
    kid,
    alg: options.alg,
    privatePem: await exportPKCS8(privateKey),
    publicJwk: publicJwk(members, kid, options.alg),
  }
}
