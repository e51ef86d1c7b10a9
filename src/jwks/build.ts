import type { JWK } from 'jose'
import { KeyError } from '../errors.js'
import type { LoadedKey } from '../keys/load.js'

export interface PublicJWKS {
  keys: JWK[]
}

/**
 * The public JWKS of the given keys. Only public members appear (LoadedKey.publicJwk is built
 * from the public key alone). Two keys with one kid are refused: a verifier picks keys by kid
 * (docs/token-exchange.md §9), so a duplicate would make verification depend on order.
 */
export function buildJwks(keys: readonly LoadedKey[]): PublicJWKS {
  const seen = new Map<string, string>()
  for (const key of keys) {
    const earlier = seen.get(key.kid)
    if (earlier !== undefined) {
      throw new KeyError(`duplicate kid "${key.kid}" in ${earlier} and ${key.source}; every key in a JWKS needs its own kid`)
    }
    seen.set(key.kid, key.source)
  }
  return { keys: keys.map((key) => key.publicJwk) }
}

export function serializeJwks(jwks: PublicJWKS): string {
  return `${JSON.stringify(jwks, null, 2)}\n`
}
