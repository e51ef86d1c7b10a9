import { createPublicKey, type JsonWebKeyInput, type KeyObject } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { KeyError } from '../errors.js'

/** A public key given alongside a token or signer key (the `public-key` setting). */
export interface PublicKeyFile {
  publicKey: KeyObject
  /** The JWK's own kid, when the file is a JWK or JWKS. */
  kid: string | undefined
}

const MAX_BYTES = 256 * 1024

/**
 * Reads the `public-key` file with node:crypto alone (the cache-hit path reads it to compute
 * the key's fingerprint): an SPKI or PKCS#1 PEM, a JWK, or a JWKS whose key is chosen by `kid`
 * (or its only key). Private members in it are ignored. Anything else, and every failure, is
 * worded by keys/load.ts (which the hit path does not carry: it then hands over to the full CLI).
 */
export async function readPublicKeyFile(path: string, kid: string | undefined): Promise<PublicKeyFile> {
  try {
    const info = statSync(path)
    if (info.isFile() && info.size <= MAX_BYTES) {
      const found = parsePublic(readFileSync(path, 'utf8'), kid)
      if (found !== undefined) return found
    }
  } catch {
    // Fall through to the full loader, which says what is wrong.
  }
  const { loadKeyFile } = await import('./load.js')
  const keys = await loadKeyFile(path)
  const chosen = kid === undefined ? keys : keys.filter((k) => k.kid === kid)
  if (chosen.length !== 1) {
    throw new KeyError(
      chosen.length === 0
        ? `public key file ${path} holds no key with kid ${kid}`
        : `public key file ${path} holds ${chosen.length} keys; set kid to choose one`,
      {
        detail: { setting: 'public-key', file: path, reason: chosen.length === 0 ? 'no-such-kid' : 'several-keys' },
        advice: [{ setting: 'kid' }, ' chooses the key of a JWKS'],
      },
    )
  }
  const key = chosen[0] as (typeof keys)[number]
  return { publicKey: key.publicKey, kid: key.kid }
}

function parsePublic(text: string, kid: string | undefined): PublicKeyFile | undefined {
  const trimmed = text.trim()
  if (/^-----BEGIN (RSA )?PUBLIC KEY-----/.test(trimmed) && trimmed.split('-----BEGIN ').length === 2) {
    return { publicKey: createPublicKey({ key: trimmed, format: 'pem' }), kid: undefined }
  }
  if (!trimmed.startsWith('{')) return undefined
  const json = JSON.parse(trimmed) as Record<string, unknown>
  const candidates = Array.isArray(json['keys']) ? (json['keys'] as Record<string, unknown>[]) : [json]
  const chosen = kid === undefined ? candidates : candidates.filter((k) => k['kid'] === kid)
  if (chosen.length !== 1) return undefined
  const jwk = chosen[0] as Record<string, unknown>
  if (typeof jwk['kty'] !== 'string' || (jwk['use'] !== undefined && jwk['use'] !== 'sig')) return undefined
  // A JWK's own alg must fit its type (keys/load.ts checks it and words the error).
  if (jwk['alg'] !== undefined && jwk['alg'] !== (jwk['kty'] === 'EC' ? 'ES256' : 'RS256')) return undefined
  // Only the public members: a private JWK given here must not become a signing key.
  const members = jwk['kty'] === 'EC' ? { kty: 'EC', crv: jwk['crv'], x: jwk['x'], y: jwk['y'] } : { kty: jwk['kty'], n: jwk['n'], e: jwk['e'] }
  const ownKid = typeof jwk['kid'] === 'string' && jwk['kid'] !== '' ? jwk['kid'] : undefined
  return { publicKey: createPublicKey({ key: members, format: 'jwk' } as JsonWebKeyInput), kid: ownKid }
}
