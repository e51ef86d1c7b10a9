import type { KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { SigningAlg } from '../keys/policy.js'
import type { AssertionClaims } from './claims.js'

/**
 * Signs client assertion claims as a compact JWS with header `{alg, typ: "JWT", kid}`
 * (docs/buildkite-protocol.md §2); without a kid, the header has none and Buildkite tries every
 * key of the set. The algorithm comes from the key (keys/policy.ts), never from input.
 */
export async function signAssertion(claims: AssertionClaims, key: { alg: SigningAlg; kid: string | undefined; privateKey: KeyObject }): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(key.kid === undefined ? {} : { kid: key.kid }) }).sign(key.privateKey)
}
