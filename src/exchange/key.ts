import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { NO_KID, PLAIN_PRIVATE_PEM, splitPemLabel } from '../keys/pem.js'
import { algorithmFor } from '../keys/policy.js'
import { jwkThumbprint, keyFingerprint } from '../keys/thumbprint.js'
import type { AssertionKey } from './types.js'

// The cache key includes the signing key's fingerprint, so even a cache hit loads the key.
// This module does that with node:crypto alone: keys/load.ts imports jose (about 44 ms), which
// only the unusual inputs (JWK, JWKS, errors) and the cache-miss path need.

/**
 * The AssertionKey of a private key: `alg` from the key type (RFC 8725 §3.1), the fingerprint
 * that identifies the key in cache keys (SHA-256 of the public key's SPKI DER, base64url), and
 * the kid of the JWS header: the `kid` setting when given (`none`: no kid header, and Buildkite
 * tries every key of the set), else the kid the key file names, else the RFC 7638 SHA-256
 * thumbprint (as `bktx keygen` and `bktx jwks` name keys).
 */
export function toAssertionKey(privateKey: KeyObject, kid: string | undefined, source: string, fileKid?: string): AssertionKey {
  const publicKey = createPublicKey(privateKey)
  const alg = algorithmFor(publicKey, source)
  const fingerprint = keyFingerprint(publicKey)
  // The kid is only needed to sign (a cache miss): derive the thumbprint on first use.
  let resolvedKid = kid ?? fileKid
  return {
    alg,
    privateKey,
    fingerprint,
    get kid() {
      if (resolvedKid === NO_KID) return undefined
      resolvedKid ??= jwkThumbprint(publicKey)
      return resolvedKid
    },
  }
}

export { jwkThumbprint } from '../keys/thumbprint.js'

/**
 * Loads the signing key for an exchange. A private file of ours (no permission for group or
 * others) holding one unencrypted private-key PEM block, with or without a kid label (what
 * `bktx keygen` writes), is read here directly; everything else, and every failure, goes to
 * keys/load.ts, which accepts JWK and JWKS too, checks the same things and words the errors.
 */
export async function loadAssertionKey(path: string, kid?: string): Promise<AssertionKey> {
  try {
    // Synchronous: the cache-hit path reads this one small file; see cache/private-file.ts.
    const info = statSync(path)
    if (info.isFile() && info.size <= 256 * 1024 && (info.mode & 0o077) === 0) {
      const { kid: fileKid, pem } = splitPemLabel(readFileSync(path, 'utf8').trim())
      if (PLAIN_PRIVATE_PEM.test(pem) && pem.split('-----BEGIN ').length === 2) {
        return toAssertionKey(createPrivateKey({ key: pem, format: 'pem' }), kid, path, fileKid)
      }
    }
  } catch {
    // Fall through: keys/load.ts reads the file again and reports the problem properly.
  }
  const { loadSigningKey } = await import('../keys/load.js')
  const loaded = await loadSigningKey(path)
  return toAssertionKey(loaded.privateKey, kid, path, loaded.kid)
}
