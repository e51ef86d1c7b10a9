import type { KeyObject } from 'node:crypto'
import { UnsupportedKeyError } from '../errors.js'

/** The only algorithms Buildkite's token exchange accepts (docs/token-exchange.md §1). */
export type SigningAlg = 'RS256' | 'ES256'
export const SIGNING_ALGS: readonly SigningAlg[] = ['RS256', 'ES256']
export const MIN_RSA_BITS = 2048
export const RSA_BITS = [2048, 3072, 4096] as const

/**
 * The algorithm a key signs with, or an UnsupportedKeyError that says why Buildkite would
 * reject it: RS256 needs RSA of at least 2048 bits, ES256 needs EC P-256 (docs/token-exchange.md §1,
 * RFC 7518 §3.3 and §3.4). The algorithm is bound to the key type, never taken from input
 * alone (RFC 8725 §3.1).
 */
export function algorithmFor(key: KeyObject, source: string): SigningAlg {
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails ?? {}
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0
    if (bits < MIN_RSA_BITS) {
      throw new UnsupportedKeyError(
        `${source}: RSA key of ${bits} bits; Buildkite requires RS256 keys of at least ${MIN_RSA_BITS} bits. Run \`bktx keygen\` for a new key`,
      )
    }
    // RFC 8017 §3.1: e is odd and at least 3. With e = 1 a signature is just the padded hash, so
    // anyone could forge one; OpenSSL imports and verifies with such a key all the same.
    const e = details.publicExponent ?? 0n
    if (e < 3n || e % 2n === 0n) {
      throw new UnsupportedKeyError(
        `${source}: RSA key with public exponent ${e}; it must be odd and at least 3 (65537 is usual). Run \`bktx keygen\` for a new key`,
      )
    }
    return 'RS256'
  }
  if (type === 'ec') {
    if (details.namedCurve !== 'prime256v1') {
      throw new UnsupportedKeyError(
        `${source}: EC key on curve ${details.namedCurve ?? 'unknown'}; Buildkite accepts only ES256 (P-256) and RS256 keys. Run \`bktx keygen\` for a P-256 key`,
      )
    }
    return 'ES256'
  }
  const hint = type === 'ed25519' || type === 'ed448' ? ' (`buildkite-agent tool keygen` makes EdDSA keys, which token exchange rejects)' : ''
  throw new UnsupportedKeyError(
    `${source}: ${type ?? 'unknown'} key; Buildkite accepts only RS256 (RSA >= 2048 bits) and ES256 (P-256) keys${hint}. Run \`bktx keygen\` for a supported key`,
  )
}

export function isSigningAlg(value: unknown): value is SigningAlg {
  return value === 'RS256' || value === 'ES256'
}
