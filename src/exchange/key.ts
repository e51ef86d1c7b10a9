import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readInputFile } from '../fs/input.js'
import { checkKeyPair } from '../keys/pair.js'
import { algorithmFor } from '../keys/policy.js'
import type { AssertionKey } from './types.js'

// The cache key includes the signing key's fingerprint, so even a cache hit loads the key.
// This module does that with node:crypto alone: keys/load.ts imports jose (about 44 ms), which
// only the unusual inputs (JWK, JWKS, errors) and the cache-miss path need.

/**
 * The AssertionKey of a private key: `alg` from the key type (RFC 8725 §3.1), `kid` as given
 * or else the RFC 7638 SHA-256 thumbprint (as `bktx keygen` names keys), and the fingerprint
 * that identifies the key in cache keys: SHA-256 of the public key's SPKI DER, base64url.
 */
export function toAssertionKey(privateKey: KeyObject, kid: string | undefined, source: string): AssertionKey {
  const publicKey = createPublicKey(privateKey)
  const alg = algorithmFor(publicKey, source)
  const fingerprint = createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('base64url')
  // The kid is only needed to sign (a cache miss): derive the thumbprint on first use.
  let resolvedKid = kid
  return {
    alg,
    privateKey,
    fingerprint,
    get kid() {
      resolvedKid ??= jwkThumbprint(publicKey)
      return resolvedKid
    },
  }
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' })
  const members =
    jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

const PLAIN_PRIVATE_PEM = /^-----BEGIN (PRIVATE|EC PRIVATE|RSA PRIVATE) KEY-----/

/**
 * Loads the signing key for an exchange. A file holding one unencrypted private-key PEM block
 * (what `bktx keygen` writes) is read here directly; everything else, and every failure, goes
 * to keys/load.ts, which accepts JWK and JWKS too and words the errors.
 */
export async function loadAssertionKey(path: string, kid?: string): Promise<AssertionKey> {
  try {
    // Synchronous, and only a regular file, capped while reading (src/fs/input.ts): the
    // cache-hit path reads this one small file; see cache/cache.ts.
    const text = readInputFile(path, 256 * 1024).trim()
    if (PLAIN_PRIVATE_PEM.test(text) && text.split('-----BEGIN ').length === 2) {
      const privateKey = createPrivateKey({ key: text, format: 'pem' })
      const key = toAssertionKey(privateKey, kid, path)
      // A PEM can hold a public key that is not its private key's too (src/keys/pair.ts).
      checkKeyPair(privateKey, path)
      return key
    }
  } catch {
    // Fall through: keys/load.ts reads the file again and reports the problem properly.
  }
  const { loadSigningKey } = await import('../keys/load.js')
  const loaded = await loadSigningKey(path, kid)
  return toAssertionKey(loaded.privateKey, loaded.kid, path)
}
