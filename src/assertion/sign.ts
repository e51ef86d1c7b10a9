import type { KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { LoadedKey } from '../keys/load.js'
import type { AssertionClaims } from './claims.js'

/**
 * Signs client assertion claims as a compact JWS with header `{alg, typ: "JWT", kid}`
 * (docs/buildkite-protocol.md §2). The algorithm comes from the key (keys/policy.ts), never from input.
 */
export async function signAssertion(claims: AssertionClaims, key: Pick<LoadedKey, 'alg' | 'kid'> & { privateKey: KeyObject }): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid }).sign(key.privateKey)
}
